/**
 * The access decision for one established EAP-TLS handshake: the certificate checks first, then
 * the ordered rules. It returns data; `server/` turns it into RADIUS attributes.
 */
import type { PolicyConfig, ReplyConfig } from '../config/index.ts';
import { checkCertificate, type CertificateCheckSettings, type CertificateRejection, type PeerCertificates } from './certificate-check.ts';
import type { CertificateFacts } from './certificate-facts.ts';
import { evaluateRules, type RequestFacts } from './rules.ts';

/** The outcome of one authentication, with what the decision log needs. */
export type Decision =
  | {
      readonly outcome: 'accept';
      readonly rule: string;
      /** Tunnel-Private-Group-Id; undefined: no VLAN attributes. */
      readonly vlan: string | undefined;
      readonly reply: ReplyConfig;
      readonly certificate: CertificateFacts;
    }
  | {
      readonly outcome: 'reject';
      /** The rule that rejected; undefined when the certificate checks did. */
      readonly rule: string | undefined;
      /** Machine-readable reason: a certificate rejection or the rule's reason. */
      readonly reason: string;
      /** Set when the certificate checks refused. */
      readonly certificateRejection: CertificateRejection | undefined;
      readonly detail: string | undefined;
      readonly certificate: CertificateFacts | undefined;
    };

/** The policy in force: built once from the configuration, immutable. */
export class AccessPolicy {
  readonly #policy: PolicyConfig;
  readonly #certificates: CertificateCheckSettings;

  constructor(policy: PolicyConfig, certificates: CertificateCheckSettings) {
    this.#policy = policy;
    this.#certificates = certificates;
  }

  /** Decides on a peer; default deny: only a rule (or an accepting default) accepts. */
  decide(peer: PeerCertificates, request: RequestFacts, now: Date): Decision {
    const check = checkCertificate(peer, this.#certificates, now);
    if (!check.ok) {
      return {
        outcome: 'reject',
        rule: undefined,
        reason: check.reason,
        certificateRejection: check.reason,
        detail: check.detail,
        certificate: check.facts,
      };
    }
    const { rule, decision } = evaluateRules(this.#policy, check.facts, request);
    if (decision.action === 'accept') {
      return { outcome: 'accept', rule, vlan: decision.vlan, reply: decision.reply, certificate: check.facts };
    }
    return {
      outcome: 'reject',
      rule,
      reason: decision.reason,
      certificateRejection: undefined,
      detail: undefined,
      certificate: check.facts,
    };
  }
}
