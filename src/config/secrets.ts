/**
 * Secrets are marked in the schema, not listed by key name.
 *
 * `secret(schema)` makes a field's parsed value a {@link SecretBox}. After validation,
 * {@link revealSecrets} walks the result once, puts each plain string back and records on the
 * object that held it (under a non-enumerable symbol) which of its keys are secret. Redaction reads
 * those marks, so a secret added to the schema is redacted without touching this file, and a
 * sub-object (one `ClientConfig`) can be redacted on its own.
 */
import type { z } from 'zod';

/** The text written in place of a secret. */
export const REDACTED = '[redacted]';

/** Non-enumerable mark on an object: the names of its keys whose values are secrets. */
const SECRET_KEYS = Symbol('portcullis.secret-keys');

/** A secret between validation and {@link revealSecrets}. Never escapes this module's pipeline. */
class SecretBox {
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }
}

/**
 * Marks a string schema as holding a secret (redacted by {@link redactSecrets}).
 *
 * The value is boxed until {@link revealSecrets} runs, so transforms between here and there must
 * pass a secret field through untouched (they do: they only rename keys). The declared output type
 * is the plain string the finished configuration holds.
 */
export function secret<T extends z.ZodType<string, unknown>>(schema: T): z.ZodType<string, z.input<T>> {
  return schema.transform((value) => new SecretBox(value) as unknown as string);
}

/** Whether `value` is a plain object (not a class instance such as a Cidr or a RegExp). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Replaces every {@link SecretBox} in a freshly parsed value by its string, in place, and marks the
 * objects that held one. Call once, before freezing.
 */
export function revealSecrets(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) revealSecrets(item);
    return;
  }
  if (!isPlainObject(value)) return;
  const keys: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (child instanceof SecretBox) {
      value[key] = child.value;
      keys.push(key);
    } else {
      revealSecrets(child);
    }
  }
  if (keys.length > 0) Object.defineProperty(value, SECRET_KEYS, { value: Object.freeze(keys) });
}

/**
 * A deep copy of `value` fit for logs: each secret replaced by {@link REDACTED}, objects with a
 * `toJSON` (networks) by its result, regular expressions as `/source/flags`.
 */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item));
  if (value instanceof RegExp) return String(value);
  if (value instanceof SecretBox) return REDACTED;
  if (!isPlainObject(value)) {
    const toJSON: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'toJSON') : undefined;
    return typeof toJSON === 'function' ? (toJSON as () => unknown).call(value) : value;
  }
  const secretKeys = (value as { [SECRET_KEYS]?: readonly string[] })[SECRET_KEYS] ?? [];
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    copy[key] = secretKeys.includes(key) ? REDACTED : redactSecrets(child);
  }
  return copy;
}

/**
 * Freezes `value` and everything reachable from it through own properties. Buffers and other
 * typed arrays cannot be frozen and are left alone (a Cidr hands out copies of its bytes).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
