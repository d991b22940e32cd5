/** The policy of the identity end-to-end tests: group Engineering → VLAN 100, any active identity → VLAN 300. */

/** The policy YAML, with `extraRules` (rule entries indented by four spaces) after the two rules. */
export function identityPolicy(extraRules = ''): string {
  return `
policy:
  rules:
    - name: engineering
      match: { identity: { groups: Engineering } }
      action: accept
      vlan: 100
    - name: employees
      match: { identity: { status: active } }
      action: accept
      vlan: 300
${extraRules}
  default: { action: reject, reason: no-matching-rule }
`;
}
