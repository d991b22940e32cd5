/**
 * Accounting in parts: the `accounting:` configuration, the record read from an
 * Accounting-Request, the in-memory session table and the JSON-lines sink.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AcctStatusTypeValue,
  Attr,
  PacketCode,
  decodePacket,
  encodeRequest,
  integerAttr,
  stringAttr,
  type RadiusAttribute,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { accountingRecordOf } from '../../src/server/accounting-record.ts';
import { JsonlAccountingSink } from '../../src/store/jsonl-accounting-sink.ts';
import { MemoryAccountingStore } from '../../src/store/memory-accounting-store.ts';
import type { AccountingRecord } from '../../src/store/ports.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const minimal = readFileSync(join(repo, 'test/fixtures/config/minimal.yaml'), 'utf8');

function problemsOf(yaml: string): readonly string[] {
  try {
    parseConfig(yaml, 'portcullis.yaml', { baseDir: '/etc/portcullis' });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

t.test('config: accounting is off by default; listeners default to port 1813; the sink resolves against the config dir', async (t) => {
  const off = parseConfig(minimal, 'minimal.yaml', { baseDir: '/etc/portcullis' });
  t.same(off.accounting, { listen: [], sink: undefined, sessionTtlSeconds: 86_400 });
  const on = parseConfig(
    `${minimal}accounting:\n  listen:\n    - address: 127.0.0.1\n    - address: ::1\n      port: 0\n  sink: log/acct.jsonl\n  session_ttl_seconds: 3600\n`,
    'p.yaml',
    { baseDir: '/etc/portcullis' },
  );
  t.same(on.accounting, {
    listen: [
      { address: '127.0.0.1', family: 4, port: 1813 },
      { address: '::1', family: 6, port: 0 },
    ],
    sink: '/etc/portcullis/log/acct.jsonl',
    sessionTtlSeconds: 3600,
  });
});

t.test('config: accounting problems name their path', async (t) => {
  t.match(problemsOf(`${minimal}accounting:\n  listen:\n    - address: 127.0.0.1\n      port: 1812\n`), [
    /accounting\.listen\[0\]: same address and port as listen\[0\]/,
  ]);
  t.match(problemsOf(`${minimal}accounting:\n  session_ttl_seconds: 10\n`), [/accounting\.session_ttl_seconds: /]);
  t.match(problemsOf(`${minimal}accounting:\n  listen:\n    - address: localhost\n`), [/accounting\.listen\[0\]\.address: must be an IPv4 or IPv6/]);
  t.match(problemsOf(`${minimal}accounting:\n  spool: x\n`), [/accounting/]);
  t.same(problemsOf(`${minimal}accounting:\n  listen:\n    - address: 127.0.0.1\n      port: 0\n`), [], 'port 0 never collides');
});

function packet(attributes: readonly RadiusAttribute[]): RadiusPacket {
  const decoded = decodePacket(encodeRequest({ code: PacketCode.AccountingRequest, identifier: 1, attributes, secret: Buffer.from('s') }));
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.packet;
}

const status = (value: number) => integerAttr(Attr.AcctStatusType, value);

t.test('record: fields, Gigawords, event time, and what makes it malformed', async (t) => {
  const now = 1_700_000_000_000;
  const record = accountingRecordOf(
    packet([
      status(AcctStatusTypeValue.InterimUpdate),
      stringAttr(Attr.AcctSessionId, 'abc'),
      stringAttr(Attr.UserName, 'alice'),
      { type: Attr.NasIpAddress, value: Buffer.from([192, 0, 2, 1]) },
      integerAttr(Attr.AcctInputOctets, 5),
      integerAttr(Attr.AcctInputGigawords, 2),
      integerAttr(Attr.AcctOutputOctets, 7),
      integerAttr(Attr.AcctDelayTime, 3),
    ]),
    'nas',
    now,
  );
  t.match(record, {
    client: 'nas',
    status: 'interim-update',
    statusType: 3,
    sessionId: 'abc',
    userName: 'alice',
    nasIpAddress: '192.0.2.1',
    inputOctets: 2 * 2 ** 32 + 5,
    outputOctets: 7,
    inputPackets: undefined,
    receivedAt: now,
    eventAt: now - 3000,
  });
  const v6 = Buffer.alloc(16);
  v6.writeUInt16BE(0x2001, 0);
  v6.writeUInt16BE(0x0db8, 2);
  v6.writeUInt16BE(1, 14);
  const stamped = accountingRecordOf(
    packet([status(AcctStatusTypeValue.AccountingOn), { type: Attr.NasIpv6Address, value: v6 }, integerAttr(Attr.EventTimestamp, 1_600_000_000)]),
    'nas',
    now,
  );
  t.match(stamped, { status: 'accounting-on', sessionId: undefined, nasIpAddress: '2001:db8::1', eventAt: 1_600_000_000_000 });
  t.equal(accountingRecordOf(packet([status(9), stringAttr(Attr.AcctSessionId, 't')]), 'nas', now)?.status, 'other');

  t.equal(accountingRecordOf(packet([stringAttr(Attr.AcctSessionId, 'abc')]), 'nas', now), undefined, 'no Acct-Status-Type');
  const shortStatus = packet([{ type: Attr.AcctStatusType, value: Buffer.from([1]) }, stringAttr(Attr.AcctSessionId, 'a')]);
  t.equal(accountingRecordOf(shortStatus, 'nas', now), undefined, 'Acct-Status-Type not 4 octets');
  for (const value of [AcctStatusTypeValue.Start, AcctStatusTypeValue.Stop, AcctStatusTypeValue.InterimUpdate, 15]) {
    t.equal(accountingRecordOf(packet([status(value)]), 'nas', now), undefined, `status ${value} without Acct-Session-Id`);
  }
});

/** A record with every optional field absent. */
function rec(fields: Partial<AccountingRecord> & Pick<AccountingRecord, 'status'>): AccountingRecord {
  return {
    receivedAt: 0,
    eventAt: 0,
    client: 'nas',
    statusType: 0,
    sessionId: undefined,
    userName: undefined,
    callingStationId: undefined,
    calledStationId: undefined,
    nasIpAddress: undefined,
    nasIdentifier: undefined,
    nasPort: undefined,
    sessionTime: undefined,
    inputOctets: undefined,
    outputOctets: undefined,
    inputPackets: undefined,
    outputPackets: undefined,
    terminateCause: undefined,
    ...fields,
  };
}

t.test('memory store: Start, Interim-Update, Stop; an unknown Interim-Update inserts', async (t) => {
  let now = 1_000_000;
  const store = new MemoryAccountingStore({ ttlSeconds: 600, now: () => now });
  await store.record(rec({ status: 'start', sessionId: 's', userName: 'u', nasPort: 3, receivedAt: now, eventAt: now }));
  now += 60_000;
  await store.record(rec({ status: 'interim-update', sessionId: 's', sessionTime: 60, inputOctets: 9, receivedAt: now, eventAt: now }));
  t.match(await store.activeSessions(), [
    { sessionId: 's', userName: 'u', nasPort: 3, sessionTime: 60, inputOctets: 9, startedAt: 1_000_000, lastUpdateAt: now },
  ]);
  await store.record(rec({ status: 'interim-update', sessionId: 'late', sessionTime: 30, receivedAt: now, eventAt: now }));
  t.match(await store.activeSessions({ nas: 'nas' }), [{ sessionId: 's' }, { sessionId: 'late', startedAt: now - 30_000 }], 'oldest start first');
  await store.record(rec({ status: 'stop', sessionId: 's' }));
  await store.record(rec({ status: 'stop', sessionId: 'never-seen' }));
  await store.record(rec({ status: 'other', sessionId: 'x' }));
  t.same((await store.activeSessions()).map((s) => s.sessionId), ['late']);
  await store.record(rec({ status: 'start', sessionId: 'late', client: 'other-nas', receivedAt: now }));
  t.equal(store.size, 2, 'the key is client and Acct-Session-Id');
});

t.test('memory store: Accounting-On/Off end the sessions of that NAS only', async (t) => {
  const store = new MemoryAccountingStore({ ttlSeconds: 600, now: () => 0 });
  for (const [sessionId, client, nasIdentifier] of [
    ['1', 'a', 'ap-1'],
    ['2', 'a', 'ap-2'],
    ['3', 'b', 'ap-1'],
    ['4', 'a', undefined],
  ] as const) {
    await store.record(rec({ status: 'start', sessionId, client, nasIdentifier }));
  }
  await store.record(rec({ status: 'accounting-on', client: 'a', nasIdentifier: 'ap-1', nasIpAddress: '192.0.2.1' }));
  t.same((await store.activeSessions()).map((s) => s.sessionId).sort(), ['2', '3'], 'a session naming no NAS goes too');
  await store.record(rec({ status: 'accounting-off', client: 'a' }));
  t.same((await store.activeSessions()).map((s) => s.sessionId), ['3']);
});

t.test('memory store: expiry after the TTL, and the size cap', async (t) => {
  let now = 0;
  const store = new MemoryAccountingStore({ ttlSeconds: 60, maxSessions: 2, now: () => now });
  await store.record(rec({ status: 'start', sessionId: 'old', receivedAt: now }));
  now = 61_000;
  t.same(await store.activeSessions(), [], 'hidden once expired');
  await store.record(rec({ status: 'start', sessionId: 'new', receivedAt: now }));
  t.equal(store.size, 1, 'swept on the next record');
  await store.record(rec({ status: 'start', sessionId: 'newer', receivedAt: now }));
  await store.record(rec({ status: 'interim-update', sessionId: 'new', receivedAt: now }));
  await store.record(rec({ status: 'start', sessionId: 'newest', receivedAt: now }));
  t.same((await store.activeSessions()).map((s) => s.sessionId).sort(), ['new', 'newest'], 'the least recently updated made room');
});

t.test('sink: concurrent writes give whole lines in order; close flushes; later writes reject', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-sink-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'acct.jsonl');
  const sink = await JsonlAccountingSink.open(path);
  const writes = Array.from({ length: 500 }, (_, i) => sink.write(rec({ status: 'start', sessionId: `s${i}`, userName: 'ü'.repeat(i % 7) })));
  const closing = sink.close();
  await Promise.all(writes);
  await closing;
  const lines = (await readFile(path, 'utf8')).split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.same(lines.map((line) => (JSON.parse(line) as { session_id: string }).session_id), Array.from({ length: 500 }, (_, i) => `s${i}`));
  t.match(JSON.parse(lines[0] ?? '{}'), { timestamp: '1970-01-01T00:00:00.000Z', client: 'nas', status: 'start' });
  t.notOk('calling_station_id' in (JSON.parse(lines[0] ?? '{}') as object), 'absent fields are left out');
  await t.rejects(sink.write(rec({ status: 'start', sessionId: 'late' })), /closed/);

  const again = await JsonlAccountingSink.open(path);
  await again.write(rec({ status: 'stop', sessionId: 's0' }));
  await again.close();
  t.equal((await readFile(path, 'utf8')).split('\n').length, 502, 'a reopened sink appends');
  await t.rejects(JsonlAccountingSink.open(join(dir, 'missing', 'acct.jsonl')), { code: 'ENOENT' });
});
