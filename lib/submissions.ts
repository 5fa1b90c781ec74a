/**
 * What a run emits, computed from what the server answered: pure functions,
 * no I/O (the reference behaviour they keep is summarised in lib/README.md;
 * what goes beyond it is additive). `collect.ts` collects the answers; this module turns them into
 * a {@link CheckResult}.
 *
 * Order of a successful run (the reference's submissions first, unchanged,
 * then ours, so that a consumer of the reference's output sees the same
 * sequence followed by new names):
 * - service checks: `supervisord.can_connect`, one `supervisord.process.status`
 *   per monitored process, then `supervisord.server.state`;
 * - metrics: per monitored process `supervisord.process.uptime`, the three
 *   `supervisord.process.count`; then per monitored process
 *   `supervisord.process.restarts`, `supervisord.process.downtime`,
 *   `supervisord.process.exit_status`, `supervisord.process.exit_signal` and
 *   `supervisord.process.start_time` (all but the first only where they
 *   mean something), then three `supervisord.group.count` per group.
 *
 * @module
 */

import { RunDeadlineError } from './errors.js';
import {
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  HttpStatusError,
  TimeoutError,
  XmlRpcFault,
} from '../protocol/errors.js';
import type { ResolvedConfig } from './config.js';
import { signalNumber } from './exit-log.js';
import type { ExitLookup } from './exit-log.js';
import { unmatchedFilterWarnings } from './hints.js';
import { ENDED_STATES } from './process-model.js';
import type {
  CheckResult,
  MappedStatus,
  Metric,
  ProcessExit,
  ProcessInfo,
  ServiceCheck,
  ProcessSummary,
  ServiceCheckStatus,
  VersionMetadata,
} from './types.js';
import {
  CAN_CONNECT,
  PROCESS_STATUS,
  PROCESS_UPTIME,
  PROCESS_COUNT,
  PROCESS_RESTARTS,
  PROCESS_DOWNTIME,
  PROCESS_EXIT_STATUS,
  PROCESS_EXIT_SIGNAL,
  PROCESS_START_TIME,
  GROUP_COUNT,
  SERVER_STATE,
} from './submission-names.js';

/** supervisord's fault while it stops or restarts (every `supervisor.*` method answers it). */
export const SHUTDOWN_STATE_FAULT = 6;

/** Mapped status -> service-check status (OK, CRITICAL, UNKNOWN). */
export const SERVICE_STATUS: Readonly<Record<MappedStatus, ServiceCheckStatus>> = Object.freeze({
  up: 0,
  down: 2,
  unknown: 3,
});

/** The reference submits the counts in this order (its PROCESS_STATUS dict: CRITICAL, OK, UNKNOWN). */
const COUNT_ORDER: readonly MappedStatus[] = ['down', 'up', 'unknown'];
/** `status:<mapped>`, the tag of each count. */
const STATUS_TAGS: Readonly<Record<MappedStatus, string>> = Object.freeze({ down: 'status:down', up: 'status:up', unknown: 'status:unknown' });
/** States in which a process has an uptime (the reference's `_extract_uptime`). */
const ACTIVE_STATES = new Set(['RUNNING', 'BACKOFF', 'STOPPING']);
/**
 * States with no child in which supervisord is not about to start one: the
 * only ones with a downtime. BACKOFF is left out on purpose: it is a pause
 * between two start attempts (the reference even gives it an uptime), and a
 * "down since the last exit" would restart from 0 at every attempt.
 */
const DOWN_STATES = new Set(['STOPPED', 'EXITED', 'FATAL']);
/** supervisord's own states (`supervisor.getState`) -> `supervisord.server.state`. */
const SERVER_STATUS: ReadonlyMap<string, ServiceCheckStatus> = new Map([
  ['RUNNING', 0],
  ['RESTARTING', 1],
  ['SHUTDOWN', 2],
  ['FATAL', 2],
]);

/** How one XML-RPC call ended: its value, or what it threw. */
export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * The answers a run collected. `version` and `state` are absent when they
 * were not asked (the process list failed). When everything is fetched in
 * one multicall, their outcomes are ignored if the process list failed.
 * `processInfo` holds `getAllProcessInfo`'s answer, or the structs of the
 * selected processes in the same order (`collect.ts`).
 */
export interface Collected {
  processInfo: CallOutcome;
  version?: CallOutcome;
  /** `supervisor.getState`'s answer. */
  state?: CallOutcome;
  /** What supervisord's main log says of the processes' exits, when the process list arrived (see {@link processExit}). */
  exits?: ExitEvidence;
  /**
   * `processInfo`'s value decoded ({@link adoptProcessList}), when the
   * collector decoded it already: a run decodes its process list once.
   */
  decoded?: DecodedProcesses;
}

/**
 * What a run learnt of exits beyond the process structs: supervisord's main
 * log read at least as late as the structs (`collect.ts`), and which process
 * names several processes share (the log names a process by its name only).
 */
export interface ExitEvidence {
  /** The last logged exit of a process name, or why it is not known (`MainLogReader.lastExit`). */
  lookup(name: string): ExitLookup;
  /** Names that several processes of the server have. */
  readonly sharedNames: ReadonlySet<string>;
  /** The log read shows lines of level INFO (`MainLogReader.infoLogged`): a stop that ended with status 0 is in it. */
  readonly infoLogged: boolean;
}

/** What {@link restartCount} remembers of a process between runs. */
export interface ProcessMark {
  /** `start` of the process (epoch seconds of its last start attempt). */
  readonly start: number;
  /** `pid` of the process, 0 when it had none. */
  readonly pid: number;
}

/** Marks of the monitored processes of a run, keyed by `group:name`. */
export type ProcessHistory = ReadonlyMap<string, ProcessMark>;

/** What {@link buildRun} returns. */
export interface RunOutput {
  result: CheckResult;
  /**
   * The marks of this run's monitored processes, to pass to the next run;
   * undefined when the run read no process data (keep the previous marks).
   */
  history: ProcessHistory | undefined;
  /** The monitored processes' structs, in order, when the run read them (for what is read beside supervisord: `/proc`). */
  monitored?: ProcessInfo[];
}

/** The result of {@link decodeProcessList}. */
export type DecodedProcesses = { ok: true; processes: ProcessInfo[] } | { ok: false; reason: string };

/**
 * Checks and copies `supervisor.getAllProcessInfo`'s answer. The members the
 * check uses must be there with the right type (the reference would crash on
 * a missing one); `state`, `spawnerr` and `pid`, which it does not use, default
 * to 0 / '' / 0. Integers may arrive as `bigint` (XML-RPC `i8`).
 */
export function decodeProcessList(value: unknown): DecodedProcesses {
  if (!Array.isArray(value)) return { ok: false, reason: `expected an array of process structs, got ${typeName(value)}` };
  // One object literal per process and no closures: at 4,000 processes a
  // closure-based copy allocated about 1 KB per process per run (sampling
  // heap profiler, bench/check.js --footprint).
  const processes: ProcessInfo[] = new Array<ProcessInfo>(value.length);
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Date || item instanceof Uint8Array) {
      return { ok: false, reason: `process ${i} is ${typeName(item)}, not a struct` };
    }
    const s = item as Record<string, unknown>;
    const name = memberText(s, 'name');
    const group = memberText(s, 'group');
    const statename = memberText(s, 'statename');
    const description = memberText(s, 'description');
    const stderrLog = memberText(s, 'stderr_logfile');
    const stdoutLog = memberText(s, 'stdout_logfile');
    const logfile = memberText(s, 'logfile');
    const start = memberInteger(s, 'start');
    const stop = memberInteger(s, 'stop');
    const now = memberInteger(s, 'now');
    const exitstatus = memberInteger(s, 'exitstatus');
    if (
      name === undefined ||
      group === undefined ||
      statename === undefined ||
      description === undefined ||
      stderrLog === undefined ||
      stdoutLog === undefined ||
      logfile === undefined ||
      start === undefined ||
      stop === undefined ||
      now === undefined ||
      exitstatus === undefined
    ) {
      return { ok: false, reason: missingMember(s, i) };
    }
    processes[i] = {
      name,
      group,
      statename,
      description,
      stderr_logfile: stderrLog,
      stdout_logfile: stdoutLog,
      logfile,
      start,
      stop,
      now,
      exitstatus,
      state: memberInteger(s, 'state') ?? 0,
      pid: memberInteger(s, 'pid') ?? 0,
      spawnerr: memberText(s, 'spawnerr') ?? '',
    };
  }
  return { ok: true, processes };
}

/**
 * {@link decodeProcessList} for a run's own answer, which nothing else
 * holds: a struct that already is a whole {@link ProcessInfo} (every member
 * there, strings as strings, integers as safe integers: what supervisord
 * sends) is taken as it is instead of copied; any other is copied and
 * completed as decodeProcessList does. Saves a copy of every process of
 * every run.
 */
export function adoptProcessList(value: unknown): DecodedProcesses {
  if (!Array.isArray(value)) return decodeProcessList(value);
  for (let i = 0; i < value.length; i++) {
    if (!isWholeProcess(value[i])) return decodeProcessList(value);
  }
  return { ok: true, processes: value as ProcessInfo[] };
}

function isWholeProcess(item: unknown): boolean {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Date || item instanceof Uint8Array) return false;
  const s = item as Record<string, unknown>;
  return (
    isOwnString(s, 'name') &&
    isOwnString(s, 'group') &&
    isOwnString(s, 'statename') &&
    isOwnString(s, 'description') &&
    isOwnString(s, 'stderr_logfile') &&
    isOwnString(s, 'stdout_logfile') &&
    isOwnString(s, 'logfile') &&
    isOwnString(s, 'spawnerr') &&
    isOwnInteger(s, 'start') &&
    isOwnInteger(s, 'stop') &&
    isOwnInteger(s, 'now') &&
    isOwnInteger(s, 'exitstatus') &&
    isOwnInteger(s, 'state') &&
    isOwnInteger(s, 'pid')
  );
}

function isOwnString(s: Record<string, unknown>, member: string): boolean {
  return Object.hasOwn(s, member) && typeof s[member] === 'string';
}

function isOwnInteger(s: Record<string, unknown>, member: string): boolean {
  return Object.hasOwn(s, member) && Number.isSafeInteger(s[member]);
}

/** The members a process struct must have, in the order a missing one is reported. */
const TEXT_MEMBERS = ['name', 'group', 'statename', 'description', 'stderr_logfile', 'stdout_logfile', 'logfile'] as const;
const INTEGER_MEMBERS = ['start', 'stop', 'now', 'exitstatus'] as const;

function memberText(s: Record<string, unknown>, member: string): string | undefined {
  const v = Object.hasOwn(s, member) ? s[member] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function memberInteger(s: Record<string, unknown>, member: string): number | undefined {
  const v = Object.hasOwn(s, member) ? s[member] : undefined;
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
}

/**
 * `process 3 (web) has no string 'group'`: the first required member of
 * struct `i` that is missing or mistyped (called only when one is).
 */
function missingMember(s: Record<string, unknown>, i: number): string {
  const at = `process ${i}${typeof s['name'] === 'string' ? ` (${s['name']})` : ''}`;
  const text = TEXT_MEMBERS.find((member) => memberText(s, member) === undefined);
  if (text !== undefined) return `${at} has no string '${text}'`;
  return `${at} has no integer '${INTEGER_MEMBERS.find((member) => memberInteger(s, member) === undefined)!}'`;
}

/**
 * Section 2: a process is monitored when there are no include lists, or a
 * `proc_regex` matches its name (search, not anchored), or its name is in
 * `proc_names`; and then neither a `proc_regex_exclude` matches nor is the
 * name in `proc_names_exclude`. Server order is kept.
 */
export function selectProcesses(processes: readonly ProcessInfo[], config: ResolvedConfig): ProcessInfo[] {
  const noIncludeList = config.procNames.length === 0 && config.procRegex.length === 0;
  const selected: ProcessInfo[] = [];
  // A loop, not filter() and some() with closures: no allocation per process.
  for (let i = 0; i < processes.length; i++) {
    const p = processes[i]!;
    const included = noIncludeList || anyMatch(config.procRegex, p.name) || config.procNames.includes(p.name);
    if (included && !(anyMatch(config.procRegexExclude, p.name) || config.procNamesExclude.includes(p.name))) selected.push(p);
  }
  return selected;
}

function anyMatch(patterns: ResolvedConfig['procRegex'], name: string): boolean {
  for (let i = 0; i < patterns.length; i++) if (patterns[i]!.test(name)) return true;
  return false;
}

/**
 * The `name` of every process in a process list that arrived (whatever the
 * rest of each struct holds), for judging them before {@link buildRun}.
 */
export function processNames(collected: Collected): string[] {
  const outcome = collected.processInfo;
  if (!outcome.ok || !Array.isArray(outcome.value)) return [];
  const names: string[] = [];
  for (const p of outcome.value) {
    const name: unknown = typeof p === 'object' && p !== null && !Array.isArray(p) ? (p as Record<string, unknown>)['name'] : undefined;
    if (typeof name === 'string') names.push(name);
  }
  return names;
}

/** Section 3: the mapped status of a statename; one the mapping does not know is `unknown`. */
export function mapStatus(statename: string, mapping: Readonly<Record<string, MappedStatus>>): MappedStatus {
  return Object.hasOwn(mapping, statename) ? mapping[statename]! : 'unknown';
}

/** `now - start` (both from the server) for RUNNING, BACKOFF and STOPPING, else 0. */
export function processUptime(p: ProcessInfo): number {
  return ACTIVE_STATES.has(p.statename) ? p.now - p.start : 0;
}

/**
 * `YYYY-MM-DD HH:MM:SS` in the local time zone of this host, as Python's
 * `time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))` (the year is not
 * padded, like glibc's `%Y`).
 */
export function formatLocalTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  if (Number.isNaN(d.getTime())) return String(epochSeconds); // beyond what Date (and Python's localtime) can represent
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * The message of a non-OK `supervisord.process.status`, line for line the
 * reference's `_build_message`. `Stop time: ` is empty when `stop` is 0; the
 * start time is always formatted, also when `start` is 0 (the reference does
 * not special-case it: a never-started process shows the epoch in local time).
 */
export function processMessage(p: ProcessInfo): string {
  return (
    `Current time: ${formatLocalTime(p.now)}\n` +
    `Process name: ${p.name}\n` +
    `Process group: ${p.group}\n` +
    `Description: ${p.description}\n` +
    `Error log file: ${p.stderr_logfile}\n` +
    `Stdout log file: ${p.stdout_logfile}\n` +
    `Log file: ${p.logfile}\n` +
    `State: ${p.statename}\n` +
    `Start time: ${formatLocalTime(p.start)}\n` +
    `Stop time: ${p.stop === 0 ? '' : formatLocalTime(p.stop)}\n` +
    `Exit Status: ${p.exitstatus}`
  );
}

/**
 * Section 4, items 2 and 3: for each monitored process in server order, its
 * `supervisord.process.status` then its `supervisord.process.uptime`; then the
 * three `supervisord.process.count` gauges (down, up, unknown).
 */
export function processSubmissions(
  processes: readonly ProcessInfo[],
  config: ResolvedConfig,
): { metrics: Metric[]; serviceChecks: ServiceCheck[] } {
  const metrics: Metric[] = [];
  const serviceChecks: ServiceCheck[] = [];
  referenceSubmissions(selectProcesses(processes, config), config, metrics, serviceChecks);
  return { metrics, serviceChecks };
}

/**
 * `[...instance tags, supervisord_process:<name>, supervisord_group:<group>]`,
 * an array of the exact length filled in place (`concat()` is slower, and a
 * spread followed by more elements (`[...a, x, y]`) grows its array as it
 * goes, which left about 130 bytes of unused capacity in each of the tens of
 * thousands of tag arrays of a run over 4,000 processes).
 */
function processTags(p: ProcessInfo, config: ResolvedConfig): string[] {
  const base = config.instanceTags;
  const n = base.length;
  const tags = new Array<string>(n + 2);
  for (let i = 0; i < n; i++) tags[i] = base[i]!;
  tags[n] = knownTag(PROCESS_TAGS, 'supervisord_process:', p.name);
  tags[n + 1] = knownTag(GROUP_TAGS, 'supervisord_group:', p.group);
  return tags;
}

/**
 * The process and group tags made before, by name: every run (and every
 * server of a fleet: the same programs run on many) gives the same tag as the
 * same string, which keeps its hash and its flat form for what reads it after
 * (label sets, masking), instead of a new string each time. At most
 * {@link KNOWN_TAGS_MAX} of each are kept (beyond, the table starts again).
 */
const PROCESS_TAGS = new Map<string, string>();
const GROUP_TAGS = new Map<string, string>();
const KNOWN_TAGS_MAX = 4096;

function knownTag(known: Map<string, string>, prefix: string, value: string): string {
  let tag = known.get(value);
  if (tag === undefined) {
    tag = prefix + value;
    if (known.size >= KNOWN_TAGS_MAX) known.clear();
    known.set(value, tag);
  }
  return tag;
}

/**
 * The reference's submissions, appended to `metrics` and `serviceChecks`.
 * `prepared`, when given, holds {@link processTags} of each monitored
 * process (its array becomes the status check's own) and its mapped status.
 * Without `messages`, the status checks carry no message.
 */
function referenceSubmissions(
  monitored: readonly ProcessInfo[],
  config: ResolvedConfig,
  metrics: Metric[],
  serviceChecks: ServiceCheck[],
  prepared?: PreparedProcesses,
  messages = true,
): void {
  const counts: Record<MappedStatus, number> = { down: 0, up: 0, unknown: 0 };
  for (let i = 0; i < monitored.length; i++) {
    const p = monitored[i]!;
    const tags = prepared === undefined ? processTags(p, config) : prepared.tags[i]!;
    const mapped = prepared === undefined ? mapStatus(p.statename, config.statusMapping) : prepared.mapped[i]!;
    counts[mapped]++;
    const status = SERVICE_STATUS[mapped];
    const check: ServiceCheck = { name: PROCESS_STATUS, status, tags };
    if (status !== SERVICE_STATUS.up && messages) check.message = processMessage(p);
    serviceChecks.push(check);
    metrics.push({ name: PROCESS_UPTIME, type: 'gauge', value: processUptime(p), tags: tags.slice() });
  }
  for (const mapped of COUNT_ORDER) {
    metrics.push({ name: PROCESS_COUNT, type: 'gauge', value: counts[mapped], tags: config.instanceTags.concat(STATUS_TAGS[mapped]) });
  }
}

/**
 * How many new starts of a process a run has seen since the previous one:
 * 1 when its `start` changed to another start time, or when it has a pid
 * that differs from the one seen before (a restart within the same second
 * keeps `start`); else 0. A `start` back to 0 is not a start: a restarted
 * supervisord recreates its processes with `start` 0 before starting them,
 * and counting both changes would count that restart twice. A process seen
 * for the first time counts 0 (nothing to compare with). At most 1:
 * supervisord keeps no history, so several restarts between two runs look
 * like one.
 */
export function restartCount(previous: ProcessMark | undefined, p: ProcessInfo): number {
  if (previous === undefined) return 0;
  return (p.start !== previous.start && p.start !== 0) || (p.pid !== 0 && p.pid !== previous.pid) ? 1 : 0;
}

/**
 * `now - stop` (server clock, never negative) for a process that is
 * STOPPED, EXITED or FATAL and has stopped at least once (`stop` not 0);
 * undefined otherwise (running, starting, stopping, between two attempts in
 * BACKOFF, never stopped, or a statename supervisord does not have).
 */
export function processDowntime(p: ProcessInfo): number | undefined {
  if (!DOWN_STATES.has(p.statename) || p.stop === 0) return undefined;
  return Math.max(0, p.now - p.stop);
}

/** What the check knows of how the last run of a process ended (see {@link processExit}). */
export type ExitFact =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'known';
      /** 0 to 255, or -1 when a signal ended it (or a cause supervisord could not decode). */
      readonly status: number;
      readonly signal?: string;
      readonly coreDumped?: boolean;
      readonly source: 'process-info' | 'main-log';
    }
  | { readonly kind: 'unknown'; readonly reason: string };

const NO_EXIT: ExitFact = Object.freeze({ kind: 'none' });
/** How supervisord's `spawnerr` after an exit before `startsecs` begins in 3.x and 4.x (`EXITED_TOO_QUICKLY` in 4.x), matched as a prefix. */
const QUICK_EXIT = 'Exited too quickly';

/**
 * Whether the last start attempt of `p` ended with an exit: it is EXITED,
 * BACKOFF, FATAL or STOPPED, started (`start` not 0) and stopped (`stop` not
 * 0). Only an exit leads to EXITED; in the other three, the stop must also
 * be at or after that start (a start attempt that failed to spawn, e.g. a
 * command that cannot be found, moves `start` but not `stop`), and in
 * BACKOFF and FATAL a `spawnerr` other than supervisord's "Exited too
 * quickly" is a failure to spawn too (the same second as the previous exit).
 */
function endedByExit(p: ProcessInfo): boolean {
  if (!ENDED_STATES.has(p.statename) || p.start === 0 || p.stop === 0) return false;
  if (p.statename === 'EXITED') return true;
  if (p.stop < p.start) return false;
  if ((p.statename === 'BACKOFF' || p.statename === 'FATAL') && p.spawnerr !== '' && !p.spawnerr.startsWith(QUICK_EXIT)) return false;
  return true;
}

/**
 * Whether the exit of `p` is only told by supervisord's main log:
 * supervisord sets the exit status to None for an exit before `startsecs`
 * (BACKOFF, then FATAL) and when a new start begins, and its process info
 * says `exitstatus: 0` for None. So a 0 is an exit status only in EXITED (the
 * state only a real exit reaches); in BACKOFF and FATAL it never is, and in
 * STOPPED it is when a stop request ended the process, not when a process in
 * BACKOFF was stopped. A -1 (killed by a signal) is real, and the log names
 * the signal.
 */
export function needsMainLog(p: ProcessInfo): boolean {
  if (!endedByExit(p)) return false;
  return p.exitstatus === -1 || (p.exitstatus === 0 && p.statename !== 'EXITED');
}

/**
 * How the last run of `p` ended: nothing to say (it is running, never ran,
 * or its last attempt failed to spawn), its exit status, or unknown. A status
 * other than 0, and 0 in EXITED, come from supervisord's process info; a 0
 * that is not an exit status ({@link needsMainLog}) is replaced by the last
 * exit the main log shows for the process's name, or is unknown: never
 * reported as 0. The main log names a process by its `name` only: for a name
 * several processes share, the status is unknown.
 */
export function processExit(p: ProcessInfo, evidence?: ExitEvidence): ExitFact {
  if (!endedByExit(p)) return NO_EXIT;
  const trusted = (p.exitstatus !== 0 || p.statename === 'EXITED') && p.exitstatus !== -1;
  if (trusted) return { kind: 'known', status: p.exitstatus, source: 'process-info' };
  const lookup = loggedExit(p, evidence);
  const logged = lookup.known ? lookup.exit : undefined;
  const signal = logged?.signal === undefined ? {} : { signal: logged.signal, ...(logged.coreDumped === true ? { coreDumped: true } : {}) };
  if (p.exitstatus === -1) {
    // Killed by a signal, which only the log names (and only a logged death by signal can name it).
    return { kind: 'known', status: -1, ...(logged?.status === -1 ? signal : {}), source: 'process-info' };
  }
  if (logged === undefined) return { kind: 'unknown', reason: (lookup as { reason: string }).reason };
  // A stop that ended with 0 is logged at INFO: without INFO lines, the last exit logged may be an older one.
  if (p.statename === 'STOPPED' && evidence?.infoLogged !== true) {
    return { kind: 'unknown', reason: "supervisord's main log has no INFO lines (loglevel warn or higher does not log a stop that ended with status 0)" };
  }
  return { kind: 'known', status: logged.status, ...signal, source: 'main-log' };
}

function loggedExit(p: ProcessInfo, evidence: ExitEvidence | undefined): ExitLookup {
  if (evidence === undefined) return { known: false, reason: "supervisord's main log was not read" };
  if (evidence.sharedNames.has(p.name)) {
    return { known: false, reason: `several processes are named '${p.name}' and the main log names a process without its group` };
  }
  return evidence.lookup(p.name);
}

/**
 * The exit status of `p` when it is known (see {@link processExit}),
 * undefined when there is none to report or it is unknown.
 */
export function processExitStatus(p: ProcessInfo, evidence?: ExitEvidence): number | undefined {
  const fact = processExit(p, evidence);
  return fact.kind === 'known' ? fact.status : undefined;
}

/** A {@link ProcessSummary}'s `exit` from an {@link ExitFact}; undefined for none. */
function exitSummary(fact: ExitFact): ProcessExit | undefined {
  if (fact.kind === 'none') return undefined;
  if (fact.kind === 'unknown') return { status: null, reason: fact.reason };
  const exit: ProcessExit = { status: fact.status, source: fact.source };
  if (fact.signal !== undefined) exit.signal = fact.signal;
  if (fact.coreDumped === true) exit.coreDumped = true;
  return exit;
}

/**
 * One warning per reason for the processes whose exit status is unknown:
 * `exit status of 'quick' (FATAL) unknown: <reason>; supervisord's process
 * info says 0 for an exit before startsecs, which is not an exit status`.
 */
function unknownExitWarnings(unknown: ReadonlyArray<readonly [ProcessInfo, string]>): string[] {
  const byReason = new Map<string, string[]>();
  for (const [p, reason] of unknown) {
    const names = byReason.get(reason) ?? [];
    names.push(`'${p.group === p.name ? p.name : `${p.group}:${p.name}`}' (${p.statename})`);
    byReason.set(reason, names);
  }
  const warnings: string[] = [];
  for (const [reason, names] of byReason) {
    const shown = names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
    warnings.push(
      `exit status of ${shown} unknown: ${reason}; supervisord's process info says 0 for an exit before startsecs, which is not an exit status`,
    );
  }
  return warnings;
}

/** The key of a process in a {@link ProcessHistory}: `group:name`. */
export function processKey(p: Pick<ProcessInfo, 'group' | 'name'>): string {
  return `${p.group}:${p.name}`;
}

/**
 * What {@link buildRun} computes once per monitored process and shares
 * between the reference's submissions, ours and the restart marks (index i
 * is `monitored[i]`).
 */
export interface PreparedProcesses {
  /** {@link processTags}: the status check's array; our metrics take copies. */
  readonly tags: readonly string[][];
  /** {@link processKey}, as a string the previous history holds where it had one. */
  readonly keys: readonly string[];
  /** {@link mapStatus} of each process. */
  readonly mapped: readonly MappedStatus[];
  /** The previous history has exactly `keys`, in this order. */
  readonly sameKeys: boolean;
}

/**
 * Our per-process metrics (restarts, downtime, exit status and signal, start
 * time) for the monitored processes in order, then `supervisord.group.count`
 * (down, up, unknown) for each group in order of first appearance. No
 * volatile value (pid, start, description) is ever a tag.
 *
 * @param exits the facts of {@link processExit} in the order of `monitored`;
 *   computed without evidence (the main log) when absent.
 * @param prepared the tags and keys {@link buildRun} computed already.
 */
export function extraSubmissions(
  monitored: readonly ProcessInfo[],
  config: ResolvedConfig,
  previous: ProcessHistory | undefined,
  exits?: readonly ExitFact[],
  prepared?: PreparedProcesses,
): Metric[] {
  const metrics: Metric[] = [];
  appendExtraSubmissions(metrics, monitored, config, previous, exits, prepared);
  return metrics;
}

function appendExtraSubmissions(
  metrics: Metric[],
  monitored: readonly ProcessInfo[],
  config: ResolvedConfig,
  previous: ProcessHistory | undefined,
  exits: readonly ExitFact[] | undefined,
  prepared: PreparedProcesses | undefined,
): void {
  // Per group, in order of first appearance: its counts and its tag (the one its first process's tags hold).
  const groupIndex = new Map<string, number>();
  const groupCounts: Array<Record<MappedStatus, number>> = [];
  const groupTags: string[] = [];
  for (let i = 0; i < monitored.length; i++) {
    const p = monitored[i]!;
    // A copy of the status check's array, as a fresh processTags() would be: no two submissions of a process share one.
    const tags = prepared === undefined ? processTags(p, config) : prepared.tags[i]!.slice();
    const mark = previous === undefined ? undefined : previous.get(prepared === undefined ? processKey(p) : prepared.keys[i]!);
    metrics.push({ name: PROCESS_RESTARTS, type: 'count', value: restartCount(mark, p), tags });
    const downtime = processDowntime(p);
    if (downtime !== undefined) metrics.push({ name: PROCESS_DOWNTIME, type: 'gauge', value: downtime, tags: tags.slice() });
    const exit = exits?.[i] ?? processExit(p);
    if (exit.kind === 'known') {
      metrics.push({ name: PROCESS_EXIT_STATUS, type: 'gauge', value: exit.status, tags: tags.slice() });
      const signal = exit.signal === undefined ? undefined : signalNumber(exit.signal);
      if (signal !== undefined) metrics.push({ name: PROCESS_EXIT_SIGNAL, type: 'gauge', value: signal, tags: tags.slice() });
    }
    // Never 0: a process that never started has no start time.
    if (p.start !== 0) metrics.push({ name: PROCESS_START_TIME, type: 'gauge', value: p.start, tags: tags.slice() });
    let g = groupIndex.get(p.group);
    if (g === undefined) {
      g = groupCounts.length;
      groupIndex.set(p.group, g);
      groupCounts.push({ down: 0, up: 0, unknown: 0 });
      groupTags.push(tags[tags.length - 1]!);
    }
    groupCounts[g]![prepared === undefined ? mapStatus(p.statename, config.statusMapping) : prepared.mapped[i]!]++;
  }
  for (let g = 0; g < groupCounts.length; g++) {
    const counts = groupCounts[g]!;
    for (const mapped of COUNT_ORDER) {
      metrics.push({ name: GROUP_COUNT, type: 'gauge', value: counts[mapped], tags: config.instanceTags.concat(groupTags[g]!, STATUS_TAGS[mapped]) });
    }
  }
}

/**
 * The tags and history keys of the monitored processes. A process at the
 * same place in `previous` (the usual case: supervisord lists in a stable
 * order) takes the key string `previous` holds, which costs no new string
 * and no hashing.
 */
function prepareProcesses(monitored: readonly ProcessInfo[], config: ResolvedConfig, previous: ProcessHistory | undefined): PreparedProcesses {
  const tags = new Array<string[]>(monitored.length);
  const keys = new Array<string>(monitored.length);
  const mapped = new Array<MappedStatus>(monitored.length);
  const known = previous === undefined ? undefined : previous.keys();
  let sameKeys = previous !== undefined && previous.size === monitored.length;
  for (let i = 0; i < monitored.length; i++) {
    const p = monitored[i]!;
    tags[i] = processTags(p, config);
    mapped[i] = mapStatus(p.statename, config.statusMapping);
    const key = known?.next().value;
    if (key !== undefined && isKeyOf(key, p)) {
      keys[i] = key;
    } else {
      keys[i] = processKey(p);
      sameKeys = false;
    }
  }
  return { tags, keys, mapped, sameKeys };
}

/** Whether `key` is `group:name` of `p`, without building that string. */
function isKeyOf(key: string, p: ProcessInfo): boolean {
  const g = p.group.length;
  return key.length === g + 1 + p.name.length && key.charCodeAt(g) === 0x3a && key.startsWith(p.group) && key.endsWith(p.name);
}

/**
 * The restart marks of this run: `previous` itself when it holds the same
 * processes in the same order with the same marks (the usual run: nothing
 * rebuilt, nothing kept twice), else a new map that reuses the unchanged
 * marks.
 */
function nextHistory(monitored: readonly ProcessInfo[], prepared: PreparedProcesses, previous: ProcessHistory | undefined): ProcessHistory {
  let same = prepared.sameKeys;
  const marks = new Array<ProcessMark>(monitored.length);
  for (let i = 0; i < monitored.length; i++) {
    const p = monitored[i]!;
    const mark = previous?.get(prepared.keys[i]!);
    if (mark !== undefined && mark.start === p.start && mark.pid === p.pid) {
      marks[i] = mark;
    } else {
      marks[i] = { start: p.start, pid: p.pid };
      same = false;
    }
  }
  if (same) return previous!;
  const history = new Map<string, ProcessMark>();
  for (let i = 0; i < marks.length; i++) history.set(prepared.keys[i]!, marks[i]!);
  return history;
}

/**
 * `supervisord.server.state` from `supervisor.getState`: RUNNING OK,
 * RESTARTING WARNING, SHUTDOWN and FATAL CRITICAL, any other statename
 * UNKNOWN; a message `supervisord is <statename>` when not OK. A
 * SHUTDOWN_STATE fault (the daemon is stopping or restarting: supervisord
 * refuses `getState` itself then) is CRITICAL with the fault string as
 * message. Any other failure, or an answer without a string `statename`,
 * gives no service check and a warning `Error collecting state: ...`.
 */
export function serverStateCheck(outcome: CallOutcome, config: ResolvedConfig): { check: ServiceCheck } | { warning: string } {
  const tags = [...config.instanceTags];
  if (!outcome.ok) {
    if (isShutdownFault(outcome.error)) return { check: { name: SERVER_STATE, status: 2, tags, message: outcome.error.faultString } };
    return { warning: `Error collecting state: ${errorText(outcome.error)}` };
  }
  const v = outcome.value;
  const statename =
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, 'statename') ? (v as Record<string, unknown>)['statename'] : undefined;
  if (typeof statename !== 'string') {
    return { warning: `Error collecting state: expected a struct with a string 'statename', got ${typeName(v)}` };
  }
  const status = SERVER_STATUS.get(statename) ?? 3;
  const check: ServiceCheck = { name: SERVER_STATE, status, tags };
  if (status !== 0) check.message = `supervisord is ${statename}`;
  return { check };
}

function isShutdownFault(error: unknown): error is XmlRpcFault {
  return error instanceof XmlRpcFault && error.faultCode === SHUTDOWN_STATE_FAULT;
}

/**
 * How a failed `getAllProcessInfo` is reported (section 4, item 1): the
 * `supervisord.can_connect` CRITICAL message, also the run's error; or, for an
 * XML-RPC fault, an error without a service check.
 *
 * - {@link ConnectError}, {@link TimeoutError} of the connect timeout,
 *   {@link ConnectionClosedError}: the reference's `socket.error` messages,
 *   with host, port or socket as configured;
 * - a {@link TimeoutError} of the deadline (the reference would say it
 *   cannot connect, which sends the user to check permissions and whether
 *   supervisord runs, when it is only slow): `supervisord at <target> did
 *   not answer within <N> s`, naming the pending call and the process count
 *   of a {@link RunDeadlineError}, with can_connect CRITICAL;
 * - {@link HttpStatusError}: 401 `Username or password to <name> are
 *   incorrect.`, else `An error occurred while connecting to <name>: <code> <reason>`;
 * - {@link XmlRpcFault}: `An error occurred while reading process information: <faultCode> <faultString>`, no service check;
 * - {@link ClientClosedError} (the check was closed during the run): the
 *   generic message, no service check (nothing was learnt about the server);
 * - anything else (not XML-RPC, malformed XML, limits exceeded, HTTP
 *   garbage...), which crashes the reference: `An error occurred while
 *   connecting to <name>: <error message>` with can_connect CRITICAL.
 */
export function describeFailure(error: unknown, config: ResolvedConfig): { message: string; canConnect: boolean } {
  if (error instanceof XmlRpcFault) {
    return {
      message: `An error occurred while reading process information: ${error.faultCode} ${error.faultString}`,
      canConnect: false,
    };
  }
  if (error instanceof TimeoutError && error.code === 'ERR_DEADLINE') return { message: timeoutMessage(error, config), canConnect: true };
  if (error instanceof ConnectError || error instanceof TimeoutError || error instanceof ConnectionClosedError) {
    // `target` is http://<host>:<port as configured> or the socket as configured, as in the reference; a `url`'s for ours.
    const message =
      config.address.kind === 'tcp'
        ? `Cannot connect to ${config.target}. Make sure supervisor is running and XML-RPC inet interface is enabled.`
        : `Cannot connect to ${config.target}. Make sure supervisor is running and socket is enabled and socket file has the right permissions.`;
    return { message, canConnect: true };
  }
  if (error instanceof HttpStatusError) {
    const message =
      error.status === 401
        ? `Username or password to ${config.name} are incorrect.`
        : `An error occurred while connecting to ${config.name}: ${error.status} ${error.reason}`;
    return { message, canConnect: true };
  }
  const message = `An error occurred while connecting to ${config.name}: ${errorText(error)}`;
  return { message, canConnect: !(error instanceof ClientClosedError) };
}

/**
 * `supervisord at unix:///run/s.sock did not answer within 10 s:
 * system.multicall[supervisor.getAllProcessInfo, ...] was pending (the last
 * listing had 4000 processes).`
 */
function timeoutMessage(error: TimeoutError, config: ResolvedConfig): string {
  let message = `supervisord at ${config.target} did not answer within ${error.timeoutMs / 1000} s`;
  if (!(error instanceof RunDeadlineError)) return `${message}.`;
  const [first, ...others] = error.pending;
  if (first !== undefined) {
    message +=
      others.length === 0 ? `: ${first} was pending` : `: ${error.pending.length} calls were pending, the first ${first}`;
  }
  if (error.processCount !== undefined) message += ` (the last listing had ${error.processCount} processes)`;
  return `${message}.`;
}

/**
 * The reference's version pattern (`SUPERVISORD_VERSION_PATTERN`, searched
 * anywhere in the string): major.minor, optional .patch, optional release of
 * one letter and digits. `\d` is Unicode in Python, hence `\p{Nd}`.
 */
const VERSION_PATTERN = /(0|[1-9]\p{Nd}*)\.(0|[1-9]\p{Nd}*)(?:\.(0|[1-9]\p{Nd}*))?([a-zA-Z][0-9]*)?/u;

/**
 * Parses `supervisor.getSupervisorVersion`'s answer as the reference's
 * metadata does: `3.0` -> 3, 0; `3.0b2` -> release `b2`; `4.1.2` -> patch 2.
 * Parts are strings; absent parts are left out.
 *
 * @returns undefined when the text does not contain a version.
 */
export function parseVersion(raw: string): VersionMetadata | undefined {
  const m = VERSION_PATTERN.exec(raw);
  if (m === null) return undefined;
  const version: VersionMetadata = { raw, major: m[1]!, minor: m[2]!, scheme: 'supervisord' };
  if (m[3] !== undefined) version.patch = m[3];
  if (m[4] !== undefined) version.release = m[4];
  return version;
}

/**
 * A whole run's result from its collected answers, without history: see
 * {@link buildRun} (restart counts are then all 0, as on a first run).
 */
export function buildResult(config: ResolvedConfig, collected: Collected, previous?: ProcessHistory): CheckResult {
  return buildRun(config, collected, previous).result;
}

/**
 * A whole run's result from its collected answers (lib/README.md, "One run"): can_connect OK,
 * the process submissions and counts, then the version metadata; or, when the
 * process list failed, only what {@link describeFailure} says. A failure to
 * get or parse the version is a warning (`Error collecting version: ...`).
 * Then ours (see the module comment for the order), with restarts counted
 * against `previous`.
 *
 * A SHUTDOWN_STATE fault on the process list (supervisord is stopping or
 * restarting) is not an error of the run, unlike the reference: the server
 * answered, so `supervisord.can_connect` is OK, `supervisord.server.state` is
 * CRITICAL with the fault string as message, and there is no process data,
 * version or error.
 *
 * `unjudged`: why the process names could not all be matched against the
 * patterns in time (`NameFilter.judge`); the run then reports that error
 * after can_connect OK, and no process. `messages` false leaves out the
 * messages of the processes' status checks (`CheckOptions.messages`).
 */
export function buildRun(config: ResolvedConfig, collected: Collected, previous?: ProcessHistory, unjudged?: string, messages = true): RunOutput {
  const result: CheckResult = { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] };
  const { processInfo } = collected;
  if (!processInfo.ok) {
    if (isShutdownFault(processInfo.error)) {
      result.serviceChecks.push({ name: CAN_CONNECT, status: 0, tags: [...config.instanceTags] });
      result.serviceChecks.push({ name: SERVER_STATE, status: 2, tags: [...config.instanceTags], message: processInfo.error.faultString });
      return { result, history: undefined };
    }
    const failure = describeFailure(processInfo.error, config);
    if (failure.canConnect) {
      result.serviceChecks.push({ name: CAN_CONNECT, status: 2, tags: [...config.instanceTags], message: failure.message });
    }
    result.errors.push(failure.message);
    return { result, history: undefined };
  }
  // The reference submits can_connect OK as soon as the list arrived, then crashes on a malformed one.
  result.serviceChecks.push({ name: CAN_CONNECT, status: 0, tags: [...config.instanceTags] });
  const decoded = collected.decoded ?? decodeProcessList(processInfo.value);
  if (!decoded.ok) {
    result.errors.push(`An error occurred while reading process information: ${decoded.reason}`);
    return { result, history: undefined };
  }
  if (unjudged !== undefined) {
    // Which processes are monitored is unknown: report none rather than guess.
    result.errors.push(`An error occurred while filtering process names: ${unjudged}`);
    return { result, history: undefined };
  }
  const monitored = selectProcesses(decoded.processes, config);
  // Only include lists can match nothing (and the check costs a set of every name).
  if (config.procNames.length > 0 || config.procRegex.length > 0) result.warnings.push(...unmatchedFilterWarnings(decoded.processes, config));
  const prepared = prepareProcesses(monitored, config, previous);
  referenceSubmissions(monitored, config, result.metrics, result.serviceChecks, prepared, messages);

  const version = collected.version;
  if (version !== undefined) {
    if (!version.ok) {
      result.warnings.push(`Error collecting version: ${errorText(version.error)}`);
    } else if (typeof version.value !== 'string') {
      result.warnings.push(`Error collecting version: expected a string, got ${typeName(version.value)}`);
    } else {
      const parsed = parseVersion(version.value);
      if (parsed === undefined) result.warnings.push(`Error collecting version: cannot parse version ${JSON.stringify(version.value)}`);
      else result.metadata.version = parsed;
    }
  }

  // Beyond the reference: after all of its submissions.
  const exits = monitored.map((p) => processExit(p, collected.exits));
  appendExtraSubmissions(result.metrics, monitored, config, previous, exits, prepared);
  if (collected.state !== undefined) {
    const state = serverStateCheck(collected.state, config);
    if ('check' in state) result.serviceChecks.push(state.check);
    else result.warnings.push(state.warning);
  }
  const unknownExits: Array<[ProcessInfo, string]> = [];
  result.processes = monitored.map((p, i): ProcessSummary => {
    const summary: ProcessSummary = {
      name: p.name,
      group: p.group,
      statename: p.statename,
      status: mapStatus(p.statename, config.statusMapping),
      uptime: processUptime(p),
      description: p.description,
    };
    const fact = exits[i]!;
    const exit = exitSummary(fact);
    if (exit !== undefined) summary.exit = exit;
    if (fact.kind === 'unknown') unknownExits.push([p, fact.reason]);
    return summary;
  });
  result.warnings.push(...unknownExitWarnings(unknownExits));
  return { result, history: nextHistory(monitored, prepared, previous), monitored };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (value instanceof Uint8Array) return 'binary data';
  return typeof value === 'object' ? 'a struct' : `a ${typeof value}`;
}
