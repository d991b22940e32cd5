/**
 * The OCSP client (src/policy/ocsp.ts) over HTTP against a real `openssl ocsp` responder, run in a
 * network namespace of its own behind a front on 127.0.0.1 that can tamper, answer for another
 * certificate, fail or stall (test/support/ocsp-responder.ts).
 */
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import t from 'tap';
import { DEFAULT_MAX_RESPONSE_BYTES, ocspResponderUrls, queryOcsp, type OcspOutcome, type OcspSettings } from '../../src/policy/ocsp.ts';
import { buildOcspPki } from '../support/ocsp-pki.ts';
import { ocspCertificates } from '../support/ocsp-pki.ts';
import { OcspFront } from '../support/ocsp-responder.ts';

const front = await OcspFront.listen();
const pki = buildOcspPki({ ocspUrl: front.url });
t.teardown(async () => {
  await front.stop();
  rmSync(pki.dir, { recursive: true, force: true });
});
await front.start(pki, { signer: 'delegated' });

const { root, clients } = ocspCertificates(pki);
const SETTINGS: OcspSettings = { nonce: true, clockSkewMs: 5_000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES };

/** Asks the front about `client`, at the URL in the client's AIA. */
function ask(client: keyof typeof clients, options: { settings?: OcspSettings; timeoutMs?: number } = {}): Promise<OcspOutcome> {
  const leaf = clients[client];
  const url = ocspResponderUrls(leaf)[0] ?? 'http://127.0.0.1:9/no-aia';
  return queryOcsp(url, leaf, root, options.settings ?? SETTINGS, AbortSignal.timeout(options.timeoutMs ?? 5_000), new Date());
}

t.test('the clients point at the front (AIA)', async (t) => {
  for (const leaf of Object.values(clients)) t.same(ocspResponderUrls(leaf), [front.url]);
});

t.test('good, revoked and unknown from a delegated responder, nonce echoed', async (t) => {
  const before = front.requests;
  t.match(await ask('good'), { ok: true, status: 'good', signer: 'delegated' });
  const revoked = await ask('revoked');
  t.match(revoked, { ok: true, status: 'revoked', signer: 'delegated', revocationReason: 1 });
  t.ok(revoked.ok && revoked.revokedAt instanceof Date, 'revokedAt');
  t.match(await ask('unknown'), { ok: true, status: 'unknown', signer: 'delegated' }, 'not in the index');
  t.equal(front.requests - before, 3, 'one POST each');
});

t.test('the front misbehaves', async (t) => {
  t.teardown(() => front.setMode('pass'));
  front.setMode('tamper');
  t.match(await ask('good'), { ok: false, reason: 'bad-signature' });
  front.setMode('wrong-certificate');
  t.match(await ask('revoked'), { ok: false, reason: 'wrong-certificate' }, 'a genuine answer about the good client');
  front.setMode('unavailable');
  t.match(await ask('good'), { ok: false, reason: 'http-error', detail: /HTTP 503/ });
  front.setMode('down');
  t.match(await ask('good'), { ok: false, reason: 'network' });
  front.setMode('slow', 2_000);
  const started = Date.now();
  t.match(await ask('good', { timeoutMs: 300 }), { ok: false, reason: 'timeout' });
  t.ok(Date.now() - started < 1_500, 'the caller is not kept waiting');
  front.setMode('pass');
  t.match(await ask('good', { settings: { ...SETTINGS, maxResponseBytes: 200 } }), { ok: false, reason: 'too-large' });
  t.match(await ask('good'), { ok: true, status: 'good' }, 'back to normal');
});

t.test('the CA signing its own responses', async (t) => {
  await front.start(pki, { signer: 'issuer' });
  t.match(await ask('good'), { ok: true, status: 'good', signer: 'issuer' });
  t.match(await ask('revoked'), { ok: true, status: 'revoked', signer: 'issuer' });
});

t.test('a responder certificate without id-kp-OCSPSigning', async (t) => {
  await front.start(pki, { signer: 'rogue' });
  t.match(await ask('revoked'), { ok: false, reason: 'unauthorized-signer' });
});

t.test('the responder is reachable from loopback only', async (t) => {
  // `openssl ocsp -port` binds [::] (every address) of the namespace it runs in. That namespace,
  // made by `unshare -rn`, has one interface, its own loopback: no route or address of the host
  // leads into it, so only processes inside it (the bridge) can connect. The host reaches it
  // through the bridge's Unix socket and the front, which binds 127.0.0.1 only.
  await front.start(pki, { signer: 'delegated' });
  t.match(await ask('good'), { ok: true, status: 'good' }, 'the front reaches the responder');
  const { port, interfaces } = front.namespace;
  t.same(Object.keys(interfaces), ['lo'], 'the namespace has no interface but its loopback');
  t.equal(front.address.address, '127.0.0.1', 'the front binds loopback only');
  const hostAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((entry) => entry.family === 'IPv4').map((entry) => entry.address));
  for (const address of new Set(['127.0.0.1', ...hostAddresses])) {
    const refused = await new Promise<string>((resolve) => {
      const socket = connect({ port, host: address });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    t.equal(refused, 'ECONNREFUSED', `nothing listens on ${address}:${port} outside the namespace`);
  }
});
