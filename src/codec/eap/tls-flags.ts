/**
 * The EAP-TLS Flags octet (RFC 5216 §3.1; unchanged for TLS 1.3 by RFC 9190).
 *
 * ```
 *  0 1 2 3 4 5 6 7
 * +-+-+-+-+-+-+-+-+
 * |L M S R R R R R|
 * +-+-+-+-+-+-+-+-+
 * ```
 *
 * The reserved bits R are sent as zero and ignored on receipt (RFC 5216 §3.1), which also lets
 * the same decoder read the PEAP and TTLS flags, whose low bits carry a version number.
 *
 * @module
 */

/** Bit masks of the EAP-TLS Flags octet (RFC 5216 §3.1). */
export const EapTlsFlag = {
  /** L: the four-octet TLS Message Length field follows the Flags octet. */
  LengthIncluded: 0x80,
  /** M: more fragments of this TLS message follow. */
  MoreFragments: 0x40,
  /** S: EAP-TLS Start, sent only by the server. */
  Start: 0x20,
} as const;
