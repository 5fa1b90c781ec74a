/**
 * The event listener at work: reads supervisord's envelopes from an input
 * stream, applies each to a {@link ListenerState} and answers it on the
 * output stream at once, then does the rest off that path: the JSON line,
 * the snapshot after lost events or a new group, how a run ended, the
 * alert. A snapshot every `resyncMs` checks the state against supervisord's
 * own list.
 *
 * Never slowing supervisord: supervisord sends the next event only after the
 * answer to the previous one, and buffers (then drops the oldest) meanwhile.
 * So the answer is written synchronously in the input's `data` handler, right
 * after the state is updated; everything that does I/O is scheduled after it,
 * and scrapes only read the state.
 *
 * What it costs supervisord, besides one answer per event: one listing per
 * snapshot (one multicall: the marker, `getAllProcessInfo`, `getState`,
 * `getSupervisorVersion`), one snapshot at a time; and the reads of how runs
 * ended, batched: they wait until the input is quiet ({@link END_QUIET_MS},
 * at most {@link END_MAX_WAIT_MS}), since while events are queued
 * supervisord is ahead of them and has usually spawned the process again
 * (and forgotten its exit status); a new start cancels the read; at most
 * {@link END_BATCH} `getProcessInfo` in one multicall, one multicall at a
 * time. Before those, the {@link ExitStatusSource} is asked for the batch
 * (supervisord's main log: one `readLog`, `exit-source.ts`); its calls may
 * ride in a listing's multicall, after the marker, so that the marker
 * places what they read among the events, and the batch then waits for
 * that listing (at most {@link END_MAX_WAIT_MS}).
 *
 * @module
 */

import { XmlRpcFault } from '../../protocol/errors.js';
import type { MulticallRequest } from '../../protocol/xmlrpc-client.js';
import { NameFilter } from '../name-filter.js';
import { decodeProcessList, describeFailure } from '../submissions.js';
import type { CheckClient, ProcessInfo } from '../types.js';
import { EventStreamParser, READY, RESULT_OK } from './event-protocol.js';
import type { EventParserOptions, ParsedItem } from './event-protocol.js';
import { EXITED_TOO_QUICKLY, ListenerState, RESYNC_MARKER_TYPE } from './state.js';
import type { Applied, EndOutcome, Reconciled, RunEnd, RunEndKind, ServerProcess } from './state.js';

/** Default time between two snapshots: 10 minutes. */
export const DEFAULT_RESYNC_MS = 10 * 60 * 1000;
/** After a failed collection the next one comes sooner, at most this late. */
const RETRY_MS = 10_000;
/**
 * No event for this long after a snapshot's answer: supervisord had none
 * queued for us, so every event older than the snapshot has arrived. It
 * sends a queued event one loop turn after our answer; a turn is
 * milliseconds, even with thousands of processes (about 6 ms at 2,000).
 */
export const QUIET_MS = 3000;
/** The longest a snapshot waits for its point (its differences then do not count as drift). */
const SETTLE_MAX_MS = 120_000;
/** No byte for this long after an envelope whose length was unreadable: all of it has arrived. */
const DISCARD_QUIET_MS = 200;
/** Reads of how runs ended wait until no event came for this long... */
export const END_QUIET_MS = 100;
/** ...but no longer than this after the oldest end waiting. */
export const END_MAX_WAIT_MS = 5000;
/** Most `getProcessInfo` calls in one multicall (and most queries in one call of the exit-status source). */
export const END_BATCH = 100;
/** Most ends of runs waiting: beyond it the oldest are settled unread (exit status unknown). */
const END_PENDING_MAX = 10_000;
/** Differences logged one by one after a snapshot; beyond them a count. */
const LOGGED_DIFFERENCES = 10;
/** The state each kind of end leaves a process in. */
const END_STATES: Readonly<Record<RunEndKind, string>> = { exited: 'EXITED', backoff: 'BACKOFF', stopped: 'STOPPED' };
/** Why a snapshot was taken, as the log names it. */
const LISTINGS: Readonly<Record<string, string>> = {
  seed: 'first listing',
  periodic: 'periodic listing',
  'events lost': 'listing after lost events',
  'group added': 'listing after a new group',
};

/** One end of a run whose outcome the listener asks an {@link ExitStatusSource} for. */
export interface ExitQuery {
  /**
   * The end's number: ends are numbered from 1 in the order their events
   * arrived, and asked about in that order, each once (unless too many
   * wait: the oldest are then settled unasked, a gap in the numbers).
   */
  readonly id: number;
  readonly name: string;
  readonly group: string;
  /** `exited` (RUNNING -> EXITED), `backoff` (STARTING -> BACKOFF: an exit before `startsecs`, or a spawn that failed), `stopped` (STOPPING -> STOPPED). */
  readonly kind: RunEndKind;
  /** The pid of the run, when the event had it. */
  readonly pid?: number;
  /** When the event reached the listener, ms since the epoch: supervisord logged the end at or before it. */
  readonly arrivedAt: number;
}

/**
 * What an {@link ExitStatusSource} knows of one end: its exit status (-1 for
 * a signal, as supervisord says, with the signal's name as its log writes
 * it, `SIGKILL`, when known), a spawn that failed (no exit), or nothing.
 */
export type ExitAnswer =
  | { readonly exitstatus: number; readonly signal?: string; readonly coreDumped?: boolean }
  | { readonly spawnFailure: string }
  | undefined;

/**
 * Where the exit status of an end of a run can be found when supervisord's
 * API no longer has it (an exit before `startsecs`, a process already
 * started again), e.g. supervisord's main log (`exited: NAME (exit status
 * 3; not expected)`). Asked first, with at most {@link END_BATCH} queries,
 * one call at a time; what it cannot tell is read from supervisord's API
 * where that still has it.
 */
export interface ExitStatusSource {
  /** One answer per query, in order; a rejection counts as no answer for all. */
  exitStatuses(queries: readonly ExitQuery[]): Promise<readonly ExitAnswer[]>;
  /**
   * Optional: calls to make in a listing's `system.multicall`, after the
   * marker and the listing's own calls (one turn of supervisord's loop), or
   * undefined for none. Asked once per listing, when the client has
   * multicall; {@link ExitStatusSource.snapshotAnswered} follows.
   */
  snapshotCalls?(): readonly MulticallRequest[] | undefined;
  /**
   * Optional: after each listing, the answers of the source's calls (each a
   * value, or an `Error` for a fault; undefined when it had none in this
   * listing, or the multicall failed), with the listing's processes when it
   * was read. Awaited before the listing is applied.
   */
  snapshotAnswered?(answers: readonly unknown[] | undefined, processes?: ReadonlyArray<{ readonly name: string; readonly group: string }>): Promise<void>;
  /**
   * Optional: the listing was applied at its marker, the event numbered
   * `marker.seq` (events are numbered from 1 as they arrive), which arrived
   * after the end numbered `marker.end` (0: none) and before the next;
   * undefined when it was applied elsewhere (no marker came back).
   */
  snapshotPlaced?(marker: { readonly seq: number; readonly end: number } | undefined): void;
  /**
   * Optional: the event numbered `seq`, after the end numbered `lastEnd`,
   * showed that ends after it may have lost ends before them (events lost),
   * or share a name with a new process (a group added).
   */
  breakAfter?(lastEnd: number, seq: number): void;
  /** Optional: a process an event named (its name and group), before the listener asks about any later end. */
  seen?(name: string, group: string): void;
}

/** An unexpected exit, FATAL or BACKOFF, with the exit status when known. */
export interface ListenerAlert {
  readonly name: string;
  readonly group: string;
  readonly from: string;
  readonly to: string;
  /** undefined when unknown: supervisord did not keep it, or it was read too late. */
  readonly exitstatus: number | undefined;
  /** The signal that ended the run (-1), as supervisord's log names it (`SIGKILL`), when known. */
  readonly signal?: string;
  /** supervisord's spawn error (`Exited too quickly ...`, `can't find command ...`), or the empty string. */
  readonly spawnerr: string;
}

/** Options of {@link EventListener}. */
export interface EventListenerOptions {
  /** The state to keep (its config names the server, the filters and the tags). */
  state: ListenerState;
  /** How to reach supervisord for the snapshots and how runs ended. */
  client: CheckClient;
  /** supervisord's envelopes (the listener's stdin). */
  input: NodeJS.ReadableStream;
  /** Where the protocol's answers go (the listener's stdout), and nothing else. */
  output: NodeJS.WritableStream;
  /** Time between two snapshots, ms. Default {@link DEFAULT_RESYNC_MS}. */
  resyncMs?: number;
  /** A line for the operator (stderr). */
  log: (line: string) => void;
  /** One JSON object per applied event, exit status, lost events and snapshot, when JSON lines are wanted. */
  jsonl?: (record: Record<string, unknown>) => void;
  /** Unexpected exits, FATAL, BACKOFF, once their outcome is settled. */
  onAlert?: (alert: ListenerAlert) => void;
  /** Exit statuses supervisord's API cannot give (asked first). Default none. */
  exitSource?: ExitStatusSource;
  /** Limits of the parser. */
  parser?: EventParserOptions;
  /** Milliseconds since the epoch for the JSON lines; default `Date.now`. */
  clock?: () => number;
}

/** An end of a run waiting to be settled. */
interface PendingEnd {
  readonly end: RunEnd;
  /** Alerts to send once settled (the end's own, a FATAL that followed). */
  readonly alerts: Array<{ from: string; to: string }>;
  /** supervisord's API still has its outcome: no newer end or start of the process arrived. */
  apiReadable: boolean;
}

/**
 * One run of the listener, from the first `READY` to the end of the input.
 * {@link EventListener.start} begins it; {@link EventListener.done} resolves
 * when the input ends (supervisord closed it) or {@link EventListener.stop}
 * was called; every timer is released and no call is left in flight.
 */
export class EventListener {
  readonly state: ListenerState;
  readonly #client: CheckClient;
  readonly #input: NodeJS.ReadableStream;
  readonly #output: NodeJS.WritableStream;
  readonly #resyncMs: number;
  readonly #log: (line: string) => void;
  readonly #jsonl: ((record: Record<string, unknown>) => void) | undefined;
  readonly #onAlert: ((alert: ListenerAlert) => void) | undefined;
  readonly #exitSource: ExitStatusSource | undefined;
  readonly #parser: EventStreamParser;
  readonly #clock: () => number;
  readonly #names: NameFilter;
  #stopped = false;
  #resolveDone!: () => void;
  /** Resolves once the input ended or {@link EventListener.stop} was called, and the calls in flight settled. */
  readonly done: Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #quietTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #discardTimer: NodeJS.Timeout | undefined;
  #collecting: Promise<void> | undefined;
  /** Why the snapshot that waits for the current one is wanted. */
  #again: string | undefined;
  /** Lost events are logged once per snapshot: the next one says how many in all. */
  #lostSaid = false;
  readonly #ends: PendingEnd[] = [];
  /** `group:name` -> its last end not settled yet. */
  readonly #lastEnd = new Map<string, PendingEnd>();
  #endTimer: NodeJS.Timeout | undefined;
  #settling: Promise<void> | undefined;
  #lastReadError = '';
  #judging: Promise<void> | undefined;
  #judgeAgain = false;
  #lastJudgeFailure: string | undefined;
  /** The id of the last end queued. */
  #lastEndId = 0;
  /** A listing that carries the exit-status source's calls is under way: reads of ends wait for it (at most END_MAX_WAIT_MS). */
  #placing = false;
  /** The source's calls rode in the listing under way: it waits for their answers. */
  #sourceOwed = false;
  readonly #onData = (chunk: Buffer | string): void => this.#receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onOutputError = (error: Error): void => {
    this.#log(`cannot answer supervisord: ${error.message}`);
    this.stop();
  };

  /** @param options see {@link EventListenerOptions}. */
  constructor(options: EventListenerOptions) {
    this.state = options.state;
    this.#client = options.client;
    this.#input = options.input;
    this.#output = options.output;
    this.#resyncMs = options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.#log = options.log;
    this.#jsonl = options.jsonl;
    this.#onAlert = options.onAlert;
    this.#exitSource = options.exitSource;
    this.#parser = new EventStreamParser(options.parser);
    this.#clock = options.clock ?? Date.now;
    const { config } = options.state;
    this.#names = new NameFilter([...config.procRegex, ...config.procRegexExclude]);
    let resolve!: () => void;
    const ended = new Promise<void>((r) => {
      resolve = r;
    });
    this.#resolveDone = resolve;
    this.done = ended.then(() => this.#settle());
  }

  /** Says READY, starts reading and seeds the state with a first snapshot. */
  start(): void {
    this.#output.on('error', this.#onOutputError);
    this.#input.on('data', this.#onData);
    this.#input.on('end', this.#onEnd);
    this.#input.on('error', this.#onEnd);
    this.#output.write(READY);
    this.#resync('seed');
  }

  /** Ends the listener as if the input had ended. Idempotent. */
  stop(): void {
    this.#end();
  }

  #receive(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#answer(this.#parser.push(chunk));
    if (this.#parser.discarding) {
      // The envelope's length is unknown: it has all arrived once the input is quiet (supervisord waits for the answer).
      if (this.#discardTimer === undefined) this.#discardTimer = setTimeout(() => this.#endDiscard(), DISCARD_QUIET_MS);
      else this.#discardTimer.refresh();
    }
  }

  #endDiscard(): void {
    this.#discardTimer = undefined;
    if (this.#stopped) return;
    const item = this.#parser.endDiscard();
    if (item !== undefined) this.#answer([item]);
  }

  /** Applies and answers envelopes, then schedules their side effects. */
  #answer(items: readonly ParsedItem[]): void {
    if (items.length === 0) return;
    const applied: Applied[] = [];
    for (const item of items) {
      applied.push(item.ok ? this.state.apply(item.event) : this.state.applyMalformed(item.malformed));
      // The answer goes as soon as the event is in the state: nothing below may delay it.
      this.#output.write(RESULT_OK);
    }
    // Events are flowing: supervisord may still hold older ones, so the waits for quiet start again.
    this.#quietTimer?.refresh();
    if (this.#endTimer !== undefined && this.#ends.length > 0 && this.#clock() - this.#ends[0]!.end.arrivedAt < END_MAX_WAIT_MS) this.#endTimer.refresh();
    setImmediate(() => {
      for (const a of applied) this.#after(a);
      this.#judgeNames();
    });
  }

  /** The side effects of one applied envelope, after its answer. */
  #after(a: Applied): void {
    if (this.#stopped) return;
    if (a.lost !== undefined) {
      this.#exitSource?.breakAfter?.(this.#lastEndId, a.lost.seq);
      this.#lostEvents(a.lost.pool, a.lost.count, a.lost.next);
    }
    switch (a.kind) {
      case 'malformed':
        this.#log(`malformed event, answered OK so that supervisord does not resend it: ${a.message}`);
        this.#record({ event: 'malformed', message: a.message });
        return;
      case 'transition': {
        const { kind: _kind, end, alert, started, ...record } = a;
        this.#record({ event: 'transition', ...record });
        this.#exitSource?.seen?.(a.name, a.group);
        const key = `${a.group}:${a.name}`;
        const previous = this.#lastEnd.get(key);
        // supervisord keeps the outcome of the last end only, until the next spawn.
        if (previous !== undefined && (started || end !== undefined)) previous.apiReadable = false;
        if (end !== undefined) this.#queueEnd({ end, alerts: alert ? [{ from: a.from, to: a.to }] : [], apiReadable: true });
        else if (alert) {
          // FATAL: its status is the last exit's, once that is settled.
          if (previous !== undefined) previous.alerts.push({ from: a.from, to: a.to });
          else this.#alert(a.name, a.group, a.from, a.to, this.state.exitStatusOf(a.name, a.group), '', this.state.exitSignalOf(a.name, a.group));
        }
        return;
      }
      case 'group':
        this.#record({ event: a.eventname, group: a.group });
        // The group's processes may not start (autostart=false): only a listing shows them.
        if (a.eventname === 'PROCESS_GROUP_ADDED') {
          this.#exitSource?.breakAfter?.(this.#lastEndId, a.seq);
          this.#resync('group added');
        }
        return;
      case 'supervisor':
        this.#record({ event: a.eventname });
        return;
      default:
        if (a.reconciled !== undefined) this.#reconciled(a.reconciled);
        return;
    }
  }

  #record(record: Record<string, unknown>): void {
    if (this.#jsonl === undefined) return;
    try {
      this.#jsonl({ time: new Date(this.#clock()).toISOString(), server: this.state.config.name, ...record });
    } catch (error) {
      this.#log(`cannot write a JSON line: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  #alert(name: string, group: string, from: string, to: string, exitstatus: number | undefined, spawnerr: string, signal?: string): void {
    if (this.#stopped) return;
    this.#onAlert?.({ name, group, from, to, exitstatus, spawnerr, ...(signal === undefined ? {} : { signal }) });
  }

  /** A gap in the pool's serials: supervisord discarded events. A snapshot at once says what they hid. */
  #lostEvents(pool: string, count: number, next: number): void {
    this.#record({ event: 'events_lost', pool, count, next_poolserial: next });
    if (!this.#lostSaid) {
      this.#lostSaid = true;
      this.#log(
        `supervisord discarded ${count} event(s) of pool ${pool} (its buffer_size is too small for this burst; the gap ends at poolserial ${next}): ` +
          'comparing with its process list now',
      );
    }
    this.#resync('events lost');
  }

  /** Logs what a snapshot found, then starts the snapshot that waited for it. */
  #reconciled(r: Reconciled): void {
    this.#lostSaid = false;
    if (this.#placing) {
      this.#placing = false;
      this.#exitSource?.snapshotPlaced?.(r.marker);
    }
    clearTimeout(this.#quietTimer);
    clearTimeout(this.#settleTimer);
    this.#quietTimer = this.#settleTimer = undefined;
    const listing = LISTINGS[r.why] ?? `${r.why} listing`;
    if (!r.seed) {
      this.#record({
        event: 'resync',
        why: r.why,
        point: r.point,
        differences: r.differences.length,
        drift: r.drift,
        events_lost: r.lost,
        restarts_inferred: r.restartsInferred,
        exits_inferred: r.exitsInferred,
      });
      const shown = r.differences.slice(0, LOGGED_DIFFERENCES);
      const more = r.differences.length - shown.length;
      if (r.drift) {
        for (const line of shown) this.#log(`drift found by the ${listing}: ${line}`);
        if (more > 0) this.#log(`drift found by the ${listing}: ${more} more processes differ`);
      } else if (r.lost > 0) {
        this.#log(
          `after ${r.lost} lost event(s), supervisord's list corrected ${r.differences.length} process(es), ` +
            `counted ${r.restartsInferred} restart(s) and ${r.exitsInferred} exit(s) they hid` +
            (shown.length === 0 ? '' : `: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`),
        );
      } else if (r.differences.length > 0) {
        this.#log(`the ${listing} waited too long for its place among the events: ${r.differences.length} difference(s) corrected, not counted as drift`);
      }
    }
    this.#judgeNames();
    this.#next();
  }

  /** A snapshot now, or once the pending one is applied; then the next one `resyncMs` later. */
  #resync(why: string): void {
    if (this.#stopped) return;
    if (this.#collecting !== undefined || this.state.pending !== 'none') {
      this.#again ??= why;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#collecting = this.#collect(why).finally(() => {
      this.#collecting = undefined;
      this.#next();
    });
  }

  /** Starts the snapshot that waited, once none is pending. */
  #next(): void {
    if (this.#stopped || this.#collecting !== undefined || this.state.pending !== 'none' || this.#again === undefined) return;
    const why = this.#again;
    this.#again = undefined;
    this.#resync(why);
  }

  async #collect(why: string): Promise<void> {
    const config = this.state.config;
    const { token } = this.state.beginSnapshot(why, this.#client.multicall !== undefined);
    let failure: string | undefined;
    try {
      const [list, state, version, extra] = await this.#collectCalls(token);
      const decoded = list instanceof Error ? undefined : decodeProcessList(list);
      await this.#answerSource(extra, decoded?.ok === true ? decoded.processes : undefined);
      if (decoded === undefined) throw list;
      if (!decoded.ok) failure = `An error occurred while reading process information: ${decoded.reason}`;
      else if (!this.#stopped) {
        const statename = typeof state === 'object' && state !== null && !(state instanceof Error) ? (state as { statename?: unknown }).statename : undefined;
        const reconciled = this.state.snapshotAnswered({
          processes: decoded.processes,
          ...(typeof statename === 'string' ? { serverState: statename } : {}),
          ...(typeof version === 'string' ? { version } : {}),
          ...serverNow(decoded.processes),
        });
        if (why === 'seed') this.#log(`seeded from ${config.address.display}: ${decoded.processes.length} processes`);
        if (reconciled !== undefined) this.#reconciled(reconciled);
        else if (this.state.pending === 'answered') this.#awaitPoint();
        this.#judgeNames();
      }
    } catch (error) {
      failure = describeFailure(error, config).message;
    }
    if (failure !== undefined) {
      // No marker will place the source's read.
      this.#placing = false;
      await this.#answerSource(undefined);
      this.state.snapshotFailed(failure);
      this.#log(`collection (${why}) failed: ${failure}`);
    }
    if (!this.#stopped) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#resync('periodic'), failure === undefined ? this.#resyncMs : Math.min(this.#resyncMs, RETRY_MS));
      this.#timer.unref();
    }
  }

  /** An answered snapshot waits for its marker, or for the input to be quiet, or at most {@link SETTLE_MAX_MS}. */
  #awaitPoint(): void {
    const settle = (point: 'quiet' | 'timeout'): void => {
      clearTimeout(this.#quietTimer);
      clearTimeout(this.#settleTimer);
      this.#quietTimer = undefined;
      this.#settleTimer = undefined;
      if (this.#stopped) return;
      const r = this.state.settleSnapshot(point);
      if (r === undefined) return;
      if (r.markersOff) {
        this.#log(
          `the marker sent with the ${LISTINGS[r.why] ?? r.why} did not come back: this listener's events= lacks REMOTE_COMMUNICATION, ` +
            'so listings are compared once supervisord holds no event for it (add REMOTE_COMMUNICATION for exact comparisons)',
        );
      }
      this.#reconciled(r);
    };
    clearTimeout(this.#quietTimer);
    clearTimeout(this.#settleTimer);
    this.#quietTimer = setTimeout(() => settle('quiet'), QUIET_MS);
    this.#settleTimer = setTimeout(() => settle('timeout'), SETTLE_MAX_MS);
    this.#quietTimer.unref();
    this.#settleTimer.unref();
  }

  /**
   * Gives the source the listing's processes, and its calls' answers when
   * the listing carried them (also after a stop: it holds its reader until
   * then).
   */
  async #answerSource(answers: unknown[] | undefined, processes?: readonly ServerProcess[]): Promise<void> {
    const owed = this.#sourceOwed;
    this.#sourceOwed = false;
    if (!owed && processes === undefined) return;
    await this.#exitSource?.snapshotAnswered?.(owed ? answers : undefined, processes);
  }

  /**
   * `getAllProcessInfo`, `getState`, `getSupervisorVersion` after the
   * marker (`sendRemoteCommEvent`), in one multicall: supervisord runs them
   * in one turn of its loop, so the marker event is queued exactly where the
   * listing was taken; then the exit-status source's calls, when it has some
   * (its answers are the fourth item). Without multicall, three calls, no
   * marker and none of the source's.
   */
  async #collectCalls(token: string | undefined): Promise<[unknown, unknown, unknown, unknown[] | undefined]> {
    const client = this.#client;
    const methods = ['supervisor.getAllProcessInfo', 'supervisor.getState', 'supervisor.getSupervisorVersion'];
    if (client.multicall !== undefined) {
      const calls: MulticallRequest[] = methods.map((methodName) => ({ methodName, params: [] }));
      if (token !== undefined) calls.unshift({ methodName: 'supervisor.sendRemoteCommEvent', params: [RESYNC_MARKER_TYPE, token] });
      const own = calls.length;
      // Placed by the marker only: without one the source's read cannot be placed among the events.
      const extra = token === undefined ? undefined : this.#exitSource?.snapshotCalls?.();
      if (extra !== undefined) {
        this.#placing = true;
        this.#sourceOwed = true;
        calls.push(...extra);
      }
      const answers = (await client.multicall(calls)) as unknown[];
      const at = token === undefined ? 0 : 1;
      return [answers[at], answers[at + 1], answers[at + 2], extra === undefined ? undefined : answers.slice(own, own + extra.length)];
    }
    const list = await client.call(methods[0]!);
    const rest = await Promise.all(methods.slice(1).map((m) => client.call(m).catch((error: unknown) => error)));
    return [list, rest[0], rest[1], undefined];
  }

  /** Queues an end of a run; the reads wait for a quiet input, see {@link END_QUIET_MS}. */
  #queueEnd(pending: PendingEnd): void {
    this.#lastEndId = pending.end.id;
    this.#ends.push(pending);
    this.#lastEnd.set(`${pending.end.group}:${pending.end.name}`, pending);
    while (this.#ends.length > END_PENDING_MAX) this.#settleOne(this.#ends.shift()!, {});
    if (this.#endTimer === undefined) {
      this.#endTimer = setTimeout(() => this.#flushEnds(), END_QUIET_MS);
      this.#endTimer.unref();
    }
  }

  #flushEnds(): void {
    this.#endTimer = undefined;
    if (this.#stopped || this.#settling !== undefined || this.#ends.length === 0) return;
    // The listing under way places the source's read among the events: the ends before its marker are told better after it.
    if (this.#placing && this.#clock() - this.#ends[0]!.end.arrivedAt < END_MAX_WAIT_MS) {
      this.#endTimer = setTimeout(() => this.#flushEnds(), END_QUIET_MS);
      this.#endTimer.unref();
      return;
    }
    const batch = this.#ends.splice(0, END_BATCH);
    this.#settling = this.#settleBatch(batch).finally(() => {
      this.#settling = undefined;
      if (this.#ends.length > 0 && this.#endTimer === undefined && !this.#stopped) {
        this.#endTimer = setTimeout(() => this.#flushEnds(), END_QUIET_MS);
        this.#endTimer.unref();
      }
    });
  }

  /** The exit-status source first, then supervisord for what it still has: one multicall of getProcessInfo. */
  async #settleBatch(batch: readonly PendingEnd[]): Promise<void> {
    const outcomes: Array<EndOutcome | undefined> = batch.map(() => undefined);
    const source = this.#exitSource;
    if (source !== undefined) {
      const queries = batch.map(
        ({ end }): ExitQuery => ({ id: end.id, name: end.name, group: end.group, kind: end.kind, ...(end.pid === undefined ? {} : { pid: end.pid }), arrivedAt: end.arrivedAt }),
      );
      const answers = await source.exitStatuses(queries).catch(() => []);
      batch.forEach((_, i) => {
        const answer = answers[i];
        if (answer !== undefined) outcomes[i] = answer;
      });
    }
    const toRead = batch.map((_, i) => i).filter((i) => outcomes[i] === undefined && batch[i]!.apiReadable);
    if (toRead.length > 0 && !this.#stopped) {
      const answers = await this.#readEnds(toRead.map((i) => batch[i]!.end));
      toRead.forEach((i, k) => {
        const answer = answers[k];
        if (answer !== undefined) outcomes[i] = outcomeFromApi(batch[i]!.end.kind, answer);
      });
    }
    batch.forEach((p, i) => this.#settleOne(p, outcomes[i] ?? {}));
  }

  /** getProcessInfo of each end's process: its struct, or undefined (gone, or the call failed: said once). */
  async #readEnds(ends: readonly RunEnd[]): Promise<Array<ServerProcess | undefined>> {
    const method = 'supervisor.getProcessInfo';
    let answers: unknown[];
    try {
      if (ends.length === 1 || this.#client.multicall === undefined) {
        answers = [];
        for (const end of ends) answers.push(await this.#client.call(method, [`${end.group}:${end.name}`]).catch((error: unknown) => error));
      } else {
        const calls: MulticallRequest[] = ends.map((end) => ({ methodName: method, params: [`${end.group}:${end.name}`] }));
        answers = (await this.#client.multicall(calls)) as unknown[];
      }
    } catch (error) {
      answers = ends.map(() => error);
    }
    let failure = '';
    const structs = ends.map((_, i): ServerProcess | undefined => {
      const answer = answers[i];
      const decoded = answer instanceof Error ? undefined : decodeProcessList([answer]);
      if (decoded?.ok === true) return decoded.processes[0];
      // A process removed meanwhile answers BAD_NAME: nothing to say about it.
      if (!(answer instanceof XmlRpcFault && answer.faultCode === 10)) failure = answer instanceof Error ? answer.message : 'not a process struct';
      return undefined;
    });
    if (failure !== this.#lastReadError) this.#log(failure === '' ? 'exit statuses can be read again' : `cannot read an exit status: ${failure}`);
    this.#lastReadError = failure;
    return structs;
  }

  /** Settles one end in the state, writes its JSON line and sends its alerts. */
  #settleOne(pending: PendingEnd, outcome: EndOutcome): void {
    const { end } = pending;
    const key = `${end.group}:${end.name}`;
    if (this.#lastEnd.get(key) === pending) this.#lastEnd.delete(key);
    const settled = this.state.settleEnd(end, outcome);
    if (!settled.tracked) return;
    if (settled.exitstatus !== undefined) {
      const signal = settled.signal === undefined ? {} : { signal: settled.signal };
      this.#record({ event: 'exit_status', name: end.name, group: end.group, state: END_STATES[end.kind], exitstatus: settled.exitstatus, ...signal });
    }
    if (settled.spawnFailure !== undefined) this.#record({ event: 'spawn_failure', name: end.name, group: end.group, spawnerr: settled.spawnFailure });
    const spawnerr = settled.spawnFailure ?? (end.kind === 'backoff' ? EXITED_TOO_QUICKLY : '');
    for (const alert of pending.alerts) this.#alert(end.name, end.group, alert.from, alert.to, settled.exitstatus, spawnerr, settled.signal);
  }

  /** Judges the names of new processes against the patterns off the main thread, within the check's timeout. */
  #judgeNames(): void {
    if (this.#stopped) return;
    if (this.#judging !== undefined) {
      this.#judgeAgain = true;
      return;
    }
    const { keys, names } = this.state.namesToJudge();
    if (keys.length === 0) return;
    const deadline = performance.now() + this.state.config.timeoutMs;
    this.#judging = this.#names
      .judge(names, deadline)
      .then((failure) => {
        this.state.namesJudged(keys, failure);
        if (failure !== this.#lastJudgeFailure) this.#log(failure === undefined ? 'process names are judged again' : `cannot filter process names: ${failure}`);
        this.#lastJudgeFailure = failure;
      })
      .finally(() => {
        this.#judging = undefined;
        if (this.#judgeAgain) {
          this.#judgeAgain = false;
          this.#judgeNames();
        }
      });
  }

  #end(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#input.removeListener('data', this.#onData);
    this.#input.removeListener('end', this.#onEnd);
    this.#input.removeListener('error', this.#onEnd);
    // A stream still flowing (stdin) would keep the process alive after a signal.
    this.#input.pause();
    const destroy = (this.#input as { destroy?: () => void }).destroy;
    if (typeof destroy === 'function') destroy.call(this.#input);
    const cut = this.#parser.end();
    if (cut !== undefined) this.#log(`the input ended inside an event: ${cut}`);
    for (const timer of [this.#timer, this.#quietTimer, this.#settleTimer, this.#discardTimer, this.#endTimer]) clearTimeout(timer);
    this.#timer = this.#quietTimer = this.#settleTimer = this.#discardTimer = this.#endTimer = undefined;
    this.#placing = false;
    // Ends not read yet still count (a BACKOFF as an exit); their status stays unknown.
    for (const pending of this.#ends.splice(0)) this.#settleOne(pending, {});
    this.#resolveDone();
  }

  /** Waits for the calls in flight (the client is closed by the owner afterwards). */
  async #settle(): Promise<void> {
    await Promise.allSettled([this.#collecting, this.#settling, this.#judging]);
    await this.#names.close();
    this.#output.removeListener('error', this.#onOutputError);
  }
}

/** supervisord's clock in a listing (the structs' `now`, the latest), when it has one. */
function serverNow(processes: readonly ProcessInfo[]): { now?: number } {
  let now = 0;
  for (const p of processes) now = Math.max(now, p.now);
  return now > 0 ? { now } : {};
}

/**
 * What supervisord's answer says of how a run ended, or undefined when it
 * no longer tells (the process was spawned again: supervisord forgets the
 * status and the spawn error then).
 * - `exited`: still EXITED: its exit status;
 * - `stopped`: still STOPPED after a stop (no spawn error): its exit status;
 * - `backoff`: the spawn error tells an exit before `startsecs` (supervisord
 *   keeps no status for it) from a spawn that failed (no exit at all).
 */
function outcomeFromApi(kind: RunEndKind, s: ServerProcess): EndOutcome | undefined {
  switch (kind) {
    case 'exited':
      return s.statename === 'EXITED' ? { exitstatus: s.exitstatus } : undefined;
    case 'stopped':
      return s.statename === 'STOPPED' && s.spawnerr === '' ? { exitstatus: s.exitstatus } : undefined;
    default:
      if (s.spawnerr === EXITED_TOO_QUICKLY) return {};
      if (s.spawnerr !== '' && (s.statename === 'BACKOFF' || s.statename === 'FATAL' || s.statename === 'STOPPED')) return { spawnFailure: s.spawnerr };
      return undefined;
  }
}
