/**
 * The emulator's process table: {@link makeProcess}, which builds a process
 * struct the way supervisord 4.2.5 would report it, and the struct as
 * `getProcessInfo` / `getAllProcessInfo` answer it (listing order, live clock
 * and description).
 *
 * @module
 */

import { PROCESS_STATES as MODEL_STATES, compareListingOrder, describeProcess } from '../process-model.js';
import type { XmlRpcStruct } from '../../protocol/types.js';
import type { ProcessInfo } from '../types.js';
import { describeType } from './describe-type.js';

/**
 * Process states (supervisor/states.py). A name outside this table makes
 * {@link makeProcess} use UNKNOWN's code.
 */
export const PROCESS_STATES: Readonly<Record<string, number>> = MODEL_STATES;

/**
 * Builds a complete, self-consistent process struct from a few members, the
 * way supervisord 4.2.5 would report it: `group` defaults to `name`,
 * `statename` follows `state` (or the reverse; default RUNNING), a pid only in
 * the states that have a child (STARTING, RUNNING, STOPPING), log paths like
 * `/var/log/supervisor/web-stdout---supervisor-k2x9q_0a.log` (stable for a
 * given group and name), and the description supervisord would compute:
 * `pid 123, uptime 0:02:05`, the stop time as `Nov 25 03:17 PM` in this
 * host's time zone, `Not started`, the spawn error or
 * `unknown error (try "tail NAME")`, or the empty string.
 *
 * `now` pins the server clock of the struct (use it for fixed reference
 * cases). Without it, `partial.now` pins it if given; otherwise `now` is 0,
 * which tells the emulator to follow its own clock (see
 * {@link SupervisordEmulator.processes}) and the description is computed with
 * the current time.
 *
 * @throws TypeError when `name` is not a non-empty string.
 */
export function makeProcess(partial: Partial<ProcessInfo> & { name: string }, now?: number): ProcessInfo {
  if (typeof partial.name !== 'string' || partial.name === '') {
    throw new TypeError(`makeProcess: 'name' must be a non-empty string, got ${describeType(partial.name)}`);
  }
  const name = partial.name;
  const group = partial.group ?? name;
  const pinned = now ?? partial.now;
  const clock = pinned ?? epochSeconds();

  let state: number;
  let statename: string;
  if (partial.state !== undefined) {
    state = partial.state;
    statename = partial.statename ?? STATE_NAMES.get(state) ?? 'UNKNOWN';
  } else if (partial.statename !== undefined) {
    statename = partial.statename;
    state = PROCESS_STATES[statename] ?? UNKNOWN_STATE;
  } else {
    state = RUNNING;
    statename = 'RUNNING';
  }

  const start = partial.start ?? (state === STOPPED ? 0 : clock - 60);
  const stopped = state === STOPPED || state === EXITED || state === FATAL || state === BACKOFF;
  const stop = partial.stop ?? (stopped && start > 0 ? Math.max(start, clock - 30) : 0);
  const hasChild = state === RUNNING || state === STARTING || state === STOPPING;
  const pid = partial.pid ?? (hasChild ? defaultPid(group, name) : 0);
  const stdout = partial.stdout_logfile ?? partial.logfile ?? defaultLogPath(group, name, 'stdout');
  const info: ProcessInfo = {
    name,
    group,
    start,
    stop,
    now: pinned ?? 0,
    state,
    statename,
    spawnerr: partial.spawnerr ?? '',
    exitstatus: partial.exitstatus ?? 0,
    logfile: partial.logfile ?? stdout,
    stdout_logfile: stdout,
    stderr_logfile: partial.stderr_logfile ?? defaultLogPath(group, name, 'stderr'),
    pid,
    description: '',
  };
  info.description = partial.description ?? describeProcess(info, clock);
  return info;
}

const STOPPED = 0;
const STARTING = 10;
const RUNNING = 20;
const BACKOFF = 30;
const STOPPING = 40;
const EXITED = 100;
const FATAL = 200;
const UNKNOWN_STATE = 1000;

const STATE_NAMES = new Map<number, string>(Object.entries(PROCESS_STATES).map(([name, code]) => [code, name]));

export function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** FNV-1a: a stable small hash so default pids and log names do not change between runs. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function defaultPid(group: string, name: string): number {
  return 1000 + (fnv1a(`${group}:${name}`) % 60000);
}

// supervisord names automatic logs with tempfile's 8 random characters from this alphabet.
const LOG_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789_';

function defaultLogPath(group: string, name: string, stream: 'stdout' | 'stderr'): string {
  let hash = fnv1a(`${group}:${name}:${stream}`);
  let suffix = '';
  for (let i = 0; i < 8; i++) {
    suffix += LOG_ALPHABET[hash % LOG_ALPHABET.length];
    hash = (Math.floor(hash / LOG_ALPHABET.length) ^ Math.imul(hash, 0x9e3779b1)) >>> 0;
  }
  return `/var/log/supervisor/${name}-${stream}---supervisor-${suffix}.log`;
}


export function sortedProcesses(processes: readonly ProcessInfo[]): ProcessInfo[] {
  return processes.slice().sort(compareListingOrder);
}

/** The struct as supervisord writes it: its 14 members in rpcinterface.py's order. */
export function processStruct(p: ProcessInfo, clock: number): XmlRpcStruct {
  const live = p.now === 0;
  const now = live ? clock : p.now;
  return {
    name: p.name,
    group: p.group,
    start: p.start,
    stop: p.stop,
    now,
    state: p.state,
    statename: p.statename,
    spawnerr: p.spawnerr,
    exitstatus: p.exitstatus,
    logfile: p.logfile,
    stdout_logfile: p.stdout_logfile,
    stderr_logfile: p.stderr_logfile,
    pid: p.pid,
    description: live ? describeProcess(p, now) : p.description,
  };
}
