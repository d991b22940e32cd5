import t from 'tap';
import fc from 'fast-check';
import {
  Attr,
  PacketCode,
  TunnelMediumTypeValue,
  TunnelTypeValue,
  decodePacket,
  decodeTunnelInteger,
  decodeTunnelString,
  encodeAttributes,
  encodeTunnelInteger,
  encodeTunnelString,
  encodeVendorSpecific,
  getAttributes,
  getVendorAttributes,
  integerAttr,
  joinEapMessage,
  splitEapMessage,
  stringAttr,
  type RadiusAttribute,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An Access-Accept carrying `attributes`, through the real decoder. */
function packetWith(attributes: readonly RadiusAttribute[]): RadiusPacket {
  const body = encodeAttributes(attributes);
  const header = hex('02 01 0000 00112233445566778899aabbccddeeff');
  header.writeUInt16BE(20 + body.length, 2);
  const r = decodePacket(Buffer.concat([header, body]));
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

t.test('stringAttr, integerAttr and encodeAttributes write RFC 2865 §5 framing', async (t) => {
  t.same(encodeAttributes([stringAttr(Attr.UserName, 'né'), integerAttr(Attr.SessionTimeout, 3600)]), hex('01 05 6e c3 a9 1b 06 00000e10'));
  t.same(encodeAttributes([]), Buffer.alloc(0));
  t.same(encodeAttributes([{ type: 255, value: Buffer.alloc(253, 1) }]).subarray(0, 3), hex('ff ff 01'));
  t.throws(() => encodeAttributes([{ type: 1, value: Buffer.alloc(254) }]));
  t.throws(() => encodeAttributes([{ type: 0, value: Buffer.alloc(1) }]));
  t.throws(() => integerAttr(Attr.SessionTimeout, -1));
  t.throws(() => integerAttr(Attr.SessionTimeout, 2 ** 32));
});

t.test('EAP-Message: split into 253-octet pieces and joined back (RFC 3579 §3.1)', async (t) => {
  const eap = Buffer.from(Array.from({ length: 600 }, (_, i) => i & 0xff));
  const pieces = splitEapMessage(eap);
  t.same(pieces.map((p) => p.value.length), [253, 253, 94]);
  t.ok(pieces.every((p) => p.type === Attr.EapMessage && p.value.buffer === eap.buffer), 'views, no copies');
  const packet = packetWith([stringAttr(Attr.UserName, 'x'), ...pieces, stringAttr(Attr.State, 's')]);
  t.same(joinEapMessage(packet), eap);
  t.equal(joinEapMessage(packetWith([stringAttr(Attr.UserName, 'x')])), undefined);
  t.same(splitEapMessage(Buffer.alloc(253)).length, 1);
  t.same(splitEapMessage(Buffer.alloc(254)).length, 2);
});

t.test('property: join(split(eap)) is eap for sizes 0..5000', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
      const eap = Buffer.from(bytes);
      const pieces = splitEapMessage(eap);
      const sizes = pieces.map((p) => p.value.length);
      // Larger than one RADIUS packet can hold, so the pieces go into a packet-shaped object.
      const packet = { code: PacketCode.AccessChallenge, identifier: 0, authenticator: Buffer.alloc(16), attributes: pieces, raw: Buffer.alloc(20) };
      return sizes.slice(0, -1).every((n) => n === 253) && (sizes.at(-1) ?? 254) <= 253 && joinEapMessage(packet)?.equals(eap) === true;
    }),
    { numRuns: 2000 },
  );
  t.pass('round trip');
});

t.test('Vendor-Specific (RFC 2865 §5.26)', async (t) => {
  const vsa = encodeVendorSpecific(311, 17, hex('aabb'));
  t.same(vsa, { type: Attr.VendorSpecific, value: hex('00000137 11 04 aabb') });
  t.throws(() => encodeVendorSpecific(311, 17, Buffer.alloc(248)));
  t.throws(() => encodeVendorSpecific(0x1000000, 1, Buffer.alloc(1)));

  const packet = packetWith([
    vsa,
    // Two sub-attributes in one VSA, one of them ours.
    { type: Attr.VendorSpecific, value: hex('00000137 10 03 01 11 03 02') },
    // Another vendor.
    { type: Attr.VendorSpecific, value: hex('00000009 11 03 ff') },
    // Malformed: a sub-attribute overflows, a sub-attribute too short, a dangling octet, too short for a Vendor-Id.
    { type: Attr.VendorSpecific, value: hex('00000137 11 09 ee') },
    { type: Attr.VendorSpecific, value: hex('00000137 11 03 ee 11 01') },
    { type: Attr.VendorSpecific, value: hex('00000137 11 03 ee 11') },
    { type: Attr.VendorSpecific, value: hex('000001') },
    { type: Attr.VendorSpecific, value: hex('00000137') },
  ]);
  t.same(getVendorAttributes(packet, 311, 17), [hex('aabb'), hex('02')]);
  t.same(getVendorAttributes(packet, 311, 16), [hex('01')]);
  t.same(getVendorAttributes(packet, 9, 17), [hex('ff')]);
  t.same(getVendorAttributes(packet, 14122, 1), []);
});

t.test('fuzz: getVendorAttributes never throws', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 253 }), { maxLength: 12 }), fc.nat(400), fc.nat(255), (values, vendor, type) => {
      const packet = packetWith(values.map((v) => ({ type: Attr.VendorSpecific, value: Buffer.from(v) })));
      return Array.isArray(getVendorAttributes(packet, vendor, type));
    }),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});

t.test('tagged tunnel attributes for VLAN assignment (RFC 2868 §3.1, §3.2, §3.6)', async (t) => {
  t.same(encodeTunnelInteger(Attr.TunnelType, 0, TunnelTypeValue.Vlan).value, hex('00 00000d'));
  t.same(encodeTunnelInteger(Attr.TunnelMediumType, 1, TunnelMediumTypeValue.Ieee802).value, hex('01 000006'));
  t.same(encodeTunnelString(Attr.TunnelPrivateGroupId, 0, '100').value, Buffer.from('100'), 'untagged, first octet > 0x1F');
  t.same(encodeTunnelString(Attr.TunnelPrivateGroupId, 2, '100').value, hex('02 313030'));
  t.same(encodeTunnelString(Attr.TunnelPrivateGroupId, 0, hex('05 41')).value, hex('00 05 41'), 'explicit 0 tag');
  t.same(encodeTunnelString(Attr.TunnelPrivateGroupId, 0, '').value, hex('00'));
  t.throws(() => encodeTunnelInteger(Attr.TunnelType, 0x20, 13));
  t.throws(() => encodeTunnelInteger(Attr.TunnelType, 1, 0x1000000));
  t.throws(() => encodeTunnelString(Attr.TunnelPrivateGroupId, 32, 'x'));

  t.same(decodeTunnelInteger(hex('1f ffffff')), { tag: 31, value: 0xffffff });
  t.equal(decodeTunnelInteger(hex('20 00000d')), undefined, 'tag above 0x1F');
  t.equal(decodeTunnelInteger(hex('01 0d')), undefined, 'wrong length');
  t.same(decodeTunnelString(Buffer.from('VLAN10')), { tag: 0, value: Buffer.from('VLAN10') });
  t.same(decodeTunnelString(hex('')), { tag: 0, value: hex('') });

  // Two tunnels offered in one packet, interleaved: each attribute keeps its own tag.
  const packet = packetWith([
    encodeTunnelInteger(Attr.TunnelType, 1, TunnelTypeValue.Vlan),
    encodeTunnelInteger(Attr.TunnelType, 2, TunnelTypeValue.Vlan),
    encodeTunnelString(Attr.TunnelPrivateGroupId, 2, '200'),
    encodeTunnelString(Attr.TunnelPrivateGroupId, 1, '100'),
    encodeTunnelString(Attr.TunnelPrivateGroupId, 0, 'guest'),
  ]);
  t.same(getAttributes(packet, Attr.TunnelType).map(decodeTunnelInteger), [{ tag: 1, value: 13 }, { tag: 2, value: 13 }]);
  t.same(
    getAttributes(packet, Attr.TunnelPrivateGroupId).map(decodeTunnelString).map(({ tag, value }) => [tag, value.toString()]),
    [[2, '200'], [1, '100'], [0, 'guest']],
  );
});

t.test('property: tagged tunnel attributes round-trip', async (t) => {
  const tag = fc.integer({ min: 0, max: 0x1f });
  fc.assert(
    fc.property(tag, fc.integer({ min: 0, max: 0xffffff }), (g, v) => {
      const decoded = decodeTunnelInteger(encodeTunnelInteger(Attr.TunnelType, g, v).value);
      return decoded?.tag === g && decoded.value === v;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(tag, fc.uint8Array({ maxLength: 252 }), (g, bytes) => {
      const value = Buffer.from(bytes);
      const decoded = decodeTunnelString(encodeTunnelString(Attr.TunnelPrivateGroupId, g, value).value);
      return decoded.tag === g && decoded.value.equals(value);
    }),
    { numRuns: 2000 },
  );
  t.pass('round trip');
});
