// Shared helpers of the benchmark scripts (bench/*.js): timing with warm-up
// and medians, machine description, a readable table, and `--json` output
// (one JSON object per line). Plain Node, no dependencies.

import { readFileSync } from 'node:fs';
import os from 'node:os';

/** @returns {bigint} */
const now = () => process.hrtime.bigint();

/**
 * Median of a list of numbers (mean of the two middle ones for an even count).
 * @param {readonly number[]} values
 * @returns {number}
 */
export function median(values) {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Results are stored here so the engine cannot drop a call whose value is unused. */
export let sink;

/**
 * Times several functions on an equal footing: a cold call of each, warm-up
 * calls until about `warmupMs` per function has passed (none more when the
 * cold call alone took that long: such a call has long been optimised by
 * its end), then samples taken round-robin (one sample of each function in
 * turn), so that a burst of load from elsewhere on the machine hits every
 * function alike and their ratios survive it. Each sample runs a function
 * enough times to last `minSampleMs` (microsecond-scale cases are not lost
 * in timer noise) and records the time per call. The number of rounds fits
 * `budgetMs` per function, between `minSamples` and `maxSamples`.
 *
 * @template {string} K
 * @param {Record<K, () => unknown>} fns
 * @param {{ budgetMs?: number, warmupMs?: number, minSampleMs?: number, minSamples?: number, maxSamples?: number }} [options]
 * @returns {Record<K, { medianMs: number, cpuMs: number, samples: number, callsPerSample: number, minMs: number, maxMs: number, times: number[], cpuTimes: number[] }>}
 *   `times` and `cpuTimes`: wall and process CPU (`process.cpuUsage`, every
 *   thread: the garbage collector's helpers included) ms per call of each
 *   sample, in round order (sample i of every function was taken in the
 *   same round: see {@link pairedRatio}); `cpuMs` is the median of `cpuTimes`.
 */
export function measureAll(fns, options = {}) {
  const { budgetMs = 1000, warmupMs = 200, minSampleMs = 20, minSamples = 5, maxSamples = 41 } = options;
  const names = Object.keys(fns);
  const plan = {};
  let rounds = maxSamples;
  for (const name of names) {
    const fn = fns[name];
    let t = now();
    sink = fn();
    let once = Math.max(Number(now() - t) / 1e6, 1e-3);
    const warmups = once >= warmupMs ? 0 : Math.min(1000, Math.ceil((warmupMs - once) / once));
    if (warmups > 0) {
      t = now();
      for (let i = 0; i < warmups; i++) sink = fn();
      once = Math.max(Number(now() - t) / 1e6 / warmups, 1e-3);
    }
    const calls = Math.max(1, Math.ceil(minSampleMs / once));
    plan[name] = { calls, times: [], cpuTimes: [] };
    rounds = Math.min(rounds, Math.floor(budgetMs / (calls * once)));
  }
  rounds = Math.max(minSamples, rounds);
  for (let s = 0; s < rounds; s++) {
    for (const name of names) {
      const fn = fns[name];
      const { calls, times, cpuTimes } = plan[name];
      const cpu = process.cpuUsage();
      const t = now();
      for (let i = 0; i < calls; i++) sink = fn();
      times.push(Number(now() - t) / 1e6 / calls);
      const used = process.cpuUsage(cpu);
      cpuTimes.push((used.user + used.system) / 1e3 / calls);
    }
  }
  const out = {};
  for (const name of names) {
    const { calls, times, cpuTimes } = plan[name];
    out[name] = { medianMs: median(times), cpuMs: median(cpuTimes), samples: rounds, callsPerSample: calls, minMs: Math.min(...times), maxMs: Math.max(...times), times, cpuTimes };
  }
  return out;
}

/**
 * The median of the per-round ratios of two series timed round-robin by
 * {@link measureAll}, of CPU time (`cpuTimes`, default) or wall time
 * (`times`): a round's samples meet the same load, and CPU time does not
 * count the time another process held the core (measured on this 2-core
 * machine at load 6-8: the 10,000-process decode ratio varied by +-8 %
 * over five runs in CPU time, +-15 % in wall time).
 * @param {{ times: number[], cpuTimes: number[] }} a
 * @param {{ times: number[], cpuTimes: number[] }} b
 * @param {'cpuTimes' | 'times'} [key]
 */
export function pairedRatio(a, b, key = 'cpuTimes') {
  return median(a[key].map((t, i) => t / b[key][i]));
}

/**
 * Times one function; see {@link measureAll}.
 * @param {() => unknown} fn
 * @param {Parameters<typeof measureAll>[1]} [options]
 */
export function measure(fn, options = {}) {
  return measureAll({ fn }, options).fn;
}

/** The machine, for headers and JSON lines. */
export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus.length > 0 ? cpus[0].model.trim() : 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Prints one JSON object on one line (the `--json` format). */
export function emitJson(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

/**
 * Prints rows as an aligned table. Numbers are right-aligned, text left.
 * @param {readonly { key: string, title: string, format?: (v: unknown) => string }[]} columns
 * @param {readonly Record<string, unknown>[]} rows
 */
export function printTable(columns, rows) {
  const cells = rows.map((row) => columns.map((c) => {
    const v = row[c.key];
    return v === undefined || v === null ? '' : c.format ? c.format(v) : String(v);
  }));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const right = columns.map((c) => rows.some((row) => typeof row[c.key] === 'number'));
  const line = (parts) => parts.map((p, i) => (right[i] ? p.padStart(widths[i]) : p.padEnd(widths[i]))).join('  ').trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.title))}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of cells) process.stdout.write(`${line(r)}\n`);
}

/** `12,345` */
export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
/** Milliseconds with 3 significant digits: `0.0412`, `3.41`, `412`. */
export const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toPrecision(3));
/** A ratio: `2.31x` */
export const fmtRatio = (r) => `${r.toFixed(2)}x`;
/** MB/s with one decimal. */
export const fmtRate = (r) => r.toFixed(1);

/** Bytes per second as MB/s (10^6 bytes). */
export const mbPerSec = (bytes, ms) => bytes / 1e6 / (ms / 1e3);

/**
 * SIGKILLs the benchmark programs (`/bin/sleep 100000`) among `pids` that
 * are still alive: supervisord stopped by force can leave them behind. The
 * command line is checked first, as a pid may have been reused.
 *
 * @returns how many were killed.
 */
export function killLeftoverSleeps(pids) {
  let killed = 0;
  for (const pid of pids) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue; // gone
    }
    if (cmdline !== '/bin/sleep\u0000100000\u0000') continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}

