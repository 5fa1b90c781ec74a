/**
 * `proc_regex` and `proc_regex_exclude` applied to the names a server sends,
 * within the run's deadline.
 *
 * A JavaScript regular expression runs synchronously and cannot be
 * interrupted, and its time can grow polynomially (`\d+$` against a
 * 100,000-digit name) or exponentially (refused when the pattern is
 * compiled) with the name's length. A hostile server chooses the names. So
 * every match of a pattern against text a server sent (process names, and
 * the `group:name` and group names the "matched nothing" hint looks at) is
 * made by a {@link RegexJudge}: on a worker thread, terminated when the
 * run's deadline passes. One judge serves the whole process (one or two
 * worker threads, however many checks and targets), with a bounded queue.
 * Each verdict is remembered, per check and per pattern, so that a name is
 * never judged twice and the following runs over the same processes do no
 * matching at all.
 *
 * @module
 */

import type { Worker } from 'node:worker_threads';

import { builtin } from './lazy-builtin.js';
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
  /** The verdicts of the last {@link NameFilter.judge}, whatever the memo's bounds forgot since. */
  #current: ReadonlyMap<string, boolean> | undefined;
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
   * Whether the pattern is found in `name` (`re.search`): the verdict of the
   * last judging or a remembered one, else matched here and now
   * (synchronously: only for text that is not a server's, such as the
   * configuration's own names; names the server sent are judged beforehand
   * by {@link NameFilter.judge}).
   */
  test(name: string): boolean {
    const known = this.judged(name);
    if (known !== undefined) return known;
    const verdict = this.regexp.test(name);
    this.remember(name, verdict);
    return verdict;
  }

  /** The verdict on `name` of the last judging, or a remembered one (marked recently used), if any. */
  judged(name: string): boolean | undefined {
    const current = this.#current?.get(name);
    if (current !== undefined) return current;
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

  /** @internal Keeps the verdicts of one judging until the next (see {@link judged}). */
  pin(current: ReadonlyMap<string, boolean> | undefined): void {
    this.#current = current;
  }
}

/**
 * The worker: compiles the sources it is sent (flag `u`, as the main
 * thread; the last few kept) and answers one verdict per job.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const compiled = new Map();
parentPort.on('message', ({ sources, jobs }) => {
  const regexps = sources.map((s) => {
    let re = compiled.get(s);
    if (re === undefined) {
      re = new RegExp(s, 'u');
      if (compiled.size >= 256) compiled.delete(compiled.keys().next().value);
      compiled.set(s, re);
    }
    return re;
  });
  const verdicts = new Uint8Array(jobs.length / 2);
  for (let i = 0; i < verdicts.length; i++) verdicts[i] = regexps[jobs[2 * i]].test(jobs[2 * i + 1]) ? 1 : 0;
  parentPort.postMessage(verdicts);
});
`;

/** Options of {@link RegexJudge}. */
export interface RegexJudgeOptions {
  /** Worker threads at most, started when needed [2]: one busy with a slow match leaves the other to the rest. */
  workers?: number;
  /** Requests waiting for a worker at most [1024]; beyond, a request is refused at once. */
  maxQueued?: number;
  /** Characters of names waiting for a worker at most [64 Mi]. */
  maxQueuedChars?: number;
  /** A worker with nothing to do for this long is ended (its memory given back) [30 s]. */
  idleMs?: number;
}

/** Why a {@link RegexJudge.judge} request has no verdicts. */
export type JudgeFailure = 'deadline' | 'busy' | 'closed';

interface Request {
  readonly sources: readonly string[];
  readonly jobs: ReadonlyArray<number | string>;
  readonly chars: number;
  readonly deadline: number;
  readonly done: (result: Uint8Array | JudgeFailure) => void;
  timer: NodeJS.Timeout | undefined;
  /** The worker running it, once started. */
  worker: Worker | undefined;
  settled: boolean;
}

/** A handle on a request, to cancel it. */
export interface JudgeTicket {
  readonly result: Promise<Uint8Array | JudgeFailure>;
  /** Ends the request now (`closed`); a match in progress is interrupted. */
  cancel(): void;
}

/**
 * Judges names against regular expressions on worker threads, each request
 * within its deadline, for every check of the process: at most `workers`
 * threads whatever the number of checks, requests served in arrival order
 * from a bounded queue. A request whose deadline passes while it runs
 * terminates its worker (a match cannot be interrupted otherwise); the next
 * request starts a fresh one.
 */
export class RegexJudge {
  readonly #workers: number;
  readonly #maxQueued: number;
  readonly #maxQueuedChars: number;
  readonly #idleMs: number;
  /** Workers started and not terminated. */
  readonly #live = new Set<Worker>();
  readonly #idle: Worker[] = [];
  readonly #running = new Set<Request>();
  readonly #queue: Request[] = [];
  #queuedChars = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  /**
   * @param options see {@link RegexJudgeOptions}.
   * @throws {RangeError} for a count that is not a positive integer.
   */
  constructor(options: RegexJudgeOptions = {}) {
    this.#workers = positive(options.workers ?? 2, 'workers');
    this.#maxQueued = positive(options.maxQueued ?? 1024, 'maxQueued');
    this.#maxQueuedChars = positive(options.maxQueuedChars ?? 64 * 1024 * 1024, 'maxQueuedChars');
    this.#idleMs = positive(options.idleMs ?? 30_000, 'idleMs');
  }

  /** Worker threads alive now. */
  get threads(): number {
    return this.#live.size;
  }

  /** Requests waiting for a worker now. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Asks for one verdict per job: `jobs` holds pairs (index into `sources`,
   * text); `sources` are JavaScript regular expression sources (flag `u`).
   *
   * @param deadline `performance.now()` value by which the verdicts must be in.
   * @returns the verdicts (1 found, 0 not), or why there are none:
   *   `deadline` (it passed, waiting or matching), `busy` (the queue was
   *   full), `closed` (cancelled).
   */
  judge(sources: readonly string[], jobs: ReadonlyArray<number | string>, deadline: number): JudgeTicket {
    let chars = 0;
    for (let i = 1; i < jobs.length; i += 2) chars += (jobs[i] as string).length;
    let request!: Request;
    const result = new Promise<Uint8Array | JudgeFailure>((resolve) => {
      request = { sources, jobs, chars, deadline, done: resolve, timer: undefined, worker: undefined, settled: false };
    });
    const ticket: JudgeTicket = { result, cancel: () => this.#end(request, 'closed') };
    const ms = deadline - performance.now();
    // As for the calls: timers fire on whole milliseconds, so less than one left is none.
    if (ms < 1) {
      this.#settle(request, 'deadline');
      return ticket;
    }
    if (this.#queue.length >= this.#maxQueued || this.#queuedChars + chars > this.#maxQueuedChars) {
      this.#settle(request, 'busy');
      return ticket;
    }
    request.timer = setTimeout(() => this.#end(request, 'deadline'), ms);
    this.#queue.push(request);
    this.#queuedChars += chars;
    this.#pump();
    return ticket;
  }

  /** Ends every request (`closed`) and every worker. */
  async close(): Promise<void> {
    for (const request of [...this.#queue, ...this.#running]) this.#end(request, 'closed');
    clearTimeout(this.#idleTimer);
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((w) => this.#terminate(w)));
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let worker = this.#idle.pop();
      if (worker === undefined) {
        if (this.#live.size >= this.#workers) return;
        worker = this.#spawn();
      }
      const request = this.#queue.shift()!;
      this.#queuedChars -= request.chars;
      this.#run(request, worker);
    }
    this.#scheduleIdle();
  }

  #run(request: Request, worker: Worker): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    request.worker = worker;
    this.#running.add(request);
    const onMessage = (verdicts: Uint8Array): void => {
      worker.off('message', onMessage);
      this.#running.delete(request);
      request.worker = undefined;
      worker.unref();
      this.#idle.push(worker);
      this.#settle(request, verdicts);
      this.#pump();
    };
    worker.on('message', onMessage);
    worker.ref();
    worker.postMessage({ sources: request.sources, jobs: request.jobs });
  }

  /** Ends a request early: out of the queue, or its worker terminated (a match cannot be stopped otherwise). */
  #end(request: Request, why: JudgeFailure): void {
    if (request.settled) return;
    const at = this.#queue.indexOf(request);
    if (at >= 0) {
      this.#queue.splice(at, 1);
      this.#queuedChars -= request.chars;
    }
    const worker = request.worker;
    if (worker !== undefined) {
      this.#running.delete(request);
      request.worker = undefined;
      worker.removeAllListeners('message');
      void this.#terminate(worker);
    }
    this.#settle(request, why);
    this.#pump();
  }

  #settle(request: Request, result: Uint8Array | JudgeFailure): void {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    request.done(result);
  }

  #spawn(): Worker {
    // Loaded here, not with the module: only `proc_regex` patterns need a worker (3-7 ms and up to 5 MB at import).
    // No inherited execArgv: under `--input-type=module` (node -e) the CommonJS source would be read as a module and die.
    const worker = new (builtin('node:worker_threads').Worker)(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.#live.add(worker);
    // An idle worker must not keep the process alive; it is ref'ed while it works.
    worker.unref();
    // A worker that fails (none is expected) ends its request; the next one starts afresh.
    worker.on('error', () => {});
    worker.once('exit', () => {
      if (!this.#live.delete(worker)) return;
      // An exit we did not ask for.
      const idle = this.#idle.indexOf(worker);
      if (idle >= 0) this.#idle.splice(idle, 1);
      for (const request of this.#running) if (request.worker === worker) this.#end(request, 'deadline');
      this.#pump();
    });
    return worker;
  }

  #terminate(worker: Worker): Promise<number> {
    this.#live.delete(worker);
    return worker.terminate();
  }

  /** Ends the idle workers once nothing came for `idleMs`. */
  #scheduleIdle(): void {
    if (this.#idle.length === 0 || this.#running.size > 0 || this.#idleTimer !== undefined) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      for (const worker of this.#idle.splice(0)) void this.#terminate(worker);
    }, this.#idleMs);
    this.#idleTimer.unref();
  }
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${String(n)}`);
  return n;
}

let sharedJudge: RegexJudge | undefined;

/** The judge every {@link NameFilter} uses unless given its own: one per process, created at first use. */
export function defaultJudge(): RegexJudge {
  sharedJudge ??= new RegexJudge();
  return sharedJudge;
}

/** Options of {@link NameFilter}. */
export interface NameFilterOptions {
  /** Default {@link defaultJudge}. */
  judge?: RegexJudge;
}

/** Longest time the texts of a hint are judged for (within the run's deadline). */
export const HINT_MS = 1000;

/** Texts the "matched nothing" hint matches against the include patterns that matched no name. */
export interface HintTexts {
  /** The include patterns (`proc_regex`). */
  readonly patterns: readonly CompiledPattern[];
  /** The texts (`group:name`, group), made only when a pattern matched no name. */
  readonly texts: () => readonly string[];
}

/**
 * Judges the names a server sent against a check's patterns, off the main
 * thread and within a deadline, through a {@link RegexJudge}. One per check
 * (or per listener); {@link NameFilter.close} ends its requests.
 */
export class NameFilter {
  readonly #patterns: readonly CompiledPattern[];
  readonly #judge: RegexJudge | undefined;
  readonly #tickets = new Set<JudgeTicket>();

  /**
   * @param patterns every pattern of the check (includes and excludes).
   * @param options see {@link NameFilterOptions}.
   */
  constructor(patterns: readonly CompiledPattern[], options: NameFilterOptions = {}) {
    this.#patterns = patterns;
    this.#judge = options.judge;
  }

  /**
   * Makes sure every pattern has a verdict on every name, judging the new
   * ones on a worker thread; then, when `hints` is given, that the include
   * patterns which matched no name have verdicts on the hint's texts, within
   * {@link HINT_MS} (a failure there only leaves the hint without
   * suggestions).
   *
   * @param names the process names of the run.
   * @param deadline `performance.now()` value by which judging must be done.
   * @param hints the texts of the "matched nothing" hint.
   * @returns `undefined` when every name is judged; else why not.
   */
  async judge(names: readonly string[], deadline: number, hints?: HintTexts): Promise<string | undefined> {
    const failure = await this.#judgeAll(this.#patterns, names, deadline);
    if (failure !== undefined) {
      for (const p of this.#patterns) p.pin(undefined);
      return failure;
    }
    if (hints === undefined) return undefined;
    const unmatched = hints.patterns.filter((p) => !names.some((name) => p.judged(name) === true));
    if (unmatched.length === 0) return undefined;
    const texts = hints.texts();
    // A hint is worth less than the run: a hostile group name costs a run HINT_MS at most, not its whole deadline.
    if (texts.length > 0) await this.#judgeAll(unmatched, texts, Math.min(deadline, performance.now() + HINT_MS), names);
    return undefined;
  }

  /**
   * Judges `texts` against `patterns` (only what no verdict is remembered
   * for), then pins each pattern's verdicts on them (and on `also`).
   */
  async #judgeAll(patterns: readonly CompiledPattern[], texts: readonly string[], deadline: number, also: readonly string[] = []): Promise<string | undefined> {
    if (patterns.length === 0) return undefined;
    const jobs: Array<number | string> = [];
    const pending: Array<[CompiledPattern, number, string]> = [];
    const pinned = patterns.map(() => new Map<string, boolean>());
    const all = also.length === 0 ? texts : also.concat(texts);
    patterns.forEach((p, index) => {
      const verdicts = pinned[index]!;
      for (const name of all) {
        if (verdicts.has(name)) continue;
        const known = p.judged(name);
        if (known !== undefined) {
          verdicts.set(name, known);
          continue;
        }
        verdicts.set(name, false);
        jobs.push(index, name);
        pending.push([p, index, name]);
      }
    });
    if (pending.length > 0) {
      const judge = this.#judge ?? defaultJudge();
      const ticket = judge.judge(patterns.map((p) => p.regexp.source), jobs, deadline);
      this.#tickets.add(ticket);
      const result = await ticket.result;
      this.#tickets.delete(ticket);
      if (!(result instanceof Uint8Array)) {
        const shown = [...new Set(pending.map(([p]) => p.pattern))].map((p) => pythonRepr(p)).join(', ');
        const what = `matching ${pending.length} process name(s) against ${shown}`;
        if (result === 'busy') return `${what} was refused: the regular expression worker has too many names waiting`;
        if (result === 'closed') return `${what} was stopped: the check was closed`;
        return `${what} did not finish by the run's deadline`;
      }
      pending.forEach(([p, index, name], i) => {
        const verdict = result[i] === 1;
        p.remember(name, verdict);
        pinned[index]!.set(name, verdict);
      });
    }
    patterns.forEach((p, index) => p.pin(pinned[index]));
    return undefined;
  }

  /** Ends this filter's requests (a match in progress is interrupted); the judge goes on serving others. */
  async close(): Promise<void> {
    for (const ticket of [...this.#tickets]) ticket.cancel();
    this.#tickets.clear();
  }
}
