/**
 * The NAS client table (RFC 2865 §3: a RADIUS server answers only clients it shares a secret
 * with). Lookup picks the client whose network is the most specific one holding the source.
 */
import type { ClientConfig } from '../config/index.ts';

/** A configured NAS client with its secret as bytes. */
export interface RadiusClient {
  readonly config: ClientConfig;
  readonly name: string;
  readonly secret: Buffer;
}

/** Clients by source network, longest prefix first. */
export class ClientTable {
  readonly #entries: readonly { prefix: number; contains: (address: string) => boolean; client: RadiusClient }[];

  constructor(clients: readonly ClientConfig[]) {
    this.#entries = clients
      .flatMap((config) => {
        const client = { config, name: config.name, secret: Buffer.from(config.secret, 'utf8') };
        // Compare on the IPv6 scale: an IPv4 /24 is as specific as ::ffff:0:0/120 (RFC 4291 §2.5.5.2).
        return config.addresses.map((cidr) => ({
          prefix: cidr.family === 4 ? cidr.prefix + 96 : cidr.prefix,
          contains: (a: string) => cidr.contains(a),
          client,
        }));
      })
      .sort((a, b) => b.prefix - a.prefix);
  }

  /** The client a datagram from `address` belongs to, if any. */
  find(address: string): RadiusClient | undefined {
    return this.#entries.find((entry) => entry.contains(address))?.client;
  }
}
