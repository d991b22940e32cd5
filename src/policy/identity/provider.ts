/**
 * The port every identity provider implements: look a user or a device up and say whether it is
 * still active, and which groups it belongs to. Providers do HTTP; caching, single flight,
 * timeouts, cooldowns and fail-open / fail-closed are the caller's (`identity-lookups.ts`).
 */
import { LoadFailure } from '../lookup-cache.ts';

/** What is looked up: a user (UPN, e-mail, login) or a device (device id). */
export type IdentityKind = 'user' | 'device';

/** One lookup. */
export interface IdentityQuery {
  readonly kind: IdentityKind;
  /** The key taken from the certificate or the EAP identity, as configured. */
  readonly id: string;
  /** Whether group membership is needed (rules match groups); saves a request when not. */
  readonly groups: boolean;
}

/**
 * A provider's answer.
 * - `active`: the account exists and may connect.
 * - `disabled`: the account exists but is disabled, suspended, archived or deprovisioned;
 *   `detail` says which, in the provider's words (`accountEnabled=false`, `SUSPENDED`).
 * - `not-found`: the provider does not know the key.
 */
export type IdentityAnswer =
  | { readonly status: 'active'; readonly groups: readonly string[] }
  | { readonly status: 'disabled'; readonly groups: readonly string[]; readonly detail: string }
  | { readonly status: 'not-found' };

/** Why a provider could not answer; a closed set used as a metric label. */
export type ProviderFailureReason =
  | 'timeout'
  | 'network'
  | 'rate-limited'
  | 'auth-failed'
  | 'http-error'
  | 'bad-response'
  | 'unsupported';

/**
 * A provider that could not answer: a {@link LoadFailure}, so the lookup cache keeps its reason.
 * `retryAfterMs` comes from the provider (HTTP 429 `Retry-After`, Okta's `X-Rate-Limit-Reset`)
 * and lengthens the caller's cooldown.
 */
export class ProviderFailure extends LoadFailure {
  declare readonly reason: ProviderFailureReason;

  constructor(reason: ProviderFailureReason, message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(reason, message, options);
    this.name = 'ProviderFailure';
  }
}

/** An identity provider client. Implementations never log secrets or tokens. */
export interface IdentityProvider {
  /** The configured name, for logs and metrics. */
  readonly name: string;
  /**
   * Looks one key up. Resolves with an answer or rejects with a {@link ProviderFailure};
   * `signal` aborts on the caller's timeout and must be passed to every request.
   */
  lookup(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer>;
}
