/**
 * Who a RadSec peer is: the chain OpenSSL verified against the RadSec trust anchors is checked
 * against the CRLs, then the leaf is matched against the allow-list (RFC 6614 §2.3: a server
 * must check that the client's certificate belongs to a configured peer). The first entry with a
 * matching SAN DNS name, SAN IP address, subject CN or NAIRealm (RFC 7585 §2.2) wins.
 */
import type { X509Certificate } from 'node:crypto';
import { parseIpAddress, type ClientConfig, type RadsecPeerConfig } from '../config/index.ts';
import { checkCertificate } from '../policy/certificate-check.ts';
import type { CrlSet } from '../policy/crl-set.ts';
import { readCertificateNames } from '../policy/der.ts';
import type { RadiusClient } from './client-table.ts';
import type { PeerIdentity } from './radsec-listener.ts';

/** Builds the identification function of a listener from its peers and CRLs. */
export function peerIdentifier(peers: readonly RadsecPeerConfig[], crls: CrlSet, now: () => Date): (chain: readonly X509Certificate[]) => PeerIdentity {
  const clients = new Map(peers.map((peer) => [peer.name, radsecClient(peer)]));
  return (chain) => {
    const check = checkCertificate({ chainVerified: true, verificationError: undefined, peerChain: chain }, { requireClientAuthEku: false, crls }, now());
    if (!check.ok) {
      return {
        ok: false,
        reason: check.reason === 'certificate-revoked' ? 'certificate-revoked' : 'certificate-refused',
        detail: check.detail,
      };
    }
    const leaf = chain[0];
    const names = leaf === undefined ? undefined : readCertificateNames(leaf.raw);
    const peer = names === undefined ? undefined : peers.find((candidate) => matches(candidate, names));
    if (peer === undefined) {
      return { ok: false, reason: 'unknown-peer', detail: `no RadSec peer matches ${check.facts.subjectText}` };
    }
    return { ok: true, client: clients.get(peer.name)!, maxConnections: peer.maxConnections };
  };
}

function matches(peer: RadsecPeerConfig, names: ReturnType<typeof readCertificateNames>): boolean {
  const lower = (values: readonly string[]) => values.map((value) => value.toLowerCase());
  const anyOf = (wanted: readonly string[], present: readonly string[]) => wanted.some((value) => present.includes(value));
  const cn = names.subject.filter((attribute) => attribute.type === 'CN').map((attribute) => attribute.value);
  return (
    anyOf(lower(peer.sanDns), lower(names.sanDns)) ||
    peer.sanIp.some((wanted) => names.sanIp.some((present) => sameIp(wanted, present))) ||
    anyOf(peer.subjectCn, cn) ||
    anyOf(lower(peer.naiRealm), lower(names.sanNaiRealm))
  );
}

/**
 * The RADIUS client a peer acts as. Over TLS the packets are integrity-protected, so the
 * BlastRADIUS rule is not applied to requests without EAP (RFC 6614 §2.3); with EAP-Message,
 * Message-Authenticator is still required (RFC 3579 §3.3).
 */
function radsecClient(peer: RadsecPeerConfig): RadiusClient {
  const config: ClientConfig = {
    name: peer.name,
    addresses: [],
    secret: peer.secret,
    requireMessageAuthenticator: false,
    maxSessions: Number.MAX_SAFE_INTEGER,
  };
  return { config, name: peer.name, secret: Buffer.from(peer.secret, 'utf8') };
}

/** Compares IP literals by their octets, so that `2001:db8::1` equals `2001:0db8:0:0:0:0:0:1`. */
function sameIp(a: string, b: string): boolean {
  const left = parseIpAddress(a);
  const right = parseIpAddress(b);
  return left !== undefined && right !== undefined && left.equals(right);
}
