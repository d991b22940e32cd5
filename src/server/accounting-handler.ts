/**
 * Handles one datagram to the accounting port (RFC 2866), from bytes to reply bytes: decode,
 * client and authenticator checks, duplicate detection, the record stored in the session table
 * and appended to the sink, then the Accounting-Response. Status-Server is answered too
 * (RFC 5997 §3). Nothing here touches a socket; the transports (UDP now, RadSec later) call
 * {@link AccountingRequestHandler.handle}.
 */
import {
  PacketCode,
  encodeResponse,
  verifyAccountingRequestAuthenticator,
  verifyMessageAuthenticator,
} from '../codec/radius/index.ts';
import type { AccountingSink, AccountingStore } from '../store/ports.ts';
import { accountingRecordOf } from './accounting-record.ts';
import type { RadiusClient } from './client-table.ts';
import { packetCodeName } from './packet-names.ts';
import type { ReplyCache } from './reply-cache.ts';
import {
  checkDuplicate,
  drop,
  intake,
  proxyStateOf,
  type IntakeDeps,
  type Source,
} from './request-intake.ts';
import type { ServerContext } from './server-context.ts';
import { answerStatusServer } from './status-server.ts';

/** Everything the handler works with; built by the server. */
export interface AccountingHandlerDeps extends IntakeDeps {
  /** The context in force: its client table says who may send. */
  readonly context: () => ServerContext;
  /** Accounting's own reply cache. */
  readonly replies: ReplyCache;
  readonly store: AccountingStore;
  /** The append-only record file, when configured. */
  readonly sink: AccountingSink | undefined;
  readonly now: () => number;
}

/** The accounting path of the server. Not drained for shutdown: records are answered until stop. */
export class AccountingRequestHandler {
  readonly #deps: AccountingHandlerDeps;

  constructor(deps: AccountingHandlerDeps) {
    this.#deps = deps;
  }

  /**
   * Handles one datagram; resolves to the reply to send, or undefined to send nothing. `client`
   * is the NAS when the transport knows it (RadSec: the authenticated TLS peer); otherwise the
   * client is found by `source.address`.
   */
  async handle(datagram: Buffer, source: Source, client?: RadiusClient): Promise<Buffer | undefined> {
    const deps = this.#deps;
    const request = intake(deps, deps.context().clients, datagram, source, client);
    if (request === undefined) return undefined;
    const { packet, client: nas } = request;
    if (packet.code === PacketCode.StatusServer) return answerStatusServer(deps, request, source, 'accounting');
    if (packet.code !== PacketCode.AccountingRequest) return drop(deps, 'unsupported-code', source);
    // RFC 2866 §3: an Accounting-Request whose Request Authenticator does not verify is silently
    // discarded; the most common cause is a wrong shared secret.
    if (!verifyAccountingRequestAuthenticator(packet, nas.secret)) return drop(deps, 'bad-request-authenticator', source);
    // RFC 3579 §3.2: a Message-Authenticator, optional here, must verify when present.
    if (verifyMessageAuthenticator(packet, nas.secret) === 'invalid') return drop(deps, 'bad-message-authenticator', source);
    const proxyState = proxyStateOf(deps, packet, source);
    if (proxyState === undefined) return undefined;
    const record = accountingRecordOf(packet, nas.name, deps.now());
    if (record === undefined) return drop(deps, 'malformed-accounting', source);

    const seen = checkDuplicate(deps, deps.replies, packet, source, deps.now());
    if (seen.kind === 'replay') return seen.reply;
    try {
      await deps.store.record(record);
      await deps.sink?.write(record);
    } catch (error) {
      // RFC 2866 §4.1: no Accounting-Response unless the record is stored; the NAS retransmits.
      deps.replies.forget(seen.key);
      deps.logger.error({ err: error, client: nas.name, status: record.status }, 'accounting record not stored');
      return drop(deps, 'record-failed', source);
    }
    deps.metrics.accountingRecords.inc({ status: record.status });
    deps.logger.debug({ client: nas.name, status: record.status, session_id: record.sessionId }, 'accounting record stored');
    const reply = encodeResponse({
      code: PacketCode.AccountingResponse,
      identifier: packet.identifier,
      requestAuthenticator: packet.authenticator,
      attributes: proxyState.attributes,
      secret: nas.secret,
    });
    deps.replies.answer(seen.key, reply, deps.now());
    deps.metrics.repliesSent.inc({ code: packetCodeName(PacketCode.AccountingResponse) });
    return reply;
  }
}
