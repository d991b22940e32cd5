/**
 * Attribute hiding with the shared secret: User-Password (RFC 2865 §5.2) and
 * MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { MicrosoftAttr, Vendor } from './dictionary.ts';
import { AUTHENTICATOR_LENGTH, type RadiusAttribute } from './packet.ts';
import { encodeVendorSpecific } from './vendor-specific.ts';

const BLOCK = 16;
/** RFC 2865 §5.2: the hidden password is 16 to 128 octets. */
const MAX_PASSWORD_LENGTH = 128;
const SALT_LENGTH = 2;
/** RFC 2548 §2.4.2: the Key-Length sub-field is one octet. */
const MAX_MPPE_KEY_LENGTH = 255;
const MPPE_KEY_LENGTH = 32;

/**
 * Hides a User-Password (RFC 2865 §5.2): the password padded with zeros to a multiple of 16
 * octets (at least 16), then c(1) = p(1) xor MD5(S + RA), c(i) = p(i) xor MD5(S + c(i-1)).
 */
export function encryptUserPassword(password: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer {
  assert(password.length <= MAX_PASSWORD_LENGTH, `password too long: ${password.length}`);
  assertAuthenticator(requestAuthenticator);
  const plain = Buffer.alloc(Math.max(BLOCK, roundUpToBlock(password.length)));
  password.copy(plain);
  return md5Stream(plain, secret, requestAuthenticator, 'encrypt');
}

/** Reveals a User-Password (RFC 2865 §5.2), trailing zero padding removed; undefined if the value is malformed. */
export function decryptUserPassword(value: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer | undefined {
  assertAuthenticator(requestAuthenticator);
  if (value.length < BLOCK || value.length > MAX_PASSWORD_LENGTH || value.length % BLOCK !== 0) return undefined;
  const plain = md5Stream(value, secret, requestAuthenticator, 'decrypt');
  let end = plain.length;
  while (end > 0 && plain.readUInt8(end - 1) === 0) end--;
  return plain.subarray(0, end);
}

/**
 * Encrypts an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value (RFC 2548 §2.4.2, §2.4.3): Salt (2 octets,
 * high bit set) followed by P = Key-Length + Key, zero-padded to a multiple of 16, hidden with
 * b(1) = MD5(S + R + A), b(i) = MD5(S + c(i-1)). The salt is random unless given.
 */
export function encryptMppeKey(key: Buffer, secret: Buffer, requestAuthenticator: Buffer, salt: Buffer = randomSalt()): Buffer {
  assert(key.length <= MAX_MPPE_KEY_LENGTH, `MPPE key too long: ${key.length}`);
  assert(salt.length === SALT_LENGTH && (salt.readUInt8(0) & 0x80) !== 0, 'MPPE salt must be 2 octets with the high bit set');
  assertAuthenticator(requestAuthenticator);
  const plain = Buffer.alloc(roundUpToBlock(1 + key.length));
  plain.writeUInt8(key.length, 0);
  key.copy(plain, 1);
  return Buffer.concat([salt, md5Stream(plain, secret, Buffer.concat([requestAuthenticator, salt]), 'encrypt')]);
}

/** Decrypts an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value (RFC 2548 §2.4.2); undefined if it is malformed. */
export function decryptMppeKey(value: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer | undefined {
  assertAuthenticator(requestAuthenticator);
  const cipher = value.subarray(SALT_LENGTH);
  if (value.length < SALT_LENGTH + BLOCK || cipher.length % BLOCK !== 0) return undefined;
  // RFC 2548 §2.4.2: the most significant bit of the Salt MUST be set.
  if ((value.readUInt8(0) & 0x80) === 0) return undefined;
  const salt = value.subarray(0, SALT_LENGTH);
  const plain = md5Stream(cipher, secret, Buffer.concat([requestAuthenticator, salt]), 'decrypt');
  const keyLength = plain.readUInt8(0);
  if (1 + keyLength > plain.length) return undefined;
  return plain.subarray(1, 1 + keyLength);
}

/**
 * The two Microsoft VSAs that carry EAP keys to the NAS: MS-MPPE-Recv-Key = MSK[0..32) and
 * MS-MPPE-Send-Key = MSK[32..64) (RFC 2716 §3.5, kept by RFC 5216), each encrypted for the
 * Access-Request whose authenticator is given, with distinct salts (RFC 2548 §2.4.2).
 */
export function mppeKeyAttributes(msk: Buffer, secret: Buffer, requestAuthenticator: Buffer): RadiusAttribute[] {
  assert(msk.length >= 2 * MPPE_KEY_LENGTH, `MSK too short: ${msk.length}`);
  const recvSalt = randomSalt();
  const sendSalt = randomSalt();
  // RFC 2548 §2.4.2: each Salt in a packet MUST be unique.
  if (sendSalt.equals(recvSalt)) sendSalt.writeUInt8(sendSalt.readUInt8(1) ^ 1, 1);
  const recvKey = encryptMppeKey(msk.subarray(0, MPPE_KEY_LENGTH), secret, requestAuthenticator, recvSalt);
  const sendKey = encryptMppeKey(msk.subarray(MPPE_KEY_LENGTH, 2 * MPPE_KEY_LENGTH), secret, requestAuthenticator, sendSalt);
  return [
    encodeVendorSpecific(Vendor.Microsoft, MicrosoftAttr.MppeRecvKey, recvKey),
    encodeVendorSpecific(Vendor.Microsoft, MicrosoftAttr.MppeSendKey, sendKey),
  ];
}

/**
 * The MD5 keystream shared by RFC 2865 §5.2 and RFC 2548 §2.4.2: b(1) = MD5(S + iv),
 * b(i) = MD5(S + c(i-1)), c(i) = p(i) xor b(i). `input` is a whole number of 16-octet blocks.
 */
function md5Stream(input: Buffer, secret: Buffer, iv: Buffer, direction: 'encrypt' | 'decrypt'): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  const ciphertext = direction === 'encrypt' ? out : input;
  let previous = iv;
  for (let offset = 0; offset < input.length; offset += BLOCK) {
    const b = createHash('md5').update(secret).update(previous).digest();
    for (let i = 0; i < BLOCK; i++) out.writeUInt8(input.readUInt8(offset + i) ^ b.readUInt8(i), offset + i);
    previous = ciphertext.subarray(offset, offset + BLOCK);
  }
  return out;
}

function roundUpToBlock(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

function randomSalt(): Buffer {
  const salt = randomBytes(SALT_LENGTH);
  salt.writeUInt8(salt.readUInt8(0) | 0x80, 0);
  return salt;
}

function assertAuthenticator(requestAuthenticator: Buffer): void {
  assert(requestAuthenticator.length === AUTHENTICATOR_LENGTH, 'request authenticator must be 16 octets');
}
