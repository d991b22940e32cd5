/**
 * EAP-TLS key derivation from a finished TLS connection.
 *
 * TLS 1.2: RFC 5216 §2.3, Key_Material = TLS-PRF(master, "client EAP encryption",
 * client.random || server.random), which is the TLS exporter with that label and no context.
 * TLS 1.3: RFC 9190 §2.3, exporter labels "EXPORTER_EAP_TLS_Key_Material" and
 * "EXPORTER_EAP_TLS_Method-Id" with the context 0x0D (the EAP-TLS type).
 */

/** The keys an EAP-TLS conversation yields (RFC 5247 §1.4). */
export interface EapKeyMaterial {
  /** Master Session Key, 64 bytes; the NAS gets it as MS-MPPE-Recv/Send-Key. */
  readonly msk: Buffer;
  /** Extended Master Session Key, 64 bytes; never leaves the server. */
  readonly emsk: Buffer;
  /** EAP Session-Id, returned to the NAS as EAP-Key-Name (RFC 4072 §6.2) when asked for. */
  readonly sessionId: Buffer;
}

const EAP_TYPE_TLS = 0x0d;
const TYPE_CONTEXT = Buffer.from([EAP_TYPE_TLS]);

/** The TLS exporter of an established connection (RFC 5705 §4); no context when `context` is undefined. */
export type KeyExporter = (length: number, label: string, context?: Buffer) => Buffer;

/**
 * Derives MSK, EMSK and Session-Id.
 * @param randoms ClientHello.random followed by ServerHello.random; read for TLS 1.2 only.
 */
export function deriveEapKeys(exporter: KeyExporter, version: 'TLSv1.2' | 'TLSv1.3', randoms: () => Buffer): EapKeyMaterial {
  if (version === 'TLSv1.3') {
    const material = exporter(128, 'EXPORTER_EAP_TLS_Key_Material', TYPE_CONTEXT);
    const methodId = exporter(64, 'EXPORTER_EAP_TLS_Method-Id', TYPE_CONTEXT);
    return {
      msk: material.subarray(0, 64),
      emsk: material.subarray(64, 128),
      sessionId: Buffer.concat([TYPE_CONTEXT, methodId]),
    };
  }
  // RFC 5216 §2.3: the exporter is called without a context value (RFC 5705 §4: "no context"
  // differs from an empty one).
  const material = exporter(128, 'client EAP encryption');
  return {
    msk: material.subarray(0, 64),
    emsk: material.subarray(64, 128),
    sessionId: Buffer.concat([TYPE_CONTEXT, randoms()]),
  };
}
