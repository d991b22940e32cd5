import t from 'tap';
import fc from 'fast-check';
import {
  EapCode,
  EapType,
  TlsFragmenter,
  TlsReassembler,
  decodeEap,
  decodeEapTlsData,
  encodeEap,
  maxTlsFragmentForMtu,
} from '../../src/codec/eap/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('maxTlsFragmentForMtu: Framed-MTU minus 14, clamped to [64, ceiling]', async (t) => {
  t.equal(maxTlsFragmentForMtu(undefined, 1024), 1024);
  t.equal(maxTlsFragmentForMtu(1400, 4000), 1386, 'eapol_test sends Framed-MTU 1400');
  t.equal(maxTlsFragmentForMtu(1400, 1024), 1024);
  t.equal(maxTlsFragmentForMtu(78, 1024), 64);
  t.equal(maxTlsFragmentForMtu(0, 1024), 64);
  t.throws(() => maxTlsFragmentForMtu(1400, 63), { code: 'ERR_ASSERTION' });
});

t.test('a fragmented message: L on the first fragment only, M on all but the last', async (t) => {
  const f = new TlsFragmenter(hex('01 02 03 04 05'), 2);
  t.equal(f.remaining, 5);
  t.same(f.next(), { data: hex('c0 00 00 00 05 01 02'), more: true });
  t.same(f.next(), { data: hex('40 03 04'), more: true });
  t.notOk(f.done);
  t.same(f.next(), { data: hex('00 05'), more: false });
  t.ok(f.done);
  t.equal(f.remaining, 0);
  t.throws(() => f.next(), { code: 'ERR_ASSERTION' });
});

t.test('a message that fits one packet carries no L; an empty one is a single bare packet', async (t) => {
  const one = new TlsFragmenter(hex('01 02'), 2);
  t.same(one.next(), { data: hex('00 01 02'), more: false });
  t.ok(one.done);
  const empty = new TlsFragmenter(Buffer.alloc(0), 64);
  t.notOk(empty.done);
  t.same(empty.next(), { data: hex('00'), more: false });
  t.ok(empty.done);
  t.throws(() => new TlsFragmenter(Buffer.alloc(1), 0), { code: 'ERR_ASSERTION' });
});

t.test('fragmenter -> EAP packets -> reassembler round-trips 0..20000 octets at 64..1400 per packet', async () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20000 }), fc.integer({ min: 64, max: 1400 }), fc.integer(), (size, max, seed) => {
      const message = Buffer.alloc(size);
      for (let i = 0; i < size; i++) message[i] = (seed + i * 31) & 0xff;
      const fragmenter = new TlsFragmenter(message, max);
      const reassembler = new TlsReassembler(20000);
      let packets = 0;
      for (;;) {
        const { data, more } = fragmenter.next();
        packets++;
        const eap = decodeEap(encodeEap({ code: EapCode.Request, identifier: packets & 0xff, type: EapType.Tls, data }));
        if (!eap.ok) return false;
        const tls = decodeEapTlsData(eap.packet.data);
        if (!tls.ok || tls.more !== more || tls.fragment.length > max) return false;
        if (tls.length !== (packets === 1 && more)) return false;
        const result = reassembler.add(tls);
        if (!more) {
          return (
            fragmenter.done &&
            packets === Math.max(1, Math.ceil(size / max)) &&
            result.status === 'complete' &&
            result.message.equals(message)
          );
        }
        if (result.status !== 'need-more') return false;
      }
    }),
    { numRuns: 300 },
  );
});
