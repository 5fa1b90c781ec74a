/**
 * The emulator's public option and state types, and the validation of
 * {@link SupervisordEmulator.start}'s options: every field checked, with a
 * message that names it; unknown keys refused.
 *
 * @module
 */

import { isAbsolute } from 'node:path';

import type { ProcessInfo } from '../types.js';
import { describeType } from './describe-type.js';

/** A forced XML-RPC fault, as {@link SupervisordEmulator.setFault} takes it. */
export interface EmulatedFault {
  faultCode: number;
  faultString: string;
}

/** supervisord's own state, as `supervisor.getState` answers it. */
export interface EmulatedState {
  statecode: number;
  statename: string;
}

/** Options of {@link SupervisordEmulator.start}. */
export interface EmulatorOptions {
  /**
   * Where to listen: TCP (`host` defaults to `127.0.0.1`; port 0 picks any
   * free port) or a unix socket at an absolute path. An existing file at
   * `socketPath` is never removed: listening then fails with `EADDRINUSE`.
   */
  listen: { host?: string; port: number } | { socketPath: string };
  /** The process table. Default: empty. See {@link SupervisordEmulator.processes}. */
  processes?: ProcessInfo[];
  /** Answer of `supervisor.getSupervisorVersion`. Default `'4.2.5'`. */
  version?: string;
  /** Answer of `supervisor.getState`. Default `{ statecode: 1, statename: 'RUNNING' }`. */
  state?: EmulatedState;
  /** Answer of `supervisor.getIdentification` (the `identifier=` setting). Default `'supervisor'`. */
  identification?: string;
  /** Answer of `supervisor.getPID`. Default: this process's pid. */
  pid?: number;
  /**
   * HTTP Basic credentials, like `username=`/`password=` in
   * `[inet_http_server]`: both or neither. The password may be
   * `{SHA}<sha1 hex>` as in supervisord's config.
   */
  username?: string;
  password?: string;
  /**
   * supervisord's main log, the file `supervisor.readLog` reads and
   * `supervisor.clearLog` empties: its text, kept as UTF-8 bytes (offsets
   * are byte offsets). `null`: no log file, as with `logfile=syslog`:
   * `readLog` faults with 20 `NO_FILE: syslog`.
   *
   * Default `''`, an existing empty log: supervisord writes to a file unless
   * told otherwise, so `readLog` answers, and the emulator cannot know which
   * lines would go with the process table, so it writes none (a check then
   * finds no exit line for a process, rather than a fault). Write lines with
   * {@link SupervisordEmulator.appendMainLog}.
   */
  mainLog?: string | null;
}

/** Counters kept by the emulator, for tests about round trips and connection reuse. */
export interface EmulatorStats {
  /** Connections accepted since start. */
  connections: number;
  /** HTTP requests whose head was read, whatever the answer. */
  requests: number;
  /**
   * XML-RPC methods dispatched, by name, including unknown names and the
   * calls inside a `system.multicall` (which also counts itself).
   */
  calls: Record<string, number>;
}

const OPTION_KEYS = new Set(['listen', 'processes', 'version', 'state', 'identification', 'pid', 'username', 'password', 'mainLog']);

export function validateOptions(options: EmulatorOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`emulator options must be an object, got ${describeType(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`emulator option '${key}' is unknown`);
  }
  const listen: unknown = options.listen;
  if (typeof listen !== 'object' || listen === null) {
    throw new TypeError(`emulator option 'listen' must be { host?, port } or { socketPath }, got ${describeType(listen)}`);
  }
  if ('socketPath' in listen) {
    if (Object.keys(listen).length !== 1) {
      throw new TypeError(`emulator option 'listen' takes either { socketPath } or { host?, port }, not both`);
    }
    const path: unknown = listen.socketPath;
    if (typeof path !== 'string' || !isAbsolute(path)) {
      throw new TypeError(`emulator option 'listen.socketPath' must be an absolute path, got ${describeType(path)}`);
    }
  } else {
    for (const key of Object.keys(listen)) {
      if (key !== 'host' && key !== 'port') throw new TypeError(`emulator option 'listen.${key}' is unknown`);
    }
    const port: unknown = (listen as { port?: unknown }).port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`emulator option 'listen.port' must be an integer from 0 to 65535, got ${describeType(port)}`);
    }
    const host: unknown = (listen as { host?: unknown }).host;
    if (host !== undefined && (typeof host !== 'string' || host === '')) {
      throw new TypeError(`emulator option 'listen.host' must be a non-empty string, got ${describeType(host)}`);
    }
  }
  if (options.processes !== undefined && !Array.isArray(options.processes)) {
    throw new TypeError(`emulator option 'processes' must be an array, got ${describeType(options.processes)}`);
  }
  for (const key of ['version', 'identification', 'username', 'password'] as const) {
    const value: unknown = options[key];
    if (value !== undefined && typeof value !== 'string') {
      throw new TypeError(`emulator option '${key}' must be a string, got ${describeType(value)}`);
    }
  }
  if (options.mainLog !== undefined && options.mainLog !== null && typeof options.mainLog !== 'string') {
    throw new TypeError(`emulator option 'mainLog' must be a string or null, got ${describeType(options.mainLog)}`);
  }
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new TypeError(`emulator options 'username' and 'password' must be given together`);
  }
  if (options.pid !== undefined && (!Number.isInteger(options.pid) || options.pid < 0)) {
    throw new RangeError(`emulator option 'pid' must be a non-negative integer, got ${describeType(options.pid)}`);
  }
  const state: unknown = options.state;
  if (state !== undefined) {
    if (
      typeof state !== 'object' ||
      state === null ||
      !Number.isInteger((state as { statecode?: unknown }).statecode) ||
      typeof (state as { statename?: unknown }).statename !== 'string'
    ) {
      throw new TypeError(`emulator option 'state' must be { statecode: integer, statename: string }`);
    }
  }
}
