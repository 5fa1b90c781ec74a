/**
 * The processes' resources for the listener's exports (`--resources`): the
 * same metrics as the polling check's `collect_resources`, read from this
 * host's `/proc` at each export, for the monitored processes the state gives
 * a pid with its proof ({@link ListenerState.resourceProcesses}).
 *
 * Which supervisord. The pids of the events are those of the supervisord
 * that started the listener; the pids of the snapshots, those of the one its
 * XML-RPC target answers for. They must be the same: the target's
 * `supervisor.getPID` (asked once) must be the listener's parent, or an
 * ancestor when a wrapper (`sh -c`, `npx`) runs it. Otherwise nothing is
 * read, with a warning: pids of one supervisord would be looked up among
 * another's children.
 *
 * Cost. One scan of `/proc` per reading, at most one reading at a time and
 * one per {@link DEFAULT_RESOURCE_INTERVAL_MS}: an export that comes sooner
 * gets the previous reading's samples, however often `/metrics` is scraped.
 *
 * @module
 */

import { performance } from 'node:perf_hooks';

import { ResourceCollector } from '../resources/collector.js';
import type { CollectedResources, ResourceCollectorOptions } from '../resources/collector.js';
import { isUnreadable, readStat } from '../resources/proc-scan.js';
import type { CheckClient, Metric } from '../types.js';
import type { ListenerState } from './state.js';

/** Shortest time between two readings of `/proc`, ms. */
export const DEFAULT_RESOURCE_INTERVAL_MS = 1000;
/** Ancestors looked at, at most: a wrapper or two, never a loop. */
const MAX_ANCESTORS = 32;

/** Options of {@link ListenerResources}. */
export interface ListenerResourcesOptions {
  /** The listener's state (its config gives the tags). */
  state: ListenerState;
  /** The listener's connection to supervisord, for `supervisor.getPID`. */
  client: CheckClient;
  /** Default {@link DEFAULT_RESOURCE_INTERVAL_MS}. */
  minIntervalMs?: number;
  /**
   * For tests: the reader's options (`procRoot`...), and `self`, the pid
   * whose ancestors must include supervisord (default `process.pid`).
   */
  read?: ResourceCollectorOptions['read'] & { self?: number };
}

/** Reads the resources of the listener's processes, one reading at a time. */
export class ListenerResources {
  readonly #state: ListenerState;
  readonly #client: CheckClient;
  readonly #minIntervalMs: number;
  readonly #procRoot: string;
  readonly #self: number;
  readonly #collector: ResourceCollector;
  /** supervisord's pid once shown to be the listener's ancestor, or why it is not (for good). */
  #supervisord: number | { refused: string } | undefined;
  #last: { at: number; metrics: Metric[] } | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** This module's own warnings said by the previous reading. */
  #said = new Set<string>();

  /**
   * @param options see {@link ListenerResourcesOptions}.
   * @throws {TypeError} when `minIntervalMs` is not a number of milliseconds (0 or more).
   */
  constructor(options: ListenerResourcesOptions) {
    const interval = options.minIntervalMs;
    if (interval !== undefined && !(typeof interval === 'number' && Number.isFinite(interval) && interval >= 0)) {
      throw new TypeError(`ListenerResources: 'minIntervalMs' must be a number of milliseconds, 0 or more, got ${String(interval)}`);
    }
    const { self, ...read } = options.read ?? {};
    this.#state = options.state;
    this.#client = options.client;
    this.#minIntervalMs = interval ?? DEFAULT_RESOURCE_INTERVAL_MS;
    this.#procRoot = read.procRoot ?? '/proc';
    this.#self = self ?? process.pid;
    this.#collector = new ResourceCollector({ instanceTags: options.state.config.instanceTags, read });
  }

  /**
   * The resource metrics of the monitored processes now, and the warnings
   * not said by the previous reading. Never rejects for what supervisord or
   * `/proc` do: that is in the warnings.
   */
  collect(): Promise<CollectedResources> {
    const next = this.#queue.then(() => this.#collectOnce());
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #collectOnce(): Promise<CollectedResources> {
    const last = this.#last;
    const startedAt = performance.now();
    if (last !== undefined && startedAt - last.at < this.#minIntervalMs) {
      return { metrics: last.metrics.map((m) => ({ ...m, tags: [...m.tags] })), warnings: [] };
    }
    const own: string[] = [];
    let collected: CollectedResources = { metrics: [], warnings: [] };
    const targets = this.#state.resourceProcesses();
    if (targets.uncertain !== undefined) own.push(targets.uncertain);
    else if (targets.processes.length > 0) {
      const pid = await this.#supervisordPid();
      if (typeof pid === 'string') own.push(pid);
      else {
        collected = await this.#collector.collect(targets.processes, {
          getPid: async () => pid,
          ...(targets.listedAt === undefined ? {} : { listedAt: targets.listedAt }),
        });
      }
    }
    // Timed from its start: no sample older than the interval is served again.
    this.#last = { at: startedAt, metrics: collected.metrics };
    const fresh = own.filter((w) => !this.#said.has(w));
    this.#said = new Set(own);
    return { metrics: collected.metrics.map((m) => ({ ...m, tags: [...m.tags] })), warnings: [...fresh, ...collected.warnings] };
  }

  /** supervisord's pid, asked once and checked to be this listener's ancestor; a string says why not. */
  async #supervisordPid(): Promise<number | string> {
    const known = this.#supervisord;
    if (typeof known === 'number') return known;
    if (known !== undefined) return known.refused;
    let answer: unknown;
    try {
      answer = await this.#client.call('supervisor.getPID', []);
    } catch (error) {
      return `resources are not collected this time: supervisor.getPID failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    const pid = typeof answer === 'bigint' ? Number(answer) : answer;
    const target = this.#state.config.address.display;
    let refused: string;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
      refused = `resources are not collected: ${target} did not answer a process id to supervisor.getPID`;
    } else {
      const chain = ancestors(this.#procRoot, this.#self);
      if (chain.includes(pid)) {
        this.#supervisord = pid;
        return pid;
      }
      refused =
        `resources are not collected: ${target} answers pid ${pid} to supervisor.getPID, which did not start this listener ` +
        `(its parents: ${chain.length === 0 ? 'unreadable' : chain.join(', ')}): the events come from another supervisord, or from none`;
    }
    this.#supervisord = { refused };
    return refused;
  }
}

/** The pids of a process's parent, its parent's parent... as far as `/proc` shows them. */
function ancestors(procRoot: string, pid: number): number[] {
  const chain: number[] = [];
  let at = pid;
  while (chain.length < MAX_ANCESTORS) {
    const stat = readStat(procRoot, at);
    if (stat === 'gone' || isUnreadable(stat) || stat.ppid <= 0 || chain.includes(stat.ppid)) break;
    chain.push(stat.ppid);
    at = stat.ppid;
  }
  return chain;
}
