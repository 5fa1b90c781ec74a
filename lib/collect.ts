/**
 * The I/O of a run: which XML-RPC calls to make and how to turn their answers
 * into a {@link Collected} for `submissions.ts`.
 *
 * One round trip per run: `system.multicall([<process info>,
 * getSupervisorVersion, getState])`, where `<process info>` is
 * `getAllProcessInfo`, or one `getProcessInfo("group:name")` per wanted
 * process when the collection is selective (see {@link selectiveNames}).
 *
 * Selective collection. supervisord finds a process inside `[group:x]` only
 * as `x:name`, and a name may be in several groups, so `proc_names` cannot be
 * asked as they are. The collector keeps a map `name -> ["group:name", ...]`:
 * - it is learnt from a full listing, which is what a run does when there is
 *   no map yet (first run, or the previous relisting failed) or when the map
 *   is `name_refresh_interval` old (default 300 s): a name can appear in a new
 *   group, or a wanted name be added, and only a full listing shows that;
 * - in between, runs ask `getProcessInfo` for each qualified name the map
 *   holds for the wanted names; a BAD_NAME answer (removed or renamed since)
 *   makes the same run list everything (a second call) and relearn, so the
 *   run still emits exactly what a full listing gives.
 * The structs are put in the order a full listing has (group, then name, by
 * code point: supervisord's `_getAllProcesses(lexical=True)`), so the
 * submissions are the same as filtering a full listing.
 *
 * Fallback. When the multicall itself fails with a fault (UNKNOWN_METHOD on
 * a server without it), HTTP 500 (a Python exception in it) or a malformed
 * answer, the same run makes separate calls in the reference's order
 * (process information, then the version and the state, only when the
 * process list was read). The server is then taken to lack multicall for
 * {@link MULTICALL_RETRY_MS}, after which it is tried again: at once after a
 * fault, and after a 500 or a malformed answer only if the separate calls
 * worked (a server answering 500 to everything has multicall for all we know).
 *
 * @module
 */

import { compareListingOrder } from './process-model.js';
import { HttpStatusError, XmlRpcFault, XmlRpcResponseError } from '../protocol/errors.js';
import type { ResolvedConfig } from './config.js';
import { decodeProcessList } from './submissions.js';
import type { MulticallRequest } from '../protocol/xmlrpc-client.js';
import type { CallOutcome, Collected } from './submissions.js';
import type { CollectClient } from './types.js';

/** How long a server whose `system.multicall` failed is asked with separate calls before multicall is tried again: 10 minutes. */
export const MULTICALL_RETRY_MS = 10 * 60 * 1000;

/** supervisord's fault for a process or group name it does not know. */
export const BAD_NAME_FAULT = 10;

/** Options of {@link Collector}. */
export interface CollectorOptions {
  /** Milliseconds since the epoch; default `Date.now`. Drives the name refresh and the multicall retry. */
  clock?: () => number;
  /** Receives one line per run saying how it collected. */
  debug?: (message: string) => void;
}

const ALL = 'supervisor.getAllProcessInfo';
const ONE = 'supervisor.getProcessInfo';
const VERSION = 'supervisor.getSupervisorVersion';
const STATE = 'supervisor.getState';

/**
 * The names to ask one by one when the collection is selective, or undefined
 * when it is not: `collection: auto`, no `proc_regex`, a non-empty
 * `proc_names`. Names excluded by `proc_names_exclude` or
 * `proc_regex_exclude` are left out (they would be dropped anyway); the
 * order is the configuration's, without repeats.
 */
export function selectiveNames(config: ResolvedConfig): string[] | undefined {
  if (config.collection !== 'auto' || config.procRegex.length > 0 || config.procNames.length === 0) return undefined;
  const names = new Set<string>();
  for (const name of config.procNames) {
    if (config.procNamesExclude.includes(name) || config.procRegexExclude.some((r) => r.regexp.test(name))) continue;
    names.add(name);
  }
  return [...names];
}


/**
 * `name -> ["group:name", ...]` for the wanted names found in a full listing,
 * in listing order. Items that are not structs with string `name` and
 * `group` are skipped (the listing's own decoding reports them).
 */
export function learnNames(listing: readonly unknown[], wanted: ReadonlySet<string>): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const item of listing) {
    const { name, group } = nameOf(item);
    if (name === undefined || group === undefined || !wanted.has(name)) continue;
    const specs = names.get(name);
    if (specs === undefined) names.set(name, [`${group}:${name}`]);
    else specs.push(`${group}:${name}`);
  }
  return names;
}

/**
 * Collects the answers of successive runs of one instance, remembering
 * between runs the name map and whether the server has multicall. Each call
 * is bounded by the client; `check.ts` bounds the run as a whole.
 */
export class Collector {
  readonly #config: ResolvedConfig;
  readonly #clock: () => number;
  readonly #debug: (message: string) => void;
  readonly #wanted: string[] | undefined;
  #names: Map<string, string[]> | undefined;
  #learnedAt = 0;
  #multicallRetryAt = -Infinity;

  /**
   * @param config the validated instance.
   * @param options see {@link CollectorOptions}.
   */
  constructor(config: ResolvedConfig, options: CollectorOptions = {}) {
    this.#config = config;
    this.#clock = options.clock ?? Date.now;
    this.#debug = options.debug ?? (() => {});
    this.#wanted = selectiveNames(config);
  }

  /** The learnt `name -> ["group:name", ...]` map; undefined before the first full listing or when not selective. */
  get names(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.#names;
  }

  /** When (clock ms) multicall will be tried again, or undefined when it is in use. */
  get multicallRetryAt(): number | undefined {
    return this.#multicallRetryAt > this.#clock() ? this.#multicallRetryAt : undefined;
  }

  /**
   * Makes one run's calls. Never rejects for what the server or the network
   * does: failures are outcomes.
   */
  async collect(client: CollectClient): Promise<Collected> {
    const now = this.#clock();
    const plan = this.#plan(now);
    this.#debug(plan.describe);
    const processCalls: MulticallRequest[] =
      plan.specs === undefined ? [{ methodName: ALL }] : plan.specs.map((spec) => ({ methodName: ONE, params: [spec] }));

    if (client.multicall !== undefined && now >= this.#multicallRetryAt) {
      const batch = [...processCalls, { methodName: VERSION }, { methodName: STATE }];
      const multi = await settle(() => client.multicall!(batch));
      const problem = multi.ok ? malformedMulticall(multi.value, batch.length) : multi.error;
      if (multi.ok && problem === undefined) {
        const items = (multi.value as unknown[]).map(outcomeOf);
        const n = processCalls.length;
        const processInfo = await this.#processInfo(client, plan, items.slice(0, n), now);
        return { processInfo, version: items[n]!, state: items[n + 1]! };
      }
      if (!lacksMulticall(problem)) return { processInfo: { ok: false, error: problem } };
      const collected = await this.#separately(client, plan, processCalls, now);
      // A fault of system.multicall itself says it is missing; a 500 or a malformed answer only when separate calls work.
      if (problem instanceof XmlRpcFault || collected.processInfo.ok) {
        this.#multicallRetryAt = now + MULTICALL_RETRY_MS;
        this.#debug(
          `system.multicall failed (${problem.message}): separate calls until ${new Date(this.#multicallRetryAt).toISOString()}`,
        );
      }
      return collected;
    }
    return this.#separately(client, plan, processCalls, now);
  }

  #plan(now: number): Plan {
    const wanted = this.#wanted;
    if (wanted === undefined) return { specs: undefined, probes: 0, learn: false, describe: 'collection: full listing' };
    if (this.#names === undefined || now - this.#learnedAt >= this.#config.nameRefreshMs) {
      return { specs: undefined, probes: 0, learn: true, describe: `collection: full listing to learn the groups of ${wanted.length} names` };
    }
    const names = this.#names;
    const specs = wanted.flatMap((name) => names.get(name) ?? []);
    // A wanted name the last listing did not have is asked as it is: that finds
    // a program added since outside any [group:x] (its group is its name); a
    // BAD_NAME for it is the expected answer, not a stale map.
    const probes = wanted.filter((name) => !names.has(name));
    return {
      specs: [...specs, ...probes],
      probes: probes.length,
      learn: false,
      describe: `collection: ${specs.length} processes by name${probes.length === 0 ? '' : `, ${probes.length} wanted name${probes.length === 1 ? '' : 's'} not seen yet`}`,
    };
  }

  /**
   * The reference's sequence: process information (stopping at the first
   * failure), then, only when it was read and is a valid list, the version
   * and the state.
   */
  async #separately(client: CollectClient, plan: Plan, processCalls: readonly MulticallRequest[], now: number): Promise<Collected> {
    const items: CallOutcome[] = [];
    const firstProbe = processCalls.length - plan.probes;
    for (const [i, c] of processCalls.entries()) {
      const outcome = await settle(() => client.call(c.methodName, c.params ?? []));
      items.push(outcome);
      if (!outcome.ok && (i < firstProbe || !isBadName(outcome.error))) break;
    }
    const processInfo = await this.#processInfo(client, plan, items, now);
    // The reference crashes on a malformed list before asking the version.
    if (!processInfo.ok || !decodeProcessList(processInfo.value).ok) return { processInfo };
    const version = await settle(() => client.call(VERSION, []));
    const state = await settle(() => client.call(STATE, []));
    return { processInfo, version, state };
  }

  /**
   * The process list from the process items. For a full listing, the item
   * itself (learnt from when the plan says so). For selected processes: the
   * first failure other than BAD_NAME is the run's (SHUTDOWN_STATE, a lost
   * connection...); a BAD_NAME means the map is stale, so this run lists
   * everything and relearns; else the structs in full-listing order.
   */
  async #processInfo(client: CollectClient, plan: Plan, items: readonly CallOutcome[], now: number): Promise<CallOutcome> {
    if (plan.specs === undefined) {
      const listing = items[0]!;
      if (plan.learn) this.#learn(listing, now);
      return listing;
    }
    let stale = false;
    const firstProbe = plan.specs.length - plan.probes;
    const found: unknown[] = [];
    for (const [i, item] of items.entries()) {
      if (item.ok) {
        found.push(item.value);
        if (i >= firstProbe) this.#map(item.value);
        continue;
      }
      if (!isBadName(item.error)) return item;
      if (i < firstProbe) stale = true;
    }
    if (stale) {
      this.#names = undefined;
      this.#debug('collection: a process name is gone (BAD_NAME): full listing to relearn the groups');
      const listing = await settle(() => client.call(ALL, []));
      this.#learn(listing, now);
      return listing;
    }
    const structs = found;
    structs.sort((a, b) => {
      const x = nameOf(a);
      const y = nameOf(b);
      return compareListingOrder({ group: x.group ?? '', name: x.name ?? '' }, { group: y.group ?? '', name: y.name ?? '' });
    });
    return { ok: true, value: structs };
  }

  /** Adds a process found by a probe to the name map. */
  #map(struct: unknown): void {
    const { name, group } = nameOf(struct);
    if (name === undefined || group === undefined) return;
    const specs = this.#names?.get(name);
    const spec = `${group}:${name}`;
    if (specs === undefined) this.#names?.set(name, [spec]);
    else if (!specs.includes(spec)) specs.push(spec);
  }

  #learn(listing: CallOutcome, now: number): void {
    if (listing.ok && Array.isArray(listing.value)) {
      this.#names = learnNames(listing.value, new Set(this.#wanted));
      this.#learnedAt = now;
    }
  }
}

/** One run's process query: a full listing (`specs` undefined) or these `group:name`. */
interface Plan {
  specs: string[] | undefined;
  /** How many of the last `specs` are wanted names not in the map, asked as they are. */
  probes: number;
  /** Learn the name map from the full listing. */
  learn: boolean;
  /** For the debug log. */
  describe: string;
}

async function settle(call: () => Promise<unknown>): Promise<CallOutcome> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** A multicall item: a fault (or any error a test client puts there) is a failed call. */
function outcomeOf(item: unknown): CallOutcome {
  return item instanceof Error ? { ok: false, error: item } : { ok: true, value: item };
}

function malformedMulticall(value: unknown, expected: number): XmlRpcResponseError | undefined {
  if (Array.isArray(value) && value.length === expected) return undefined;
  const got = Array.isArray(value) ? `${value.length} results` : 'something other than an array';
  return new XmlRpcResponseError(`system.multicall answered ${got} for ${expected} calls`, '');
}

/** Failures of `system.multicall` itself that separate calls may not have. */
function lacksMulticall(error: unknown): error is Error {
  return (
    error instanceof XmlRpcFault ||
    error instanceof XmlRpcResponseError ||
    (error instanceof HttpStatusError && error.status === 500)
  );
}

function isBadName(error: unknown): boolean {
  return error instanceof XmlRpcFault && error.faultCode === BAD_NAME_FAULT;
}

function nameOf(item: unknown): { name: string | undefined; group: string | undefined } {
  if (typeof item !== 'object' || item === null) return { name: undefined, group: undefined };
  const s = item as Record<string, unknown>;
  const name = Object.hasOwn(s, 'name') && typeof s['name'] === 'string' ? s['name'] : undefined;
  const group = Object.hasOwn(s, 'group') && typeof s['group'] === 'string' ? s['group'] : undefined;
  return { name, group };
}
