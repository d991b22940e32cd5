/**
 * The native TLS engine (native/tls_engine.c through src/tls/engine.ts) against a `node:tls`
 * client over an in-memory pipe: keys equal to the client's, TLS 1.2 session-ID resumption and
 * what happens when the stored session is damaged, junk records, a destroyed conversation, and a
 * server key that does not match its certificate.
 */
import t from 'tap';
import { X509Certificate, constants as cryptoConstants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TlsEngine, type TlsConversation, type TlsEngineSettings, type TlsProgress, type TlsVersion } from '../../src/tls/engine.ts';
import { devPki } from '../support/eap-tls-peer.ts';
import { RecordPipe } from '../support/record-pipe.ts';
import type { TlsSessionStore } from '../../src/store/ports.ts';

const pki = await devPki();
const anchors = [readFileSync(pki.root.cert), readFileSync(pki.intermediate.cert)];

function engineSettings(overrides: Partial<TlsEngineSettings> = {}): TlsEngineSettings {
  return {
    certificateChain: readFileSync(pki.server.cert),
    privateKey: readFileSync(pki.server.key),
    caCertificates: anchors,
    issuers: anchors.map((pem) => new X509Certificate(pem)),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    resumption: false,
    resumptionLifetimeSeconds: 60,
    ...overrides,
  };
}

/** A session store in a Map, as the in-memory adapter keeps it. */
function mapStore(): TlsSessionStore & { readonly entries: Map<string, Buffer> } {
  const entries = new Map<string, Buffer>();
  return {
    entries,
    get: async (key) => entries.get(key),
    set: async (key, value) => void entries.set(key, value),
  };
}

/** A `node:tls` client with the dev EC client certificate, over an in-memory pipe. */
class Client {
  readonly pipe = new RecordPipe();
  readonly socket: tls.TLSSocket;
  session: Buffer | undefined;

  /** @param noTicket offer no session ticket, so that a TLS 1.2 server names the session by ID. */
  constructor(version: TlsVersion, session?: Buffer, noTicket = false) {
    this.socket = tls.connect({
      socket: this.pipe,
      cert: readFileSync(pki.clients['client-ec'].cert),
      key: readFileSync(pki.clients['client-ec'].key),
      ca: readFileSync(pki.root.cert),
      servername: 'radius.portcullis.test',
      minVersion: version,
      maxVersion: version,
      ...(session === undefined ? {} : { session }),
      ...(noTicket ? { secureOptions: cryptoConstants.SSL_OP_NO_TICKET } : {}),
    });
    this.socket.on('session', (next: Buffer) => (this.session = next));
    this.socket.on('error', () => {});
  }

  /**
   * What the client TLS stack wrote, once it is quiet; with `expectSome`, waits for it to write
   * something first (every handshake flight of the server gets an answer).
   */
  async output(expectSome = true): Promise<Buffer> {
    for (let turns = 0; expectSome && this.pipe.pendingBytes === 0 && turns < 500; turns++) await nextTurn();
    await this.pipe.settle();
    return this.pipe.takeOutput();
  }

  destroy(): void {
    this.socket.destroy();
    this.pipe.destroy();
  }
}

/** Exchanges flights until the server side is established or fails. */
async function handshake(conversation: TlsConversation, client: Client): Promise<TlsProgress> {
  for (;;) {
    const progress = await conversation.receive(await client.output());
    if (progress.kind !== 'continue') return progress;
    client.pipe.deliver(progress.output);
  }
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: established, chain from the configured CAs, keys equal to the client's`, async (t) => {
    const engine = new TlsEngine(engineSettings());
    const conversation = engine.open();
    const client = new Client(version);
    t.teardown(() => {
      conversation.destroy();
      client.destroy();
    });
    const progress = await handshake(conversation, client);
    if (progress.kind !== 'established') return void t.fail(`not established: ${progress.kind}`);
    t.match(progress.result, { version, resumed: false, chainVerified: true, verificationError: undefined });
    t.same(
      progress.result.peerChain.map((certificate) => certificate.subject.split('\n').find((line) => line.startsWith('CN='))),
      ['CN=laptop-ec.portcullis.test', 'CN=Portcullis Dev Issuing CA', 'CN=Portcullis Dev Root CA'],
      'leaf, intermediate, root',
    );
    // Release the held final flight so that the TLS 1.2 client completes too.
    client.pipe.deliver(version === 'TLSv1.3' ? conversation.writeSuccessIndication() : conversation.takeHeldOutput());
    await client.output(false);
    const keys = conversation.keyMaterial();
    const expected =
      version === 'TLSv1.3'
        ? client.socket.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from([0x0d]))
        : client.socket.exportKeyingMaterial(128, 'client EAP encryption', undefined as unknown as Buffer);
    t.ok(keys !== undefined && Buffer.concat([keys.msk, keys.emsk]).equals(expected), 'MSK || EMSK equal the client exporter');
    t.equal(keys?.sessionId.length, 65, 'Session-Id: 0x0D and 64 octets');
  });
}

t.test('TLS 1.2 session-ID resumption, and a damaged stored session that only costs the resumption', async (t) => {
  const store = mapStore();
  const engine = new TlsEngine(engineSettings({ resumption: true, sessionStore: store, sessionNamespace: 'test:' }));
  const full = async (): Promise<Buffer | undefined> => {
    const conversation = engine.open();
    const client = new Client('TLSv1.2', undefined, true);
    t.equal((await handshake(conversation, client)).kind, 'established');
    client.pipe.deliver(conversation.takeHeldOutput());
    await client.output(false);
    await conversation.saveForResumption();
    conversation.destroy();
    client.destroy();
    return client.session;
  };
  const session = await full();
  t.equal(store.entries.size, 1, 'the session is stored under its ID');
  if (session === undefined) return void t.fail('the client kept no session');

  const again = async (): Promise<TlsProgress> => {
    const conversation = engine.open();
    const client = new Client('TLSv1.2', session, true);
    try {
      return await handshake(conversation, client);
    } finally {
      conversation.destroy();
      client.destroy();
    }
  };
  t.match(await again(), { kind: 'established', result: { resumed: true, chainVerified: true } }, 'resumed from the store');
  const [key, der] = [...store.entries][0]!;
  await full();
  const [, other] = [...store.entries].find(([otherKey]) => otherKey !== key)!;
  store.entries.set(key, other);
  t.match(await again(), { kind: 'established', result: { resumed: false } }, 'the session of another ID: a full handshake');
  store.entries.set(key, Buffer.from(der.subarray(0, der.length - 7)));
  t.match(await again(), { kind: 'established', result: { resumed: false, chainVerified: true } }, 'a truncated session: a full handshake');
  store.entries.set(key, Buffer.alloc(der.length, 0x30));
  t.match(await again(), { kind: 'established', result: { resumed: false } }, 'garbage: a full handshake');
});

t.test('records that are not TLS fail the conversation with an alert; the engine goes on', async (t) => {
  const engine = new TlsEngine(engineSettings());
  const conversation = engine.open();
  // A handshake record holding a ClientHello cut short (RFC 8446 §4.1.2).
  const progress = await conversation.receive(Buffer.from('160301000801000004030300 00'.replace(/ /g, ''), 'hex'));
  t.equal(progress.kind, 'failed');
  t.equal(progress.kind === 'failed' ? progress.output[0] : undefined, 21, 'the output is an alert record');
  conversation.destroy();
  conversation.destroy();
  t.pass('destroy twice is safe');
  t.match(await conversation.receive(Buffer.from([22, 3, 1, 0, 1, 1])), { kind: 'failed' }, 'a destroyed conversation fails what it receives');
  t.equal(conversation.keyMaterial(), undefined, 'no keys');
  const client = new Client('TLSv1.3');
  const next = engine.open();
  t.teardown(() => {
    next.destroy();
    client.destroy();
  });
  t.match(await handshake(next, client), { kind: 'established' }, 'the next conversation of the same engine succeeds');
});

t.test('a private key that does not match the certificate is refused with a clear error', async (t) => {
  t.throws(() => new TlsEngine(engineSettings({ privateKey: readFileSync(pki.clients['client-ec'].key) })), /server private key/);
  t.throws(() => new TlsEngine(engineSettings({ certificateChain: Buffer.from('not PEM') })), /server certificate chain/);
  t.throws(() => new TlsEngine(engineSettings({ ticketKeys: Buffer.alloc(48) })), /ticketKeys: 80-byte Buffer expected/);
});
