import t from 'tap';
import fc from 'fast-check';
import { EapCode, EapDecodeFailure, EapType, decodeEap, decodeNak, encodeEap, encodeFailure, encodeSuccess } from '../../src/codec/eap/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('known-good vectors decode and re-encode byte for byte', async (t) => {
  const identityPacket = Buffer.concat([hex('02 07 00 15 01'), Buffer.from('user@example.org')]);
  const r = decodeEap(identityPacket);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(
    { code: r.packet.code, identifier: r.packet.identifier, type: r.packet.type, data: r.packet.data.toString() },
    { code: EapCode.Response, identifier: 7, type: EapType.Identity, data: 'user@example.org' },
  );
  t.same(encodeEap({ code: EapCode.Response, identifier: 7, type: EapType.Identity, data: r.packet.data }), identityPacket);

  const start = hex('01 2a 00 06 0d 20');
  const s = decodeEap(start);
  t.ok(s.ok && s.packet.code === EapCode.Request && s.packet.type === EapType.Tls && s.packet.data.equals(hex('20')));
  t.same(encodeEap({ code: EapCode.Request, identifier: 0x2a, type: EapType.Tls, data: hex('20') }), start);

  t.same(encodeSuccess(0x2b), hex('03 2b 00 04'));
  t.same(encodeFailure(0xff), hex('04 ff 00 04'));
  const success = decodeEap(hex('03 2b 00 04'));
  t.ok(success.ok && success.packet.code === EapCode.Success && success.packet.type === undefined);
  t.ok(success.ok && success.packet.data.length === 0);
});

t.test('a Request/Response with a Type but no Type-Data is valid', async (t) => {
  const r = decodeEap(hex('02 01 00 05 0d'));
  t.ok(r.ok && r.packet.type === EapType.Tls && r.packet.data.length === 0);
});

t.test('octets beyond Length are padding and ignored (RFC 3748 §4.1)', async (t) => {
  const r = decodeEap(hex('02 01 00 06 03 0d ee ee'));
  t.ok(r.ok && r.packet.data.equals(hex('0d')));
  t.ok(decodeEap(hex('03 01 00 04 00 00')).ok);
});

t.test('each decode failure has its hex vectors', async (t) => {
  // A Record, so that the compiler insists on vectors for every reason.
  const vectors: Record<EapDecodeFailure, string[]> = {
    'too-short': ['', '02 01 00', '02 01 00 03 01'],
    'length-mismatch': ['02 01 00 09 01 61', '03 01 00 05'],
    'unknown-code': ['05 01 00 04', '00 01 00 05 01'],
    'missing-type': ['01 01 00 04', '02 01 00 04 01'],
    'success-failure-with-data': ['03 01 00 05 00', '04 01 00 06 00 00'],
  };
  for (const [reason, list] of Object.entries(vectors)) {
    for (const bytes of list) t.same(decodeEap(hex(bytes)), { ok: false, reason }, `${reason}: ${bytes}`);
  }
});

t.test('encodeEap refuses caller bugs with an assertion', async (t) => {
  t.throws(() => encodeEap({ code: EapCode.Request, identifier: 1 }), { code: 'ERR_ASSERTION' });
  t.throws(() => encodeEap({ code: EapCode.Success, identifier: 1, type: 1 }), { code: 'ERR_ASSERTION' });
  t.throws(() => encodeEap({ code: EapCode.Failure, identifier: 1, data: hex('00') }), { code: 'ERR_ASSERTION' });
  t.throws(() => encodeSuccess(256), { code: 'ERR_ASSERTION' });
  t.throws(() => encodeEap({ code: EapCode.Request, identifier: 1, type: 13, data: Buffer.alloc(0xffff - 4) }), {
    code: 'ERR_ASSERTION',
  });
});

t.test('decodeNak lists the desired Types (RFC 3748 §5.3.1)', async (t) => {
  t.same(decodeNak(hex('0d 19')), [EapType.Tls, EapType.Peap]);
  t.same(decodeNak(hex('00')), [0]);
  t.same(decodeNak(Buffer.alloc(0)), []);
});

/** Arbitrary bytes, and headers whose Length is near the real size, so every branch is reached. */
const eapLike = fc.oneof(
  fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: -6, max: 2 }))
    .map(([code, body, delta]) => {
      const buf = Buffer.concat([Buffer.from([code, 0, 0, 0]), body]);
      buf.writeUInt16BE(Math.max(0, buf.length + delta), 2);
      return buf;
    }),
);

t.test('decodeEap never throws and stays inside the buffer', async () => {
  fc.assert(
    fc.property(eapLike, (buf) => {
      const r = decodeEap(buf);
      if (r.ok) return r.packet.data.length <= buf.length && r.packet.data.buffer === buf.buffer;
      return Object.values(EapDecodeFailure).includes(r.reason);
    }),
    { numRuns: 5000 },
  );
});

t.test('encodeEap and decodeEap round-trip every valid Request/Response', async () => {
  fc.assert(
    fc.property(
      fc.constantFrom(EapCode.Request, EapCode.Response),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 300 }),
      (code, identifier, type, bytes) => {
        const data = Buffer.from(bytes);
        const r = decodeEap(encodeEap({ code, identifier, type, data }));
        return (
          r.ok && r.packet.code === code && r.packet.identifier === identifier && r.packet.type === type && r.packet.data.equals(data)
        );
      },
    ),
  );
});
