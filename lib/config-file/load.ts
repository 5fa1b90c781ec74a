/**
 * The instances of a configuration file: the Datadog Agent's
 * `conf.d/supervisord.d/conf.yaml` as it is (`init_config:` and
 * `instances:`, in the YAML subset of `yaml.ts`), or the same shape in JSON
 * (`{"instances": [...]}`). The instances themselves are validated by the
 * check, which names the key at fault.
 *
 * @module
 */

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
  let data: unknown;
  if (format === 'json') {
    try {
      data = JSON.parse(body);
    } catch {
      // JSON.parse's message quotes the text around the error, which may be a password.
      throw new ConfigFileError(`${label} is not valid JSON`);
    }
  } else {
    try {
      data = parseYaml(body);
    } catch (error) {
      if (!(error instanceof YamlSyntaxError)) throw error;
      throw new ConfigFileError(`${label}: ${error.message}`);
    }
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
  return modules === undefined ? { format, instances } : { format, instances, modules };
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
