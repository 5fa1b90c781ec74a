/**
 * supervisord's main log, read over XML-RPC for the exits it records.
 *
 * Why. When a process exits before its `startsecs` (STARTING -> BACKOFF, then
 * FATAL after `startretries`), supervisord sets its exit status to None, and
 * `getProcessInfo` / `getAllProcessInfo` answer `exitstatus: 0` for it (their
 * `process.exitstatus or 0`); every new start attempt sets it to None too.
 * The main log keeps the real value: supervisord's `finish()` (3.x and 4.x)
 * writes one line per exit, naming the process by its `name` only (never its
 * group):
 *
 * ```
 * 2026-12-06 23:20:17,117 WARN exited: quick (exit status 3; not expected)
 * 2026-12-06 23:20:17,117 INFO exited: job (exit status 0; expected)
 * 2026-12-06 23:20:17,117 WARN exited: web (terminated by SIGKILL; not expected)
 * 2026-12-06 23:20:17,117 WARN exited: web (terminated by SIGSEGV (core dumped); not expected)
 * 2026-12-06 23:20:17,117 WARN exited: web (unknown termination cause 0x0100; not expected)
 * 2026-12-06 23:20:17,117 INFO stopped: web (exit status 0)
 * 2026-12-06 23:20:17,117 WARN stopped: web (terminated by SIGTERM)
 * 2026-12-06 23:20:17,117 INFO spawned: 'web' with pid 1234
 * 2026-12-06 23:20:17,117 INFO spawnerr: can't find command '/x'
 * ```
 *
 * (`spawnerr:`, a start that failed before any child existed, no `exited:`
 * line, is reported only with the reader's `spawnErrors` option: most of
 * its messages do not name the process.)
 *
 * A signal death is status -1, as supervisord's own `decode_wait_status`
 * has it; a signal supervisord has no name for is written `signal 42`.
 *
 * `supervisor.readLog(offset, length)`, as supervisord 4.2.5 answers it
 * (`options.readFile`, checked against a real server by the tests):
 * - `offset >= 0`, `length > 0`: up to `length` bytes from `offset`; an empty
 *   string at or past the end (no fault);
 * - `offset < 0`, `length 0`: the last `-offset` bytes (the whole file when it
 *   is shorter);
 * - `offset < 0` with a non-zero `length`, or `length < 0`: fault 3
 *   `BAD_ARGUMENTS`;
 * - `offset >= 0`, `length 0`: everything from `offset` to the end, however
 *   large: never used here;
 * - no log file (`logfile=syslog`, a file removed by hand): fault 20
 *   `NO_FILE: <logfile>`; a log that cannot be sought (`logfile=/dev/stdout`
 *   on a pipe): fault 30 `FAILED`;
 * - the bytes are decoded as UTF-8 strictly: a read whose first or last byte
 *   falls inside a multi-byte character fails (HTTP 500 alone; in a
 *   `system.multicall`, fault 30 `FAILED: <class 'AttributeError'>:type
 *   object 'Faults' has no attribute 'utf-8'`), and a read that succeeds is
 *   exactly the file's bytes, so its UTF-8 length is the bytes read;
 * - log rotation (`logfile_maxbytes`) and `supervisor.clearLog()` start the
 *   file again from its first byte: offsets of the old file mean nothing in
 *   the new one, and what was written between our last read and the rotation
 *   (now in `supervisord.log.1`) cannot be read any more.
 *
 * So the reader ({@link MainLogReader}) keeps, between reads, the byte offset
 * of what it has read and the last bytes before it (the anchor). A read asks
 * for the anchor again followed by what is new: an answer that does not start
 * with the anchor means the file was rotated or truncated. Reads are bounded
 * (`maxReadBytes`); when the offset is not known (first read, after a
 * rotation, or after falling behind) the reader reads the log's last
 * `tailBytes` and finds its place by the anchor, and learns the log's size
 * with one-byte probes folded into those reads (a few reads for a log of
 * gigabytes), after which it reads from the offset again. Whatever it could
 * not read is a gap: the exits remembered before it are forgotten (an exit in
 * the gap could be newer), so that {@link MainLogReader.lastExit} never gives
 * an exit that a later one replaced.
 *
 * @module
 */

import type { MulticallRequest } from '../protocol/xmlrpc-client.js';

// ---------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------

/** How a process ended, as one line of supervisord's main log says. */
export interface LoggedExit {
  /** `exited`: it ended by itself; `stopped`: a stop request ended it. */
  readonly kind: 'exited' | 'stopped';
  /** The process `name` (the log never names its group). */
  readonly name: string;
  /** The exit status (0 to 255); -1 when a signal ended it or the cause was not an exit. */
  readonly status: number;
  /** The signal that ended it, as supervisord names it: `SIGKILL`, or `signal 42`. */
  readonly signal?: string;
  /** The signal dumped core. */
  readonly coreDumped?: boolean;
  /** `exited` only: whether the status is one of the program's `exitcodes` (never for an exit before `startsecs`). */
  readonly expected?: boolean;
  /** The line's time stamp as written, in supervisord's local time: `2026-12-06 23:20:17,117`. */
  readonly time: string;
}

/** A process started (`spawned: 'NAME' with pid N`). */
export interface LoggedSpawn {
  readonly kind: 'spawned';
  readonly name: string;
  readonly pid: number;
  readonly time: string;
}

/** A line of the main log that the reader understands. */
export type MainLogEvent = LoggedExit | LoggedSpawn;

const SPACE = 0x20;
/** `YYYY-MM-DD HH:MM:SS,mmm`, then a space, the 4-letter level (`WARN`, `INFO`...) and a space. */
const TIME_LENGTH = 23;
const MESSAGE_START = TIME_LENGTH + 6;
/** Where a digit is expected in the time stamp; the other positions hold `- - space : : ,`. */
const TIME_SEPARATORS: ReadonlyMap<number, number> = new Map([
  [4, 0x2d],
  [7, 0x2d],
  [10, SPACE],
  [13, 0x3a],
  [16, 0x3a],
  [19, 0x2c],
]);

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function hasTimestamp(line: string): boolean {
  for (let i = 0; i < TIME_LENGTH; i++) {
    const code = line.charCodeAt(i);
    const separator = TIME_SEPARATORS.get(i);
    if (separator === undefined ? !isDigit(code) : code !== separator) return false;
  }
  if (line.charCodeAt(TIME_LENGTH) !== SPACE || line.charCodeAt(MESSAGE_START - 1) !== SPACE) return false;
  for (let i = TIME_LENGTH + 1; i < MESSAGE_START - 1; i++) {
    const code = line.charCodeAt(i);
    if (code < 0x41 || code > 0x5a) return false; // A-Z
  }
  return true;
}

/** Digits only, at most `maxDigits` of them, as a number; undefined otherwise. */
function digits(text: string, maxDigits: number): number | undefined {
  if (text.length === 0 || text.length > maxDigits) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) return undefined;
    value = value * 10 + (code - 0x30);
  }
  return value;
}

function isHex(text: string): boolean {
  if (text.length === 0 || text.length > 8) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i) | 0x20;
    if (!isDigit(code) && (code < 0x61 || code > 0x66)) return false;
  }
  return true;
}

/** `SIGKILL` (capitals and digits after `SIG`) or `signal 42`. */
function isSignalName(text: string): boolean {
  if (text.startsWith('signal ')) return digits(text.slice(7), 3) !== undefined;
  if (!text.startsWith('SIG') || text.length === 3 || text.length > 16) return false;
  for (let i = 3; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code) && (code < 0x41 || code > 0x5a)) return false;
  }
  return true;
}

const CORE_DUMPED = ' (core dumped)';

/** supervisord's levels at INFO and finer (`loggers.py`: INFO, DEBG, TRAC, BLAT). */
const INFO_OR_FINER: ReadonlySet<string> = new Set(['INFO', 'DEBG', 'TRAC', 'BLAT']);

/** A main-log line of level INFO or finer. */
function isInfoOrFiner(line: string): boolean {
  return line.length > MESSAGE_START && hasTimestamp(line) && INFO_OR_FINER.has(line.slice(TIME_LENGTH + 1, MESSAGE_START - 1));
}

/** `exit status 3` | `terminated by SIGKILL[ (core dumped)]` | `unknown termination cause 0x0100`. */
function parseCause(cause: string): Pick<LoggedExit, 'status' | 'signal' | 'coreDumped'> | undefined {
  if (cause.startsWith('exit status ')) {
    const status = digits(cause.slice(12), 5);
    return status === undefined ? undefined : { status };
  }
  if (cause.startsWith('terminated by ')) {
    let signal = cause.slice(14);
    const coreDumped = signal.endsWith(CORE_DUMPED);
    if (coreDumped) signal = signal.slice(0, -CORE_DUMPED.length);
    if (!isSignalName(signal)) return undefined;
    return coreDumped ? { status: -1, signal, coreDumped } : { status: -1, signal };
  }
  if (cause.startsWith('unknown termination cause 0x') && isHex(cause.slice(28))) return { status: -1 };
  return undefined;
}

/** `NAME (detail)`: supervisord refuses spaces in a name, so the name ends at the first space. */
function nameAndDetail(rest: string): [string, string] | undefined {
  const open = rest.indexOf(' (');
  if (open <= 0 || !rest.endsWith(')')) return undefined;
  return [rest.slice(0, open), rest.slice(open + 2, -1)];
}

/**
 * One line of supervisord's main log (without its line break): the exit,
 * stop or spawn it records, or undefined for any other line (including a
 * line that only looks like one: the time stamp, the level and the exact
 * wording are checked).
 */
export function parseMainLogLine(line: string): MainLogEvent | undefined {
  if (line.length <= MESSAGE_START || !hasTimestamp(line)) return undefined;
  const time = line.slice(0, TIME_LENGTH);
  const message = line.slice(MESSAGE_START);
  if (message.startsWith('exited: ') || message.startsWith('stopped: ')) {
    const kind = message.charCodeAt(0) === 0x65 ? 'exited' : 'stopped';
    const parts = nameAndDetail(message.slice(kind.length + 2));
    if (parts === undefined) return undefined;
    const [name, detail] = parts;
    let cause = detail;
    let expected: boolean | undefined;
    if (kind === 'exited') {
      if (detail.endsWith('; not expected')) expected = false;
      else if (detail.endsWith('; expected')) expected = true;
      else return undefined;
      cause = detail.slice(0, detail.length - (expected ? 10 : 14));
    }
    const parsed = parseCause(cause);
    if (parsed === undefined) return undefined;
    return { kind, name, ...parsed, ...(expected === undefined ? {} : { expected }), time };
  }
  if (message.startsWith("spawned: '")) {
    const rest = message.slice(10);
    const quote = rest.lastIndexOf("' with pid ");
    const pid = quote <= 0 ? undefined : digits(rest.slice(quote + 11), 10);
    if (pid === undefined) return undefined;
    return { kind: 'spawned', name: rest.slice(0, quote), pid, time };
  }
  return undefined;
}

/**
 * A start attempt that failed before any child existed, as supervisord logs
 * it (`record_spawnerr`, INFO): `spawnerr: can't find command '/x'`. No
 * `spawned:` or `exited:` line goes with it. Most messages do not name the
 * process (`can't find command`, `command at '/x' is not executable` name
 * the command); those of a failed fork or pipe do (`too many open files to
 * spawn 'web'`).
 */
export interface LoggedSpawnError {
  /** supervisord's message, after `spawnerr: `. */
  readonly message: string;
  /** The line's time stamp as written (see {@link LoggedExit.time}). */
  readonly time: string;
}

/** One line of the main log: the spawn error it records, or undefined for any other line. */
export function parseSpawnErrorLine(line: string): LoggedSpawnError | undefined {
  if (line.length <= MESSAGE_START + 10 || !hasTimestamp(line)) return undefined;
  const message = line.slice(MESSAGE_START);
  if (!message.startsWith('spawnerr: ')) return undefined;
  return { message: message.slice(10), time: line.slice(0, TIME_LENGTH) };
}

/**
 * Signal numbers as Linux has them (x86, ARM and most other architectures),
 * by the names supervisord writes (Python's `signal` module, aliases
 * included). Another system numbers some of them differently (SIGUSR1 is 30
 * on macOS and the BSDs).
 */
const LINUX_SIGNALS: ReadonlyMap<string, number> = new Map([
  ['SIGHUP', 1], ['SIGINT', 2], ['SIGQUIT', 3], ['SIGILL', 4], ['SIGTRAP', 5], ['SIGABRT', 6], ['SIGIOT', 6],
  ['SIGBUS', 7], ['SIGFPE', 8], ['SIGKILL', 9], ['SIGUSR1', 10], ['SIGSEGV', 11], ['SIGUSR2', 12], ['SIGPIPE', 13],
  ['SIGALRM', 14], ['SIGTERM', 15], ['SIGSTKFLT', 16], ['SIGCHLD', 17], ['SIGCLD', 17], ['SIGCONT', 18], ['SIGSTOP', 19],
  ['SIGTSTP', 20], ['SIGTTIN', 21], ['SIGTTOU', 22], ['SIGURG', 23], ['SIGXCPU', 24], ['SIGXFSZ', 25], ['SIGVTALRM', 26],
  ['SIGPROF', 27], ['SIGWINCH', 28], ['SIGIO', 29], ['SIGPOLL', 29], ['SIGPWR', 30], ['SIGSYS', 31], ['SIGRTMIN', 34], ['SIGRTMAX', 64],
]);

/**
 * The number of a signal as the log names it: `signal 42` gives 42, a name
 * its Linux number (`SIGKILL` 9); undefined for a name Linux does not have.
 */
export function signalNumber(signal: string): number | undefined {
  if (signal.startsWith('signal ')) return digits(signal.slice(7), 3);
  return LINUX_SIGNALS.get(signal);
}

// ---------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------

/** How one call ended: its value, or what it threw (a fault of a multicall item included). */
export type MainLogAnswer = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * What the reader needs of a client: `call` (`XmlRpcClient`, the check's
 * `CheckClient`...), and `multicall` when it has it (answers one item per
 * call, the result or the error in place).
 */
export interface MainLogCaller {
  call(method: string, params?: readonly unknown[]): Promise<unknown>;
  multicall?(calls: readonly MulticallRequest[]): Promise<unknown>;
}

/** The calls of one step of a read, to make in order (in one `system.multicall` when possible). */
export interface MainLogStep {
  readonly calls: readonly MulticallRequest[];
}

/** What one read found (see {@link MainLogReader.read}). */
export interface MainLogReport {
  /** Whether the log could be read. */
  readonly ok: boolean;
  /** Why not, when not: supervisord's fault (`NO_FILE: syslog`) or the client's error. */
  readonly error?: string;
  /**
   * Part of the log may have been missed since the previous read: the first
   * read, a rotation or truncation, falling further behind than a read
   * reaches. Exits remembered from before were forgotten.
   */
  readonly gap: boolean;
  /** The events of the lines read this time, in log order, each line once over successive reads. */
  readonly events: readonly MainLogEvent[];
  /** Calls made. */
  readonly calls: number;
  /** Bytes of log text received (UTF-8). */
  readonly bytes: number;
  /**
   * With the `spawnErrors` option only: the `spawnerr:` lines read this
   * time, each with `before`, the index in `events` of the first event
   * logged after it.
   */
  readonly spawnErrors?: ReadonlyArray<LoggedSpawnError & { readonly before: number }>;
}

/** {@link MainLogReader.lastReport}: a {@link MainLogReport} without its events, and their number. */
export type MainLogSummary = Omit<MainLogReport, 'events' | 'spawnErrors'> & { readonly eventCount: number };

/** The answer of {@link MainLogReader.lastExit}. */
export type ExitLookup = { readonly known: true; readonly exit: LoggedExit } | { readonly known: false; readonly reason: string };

/** Options of {@link MainLogReader}. */
export interface MainLogReaderOptions {
  /** Most bytes one read asks for after the offset. Default 256 KiB. */
  maxReadBytes?: number;
  /** Bytes of the log's end read when the offset is not known. Default 64 KiB, at most `maxReadBytes`. */
  tailBytes?: number;
  /** Most process names remembered; the least recently updated is forgotten first. Default 100,000. */
  maxNames?: number;
  /** Also report the `spawnerr:` lines read (`MainLogReport.spawnErrors`). Default false. */
  spawnErrors?: boolean;
}

/**
 * What a reader carries from one read to the next, as plain JSON-able data
 * ({@link MainLogReader.getState}, {@link MainLogReader.restoreState}).
 */
export interface MainLogState {
  readonly version: 1;
  /** Byte offset of the end of what was read, or null while not known. */
  readonly offset: number | null;
  /** The last bytes read before `offset` (at most 128 bytes of UTF-8), '' before any. */
  readonly anchor: string;
  /** While `offset` is null: a size the log is known to exceed (`low`) and one it is known not to (`high`, null unknown). */
  readonly low: number;
  readonly high: number | null;
  /** The read stopped inside a line longer than a read: skip to its end. */
  readonly skipping: boolean;
  /** A line of level INFO or finer was read since the first read or the last gap (see {@link MainLogReader.infoLogged}). */
  readonly info: boolean;
  /** Per process name, least recently updated first: its last exit, and whether a start was logged after it. */
  readonly names: ReadonlyArray<readonly [string, LoggedExit, boolean]>;
}

const DEFAULT_READ_BYTES = 256 * 1024;
const DEFAULT_TAIL_BYTES = 64 * 1024;
const DEFAULT_MAX_NAMES = 100_000;
const ANCHOR_BYTES = 128;
/** Reads retried one byte shorter when the server cannot decode a character cut at an end. */
const MAX_SHRINK = 3;
/** Probes of the log's size when no bound above is known: `low + tail * 2^i`, up to 2^23 tails (0.5 TiB at the default). */
const PROBES_UP = 24;
/** Probes spread between the bounds once both are known: each read narrows them 32-fold. */
const PROBES_BETWEEN = 31;
/** Bytes a probe reads: enough to be found once in the tail (log lines start with a time stamp to the millisecond). */
const PROBE_BYTES = 64;
/** A probe's text shorter than this (the very end of the log) is not looked for in the tail. */
const MIN_PROBE_MATCH = 16;
const READ_LOG = 'supervisor.readLog';
const FAULT_NO_FILE = 20;
const FAULT_FAILED = 30;

interface Entry {
  exit: LoggedExit;
  spawnedAfter: boolean;
}

type Step =
  | { kind: 'forward'; calls: MulticallRequest[]; start: number; length: number; shrink: number }
  | { kind: 'tail'; calls: MulticallRequest[]; bytes: number; shrink: number; probes: number[]; final: number | undefined };

/** A read in progress: what its steps found so far. */
interface Session {
  events: MainLogEvent[];
  calls: number;
  bytes: number;
  gap: boolean;
  spawnErrors: Array<LoggedSpawnError & { before: number }>;
}

/**
 * Reads supervisord's main log incrementally over XML-RPC and remembers the
 * last exit of every process name it saw (see the module comment).
 *
 * Cost, per read: one `supervisor.readLog` call of at most `maxReadBytes`
 * (256 KiB) after the offset, which returns only what was written since the
 * last read (nothing, plus a 128-byte anchor, when nothing was). When the
 * offset is not known: the last `tailBytes` (64 KiB), plus, from the second
 * such read on, up to 31 probes of 64 bytes in the same multicall until the
 * size of the log is known (by the 4th read for a log of 50 MiB, the 5th
 * for 4 GiB). More calls only in rare cases: a read cut inside a multi-byte
 * character is asked again up to 3 bytes shorter, and a rotated, truncated
 * or outgrown log is read again from its end (one call).
 *
 * Not safe for concurrent reads: one read at a time.
 */
export class MainLogReader {
  readonly #readBytes: number;
  readonly #tailBytes: number;
  readonly #maxNames: number;
  readonly #spawnErrors: boolean;
  #offset: number | null = null;
  #anchor = '';
  #low = 0;
  #high: number | null = null;
  #skipping = false;
  #info = false;
  readonly #names = new Map<string, Entry>();
  #last: MainLogSummary | undefined;
  #session: Session | undefined;

  /** @throws {RangeError} naming the option that is not a positive integer (`tailBytes` above `maxReadBytes` included). */
  constructor(options: MainLogReaderOptions = {}) {
    const positive = (key: 'maxReadBytes' | 'tailBytes' | 'maxNames', fallback: number, min: number): number => {
      const value = options[key] ?? fallback;
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${key} must be an integer of at least ${min}, got ${String(options[key])}`);
      return value;
    };
    this.#readBytes = positive('maxReadBytes', DEFAULT_READ_BYTES, 1024);
    this.#tailBytes = positive('tailBytes', Math.min(DEFAULT_TAIL_BYTES, this.#readBytes), 1024);
    this.#maxNames = positive('maxNames', DEFAULT_MAX_NAMES, 1);
    this.#spawnErrors = options.spawnErrors === true;
    if (this.#tailBytes > this.#readBytes) throw new RangeError(`tailBytes (${this.#tailBytes}) must not exceed maxReadBytes (${this.#readBytes})`);
  }

  /** What the last read did (its report without its events), undefined before the first. */
  get lastReport(): MainLogSummary | undefined {
    return this.#last;
  }

  /**
   * Whether the part of the log read since the first read or the last gap
   * has a line of level INFO or finer. supervisord writes an exit with an
   * expected status and a stop that ended with one (`stopped: NAME (exit
   * status 0)`) at INFO, unexpected ones at WARN: with `loglevel=warn` or
   * higher, the last exit the log shows may not be the last one.
   */
  get infoLogged(): boolean {
    return this.#info;
  }

  /**
   * Reads what the log gained since the last read, with `caller`'s calls
   * (its `multicall` when it has one and a step has several calls). Never
   * rejects for what the server does: a failure is in the report.
   */
  async read(caller: MainLogCaller): Promise<MainLogReport> {
    const step = this.begin();
    return this.resume(caller, step, await ask(caller, step));
  }

  /**
   * The first step of a read, whose calls the owner may put in a multicall of
   * its own (after the calls whose answers the log must not be older than);
   * then give their answers to {@link MainLogReader.resume}.
   */
  begin(): MainLogStep {
    this.#last = undefined;
    this.#session = { events: [], calls: 0, bytes: 0, gap: false, spawnErrors: [] };
    return this.#offset === null ? this.#tailStep(0) : this.#forwardStep(0);
  }

  /**
   * Ends a read begun with {@link MainLogReader.begin}: takes the answers of
   * `step`'s calls, in order, and makes the follow-up calls it needs with
   * `caller` (rare, see the class comment).
   */
  async resume(caller: MainLogCaller, step: MainLogStep, answers: readonly MainLogAnswer[]): Promise<MainLogReport> {
    let next = this.#accept(step as Step, answers);
    while (isStep(next)) next = this.#accept(next, await ask(caller, next));
    return next;
  }

  /**
   * The last exit of the process named `name` that the log shows, when the
   * last read succeeded (every read reaches the end of the log) and the log
   * has one since the reader started or its last gap, with no start logged
   * after it. Otherwise why not. A read in progress, or abandoned, answers
   * nothing.
   */
  lastExit(name: string): ExitLookup {
    const last = this.#last;
    if (last === undefined) return { known: false, reason: "supervisord's main log was not read" };
    if (!last.ok) return { known: false, reason: `supervisord's main log could not be read (${last.error ?? 'no answer'})` };
    const entry = this.#names.get(name);
    if (entry === undefined) return { known: false, reason: 'its exit is not in the part of the main log the check has read' };
    if (entry.spawnedAfter) return { known: false, reason: 'the main log shows a start after its last exit' };
    return { known: true, exit: entry.exit };
  }

  /** What the reader carries between reads, as plain data (JSON-able). */
  getState(): MainLogState {
    return {
      version: 1,
      offset: this.#offset,
      anchor: this.#anchor,
      low: this.#low,
      high: this.#high,
      skipping: this.#skipping,
      info: this.#info,
      names: [...this.#names].map(([name, entry]) => [name, { ...entry.exit }, entry.spawnedAfter] as const),
    };
  }

  /**
   * Takes back what {@link MainLogReader.getState} gave (for instance from a
   * file kept between two runs of a command). {@link MainLogReader.lastExit}
   * answers again after the next read.
   *
   * @throws {TypeError} naming the field that is not as `getState` makes it;
   *   the reader is then unchanged.
   */
  restoreState(state: unknown): void {
    const s = state as Record<string, unknown> | null;
    const bad = (field: string, what: string): TypeError => new TypeError(`main log state: '${field}' must be ${what}`);
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new TypeError('main log state must be an object');
    if (s['version'] !== 1) throw bad('version', '1');
    const offset = s['offset'];
    if (offset !== null && !isByteCount(offset)) throw bad('offset', 'null or a non-negative integer');
    const anchor = s['anchor'];
    if (typeof anchor !== 'string' || Buffer.byteLength(anchor) > ANCHOR_BYTES) throw bad('anchor', `a string of at most ${ANCHOR_BYTES} bytes`);
    if (typeof offset === 'number' && Buffer.byteLength(anchor) > offset) throw bad('anchor', 'no longer than offset');
    if (!isByteCount(s['low'])) throw bad('low', 'a non-negative integer');
    const high = s['high'];
    if (high !== null && !isByteCount(high)) throw bad('high', 'null or a non-negative integer');
    if (typeof s['skipping'] !== 'boolean') throw bad('skipping', 'a boolean');
    if (typeof s['info'] !== 'boolean') throw bad('info', 'a boolean');
    const names = s['names'];
    if (!Array.isArray(names)) throw bad('names', 'an array');
    const entries = new Map<string, Entry>();
    for (const [i, item] of (names as unknown[]).entries()) {
      if (!Array.isArray(item) || item.length !== 3 || typeof item[0] !== 'string' || typeof item[2] !== 'boolean' || !isLoggedExit(item[1], item[0])) {
        throw bad(`names[${i}]`, '[name, exit, spawnedAfter] with an exit of that name');
      }
      entries.delete(item[0]);
      entries.set(item[0], { exit: copyExit(item[1] as LoggedExit), spawnedAfter: item[2] });
    }
    this.#offset = offset as number | null;
    this.#anchor = anchor;
    this.#low = s['low'] as number;
    this.#high = high as number | null;
    this.#skipping = s['skipping'];
    this.#info = s['info'];
    this.#names.clear();
    for (const [name, entry] of entries) this.#remember(name, entry);
    this.#last = undefined;
  }

  #forwardStep(shrink: number): Step {
    const anchorBytes = Buffer.byteLength(this.#anchor);
    const start = this.#offset! - anchorBytes;
    const length = anchorBytes + this.#readBytes - shrink;
    return { kind: 'forward', calls: [{ methodName: READ_LOG, params: [start, length] }], start, length, shrink };
  }

  #tailStep(shrink: number): Step {
    const bytes = this.#tailBytes - shrink;
    const calls: MulticallRequest[] = [{ methodName: READ_LOG, params: [-bytes, 0] }];
    const probes: number[] = [];
    // Learn the size of a log longer than the tail (a previous tail read was full): probes ride with this read.
    let final: number | undefined;
    if (this.#low > 0 && shrink === 0) {
      if (this.#high !== null && this.#high - this.#low <= this.#tailBytes / 2) {
        // Probes close together that the tail never matched (identical lines): read from below the size to its end.
        final = this.#low;
        calls.push({ methodName: READ_LOG, params: [final, this.#tailBytes] });
      } else if (this.#high === null) {
        for (let i = 0; i < PROBES_UP; i++) probes.push(this.#low + this.#tailBytes * 2 ** i);
      } else {
        const width = this.#high - this.#low;
        for (let i = 1; i <= PROBES_BETWEEN; i++) probes.push(this.#low + Math.floor((width * i) / (PROBES_BETWEEN + 1)));
      }
      for (const at of probes) calls.push({ methodName: READ_LOG, params: [at, PROBE_BYTES] });
    }
    return { kind: 'tail', calls, bytes, shrink, probes, final };
  }

  /** One step's answers: the next step, or the read's report. */
  #accept(step: Step, answers: readonly MainLogAnswer[]): Step | MainLogReport {
    const session = (this.#session ??= { events: [], calls: 0, bytes: 0, gap: false, spawnErrors: [] });
    session.calls += step.calls.length;
    const answer = answers[0] ?? { ok: false, error: new Error('no answer') };
    if (!answer.ok) {
      if (isCutCharacter(answer.error)) {
        if (step.shrink < MAX_SHRINK) return step.kind === 'forward' ? this.#forwardStep(step.shrink + 1) : this.#tailStep(step.shrink + 1);
        // A forward read cut at its start too: the file is no longer the one the offset was in.
        if (step.kind === 'forward') return this.#rotated();
      }
      return this.#finish(false, describe(answer.error));
    }
    if (typeof answer.value !== 'string') return this.#finish(false, `${READ_LOG} answered ${typeof answer.value}, not a string`);
    const text = answer.value;
    const bytes = Buffer.byteLength(text);
    session.bytes += bytes;
    return step.kind === 'forward' ? this.#acceptForward(step, text, bytes) : this.#acceptTail(step, text, bytes, answers);
  }

  #acceptForward(step: Step & { kind: 'forward' }, text: string, bytes: number): Step | MainLogReport {
    if (!text.startsWith(this.#anchor)) return this.#rotated();
    const full = bytes >= step.length;
    const consumed = this.#consume(text, this.#anchor.length, full);
    this.#offset = step.start + Buffer.byteLength(text.slice(0, consumed));
    this.#anchor = detached(lastBytes(text.slice(0, consumed)));
    // Further behind than one read reaches: read the end (the anchor there joins the two without a gap).
    if (full) return this.#tailStep(0);
    return this.#finish(true);
  }

  #acceptTail(step: Step & { kind: 'tail' }, text: string, bytes: number, answers: readonly MainLogAnswer[]): MainLogReport {
    const whole = bytes < step.bytes;
    let found = this.#anchor === '' ? -1 : text.indexOf(this.#anchor);
    // An anchor seen twice (inside a long line of one repeated character) does not say where the reader was.
    if (found >= 0 && text.indexOf(this.#anchor, found + 1) >= 0) found = -1;
    let from: number;
    if (found >= 0) {
      from = found + this.#anchor.length;
    } else {
      this.#gap();
      // Perhaps another file (rotated): what the probes learnt of the old one's size no longer holds.
      this.#low = 0;
      this.#high = null;
      // A window that does not start the file starts inside a line.
      from = whole ? 0 : text.indexOf('\n') + 1;
      if (from === 0 && !whole) from = text.length;
      this.#skipping = false;
    }
    const previousOffset = this.#offset;
    const consumed = this.#consume(text, from, false);
    this.#anchor = detached(lastBytes(text.slice(0, consumed)));
    const rest = Buffer.byteLength(text.slice(consumed));
    // The size of the log, when this read tells it: the whole file, or the anchor of a known offset found again.
    let size: number | undefined;
    if (whole) size = bytes;
    else if (found >= 0 && previousOffset !== null) size = previousOffset + Buffer.byteLength(text.slice(from));
    else size = this.#locate(step, text, bytes, answers);
    if (size === undefined) {
      this.#offset = null;
    } else {
      this.#offset = size - rest;
      this.#low = 0;
      this.#high = null;
    }
    return this.#finish(true);
  }

  /**
   * Updates the bounds of the log's size from the probes: a probe that
   * answers bytes is below the size, an empty one at or above it. The bytes
   * of the highest probe that answered some, found once in the tail (read in
   * the same multicall, so from the same file), give the size: that probe's
   * offset plus what follows its bytes in the tail, if it is below every
   * empty probe. Lower probes are not matched: their bytes may repeat in the
   * tail (a message written again, a number cut by the probe) without being
   * in it. A size learnt wrong all the same is caught by the next read's
   * anchor, at the cost of a read from the end (no gap).
   */
  #locate(step: Step & { kind: 'tail' }, tail: string, bytes: number, answers: readonly MainLogAnswer[]): number | undefined {
    this.#low = Math.max(this.#low, bytes);
    if (step.final !== undefined) {
      const answer = answers[1];
      if (answer?.ok === true && typeof answer.value === 'string') {
        const text = answer.value;
        const length = Buffer.byteLength(text);
        this.#session!.bytes += length;
        // Some bytes, fewer than asked, ending as the tail ends: it reached the end of the same file.
        if (length > 0 && length < this.#tailBytes && tail.endsWith(text.slice(-Math.min(text.length, PROBE_BYTES)))) return step.final + length;
        if (length >= this.#tailBytes) this.#low = step.final + length;
        // Nothing there: the file is shorter than the bound was (another file). Only the tail's length is certain.
        if (length === 0) this.#low = bytes;
      } else if (answer?.ok === false && isCutCharacter(answer.error)) {
        this.#low = step.final + 1;
      }
      // Grown past it, or another file: search again from what is known.
      this.#high = null;
      return undefined;
    }
    let highest: { at: number; text: string } | undefined;
    for (const [i, probe] of step.probes.entries()) {
      const answer = answers[i + 1];
      if (answer === undefined) break;
      if (!answer.ok) {
        // A probe that cuts a character has bytes there.
        if (isCutCharacter(answer.error)) this.#low = Math.max(this.#low, probe + 1);
        continue;
      }
      const text = answer.value;
      if (typeof text !== 'string') continue;
      if (text === '') {
        this.#high = this.#high === null ? probe : Math.min(this.#high, probe);
      } else if (probe >= this.#low - 1) {
        this.#low = probe + 1;
        highest = { at: probe, text };
      }
    }
    if (this.#high !== null && this.#high <= this.#low) this.#high = null;
    if (highest === undefined || highest.text.length < MIN_PROBE_MATCH) return undefined;
    const at = tail.indexOf(highest.text);
    if (at < 0 || tail.indexOf(highest.text, at + 1) >= 0) return undefined;
    const size = highest.at + Buffer.byteLength(tail.slice(at));
    return this.#high === null || size <= this.#high ? size : undefined;
  }

  /**
   * The log no longer holds the anchor at the offset: read its end, where
   * the anchor is found again (the offset was wrong) or not (another file:
   * a gap).
   */
  #rotated(): Step {
    // Rotated, truncated, or an offset learnt wrong: the tail says which, by whether the anchor is in it.
    this.#offset = null;
    this.#low = 0;
    this.#high = null;
    return this.#tailStep(0);
  }

  #gap(): void {
    this.#session!.gap = true;
    this.#info = false;
    this.#names.clear();
  }

  /**
   * Parses the complete lines of `text` from `from` and remembers their
   * events; returns where the consumed part ends (after the last line
   * break, or the whole text when `full` holds no line break at all: a line
   * longer than a read, skipped to its end by the next read).
   */
  #consume(text: string, from: number, full: boolean): number {
    let end = text.lastIndexOf('\n') + 1;
    if (end <= from) {
      if (!full || from >= text.length) return from;
      this.#skipping = true;
      return text.length;
    }
    let start = from;
    if (this.#skipping) {
      start = text.indexOf('\n', from) + 1;
      this.#skipping = false;
    }
    const events = this.#session!.events;
    for (let nl = text.indexOf('\n', start); nl >= 0 && nl < end; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      if (!this.#info) this.#info = isInfoOrFiner(line);
      const event = parseMainLogLine(line);
      start = nl + 1;
      if (event === undefined) {
        const failed = this.#spawnErrors ? parseSpawnErrorLine(line) : undefined;
        if (failed !== undefined) this.#session!.spawnErrors.push({ ...failed, before: events.length });
        continue;
      }
      events.push(event);
      if (event.kind === 'spawned') {
        const entry = this.#names.get(event.name);
        if (entry !== undefined) entry.spawnedAfter = true;
      } else {
        this.#remember(event.name, { exit: event, spawnedAfter: false });
      }
    }
    return end;
  }

  #remember(name: string, entry: Entry): void {
    const exit = entry.exit;
    // Kept between reads: copies, not slices of the text read (which would keep the whole read alive).
    const kept: Entry = {
      exit: { ...exit, name: detached(exit.name), time: detached(exit.time), ...(exit.signal === undefined ? {} : { signal: detached(exit.signal) }) },
      spawnedAfter: entry.spawnedAfter,
    };
    name = kept.exit.name;
    this.#names.delete(name);
    this.#names.set(name, kept);
    if (this.#names.size > this.#maxNames) this.#names.delete(this.#names.keys().next().value!);
  }

  #finish(ok: boolean, error?: string): MainLogReport {
    const session = this.#session!;
    this.#session = undefined;
    const report: MainLogReport = {
      ok,
      ...(error === undefined ? {} : { error }),
      gap: session.gap,
      events: session.events,
      calls: session.calls,
      bytes: session.bytes,
      ...(this.#spawnErrors ? { spawnErrors: session.spawnErrors } : {}),
    };
    // Kept without the events, whose strings are slices of the text read (they would keep it alive).
    this.#last = { ok, ...(error === undefined ? {} : { error }), gap: session.gap, calls: session.calls, bytes: session.bytes, eventCount: session.events.length };
    return report;
  }
}

function isStep(value: Step | MainLogReport): value is Step {
  return Array.isArray(value.calls);
}

/** A step's calls: one `call`, or a `multicall` of several (separate calls when the multicall itself fails). */
async function ask(caller: MainLogCaller, step: MainLogStep): Promise<MainLogAnswer[]> {
  if (step.calls.length > 1 && caller.multicall !== undefined) {
    try {
      const items = await caller.multicall(step.calls);
      if (Array.isArray(items) && items.length === step.calls.length) {
        return items.map((item): MainLogAnswer => (item instanceof Error ? { ok: false, error: item } : { ok: true, value: item }));
      }
    } catch {
      // Separate calls below.
    }
  }
  const answers: MainLogAnswer[] = [];
  for (const c of step.calls) {
    try {
      answers.push({ ok: true, value: await caller.call(c.methodName, c.params ?? []) });
    } catch (error) {
      answers.push({ ok: false, error });
    }
  }
  return answers;
}

/**
 * supervisord failed to decode a read cut inside a multi-byte character: in
 * a multicall the fault 30 names `utf-8`; alone, an HTTP 500 (duck-typed:
 * this module takes any client).
 */
function isCutCharacter(error: unknown): boolean {
  const e = error as { faultCode?: unknown; faultString?: unknown; status?: unknown } | null;
  if (typeof e !== 'object' || e === null) return false;
  if (e.faultCode === FAULT_FAILED && typeof e.faultString === 'string') return /utf-?8/i.test(e.faultString);
  return e.status === 500;
}

function describe(error: unknown): string {
  const e = error as { faultCode?: unknown; faultString?: unknown } | null;
  if (typeof e === 'object' && e !== null && typeof e.faultString === 'string') {
    const hint =
      e.faultCode === FAULT_NO_FILE
        ? ": no log file (logfile=syslog, or the file was removed)"
        : e.faultCode === FAULT_FAILED && e.faultString === 'FAILED'
          ? ': the log is not a regular file (logfile=/dev/stdout on a pipe?)'
          : '';
    return `${e.faultString}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The end of `text` of at most {@link ANCHOR_BYTES} bytes of UTF-8, cut between characters. */
/**
 * A copy of `text` that holds nothing else: a slice of a longer string (13
 * characters or more, in V8) keeps the whole string alive, and what a
 * reader keeps between reads must not keep its last read (up to 256 KiB per
 * server: a `/probe` exporter holds thousands of readers).
 */
function detached(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

function lastBytes(text: string): string {
  let start = text.length;
  let bytes = 0;
  while (start > 0) {
    const unit = text.charCodeAt(start - 1);
    let cp = unit;
    let width = 1;
    if (unit >= 0xdc00 && unit <= 0xdfff && start >= 2) {
      const high = text.charCodeAt(start - 2);
      if (high >= 0xd800 && high <= 0xdbff) {
        cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
        width = 2;
      }
    }
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > ANCHOR_BYTES) break;
    bytes += size;
    start -= width;
  }
  return text.slice(start);
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isLoggedExit(value: unknown, name: string): boolean {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  if ((v['kind'] !== 'exited' && v['kind'] !== 'stopped') || v['name'] !== name || typeof v['time'] !== 'string') return false;
  if (typeof v['status'] !== 'number' || !Number.isInteger(v['status']) || v['status'] < -1) return false;
  if (v['signal'] !== undefined && (typeof v['signal'] !== 'string' || !isSignalName(v['signal']))) return false;
  if (v['coreDumped'] !== undefined && typeof v['coreDumped'] !== 'boolean') return false;
  return v['expected'] === undefined || typeof v['expected'] === 'boolean';
}

function copyExit(exit: LoggedExit): LoggedExit {
  return {
    kind: exit.kind,
    name: exit.name,
    status: exit.status,
    ...(exit.signal === undefined ? {} : { signal: exit.signal }),
    ...(exit.coreDumped === undefined ? {} : { coreDumped: exit.coreDumped }),
    ...(exit.expected === undefined ? {} : { expected: exit.expected }),
    time: exit.time,
  };
}
