/**
 * What the event listener knows of one supervisord: every process's state
 * kept from the events, the counts only events can give (transitions, exits,
 * starts), and the result the polling check would give for the same
 * processes. No I/O: the listener feeds it events, collections and exit
 * statuses, and the exporters read {@link ListenerState.result}.
 *
 * Times. The listener is supervisord's child, on the same host: the local
 * clock is the server's. A process's `start` is set when its STARTING event
 * arrives (supervisord records the start time when it spawns, which is when
 * it sends STARTING), so uptimes equal the polling check's and a resync does
 * not move them; `stop` is set by the event that ends a run (EXITED, STOPPED,
 * BACKOFF). Both are whole epoch seconds, as supervisord reports them.
 *
 * @module
 */

import type { ResolvedConfig } from '../config.js';
import { makeProcess } from '../emulator/processes.js';
import { compareListingOrder } from '../process-model.js';
import { CAN_CONNECT, PROCESS_RESTARTS, buildRun, processKey, selectProcesses } from '../submissions.js';
import type { Collected } from '../submissions.js';
import type { CheckResult, Metric, ProcessInfo } from '../types.js';
import type { ListenerEvent, MalformedEvent } from './event-protocol.js';

/** Ours, count: transitions of a process, tagged `from_state` and `to_state`. */
export const PROCESS_TRANSITIONS = 'supervisord.process.transitions';
/** Ours, count: exits of a process (PROCESS_STATE_EXITED), tagged `expected:true|false`. */
export const PROCESS_EXITS = 'supervisord.process.exits';
/** Ours, count: events received by the listener, tagged `eventname`. */
export const LISTENER_EVENTS = 'supervisord.listener.events';
/** Ours, count: envelopes the listener could not read (answered OK all the same). */
export const LISTENER_MALFORMED = 'supervisord.listener.malformed';
/** Ours, count: differences found by the resyncs between the events' state and supervisord's. */
export const LISTENER_DRIFT = 'supervisord.listener.drift';
/** Ours, gauge: seconds between the arrival of the oldest event an export carried and that export. */
export const LISTENER_LAG = 'supervisord.listener.lag';

const STATE_PREFIX = 'PROCESS_STATE_';
const GROUP_ADDED = 'PROCESS_GROUP_ADDED';
const GROUP_REMOVED = 'PROCESS_GROUP_REMOVED';
const SUPERVISOR_RUNNING = 'SUPERVISOR_STATE_CHANGE_RUNNING';
const SUPERVISOR_STOPPING = 'SUPERVISOR_STATE_CHANGE_STOPPING';
const TICK_PERIODS: Readonly<Record<string, number>> = { TICK_5: 5000, TICK_60: 60_000, TICK_3600: 3_600_000 };
const PROCESS_STATE_NAMES = new Set(['STOPPED', 'STARTING', 'RUNNING', 'BACKOFF', 'STOPPING', 'EXITED', 'FATAL', 'UNKNOWN']);
/** Ends of a run whose exit status (or spawn error) only `getProcessInfo` tells. */
const FETCH_AFTER = new Set(['EXITED', 'BACKOFF', 'FATAL', 'STOPPED']);
/**
 * Ticks missed before the events count as stalled: supervisord sends a TICK
 * on time unless its loop is stuck or the listener's pipe is.
 */
const MISSED_TICKS = 3;
/**
 * How long a difference found by a resync may wait for the events that
 * explain it before it counts as drift: supervisord holds back the events
 * it has not sent yet (one per answer), and answers a collection meanwhile.
 */
export const DRIFT_GRACE_MS = 5000;

/** One process as the listener tracks it. */
interface Tracked {
  name: string;
  group: string;
  statename: string;
  start: number;
  stop: number;
  pid: number;
  exitstatus: number;
  spawnerr: string;
  stdout_logfile: string;
  stderr_logfile: string;
  /** Sequence number of the last event that changed it. */
  changedAt: number;
  /** Spawns seen (STARTING events). */
  starts: number;
  /** `from_state|to_state` -> count. */
  transitions: Map<string, number>;
  exitsExpected: number;
  exitsUnexpected: number;
}

/** What applying one envelope did, for the listener's side effects (logs, JSON lines, fetches, alerts). */
export type Applied =
  | {
      readonly kind: 'transition';
      readonly name: string;
      readonly group: string;
      readonly from: string;
      readonly to: string;
      /** PROCESS_STATE_EXITED's `expected` token. */
      readonly expected?: boolean;
      /** The pid of the event, when it has one. */
      readonly pid?: number;
      /** The run ended: `getProcessInfo` tells its exit status. */
      readonly fetchExit: boolean;
      /** Worth an alert: an unexpected exit, FATAL, BACKOFF. */
      readonly alert: boolean;
    }
  | { readonly kind: 'group'; readonly eventname: string; readonly group: string }
  | { readonly kind: 'supervisor'; readonly eventname: string }
  | { readonly kind: 'other'; readonly eventname: string }
  | { readonly kind: 'malformed'; readonly message: string };

/** The part of a process struct a resync or an exit-status fetch brings. */
export type ServerProcess = Pick<ProcessInfo, 'name' | 'group' | 'statename' | 'start' | 'stop' | 'pid' | 'exitstatus' | 'spawnerr' | 'stdout_logfile' | 'stderr_logfile'>;

/** Options of {@link ListenerState}. */
export interface ListenerStateOptions {
  /** Milliseconds since the epoch; default `Date.now`. */
  clock?: () => number;
}

/**
 * The listener's state of one supervisord. Events are applied in arrival
 * order; a resync compares supervisord's answer with the state and replaces
 * what differs, except for the processes an event changed after the resync's
 * request was sent (the event is newer than the answer).
 */
export class ListenerState {
  readonly config: ResolvedConfig;
  readonly #clock: () => number;
  readonly #processes = new Map<string, Tracked>();
  /** Events applied so far (envelopes, malformed ones included): the sequence of the last one. */
  #seq = 0;
  readonly #eventCounts = new Map<string, number>();
  #malformed = 0;
  #drift = 0;
  #serverState: string | undefined;
  #version: string | undefined;
  /** Whether a collection has succeeded once (before that, what resyncs find is the seed, not drift). */
  #seeded = false;
  /**
   * Differences a resync found, not yet confirmed: supervisord may have sent
   * (and be holding back) the events that explain them, since it sends one
   * event per answer. An event for the process clears its entry; one older
   * than {@link DRIFT_GRACE_MS} is drift.
   */
  readonly #suspects = new Map<string, { line: string; at: number }>();
  /** Why the last collection failed, or undefined when it worked. */
  #collectionError: string | undefined;
  #lastEventAt: number | undefined;
  #tickPeriodMs: number | undefined;
  /** Arrival time of event `#arrivalBase + i`, for the lag of each exporter's cursor. */
  #arrivals: number[] = [];
  #arrivalBase = 1;
  readonly #cursors = new Set<{ seq: number }>();

  /**
   * @param config the validated instance: name, tags, filters and status mapping.
   * @param options see {@link ListenerStateOptions}.
   */
  constructor(config: ResolvedConfig, options: ListenerStateOptions = {}) {
    this.config = config;
    this.#clock = options.clock ?? Date.now;
  }

  /** The sequence number of the last applied envelope (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Number of processes tracked (monitored or not). */
  get size(): number {
    return this.#processes.size;
  }

  /**
   * Applies one well-formed envelope.
   *
   * @returns what it did; `malformed` when its payload lacks what its type needs.
   */
  apply(event: ListenerEvent): Applied {
    const now = this.#arrive();
    const { eventname } = event.header;
    this.#eventCounts.set(eventname, (this.#eventCounts.get(eventname) ?? 0) + 1);
    const f = event.fields;
    if (eventname.startsWith(STATE_PREFIX)) {
      const to = eventname.slice(STATE_PREFIX.length);
      const name = f['processname'];
      const group = f['groupname'];
      const from = f['from_state'];
      if (!PROCESS_STATE_NAMES.has(to) || name === undefined || name === '' || group === undefined || group === '' || from === undefined) {
        return this.#bad(`${eventname} (serial ${event.header.serial}) lacks processname, groupname or from_state, or names no state`);
      }
      return this.#transition(name, group, from, to, f, now);
    }
    if (eventname === GROUP_ADDED || eventname === GROUP_REMOVED) {
      const group = f['groupname'];
      if (group === undefined || group === '') return this.#bad(`${eventname} (serial ${event.header.serial}) has no groupname`);
      for (const [key, p] of this.#suspects) if (p.line.startsWith(`${group}:`)) this.#suspects.delete(key);
      if (eventname === GROUP_REMOVED) {
        for (const [key, p] of this.#processes) if (p.group === group) this.#processes.delete(key);
      }
      return { kind: 'group', eventname, group };
    }
    if (eventname === SUPERVISOR_RUNNING || eventname === SUPERVISOR_STOPPING) {
      // STOPPING is sent on shutdown and on reload alike: both refuse every call until the end.
      this.#serverState = eventname === SUPERVISOR_RUNNING ? 'RUNNING' : 'SHUTDOWN';
      return { kind: 'supervisor', eventname };
    }
    const period = TICK_PERIODS[eventname];
    if (period !== undefined) this.#tickPeriodMs = Math.min(period, this.#tickPeriodMs ?? period);
    return { kind: 'other', eventname };
  }

  /** Counts an envelope the parser could not read. */
  applyMalformed(problem: MalformedEvent): Applied {
    this.#arrive();
    return this.#bad(problem.message);
  }

  #bad(message: string): Applied {
    this.#malformed++;
    return { kind: 'malformed', message };
  }

  #arrive(): number {
    const now = this.#clock();
    this.#seq++;
    this.#lastEventAt = now;
    if (this.#cursors.size > 0) this.#arrivals.push(now);
    else this.#arrivalBase = this.#seq + 1;
    return now;
  }

  #transition(name: string, group: string, from: string, to: string, f: Readonly<Record<string, string>>, now: number): Applied {
    const key = `${group}:${name}`;
    this.#suspects.delete(key);
    let p = this.#processes.get(key);
    if (p === undefined) {
      p = newTracked(name, group, from);
      this.#processes.set(key, p);
    }
    const seconds = Math.floor(now / 1000);
    const pid = f['pid'] === undefined ? undefined : Number(f['pid']);
    p.statename = to;
    p.changedAt = this.#seq;
    const pair = `${from}|${to}`;
    p.transitions.set(pair, (p.transitions.get(pair) ?? 0) + 1);
    let expected: boolean | undefined;
    switch (to) {
      case 'STARTING':
        p.start = seconds;
        p.starts++;
        p.spawnerr = '';
        break;
      case 'RUNNING':
        if (pid !== undefined && Number.isSafeInteger(pid)) p.pid = pid;
        break;
      case 'EXITED':
        expected = f['expected'] === '1';
        if (expected) p.exitsExpected++;
        else p.exitsUnexpected++;
        p.stop = seconds;
        p.pid = 0;
        break;
      case 'STOPPED':
      case 'BACKOFF':
        // BACKOFF comes from STARTING when the spawn failed or the child died too early: a run ended.
        p.stop = seconds;
        p.pid = 0;
        break;
      case 'FATAL':
        p.pid = 0;
        break;
      default:
        break;
    }
    const applied: Applied = {
      kind: 'transition',
      name,
      group,
      from,
      to,
      ...(expected === undefined ? {} : { expected }),
      ...(pid === undefined || !Number.isSafeInteger(pid) ? {} : { pid }),
      fetchExit: FETCH_AFTER.has(to),
      alert: (to === 'EXITED' && expected === false) || to === 'FATAL' || to === 'BACKOFF',
    };
    return applied;
  }

  /**
   * Takes supervisord's answer to a collection: the first one seeds the
   * state; later ones replace what differs, except for the processes an
   * event changed after the request was sent (`since`). A difference is a
   * suspect until {@link ListenerState.confirmDrift} finds that no event
   * explained it.
   *
   * @param since {@link ListenerState.seq} when the request was sent.
   * @param processes `getAllProcessInfo`'s answer, decoded.
   * @param serverState `getState`'s statename, when known.
   * @param version `getSupervisorVersion`'s answer, when known.
   */
  resync(since: number, processes: readonly ServerProcess[], serverState?: string, version?: string): void {
    const now = this.#clock();
    const suspect = (key: string, line: string): void => {
      if (this.#seeded) this.#suspects.set(key, { line: `${key}: ${line}`, at: now });
    };
    const seen = new Set<string>();
    for (const s of processes) {
      const key = processKey(s);
      seen.add(key);
      let p = this.#processes.get(key);
      if (p !== undefined && p.changedAt > since) continue;
      if (p === undefined) {
        suspect(key, `${s.statename} in supervisord, unknown to the events`);
        p = newTracked(s.name, s.group, s.statename);
        this.#processes.set(key, p);
      } else if (p.statename !== s.statename) {
        suspect(key, `${s.statename} in supervisord, ${p.statename} from the events`);
      }
      p.statename = s.statename;
      p.start = s.start;
      p.stop = s.stop;
      p.pid = s.pid;
      p.exitstatus = s.exitstatus;
      p.spawnerr = s.spawnerr;
      p.stdout_logfile = s.stdout_logfile;
      p.stderr_logfile = s.stderr_logfile;
    }
    for (const [key, p] of this.#processes) {
      if (seen.has(key) || p.changedAt > since) continue;
      suspect(key, `not in supervisord, ${p.statename} from the events`);
      this.#processes.delete(key);
    }
    if (serverState !== undefined) this.#serverState = serverState;
    if (version !== undefined) this.#version = version;
    this.#seeded = true;
    this.#collectionError = undefined;
  }

  /**
   * Counts as drift the differences found by resyncs that no event has
   * explained within {@link DRIFT_GRACE_MS}.
   *
   * @returns one line per difference confirmed now.
   */
  confirmDrift(): string[] {
    const now = this.#clock();
    const lines: string[] = [];
    for (const [key, s] of this.#suspects) {
      if (now - s.at < DRIFT_GRACE_MS) continue;
      lines.push(s.line);
      this.#suspects.delete(key);
    }
    this.#drift += lines.length;
    return lines;
  }

  /** Whether differences wait for {@link ListenerState.confirmDrift}. */
  get suspects(): number {
    return this.#suspects.size;
  }

  /** Records that a collection failed: `supervisord.can_connect` is CRITICAL with `message` until one works. */
  collectionFailed(message: string): void {
    this.#collectionError = message;
  }

  /**
   * Takes `getProcessInfo`'s answer after the end of a run: the exit status,
   * the spawn error and the stop time. supervisord forgets the exit status
   * when it spawns the process again, so an answer in which the process is
   * already starting or running again tells nothing about the exit: it is
   * ignored (the status of that exit stays unknown). The state itself is
   * left to the events.
   *
   * @returns the exit status taken, or undefined when the answer told none
   *   (or the process is no longer tracked).
   */
  exitInfo(s: ServerProcess): number | undefined {
    const p = this.#processes.get(processKey(s));
    if (p === undefined || !FETCH_AFTER.has(s.statename) || s.stop === 0) return undefined;
    p.exitstatus = s.exitstatus;
    p.spawnerr = s.spawnerr;
    p.stop = s.stop;
    return s.exitstatus;
  }

  /**
   * A cursor for one exporter: {@link ListenerState.result} measures its lag
   * from the oldest event this cursor has not exported yet.
   */
  cursor(): { seq: number } {
    const cursor = { seq: this.#seq };
    if (this.#cursors.size === 0) {
      this.#arrivals = [];
      this.#arrivalBase = this.#seq + 1;
    }
    this.#cursors.add(cursor);
    return cursor;
  }

  /**
   * What the polling check would report for the same processes (the
   * reference's submissions, then ours), with the restart counts of the
   * events, then the listener's own metrics. Count metrics hold totals since
   * the listener started (an exporter turns them into what its format wants).
   *
   * @param cursor the exporter's {@link ListenerState.cursor}; its lag is
   *   measured and it is moved to the last event.
   */
  result(cursor?: { seq: number }): CheckResult {
    const nowMs = this.#clock();
    const now = Math.floor(nowMs / 1000);
    const tracked = [...this.#processes.values()].sort(compareListingOrder);
    const structs = tracked.map((p) =>
      makeProcess(
        {
          name: p.name,
          group: p.group,
          statename: p.statename,
          start: p.start,
          stop: p.stop,
          pid: p.pid,
          exitstatus: p.exitstatus,
          spawnerr: p.spawnerr,
          stdout_logfile: p.stdout_logfile,
          logfile: p.stdout_logfile,
          stderr_logfile: p.stderr_logfile,
        },
        now,
      ),
    );
    const collected: Collected = { processInfo: { ok: true, value: structs } };
    if (this.#version !== undefined) collected.version = { ok: true, value: this.#version };
    if (this.#serverState !== undefined) collected.state = { ok: true, value: { statename: this.#serverState } };
    const { result } = buildRun(this.config, collected);

    const health = this.#health(nowMs);
    if (health !== undefined) {
      const i = result.serviceChecks.findIndex((c) => c.name === CAN_CONNECT);
      result.serviceChecks[i] = { name: CAN_CONNECT, status: 2, tags: [...this.config.instanceTags], message: health };
    }
    const monitored = new Map(selectProcesses(structs, this.config).map((s) => [processKey(s), this.#processes.get(processKey(s))!]));
    for (const metric of result.metrics) {
      if (metric.name !== PROCESS_RESTARTS) continue;
      const p = monitored.get(keyOfTags(metric.tags));
      if (p !== undefined) metric.value = p.starts;
    }
    result.metrics.push(...this.#eventMetrics(monitored.values()));
    result.metrics.push(...this.#listenerMetrics(nowMs, cursor));
    return result;
  }

  /** Why `supervisord.can_connect` is CRITICAL: the last collection failed, or the ticks stopped. */
  #health(nowMs: number): string | undefined {
    if (this.#collectionError !== undefined) return this.#collectionError;
    if (!this.#seeded) return `no answer from ${this.config.target} yet`;
    const period = this.#tickPeriodMs;
    if (period !== undefined && this.#lastEventAt !== undefined && nowMs - this.#lastEventAt > MISSED_TICKS * period) {
      return `no event from supervisord for ${Math.round((nowMs - this.#lastEventAt) / 1000)} s (a TICK is due every ${period / 1000} s)`;
    }
    return undefined;
  }

  #eventMetrics(monitored: Iterable<Tracked>): Metric[] {
    const metrics: Metric[] = [];
    for (const p of monitored) {
      const tags = [...this.config.instanceTags, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
      for (const [pair, n] of p.transitions) {
        const bar = pair.indexOf('|');
        metrics.push({ name: PROCESS_TRANSITIONS, type: 'count', value: n, tags: [...tags, `from_state:${pair.slice(0, bar)}`, `to_state:${pair.slice(bar + 1)}`] });
      }
      metrics.push({ name: PROCESS_EXITS, type: 'count', value: p.exitsExpected, tags: [...tags, 'expected:true'] });
      metrics.push({ name: PROCESS_EXITS, type: 'count', value: p.exitsUnexpected, tags: [...tags, 'expected:false'] });
    }
    return metrics;
  }

  #listenerMetrics(nowMs: number, cursor: { seq: number } | undefined): Metric[] {
    const tags = this.config.instanceTags;
    const metrics: Metric[] = [];
    for (const [eventname, n] of this.#eventCounts) metrics.push({ name: LISTENER_EVENTS, type: 'count', value: n, tags: [...tags, `eventname:${eventname}`] });
    metrics.push({ name: LISTENER_MALFORMED, type: 'count', value: this.#malformed, tags: [...tags] });
    metrics.push({ name: LISTENER_DRIFT, type: 'count', value: this.#drift, tags: [...tags] });
    if (cursor !== undefined) {
      let lag = 0;
      if (cursor.seq < this.#seq) {
        const arrival = this.#arrivals[cursor.seq + 1 - this.#arrivalBase];
        if (arrival !== undefined) lag = Math.max(0, nowMs - arrival) / 1000;
        cursor.seq = this.#seq;
        this.#trimArrivals();
      }
      metrics.push({ name: LISTENER_LAG, type: 'gauge', value: lag, tags: [...tags] });
    }
    return metrics;
  }

  /** Drops the arrival times every cursor has exported. */
  #trimArrivals(): void {
    let oldest = this.#seq;
    for (const c of this.#cursors) oldest = Math.min(oldest, c.seq);
    const drop = oldest + 1 - this.#arrivalBase;
    if (drop > 0) {
      this.#arrivals.splice(0, drop);
      this.#arrivalBase += drop;
    }
  }
}

function newTracked(name: string, group: string, statename: string): Tracked {
  return {
    name,
    group,
    statename,
    start: 0,
    stop: 0,
    pid: 0,
    exitstatus: 0,
    spawnerr: '',
    stdout_logfile: '',
    stderr_logfile: '',
    changedAt: 0,
    starts: 0,
    transitions: new Map(),
    exitsExpected: 0,
    exitsUnexpected: 0,
  };
}

/** `group:name` from a per-process tag list (`..., supervisord_process:<name>, supervisord_group:<group>`). */
function keyOfTags(tags: readonly string[]): string {
  const name = tags[tags.length - 2]!.slice('supervisord_process:'.length);
  const group = tags[tags.length - 1]!.slice('supervisord_group:'.length);
  return `${group}:${name}`;
}
