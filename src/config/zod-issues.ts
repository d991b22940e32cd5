/**
 * zod issues turned into short messages for people editing YAML: "required", "must be an integer",
 * "must be at most 3000", "unknown key". Messages never quote the offending value, so a secret in
 * the wrong place does not end up in an error.
 */
import type { z } from 'zod';
import type { ConfigPath } from './yaml-source.ts';

/** One problem: where and what. */
export interface PathMessage {
  readonly path: ConfigPath;
  readonly message: string;
}

/** The English name of a zod type expectation, with its article. */
function expectedName(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${expected}`;
  }
}

/** The YAML name of what was found instead. */
function foundName(input: unknown): string {
  if (input === null) return 'null (an empty value)';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'number' && !Number.isInteger(input)) return 'a fractional number';
  return `a ${typeof input}`;
}

/** Bounds wording shared by too_small and too_big. */
function boundMessage(origin: string, word: 'least' | 'most', bound: unknown, inclusive: boolean): string {
  if (origin === 'array' || origin === 'set') return `must have at ${word} ${String(bound)} entr${bound === 1 ? 'y' : 'ies'}`;
  if (origin === 'string' && word === 'least' && bound === 1) return 'must not be empty';
  if (origin === 'string') return `must be at ${word} ${String(bound)} character${bound === 1 ? '' : 's'} long`;
  if (!inclusive) return `must be ${word === 'least' ? 'greater' : 'less'} than ${String(bound)}`;
  return `must be at ${word} ${String(bound)}`;
}

/**
 * The per-parse error map: messages for zod's built-in issues. Schema-level messages (custom
 * refinements, `error:` options) take precedence over this, as zod 4 orders them.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      // YAML reads 1234, 0x1F or true as non-strings: say how to keep them text.
      if (issue.expected === 'string' && ['number', 'boolean'].includes(typeof issue.input)) {
        return `must be a string, not ${foundName(issue.input)} (quote it)`;
      }
      return `must be ${expectedName(issue.expected)}, not ${foundName(issue.input)}`;
    case 'too_small':
      return boundMessage(issue.origin, 'least', issue.minimum, issue.inclusive !== false);
    case 'too_big':
      return boundMessage(issue.origin, 'most', issue.maximum, issue.inclusive !== false);
    case 'invalid_value':
      return `must be one of: ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'invalid_union':
      return 'has the wrong form';
    default:
      return undefined;
  }
};

/** Whether an issue only says "this value is not of my type" (an alternative that did not apply). */
function isWrongShape(issue: z.core.$ZodIssue): boolean {
  if (issue.path.length > 0) return false;
  if (issue.code === 'invalid_type') return true;
  return issue.code === 'invalid_union' && issue.errors.every((branch) => branch.every(isWrongShape));
}

/**
 * Flattens zod issues to one {@link PathMessage} per problem: each unknown key becomes its own
 * problem at the key's path, and a failed union reports the issues of the one alternative that got
 * past the type check (a list whose third item is wrong says so), else its own message.
 */
export function flattenIssues(issues: readonly z.core.$ZodIssue[], prefix: ConfigPath = []): PathMessage[] {
  return issues.flatMap((issue): PathMessage[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown key' }));
    }
    if (issue.code === 'invalid_union') {
      const deeper = issue.errors.filter((branch) => branch.some((inner) => !isWrongShape(inner)));
      const [only] = deeper;
      if (deeper.length === 1 && only !== undefined) return flattenIssues(only, path);
    }
    return [{ path, message: issue.message }];
  });
}
