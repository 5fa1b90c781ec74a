/**
 * supervisord's process model, as its XML-RPC interface shows it: the state
 * codes, the order of `getAllProcessInfo` and the description of a process.
 * Shared by the check's collection, the event listener, the emulator and the
 * fixture generator.
 *
 * @module
 */

import type { MappedStatus } from './types.js';

/** Process state codes (`supervisor/states.py`, `ProcessStates`). */
export const PROCESS_STATES = Object.freeze({
  STOPPED: 0,
  STARTING: 10,
  RUNNING: 20,
  BACKOFF: 30,
  STOPPING: 40,
  EXITED: 100,
  FATAL: 200,
  UNKNOWN: 1000,
} as const);

/**
 * Compares by Unicode code point, as Python compares `str` (JavaScript's `<`
 * compares UTF-16 code units, which puts characters above U+FFFF, written as
 * surrogate pairs, before U+E000..U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // A surrogate (0xd800-0xdfff) starts a code point above 0xffff: it sorts after 0xe000-0xffff.
      const sx = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
      const sy = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
      return sx - sy;
    }
  }
  return a.length - b.length;
}

/**
 * The order of `getAllProcessInfo` (`_getAllProcesses(lexical=True)`): by
 * group name, then by process name, both by code point.
 */
export function compareListingOrder(a: { group: string; name: string }, b: { group: string; name: string }): number {
  return compareCodePoints(a.group, b.group) || compareCodePoints(a.name, b.name);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * supervisord's `_interpretProcessInfo` (rpcinterface.py), what
 * `supervisorctl status` prints in its last column: `pid 123, uptime
 * 0:02:05` when RUNNING, the spawn error (or `unknown error (try "tail
 * NAME")`) when FATAL or BACKOFF, the stop time as `Nov 25 03:17 PM` in this
 * host's time zone (or `Not started`) when STOPPED or EXITED, else empty.
 *
 * @param info the process's state code, pid, start and stop (epoch seconds), spawn error and name.
 * @param now the server's clock, epoch seconds.
 */
export function describeProcess(info: { state: number; pid: number; start: number; stop: number; spawnerr: string; name: string }, now: number): string {
  switch (info.state) {
    case PROCESS_STATES.RUNNING:
      return `pid ${info.pid}, uptime ${formatTimedelta(now - info.start)}`;
    case PROCESS_STATES.FATAL:
    case PROCESS_STATES.BACKOFF:
      return info.spawnerr !== '' ? info.spawnerr : `unknown error (try "tail ${info.name}")`;
    case PROCESS_STATES.STOPPED:
    case PROCESS_STATES.EXITED: {
      if (!info.start) return 'Not started';
      // Python: datetime(*time.localtime(stop)[:7]).strftime('%b %d %I:%M %p'), in the C locale.
      const d = new Date(info.stop * 1000);
      const hours = d.getHours();
      const hour12 = hours % 12 === 0 ? 12 : hours % 12;
      return `${MONTHS[d.getMonth()]} ${pad2(d.getDate())} ${pad2(hour12)}:${pad2(d.getMinutes())} ${hours < 12 ? 'AM' : 'PM'}`;
    }
    default:
      return '';
  }
}

/** Python's `str(timedelta(seconds=n))` for whole seconds; negative uptimes show as 0 (clock set back). */
function formatTimedelta(seconds: number): string {
  const total = seconds > 0 ? Math.floor(seconds) : 0;
  const days = Math.floor(total / 86400);
  const rest = total % 86400;
  const hms = `${Math.floor(rest / 3600)}:${pad2(Math.floor((rest % 3600) / 60))}:${pad2(rest % 60)}`;
  return days === 0 ? hms : `${days} day${days === 1 ? '' : 's'}, ${hms}`;
}

/** The reference check's mapping: RUNNING up; STARTING, UNKNOWN unknown; the rest down. */
export const DEFAULT_STATUS_MAPPING: Readonly<Record<string, MappedStatus>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, MappedStatus>, {
    STOPPED: 'down',
    STARTING: 'unknown',
    RUNNING: 'up',
    BACKOFF: 'down',
    STOPPING: 'down',
    EXITED: 'down',
    FATAL: 'down',
    UNKNOWN: 'unknown',
  }),
);

/** States with no child, in which supervisord's `exitstatus` tells how the last run ended. */
export const ENDED_STATES: ReadonlySet<string> = new Set(['EXITED', 'BACKOFF', 'FATAL', 'STOPPED']);

/** supervisord's spawn error after a child died before `startsecs` (`process.py`, 4.x; 3.x says the same up to the parenthesis). */
export const EXITED_TOO_QUICKLY = 'Exited too quickly (process log may have details)';
