/** Minimal typings of the `radius` npm package, used only as an independent oracle in tests. */
declare module 'radius' {
  interface RadiusAttributes {
    [name: string]: unknown;
  }
  interface DecodedPacket {
    code: string;
    identifier: number;
    length: number;
    authenticator: Buffer;
    attributes: RadiusAttributes;
    raw_attributes: [number, Buffer][];
  }
  const radius: {
    decode(args: { packet: Buffer; secret: string; no_secret?: boolean }): DecodedPacket;
    decode_without_secret(args: { packet: Buffer }): DecodedPacket;
    encode(args: Record<string, unknown>): Buffer;
    encode_response(args: Record<string, unknown>): Buffer;
    verify_response(args: Record<string, unknown>): boolean;
    add_dictionary(path: string): void;
  };
  export default radius;
}
