/**
 * The one error base of portcullis.
 *
 * Errors caused by a peer are normally values (decode results, decision reasons), not exceptions.
 * `PortcullisError` is for failures that cross a module boundary as exceptions (configuration,
 * start-up, PKI loading). Each carries a stable `code` for logs and metrics and the wire `action`
 * the server takes when such an error surfaces while a request is being handled.
 */

/** What the server does on the wire when an error surfaces while it handles a request. */
export const WireAction = {
  /** Send nothing; the packet is counted and forgotten. */
  Drop: 'drop',
  /** Answer Access-Reject. */
  Reject: 'reject',
  /** End the EAP conversation with EAP-Failure inside an Access-Reject. */
  EapFailure: 'eap-failure',
  /** Not tied to a request (start-up, configuration). */
  None: 'none',
} as const;

/** One of {@link WireAction}'s values. */
export type WireAction = (typeof WireAction)[keyof typeof WireAction];

/** Base class of every error portcullis throws on purpose. */
export class PortcullisError extends Error {
  /** Stable, machine-readable code (kebab-case), safe to use as a metric label. */
  readonly code: string;
  /** What the server does on the wire when this error surfaces while handling a request. */
  readonly action: WireAction;

  constructor(code: string, message: string, options: { action?: WireAction; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PortcullisError';
    this.code = code;
    this.action = options.action ?? WireAction.None;
  }
}

/** A configuration file that cannot be used; the message names the YAML path and line. */
export class ConfigError extends PortcullisError {
  /** Each problem found, already formatted as `file:line path: message`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options: { cause?: unknown } = {}) {
    super('config-invalid', `invalid configuration:\n  ${problems.join('\n  ')}`, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Exhaustiveness check at the end of a `switch` over a closed union: the compiler proves it
 * unreachable, and reaching it at run time is a broken invariant of our own code.
 */
export function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}
