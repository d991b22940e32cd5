/**
 * The access decision for one established EAP-TLS handshake: the certificate checks, then the
 * live checks (revocation and identity provider, concurrently, each within its timeout), then
 * the ordered rules. It returns data; `server/` turns it into RADIUS attributes.
 */
import type { X509Certificate } from 'node:crypto';
import type { PolicyConfig, ReplyConfig } from '../config/index.ts';
import { checkCertificate, type CertificateCheckSettings, type CertificateRejection, type PeerCertificates } from './certificate-check.ts';
import type { CertificateFacts } from './certificate-facts.ts';
import type { IdentityLookups, IdentityResult } from './identity/identity-lookups.ts';
import type { RevocationChecker, RevocationVerdict } from './revocation.ts';
import { evaluateRules, type RequestFacts } from './rules.ts';

/** What the live checks found, for the decision log. */
export interface LiveChecks {
  /** Undefined when no revocation profile applies (`check: none`). */
  readonly revocation: RevocationVerdict | undefined;
  readonly identity: readonly IdentityResult[];
}

/** The outcome of one authentication, with what the decision log needs. */
export type Decision =
  | {
      readonly outcome: 'accept';
      readonly rule: string;
      /** Tunnel-Private-Group-Id; undefined: no VLAN attributes. */
      readonly vlan: string | undefined;
      readonly reply: ReplyConfig;
      readonly certificate: CertificateFacts;
      readonly checks: LiveChecks;
    }
  | {
      readonly outcome: 'reject';
      /** The rule that rejected; undefined when the certificate or live checks did. */
      readonly rule: string | undefined;
      /** Machine-readable reason: a certificate rejection, an identity refusal or the rule's reason. */
      readonly reason: string;
      /** Set when the certificate checks (revocation included) refused. */
      readonly certificateRejection: CertificateRejection | undefined;
      readonly detail: string | undefined;
      readonly certificate: CertificateFacts | undefined;
      readonly checks: LiveChecks | undefined;
    };

/** The live checks of one configuration and how to tell which trust anchor a chain ends in. */
export interface LiveCheckers {
  readonly revocation: RevocationChecker;
  readonly identity: IdentityLookups;
  /** Trust anchor file by certificate SHA-256 fingerprint (Node's `fingerprint256`). */
  readonly anchorFiles: ReadonlyMap<string, string>;
}

/** The policy in force: built once from the configuration, immutable. */
export class AccessPolicy {
  readonly #policy: PolicyConfig;
  readonly #certificates: CertificateCheckSettings;
  readonly #live: LiveCheckers;

  constructor(policy: PolicyConfig, certificates: CertificateCheckSettings, live: LiveCheckers) {
    this.#policy = policy;
    this.#certificates = certificates;
    this.#live = live;
  }

  /** Decides on a peer; default deny: only a rule (or an accepting default) accepts. */
  async decide(peer: PeerCertificates, request: RequestFacts, now: Date): Promise<Decision> {
    const check = checkCertificate(peer, this.#certificates, now);
    if (!check.ok) {
      return {
        outcome: 'reject',
        rule: undefined,
        reason: check.reason,
        certificateRejection: check.reason,
        detail: check.detail,
        certificate: check.facts,
        checks: undefined,
      };
    }
    const facts = check.facts;
    const anchor = this.#anchorOf(peer.peerChain);
    const [revocation, identity] = await Promise.all([
      this.#live.revocation.check(peer.peerChain, anchor),
      this.#live.identity.resolve(facts, request.eapIdentity, anchor),
    ]);
    const checks: LiveChecks = { revocation, identity: identity.results };
    const refused = (reason: string, certificateRejection: CertificateRejection | undefined, detail: string | undefined): Decision => ({
      outcome: 'reject',
      rule: undefined,
      reason,
      certificateRejection,
      detail,
      certificate: facts,
      checks,
    });
    if (revocation?.refusal !== undefined) return refused(revocation.refusal, revocation.refusal, revocation.detail);
    if (identity.refusal !== undefined) return refused(identity.refusal, undefined, identity.detail);
    const { rule, decision } = evaluateRules(this.#policy, facts, request, identity.results);
    if (decision.action === 'accept') {
      return { outcome: 'accept', rule, vlan: decision.vlan, reply: decision.reply, certificate: facts, checks };
    }
    return { outcome: 'reject', rule, reason: decision.reason, certificateRejection: undefined, detail: undefined, certificate: facts, checks };
  }

  /** The configured trust anchor the verified chain ends in (the first chain member that is one). */
  #anchorOf(chain: readonly X509Certificate[]): string | undefined {
    for (const certificate of chain) {
      const file = this.#live.anchorFiles.get(certificate.fingerprint256);
      if (file !== undefined) return file;
    }
    return undefined;
  }
}
