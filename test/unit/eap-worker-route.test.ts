/**
 * The routing rule of the EAP worker pool: a State this server issued names its worker; anything
 * else goes by the Request Authenticator, the same worker for every retransmission; no bytes
 * make it throw or leave the range.
 */
import fc from 'fast-check';
import t from 'tap';
import { Attr, PacketCode, encodeRequest, stringAttr } from '../../src/codec/radius/index.ts';
import { routeRequest } from '../../src/server/eap-worker-protocol.ts';

const SECRET = Buffer.from('route-test-secret');

function request(state?: Buffer, identifier = 1): Buffer {
  const attributes = [stringAttr(Attr.UserName, 'alice'), ...(state === undefined ? [] : [{ type: Attr.State, value: state }])];
  return encodeRequest({ code: PacketCode.AccessRequest, identifier, attributes, secret: SECRET });
}

t.test('a State whose first octet names a worker goes to that worker', async (t) => {
  for (const workers of [2, 3, 8]) {
    for (let tag = 0; tag < workers; tag++) {
      const state = Buffer.alloc(16, 0xab);
      state[0] = tag;
      t.equal(routeRequest(request(state), workers), tag, `tag ${tag} of ${workers}`);
    }
  }
});

t.test('without a State (or with one we did not issue) the Request Authenticator decides, for every copy alike', async (t) => {
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    const packet = request(i % 2 === 0 ? undefined : Buffer.alloc(8, 1), i & 0xff);
    const worker = routeRequest(packet, 3);
    t.equal(routeRequest(Buffer.from(packet), 3), worker, 'a retransmission goes to the same worker', { diagnostic: false });
    counts[worker]!++;
  }
  t.ok(counts.every((count) => count > 800), `spread over the three workers: ${counts.join(', ')}`);
  const foreign = Buffer.alloc(16, 0x07);
  const packet = request(foreign);
  t.equal(routeRequest(packet, 4), packet.readUInt32BE(4) % 4, 'a 16-octet State with an unknown tag: by authenticator');
});

t.test('any bytes: a worker in range, never a throw', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (bytes, workers) => {
      const worker = routeRequest(bytes, workers);
      return Number.isInteger(worker) && worker >= 0 && worker < workers;
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 random inputs routed in range');
  const lying = request(Buffer.alloc(16, 1));
  lying.writeUInt16BE(4096, 2);
  t.equal(routeRequest(lying, 2), 1, 'a Length field beyond the datagram is bounded by the datagram');
});
