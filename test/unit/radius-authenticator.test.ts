import t from 'tap';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import radius from 'radius';
import {
  Attr,
  PacketCode,
  decodePacket,
  encodeRequest,
  encodeResponse,
  splitEapMessage,
  stringAttr,
  verifyAccountingRequestAuthenticator,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';

const SECRET = Buffer.from('s3cr3t-shared');
const OTHER_SECRET = Buffer.from('s3cr3t-sharee');
const EAP_IDENTITY = Buffer.from('0201000d01616c696365406f7267', 'hex');

function decoded(datagram: Buffer): RadiusPacket {
  const r = decodePacket(datagram);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.packet;
}

function accessRequest(): Buffer {
  return encodeRequest({
    code: PacketCode.AccessRequest,
    identifier: 42,
    attributes: [stringAttr(Attr.UserName, 'alice@org'), ...splitEapMessage(EAP_IDENTITY)],
    secret: SECRET,
  });
}

t.test('encodeRequest: Access-Request has Message-Authenticator first, and it verifies', async (t) => {
  const request = decoded(accessRequest());
  t.equal(request.code, PacketCode.AccessRequest);
  t.equal(request.identifier, 42);
  t.same(request.attributes.map((a) => a.type), [Attr.MessageAuthenticator, Attr.UserName, Attr.EapMessage]);
  t.equal(verifyMessageAuthenticator(request, SECRET), 'ok');
  t.equal(verifyMessageAuthenticator(request, OTHER_SECRET), 'invalid');
  const fixed = Buffer.alloc(16, 7);
  t.same(decoded(encodeRequest({ code: PacketCode.StatusServer, identifier: 1, attributes: [], secret: SECRET, authenticator: fixed })).authenticator, fixed);
});

t.test('every single-byte change of the Message-Authenticator value is rejected', async (t) => {
  const valid = accessRequest();
  const offset = 22; // first attribute's value
  t.equal(valid[20], Attr.MessageAuthenticator);
  let rejected = 0;
  for (let i = 0; i < 16; i++) {
    for (let delta = 1; delta < 256; delta++) {
      const forged = Buffer.from(valid);
      forged.writeUInt8(forged.readUInt8(offset + i) ^ delta, offset + i);
      if (verifyMessageAuthenticator(decoded(forged), SECRET) === 'invalid') rejected++;
    }
  }
  t.equal(rejected, 16 * 255);
});

t.test('any single-byte change elsewhere breaks the Message-Authenticator', async (t) => {
  const valid = accessRequest();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, delta) => {
      const forged = Buffer.from(valid);
      forged.writeUInt8(forged.readUInt8(index) ^ delta, index);
      const r = decodePacket(forged);
      return !r.ok || verifyMessageAuthenticator(r.packet, SECRET) !== 'ok';
    }),
    { numRuns: 2000 },
  );
  t.pass('no forgery accepted');
});

t.test('a packet without Message-Authenticator is missing', async (t) => {
  const plain = Buffer.from('01 07 0014 00112233445566778899aabbccddeeff'.replace(/\s+/g, ''), 'hex');
  t.equal(verifyMessageAuthenticator(decoded(plain), SECRET), 'missing');
});

t.test('encodeResponse: MA first, MA and Response Authenticator verify against the request', async (t) => {
  const request = decoded(accessRequest());
  for (const code of [PacketCode.AccessChallenge, PacketCode.AccessAccept, PacketCode.AccessReject]) {
    const response = decoded(
      encodeResponse({
        code,
        identifier: request.identifier,
        requestAuthenticator: request.authenticator,
        attributes: [...splitEapMessage(Buffer.alloc(600, 1)), stringAttr(Attr.State, 'state-1')],
        secret: SECRET,
      }),
    );
    t.equal(response.code, code);
    t.equal(response.identifier, 42);
    t.equal(response.attributes[0]?.type, Attr.MessageAuthenticator, 'Message-Authenticator first');
    t.same(response.attributes.map((a) => a.type), [80, 79, 79, 79, 24]);
    t.ok(verifyResponseAuthenticator(response, request.authenticator, SECRET));
    t.equal(verifyMessageAuthenticator(response, SECRET, request.authenticator), 'ok');
    t.notOk(verifyResponseAuthenticator(response, request.authenticator, OTHER_SECRET));
    t.equal(verifyMessageAuthenticator(response, OTHER_SECRET, request.authenticator), 'invalid');
    t.equal(verifyMessageAuthenticator(response, SECRET), 'invalid', 'a response needs the request authenticator');
    t.equal(verifyMessageAuthenticator(response, SECRET, Buffer.alloc(16)), 'invalid');
  }
});

t.test('encoders assert their own invariants', async (t) => {
  const base = { code: PacketCode.AccessAccept, identifier: 1, requestAuthenticator: Buffer.alloc(16), secret: SECRET };
  t.throws(() => encodeResponse({ ...base, attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }] }));
  t.throws(() => encodeResponse({ ...base, attributes: Array.from({ length: 17 }, () => ({ type: 26, value: Buffer.alloc(253) })) }));
  t.throws(() => encodeResponse({ ...base, code: PacketCode.AccessRequest, attributes: [] }));
  t.throws(() => encodeResponse({ ...base, attributes: [{ type: 1, value: Buffer.alloc(254) }] }));
  t.throws(() => encodeRequest({ code: PacketCode.AccessAccept, identifier: 1, attributes: [], secret: SECRET }));
  t.throws(() => encodeRequest({ code: PacketCode.AccountingRequest, identifier: 1, attributes: [], secret: SECRET, authenticator: Buffer.alloc(16) }));
  t.throws(() => encodeRequest({ code: PacketCode.AccessRequest, identifier: 256, attributes: [], secret: SECRET }));
});

t.test('Accounting-Request: Request Authenticator and zero-keyed Message-Authenticator', async (t) => {
  for (const code of [PacketCode.AccountingRequest, PacketCode.CoaRequest, PacketCode.DisconnectRequest]) {
    const request = decoded(encodeRequest({ code, identifier: 9, attributes: [stringAttr(Attr.AcctSessionId, 'abc')], secret: SECRET }));
    t.equal(request.attributes[0]?.type, Attr.MessageAuthenticator);
    t.ok(verifyAccountingRequestAuthenticator(request, SECRET));
    t.notOk(verifyAccountingRequestAuthenticator(request, OTHER_SECRET));
    t.equal(verifyMessageAuthenticator(request, SECRET), 'ok');
  }
});

t.test('Accounting-Response: MA keyed on zeros for an Accounting-Request, on the request for a Status-Server', async (t) => {
  const accounting = decoded(encodeRequest({ code: PacketCode.AccountingRequest, identifier: 3, attributes: [stringAttr(Attr.AcctSessionId, 'abc')], secret: SECRET }));
  const status = decoded(encodeRequest({ code: PacketCode.StatusServer, identifier: 4, attributes: [], secret: SECRET }));
  const answer = (request: RadiusPacket, requestCode?: PacketCode) =>
    decoded(
      encodeResponse({
        code: PacketCode.AccountingResponse,
        identifier: request.identifier,
        requestAuthenticator: request.authenticator,
        ...(requestCode === undefined ? {} : { requestCode }),
        attributes: [],
        secret: SECRET,
      }),
    );
  // FreeRADIUS (rad_sign, radclient) keys it on 16 zero octets, like the request's own MAC.
  const toAccounting = answer(accounting);
  t.ok(verifyResponseAuthenticator(toAccounting, accounting.authenticator, SECRET), 'RFC 2866 §3 Response Authenticator');
  t.equal(verifyMessageAuthenticator(toAccounting, SECRET, accounting.authenticator), 'ok', 'defaults to answering an Accounting-Request');
  t.equal(verifyMessageAuthenticator(toAccounting, SECRET, accounting.authenticator, PacketCode.AccountingRequest), 'ok');
  t.equal(verifyMessageAuthenticator(toAccounting, SECRET, accounting.authenticator, PacketCode.StatusServer), 'invalid');
  const expected = Buffer.from(toAccounting.raw);
  expected.fill(0, 4, 20);
  expected.fill(0, 22, 38);
  t.same(toAccounting.attributes[0]?.value, createHmac('md5', SECRET).update(expected).digest(), 'HMAC-MD5 over zeros in both fields');
  // RFC 5997 §3: the answer to a Status-Server is keyed on its Request Authenticator.
  const toStatus = answer(status, PacketCode.StatusServer);
  t.ok(verifyResponseAuthenticator(toStatus, status.authenticator, SECRET));
  t.equal(verifyMessageAuthenticator(toStatus, SECRET, status.authenticator, PacketCode.StatusServer), 'ok');
  t.equal(verifyMessageAuthenticator(toStatus, SECRET, status.authenticator), 'invalid');
});

// The `radius` npm package as an independent implementation (positive cases only: its own
// comparisons are lossy, see FIELD-NOTES).
t.test('cross-check with the radius package', async (t) => {
  const secret = SECRET.toString();
  const theirRequest: Buffer = radius.encode({
    code: 'Access-Request',
    identifier: 5,
    attributes: [['User-Name', 'bob'], ['EAP-Message', EAP_IDENTITY]],
    secret,
  });
  const request = decoded(theirRequest);
  t.equal(request.attributes.at(-1)?.type, Attr.MessageAuthenticator, 'they put it last');
  t.equal(verifyMessageAuthenticator(request, SECRET), 'ok', 'we verify their request MA');

  const theirChallenge: Buffer = radius.encode_response({
    packet: radius.decode({ packet: theirRequest, secret }),
    code: 'Access-Challenge',
    attributes: [['EAP-Message', EAP_IDENTITY]],
    secret,
  });
  const challenge = decoded(theirChallenge);
  t.ok(verifyResponseAuthenticator(challenge, request.authenticator, SECRET), 'we verify their Response Authenticator');
  t.equal(verifyMessageAuthenticator(challenge, SECRET, request.authenticator), 'ok', 'we verify their response MA');

  const ourRequest = accessRequest();
  t.ok(radius.decode({ packet: ourRequest, secret }), 'they verify our request MA (MA first)');
  const ourResponse = encodeResponse({
    code: PacketCode.AccessAccept,
    identifier: 42,
    requestAuthenticator: decoded(ourRequest).authenticator,
    attributes: [stringAttr(Attr.ReplyMessage, 'welcome')],
    secret: SECRET,
  });
  t.equal(radius.verify_response({ request: ourRequest, response: ourResponse, secret }), true, 'they verify our response');

  const theirAccounting: Buffer = radius.encode({
    code: 'Accounting-Request',
    identifier: 6,
    attributes: [['Acct-Session-Id', 'xyz'], ['Acct-Status-Type', 'Start']],
    secret,
  });
  t.ok(verifyAccountingRequestAuthenticator(decoded(theirAccounting), SECRET), 'we verify their Accounting-Request');
  const ourAccounting = encodeRequest({ code: PacketCode.AccountingRequest, identifier: 7, attributes: [stringAttr(Attr.AcctSessionId, 'xyz')], secret: SECRET });
  // They accept our Request Authenticator, then key the Accounting-Request MA on it rather than on
  // zeros as FreeRADIUS and hostapd do, so only their MA check fails.
  t.throws(() => radius.decode({ packet: ourAccounting, secret }), /Message-Authenticator mismatch/);
});
