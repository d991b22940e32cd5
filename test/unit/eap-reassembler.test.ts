import t from 'tap';
import fc from 'fast-check';
import { ReassemblyFailure, TlsReassembler, decodeEapTlsData } from '../../src/codec/eap/index.ts';
import type { ReassemblyResult, TlsFragment } from '../../src/codec/eap/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Feeds EAP-TLS Type-Data given in hex to a fresh reassembler; returns every result. */
function feed(max: number, ...typeData: string[]): ReassemblyResult[] {
  const r = new TlsReassembler(max);
  return typeData.map((h) => {
    const d = decodeEapTlsData(hex(h));
    if (!d.ok) throw new Error(`bad vector ${h}`);
    return r.add(d);
  });
}

t.test('an unfragmented message comes back as a view, with or without L', async (t) => {
  const typeData = hex('00 16 03 03');
  const d = decodeEapTlsData(typeData);
  if (!d.ok) throw new Error('bad vector');
  const r = new TlsReassembler(100).add(d);
  t.ok(r.status === 'complete' && r.message.equals(hex('16 03 03')) && r.message.buffer === typeData.buffer);
  t.same(feed(100, '80 00 00 00 03 16 03 03'), [{ status: 'complete', message: hex('16 03 03') }]);
  t.same(feed(0, '00'), [{ status: 'complete', message: Buffer.alloc(0) }], 'an empty ACK is an empty message');
});

t.test('a fragmented message is joined into one buffer of exactly L octets', async (t) => {
  const results = feed(10, 'c0 00 00 00 05 01 02', '40 03', '00 04 05');
  t.same(results.slice(0, 2), [{ status: 'need-more' }, { status: 'need-more' }]);
  const last = results[2];
  t.ok(last?.status === 'complete' && last.message.equals(hex('01 02 03 04 05')));
  t.ok(last?.status === 'complete' && last.message.buffer.byteLength >= 5);
});

t.test('later fragments may repeat a consistent L', async (t) => {
  const results = feed(10, 'c0 00 00 00 04 01 02', 'c0 00 00 00 04 03', '80 00 00 00 04 04');
  t.same(results.at(-1), { status: 'complete', message: hex('01 02 03 04') });
});

t.test('inProgress and reset', async (t) => {
  const r = new TlsReassembler(10);
  t.notOk(r.inProgress);
  t.same(r.add({ more: true, tlsMessageLength: 4, fragment: hex('01') }), { status: 'need-more' });
  t.ok(r.inProgress);
  r.reset();
  t.notOk(r.inProgress);
  t.same(r.add({ more: false, tlsMessageLength: undefined, fragment: hex('09') }), { status: 'complete', message: hex('09') });
  t.same(r.add({ more: true, tlsMessageLength: 4, fragment: hex('01') }), { status: 'need-more' });
  t.same(r.add({ more: true, tlsMessageLength: 5, fragment: hex('02') }), {
    status: 'error',
    reason: ReassemblyFailure.InconsistentLength,
  });
  t.notOk(r.inProgress, 'an error discards the partial message');
  t.throws(() => new TlsReassembler(-1), { code: 'ERR_ASSERTION' });
});

t.test('each reassembly failure has its hex vectors (EAP-TLS Type-Data, one packet after another)', async (t) => {
  const vectors: Record<ReassemblyFailure, string[][]> = {
    'first-fragment-without-length': [['40 16 03']],
    'message-too-large': [['c0 00 00 00 0b 01'], ['80 00 00 00 0b 01'], ['80 ff ff ff ff'], ['00 01 02 03 04 05 06 07 08 09 0a 0b']],
    'exceeds-declared-length': [
      ['c0 00 00 00 02 01 02'],
      ['80 00 00 00 01 01 02'],
      ['c0 00 00 00 03 01', '40 02 03'],
      ['c0 00 00 00 03 01', '00 02 03 04'],
    ],
    'length-mismatch': [['80 00 00 00 03 01'], ['c0 00 00 00 04 01', '00 02']],
    'inconsistent-length': [['c0 00 00 00 04 01', 'c0 00 00 00 05 02']],
    'empty-fragment': [['c0 00 00 00 04'], ['c0 00 00 00 04 01', '40'], ['c0 00 00 00 04 01', '00']],
  };
  for (const [reason, list] of Object.entries(vectors)) {
    for (const typeData of list) {
      t.same(feed(10, ...typeData).at(-1), { status: 'error', reason }, `${reason}: ${typeData.join(' | ')}`);
    }
  }
});

const fragmentArb: fc.Arbitrary<TlsFragment> = fc.record({
  more: fc.boolean(),
  tlsMessageLength: fc.option(fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: 0xffffffff })), { nil: undefined }),
  fragment: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
});

/** A well-formed fragment sequence of one message, so that the fuzzed streams also complete. */
const messageArb: fc.Arbitrary<TlsFragment[]> = fc
  .tuple(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 1, max: 20 }))
  .map(([bytes, size]) => {
    const message = Buffer.from(bytes);
    const fragments: TlsFragment[] = [];
    for (let at = 0; at === 0 || at < message.length; at += size) {
      const more = at + size < message.length;
      const tlsMessageLength = at === 0 && more ? message.length : undefined;
      fragments.push({ more, tlsMessageLength, fragment: message.subarray(at, at + size) });
    }
    return fragments;
  });

/** Well-formed messages interleaved with arbitrary fragments. */
const streamArb = fc
  .array(fc.oneof(messageArb, fc.array(fragmentArb, { maxLength: 3 })), { maxLength: 8 })
  .map((parts) => parts.flat());

t.test('fed arbitrary fragments it never throws, never allocates beyond the cap, and joins correctly', async (t) => {
  const allocUnsafe = Buffer.allocUnsafe;
  const sizes: number[] = [];
  Buffer.allocUnsafe = (size: number) => (sizes.push(size), allocUnsafe(size));
  t.teardown(() => {
    Buffer.allocUnsafe = allocUnsafe;
  });
  fc.assert(
    fc.property(fc.nat({ max: 48 }), streamArb, (max, fragments) => {
      const r = new TlsReassembler(max);
      let pieces: Buffer[] = [];
      for (const f of fragments) {
        const wasInProgress = r.inProgress;
        sizes.length = 0;
        const result = r.add(f);
        if (sizes.length > (wasInProgress ? 0 : 1) || sizes.some((s) => s > max)) return false;
        if (!wasInProgress && f.tlsMessageLength !== undefined && f.tlsMessageLength > max) {
          if (result.status !== 'error' || result.reason !== ReassemblyFailure.MessageTooLarge || sizes.length > 0) return false;
        }
        pieces.push(f.fragment);
        if (result.status === 'need-more') {
          if (!f.more || !r.inProgress) return false;
          continue;
        }
        if (r.inProgress) return false;
        if (result.status === 'complete' && !(result.message.length <= max && result.message.equals(Buffer.concat(pieces)))) {
          return false;
        }
        pieces = [];
      }
      return true;
    }),
    { numRuns: 3000 },
  );
});
