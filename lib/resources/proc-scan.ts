/**
 * The `/proc` reads of a resource collection: one scan of every process's
 * `stat` (the parent links of the whole host, so that every program's tree is
 * known from one pass, not one pass per program), open descriptors per
 * process, a process's command line, the boot time.
 *
 * Synchronous reads into one reused buffer: a `stat` read costs about 12 us
 * of CPU (open, read, close: the kernel's formatting of the line is most of
 * it), and an asynchronous read through libuv's thread pool several times
 * that. The scan yields to the event loop every {@link YIELD_EVERY} entries,
 * so that a large host never holds an exporter's other requests for long.
 *
 * Errors are sorted, never thrown: a file that no longer exists (`ENOENT`,
 * `ESRCH`: the process exited meanwhile) is `gone`; any other failure
 * (`EACCES`: another user's process, `/proc` mounted with `hidepid`) is
 * `unreadable`, with its code.
 *
 * @module
 */

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { parseProcStat } from './proc-stat.js';
import type { ProcStat } from './proc-stat.js';

/** Entries of `/proc` scanned between two yields to the event loop. */
export const YIELD_EVERY = 1000;

/** A `/proc` read that failed for another reason than the process being gone. */
export interface Unreadable {
  readonly unreadable: string;
}

/** What one scan of `/proc` saw. */
export interface ProcScan {
  /** The parsed `stat` of every process that could be read, by pid. */
  readonly stats: Map<number, ProcStat>;
  /** Pids by parent pid. */
  readonly children: Map<number, number[]>;
  /** Processes whose `stat` exists but could not be read (pid and error code): their parent is unknown. */
  readonly unreadable: Array<{ pid: number; code: string }>;
}

const buffer = Buffer.allocUnsafe(4096);

/** `ENOENT`, `ESRCH`: the process exited (or its pid directory is going away). */
/** Whether a read failed for another reason than the process being gone. */
export function isUnreadable(value: unknown): value is Unreadable {
  return typeof value === 'object' && value !== null && 'unreadable' in value;
}

function isGone(code: string | undefined): boolean {
  return code === 'ENOENT' || code === 'ESRCH';
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/**
 * The first bytes of a small `/proc` file (up to 4 KiB), as a view of the
 * shared buffer (valid until the next read), or `gone` / unreadable.
 */
export function readSmall(path: string): Buffer | 'gone' | Unreadable {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    const code = errorCode(error);
    return isGone(code) ? 'gone' : { unreadable: code };
  }
  try {
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    // A process that exited after the open reads as empty.
    return n === 0 ? 'gone' : buffer.subarray(0, n);
  } catch (error) {
    const code = errorCode(error);
    return isGone(code) ? 'gone' : { unreadable: code };
  } finally {
    closeSync(fd);
  }
}

/**
 * One process's `stat`, parsed: `gone` when it exited, unreadable with the
 * error code, or `EBADMSG` when the line does not parse.
 */
export function readStat(procRoot: string, pid: number): ProcStat | 'gone' | Unreadable {
  const bytes = readSmall(`${procRoot}/${pid}/stat`);
  if (bytes === 'gone' || isUnreadable(bytes)) return bytes;
  return parseProcStat(bytes, bytes.length) ?? { unreadable: 'EBADMSG' };
}

/**
 * Reads the `stat` of every process of `procRoot` (its numeric entries) and
 * links them to their parents.
 *
 * @throws when `procRoot` itself cannot be listed (no `/proc`).
 */
export async function scanProc(procRoot: string): Promise<ProcScan> {
  const names = readdirSync(procRoot);
  const stats = new Map<number, ProcStat>();
  const children = new Map<number, number[]>();
  const unreadable: Array<{ pid: number; code: string }> = [];
  for (let i = 0; i < names.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
    const name = names[i]!;
    const first = name.charCodeAt(0);
    if (first < 0x31 || first > 0x39) continue; // pids are decimal without leading zeros
    const pid = Number(name);
    if (!Number.isSafeInteger(pid)) continue;
    const stat = readStat(procRoot, pid);
    if (stat === 'gone') continue;
    if (isUnreadable(stat)) {
      unreadable.push({ pid, code: stat.unreadable });
      continue;
    }
    stats.set(pid, stat);
    const siblings = children.get(stat.ppid);
    if (siblings === undefined) children.set(stat.ppid, [pid]);
    else siblings.push(pid);
  }
  return { stats, children, unreadable };
}

/**
 * Whether `stat()` of `/proc/<pid>/fd` gives the number of open descriptors
 * as its size (Linux 6.2 and later; earlier kernels say 0): tested once on
 * this process's own descriptors, which are never none.
 */
let sizeIsCount: boolean | undefined;

function fdSizeIsCount(): boolean {
  if (sizeIsCount === undefined) {
    try {
      sizeIsCount = statSync('/proc/self/fd').size > 0;
    } catch {
      sizeIsCount = false;
    }
  }
  return sizeIsCount;
}

/**
 * How many descriptors a process has open. On the real `/proc` of a kernel
 * that gives the count as the size of `/proc/<pid>/fd` (Linux 6.2+), one
 * `stat()` (about 5 us, where listing the directory costs 20 us and more
 * with many descriptors); a size of 0 is confirmed by listing. Otherwise the
 * directory is listed, which needs the same user as the process, or root
 * (`EACCES` otherwise).
 */
export function countFds(procRoot: string, pid: number): number | 'gone' | Unreadable {
  const path = `${procRoot}/${pid}/fd`;
  try {
    if (procRoot === '/proc' && fdSizeIsCount()) {
      const size = statSync(path).size;
      if (size > 0) return size;
    }
    return readdirSync(path).length;
  } catch (error) {
    const code = errorCode(error);
    return isGone(code) ? 'gone' : { unreadable: code };
  }
}

/** A process's arguments (`/proc/<pid>/cmdline`, NUL-separated; the first 4 KiB). */
export function readCmdline(procRoot: string, pid: number): string[] | 'gone' | Unreadable {
  const bytes = readSmall(`${procRoot}/${pid}/cmdline`);
  if (bytes === 'gone' || isUnreadable(bytes)) return bytes;
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.toString('utf8', 0, end).split('\0');
}

/**
 * The boot clock: seconds since boot (`/proc/uptime`'s first number, in
 * hundredths, the clock of a process's start ticks), and the boot time in
 * epoch seconds (`now` minus it). `btime` of `/proc/stat` says the same in
 * whole seconds; this is 100 times finer.
 *
 * @param nowMs the wall clock at the read, milliseconds since the epoch.
 */
export function bootTime(procRoot: string, nowMs: number): { uptime: number; boot: number } | Unreadable {
  const bytes = readSmall(`${procRoot}/uptime`);
  if (bytes === 'gone') return { unreadable: 'ENOENT' };
  if (isUnreadable(bytes)) return bytes;
  const m = /^([0-9]+(?:\.[0-9]+)?) /.exec(bytes.toString('latin1'));
  if (m === null) return { unreadable: 'EBADMSG' };
  const uptime = Number(m[1]);
  return { uptime, boot: nowMs / 1000 - uptime };
}
