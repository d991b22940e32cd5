/**
 * Handles one Access-Request datagram from a NAS, from bytes to reply bytes: decode, client and
 * authenticator checks, duplicate detection, the EAP conversation, the decision and the reply.
 * Nothing here touches a socket; the transports (UDP now, RadSec later) call {@link handle}.
 */
import {
  Attr,
  PacketCode,
  encodeResponse,
  getAttribute,
  getIntegerAttribute,
  getStringAttribute,
  joinEapMessage,
  verifyMessageAuthenticator,
  type RadiusAttribute,
  type RadiusPacket,
} from '../codec/radius/index.ts';
import { EapCode, EapType, decodeEap, maxTlsFragmentForMtu, type EapPacket } from '../codec/eap/index.ts';
import { EapSession, type EapResult, type Judge } from '../eap/session.ts';
import type { SessionTable } from '../eap/session-table.ts';
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import type { Decision } from '../policy/decide.ts';
import type { RequestFacts } from '../policy/rules.ts';
import { alertFor } from './alerts.ts';
import { liveCheckFields, recordLiveChecks } from './live-check-report.ts';
import type { RadiusClient } from './client-table.ts';
import { packetCodeName } from './packet-names.ts';
import type { ReplyCache } from './reply-cache.ts';
import { acceptAttributes, challengeAttributes, rejectAttributes } from './reply-attributes.ts';
import {
  checkDuplicate,
  drop,
  intake,
  proxyStateOf,
  type DropReason,
  type Source,
} from './request-intake.ts';
import type { ServerContext } from './server-context.ts';
import { answerStatusServer } from './status-server.ts';

/** Octets of a reply that are not EAP-Message nor Proxy-State: header, Message-Authenticator, State. */
const CHALLENGE_FIXED_OCTETS = 20 + 18 + 18;
/** EAP header, Type, EAP-TLS flags and length field around each TLS fragment (RFC 5216 §3.1). */
const EAP_TLS_OVERHEAD = 10;
/** Largest value of one attribute; each EAP-Message attribute adds a 2-octet header. */
const ATTRIBUTE_VALUE_OCTETS = 253;

/** Everything the handler works with; built by the server. */
export interface AccessHandlerDeps {
  /** The context in force: new conversations start with it, running ones keep theirs. */
  readonly context: () => ServerContext;
  /** False while the server drains for shutdown: new conversations are dropped. */
  readonly accepting: () => boolean;
  readonly sessions: SessionTable;
  readonly replies: ReplyCache;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** The first State octet of every conversation started here (the worker's tag), when set. */
  readonly stateTag?: number;
}

/** What the server keeps about a conversation beside the EAP session. */
interface Conversation {
  /** The context the conversation started with: its policy and limits apply to the end. */
  readonly context: ServerContext;
  decision: Decision | undefined;
  /** The NAS asked for EAP-Key-Name in some request of the conversation. */
  wantsKeyName: boolean;
}

/** One request in flight through the handler. */
interface Request {
  readonly packet: RadiusPacket;
  readonly client: RadiusClient;
  /** Octets the echoed Proxy-State attributes take in the reply. */
  readonly proxyStateOctets: number;
}

/** The Access-Request path of the server. */
export class AccessRequestHandler {
  readonly #deps: AccessHandlerDeps;
  readonly #conversations = new WeakMap<EapSession, Conversation>();

  constructor(deps: AccessHandlerDeps) {
    this.#deps = deps;
  }

  /**
   * Handles one datagram; resolves to the reply to send, or undefined to send nothing. `client`
   * is the NAS when the transport knows it (RadSec: the authenticated TLS peer); otherwise the
   * client is found by `source.address`.
   */
  async handle(datagram: Buffer, source: Source, client?: RadiusClient): Promise<Buffer | undefined> {
    const { metrics, replies, now } = this.#deps;
    const request = intake(this.#deps, this.#deps.context().clients, datagram, source, client);
    if (request === undefined) return undefined;
    const { packet, client: nas } = request;
    if (packet.code === PacketCode.StatusServer) {
      // Draining: no sign of life, so that a NAS probing with Status-Server marks this server
      // dead and fails over, as it does for new conversations.
      if (!this.#deps.accepting()) return this.#drop('shutting-down', source);
      return answerStatusServer(this.#deps, request, source, 'auth');
    }
    if (packet.code !== PacketCode.AccessRequest) return this.#drop('unsupported-code', source);

    const authenticity = this.#checkMessageAuthenticator(packet, nas);
    if (authenticity !== undefined) return this.#drop(authenticity, source);

    const proxyState = proxyStateOf(this.#deps, packet, source);
    if (proxyState === undefined) return undefined;

    const seen = checkDuplicate(this.#deps, replies, packet, source, now());
    if (seen.kind === 'replay') return seen.reply;
    const { key } = seen;
    // Draining for shutdown: a new conversation (no State) gets no reply, so that the NAS fails
    // over to another server; conversations under way go on.
    if (!this.#deps.accepting() && getAttribute(packet, Attr.State) === undefined) {
      replies.forget(key);
      return this.#drop('shutting-down', source);
    }
    try {
      const attributes = await this.#answer({ packet, client: nas, proxyStateOctets: proxyState.octets });
      if (attributes === undefined) {
        replies.forget(key);
        return this.#drop('eap-discarded', source);
      }
      const reply = encodeResponse({
        code: attributes.code,
        identifier: packet.identifier,
        requestAuthenticator: packet.authenticator,
        attributes: [...attributes.list, ...proxyState.attributes],
        secret: nas.secret,
      });
      replies.answer(key, reply, now());
      metrics.repliesSent.inc({ code: packetCodeName(attributes.code) });
      return reply;
    } catch (error) {
      replies.forget(key);
      this.#deps.logger.error({ err: error, client: nas.name }, 'request handling failed');
      return this.#drop('internal-error', source);
    }
  }

  /**
   * RFC 3579 §3.2: a request with an invalid Message-Authenticator is silently discarded, and so
   * is one carrying EAP-Message without it (§3.3). Clients that must always send it (the
   * default, the BlastRADIUS mitigation) are held to that for every request.
   */
  #checkMessageAuthenticator(packet: RadiusPacket, client: RadiusClient): DropReason | undefined {
    const result = verifyMessageAuthenticator(packet, client.secret);
    if (result === 'invalid') return 'bad-message-authenticator';
    if (result === 'missing') {
      const needed = client.config.requireMessageAuthenticator || getAttribute(packet, Attr.EapMessage) !== undefined;
      if (needed) return 'missing-message-authenticator';
    }
    return undefined;
  }

  /** The reply code and attributes for a verified, new Access-Request; undefined: no reply. */
  async #answer(request: Request): Promise<{ code: PacketCode; list: RadiusAttribute[] } | undefined> {
    const { packet } = request;
    const eapBytes = joinEapMessage(packet);
    if (eapBytes === undefined) return this.#rejectWithoutEap(request, 'not-eap');
    const decoded = decodeEap(eapBytes);
    if (!decoded.ok) return this.#rejectWithoutEap(request, `eap-${decoded.reason}`);
    const eap = decoded.packet;
    const state = getAttribute(packet, Attr.State);
    if (state === undefined) return this.#begin(request, eap);
    const session = this.#deps.sessions.get(state, request.client.name);
    const conversation = session === undefined ? undefined : this.#conversations.get(session);
    if (session === undefined || conversation === undefined) return this.#rejectWithoutEap(request, 'unknown-state');
    if (getAttribute(packet, Attr.EapKeyName) !== undefined) conversation.wantsKeyName = true;
    const fragmentSize = this.#fragmentSize(request, conversation.context);
    const result = await session.respond(eap, fragmentSize, this.#judge(request, session, conversation), this.#deps.now());
    return this.#reply(request, session, result);
  }

  /** RFC 3748 §5.1: a conversation starts with EAP-Response/Identity and no State. */
  #begin(request: Request, eap: EapPacket): { code: PacketCode; list: RadiusAttribute[] } | undefined {
    const { sessions, metrics, now, logger } = this.#deps;
    if (eap.code !== EapCode.Response || eap.type !== EapType.Identity) return this.#rejectWithoutEap(request, 'no-state');
    const context = this.#deps.context();
    const { config, engine } = context;
    const refusal = sessions.admit(request.client.name, request.client.config.maxSessions);
    if (refusal !== undefined) {
      metrics.sessionCapHits.inc({ cap: refusal === 'session-cap-total' ? 'total' : 'client' });
      return this.#rejectWithoutEap(request, refusal);
    }
    const { session, start } = EapSession.begin({
      clientName: request.client.name,
      identity: eap,
      engine,
      limits: { maxRounds: config.eap.maxRounds, maxTlsMessageBytes: config.eap.maxTlsMessageBytes },
      now: now(),
      onTransition: (machine, from, to) => logger.debug({ machine, from, to }, 'transition'),
      stateTag: this.#deps.stateTag,
    });
    sessions.add(session);
    metrics.sessionsInFlight.set(sessions.size);
    this.#conversations.set(session, {
      context,
      decision: undefined,
      wantsKeyName: getAttribute(request.packet, Attr.EapKeyName) !== undefined,
    });
    return { code: PacketCode.AccessChallenge, list: challengeAttributes(start, session.state) };
  }

  #reply(request: Request, session: EapSession, result: EapResult): { code: PacketCode; list: RadiusAttribute[] } | undefined {
    switch (result.kind) {
      case 'discard':
        this.#deps.logger.debug({ client: request.client.name, reason: result.reason }, 'EAP response discarded');
        return undefined;
      case 'challenge':
        return { code: PacketCode.AccessChallenge, list: challengeAttributes(result.eap, session.state) };
      case 'success': {
        const conversation = this.#conversations.get(session);
        const decision = conversation?.decision;
        this.#finish(session);
        // Default deny: EAP success without an accepting decision is a broken invariant; refuse.
        if (decision?.outcome !== 'accept') {
          this.#logDecision(request, session, 'reject', 'no-accepting-decision', decision);
          return { code: PacketCode.AccessReject, list: rejectAttributes(undefined, 'internal-error') };
        }
        this.#logDecision(request, session, 'accept', decision.rule, decision);
        return {
          code: PacketCode.AccessAccept,
          list: acceptAttributes({
            eap: result.eap,
            keys: result.keys,
            vlan: decision.vlan,
            reply: decision.reply,
            includeKeyName: conversation?.wantsKeyName === true,
            secret: request.client.secret,
            requestAuthenticator: request.packet.authenticator,
          }),
        };
      }
      case 'failure': {
        const decision = this.#conversations.get(session)?.decision;
        this.#finish(session);
        this.#logDecision(request, session, 'reject', result.reason, decision, result.detail);
        return { code: PacketCode.AccessReject, list: rejectAttributes(result.eap, result.reason) };
      }
      default:
        return result satisfies never;
    }
  }

  /** The policy hook for this request: NAS facts come from the request that completes the handshake. */
  #judge(request: Request, session: EapSession, conversation: Conversation): Judge {
    return async (handshake) => {
      const { packet, client } = request;
      const facts: RequestFacts = {
        clientName: client.name,
        eapIdentity: session.identity,
        nasIdentifier: getStringAttribute(packet, Attr.NasIdentifier),
        calledStationId: getStringAttribute(packet, Attr.CalledStationId),
        callingStationId: getStringAttribute(packet, Attr.CallingStationId),
      };
      const decision = await conversation.context.policy.decide(handshake, facts, new Date(this.#deps.now()));
      conversation.decision = decision;
      if (decision.outcome === 'accept') return { accept: true };
      return { accept: false, reason: decision.reason, alert: alertFor(decision) };
    };
  }

  /** Ends a conversation that had no EAP session (or none that could be used). */
  #rejectWithoutEap(request: Request, reason: string): { code: PacketCode; list: RadiusAttribute[] } {
    this.#deps.metrics.authentications.inc({ outcome: 'reject', reason });
    this.#deps.logger.info(
      { event: 'decision', outcome: 'reject', reason, client: request.client.name, ...this.#nasFields(request.packet) },
      'access rejected',
    );
    return { code: PacketCode.AccessReject, list: rejectAttributes(undefined, reason) };
  }

  #finish(session: EapSession): void {
    this.#deps.sessions.remove(session);
    this.#deps.metrics.sessionsInFlight.set(this.#deps.sessions.size);
  }

  /**
   * Fragment size from Framed-MTU (RFC 3580 §3.10) under the configured ceiling, and small enough
   * that the Access-Challenge, with the Proxy-State it echoes, fits in 4096 octets (RFC 2865 §3).
   */
  #fragmentSize(request: Request, context: ServerContext): number {
    const room = 4096 - CHALLENGE_FIXED_OCTETS - request.proxyStateOctets;
    const eapOctets = room - 2 * Math.ceil(room / (ATTRIBUTE_VALUE_OCTETS + 2));
    const ceiling = Math.min(context.config.tls.maxFragmentSize, eapOctets - EAP_TLS_OVERHEAD);
    return maxTlsFragmentForMtu(getIntegerAttribute(request.packet, Attr.FramedMtu), ceiling);
  }

  /** The one decision line per finished authentication. No secrets, no key material. */
  #logDecision(
    request: Request,
    session: EapSession,
    outcome: 'accept' | 'reject',
    reasonOrRule: string,
    decision: Decision | undefined,
    detail?: string,
  ): void {
    const { metrics, logger, now } = this.#deps;
    const handshake = session.handshake;
    const tlsVersion = handshake?.version ?? 'none';
    const durationMs = now() - session.startedAt;
    const reason = outcome === 'accept' ? 'accepted' : reasonOrRule;
    metrics.authentications.inc({ outcome, reason });
    metrics.authenticationSeconds.observe({ tls_version: tlsVersion, outcome }, durationMs / 1000);
    metrics.authenticationRounds.observe({ tls_version: tlsVersion }, session.rounds);
    const certificate = decision?.certificate;
    recordLiveChecks(metrics, decision?.checks, outcome === 'accept');
    logger.info(
      {
        event: 'decision',
        outcome,
        reason,
        rule: decision?.rule,
        detail: detail ?? (decision?.outcome === 'reject' ? decision.detail : undefined),
        vlan: decision?.outcome === 'accept' ? decision.vlan : undefined,
        identity: session.identity,
        client: request.client.name,
        ...this.#nasFields(request.packet),
        cert_subject: certificate?.subjectText,
        cert_issuer: certificate?.issuerText,
        cert_serial: certificate?.serial,
        ...liveCheckFields(decision?.checks),
        tls_version: handshake?.version,
        tls_resumed: handshake?.resumed,
        rounds: session.rounds,
        duration_ms: durationMs,
      },
      outcome === 'accept' ? 'access accepted' : 'access rejected',
    );
  }

  #nasFields(packet: RadiusPacket) {
    return {
      nas_identifier: getStringAttribute(packet, Attr.NasIdentifier),
      calling_station_id: getStringAttribute(packet, Attr.CallingStationId),
      called_station_id: getStringAttribute(packet, Attr.CalledStationId),
    };
  }

  #drop(reason: DropReason, source: Source): undefined {
    return drop(this.#deps, reason, source);
  }
}
