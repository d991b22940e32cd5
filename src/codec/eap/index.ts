/**
 * The EAP codec: EAP packets (RFC 3748), EAP-TLS Type-Data (RFC 5216, RFC 9190), and the
 * fragmenter and size-capped reassembler of TLS messages. Pure: no I/O, no logging, and bytes
 * from the network never make it throw.
 *
 * @module
 */
export * from './packet.ts';
export * from './tls-flags.ts';
export * from './tls-message.ts';
export * from './reassembler.ts';
export * from './fragmenter.ts';
