import t from 'tap';
import fc from 'fast-check';
import { RadiusStreamReader, StreamFailure, decodePacket } from '../../src/codec/radius/index.ts';
import type { StreamResult } from '../../src/codec/radius/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A chunk in memory of its own, as a socket read gives it (no pool slab shared with others). */
const own = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));

/** A frame of `length` octets whose Length field says so; the other octets come from `seed`. */
function frame(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  b.writeUInt16BE(length, 2);
  return b;
}

/** Feeds the chunks (hex) to a fresh reader; returns every result. */
function feed(max: number | undefined, ...chunks: string[]): StreamResult[] {
  const r = new RadiusStreamReader(max);
  return chunks.map((c) => r.push(hex(c)));
}

/** The packets of a run of results, all of which must be ok. */
function packetsOf(results: StreamResult[]): Buffer[] {
  return results.flatMap((r) => (r.ok ? r.packets : assertNever(r)));
}

function assertNever(r: StreamResult): never {
  throw new Error(`unexpected ${JSON.stringify(r)}`);
}

// RFC 2865 §7.1: the Access-Request for nemo / arctangent, 56 octets.
const REQUEST = hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f
  02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03`);
const MIN = `0c 07 00 14 ${'00'.repeat(16)}`; // a 20-octet Status-Server, header only

t.test('each stream failure has its hex vectors, decided on the 4th octet of the bad header', async (t) => {
  const vectors: Record<StreamFailure, { max?: number; chunks: string[] }[]> = {
    'length-too-small': [
      { chunks: ['01 00 00 13'] },
      { chunks: ['01 00 00 00'] },
      { chunks: ['01 00', '00 01'] },
      { chunks: ['01', '00', '00', '13'] },
      { chunks: [`${MIN} 01 00 00 0f ff ff`] },
      { chunks: [MIN, '01 00 00 02'] },
    ],
    'length-too-large': [
      { chunks: ['01 00 10 01'] },
      { chunks: ['01 00 ff ff'] },
      { chunks: ['01 00 10', '01'] },
      { chunks: [`${MIN} 02 00 80 00`] },
      { max: 100, chunks: ['01 00 00 65'] },
      { max: 20, chunks: [`${MIN} 01 00 00 15`] },
    ],
  };
  for (const [reason, list] of Object.entries(vectors)) {
    for (const { max, chunks } of list) {
      const results = feed(max, ...chunks);
      const label = `${reason}: ${chunks.join(' | ')}${max === undefined ? '' : ` (max ${max})`}`;
      t.same(results.at(-1), { ok: false, reason }, label);
      t.ok(results.slice(0, -1).every((r) => r.ok), `${label}: not before`);
    }
  }
  t.same(StreamFailure, { LengthTooSmall: 'length-too-small', LengthTooLarge: 'length-too-large' });
});

t.test('the bounds themselves are accepted: 20 and 4096 (RFC 2865 §3), or the configured maximum', async (t) => {
  const big = frame(4096, 7);
  t.same(packetsOf([new RadiusStreamReader().push(big)]), [big]);
  t.same(packetsOf(feed(undefined, MIN)), [hex(MIN)]);
  const hundred = frame(100, 3);
  t.same(packetsOf([new RadiusStreamReader(100).push(hundred)]), [hundred]);
  t.throws(() => new RadiusStreamReader(19), { code: 'ERR_ASSERTION' });
  t.throws(() => new RadiusStreamReader(4097), { code: 'ERR_ASSERTION' });
  t.throws(() => new RadiusStreamReader(20.5), { code: 'ERR_ASSERTION' });
});

t.test('several packets in one chunk come back in order, as views of the chunk', async (t) => {
  const chunk = own(Buffer.concat([REQUEST, hex(MIN), frame(300, 1)]));
  const r = new RadiusStreamReader();
  const result = r.push(chunk);
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.packets, [REQUEST, hex(MIN), frame(300, 1)]);
  t.same(result.packets.map((p) => [p.byteOffset - chunk.byteOffset, p.length]), [[0, 56], [56, 20], [76, 300]]);
  t.ok(result.packets.every((p) => p.buffer === chunk.buffer), 'no copy');
  t.equal(r.pending, 0);
  const decoded = decodePacket(result.packets[0] ?? Buffer.alloc(0));
  t.ok(decoded.ok, 'the framed packet decodes');
  t.same(r.push(Buffer.alloc(0)), { ok: true, packets: [] }, 'an empty chunk is nothing');
});

t.test('a header split 1 + 3, then the body', async (t) => {
  const r = new RadiusStreamReader();
  t.same(r.push(REQUEST.subarray(0, 1)), { ok: true, packets: [] });
  t.equal(r.pending, 1);
  t.same(r.push(REQUEST.subarray(1, 4)), { ok: true, packets: [] });
  t.equal(r.pending, 4, 'the Length is known and checked; 4 octets held');
  t.same(r.push(REQUEST.subarray(4, 30)), { ok: true, packets: [] });
  t.equal(r.pending, 30);
  const tail = own(Buffer.concat([REQUEST.subarray(30), hex(MIN), hex('01 00')]));
  const result = r.push(tail);
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.packets, [REQUEST, hex(MIN)]);
  t.not(result.packets[0]?.buffer, tail.buffer, 'a packet across chunks is a copy');
  t.equal(result.packets[0]?.length, 56, 'of exactly its Length');
  t.equal(result.packets[1]?.buffer, tail.buffer, 'the next one, inside the chunk, is a view');
  t.equal(r.pending, 2, 'the next header has begun');
});

t.test('byte-by-byte feeding gives the same packets', async (t) => {
  const stream = Buffer.concat([REQUEST, hex(MIN), frame(4096, 9), frame(21, 4)]);
  const r = new RadiusStreamReader();
  const packets: Buffer[] = [];
  let maxPending = 0;
  for (let i = 0; i < stream.length; i++) {
    const result = r.push(stream.subarray(i, i + 1));
    if (!result.ok) {
      t.fail(result.reason);
      return;
    }
    packets.push(...result.packets);
    maxPending = Math.max(maxPending, r.pending);
  }
  t.same(packets, [REQUEST, hex(MIN), frame(4096, 9), frame(21, 4)]);
  t.equal(maxPending, 4095, 'never more than one unfinished packet');
  t.equal(r.pending, 0);
});

t.test('a failure is final: the partial packet and the chunk are dropped, every later push fails', async (t) => {
  const r = new RadiusStreamReader();
  t.same(r.push(REQUEST.subarray(0, 10)), { ok: true, packets: [] });
  const bad = Buffer.concat([REQUEST.subarray(10), hex(MIN), hex('01 00 00 05')]);
  t.same(r.push(bad), { ok: false, reason: 'length-too-small' }, 'packets finished in the failing chunk are not returned');
  t.equal(r.pending, 0);
  t.equal(r.failure, 'length-too-small');
  for (const chunk of [Buffer.alloc(0), REQUEST, hex('01 00 ff ff')]) {
    t.same(r.push(chunk), { ok: false, reason: 'length-too-small' });
  }
  t.equal(new RadiusStreamReader().failure, undefined);
});

/** Reference framer over the whole stream at once: the packets (with end offsets) and the failure, if any. */
function reference(stream: Buffer, max: number): { packets: { bytes: Buffer; end: number }[]; failure?: { reason: StreamFailure; decidedAt: number } } {
  const packets: { bytes: Buffer; end: number }[] = [];
  let offset = 0;
  while (stream.length - offset >= 4) {
    const length = stream.readUInt16BE(offset + 2);
    if (length < 20) return { packets, failure: { reason: 'length-too-small', decidedAt: offset + 3 } };
    if (length > max) return { packets, failure: { reason: 'length-too-large', decidedAt: offset + 3 } };
    if (stream.length - offset < length) break;
    packets.push({ bytes: stream.subarray(offset, offset + length), end: offset + length });
    offset += length;
  }
  return { packets };
}

/** Chunk boundaries: sorted distinct cut points inside 0..total. */
function cut(stream: Buffer, rawCuts: number[]): Buffer[] {
  const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const c of [...cuts, stream.length]) {
    chunks.push(own(stream.subarray(start, c)));
    start = c;
  }
  return chunks;
}

const lengthArb = fc.oneof(fc.integer({ min: 20, max: 64 }), fc.integer({ min: 20, max: 4096 }), fc.constantFrom(20, 4095, 4096));
const packetArb = fc.tuple(lengthArb, fc.integer()).map(([length, seed]) => frame(length, seed));
const cutsArb = fc.array(fc.nat({ max: 1 << 20 }), { maxLength: 40 });

t.test('property: valid packets cut anywhere come back exactly, in order; views when inside a chunk', async (t) => {
  fc.assert(
    fc.property(fc.array(packetArb, { maxLength: 8 }), cutsArb, (sent, rawCuts) => {
      const stream = Buffer.concat(sent);
      const chunks = cut(stream, rawCuts);
      const r = new RadiusStreamReader();
      const got: Buffer[] = [];
      let start = 0;
      for (const chunk of chunks) {
        const result = r.push(chunk);
        if (!result.ok) return false;
        for (const p of result.packets) {
          const inside = p.buffer === chunk.buffer;
          const spans = got.reduce((n, q) => n + q.length, 0) < start; // began in an earlier chunk
          if (inside === spans) return false;
          got.push(p);
        }
        start += chunk.length;
        if (r.pending > 4095) return false;
      }
      return r.pending === 0 && got.length === sent.length && got.every((p, i) => p.equals(sent[i] ?? Buffer.alloc(0)));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

const garbageArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  // Valid frames with a little garbage among them, so that streams frame for a while, then fail.
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 20, max: 120 }), fc.integer()).map(([length, seed]) => frame(length, seed)) },
        { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => Buffer.from(b)) },
      ),
      { maxLength: 12 },
    )
    .map((parts) => Buffer.concat(parts)),
);

t.test('property: any bytes cut anywhere never throw and frame like a reference framer', async (t) => {
  fc.assert(
    fc.property(garbageArb, cutsArb, fc.constantFrom(20, 100, 4096), (bytes, rawCuts, max) => {
      const stream = Buffer.from(bytes);
      const chunks = cut(stream, rawCuts);
      const expected = reference(stream, max);
      const r = new RadiusStreamReader(max);
      const got: Buffer[] = [];
      let start = 0;
      for (const [i, chunk] of chunks.entries()) {
        const result = r.push(chunk);
        if (!result.ok) {
          const failure = expected.failure;
          if (failure === undefined || result.reason !== failure.reason) return false;
          if (failure.decidedAt < start || failure.decidedAt >= start + chunk.length) return false;
          const before = expected.packets.filter((p) => p.end <= start).map((p) => p.bytes);
          if (got.length !== before.length || !got.every((p, k) => p.equals(before[k] ?? Buffer.alloc(0)))) return false;
          // Final: the rest of the stream, and anything else, gets the same answer.
          return [...chunks.slice(i + 1), REQUEST].every((c) => {
            const again = r.push(c);
            return !again.ok && again.reason === failure.reason;
          }) && r.pending === 0;
        }
        got.push(...result.packets);
        start += chunk.length;
      }
      const framed = expected.packets.reduce((n, p) => n + p.bytes.length, 0);
      return (
        expected.failure === undefined &&
        got.length === expected.packets.length &&
        got.every((p, k) => p.equals(expected.packets[k]?.bytes ?? Buffer.alloc(0))) &&
        r.pending === stream.length - framed
      );
    }),
    { numRuns: 500 },
  );
  t.pass();
});
