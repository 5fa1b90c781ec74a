/**
 * `supervisord-check demo` (`npm start`): starts a throwaway supervisord with
 * a handful of programs in a temp dir, checks it a few times so that the
 * states visibly change, then stops it and removes the temp dir, also on
 * Ctrl-C. Without supervisord it runs the same rounds against the built-in
 * emulator, seeded from a recorded supervisord 4.2.5 answer.
 *
 * Runs directly too: `node dist/lib/demo/demo.js`.
 *
 * @module
 */

import { accessSync, constants, existsSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import { SupervisordCheck } from '../check.js';
import { findSupervisord } from '../launcher/find-supervisord.js';
import { delay, launchSupervisord } from '../launcher/supervisord.js';
import type { SupervisordProgram } from '../launcher/supervisord-config.js';
import { SupervisordEmulator, makeProcess } from '../emulator/index.js';
import { formatText } from '../outputs/text.js';
import { PROCESS_STATUS, PROCESS_UPTIME } from '../submission-names.js';
import { decodeProcessList } from '../submissions.js';
import type { CheckResult, ProcessInfo } from '../types.js';

/** Where the demo writes, and what can stop it. */
export interface DemoIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Read for `PATH`, `SUPERVISORD_BIN`, `NO_COLOR` and the `SUPERVISORD_CHECK_DEMO_*` settings. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Aborts the demo like Ctrl-C: it cleans up and returns 130. */
  signal?: AbortSignal;
}

/** Options of {@link runDemo}. */
export type DemoOptions = Partial<DemoIo> & {
  /** Check rounds. Default `SUPERVISORD_CHECK_DEMO_ROUNDS` or 4. */
  rounds?: number;
  /** Pause between rounds in ms. Default `SUPERVISORD_CHECK_DEMO_INTERVAL_MS` or 2000. */
  intervalMs?: number;
  /**
   * The supervisord binary. Default: found on `PATH`, `/usr/bin`,
   * `/usr/local/bin` (see {@link findSupervisord}); `null` forces the emulator.
   */
  supervisordPath?: string | null;
};

/** Prefix of the demo's temp dir in `os.tmpdir()`. */
export const DEMO_DIR_PREFIX = 'supervisord-check-demo-';

/** A setting of the demo (option or `SUPERVISORD_CHECK_DEMO_*` variable) is invalid. */
export class DemoError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_DEMO_SETTING' as const;

  override get name(): string {
    return 'DemoError';
  }
}

/**
 * The demo's programs. The timings are chosen for rounds 2 s apart: `exiter`
 * is RUNNING at the first round and EXITED at the second, `broken` is in
 * BACKOFF for its one retry (1 s) then FATAL, `looper` restarts every ~3 s
 * (not 2 s: its cycle would lock onto the rounds' and look the same at
 * every round).
 */
export const DEMO_PROGRAMS: readonly SupervisordProgram[] = Object.freeze([
  { name: 'sleeper', command: '/bin/sleep 100000' },
  { name: 'exiter', command: "/bin/sh -c 'sleep 1; exit 3'", autorestart: false, startsecs: 0 },
  { name: 'broken', command: '/nonexistent/supervisord-check-missing', startretries: 1, autorestart: false },
  { name: 'front', group: 'web', command: '/bin/sleep 100000' },
  { name: 'back', group: 'web', command: '/bin/sleep 100000' },
  { name: 'looper', command: "/bin/sh -c 'sleep 3; exit 1'", autorestart: true, startsecs: 0 },
  { name: 'idle', command: '/bin/sleep 100000', autostart: false },
]);

/** One line per program for the header of a real supervisord, in {@link DEMO_PROGRAMS} order. */
const PROGRAM_ROLES: Readonly<Record<string, string>> = {
  sleeper: 'runs',
  exiter: 'exits with code 3 after 1 s',
  broken: 'its command does not exist',
  'web:front': 'runs, in group web',
  'web:back': 'runs, in group web',
  looper: 'exits after 3 s and is restarted, again and again',
  idle: 'autostart=false',
};

/**
 * The same for the emulator, whose script moves on with the rounds, not the
 * clock ({@link EmulatedScript}): the real programs' timings would be wrong
 * at any interval but 2 s.
 */
const EMULATED_ROLES: Readonly<Record<string, string>> = {
  ...PROGRAM_ROLES,
  sleeper: 'runs (STARTING at the first round)',
  exiter: 'runs at the first round, then has exited with code 3',
  broken: 'its command does not exist: BACKOFF, then FATAL',
  'web:front': 'runs, in group web (STARTING at the first round)',
  'web:back': 'runs, in group web (STARTING at the first round)',
  looper: 'exits at every other round and is restarted at the next',
};

/** The closing line: the command may not be installed (the demo runs from a clone with `npm start`). */
const NEXT_STEP =
  'Point it at your own supervisord: supervisord-check --help ' +
  '(from a clone, without installing: npx supervisord-check --help; to install the command: npm install -g .)';

const EXIT_FAILED = 1;
const EXIT_ABORTED = 130;
const EXIT_TERMINATED = 143;

/** The recorded supervisord 4.2.5 answers the emulator is seeded from. */
const FIXTURE_DIR = 'fixtures/supervisord-4.2.5';

/**
 * Runs the demo. Writes a header, one table per round and a closing line to
 * `stdout`; problems to `stderr`. SIGINT and SIGTERM (and `signal`) stop it
 * during the run: supervisord or the emulator is stopped and the temp dir
 * removed on every path, errors included.
 *
 * @returns the exit code: 0 when the demo ran, 130 when interrupted by
 *   SIGINT or `signal`, 143 by SIGTERM, 1 when supervisord could not be started,
 *   the output cannot be written (EPIPE) or something else failed, 2 for a bad
 *   option or `SUPERVISORD_CHECK_DEMO_*` value. Never rejects.
 */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const stdoutStream = options.stdout ?? process.stdout;
  const stderrStream = options.stderr ?? process.stderr;
  const stdout = sink(stdoutStream);
  const stderr = sink(stderrStream);
  const env = options.env ?? process.env;
  let settings: Settings;
  try {
    settings = resolveSettings(options, env);
  } catch (error) {
    stderr.write(`supervisord-check demo: ${(error as Error).message}\n`);
    return 2;
  }
  const color = isTty(stdoutStream) && (env['NO_COLOR'] ?? '') === '';

  const controller = new AbortController();
  const signal = controller.signal;
  const onSigint = (): void => controller.abort(new Stopped(EXIT_ABORTED));
  const onSigterm = (): void => controller.abort(new Stopped(EXIT_TERMINATED));
  const onCallerAbort = (): void => controller.abort(new Stopped(EXIT_ABORTED));
  // A reader that went away (`npm start | head`) makes writes fail with
  // EPIPE: unhandled, that would end the process before the cleanup.
  const onOutputError = (): void => controller.abort(new Stopped(EXIT_FAILED));
  stdoutStream.on('error', onOutputError);
  stderrStream.on('error', onOutputError);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  if (options.signal?.aborted) onCallerAbort();
  else options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  // Undone in reverse order by the finally below; `sync` is the last resort
  // of the 'exit' hook if someone calls process.exit() during the demo.
  const cleanups: Cleanups = [];
  const onExit = (): void => {
    for (const c of cleanups.reverse()) c.sync?.();
  };
  process.on('exit', onExit);

  const run: Run = { stdout, cleanups, signal };
  let code: number;
  try {
    const target = settings.supervisordPath === null ? await startEmulated(run, settings) : await startReal(run, settings.supervisordPath);

    const socket = `unix://${target.socketPath}`;
    stdout.write(
      `Checking it ${settings.rounds} time${settings.rounds === 1 ? '' : 's'}, ${formatMs(settings.intervalMs)} apart, ` +
        `with new SupervisordCheck({ name: 'demo', socket: '${socket}' }). Ctrl-C stops the demo and cleans up.\n`,
    );
    const check = new SupervisordCheck({ name: 'demo', socket, timeout: 5 });
    cleanups.push({ async: () => check.close() });

    const table = new RoundTable({ color, target: socket });
    for (let round = 0; round < settings.rounds; round++) {
      if (round > 0) await delay(settings.intervalMs, signal);
      target.beforeRound(round);
      const result = await untilAborted(check.run(), signal);
      stdout.write(`\n${table.render(result, round, settings.rounds)}`);
    }
    code = 0;
  } catch (error) {
    if (signal.aborted && signal.reason instanceof Stopped) {
      code = signal.reason.exitCode;
    } else {
      stderr.write(`supervisord-check demo: ${error instanceof Error ? error.message : String(error)}\n`);
      code = EXIT_FAILED;
    }
  }
  // Cleanup steps never reject (stop() and close() do not; rm is forced), but
  // a failure of one must not skip the others. The signal listeners stay
  // until the end: a second Ctrl-C must not kill this process halfway
  // through (the cleanup is bounded: about 5 s at worst).
  for (const c of cleanups.reverse()) await c.async().catch((error: unknown) => stderr.write(`supervisord-check demo: cleanup: ${String(error)}\n`));
  cleanups.length = 0;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
  options.signal?.removeEventListener('abort', onCallerAbort);

  const stopped = `${settings.supervisordPath === null ? 'emulator' : 'supervisord'} stopped${run.dir === undefined ? '' : `, ${run.dir} removed`}`;
  if (code === 0) stdout.write(`\nDemo done: ${stopped}. ${NEXT_STEP}\n`);
  else if (code === EXIT_ABORTED || code === EXIT_TERMINATED) stdout.write(`\nDemo interrupted: ${stopped}.\n`);
  // A failed write reports its error on a later tick: keep listening until then.
  await new Promise<void>((resolve) => setImmediate(resolve));
  stdoutStream.removeListener('error', onOutputError);
  stderrStream.removeListener('error', onOutputError);
  return code;
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

interface Settings {
  rounds: number;
  intervalMs: number;
  supervisordPath: string | null;
  /** Why the emulator runs: supervisord is not installed, `SUPERVISORD_BIN` is empty, or the caller asked. */
  emulatorBecause?: 'not installed' | 'SUPERVISORD_BIN' | 'asked';
}

function resolveSettings(options: DemoOptions, env: NodeJS.ProcessEnv): Settings {
  const rounds = options.rounds ?? fromEnv(env, 'SUPERVISORD_CHECK_DEMO_ROUNDS') ?? 4;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) {
    throw new DemoError(`rounds must be an integer from 1 to 1000, got ${String(rounds)}`);
  }
  const intervalMs = options.intervalMs ?? fromEnv(env, 'SUPERVISORD_CHECK_DEMO_INTERVAL_MS') ?? 2000;
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > 600_000) {
    throw new DemoError(`intervalMs must be an integer from 0 to 600000, got ${String(intervalMs)}`);
  }
  if (options.supervisordPath !== undefined) {
    return { rounds, intervalMs, supervisordPath: options.supervisordPath, ...(options.supervisordPath === null ? { emulatorBecause: 'asked' } : {}) };
  }
  const forced = env['SUPERVISORD_BIN'];
  if (forced === '') return { rounds, intervalMs, supervisordPath: null, emulatorBecause: 'SUPERVISORD_BIN' };
  if (forced !== undefined && !isExecutableFile(forced)) {
    // Checked before anything is started or printed: the launch would only fail after the header.
    throw new DemoError(`SUPERVISORD_BIN=${forced} is not an executable file (unset it to search PATH, or set it empty to use the built-in emulator)`);
  }
  const found = findSupervisord(env);
  return { rounds, intervalMs, supervisordPath: found, ...(found === null ? { emulatorBecause: 'not installed' } : {}) };
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** An integer environment setting; rejects anything but digits so that a typo is not silently the default. */
function fromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9]{1,9}$/u.test(text)) throw new DemoError(`${name} must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

// ---------------------------------------------------------------------------
// Targets: a real supervisord or the emulator
// ---------------------------------------------------------------------------

interface Target {
  socketPath: string;
  /** Called before each round's check; the emulator scripts its state changes here. */
  beforeRound(round: number): void;
}

/** What to undo, in reverse order; `sync`, when there is something to do at process exit. */
type Cleanups = Array<{ async: () => Promise<void>; sync?: () => void }>;

/** What the start of a target needs, and the temp dir it made (removed by the cleanups). */
interface Run {
  stdout: Sink;
  cleanups: Cleanups;
  signal: AbortSignal;
  dir?: string;
}

async function startReal(run: Run, supervisordPath: string): Promise<Target> {
  run.signal.throwIfAborted();
  const supervisord = await launchSupervisord({ supervisordPath, dirPrefix: DEMO_DIR_PREFIX, programs: DEMO_PROGRAMS });
  run.dir = supervisord.dir;
  // At process exit the launcher's own hook stops supervisord and removes the dir.
  run.cleanups.push({ async: () => supervisord.stop() });
  run.stdout.write(`supervisord-check demo: a throwaway supervisord (${supervisordPath}${supervisord.pid > 0 ? `, pid ${supervisord.pid}` : ''}) in ${supervisord.dir}\n`);
  await supervisord.ready({ signal: run.signal, timeoutMs: 15_000 });
  // Once it answers: a supervisord that cannot start reports why without a list of programs that never ran.
  run.stdout.write(`with ${DEMO_PROGRAMS.length} programs:\n${describePrograms(PROGRAM_ROLES)}`);
  return { socketPath: supervisord.socketPath!, beforeRound: () => {} };
}

async function startEmulated(run: Run, settings: Settings): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), DEMO_DIR_PREFIX));
  run.dir = dir;
  run.cleanups.push({ async: () => rm(dir, { recursive: true, force: true }), sync: () => rmSync(dir, { recursive: true, force: true }) });
  run.signal.throwIfAborted();
  const recorded = loadRecorded();
  const socketPath = join(dir, 'supervisor.sock');
  const emulator = await SupervisordEmulator.start({ listen: { socketPath }, version: recorded.version });
  run.cleanups.push({ async: () => emulator.close() });
  const script = new EmulatedScript(recorded.processes, dir);
  run.stdout.write(
    EMULATOR_REASONS[settings.emulatorBecause ?? 'asked'] +
      `supervisord-check demo: the emulator speaks supervisord ${recorded.version}'s XML-RPC on ${socketPath}, ` +
      `seeded from ${recorded.source}\nwith ${DEMO_PROGRAMS.length} programs scripted round by round as a real supervisord's would go with rounds 2 s apart:\n` +
      describePrograms(EMULATED_ROLES),
  );
  return { socketPath, beforeRound: (round) => (emulator.processes = script.processesAt(round)) };
}

const EMULATOR_REASONS: Readonly<Record<NonNullable<Settings['emulatorBecause']>, string>> = {
  'not installed': 'supervisord is not installed (apt-get install supervisor); running against the built-in emulator instead\n',
  SUPERVISORD_BIN: 'supervisord-check demo: SUPERVISORD_BIN is empty: running against the built-in emulator\n',
  asked: 'supervisord-check demo: running against the built-in emulator\n',
};

function describePrograms(roles: Readonly<Record<string, string>>): string {
  return DEMO_PROGRAMS.map((p) => {
    const key = p.group === undefined ? p.name : `${p.group}:${p.name}`;
    return `  ${key.padEnd(10)} ${roles[key] ?? ''}\n`;
  }).join('');
}

/** What the emulator is seeded from. */
interface Recorded {
  /** The recorded process structs by `group:name`. */
  processes: Map<string, ProcessInfo>;
  version: string;
  /** Shown in the header. */
  source: string;
}

/**
 * Reads and decodes the recorded `getAllProcessInfo` and `getSupervisorVersion`
 * answers. They sit in the repository, beside `dist/`: `../../../` from
 * `dist/lib/demo/demo.js`, `../../../../` from a private build dir (`.build/<name>/lib/demo`).
 * An installed package may not ship them: the emulator then starts from
 * {@link makeProcess}'s defaults with the same names, and the header says so.
 */
export function loadRecorded(baseUrl: string = import.meta.url): Recorded {
  for (const up of ['../../../', '../../../../']) {
    const processesUrl = new URL(`${up}${FIXTURE_DIR}/getAllProcessInfo.http`, baseUrl);
    if (!existsSync(processesUrl)) continue;
    const decoded = decodeProcessList(decodeResponse(httpBody(readFileSync(processesUrl))));
    if (!decoded.ok) throw new Error(`${fileURLToPath(processesUrl)}: ${decoded.reason}`);
    const version = decodeResponse(httpBody(readFileSync(new URL(`${up}${FIXTURE_DIR}/getSupervisorVersion.http`, baseUrl))));
    return {
      processes: new Map(decoded.processes.map((p) => [`${p.group}:${p.name}`, p])),
      version: typeof version === 'string' ? version : '4.2.5',
      source: `the answer recorded from a real supervisord (${FIXTURE_DIR}/getAllProcessInfo.http)`,
    };
  }
  return { processes: new Map(), version: '4.2.5', source: `built-in defaults (the recorded answers in ${FIXTURE_DIR} were not found)` };
}

/** The body of a recorded HTTP response (after the first CRLFCRLF). */
function httpBody(raw: Buffer): Uint8Array {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('recorded response has no end of headers');
  return raw.subarray(end + 4);
}

/**
 * The emulator's process table round by round, as the real supervisord goes
 * with rounds 2 s apart: round 0 `exiter` RUNNING, `broken` BACKOFF,
 * `sleeper` and `web:*` STARTING; from round 1 `exiter` EXITED with code 3,
 * `broken` FATAL, the others RUNNING; `looper` EXITED at odd rounds and
 * restarted (new pid, uptime from 0) at even ones: a real supervisord shows
 * that at some rounds, not at all. Recorded members (spawn errors, exit
 * status, pids) are kept; times follow the clock; log paths move into the
 * demo's dir (the recording's temp dir is long gone).
 */
export class EmulatedScript {
  readonly #recorded: Map<string, ProcessInfo>;
  readonly #dir: string;
  readonly #t0 = Math.floor(Date.now() / 1000);

  /**
   * @param recorded recorded structs by `group:name` (missing ones get defaults; `looper`, which
   *   the recording has not, is modelled on `sleeper`).
   * @param dir where log paths point.
   */
  constructor(recorded: Map<string, ProcessInfo>, dir: string) {
    this.#recorded = recorded;
    this.#dir = dir;
  }

  /** The table for `round` (0-based). */
  processesAt(round: number): ProcessInfo[] {
    const now = Math.floor(Date.now() / 1000);
    const t0 = this.#t0;
    const later = round > 0;
    return DEMO_PROGRAMS.map((p) => {
      const group = p.group ?? p.name;
      switch (p.name) {
        case 'exiter':
          return later
            ? this.#make(p.name, group, { statename: 'EXITED', start: t0, stop: t0 + 1, exitstatus: 3 })
            : this.#make(p.name, group, { statename: 'RUNNING', start: t0, spawnerr: '', exitstatus: 0 });
        case 'broken':
          return later
            ? this.#make(p.name, group, { statename: 'FATAL', start: t0 + 1 })
            : this.#make(p.name, group, { statename: 'BACKOFF', start: t0 });
        case 'looper': {
          // Caught between its exit and supervisord's next turn every other round.
          if (round % 2 === 1) return this.#make(p.name, group, { statename: 'EXITED', start: now - 3, stop: now, exitstatus: 1, spawnerr: 'Bad exit code 1' }, 'sleeper:sleeper');
          const pid = (this.#recorded.get('sleeper:sleeper')?.pid ?? 4000) + 100 + round;
          return this.#make(p.name, group, { statename: 'RUNNING', start: now, pid }, 'sleeper:sleeper');
        }
        case 'idle':
          return this.#make(p.name, group, { statename: 'STOPPED', start: 0 });
        default:
          // startsecs=1 (supervisord's default): STARTING at the first round.
          return this.#make(p.name, group, { statename: later ? 'RUNNING' : 'STARTING', start: t0 });
      }
    });
  }

  #make(name: string, group: string, changes: Partial<ProcessInfo>, model?: string): ProcessInfo {
    const recorded = this.#recorded.get(`${group}:${name}`) ?? (model === undefined ? undefined : this.#recorded.get(model));
    const partial: Partial<ProcessInfo> & { name: string } = { name, group, stop: 0 };
    if (recorded !== undefined) {
      partial.spawnerr = recorded.spawnerr;
      partial.exitstatus = recorded.exitstatus;
      if (recorded.pid > 0) partial.pid = recorded.pid;
      partial.stdout_logfile = join(this.#dir, basename(recorded.stdout_logfile).replace(recorded.name, name));
      partial.logfile = partial.stdout_logfile;
      partial.stderr_logfile = join(this.#dir, basename(recorded.stderr_logfile).replace(recorded.name, name));
    }
    // `now` and `description` are left out: the emulator then answers with its clock, as supervisord does.
    return makeProcess({ ...partial, ...changes });
  }
}

// ---------------------------------------------------------------------------
// Rendering a round
// ---------------------------------------------------------------------------

/** What the change tracking needs of a process, derived from a {@link CheckResult}. */
interface Row {
  /** `name`, or `group:name` in a group. */
  key: string;
  state: string;
  up: boolean;
  uptime: number;
  detail: string;
  /** The `Stop time:` of a non-OK process's message, '' otherwise. */
  stopTime: string;
}

/**
 * Renders rounds: a header line, the table of `supervisord-check --format
 * text` (so the demo shows what the command prints), then what changed since
 * the previous round (the first round lists why the down processes are down).
 * The changes come from the check's result alone: the process tags, the
 * uptime gauges, and the `State:`/`Description:`/`Exit Status:` lines of a
 * non-OK service check's message (an OK one is RUNNING under the default
 * mapping). A restart shows as a state change, a RUNNING process whose start
 * moved, or a stopped one whose stop time moved.
 */
export class RoundTable {
  readonly #color: boolean;
  readonly #target: string;
  #previous = new Map<string, { state: string; startedAt: number; stopTime: string }>();

  /**
   * @param options `color`: ANSI colours on the status words; `target`: the
   *   address shown in the summary line (`unix:///...`).
   */
  constructor(options: { color: boolean; target: string }) {
    this.#color = options.color;
    this.#target = options.target;
  }

  /** The text of one round (`round` is 0-based), ending with a newline. */
  render(result: CheckResult, round: number, rounds: number, at: Date = new Date()): string {
    const lines = [`Round ${round + 1}/${rounds} at ${at.toTimeString().slice(0, 8)}`];
    const text = formatText([{ name: 'demo', target: this.#target, tags: ['supervisord_server:demo'], result }], { color: this.#color });
    for (const line of text.trimEnd().split('\n')) lines.push(`  ${line}`);

    // Whole seconds, like the server's clock: `now - uptime` is then the
    // process's start exactly, unless the answer straddled a second boundary.
    const nowSeconds = Math.floor(at.getTime() / 1000);
    const changes: string[] = [];
    const current = new Map<string, { state: string; startedAt: number; stopTime: string }>();
    for (const row of rowsOf(result)) {
      const startedAt = nowSeconds - row.uptime;
      current.set(row.key, { state: row.state, startedAt, stopTime: row.stopTime });
      const before = this.#previous.get(row.key);
      const why = row.detail === '' ? '' : ` (${row.detail})`;
      if (round === 0 || before === undefined) {
        if (!row.up) changes.push(`${row.key} is ${row.state}${why}`);
      } else if (before.state !== row.state) {
        // Back to STARTING from anything but STOPPED: supervisord restarted it by itself.
        const restarting = row.state === 'STARTING' && before.state !== 'STOPPED' ? ' (restarting)' : '';
        changes.push(`${row.key} ${before.state} -> ${row.state}${why}${restarting}`);
      } else if (row.state === 'RUNNING' && startedAt - before.startedAt >= 2) {
        // A start that moved by 2 s or more is a restart (1 s can be the
        // second boundary mentioned above).
        changes.push(`${row.key} restarted`);
      } else if (row.stopTime !== before.stopTime) {
        changes.push(`${row.key} ran again and is ${row.state} again${why}`);
      }
    }
    this.#previous = current;
    if (round === 0) {
      if (changes.length > 0) lines.push(`  ${changes.join(', ')}`);
    } else {
      lines.push(`  changes: ${changes.length === 0 ? 'none' : changes.join(', ')}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function rowsOf(result: CheckResult): Row[] {
  const uptimes = new Map<string, number>();
  for (const m of result.metrics) if (m.name === PROCESS_UPTIME) uptimes.set(processKey(m.tags), m.value);
  const rows: Row[] = [];
  for (const c of result.serviceChecks) {
    if (c.name !== PROCESS_STATUS) continue;
    const name = tagValue(c.tags, 'supervisord_process:');
    const group = tagValue(c.tags, 'supervisord_group:');
    const message = c.message ?? '';
    rows.push({
      key: group === name ? name : `${group}:${name}`,
      state: messageField(message, 'State') ?? (c.status === 0 ? 'RUNNING' : '?'),
      up: c.status === 0,
      uptime: uptimes.get(processKey(c.tags)) ?? 0,
      detail: c.status === 0 ? '' : detailOf(message),
      stopTime: messageField(message, 'Stop time') ?? '',
    });
  }
  return rows;
}

/** supervisord's description of a non-OK process; for EXITED (whose description is the stop time) the exit status. */
function detailOf(message: string): string {
  if (messageField(message, 'State') === 'EXITED') return `exit status ${messageField(message, 'Exit Status') ?? '?'}`;
  return messageField(message, 'Description') ?? '';
}

function tagValue(tags: readonly string[], prefix: string): string {
  return tags.find((t) => t.startsWith(prefix))?.slice(prefix.length) ?? '?';
}

function processKey(tags: readonly string[]): string {
  return `${tagValue(tags, 'supervisord_group:')}\u0000${tagValue(tags, 'supervisord_process:')}`;
}

/** A `Field: value` line of the reference's service-check message. */
function messageField(message: string, field: string): string | undefined {
  for (const line of message.split('\n')) if (line.startsWith(`${field}: `)) return line.slice(field.length + 2);
  return undefined;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Where the demo writes text. */
interface Sink {
  write(text: string): void;
}

/** Writes to `stream` until it is destroyed (after an EPIPE): later writes would only raise more errors. */
function sink(stream: NodeJS.WritableStream): Sink {
  return {
    write: (text) => {
      if ((stream as { destroyed?: boolean }).destroyed !== true) stream.write(text);
    },
  };
}

function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

// ---------------------------------------------------------------------------
// Interruption
// ---------------------------------------------------------------------------

/** Why the demo was stopped early (a signal, the caller's `signal`, a failed output), with the exit code to return. */
class Stopped extends Error {
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(exitCode === EXIT_TERMINATED ? 'terminated' : 'interrupted');
    this.exitCode = exitCode;
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise is left to settle). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

// `node dist/lib/demo/demo.js` runs the demo; importing the module (the CLI does) does not.
if (process.argv[1] !== undefined && isMainModule(process.argv[1])) {
  process.exitCode = await runDemo();
}

function isMainModule(argv1: string): boolean {
  try {
    return pathToFileURL(realpathSync(argv1)).href === import.meta.url;
  } catch {
    return false;
  }
}
