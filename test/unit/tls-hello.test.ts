/**
 * The ClientHello fields the engine reads itself: random, session ID, and whether TLS 1.3 is
 * offered (a TLS 1.3 ClientHello's session ID is never looked up in the session store).
 */
import t from 'tap';
import { HelloType, readHello } from '../../src/tls/hello.ts';
import { clientHello } from '../support/client-hello.ts';

t.test('TLS 1.3 offered or not', async (t) => {
  const both = readHello(await clientHello({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }), HelloType.ClientHello);
  t.equal(both?.offersTls13, true, 'a 1.2-1.3 ClientHello offers TLS 1.3');
  t.equal(both?.sessionId.length, 32, 'with a 32-octet compatibility session ID');
  const only12 = readHello(await clientHello({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), HelloType.ClientHello);
  t.equal(only12?.offersTls13, false, 'a 1.2-only ClientHello does not');
});

t.test('truncated or lying hellos answer false, never throw', async (t) => {
  const hello = await clientHello({ maxVersion: 'TLSv1.3' });
  for (let cut = 44; cut < hello.length; cut += 7) {
    const fields = readHello(hello.subarray(0, cut), HelloType.ClientHello);
    t.not(fields?.offersTls13, undefined === fields ? true : undefined, 'no throw', { diagnostic: false });
  }
  const lying = Buffer.from(hello);
  lying.writeUInt16BE(0xffff, 3);
  t.doesNotThrow(() => readHello(lying, HelloType.ClientHello), 'a record length beyond the flight');
  t.equal(readHello(hello, HelloType.ServerHello), undefined, 'not a ServerHello');
});
