/**
 * The human-readable output: a table of the monitored processes per server
 * (PROCESS GROUP STATE STATUS UPTIME), a summary line, one line per process
 * that is not up with how its last run ended and supervisord's description
 * (`quick: exit status 3 (Exited too quickly (process log may have
 * details))`, `web: killed by SIGKILL (Nov 25 04:50 PM)`, `exit status
 * unknown` when neither supervisord's process info nor its main log tell
 * it), the other
 * service checks that are not OK (`CRITICAL supervisord.server.state:
 * SHUTDOWN_STATE`), then the run's errors and warnings.
 *
 * With `collect_resources`, two more columns: CPU (seconds of CPU time) and
 * MEM (resident memory) of each process's tree, `-` where not read.
 *
 * Rows come from the result's `processes` (name, group, state, mapped status
 * and uptime of every monitored process) when it has them. Otherwise (a
 * result from an older check, or rebuilt from submissions) they are derived
 * from the submissions:
 * - rows are the `supervisord.process.status` service checks, in order; the
 *   process and group are their (last) `supervisord_process:` and
 *   `supervisord_group:` tags;
 * - the state is the `State:` line of the service check's message, which the
 *   check writes for every non-OK process. An OK process has no message: its
 *   state is the only statename that the instance's mapping sends to `up`
 *   (RUNNING with the default mapping), or `?` when the mapping sends several
 *   there (`status_mapping_override: {STOPPED: up}`);
 * - the uptime is the `supervisord.process.uptime` gauge with the same process
 *   and group tags.
 *
 * @module
 */

import { DEFAULT_STATUS_MAPPING } from '../process-model.js';
import type { MappedStatus, ProcessExit, ServiceCheck, ServiceCheckStatus } from '../types.js';
import type { OutputRun } from '../types.js';
import { exitText, runFailure } from './exit-text.js';
import type { RunFailure } from './exit-text.js';
import { neutralizeControls } from './safe-text.js';

/** Options of {@link formatText}. */
export interface TextOptions {
  /** Colour the status words with ANSI escapes (green up, red down, yellow unknown/warning). Default false. */
  color?: boolean;
}

const PROCESS_TAG = 'supervisord_process:';
const GROUP_TAG = 'supervisord_group:';
/** States in which the check reports an uptime (`now - start`; 0 in every other state, as the reference). */
const ACTIVE_STATES = new Set(['RUNNING', 'BACKOFF', 'STOPPING']);

const GREEN = '\x1b[32m';
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

const STATUS_WORDS: Readonly<Record<ServiceCheckStatus, string>> = { 0: 'up', 1: 'warning', 2: 'down', 3: 'unknown' };
const STATUS_NAMES: Readonly<Record<ServiceCheckStatus, string>> = { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };
const STATUS_COLORS: Readonly<Record<ServiceCheckStatus, string>> = { 0: GREEN, 1: YELLOW, 2: RED, 3: YELLOW };

interface Row {
  process: string;
  group: string;
  state: string;
  status: ServiceCheckStatus;
  uptime: string;
  /** How the last run ended and supervisord's description, for the line under the table ('' for none). */
  detail: string;
  /** With `collect_resources`: CPU time and resident memory of the process tree, when read. */
  cpu?: string;
  mem?: string;
}

/**
 * Renders the runs as text (ends with a newline). With several runs, each
 * block starts with a `[name]` line and blocks are separated by a blank line.
 *
 * @param runs one entry per checked server.
 * @param options see {@link TextOptions}.
 */
export function formatText(runs: readonly OutputRun[], options: TextOptions = {}): string {
  const color = options.color === true;
  const paint = (code: string, text: string): string => (color ? `${code}${text}${RESET}` : text);
  const blocks: string[] = [];
  for (const run of runs) {
    const lines: string[] = [];
    if (runs.length > 1) lines.push(`[${clean(run.name)}]`);
    const rows = processRows(run);
    if (rows.length > 0) lines.push(...table(rows, paint));
    lines.push(summary(run, rows));
    // Why each process that is not up is so: the table has no room for supervisord's description.
    for (const row of rows) {
      if (row.status !== 0 && row.detail !== '') lines.push(`${clean(row.group === row.process ? row.process : `${row.group}:${row.process}`)}: ${clean(row.detail)}`);
    }
    // Service checks other than the connection and the processes (supervisord.server.state...), when not OK.
    for (const check of run.result.serviceChecks) {
      if (check.status === 0 || check.name === 'supervisord.can_connect' || check.name === 'supervisord.process.status') continue;
      const message = check.message === undefined || check.message === '' ? '' : `: ${indent(check.message)}`;
      lines.push(`${paint(STATUS_COLORS[check.status], STATUS_NAMES[check.status])} ${clean(check.name)}${message}`);
    }
    for (const error of run.result.errors) lines.push(`${paint(RED, 'error:')} ${indent(error)}`);
    for (const warning of run.result.warnings) lines.push(`${paint(YELLOW, 'warning:')} ${indent(warning)}`);
    blocks.push(lines.join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}

/**
 * A duration in seconds as its two largest units: `2d 3h`, `3h 04m`,
 * `5m 02s`, `42s`. Negative and non-finite inputs print as `-`.
 */
export function humanizeDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  return `${s}s`;
}

const MAPPED_STATUS: Readonly<Record<MappedStatus, ServiceCheckStatus>> = { up: 0, down: 2, unknown: 3 };

function processRows(run: OutputRun): Row[] {
  return withResources(run, rowsOf(run));
}

/**
 * The CPU time and resident memory of each row's process tree
 * (`supervisord.process.tree.cpu_seconds`, `...tree.memory.rss`), for the
 * CPU and MEM columns, which the table has only when some were read.
 */
function withResources(run: OutputRun, rows: Row[]): Row[] {
  const cpu = new Map<string, number>();
  const mem = new Map<string, number>();
  for (const metric of run.result.metrics) {
    if (metric.name === 'supervisord.process.tree.cpu_seconds') cpu.set(rowKey(metric.tags), metric.value);
    else if (metric.name === 'supervisord.process.tree.memory.rss') mem.set(rowKey(metric.tags), metric.value);
  }
  if (cpu.size === 0 && mem.size === 0) return rows;
  for (const row of rows) {
    const key = `${row.process}\0${row.group}`;
    const seconds = cpu.get(key);
    const bytes = mem.get(key);
    row.cpu = seconds === undefined ? '-' : seconds < 60 ? `${seconds.toFixed(1)}s` : humanizeDuration(seconds);
    row.mem = bytes === undefined ? '-' : humanizeBytes(bytes);
  }
  return rows;
}

/** Bytes in binary units, three significant digits: `512 B`, `1.50 KiB`, `210 MiB`, `1.21 GiB`. */
function humanizeBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

function rowsOf(run: OutputRun): Row[] {
  const processes = run.result.processes;
  const exits = new Map<string, ProcessExit>();
  for (const metric of run.result.metrics) {
    if (metric.name === 'supervisord.process.exit_status') exits.set(rowKey(metric.tags), { status: metric.value });
  }
  if (processes !== undefined) {
    return processes.map((p) => ({
      process: p.name,
      group: p.group,
      state: p.statename,
      status: MAPPED_STATUS[p.status] ?? 3,
      uptime: uptimeText(p.uptime, p.statename),
      // A result from an older check has no `exit`: its exit_status gauge says it.
      detail: detailText(p.description, p.exit ?? exits.get(`${p.name}\0${p.group}`)),
    }));
  }
  return rowsFromSubmissions(run, exits);
}

/**
 * `Exited too quickly (process log may have details)`, `exit status 3 (Nov
 * 25 12:00 PM)`, `killed by SIGKILL (...)`, `exit status unknown (...)`:
 * how the last run ended first when it has ended, since the description of
 * an EXITED process is only its stop time.
 */
function detailText(description: string | undefined, exit: ProcessExit | undefined): string {
  const text = description ?? '';
  if (exit === undefined) return text;
  const how = exitText(exit);
  return text === '' ? how : `${how} (${text})`;
}

function uptimeText(uptime: number | undefined, state: string): string {
  // 0 s is worth showing only for a state that has an uptime (a RUNNING process that just started).
  if (uptime !== undefined && (uptime > 0 || ACTIVE_STATES.has(state))) return humanizeDuration(uptime);
  return '-';
}

function rowsFromSubmissions(run: OutputRun, exits: ReadonlyMap<string, ProcessExit>): Row[] {
  const uptimes = new Map<string, number>();
  for (const metric of run.result.metrics) {
    if (metric.name === 'supervisord.process.uptime') uptimes.set(rowKey(metric.tags), metric.value);
  }
  const upState = onlyUpState(run.statusMapping ?? DEFAULT_STATUS_MAPPING);
  const rows: Row[] = [];
  for (const check of run.result.serviceChecks) {
    if (check.name !== 'supervisord.process.status') continue;
    const state = stateOf(check) ?? (check.status === 0 ? upState : undefined) ?? '?';
    rows.push({
      process: lastTag(check.tags, PROCESS_TAG) ?? '?',
      group: lastTag(check.tags, GROUP_TAG) ?? '-',
      state,
      status: check.status,
      uptime: uptimeText(uptimes.get(rowKey(check.tags)), state),
      detail: detailText(messageField(check, 'Description'), exits.get(rowKey(check.tags))),
    });
  }
  return rows;
}

/** The state named by a non-OK process message: its 4th line from the end (fields before it may contain line breaks). */
function stateOf(check: ServiceCheck): string | undefined {
  if (check.message === undefined) return undefined;
  const lines = check.message.split('\n');
  const line = lines[lines.length - 4];
  return line !== undefined && line.startsWith('State: ') ? line.slice('State: '.length) : undefined;
}

/**
 * A one-line field of the message (`Description: ...`), searched from the
 * top: the lines before `Description` (time, name, group) hold no line break
 * supervisord would let through.
 */
function messageField(check: ServiceCheck, field: string): string | undefined {
  if (check.message === undefined) return undefined;
  for (const line of check.message.split('\n')) if (line.startsWith(`${field}: `)) return line.slice(field.length + 2);
  return undefined;
}

function onlyUpState(mapping: Readonly<Record<string, MappedStatus>>): string | undefined {
  const up = Object.keys(mapping).filter((state) => mapping[state] === 'up');
  return up.length === 1 ? up[0] : undefined;
}

function lastTag(tags: readonly string[], prefix: string): string | undefined {
  // The check appends the process and group tags after the user's tags, which may use the same keys.
  for (let i = tags.length - 1; i >= 0; i--) {
    if (tags[i]!.startsWith(prefix)) return tags[i]!.slice(prefix.length);
  }
  return undefined;
}

function rowKey(tags: readonly string[]): string {
  return `${lastTag(tags, PROCESS_TAG) ?? ''}\0${lastTag(tags, GROUP_TAG) ?? ''}`;
}

function table(rows: readonly Row[], paint: (code: string, text: string) => string): string[] {
  const header = ['PROCESS', 'GROUP', 'STATE', 'STATUS', 'UPTIME'];
  const cells = rows.map((r) => [clean(r.process), clean(r.group), clean(r.state), STATUS_WORDS[r.status], r.uptime]);
  if (rows.some((r) => r.cpu !== undefined)) {
    header.push('CPU', 'MEM');
    rows.forEach((r, i) => cells[i]!.push(r.cpu ?? '-', r.mem ?? '-'));
  }
  const widths = header.map((h, i) => Math.max(width(h), ...cells.map((c) => width(c[i]!))));
  const line = (values: string[], colorStatus?: ServiceCheckStatus): string =>
    values
      .map((v, i) => {
        const padded = i === values.length - 1 ? v : v + ' '.repeat(widths[i]! - width(v));
        // Pad first, then colour: escape sequences have no width.
        return i === 3 && colorStatus !== undefined ? paint(STATUS_COLORS[colorStatus], v) + padded.slice(v.length) : padded;
      })
      .join('  ');
  return [line(header), ...cells.map((c, i) => line(c, rows[i]!.status))];
}

function summary(run: OutputRun, rows: readonly Row[]): string {
  const canConnect = run.result.serviceChecks.find((c) => c.name === 'supervisord.can_connect');
  const version = run.result.metadata.version?.raw;
  const server = `supervisord${version === undefined ? '' : ` ${clean(version)}`}${run.target === undefined ? '' : ` at ${clean(run.target)}`}`;
  if (canConnect !== undefined && canConnect.status !== 0) return `${server} ${FAILURE_WORDS[runFailure(canConnect.message ?? '')]}`;
  if (canConnect === undefined && run.result.errors.length > 0) return `${server}: the check failed`;
  const counts: Record<ServiceCheckStatus, number> = { 0: 0, 1: 0, 2: 0, 3: 0 };
  for (const row of rows) counts[row.status]++;
  let text = `${rows.length} ${rows.length === 1 ? 'process' : 'processes'}`;
  if (rows.length > 0) {
    text += `: ${counts[0]} up, ${counts[2]} down, ${counts[3]} unknown`;
    if (counts[1] > 0) text += `, ${counts[1]} warning`;
  }
  return `${text} \u2014 ${server} reachable`;
}

/**
 * A failed run in words, after `supervisord at <target>`: only `Cannot
 * connect to` means that nothing answered; a 401, other HTTP errors and a
 * server too slow for the deadline were reached.
 */
const FAILURE_WORDS: Readonly<Record<RunFailure, string>> = {
  credentials: 'refused the credentials (HTTP 401)',
  error: 'answered with an error',
  timeout: 'did not answer in time',
  unreachable: 'unreachable',
};

/**
 * Control characters would break the table (a process name can hold anything
 * the config file holds), and escapes written to a terminal are commands
 * (ESC [ 2 J clears it, ESC ] 0 ; sets its title): every string that can come
 * from the server or the configuration goes through here.
 */
const clean = neutralizeControls;

/** Continuation lines of a multi-line message, indented under it; each line cleaned (fault strings, descriptions come from the server). */
function indent(text: string): string {
  return text.split(/\r?\n/).map(clean).join('\n  ');
}

/** Display width in code points (no attempt at East Asian wide characters). */
function width(text: string): number {
  return [...text].length;
}
