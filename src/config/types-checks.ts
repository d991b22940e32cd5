/**
 * Configuration types of the live checks made on every authentication: revocation (CRL fetched
 * from URLs, OCSP) and identity-provider status. The zod schemas in `./schema-checks.ts`
 * produce them.
 */
import type { MatcherList } from './types.ts';

/** What happens when a check cannot give an answer: refuse (hard-fail) or let the rules decide (soft-fail). */
export type FailMode = 'reject' | 'accept';

/**
 * Which revocation sources must answer for a certificate (RFC 5280 §6.3, RFC 6960):
 * - `none`: only the CRL files of `tls.crl_files`;
 * - `crl` / `ocsp`: that source must say the certificate is not revoked;
 * - `both`: both must;
 * - `either`: OCSP is asked first and the CRL when OCSP cannot answer.
 * A `revoked` answer from any source refuses in every mode.
 */
export type RevocationCheck = 'none' | 'crl' | 'ocsp' | 'both' | 'either';

/** Settings of the OCSP client (RFC 6960). */
export interface OcspClientConfig {
  readonly timeoutMs: number;
  /** Send a nonce (RFC 8954) and require it back. */
  readonly nonce: boolean;
  /** Tolerance on `thisUpdate` and `nextUpdate`. */
  readonly clockSkewSeconds: number;
  /** Cache lifetime of a response without `nextUpdate`, and the upper bound of any. */
  readonly maxAgeSeconds: number;
  /** After a responder failed, no request to it for this long. */
  readonly failureCooldownSeconds: number;
  /** Responses held in memory. */
  readonly cacheEntries: number;
}

/** Settings of the CRL fetcher (RFC 5280 §5). */
export interface CrlFetchConfig {
  readonly timeoutMs: number;
  /** Fetch a fresh CRL this long before the held one's `nextUpdate`. */
  readonly refreshMarginSeconds: number;
  /** Refresh period of a CRL without `nextUpdate`, and the upper bound of any. */
  readonly maxAgeSeconds: number;
  readonly failureCooldownSeconds: number;
  readonly maxBytes: number;
  readonly maxUrls: number;
}

/** The revocation checks of the certificates under some trust anchors. */
export interface RevocationProfileConfig {
  /** Trust anchor files (of `tls.trust_anchors`) this profile applies to; undefined: every anchor no other profile names. */
  readonly trustAnchors?: readonly string[];
  readonly check: RevocationCheck;
  /** No source could answer (responder down, CRL unreachable). */
  readonly onUnavailable: FailMode;
  /** The OCSP responder answered `unknown` (RFC 6960 §2.2). */
  readonly onUnknown: FailMode;
  /** The only CRL at hand is past its `nextUpdate`. */
  readonly onStaleCrl: FailMode;
  /** CRL URLs to use instead of (or, when `crlDistributionPoints`, before) the certificate's. */
  readonly crlUrls: readonly string[];
  /** Use the certificate's CRL Distribution Points (RFC 5280 §4.2.1.13). */
  readonly crlDistributionPoints: boolean;
  /** Responder URL that overrides the certificate's Authority Information Access. */
  readonly ocspUrl?: string;
}

/** The `revocation` section. */
export interface RevocationConfig {
  readonly ocsp: OcspClientConfig;
  readonly crl: CrlFetchConfig;
  readonly profiles: readonly RevocationProfileConfig[];
}

/** Where the lookup key comes from. */
export const IDENTITY_KEYS = ['san_upn', 'san_email', 'san_uri', 'san_dns', 'subject_cn', 'eap_identity'] as const;
export type IdentityKeySource = (typeof IDENTITY_KEYS)[number];

/** Caching, timeout and failure handling shared by every provider. */
export interface IdentityProviderLimits {
  readonly name: string;
  readonly timeoutMs: number;
  /** How long an `active` or `disabled` answer is reused. */
  readonly cacheTtlSeconds: number;
  /** How long a `not-found` answer is reused. */
  readonly negativeCacheTtlSeconds: number;
  /** After a failure, the provider is not asked for this long (or for as long as its 429 asked). */
  readonly failureCooldownSeconds: number;
  readonly cacheEntries: number;
  /** The provider cannot answer: refuse, or let the rules decide with status `unavailable`. */
  readonly onUnavailable: FailMode;
}

/** Microsoft Entra ID through Microsoft Graph. */
export interface EntraProviderConfig extends IdentityProviderLimits {
  readonly type: 'entra';
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly loginUrl: string;
  readonly graphUrl: string;
}

/** Okta, with an API token or OAuth2 private_key_jwt. */
export interface OktaProviderConfig extends IdentityProviderLimits {
  readonly type: 'okta';
  readonly orgUrl: string;
  readonly apiToken?: string;
  /** PEM file of the OAuth2 service app's private key. */
  readonly oauth?: { readonly clientId: string; readonly privateKey: string; readonly keyId?: string };
  readonly activeStatuses: readonly string[];
}

/** Google Workspace Directory API with a service account. */
export interface GoogleProviderConfig extends IdentityProviderLimits {
  readonly type: 'google';
  /** The service account's JSON key file. */
  readonly serviceAccountFile: string;
  /** The administrator the service account acts as (domain-wide delegation). */
  readonly subject: string;
  readonly directoryUrl: string;
}

/** Any HTTP/JSON service that answers the webhook contract (docs/configuration.md). */
export interface WebhookProviderConfig extends IdentityProviderLimits {
  readonly type: 'webhook';
  readonly url: string;
  /** Sent with each request; values are secrets. */
  readonly headers: Readonly<Record<string, string>>;
}

export type IdentityProviderConfig = EntraProviderConfig | OktaProviderConfig | GoogleProviderConfig | WebhookProviderConfig;

/** How a certificate maps to an identity, and which provider is asked. */
export interface IdentityLookupConfig {
  readonly name: string;
  readonly provider: string;
  readonly kind: 'user' | 'device';
  readonly key: IdentityKeySource;
  /** A regex whose first capture group is the key (e.g. a device id inside a SAN URI). */
  readonly keyPattern?: { readonly source: string; readonly regex: RegExp };
  /** Trust anchor files whose certificates this lookup applies to; undefined: all. */
  readonly trustAnchors?: readonly string[];
  /** The provider does not know the key (or the certificate has none): refuse, or let the rules decide. */
  readonly onNotFound: 'reject' | 'continue';
}

/** The `identity` section. */
export interface IdentityConfig {
  readonly providers: readonly IdentityProviderConfig[];
  readonly lookups: readonly IdentityLookupConfig[];
}

/** The status of an identity as rules see it. A disabled identity is refused before the rules. */
export const IDENTITY_STATUSES = ['active', 'not-found', 'unavailable'] as const;
export type IdentityStatus = (typeof IDENTITY_STATUSES)[number];

/** A rule condition on the identity-provider answers. */
export interface IdentityMatchConfig {
  /** The lookup whose answer is matched; undefined: any lookup. */
  readonly lookup?: string;
  readonly status?: readonly IdentityStatus[];
  /** Group names (any of). */
  readonly groups?: MatcherList;
}
