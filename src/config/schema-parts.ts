/**
 * Schema building blocks shared by the configuration sections: numbers, names, file paths,
 * lists and string matchers.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Matcher } from './types.ts';

/** Names of clients and rules. */
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_MESSAGE = 'must be 1..64 characters of A-Z a-z 0-9 . _ -';
/** Reject reasons: machine-readable, shown in logs and Reply-Message. */
export const REASON_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** Highest value of a RADIUS integer attribute we send (Session-Timeout), 2^31 - 1. */
export const MAX_INT31 = 2 ** 31 - 1;
/** RFC 2865 §5: an attribute value carries at most 253 octets. */
const MAX_ATTRIBUTE_BYTES = 253;

/**
 * Cross-field checks run only on a fully valid (and so fully transformed) value: with any issue
 * below, some child may still be raw input. Their problems show up once the others are fixed.
 */
export function noIssuesYet(payload: z.core.ParsePayload): boolean {
  return payload.issues.length === 0;
}

/** Drops keys whose value is undefined, so absent options stay absent in the output. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** An integer in [min, max]. */
export function integer(min: number, max: number): z.ZodInt {
  return z.int().min(min).max(max);
}

/** A name (client, rule). */
export const nameSchema = z.string().regex(NAME_PATTERN, NAME_MESSAGE);

/** One item or a non-empty list of items, always a list in the output. */
export function oneOrMany<T extends z.ZodType>(item: T, message: string) {
  return z
    .union([item, z.array(item).min(1)], { error: message })
    .transform((value): z.output<T>[] => (Array.isArray(value) ? value : [value]) as z.output<T>[]);
}

/** A text attribute we put in a reply: non-empty, at most 253 bytes of UTF-8. */
export const attributeText = z
  .string()
  .min(1)
  .refine((text) => Buffer.byteLength(text, 'utf8') <= MAX_ATTRIBUTE_BYTES, {
    error: `must be at most ${MAX_ATTRIBUTE_BYTES} bytes of UTF-8 (one RADIUS attribute, RFC 2865 §5)`,
  });

/** A file path: non-empty, resolved against the configuration file's directory. Not read here. */
export function filePath(baseDir: string) {
  return z
    .string()
    .min(1)
    .transform((path) => resolve(baseDir, path));
}

// ---------------------------------------------------------------------------------------------
// Matchers

const MATCHER_KINDS = ['regex', 'prefix', 'suffix'] as const;

const matcherObject = z
  .strictObject({
    regex: z.string().min(1).optional(),
    flags: z
      .string()
      .regex(/^(?!.*(.).*\1)[imsu]*$/, 'may only hold the flags i, m, s, u, each at most once')
      .optional(),
    prefix: z.string().min(1).optional(),
    suffix: z.string().min(1).optional(),
  })
  .transform((m, ctx): Matcher => {
    const kinds = MATCHER_KINDS.filter((kind) => m[kind] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', input: m, message: 'must have exactly one of: regex, prefix, suffix' });
      return z.NEVER;
    }
    if (m.flags !== undefined && m.regex === undefined) {
      ctx.addIssue({ code: 'custom', input: m, path: ['flags'], message: 'is only allowed with regex' });
      return z.NEVER;
    }
    if (m.prefix !== undefined) return { kind: 'prefix', value: m.prefix };
    if (m.suffix !== undefined) return { kind: 'suffix', value: m.suffix };
    const source = m.regex ?? '';
    const flags = m.flags ?? '';
    try {
      return { kind: 'regex', source, flags, regex: new RegExp(source, flags) };
    } catch (error) {
      const detail = error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : String(error);
      ctx.addIssue({ code: 'custom', input: source, path: ['regex'], message: `invalid regular expression: ${detail}` });
      return z.NEVER;
    }
  });

const MATCHER_MESSAGE = 'must be a string, or a mapping with one of regex, prefix, suffix';

/** One matcher: a string (exact) or `{ regex | prefix | suffix }`. */
const matcherItem = z
  .union([z.string().min(1), matcherObject], { error: MATCHER_MESSAGE })
  .transform((value): Matcher => (typeof value === 'string' ? { kind: 'exact', value } : value));

/** A matcher or a list of matchers (any of). */
export const matcherList = oneOrMany(matcherItem, `${MATCHER_MESSAGE}, or a list of these`);
