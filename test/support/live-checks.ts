/**
 * Live checkers (revocation, identity) for tests that build an AccessPolicy by hand: the ones a
 * configuration without `revocation` profiles and `identity` lookups gets, unless given.
 */
import type { Config } from '../../src/config/index.ts';
import type { LiveCheckers } from '../../src/policy/decide.ts';
import { IdentityLookups, type ProviderEntry } from '../../src/policy/identity/identity-lookups.ts';
import { RevocationChecker, revocationSources } from '../../src/policy/revocation.ts';

/** The checkers of `config`, with the given providers and trust anchor files; no CRL event handler. */
export function liveCheckers(
  config: Config,
  options: { providers?: ReadonlyMap<string, ProviderEntry>; anchorFiles?: ReadonlyMap<string, string>; groups?: boolean } = {},
): LiveCheckers & { close(): void } {
  const sources = revocationSources(config.revocation, Date.now, () => {});
  return {
    revocation: new RevocationChecker(config.revocation, sources, Date.now),
    identity: new IdentityLookups(config.identity, options.providers ?? new Map(), options.groups ?? false),
    anchorFiles: options.anchorFiles ?? new Map(),
    close: () => sources.crls.close(),
  };
}
