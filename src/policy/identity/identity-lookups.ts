/**
 * The identity half of the live checks: for each configured lookup that applies to the
 * certificate's trust anchor, take the key from the certificate (or the EAP identity), ask the
 * provider through its cache, and turn the answer into a status the rules can match. A disabled
 * identity is refused here, before the rules; `not-found` and `unavailable` follow the lookup's
 * and the provider's settings (ARCHITECTURE habits 7 and 8).
 */
import assert from 'node:assert/strict';
import type { IdentityConfig, IdentityLookupConfig, IdentityProviderLimits, IdentityStatus } from '../../config/index.ts';
import { assertNever } from '../../errors.ts';
import type { CertificateFacts } from '../certificate-facts.ts';
import { LoadFailure, LookupCache } from '../lookup-cache.ts';
import type { IdentityAnswer, IdentityProvider } from './provider.ts';

/** A provider with its settings and its answer cache. */
export interface ProviderEntry {
  readonly provider: IdentityProvider;
  readonly limits: IdentityProviderLimits;
  readonly cache: LookupCache<IdentityAnswer>;
}

/** Builds the answer cache of a provider from its settings. */
export function providerCache(limits: IdentityProviderLimits, now: () => number): LookupCache<IdentityAnswer> {
  return new LookupCache<IdentityAnswer>({ maxEntries: limits.cacheEntries, timeoutMs: limits.timeoutMs, cooldownMs: limits.failureCooldownSeconds * 1000, now });
}

/** One lookup's result, for the rules and the decision log. */
export interface IdentityResult {
  readonly lookup: string;
  readonly provider: string;
  /** The key asked for; undefined when the certificate has none. */
  readonly key: string | undefined;
  readonly status: IdentityStatus | 'disabled';
  readonly groups: readonly string[];
  /** The provider's words for a disabled account, or why no answer came. */
  readonly detail: string | undefined;
  readonly source: 'cache' | 'live' | 'none';
  readonly latencyMs: number;
}

/** Why the identity checks refused. */
export type IdentityRefusal = 'identity-disabled' | 'identity-not-found' | 'identity-unavailable';

/** All lookups of one authentication. */
export interface IdentityVerdict {
  readonly results: readonly IdentityResult[];
  readonly refusal: IdentityRefusal | undefined;
  readonly detail: string | undefined;
}

/** The identity lookups of one configuration. */
export class IdentityLookups {
  readonly #lookups: readonly IdentityLookupConfig[];
  readonly #providers: ReadonlyMap<string, ProviderEntry>;
  readonly #groups: boolean;

  /**
   * @param providers by configured name; every lookup's provider is present.
   * @param groups whether some rule matches groups (else no group requests are made).
   */
  constructor(config: IdentityConfig, providers: ReadonlyMap<string, ProviderEntry>, groups: boolean) {
    this.#lookups = config.lookups;
    this.#providers = providers;
    this.#groups = groups;
  }

  /** Runs the lookups that apply under trust anchor file `anchor`, concurrently. */
  async resolve(certificate: CertificateFacts, eapIdentity: string, anchor: string | undefined): Promise<IdentityVerdict> {
    const applicable = this.#lookups.filter((lookup) => lookup.trustAnchors === undefined || (anchor !== undefined && lookup.trustAnchors.includes(anchor)));
    const results = await Promise.all(applicable.map((lookup) => this.#run(lookup, certificate, eapIdentity)));
    for (const [i, result] of results.entries()) {
      const refusal = refusalOf(applicable[i]!, result, this.#providers.get(result.provider)!.limits);
      if (refusal !== undefined) return { results, refusal, detail: `${result.lookup}: ${result.key ?? '(no key)'}: ${result.detail ?? result.status}` };
    }
    return { results, refusal: undefined, detail: undefined };
  }

  async #run(lookup: IdentityLookupConfig, certificate: CertificateFacts, eapIdentity: string): Promise<IdentityResult> {
    const entry = this.#providers.get(lookup.provider)!;
    const base = { lookup: lookup.name, provider: lookup.provider };
    const key = keyOf(lookup, certificate, eapIdentity);
    if (key === undefined) {
      return { ...base, key, status: 'not-found', groups: [], detail: `the certificate has no ${lookup.key}${lookup.keyPattern === undefined ? '' : ' matching key_pattern'}`, source: 'none', latencyMs: 0 };
    }
    const query = { kind: lookup.kind, id: key, groups: this.#groups };
    const { limits } = entry;
    try {
      const answer = await entry.cache.get(`${lookup.kind}\u0000${this.#groups ? 'g' : ''}\u0000${key}`, lookup.provider, async (signal) => {
        const value = await entry.provider.lookup(query, signal);
        const ttlSeconds = value.status === 'active' ? limits.cacheTtlSeconds : limits.negativeCacheTtlSeconds;
        return { value, ttlMs: ttlSeconds * 1000 };
      });
      const value = answer.value;
      const common = { ...base, key, source: answer.source, latencyMs: answer.latencyMs };
      switch (value.status) {
        case 'active':
          return { ...common, status: 'active', groups: value.groups, detail: undefined };
        case 'disabled':
          return { ...common, status: 'disabled', groups: value.groups, detail: value.detail };
        case 'not-found':
          return { ...common, status: 'not-found', groups: [], detail: 'not known to the provider' };
        default:
          return assertNever(value);
      }
    } catch (error) {
      assert(error instanceof LoadFailure, 'the lookup cache rejects with LoadFailure only');
      return { ...base, key, status: 'unavailable', groups: [], detail: `${error.reason}: ${error.message}`, source: 'none', latencyMs: 0 };
    }
  }
}

/** The key of a lookup: the first value of its source (that matches `key_pattern`, by its capture group). */
export function keyOf(lookup: IdentityLookupConfig, certificate: CertificateFacts, eapIdentity: string): string | undefined {
  const values = valuesOf(lookup.key, certificate, eapIdentity);
  if (lookup.keyPattern === undefined) return values.find((value) => value !== '');
  for (const value of values) {
    const captured = lookup.keyPattern.regex.exec(value)?.[1];
    if (captured !== undefined && captured !== '') return captured;
  }
  return undefined;
}

function valuesOf(source: IdentityLookupConfig['key'], certificate: CertificateFacts, eapIdentity: string): readonly string[] {
  switch (source) {
    case 'san_upn':
      return certificate.sanUpn;
    case 'san_email':
      return certificate.sanEmail;
    case 'san_uri':
      return certificate.sanUri;
    case 'san_dns':
      return certificate.sanDns;
    case 'subject_cn':
      return certificate.subject.CN ?? [];
    case 'eap_identity':
      return [eapIdentity];
    default:
      return assertNever(source);
  }
}

/** Default deny: disabled always refuses; not-found and unavailable refuse unless configured otherwise. */
function refusalOf(lookup: IdentityLookupConfig, result: IdentityResult, limits: IdentityProviderLimits): IdentityRefusal | undefined {
  switch (result.status) {
    case 'active':
      return undefined;
    case 'disabled':
      return 'identity-disabled';
    case 'not-found':
      return lookup.onNotFound === 'reject' ? 'identity-not-found' : undefined;
    case 'unavailable':
      return limits.onUnavailable === 'reject' ? 'identity-unavailable' : undefined;
    default:
      return assertNever(result.status);
  }
}
