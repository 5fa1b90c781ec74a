/**
 * What supervised processes use of the host, read from Linux's `/proc`: CPU
 * time, resident memory, open descriptors and threads of each process, and
 * the same summed over its whole tree (the process, its children and theirs:
 * `sh -c` wrappers, workers forked by gunicorn or celery), with the tree's
 * process count.
 *
 * A pid is a number the kernel hands out again: the pid supervisord listed
 * may belong to another process by the time it is read. A process is only
 * credited with a `/proc` entry that is provably the one supervisord
 * started:
 * - a child of supervisord (its parent pid is supervisord's, and that pid is
 *   checked first to be a supervisord of this `/proc`: a supervisord in
 *   another pid namespace lists pids that mean other processes here);
 * - forked (`/proc/<pid>/stat` field 22, ticks since boot) no later than the
 *   listing that named it, when the caller says when that was (`listedAt`):
 *   until supervisord reaps a child, even a dead one holds its pid, so the
 *   process holding the pid at the listing is the one listed, and a process
 *   forked since is not it. This compares times on the boot clock, which no
 *   setting of the wall clock moves;
 * - forked when supervisord says it started it (`start`, wall clock, within
 *   {@link DEFAULT_START_WINDOW}). Without `listedAt`, this decides. With
 *   it, a process that passes the two rules above but not this one is still
 *   reported, with a warning: the wall clock was set since it started (its
 *   uptime is off by as much). A `start` of 0 is unknown (an event listener
 *   that saw the run begin, not supervisord's time): nothing is compared,
 *   and without `listedAt` the process is skipped.
 * Anything else is skipped: an exited process (or a zombie), a pid reused by
 * another program.
 *
 * What was not read is absent, never 0: a process whose descriptors cannot
 * be counted (another user's, before Linux 6.2) has no `open_fds` sample, its
 * tree no `tree.open_fds`, and a warning names it; its other values are
 * reported.
 *
 * @module
 */

import { setImmediate as yieldToLoop } from 'node:timers/promises';

import type { Metric, ProcessInfo } from '../types.js';
import { bootTime, countFds, isUnreadable, readCmdline, readStat, scanProc, YIELD_EVERY } from './proc-scan.js';
import type { ProcScan } from './proc-scan.js';
import { DEAD, kernelUnits, ZOMBIE } from './proc-stat.js';
import type { ProcStat } from './proc-stat.js';

/** Ours, monotonic count: user + system CPU seconds of the process (all its threads). */
export const PROCESS_CPU_SECONDS = 'supervisord.process.cpu_seconds';
/** Ours, gauge: resident memory of the process, bytes. */
export const PROCESS_MEMORY_RSS = 'supervisord.process.memory.rss';
/** Ours, gauge: descriptors the process has open. */
export const PROCESS_OPEN_FDS = 'supervisord.process.open_fds';
/** Ours, gauge: threads of the process. */
export const PROCESS_THREADS = 'supervisord.process.threads';
/**
 * Ours, monotonic count: CPU seconds of the process's tree: every live
 * process of it, plus the children its members waited for (their reaped CPU).
 */
export const TREE_CPU_SECONDS = 'supervisord.process.tree.cpu_seconds';
/** Ours, gauge: resident memory summed over the tree's live processes, bytes (shared pages counted once per process). */
export const TREE_MEMORY_RSS = 'supervisord.process.tree.memory.rss';
/** Ours, gauge: open descriptors summed over the tree's live processes. */
export const TREE_OPEN_FDS = 'supervisord.process.tree.open_fds';
/** Ours, gauge: threads summed over the tree's live processes. */
export const TREE_THREADS = 'supervisord.process.tree.threads';
/** Ours, gauge: live processes of the tree, the process itself included. */
export const TREE_PROCESSES = 'supervisord.process.tree.processes';

/**
 * How far a process's fork time (from `/proc`, to 0.01 s) may lie from
 * supervisord's `start` (whole seconds, rounded down, of the time it took
 * just before forking), in seconds. Measured on supervisord 4.2.5
 * (bench/scale.js --resources): the fork follows `start`'s second by 0 to
 * 0.99 s, plus the few milliseconds supervisord takes to fork after noting
 * the time (up to 0.3 s while it starts 4,000 programs at once). `before`
 * allows for the boot time read from `/proc/uptime` (hundredths).
 */
export const DEFAULT_START_WINDOW: Readonly<{ before: number; after: number }> = Object.freeze({ before: 0.5, after: 2 });

/** A process whose resources to read: supervisord's struct, or what an event listener knows of it. */
export type ResourceProcess = Pick<ProcessInfo, 'name' | 'group' | 'pid' | 'start'>;

/** Options of {@link readProcessResources}. */
export interface ReadResourcesOptions {
  /**
   * supervisord's pid in this host's `/proc` (`supervisor.getPID`). Required.
   */
  supervisordPid: number;
  /**
   * The tags of every submission before the process's (`instance_tags`:
   * `[...tags, 'supervisord_server:<name>']`). Default none.
   */
  instanceTags?: readonly string[];
  /**
   * supervisord's start ticks seen before (`ResourceReading.supervisord`):
   * when its pid now has another start, supervisord was restarted (or the pid
   * reused) and nothing is read (`changed`). Default: not checked.
   */
  supervisordStartTicks?: number;
  /** Where `/proc` is mounted. Default `/proc`. */
  procRoot?: string;
  /** See {@link DEFAULT_START_WINDOW}. */
  startWindow?: Readonly<{ before: number; after: number }>;
  /** Clock ticks per second. Default: this host's (`kernelUnits()`). */
  clockTicks?: number;
  /** Page size, bytes. Default: this host's. */
  pageSize?: number;
  /**
   * When the processes were listed by supervisord (the answer's arrival), as
   * `performance.now()` of this process. Default: unknown (see the module
   * comment for what it changes).
   */
  listedAt?: number;
  /** Wall clock, milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** What {@link readProcessResources} read. */
export interface ResourceReading {
  /** Per process read, in the order given: its own metrics then its tree's. Tags as the other per-process metrics. */
  metrics: Metric[];
  /** What could not be read and why (the rest is still reported). */
  warnings: string[];
  /**
   * Whether `supervisordPid` is a supervisord of this `/proc`; `changed` when
   * it has another start than `supervisordStartTicks` (no warning then: ask
   * supervisord its pid again).
   */
  supervisord: { ok: true; startTicks: number } | { ok: false; changed: boolean };
  /** Processes with a pid given: `read` (reported), `gone` (exited, a zombie or not visible), `mismatched` (the pid is another process now). */
  counts: { read: number; gone: number; mismatched: number };
}

/**
 * An argument that runs supervisord: a path whose last part is `supervisord`
 * (`/usr/bin/supervisord`, after the interpreter of the script), or the
 * module of `python -m supervisor.supervisord`. Not any argument holding the
 * word: a test runner in a `supervisord-check` checkout is not one.
 */
function isSupervisordArgument(arg: string): boolean {
  return arg.slice(arg.lastIndexOf('/') + 1) === 'supervisord' || arg === 'supervisor.supervisord';
}
/** Start ticks and `/proc/uptime` both count hundredths: a fork this much after the listing was read is still before it. */
const LISTING_SLACK = 0.05;
/** Processes named in a warning, at most. */
const NAMED = 3;

/**
 * Reads the resources of supervised processes from `/proc`, with one scan
 * of it for all of them. Processes without a pid (not running) are skipped.
 * Never throws for what `/proc` holds or lacks: that is in `warnings`.
 *
 * @param processes the processes, in the order their metrics should have.
 * @param options see {@link ReadResourcesOptions}.
 */
export async function readProcessResources(processes: readonly ResourceProcess[], options: ReadResourcesOptions): Promise<ResourceReading> {
  const procRoot = options.procRoot ?? '/proc';
  const units = kernelUnits();
  const hz = options.clockTicks ?? units.clockTicks;
  const pageSize = options.pageSize ?? units.pageSize;
  const window = options.startWindow ?? DEFAULT_START_WINDOW;
  const instanceTags = options.instanceTags ?? [];
  const reading: ResourceReading = { metrics: [], warnings: [], supervisord: { ok: false, changed: false }, counts: { read: 0, gone: 0, mismatched: 0 } };
  const spid = options.supervisordPid;

  // supervisord itself first: a pid of another namespace must not be looked up here.
  const identity = supervisordIdentity(procRoot, spid, options.supervisordStartTicks);
  if (typeof identity === 'string') {
    reading.warnings.push(`resources are not collected: ${identity}`);
    return reading;
  }
  if (identity.changed) {
    reading.supervisord = { ok: false, changed: true };
    return reading;
  }
  reading.supervisord = { ok: true, startTicks: identity.startTicks };

  const clock = bootTime(procRoot, (options.now ?? Date.now)());
  if (isUnreadable(clock)) {
    reading.warnings.push(`resources are not collected: ${procRoot}/uptime cannot be read (${clock.unreadable})`);
    return reading;
  }
  // The listing on the boot clock: performance.now() runs on the monotonic clock, which differs only by time suspended.
  const listedUptime = options.listedAt === undefined ? undefined : clock.uptime - (performance.now() - options.listedAt) / 1000;
  let scan: ProcScan;
  try {
    scan = await scanProc(procRoot);
  } catch (error) {
    reading.warnings.push(`resources are not collected: ${procRoot} cannot be listed (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    return reading;
  }
  const unreadableStats = new Map(scan.unreadable.map((u) => [u.pid, u.code]));
  const statProblems: string[] = [];
  const fdProblems: string[] = [];
  const clockProblems: string[] = [];

  let done = 0;
  for (const p of processes) {
    if (!(p.pid > 0)) continue;
    if (++done % YIELD_EVERY === 0) await yieldToLoop();
    const stat = scan.stats.get(p.pid);
    if (stat === undefined) {
      const code = unreadableStats.get(p.pid);
      if (code !== undefined) statProblems.push(`${display(p)} (${procRoot}/${p.pid}/stat: ${code})`);
      reading.counts.gone++;
      continue;
    }
    if (stat.state === ZOMBIE || stat.state === DEAD) {
      reading.counts.gone++;
      continue;
    }
    const forked = stat.startTicks / hz;
    const offBy = p.start > 0 ? clock.boot + forked - p.start : undefined;
    const agrees = offBy !== undefined && offBy >= -window.before && offBy <= window.after;
    const afterListing = listedUptime !== undefined && forked > listedUptime + LISTING_SLACK;
    if (stat.ppid !== spid || afterListing || (!agrees && listedUptime === undefined)) {
      reading.counts.mismatched++;
      continue;
    }
    const fds = countFds(procRoot, p.pid);
    if (fds === 'gone') {
      reading.counts.gone++;
      continue;
    }
    const tree = treeOf(scan, p.pid, procRoot);
    reading.counts.read++;
    const tags = [...instanceTags, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
    const metric = (name: string, type: Metric['type'], value: number): void => {
      reading.metrics.push({ name, type, value, tags: [...tags] });
    };
    metric(PROCESS_CPU_SECONDS, 'monotonic_count', (stat.utime + stat.stime) / hz);
    metric(PROCESS_MEMORY_RSS, 'gauge', stat.rssPages * pageSize);
    if (typeof fds === 'number') metric(PROCESS_OPEN_FDS, 'gauge', fds);
    metric(PROCESS_THREADS, 'gauge', stat.threads);
    metric(TREE_CPU_SECONDS, 'monotonic_count', (tree.cpuTicks + stat.utime + stat.stime + stat.cutime + stat.cstime) / hz);
    metric(TREE_MEMORY_RSS, 'gauge', (tree.rssPages + stat.rssPages) * pageSize);
    if (typeof fds === 'number' && tree.fdProblem === undefined) metric(TREE_OPEN_FDS, 'gauge', tree.fds + fds);
    metric(TREE_THREADS, 'gauge', tree.threads + stat.threads);
    metric(TREE_PROCESSES, 'gauge', tree.processes + 1);
    if (offBy !== undefined && !agrees) clockProblems.push(`${display(p)} (${offBy > 0 ? '+' : ''}${offBy.toFixed(1)} s)`);
    if (typeof fds !== 'number') fdProblems.push(`${display(p)} (${procRoot}/${p.pid}/fd: ${fds.unreadable})`);
    else if (tree.fdProblem !== undefined) fdProblems.push(`the tree of ${display(p)} (${tree.fdProblem})`);
  }

  if (statProblems.length > 0) {
    reading.warnings.push(
      `the resources of ${named(statProblems)} cannot be read: their /proc entries belong to another user and ${procRoot} hides them (hidepid); run as that user or root`,
    );
  }
  if (fdProblems.length > 0) {
    reading.warnings.push(
      `the open descriptors of ${named(fdProblems)} cannot be counted: that needs the same user as the process or root; their other resources are reported`,
    );
  }
  if (clockProblems.length > 0) {
    reading.warnings.push(
      `supervisord's start time of ${named(clockProblems)} differs from the fork time in ${procRoot}: ` +
        `the wall clock was set since they started, so their uptime is off by as much; their resources are reported`,
    );
  }
  if (scan.unreadable.length > 0 && reading.counts.read > 0) {
    const first = scan.unreadable[0]!;
    reading.warnings.push(
      `${scan.unreadable.length} process(es) of ${procRoot} cannot be read (pid ${first.pid}: ${first.code}): a process tree that holds one of them lacks it`,
    );
  }
  return reading;
}

/** `name`, or `group:name` for a process in a group of another name. */
function display(p: ResourceProcess): string {
  return p.group === p.name ? p.name : `${p.group}:${p.name}`;
}

/** `a, b, c`, or `a, b, c and N more`. */
function named(items: readonly string[]): string {
  const shown = items.slice(0, NAMED).join(', ');
  return items.length > NAMED ? `${shown} and ${items.length - NAMED} more` : shown;
}

/**
 * Whether `pid` is a supervisord of this `/proc`: visible, and its command
 * line names supervisord; `changed` when its start differs from the one seen
 * before. A string says why not.
 */
function supervisordIdentity(procRoot: string, pid: number, expectedStart: number | undefined): string | { startTicks: number; changed: boolean } {
  const where = `supervisord's pid ${pid} (supervisor.getPID)`;
  const elsewhere = 'supervisord runs in another pid namespace (a container?) or on another host';
  if (!Number.isSafeInteger(pid) || pid <= 0) return `${where} is not a process id`;
  const stat = readStat(procRoot, pid);
  if (stat === 'gone') return `${where} is not in this host's ${procRoot}: ${elsewhere}, or ${procRoot} hides it (hidepid)`;
  if (isUnreadable(stat)) return `${where}: ${procRoot}/${pid}/stat cannot be read (${stat.unreadable})`;
  if (expectedStart !== undefined && stat.startTicks !== expectedStart) return { startTicks: stat.startTicks, changed: true };
  const cmdline = readCmdline(procRoot, pid);
  if (cmdline === 'gone') return `${where} exited while it was read`;
  if (isUnreadable(cmdline)) return `${where}: ${procRoot}/${pid}/cmdline cannot be read (${cmdline.unreadable})`;
  if (!cmdline.some(isSupervisordArgument)) {
    return `${where} is ${JSON.stringify(cmdline.join(' ').slice(0, 80))} in this host's ${procRoot}, not a supervisord: ${elsewhere}`;
  }
  return { startTicks: stat.startTicks, changed: false };
}

/** Sums over the descendants of a process (not the process itself). */
interface TreeSums {
  /** CPU ticks of every descendant, live or zombie, with what each waited for. */
  cpuTicks: number;
  rssPages: number;
  threads: number;
  fds: number;
  /** Live descendants. */
  processes: number;
  /** Why the descendants' descriptors could not all be counted. */
  fdProblem: string | undefined;
}

function treeOf(scan: ProcScan, root: number, procRoot: string): TreeSums {
  const sums: TreeSums = { cpuTicks: 0, rssPages: 0, threads: 0, fds: 0, processes: 0, fdProblem: undefined };
  const direct = scan.children.get(root);
  if (direct === undefined) return sums; // most programs: a process without children
  const pending = [...direct];
  const seen = new Set<number>([root]);
  while (pending.length > 0) {
    const pid = pending.pop()!;
    // A parent loop cannot happen in the kernel; a scan taken over time could show one after pid reuse.
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = scan.stats.get(pid)!;
    addMember(sums, stat, procRoot);
    for (const child of scan.children.get(pid) ?? []) pending.push(child);
  }
  return sums;
}

/**
 * A descendant's share. A zombie's CPU counts (its parent collects it when it
 * reaps it, into `cutime`: leaving it out would make the tree's total dip),
 * nothing else of it does: it has no memory, threads or descriptors left.
 */
function addMember(sums: TreeSums, stat: ProcStat, procRoot: string): void {
  sums.cpuTicks += stat.utime + stat.stime + stat.cutime + stat.cstime;
  if (stat.state === ZOMBIE || stat.state === DEAD) return;
  const fds = countFds(procRoot, stat.pid);
  if (fds === 'gone') return; // exited since the scan: its CPU is now its parent's `cutime`, read before
  sums.processes++;
  sums.rssPages += stat.rssPages;
  sums.threads += stat.threads;
  if (typeof fds === 'number') sums.fds += fds;
  else sums.fdProblem ??= `${procRoot}/${stat.pid}/fd: ${fds.unreadable}`;
}
