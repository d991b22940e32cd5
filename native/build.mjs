// `npm install` / `npm ci` runs this: builds native/tls_engine.c into
// build/Release/portcullis_tls.node with node-gyp, against the headers of the running Node
// (its own OpenSSL headers included), from the local installation when it has them, so that no
// header download is needed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const prefix = dirname(dirname(process.execPath));
const args = ['rebuild'];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
// npm names its own node-gyp in npm_config_node_gyp; otherwise node-gyp from the PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const result =
  nodeGyp === undefined
    ? spawnSync('node-gyp', args, { stdio: 'inherit', shell: true })
    : spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
