/**
 * A throwaway supervisord for the demo: writes a private config into a
 * directory the caller owns, runs the installed binary in the foreground as a
 * child process, waits until it answers, and stops it with every program it
 * started. It never touches the system service or `/etc/supervisor`.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { unixAddress } from '../../protocol/address.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';

/**
 * Environment variable set on the demo's supervisord, and so inherited by
 * every program it starts, holding the demo's directory. It lets a test (or a
 * worried user: `grep -l SUPERVISORD_CHECK_DEMO_DIR /proc/[0-9]*\/environ`)
 * find any process of a demo that outlived it.
 */
export const DEMO_MARKER_ENV = 'SUPERVISORD_CHECK_DEMO_DIR';

/** Where supervisord is looked for after `PATH` (Debian's package, pip's default prefix). */
const WELL_KNOWN_PATHS = ['/usr/bin/supervisord', '/usr/local/bin/supervisord'];

/** Default bound on the wait for supervisord's SIGTERM shutdown before SIGKILL. */
const STOP_GRACE_MS = 5000;

/** Why launching or stopping the demo's supervisord failed; `code` is stable. */
export class DemoError extends Error {
  /**
   * `ERR_DEMO_SETTING` (an option or environment variable of the demo is
   * invalid), `ERR_DEMO_SUPERVISORD_EXITED` (supervisord could not be run or
   * exited before answering), `ERR_DEMO_SUPERVISORD_TIMEOUT` (it did not
   * answer RUNNING in time).
   */
  readonly code: 'ERR_DEMO_SETTING' | 'ERR_DEMO_SUPERVISORD_EXITED' | 'ERR_DEMO_SUPERVISORD_TIMEOUT';

  constructor(code: DemoError['code'], message: string) {
    super(message);
    this.code = code;
  }

  override get name(): string {
    return 'DemoError';
  }
}

/** One `[program:x]` of the demo's config. Unset keys keep supervisord's defaults. */
export interface DemoProgram {
  /** Program name (no whitespace, `:`, `/`, `[`, `]`). */
  name: string;
  /** Command line (split by supervisord with shlex). */
  command: string;
  /** Puts the program in `[group:<group>]`. */
  group?: string;
  autostart?: boolean;
  autorestart?: boolean | 'unexpected';
  /** Seconds a process must stay up to count as started (supervisord's default: 1). */
  startsecs?: number;
  /** Failed starts before FATAL (supervisord's default: 3). */
  startretries?: number;
}

/**
 * Path of the `supervisord` executable: the first of `PATH`, then
 * `/usr/bin/supervisord` and `/usr/local/bin/supervisord`, that is an
 * executable file. `SUPERVISORD_BIN` in `env` overrides the search, as in the
 * test harness: a path to use, or the empty string for "not installed".
 *
 * @param env the environment to read `PATH` and `SUPERVISORD_BIN` from. Default `process.env`.
 * @returns the path, or null when supervisord is not installed.
 */
export function findSupervisord(env: NodeJS.ProcessEnv = process.env): string | null {
  const forced = env['SUPERVISORD_BIN'];
  if (forced !== undefined) return forced === '' ? null : forced;
  const onPath = (env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'supervisord'));
  for (const candidate of [...onPath, ...WELL_KNOWN_PATHS]) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not there or not executable: keep looking.
    }
  }
  return null;
}

/** Socket path of the demo's supervisord in `dir`. */
export function demoSocketPath(dir: string): string {
  return join(dir, 'supervisor.sock');
}

/**
 * The demo's supervisord config: foreground, logs and pid file in `dir`, XML-RPC
 * only on a unix socket in `dir` readable by the owner alone (`chmod=0700`,
 * never a world-writable socket), and the programs.
 *
 * @param options `dir` (absolute), `programs`, and `asRoot` (this process runs
 *   as root: supervisord then wants `user=root`, and a non-root user must not
 *   name it or supervisord would try to switch user).
 * @throws {DemoError} `ERR_DEMO_SETTING` for a program or group name
 *   supervisord would refuse or misread.
 */
export function supervisordConfig(options: { dir: string; programs: readonly DemoProgram[]; asRoot: boolean }): string {
  // supervisord expands %(here)s-style references in values: a literal % must be doubled.
  const value = (text: string): string => text.replaceAll('%', '%%');
  const dir = value(options.dir);
  const lines = [
    '[supervisord]',
    'nodaemon=true',
    `logfile=${dir}/supervisord.log`,
    'logfile_maxbytes=0',
    `pidfile=${dir}/supervisord.pid`,
    `childlogdir=${dir}`,
    // supervisord refuses to start when it cannot raise RLIMIT_NOFILE/NPROC to
    // these; its defaults (1024/200) fail in small containers.
    'minfds=64',
    'minprocs=16',
    ...(options.asRoot ? ['user=root'] : []),
    '',
    '[unix_http_server]',
    `file=${value(demoSocketPath(options.dir))}`,
    'chmod=0700',
    '',
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '',
    '[supervisorctl]',
    `serverurl=unix://${value(demoSocketPath(options.dir))}`,
    '',
  ];
  const groups = new Map<string, string[]>();
  for (const p of options.programs) {
    checkName(p.name, 'program name');
    lines.push(`[program:${p.name}]`, `command=${value(p.command)}`);
    if (p.autostart !== undefined) lines.push(`autostart=${p.autostart}`);
    if (p.autorestart !== undefined) lines.push(`autorestart=${p.autorestart}`);
    if (p.startsecs !== undefined) lines.push(`startsecs=${p.startsecs}`);
    if (p.startretries !== undefined) lines.push(`startretries=${p.startretries}`);
    // Signal the program's whole process group: `sh -c 'sleep 2; exit 1'`
    // would otherwise leave its `sleep` behind when supervisord stops it.
    lines.push('stopasgroup=true', 'killasgroup=true', 'stopwaitsecs=2', '');
    if (p.group !== undefined) {
      checkName(p.group, 'group name');
      groups.set(p.group, [...(groups.get(p.group) ?? []), p.name]);
    }
  }
  for (const [group, members] of groups) lines.push(`[group:${group}]`, `programs=${members.join(',')}`, '');
  return lines.join('\n');
}

function checkName(name: string, what: string): void {
  if (name === '' || /[\s:/[\]%]/u.test(name)) {
    throw new DemoError('ERR_DEMO_SETTING', `${what} ${JSON.stringify(name)} cannot be used in a supervisord config`);
  }
}

/** A supervisord started by {@link launchSupervisord}. */
export interface DemoSupervisord {
  /** supervisord's pid; 0 when it could not be run. */
  readonly pid: number;
  /** Its XML-RPC unix socket. */
  readonly socketPath: string;
  readonly configPath: string;
  /**
   * Resolves once `supervisor.getState` answers RUNNING and every program
   * with autostart has been started once.
   *
   * @throws {DemoError} `ERR_DEMO_SUPERVISORD_EXITED` when supervisord could not
   *   be run or exited first, `ERR_DEMO_SUPERVISORD_TIMEOUT` after `timeoutMs`
   *   (default 15000); both messages carry the end of its log. Rejects with the
   *   signal's reason when `signal` aborts first.
   */
  ready(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;
  /**
   * SIGTERM (supervisord then stops its programs), SIGKILL to it and to its
   * programs' process groups if it has not exited within `stopGraceMs`; resolves once it
   * has exited and none of the programs it reported is left. Idempotent; never
   * rejects.
   */
  stop(): Promise<void>;
  /** The end of supervisord's log and console output, for error messages. */
  logTail(bytes?: number): string;
}

/**
 * Writes the config into `dir` (which must exist and stays the caller's to
 * remove) and starts `supervisordPath -n -c <config>` as a child process.
 * The child's environment is `env` (default `process.env`) plus
 * {@link DEMO_MARKER_ENV}=`dir`.
 *
 * @throws {DemoError} `ERR_DEMO_SETTING` for an unusable program name, and
 *   what `writeFileSync` throws. A failure to execute the binary is reported
 *   by {@link DemoSupervisord.ready}.
 */
export function launchSupervisord(options: {
  supervisordPath: string;
  dir: string;
  programs: readonly DemoProgram[];
  env?: NodeJS.ProcessEnv;
  /** How long {@link DemoSupervisord.stop} waits after SIGTERM before SIGKILL, ms. Default 5000. */
  stopGraceMs?: number;
}): DemoSupervisord {
  const { dir, supervisordPath } = options;
  const socketPath = demoSocketPath(dir);
  const configPath = join(dir, 'supervisord.conf');
  const logPath = join(dir, 'supervisord.log');
  const consolePath = join(dir, 'supervisord.out');
  writeFileSync(configPath, supervisordConfig({ dir, programs: options.programs, asRoot: process.getuid?.() === 0 }));

  // Console output goes to a file: nothing to drain, and it is there for error messages.
  const consoleFd = openSync(consolePath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(supervisordPath, ['-n', '-c', configPath], {
      cwd: dir,
      stdio: ['ignore', consoleFd, consoleFd],
      env: { ...(options.env ?? process.env), [DEMO_MARKER_ENV]: dir },
    });
  } finally {
    closeSync(consoleFd);
  }

  let exitText: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitText ??= signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
    child.once('error', (error) => {
      // A spawn failure (ENOENT, EACCES) emits 'error' and no 'exit'.
      if (child.pid === undefined) {
        exitText = `could not be run: ${error.message}`;
        resolve();
      }
    });
  });
  const hasExited = (): boolean => exitText !== undefined;

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

  const autostarted = new Set(options.programs.filter((p) => p.autostart !== false).map((p) => `${p.group ?? p.name}:${p.name}`));
  const newClient = (): XmlRpcClient => new XmlRpcClient(unixAddress(socketPath), { connectTimeoutMs: 500, timeoutMs: 1000 });

  const ready = async (readyOptions: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> => {
    const timeoutMs = readyOptions.timeoutMs ?? 15_000;
    const signal = readyOptions.signal;
    const deadline = Date.now() + timeoutMs;
    const client = newClient();
    let last = 'no answer yet';
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (hasExited()) {
          throw new DemoError(
            'ERR_DEMO_SUPERVISORD_EXITED',
            `supervisord (${supervisordPath} -c ${configPath}) ${exitText!.startsWith('could') ? exitText : `exited before answering (${exitText})`}; its log ends with:\n${logTail()}`,
          );
        }
        if (Date.now() >= deadline) {
          throw new DemoError(
            'ERR_DEMO_SUPERVISORD_TIMEOUT',
            `supervisord (${supervisordPath} -c ${configPath}) did not answer RUNNING on ${socketPath} within ${timeoutMs} ms (last: ${last}); its log ends with:\n${logTail()}`,
          );
        }
        try {
          const state = (await client.call('supervisor.getState')) as { statename?: unknown };
          last = `state ${String(state.statename)}`;
          if (state.statename === 'RUNNING') {
            // RUNNING comes before the first turn of supervisord's loop has
            // spawned anything: wait for every autostart program to have
            // been started once, so that the first check shows them.
            const processes = (await client.call('supervisor.getAllProcessInfo')) as Array<{ group?: unknown; name?: unknown; start?: unknown }>;
            const pending = processes.filter((p) => autostarted.has(`${String(p.group)}:${String(p.name)}`) && p.start === 0);
            if (pending.length === 0) return;
            last = `not started yet: ${pending.map((p) => String(p.name)).join(', ')}`;
          }
        } catch (error) {
          // The socket does not exist until supervisord has read its config.
          last = error instanceof Error ? error.message : String(error);
        }
        await delay(50, signal);
      }
    } finally {
      await client.close();
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (hasExited() || child.pid === undefined) return;
      const client = newClient();
      // The programs' pids, in case supervisord must be SIGKILLed and cannot
      // stop them itself; each leads its own process group.
      let pids: number[] = [];
      try {
        const processes = (await client.call('supervisor.getAllProcessInfo')) as Array<{ pid?: unknown }>;
        pids = processes.map((p) => (typeof p.pid === 'number' ? p.pid : 0)).filter((pid) => pid > 0);
      } catch {
        // Not answering: nothing to remember.
      }
      child.kill('SIGTERM');
      // supervisord stops one group per turn of its event loop, and an idle
      // turn sleeps 1 s: with the demo's 6 groups a plain SIGTERM took 0.5 to
      // 3 s here. Every request wakes the loop, so keep asking until it is
      // gone: 85-100 ms (measured with DEMO_PROGRAMS, 1.5 s after start).
      const deadline = Date.now() + (options.stopGraceMs ?? STOP_GRACE_MS);
      while (!hasExited() && Date.now() < deadline) {
        // Bounded by the client's 1 s timeout.
        await Promise.race([exited, client.call('supervisor.getState').catch(() => undefined)]);
        if (!hasExited()) await Promise.race([exited, delay(25)]);
      }
      await client.close();
      if (!hasExited()) child.kill('SIGKILL');
      for (const pid of pids) killGroup(pid);
      await exited;
    })();
    return stopping;
  };

  return { pid: child.pid ?? 0, socketPath, configPath, ready, stop, logTail };
}

/** SIGKILLs a program's process group if it is still there (supervisord normally stopped it). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 0);
  } catch {
    return; // Gone, as it should be.
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
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
