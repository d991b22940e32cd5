/**
 * The chain handed to the policy: the peer certificate, then its issuers up to a self-signed
 * one. Issuers come from the configured CA certificates, parsed once, whenever they complete the
 * chain: parsing the certificates of every handshake again costs about 0.2 ms per certificate
 * with OpenSSL 3.0. When they do not (the peer sent an intermediate we do not hold), the chain
 * the TLS stack built is used.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/**
 * `leaf` and its issuers among `known`; `built()` when `known` does not complete the chain.
 * @param built the chain the TLS stack built for the peer, leaf first.
 */
export function chainFromLeaf(leaf: X509Certificate, known: readonly X509Certificate[], built: () => X509Certificate[]): X509Certificate[] {
  const chain = [leaf];
  for (let current = leaf; !current.checkIssued(current); ) {
    const issuer = issuerAmong(current, known);
    if (issuer === undefined) return built();
    if (chain.includes(issuer)) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/** The chain of the peer of a `node:tls` socket (RadSec). Empty when the peer sent no certificate. */
export function peerChain(socket: TLSSocket, known: readonly X509Certificate[] = []): X509Certificate[] {
  const leaf = socket.getPeerX509Certificate();
  return leaf === undefined ? [] : chainFromLeaf(leaf, known, () => attachedPeerChain(socket));
}

/**
 * The certificate of `known` that issued `subject`: names and key identifiers match
 * (`checkIssued`), and when several do, the one whose key verifies the signature.
 */
function issuerAmong(subject: X509Certificate, known: readonly X509Certificate[]): X509Certificate | undefined {
  const candidates = known.filter((candidate) => subject.checkIssued(candidate));
  if (candidates.length <= 1) return candidates[0];
  return candidates.find((candidate) => subject.verify(candidate.publicKey));
}

/** The peer certificate and the issuers OpenSSL attached, stopping at a self-signed one. */
function attachedPeerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let entry: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (entry !== undefined && entry.raw !== undefined && !seen.has(entry.fingerprint256)) {
    seen.add(entry.fingerprint256);
    chain.push(new X509Certificate(entry.raw));
    entry = entry.issuerCertificate;
  }
  return chain;
}
