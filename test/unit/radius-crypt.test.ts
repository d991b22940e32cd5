import t from 'tap';
import fc from 'fast-check';
import { decryptMppeKey, decryptUserPassword, encryptMppeKey, encryptUserPassword, mppeKeyAttributes } from '../../src/codec/radius/crypt.ts';
import { Attr, MicrosoftAttr, PacketCode, Vendor, decodePacket, encodeResponse, getVendorAttributes } from '../../src/codec/radius/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('User-Password: RFC 2865 §7.1 vector', async (t) => {
  const secret = Buffer.from('xyzzy5461');
  const authenticator = hex('0f403f94739780 57bd83d5cb98f4227a');
  const hidden = hex('0dbe708d93d413ce3196e43f782a0aee');
  t.same(encryptUserPassword(Buffer.from('arctangent'), secret, authenticator), hidden);
  t.same(decryptUserPassword(hidden, secret, authenticator), Buffer.from('arctangent'));
});

t.test('User-Password: round trip and malformed values (RFC 2865 §5.2)', async (t) => {
  const secret = Buffer.from('secret');
  const authenticator = Buffer.alloc(16, 9);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
      const password = Buffer.from(bytes);
      const hidden = encryptUserPassword(password, secret, authenticator);
      // RFC 2865 §5.2 pads with zeros, so trailing zeros of the password cannot survive.
      const unpadded = password.subarray(0, password.findLastIndex((b) => b !== 0) + 1);
      return hidden.length % 16 === 0 && hidden.length >= 16 && decryptUserPassword(hidden, secret, authenticator)?.equals(unpadded) === true;
    }),
    { numRuns: 2000 },
  );
  t.equal(decryptUserPassword(Buffer.alloc(15), secret, authenticator), undefined);
  t.equal(decryptUserPassword(Buffer.alloc(17), secret, authenticator), undefined);
  t.equal(decryptUserPassword(Buffer.alloc(144), secret, authenticator), undefined);
  t.throws(() => encryptUserPassword(Buffer.alloc(129), secret, authenticator));
});

// Independent vector from OpenBSD's libradius regression suite (regress/lib/libradius/test25.c):
// secret "hogehogefugafuga", salt 0x8036, a 16-octet key.
t.test('MS-MPPE key: OpenBSD libradius vector (RFC 2548 §2.4.2)', async (t) => {
  const secret = Buffer.from('hogehogefugafuga');
  const authenticator = hex('678ae6ed696e1bd10ae2fea105d46a56');
  const key = hex('fc6ea418373d8e90c136fae3735e37d1');
  const encrypted = hex(`8036 f4abbe2117fb3e4a7874dce91c5b0449 8ec7720f168688562dbc88e21cab6271`);
  t.same(decryptMppeKey(encrypted, secret, authenticator), key);
  t.same(encryptMppeKey(key, secret, authenticator, hex('8036')), encrypted);
});

t.test('MS-MPPE key: round trip, random salts and malformed values', async (t) => {
  const secret = Buffer.from('secret');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (key, authenticator) => {
      const ra = Buffer.from(authenticator);
      const encrypted = encryptMppeKey(Buffer.from(key), secret, ra);
      return (encrypted.readUInt8(0) & 0x80) !== 0 && (encrypted.length - 2) % 16 === 0 && decryptMppeKey(encrypted, secret, ra)?.equals(key) === true;
    }),
    { numRuns: 2000 },
  );
  const ra = Buffer.alloc(16, 3);
  const good = encryptMppeKey(Buffer.alloc(32, 1), secret, ra, hex('8001'));
  t.equal(good.length, 2 + 48);
  t.equal(decryptMppeKey(good.subarray(0, 49), secret, ra), undefined, 'not a whole block');
  t.equal(decryptMppeKey(good.subarray(0, 17), secret, ra), undefined, 'too short');
  t.equal(decryptMppeKey(Buffer.concat([hex('0001'), good.subarray(2)]), secret, ra), undefined, 'salt high bit clear');
  const oneOctetKey = encryptMppeKey(Buffer.alloc(1), secret, ra, hex('8001'));
  oneOctetKey.writeUInt8(oneOctetKey.readUInt8(2) ^ 0xfe, 2); // c(1) xor d flips p(1) by d: Key-Length 1 becomes 255
  t.equal(decryptMppeKey(oneOctetKey, secret, ra), undefined, 'Key-Length beyond the plaintext');
  t.throws(() => encryptMppeKey(Buffer.alloc(16), secret, ra, hex('0001')));
  t.throws(() => encryptMppeKey(Buffer.alloc(16), secret, Buffer.alloc(15)));
});

t.test('mppeKeyAttributes: Recv = MSK[0..32), Send = MSK[32..64), distinct salts, in an Access-Accept', async (t) => {
  const secret = Buffer.from('secret');
  const requestAuthenticator = Buffer.alloc(16, 5);
  const msk = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  const datagram = encodeResponse({
    code: PacketCode.AccessAccept,
    identifier: 3,
    requestAuthenticator,
    attributes: mppeKeyAttributes(msk, secret, requestAuthenticator),
    secret,
  });
  const r = decodePacket(datagram);
  t.ok(r.ok);
  if (!r.ok) return;
  const [recv] = getVendorAttributes(r.packet, Vendor.Microsoft, MicrosoftAttr.MppeRecvKey);
  const [send] = getVendorAttributes(r.packet, Vendor.Microsoft, MicrosoftAttr.MppeSendKey);
  t.ok(recv && send);
  if (!recv || !send) return;
  t.same(decryptMppeKey(recv, secret, requestAuthenticator), msk.subarray(0, 32));
  t.same(decryptMppeKey(send, secret, requestAuthenticator), msk.subarray(32, 64));
  t.notSame(recv.subarray(0, 2), send.subarray(0, 2), 'salts differ');
  t.equal(r.packet.attributes.filter((a) => a.type === Attr.VendorSpecific).length, 2);
  t.throws(() => mppeKeyAttributes(Buffer.alloc(63), secret, requestAuthenticator));
});
