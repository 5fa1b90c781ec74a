/**
 * The Monitoring Plugins output (`--format nagios`): what Nagios, Icinga,
 * Naemon, Sensu and other systems that run a plugin every interval read.
 *
 * - The state is the exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
 *   (the plugin could not tell: bad arguments, its own failure, or a filter
 *   that matched nothing, which nobody would read as a warning there).
 * - The first line is `SUPERVISORD <STATE> - <summary> | <perfdata>`, the
 *   summary kept within 80 characters with the perfdata after it; the
 *   following lines (long output) say why: each process that is not up,
 *   with its state, supervisord's description and its exit status
 *   (`exit status unknown` when the run has none, never 0), the other
 *   service checks that are not OK, the run's errors and warnings. With
 *   per-process uptimes asked, they follow the long output after a second
 *   `|` (the multi-line performance data of Nagios 3 and later), so the
 *   first line stays short whatever the number of processes.
 * - Performance data: `'label'=value[UOM];[warn];[crit];[min];[max]`, the
 *   label always quoted (a `'` in it doubled), counts of monitored processes
 *   by mapped status (`up`, `down`, `unknown`, min 0, max the monitored
 *   total, the thresholds in `warn` and `crit`), uptimes in seconds (`s`).
 *   Counts are absent, not 0, when the process list was not read.
 * - Thresholds are ranges of the guidelines (`nagios-range.ts`) on the down
 *   and unknown counts of each server. By default, the judgement of the
 *   other outputs' exit codes: a down process is CRITICAL (`critical` `0`
 *   on down: alert above 0), an unknown one WARNING (`warning` `0` on
 *   unknown). Giving either threshold of a count replaces both defaults of
 *   that count.
 * - A failed connection, an HTTP error or any error of a run is CRITICAL
 *   (the guidelines keep UNKNOWN for the plugin's own failures, not the
 *   server's); another service check that is not OK counts as WARNING when
 *   WARNING or UNKNOWN, CRITICAL when CRITICAL, as in the other outputs.
 * - Several servers: each is judged alone, the worst state wins (CRITICAL,
 *   then WARNING, then UNKNOWN, then OK), labels and long-output lines
 *   start with the server's name.
 *
 * Text from the server (process names, descriptions, messages) never
 * breaks the format: controls and `|` (which starts performance data)
 * become `?`.
 *
 * @module
 */

import { CAN_CONNECT, isUnmatchedFilterWarning, PROCESS_COUNT, PROCESS_EXIT_STATUS, PROCESS_STATUS } from '../submission-names.js';
import type { ProcessSummary, ServerRun } from '../types.js';
import { exitText, runFailure } from './exit-text.js';
import type { RunFailure } from './exit-text.js';
import { exceeds, parseRange } from './nagios-range.js';
import type { NagiosRange } from './nagios-range.js';
import { neutralizeControls } from './safe-text.js';

export { exceeds, parseRange } from './nagios-range.js';
export type { NagiosRange } from './nagios-range.js';

/** A plugin's state, its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
export type NagiosState = 0 | 1 | 2 | 3;

/** The names of the states, by code. */
export const NAGIOS_STATES: readonly ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

/** Thresholds on one count, as ranges (`10`, `10:`, `~:10`, `10:20`, `@10:20`). */
export interface NagiosThresholds {
  warning?: string;
  critical?: string;
}

/** Options of {@link formatNagios}. */
export interface NagiosOptions {
  /** Thresholds on each server's count of down processes. Default `{ critical: '0' }`. */
  down?: NagiosThresholds;
  /** Thresholds on each server's count of unknown processes. Default `{ warning: '0' }`. */
  unknown?: NagiosThresholds;
  /** Add each monitored process's uptime to the performance data. Default false. */
  uptime?: boolean;
}

/** A server's run, and whether its instance filters the processes (include or exclude lists). */
export interface NagiosRun extends ServerRun {
  /**
   * The instance has `proc_names`, `proc_regex`, `proc_names_exclude` or
   * `proc_regex_exclude`: a run that then monitors no process is UNKNOWN
   * (the filters matched nothing). Default false.
   */
  readonly filtered?: boolean;
}

/** What the plugin prints and how it exits. */
export interface NagiosReport {
  /** The exit code. */
  state: NagiosState;
  /** Everything to write on stdout, ending with a newline. */
  output: string;
}

const PREFIX = 'SUPERVISORD';
/** The guidelines' advice for the status text (a pager message is cut after that). */
const SUMMARY_MAX = 80;
/** Processes listed in the long output per server; the rest are counted on one line. */
const MAX_PROCESS_LINES = 100;
const DEFAULT_DOWN: NagiosThresholds = { critical: '0' };
const DEFAULT_UNKNOWN: NagiosThresholds = { warning: '0' };
const THRESHOLD_KEYS = new Set(['warning', 'critical']);
const OPTION_KEYS = new Set(['down', 'unknown', 'uptime']);
/** Worst first: CRITICAL, WARNING, UNKNOWN, OK. */
const SEVERITY: Readonly<Record<NagiosState, number>> = { 2: 3, 1: 2, 3: 1, 0: 0 };
const STATUS_WORD: Readonly<Record<number, string>> = { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };

interface Ranges {
  warning?: NagiosRange;
  critical?: NagiosRange;
}

interface Judged {
  state: NagiosState;
  summary: (budget: number) => string;
  long: string[];
  perf: string[];
  uptimes: string[];
  counts: Counts | undefined;
}

interface Counts {
  up: number;
  down: number;
  unknown: number;
}

/**
 * The worse of two states: CRITICAL, then WARNING, then UNKNOWN, then OK.
 */
export function worseState(a: NagiosState, b: NagiosState): NagiosState {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/**
 * Renders the runs in the Monitoring Plugins format and judges them.
 *
 * @param runs one entry per checked server (at least one).
 * @param options see {@link NagiosOptions}.
 * @throws {TypeError} for an unknown option or one of the wrong type;
 *   {@link RangeError} for a threshold that is not a range (naming it).
 */
export function formatNagios(runs: readonly NagiosRun[], options: NagiosOptions = {}): NagiosReport {
  const { down, unknown, uptime } = checkOptions(options);
  if (runs.length === 0) return nagiosUnknown('no server was checked');
  const several = runs.length > 1;
  const judged = runs.map((run) => judgeRun(run, down, unknown, uptime, several ? `${run.name} ` : ''));
  let state: NagiosState = 0;
  for (const j of judged) state = worseState(state, j.state);
  const head = `${PREFIX} ${NAGIOS_STATES[state]} - `;
  const budget = SUMMARY_MAX - head.length;
  const summary = several ? severalSummary(runs, judged, budget) : judged[0]!.summary(budget);
  const perf = judged.flatMap((j) => j.perf);
  const lines = [`${head}${summary}${perf.length === 0 ? '' : ` | ${perf.join(' ')}`}`];
  judged.forEach((j, i) => {
    const tag = several ? `[${clean(runs[i]!.name)}] ` : '';
    if (several) lines.push(`${tag}${NAGIOS_STATES[j.state]} - ${j.summary(Infinity)}`);
    for (const line of j.long) lines.push(`${tag}${line}`);
  });
  const uptimes = judged.flatMap((j) => j.uptimes);
  if (uptimes.length > 0) lines.push(`| ${uptimes.join('\n')}`);
  return { state, output: `${lines.join('\n')}\n` };
}

/**
 * The report of a plugin that could not check: UNKNOWN, the message on the
 * first line (cut to the guidelines' 80 characters, then whole on the
 * next line when it had to be cut).
 */
export function nagiosUnknown(message: string): NagiosReport {
  const text = oneLine(message);
  const head = `${PREFIX} UNKNOWN - `;
  const short = cut(text, SUMMARY_MAX - head.length);
  return { state: 3, output: `${head}${short}${short === text ? '' : `\n${text}`}\n` };
}

function checkOptions(options: NagiosOptions): { down: Ranges; unknown: Ranges; uptime: boolean } {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}' (expected down, unknown, uptime)`);
  }
  if (options.uptime !== undefined && typeof options.uptime !== 'boolean') throw new TypeError('options.uptime must be a boolean');
  return {
    down: thresholds(options.down ?? DEFAULT_DOWN, 'down'),
    unknown: thresholds(options.unknown ?? DEFAULT_UNKNOWN, 'unknown'),
    uptime: options.uptime === true,
  };
}

function thresholds(given: NagiosThresholds, name: string): Ranges {
  if (typeof given !== 'object' || given === null) throw new TypeError(`options.${name} must be an object`);
  const ranges: Ranges = {};
  for (const [key, value] of Object.entries(given)) {
    if (!THRESHOLD_KEYS.has(key)) throw new TypeError(`unknown option '${name}.${key}' (expected warning, critical)`);
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new TypeError(`options.${name}.${key} must be a string`);
    try {
      ranges[key as keyof Ranges] = parseRange(value);
    } catch (error) {
      throw new RangeError(`options.${name}.${key}: ${(error as Error).message}`);
    }
  }
  return ranges;
}

function judgeRun(run: NagiosRun, down: Ranges, unknown: Ranges, withUptime: boolean, labelPrefix: string): Judged {
  const { result } = run;
  const long: string[] = [];
  const canConnect = result.serviceChecks.find((c) => c.name === CAN_CONNECT);
  const counts = countsOf(run);
  let state: NagiosState = 0;
  const notes: string[] = [];

  let failure: string | undefined;
  if (canConnect !== undefined && canConnect.status !== 0) failure = `${FAILURE_WORDS[runFailure(canConnect.message ?? '')]}: ${clean(run.target)}`;
  else if (counts === undefined && result.errors.length > 0) failure = 'the check failed';
  if (result.errors.length > 0 || failure !== undefined) state = 2;

  const perf: string[] = [];
  if (counts !== undefined) {
    const total = counts.up + counts.down + counts.unknown;
    state = worseState(state, judgeCount(counts.down, down));
    state = worseState(state, judgeCount(counts.unknown, unknown));
    perf.push(perfItem(`${labelPrefix}up`, counts.up, '', {}, total));
    perf.push(perfItem(`${labelPrefix}down`, counts.down, '', down, total));
    perf.push(perfItem(`${labelPrefix}unknown`, counts.unknown, '', unknown, total));
    if (result.warnings.some(isUnmatchedFilterWarning)) {
      state = worseState(state, 3);
      notes.push('a filter matched no process');
    } else if (total === 0 && run.filtered === true) {
      state = worseState(state, 3);
      notes.push('the filters matched no process');
    }
  }

  for (const check of result.serviceChecks) {
    if (check.status === 0 || check.name === CAN_CONNECT || check.name === PROCESS_STATUS) continue;
    state = worseState(state, check.status === 2 ? 2 : 1);
    const message = check.message === undefined || check.message === '' ? '' : `: ${oneLine(check.message)}`;
    long.unshift(`${STATUS_WORD[check.status]} ${clean(check.name)}${message}`);
    if (check.message !== undefined && check.message !== '') notes.push(oneLine(check.message));
  }

  const processes = result.processes ?? [];
  const exits = exitStatuses(run);
  const notOk = processes.filter((p) => p.status !== 'up');
  for (const p of notOk.slice(0, MAX_PROCESS_LINES)) long.push(processLine(p, exits));
  if (notOk.length > MAX_PROCESS_LINES) long.push(`... and ${notOk.length - MAX_PROCESS_LINES} more processes not up`);
  for (const error of result.errors) long.push(`error: ${oneLine(error)}`);
  for (const warning of result.warnings) long.push(`warning: ${oneLine(warning)}`);

  const uptimes: string[] = [];
  if (withUptime) {
    for (const p of processes) {
      if (Number.isFinite(p.uptime)) uptimes.push(perfItem(`${labelPrefix}${processLabel(p)} uptime`, p.uptime, 's', {}, undefined));
    }
  }

  const summary = (budget: number): string => {
    if (failure !== undefined) return cut(failure, budget);
    if (counts === undefined) return cut('no process information', budget);
    return countsSummary(counts, notOk, notes, budget);
  };
  return { state, summary, long, perf, uptimes, counts };
}

/**
 * `1 down (java), 1 unknown (python), 1 up`, after the notes (`supervisord
 * is RESTARTING; ...`): zero counts left out (the performance data has
 * them), names of the processes not up as many as `budget` leaves room for,
 * then `+N more`.
 */
function countsSummary(counts: Counts, notOk: readonly ProcessSummary[], notes: readonly string[], budget: number): string {
  const head = notes.map((n) => `${n}; `).join('');
  const names = (status: 'down' | 'unknown'): string[] => notOk.filter((p) => p.status === status).map((p) => clean(processLabel(p)));
  const build = (downNames: string, unknownNames: string): string => `${head}${countsPhrase(counts, downNames, unknownNames)}`;
  const bare = build('', '');
  if (width(bare) >= budget) return cut(bare, budget);
  let room = budget - width(bare);
  const listed = (all: string[]): string => {
    // Whole names only; `+N more` for the rest. Nothing when not even one fits.
    for (let shown = all.length; shown > 0; shown--) {
      const more = all.length - shown;
      const text = ` (${[...all.slice(0, shown), ...(more > 0 ? [`+${more} more`] : [])].join(', ')})`;
      if (width(text) <= room) {
        room -= width(text);
        return text;
      }
    }
    return '';
  };
  const downNames = counts.down > 0 ? listed(names('down')) : '';
  const unknownNames = counts.unknown > 0 ? listed(names('unknown')) : '';
  return build(downNames, unknownNames);
}

/** `2 down (a, b), 1 unknown, 5 up`; `7 processes up`; `no process`. */
function countsPhrase(counts: Counts, downNames = '', unknownNames = ''): string {
  const total = counts.up + counts.down + counts.unknown;
  if (total === 0) return 'no process';
  if (counts.up === total) return `${total} ${total === 1 ? 'process' : 'processes'} up`;
  const parts: string[] = [];
  if (counts.down > 0) parts.push(`${counts.down} down${downNames}`);
  if (counts.unknown > 0) parts.push(`${counts.unknown} unknown${unknownNames}`);
  if (counts.up > 0) parts.push(`${counts.up} up`);
  return parts.join(', ');
}

/** `2 of 3 servers not OK (b, c); 1 down, 1 unknown, 1 up`, the names left out when they do not fit. */
function severalSummary(runs: readonly NagiosRun[], judged: readonly Judged[], budget: number): string {
  const notOk = runs.filter((_, i) => judged[i]!.state !== 0).map((r) => clean(r.name));
  const totals: Counts = { up: 0, down: 0, unknown: 0 };
  for (const j of judged) {
    if (j.counts === undefined) continue;
    totals.up += j.counts.up;
    totals.down += j.counts.down;
    totals.unknown += j.counts.unknown;
  }
  const processes = `; ${countsPhrase(totals)}`;
  const base = notOk.length === 0 ? `${runs.length} servers OK` : `${notOk.length} of ${runs.length} servers not OK`;
  const withNames = notOk.length === 0 ? base : `${base} (${notOk.join(', ')})`;
  if (width(withNames + processes) <= budget) return withNames + processes;
  return cut(base + processes, budget);
}

function judgeCount(value: number, ranges: Ranges): NagiosState {
  if (ranges.critical !== undefined && exceeds(ranges.critical, value)) return 2;
  if (ranges.warning !== undefined && exceeds(ranges.warning, value)) return 1;
  return 0;
}

/** The counts of `supervisord.process.count` (the reference's own), or undefined when the run has none. */
function countsOf(run: ServerRun): Counts | undefined {
  const metrics = run.result.metrics.filter((m) => m.name === PROCESS_COUNT);
  if (metrics.length === 0) return undefined;
  const counts: Counts = { up: 0, down: 0, unknown: 0 };
  for (const metric of metrics) {
    const tag = metric.tags[metric.tags.length - 1] ?? '';
    const status = tag.startsWith('status:') ? tag.slice('status:'.length) : '';
    if (status === 'up' || status === 'down' || status === 'unknown') counts[status] += metric.value;
  }
  return counts;
}

/** `supervisord.process.exit_status` by process (`group:name`). */
function exitStatuses(run: ServerRun): Map<string, number> {
  const exits = new Map<string, number>();
  for (const metric of run.result.metrics) {
    if (metric.name !== PROCESS_EXIT_STATUS) continue;
    let name: string | undefined;
    let group: string | undefined;
    // The check appends its own process and group tags after the user's, which may use the same keys.
    for (const tag of metric.tags) {
      if (tag.startsWith('supervisord_process:')) name = tag.slice('supervisord_process:'.length);
      else if (tag.startsWith('supervisord_group:')) group = tag.slice('supervisord_group:'.length);
    }
    if (name !== undefined && group !== undefined) exits.set(`${group}:${name}`, metric.value);
  }
  return exits;
}

/** `broken: FATAL (down), can't find command 'x', exit status unknown` */
function processLine(p: ProcessSummary, exits: ReadonlyMap<string, number>): string {
  // A result from an older check has no `exit`: its exit_status gauge says it.
  const gauge = exits.get(`${p.group}:${p.name}`);
  const exit = p.exit ?? (gauge === undefined ? undefined : { status: gauge });
  const parts = [`${clean(p.statename)} (${p.status})`];
  if (p.description !== '') parts.push(oneLine(p.description));
  parts.push(exit === undefined ? 'exit status unknown' : clean(exitText(exit)));
  return `${clean(processLabel(p))}: ${parts.join(', ')}`;
}

/** `name`, or `group:name` for a process of a `[group:x]` (as supervisorctl shows it). */
function processLabel(p: Pick<ProcessSummary, 'name' | 'group'>): string {
  return p.group === p.name ? p.name : `${p.group}:${p.name}`;
}

/**
 * One performance datum: `'label'=value[UOM];[warn];[crit];[min];[max]`,
 * the label always quoted (`'` doubled), min 0, max when known.
 */
function perfItem(label: string, value: number, uom: string, ranges: Ranges, max: number | undefined): string {
  const quoted = `'${clean(label).replace(/'/g, "''")}'`;
  const fields = [`${value}${uom}`, ranges.warning?.text ?? '', ranges.critical?.text ?? '', '0', max === undefined ? '' : String(max)];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `${quoted}=${fields.join(';')}`;
}

/** A failed run in words (`credentials refused (HTTP 401): <target>`). */
const FAILURE_WORDS: Readonly<Record<RunFailure, string>> = {
  credentials: 'credentials refused (HTTP 401)',
  error: 'answered with an error',
  timeout: 'no answer in time',
  unreachable: 'unreachable',
};

/** Server text made safe for the format: controls and `|` become `?`. */
function clean(text: string): string {
  return neutralizeControls(text).replace(/\|/g, '?');
}

/** A message of several lines on one line (the lines joined by a space), cleaned. */
function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => clean(line).trim())
    .filter((line) => line !== '')
    .join(' ');
}

/** Length in code points (what the 80-character advice counts). */
function width(text: string): number {
  return [...text].length;
}

/** `text` cut to `max` code points, ending `...` when cut. */
function cut(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 3)).join('')}...`;
}
