/**
 * `proc_regex` and `proc_regex_exclude` applied to the names a server sends,
 * within the run's deadline.
 *
 * A JavaScript regular expression runs synchronously and cannot be
 * interrupted, and its time can grow polynomially (`\d+$` against a
 * 100,000-digit name) or exponentially (refused when the pattern is
 * compiled) with the name's length. A hostile server chooses the names. So
 * a name a pattern has not judged yet is judged on a worker thread, which is
 * terminated when the run's deadline passes; each verdict is remembered,
 * per check and per pattern, so that a name is never judged twice and the
 * following runs over the same processes do no matching at all.
 *
 * @module
 */

import { Worker } from 'node:worker_threads';

import { compilePythonRegex } from './python/regex.js';
import { pythonRepr } from './python/repr.js';

/** Verdicts kept per pattern: beyond it the least recently used are forgotten (and judged again if they come back). */
export const MEMO_MAX_NAMES = 100_000;
/** Characters of names kept per pattern, so that a few huge names cannot hold memory either. */
export const MEMO_MAX_CHARS = 16 * 1024 * 1024;

/**
 * A configured pattern, its translation, and the names it has judged.
 * Created by the configuration, one per pattern and per check.
 */
export class CompiledPattern {
  /** The Python pattern, as configured. */
  readonly pattern: string;
  /** The JavaScript equivalent (Python `re.search` semantics). */
  readonly regexp: RegExp;
  readonly #memo = new Map<string, boolean>();
  #chars = 0;

  /**
   * @param pattern the Python pattern.
   * @param key the configuration key, for the error message.
   * @throws {ConfigError} as `compilePythonRegex` (patterns that cannot
   *   be translated, or that can backtrack catastrophically).
   */
  constructor(pattern: string, key: string) {
    this.pattern = pattern;
    this.regexp = compilePythonRegex(pattern, key);
  }

  /**
   * Whether the pattern is found in `name` (`re.search`): the remembered
   * verdict, else matched here and now (synchronously: names the server
   * sent are judged beforehand by {@link NameFilter.judge}).
   */
  test(name: string): boolean {
    const known = this.judged(name);
    if (known !== undefined) return known;
    const verdict = this.regexp.test(name);
    this.remember(name, verdict);
    return verdict;
  }

  /** The remembered verdict on `name`, if any (and marks it recently used). */
  judged(name: string): boolean | undefined {
    const verdict = this.#memo.get(name);
    if (verdict !== undefined) {
      this.#memo.delete(name);
      this.#memo.set(name, verdict);
    }
    return verdict;
  }

  /** Remembers a verdict, forgetting the least recently used beyond the bounds. */
  remember(name: string, verdict: boolean): void {
    if (this.#memo.has(name)) return;
    this.#memo.set(name, verdict);
    this.#chars += name.length;
    for (const oldest of this.#memo.keys()) {
      if (this.#memo.size <= MEMO_MAX_NAMES && this.#chars <= MEMO_MAX_CHARS) break;
      this.#memo.delete(oldest);
      this.#chars -= oldest.length;
    }
  }

  /** Number of remembered verdicts. */
  get remembered(): number {
    return this.#memo.size;
  }
}

/** The worker: compiles the sources it is sent (flag `u`, as the main thread) and answers one verdict per job. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ sources, jobs }) => {
  const regexps = sources.map((s) => new RegExp(s, 'u'));
  const verdicts = new Uint8Array(jobs.length / 2);
  for (let i = 0; i < verdicts.length; i++) verdicts[i] = regexps[jobs[2 * i]].test(jobs[2 * i + 1]) ? 1 : 0;
  parentPort.postMessage(verdicts);
});
`;

/**
 * Judges the names a server sent against the check's patterns, off the main
 * thread and within a deadline. One per check; {@link NameFilter.close}
 * ends its worker.
 */
export class NameFilter {
  readonly #patterns: readonly CompiledPattern[];
  #worker: Worker | undefined;

  /** @param patterns every pattern of the check (includes and excludes). */
  constructor(patterns: readonly CompiledPattern[]) {
    this.#patterns = patterns;
  }

  /**
   * Makes sure every pattern has a verdict on every name, judging the new
   * ones on the worker thread.
   *
   * @param names the process names of the run.
   * @param deadline `performance.now()` value by which judging must be done.
   * @returns `undefined` when every name is judged; else why not (the
   *   deadline passed: the worker was terminated, a later run starts another).
   */
  async judge(names: readonly string[], deadline: number): Promise<string | undefined> {
    const jobs: Array<number | string> = [];
    const pending: Array<[CompiledPattern, string]> = [];
    this.#patterns.forEach((p, index) => {
      const seen = new Set<string>();
      for (const name of names) {
        if (seen.has(name) || p.judged(name) !== undefined) continue;
        seen.add(name);
        jobs.push(index, name);
        pending.push([p, name]);
      }
    });
    if (pending.length === 0) return undefined;
    const ms = deadline - performance.now();
    // As for the calls: timers fire on whole milliseconds, so less than one left is none.
    const verdicts = ms < 1 ? undefined : await this.#run(jobs, ms);
    if (verdicts === undefined) {
      // Terminating interrupts a match in progress; the next run starts a fresh worker.
      await this.close();
      const patterns = [...new Set(pending.map(([p]) => p.pattern))];
      return `matching ${pending.length} process name(s) against ${patterns.map((p) => pythonRepr(p)).join(', ')} did not finish by the run's deadline`;
    }
    this.#worker?.unref();
    pending.forEach(([p, name], i) => p.remember(name, verdicts[i] === 1));
    return undefined;
  }

  /** Sends the jobs to the worker; its verdicts, or `undefined` when `ms` passed first or it failed. */
  #run(jobs: ReadonlyArray<number | string>, ms: number): Promise<Uint8Array | undefined> {
    const worker = this.#start();
    return new Promise<Uint8Array | undefined>((resolve) => {
      const done = (value: Uint8Array | undefined): void => {
        clearTimeout(timer);
        worker.off('message', done);
        worker.off('error', failed);
        worker.off('exit', failed);
        resolve(value);
      };
      const failed = (): void => done(undefined);
      const timer = setTimeout(failed, ms);
      worker.on('message', done);
      worker.on('error', failed);
      worker.on('exit', failed);
      worker.ref();
      worker.postMessage({ sources: this.#patterns.map((p) => p.regexp.source), jobs });
    });
  }

  /** Terminates the worker, if one runs. A later {@link judge} starts another. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  #start(): Worker {
    if (this.#worker === undefined) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      // An idle worker must not keep the process alive; it is ref'ed while it works.
      worker.unref();
      // A failure while idle (none is expected) must not become an uncaught 'error'; the next judge() starts afresh.
      worker.on('error', () => {});
      worker.once('exit', () => {
        if (this.#worker === worker) this.#worker = undefined;
      });
      this.#worker = worker;
    }
    return this.#worker;
  }
}
