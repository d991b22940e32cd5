/**
 * Schemas of the `revocation` and `identity` sections (types in `./types-checks.ts`), and of the
 * `identity` condition of a rule.
 */
import { z } from 'zod';
import { secret } from './secrets.ts';
import { compact, filePath, integer, matcherList, nameSchema, noIssuesYet, oneOrMany } from './schema-parts.ts';
import {
  IDENTITY_KEYS,
  IDENTITY_STATUSES,
  type CrlFetchConfig,
  type IdentityConfig,
  type IdentityLookupConfig,
  type IdentityMatchConfig,
  type IdentityProviderConfig,
  type IdentityProviderLimits,
  type OcspClientConfig,
  type RevocationConfig,
  type RevocationProfileConfig,
} from './types-checks.ts';

const failMode = z.enum(['reject', 'accept']);

/** An http(s) URL. */
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** A base URL without a trailing slash, so paths can be appended. */
const baseUrl = httpUrl.transform((url) => url.replace(/\/+$/, ''));

const ocspSchema = z
  .strictObject({
    timeout_ms: integer(50, 30_000).default(2000),
    nonce: z.boolean().default(true),
    clock_skew_seconds: integer(0, 3600).default(300),
    max_age_seconds: integer(1, 7 * 86400).default(3600),
    failure_cooldown_seconds: integer(0, 3600).default(30),
    cache_entries: integer(1, 10_000_000).default(100_000),
  })
  .transform(
    (o): OcspClientConfig => ({
      timeoutMs: o.timeout_ms,
      nonce: o.nonce,
      clockSkewSeconds: o.clock_skew_seconds,
      maxAgeSeconds: o.max_age_seconds,
      failureCooldownSeconds: o.failure_cooldown_seconds,
      cacheEntries: o.cache_entries,
    }),
  );

const crlFetchSchema = z
  .strictObject({
    timeout_ms: integer(50, 60_000).default(5000),
    refresh_margin_seconds: integer(0, 7 * 86400).default(600),
    max_age_seconds: integer(60, 30 * 86400).default(86400),
    failure_cooldown_seconds: integer(0, 3600).default(60),
    max_bytes: integer(1024, 512 * 1024 * 1024).default(64 * 1024 * 1024),
    max_urls: integer(1, 100_000).default(1000),
  })
  .transform(
    (c): CrlFetchConfig => ({
      timeoutMs: c.timeout_ms,
      refreshMarginSeconds: c.refresh_margin_seconds,
      maxAgeSeconds: c.max_age_seconds,
      failureCooldownSeconds: c.failure_cooldown_seconds,
      maxBytes: c.max_bytes,
      maxUrls: c.max_urls,
    }),
  );

function profileSchema(baseDir: string) {
  return z
    .strictObject({
      trust_anchors: z.array(filePath(baseDir)).min(1).optional(),
      check: z.enum(['none', 'crl', 'ocsp', 'both', 'either']),
      on_unavailable: failMode.default('reject'),
      on_unknown: failMode.default('reject'),
      on_stale_crl: failMode.default('reject'),
      crl_urls: z.array(httpUrl).default([]),
      crl_distribution_points: z.boolean().default(true),
      ocsp_url: httpUrl.optional(),
    })
    .transform(
      (p): RevocationProfileConfig =>
        compact({
          trustAnchors: p.trust_anchors,
          check: p.check,
          onUnavailable: p.on_unavailable,
          onUnknown: p.on_unknown,
          onStaleCrl: p.on_stale_crl,
          crlUrls: p.crl_urls,
          crlDistributionPoints: p.crl_distribution_points,
          ocspUrl: p.ocsp_url,
        }),
    );
}

/** The `revocation` section; `anchors` are the resolved `tls.trust_anchors` (checked at the top level). */
export function revocationSchema(baseDir: string) {
  return z
    .strictObject({
      ocsp: ocspSchema.prefault({}),
      crl: crlFetchSchema.prefault({}),
      profiles: z.array(profileSchema(baseDir)).default([]),
    })
    .superRefine(
      (r, ctx) => {
        const catchAll = r.profiles.flatMap((profile, index) => (profile.trustAnchors === undefined ? [index] : []));
        for (const index of catchAll.slice(1)) {
          ctx.addIssue({ code: 'custom', input: r, path: ['profiles', index, 'trust_anchors'], message: `required: profiles[${catchAll[0]}] already applies to all other trust anchors` });
        }
        const named = new Map<string, number>();
        r.profiles.forEach((profile, index) =>
          profile.trustAnchors?.forEach((anchor, k) => {
            const first = named.get(anchor);
            if (first !== undefined) ctx.addIssue({ code: 'custom', input: anchor, path: ['profiles', index, 'trust_anchors', k], message: `already covered by profiles[${first}]` });
            else named.set(anchor, index);
          }),
        );
      },
      { when: noIssuesYet },
    )
    .transform((r): RevocationConfig => ({ ocsp: r.ocsp, crl: r.crl, profiles: r.profiles }));
}

/** Fields every provider has. */
const limitsShape = {
  name: nameSchema,
  timeout_ms: integer(50, 30_000).default(2000),
  cache_ttl_seconds: integer(0, 86400).default(300),
  negative_cache_ttl_seconds: integer(0, 86400).default(60),
  failure_cooldown_seconds: integer(0, 3600).default(30),
  cache_entries: integer(1, 10_000_000).default(100_000),
  on_unavailable: failMode.default('reject'),
};

function limitsOf(p: z.output<z.ZodObject<typeof limitsShape>>): IdentityProviderLimits {
  return {
    name: p.name,
    timeoutMs: p.timeout_ms,
    cacheTtlSeconds: p.cache_ttl_seconds,
    negativeCacheTtlSeconds: p.negative_cache_ttl_seconds,
    failureCooldownSeconds: p.failure_cooldown_seconds,
    cacheEntries: p.cache_entries,
    onUnavailable: p.on_unavailable,
  };
}

/** Okta user statuses of an existing employee: the certificate, not the password, is the credential. */
const OKTA_ACTIVE_STATUSES = ['ACTIVE', 'PASSWORD_EXPIRED', 'LOCKED_OUT', 'RECOVERY'];

function providerSchema(baseDir: string) {
  const entra = z
    .strictObject({
      ...limitsShape,
      type: z.literal('entra'),
      tenant_id: z.string().min(1),
      client_id: z.string().min(1),
      client_secret: secret(z.string().min(1)),
      login_url: baseUrl.default('https://login.microsoftonline.com'),
      graph_url: baseUrl.default('https://graph.microsoft.com'),
    })
    .transform(
      (p): IdentityProviderConfig => ({
        ...limitsOf(p),
        type: 'entra',
        tenantId: p.tenant_id,
        clientId: p.client_id,
        clientSecret: p.client_secret,
        loginUrl: p.login_url,
        graphUrl: p.graph_url,
      }),
    );
  const okta = z
    .strictObject({
      ...limitsShape,
      type: z.literal('okta'),
      org_url: baseUrl,
      api_token: secret(z.string().min(1)).optional(),
      oauth: z
        .strictObject({ client_id: z.string().min(1), private_key: filePath(baseDir), key_id: z.string().min(1).optional() })
        .transform((o) => compact({ clientId: o.client_id, privateKey: o.private_key, keyId: o.key_id }))
        .optional(),
      active_statuses: z.array(z.string().regex(/^[A-Z_]+$/, 'must be an Okta status such as ACTIVE')).min(1).default(OKTA_ACTIVE_STATUSES),
    })
    .superRefine((p, ctx) => {
      if ((p.api_token === undefined) === (p.oauth === undefined)) {
        ctx.addIssue({ code: 'custom', input: p, path: ['api_token'], message: 'give exactly one of api_token and oauth' });
      }
    })
    .transform(
      (p): IdentityProviderConfig =>
        compact({ ...limitsOf(p), type: 'okta', orgUrl: p.org_url, apiToken: p.api_token, oauth: p.oauth, activeStatuses: p.active_statuses }),
    );
  const google = z
    .strictObject({
      ...limitsShape,
      type: z.literal('google'),
      service_account_file: filePath(baseDir),
      subject: z.email(),
      directory_url: baseUrl.default('https://admin.googleapis.com'),
    })
    .transform(
      (p): IdentityProviderConfig => ({
        ...limitsOf(p),
        type: 'google',
        serviceAccountFile: p.service_account_file,
        subject: p.subject,
        directoryUrl: p.directory_url,
      }),
    );
  const webhook = z
    .strictObject({
      ...limitsShape,
      type: z.literal('webhook'),
      url: httpUrl,
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name'), secret(z.string().min(1))).default({}),
    })
    .transform((p): IdentityProviderConfig => ({ ...limitsOf(p), type: 'webhook', url: p.url, headers: p.headers }));
  return z.discriminatedUnion('type', [entra, okta, google, webhook], { error: 'type must be one of: entra, okta, google, webhook' });
}

/** A regex with exactly one capture group that extracts the key. */
const keyPattern = z.string().transform((source, ctx) => {
  let regex: RegExp;
  try {
    regex = new RegExp(source);
  } catch (error) {
    ctx.addIssue({ code: 'custom', input: source, message: `invalid regular expression: ${error instanceof Error ? error.message : String(error)}` });
    return z.NEVER;
  }
  if (new RegExp(`${source}|`).exec('')?.length !== 2) {
    ctx.addIssue({ code: 'custom', input: source, message: 'must have exactly one capture group: the key' });
    return z.NEVER;
  }
  return { source, regex };
});

function lookupSchema(baseDir: string) {
  return z
    .strictObject({
      name: nameSchema,
      provider: nameSchema,
      kind: z.enum(['user', 'device']).default('user'),
      key: z.enum(IDENTITY_KEYS),
      key_pattern: keyPattern.optional(),
      trust_anchors: z.array(filePath(baseDir)).min(1).optional(),
      on_not_found: z.enum(['reject', 'continue']).default('reject'),
    })
    .transform(
      (l): IdentityLookupConfig =>
        compact({
          name: l.name,
          provider: l.provider,
          kind: l.kind,
          key: l.key,
          keyPattern: l.key_pattern,
          trustAnchors: l.trust_anchors,
          onNotFound: l.on_not_found,
        }),
    );
}

/** The `identity` section. */
export function identitySchema(baseDir: string) {
  return z
    .strictObject({
      providers: z.array(providerSchema(baseDir)).default([]),
      lookups: z.array(lookupSchema(baseDir)).default([]),
    })
    .superRefine(
      (i, ctx) => {
        const names = new Set<string>();
        i.providers.forEach((provider, index) => {
          if (names.has(provider.name)) ctx.addIssue({ code: 'custom', input: provider.name, path: ['providers', index, 'name'], message: 'duplicate provider name' });
          names.add(provider.name);
        });
        const lookups = new Set<string>();
        i.lookups.forEach((lookup, index) => {
          if (!names.has(lookup.provider)) ctx.addIssue({ code: 'custom', input: lookup.provider, path: ['lookups', index, 'provider'], message: `no provider is named "${lookup.provider}"` });
          if (lookups.has(lookup.name)) ctx.addIssue({ code: 'custom', input: lookup.name, path: ['lookups', index, 'name'], message: 'duplicate lookup name' });
          lookups.add(lookup.name);
        });
      },
      { when: noIssuesYet },
    )
    .transform((i): IdentityConfig => ({ providers: i.providers, lookups: i.lookups }));
}

/** A rule's `identity` condition. */
export const identityMatchSchema = z
  .strictObject({
    lookup: nameSchema.optional(),
    status: oneOrMany(z.enum(IDENTITY_STATUSES), `must be one of ${IDENTITY_STATUSES.join(', ')}, or a list of these`).optional(),
    groups: matcherList.optional(),
  })
  .refine((m) => m.status !== undefined || m.groups !== undefined, { error: 'must give status or groups' })
  .transform((m): IdentityMatchConfig => compact({ lookup: m.lookup, status: m.status, groups: m.groups }));
