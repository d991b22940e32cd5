/**
 * One EAP conversation on the authenticator side (RFC 3748 §4, the pass-through
 * authenticator's backend of RFC 4137), keyed by the RADIUS State the server hands out.
 * It checks identifiers and rounds, runs the EAP-TLS method, suspends while the policy decides
 * (ARCHITECTURE habit 7) and yields the EAP packet for each reply. It knows nothing of RADIUS.
 */
import { randomBytes } from 'node:crypto';
import { EapCode, EapType, decodeNak, encodeEap, type EapPacket } from '../codec/eap/index.ts';
import { assertNever } from '../errors.ts';
import { AlertDescription } from '../tls/alert.ts';
import type { HandshakeResult, TlsEngine } from '../tls/engine.ts';
import type { EapKeyMaterial } from '../tls/key-material.ts';
import { EapTlsMethod, type EapTlsFailure, type EapTlsState } from './methods/eap-tls.ts';

/** The policy's answer about an established handshake. */
export type Verdict =
  | { readonly accept: true }
  | { readonly accept: false; readonly reason: string; readonly alert: AlertDescription };

/** Asks the policy about an established handshake; supplied per request by the server. */
export type Judge = (handshake: HandshakeResult) => Promise<Verdict>;

/**
 * The session's one state field.
 * - `method`: a request is out and its response is awaited.
 * - `processing`: a response is being handled (the TLS engine works asynchronously); another
 *   response that arrives meanwhile is discarded.
 * - `deciding`: suspended while the policy decides; responses are not processed.
 * - `success` / `failure`: over; the session is removed from the table.
 */
export type SessionState = 'method' | 'processing' | 'deciding' | 'success' | 'failure';

/** Why an EAP conversation failed: the method's reasons, the session's own, or the policy's. */
export type SessionFailure =
  | EapTlsFailure
  | 'too-many-rounds'
  | 'peer-nak'
  | 'unexpected-eap-type'
  | 'decision-error';

/** What the server sends back for one EAP response. */
export type EapResult =
  | { readonly kind: 'challenge'; readonly eap: Buffer }
  | { readonly kind: 'success'; readonly eap: Buffer; readonly keys: EapKeyMaterial }
  | { readonly kind: 'failure'; readonly eap: Buffer; readonly reason: string; readonly detail?: string }
  | { readonly kind: 'discard'; readonly reason: 'not-a-response' | 'identifier-mismatch' | 'session-busy' | 'session-over' };

/** Per-conversation limits, from the configuration. */
export interface SessionLimits {
  readonly maxRounds: number;
  readonly maxTlsMessageBytes: number;
}

/** Called on every state change of the session or its method, for the debug log. */
export type TransitionListener = (machine: 'session' | 'eap-tls', from: string, to: string) => void;

/** An EAP conversation. Create with {@link EapSession.begin} on an EAP-Response/Identity. */
export class EapSession {
  /**
   * The RADIUS State value that names this conversation: 16 unpredictable bytes, the first of
   * them the tag of the worker that holds the conversation when there are workers.
   */
  readonly state: Buffer = randomBytes(16);
  /** The NAS client the conversation belongs to. */
  readonly clientName: string;
  /** RFC 3748 §5.1: the identity the peer gave, up to the first NUL. */
  readonly identity: string;
  readonly startedAt: number;
  /** Last time a packet of this conversation was handled (ms since epoch). */
  lastSeen: number;
  /** RADIUS round trips so far, the Identity round included. */
  rounds = 1;
  #state: SessionState = 'method';
  /** Identifier of the last EAP-Request sent (RFC 3748 §4.1). */
  #identifier: number;
  readonly #method: EapTlsMethod;
  readonly #limits: SessionLimits;
  readonly #onTransition: TransitionListener;
  #refusal: { reason: string } | undefined;

  private constructor(
    clientName: string,
    identity: string,
    identifier: number,
    engine: TlsEngine,
    limits: SessionLimits,
    now: number,
    onTransition: TransitionListener,
  ) {
    this.clientName = clientName;
    this.identity = identity;
    this.#identifier = identifier;
    this.#limits = limits;
    this.startedAt = now;
    this.lastSeen = now;
    this.#onTransition = onTransition;
    this.#method = new EapTlsMethod(engine, { maxMessageBytes: limits.maxTlsMessageBytes }, (from, to) =>
      onTransition('eap-tls', from, to),
    );
  }

  /**
   * Starts a conversation from an EAP-Response/Identity and returns it with the EAP-TLS Start
   * request to send (RFC 5216 §2.1.1). The caller checked that `identity` is a Response/Identity.
   */
  static begin(options: {
    clientName: string;
    identity: EapPacket;
    engine: TlsEngine;
    limits: SessionLimits;
    now: number;
    onTransition: TransitionListener;
    /** Written into the first octet of the State, so that a dispatcher can route by it. */
    stateTag?: number | undefined;
  }): { session: EapSession; start: Buffer } {
    const { identity } = options;
    const nul = identity.data.indexOf(0);
    const name = (nul === -1 ? identity.data : identity.data.subarray(0, nul)).toString('utf8');
    const identifier = (identity.identifier + 1) & 0xff;
    const session = new EapSession(
      options.clientName,
      name,
      identifier,
      options.engine,
      options.limits,
      options.now,
      options.onTransition,
    );
    if (options.stateTag !== undefined) session.state[0] = options.stateTag;
    const start = encodeEap({
      code: EapCode.Request,
      identifier,
      type: EapType.Tls,
      data: session.#method.startTypeData(),
    });
    return { session, start };
  }

  /** The current state. */
  get status(): SessionState {
    return this.#state;
  }

  /** The established handshake, once there is one (for the decision log). */
  get handshake(): HandshakeResult | undefined {
    return this.#method.handshake;
  }

  /** The EAP-TLS method's state (for the debug log and tests). */
  get methodState(): EapTlsState {
    return this.#method.state;
  }

  /**
   * Handles one EAP packet that arrived with this session's State.
   * @param fragmentSize TLS bytes per outgoing EAP-TLS fragment, from the request's Framed-MTU.
   * @param judge asks the policy once the handshake is established.
   */
  async respond(eap: EapPacket, fragmentSize: number, judge: Judge, now: number): Promise<EapResult> {
    if (this.#state === 'processing' || this.#state === 'deciding') return { kind: 'discard', reason: 'session-busy' };
    if (this.#state !== 'method') return { kind: 'discard', reason: 'session-over' };
    if (eap.code !== EapCode.Response) return { kind: 'discard', reason: 'not-a-response' };
    // RFC 3748 §4.1: a response whose Identifier does not match the outstanding request is discarded.
    if (eap.identifier !== this.#identifier) return { kind: 'discard', reason: 'identifier-mismatch' };
    this.lastSeen = now;
    this.rounds += 1;
    if (this.rounds > this.#limits.maxRounds) return this.#fail('too-many-rounds');
    if (eap.type === EapType.Nak) {
      // RFC 3748 §5.3.1: the peer refuses EAP-TLS; we offer no other method.
      return this.#fail('peer-nak', `peer proposed types [${decodeNak(eap.data).join(',')}]`);
    }
    if (eap.type !== EapType.Tls) return this.#fail('unexpected-eap-type', `type ${String(eap.type)}`);

    this.#transition('processing');
    let step = await this.#method.handle(eap.data, fragmentSize);
    for (;;) {
      // Abandoned (expiry, shutdown) while the method or the policy worked: nothing to send.
      // (Read through the getter: the compiler cannot see the await change the field.)
      if (this.status !== 'processing') return { kind: 'discard', reason: 'session-over' };
      switch (step.kind) {
        case 'request':
          this.#transition('method');
          this.#identifier = (this.#identifier + 1) & 0xff;
          return {
            kind: 'challenge',
            eap: encodeEap({ code: EapCode.Request, identifier: this.#identifier, type: EapType.Tls, data: step.typeData }),
          };
        case 'established':
          step = await this.#decide(step.handshake, judge, fragmentSize);
          break;
        case 'success': {
          const keys = this.#method.keyMaterial();
          if (keys === undefined) return this.#fail('tls-handshake-failed', 'no key material');
          this.#end('success');
          return { kind: 'success', eap: encodeEap({ code: EapCode.Success, identifier: this.#identifier }), keys };
        }
        case 'failure':
          return this.#refusal === undefined
            ? this.#fail(step.reason, step.detail)
            : this.#fail(this.#refusal.reason);
        default:
          return assertNever(step);
      }
    }
  }

  /** Ends the conversation without a reply (idle timeout, shutdown). */
  abandon(): void {
    this.#end('failure');
  }

  async #decide(handshake: HandshakeResult, judge: Judge, fragmentSize: number) {
    this.#transition('deciding');
    let verdict: Verdict;
    try {
      verdict = await judge(handshake);
    } catch (error) {
      // Default deny: a policy that cannot answer refuses (ARCHITECTURE habit 5).
      verdict = { accept: false, reason: 'decision-error', alert: AlertDescription.InternalError };
      this.#refusal = { reason: `decision-error: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (this.#state !== 'deciding') return { kind: 'failure', reason: 'refused' } as const;
    this.#transition('processing');
    if (verdict.accept) return this.#method.grant(fragmentSize);
    this.#refusal ??= { reason: verdict.reason };
    return this.#method.refuse(verdict.alert, fragmentSize);
  }

  #fail(reason: SessionFailure | string, detail?: string): EapResult {
    this.#end('failure');
    const eap = encodeEap({ code: EapCode.Failure, identifier: this.#identifier });
    return detail === undefined ? { kind: 'failure', eap, reason } : { kind: 'failure', eap, reason, detail };
  }

  #end(to: 'success' | 'failure'): void {
    this.#transition(to);
    this.#method.destroy();
  }

  #transition(to: SessionState): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to) this.#onTransition('session', from, to);
  }
}
