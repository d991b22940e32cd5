import t from 'tap';
import fc from 'fast-check';
import { EapTlsDecodeFailure, decodeEapTlsData, encodeEapTlsData } from '../../src/codec/eap/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('known-good Type-Data vectors', async (t) => {
  t.same(decodeEapTlsData(hex('20')), {
    ok: true,
    length: false,
    more: false,
    start: true,
    tlsMessageLength: undefined,
    fragment: Buffer.alloc(0),
  });
  // First fragment of a server flight as hostapd sends it: L and M, 0x0a3e octets in total.
  t.same(decodeEapTlsData(hex('c0 00 00 0a 3e 16 03 03')), {
    ok: true,
    length: true,
    more: true,
    start: false,
    tlsMessageLength: 0x0a3e,
    fragment: hex('16 03 03'),
  });
  // A fragment ACK: flags 0, no data (RFC 5216 §2.1.5).
  t.same(decodeEapTlsData(hex('00')), {
    ok: true,
    length: false,
    more: false,
    start: false,
    tlsMessageLength: undefined,
    fragment: Buffer.alloc(0),
  });
});

t.test('reserved flag bits are ignored on receipt (RFC 5216 §3.1)', async (t) => {
  const r = decodeEapTlsData(hex('1f 16'));
  t.ok(r.ok && !r.length && !r.more && !r.start && r.fragment.equals(hex('16')));
});

t.test('each decode failure has its hex vectors', async (t) => {
  const vectors: Record<EapTlsDecodeFailure, string[]> = {
    empty: [''],
    'length-flag-truncated': ['80', 'c0 00 00 01'],
  };
  for (const [reason, list] of Object.entries(vectors)) {
    for (const bytes of list) t.same(decodeEapTlsData(hex(bytes)), { ok: false, reason }, `${reason}: ${bytes}`);
  }
});

t.test('encoding vectors', async (t) => {
  t.same(encodeEapTlsData({ start: true, fragment: Buffer.alloc(0) }), hex('20'));
  t.same(encodeEapTlsData({ more: true, tlsMessageLength: 0x0a3e, fragment: hex('16 03 03') }), hex('c0 00 00 0a 3e 16 03 03'));
  t.same(encodeEapTlsData({ fragment: hex('17') }), hex('00 17'));
  t.throws(() => encodeEapTlsData({ tlsMessageLength: -1, fragment: Buffer.alloc(0) }), { code: 'ERR_ASSERTION' });
});

t.test('decodeEapTlsData never throws', async () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const r = decodeEapTlsData(Buffer.from(bytes));
      return r.ok ? r.fragment.length < bytes.length : Object.values(EapTlsDecodeFailure).includes(r.reason);
    }),
    { numRuns: 5000 },
  );
});

t.test('encodeEapTlsData and decodeEapTlsData round-trip', async () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
      fc.uint8Array({ maxLength: 64 }),
      (start, more, tlsMessageLength, bytes) => {
        const fragment = Buffer.from(bytes);
        const r = decodeEapTlsData(encodeEapTlsData({ start, more, tlsMessageLength, fragment }));
        return (
          r.ok &&
          r.start === start &&
          r.more === more &&
          r.length === (tlsMessageLength !== undefined) &&
          r.tlsMessageLength === tlsMessageLength &&
          r.fragment.equals(fragment)
        );
      },
    ),
  );
});
