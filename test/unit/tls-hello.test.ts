/**
 * The ClientHello fields the engine reads itself: the session ID (looked up in the session store
 * before OpenSSL reads the hello) and whether TLS 1.3 is offered (then it is not looked up).
 */
import t from 'tap';
import { readClientHello } from '../../src/tls/hello.ts';
import { clientHello } from '../support/client-hello.ts';

/** Where the session ID starts: record header, handshake header, version, random, length octet. */
const SESSION_ID_AT = 5 + 4 + 2 + 32 + 1;

t.test('TLS 1.3 offered or not', async (t) => {
  const both = readClientHello(await clientHello({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }));
  t.equal(both?.offersTls13, true, 'a 1.2-1.3 ClientHello offers TLS 1.3');
  t.equal(both?.sessionId.length, 32, 'with a 32-octet compatibility session ID');
  const only12 = readClientHello(await clientHello({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }));
  t.equal(only12?.offersTls13, false, 'a 1.2-only ClientHello does not');
});

t.test('truncated, lying or other handshake messages: undefined or a partial answer, never a throw', async (t) => {
  const hello = await clientHello({ maxVersion: 'TLSv1.3' });
  for (let cut = 0; cut < hello.length; cut++) {
    const fields = readClientHello(hello.subarray(0, cut));
    if (cut < SESSION_ID_AT + 32) t.equal(fields, undefined, `cut at ${cut}: no session ID to read`, { diagnostic: false });
    else t.same(fields?.sessionId, hello.subarray(SESSION_ID_AT, SESSION_ID_AT + 32), `cut at ${cut}: the session ID`, { diagnostic: false });
  }
  const lying = Buffer.from(hello);
  lying.writeUInt16BE(0xffff, 3);
  t.equal(readClientHello(lying)?.offersTls13, true, 'a record length beyond the flight is read up to the flight');
  const serverHello = Buffer.from(hello);
  serverHello[5] = 2;
  t.equal(readClientHello(serverHello), undefined, 'a ServerHello is not a ClientHello');
  const alert = Buffer.from(hello);
  alert[0] = 21;
  t.equal(readClientHello(alert), undefined, 'not a handshake record');
});
