/**
 * Test helpers around a REAL supervisord (the installed binary), started
 * through the library's launcher (`lib/launcher/`: temp dir, own config,
 * never the system service or /etc/supervisor), for integration tests and
 * for recording fixtures.
 *
 * The launcher is given the harness's own tiny hand-written XML-RPC over raw
 * `node:net` sockets to talk to supervisord, deliberately NOT the library's
 * client: the integration tests must be able to blame the client, not the
 * harness, and fixtures recorded through it are independent of the code under
 * test. The same raw exchanges serve the tests that need exact bytes.
 *
 * @module
 */
import * as net from 'node:net';

import { findSupervisord } from '../../lib/launcher/find-supervisord.js';
import { startSupervisord as launch, supervisordVersion } from '../../lib/launcher/supervisord.js';
import type { CommandResult, LaunchedSupervisord, ProcessStruct, SupervisordCall } from '../../lib/launcher/supervisord.js';
import type { SupervisordProgram } from '../../lib/launcher/supervisord-config.js';

export { findSupervisord, supervisordVersion };

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/**
 * One `[program:x]` section (see `SupervisordProgram`). The harness defaults
 * `startsecs` to 0 (supervisord: 1) so that tests settle fast.
 */
export type ProgramSpec = SupervisordProgram;

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
export type CtlResult = CommandResult;

/** A process struct as the harness decodes it (numbers and strings only). */
export type HarnessProcess = ProcessStruct;

/**
 * A supervisord started by {@link startSupervisord}: the launcher's handle,
 * whose `call`, `waitFor` and readiness checks go through the harness's raw
 * client ({@link rawCall}; a fault rejects with {@link HarnessFault}).
 */
export type RunningSupervisord = LaunchedSupervisord;

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
// Starting supervisord
// ---------------------------------------------------------------------------

/** The launcher's transport: the harness's raw client, on the unix socket when there is one. */
const harnessCall: SupervisordCall = (endpoint, method, params, timeoutMs) =>
  rawCall(endpoint.socketPath !== undefined ? { socketPath: endpoint.socketPath } : { port: endpoint.port! }, method, [...params], endpoint, timeoutMs);

/**
 * Starts a private supervisord through the launcher (`nodaemon=true`, a child
 * process of this one that does not keep it alive, stopped by an 'exit' hook
 * if a test forgets `stop()`), and waits until it answers RUNNING. Several
 * may run at once (each has its own dir, port and socket).
 *
 * @throws LauncherError when supervisord is not installed, for an invalid
 *   option or program name, or when it is not RUNNING within
 *   `startTimeoutMs` (the message carries the log's tail); nothing is left
 *   behind then.
 */
export function startSupervisord(options: SupervisordOptions = {}): Promise<RunningSupervisord> {
  return launch({
    ...options,
    inet: options.inet ?? true,
    programs: (options.programs ?? []).map((p) => ({ startsecs: 0, ...p })),
    call: harnessCall,
  });
}
