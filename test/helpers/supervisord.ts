/**
 * Test harness that runs a REAL supervisord (the installed binary) from a
 * private config in a temp directory, for integration tests and for recording
 * fixtures. It never touches the system service or /etc/supervisor.
 *
 * The harness talks to supervisord with its own tiny hand-written XML-RPC
 * over raw `node:net` sockets, deliberately NOT with the library's client:
 * the integration tests must be able to blame the client, not the harness,
 * and fixtures recorded through it are independent of the code under test.
 *
 * Node built-ins only (child_process, net, fs, os, path).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/** One `[program:x]` section. */
export interface ProgramSpec {
  /** Program name. supervisord refuses space, `:` and `/`; non-ASCII is accepted. */
  name: string;
  /** Command line, split by supervisord with shlex. A literal `%` must be written `%%`. */
  command: string;
  /** Default true (supervisord's default). */
  autostart?: boolean;
  /** Default `'unexpected'` (supervisord's default). */
  autorestart?: boolean | 'unexpected';
  /** Seconds a process must stay up to count as started. Default 0 here (supervisord: 1) so tests settle fast. */
  startsecs?: number;
  /** Default supervisord's (3). */
  startretries?: number;
  /** Expected exit codes, e.g. `'0,2'`. */
  exitcodes?: string;
  /** Puts the program in `[group:<group>]`; it is then addressed as `group:name`. */
  group?: string;
  /** Any other `key=value` lines for the section (written verbatim). */
  extra?: Record<string, string>;
}

/** Options of {@link startSupervisord}. */
export interface SupervisordOptions {
  /** Programs to configure. Default: none. */
  programs?: ProgramSpec[];
  /** Serve XML-RPC on `127.0.0.1:<free port>` (`[inet_http_server]`). Default true. */
  inet?: boolean;
  /** Serve XML-RPC on `<tmp>/supervisor.sock` (`[unix_http_server]`). Default true. */
  unix?: boolean;
  /** Basic-auth user for both servers (set together with `password`). */
  username?: string;
  /** Basic-auth password for both servers. */
  password?: string;
  /** `identifier=` of `[supervisord]` (supervisord's default: `supervisor`). */
  identifier?: string;
  /** Text appended verbatim to the config file. */
  extraConfig?: string;
  /** Bound on the readiness wait in ms. Default 15000. */
  startTimeoutMs?: number;
}

/** Result of a supervisorctl invocation. */
export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process struct as the harness decodes it (numbers and strings only). */
export type HarnessProcess = Record<string, string | number | boolean>;

/** A supervisord started by {@link startSupervisord}. */
export interface RunningSupervisord {
  /** The temp directory holding config, logs, pid file and socket. */
  dir: string;
  configPath: string;
  /** supervisord's pid (unchanged by {@link RunningSupervisord.restart}: it restarts in place). */
  pid: number;
  port?: number;
  /** `http://127.0.0.1:PORT/RPC2` */
  url?: string;
  socketPath?: string;
  /** `unix:///tmp/.../supervisor.sock` */
  socketUrl?: string;
  username?: string;
  password?: string;
  /** Runs `supervisorctl -c <config> ...args` (bounded at 15 s). */
  ctl(...args: string[]): Promise<CtlResult>;
  /** Raw XML-RPC call through the harness's own client; rejects {@link HarnessFault} on a fault. */
  call(method: string, params?: unknown[]): Promise<unknown>;
  /**
   * Polls `getAllProcessInfo` every 50 ms until `predicate` holds.
   * @throws Error after `timeoutMs` (default 10000) naming every process and its state.
   */
  waitFor(predicate: (procs: HarnessProcess[]) => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Restarts the daemon in place (SIGHUP: same pid, every listening socket
   * and client connection is closed and reopened), then waits until a new
   * "supervisord started" log line appeared and getState says RUNNING.
   */
  restart(): Promise<void>;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** The last `bytes` of supervisord's log and console output, for error messages. */
  logTail(bytes?: number): string;
}

/** An XML-RPC fault as decoded by the harness's own mini decoder. */
export class HarnessFault extends Error {
  readonly faultCode: number;
  readonly faultString: string;

  constructor(faultCode: number, faultString: string) {
    super(`fault ${faultCode}: ${faultString}`);
    this.name = 'HarnessFault';
    this.faultCode = faultCode;
    this.faultString = faultString;
  }
}

// ---------------------------------------------------------------------------
// Finding the binaries
// ---------------------------------------------------------------------------

function findExecutable(name: string, preferDir?: string): string | null {
  const dirs = [
    ...(preferDir === undefined ? [] : [preferDir]),
    ...(process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== ''),
    '/usr/bin',
    '/usr/local/bin',
    '/usr/sbin',
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not there: keep looking
    }
  }
  return null;
}

/**
 * Path of the installed `supervisord`, or null when it is not installed.
 * `SUPERVISORD_BIN` overrides the search: a path to use, or the empty string
 * to behave as if supervisord were not installed (to check the skips).
 */
export function findSupervisord(): string | null {
  const forced = process.env['SUPERVISORD_BIN'];
  if (forced !== undefined) return forced === '' ? null : forced;
  return findExecutable('supervisord');
}

function findSupervisorctl(supervisord: string): string {
  const found = findExecutable('supervisorctl', path.dirname(supervisord));
  if (found === null) throw new Error(`supervisorctl not found next to ${supervisord} nor on PATH`);
  return found;
}

/**
 * Runs `supervisord --version` and returns its output trimmed (e.g. `4.2.5`).
 * @throws Error when supervisord is not installed or fails.
 */
export async function supervisordVersion(): Promise<string> {
  const bin = findSupervisord();
  if (bin === null) throw new Error('supervisord is not installed');
  const r = await run(bin, ['--version'], 10_000);
  if (r.code !== 0) throw new Error(`${bin} --version exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------
// The standard "zoo" of programs
// ---------------------------------------------------------------------------

/**
 * A small set of programs covering every state a monitor must report.
 * After {@link zooSettled} holds:
 *
 * | name (namespec)   | state   | why                                                     |
 * |-------------------|---------|---------------------------------------------------------|
 * | `sleeper`         | RUNNING | `/bin/sleep 100000`                                     |
 * | `café`            | RUNNING | non-ASCII name: supervisord only forbids ` `, `:`, `/`  |
 * | `exiter`          | EXITED  | `exit 3`, autorestart=false, startsecs=0 -> exitstatus 3 |
 * | `broken`          | FATAL   | command does not exist, startretries=0                  |
 * | `idle`            | STOPPED | autostart=false -> description `Not started`            |
 * | `web:front`       | RUNNING | in `[group:web]`                                        |
 * | `web:back`        | RUNNING | in `[group:web]`                                        |
 */
export function zooPrograms(): ProgramSpec[] {
  return [
    { name: 'sleeper', command: '/bin/sleep 100000' },
    { name: 'café', command: '/bin/sleep 100000' },
    { name: 'exiter', command: "/bin/sh -c 'exit 3'", autorestart: false },
    { name: 'broken', command: '/nonexistent/supervisord-check-missing', startretries: 0, autorestart: false },
    { name: 'idle', command: '/bin/sleep 100000', autostart: false },
    { name: 'front', command: '/bin/sleep 100000', group: 'web' },
    { name: 'back', command: '/bin/sleep 100000', group: 'web' },
  ];
}

/** Expected settled state name of every zoo process, keyed by `group:name`. */
export const ZOO_STATES: Readonly<Record<string, string>> = Object.freeze({
  'sleeper:sleeper': 'RUNNING',
  'café:café': 'RUNNING',
  'exiter:exiter': 'EXITED',
  'broken:broken': 'FATAL',
  'idle:idle': 'STOPPED',
  'web:front': 'RUNNING',
  'web:back': 'RUNNING',
});

/** True once every zoo process has reached its final state (see {@link zooPrograms}). */
export function zooSettled(procs: HarnessProcess[]): boolean {
  for (const [key, state] of Object.entries(ZOO_STATES)) {
    const p = procs.find((q) => `${String(q['group'])}:${String(q['name'])}` === key);
    if (p === undefined || p['statename'] !== state) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Raw HTTP and a tiny XML-RPC codec (independent of the library under test)
// ---------------------------------------------------------------------------

/** Where to connect: TCP host/port or a unix socket path. */
export type RawTarget = { host?: string; port: number } | { socketPath: string };

/** One HTTP response exactly as received. */
export interface RawResponse {
  /** Every byte received, status line to the end of the body. */
  raw: Buffer;
  status: number;
  reason: string;
  /** Header lines in wire order, names as sent. */
  headers: Array<[string, string]>;
  /** The bytes after the blank line. */
  body: Buffer;
  /**
   * How the end was found: `length` (Content-Length reached), `eof` (server
   * closed), `idle` (no length and the server went quiet for `idleMs`).
   */
  framing: 'length' | 'eof' | 'idle';
}

/** First value of a header (case-insensitive), or undefined. */
export function headerValue(res: Pick<RawResponse, 'headers'>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return res.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Splits a raw response into status, headers and body; null when the head is incomplete. */
export function splitRawResponse(raw: Buffer): Omit<RawResponse, 'framing'> | null {
  const end = raw.indexOf(CRLFCRLF);
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
  if (m === null) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { raw, status: Number(m[1]), reason: m[2] ?? '', headers, body: raw.subarray(end + 4) };
}

function describeTarget(target: RawTarget): string {
  return 'socketPath' in target ? `unix://${target.socketPath}` : `${target.host ?? '127.0.0.1'}:${target.port}`;
}

/**
 * Sends `request` on a fresh connection and reads one response verbatim,
 * framed by Content-Length, else by EOF, else by `idleMs` of silence (a 401
 * leaves the socket open). The socket is always destroyed afterwards.
 */
export function rawExchange(
  target: RawTarget,
  request: Uint8Array,
  options: { timeoutMs?: number; idleMs?: number } = {},
): Promise<RawResponse> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const idleMs = options.idleMs ?? 500;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const socket = 'socketPath' in target ? net.connect(target.socketPath) : net.connect(target.port, target.host ?? '127.0.0.1');
    const deadline = setTimeout(() => finish(new Error(`no complete response from ${describeTarget(target)} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, framing?: RawResponse['framing']): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      socket.destroy();
      if (err !== null) return reject(err);
      const raw = Buffer.concat(chunks, total);
      let head: Omit<RawResponse, 'framing'> | null;
      try {
        head = splitRawResponse(raw);
      } catch (e) {
        return reject(e as Error);
      }
      if (head === null) return reject(new Error(`incomplete HTTP head from ${describeTarget(target)} (${total} bytes)`));
      resolve({ ...head, framing: framing ?? 'eof' });
    };
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      let head: Omit<RawResponse, 'framing'> | null;
      try {
        head = splitRawResponse(Buffer.concat(chunks, total));
      } catch (e) {
        // never throw out of a socket callback
        return finish(e as Error);
      }
      if (head !== null) {
        const cl = headerValue(head, 'content-length');
        if (cl !== undefined && head.body.length >= Number(cl)) return finish(null, 'length');
        if (cl === undefined) {
          if (idleTimer !== undefined) clearTimeout(idleTimer);
          idleTimer = setTimeout(() => finish(null, 'idle'), idleMs);
        }
      }
    });
    socket.on('end', () => finish(null, 'eof'));
    socket.on('error', (err) => finish(total > 0 ? null : err, 'eof'));
  });
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Writes `value` as an XML-RPC `<value>` the way Python's xmlrpc.client does
 * (strings always typed, ints as `<int>`). Supports string, integer, double,
 * boolean, arrays and plain objects.
 */
export function xmlValue(value: unknown): string {
  if (typeof value === 'string') return `<value><string>${escapeXml(value)}</string></value>`;
  if (typeof value === 'boolean') return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? `<value><int>${value}</int></value>` : `<value><double>${value}</double></value>`;
  }
  if (Array.isArray(value)) return `<value><array><data>\n${value.map(xmlValue).join('\n')}\n</data></array></value>`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).map(([k, v]) => `<member>\n<name>${escapeXml(k)}</name>\n${xmlValue(v)}\n</member>\n`);
    return `<value><struct>\n${members.join('')}</struct></value>`;
  }
  throw new TypeError(`xmlValue cannot write ${typeof value}`);
}

/** A `<methodCall>` document, byte-compatible in shape with Python's `xmlrpc.client.dumps`. */
export function xmlCall(method: string, params: unknown[] = []): string {
  const ps = params.map((p) => `<param>\n${xmlValue(p)}\n</param>\n`).join('');
  return `<?xml version='1.0'?>\n<methodCall>\n<methodName>${escapeXml(method)}</methodName>\n<params>\n${ps}</params>\n</methodCall>\n`;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  httpMethod?: string;
  /** Default `/RPC2`. */
  path?: string;
  /** Host header value. Default `localhost` (what supervisorctl sends over a unix socket). */
  host?: string;
  username?: string;
  password?: string;
  /** Default `HTTP/1.1`. */
  version?: string;
  /** Extra header lines, written after the standard ones. */
  headers?: Array<[string, string]>;
}

/**
 * A hand-written HTTP request: `Name: value` with one space, CRLF, and a
 * Content-Length only when there is a body (supervisord hangs on
 * `Content-Length: 0`).
 */
export function httpRequest(body: string | null, options: HttpRequestOptions = {}): Buffer {
  const bodyBytes = body === null ? null : Buffer.from(body, 'utf8');
  const lines = [`${options.httpMethod ?? 'POST'} ${options.path ?? '/RPC2'} ${options.version ?? 'HTTP/1.1'}`, `Host: ${options.host ?? 'localhost'}`];
  if (bodyBytes !== null) lines.push('Content-Type: text/xml', `Content-Length: ${bodyBytes.length}`);
  if (options.username !== undefined && options.password !== undefined) {
    lines.push(`Authorization: Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`);
  }
  lines.push('User-Agent: supervisord-check-harness');
  for (const [n, v] of options.headers ?? []) lines.push(`${n}: ${v}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return bodyBytes === null ? head : Buffer.concat([head, bodyBytes]);
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITY[e] ?? whole;
  });
}

interface Tok {
  kind: 'open' | 'close' | 'empty' | 'text';
  name: string;
  text: string;
}

/**
 * Decodes an XML-RPC `<methodResponse>` (text, not bytes) with a simple
 * recursive reader: enough for supervisord's answers, nothing more.
 * @throws HarnessFault for a `<fault>`; Error for anything it does not understand.
 */
export function parseXmlRpcResponse(xml: string): unknown {
  const toks: Tok[] = [];
  const re = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z0-9_.:-]+)[^>]*?(\/?)>|([^<]+)/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) {
    if (m[4] !== undefined) toks.push({ kind: 'text', name: '', text: m[4] });
    else if (m[2] !== undefined) toks.push({ kind: m[1] === '/' ? 'close' : m[3] === '/' ? 'empty' : 'open', name: m[2], text: '' });
  }
  let i = 0;
  const skipWs = (): void => {
    while (i < toks.length && toks[i]!.kind === 'text' && toks[i]!.text.trim() === '') i++;
  };
  const expect = (kind: Tok['kind'], name: string): void => {
    skipWs();
    const t = toks[i];
    if (t === undefined || t.kind !== kind || t.name !== name) throw new Error(`expected ${kind} <${name}> at token ${i}, got ${JSON.stringify(t)}`);
    i++;
  };
  const textUntilClose = (name: string): string => {
    let s = '';
    while (toks[i]?.kind === 'text') s += toks[i++]!.text;
    expect('close', name);
    return decodeText(s);
  };
  const value = (): unknown => {
    skipWs();
    if (toks[i]?.kind === 'empty' && toks[i]!.name === 'value') {
      i++;
      return '';
    }
    expect('open', 'value');
    const first = toks[i];
    if (first?.kind === 'text') {
      // untyped value, or whitespace before a typed element
      const save = i;
      let s = '';
      while (toks[i]?.kind === 'text') s += toks[i++]!.text;
      if (toks[i]?.kind === 'close' && toks[i]!.name === 'value') {
        i++;
        return decodeText(s);
      }
      i = save;
      skipWs();
    }
    const t = toks[i++];
    if (t === undefined) throw new Error('document ends inside <value>');
    if (t.kind === 'close' && t.name === 'value') return '';
    let v: unknown;
    if (t.kind === 'empty') v = t.name === 'nil' ? null : t.name === 'string' ? '' : (() => { throw new Error(`empty <${t.name}/>`); })();
    else if (t.kind !== 'open') throw new Error(`unexpected ${t.kind} ${t.name} in <value>`);
    else if (t.name === 'string') v = textUntilClose('string');
    else if (t.name === 'int' || t.name === 'i4' || t.name === 'i8' || t.name === 'double') v = Number(textUntilClose(t.name).trim());
    else if (t.name === 'boolean') v = textUntilClose('boolean').trim() === '1';
    else if (t.name === 'array') {
      const arr: unknown[] = [];
      expect('open', 'data');
      for (;;) {
        skipWs();
        if (toks[i]?.kind === 'close' && toks[i]!.name === 'data') break;
        arr.push(value());
      }
      expect('close', 'data');
      expect('close', 'array');
      v = arr;
    } else if (t.name === 'struct') {
      const obj: Record<string, unknown> = {};
      for (;;) {
        skipWs();
        if (toks[i]?.kind === 'close' && toks[i]!.name === 'struct') break;
        expect('open', 'member');
        expect('open', 'name');
        const key = textUntilClose('name');
        Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        expect('close', 'member');
      }
      expect('close', 'struct');
      v = obj;
    } else throw new Error(`unsupported type <${t.name}>`);
    expect('close', 'value');
    return v;
  };
  expect('open', 'methodResponse');
  skipWs();
  if (toks[i]?.kind === 'open' && toks[i]!.name === 'fault') {
    i++;
    const f = value() as { faultCode: number; faultString: string };
    throw new HarnessFault(f.faultCode, f.faultString);
  }
  expect('open', 'params');
  expect('open', 'param');
  const result = value();
  expect('close', 'param');
  expect('close', 'params');
  expect('close', 'methodResponse');
  return result;
}

/**
 * One XML-RPC call with the harness's own raw client on a fresh connection.
 * @throws HarnessFault on a fault; Error on a non-200 answer or a network error.
 */
export async function rawCall(
  target: RawTarget,
  method: string,
  params: unknown[] = [],
  auth: { username?: string; password?: string } = {},
  timeoutMs = 5000,
): Promise<unknown> {
  const opts: HttpRequestOptions = { host: 'socketPath' in target ? 'localhost' : `127.0.0.1:${target.port}` };
  if (auth.username !== undefined) opts.username = auth.username;
  if (auth.password !== undefined) opts.password = auth.password;
  const res = await rawExchange(target, httpRequest(xmlCall(method, params), opts), { timeoutMs });
  if (res.status !== 200) throw new Error(`${describeTarget(target)} answered HTTP ${res.status} ${res.reason} to ${method}`);
  return parseXmlRpcResponse(res.body.toString('utf8'));
}

// ---------------------------------------------------------------------------
// Processes and cleanup
// ---------------------------------------------------------------------------

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function run(bin: string, args: string[], timeoutMs: number): Promise<CtlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal === null ? -1 : 128 + (os.constants.signals[signal] ?? 0)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Every supervisord this process started and has not stopped yet. */
const live = new Map<number, { child: ChildProcess; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test forgot stop() or the process exits early: the
  // child is unref()ed so it cannot hold the test process open, and SIGTERM
  // lets supervisord stop its own programs before it goes.
  process.on('exit', () => {
    for (const [pid, { dir }] of live) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    live.clear();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (there is a race until supervisord binds it: start() retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

function tailOf(file: string, bytes: number): string {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

function checkName(name: string, what: string): void {
  if (name === '' || /[\s:/[\]]/.test(name)) throw new Error(`${what} ${JSON.stringify(name)} is not usable: no whitespace, ':', '/', '[' or ']'`);
}

function configText(o: {
  dir: string;
  port: number | undefined;
  socketPath: string | undefined;
  options: SupervisordOptions;
}): string {
  const { dir, port, socketPath, options } = o;
  const auth: string[] = [];
  if (options.username !== undefined && options.password !== undefined) auth.push(`username=${options.username}`, `password=${options.password}`);
  const lines: string[] = [
    '[supervisord]',
    'nodaemon=true',
    `logfile=${path.join(dir, 'supervisord.log')}`,
    'logfile_maxbytes=0',
    `pidfile=${path.join(dir, 'supervisord.pid')}`,
    `childlogdir=${dir}`,
    'loglevel=info',
    // Low enough for any container or non-root ulimit (supervisord refuses
    // to start when it cannot raise RLIMIT_NOFILE/NPROC to these).
    'minfds=64',
    'minprocs=16',
  ];
  // Running as root without user= makes supervisord log a CRIT line; a
  // non-root user cannot name root (it would try to drop privileges).
  if (process.getuid?.() === 0) lines.push('user=root');
  if (options.identifier !== undefined) lines.push(`identifier=${options.identifier}`);
  lines.push('');
  if (port !== undefined) lines.push('[inet_http_server]', `port=127.0.0.1:${port}`, ...auth, '');
  if (socketPath !== undefined) lines.push('[unix_http_server]', `file=${socketPath}`, 'chmod=0700', ...auth, '');
  lines.push('[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface', '');
  lines.push('[supervisorctl]', `serverurl=${socketPath !== undefined ? `unix://${socketPath}` : `http://127.0.0.1:${port}`}`, ...auth, '');
  const groups = new Map<string, string[]>();
  for (const p of options.programs ?? []) {
    checkName(p.name, 'program name');
    lines.push(`[program:${p.name}]`, `command=${p.command}`);
    if (p.autostart !== undefined) lines.push(`autostart=${p.autostart}`);
    if (p.autorestart !== undefined) lines.push(`autorestart=${p.autorestart}`);
    lines.push(`startsecs=${p.startsecs ?? 0}`);
    if (p.startretries !== undefined) lines.push(`startretries=${p.startretries}`);
    if (p.exitcodes !== undefined) lines.push(`exitcodes=${p.exitcodes}`);
    // Quick stops keep stop() and restart() fast.
    lines.push('stopwaitsecs=2');
    for (const [k, v] of Object.entries(p.extra ?? {})) lines.push(`${k}=${v}`);
    lines.push('');
    if (p.group !== undefined) {
      checkName(p.group, 'group name');
      const members = groups.get(p.group) ?? [];
      members.push(p.name);
      groups.set(p.group, members);
    }
  }
  for (const [g, members] of groups) lines.push(`[group:${g}]`, `programs=${members.join(',')}`, '');
  if (options.extraConfig !== undefined) lines.push(options.extraConfig, '');
  return lines.join('\n');
}

class PortInUse extends Error {}

/**
 * Starts a private supervisord (`nodaemon=true`, a child process of this
 * one) from a config in a fresh temp dir, and waits until it answers
 * `getState` with RUNNING. Several may run at once (each has its own dir,
 * port and socket).
 *
 * @throws Error when supervisord is not installed, when both `inet` and
 *   `unix` are false (the harness could not talk to it), or when it is not
 *   RUNNING within `startTimeoutMs` (the message carries the log's tail).
 */
export async function startSupervisord(options: SupervisordOptions = {}): Promise<RunningSupervisord> {
  const bin = findSupervisord();
  if (bin === null) throw new Error('supervisord is not installed (apt-get install supervisor)');
  const inet = options.inet ?? true;
  const unix = options.unix ?? true;
  if (!inet && !unix) throw new Error('startSupervisord: at least one of inet and unix must be true');
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new Error('startSupervisord: username and password go together');
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, options, inet, unix);
    } catch (e) {
      // Another test file may have taken the probed port before supervisord bound it.
      if (!(e instanceof PortInUse) || attempt >= 5) throw e;
    }
  }
}

async function startOnce(bin: string, options: SupervisordOptions, inet: boolean, unix: boolean): Promise<RunningSupervisord> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supd-'));
  const port = inet ? await freePort() : undefined;
  const socketPath = unix ? path.join(dir, 'supervisor.sock') : undefined;
  const configPath = path.join(dir, 'supervisord.conf');
  const logPath = path.join(dir, 'supervisord.log');
  const outPath = path.join(dir, 'supervisord.out');
  try {
    fs.writeFileSync(configPath, configText({ dir, port, socketPath, options }));
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // Console output goes to a file, not a pipe: no stream to drain or unref.
  const outFd = fs.openSync(outPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, ['-n', '-c', configPath], { cwd: dir, stdio: ['ignore', outFd, outFd], detached: false });
  } finally {
    fs.closeSync(outFd);
  }
  installExitHook();
  let exited: Exited | null = null;
  const exitWaiters: Array<() => void> = [];
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    live.delete(child.pid ?? -1);
    for (const w of exitWaiters.splice(0)) w();
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let spawnFailed: Error | null = null;
  void spawnError.then((e) => {
    spawnFailed = e;
  });
  // The child must not keep the test process alive if a test forgets stop():
  // the exit hook kills it.
  child.unref();
  if (child.pid !== undefined) live.set(child.pid, { child, dir });

  const target: RawTarget = socketPath !== undefined ? { socketPath } : { host: '127.0.0.1', port: port! };
  const auth: { username?: string; password?: string } = {};
  if (options.username !== undefined) auth.username = options.username;
  if (options.password !== undefined) auth.password = options.password;

  const logTail = (bytes = 2000): string => `${tailOf(logPath, bytes)}${tailOf(outPath, bytes) === '' ? '' : `\n--- console ---\n${tailOf(outPath, bytes)}`}`;

  const waitExit = (ms: number): Promise<boolean> =>
    exited !== null
      ? Promise.resolve(true)
      : new Promise((resolve) => {
          const t = setTimeout(() => resolve(false), ms);
          exitWaiters.push(() => {
            clearTimeout(t);
            resolve(true);
          });
        });

  const poke = async (): Promise<void> => {
    try {
      await rawCall(target, 'supervisor.getState', [], auth, 500);
    } catch {
      // SHUTDOWN_STATE fault, refused or reset while restarting: all fine
    }
  };

  let stopped = false;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopped = true;
      if (exited === null && child.pid !== undefined) {
        // Remember the programs' pids: if supervisord must be SIGKILLed it
        // cannot stop them itself (each runs in its own process group).
        let pids: number[] = [];
        try {
          const procs = (await rawCall(target, 'supervisor.getAllProcessInfo', [], auth, 1000)) as HarnessProcess[];
          pids = procs.map((p) => Number(p['pid'])).filter((p) => p > 0);
        } catch {
          // not answering: nothing to remember
        }
        try {
          child.kill('SIGTERM');
        } catch {
          // gone meanwhile
        }
        // supervisord stops one group per turn of its event loop, and a
        // turn with no I/O waits 1 s: with 6 groups a plain SIGTERM took
        // 4 s here. Each connection wakes the loop, so keep poking it.
        const deadline = Date.now() + 5000;
        while (!(await waitExit(25)) && Date.now() < deadline) await poke();
        if (exited === null) {
          child.kill('SIGKILL');
          for (const p of pids) {
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              // gone
            }
          }
          await waitExit(2000);
        }
      }
      live.delete(child.pid ?? -1);
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const getState = async (): Promise<string | null> => {
    try {
      const s = (await rawCall(target, 'supervisor.getState', [], auth, 1000)) as { statename?: unknown };
      return typeof s.statename === 'string' ? s.statename : null;
    } catch {
      return null;
    }
  };

  const waitRunning = async (timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last: string | null = null;
    while (Date.now() < deadline) {
      if (spawnFailed !== null) throw new Error(`cannot run ${bin}: ${(spawnFailed as Error).message}`);
      if (exited !== null) {
        const tail = logTail();
        if (/already listening|Address already in use/i.test(tail)) throw new PortInUse(tail);
        const ex = exited as Exited;
        throw new Error(`supervisord exited (code ${ex.code}, signal ${ex.signal}) ${what} (config ${configPath}); log tail:\n${tail}`);
      }
      last = await getState();
      if (last === 'RUNNING') return;
      await sleep(50);
    }
    throw new Error(`supervisord (${configPath}) not RUNNING ${timeoutMs} ms ${what} (last state: ${last ?? 'no answer'}); log tail:\n${logTail()}`);
  };

  try {
    await waitRunning(options.startTimeoutMs ?? 15_000, 'after start');
  } catch (e) {
    await stop();
    throw e;
  }

  const ctlBin = findSupervisorctl(bin);
  const result: RunningSupervisord = {
    dir,
    configPath,
    pid: child.pid!,
    ctl: (...args: string[]) => run(ctlBin, ['-c', configPath, ...args], 15_000),
    call: (method: string, params: unknown[] = []) => rawCall(target, method, params, auth),
    waitFor: async (predicate, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      let procs: HarnessProcess[] = [];
      let lastError: unknown = null;
      while (Date.now() < deadline) {
        if (stopped) throw new Error('waitFor: supervisord was stopped');
        try {
          procs = (await rawCall(target, 'supervisor.getAllProcessInfo', [], auth, 2000)) as HarnessProcess[];
          lastError = null;
          if (predicate(procs)) return;
        } catch (e) {
          lastError = e;
        }
        await sleep(50);
      }
      const summary = procs.map((p) => `${String(p['group'])}:${String(p['name'])}=${String(p['statename'])}`).join(', ');
      throw new Error(`waitFor: condition not met within ${timeoutMs} ms; processes: ${summary || '(none)'}${lastError === null ? '' : `; last error: ${(lastError as Error).message}`}`);
    },
    restart: async () => {
      if (stopped || exited !== null) throw new Error('restart: supervisord is not running');
      const count = (): number => (tailOf(logPath, Number.MAX_SAFE_INTEGER).match(/supervisord started with pid/g) ?? []).length;
      const before = count();
      process.kill(child.pid!, 'SIGHUP');
      const deadline = Date.now() + 15_000;
      while (count() <= before) {
        if (Date.now() > deadline || exited !== null) throw new Error(`restart: supervisord did not restart; log tail:\n${logTail()}`);
        // Wakes the event loop so the stop phase does not take 1 s per group (see stop()).
        await poke();
        await sleep(25);
      }
      await waitRunning(Math.max(1000, deadline - Date.now()), 'after restart');
    },
    stop,
    logTail,
  };
  if (port !== undefined) {
    result.port = port;
    result.url = `http://127.0.0.1:${port}/RPC2`;
  }
  if (socketPath !== undefined) {
    result.socketPath = socketPath;
    result.socketUrl = `unix://${socketPath}`;
  }
  if (options.username !== undefined) result.username = options.username;
  if (options.password !== undefined) result.password = options.password;
  return result;
}
