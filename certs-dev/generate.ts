/**
 * Generates the development PKI, replacing any existing one.
 *
 * Usage: `tsx certs-dev/generate.ts [outDir]` (default `certs-dev/out`, beside this script).
 * See `certs-dev/README.md` for what each file is for.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generateDevPki, type DevPkiManifest } from '../src/pki/dev-pki.ts';

const outDir = process.argv[2] ?? fileURLToPath(new URL('./out/', import.meta.url));
const paths = await generateDevPki(outDir);
const manifest = JSON.parse(await readFile(paths.manifest, 'utf8')) as DevPkiManifest;
process.stdout.write(`dev PKI written to ${paths.dir} (fresh until ${manifest.freshUntil}):\n`);
for (const cert of manifest.certificates) {
  process.stdout.write(`  ${cert.file.padEnd(28)} ${cert.serial}  ${cert.subject}\n`);
}
