/**
 * The instances of a configuration file: the Datadog Agent's
 * `conf.d/supervisord.d/conf.yaml` as it is (`init_config:` and
 * `instances:`, in the YAML subset of `yaml.ts`), or the same shape in JSON
 * (`{"instances": [...]}`). The instances themselves are validated by the
 * check, which names the key at fault.
 *
 * Keys that take text (credentials, names, paths, tags, filters: see
 * {@link TEXT_KEYS}) get the text as written in the file. A value written
 * as a number or a boolean there is a trap: a reader turns `1e5` into 100000,
 * `0x1F` into 31, `1.50` into 1.5, `12345678901234567890` into
 * 12345678901234567000, and a YAML 1.1 reader (the Datadog Agent's) `yes`
 * into True, so that the same file would send other credentials. A plain
 * decimal integer (`password: 1234`, any length) is kept as the digits
 * written, which every reader agrees on; anything else is refused with its
 * line and column, asking for quotes. Keys that take numbers (`port`,
 * `timeout`...) take numbers as before.
 *
 * @module
 */

import { JsonSyntaxError, parseJson } from './json.js';
import { ScalarSources } from './scalars.js';
import type { ScalarKind, ScalarSource } from './scalars.js';
import { parseYaml, YamlSyntaxError } from './yaml.js';

/** A configuration file cannot be used; the message names the file (by the caller's label) and, for YAML, the line and column. */
export class ConfigFileError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_CONFIG_FILE' as const;

  override get name(): string {
    return 'ConfigFileError';
  }
}

/** What a configuration file holds. */
export interface ConfigFileContent {
  /** `json` when the file starts with `{` or `[`, else `yaml`. */
  format: 'json' | 'yaml';
  /** The entries of `instances`, unvalidated (each one is the check's business); empty when the file has only `modules`. */
  instances: unknown[];
  /** The `/probe` modules of `--serve` (`modules:`), unvalidated; undefined when absent. */
  modules?: unknown;
}

/**
 * Top-level keys of a Datadog check configuration: `init_config` (shared
 * settings; this check has none), `instances`, and `logs` (the Agent's log
 * collection, nothing to do with the check). Anything else is refused.
 */
const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(['init_config', 'instances', 'logs', 'modules']);

/**
 * Reads a configuration file's text.
 *
 * @param text the file's content.
 * @param label how messages name the file (`--config /etc/sc.yaml`).
 * @throws {ConfigFileError} for text that is neither JSON nor the YAML
 *   subset, or without a non-empty `instances` list. Messages never quote
 *   the file's text (it may hold a password).
 */
export function parseConfigFile(text: string, label: string): ConfigFileContent {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const first = body.trimStart()[0];
  const format = first === '{' || first === '[' ? 'json' : 'yaml';
  const sources = new ScalarSources();
  let data: unknown;
  try {
    data = format === 'json' ? parseJson(body, sources) : parseYaml(body, sources);
  } catch (error) {
    if (error instanceof JsonSyntaxError && error.line === 0) throw new ConfigFileError(`${label} is not valid JSON`);
    if (!(error instanceof YamlSyntaxError || error instanceof JsonSyntaxError)) throw error;
    throw new ConfigFileError(`${label}: ${error.message}`);
  }
  const shape =
    format === 'json'
      ? `${label} must hold a JSON object {"instances": [{...}, ...]}`
      : `${label} must hold a YAML mapping with 'instances:', a list of instances (as the Datadog Agent's conf.yaml)`;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigFileError(shape);
  const unknown = Object.keys(data).filter((k) => !TOP_LEVEL_KEYS.has(k));
  if (unknown.length > 0) throw new ConfigFileError(`${shape}: unknown key ${JSON.stringify(unknown[0])}`);
  const modules = Object.hasOwn(data, 'modules') ? (data as { modules: unknown }).modules : undefined;
  const listed = Object.hasOwn(data, 'instances') ? (data as { instances: unknown }).instances : undefined;
  // A file of modules alone configures an exporter of /probe only.
  const instances = listed === undefined && modules !== undefined ? [] : listed;
  if (!Array.isArray(instances) || (instances.length === 0 && modules === undefined)) {
    throw new ConfigFileError(`${shape}: "instances" must be a non-empty list`);
  }
  const settle = (source: ScalarSource, what: string): string => {
    if (source.kind === 'number' && DECIMAL_INTEGER.test(source.text)) return source.text;
    throw new ConfigFileError(`${label}: line ${source.line}, column ${source.column}: ${what} takes text, ${notText(format, source.kind)}`);
  };
  for (const instance of instances) keepText(instance, sources, settle);
  if (typeof modules === 'object' && modules !== null && !Array.isArray(modules)) {
    for (const settings of Object.values(modules)) keepText(settings, sources, settle);
  }
  return modules === undefined ? { format, instances } : { format, instances, modules };
}

/**
 * Instance keys (and module keys) whose value is text: a number or a boolean
 * written there is read back as written, or refused (see the module
 * comment). Their text-list counterparts are {@link TEXT_LIST_KEYS}.
 */
export const TEXT_KEYS: readonly string[] = Object.freeze(['name', 'host', 'socket', 'url', 'username', 'password', 'user', 'pass', 'tls_ca', 'tls_cert', 'tls_key']);

/** Keys whose value is a list of text: each item as in {@link TEXT_KEYS}. */
export const TEXT_LIST_KEYS: readonly string[] = Object.freeze(['tags', 'proc_names', 'proc_names_exclude', 'proc_regex', 'proc_regex_exclude', 'allow']);

/** The digits of a decimal integer, which every YAML and JSON reader turns back into the same text. */
const DECIMAL_INTEGER = /^(?:0|[1-9][0-9]*)$/;

/** Why a value that is not text is refused in a key that takes text; never quotes it (it may be a password). */
function notText(format: 'json' | 'yaml', kind: ScalarKind): string {
  if (format === 'json') {
    return kind === 'number' ? 'and a JSON number loses the text as written (1e5 is 100000): write it as a JSON string' : 'not a JSON boolean: write it as a JSON string';
  }
  switch (kind) {
    case 'number':
      return 'and YAML readers read this plain value as a number, which loses the text as written (1e5 becomes 100000, 0x1F 31, 1.50 1.5): quote it';
    case 'boolean':
      return 'and YAML readers read this plain value as a boolean: quote it';
    default:
      return "and YAML 1.1 readers, the Datadog Agent's among them, read this plain value as a number or a boolean (yes, off, 1_000): quote it";
  }
}

/** Puts back the text of the {@link TEXT_KEYS} and {@link TEXT_LIST_KEYS} of an instance or a module, or refuses it. */
function keepText(entry: unknown, sources: ScalarSources, settle: (source: ScalarSource, what: string) => string): void {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return;
  const record = entry as Record<string, unknown>;
  for (const key of TEXT_KEYS) {
    const source = Object.hasOwn(record, key) ? sources.get(record, key) : undefined;
    if (source !== undefined) record[key] = settle(source, `'${key}'`);
  }
  for (const key of TEXT_LIST_KEYS) {
    const list = Object.hasOwn(record, key) ? record[key] : undefined;
    if (!Array.isArray(list)) continue;
    for (let i = 0; i < list.length; i++) {
      const source = sources.get(list, i);
      if (source !== undefined) list[i] = settle(source, `'${key}' item ${i}`);
    }
  }
}

/**
 * Whether an instance sets a password (`password` or the deprecated `pass`),
 * so that a file others can read exposes it.
 */
export function holdsPassword(instance: unknown): boolean {
  if (typeof instance !== 'object' || instance === null) return false;
  return ['password', 'pass'].some((key) => {
    const value = Object.hasOwn(instance, key) ? (instance as Record<string, unknown>)[key] : undefined;
    return value !== undefined && value !== null && value !== '';
  });
}
