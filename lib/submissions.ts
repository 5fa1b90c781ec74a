/**
 * What a run emits, computed from what the server answered: pure functions,
 * no I/O (check-spec sections 2-4). `check.ts` collects the answers; this
 * module turns them into a {@link CheckResult}.
 *
 * @module
 */

import {
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  HttpStatusError,
  TimeoutError,
  XmlRpcFault,
} from '../protocol/errors.js';
import type { ResolvedConfig } from './config.js';
import type {
  CheckResult,
  MappedStatus,
  Metric,
  ProcessInfo,
  ServiceCheck,
  ServiceCheckStatus,
  VersionMetadata,
} from './types.js';

/** Service-check name of the connection to supervisord. */
export const CAN_CONNECT = 'supervisord.can_connect';
/** Service-check name of each monitored process. */
export const PROCESS_STATUS = 'supervisord.process.status';
/** Gauge: seconds since the process started, for RUNNING, BACKOFF, STOPPING; else 0. */
export const PROCESS_UPTIME = 'supervisord.process.uptime';
/** Gauge: how many monitored processes have each mapped status. */
export const PROCESS_COUNT = 'supervisord.process.count';

/** Mapped status -> service-check status (OK, CRITICAL, UNKNOWN). */
export const SERVICE_STATUS: Readonly<Record<MappedStatus, ServiceCheckStatus>> = Object.freeze({
  up: 0,
  down: 2,
  unknown: 3,
});

/** The reference submits the counts in this order (its PROCESS_STATUS dict: CRITICAL, OK, UNKNOWN). */
const COUNT_ORDER: readonly MappedStatus[] = ['down', 'up', 'unknown'];
/** States in which a process has an uptime (the reference's `_extract_uptime`). */
const ACTIVE_STATES = new Set(['RUNNING', 'BACKOFF', 'STOPPING']);

/** How one XML-RPC call ended: its value, or what it threw. */
export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * The answers a run collected. `version` is absent when it was not asked
 * (the process list failed). When both are fetched in one multicall, the
 * version outcome is simply ignored if the process list failed.
 */
export interface Collected {
  processInfo: CallOutcome;
  version?: CallOutcome;
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
  const processes: ProcessInfo[] = [];
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Date || item instanceof Uint8Array) {
      return { ok: false, reason: `process ${i} is ${typeName(item)}, not a struct` };
    }
    const s = item as Record<string, unknown>;
    const problem = (member: string, expected: string): DecodedProcesses => ({
      ok: false,
      reason: `process ${i}${typeof s['name'] === 'string' ? ` (${s['name']})` : ''} has no ${expected} '${member}'`,
    });
    const text = (member: string): string | undefined => {
      const v = Object.hasOwn(s, member) ? s[member] : undefined;
      return typeof v === 'string' ? v : undefined;
    };
    const integer = (member: string): number | undefined => {
      const v = Object.hasOwn(s, member) ? s[member] : undefined;
      if (typeof v === 'bigint') return Number(v);
      return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
    };
    const p: Partial<ProcessInfo> = {};
    for (const member of ['name', 'group', 'statename', 'description', 'stderr_logfile', 'stdout_logfile', 'logfile'] as const) {
      const v = text(member);
      if (v === undefined) return problem(member, 'string');
      p[member] = v;
    }
    for (const member of ['start', 'stop', 'now', 'exitstatus'] as const) {
      const v = integer(member);
      if (v === undefined) return problem(member, 'integer');
      p[member] = v;
    }
    p.state = integer('state') ?? 0;
    p.pid = integer('pid') ?? 0;
    p.spawnerr = text('spawnerr') ?? '';
    processes.push(p as ProcessInfo);
  }
  return { ok: true, processes };
}

/**
 * Section 2: a process is monitored when there are no include lists, or a
 * `proc_regex` matches its name (search, not anchored), or its name is in
 * `proc_names`; and then neither a `proc_regex_exclude` matches nor is the
 * name in `proc_names_exclude`. Server order is kept.
 */
export function selectProcesses(processes: readonly ProcessInfo[], config: ResolvedConfig): ProcessInfo[] {
  const noIncludeList = config.procNames.length === 0 && config.procRegex.length === 0;
  return processes.filter((p) => {
    const included =
      noIncludeList || config.procRegex.some((r) => r.regexp.test(p.name)) || config.procNames.includes(p.name);
    if (!included) return false;
    return !(config.procRegexExclude.some((r) => r.regexp.test(p.name)) || config.procNamesExclude.includes(p.name));
  });
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
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * The message of a non-OK `supervisord.process.status`, line for line the
 * reference's `_build_message`. `Stop time: ` is empty when `stop` is 0; the
 * start time is always formatted, also when `start` is 0 (the reference does
 * not special-case it: a never-started process shows the epoch in local time).
 */
export function processMessage(p: ProcessInfo): string {
  return [
    `Current time: ${formatLocalTime(p.now)}`,
    `Process name: ${p.name}`,
    `Process group: ${p.group}`,
    `Description: ${p.description}`,
    `Error log file: ${p.stderr_logfile}`,
    `Stdout log file: ${p.stdout_logfile}`,
    `Log file: ${p.logfile}`,
    `State: ${p.statename}`,
    `Start time: ${formatLocalTime(p.start)}`,
    `Stop time: ${p.stop === 0 ? '' : formatLocalTime(p.stop)}`,
    `Exit Status: ${p.exitstatus}`,
  ].join('\n');
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
  const counts: Record<MappedStatus, number> = { down: 0, up: 0, unknown: 0 };
  for (const p of selectProcesses(processes, config)) {
    const tags = [...config.instanceTags, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
    const mapped = mapStatus(p.statename, config.statusMapping);
    counts[mapped]++;
    const status = SERVICE_STATUS[mapped];
    const check: ServiceCheck = { name: PROCESS_STATUS, status, tags };
    if (status !== SERVICE_STATUS.up) check.message = processMessage(p);
    serviceChecks.push(check);
    metrics.push({ name: PROCESS_UPTIME, type: 'gauge', value: processUptime(p), tags: [...tags] });
  }
  for (const mapped of COUNT_ORDER) {
    metrics.push({ name: PROCESS_COUNT, type: 'gauge', value: counts[mapped], tags: [...config.instanceTags, `status:${mapped}`] });
  }
  return { metrics, serviceChecks };
}

/**
 * How a failed `getAllProcessInfo` is reported (section 4, item 1): the
 * `supervisord.can_connect` CRITICAL message, also the run's error; or, for an
 * XML-RPC fault, an error without a service check.
 *
 * - {@link ConnectError}, {@link TimeoutError}, {@link ConnectionClosedError}:
 *   the reference's `socket.error` messages, with host, port or socket as
 *   configured;
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
  if (error instanceof ConnectError || error instanceof TimeoutError || error instanceof ConnectionClosedError) {
    const message =
      config.socket === undefined
        ? `Cannot connect to http://${config.host}:${config.portText}. Make sure supervisor is running and XML-RPC inet interface is enabled.`
        : `Cannot connect to ${config.socket}. Make sure supervisor is running and socket is enabled and socket file has the right permissions.`;
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
 * A whole run's result from its collected answers (section 4): can_connect OK,
 * the process submissions and counts, then the version metadata; or, when the
 * process list failed, only what {@link describeFailure} says. A failure to
 * get or parse the version is a warning (`Error collecting version: ...`).
 */
export function buildResult(config: ResolvedConfig, collected: Collected): CheckResult {
  const result: CheckResult = { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] };
  const { processInfo } = collected;
  if (!processInfo.ok) {
    const failure = describeFailure(processInfo.error, config);
    if (failure.canConnect) {
      result.serviceChecks.push({ name: CAN_CONNECT, status: 2, tags: [...config.instanceTags], message: failure.message });
    }
    result.errors.push(failure.message);
    return result;
  }
  // The reference submits can_connect OK as soon as the list arrived, then crashes on a malformed one.
  result.serviceChecks.push({ name: CAN_CONNECT, status: 0, tags: [...config.instanceTags] });
  const decoded = decodeProcessList(processInfo.value);
  if (!decoded.ok) {
    result.errors.push(`An error occurred while reading process information: ${decoded.reason}`);
    return result;
  }
  const { metrics, serviceChecks } = processSubmissions(decoded.processes, config);
  result.metrics.push(...metrics);
  result.serviceChecks.push(...serviceChecks);

  const version = collected.version;
  if (version === undefined) return result;
  if (!version.ok) {
    result.warnings.push(`Error collecting version: ${errorText(version.error)}`);
  } else if (typeof version.value !== 'string') {
    result.warnings.push(`Error collecting version: expected a string, got ${typeName(version.value)}`);
  } else {
    const parsed = parseVersion(version.value);
    if (parsed === undefined) result.warnings.push(`Error collecting version: cannot parse version ${JSON.stringify(version.value)}`);
    else result.metadata.version = parsed;
  }
  return result;
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
