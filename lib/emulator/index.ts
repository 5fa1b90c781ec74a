/**
 * A stand-in for supervisord 4.2.5's XML-RPC server, for end-to-end tests and
 * for the CLI demo on machines without supervisord.
 *
 * It speaks HTTP/1.1 on raw `node:net` sockets (not `node:http`) because the
 * point is to reproduce medusa's wire behaviour byte for byte: the exact
 * header order, no `Connection`/`Keep-Alive` headers on normal answers, a 401
 * that leaves the socket open and deaf, `HTTP/None` status lines, 411 on
 * bodies without `Content-Length`. `node:http` would add, reorder or refuse
 * each of these. Every behaviour below was observed against a real
 * supervisord 4.2.5 (see docs/supervisord-protocol.md sections 2-4) or read
 * from its sources (`supervisor/medusa/http_server.py`,
 * `supervisor/medusa/auth_handler.py`, `supervisor/xmlrpc.py`,
 * `supervisor/rpcinterface.py`).
 *
 * Only the monitoring methods are implemented; any other method name answers
 * the UNKNOWN_METHOD fault, as supervisord does for names it does not know.
 *
 * @module
 */

import { PROCESS_STATES as MODEL_STATES, compareListingOrder } from '../process-model.js';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { isAbsolute } from 'node:path';

import { decodeCall } from '../../protocol/xmlrpc-decoder.js';
import { encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../protocol/types.js';
import type { ProcessInfo } from '../types.js';

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

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

/**
 * Process states (supervisor/states.py). A name outside this table makes
 * {@link makeProcess} use UNKNOWN's code.
 */
export const PROCESS_STATES: Readonly<Record<string, number>> = MODEL_STATES;

/**
 * Builds a complete, self-consistent process struct from a few members, the
 * way supervisord 4.2.5 would report it: `group` defaults to `name`,
 * `statename` follows `state` (or the reverse; default RUNNING), a pid only in
 * the states that have a child (STARTING, RUNNING, STOPPING), log paths like
 * `/var/log/supervisor/web-stdout---supervisor-k2x9q_0a.log` (stable for a
 * given group and name), and the description supervisord would compute:
 * `pid 123, uptime 0:02:05`, the stop time as `Nov 25 03:17 PM` in this
 * host's time zone, `Not started`, the spawn error or
 * `unknown error (try "tail NAME")`, or the empty string.
 *
 * `now` pins the server clock of the struct (use it for fixed reference
 * cases). Without it, `partial.now` pins it if given; otherwise `now` is 0,
 * which tells the emulator to follow its own clock (see
 * {@link SupervisordEmulator.processes}) and the description is computed with
 * the current time.
 *
 * @throws TypeError when `name` is not a non-empty string.
 */
export function makeProcess(partial: Partial<ProcessInfo> & { name: string }, now?: number): ProcessInfo {
  if (typeof partial.name !== 'string' || partial.name === '') {
    throw new TypeError(`makeProcess: 'name' must be a non-empty string, got ${describeType(partial.name)}`);
  }
  const name = partial.name;
  const group = partial.group ?? name;
  const pinned = now ?? partial.now;
  const clock = pinned ?? epochSeconds();

  let state: number;
  let statename: string;
  if (partial.state !== undefined) {
    state = partial.state;
    statename = partial.statename ?? STATE_NAMES.get(state) ?? 'UNKNOWN';
  } else if (partial.statename !== undefined) {
    statename = partial.statename;
    state = PROCESS_STATES[statename] ?? UNKNOWN_STATE;
  } else {
    state = RUNNING;
    statename = 'RUNNING';
  }

  const start = partial.start ?? (state === STOPPED ? 0 : clock - 60);
  const stopped = state === STOPPED || state === EXITED || state === FATAL || state === BACKOFF;
  const stop = partial.stop ?? (stopped && start > 0 ? Math.max(start, clock - 30) : 0);
  const hasChild = state === RUNNING || state === STARTING || state === STOPPING;
  const pid = partial.pid ?? (hasChild ? defaultPid(group, name) : 0);
  const stdout = partial.stdout_logfile ?? partial.logfile ?? defaultLogPath(group, name, 'stdout');
  const info: ProcessInfo = {
    name,
    group,
    start,
    stop,
    now: pinned ?? 0,
    state,
    statename,
    spawnerr: partial.spawnerr ?? '',
    exitstatus: partial.exitstatus ?? 0,
    logfile: partial.logfile ?? stdout,
    stdout_logfile: stdout,
    stderr_logfile: partial.stderr_logfile ?? defaultLogPath(group, name, 'stderr'),
    pid,
    description: '',
  };
  info.description = partial.description ?? describeProcess(info, clock);
  return info;
}

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
    checkAuth: (headers) => (this.#credentials === undefined ? 'ok' : authorize(headers, this.#credentials)),
    override: () => this.#override,
    forcedFault: (method) => this.#faults.get(method),
  };
}

/** The emulator's private state as its connections see it. */
interface EmulatorHooks {
  readonly emulator: SupervisordEmulator;
  checkAuth(headers: readonly string[]): 'ok' | 401 | 400 | 500;
  override(): 'html' | number | null;
  forcedFault(method: string): EmulatedFault | undefined;
}

// ---------------------------------------------------------------------------
// Option validation
// ---------------------------------------------------------------------------

const OPTION_KEYS = new Set(['listen', 'processes', 'version', 'state', 'identification', 'pid', 'username', 'password']);

function validateOptions(options: EmulatorOptions): void {
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

/** A short description of a value's type for error messages (never the value of a credential). */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return typeof value;
}

// ---------------------------------------------------------------------------
// Process structs
// ---------------------------------------------------------------------------

const STOPPED = 0;
const STARTING = 10;
const RUNNING = 20;
const BACKOFF = 30;
const STOPPING = 40;
const EXITED = 100;
const FATAL = 200;
const UNKNOWN_STATE = 1000;

const STATE_NAMES = new Map<number, string>(Object.entries(PROCESS_STATES).map(([name, code]) => [code, name]));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * supervisord's `_interpretProcessInfo` (rpcinterface.py): what
 * `supervisorctl status` prints in its last column.
 */
function describeProcess(info: ProcessInfo, now: number): string {
  switch (info.state) {
    case RUNNING:
      return `pid ${info.pid}, uptime ${formatTimedelta(now - info.start)}`;
    case FATAL:
    case BACKOFF:
      return info.spawnerr !== '' ? info.spawnerr : `unknown error (try "tail ${info.name}")`;
    case STOPPED:
    case EXITED: {
      if (!info.start) return 'Not started';
      // Python: datetime(*time.localtime(stop)[:7]).strftime('%b %d %I:%M %p'), in the C locale.
      const d = new Date(info.stop * 1000);
      const hours = d.getHours();
      const hour12 = hours % 12 === 0 ? 12 : hours % 12;
      return `${MONTHS[d.getMonth()]} ${pad2(d.getDate())} ${pad2(hour12)}:${pad2(d.getMinutes())} ${hours < 12 ? 'AM' : 'PM'}`;
    }
    default:
      return '';
  }
}

/** Python's `str(timedelta(seconds=n))` for whole seconds; negative uptimes show as 0 (clock set back). */
function formatTimedelta(seconds: number): string {
  const total = seconds > 0 ? Math.floor(seconds) : 0;
  const days = Math.floor(total / 86400);
  const rest = total % 86400;
  const hms = `${Math.floor(rest / 3600)}:${pad2(Math.floor((rest % 3600) / 60))}:${pad2(rest % 60)}`;
  return days === 0 ? hms : `${days} day${days === 1 ? '' : 's'}, ${hms}`;
}

/** FNV-1a: a stable small hash so default pids and log names do not change between runs. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function defaultPid(group: string, name: string): number {
  return 1000 + (fnv1a(`${group}:${name}`) % 60000);
}

// supervisord names automatic logs with tempfile's 8 random characters from this alphabet.
const LOG_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789_';

function defaultLogPath(group: string, name: string, stream: 'stdout' | 'stderr'): string {
  let hash = fnv1a(`${group}:${name}:${stream}`);
  let suffix = '';
  for (let i = 0; i < 8; i++) {
    suffix += LOG_ALPHABET[hash % LOG_ALPHABET.length];
    hash = (Math.floor(hash / LOG_ALPHABET.length) ^ Math.imul(hash, 0x9e3779b1)) >>> 0;
  }
  return `/var/log/supervisor/${name}-${stream}---supervisor-${suffix}.log`;
}


function sortedProcesses(processes: readonly ProcessInfo[]): ProcessInfo[] {
  return processes.slice().sort(compareListingOrder);
}

/** The struct as supervisord writes it: its 14 members in rpcinterface.py's order. */
function processStruct(p: ProcessInfo, clock: number): XmlRpcStruct {
  const live = p.now === 0;
  const now = live ? clock : p.now;
  return {
    name: p.name,
    group: p.group,
    start: p.start,
    stop: p.stop,
    now,
    state: p.state,
    statename: p.statename,
    spawnerr: p.spawnerr,
    exitstatus: p.exitstatus,
    logfile: p.logfile,
    stdout_logfile: p.stdout_logfile,
    stderr_logfile: p.stderr_logfile,
    pid: p.pid,
    description: live ? describeProcess(p, now) : p.description,
  };
}

// ---------------------------------------------------------------------------
// XML-RPC methods
// ---------------------------------------------------------------------------

/** supervisord's RPCError: answered as a fault (faultString `NAME` or `NAME: detail`). */
class RpcFault {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {}
}

/**
 * A Python exception other than TypeError inside a method: medusa answers
 * HTTP 500, and multicall turns it into fault 30 FAILED.
 */
class PythonException {
  constructor(
    readonly pyClass: string,
    readonly message: string,
  ) {}
}

const UNKNOWN_METHOD = new RpcFault(1, 'UNKNOWN_METHOD');
const INCORRECT_PARAMETERS = new RpcFault(2, 'INCORRECT_PARAMETERS');
const SHUTDOWN_STATE = new RpcFault(6, 'SHUTDOWN_STATE');
const FAILED = 30;

interface CallContext {
  readonly hooks: EmulatorHooks;
  /** One clock reading per request, so every struct of one answer carries the same `now`. */
  readonly clock: number;
}

interface MethodDef {
  /** supervisord's methods take a fixed number of arguments; any other count is a Python TypeError. */
  readonly arity: number;
  readonly supervisor: boolean;
  readonly run: (ctx: CallContext, params: readonly XmlRpcValue[]) => XmlRpcValue;
}

const METHODS: ReadonlyMap<string, MethodDef> = new Map<string, MethodDef>([
  [
    'supervisor.getAllProcessInfo',
    {
      arity: 0,
      supervisor: true,
      run: (ctx) => sortedProcesses(ctx.hooks.emulator.processes).map((p) => processStruct(p, ctx.clock)),
    },
  ],
  ['supervisor.getProcessInfo', { arity: 1, supervisor: true, run: (ctx, params) => getProcessInfo(ctx, params[0]) }],
  [
    'supervisor.getState',
    {
      arity: 0,
      supervisor: true,
      run: (ctx) => ({ statecode: ctx.hooks.emulator.state.statecode, statename: ctx.hooks.emulator.state.statename }),
    },
  ],
  ['supervisor.getSupervisorVersion', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.version }],
  ['supervisor.getAPIVersion', { arity: 0, supervisor: true, run: () => '3.0' }],
  ['supervisor.getIdentification', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.identification }],
  ['supervisor.getPID', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.pid }],
  ['system.listMethods', { arity: 0, supervisor: false, run: () => [...METHOD_NAMES] }],
  ['system.multicall', { arity: 1, supervisor: false, run: (ctx, params) => multicall(ctx, params[0]) }],
]);

const METHOD_NAMES: readonly string[] = [...METHODS.keys()].sort();

/**
 * What Python's `type(x).__name__` says for a decoded parameter, after
 * supervisor's own unmarshalling (xmlrpc.py `loads`): base64 and i8 already
 * became str there.
 */
function pythonType(value: XmlRpcValue): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Date) return 'datetime';
  return 'dict';
}

/**
 * supervisor's unmarshaller (xmlrpc.py) knows neither `<i8>` nor `<nil/>` and
 * decodes `<base64>` to str: a bigint arrives as its digits, bytes as UTF-8
 * text. Invalid UTF-8 made its `loads` fail, hence HTTP 400.
 */
function pythonize(value: XmlRpcValue): XmlRpcValue {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return STRICT_UTF8.decode(value);
  if (Array.isArray(value)) return value.map(pythonize);
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: XmlRpcStruct = {};
    for (const key of Object.keys(value)) {
      // defineProperty: a member named __proto__ stays an ordinary member.
      Object.defineProperty(out, key, { value: pythonize(value[key]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * supervisord's `traverse` plus the method call: the name must be a known
 * `namespace.method` (UNKNOWN_METHOD), then `func(*params)`, whose TypeError
 * (wrong argument count, `params` not iterable: `undefined` here) becomes
 * INCORRECT_PARAMETERS. A fault forced with `setFault` wins over everything.
 */
function dispatch(ctx: CallContext, method: string, params: readonly XmlRpcValue[] | undefined): XmlRpcValue {
  const calls = ctx.hooks.emulator.stats.calls;
  calls[method] = (calls[method] ?? 0) + 1;
  const forced = ctx.hooks.forcedFault(method);
  if (forced !== undefined) throw new RpcFault(forced.faultCode, forced.faultString);
  const def = METHODS.get(method);
  if (def === undefined) throw UNKNOWN_METHOD;
  if (params === undefined || params.length !== def.arity) throw INCORRECT_PARAMETERS;
  // rpcinterface.py `_update`: every supervisor.* method refuses to work while the daemon stops or restarts.
  if (def.supervisor && ctx.hooks.emulator.state.statecode < 1) throw SHUTDOWN_STATE;
  return def.run(ctx, params);
}

function getProcessInfo(ctx: CallContext, name: XmlRpcValue | undefined): XmlRpcValue {
  if (typeof name !== 'string') {
    throw new PythonException('AttributeError', `'${pythonType(name ?? null)}' object has no attribute 'split'`);
  }
  // options.split_namespec: 'group:name', 'group:' or 'group:*' (whole group: not a process), or 'name' meaning 'name:name'.
  // Both the unknown group and the unknown process answer BAD_NAME with the name as given.
  const colon = name.indexOf(':');
  const groupName = colon === -1 ? name : name.slice(0, colon);
  const processName = colon === -1 ? name : name.slice(colon + 1);
  const found =
    processName === '' || processName === '*'
      ? undefined
      : sortedProcesses(ctx.hooks.emulator.processes).find((p) => p.group === groupName && p.name === processName);
  if (found === undefined) throw new RpcFault(10, `BAD_NAME: ${name}`);
  return processStruct(found, ctx.clock);
}

function faultStruct(err: unknown): XmlRpcStruct {
  if (err instanceof RpcFault) return { faultCode: err.faultCode, faultString: err.faultString };
  if (err instanceof PythonException) {
    return { faultCode: FAILED, faultString: `FAILED: <class '${err.pyClass}'>:${err.message}` };
  }
  throw err;
}

/** Python's `func(*params)`: any iterable spreads (a str into characters, a dict into its keys). */
function spreadParams(params: XmlRpcValue): XmlRpcValue[] | undefined {
  if (Array.isArray(params)) return params;
  if (typeof params === 'string') return [...params];
  if (typeof params === 'object' && params !== null && !(params instanceof Date) && !(params instanceof Uint8Array)) {
    return Object.keys(params);
  }
  return undefined;
}

/** xmlrpc.py `multicall`: bare results, fault structs for calls that failed. */
function multicall(ctx: CallContext, calls: XmlRpcValue | undefined): XmlRpcValue {
  if (typeof calls === 'string') {
    // calls[:] works on a str, then str.pop does not exist: an AttributeError escapes (HTTP 500).
    throw new PythonException('AttributeError', `'str' object has no attribute 'pop'`);
  }
  if (!Array.isArray(calls)) throw INCORRECT_PARAMETERS; // calls[:] on a non-sequence: TypeError
  const results: XmlRpcValue[] = [];
  for (const call of calls) {
    if (typeof call !== 'object' || call === null || Array.isArray(call) || call instanceof Date || call instanceof Uint8Array) {
      // call.get(...) is outside the per-call try in xmlrpc.py: the whole request fails.
      throw new PythonException('AttributeError', `'${pythonType(call)}' object has no attribute 'get'`);
    }
    const name = Object.hasOwn(call, 'methodName') ? call.methodName! : null;
    const rawParams = Object.hasOwn(call, 'params') ? call.params! : [];
    try {
      if (name === null) throw new RpcFault(2, 'INCORRECT_PARAMETERS: No methodName');
      if (name === 'system.multicall') throw new RpcFault(2, 'INCORRECT_PARAMETERS: Recursive system.multicall forbidden');
      if (typeof name !== 'string') {
        throw new PythonException('AttributeError', `'${pythonType(name)}' object has no attribute 'split'`);
      }
      results.push(dispatch(ctx, name, spreadParams(rawParams)));
    } catch (err) {
      results.push(faultStruct(err));
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// HTTP (medusa)
// ---------------------------------------------------------------------------

/** medusa's reason phrases (http_server.py `responses`), for the codes the emulator can answer. */
const REASONS = new Map<number, string>([
  [200, 'OK'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [408, 'Request Time-out'],
  [411, 'Length Required'],
  [413, 'Request Entity Too Large'],
  [414, 'Request-URI Too Large'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Time-out'],
  [505, 'HTTP Version not supported'],
]);

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** medusa's DEFAULT_ERROR_MESSAGE: CRLF line ends, e.g. 137 bytes for 401. */
function errorPage(code: number): Buffer {
  return Buffer.from(
    [
      '<head>',
      '<title>Error response</title>',
      '</head>',
      '<body>',
      '<h1>Error response</h1>',
      `<p>Error code ${code}.`,
      `<p>Message: ${REASONS.get(code)}.`,
      '</body>',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A smaller cousin of supervisord's status page, enough for a human and for clients that must reject HTML. */
function statusPage(emulator: SupervisordEmulator): Buffer {
  const clock = epochSeconds();
  const rows = sortedProcesses(emulator.processes).map((p) => {
    const s = processStruct(p, clock);
    const namespec = p.group === p.name ? p.name : `${p.group}:${p.name}`;
    return (
      `<tr><td class="status"><span class="status${escapeHtml(String(s.statename).toLowerCase())}">` +
      `${escapeHtml(String(s.statename).toLowerCase())}</span></td>` +
      `<td><span>${escapeHtml(String(s.description))}</span></td>` +
      `<td>${escapeHtml(namespec)}</td></tr>`
    );
  });
  return Buffer.from(
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" ' +
      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' +
      '<html>\n<head>\n  <title>Supervisor Status</title>\n</head>\n<body>\n<div id="wrapper">\n' +
      `<h1>Supervisor ${escapeHtml(emulator.version)} (emulated)</h1>\n` +
      '<table cellspacing="0">\n<thead><tr><th class="state">State</th><th class="desc">Description</th>' +
      '<th class="name">Name</th></tr></thead>\n<tbody>\n' +
      rows.join('\n') +
      '\n</tbody>\n</table>\n</div>\n</body>\n</html>\n',
    'utf8',
  );
}

/** A parsed request head: `command` is null for a request line medusa cannot crack, `version` null when it has none (`HTTP/None`). */
interface RequestHead {
  command: string | null;
  uri: string;
  version: string | null;
  headers: string[];
}

/** medusa's `request.get_header`: the first line starting `name: ` (case-insensitive), exactly one space. */
function getHeader(headers: readonly string[], name: string): string | null {
  const prefix = `${name}: `;
  for (const line of headers) {
    if (line.length >= prefix.length && line.slice(0, prefix.length).toLowerCase() === prefix) return line.slice(prefix.length);
  }
  return null;
}

// medusa's crack_request: 'COMMAND URI' or 'COMMAND URI HTTP/x.y', single spaces.
const REQUEST_LINE = /^([^ ]+) ([^ ]+)(?: HTTP\/([0-9.]+))?$/;

function parseHead(text: string): RequestHead | null {
  let lines = text.split('\r\n');
  // http-1.1 section 4.1: medusa skips blank lines before the request line.
  let first = 0;
  while (first < lines.length && lines[first] === '') first++;
  if (first === lines.length) return null;
  lines = lines.slice(first);
  const headers: string[] = [];
  for (const line of lines.slice(1)) {
    // join_headers: a line starting with a space or tab continues the previous one.
    if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) headers[headers.length - 1] += line.slice(1);
    else headers.push(line);
  }
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) return { command: null, uri: '', version: null, headers };
  return { command: m[1]!, uri: unquotePath(m[2]!), version: m[3] ?? null, headers };
}

/** medusa unquotes the path part (before `?`) when it contains `%`. */
function unquotePath(uri: string): string {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  if (!path.includes('%')) return uri;
  const bytes = Buffer.from(
    path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
  return bytes.toString('utf8') + (q === -1 ? '' : uri.slice(q));
}

/**
 * Python's non-strict `base64.decodebytes`: characters outside the alphabet
 * are skipped, decoding stops at complete padding, and an incomplete last
 * quantum is an error (null).
 */
function pythonBase64(text: string): Buffer | null {
  let data = '';
  let quad = 0;
  let pads = 0;
  for (const c of text) {
    if (c === '=') {
      if (quad >= 2 && quad + ++pads >= 4) return Buffer.from(data, 'base64');
      continue;
    }
    if (!/^[A-Za-z0-9+/]$/.test(c)) continue;
    pads = 0;
    data += c;
    quad = (quad + 1) % 4;
  }
  return quad === 0 ? Buffer.from(data, 'base64') : null;
}

/** auth_handler.handle_request with supervisord's encrypted_dictionary_authorizer. */
function authorize(headers: readonly string[], credentials: { username: string; password: string }): 'ok' | 401 | 400 | 500 {
  const value = getHeader(headers, 'authorization');
  // AUTHORIZATION = 'Authorization: ([^ ]+) (.*)': a scheme, one space, the cookie.
  const space = value === null ? -1 : value.indexOf(' ');
  if (value === null || space <= 0) return 401;
  if (value.slice(0, space).toLowerCase() !== 'basic') return 401;
  const decoded = pythonBase64(value.slice(space + 1));
  if (decoded === null) return 400;
  let text: string;
  try {
    text = STRICT_UTF8.decode(decoded);
  } catch {
    return 400;
  }
  const colon = text.indexOf(':');
  // `username, password = auth_info` on a one-element list: ValueError, answered 500 by medusa.
  if (colon === -1) return 500;
  const user = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (user !== credentials.username) return 401;
  const stored = credentials.password;
  if (stored.startsWith('{SHA}')) {
    return createHash('sha1').update(password, 'utf8').digest('hex') === stored.slice(5) ? 'ok' : 401;
  }
  return password === stored ? 'ok' : 401;
}

/**
 * One accepted connection: medusa's http_channel. Requests are handled in
 * order as their bytes arrive (medusa reads pipelined requests the same way);
 * every method answers synchronously, so there is never more than one request
 * in progress.
 */
class Connection {
  readonly #hooks: EmulatorHooks;
  readonly #socket: Socket;
  #pending: Buffer = Buffer.alloc(0);
  /** Where the next head search starts, so a head arriving byte by byte is not rescanned from 0. */
  #scanFrom = 0;
  /** 'head': reading a request head; 'body': reading `#bodyLength` bytes; 'deaf': never answering again. */
  #mode: 'head' | 'body' | 'deaf' = 'head';
  #bodyLength = 0;
  /** What the collected body is for. */
  #then: 'xmlrpc' | 'html' = 'xmlrpc';
  #request: RequestHead | null = null;

  constructor(hooks: EmulatorHooks, socket: Socket) {
    this.#hooks = hooks;
    this.#socket = socket;
    socket.setNoDelay(true);
    // Resets and EPIPE from clients that went away are normal here; the socket's 'close' cleans up.
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    if (this.#mode === 'deaf') return;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    try {
      this.#drain();
    } catch {
      // A bug must not take the server down: answer like medusa does for any handler exception.
      if (this.#request !== null) this.#sendError(this.#request, 500);
      this.#mode = 'deaf';
    }
  }

  #drain(): void {
    for (;;) {
      if (this.#mode === 'deaf') {
        this.#pending = Buffer.alloc(0);
        return;
      }
      if (this.#mode === 'head') {
        const end = this.#pending.indexOf(HEAD_END, this.#scanFrom);
        if (end === -1) {
          if (this.#pending.length > MAX_HEAD_BYTES) this.#kill();
          else this.#scanFrom = Math.max(0, this.#pending.length - 3);
          return;
        }
        const head = this.#pending.subarray(0, end).toString('latin1');
        this.#pending = this.#pending.subarray(end + 4);
        this.#scanFrom = 0;
        this.#onHead(head);
        continue;
      }
      if (this.#pending.length < this.#bodyLength) return;
      const body = this.#pending.subarray(0, this.#bodyLength);
      this.#pending = this.#pending.subarray(this.#bodyLength);
      this.#mode = 'head';
      if (this.#then === 'html') this.#sendHtml(this.#request!);
      else this.#onBody(this.#request!, body);
    }
  }

  #onHead(text: string): void {
    const req = parseHead(text);
    if (req === null) {
      // Only blank lines: medusa closes the channel once its output is flushed.
      this.#end();
      return;
    }
    this.#hooks.emulator.stats.requests++;
    this.#request = req;
    if (req.command === null) {
      // medusa's error(400) itself fails on a request it could not crack: the channel closes without a byte.
      this.#end();
      return;
    }
    const auth = this.#hooks.checkAuth(req.headers);
    if (auth === 401) {
      // handle_unauthorized: set_terminator(None) makes the channel swallow all later input.
      this.#sendError(req, 401, [
        ['Connection', 'close'],
        ['WWW-Authenticate', 'Basic realm="default"'],
      ]);
      this.#mode = 'deaf';
      return;
    }
    if (auth !== 'ok') {
      this.#sendError(req, auth);
      return;
    }
    if (req.uri.startsWith('/RPC2')) {
      if (req.command === 'POST') this.#collect('xmlrpc');
      else this.#sendError(req, 400);
      return;
    }
    const path = req.uri.split(/[?;#]/, 1)[0]!.replace(/^\/+/, '');
    if ((req.command === 'GET' || req.command === 'POST') && (path === '' || path === 'index.html')) {
      // The web UI reads a POST body (its forms) with the same collector as XML-RPC.
      if (req.command === 'POST') this.#collect('html');
      else this.#sendHtml(req);
      return;
    }
    // default_handler: files for GET/HEAD (none here), 400 for any other command. A body is
    // left unread, so its bytes become the start of the next request, as with medusa.
    this.#sendError(req, req.command === 'GET' || req.command === 'HEAD' ? 404 : 400);
  }

  /** medusa's `collector`: the body by Content-Length, then the handler's continuation. */
  #collect(then: 'xmlrpc' | 'html'): void {
    const req = this.#request!;
    const length = getHeader(req.headers, 'content-length');
    if (length === null || length === '') {
      this.#sendError(req, 411);
      return;
    }
    // Python's int(): optional sign and surrounding whitespace; anything else raises (500).
    if (!/^\s*[+-]?\d+\s*$/.test(length)) {
      this.#sendError(req, 500);
      return;
    }
    const n = Number(length.trim());
    if (n <= 0) {
      // A numeric terminator of 0 is never reached: medusa waits forever.
      this.#mode = 'deaf';
      return;
    }
    if (n > MAX_BODY_BYTES) {
      this.#kill();
      return;
    }
    this.#bodyLength = n;
    this.#then = then;
    this.#mode = 'body';
  }

  #onBody(req: RequestHead, body: Buffer): void {
    const override = this.#hooks.override();
    if (override === 'html') {
      this.#sendHtml(req);
      return;
    }
    if (typeof override === 'number') {
      this.#sendError(req, override);
      return;
    }
    let method: string;
    let params: XmlRpcValue[];
    try {
      const call = decodeCall(body);
      method = call.method;
      params = call.params.map(pythonize);
    } catch {
      this.#sendError(req, 400);
      return;
    }
    if (method === '') {
      this.#sendError(req, 400);
      return;
    }
    let answer: Buffer;
    try {
      answer = encodeResponse(dispatch({ hooks: this.#hooks, clock: epochSeconds() }, method, params));
    } catch (err) {
      if (err instanceof RpcFault) {
        answer = encodeFault(err.faultCode, err.faultString);
      } else {
        // A Python exception in the method, or a process table the encoder cannot write.
        this.#sendError(req, 500);
        return;
      }
    }
    this.#send(req, 200, [['Content-Type', 'text/xml']], answer);
  }

  #sendHtml(req: RequestHead): void {
    if (req.version === null) {
      // Observed: the status page fails on a request line without HTTP version.
      this.#sendError(req, 500);
      return;
    }
    this.#send(
      req,
      200,
      [
        ['Content-Type', 'text/html;charset=utf-8'],
        ['Pragma', 'no-cache'],
        ['Cache-Control', 'no-cache'],
        ['Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'],
      ],
      statusPage(this.#hooks.emulator),
    );
  }

  /** http_request.error: the extra headers, then Content-Length and Content-Type (in that order). */
  #sendError(req: RequestHead, code: number, extra: Array<[string, string]> = []): void {
    const body = errorPage(code);
    this.#send(req, code, [...extra, ['Content-Length', String(body.length)], ['Content-Type', 'text/html']], body, true);
  }

  /**
   * http_request.done: status line echoing the request's version, `Server`
   * and `Date` first, then the given headers; keep-alive as medusa decides it.
   * The close decision adds no `Connection: close` header: medusa renders the
   * header text before it sets that one.
   */
  #send(req: RequestHead, code: number, headers: Array<[string, string]>, body: Buffer, lengthSet = false): void {
    const lines = [`HTTP/${req.version ?? 'None'} ${code} ${REASONS.get(code)}`, 'Server: Medusa/1.12', `Date: ${new Date().toUTCString()}`];
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    if (!lengthSet) lines.push(`Content-Length: ${body.length}`);
    const connection = (getHeader(req.headers, 'connection') ?? '').toLowerCase();
    let close: boolean;
    if (req.version === '1.0') {
      close = connection !== 'keep-alive';
      if (!close) lines.push('Connection: Keep-Alive');
    } else {
      close = req.version === null || (req.version === '1.1' && connection === 'close');
    }
    this.#socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
    if (close) this.#end();
  }

  /** close_when_done: flush what was written, then close; nothing more is read. */
  #end(): void {
    this.#mode = 'deaf';
    this.#socket.end();
  }

  #kill(): void {
    this.#mode = 'deaf';
    this.#socket.destroy();
  }
}
