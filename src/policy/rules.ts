/**
 * Ordered access rules: the first rule whose conditions all hold decides; otherwise the explicit
 * default does. Conditions match certificate fields, the EAP identity and NAS facts.
 */
import type { DecisionConfig, IdentityMatchConfig, MatchConfig, Matcher, MatcherList, NameMatchConfig, PolicyConfig, SubjectAttribute } from '../config/index.ts';
import { assertNever } from '../errors.ts';
import type { CertificateFacts, NameAttributes } from './certificate-facts.ts';
import type { IdentityResult } from './identity/identity-lookups.ts';

/** What the NAS told us about the request (RFC 2865 §5, RFC 3580 §3). */
export interface RequestFacts {
  /** Name of the NAS client from the configuration. */
  readonly clientName: string;
  /** RFC 3748 §5.1 EAP-Response/Identity. */
  readonly eapIdentity: string;
  readonly nasIdentifier: string | undefined;
  readonly calledStationId: string | undefined;
  readonly callingStationId: string | undefined;
}

/** The rule that decided (or `default`) and its outcome. */
export interface RuleMatch {
  readonly rule: string;
  readonly decision: DecisionConfig;
}

/** The name under which the default decision is logged. */
export const DEFAULT_RULE = 'default';

/** Applies the rules in order; `identity` holds the identity-provider answers (none without lookups). */
export function evaluateRules(
  policy: PolicyConfig,
  certificate: CertificateFacts,
  request: RequestFacts,
  identity: readonly IdentityResult[] = [],
): RuleMatch {
  for (const rule of policy.rules) {
    if (conditionsHold(rule.match, certificate, request) && identityHolds(rule.match.identity, identity)) {
      return { rule: rule.name, decision: rule.decision };
    }
  }
  return { rule: DEFAULT_RULE, decision: policy.default };
}

/** RFC 3580 §3.20: Called-Station-Id is `MAC:SSID` on IEEE 802.11; the SSID follows the first ':'. */
export function ssidOf(calledStationId: string | undefined): string | undefined {
  if (calledStationId === undefined) return undefined;
  const colon = calledStationId.indexOf(':');
  return colon === -1 ? undefined : calledStationId.slice(colon + 1);
}

function conditionsHold(match: MatchConfig, certificate: CertificateFacts, request: RequestFacts): boolean {
  return (
    namesHold(match.certSubject, certificate.subject) &&
    namesHold(match.certIssuer, certificate.issuer) &&
    (match.certSerial === undefined || match.certSerial.includes(certificate.serial)) &&
    anyHolds(match.sanEmail, certificate.sanEmail) &&
    anyHolds(match.sanDns, certificate.sanDns) &&
    anyHolds(match.sanUri, certificate.sanUri) &&
    anyHolds(match.sanUpn, certificate.sanUpn) &&
    anyHolds(match.eapIdentity, [request.eapIdentity]) &&
    (match.client === undefined || match.client.includes(request.clientName)) &&
    anyHolds(match.nasIdentifier, present(request.nasIdentifier)) &&
    anyHolds(match.calledStationId, present(request.calledStationId)) &&
    anyHolds(match.ssid, present(ssidOf(request.calledStationId)))
  );
}

/** Some answer (of the named lookup, if one is named) has a listed status and a matching group. */
function identityHolds(condition: IdentityMatchConfig | undefined, identity: readonly IdentityResult[]): boolean {
  if (condition === undefined) return true;
  return identity.some(
    (result) =>
      (condition.lookup === undefined || result.lookup === condition.lookup) &&
      (condition.status === undefined || (result.status !== 'disabled' && condition.status.includes(result.status))) &&
      anyHolds(condition.groups, result.groups),
  );
}

function present(value: string | undefined): readonly string[] {
  return value === undefined ? [] : [value];
}

/** Each attribute named in the condition must have some value that matches. */
function namesHold(condition: NameMatchConfig | undefined, name: NameAttributes): boolean {
  if (condition === undefined) return true;
  return (Object.keys(condition) as SubjectAttribute[]).every((attribute) =>
    anyHolds(condition[attribute], name[attribute] ?? []),
  );
}

/** An absent condition holds; a present one holds when some value matches some matcher. */
function anyHolds(matchers: MatcherList | undefined, values: readonly string[]): boolean {
  if (matchers === undefined) return true;
  return values.some((value) => matchers.some((matcher) => matches(matcher, value)));
}

function matches(matcher: Matcher, value: string): boolean {
  switch (matcher.kind) {
    case 'exact':
      return value === matcher.value;
    case 'prefix':
      return value.startsWith(matcher.value);
    case 'suffix':
      return value.endsWith(matcher.value);
    case 'regex':
      return matcher.regex.test(value);
    default:
      return assertNever(matcher);
  }
}
