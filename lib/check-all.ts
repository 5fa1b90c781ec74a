/**
 * Several supervisord instances checked concurrently.
 *
 * Each instance has its own {@link SupervisordCheck}: its own connection,
 * deadline (`timeout`) and memory between runs, so one hung or slow server
 * costs the others nothing beyond a worker slot until its own deadline. A
 * {@link CheckGroup} keeps its checks between runs (connections, restart
 * counts and name maps survive, as the CLI's `--interval` needs);
 * {@link checkAll} is the one-shot form.
 *
 * @module
 */

import { SupervisordCheck } from './check.js';
import type { CheckOptions } from './check.js';
import type { CheckResult, InstanceConfig } from './types.js';

/** One instance's outcome of a {@link CheckGroup.run}. */
export interface CheckEntry {
  /** The instance's `name`, or `instance #<n>` (1-based) when the configuration has no usable name. */
  name: string;
  result: CheckResult;
}

/** Options of {@link CheckGroup} and {@link checkAll}. */
export interface CheckGroupOptions {
  /** Most instances run at the same time, an integer from 1 to 1024. Default 8. */
  concurrency?: number;
  /**
   * Receives every check's warnings (and debug lines), prefixed with the
   * instance's name and `: `. Not used for checks passed in already built.
   */
  log?: CheckOptions['log'];
  /**
   * Called as soon as each instance's run ends, before the whole run does
   * (results arrive in completion order). An exception it throws is ignored.
   */
  onResult?: (entry: CheckEntry, index: number) => void;
}

const OPTION_KEYS = new Set(['concurrency', 'log', 'onResult']);
const DEFAULT_CONCURRENCY = 8;
const MAX_CONCURRENCY = 1024;

/** An instance slot: a check, or the configuration error that prevented one. */
type Slot = { name: string; check: SupervisordCheck; owned: boolean } | { name: string; error: string };

/**
 * A fixed set of instances, run together as often as needed.
 *
 * Configurations that fail validation do not throw: each run reports them as
 * a result whose `errors` holds the {@link ConfigError} message, with no
 * submission, so one bad instance does not stop the others.
 */
export class CheckGroup {
  readonly #slots: Slot[];
  readonly #concurrency: number;
  readonly #onResult: CheckGroupOptions['onResult'];
  /** Bumped by close(): a run in progress starts no further instance (its checks would open new connections after the close). */
  #closes = 0;

  /**
   * @param instances instance configurations (as for {@link SupervisordCheck}),
   *   or checks already built; the latter are run but never closed by
   *   {@link CheckGroup.close}, as they belong to the caller.
   * @param options see {@link CheckGroupOptions}.
   * @throws {TypeError} when `instances` is not an array or an option is
   *   unknown or of the wrong type; {@link RangeError} for a concurrency out
   *   of range.
   */
  constructor(instances: ReadonlyArray<InstanceConfig | SupervisordCheck>, options: CheckGroupOptions = {}) {
    if (!Array.isArray(instances)) throw new TypeError('instances must be an array of instance configurations or SupervisordCheck objects');
    checkGroupOptions(options);
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.#onResult = options.onResult;
    const log = options.log;
    this.#slots = instances.map((instance, i): Slot => {
      if (instance instanceof SupervisordCheck) return { name: instance.config.name, check: instance, owned: false };
      const fallbackName = instanceName(instance, i);
      try {
        const check = new SupervisordCheck(instance, log === undefined ? {} : { log: prefixed(log, fallbackName) });
        return { name: check.config.name, check, owned: true };
      } catch (error) {
        return { name: fallbackName, error: error instanceof Error ? error.message : String(error) };
      }
    });
  }

  /** The number of instances. */
  get size(): number {
    return this.#slots.length;
  }

  /** The checks, in instance order (undefined where the configuration was refused). */
  get checks(): ReadonlyArray<SupervisordCheck | undefined> {
    return this.#slots.map((slot) => ('check' in slot ? slot.check : undefined));
  }

  /**
   * Runs every instance once, at most `concurrency` at a time, in instance
   * order of start.
   *
   * @returns one entry per instance, in instance order. Never rejects.
   */
  async run(): Promise<CheckEntry[]> {
    const entries: CheckEntry[] = new Array<CheckEntry>(this.#slots.length);
    const closes = this.#closes;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.#slots.length) {
        const index = next++;
        const slot = this.#slots[index]!;
        const entry = this.#closes === closes ? await runSlot(slot) : { name: slot.name, result: failedResult(CLOSED_MESSAGE) };
        entries[index] = entry;
        try {
          this.#onResult?.(entry, index);
        } catch {
          // A failing consumer must not stop the other instances.
        }
      }
    };
    const workers: Array<Promise<void>> = [];
    for (let i = 0; i < Math.min(this.#concurrency, this.#slots.length); i++) workers.push(worker());
    await Promise.all(workers);
    return entries;
  }

  /**
   * Closes the checks this group built (not the ones passed in). A run in
   * progress starts no further instance: their entries hold the error
   * `not checked: the group was closed during the run`. A later run reconnects.
   */
  async close(): Promise<void> {
    this.#closes++;
    await Promise.all(this.#slots.map((slot) => ('check' in slot && slot.owned ? slot.check.close() : undefined)));
  }
}

/**
 * Runs every instance once, concurrently (see {@link CheckGroup}), and
 * closes the connections it opened.
 *
 * @param instances instance configurations or already built checks (left open).
 * @param options see {@link CheckGroupOptions}.
 * @returns one entry per instance, in instance order; configuration errors
 *   are entries with `errors`, not rejections.
 * @throws {TypeError} / {@link RangeError} (rejects) for invalid arguments, as {@link CheckGroup}'s constructor.
 */
export async function checkAll(instances: ReadonlyArray<InstanceConfig | SupervisordCheck>, options: CheckGroupOptions = {}): Promise<CheckEntry[]> {
  const group = new CheckGroup(instances, options);
  try {
    return await group.run();
  } finally {
    await group.close();
  }
}

const CLOSED_MESSAGE = 'not checked: the group was closed during the run';

function failedResult(error: string): CheckResult {
  return { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [error] };
}

async function runSlot(slot: Slot): Promise<CheckEntry> {
  if ('error' in slot) return { name: slot.name, result: failedResult(slot.error) };
  return { name: slot.name, result: await slot.check.run() };
}

function instanceName(instance: unknown, index: number): string {
  if (typeof instance === 'object' && instance !== null && Object.hasOwn(instance, 'name')) {
    const name = (instance as Record<string, unknown>)['name'];
    if (typeof name === 'string' && name.trim() !== '') return name;
  }
  return `instance #${index + 1}`;
}

function prefixed(log: NonNullable<CheckOptions['log']>, name: string): NonNullable<CheckOptions['log']> {
  const debug = log.debug;
  return {
    warn: (message) => log.warn(`${name}: ${message}`),
    ...(debug === undefined ? {} : { debug: (message: string) => debug.call(log, `${name}: ${message}`) }),
  };
}

function checkGroupOptions(options: unknown): asserts options is CheckGroupOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}' (expected concurrency, log, onResult)`);
  }
  const { concurrency, log, onResult } = options as Record<string, unknown>;
  if (concurrency !== undefined && (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY)) {
    throw new RangeError(`options.concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got ${String(concurrency)}`);
  }
  if (log !== undefined) {
    const l = log as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null || typeof l['warn'] !== 'function') throw new TypeError('options.log must have a warn(message) method');
    if (l['debug'] !== undefined && typeof l['debug'] !== 'function') throw new TypeError('options.log.debug must be a function');
  }
  if (onResult !== undefined && typeof onResult !== 'function') throw new TypeError('options.onResult must be a function');
}
