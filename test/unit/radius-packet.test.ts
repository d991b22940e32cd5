import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import radius from 'radius';
import {
  Attr,
  DecodeFailure,
  PacketCode,
  decodePacket,
  decryptUserPassword,
  encodeAttributes,
  getAttribute,
  getAttributes,
  getIntegerAttribute,
  getStringAttribute,
  verifyResponseAuthenticator,
  type RadiusAttribute,
} from '../../src/codec/radius/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const AUTH = '00112233445566778899aabbccddeeff';

// RFC 2865 §7.1, secret "xyzzy5461": nemo / arctangent, and the server's Access-Accept.
const RFC2865_REQUEST = hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f
  02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03`);
const RFC2865_ACCEPT = hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2
  06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03`);

t.test('RFC 2865 §7.1 Access-Request and Access-Accept', async (t) => {
  const request = decodePacket(RFC2865_REQUEST);
  t.ok(request.ok);
  if (!request.ok) return;
  const { packet } = request;
  t.equal(packet.code, PacketCode.AccessRequest);
  t.equal(packet.identifier, 0);
  t.same(packet.authenticator, hex('0f403f94739780 57bd83d5cb98f4227a'));
  t.same(packet.attributes.map((a) => a.type), [Attr.UserName, Attr.UserPassword, Attr.NasIpAddress, Attr.NasPort]);
  t.equal(getStringAttribute(packet, Attr.UserName), 'nemo');
  t.same(getAttribute(packet, Attr.NasIpAddress), hex('c0a80110'));
  t.equal(getIntegerAttribute(packet, Attr.NasPort), 3);
  t.equal(getIntegerAttribute(packet, Attr.State), undefined, 'absent');
  const password = getAttribute(packet, Attr.UserPassword);
  t.equal(password && decryptUserPassword(password, Buffer.from('xyzzy5461'), packet.authenticator)?.toString(), 'arctangent');

  const accept = decodePacket(RFC2865_ACCEPT);
  t.ok(accept.ok && accept.packet.code === PacketCode.AccessAccept);
  if (!accept.ok) return;
  t.equal(getIntegerAttribute(accept.packet, Attr.ServiceType), 1);
  t.ok(verifyResponseAuthenticator(accept.packet, packet.authenticator, Buffer.from('xyzzy5461')));
  t.notOk(verifyResponseAuthenticator(accept.packet, packet.authenticator, Buffer.from('xyzzy5462')));
});

t.test('each decode failure has a hex vector', async (t) => {
  const header = (code: string, length: string): string => `${code} 01 ${length} ${AUTH}`;
  const vectors: [string, Buffer, DecodeFailure][] = [
    ['19-octet datagram', hex(header('01', '0013')).subarray(0, 19), DecodeFailure.TooShort],
    ['4097-octet datagram', Buffer.concat([hex(header('01', '0014')), Buffer.alloc(4077)]), DecodeFailure.TooLong],
    ['Length 19', hex(header('01', '0013')), DecodeFailure.BadLengthField],
    ['Length 4097', Buffer.concat([hex(header('01', '1001')), Buffer.alloc(4076)]), DecodeFailure.BadLengthField],
    ['Length beyond datagram', hex(`${header('01', '0018')} 01 02`), DecodeFailure.Truncated],
    ['code 0', hex(header('00', '0014')), DecodeFailure.UnknownCode],
    ['code 6 (Interim-Accounting)', hex(header('06', '0014')), DecodeFailure.UnknownCode],
    ['code 255', hex(header('ff', '0014')), DecodeFailure.UnknownCode],
    ['one octet of attribute', hex(`${header('01', '0015')} 01`), DecodeFailure.AttributeHeaderOverflow],
    ['attribute Length 1', hex(`${header('01', '0016')} 01 01`), DecodeFailure.AttributeTooShort],
    ['attribute Length 0', hex(`${header('01', '0016')} 01 00`), DecodeFailure.AttributeTooShort],
    ['attribute past Length', hex(`${header('01', '0018')} 01 05 61 62`), DecodeFailure.AttributeOverflow],
    ['attribute past Length, padding after', hex(`${header('01', '0018')} 01 05 61 62 63 64`), DecodeFailure.AttributeOverflow],
    ['Message-Authenticator of 15', hex(`${header('01', '0025')} 50 11 ${AUTH.slice(2)}`), DecodeFailure.BadMessageAuthenticatorLength],
    ['Message-Authenticator of 17', hex(`${header('01', '0027')} 50 13 ${AUTH} 00`), DecodeFailure.BadMessageAuthenticatorLength],
    ['two Message-Authenticators', hex(`${header('0b', '0038')} 50 12 ${AUTH} 50 12 ${AUTH}`), DecodeFailure.DuplicateMessageAuthenticator],
  ];
  const seen = new Set<string>();
  for (const [name, datagram, reason] of vectors) {
    t.same(decodePacket(datagram), { ok: false, reason }, name);
    seen.add(reason);
  }
  t.same([...seen].sort(), Object.values(DecodeFailure).sort(), 'every reason is covered');
});

t.test('boundaries that decode', async (t) => {
  const empty = decodePacket(hex(`0c 07 0014 ${AUTH}`));
  t.ok(empty.ok && empty.packet.attributes.length === 0 && empty.packet.code === PacketCode.StatusServer);
  const padded = hex(`01 07 0017 ${AUTH} 01 03 61 ee ee ee`);
  const r = decodePacket(padded);
  t.ok(r.ok, 'RFC 2865 §3: octets beyond Length are padding');
  if (!r.ok) return;
  t.equal(r.packet.raw.length, 0x17);
  t.same(r.packet.attributes, [{ type: 1, value: hex('61') }]);
  t.equal(r.packet.attributes[0]?.value.buffer, padded.buffer, 'values are views, not copies');
  t.same(decodePacket(hex(`01 07 0016 ${AUTH} 4f 02`)).ok, true, 'an empty attribute is allowed');
  const filler = [...Array.from({ length: 15 }, () => Buffer.alloc(253)), Buffer.alloc(249)].map((value) => ({ type: 26, value }));
  const max = Buffer.concat([hex(`02 01 1000 ${AUTH}`), encodeAttributes(filler)]);
  t.equal(max.length, 4096);
  t.ok(decodePacket(max).ok, 'a 4096-octet packet');
});

t.test('getAttributes keeps wire order', async (t) => {
  const r = decodePacket(hex(`0b 01 001d ${AUTH} 18 03 01 19 02 18 04 02 03`));
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(getAttributes(r.packet, Attr.State), [hex('01'), hex('0203')]);
  t.same(getAttribute(r.packet, Attr.State), hex('01'));
  t.same(getAttributes(r.packet, Attr.Class), [hex('')]);
  t.same(getAttributes(r.packet, Attr.UserName), []);
  t.equal(getIntegerAttribute(r.packet, Attr.State), undefined, 'not 4 octets');
});

const codeArb = fc.constantFrom(...Object.values(PacketCode));
const bytes = (min: number, max: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));

interface Sample {
  readonly code: number;
  readonly identifier: number;
  readonly authenticator: Buffer;
  readonly attributes: RadiusAttribute[];
}

const sampleArb = (types: fc.Arbitrary<number>): fc.Arbitrary<Sample> =>
  fc.record({
    code: codeArb,
    identifier: fc.integer({ min: 0, max: 255 }),
    authenticator: bytes(16, 16),
    // fc.record builds null-prototype objects; rebuild plain ones so deep equality holds.
    attributes: fc.array(fc.tuple(types, bytes(0, 253)).map(([type, value]) => ({ type, value })), { maxLength: 15 }),
  });

const anyType = fc.integer({ min: 1, max: 255 }).filter((type) => type !== Attr.MessageAuthenticator);

function encodeSample(s: Sample): Buffer {
  const body = encodeAttributes(s.attributes);
  const header = Buffer.alloc(20);
  header.writeUInt8(s.code, 0);
  header.writeUInt8(s.identifier, 1);
  header.writeUInt16BE(20 + body.length, 2);
  s.authenticator.copy(header, 4);
  return Buffer.concat([header, body]);
}

const reasons = new Set<unknown>(Object.values(DecodeFailure));

t.test('fuzz: decodePacket never throws on arbitrary bytes', async (t) => {
  fc.assert(
    fc.property(bytes(0, 5000), (datagram) => {
      const r = decodePacket(datagram);
      return r.ok ? r.packet.raw.length === r.packet.raw.readUInt16BE(2) : reasons.has(r.reason);
    }),
    { numRuns: 3000 },
  );
  t.pass('no throw');
});

t.test('fuzz: decodePacket never throws on mutated valid packets', async (t) => {
  const mutation = fc.record({ index: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(sampleArb(anyType), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.integer({ min: -40, max: 40 }), (s, mutations, resize) => {
      const encoded = encodeSample(s);
      const datagram = Buffer.alloc(Math.max(0, encoded.length + resize));
      encoded.copy(datagram);
      for (const { index, byte } of mutations) if (datagram.length > 0) datagram[index % datagram.length] = byte;
      const r = decodePacket(datagram);
      return r.ok || reasons.has(r.reason);
    }),
    { numRuns: 3000 },
  );
  t.pass('no throw');
});

t.test('property: decode(encode(x)) gives back x', async (t) => {
  fc.assert(
    fc.property(sampleArb(anyType), (s) => {
      const r = decodePacket(encodeSample(s));
      if (!r.ok) return false;
      const { code, identifier, authenticator, attributes } = r.packet;
      return isDeepStrictEqual({ code, identifier, authenticator, attributes }, { ...s });
    }),
    { numRuns: 1000 },
  );
  t.pass('round trip');
});

// The `radius` npm package as an independent oracle (test only, never on the wire path).
// Types it decodes as strings or octets without throwing, plus types it does not know.
const ORACLE_TYPES = [1, 11, 18, 24, 25, 30, 31, 32, 33, 44, 77, 79, 87, 102, 17, 124, 200, 255];
const ORACLE_CODE_NAMES: Record<number, string> = {
  1: 'Access-Request', 2: 'Access-Accept', 3: 'Access-Reject', 4: 'Accounting-Request',
  5: 'Accounting-Response', 11: 'Access-Challenge', 12: 'Status-Server', 13: 'Status-Client',
  40: 'Disconnect-Request', 41: 'Disconnect-ACK', 42: 'Disconnect-NAK', 43: 'CoA-Request', 44: 'CoA-ACK', 45: 'CoA-NAK',
};

t.test('oracle: decode agrees with the radius package on well-formed packets', async (t) => {
  fc.assert(
    fc.property(sampleArb(fc.constantFrom(...ORACLE_TYPES)), (s) => {
      const datagram = encodeSample(s);
      const ours = decodePacket(datagram);
      const theirs = radius.decode({ packet: datagram, secret: 'unused', no_secret: true });
      return (
        ours.ok &&
        theirs.code === ORACLE_CODE_NAMES[ours.packet.code] &&
        theirs.identifier === ours.packet.identifier &&
        isDeepStrictEqual(theirs.raw_attributes, ours.packet.attributes.map((a) => [a.type, a.value]))
      );
    }),
    { numRuns: 1000 },
  );
  t.pass('agree');
});

t.test('oracle: packets the radius package encodes decode to the same attributes', async (t) => {
  fc.assert(
    fc.property(sampleArb(fc.constantFrom(...ORACLE_TYPES)), (s) => {
      const datagram: Buffer = radius.encode({
        code: ORACLE_CODE_NAMES[s.code],
        identifier: s.identifier,
        attributes: s.attributes.map((a) => [a.type, a.value]),
        secret: 'oracle',
      });
      const r = decodePacket(datagram);
      return (
        r.ok &&
        r.packet.code === s.code &&
        r.packet.identifier === s.identifier &&
        isDeepStrictEqual(r.packet.attributes.filter((a) => a.type !== Attr.MessageAuthenticator), s.attributes)
      );
    }),
    { numRuns: 1000 },
  );
  t.pass('agree');
});
