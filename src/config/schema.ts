/**
 * The one configuration schema. YAML keys are snake_case; each object schema validates strictly
 * (unknown keys are errors), then maps to the camelCase interfaces of `./types.ts` in a transform
 * annotated with that interface, so the two cannot drift. Defaults live here and only here
 * (docs/configuration.md repeats them for people).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCidrDetailed, parseIpAddress } from './cidr.ts';
import { secret } from './secrets.ts';
import { identityMatchSchema, identitySchema, revocationSchema } from './schema-checks.ts';
import { attributeText, compact, filePath, integer, matcherList, MAX_INT31, nameSchema, noIssuesYet, oneOrMany, REASON_PATTERN } from './schema-parts.ts';
import { LOG_LEVELS, normalizeSerial, SUBJECT_ATTRIBUTES, TLS_VERSIONS } from './types.ts';
import type { IdentityConfig, RevocationConfig } from './types-checks.ts';
import type {
  AccountingConfig,
  RadsecConfig,
  RadsecPeerConfig,
  ClientConfig,
  Config,
  DecisionConfig,
  EapConfig,
  HttpConfig,
  ListenConfig,
  LogConfig,
  OperationsConfig,
  MatchConfig,
  NameMatchConfig,
  PolicyConfig,
  ReplyConfig,
  RuleConfig,
  SubjectAttribute,
  TlsConfig,
} from './types.ts';

/** Options of {@link buildConfigSchema}. */
export interface SchemaOptions {
  /** Directory that relative file paths in the configuration are resolved against. */
  readonly baseDir: string;
}



const nameMatchShape = Object.fromEntries(SUBJECT_ATTRIBUTES.map((attribute) => [attribute, matcherList.optional()])) as Record<
  SubjectAttribute,
  z.ZodOptional<typeof matcherList>
>;

/** Conditions on a distinguished name, by attribute short name. */
const nameMatch = z
  .strictObject(nameMatchShape)
  .refine((name) => Object.values(name).some((value) => value !== undefined), {
    error: `must name at least one attribute (${SUBJECT_ATTRIBUTES.join(', ')})`,
  })
  .transform((name): NameMatchConfig => compact(name));

/** A certificate serial number in hex, colons allowed; normalised. */
const serialSchema = z.string().transform((text, ctx): string => {
  const serial = normalizeSerial(text);
  if (serial === undefined) {
    ctx.addIssue({ code: 'custom', input: text, message: 'must be hex digits (colons allowed)' });
    return z.NEVER;
  }
  return serial;
});

const matchSchema = z
  .strictObject({
    cert_subject: nameMatch.optional(),
    cert_issuer: nameMatch.optional(),
    cert_serial: oneOrMany(serialSchema, 'must be a quoted hex serial number or a list of them').optional(),
    san_email: matcherList.optional(),
    san_dns: matcherList.optional(),
    san_uri: matcherList.optional(),
    san_upn: matcherList.optional(),
    eap_identity: matcherList.optional(),
    client: oneOrMany(nameSchema, 'must be a client name or a list of client names').optional(),
    nas_identifier: matcherList.optional(),
    called_station_id: matcherList.optional(),
    ssid: matcherList.optional(),
    identity: identityMatchSchema.optional(),
  })
  .transform(
    (m): MatchConfig =>
      compact({
        certSubject: m.cert_subject,
        certIssuer: m.cert_issuer,
        certSerial: m.cert_serial,
        sanEmail: m.san_email,
        sanDns: m.san_dns,
        sanUri: m.san_uri,
        sanUpn: m.san_upn,
        eapIdentity: m.eap_identity,
        client: m.client,
        nasIdentifier: m.nas_identifier,
        calledStationId: m.called_station_id,
        ssid: m.ssid,
        identity: m.identity,
      }),
  );

// ---------------------------------------------------------------------------------------------
// Decisions and rules

/** A VLAN: an id 1..4094 (number or decimal text) or a name; always text in the output. */
const vlanSchema = z
  .union([integer(1, 4094), attributeText], { error: 'must be a VLAN id 1..4094 or a VLAN name' })
  .transform((vlan, ctx): string => {
    const text = String(vlan);
    if (/^\d+$/.test(text) && !(String(Number(text)) === text && Number(text) >= 1 && Number(text) <= 4094)) {
      ctx.addIssue({ code: 'custom', input: vlan, message: 'a numeric VLAN id must be 1..4094 without leading zeros' });
      return z.NEVER;
    }
    return text;
  });

const replySchema = z
  .strictObject({
    session_timeout: integer(1, MAX_INT31).optional(),
    reply_message: attributeText.optional(),
    filter_id: attributeText.optional(),
  })
  .transform(
    (r): ReplyConfig => compact({ sessionTimeout: r.session_timeout, replyMessage: r.reply_message, filterId: r.filter_id }),
  );

/** The fields of a decision, shared by `policy.default` and each rule. */
const decisionShape = {
  action: z.enum(['accept', 'reject']),
  vlan: vlanSchema.optional(),
  reply: replySchema.optional(),
  reason: z
    .string()
    .regex(REASON_PATTERN, 'must be 1..64 characters of a-z 0-9 - starting with a letter or digit (e.g. no-matching-rule)')
    .optional(),
};

/** The decision fields as validated, before they become a {@link DecisionConfig}. */
type DecisionInput = z.output<z.ZodObject<typeof decisionShape>>;

/** Checks that the fields suit the action, and builds the decision. */
function toDecision(d: DecisionInput, ctx: z.core.$RefinementCtx): DecisionConfig {
  if (d.action === 'accept') {
    if (d.reason !== undefined) {
      ctx.addIssue({ code: 'custom', input: d.reason, path: ['reason'], message: 'is only allowed with action: reject' });
      return z.NEVER;
    }
    return compact({ action: 'accept', vlan: d.vlan, reply: d.reply ?? {} });
  }
  const misplaced = (['vlan', 'reply'] as const).filter((key) => d[key] !== undefined);
  for (const key of misplaced) {
    ctx.addIssue({ code: 'custom', input: d[key], path: [key], message: 'is only allowed with action: accept' });
  }
  if (d.reason === undefined) {
    ctx.addIssue({ code: 'custom', input: d, path: ['reason'], message: 'required when action is reject' });
    return z.NEVER;
  }
  return misplaced.length > 0 ? z.NEVER : { action: 'reject', reason: d.reason };
}

const defaultDecisionSchema = z.strictObject(decisionShape).transform(toDecision);

const ruleSchema = z
  .strictObject({ name: nameSchema, match: matchSchema.nullable().prefault({}), ...decisionShape })
  .transform((r, ctx): RuleConfig => {
    const { name, match, ...decision } = r;
    return { name, match: match ?? {}, decision: toDecision(decision, ctx) };
  });

const policySchema = z
  .strictObject({
    default: defaultDecisionSchema,
    rules: z.array(ruleSchema).default([]),
  })
  .superRefine(
    (policy, ctx) => {
      reportDuplicates(
        policy.rules.map((rule, index) => ({ name: rule.name, index })),
        (rule) => rule.name,
        (dup, first) =>
          ctx.addIssue({
            code: 'custom',
            input: policy,
            path: ['rules', dup.index, 'name'],
            message: `duplicate rule name (first used by rules[${first.index}])`,
          }),
      );
    },
    { when: noIssuesYet },
  )
  .transform((p): PolicyConfig => ({ rules: p.rules, default: p.default }));

// ---------------------------------------------------------------------------------------------
// Sections

/** An IPv4 or IPv6 address literal. */
const ipLiteral = z.string().refine((address) => isIP(address) !== 0, { error: 'must be an IPv4 or IPv6 address literal' });

/** A UDP listener; `defaultPort` is 1812 for authentication (RFC 2865 §3), 1813 for accounting (RFC 2866). */
function listenSchema(defaultPort: number) {
  return z
    .strictObject({
      address: ipLiteral,
      port: integer(0, 65535).default(defaultPort),
    })
    .transform((l): ListenConfig => ({ address: l.address, family: isIP(l.address) === 4 ? 4 : 6, port: l.port }));
}

const httpSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    address: ipLiteral.default('127.0.0.1'),
    port: integer(0, 65535).default(9812),
  })
  .transform((h): HttpConfig => ({ enabled: h.enabled, address: h.address, port: h.port }));

const operationsSchema = z
  .strictObject({
    http: httpSchema.prefault({}),
    expiry_warning_days: integer(1, 365).default(30),
    crl_warning_hours: integer(1, 24 * 90).default(24),
    drain_seconds: integer(0, 600).default(10),
  })
  .transform(
    (o): OperationsConfig => ({
      http: o.http,
      expiryWarningDays: o.expiry_warning_days,
      crlWarningHours: o.crl_warning_hours,
      drainSeconds: o.drain_seconds,
    }),
  );

/** Longest session_ttl_seconds: a year (an hour-long Interim-Update interval is common). */
const MAX_SESSION_TTL_SECONDS = 365 * 86_400;

function accountingSchema(baseDir: string) {
  return z
    .strictObject({
      listen: z.array(listenSchema(1813)).default([]),
      sink: filePath(baseDir).optional(),
      session_ttl_seconds: integer(60, MAX_SESSION_TTL_SECONDS).default(86_400),
    })
    .transform((a): AccountingConfig => ({ listen: a.listen, sink: a.sink, sessionTtlSeconds: a.session_ttl_seconds }));
}

const radsecPeerSchema = z
  .strictObject({
    name: nameSchema,
    // RFC 6614 §2.3: the shared secret over TLS is "radsec" unless both sides configure another.
    secret: secret(z.string().min(1)).default('radsec'),
    max_connections: integer(1, 1024).default(8),
    match: z.strictObject({
      san_dns: z.array(z.string().min(1)).default([]),
      san_ip: z.array(ipLiteral).default([]),
      subject_cn: z.array(z.string().min(1)).default([]),
      nai_realm: z.array(z.string().min(1)).default([]),
    }),
  })
  .superRefine(
    (p, ctx) => {
      const { san_dns, san_ip, subject_cn, nai_realm } = p.match;
      if (san_dns.length + san_ip.length + subject_cn.length + nai_realm.length === 0) {
        ctx.addIssue({ code: 'custom', input: p.match, path: ['match'], message: 'needs at least one of san_dns, san_ip, subject_cn, nai_realm' });
      }
    },
    { when: noIssuesYet },
  )
  .transform(
    (p): RadsecPeerConfig => ({
      name: p.name,
      secret: p.secret,
      maxConnections: p.max_connections,
      sanDns: p.match.san_dns,
      sanIp: p.match.san_ip,
      subjectCn: p.match.subject_cn,
      naiRealm: p.match.nai_realm,
    }),
  );

function radsecSchema(baseDir: string) {
  const file = filePath(baseDir);
  return z
    .strictObject({
      // RFC 6614 §2.1: RADIUS over TLS on TCP port 2083.
      listen: z.array(listenSchema(2083)).default([]),
      certificate: file.optional(),
      private_key: file.optional(),
      private_key_passphrase: secret(z.string().min(1)).optional(),
      trust_anchors: z.array(file).default([]),
      crl_files: z.array(file).default([]),
      min_version: z.enum(TLS_VERSIONS).default('TLSv1.2'),
      max_version: z.enum(TLS_VERSIONS).default('TLSv1.3'),
      idle_timeout_seconds: integer(10, 86_400).default(600),
      peers: z.array(radsecPeerSchema).default([]),
    })
    .superRefine(
      (r, ctx) => {
        const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', input: r, path: [path], message });
        if (r.listen.length > 0 && r.trust_anchors.length === 0) issue('trust_anchors', 'required when RadSec listens');
        if (r.listen.length > 0 && r.peers.length === 0) issue('peers', 'required when RadSec listens: no peer could connect');
        if ((r.certificate === undefined) !== (r.private_key === undefined)) issue('private_key', 'certificate and private_key go together');
        if (TLS_RANK[r.min_version] > TLS_RANK[r.max_version]) issue('min_version', `must not be above max_version (${r.max_version})`);
      },
      { when: noIssuesYet },
    )
    .transform(
      (r): RadsecConfig => ({
        listen: r.listen,
        certificate: r.certificate,
        privateKey: r.private_key,
        ...(r.private_key_passphrase === undefined ? {} : { privateKeyPassphrase: r.private_key_passphrase }),
        trustAnchors: r.trust_anchors,
        crlFiles: r.crl_files,
        minVersion: r.min_version,
        maxVersion: r.max_version,
        idleTimeoutSeconds: r.idle_timeout_seconds,
        peers: r.peers,
      }),
    );
}

const logSchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default('info'),
    pretty: z.boolean().default(false),
  })
  .transform((l): LogConfig => ({ level: l.level, pretty: l.pretty }));

/** Rank of a TLS version, for min <= max. */
const TLS_RANK: Readonly<Record<(typeof TLS_VERSIONS)[number], number>> = { 'TLSv1.2': 2, 'TLSv1.3': 3 };

function tlsSchema(baseDir: string) {
  const file = filePath(baseDir);
  return z
    .strictObject({
      certificate: file,
      private_key: file,
      private_key_passphrase: secret(z.string().min(1)).optional(),
      min_version: z.enum(TLS_VERSIONS).default('TLSv1.2'),
      max_version: z.enum(TLS_VERSIONS).default('TLSv1.3'),
      trust_anchors: z.array(file).min(1),
      intermediates: z.array(file).default([]),
      crl_files: z.array(file).default([]),
      require_client_auth_eku: z.boolean().default(true),
      // A fragment plus EAP and RADIUS overhead must fit one 4096-byte RADIUS packet (RFC 2865 §3).
      max_fragment_size: integer(64, 3000).default(1024),
      resumption: z.boolean().default(true),
      // RFC 8446 §4.6.1: ticket lifetimes above seven days are not allowed.
      resumption_lifetime_seconds: integer(1, 604800).default(3600),
    })
    .superRefine(
      (t, ctx) => {
        if (TLS_RANK[t.min_version] > TLS_RANK[t.max_version]) {
          const message = `must not be above max_version (${t.max_version})`;
          ctx.addIssue({ code: 'custom', input: t.min_version, path: ['min_version'], message });
        }
      },
      { when: noIssuesYet },
    )
    .transform(
      (t): TlsConfig =>
        compact({
          certificate: t.certificate,
          privateKey: t.private_key,
          privateKeyPassphrase: t.private_key_passphrase,
          minVersion: t.min_version,
          maxVersion: t.max_version,
          trustAnchors: t.trust_anchors,
          intermediates: t.intermediates,
          crlFiles: t.crl_files,
          requireClientAuthEku: t.require_client_auth_eku,
          maxFragmentSize: t.max_fragment_size,
          resumption: t.resumption,
          resumptionLifetimeSeconds: t.resumption_lifetime_seconds,
        }),
    );
}

const eapSchema = z
  .strictObject({
    idle_timeout_seconds: integer(1, 3600).default(30),
    max_rounds: integer(1, 1000).default(40),
    max_sessions: integer(1, 10_000_000).default(10000),
    max_sessions_per_client: integer(1, 10_000_000).default(2000),
    // RFC 5216 §3.2: the TLS Message Length field; one TLS flight from the peer.
    max_tls_message_bytes: integer(4096, 16 * 1024 * 1024).default(65536),
    workers: z.union([z.literal('auto'), integer(0, 64)]).default('auto'),
  })
  .transform(
    (e): EapConfig => ({
      workers: e.workers,
      idleTimeoutSeconds: e.idle_timeout_seconds,
      maxRounds: e.max_rounds,
      maxSessions: e.max_sessions,
      maxSessionsPerClient: e.max_sessions_per_client,
      maxTlsMessageBytes: e.max_tls_message_bytes,
    }),
  );

/** A client network: an address or CIDR, host bits clear. */
const cidrSchema = z.string().transform((text, ctx) => {
  const parsed = parseCidrDetailed(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', input: text, message: parsed.reason });
    return z.NEVER;
  }
  return parsed.cidr;
});

/** A client as validated; `maxSessions` is resolved against `eap` at the top level. */
type ClientDraft = Omit<ClientConfig, 'maxSessions'> & { readonly maxSessions: number | undefined };

const clientSchema = z
  .strictObject({
    name: nameSchema,
    address: oneOrMany(cidrSchema, 'must be an IP address or CIDR network, or a list of them'),
    // RFC 2865 §3: the secret should be at least 16 octets; shorter than 8 is refused, shorter
    // than 16 is a start-up warning.
    secret: secret(z.string().min(8)),
    require_message_authenticator: z.boolean().default(true),
    max_sessions: integer(1, 10_000_000).optional(),
  })
  .transform(
    (c): ClientDraft => ({
      name: c.name,
      addresses: c.address,
      secret: c.secret,
      requireMessageAuthenticator: c.require_message_authenticator,
      maxSessions: c.max_sessions,
    }),
  );

/** Calls `report(item, firstItem)` for each item whose key repeats an earlier item's. */
function reportDuplicates<T>(items: readonly T[], key: (item: T) => string, report: (item: T, first: T) => void): void {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, item);
    else report(item, first);
  }
}

/** The sections that refer to each other, as validated. */
interface ReferenceDraft {
  readonly listen: readonly ListenConfig[];
  readonly accounting: AccountingConfig;
  readonly radsec: RadsecConfig;
  readonly clients: readonly ClientDraft[];
  readonly policy: PolicyConfig;
  readonly tls: TlsConfig;
  readonly revocation: RevocationConfig;
  readonly identity: IdentityConfig;
}

/** Checks across sections: duplicate listeners, client names and networks; rules naming unknown clients. */
function checkReferences(c: ReferenceDraft, ctx: z.core.$RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string): void => ctx.addIssue({ code: 'custom', input: c, path, message });
  // Authentication and accounting listeners share the UDP port space. Port 0 never collides:
  // each such listener gets its own ephemeral port.
  const listeners = [
    ...c.listen.map((listen, index) => ({ listen, path: ['listen', index] })),
    ...c.accounting.listen.map((listen, index) => ({ listen, path: ['accounting', 'listen', index] })),
  ];
  reportDuplicates(
    listeners,
    ({ listen, path }) =>
      listen.port === 0 ? `ephemeral ${path.join('.')}` : `${parseIpAddress(listen.address)?.toString('hex') ?? ''} ${listen.port}`,
    (dup, first) => issue(dup.path, `same address and port as ${yamlPath(first.path)}`),
  );
  reportDuplicates(
    c.clients.map((client, index) => ({ name: client.name, index })),
    (client) => client.name,
    (dup, first) => issue(['clients', dup.index, 'name'], `duplicate client name (first used by clients[${first.index}])`),
  );
  reportDuplicates(
    c.clients.flatMap((client, index) => client.addresses.map((cidr, k) => ({ cidr, index, k }))),
    (network) => network.cidr.text,
    (dup, first) =>
      issue(['clients', dup.index, 'address', dup.k], `${dup.cidr.text} is already used by clients[${first.index}]`),
  );
  reportDuplicates(
    c.radsec.listen.map((listen, index) => ({ listen, index })),
    ({ listen, index }) => (listen.port === 0 ? `ephemeral ${index}` : `${parseIpAddress(listen.address)?.toString('hex') ?? ''} ${listen.port}`),
    (dup, first) => issue(['radsec', 'listen', dup.index], `same address and port as radsec.listen[${first.index}]`),
  );
  // Peers act as clients: one name space for logs, metrics and rules.
  reportDuplicates(
    [...c.clients.map((client) => ({ name: client.name, path: ['clients'] })), ...c.radsec.peers.map((peer, index) => ({ name: peer.name, path: ['radsec', 'peers', index, 'name'] }))],
    (entry) => entry.name,
    (dup) => issue(dup.path, `the name "${dup.name}" is already used by a client or peer`),
  );
  const clientNames = new Set([...c.clients.map((client) => client.name), ...c.radsec.peers.map((peer) => peer.name)]);
  const lookupNames = new Set(c.identity.lookups.map((lookup) => lookup.name));
  c.policy.rules.forEach((rule, index) => {
    rule.match.client?.forEach((name, k) => {
      if (!clientNames.has(name)) issue(['policy', 'rules', index, 'match', 'client', k], `no client is named "${name}"`);
    });
    const lookup = rule.match.identity?.lookup;
    if (lookup !== undefined && !lookupNames.has(lookup)) issue(['policy', 'rules', index, 'match', 'identity', 'lookup'], `no identity lookup is named "${lookup}"`);
    if (rule.match.identity !== undefined && lookupNames.size === 0) issue(['policy', 'rules', index, 'match', 'identity'], 'needs identity.lookups');
  });
  // Profiles and lookups name trust anchors by file: each must be one of tls.trust_anchors.
  const anchors = new Set(c.tls.trustAnchors);
  const checkAnchors = (list: readonly string[] | undefined, path: (string | number)[]): void =>
    list?.forEach((anchor, k) => {
      if (!anchors.has(anchor)) issue([...path, 'trust_anchors', k], `${anchor} is not one of tls.trust_anchors`);
    });
  c.revocation.profiles.forEach((profile, index) => checkAnchors(profile.trustAnchors, ['revocation', 'profiles', index]));
  c.identity.lookups.forEach((lookup, index) => checkAnchors(lookup.trustAnchors, ['identity', 'lookups', index]));
}

/** `listen[0]`, `accounting.listen[1]`: a path as the YAML reads. */
function yamlPath(path: readonly (string | number)[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

/** Builds the configuration schema; relative paths resolve against `options.baseDir`. */
export function buildConfigSchema(options: SchemaOptions) {
  return z
    .strictObject({
      listen: z.array(listenSchema(1812)).min(1),
      log: logSchema.prefault({}),
      tls: tlsSchema(options.baseDir),
      eap: eapSchema.prefault({}),
      clients: z.array(clientSchema).min(1),
      policy: policySchema,
      operations: operationsSchema.prefault({}),
      accounting: accountingSchema(options.baseDir).prefault({}),
      radsec: radsecSchema(options.baseDir).prefault({}),
      revocation: revocationSchema(options.baseDir).prefault({}),
      identity: identitySchema(options.baseDir).prefault({}),
    })
    .superRefine((c, ctx) => checkReferences(c, ctx), { when: noIssuesYet })
    .transform(
      (c): Omit<Config, 'warnings'> => ({
        listen: c.listen,
        log: c.log,
        tls: c.tls,
        eap: c.eap,
        clients: c.clients.map((client) => ({ ...client, maxSessions: client.maxSessions ?? c.eap.maxSessionsPerClient })),
        policy: c.policy,
        operations: c.operations,
        accounting: c.accounting,
        radsec: c.radsec,
        revocation: c.revocation,
        identity: c.identity,
      }),
    );
}
