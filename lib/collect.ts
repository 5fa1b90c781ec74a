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
 * Sharded collection. Without selective collection, a server whose last
 * listing had many processes (see {@link shardCount}) is asked
 * `getProcessInfo` for every `group:name` of that listing, split into
 * consecutive slices sent as parallel multicalls (over separate connections
 * when the client has them), the version and the state riding in the last
 * one; the answers put back in slice order are the listing's order. A
 * BAD_NAME item (a process removed since) makes the same run list
 * everything and relearn, as above. A process added since is not asked
 * until the names are refreshed.
 *
 * Refresh. A full listing of a large server costs it more than a run may
 * take, so when the names are `name_refresh_interval` old and a listing is
 * costly, runs go on as before and {@link Collector.refreshDue} asks the
 * owner to call {@link Collector.refresh} outside the run's deadline. The
 * first listing (nothing known yet) and a relisting after BAD_NAME are made
 * by the run and marked (`CallHints.listing`) so that `check.ts` may let
 * them run to `listing_timeout`.
 *
 * Exit statuses. supervisord's process info says 0 for the exit status of
 * a process that exited before its `startsecs` (`submissions.ts`,
 * `needsMainLog`); its main log has the real one. While the processes
 * collected include such a process (and `read_main_log` is on), each run
 * reads what the main log gained (`exit-log.ts`): in the run's multicall,
 * after the process calls, when the previous run needed it too, so that
 * the log is read in the same turn of supervisord's loop as the process
 * structs; otherwise in one call made once the structs are in (sharded
 * collection, a relisting after BAD_NAME, no multicall, or the first run
 * that needs it), so that the log is never older than the structs. A run
 * whose processes need nothing of the log does not read it.
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
import { MainLogReader } from './exit-log.js';
import type { ExitLookup, MainLogStep } from './exit-log.js';
import { isRecord, stateArray, stateStrings, stateTime } from './check-state.js';
import { StateError } from './errors.js';
import { adoptProcessList, needsMainLog } from './submissions.js';
import type { MulticallRequest } from '../protocol/xmlrpc-client.js';
import type { CallOutcome, Collected, ExitEvidence } from './submissions.js';
import type { CallHints, CollectClient } from './types.js';

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
  /**
   * Every run opens its connections anew (a command that makes one run per
   * process): the automatic shard count is {@link oneShotShardCount}'s and
   * the shards are {@link staggeredShards}. Default false.
   */
  oneShot?: boolean;
}

const ALL = 'supervisor.getAllProcessInfo';
const ONE = 'supervisor.getProcessInfo';
const VERSION = 'supervisor.getSupervisorVersion';
const STATE = 'supervisor.getState';
const VERSION_REQUEST: MulticallRequest = Object.freeze({ methodName: VERSION, params: Object.freeze([]) });
const STATE_REQUEST: MulticallRequest = Object.freeze({ methodName: STATE, params: Object.freeze([]) });

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
 * Below this many processes at the last listing, a full collection is one
 * `getAllProcessInfo` (see {@link shardCount}).
 */
export const SHARD_MIN_PROCESSES = 200;
/** Processes per connection when the shard count is chosen from the process count. */
export const PROCESSES_PER_CONNECTION = 30;
/** Most connections the automatic shard count uses. */
export const MAX_AUTO_CONNECTIONS = 96;

/**
 * How many parallel `system.multicall`s of `getProcessInfo` a full
 * collection of `processes` known processes is split into; 1 means one
 * `getAllProcessInfo`.
 *
 * supervisord writes an answer 4 KiB per turn of its event loop and every
 * turn walks every process, so one full listing costs it about
 * processes x answer size, quadratic in the process count. K answers written
 * side by side on K connections take about 1/K of the turns. Opening a
 * connection costs the server a turn too (it accepts one per turn), which
 * the check pays once (it keeps its connections), so the count grows with
 * the processes: one connection per {@link PROCESSES_PER_CONNECTION}, at
 * most {@link MAX_AUTO_CONNECTIONS} (past about a hundred, more kept
 * connections no longer lower the cost of a run, while opening them costs
 * more with each), and none below
 * {@link SHARD_MIN_PROCESSES}, where one listing costs the server no more
 * than the shards (bench/scale.js measures both).
 *
 * @param processes processes in the last full listing.
 * @param maxConnections `max_connections` when set: exactly that many shards
 *   (at most one per process), whatever the count.
 */
export function shardCount(processes: number, maxConnections: number | undefined): number {
  if (maxConnections !== undefined) return Math.max(1, Math.min(maxConnections, processes));
  if (processes < SHARD_MIN_PROCESSES) return 1;
  return Math.min(MAX_AUTO_CONNECTIONS, Math.ceil(processes / PROCESSES_PER_CONNECTION));
}

/**
 * {@link shardCount} for runs that open their connections anew (a command
 * started every interval, which keeps nothing open between runs), whose
 * slices are {@link staggeredShards}. supervisord accepts one connection per
 * turn of its event loop and reads or writes 4 KiB per connection per turn;
 * a process costs about 1.3 KB of request and answer (a third of a turn's
 * slice). With K connections accepted on turns 1..K and slices that shrink
 * by one share per connection, all end by turn K when K shares of K+1...1
 * hold every process: K = sqrt(2 x processes / 3), about
 * 0.8 x sqrt(processes). Measured at 2,000 programs on new connections
 * (supervisord's poll() calls, i.e. turns, counted with strace; its CPU in
 * the same run): one listing 538 turns, 5.5 s; 36 staggered connections
 * 38-39 turns, 0.44-0.53 s; 26 even ones 53-54 turns, 0.62-0.80 s; 67 even
 * ones (the kept-connection count) 78-79 turns, 0.85-0.89 s.
 *
 * @param processes processes in the last full listing.
 * @param maxConnections `max_connections` when set: exactly that many shards (at most one per process).
 */
export function oneShotShardCount(processes: number, maxConnections: number | undefined): number {
  if (maxConnections !== undefined) return shardCount(processes, maxConnections);
  if (processes < SHARD_MIN_PROCESSES) return 1;
  return Math.min(MAX_AUTO_CONNECTIONS, Math.ceil(0.8 * Math.sqrt(processes)));
}

/**
 * `specs` cut into `k` consecutive slices whose sizes fall by one share
 * from the first to the last (k, k-1, ..., 1 shares), empty ones left out:
 * the shards of a run on new connections. supervisord accepts them one per
 * turn in the order they are opened, so the i-th starts i turns late and
 * gets i shares less (see {@link oneShotShardCount}).
 */
export function staggeredShards(specs: readonly string[], k: number): string[][] {
  const total = (k * (k + 1)) / 2;
  const at = (shares: number): number => Math.floor((specs.length * shares) / total);
  const shards: string[][] = [];
  let done = 0;
  for (let i = 0; i < k; i++) {
    const slice = specs.slice(at(done), at(done + k - i));
    if (slice.length > 0) shards.push(slice);
    done += k - i;
  }
  return shards;
}

/** What a {@link Collector} learnt, as a slot of a saved state (see `check-state.ts`). */
export interface CollectorState {
  /** When the names were learnt (clock ms); with `specs`. */
  learnedAt?: number;
  /** Every `group:name` of the last full listing, in its order; absent before the first listing. */
  specs?: string[];
  /** Selective collection: the wanted names and the map learnt for them. */
  names?: { wanted: string[]; map: Array<[string, string[]]> };
  /** When multicall is tried again (clock ms), while the server is taken to lack it. */
  multicallRetryAt?: number;
  /** The last run's processes needed supervisord's main log: the next run reads it in its multicall. */
  logWanted?: boolean;
}

/**
 * Collects the answers of successive runs of one instance, remembering
 * between runs what the last full listing showed (every `group:name`, in
 * listing order, and for selective collection the name map) and whether the
 * server has multicall. Each call is bounded by the client; `check.ts`
 * bounds the run as a whole.
 */
export class Collector {
  readonly #config: ResolvedConfig;
  readonly #clock: () => number;
  readonly #debug: (message: string) => void;
  readonly #wanted: string[] | undefined;
  #names: Map<string, string[]> | undefined;
  /** Every `group:name` of the last full listing, in its order. */
  #specs: string[] | undefined;
  #learnedAt = -Infinity;
  #multicallRetryAt = -Infinity;
  #refreshing = false;
  /** Names that several processes of the last full listing have. */
  #sharedNames: ReadonlySet<string> = new Set();
  /** The process list of the last full listing learnt from (its names are `#specs`), until the run that made it has used it. */
  #learnedFrom: unknown[] | undefined;
  readonly #mainLog: MainLogReader | undefined;
  /** The previous run's processes needed the main log: this run reads it in its multicall. */
  #logWanted = false;
  /** This run's process list came from a relisting, made after its multicall. */
  #relisted = false;
  /** The sharded runs' requests and what they were made from (see #shardBatches). */
  #batches: { specs: readonly string[]; k: number; batches: ReadonlyArray<readonly MulticallRequest[]> } | undefined;
  readonly #oneShot: boolean;

  /**
   * @param config the validated instance.
   * @param options see {@link CollectorOptions}.
   */
  constructor(config: ResolvedConfig, options: CollectorOptions = {}) {
    this.#config = config;
    this.#clock = options.clock ?? Date.now;
    this.#debug = options.debug ?? (() => {});
    this.#wanted = selectiveNames(config);
    this.#oneShot = options.oneShot ?? false;
    this.#mainLog = config.readMainLog ? new MainLogReader(mainLogLimits(config.maxResponseBytes)) : undefined;
  }

  /**
   * The reader of supervisord's main log, kept between runs (undefined with
   * `read_main_log: false`); `getState()` / `restoreState()` carry it across
   * processes.
   */
  get mainLog(): MainLogReader | undefined {
    return this.#mainLog;
  }

  /** The learnt `name -> ["group:name", ...]` map; undefined before the first full listing or when not selective. */
  get names(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.#names;
  }

  /** How many processes the last full listing had; undefined before the first. */
  get processCount(): number | undefined {
    return this.#specs?.length;
  }

  /** When (clock ms) multicall will be tried again, or undefined when it is in use. */
  get multicallRetryAt(): number | undefined {
    return this.#multicallRetryAt > this.#clock() ? this.#multicallRetryAt : undefined;
  }

  /**
   * True when what the last listing taught is `name_refresh_interval` old
   * and runs do not relist by themselves because a listing is expensive
   * (sharded collection, or selective collection of a server with at least
   * {@link SHARD_MIN_PROCESSES} processes): the owner should call
   * {@link Collector.refresh} outside the run's deadline. False while a
   * refresh is under way.
   */
  get refreshDue(): boolean {
    return !this.#refreshing && this.#specs !== undefined && this.#stale(this.#clock()) && this.#listingIsCostly();
  }

  /**
   * Lists every process once to relearn the names (see {@link refreshDue}).
   * Never rejects: a failed listing is logged (debug) and tried again after
   * the next run.
   *
   * @param client bounded by the caller (`listing_timeout`).
   */
  async refresh(client: CollectClient): Promise<void> {
    if (this.#refreshing) return;
    this.#refreshing = true;
    const at = this.#clock();
    try {
      this.#debug('collection: full listing in the background to refresh the process names');
      const listing = await settle(() => client.call(ALL, [], LISTING));
      const learnt = this.#learn(listing, at);
      // No run uses this listing: it is not kept (thousands of structs) until the next run's end.
      if (this.#learnedFrom === (listing as { value?: unknown }).value) this.#learnedFrom = undefined;
      if (learnt) {
        this.#debug(`collection: process names refreshed (${(listing as { value: unknown[] }).value.length} processes)`);
      } else {
        this.#debug(`collection: the background listing failed (${listing.ok ? 'not a list' : errorMessage(listing.error)}); tried again after the next run`);
      }
    } finally {
      this.#refreshing = false;
    }
  }

  /**
   * Makes one run's calls. Never rejects for what the server or the network
   * does: failures are outcomes.
   */
  async collect(client: CollectClient): Promise<Collected> {
    const now = this.#clock();
    const plan = this.#plan(now);
    this.#debug(plan.describe);
    this.#relisted = false;
    if (client.multicall !== undefined && now >= this.#multicallRetryAt) {
      // The log rides in the multicall of a single snapshot only: shards are answered in several turns.
      const log = this.#logWanted && plan.kind !== 'sharded' ? this.#mainLog?.begin() : undefined;
      const attempt = plan.kind === 'sharded' ? await this.#sharded(client, plan, now) : await this.#multicall(client, plan, now, log);
      if (!('lacking' in attempt)) return this.#withExits(client, attempt.collected, log, attempt.log);
      const problem = attempt.lacking;
      const collected = await this.#separately(client, plan.kind === 'sharded' ? this.#listingPlan(false) : plan, now);
      // A fault of system.multicall itself says it is missing; a 500 or a malformed answer only when separate calls work.
      if (problem instanceof XmlRpcFault || collected.processInfo.ok) {
        this.#multicallRetryAt = now + MULTICALL_RETRY_MS;
        this.#debug(
          `system.multicall failed (${problem.message}): separate calls until ${new Date(this.#multicallRetryAt).toISOString()}`,
        );
      }
      return this.#withExits(client, collected);
    }
    // Thousands of separate getProcessInfo would cost more than the listing.
    return this.#withExits(client, await this.#separately(client, plan.kind === 'sharded' ? this.#listingPlan(false) : plan, now));
  }

  /**
   * Adds what the main log says to a run whose process list arrived: ends
   * the read begun in the run's multicall (`log`, with its `answers`), or
   * reads it now when a process needs it and the multicall had no read of
   * the same snapshot.
   */
  async #withExits(client: CollectClient, collected: Collected, log?: MainLogStep, answers?: CallOutcome[]): Promise<Collected> {
    // Not kept past this run (a list of thousands of structs).
    const learnt = this.#learnedFrom;
    this.#learnedFrom = undefined;
    const reader = this.#mainLog;
    if (!collected.processInfo.ok) return collected;
    const decoded = collected.decoded ?? adoptProcessList(collected.processInfo.value);
    if (!decoded.ok) return collected;
    const needed = decoded.processes.some(needsMainLog);
    // The run's process list, decoded once: buildRun takes it from here.
    const out: Collected = { ...collected, decoded };
    let read = false;
    if (reader !== undefined) {
      if (log !== undefined && answers !== undefined && !this.#relisted) {
        await reader.resume(client, log, answers);
        read = true;
      } else if (needed) {
        await reader.read(client);
        read = true;
      }
      this.#logWanted = needed;
      if (read) this.#debug(`collection: main log read (${describeReport(reader)})`);
    }
    // No process has an exit status that only the log tells: nothing to add.
    if (!needed) return out;
    // The list of the listing learnt from has the names learnt (the usual /probe run: no second pass).
    let shared = this.#sharedNames;
    if (!collected.processInfo.ok || collected.processInfo.value !== learnt) {
      const more = new Set(this.#sharedNames);
      const seen = new Set<string>();
      for (const p of decoded.processes) {
        if (seen.has(p.name)) more.add(p.name);
        seen.add(p.name);
      }
      shared = more;
    }
    // Here a reader has always read (resumed, or read because a process needs it).
    const off: ExitLookup = { known: false, reason: "reading supervisord's main log is turned off (read_main_log: false)" };
    const exits: ExitEvidence = {
      lookup: reader === undefined ? () => off : (name) => reader.lastExit(name),
      sharedNames: shared,
      infoLogged: reader?.infoLogged ?? false,
    };
    out.exits = exits;
    return out;
  }

  /**
   * One multicall: the process calls, the version, the state, and the
   * calls of a main-log read when one was begun (their answers returned
   * apart).
   */
  async #multicall(
    client: CollectClient,
    plan: ListingPlan | SelectivePlan,
    now: number,
    log: MainLogStep | undefined,
  ): Promise<{ collected: Collected; log?: CallOutcome[] } | { lacking: Error }> {
    const processCalls = processCallsOf(plan);
    const batch = [...processCalls, { methodName: VERSION }, { methodName: STATE }, ...(log?.calls ?? [])];
    const multi = await settle(() => client.multicall!(batch, plan.kind === 'listing' && plan.long ? LISTING : undefined));
    const problem = multi.ok ? malformedMulticall(multi.value, batch.length) : multi.error;
    if (multi.ok && problem === undefined) {
      const items = (multi.value as unknown[]).map(outcomeOf);
      const n = processCalls.length;
      const processInfo = await this.#processInfo(client, plan, items.slice(0, n), now);
      return { collected: { processInfo, version: items[n]!, state: items[n + 1]! }, log: items.slice(n + 2) };
    }
    if (!lacksMulticall(problem)) return { collected: { processInfo: { ok: false, error: problem } } };
    return { lacking: problem };
  }

  /**
   * The shards sent at once (the version and the state ride in the last
   * one); the process structs put back together in listing order. The first
   * failed shard is the run's failure; a BAD_NAME item means a process was
   * removed since the listing, so the same run lists everything and relearns.
   */
  async #sharded(client: CollectClient, plan: ShardedPlan, now: number): Promise<{ collected: Collected; log?: undefined } | { lacking: Error }> {
    const batches = plan.batches;
    const answers = await Promise.all(batches.map((batch) => settle(() => client.multicall!(batch))));
    for (let i = 0; i < answers.length; i++) {
      const answer = answers[i]!;
      if (!answer.ok) return lacksMulticall(answer.error) ? { lacking: answer.error } : { collected: { processInfo: answer } };
      const problem = malformedMulticall(answer.value, batches[i]!.length);
      if (problem !== undefined) return { lacking: problem };
    }
    // Index loops over the answers themselves: no wrapper object per process.
    const values = answers.map((answer) => (answer as { value: unknown[] }).value);
    const last = values[values.length - 1]!;
    const version = outcomeOf(last[last.length - 2]);
    const state = outcomeOf(last[last.length - 1]);
    let stale = false;
    const structs: unknown[] = [];
    for (let i = 0; i < values.length; i++) {
      const items = values[i]!;
      const n = i === values.length - 1 ? items.length - 2 : items.length;
      for (let j = 0; j < n; j++) {
        const item = items[j];
        if (!(item instanceof Error)) structs.push(item);
        else if (isBadName(item)) stale = true;
        else return { collected: { processInfo: { ok: false, error: item }, version, state } };
      }
    }
    if (stale) return { collected: { processInfo: await this.#relist(client, now), version, state } };
    return { collected: { processInfo: { ok: true, value: structs }, version, state } };
  }

  /**
   * The requests of a sharded run: `specs` cut into `k` slices (even, or
   * {@link staggeredShards} for one-shot runs), one `getProcessInfo` per
   * process, the version and the state in the last. Kept and given again to
   * every run while the listing and the shard count are the same: every
   * array and request is frozen, so a client may encode each batch once
   * (`XmlRpcClient.multicall` does), instead of building and encoding some
   * 4,000 requests every run (about 4 MB of short-lived objects at 4,000
   * processes, bench/check.js --footprint).
   */
  #shardBatches(specs: readonly string[], k: number): ReadonlyArray<readonly MulticallRequest[]> {
    const kept = this.#batches;
    if (kept !== undefined && kept.specs === specs && kept.k === k) return kept.batches;
    let shards: string[][] = [];
    if (this.#oneShot) shards = staggeredShards(specs, k);
    else for (let i = 0; i < k; i++) shards.push(specs.slice(Math.floor((i * specs.length) / k), Math.floor(((i + 1) * specs.length) / k)));
    const batches = shards.map((shard, i) => {
      const batch: MulticallRequest[] = shard.map((spec) => Object.freeze({ methodName: ONE, params: Object.freeze([spec]) }));
      if (i === shards.length - 1) batch.push(VERSION_REQUEST, STATE_REQUEST);
      return Object.freeze(batch);
    });
    this.#batches = { specs, k, batches: Object.freeze(batches) };
    return this.#batches.batches;
  }

  #shardCount(processes: number): number {
    return (this.#oneShot ? oneShotShardCount : shardCount)(processes, this.#config.maxConnections);
  }

  /**
   * What the collector learnt (the last listing's names, multicall support),
   * for a saved state; undefined when nothing was learnt yet.
   */
  exportState(): CollectorState | undefined {
    const state: CollectorState = {};
    if (this.#specs !== undefined) {
      // -Infinity (a restored time from the future): due for a refresh, which time 0 also says.
      state.learnedAt = Number.isFinite(this.#learnedAt) ? this.#learnedAt : 0;
      state.specs = [...this.#specs];
      if (this.#wanted !== undefined && this.#names !== undefined) {
        state.names = { wanted: [...this.#wanted], map: [...this.#names].map(([name, specs]) => [name, [...specs]]) };
      }
    }
    const retry = this.multicallRetryAt;
    if (retry !== undefined) state.multicallRetryAt = retry;
    if (this.#logWanted) state.logWanted = true;
    return Object.keys(state).length === 0 ? undefined : state;
  }

  /**
   * Takes back what {@link Collector.exportState} gave, before the first run.
   * The name map is kept only when the wanted names are this
   * configuration's (else the next run lists everything to learn them); a
   * learning time in the future (the clock went back) makes the names due
   * for a refresh; multicall is tried again at most
   * {@link MULTICALL_RETRY_MS} from now.
   *
   * @throws {StateError} when the value is malformed; nothing is changed then.
   */
  restoreState(value: unknown): void {
    if (!isRecord(value)) throw new StateError('the collector state should be an object');
    const now = this.#clock();
    const specs = value['specs'] === undefined ? undefined : [...stateStrings(value['specs'], 'the process names')];
    const learnedAt = specs === undefined ? undefined : stateTime(value['learnedAt'], 'the learning time');
    let names: Map<string, string[]> | undefined;
    const saved = value['names'];
    if (saved !== undefined) {
      if (!isRecord(saved)) throw new StateError('the name map should be an object');
      const wanted = stateStrings(saved['wanted'], 'the wanted names');
      const map = new Map<string, string[]>();
      stateArray(saved['map'], 'the name map').forEach((entry, i) => {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
          throw new StateError(`name map entry ${i} is not [name, ["group:name", ...]]`);
        }
        map.set(entry[0], [...stateStrings(entry[1], `name map entry ${i}`)]);
      });
      const mine = this.#wanted;
      if (mine !== undefined && wanted.length === mine.length && wanted.every((name) => mine.includes(name))) names = map;
      else this.#debug('collection: the saved name map is for other names: the next run lists everything');
    }
    const retry = value['multicallRetryAt'] === undefined ? undefined : stateTime(value['multicallRetryAt'], 'the multicall retry time');
    const logWanted = value['logWanted'] ?? false;
    if (typeof logWanted !== 'boolean') throw new StateError('logWanted should be true or false');
    this.#specs = specs;
    this.#sharedNames = sharedNames(specs ?? []);
    this.#logWanted = logWanted;
    this.#names = specs === undefined ? undefined : names;
    this.#learnedAt = learnedAt === undefined || learnedAt > now ? -Infinity : learnedAt;
    if (retry !== undefined && retry > now) this.#multicallRetryAt = Math.min(retry, now + MULTICALL_RETRY_MS);
  }

  #stale(now: number): boolean {
    return now - this.#learnedAt >= this.#config.nameRefreshMs;
  }

  /** Whether a full listing costs the server enough to keep it out of the runs. */
  #listingIsCostly(): boolean {
    const count = this.#specs?.length;
    if (count === undefined) return true;
    if (this.#wanted === undefined) return this.#shardCount(count) > 1;
    return count >= SHARD_MIN_PROCESSES;
  }

  /**
   * A listing that learns the names. It is marked long (may run to
   * `listing_timeout`, see `check.ts`) when the size of the server is
   * unknown, or when it is large and runs do not usually list it (`long`
   * false: the listing is every run's collection, bounded by `timeout`).
   */
  #listingPlan(usual: boolean): ListingPlan {
    const count = this.#specs?.length;
    const long = count === undefined || (!usual && count >= SHARD_MIN_PROCESSES);
    const describe = this.#wanted === undefined ? 'collection: full listing' : `collection: full listing to learn the groups of ${this.#wanted.length} names`;
    return { kind: 'listing', long, describe };
  }

  #plan(now: number): Plan {
    const wanted = this.#wanted;
    if (wanted === undefined) {
      const specs = this.#specs;
      const k = specs === undefined ? 1 : this.#shardCount(specs.length);
      if (specs === undefined || k < 2) return this.#listingPlan(true);
      const batches = this.#shardBatches(specs, k);
      return { kind: 'sharded', batches, describe: `collection: ${specs.length} processes by name in ${batches.length} parallel multicalls` };
    }
    // Relist in the run when there is nothing to go on, or when the names are due and a listing is cheap (else refresh() does it).
    if (this.#names === undefined || (this.#stale(now) && !this.#listingIsCostly())) return this.#listingPlan(false);
    const names = this.#names;
    const specs = wanted.flatMap((name) => names.get(name) ?? []);
    // A wanted name the last listing did not have is asked as it is: that finds
    // a program added since outside any [group:x] (its group is its name); a
    // BAD_NAME for it is the expected answer, not a stale map.
    const probes = wanted.filter((name) => !names.has(name));
    return {
      kind: 'selective',
      specs: [...specs, ...probes],
      probes: probes.length,
      describe: `collection: ${specs.length} processes by name${probes.length === 0 ? '' : `, ${probes.length} wanted name${probes.length === 1 ? '' : 's'} not seen yet`}`,
    };
  }

  /**
   * The reference's sequence: process information (stopping at the first
   * failure), then, only when it was read and is a valid list, the version
   * and the state.
   */
  async #separately(client: CollectClient, plan: ListingPlan | SelectivePlan, now: number): Promise<Collected> {
    const processCalls = processCallsOf(plan);
    const hints = plan.kind === 'listing' && plan.long ? LISTING : undefined;
    const items: CallOutcome[] = [];
    const firstProbe = plan.kind === 'selective' ? processCalls.length - plan.probes : processCalls.length;
    for (const [i, c] of processCalls.entries()) {
      const outcome = await settle(() => client.call(c.methodName, c.params ?? [], hints));
      items.push(outcome);
      if (!outcome.ok && (i < firstProbe || !isBadName(outcome.error))) break;
    }
    const processInfo = await this.#processInfo(client, plan, items, now);
    if (!processInfo.ok) return { processInfo };
    // Decoded once for the whole run (#withExits and buildRun take it from here).
    const decoded = adoptProcessList(processInfo.value);
    // The reference crashes on a malformed list before asking the version.
    if (!decoded.ok) return { processInfo, decoded };
    const version = await settle(() => client.call(VERSION, []));
    const state = await settle(() => client.call(STATE, []));
    return { processInfo, decoded, version, state };
  }

  /**
   * The process list from the process items. For a full listing, the item
   * itself (learnt from). For selected processes: the
   * first failure other than BAD_NAME is the run's (SHUTDOWN_STATE, a lost
   * connection...); a BAD_NAME means the map is stale, so this run lists
   * everything and relearns; else the structs in full-listing order.
   */
  async #processInfo(client: CollectClient, plan: ListingPlan | SelectivePlan, items: readonly CallOutcome[], now: number): Promise<CallOutcome> {
    if (plan.kind === 'listing') {
      const listing = items[0]!;
      this.#learn(listing, now);
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
    if (stale) return this.#relist(client, now);
    const structs = found;
    structs.sort((a, b) => {
      const x = nameOf(a);
      const y = nameOf(b);
      return compareListingOrder({ group: x.group ?? '', name: x.name ?? '' }, { group: y.group ?? '', name: y.name ?? '' });
    });
    return { ok: true, value: structs };
  }

  /** A name asked by `group:name` is gone: list everything in this run and relearn. */
  async #relist(client: CollectClient, now: number): Promise<CallOutcome> {
    this.#names = undefined;
    this.#relisted = true;
    this.#debug('collection: a process name is gone (BAD_NAME): full listing to relearn the names');
    const listing = await settle(() => client.call(ALL, [], LISTING));
    this.#learn(listing, now);
    return listing;
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

  /**
   * Learns from a full listing asked at `at` (clock ms), unless what is known
   * comes from a later one (a background refresh that started before a
   * relisting ends after it). Items that are not structs with string `name`
   * and `group` are left out (the run's decoding reports them).
   *
   * @returns whether the outcome was a list.
   */
  #learn(listing: CallOutcome, at: number): boolean {
    if (!listing.ok || !Array.isArray(listing.value)) return false;
    if (at < this.#learnedAt) return true;
    this.#learnedFrom = listing.value;
    // The usual listing names the same processes in the same order: what was learnt stands.
    if (this.#specs === undefined || !sameSpecs(this.#specs, listing.value)) {
      const specs: string[] = [];
      for (const item of listing.value) {
        const { name, group } = nameOf(item);
        if (name === undefined || group === undefined) continue;
        specs.push(`${group}:${name}`);
      }
      this.#specs = specs;
      this.#sharedNames = sharedNames(specs);
    }
    if (this.#wanted !== undefined) this.#names = learnNames(listing.value, new Set(this.#wanted));
    this.#learnedAt = at;
    return true;
  }
}

/** A full listing. */
interface ListingPlan {
  kind: 'listing';
  /** It may run to `listing_timeout` (see {@link LISTING}). */
  long: boolean;
  /** For the debug log. */
  describe: string;
}

/** `getProcessInfo` of the wanted processes. */
interface SelectivePlan {
  kind: 'selective';
  specs: string[];
  /** How many of the last `specs` are wanted names not in the map, asked as they are. */
  probes: number;
  describe: string;
}

/** `getProcessInfo` of every known process, in parallel multicalls. */
interface ShardedPlan {
  kind: 'sharded';
  /** One multicall per consecutive slice of the listing's `group:name`s; the last asks the version and the state too. */
  batches: ReadonlyArray<readonly MulticallRequest[]>;
  describe: string;
}

/** One run's process query. */
type Plan = ListingPlan | SelectivePlan | ShardedPlan;

/** Marks a full listing that learns the names of a server of unknown or large size (`check.ts` gives it `listing_timeout`). */
const LISTING: CallHints = Object.freeze({ listing: true });

function processCallsOf(plan: ListingPlan | SelectivePlan): MulticallRequest[] {
  return plan.kind === 'listing' ? [{ methodName: ALL }] : plan.specs.map((spec) => ({ methodName: ONE, params: [spec] }));
}

/**
 * The main log reader's read sizes: its defaults (256 KiB after the offset,
 * 64 KiB of tail), smaller when `max_response_bytes` is small, so that the
 * read never makes the run's multicall too large (an escaped log is up to
 * five times its bytes).
 */
export function mainLogLimits(maxResponseBytes: number): { maxReadBytes: number; tailBytes: number } {
  const budget = Math.max(1024, Math.floor(maxResponseBytes / 16));
  return { maxReadBytes: Math.min(256 * 1024, budget), tailBytes: Math.min(64 * 1024, budget) };
}

function describeReport(reader: MainLogReader): string {
  const report = reader.lastReport;
  if (report === undefined) return 'abandoned';
  if (!report.ok) return `failed: ${report.error ?? ''}`;
  return `${report.bytes} bytes in ${report.calls} call${report.calls === 1 ? '' : 's'}, ${report.eventCount} events${report.gap ? ', after a gap' : ''}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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

/** Whether `specs` are the `group:name` of the structs of `items`, in order (every item a struct with both). */
function sameSpecs(specs: readonly string[], items: readonly unknown[]): boolean {
  if (specs.length !== items.length) return false;
  for (let i = 0; i < items.length; i++) {
    const { name, group } = nameOf(items[i]);
    const spec = specs[i]!;
    if (name === undefined || group === undefined || spec.length !== group.length + 1 + name.length) return false;
    if (spec.charCodeAt(group.length) !== 0x3a || !spec.startsWith(group) || !spec.endsWith(name)) return false;
  }
  return true;
}

/**
 * The names that several `group:name` specs share (the main log names a
 * process without its group, so a line naming one of these is ambiguous).
 * supervisord refuses `:` in group names, so the name follows the first one.
 */
function sharedNames(specs: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const spec of specs) {
    const name = spec.slice(spec.indexOf(':') + 1);
    if (seen.has(name)) shared.add(name);
    seen.add(name);
  }
  return shared;
}
