/**
 * What the event listener knows of one supervisord: every process's state
 * kept from the events, the counts only events can give (transitions, exits,
 * starts), the events supervisord discarded, and the result the polling
 * check would give for the same processes. No I/O: the listener feeds it
 * events, snapshots of supervisord's process list and how runs ended, and
 * the exporters read {@link ListenerState.result}.
 *
 * Times. The listener is supervisord's child, on the same host: the local
 * clock is the server's. A process's `start` is set when its STARTING event
 * arrives (supervisord records the start time when it spawns, which is when
 * it sends STARTING); `stop` by the event that ends a run (EXITED, STOPPED,
 * BACKOFF). Both are whole epoch seconds, as supervisord reports them. A
 * snapshot replaces both with supervisord's own values.
 *
 * Exits. supervisord logs `exited:` for two transitions: RUNNING -> EXITED
 * and STARTING -> BACKOFF when the child died before `startsecs` (a
 * STARTING -> BACKOFF also follows a spawn that failed before any child
 * existed, with no `exited:` line). EXITED counts at once; a BACKOFF counts
 * once {@link ListenerState.settleEnd} says it was an exit (the default when
 * nothing can tell). No event carries an exit status: it is unknown (no
 * sample) until {@link ListenerState.settleEnd} gives one, never the 0 that
 * supervisord's API answers for a status it does not have.
 *
 * Lost events. supervisord numbers the events of each listener pool
 * (`poolserial`) when they enter the pool's buffer and discards the oldest
 * when the buffer is full: a gap in the numbers is events lost, counted
 * here. The listener then asks for a snapshot at once.
 *
 * Snapshots and the point they belong to. supervisord answers a listing
 * while it may still hold events for us (it sends one per answer), so a
 * listing is newer than the events that arrive after it. Each snapshot is
 * applied at the place in the event stream where it is exact:
 * - with a marker: the listener puts `supervisor.sendRemoteCommEvent` in the
 *   same multicall as the listing; both run in one turn of supervisord's
 *   loop, so the REMOTE_COMMUNICATION event ({@link RESYNC_MARKER_TYPE})
 *   sits exactly where the listing was taken. When it arrives every older
 *   event has been applied and no newer one: state and snapshot compare
 *   exactly (processes an event changed after the marker and before the
 *   answer are compared as they were at the marker);
 * - without one (the pool is not subscribed to REMOTE_COMMUNICATION, or the
 *   marker was discarded): once every event older than the listing has
 *   arrived, which is when a TICK newer than the listing arrives, or when
 *   no event came for a while after the answer (supervisord had none
 *   queued); only processes no event changed since the request compare.
 * A difference is drift when no event was lost since the previous snapshot
 * (events the listener should have had told something else); otherwise it
 * is what lost events hid: the state is corrected, and a run the snapshot
 * shows but no event did (another start time or pid) counts as a restart,
 * an end by an exit as an exit. Several restarts hidden between two
 * snapshots count as one, and the end of a run followed by a new one cannot
 * be told apart from a stop: those are lower bounds, and the lost-event
 * count says so.
 *
 * Whose pid is whose. supervisord queues a process's end (EXITED, STOPPED,
 * BACKOFF...) when it reaps the child, before the kernel can give the pid to
 * another process, and sends events in order. So a process that holds a
 * pid the state gives a program, and was forked before the moment up to
 * which every event supervisord queued has arrived (the horizon), is that
 * program's: had its run ended before the fork, its end would have arrived
 * and the state would not give it that pid. The horizon is a TICK's `when`
 * (the start of its period, no later than supervisord queued it), or the
 * sending of a snapshot's request once the snapshot is applied at its
 * marker, at a newer TICK or when the input went quiet. Lost events void
 * it until a snapshot says what they hid. {@link ListenerState.resourceProcesses}
 * gives the resource reader the processes with that proof.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { ResolvedConfig } from '../config.js';
import { ENDED_STATES, EXITED_TOO_QUICKLY, PROCESS_STATES, compareListingOrder, describeProcess } from '../process-model.js';
import { signalNumber } from '../exit-log.js';
import { CAN_CONNECT, PROCESS_DOWNTIME, PROCESS_EXIT_SIGNAL, PROCESS_EXIT_STATUS, PROCESS_RESTARTS } from '../submission-names.js';
import { adoptProcessList, buildRun, processKey, processNames, selectProcesses } from '../submissions.js';
import type { Collected, ExitEvidence } from '../submissions.js';
import type { ResourceProcess } from '../resources/read.js';
import type { CheckResult, Metric, ProcessInfo } from '../types.js';
import type { EventHeader, ListenerEvent, MalformedEvent } from './event-protocol.js';

/** Ours, count: transitions of a process, tagged `from_state` and `to_state`. */
export const PROCESS_TRANSITIONS = 'supervisord.process.transitions';
/**
 * Ours, count: exits of a process (each `exited:` line of supervisord's
 * log: RUNNING -> EXITED, and STARTING -> BACKOFF when the child died before
 * `startsecs`), tagged `expected:true|false`.
 */
export const PROCESS_EXITS = 'supervisord.process.exits';
/** Ours, count: events received by the listener, tagged `eventname`. */
export const LISTENER_EVENTS = 'supervisord.listener.events';
/** Ours, count: envelopes the listener could not read (answered OK all the same). */
export const LISTENER_MALFORMED = 'supervisord.listener.malformed';
/** Ours, count: differences a snapshot found between the events' state and supervisord's that no lost event explains. */
export const LISTENER_DRIFT = 'supervisord.listener.drift';
/** Ours, count: events supervisord discarded before sending them (gaps in `poolserial`). */
export const LISTENER_EVENTS_LOST = 'supervisord.listener.events_lost';
/**
 * Ours, gauge, seconds: between the arrival of the oldest event an export
 * carried and that export (Prometheus: `supervisord_listener_lag_seconds`).
 */
export const LISTENER_LAG = 'supervisord.listener.lag';
/** The `type` of the REMOTE_COMMUNICATION event the listener has supervisord send with each snapshot. */
export const RESYNC_MARKER_TYPE = 'supervisord-check-resync';

/** supervisord's spawn error after a child died before `startsecs` (re-exported for the listener's loop). */
export { EXITED_TOO_QUICKLY };

const STATE_PREFIX = 'PROCESS_STATE_';
const GROUP_ADDED = 'PROCESS_GROUP_ADDED';
const GROUP_REMOVED = 'PROCESS_GROUP_REMOVED';
const REMOTE_COMMUNICATION = 'REMOTE_COMMUNICATION';
const SUPERVISOR_RUNNING = 'SUPERVISOR_STATE_CHANGE_RUNNING';
const SUPERVISOR_STOPPING = 'SUPERVISOR_STATE_CHANGE_STOPPING';
const TICK_PERIODS: Readonly<Record<string, number>> = { TICK_5: 5000, TICK_60: 60_000, TICK_3600: 3_600_000 };
/** States whose pid supervisord sends in the event (STARTING's is not sent: the fork comes after the event). */
const PID_STATES = new Set(['RUNNING', 'STOPPING']);
/**
 * The horizon is taken this much before the moment that proves it: more
 * than the resource reader's slack for a fork "at" its `listedAt` (0.05 s,
 * for the hundredths its clocks count in), so no fork after the true horizon
 * passes.
 */
const HORIZON_MARGIN_MS = 100;
/**
 * Ticks missed before the events count as stalled: supervisord sends a TICK
 * on time unless its loop is stuck or the listener's pipe is.
 */
const MISSED_TICKS = 3;

/** How an event ended a run. */
export type RunEndKind =
  /** RUNNING -> EXITED: an exit, whose status getProcessInfo tells while the process stays EXITED. */
  | 'exited'
  /** STARTING -> BACKOFF: an exit before `startsecs` (status not kept by supervisord), or a spawn that failed. */
  | 'backoff'
  /** STOPPING -> STOPPED: a stop, whose status getProcessInfo tells while the process stays STOPPED. */
  | 'stopped';

/** The end of one run, to be settled with {@link ListenerState.settleEnd}. */
export interface RunEnd {
  /** Unique in this state. */
  readonly id: number;
  readonly kind: RunEndKind;
  readonly name: string;
  readonly group: string;
  /** The pid of the run, when the event had it (EXITED, STOPPED). */
  readonly pid?: number;
  /** PROCESS_STATE_EXITED's `expected` token. */
  readonly expected?: boolean;
  /** When the event arrived, ms since the epoch (supervisord logged the end at or before that). */
  readonly arrivedAt: number;
}

/**
 * How a run ended, as the exit-status source or supervisord told: an exit
 * (status when known; -1 with the signal's name as supervisord logs it,
 * `SIGKILL`, when a signal ended it), or a spawn that failed.
 */
export type EndOutcome =
  | { readonly exitstatus?: number; readonly signal?: string; readonly coreDumped?: boolean }
  | { readonly spawnFailure: string };

/** What a snapshot found, for the listener's log. */
export interface Reconciled {
  readonly why: string;
  /** Where in the event stream it was applied: at its marker, after a TICK newer than it, when the input went quiet, or after the longest wait. */
  readonly point: 'marker' | 'tick' | 'quiet' | 'timeout';
  /** Differences between the events' state and supervisord's, one line each. */
  readonly differences: readonly string[];
  /** The differences were counted as drift (no event lost since the previous snapshot). */
  readonly drift: boolean;
  /** Events lost since the previous snapshot. */
  readonly lost: number;
  /** Restarts the snapshot showed that no event did (counted). */
  readonly restartsInferred: number;
  /** Exits the snapshot showed that no event did (counted). */
  readonly exitsInferred: number;
  /** The snapshot was the first: nothing was compared. */
  readonly seed: boolean;
  /**
   * At a marker only: its {@link ListenerState.seq}, and the
   * {@link RunEnd.id} of the last end of a run that arrived before it (0 for
   * none). Every end numbered up to it was queued by supervisord before the
   * snapshot's calls ran, every later one after them.
   */
  readonly marker?: { readonly seq: number; readonly end: number };
}

/** A gap in a pool's `poolserial`: `count` events discarded by supervisord before the one numbered `next`. */
export interface LostEvents {
  readonly pool: string;
  readonly count: number;
  readonly next: number;
  /** The {@link ListenerState.seq} of the event that showed the gap. */
  readonly seq: number;
}

/** What applying one envelope did, for the listener's side effects (logs, JSON lines, reads, alerts). */
export type Applied = (
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
      /** The run this event ended, whose outcome is to be settled. */
      readonly end?: RunEnd;
      /** Worth an alert: an unexpected exit, FATAL, BACKOFF. */
      readonly alert: boolean;
      /** supervisord starts the process again: what the API says about its previous run is gone. */
      readonly started: boolean;
    }
  | { readonly kind: 'group'; readonly eventname: string; readonly group: string; readonly seq: number }
  | { readonly kind: 'supervisor'; readonly eventname: string }
  | { readonly kind: 'marker'; readonly reconciled?: Reconciled }
  | { readonly kind: 'other'; readonly eventname: string; readonly reconciled?: Reconciled }
  | { readonly kind: 'malformed'; readonly message: string }
) & {
  /** Events supervisord discarded just before this one. */
  readonly lost?: LostEvents;
};

/** The part of a process struct a snapshot or a read of how a run ended brings. */
export type ServerProcess = Pick<ProcessInfo, 'name' | 'group' | 'statename' | 'start' | 'stop' | 'pid' | 'exitstatus' | 'spawnerr' | 'stdout_logfile' | 'stderr_logfile'>;

/** supervisord's answer to a collection. */
export interface Snapshot {
  /** `getAllProcessInfo`, decoded. */
  readonly processes: readonly ServerProcess[];
  /** `getState`'s statename, when known. */
  readonly serverState?: string;
  /** `getSupervisorVersion`'s answer, when known. */
  readonly version?: string;
  /** supervisord's clock when it answered (a struct's `now`), epoch seconds; default the local clock. */
  readonly now?: number;
}

/** Options of {@link ListenerState}. */
export interface ListenerStateOptions {
  /** Milliseconds since the epoch; default `Date.now`. */
  clock?: () => number;
  /**
   * Milliseconds on the monotonic clock of `performance.now()` (the clock of
   * the resource reader's `listedAt`); default `performance.now`.
   */
  monotonic?: () => number;
}

/** One process as the listener tracks it. */
interface Tracked {
  name: string;
  group: string;
  statename: string;
  start: number;
  /** `start` is supervisord's own (from a snapshot), not a STARTING event's arrival. */
  serverStart: boolean;
  stop: number;
  pid: number;
  /** The exit status of the last end of a run, undefined while unknown. */
  exitstatus: number | undefined;
  /** The signal that ended that run, as supervisord's log names it, when known. */
  signal: string | undefined;
  coreDumped: boolean;
  /**
   * supervisord's API answers `exitstatus` for that run too (EXITED, STOPPED
   * after a stop); false after an exit before `startsecs`, whose status only
   * its log keeps (the API then answers 0).
   */
  statusInApi: boolean;
  spawnerr: string;
  stdout_logfile: string;
  stderr_logfile: string;
  /** Sequence number of the last event that changed it. */
  changedAt: number;
  /** Spawns seen (STARTING events) and inferred. */
  starts: number;
  /** `from_state|to_state` -> count. */
  transitions: Map<string, number>;
  exitsExpected: number;
  exitsUnexpected: number;
  /** The id of the last {@link RunEnd} of this process. */
  lastEnd: number;
  /** The run the last snapshot showed (undefined before the first one). */
  base: { start: number; pid: number; stop: number } | undefined;
  /** STARTING events since that snapshot. */
  startsSince: number;
  /** Ends of a run (EXITED, STARTING -> BACKOFF, STOPPED) since that snapshot. */
  endsSince: number;
}

/** What a snapshot compares: a process as the events had it at the snapshot's point, or absent. */
interface View {
  statename: string;
  pid: number;
  startsSince: number;
  endsSince: number;
}

/** A snapshot asked for and not applied yet. */
interface PendingSnapshot {
  readonly why: string;
  /** The marker's data, when a marker was asked for. */
  readonly token: string | undefined;
  /** {@link ListenerState.seq} when the request was sent. */
  readonly sentSeq: number;
  readonly sentAt: number;
  /** The same moment on the monotonic clock. */
  readonly sentMono: number;
  /** Events lost when the request was sent. */
  readonly lostAtSend: number;
  /** {@link ListenerState.seq} when the marker arrived. */
  markerSeq?: number;
  /** Events lost when the marker arrived. */
  lostAtMarker?: number;
  /** The id of the last end of a run when the marker arrived. */
  endAtMarker?: number;
  snapshot?: Snapshot;
  /** Seconds, supervisord's clock: a TICK whose `when` is later was sent after the snapshot. */
  takenBy?: number;
  /** It was the first: applied at once to have a state at all, applied again (still without comparing) at its point. */
  seeding?: boolean;
}

/**
 * The listener's state of one supervisord. Events are applied in arrival
 * order; snapshots at their point (see the module's comment).
 */
export class ListenerState {
  readonly config: ResolvedConfig;
  readonly #clock: () => number;
  readonly #monotonic: () => number;
  /** See the module's comment: on the monotonic clock, undefined before any proof. */
  #horizon: number | undefined;
  readonly #processes = new Map<string, Tracked>();
  /** Events applied so far (envelopes, malformed ones included): the sequence of the last one. */
  #seq = 0;
  readonly #eventCounts = new Map<string, number>();
  #malformed = 0;
  #drift = 0;
  #lost = 0;
  /** Events lost at the last applied snapshot. */
  #lostAtSnapshot = 0;
  /** The last `poolserial` of each pool. */
  readonly #poolSerials = new Map<string, number>();
  #serverState: string | undefined;
  #version: string | undefined;
  /** Whether a snapshot has been applied (before that, what one finds is the seed, not drift). */
  #seeded = false;
  #pending: PendingSnapshot | undefined;
  /** While a marker arrived and its snapshot did not: the processes events changed since, as they were at the marker. */
  readonly #atMarker = new Map<string, View | null>();
  /** Processes removed by an event, at which sequence (a snapshot taken before must not bring them back). */
  readonly #removedAt = new Map<string, number>();
  /** Groups announced by PROCESS_GROUP_ADDED (at which sequence) and not yet in a snapshot: their processes are new, not drift. */
  readonly #announced = new Map<string, number>();
  /** Whether the pool gets our markers: unknown until one arrives or one is shown not to come. */
  #markers: 'unknown' | 'yes' | 'no' = 'unknown';
  #nextToken = 0;
  readonly #tokenPrefix = randomBytes(6).toString('hex');
  #nextEnd = 0;
  /** Why the last collection failed, or undefined when it worked. */
  #collectionError: string | undefined;
  #lastEventAt: number | undefined;
  #lastMalformed = '';
  /** Malformed envelopes since the last readable one. */
  #malformedRun = 0;
  #tickPeriodMs: number | undefined;
  /** Each exporter's cursor: the arrival time of the oldest event it has not exported yet. */
  readonly #cursors = new Set<{ oldest: number | undefined }>();
  /** Keys of the processes whose name every pattern has judged. */
  readonly #judged = new Set<string>();
  /** Keys of tracked processes not judged yet. */
  readonly #toJudge = new Set<string>();
  #judgeFailure: string | undefined;
  readonly #patterns: number;

  /**
   * @param config the validated instance: name, tags, filters and status mapping.
   * @param options see {@link ListenerStateOptions}.
   */
  constructor(config: ResolvedConfig, options: ListenerStateOptions = {}) {
    this.config = config;
    this.#clock = options.clock ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#patterns = config.procRegex.length + config.procRegexExclude.length;
  }

  /** The sequence number of the last applied envelope (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Number of processes tracked (monitored or not). */
  get size(): number {
    return this.#processes.size;
  }

  /** Events supervisord discarded so far (gaps in `poolserial`). */
  get lost(): number {
    return this.#lost;
  }

  /** Whether the pool gets the snapshot markers (`unknown` until one arrives or one is shown not to come). */
  get markers(): 'unknown' | 'yes' | 'no' {
    return this.#markers;
  }

  /**
   * Applies one well-formed envelope.
   *
   * @returns what it did; `malformed` when its payload lacks what its type needs.
   */
  apply(event: ListenerEvent): Applied {
    const now = this.#arrive();
    const lost = this.#gap(event.header);
    const applied = this.#applyEvent(event, now);
    if (applied.kind !== 'malformed') this.#malformedRun = 0;
    return lost === undefined ? applied : { ...applied, lost };
  }

  /** Counts an envelope the parser could not read (its serials still count when its header was read). */
  applyMalformed(problem: MalformedEvent): Applied {
    this.#arrive();
    const lost = problem.header === undefined ? undefined : this.#gap(problem.header);
    const applied = this.#bad(problem.message);
    return lost === undefined ? applied : { ...applied, lost };
  }

  #applyEvent(event: ListenerEvent, now: number): Applied {
    const { eventname } = event.header;
    this.#eventCounts.set(eventname, (this.#eventCounts.get(eventname) ?? 0) + 1);
    const f = event.fields;
    if (eventname.startsWith(STATE_PREFIX)) {
      const to = eventname.slice(STATE_PREFIX.length);
      const name = f['processname'];
      const group = f['groupname'];
      const from = f['from_state'];
      if (!Object.hasOwn(PROCESS_STATES, to) || name === undefined || name === '' || group === undefined || group === '' || from === undefined) {
        return this.#bad(`${eventname} (serial ${event.header.serial}) lacks processname, groupname or from_state, or names no state`);
      }
      return this.#transition(name, group, from, to, f, now);
    }
    if (eventname === GROUP_ADDED || eventname === GROUP_REMOVED) {
      const group = f['groupname'];
      if (group === undefined || group === '') return this.#bad(`${eventname} (serial ${event.header.serial}) has no groupname`);
      if (eventname === GROUP_ADDED) this.#announced.set(group, this.#seq);
      else {
        for (const [key, p] of this.#processes) {
          if (p.group !== group) continue;
          this.#beforeChange(key, p);
          this.#processes.delete(key);
          this.#removedAt.set(key, this.#seq);
          this.#forgetJudged(key);
        }
      }
      return { kind: 'group', eventname, group, seq: this.#seq };
    }
    if (eventname === SUPERVISOR_RUNNING || eventname === SUPERVISOR_STOPPING) {
      // STOPPING is sent on shutdown and on reload alike: both refuse every call until the end.
      this.#serverState = eventname === SUPERVISOR_RUNNING ? 'RUNNING' : 'SHUTDOWN';
      return { kind: 'supervisor', eventname };
    }
    if (eventname === REMOTE_COMMUNICATION && f['type'] === RESYNC_MARKER_TYPE) {
      const pending = this.#pending;
      if (pending?.token !== undefined && event.data === pending.token) {
        this.#markers = 'yes';
        pending.markerSeq = this.#seq;
        pending.lostAtMarker = this.#lost;
        pending.endAtMarker = this.#nextEnd;
        const reconciled = pending.snapshot === undefined ? undefined : this.#applyPending('marker');
        return reconciled === undefined ? { kind: 'marker' } : { kind: 'marker', reconciled };
      }
      // Another listener's marker, or one of ours whose snapshot was given up.
      return { kind: 'other', eventname };
    }
    const period = TICK_PERIODS[eventname];
    if (period !== undefined) {
      this.#tickPeriodMs = Math.min(period, this.#tickPeriodMs ?? period);
      const when = Number(f['when']);
      // Its age on the wall clock at arrival, moved to the monotonic one (which no setting of the wall clock moves later).
      if (Number.isFinite(when)) this.#advanceHorizon(this.#monotonic() - Math.max(0, now - when * 1000));
      const pending = this.#pending;
      // FIFO: a TICK sent after the snapshot arriving first means every older event is in, and the marker is not coming.
      if (pending?.takenBy !== undefined && pending.markerSeq === undefined && Number.isFinite(when) && when > pending.takenBy) {
        return { kind: 'other', eventname, reconciled: this.#applyPending('tick') };
      }
    }
    return { kind: 'other', eventname };
  }

  #bad(message: string): Applied {
    this.#malformed++;
    this.#malformedRun++;
    this.#lastMalformed = message;
    return { kind: 'malformed', message };
  }

  #arrive(): number {
    const now = this.#clock();
    this.#seq++;
    this.#lastEventAt = now;
    for (const cursor of this.#cursors) cursor.oldest ??= now;
    return now;
  }

  /** Checks the pool's numbering: supervisord numbers every event it accepts, a discarded one leaves a gap. */
  #gap(header: EventHeader): LostEvents | undefined {
    const last = this.#poolSerials.get(header.pool);
    this.#poolSerials.set(header.pool, last === undefined ? header.poolserial : Math.max(last, header.poolserial));
    // The first event says nothing of what came before this listener; a number seen again is a resent event.
    if (last === undefined || header.poolserial <= last + 1) return undefined;
    const count = header.poolserial - last - 1;
    this.#lost += count;
    return { pool: header.pool, count, next: header.poolserial, seq: this.#seq };
  }

  /** Before an event changes a process: keeps how it was at the marker, while the marker's snapshot is awaited. */
  #beforeChange(key: string, p: Tracked | undefined): void {
    const pending = this.#pending;
    if (pending?.markerSeq === undefined || pending.snapshot !== undefined || this.#atMarker.has(key)) return;
    this.#atMarker.set(key, p === undefined ? null : view(p));
  }

  #transition(name: string, group: string, from: string, to: string, f: Readonly<Record<string, string>>, now: number): Applied {
    const key = `${group}:${name}`;
    let p = this.#processes.get(key);
    this.#beforeChange(key, p);
    if (p === undefined) {
      p = newTracked(name, group, from);
      this.#processes.set(key, p);
      this.#needsJudging(key);
    }
    const seconds = Math.floor(now / 1000);
    const pidText = f['pid'];
    const pid = pidText === undefined ? undefined : Number(pidText);
    const validPid = pid !== undefined && Number.isSafeInteger(pid) ? pid : undefined;
    p.statename = to;
    p.changedAt = this.#seq;
    const pair = `${from}|${to}`;
    p.transitions.set(pair, (p.transitions.get(pair) ?? 0) + 1);
    let expected: boolean | undefined;
    let endKind: RunEndKind | undefined;
    switch (to) {
      case 'STARTING':
        p.start = seconds;
        p.serverStart = false;
        p.starts++;
        p.startsSince++;
        // supervisord forgets the previous run's exit status and spawn error when it spawns.
        p.spawnerr = '';
        forgetExit(p);
        p.pid = 0;
        break;
      case 'RUNNING':
      case 'STOPPING':
        if (validPid !== undefined) p.pid = validPid;
        break;
      case 'EXITED':
        expected = f['expected'] === '1';
        if (expected) p.exitsExpected++;
        else p.exitsUnexpected++;
        endKind = 'exited';
        break;
      case 'BACKOFF':
        // From STARTING: the child died before startsecs, or could not be spawned (settled later).
        if (from === 'STARTING') endKind = 'backoff';
        p.pid = 0;
        break;
      case 'STOPPED':
        // From BACKOFF (a stop between two attempts) no run ends: the last exit stays the last one.
        if (from === 'STOPPING') endKind = 'stopped';
        break;
      case 'FATAL':
        p.pid = 0;
        break;
      default:
        break;
    }
    let end: RunEnd | undefined;
    if (endKind !== undefined) {
      p.stop = seconds;
      p.pid = 0;
      forgetExit(p);
      p.statusInApi = endKind !== 'backoff';
      p.endsSince++;
      end = {
        id: ++this.#nextEnd,
        kind: endKind,
        name,
        group,
        ...(validPid === undefined ? {} : { pid: validPid }),
        ...(expected === undefined ? {} : { expected }),
        arrivedAt: now,
      };
      p.lastEnd = end.id;
    }
    return {
      kind: 'transition',
      name,
      group,
      from,
      to,
      ...(expected === undefined ? {} : { expected }),
      ...(validPid === undefined ? {} : { pid: validPid }),
      ...(end === undefined ? {} : { end }),
      alert: (to === 'EXITED' && expected === false) || to === 'FATAL' || to === 'BACKOFF',
      started: to === 'STARTING',
    };
  }

  /**
   * Settles how a run ended: a BACKOFF that was an exit counts as one now
   * (a spawn failure does not); the exit status becomes the process's when
   * this end is still its last.
   *
   * @returns the exit status (with the signal, for -1, when known) and
   *   spawn error now known of this end (both undefined when neither is),
   *   and whether the process is still tracked.
   */
  settleEnd(end: RunEnd, outcome: EndOutcome): { exitstatus?: number; signal?: string; spawnFailure?: string; tracked: boolean } {
    const p = this.#processes.get(`${end.group}:${end.name}`);
    if (p === undefined) return { tracked: false };
    const latest = p.lastEnd === end.id;
    if ('spawnFailure' in outcome) {
      if (latest) p.spawnerr = outcome.spawnFailure;
      return { spawnFailure: outcome.spawnFailure, tracked: true };
    }
    if (end.kind === 'backoff') {
      p.exitsUnexpected++;
      if (latest && p.spawnerr === '') p.spawnerr = EXITED_TOO_QUICKLY;
    }
    if (outcome.exitstatus === undefined) return { tracked: true };
    const signal = outcome.exitstatus === -1 ? outcome.signal : undefined;
    if (latest) {
      p.exitstatus = outcome.exitstatus;
      p.signal = signal;
      p.coreDumped = signal !== undefined && outcome.coreDumped === true;
    }
    return { exitstatus: outcome.exitstatus, ...(signal === undefined ? {} : { signal }), tracked: true };
  }

  /** The exit status of a process's last end of a run, undefined while unknown (or not tracked). */
  exitStatusOf(name: string, group: string): number | undefined {
    return this.#processes.get(`${group}:${name}`)?.exitstatus;
  }

  /** The signal that ended a process's last run (`SIGKILL`), when known. */
  exitSignalOf(name: string, group: string): string | undefined {
    return this.#processes.get(`${group}:${name}`)?.signal;
  }

  /**
   * Records that a snapshot is asked for now.
   *
   * @param why for the log (`seed`, `periodic`, `events lost`...).
   * @param withMarker whether the request carries a marker (one multicall
   *   with `sendRemoteCommEvent`): false when the client has no multicall.
   * @returns the marker's data to send with it, or undefined for none (the
   *   pool is known not to get them, or `withMarker` is false).
   * @throws {Error} when a snapshot is still pending (one at a time).
   */
  beginSnapshot(why: string, withMarker: boolean): { token: string | undefined } {
    if (this.#pending !== undefined) throw new Error(`a snapshot (${this.#pending.why}) is still pending`);
    const token = withMarker && this.#markers !== 'no' ? `${this.#tokenPrefix}-${++this.#nextToken}` : undefined;
    this.#pending = { why, token, sentSeq: this.#seq, sentAt: this.#clock(), sentMono: this.#monotonic(), lostAtSend: this.#lost };
    this.#atMarker.clear();
    return { token };
  }

  /** Whether a snapshot was asked for and is not applied yet; `answered` once supervisord's answer is in. */
  get pending(): 'none' | 'asked' | 'answered' {
    if (this.#pending === undefined) return 'none';
    return this.#pending.snapshot === undefined ? 'asked' : 'answered';
  }

  /**
   * Takes supervisord's answer to the pending request. The first one seeds
   * the state at once; a later one is applied at its marker when the marker
   * has arrived, else it waits for it (or for
   * {@link ListenerState.settleSnapshot}).
   *
   * @returns what it found when it was applied now.
   */
  snapshotAnswered(snapshot: Snapshot): Reconciled | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    pending.snapshot = snapshot;
    pending.takenBy = snapshot.now ?? Math.floor(this.#clock() / 1000);
    if (snapshot.serverState !== undefined) this.#serverState = snapshot.serverState;
    if (snapshot.version !== undefined) this.#version = snapshot.version;
    this.#collectionError = undefined;
    if (pending.markerSeq !== undefined) return this.#applyPending('marker');
    if (!this.#seeded) {
      // The first one is applied at once, to have a state at all; again (still without comparing) at its point.
      pending.seeding = true;
      this.#apply(pending, 'quiet', pending.sentSeq, true);
    }
    return undefined;
  }

  /** Gives up the pending request (its collection failed). */
  snapshotFailed(message: string): void {
    this.#pending = undefined;
    this.#atMarker.clear();
    this.#collectionError = message;
  }

  /**
   * Applies the answered snapshot without its marker, once every event
   * older than it has arrived: the input was quiet since the answer
   * (`quiet`), or the wait was too long (`timeout`: differences are then not
   * counted as drift). When no marker came and no event was lost since the
   * request, the pool does not get the markers: later requests send none.
   *
   * @returns what it found, and `markersOff` when this showed that the pool gets no markers; undefined when nothing was pending.
   */
  settleSnapshot(point: 'quiet' | 'timeout'): (Reconciled & { markersOff: boolean }) | undefined {
    const pending = this.#pending;
    if (pending?.snapshot === undefined) return undefined;
    const before = this.#markers;
    const reconciled = this.#applyPending(point);
    return { ...reconciled, markersOff: before !== 'no' && this.#markers === 'no' };
  }

  #applyPending(point: Reconciled['point']): Reconciled {
    const pending = this.#pending!;
    this.#pending = undefined;
    if (point !== 'marker' && pending.token !== undefined && this.#markers === 'unknown' && this.#lost === pending.lostAtSend) this.#markers = 'no';
    const since = point === 'marker' ? pending.markerSeq! : pending.sentSeq;
    // At its point every event queued before the request has arrived; after the longest wait, maybe not.
    if (point !== 'timeout') this.#advanceHorizon(pending.sentMono);
    const reconciled = this.#apply(pending, point, since, pending.seeding === true || !this.#seeded);
    return point === 'marker' ? { ...reconciled, marker: { seq: pending.markerSeq!, end: pending.endAtMarker! } } : reconciled;
  }

  #advanceHorizon(provenAt: number): void {
    const horizon = provenAt - HORIZON_MARGIN_MS;
    if (this.#horizon === undefined || horizon > this.#horizon) this.#horizon = horizon;
  }

  /**
   * Compares a snapshot with the events' state at its point and replaces
   * what differs. At a marker, processes an event changed since the marker
   * are compared as they were then ({@link #atMarker}) and keep the newer
   * event state; otherwise processes an event changed since the request
   * (`since`) are left out.
   */
  #apply(pending: PendingSnapshot, point: Reconciled['point'], since: number, seed: boolean): Reconciled {
    const snapshot = pending.snapshot!;
    const atMarker = point === 'marker';
    const lostNow = atMarker ? pending.lostAtMarker! : this.#lost;
    const lost = lostNow - this.#lostAtSnapshot;
    const byKey = new Map<string, ServerProcess>();
    for (const s of snapshot.processes) byKey.set(processKey(s), s);
    const keys = new Set<string>([...byKey.keys(), ...this.#processes.keys(), ...(atMarker ? this.#atMarker.keys() : [])]);
    const differences: string[] = [];
    let restartsInferred = 0;
    let exitsInferred = 0;
    for (const key of keys) {
      const s = byKey.get(key);
      let p = this.#processes.get(key);
      const changedLater = atMarker ? this.#atMarker.has(key) : (p !== undefined && p.changedAt > since) || (this.#removedAt.get(key) ?? 0) > since;
      if (changedLater && !atMarker) continue;
      const before: View | null = atMarker && this.#atMarker.has(key) ? this.#atMarker.get(key)! : p === undefined ? null : view(p);
      if (!seed) {
        const line = difference(s, before, this.#announced);
        if (line !== undefined) differences.push(`${key}: ${line}`);
      }
      if (s === undefined) {
        if (!changedLater && p !== undefined) {
          this.#processes.delete(key);
          this.#forgetJudged(key);
        }
        continue;
      }
      if (p === undefined) {
        if (changedLater) continue; // removed by an event after the marker
        p = newTracked(s.name, s.group, s.statename);
        this.#processes.set(key, p);
        this.#needsJudging(key);
      }
      const base = p.base;
      /** The listing shows a start or an end no event did. */
      let hidden = false;
      if (!seed && base !== undefined && before !== null) {
        const newRun = (s.start !== base.start && s.start !== 0) || (s.pid !== 0 && s.pid !== base.pid);
        if (newRun && before.startsSince === 0) {
          p.starts++;
          restartsInferred++;
          hidden = true;
        }
        const ended = s.stop !== base.stop && s.stop !== 0;
        if (ended && before.endsSince === 0) hidden = true;
        if (ended && before.endsSince === 0 && exitEnded(s)) {
          if (s.statename === 'EXITED' && s.spawnerr === '') p.exitsExpected++;
          else p.exitsUnexpected++;
          exitsInferred++;
        }
      }
      if (changedLater) {
        // The events since the marker are newer than the snapshot: they stay, counted from it.
        p.startsSince -= before?.startsSince ?? 0;
        p.endsSince -= before?.endsSince ?? 0;
      } else {
        // The run the events last saw end is the one supervisord shows: nothing changed since the last listing, or, with no event
        // lost since, the same state at the listing's point and no start or end the events did not see.
        const sameRun =
          before?.statename === s.statename && ((base !== undefined && base.start === s.start && base.stop === s.stop) || (!seed && lost === 0 && !hidden));
        const inApi = apiExitStatusIsReal(s);
        // What the events and the log told of this run stays; a run the events did not see is as supervisord says.
        if (!sameRun || (inApi && s.exitstatus !== p.exitstatus)) {
          forgetExit(p);
          if (inApi) p.exitstatus = s.exitstatus;
        }
        p.statusInApi = inApi;
        p.statename = s.statename;
        p.start = s.start;
        p.serverStart = true;
        p.stop = s.stop;
        p.pid = s.pid;
        p.spawnerr = s.spawnerr;
        p.stdout_logfile = s.stdout_logfile;
        p.stderr_logfile = s.stderr_logfile;
        p.startsSince = 0;
        p.endsSince = 0;
      }
      p.base = { start: s.start, pid: s.pid, stop: s.stop };
    }
    const drift = !seed && lost === 0 && point !== 'timeout';
    if (drift) this.#drift += differences.length;
    // Without a marker, the processes events changed since the request were left out: what was lost since then is still unexplained for them.
    this.#lostAtSnapshot = atMarker ? lostNow : pending.lostAtSend;
    this.#seeded = true;
    this.#atMarker.clear();
    this.#removedAt.clear();
    // A group announced after the point may be missing from this snapshot: the next one still must not call it drift.
    for (const [group, at] of this.#announced) if (at <= since) this.#announced.delete(group);
    return { why: pending.why, point, differences, drift, lost, restartsInferred, exitsInferred, seed };
  }

  /** Records that a collection failed: `supervisord.can_connect` is CRITICAL with `message` until one works. */
  collectionFailed(message: string): void {
    this.#collectionError = message;
  }

  /** The names of the processes not judged against the patterns yet, with their keys (empty without patterns). */
  namesToJudge(): { keys: string[]; names: string[] } {
    const keys = [...this.#toJudge];
    const structs = keys.map((key) => this.#processes.get(key)).filter((p) => p !== undefined);
    return { keys, names: processNames({ processInfo: { ok: true, value: structs } }) };
  }

  /**
   * Records the verdicts: the processes of `keys` are judged, or, with a
   * `failure`, could not be judged in time (the result then reports it, as
   * the polling check does, and no process, until a later judging works).
   */
  namesJudged(keys: readonly string[], failure?: string): void {
    this.#judgeFailure = failure;
    if (failure !== undefined) return;
    for (const key of keys) {
      this.#toJudge.delete(key);
      if (this.#processes.has(key)) this.#judged.add(key);
    }
  }

  #needsJudging(key: string): void {
    if (this.#patterns > 0) this.#toJudge.add(key);
  }

  #forgetJudged(key: string): void {
    this.#judged.delete(key);
    this.#toJudge.delete(key);
  }

  /**
   * A cursor for one exporter: {@link ListenerState.result} measures its lag
   * from the oldest event this cursor has not exported yet. Its memory does
   * not grow with the events.
   */
  cursor(): { oldest: number | undefined } {
    const cursor = { oldest: undefined };
    this.#cursors.add(cursor);
    return cursor;
  }

  /**
   * What the polling check would report for the same processes (the
   * reference's submissions, then ours), with the restart counts and exit
   * statuses of the events, then the listener's own metrics. Count metrics
   * hold totals since the listener started (an exporter turns them into
   * what its format wants). A process whose name the patterns have not
   * judged yet is left out until they have.
   *
   * @param cursor the exporter's {@link ListenerState.cursor}; its lag is
   *   measured and it is moved to the last event.
   */
  result(cursor?: { oldest: number | undefined }): CheckResult {
    const nowMs = this.#clock();
    const now = Math.floor(nowMs / 1000);
    const visible = this.#visible();
    const structs = visible.map((p) => processRecord(p, now));
    // The structs say what supervisord's API would (0 after an exit before startsecs): what the listener knows of each exit goes as evidence.
    // Decoded here (taken as they are: whole structs), so that buildRun does not copy them again.
    const collected: Collected = { processInfo: { ok: true, value: structs }, decoded: adoptProcessList(structs), exits: exitEvidence(visible) };
    if (this.#version !== undefined) collected.version = { ok: true, value: this.#version };
    if (this.#serverState !== undefined) collected.state = { ok: true, value: { statename: this.#serverState } };
    const { result, monitored: selected } = buildRun(this.config, collected, undefined, this.#judgeFailure);

    const health = this.#health(nowMs);
    if (health !== undefined) {
      const i = result.serviceChecks.findIndex((c) => c.name === CAN_CONNECT);
      result.serviceChecks[i] = { name: CAN_CONNECT, status: 2, tags: [...this.config.instanceTags], message: health };
    }
    const monitored = new Map<string, Tracked>();
    // buildRun's own selection (none when the names could not be judged).
    for (const s of selected ?? []) {
      const key = processKey(s);
      monitored.set(key, this.#processes.get(key)!);
    }
    result.metrics = withEventValues(result.metrics, monitored);
    // Appended one by one: a spread of tens of thousands of metrics would exceed the call stack's argument limit.
    for (const metric of this.#eventMetrics(monitored.values())) result.metrics.push(metric);
    for (const metric of this.#listenerMetrics(nowMs, cursor)) result.metrics.push(metric);
    return result;
  }

  /** The tracked processes whose names are judged, in listing order. */
  #visible(): Tracked[] {
    return [...this.#processes.entries()]
      .filter(([key]) => this.#patterns === 0 || this.#judged.has(key))
      .map(([, p]) => p)
      .sort(compareListingOrder);
  }

  /**
   * The monitored processes that have a pid, for the resource reader
   * (`readProcessResources`), with the proof that the process holding each
   * pid is the program's: `listedAt`, the horizon (see the module's
   * comment), before which such a process must have been forked. `start` is
   * supervisord's when a snapshot gave it for the current run, else 0
   * (unknown: a STARTING event's arrival can be seconds late).
   *
   * @returns no process while there is no horizon yet (nothing proves any
   *   pid), and none with `uncertain` saying why while events lost since
   *   the last snapshot may hide the end of a run whose pid is now another
   *   process's.
   */
  resourceProcesses(): { processes: ResourceProcess[]; listedAt?: number; uncertain?: string } {
    if (this.#lost > this.#lostAtSnapshot) {
      return {
        processes: [],
        // The same words however many were lost: said once, not at every export of a storm.
        uncertain:
          "events supervisord discarded may hide the end of a run whose pid is now another process's: " +
          'resources are not reported until the listing taken for them is applied',
      };
    }
    if (this.#horizon === undefined || this.#judgeFailure !== undefined) return { processes: [] };
    const now = Math.floor(this.#clock() / 1000);
    const running = this.#visible().filter((p) => p.pid > 0);
    const records = running.map((p) => processRecord(p, now));
    const selected = new Set(selectProcesses(records, this.config));
    const processes = running
      .filter((_, i) => selected.has(records[i]!))
      .map((p): ResourceProcess => ({ name: p.name, group: p.group, pid: p.pid, start: p.serverStart ? p.start : 0 }));
    return { processes, listedAt: this.#horizon };
  }

  /** Why `supervisord.can_connect` is CRITICAL: the last collection failed, the events cannot be read, or they stopped. */
  #health(nowMs: number): string | undefined {
    if (this.#collectionError !== undefined) return this.#collectionError;
    if (!this.#seeded) return `no answer from ${this.config.target} yet`;
    if (this.#malformedRun > 0) {
      return `events arrive from supervisord but cannot be read (${this.#malformedRun} in a row, the last: ${this.#lastMalformed})`;
    }
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

  #listenerMetrics(nowMs: number, cursor: { oldest: number | undefined } | undefined): Metric[] {
    const tags = this.config.instanceTags;
    const metrics: Metric[] = [];
    for (const [eventname, n] of this.#eventCounts) metrics.push({ name: LISTENER_EVENTS, type: 'count', value: n, tags: [...tags, `eventname:${eventname}`] });
    metrics.push({ name: LISTENER_MALFORMED, type: 'count', value: this.#malformed, tags: [...tags] });
    metrics.push({ name: LISTENER_EVENTS_LOST, type: 'count', value: this.#lost, tags: [...tags] });
    metrics.push({ name: LISTENER_DRIFT, type: 'count', value: this.#drift, tags: [...tags] });
    if (cursor !== undefined) {
      const lag = cursor.oldest === undefined ? 0 : Math.max(0, nowMs - cursor.oldest) / 1000;
      cursor.oldest = undefined;
      metrics.push({ name: LISTENER_LAG, type: 'gauge', value: lag, tags: [...tags] });
    }
    return metrics;
  }
}

function newTracked(name: string, group: string, statename: string): Tracked {
  return {
    name,
    group,
    statename,
    start: 0,
    serverStart: false,
    stop: 0,
    pid: 0,
    exitstatus: undefined,
    signal: undefined,
    coreDumped: false,
    statusInApi: false,
    spawnerr: '',
    stdout_logfile: '',
    stderr_logfile: '',
    changedAt: 0,
    starts: 0,
    transitions: new Map(),
    exitsExpected: 0,
    exitsUnexpected: 0,
    lastEnd: 0,
    base: undefined,
    startsSince: 0,
    endsSince: 0,
  };
}

/** supervisord forgets a run's exit when it spawns the process again; a new end replaces it. */
function forgetExit(p: Tracked): void {
  p.exitstatus = undefined;
  p.signal = undefined;
  p.coreDumped = false;
  p.statusInApi = false;
}

function view(p: Tracked): View {
  return { statename: p.statename, pid: p.pid, startsSince: p.startsSince, endsSince: p.endsSince };
}

/**
 * A process struct as supervisord would answer it for what the listener
 * knows. Its `exitstatus` is what supervisord's API says (the reference's
 * `Exit Status:` line shows it, as the polling check's does): the known
 * status of a run that EXITED or was STOPPED, else the 0 supervisord
 * answers when it keeps none (an exit before `startsecs`, whose status only
 * its log has; a status not known). No metric takes it from here: see
 * {@link ListenerState.result}.
 */
function processRecord(p: Tracked, now: number): ProcessInfo {
  const state = (PROCESS_STATES as Readonly<Record<string, number>>)[p.statename] ?? PROCESS_STATES.UNKNOWN;
  const info: ProcessInfo = {
    name: p.name,
    group: p.group,
    start: p.start,
    stop: p.stop,
    now,
    state,
    statename: p.statename,
    spawnerr: p.spawnerr,
    exitstatus: p.statusInApi ? (p.exitstatus ?? 0) : 0,
    logfile: p.stdout_logfile,
    stdout_logfile: p.stdout_logfile,
    stderr_logfile: p.stderr_logfile,
    pid: p.pid,
    description: '',
  };
  info.description = describeProcess(info, now);
  return info;
}

/** A difference between supervisord's process and the events' view of it, or undefined when they agree. */
function difference(s: ServerProcess | undefined, before: View | null, announced: ReadonlyMap<string, number>): string | undefined {
  if (s === undefined) return before === null ? undefined : `not in supervisord, ${before.statename} from the events`;
  if (before === null) return announced.has(s.group) ? undefined : `${s.statename} in supervisord, unknown to the events`;
  if (s.statename !== before.statename) return `${s.statename} in supervisord, ${before.statename} from the events`;
  if (PID_STATES.has(s.statename) && before.pid !== 0 && s.pid !== before.pid) return `${s.statename} with pid ${s.pid} in supervisord, pid ${before.pid} from the events`;
  return undefined;
}

/**
 * Whether supervisord's `exitstatus` is a status it observed: EXITED always;
 * STOPPED after a run that a stop ended (a stop between two start attempts
 * leaves the spawn error, and no status). In BACKOFF and FATAL the last end
 * came before `startsecs` or was no exit: supervisord has no status and
 * answers 0.
 */
function apiExitStatusIsReal(s: ServerProcess): boolean {
  return s.statename === 'EXITED' || (s.statename === 'STOPPED' && s.start !== 0 && s.stop !== 0 && s.spawnerr === '');
}

/** Whether the snapshot shows that the run ended by an exit (an `exited:` line), not a stop or a failed spawn. */
function exitEnded(s: ServerProcess): boolean {
  if (s.statename === 'EXITED') return true;
  return (s.statename === 'BACKOFF' || s.statename === 'FATAL' || s.statename === 'STOPPED') && s.spawnerr === EXITED_TOO_QUICKLY;
}

/**
 * The polling check's metrics with the listener's values: restarts are the
 * starts the events saw (and the snapshots inferred); the exit status is
 * the one known of the last end of a run, absent while unknown (what
 * `buildRun` derived from the structs is dropped), followed by the signal's
 * number when a signal ended it and supervisord's log named it, as the
 * polling check orders them.
 */
function withEventValues(metrics: readonly Metric[], monitored: ReadonlyMap<string, Tracked>): Metric[] {
  const out: Metric[] = [];
  let owed: Metric[] | undefined;
  for (const metric of metrics) {
    if (metric.name === PROCESS_EXIT_STATUS || metric.name === PROCESS_EXIT_SIGNAL) continue;
    // A process's exit status goes after its restarts and downtime, as the polling check orders them.
    if (owed !== undefined && !(metric.name === PROCESS_DOWNTIME && sameTags(metric.tags, owed[0]!.tags))) {
      out.push(...owed);
      owed = undefined;
    }
    out.push(metric);
    if (metric.name !== PROCESS_RESTARTS) continue;
    const p = monitored.get(keyOfTags(metric.tags));
    if (p === undefined) continue;
    metric.value = p.starts;
    if (p.exitstatus === undefined || !ENDED_STATES.has(p.statename)) continue;
    owed = [{ name: PROCESS_EXIT_STATUS, type: 'gauge', value: p.exitstatus, tags: [...metric.tags] }];
    const signal = p.signal === undefined ? undefined : signalNumber(p.signal);
    if (signal !== undefined) owed.push({ name: PROCESS_EXIT_SIGNAL, type: 'gauge', value: signal, tags: [...metric.tags] });
  }
  if (owed !== undefined) out.push(...owed);
  return out;
}

const NOT_LEARNT = 'the listener has not learnt how its last run ended (supervisord no longer had it, and its main log did not tell)';

/**
 * What the listener knows of each process's last exit, as the evidence
 * `buildRun` takes from supervisord's main log, so that the result's
 * `processes` and warnings agree with its metrics.
 */
function exitEvidence(processes: readonly Tracked[]): ExitEvidence {
  const byName = new Map<string, Tracked>();
  const sharedNames = new Set<string>();
  for (const p of processes) {
    if (byName.has(p.name)) sharedNames.add(p.name);
    byName.set(p.name, p);
  }
  return {
    lookup: (name) => {
      const p = byName.get(name);
      if (p?.exitstatus === undefined) return { known: false, reason: NOT_LEARNT };
      const signal = p.signal === undefined ? {} : { signal: p.signal, ...(p.coreDumped ? { coreDumped: true } : {}) };
      return { known: true, exit: { kind: 'exited', name, status: p.exitstatus, ...signal, time: '' } };
    },
    sharedNames,
    infoLogged: true,
  };
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** `group:name` from a per-process tag list (`..., supervisord_process:<name>, supervisord_group:<group>`). */
function keyOfTags(tags: readonly string[]): string {
  const name = tags[tags.length - 2]!.slice('supervisord_process:'.length);
  const group = tags[tags.length - 1]!.slice('supervisord_group:'.length);
  return `${group}:${name}`;
}
