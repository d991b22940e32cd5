/**
 * The EAP-TLS method (RFC 5216, RFC 9190) on the authenticator side: it turns EAP-TLS Type-Data
 * into TLS records and back, with fragmentation, ACKs and the end-of-handshake exchanges.
 * It never builds RADIUS attributes and never decides: when the handshake is established it
 * reports so, and the session calls {@link EapTlsMethod.grant} or {@link EapTlsMethod.refuse}.
 */
import assert from 'node:assert/strict';
import { TlsFragmenter, TlsReassembler, decodeEapTlsData, encodeEapTlsData } from '../../codec/eap/index.ts';
import type { AlertDescription } from '../../tls/alert.ts';
import type { HandshakeResult, TlsConversation, TlsEngine } from '../../tls/engine.ts';
import type { EapKeyMaterial } from '../../tls/key-material.ts';
import { assertNever } from '../../errors.ts';

/**
 * The method's one state field.
 * - `start-sent`: EAP-TLS Start sent, the ClientHello is awaited.
 * - `receiving`: a peer flight is being reassembled; each fragment with M set is ACKed.
 * - `sending`: a server flight is going out in fragments; each one is ACKed by the peer.
 * - `deciding`: the handshake is established and the policy is deciding; nothing is sent.
 * - `finishing`: the final flight or the TLS 1.3 success indication went out; its ACK ends in success.
 * - `alert-sent`: a TLS alert went out; the peer's answer ends in failure.
 * - `done`: the method is over.
 */
export type EapTlsState = 'start-sent' | 'receiving' | 'sending' | 'deciding' | 'finishing' | 'alert-sent' | 'done';

/** Why the method ended in failure; a closed set used as a metric and log label. */
export type EapTlsFailure =
  | 'eap-tls-malformed'
  | 'eap-tls-reassembly'
  | 'eap-tls-unexpected-data'
  | 'tls-handshake-failed'
  | 'tls-no-output'
  | 'peer-refused-final-flight'
  | 'refused';

/** What the session does next. */
export type EapTlsStep =
  | { readonly kind: 'request'; readonly typeData: Buffer }
  | { readonly kind: 'established'; readonly handshake: HandshakeResult }
  | { readonly kind: 'success' }
  | { readonly kind: 'failure'; readonly reason: EapTlsFailure; readonly detail?: string };

/** Limits of one conversation, from the configuration. */
export interface EapTlsLimits {
  /** Cap on one reassembled peer flight (the L field is checked against it before allocating). */
  readonly maxMessageBytes: number;
}

/** One EAP-TLS conversation. */
export class EapTlsMethod {
  #state: EapTlsState = 'start-sent';
  readonly #engine: TlsEngine;
  readonly #reassembler: TlsReassembler;
  #tls: TlsConversation | undefined;
  #fragmenter: TlsFragmenter | undefined;
  /** Where the conversation goes once the last outgoing fragment has been answered. */
  #afterFlight: 'receiving' | 'finishing' | 'alert-sent' = 'receiving';
  #handshake: HandshakeResult | undefined;
  #failure: EapTlsFailure = 'refused';
  /** Called on every state change, for the debug log. */
  readonly #onTransition: (from: EapTlsState, to: EapTlsState) => void;

  constructor(engine: TlsEngine, limits: EapTlsLimits, onTransition: (from: EapTlsState, to: EapTlsState) => void) {
    this.#engine = engine;
    this.#reassembler = new TlsReassembler(limits.maxMessageBytes);
    this.#onTransition = onTransition;
  }

  /** The current state. */
  get state(): EapTlsState {
    return this.#state;
  }

  /** The established handshake, once there is one. */
  get handshake(): HandshakeResult | undefined {
    return this.#handshake;
  }

  /** RFC 5216 §2.1.1: the EAP-TLS Start request, with the S flag and no data. */
  startTypeData(): Buffer {
    return encodeEapTlsData({ start: true, fragment: Buffer.alloc(0) });
  }

  /**
   * Handles the Type-Data of one EAP-Response/EAP-TLS.
   * @param fragmentSize TLS bytes per outgoing fragment, from the request's Framed-MTU.
   */
  async handle(typeData: Buffer, fragmentSize: number): Promise<EapTlsStep> {
    const decoded = decodeEapTlsData(typeData);
    if (!decoded.ok) return this.#fail('eap-tls-malformed', decoded.reason);
    const isAck = decoded.fragment.length === 0 && !decoded.more && !decoded.start;
    const state = this.#state;
    switch (state) {
      case 'start-sent':
      case 'receiving': {
        if (isAck && !this.#reassembler.inProgress) return this.#fail('eap-tls-unexpected-data', 'an ACK where a TLS flight was due');
        const added = this.#reassembler.add(decoded);
        if (added.status === 'error') return this.#fail('eap-tls-reassembly', added.reason);
        // RFC 5216 §2.1.5: each fragment with M set is acknowledged with an empty request.
        if (added.status === 'need-more') return this.#transition('receiving', this.#ack());
        return this.#deliver(added.message, fragmentSize);
      }
      case 'sending':
        if (!isAck) return this.#fail('eap-tls-unexpected-data', 'data instead of an ACK while fragmenting');
        return this.#nextFragment();
      case 'finishing':
        if (!isAck) return this.#fail('peer-refused-final-flight');
        await this.#tls?.saveForResumption();
        this.#transition('done');
        return { kind: 'success' };
      case 'alert-sent':
        // RFC 5216 §2.1.3: whatever the peer answers to the alert, the conversation fails.
        return this.#fail(this.#failure);
      case 'deciding':
      case 'done':
        return this.#fail('eap-tls-unexpected-data', `response in state ${state}`);
      default:
        return assertNever(state);
    }
  }

  /**
   * The policy accepted the peer: release the final flight (TLS 1.2) or the tickets and the
   * protected success indication (TLS 1.3, RFC 9190 §2.1.1). When the server has nothing left to
   * send (TLS 1.2 resumption, RFC 5216 §2.1.3) the step is success at once.
   */
  async grant(fragmentSize: number): Promise<EapTlsStep> {
    assert.equal(this.#state, 'deciding');
    const tls = this.#tls;
    assert.ok(tls !== undefined && this.#handshake !== undefined);
    const flight =
      this.#handshake.version === 'TLSv1.3' ? tls.writeSuccessIndication() : tls.takeHeldOutput();
    if (flight.length === 0) {
      this.#transition('done');
      return { kind: 'success' };
    }
    return this.#send(flight, fragmentSize, 'finishing');
  }

  /** The policy refused the peer: drop the held flight and send a fatal alert (RFC 5216 §2.1.3). */
  refuse(alert: AlertDescription, fragmentSize: number): EapTlsStep {
    assert.equal(this.#state, 'deciding');
    const tls = this.#tls;
    assert.ok(tls !== undefined);
    this.#failure = 'refused';
    return this.#send(tls.refusalRecord(alert), fragmentSize, 'alert-sent');
  }

  /** MSK, EMSK and Session-Id of the established handshake. */
  keyMaterial(): EapKeyMaterial | undefined {
    return this.#tls?.keyMaterial();
  }

  /** Releases the TLS state. Safe to call more than once. */
  destroy(): void {
    this.#tls?.destroy();
    this.#tls = undefined;
  }

  async #deliver(flight: Buffer, fragmentSize: number): Promise<EapTlsStep> {
    // FIELD-NOTES: a TLS socket costs ~57 KB; it is created on the first EAP-TLS data, not at Identity.
    this.#tls ??= this.#engine.open();
    const progress = await this.#tls.receive(flight);
    switch (progress.kind) {
      case 'continue':
        if (progress.output.length === 0) return this.#fail('tls-no-output');
        return this.#send(progress.output, fragmentSize, 'receiving');
      case 'established':
        this.#handshake = progress.result;
        this.#transition('deciding');
        return { kind: 'established', handshake: progress.result };
      case 'failed':
        this.#failure = 'tls-handshake-failed';
        if (progress.output.length === 0) return this.#fail('tls-handshake-failed');
        // The TLS stack wrote its own alert: deliver it, then fail (RFC 5216 §2.1.3).
        return this.#send(progress.output, fragmentSize, 'alert-sent');
      default:
        return assertNever(progress);
    }
  }

  #send(flight: Buffer, fragmentSize: number, after: 'receiving' | 'finishing' | 'alert-sent'): EapTlsStep {
    this.#fragmenter = new TlsFragmenter(flight, fragmentSize);
    this.#afterFlight = after;
    return this.#nextFragment();
  }

  #nextFragment(): EapTlsStep {
    const fragmenter = this.#fragmenter;
    assert.ok(fragmenter !== undefined && !fragmenter.done, 'no fragment left to send');
    const next = fragmenter.next();
    if (next.more) return this.#transition('sending', { kind: 'request', typeData: next.data });
    this.#fragmenter = undefined;
    return this.#transition(this.#afterFlight, { kind: 'request', typeData: next.data });
  }

  #ack(): EapTlsStep {
    return { kind: 'request', typeData: encodeEapTlsData({ fragment: Buffer.alloc(0) }) };
  }

  #fail(reason: EapTlsFailure, detail?: string): EapTlsStep {
    this.#transition('done');
    this.destroy();
    return detail === undefined ? { kind: 'failure', reason } : { kind: 'failure', reason, detail };
  }

  #transition<T>(to: EapTlsState, result?: T): T {
    const from = this.#state;
    this.#state = to;
    if (from !== to) this.#onTransition(from, to);
    return result as T;
  }
}
