import t from 'tap';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEV_CLIENT_NAMES,
  devPkiPaths,
  ensureDevPki,
  generateDevPki,
  type DevPkiManifest,
} from '../../src/pki/dev-pki.ts';

const dir = t.testdir();
const paths = await generateDevPki(dir);
const manifest = JSON.parse(readFileSync(paths.manifest, 'utf8')) as DevPkiManifest;

/** Runs the real openssl CLI; `out` is stdout and stderr together. */
function openssl(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', args, { cwd: paths.dir, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

const verifyArgs = ['verify', '-CAfile', 'root-ca.pem', '-untrusted', 'intermediate.pem'];
const crlArgs = ['-crl_check_all', '-CRLfile', 'intermediate.crl.pem', '-CRLfile', 'root.crl.pem'];
const leafFile = (name: string): string => `${name}-leaf.pem`;
const pemBlocks = (file: string, label: string): number =>
  readFileSync(file, 'utf8').split(`-----BEGIN ${label}-----`).length - 1;

t.test('writes every file the manifest lists, keys owner-only', async (t) => {
  t.equal(manifest.files.length, 34);
  for (const file of manifest.files) t.ok(statSync(join(dir, file)).isFile(), file);
  const keys = [paths.root.key, paths.intermediate.key, paths.unrelatedCa.key, paths.server.key];
  for (const name of DEV_CLIENT_NAMES) keys.push(paths.clients[name].key);
  for (const key of keys) {
    t.equal(statSync(key).mode & 0o777, 0o600, `${key} is 0600`);
    t.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  }
  t.equal(createPrivateKey(readFileSync(paths.clients['client-rsa'].key)).asymmetricKeyDetails?.modulusLength, 2048);
  for (const crl of [paths.rootCrl, paths.intermediateCrl]) t.equal(pemBlocks(crl, 'X509 CRL'), 1);
  t.equal(pemBlocks(paths.caChain, 'CERTIFICATE'), 2);
  t.equal(pemBlocks(paths.server.cert, 'CERTIFICATE'), 2);
  t.equal(pemBlocks(paths.clients['client-ec'].cert, 'CERTIFICATE'), 2);
  t.equal(pemBlocks(paths.clients['client-ec'].leaf, 'CERTIFICATE'), 1);
  t.equal(pemBlocks(paths.clients['client-unknown-ca'].cert, 'CERTIFICATE'), 1);
});

t.test('manifest: subjects, 16-byte positive serials, generation time', async (t) => {
  t.equal(manifest.certificates.length, 3 + 1 + DEV_CLIENT_NAMES.length);
  for (const cert of manifest.certificates) {
    t.match(cert.serial, /^[0-7][0-9a-f]{31}$/, `${cert.name} serial`);
    const parsed = new X509Certificate(readFileSync(join(dir, cert.file)));
    t.equal(parsed.serialNumber.toLowerCase(), cert.serial, `${cert.name} serial matches the file`);
  }
  const subject = (name: string): string | undefined => manifest.certificates.find((c) => c.name === name)?.subject;
  t.equal(subject('root-ca'), 'O=Portcullis Test, CN=Portcullis Dev Root CA');
  t.equal(subject('intermediate'), 'O=Portcullis Test, CN=Portcullis Dev Issuing CA');
  t.equal(subject('client-ec'), 'O=Portcullis Test, OU=Staff, CN=laptop-ec.portcullis.test');
  t.equal(subject('client-rsa'), 'O=Portcullis Test, OU=Students, CN=laptop-rsa.portcullis.test');
  t.equal(subject('client-guest'), 'O=Portcullis Test, OU=Guests, CN=guest.portcullis.test');
  t.ok(Math.abs(Date.parse(manifest.generatedAt) - Date.now()) < 60_000);
  const revoked = manifest.certificates.find((c) => c.name === 'client-revoked')?.serial;
  t.same(manifest.crls.find((c) => c.file === 'intermediate.crl.pem')?.revokedSerials, [revoked]);
  t.same(manifest.crls.find((c) => c.file === 'root.crl.pem')?.revokedSerials, []);
});

t.test('openssl verify: good clients and the server chain to the root', async (t) => {
  for (const name of ['client-ec', 'client-rsa', 'client-guest', 'server']) {
    const r = openssl(...verifyArgs, leafFile(name));
    t.ok(r.ok, `${name}: ${r.out}`);
    t.ok(openssl(...verifyArgs, ...crlArgs, leafFile(name)).ok, `${name} with CRL checks`);
  }
});

t.test('openssl verify: revoked, expired, unknown CA fail for the right reason', async (t) => {
  const revoked = openssl(...verifyArgs, ...crlArgs, leafFile('client-revoked'));
  t.notOk(revoked.ok);
  t.match(revoked.out, 'certificate revoked');
  t.ok(openssl(...verifyArgs, leafFile('client-revoked')).ok, 'chain itself is fine without CRLs');

  const expired = openssl(...verifyArgs, leafFile('client-expired'));
  t.notOk(expired.ok);
  t.match(expired.out, 'certificate has expired');

  const unknown = openssl(...verifyArgs, leafFile('client-unknown-ca'));
  t.notOk(unknown.ok);
  t.match(unknown.out, 'unable to get local issuer certificate');
  t.ok(openssl('verify', '-CAfile', 'unrelated-ca.pem', leafFile('client-unknown-ca')).ok, 'chains to its own root');
});

t.test('openssl x509: EKU, key usage and SANs', async (t) => {
  for (const name of ['client-ec', 'client-rsa', 'client-revoked', 'client-guest']) {
    t.match(openssl('x509', '-in', leafFile(name), '-noout', '-ext', 'extendedKeyUsage').out, 'TLS Web Client Authentication');
  }
  const noeku = openssl('x509', '-in', leafFile('client-noeku'), '-noout', '-ext', 'extendedKeyUsage').out;
  t.match(noeku, 'TLS Web Server Authentication');
  t.notMatch(noeku, 'Client');
  const purpose = openssl(...verifyArgs, '-purpose', 'sslclient', leafFile('client-noeku'));
  t.notOk(purpose.ok);
  t.match(purpose.out, 'unsuitable certificate purpose');

  const san = openssl('x509', '-in', leafFile('client-ec'), '-noout', '-ext', 'subjectAltName').out;
  t.match(san, 'email:alice@portcullis.test');
  t.match(san, 'URI:urn:device:client-ec');
  t.match(san, 'UPN::alice@ad.portcullis.test');
  t.match(openssl('x509', '-in', leafFile('client-rsa'), '-noout', '-ext', 'keyUsage').out, /Digital Signature, Key Encipherment/);

  const server = openssl('x509', '-in', leafFile('server'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage').out;
  t.match(server, 'DNS:radius.portcullis.test');
  t.match(server, 'TLS Web Server Authentication');
  const inter = openssl('x509', '-in', 'intermediate.pem', '-noout', '-ext', 'basicConstraints').out;
  t.match(inter, /critical\s+CA:TRUE, pathlen:0/);
});

t.test('node X509Certificate: issuance, signatures, keys, names', async (t) => {
  const load = (file: string): X509Certificate => new X509Certificate(readFileSync(file));
  const root = load(paths.root.cert);
  const intermediate = load(paths.intermediate.cert);
  t.ok(root.verify(root.publicKey) && root.checkIssued(root), 'root is self-signed');
  t.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
  t.ok(intermediate.ca && root.ca);
  for (const id of [paths.server, ...DEV_CLIENT_NAMES.map((n) => paths.clients[n])]) {
    const leaf = load(id.leaf);
    t.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(id.key))), `${id.leaf} matches its key`);
    t.notOk(leaf.ca);
    if (id === paths.clients['client-unknown-ca']) {
      t.notOk(leaf.checkIssued(intermediate));
      t.ok(leaf.verify(load(paths.unrelatedCa.cert).publicKey));
    } else {
      t.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), `${id.leaf} issued by intermediate`);
    }
  }
  t.equal(load(paths.server.leaf).checkHost('radius.portcullis.test'), 'radius.portcullis.test');
  t.equal(load(paths.clients['client-rsa'].leaf).checkEmail('bob@portcullis.test'), 'bob@portcullis.test');
  t.equal(load(paths.clients['client-rsa'].leaf).publicKey.asymmetricKeyType, 'rsa');
  const expired = load(paths.clients['client-expired'].leaf);
  t.ok(Date.parse(expired.validTo) < Date.now() - 300 * 86_400_000, 'expired a year ago');
});

t.test('ensureDevPki keeps a current PKI and replaces missing or stale ones', async (t) => {
  const before = statSync(paths.server.key).mtimeMs;
  const kept = await ensureDevPki(dir);
  t.equal(kept.created, false);
  t.same(kept.paths, paths);
  t.equal(statSync(paths.server.key).mtimeMs, before);
  t.equal((JSON.parse(readFileSync(paths.manifest, 'utf8')) as DevPkiManifest).generatedAt, manifest.generatedAt);

  const scratch = t.testdir();
  const fresh = join(scratch, 'nested', 'out');
  const made = await Promise.all([ensureDevPki(fresh), ensureDevPki(fresh)]);
  t.same(made.map((m) => m.created).sort(), [false, true], 'concurrent callers generate once');
  t.same(made[0]?.paths, devPkiPaths(fresh));

  // A PKI generated 30 days ago has a lapsed CRL: ensure must regenerate it.
  const stale = join(scratch, 'stale');
  await generateDevPki(stale, { now: new Date(Date.now() - 30 * 86_400_000), serverDnsName: 'old.portcullis.test' });
  t.equal((await ensureDevPki(stale)).created, true);
  const renewed = JSON.parse(readFileSync(devPkiPaths(stale).manifest, 'utf8')) as DevPkiManifest;
  t.equal(renewed.serverDnsName, 'radius.portcullis.test');
  t.ok(Date.parse(renewed.freshUntil) > Date.now() + 6 * 86_400_000);
});

t.test('generateDevPki honours serverDnsName', async (t) => {
  const custom = devPkiPaths(t.testdir());
  await generateDevPki(custom.dir, { serverDnsName: 'aaa.example.test' });
  const server = new X509Certificate(readFileSync(custom.server.leaf));
  t.equal(server.subjectAltName, 'DNS:aaa.example.test');
  t.match(server.subject, 'CN=aaa.example.test');
});
