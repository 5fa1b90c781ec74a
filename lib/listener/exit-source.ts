/**
 * supervisord's main log as the listener's {@link ExitStatusSource}: the
 * exit status of each end of a run, including the exits before `startsecs`
 * whose status supervisord's API no longer has (it answers 0), and the
 * signal that ended a run (`exited: web (terminated by SIGKILL; ...)`).
 *
 * Which line is whose. supervisord writes one line per end of a run (an
 * `exited:` or `stopped:` line, `spawnerr:` for a start that failed before
 * any child existed), naming the process without its group, and queues the
 * end's event in the same turn of its loop; it sends a listener's events in
 * order. So the ends of one process name, in the order their events arrive,
 * are its end lines in log order. The source keeps, per name, a place in
 * the log after which its next end's line is (its cursor), and moves it
 * line by line as the ends are asked for: a crash loop's three BACKOFFs get
 * the three `exited:` lines, each its own status. A cursor is placed:
 * - by a listing's marker (see `listener.ts`): the source's read of the log
 *   rides in the same `system.multicall` as the listing and its
 *   `sendRemoteCommEvent`, all run in one turn of supervisord's loop, so
 *   every end whose event came before the marker has its line before the
 *   read's end, every later one after it. The first end of a name after the
 *   marker takes its first end line after the read's end; the ends before
 *   it, counted back from there (when nothing between could be theirs).
 *   A marker that came back also proves that the log read is that of the
 *   supervisord sending the events;
 * - then by each answer: the next end takes the next end line.
 *
 * Checked at each step, and unknown (undefined) rather than a guess when a
 * check fails: the line was written no later than the event arrived (its
 * time stamp, supervisord's local time, at most `arrivedAt`); a RUNNING ->
 * EXITED end takes an `exited:` line, a stop a `stopped:` line, a STARTING
 * -> BACKOFF an `exited:` line marked `not expected` or a spawn error; the
 * `spawned:` line before a run's end has the event's pid. A `spawnerr:`
 * line that does not name its process (`can't find command '/x'` names the
 * command) may be any process's: a BACKOFF with one before its candidate
 * line is unknown, unless the candidate was written after the event arrived
 * (then the spawn error is the only line that can be its own: a spawn that
 * failed). Unknown also, and the name's cursor forgotten until the next
 * listing places it again: a name several groups have had (the log names a
 * process without its group), a log that could not be read or was not
 * read whole (a rotation, `clearLog`, falling behind: a gap), a log without
 * INFO lines (`loglevel=warn` writes neither `spawned:` nor an expected
 * exit), events lost, a group added (a new process may share a name), ends
 * the listener never asked about.
 *
 * Cost: one `supervisor.readLog` per batch of ends (the reader's bounded
 * reads: what the log gained since the previous read, at most 256 KiB),
 * and one more in a listing's multicall while a cursor needs placing (the
 * first listing, and the next one after any of the above). Memory: at most
 * `maxLines` log lines (spawns, ends, spawn errors) kept until their end
 * arrives, 4,096 unnamed spawn errors, one small record per process name.
 *
 * @module
 */

import { MainLogReader } from '../exit-log.js';
import type { LoggedExit, MainLogAnswer, MainLogCaller, MainLogReaderOptions, MainLogReport, MainLogStep } from '../exit-log.js';
import type { MulticallRequest } from '../../protocol/xmlrpc-client.js';
import type { ExitAnswer, ExitQuery, ExitStatusSource } from './listener.js';

/** Options of {@link MainLogExitSource}. */
export interface MainLogExitSourceOptions {
  /** How to call supervisord (`call`, and `multicall` when it has one). */
  client: MainLogCaller;
  /** The reader's read sizes (see `MainLogReaderOptions`). Defaults: 256 KiB after the offset, 64 KiB of tail. */
  read?: Pick<MainLogReaderOptions, 'maxReadBytes' | 'tailBytes'>;
  /** Most log lines kept until the end they belong to is asked for. Default 50,000. */
  maxLines?: number;
  /** Most process names remembered; beyond them nothing is answered. Default 100,000. */
  maxNames?: number;
  /** A line for the operator: the log cannot be read (once), can again. */
  log?: (line: string) => void;
}

/** One line of the log the source keeps: where it is (positions grow with the log), what it says, when it was written. */
interface Line {
  readonly at: number;
  readonly kind: 'spawned' | 'exited' | 'stopped' | 'spawnerr';
  /** `spawned`: the child's pid. */
  readonly pid?: number;
  /** `exited`, `stopped`: how the run ended. */
  readonly exit?: LoggedExit;
  /** `spawnerr`: supervisord's message. */
  readonly message?: string;
  /** Epoch ms of the time stamp read as local time; NaN when it cannot be. */
  readonly time: number;
}

/** What the source keeps of one process name. */
interface NameState {
  readonly lines: Line[];
  /** Lines before this index were dropped by the bound. */
  head: number;
  /** The position of the last dropped line of this name (-1: none). */
  droppedTo: number;
  /** The position after which this name's next end's line is; undefined while not known. */
  cursor: number | undefined;
  /** The id of the last end of this name asked about (0: none). */
  lastId: number;
  /** Groups seen with this name (in ends asked about and in listings). */
  readonly groups: Set<string>;
}

/** Where ends may be missing: after the end numbered `end`, at the event numbered `seq`. */
interface Break {
  readonly end: number;
  readonly seq: number;
}

/** A listing's read placed among the events. */
interface Alignment {
  /** The id of the last end that arrived before the marker. */
  readonly end: number;
  /** The marker's event number. */
  readonly seq: number;
  /** The position right after the read's last line. */
  readonly at: number;
  /** The lowest position whose lines are continuous with `at` (a gap before it). */
  readonly from: number;
}

const DEFAULT_MAX_LINES = 50_000;
const DEFAULT_MAX_NAMES = 100_000;
const MAX_UNNAMED = 4096;
const MAX_ALIGNMENTS = 4;
/**
 * A line's time stamp may exceed the event's arrival by this much: both
 * come from the same clock (supervisord's `time.time()`, the listener's
 * `Date.now()`) and the line is written before the event is sent; the
 * stamp is cut to the millisecond.
 */
const TIME_SLACK_MS = 10;
/** supervisord's spawn errors that name the process (`process.py`: a fork or pipe that failed). */
const NAMED_SPAWN_ERROR = /^(?:too many open files to spawn|Too many processes in process table to spawn|unknown error making dispatchers for|unknown error during fork for) '([^']+)'/u;

/**
 * The listener's exit statuses from supervisord's main log (see the module
 * comment). Give it to `EventListener` as `exitSource`; the listener calls
 * its hooks. One read at a time: a batch waits for a listing's read.
 */
export class MainLogExitSource implements ExitStatusSource {
  readonly #client: MainLogCaller;
  readonly #reader: MainLogReader;
  readonly #maxLines: number;
  readonly #maxNames: number;
  readonly #log: (line: string) => void;
  readonly #names = new Map<string, NameState>();
  /** Every line kept, oldest first, with its name's record (the bound drops from the front; a line already let go is skipped). */
  readonly #order: Array<{ readonly state: NameState; readonly at: number }> = [];
  #orderHead = 0;
  /** Spawn errors that do not name their process, oldest first. */
  readonly #unnamed: Line[] = [];
  /** The position of the last unnamed spawn error dropped (-1: none). */
  #unnamedDroppedTo = -1;
  /** The next position. */
  #position = 0;
  /** Lines from this position on are continuous: no part of the log between them was missed. */
  #continuousFrom = 0;
  #readOnce = false;
  readonly #alignments: Alignment[] = [];
  #candidate: { at: number; from: number } | undefined;
  #snapshotStep: MainLogStep | undefined;
  /** Places where ends may be missing, not yet passed by the ends asked about, by `end`. */
  readonly #breaks: Break[] = [];
  /** The latest event number of the breaks passed (-1: none). */
  #lastPassedSeq = -1;
  /** The highest id of the ends never asked about (0: none). */
  #lastHole = 0;
  #nextId = 1;
  /** A cursor needs placing: the next listing carries a read. */
  #wanted = true;
  #busy = false;
  readonly #waiters: Array<() => void> = [];
  #lastProblem = '';
  #full = false;

  /** @throws {RangeError} naming an option that is not a positive integer (`read` as `MainLogReader`'s). */
  constructor(options: MainLogExitSourceOptions) {
    this.#client = options.client;
    // This source keeps its own record per name (the events say which end each line belongs to): the reader's own table of last exits is not asked for, so it keeps one name.
    this.#reader = new MainLogReader({ ...options.read, spawnErrors: true, maxNames: 1 });
    this.#maxLines = positive(options.maxLines, DEFAULT_MAX_LINES, 'maxLines');
    this.#maxNames = positive(options.maxNames, DEFAULT_MAX_NAMES, 'maxNames');
    this.#log = options.log ?? (() => {});
  }

  /** One answer per query, in order (see the module comment); never rejects. */
  async exitStatuses(queries: readonly ExitQuery[]): Promise<readonly ExitAnswer[]> {
    await this.#acquire();
    try {
      const report = await this.#reader.read(this.#client);
      this.#ingest(report);
      for (const q of queries) this.#group(q.name, q.group);
      const usable = this.#usable(report);
      const last = queries.reduce((max, q) => Math.max(max, q.id), 0);
      return queries.map((q, i) => this.#answer(q, usable, queries, i, last));
    } finally {
      this.#release();
    }
  }

  /** The calls of a read to put in a listing's multicall, when a cursor needs placing and no read is under way. */
  snapshotCalls(): readonly MulticallRequest[] | undefined {
    if (!this.#wanted || this.#busy) return undefined;
    this.#busy = true;
    this.#snapshotStep = this.#reader.begin();
    return this.#snapshotStep.calls;
  }

  /**
   * After a listing: ends its read with its calls' answers (multicall items:
   * a value, or an `Error` for a fault; undefined when the multicall failed
   * or it carried none). `processes`: the listing, whose names and groups
   * tell names shared by several groups.
   */
  async snapshotAnswered(answers: readonly unknown[] | undefined, processes?: ReadonlyArray<{ readonly name: string; readonly group: string }>): Promise<void> {
    const step = this.#snapshotStep;
    this.#snapshotStep = undefined;
    this.#candidate = undefined;
    for (const p of processes ?? []) this.#group(p.name, p.group);
    if (step === undefined) return;
    try {
      if (answers === undefined) return;
      const report = await this.#reader.resume(this.#client, step, answers.map(toAnswer));
      this.#ingest(report);
      // Follow-up calls ran in later turns of supervisord's loop: the read's end is not the marker's place.
      if (this.#usable(report) && report.calls === step.calls.length) this.#candidate = { at: this.#position, from: this.#continuousFrom };
    } finally {
      this.#release();
    }
  }

  /**
   * The listing was applied at its marker, the event numbered `marker.seq`,
   * after the end numbered `marker.end` (0 for none) and before the next;
   * undefined when it was applied without one (its read cannot be placed).
   */
  snapshotPlaced(marker: { readonly seq: number; readonly end: number } | undefined): void {
    const candidate = this.#candidate;
    this.#candidate = undefined;
    if (candidate === undefined || marker === undefined) return;
    this.#alignments.unshift({ end: marker.end, seq: marker.seq, ...candidate });
    this.#alignments.length = Math.min(this.#alignments.length, MAX_ALIGNMENTS);
    this.#wanted = this.#lastPassedSeq > marker.seq || this.#breaks.some((b) => b.seq > marker.seq);
  }

  /** A process an event named: a name seen in two groups is never matched (the log names a process without its group). */
  seen(name: string, group: string): void {
    this.#group(name, group);
  }

  /**
   * The event numbered `seq`, after the end numbered `lastEnd`: ends after
   * it may lack some before them (events lost), or share a name with a new
   * process (a group added).
   */
  breakAfter(lastEnd: number, seq: number): void {
    let i = this.#breaks.length;
    while (i > 0 && this.#breaks[i - 1]!.end > lastEnd) i--;
    this.#breaks.splice(i, 0, { end: lastEnd, seq });
    this.#wanted = true;
  }

  async #acquire(): Promise<void> {
    while (this.#busy) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#busy = true;
  }

  #release(): void {
    this.#busy = false;
    this.#waiters.shift()?.();
  }

  /** Whether a read's lines can be matched: it worked and the log writes INFO lines. Says why not once. */
  #usable(report: MainLogReport): boolean {
    let problem = '';
    if (!report.ok) problem = `cannot read supervisord's main log (${report.error ?? 'no answer'}): exit statuses it alone has are unknown`;
    else if (!this.#reader.infoLogged) {
      problem = "supervisord's main log has no INFO lines (loglevel warn or higher writes neither starts nor expected exits): exit statuses it alone has are unknown";
    }
    if (problem !== this.#lastProblem) this.#log(problem === '' ? "supervisord's main log is read again" : problem);
    this.#lastProblem = problem;
    if (problem !== '') this.#forgetCursors();
    return problem === '';
  }

  /** Keeps a read's lines, in log order, with their positions. */
  #ingest(report: MainLogReport): void {
    if (!report.ok) return;
    const start = this.#position;
    const errors = report.spawnErrors ?? [];
    let e = 0;
    const spawnError = (): void => {
      const s = errors[e++]!;
      const name = NAMED_SPAWN_ERROR.exec(s.message)?.[1];
      const line: Line = { at: this.#position++, kind: 'spawnerr', message: s.message, time: localTime(s.time) };
      if (name === undefined) this.#keepUnnamed(line);
      else this.#keep(name, line);
    };
    for (const [i, event] of report.events.entries()) {
      while (e < errors.length && errors[e]!.before <= i) spawnError();
      const time = localTime(event.time);
      const at = this.#position++;
      this.#keep(event.name, event.kind === 'spawned' ? { at, kind: 'spawned', pid: event.pid, time } : { at, kind: event.kind, exit: event, time });
    }
    while (e < errors.length) spawnError();
    if (report.gap) {
      // Where in this read the part missed lies is not said: only what comes after it is continuous (the first read excepted: nothing before).
      this.#continuousFrom = this.#readOnce ? this.#position : start;
      this.#forgetCursors();
    }
    this.#readOnce = true;
  }

  #keep(name: string, line: Line): void {
    const state = this.#state(name);
    if (state === undefined) return;
    state.lines.push(line);
    this.#order.push({ state, at: line.at });
    while (this.#order.length - this.#orderHead > this.#maxLines) {
      const { state: oldest, at } = this.#order[this.#orderHead++]!;
      if (oldest.lines[oldest.head]?.at !== at) continue;
      oldest.droppedTo = at;
      letGo(oldest, 1);
    }
    if (this.#orderHead > 1024 && this.#orderHead * 2 > this.#order.length) {
      this.#order.splice(0, this.#orderHead);
      this.#orderHead = 0;
    }
  }

  #keepUnnamed(line: Line): void {
    this.#unnamed.push(line);
    if (this.#unnamed.length > MAX_UNNAMED) this.#unnamedDroppedTo = this.#unnamed.shift()!.at;
  }

  /** The name's record, made when new; undefined past `maxNames` (said once). */
  #state(name: string): NameState | undefined {
    let state = this.#names.get(name);
    if (state !== undefined) return state;
    if (this.#names.size >= this.#maxNames) {
      if (!this.#full) this.#log(`more than ${this.#maxNames} process names: exit statuses of the others are not read from supervisord's main log`);
      this.#full = true;
      return undefined;
    }
    state = { lines: [], head: 0, droppedTo: -1, cursor: undefined, lastId: 0, groups: new Set() };
    this.#names.set(name, state);
    return state;
  }

  #group(name: string, group: string): void {
    this.#state(name)?.groups.add(group);
  }

  #forgetCursors(): void {
    for (const state of this.#names.values()) state.cursor = undefined;
    this.#wanted = true;
  }

  /** Ends may be missing before the one asked about: every cursor is forgotten. */
  #pass(b: Break): void {
    this.#lastPassedSeq = Math.max(this.#lastPassedSeq, b.seq);
    this.#forgetCursors();
  }

  #answer(q: ExitQuery, usable: boolean, batch: readonly ExitQuery[], index: number, last: number): ExitAnswer {
    // Ends the listener never asked about (dropped when too many waited) may be any name's.
    if (q.id !== this.#nextId) {
      this.#lastHole = Math.max(this.#lastHole, q.id - 1);
      this.#forgetCursors();
    }
    while (this.#breaks.length > 0 && this.#breaks[0]!.end < q.id) this.#pass(this.#breaks.shift()!);
    this.#nextId = Math.max(this.#nextId, q.id + 1);
    const state = this.#state(q.name);
    if (state === undefined) return undefined;
    const lastId = state.lastId;
    state.lastId = q.id;
    if (!usable || state.groups.size > 1) {
      state.cursor = undefined;
      return undefined;
    }
    const cursor = state.cursor ?? this.#place(state, q, lastId, batch, index, last);
    const found = cursor === undefined ? undefined : this.#match(state, q, cursor);
    state.cursor = found?.next;
    if (found === undefined) {
      this.#wanted = true;
      return undefined;
    }
    // The lines up to the cursor are answered: only the last is looked at again (the start before a run's end).
    let done = 0;
    while (state.head + done + 1 < state.lines.length && state.lines[state.head + done + 1]!.at <= found.next) done++;
    letGo(state, done);
    return found.answer;
  }

  /**
   * A cursor for a name that has none, from a listing's marker: the end
   * right after the marker starts at the read's end; an end before it is
   * counted back from there, when the batch holds every end up to the
   * marker and no line between could be one of them.
   */
  #place(state: NameState, q: ExitQuery, lastId: number, batch: readonly ExitQuery[], index: number, last: number): number | undefined {
    for (const a of this.#alignments) {
      if (q.id > a.end) {
        // No end of the name between the marker and this one, none missing there.
        if (lastId <= a.end && this.#lastPassedSeq < a.seq && this.#lastHole <= a.end) return a.at - 1;
        continue;
      }
      // Every end up to the marker in this batch, none missing between this one and the marker (the breaks not passed are after this end).
      if (last < a.end || this.#breaks.some((b) => b.seq < a.seq)) continue;
      let later = 0;
      for (let i = index + 1; i < batch.length && batch[i]!.id <= a.end; i++) if (batch[i]!.name === q.name) later++;
      const ends = this.#ends(state, a.at);
      const first = ends[ends.length - 1 - later];
      if (first === undefined || first.at < a.from || first.at <= state.droppedTo || first.at <= this.#unnamedDroppedTo) continue;
      if (this.#unnamed.some((u) => u.at > first.at && u.at < a.at)) continue;
      return first.at - 1;
    }
    return undefined;
  }

  /** The name's end lines (exits, stops, its spawn errors) before position `before`. */
  #ends(state: NameState, before: number): Line[] {
    const out: Line[] = [];
    for (let i = state.head; i < state.lines.length && state.lines[i]!.at < before; i++) if (state.lines[i]!.kind !== 'spawned') out.push(state.lines[i]!);
    return out;
  }

  /** The line of the end `q` after `cursor`, and where the name's cursor goes; undefined when it cannot be told for sure. */
  #match(state: NameState, q: ExitQuery, cursor: number): { answer: ExitAnswer; next: number } | undefined {
    if (cursor < this.#continuousFrom - 1 || cursor < state.droppedTo) return undefined;
    const limit = q.arrivedAt + TIME_SLACK_MS;
    /** The name's line before the one looked at (undefined: none kept). */
    let previous: Line | undefined;
    /** The first start after the cursor: an end that failed to spawn is logged before it. */
    let spawned: Line | undefined;
    for (let i = state.head; i < state.lines.length; i++) {
      const line = state.lines[i]!;
      if (line.at <= cursor || line.kind === 'spawned') {
        if (line.at > cursor) spawned ??= line;
        previous = line;
        continue;
      }
      // The first end line after the cursor: the end's own, unless the end failed to spawn and its line names no process.
      const afterStart = previous?.kind === 'spawned';
      if (q.kind !== 'backoff') {
        // A run's end (a spawn that failed would have been an end asked about before it): the line after its start, whose pid is the event's.
        if (!(line.time <= limit) || line.kind !== q.kind || (previous !== undefined && !afterStart)) return undefined;
        if (afterStart && q.pid !== undefined && previous!.pid !== q.pid) return undefined;
        return { answer: exitAnswer(line.exit!), next: line.at };
      }
      const unnamed = this.#unnamedBetween(cursor, spawned?.at ?? line.at, limit);
      if (unnamed === undefined) return undefined;
      if (line.time <= limit) {
        if (unnamed.length > 0) return undefined;
        if (line.kind === 'spawnerr') return spawned === undefined ? { answer: { spawnFailure: line.message! }, next: line.at } : undefined;
        if (line.kind !== 'exited' || line.exit!.expected !== false || (previous !== undefined && !afterStart)) return undefined;
        return { answer: exitAnswer(line.exit!), next: line.at };
      }
      // Written after the event arrived: the end's own line is before it, and can only be a spawn error that names no process.
      return onlyOne(unnamed);
    }
    const unnamed = q.kind === 'backoff' ? this.#unnamedBetween(cursor, spawned?.at ?? Infinity, limit) : undefined;
    return unnamed === undefined ? undefined : onlyOne(unnamed);
  }

  /** Unnamed spawn errors after `cursor` and before `before`, written by `limit`; undefined when some may have been dropped. */
  #unnamedBetween(cursor: number, before: number, limit: number): Line[] | undefined {
    if (this.#unnamedDroppedTo > cursor) return undefined;
    return this.#unnamed.filter((u) => u.at > cursor && u.at < before && u.time <= limit);
  }
}

/** Lets go of a name's first `count` lines (the array is cut once most of it is let go). */
function letGo(state: NameState, count: number): void {
  state.head += count;
  if (state.head > 64 && state.head * 2 > state.lines.length) {
    state.lines.splice(0, state.head);
    state.head = 0;
  }
}

/** The one unnamed spawn error that can be an end's own line: a spawn that failed. */
function onlyOne(unnamed: readonly Line[]): { answer: ExitAnswer; next: number } | undefined {
  return unnamed.length === 1 ? { answer: { spawnFailure: unnamed[0]!.message! }, next: unnamed[0]!.at } : undefined;
}

function exitAnswer(exit: LoggedExit): ExitAnswer {
  return {
    exitstatus: exit.status,
    ...(exit.signal === undefined ? {} : { signal: exit.signal }),
    ...(exit.coreDumped === true ? { coreDumped: true } : {}),
  };
}

/** A multicall item as the reader takes it. */
function toAnswer(item: unknown): MainLogAnswer {
  return item instanceof Error ? { ok: false, error: item } : { ok: true, value: item };
}

/** `2026-12-06 23:20:17,117` (local time, as supervisord writes it) in epoch ms; NaN when it is no such time. */
function localTime(stamp: string): number {
  const n = (from: number, to: number): number => Number(stamp.slice(from, to));
  return new Date(n(0, 4), n(5, 7) - 1, n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 23)).getTime();
}

function positive(value: number | undefined, fallback: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${field} must be a positive integer, got ${String(value)}`);
  return v;
}
