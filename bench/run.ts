/**
 * `npm run bench -- <command> [options]`: the benchmarks (not part of `npm test`).
 *
 *   load      portcullis alone under one load (the options below)
 *   compare   portcullis and FreeRADIUS 3.2 under the same loads, alternating, with the bare
 *             OpenSSL handshake as the floor; one table of figures and ratios
 *   memory    sessions held mid-handshake: server RSS per session
 *   junk      the cost of a packet that is dropped
 *
 * Options: --version TLSv1.2|TLSv1.3 (TLSv1.3), --client client-ec|client-rsa (client-ec),
 * --transport udp|radsec (udp), --concurrency N (16), --rate R (open loop, auths/s),
 * --seconds S (10), --count N, --resumed SHARE (0..1, 0), --workers N (server EAP workers),
 * --runs N (compare: rounds, 3), --sessions N (memory: 5000), --packets N (junk: 50000).
 */
import { parseArgs } from 'node:util';
import { compare } from './compare.ts';
import { benchPki, loadAgainst, printLoad, type LoadSpec } from './scenario.ts';
import { measureJunk, measureMemory } from './memory.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: 'string', default: 'TLSv1.3' },
    client: { type: 'string', default: 'client-ec' },
    transport: { type: 'string', default: 'udp' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    count: { type: 'string' },
    resumed: { type: 'string', default: '0' },
    workers: { type: 'string' },
    runs: { type: 'string', default: '3' },
    sessions: { type: 'string', default: '5000' },
    packets: { type: 'string', default: '50000' },
  },
});

const spec: LoadSpec = {
  version: oneOf(values.version, ['TLSv1.2', 'TLSv1.3'] as const, 'version'),
  client: oneOf(values.client, ['client-ec', 'client-rsa'] as const, 'client'),
  transport: oneOf(values.transport, ['udp', 'radsec'] as const, 'transport'),
  concurrency: positive(values.concurrency, 'concurrency'),
  seconds: positive(values.seconds, 'seconds'),
  resumedShare: Number(values.resumed),
  ...(values.rate === undefined ? {} : { rate: positive(values.rate, 'rate') }),
  ...(values.count === undefined ? {} : { count: positive(values.count, 'count') }),
};
const workers = values.workers === undefined ? undefined : Number(values.workers);

const pki = await benchPki();
switch (positionals[0] ?? 'load') {
  case 'load':
    printLoad(spec, await loadAgainst('portcullis', pki, spec, workers));
    break;
  case 'compare':
    await compare(pki, positive(values.runs, 'runs'), workers);
    break;
  case 'memory':
    await measureMemory(pki, positive(values.sessions, 'sessions'), workers);
    break;
  case 'junk':
    await measureJunk(pki, positive(values.packets, 'packets'), workers);
    break;
  default:
    throw new Error(`unknown command ${positionals[0]}: load | compare | memory | junk`);
}

function positive(text: string | undefined, name: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not ${text}`);
  return value;
}

function oneOf<const T extends string>(text: string | undefined, allowed: readonly T[], name: string): T {
  const found = allowed.find((value) => value === text);
  if (found === undefined) throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return found;
}
