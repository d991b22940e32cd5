/**
 * Status-Server (RFC 5997): a NAS or proxy asks whether the server is alive, on the
 * authentication port or the accounting port, and gets Access-Accept or Accounting-Response
 * (RFC 5997 §3). The answer says only "up": it holds the Message-Authenticator and the echoed
 * Proxy-State, no other attribute.
 */
import { PacketCode, encodeResponse, verifyMessageAuthenticator } from '../codec/radius/index.ts';
import { packetCodeName } from './packet-names.ts';
import { drop, proxyStateOf, type Intake, type IntakeDeps, type Source } from './request-intake.ts';

/** The port a Status-Server came to; a metric label. */
export type StatusServerPort = 'auth' | 'accounting';

/**
 * Answers a Status-Server from a known client, or drops it (counted). It skips the reply cache:
 * a Status-Server asks for nothing to be done, and its answer is a pure function of the packet
 * and the secret, so answering a retransmission afresh sends the very bytes a cache would
 * replay, without holding an entry per probe (NASes send one every few seconds, each with a
 * new Identifier and a random Request Authenticator, RFC 5997 §3).
 */
export function answerStatusServer(deps: IntakeDeps, request: Intake, source: Source, port: StatusServerPort): Buffer | undefined {
  const { packet, client } = request;
  // RFC 5997 §3: Status-Server MUST carry a Message-Authenticator; a packet without one, or with
  // one that does not verify, is silently discarded.
  const mac = verifyMessageAuthenticator(packet, client.secret);
  if (mac === 'missing') return drop(deps, 'missing-message-authenticator', source);
  if (mac === 'invalid') return drop(deps, 'bad-message-authenticator', source);
  const proxyState = proxyStateOf(deps, packet, source);
  if (proxyState === undefined) return undefined;
  const code = port === 'auth' ? PacketCode.AccessAccept : PacketCode.AccountingResponse;
  const reply = encodeResponse({
    code,
    identifier: packet.identifier,
    requestAuthenticator: packet.authenticator,
    requestCode: PacketCode.StatusServer,
    attributes: proxyState.attributes,
    secret: client.secret,
  });
  deps.metrics.statusServer.inc({ port });
  deps.metrics.repliesSent.inc({ code: packetCodeName(code) });
  return reply;
}
