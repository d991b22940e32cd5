/**
 * Live revocation of the client certificate on every authentication, full or resumed: OCSP
 * (RFC 6960) and CRLs fetched from URLs (RFC 5280 §5), combined as the trust anchor's profile
 * says, each unavailable, unknown or stale answer mapped to the configured fail mode. CRL files
 * are applied before this, in `certificate-check.ts`.
 */
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import type { FailMode, OcspClientConfig, RevocationConfig, RevocationProfileConfig } from '../config/index.ts';
import { assertNever } from '../errors.ts';
import { LoadFailure, LookupCache } from './lookup-cache.ts';
import { DEFAULT_MAX_RESPONSE_BYTES, ocspResponderUrls, queryOcsp, type OcspOutcome } from './ocsp.ts';
import { crlDistributionPoints, RemoteCrls, type RemoteCrlEvent } from './remote-crls.ts';

/** What one source said about the certificate. */
export type SourceResult = 'good' | 'revoked' | 'unknown' | 'stale' | 'unavailable';

/** One source's answer, for the decision log and metrics. */
export interface SourceAnswer {
  readonly source: 'ocsp' | 'crl';
  readonly result: SourceResult;
  /** Answered from memory (a cached OCSP response, a held CRL) or asked now. */
  readonly cached: boolean;
  readonly latencyMs: number;
  /** Why it could not answer, or what it said (revocation time, CRL URL). */
  readonly detail: string | undefined;
}

/** Why revocation refused a certificate; part of the certificate rejections. */
export type RevocationRefusal = 'certificate-revoked' | 'revocation-unknown' | 'revocation-unavailable' | 'crl-stale';

/** The revocation verdict on a certificate. */
export interface RevocationVerdict {
  /** Which check applied (the profile's `check`). */
  readonly check: RevocationProfileConfig['check'];
  readonly answers: readonly SourceAnswer[];
  /** Set when the certificate is refused. */
  readonly refusal: RevocationRefusal | undefined;
  /** Soft-failed: an answer was missing, unknown or stale and the profile accepts that. */
  readonly softFailed: boolean;
  readonly detail: string | undefined;
}

/** A cached OCSP answer: only definite answers are kept. */
type OcspAnswer = Extract<OcspOutcome, { ok: true }>;

/** The long-lived parts, shared by every configuration: fetched CRLs and OCSP responses outlive reloads. */
export interface RevocationSources {
  readonly crls: RemoteCrls;
  readonly ocsp: LookupCache<OcspAnswer>;
}

/** Builds the sources from the `revocation` section's client settings. */
export function revocationSources(config: RevocationConfig, now: () => number, onCrlEvent: (event: RemoteCrlEvent) => void): RevocationSources {
  const { crl, ocsp } = config;
  return {
    crls: new RemoteCrls(
      {
        timeoutMs: crl.timeoutMs,
        maxBytes: crl.maxBytes,
        refreshMarginMs: crl.refreshMarginSeconds * 1000,
        maxAgeMs: crl.maxAgeSeconds * 1000,
        failureCooldownMs: crl.failureCooldownSeconds * 1000,
        maxUrls: crl.maxUrls,
      },
      { now, onEvent: onCrlEvent },
    ),
    ocsp: ocspCache(ocsp, now),
  };
}

function ocspCache(settings: OcspClientConfig, now: () => number): LookupCache<OcspAnswer> {
  return new LookupCache<OcspAnswer>({ maxEntries: settings.cacheEntries, timeoutMs: settings.timeoutMs, cooldownMs: settings.failureCooldownSeconds * 1000, now });
}

/** The revocation checks of one configuration. */
export class RevocationChecker {
  readonly #config: RevocationConfig;
  readonly #sources: RevocationSources;
  readonly #now: () => number;

  constructor(config: RevocationConfig, sources: RevocationSources, now: () => number) {
    this.#config = config;
    this.#sources = sources;
    this.#now = now;
  }

  /** The profile that applies to certificates under the trust anchor file `anchor`. */
  profileFor(anchor: string | undefined): RevocationProfileConfig | undefined {
    const profiles = this.#config.profiles;
    return (
      profiles.find((profile) => anchor !== undefined && profile.trustAnchors?.includes(anchor) === true) ??
      profiles.find((profile) => profile.trustAnchors === undefined)
    );
  }

  /**
   * Checks the leaf of a verified chain (leaf first, its issuer next). Never rejects: every
   * failure becomes an answer that the profile's fail modes turn into a verdict.
   */
  async check(chain: readonly X509Certificate[], anchor: string | undefined): Promise<RevocationVerdict | undefined> {
    const profile = this.profileFor(anchor);
    if (profile === undefined || profile.check === 'none') return undefined;
    const leaf = chain[0];
    const issuer = chain[1];
    if (leaf === undefined || issuer === undefined) {
      const answer: SourceAnswer = { source: profile.check === 'crl' ? 'crl' : 'ocsp', result: 'unavailable', cached: false, latencyMs: 0, detail: 'no issuer certificate in the chain' };
      return verdict(profile, [answer]);
    }
    switch (profile.check) {
      case 'ocsp':
        return verdict(profile, [await this.#ocsp(profile, leaf, issuer)]);
      case 'crl':
        return verdict(profile, [await this.#crl(profile, leaf, issuer)]);
      case 'both':
        return verdict(profile, await Promise.all([this.#ocsp(profile, leaf, issuer), this.#crl(profile, leaf, issuer)]));
      case 'either': {
        // OCSP first (fresher, cheaper); the CRL only when OCSP gave no definite answer.
        const ocsp = await this.#ocsp(profile, leaf, issuer);
        if (ocsp.result === 'good' || ocsp.result === 'revoked') return verdict(profile, [ocsp]);
        const crl = await this.#crl(profile, leaf, issuer);
        return verdict(profile, crl.result === 'unavailable' ? [ocsp, crl] : [crl], [ocsp]);
      }
      default:
        return assertNever(profile.check);
    }
  }

  async #ocsp(profile: RevocationProfileConfig, leaf: X509Certificate, issuer: X509Certificate): Promise<SourceAnswer> {
    const url = profile.ocspUrl ?? ocspResponderUrls(leaf)[0];
    if (url === undefined) return { source: 'ocsp', result: 'unavailable', cached: false, latencyMs: 0, detail: 'no OCSP responder: none in the certificate, none configured' };
    const settings = this.#config.ocsp;
    // A certificate is named by its issuer and serial number (RFC 5280 §4.1.2.2).
    const key = `${issuer.fingerprint256} ${leaf.serialNumber}`;
    try {
      const answer = await this.#sources.ocsp.get(key, new URL(url).origin, async (signal) => {
        const outcome = await queryOcsp(url, leaf, issuer, { nonce: settings.nonce, clockSkewMs: settings.clockSkewSeconds * 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES }, signal, new Date(this.#now()));
        if (!outcome.ok) throw new LoadFailure(outcome.reason, outcome.detail);
        return { value: outcome, ttlMs: this.#ocspLifetime(outcome) };
      });
      const response = answer.value;
      const detail = response.status === 'revoked' ? `revoked ${response.revokedAt?.toISOString() ?? 'at an unknown time'} (OCSP ${url})` : `OCSP ${url}`;
      return { source: 'ocsp', result: response.status, cached: answer.source === 'cache', latencyMs: answer.latencyMs, detail };
    } catch (error) {
      assert(error instanceof LoadFailure, 'the lookup cache rejects with LoadFailure only');
      return { source: 'ocsp', result: 'unavailable', cached: false, latencyMs: 0, detail: `OCSP ${url}: ${error.reason}: ${error.message}` };
    }
  }

  /** RFC 6960 §4.2.2.1 / RFC 5019 §6: a response is reused until its nextUpdate, never beyond the configured maximum. */
  #ocspLifetime(response: OcspAnswer): number {
    const maxAgeMs = this.#config.ocsp.maxAgeSeconds * 1000;
    if (response.nextUpdate === undefined) return maxAgeMs;
    return Math.max(0, Math.min(maxAgeMs, response.nextUpdate.getTime() - this.#now()));
  }

  async #crl(profile: RevocationProfileConfig, leaf: X509Certificate, issuer: X509Certificate): Promise<SourceAnswer> {
    const urls = [...profile.crlUrls, ...(profile.crlDistributionPoints ? crlDistributionPoints(leaf) : [])];
    const started = this.#now();
    const status = await this.#sources.crls.status(urls, issuer, leaf.serialNumber);
    const latencyMs = this.#now() - started;
    if (status.status === 'unavailable') {
      return { source: 'crl', result: 'unavailable', cached: false, latencyMs, detail: `CRL ${status.url ?? '(no URL)'}: ${status.reason}: ${status.detail}` };
    }
    const result: SourceResult = status.status === 'revoked' ? 'revoked' : status.stale ? 'stale' : 'good';
    const next = status.nextUpdate === undefined ? '' : `, next update ${status.nextUpdate.toISOString()}`;
    return { source: 'crl', result, cached: status.cached, latencyMs: status.cached ? 0 : latencyMs, detail: `CRL ${status.url}${next}` };
  }
}

/**
 * Combines the answers under the profile's fail modes. A revoked answer refuses whatever the
 * modes; every other answer that is not `good` refuses unless its mode accepts. `alsoAsked`
 * answers are logged but were superseded (OCSP before a CRL in `either` mode).
 */
function verdict(profile: RevocationProfileConfig, answers: readonly SourceAnswer[], alsoAsked: readonly SourceAnswer[] = []): RevocationVerdict {
  const logged = [...alsoAsked.filter((answer) => !answers.includes(answer)), ...answers];
  const revoked = answers.find((answer) => answer.result === 'revoked');
  if (revoked !== undefined) return { check: profile.check, answers: logged, refusal: 'certificate-revoked', softFailed: false, detail: revoked.detail };
  let softFailed = false;
  for (const answer of answers) {
    const mode = failModeOf(profile, answer.result);
    if (mode === undefined) continue;
    if (mode.mode === 'reject') return { check: profile.check, answers: logged, refusal: mode.refusal, softFailed: false, detail: answer.detail };
    softFailed = true;
  }
  const softDetail = softFailed ? answers.find((answer) => answer.result !== 'good')?.detail : undefined;
  return { check: profile.check, answers: logged, refusal: undefined, softFailed, detail: softDetail };
}

function failModeOf(profile: RevocationProfileConfig, result: SourceResult): { mode: FailMode; refusal: RevocationRefusal } | undefined {
  switch (result) {
    case 'good':
    case 'revoked':
      return undefined;
    case 'unknown':
      return { mode: profile.onUnknown, refusal: 'revocation-unknown' };
    case 'stale':
      return { mode: profile.onStaleCrl, refusal: 'crl-stale' };
    case 'unavailable':
      return { mode: profile.onUnavailable, refusal: 'revocation-unavailable' };
    default:
      return assertNever(result);
  }
}
