/**
 * A throwaway supervisord, for the demo, the tests and the benchmarks: a
 * private config in a fresh temp directory, the installed binary run in the
 * foreground as a child process, a wait until it answers, and a stop that
 * leaves none of its programs (nor their children) and removes the
 * directory. It never touches the system service or `/etc/supervisor`.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { tcpAddress, unixAddress } from '../../protocol/address.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { LauncherError } from './errors.js';
import { findExecutable, findSupervisord } from './find-supervisord.js';
import { supervisordConfig } from './supervisord-config.js';
import type { SupervisordProgram } from './supervisord-config.js';

/**
 * Environment variable set on every launched supervisord, and so inherited
 * by every program it starts (and their children), holding its directory: a
 * test, or a worried user (`grep -l SUPERVISORD_CHECK_LAUNCHER_DIR
 * /proc/[0-9]*\/environ`), finds any process that outlived it.
 */
export const LAUNCHER_MARKER_ENV = 'SUPERVISORD_CHECK_LAUNCHER_DIR';

/** Where a launched supervisord serves XML-RPC: its unix socket, else 127.0.0.1:`port`. */
export interface SupervisordEndpoint {
  socketPath?: string;
  port?: number;
  username?: string;
  password?: string;
}

/**
 * How the launcher talks to its supervisord: one XML-RPC call, bounded by
 * `timeoutMs`, resolving with the decoded result and rejecting on a fault or
 * a network error. The default uses this package's `XmlRpcClient` on a fresh
 * connection per call; a test harness can pass a client of its own so that
 * the tests it serves never depend on the code under test.
 */
export type SupervisordCall = (endpoint: SupervisordEndpoint, method: string, params: readonly unknown[], timeoutMs: number) => Promise<unknown>;

/** A process struct of `getAllProcessInfo` (supervisord's are strings and integers). */
export type ProcessStruct = Record<string, string | number | boolean>;

/** Options of {@link launchSupervisord}. */
export interface LaunchOptions {
  /** The supervisord executable. Default: {@link findSupervisord}(`env`). */
  supervisordPath?: string;
  /**
   * Environment of supervisord (so of its programs and of `ctl`), plus
   * {@link LAUNCHER_MARKER_ENV}; also where `SUPERVISORD_BIN` and `PATH` are
   * read. Default `process.env`.
   */
  env?: NodeJS.ProcessEnv;
  /** Prefix of the temp directory created in `os.tmpdir()`. Default `supervisord-check-`. */
  dirPrefix?: string;
  /** Default: none. */
  programs?: readonly SupervisordProgram[];
  /** Serve XML-RPC on `<dir>/supervisor.sock`, owner only. Default true. */
  unix?: boolean;
  /** Serve XML-RPC on `127.0.0.1:<a free port>`. Default false. */
  inet?: boolean;
  /** Basic-auth user of both servers; goes with `password`. */
  username?: string;
  /** Basic-auth password of both servers; goes with `username`. */
  password?: string;
  /** `identifier=` of `[supervisord]` (supervisord's default: `supervisor`). */
  identifier?: string;
  /** Text appended verbatim to the config. */
  extraConfig?: string;
  /** How long {@link LaunchedSupervisord.stop} waits after SIGTERM before SIGKILL, ms. Default 5000. */
  stopGraceMs?: number;
  /** How the launcher talks to supervisord. Default: this package's `XmlRpcClient`. */
  call?: SupervisordCall;
}

/** Options of {@link startSupervisord}: those of {@link launchSupervisord}, and the wait. */
export interface StartOptions extends LaunchOptions {
  /** Bound on the wait for {@link LaunchedSupervisord.ready}, ms. Default 15000. */
  startTimeoutMs?: number;
  /** Aborts the wait (supervisord is then stopped and the rejection is the signal's reason). */
  signal?: AbortSignal;
}

/** What a command run by {@link LaunchedSupervisord.ctl} printed and how it ended. */
export interface CommandResult {
  /** Exit code; 128 + the signal's number when a signal ended it. */
  code: number;
  stdout: string;
  stderr: string;
}

/** A supervisord started by {@link launchSupervisord}. */
export interface LaunchedSupervisord {
  /** supervisord's pid (kept by {@link LaunchedSupervisord.restart}); 0 when it could not be run. */
  readonly pid: number;
  /** The temp directory: config, logs, pid file, socket. Removed by {@link LaunchedSupervisord.stop}. */
  readonly dir: string;
  readonly configPath: string;
  /** The unix socket, when `unix`. */
  readonly socketPath?: string;
  /** `unix://<socketPath>`, when `unix`. */
  readonly socketUrl?: string;
  /** The TCP port on 127.0.0.1, when `inet`. */
  readonly port?: number;
  /** `http://127.0.0.1:<port>/RPC2`, when `inet`. */
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  /**
   * Resolves once `supervisor.getState` answers RUNNING and every autostart
   * program (but those whose `extra` sets `autostart` or `process_name`) has
   * been started once: RUNNING comes before supervisord's loop has spawned
   * anything.
   *
   * @param options `timeoutMs` default 15000.
   * @throws {LauncherError} `ERR_LAUNCHER_EXITED` when supervisord could not be
   *   run or exited first (`ERR_LAUNCHER_PORT_IN_USE` when its log says its
   *   port was taken), `ERR_LAUNCHER_TIMEOUT` after `timeoutMs`; the messages
   *   carry the end of its log. Rejects with the signal's reason when
   *   `signal` aborts first.
   */
  ready(options?: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined }): Promise<void>;
  /**
   * One XML-RPC call through the launcher's `call`.
   *
   * @param timeoutMs default 5000.
   */
  call(method: string, params?: readonly unknown[], timeoutMs?: number): Promise<unknown>;
  /**
   * Polls `getAllProcessInfo` every 50 ms until `predicate` holds.
   *
   * @throws {LauncherError} `ERR_LAUNCHER_TIMEOUT` after `timeoutMs` (default
   *   10000), naming every process and its state; `ERR_LAUNCHER_NOT_RUNNING`
   *   once {@link LaunchedSupervisord.stop} was called.
   */
  waitFor(predicate: (processes: ProcessStruct[]) => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Restarts supervisord in place (SIGHUP: same pid; it stops its programs,
   * closes every socket and connection, rereads the config and starts again),
   * then waits until a new "supervisord started" log line appeared and
   * {@link LaunchedSupervisord.ready} holds again.
   *
   * @param timeoutMs bound on the whole restart, ms. Default 15000.
   * @throws {LauncherError} `ERR_LAUNCHER_NOT_RUNNING` when stopped or exited,
   *   `ERR_LAUNCHER_EXITED` or `ERR_LAUNCHER_TIMEOUT` when it did not come back.
   */
  restart(timeoutMs?: number): Promise<void>;
  /**
   * Runs `supervisorctl -c <config> ...args` (found beside supervisord first),
   * killed after 15 s.
   *
   * @throws {LauncherError} `ERR_LAUNCHER_NOT_INSTALLED` when there is no
   *   supervisorctl, `ERR_LAUNCHER_EXITED` when it cannot be run.
   */
  ctl(...args: string[]): Promise<CommandResult>;
  /**
   * SIGTERM to supervisord (it stops its programs: SIGTERM to each program's
   * process group, SIGKILL 2 s later), SIGKILL to it after `stopGraceMs`,
   * then SIGKILL to whatever is left of its programs' process groups; removes
   * the directory. Idempotent; never rejects.
   */
  stop(): Promise<void>;
  /** The end of supervisord's log and console output (`bytes` of each, default 1500), for error messages. */
  logTail(bytes?: number): string;
}

const DEFAULT_DIR_PREFIX = 'supervisord-check-';
const STOP_GRACE_MS = 5000;
const READY_TIMEOUT_MS = 15_000;
const RESTART_TIMEOUT_MS = 15_000;
const CTL_TIMEOUT_MS = 15_000;
const POLL_MS = 50;
/** Port collisions retried by {@link startSupervisord}: another process may take the probed port before supervisord binds it. */
const PORT_ATTEMPTS = 5;
const PORT_IN_USE = /already listening|Address already in use/iu;

const LAUNCH_KEYS: ReadonlySet<string> = new Set([
  'supervisordPath',
  'env',
  'dirPrefix',
  'programs',
  'unix',
  'inet',
  'username',
  'password',
  'identifier',
  'extraConfig',
  'stopGraceMs',
  'call',
]);

/** Launched supervisords not stopped yet, for the process 'exit' hook. */
const live = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Creates a temp directory, writes the config into it and starts
 * `supervisordPath -n -c <config>` as a child process, which does not keep
 * this process alive: if this process exits without
 * {@link LaunchedSupervisord.stop}, an 'exit' hook sends supervisord SIGTERM
 * (it stops its programs by itself) and removes the directory.
 *
 * @throws {LauncherError} `ERR_LAUNCHER_OPTION` for an unknown or invalid
 *   option (see `supervisordConfig` for the program checks),
 *   `ERR_LAUNCHER_NOT_INSTALLED` when no supervisord is found. A binary that
 *   cannot be executed is reported by {@link LaunchedSupervisord.ready}.
 *   Nothing is left behind when it throws.
 */
export async function launchSupervisord(options: LaunchOptions = {}): Promise<LaunchedSupervisord> {
  for (const key of Object.keys(options)) {
    if (!LAUNCH_KEYS.has(key)) throw new LauncherError('ERR_LAUNCHER_OPTION', `unknown option ${JSON.stringify(key)}`);
  }
  const unix = options.unix ?? true;
  const inet = options.inet ?? false;
  if (!unix && !inet) throw new LauncherError('ERR_LAUNCHER_OPTION', 'options.unix and options.inet are both false: supervisord would serve no XML-RPC');
  const stopGraceMs = options.stopGraceMs ?? STOP_GRACE_MS;
  if (!Number.isSafeInteger(stopGraceMs) || stopGraceMs < 0) {
    throw new LauncherError('ERR_LAUNCHER_OPTION', `options.stopGraceMs must be an integer >= 0, got ${String(stopGraceMs)}`);
  }
  const dirPrefix = options.dirPrefix ?? DEFAULT_DIR_PREFIX;
  if (dirPrefix.includes('/')) throw new LauncherError('ERR_LAUNCHER_OPTION', `options.dirPrefix must not contain '/', got ${JSON.stringify(dirPrefix)}`);
  const env = options.env ?? process.env;
  const bin = options.supervisordPath ?? findSupervisord(env);
  if (bin === null) throw new LauncherError('ERR_LAUNCHER_NOT_INSTALLED', 'supervisord is not installed (apt-get install supervisor)');

  const port = inet ? await freePort() : undefined;
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const endpoint: SupervisordEndpoint = {};
  if (unix) endpoint.socketPath = join(dir, 'supervisor.sock');
  if (port !== undefined) endpoint.port = port;
  if (options.username !== undefined) endpoint.username = options.username;
  if (options.password !== undefined) endpoint.password = options.password;
  const configPath = join(dir, 'supervisord.conf');
  const logPath = join(dir, 'supervisord.log');
  const consolePath = join(dir, 'supervisord.out');

  let child: ChildProcess;
  try {
    writeFileSync(configPath, supervisordConfig({ ...endpoint, dir, programs: options.programs ?? [], ...optional(options, 'identifier', 'extraConfig') }));
    // Console output goes to a file: nothing to drain, and it is there for error messages.
    const consoleFd = openSync(consolePath, 'a');
    try {
      child = spawn(bin, ['-n', '-c', configPath], {
        cwd: dir,
        stdio: ['ignore', consoleFd, consoleFd],
        env: { ...env, [LAUNCHER_MARKER_ENV]: dir },
      });
    } finally {
      closeSync(consoleFd);
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  child.unref();

  let exitText: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitText ??= signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
    child.on('error', (error) => {
      // A spawn failure (ENOENT, EACCES) emits 'error' and no 'exit'; a
      // failed kill() emits it too, and is answered by the next step of stop().
      if (child.pid === undefined) {
        exitText = `could not be run: ${error.message}`;
        resolve();
      }
    });
  });
  const running = (): boolean => exitText === undefined && child.pid !== undefined;

  const abandon = (): void => {
    if (running()) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(abandon);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const last of live) last();
      live.clear();
    });
  }

  const transport = options.call ?? defaultCall;
  const call = (method: string, params: readonly unknown[] = [], timeoutMs = 5000): Promise<unknown> => transport(endpoint, method, params, timeoutMs);
  const where = endpoint.socketPath ?? `127.0.0.1:${port}`;

  const logTail = (bytes = 1500): string => {
    const tail = (file: string): string => {
      try {
        const buf = readFileSync(file);
        return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8').trimEnd();
      } catch {
        return '';
      }
    };
    return [tail(logPath), tail(consolePath)].filter((t) => t !== '').join('\n') || '(empty)';
  };

  const exitedError = (when = 'exited before answering'): LauncherError => {
    const tail = logTail();
    const code = port !== undefined && PORT_IN_USE.test(tail) ? 'ERR_LAUNCHER_PORT_IN_USE' : 'ERR_LAUNCHER_EXITED';
    const what = exitText!.startsWith('could') ? exitText! : `${when} (${exitText!})`;
    return new LauncherError(code, `supervisord (${bin} -c ${configPath}) ${what}; its log ends with:\n${tail}`);
  };

  const awaited = new Set<string>();
  for (const p of options.programs ?? []) {
    if (p.autostart === false || p.extra?.['autostart'] !== undefined || p.extra?.['process_name'] !== undefined) continue;
    const n = p.numprocs ?? 1;
    for (let i = 0; i < n; i++) awaited.add(`${p.group ?? p.name}:${n > 1 ? `${p.name}_${i}` : p.name}`);
  }

  const ready = async (readyOptions: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined } = {}): Promise<void> => {
    const timeoutMs = readyOptions.timeoutMs ?? READY_TIMEOUT_MS;
    const signal = readyOptions.signal;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    // A spawn failure is reported on the next tick.
    if (child.pid === undefined) await exited;
    for (;;) {
      signal?.throwIfAborted();
      if (!running()) throw exitedError();
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new LauncherError(
          'ERR_LAUNCHER_TIMEOUT',
          `supervisord (${bin} -c ${configPath}) did not answer RUNNING on ${where} within ${timeoutMs} ms (last: ${last}); its log ends with:\n${logTail()}`,
        );
      }
      try {
        const state = (await call('supervisor.getState', [], Math.min(1000, left))) as { statename?: unknown };
        last = `state ${String(state.statename)}`;
        if (state.statename === 'RUNNING') {
          // A listing of many programs takes supervisord a while: allow it the time left.
          const processes = (await call('supervisor.getAllProcessInfo', [], Math.max(1000, deadline - Date.now()))) as ProcessStruct[];
          const pending = processes.filter((p) => awaited.has(`${String(p['group'])}:${String(p['name'])}`) && p['start'] === 0);
          if (pending.length === 0) return;
          last = `not started yet: ${pending.map((p) => String(p['name'])).join(', ')}`;
        }
      } catch (error) {
        // The socket does not exist until supervisord has read its config.
        last = error instanceof Error ? error.message : String(error);
      }
      await delay(POLL_MS, signal);
    }
  };

  // Each request wakes supervisord's event loop, whose idle turn sleeps up to
  // 1 s; it stops one process group per turn, on SIGTERM as on SIGHUP.
  const poke = (): Promise<unknown> => call('supervisor.getState', [], 500).catch(() => undefined);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // The programs' pids: each leads its own process group, SIGKILLed at the
      // end in case supervisord left a member behind (or was SIGKILLed itself).
      let pids: number[] = [];
      if (running()) {
        child.ref(); // until it has exited
        try {
          const processes = (await call('supervisor.getAllProcessInfo', [], 1000)) as ProcessStruct[];
          pids = processes.map((p) => p['pid']).filter((pid): pid is number => typeof pid === 'number' && pid > 0);
        } catch {
          // Not answering: nothing to remember.
        }
        child.kill('SIGTERM');
        const deadline = Date.now() + stopGraceMs;
        while (running() && Date.now() < deadline) {
          await Promise.race([exited, poke()]);
          if (running()) await Promise.race([exited, delay(25)]);
        }
        if (running()) {
          pids.push(...childrenOf(child.pid!));
          child.kill('SIGKILL');
        }
        await exited;
      }
      for (const pid of pids) killGroup(pid);
      rmSync(dir, { recursive: true, force: true });
      live.delete(abandon);
    })();
    return stopping;
  };

  const restart = async (timeoutMs = RESTART_TIMEOUT_MS): Promise<void> => {
    if (stopping !== undefined || !running()) throw new LauncherError('ERR_LAUNCHER_NOT_RUNNING', 'restart: supervisord is not running');
    const startedLines = (): number => (readText(logPath).match(/supervisord started with pid/gu) ?? []).length;
    const before = startedLines();
    const deadline = Date.now() + timeoutMs;
    child.kill('SIGHUP');
    while (startedLines() <= before) {
      if (!running()) throw exitedError('exited while restarting');
      if (Date.now() > deadline) throw new LauncherError('ERR_LAUNCHER_TIMEOUT', `restart: supervisord did not restart within ${timeoutMs} ms; its log ends with:\n${logTail()}`);
      await poke();
      await delay(25);
    }
    await ready({ timeoutMs: Math.max(1000, deadline - Date.now()) });
  };

  const waitFor = async (predicate: (processes: ProcessStruct[]) => boolean, timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let processes: ProcessStruct[] = [];
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (stopping !== undefined) throw new LauncherError('ERR_LAUNCHER_NOT_RUNNING', 'waitFor: supervisord was stopped');
      try {
        processes = (await call('supervisor.getAllProcessInfo', [], 2000)) as ProcessStruct[];
        lastError = null;
        if (predicate(processes)) return;
      } catch (error) {
        lastError = error;
      }
      await delay(POLL_MS);
    }
    const summary = processes.map((p) => `${String(p['group'])}:${String(p['name'])}=${String(p['statename'])}`).join(', ');
    throw new LauncherError(
      'ERR_LAUNCHER_TIMEOUT',
      `waitFor: condition not met within ${timeoutMs} ms; processes: ${summary || '(none)'}${lastError === null ? '' : `; last error: ${(lastError as Error).message}`}`,
    );
  };

  const ctl = async (...args: string[]): Promise<CommandResult> => {
    const ctlPath = findExecutable('supervisorctl', { env, preferDir: dirname(bin) });
    if (ctlPath === null) throw new LauncherError('ERR_LAUNCHER_NOT_INSTALLED', `supervisorctl not found beside ${bin} nor on PATH`);
    return runCommand(ctlPath, ['-c', configPath, ...args], CTL_TIMEOUT_MS, env);
  };

  const launched: LaunchedSupervisord = {
    pid: child.pid ?? 0,
    dir,
    configPath,
    ...(endpoint.socketPath === undefined ? {} : { socketPath: endpoint.socketPath, socketUrl: `unix://${endpoint.socketPath}` }),
    ...(port === undefined ? {} : { port, url: `http://127.0.0.1:${port}/RPC2` }),
    ...optional(options, 'username', 'password'),
    ready,
    call,
    waitFor,
    restart,
    ctl,
    stop,
    logTail,
  };
  return launched;
}

/**
 * {@link launchSupervisord}, then {@link LaunchedSupervisord.ready}; on any
 * failure the supervisord is stopped and its directory removed before the
 * rejection. With `inet`, a start that lost its probed port to another
 * process is retried on a new port (5 attempts in all).
 *
 * @throws {LauncherError} `ERR_LAUNCHER_OPTION` for a bad `startTimeoutMs`;
 *   otherwise as {@link launchSupervisord} and {@link LaunchedSupervisord.ready}
 *   do; the signal's reason when `signal` aborts.
 */
export async function startSupervisord(options: StartOptions = {}): Promise<LaunchedSupervisord> {
  const { startTimeoutMs, signal, ...launchOptions } = options;
  if (startTimeoutMs !== undefined && (!Number.isSafeInteger(startTimeoutMs) || startTimeoutMs < 1)) {
    throw new LauncherError('ERR_LAUNCHER_OPTION', `options.startTimeoutMs must be an integer >= 1, got ${String(startTimeoutMs)}`);
  }
  for (let attempt = 1; ; attempt++) {
    const launched = await launchSupervisord(launchOptions);
    try {
      await launched.ready({ timeoutMs: startTimeoutMs, signal });
      return launched;
    } catch (error) {
      await launched.stop();
      if (!(error instanceof LauncherError && error.code === 'ERR_LAUNCHER_PORT_IN_USE') || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/**
 * Runs `supervisordPath --version`.
 *
 * @param supervisordPath default {@link findSupervisord}().
 * @returns its output, trimmed (e.g. `4.2.5`).
 * @throws {LauncherError} `ERR_LAUNCHER_NOT_INSTALLED` when supervisord is not
 *   installed, `ERR_LAUNCHER_EXITED` when it cannot be run or fails.
 */
export async function supervisordVersion(supervisordPath: string | null = findSupervisord()): Promise<string> {
  if (supervisordPath === null) throw new LauncherError('ERR_LAUNCHER_NOT_INSTALLED', 'supervisord is not installed (apt-get install supervisor)');
  const result = await runCommand(supervisordPath, ['--version'], 10_000, process.env);
  if (result.code !== 0) throw new LauncherError('ERR_LAUNCHER_EXITED', `${supervisordPath} --version exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The default {@link SupervisordCall}: this package's client, one connection per call. */
async function defaultCall(endpoint: SupervisordEndpoint, method: string, params: readonly unknown[], timeoutMs: number): Promise<unknown> {
  const address = endpoint.socketPath !== undefined ? unixAddress(endpoint.socketPath) : tcpAddress('127.0.0.1', endpoint.port);
  const client = new XmlRpcClient(address, {
    username: endpoint.username,
    password: endpoint.password,
    connectTimeoutMs: Math.min(timeoutMs, 1000),
    timeoutMs,
  });
  try {
    return await client.call(method, params as readonly XmlRpcValue[]);
  } finally {
    await client.close();
  }
}

/** Runs a command to its end (SIGKILLed after `timeoutMs`), keeping its output. */
function runCommand(file: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new LauncherError('ERR_LAUNCHER_EXITED', `${file} could not be run: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 128 + (signal === null ? 0 : constants.signals[signal]),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** A free TCP port on 127.0.0.1; another process may take it before it is bound (see {@link startSupervisord}). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** SIGKILLs the process group led by `pid`, if there still is one. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone, as it should be.
  }
}

/** The pids of `pid`'s children, where Linux lists them; [] elsewhere. */
function childrenOf(pid: number): number[] {
  return readText(`/proc/${pid}/task/${pid}/children`).split(' ').filter((text) => text !== '').map(Number);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The listed keys of `source` that are set, for objects built under `exactOptionalPropertyTypes`. */
function optional<T extends object, K extends keyof T>(source: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
