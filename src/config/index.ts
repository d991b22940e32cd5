/**
 * The configuration module: one zod schema over a YAML file, validated and deep-frozen at
 * start-up, errors that name the file, line and YAML path, secrets marked for redaction.
 * The only module of portcullis that reads `process.env` (`PORTCULLIS_CONFIG`).
 *
 * @packageDocumentation
 */
export { parseCidr, parseCidrDetailed, parseIpAddress } from './cidr.ts';
export type { Cidr, CidrParseResult } from './cidr.ts';
export { CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH, configSource, loadConfig, parseConfig, redactConfig, resolveConfigPath } from './load.ts';
export type { ConfigSource, ParseConfigOptions } from './load.ts';
export { REDACTED } from './secrets.ts';
export { LOG_LEVELS, normalizeSerial, SUBJECT_ATTRIBUTES, TLS_VERSIONS } from './types.ts';
export type * from './types.ts';
export { IDENTITY_KEYS, IDENTITY_STATUSES } from './types-checks.ts';
export type * from './types-checks.ts';
