/** Metric-label names of RADIUS packet codes. */
import { PacketCode } from '../codec/radius/index.ts';

const NAMES = new Map<number, string>(
  Object.entries(PacketCode).map(([name, code]) => [code, name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()]),
);

/** `access-request`, `access-challenge`, ...; `other` for codes outside the dictionary (bounded labels). */
export function packetCodeName(code: number): string {
  return NAMES.get(code) ?? 'other';
}
