/**
 * The emulator's server: listening on TCP or a unix socket, its mutable
 * state, forced faults and HTTP overrides, and closing.
 *
 * @module
 */

import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

import type { ProcessInfo } from '../types.js';
import { Connection } from './connection.js';
import type { EmulatorHooks } from './connection.js';
import { describeType } from './describe-type.js';
import { authorize } from './http-auth.js';
import { REASONS } from './http-responses.js';
import { MainLog } from './main-log.js';
import { validateOptions } from './options.js';
import type { EmulatedFault, EmulatedState, EmulatorOptions, EmulatorStats } from './options.js';

/**
 * A supervisord 4.2.5 XML-RPC server on TCP or a unix socket.
 *
 * Behaviour, as supervisord (medusa) has it:
 * - `POST /RPC2...` (any path starting with `/RPC2`) is XML-RPC; other
 *   methods there answer 400; `GET`/`POST` of `/` or `/index.html` answer the
 *   HTML status page with 200; other paths answer 404 (`GET`, `HEAD`) or 400
 *   without reading a body (its bytes then start the next request).
 * - A request line that is not `COMMAND URI [HTTP/x.y]` closes the connection
 *   without an answer; one without version gets `HTTP/None` answers and a
 *   close (and 500 from the status page).
 * - Faults come with HTTP 200. A request body that is not XML-RPC, or has no
 *   method name, answers 400; a Python exception in a method (wrong argument
 *   type) answers 500 (inside `system.multicall`: fault 30 FAILED); a wrong
 *   argument count answers fault 2 INCORRECT_PARAMETERS.
 * - While `state.statecode` is below 1 (RESTARTING, SHUTDOWN) every
 *   `supervisor.*` method answers fault 6 SHUTDOWN_STATE.
 * - `supervisor.readLog(offset, length)` reads the main log (see
 *   {@link EmulatorOptions.mainLog}) as supervisord does: `length` bytes from
 *   `offset`, '' at or past the end; the last `-offset` bytes when `offset`
 *   is negative and `length` 0; everything from `offset` when `length` is 0;
 *   fault 3 BAD_ARGUMENTS for a negative `offset` with a non-zero `length` or
 *   a negative `length`; fault 20 `NO_FILE: syslog` without a log file. The
 *   bytes read must be whole UTF-8 characters: a read that starts or ends
 *   inside one answers HTTP 500 (in a multicall, fault 30 `FAILED: <class
 *   'AttributeError'>:type object 'Faults' has no attribute 'utf-8'`).
 *   Arguments go through Python's `int()`: `'12'` and `1.7` are 12 and 1,
 *   `'abc'` fails like a cut character, None or a list is
 *   INCORRECT_PARAMETERS. `supervisor.readMainLog` is the same method, and
 *   `supervisor.clearLog()` empties the log. The emulator never writes to
 *   the log by itself (supervisord adds a CRIT line with the traceback of
 *   each call it answers with 500).
 * - Wrong or missing credentials answer 401 with `Connection: close`, then the
 *   connection stays open and nothing sent on it is ever answered.
 * - `Content-Length: 0` or a negative length: the request is never answered.
 *   No `Content-Length` on a POST to /RPC2: 411.
 * - Connections are kept alive as medusa does (HTTP/1.1 unless
 *   `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`) and
 *   never reaped when idle.
 *
 * Limits of the emulator itself (supervisord has none): a request head over
 * 64 KiB or a body over 16 MiB destroys the connection.
 */
export class SupervisordEmulator {
  /** `http://127.0.0.1:PORT/RPC2` (IPv6 hosts in brackets) or `unix:///path`. */
  readonly url: string;
  /**
   * The process table, answered sorted by group then name (code point order,
   * like Python) whatever its order here. Tests may replace or mutate it
   * between calls. A process whose `now` is 0 follows the emulator's clock:
   * the answer carries the current time and a description recomputed from
   * the other members, as supervisord does. Any other `now` is pinned: the
   * struct is answered exactly as stored.
   */
  processes: ProcessInfo[];
  /** Answer of `supervisor.getSupervisorVersion`. */
  version: string;
  /** Answer of `supervisor.getState`; a `statecode` below 1 makes `supervisor.*` fault with SHUTDOWN_STATE. */
  state: EmulatedState;
  /** Answer of `supervisor.getIdentification`. */
  identification: string;
  /** Answer of `supervisor.getPID`. */
  pid: number;
  /** Live counters; see {@link EmulatorStats}. */
  readonly stats: EmulatorStats;

  readonly #server: Server;
  readonly #mainLog = new MainLog('');
  readonly #sockets = new Set<Socket>();
  readonly #faults = new Map<string, EmulatedFault>();
  readonly #credentials: { username: string; password: string } | undefined;
  #override: 'html' | number | null = null;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, url: string, options: EmulatorOptions) {
    this.#server = server;
    this.url = url;
    this.processes = options.processes === undefined ? [] : options.processes.slice();
    this.version = options.version ?? '4.2.5';
    this.state = options.state === undefined ? { statecode: 1, statename: 'RUNNING' } : { ...options.state };
    this.identification = options.identification ?? 'supervisor';
    this.pid = options.pid ?? process.pid;
    if (options.mainLog !== undefined) this.#mainLog.replace(options.mainLog);
    this.#credentials =
      options.username === undefined || options.password === undefined
        ? undefined
        : { username: options.username, password: options.password };
    this.stats = { connections: 0, requests: 0, calls: Object.create(null) as Record<string, number> };
  }

  /**
   * Validates the options, listens, and resolves once the server accepts
   * connections.
   *
   * @throws TypeError / RangeError naming the option when an option is invalid
   *   or unknown; rejects with the system error (`EADDRINUSE`, `EACCES`...)
   *   when listening fails.
   */
  static async start(options: EmulatorOptions): Promise<SupervisordEmulator> {
    validateOptions(options);
    const server = createServer();
    const listen = options.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      const onListening = (): void => {
        server.removeListener('error', onError);
        resolve();
      };
      if ('socketPath' in listen) server.listen(listen.socketPath, onListening);
      else server.listen(listen.port, listen.host ?? '127.0.0.1', onListening);
    });
    let url: string;
    if ('socketPath' in listen) {
      url = `unix://${listen.socketPath}`;
    } else {
      const bound = server.address();
      // address() is an object for every TCP server; the fallback only satisfies the type.
      const port = typeof bound === 'object' && bound !== null ? bound.port : listen.port;
      const host = listen.host ?? '127.0.0.1';
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/RPC2`;
    }
    const emulator = new SupervisordEmulator(server, url, options);
    server.on('connection', (socket) => emulator.#accept(socket));
    // After listening, errors are per connection; a server error here would be a bug in node.
    server.on('error', () => {});
    return emulator;
  }

  /** The main log's text as it is now, or null when there is no log file (see {@link EmulatorOptions.mainLog}). */
  get mainLog(): string | null {
    return this.#mainLog.bytes()?.toString('utf8') ?? null;
  }

  /**
   * supervisord writing to its main log: `text` (whole lines, each ending in
   * `\n`, as supervisord writes them) is added at its end. Dropped when there
   * is no log file: supervisord's lines then go to syslog.
   *
   * @throws TypeError when `text` is not a string.
   */
  appendMainLog(text: string): void {
    if (typeof text !== 'string') throw new TypeError(`appendMainLog: 'text' must be a string, got ${describeType(text)}`);
    this.#mainLog.append(text);
  }

  /**
   * The main log starts again: a rotation (`logfile_maxbytes`: the file
   * becomes `supervisord.log.1`, which `readLog` cannot read), a file removed
   * and recreated, or with `null` no log file from now on (NO_FILE). Offsets
   * into the old file mean nothing in the new one. Default `''`.
   *
   * @throws TypeError when `text` is neither a string nor null.
   */
  replaceMainLog(text: string | null = ''): void {
    if (text !== null && typeof text !== 'string') throw new TypeError(`replaceMainLog: 'text' must be a string or null, got ${describeType(text)}`);
    this.#mainLog.replace(text);
  }

  /**
   * Forces a fault for a method name (also inside `system.multicall`), e.g.
   * `setFault('supervisor.getAllProcessInfo', { faultCode: 6, faultString: 'SHUTDOWN_STATE' })`.
   * `null` clears it.
   *
   * @throws TypeError when the fault is not an int32 code and a string.
   */
  setFault(method: string, fault: EmulatedFault | null): void {
    if (fault === null) {
      this.#faults.delete(method);
      return;
    }
    if (!Number.isInteger(fault.faultCode) || fault.faultCode < -0x80000000 || fault.faultCode > 0x7fffffff) {
      throw new TypeError(`setFault: 'faultCode' must be a 32-bit integer, got ${describeType(fault.faultCode)}`);
    }
    if (typeof fault.faultString !== 'string') {
      throw new TypeError(`setFault: 'faultString' must be a string, got ${describeType(fault.faultString)}`);
    }
    this.#faults.set(method, { faultCode: fault.faultCode, faultString: fault.faultString });
  }

  /**
   * Makes every XML-RPC request (valid credentials still required) answer
   * something else: `'html'` answers the HTML status page with 200, as a URL
   * pointing at `/` would; a status number answers medusa's error page with
   * that status (e.g. 500, 503). `null` restores normal answers.
   *
   * @throws RangeError for a status medusa has no reason phrase for.
   */
  setHttpOverride(override: 'html' | number | null): void {
    if (typeof override === 'number' && (override === 200 || !REASONS.has(override))) {
      throw new RangeError(`setHttpOverride: no error page for HTTP status ${override}`);
    }
    this.#override = override;
  }

  /**
   * Stops listening and destroys every open connection (including the ones
   * left deaf after a 401). Idempotent: later calls return the same promise.
   * A unix socket file is removed by the close.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const socket of this.#sockets) socket.destroy();
      this.#sockets.clear();
    });
    return this.#closing;
  }

  #accept(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    new Connection(this.#hooks, socket);
  }

  /** What connections need from the emulator, without making it public API. */
  readonly #hooks: EmulatorHooks = {
    emulator: this,
    mainLog: this.#mainLog,
    checkAuth: (headers) => (this.#credentials === undefined ? 'ok' : authorize(headers, this.#credentials)),
    override: () => this.#override,
    forcedFault: (method) => this.#faults.get(method),
  };
}
