/**
 * The supervisord emulator: exact wire bytes with raw sockets (TCP and unix
 * socket), every method through our XmlRpcClient, option validation, and,
 * where supervisord is installed, the same raw requests sent to a real
 * supervisord 4.x and to the emulator with identical answers. `makeProcess`
 * is tested in `emulator-processes.test.ts`.
 */

import { createRandom as mulberry32 } from '../../fixtures/generate.js'; // mulberry32: a failing seed replays
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { EmulatorOptions } from '../../lib/emulator/index.js';
import type { ProcessInfo } from '../../lib/types.js';
import { MEMBER_ORDER } from '../helpers/reference-processes.js';
import { HttpStatusError, NotXmlRpcError, XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import { encodeCall } from '../../protocol/xmlrpc-encoder.js';

// ---------------------------------------------------------------------------
// Raw HTTP over a socket
// ---------------------------------------------------------------------------

type Target = { port: number } | { socketPath: string };

interface RawResponse {
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

const openConns = new Set<RawConn>();

/** A client socket that keeps every byte it receives, for asserting exact answers and silences. */
class RawConn {
  readonly socket: Socket;
  data: Buffer = Buffer.alloc(0);
  closed = false;
  #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      openConns.delete(this);
      this.#wake();
    });
  }

  static open(target: Target): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        const conn = new RawConn(socket);
        openConns.add(conn);
        resolve(conn);
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #next(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  send(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Resolves with the next complete response (framed by Content-Length) and removes it from `data`. */
  async response(timeoutMs = 3000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = splitResponse(this.data);
      if (parsed !== null) {
        this.data = this.data.subarray(parsed.size);
        return parsed.response;
      }
      if (this.closed) throw new Error(`connection closed with ${this.data.length} unparsed bytes: ${JSON.stringify(this.data.toString('latin1'))}`);
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#next(left))) {
        throw new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(this.data.toString('latin1'))}`);
      }
    }
  }

  /** The next complete response, or 'closed' (nothing more came), or 'silent' (open, nothing within `ms`). */
  async outcome(ms: number): Promise<RawResponse | 'closed' | 'silent'> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = splitResponse(this.data);
      if (parsed !== null) {
        this.data = this.data.subarray(parsed.size);
        return parsed.response;
      }
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#next(left))) return 'silent';
    }
  }

  /** Waits `ms` and returns (and removes) whatever arrived meanwhile. */
  async quiet(ms: number): Promise<Buffer> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const got = this.data;
    this.data = Buffer.alloc(0);
    return got;
  }

  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#next(left))) return this.closed;
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function splitResponse(data: Buffer): { response: RawResponse; size: number } | null {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(': ');
    return [line.slice(0, colon), line.slice(colon + 2)];
  });
  const length = Number(headers.find(([name]) => name.toLowerCase() === 'content-length')?.[1] ?? NaN);
  if (!Number.isInteger(length)) throw new Error(`response without Content-Length: ${lines.join(' | ')}`);
  if (data.length < end + 4 + length) return null;
  return {
    response: { statusLine: lines[0]!, headers, body: Buffer.from(data.subarray(end + 4, end + 4 + length)) },
    size: end + 4 + length,
  };
}

function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

function post(body: Buffer | string, extra: readonly string[] = [], options: { path?: string; version?: string } = {}): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = [
    `POST ${options.path ?? '/RPC2'} HTTP/${options.version ?? '1.1'}`,
    'Host: localhost',
    'Content-Type: text/xml',
    ...extra,
    `Content-Length: ${bytes.length}`,
  ];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]);
}

function basic(user: string, password: string): string {
  return `Authorization: Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** medusa's error page, written out literally (observed on supervisord 4.2.5). */
function medusaErrorPage(code: number, reason: string): string {
  return `<head>\r\n<title>Error response</title>\r\n</head>\r\n<body>\r\n<h1>Error response</h1>\r\n<p>Error code ${code}.\r\n<p>Message: ${reason}.\r\n</body>\r\n`;
}

const GET_STATE_BODY =
  "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>statecode</name>\n" +
  '<value><int>1</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n' +
  '</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n';

const UNKNOWN_METHOD_BODY =
  "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n" +
  '<value><int>1</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>UNKNOWN_METHOD</string></value>\n' +
  '</member>\n</struct></value>\n</fault>\n</methodResponse>\n';

const DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const PINNED_NOW = 1414815738;

function table(): ProcessInfo[] {
  return [
    makeProcess({ name: 'web', group: 'zeta', state: 20, start: PINNED_NOW - 3725, pid: 4242 }, PINNED_NOW),
    makeProcess({ name: 'worker', group: 'alpha', statename: 'FATAL', spawnerr: "can't find command 'x'" }, PINNED_NOW),
    makeProcess({ name: 'cron', state: 0 }, PINNED_NOW),
    makeProcess({ name: 'api', group: 'alpha', state: 10, pid: 77 }, PINNED_NOW),
  ];
}

const tmp = mkdtempSync(join(tmpdir(), 'emulator-test-'));
const emulators: SupervisordEmulator[] = [];
const clients: XmlRpcClient[] = [];

async function startEmulator(options: Partial<EmulatorOptions> = {}): Promise<SupervisordEmulator> {
  const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, ...options });
  emulators.push(emulator);
  return emulator;
}

function client(url: string, options: ConstructorParameters<typeof XmlRpcClient>[1] = {}): XmlRpcClient {
  const c = new XmlRpcClient(url, { timeoutMs: 3000, ...options });
  clients.push(c);
  return c;
}

function targetOf(emulator: SupervisordEmulator): Target {
  if (emulator.url.startsWith('unix://')) return { socketPath: emulator.url.slice('unix://'.length) };
  return { port: Number(new URL(emulator.url).port) };
}

after(async () => {
  for (const c of clients) await c.close();
  for (const conn of openConns) conn.destroy();
  for (const e of emulators) await e.close();
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Wire bytes
// ---------------------------------------------------------------------------

describe('emulator wire format', () => {
  const transports: Array<{ name: string; emulator?: SupervisordEmulator; listen: EmulatorOptions['listen'] }> = [
    { name: 'tcp', listen: { port: 0 } },
    { name: 'unix socket', listen: { socketPath: join(tmp, 'wire.sock') } },
  ];

  before(async () => {
    for (const t of transports) t.emulator = await startEmulator({ listen: t.listen, processes: table() });
  });

  for (const t of transports) {
    it(`answers an XML-RPC call with medusa's exact headers (${t.name})`, async () => {
      const conn = await RawConn.open(targetOf(t.emulator!));
      conn.send(post(encodeCall('supervisor.getState')));
      const res = await conn.response();
      assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
      assert.deepEqual(
        res.headers.map(([n]) => n),
        ['Server', 'Date', 'Content-Type', 'Content-Length'],
      );
      assert.equal(header(res, 'Server'), 'Medusa/1.12');
      assert.match(header(res, 'Date')!, DATE_RE);
      assert.ok(Math.abs(Date.parse(header(res, 'Date')!) - Date.now()) < 5000, 'Date is the current time');
      assert.equal(header(res, 'Content-Type'), 'text/xml');
      assert.equal(res.body.toString('utf8'), GET_STATE_BODY);
      assert.equal(Number(header(res, 'Content-Length')), res.body.length);
      // Kept alive: a second request on the same socket is answered.
      conn.send(post(encodeCall('nope.x')));
      const fault = await conn.response();
      assert.equal(fault.statusLine, 'HTTP/1.1 200 OK');
      assert.equal(fault.body.toString('utf8'), UNKNOWN_METHOD_BODY);
      assert.equal(conn.closed, false);
    });
  }

  // One request per row on a fresh connection; `after` says what happens next on it (observed on
  // supervisord 4.2.5): 'open' = the next request is answered normally, 'closed' = the server closes,
  // 'next-400' / 'next-closed' = an unread body corrupts the next request, which gets 400 / a silent close.
  const cases: Array<{
    name: string;
    request: Buffer;
    status: string;
    headerNames: string[];
    body?: string;
    bodyIncludes?: string;
    after: 'open' | 'closed' | 'next-400' | 'next-closed';
  }> = [
    {
      name: 'GET on /RPC2 is a bad request',
      request: Buffer.from('GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'open',
    },
    {
      name: 'any path starting with /RPC2 is XML-RPC',
      request: post(encodeCall('supervisor.getState'), [], { path: '/RPC2xyz' }),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length'],
      body: GET_STATE_BODY,
      after: 'open',
    },
    {
      name: 'a percent-encoded /RPC2 is unquoted first',
      request: post(encodeCall('supervisor.getState'), [], { path: '/%52PC2?x=1' }),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length'],
      body: GET_STATE_BODY,
      after: 'open',
    },
    {
      name: 'GET / is the HTML status page',
      request: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Pragma', 'Cache-Control', 'Expires', 'Content-Length'],
      bodyIncludes: '<title>Supervisor Status</title>',
      after: 'open',
    },
    {
      name: 'POST / is the HTML status page too',
      request: post(encodeCall('supervisor.getState'), [], { path: '/' }),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Pragma', 'Cache-Control', 'Expires', 'Content-Length'],
      bodyIncludes: 'alpha:worker',
      after: 'open',
    },
    {
      name: 'GET /index.html is the status page',
      request: Buffer.from('GET /index.html?a=b HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Pragma', 'Cache-Control', 'Expires', 'Content-Length'],
      bodyIncludes: '<td>cron</td>',
      after: 'open',
    },
    {
      name: 'GET of an unknown path is 404',
      request: Buffer.from('GET /foo HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 404 Not Found',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(404, 'Not Found'),
      after: 'open',
    },
    {
      name: 'POST to an unknown path is 400',
      request: post(encodeCall('supervisor.getState'), [], { path: '/foo' }),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'next-closed',
    },
    {
      name: 'a POST without Content-Length is 411',
      request: Buffer.from('POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 411 Length Required',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(411, 'Length Required'),
      after: 'open',
    },
    {
      name: 'a Content-Length that is not a number is 500',
      request: Buffer.from('POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n'),
      status: 'HTTP/1.1 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'open',
    },
    {
      name: 'a request line without version answers HTTP/None and closes',
      request: Buffer.from('garbage line\r\n\r\n'),
      status: 'HTTP/None 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'closed',
    },
    {
      name: 'the status page fails (500) on a request line without version',
      request: Buffer.from('GET /\r\n\r\n'),
      status: 'HTTP/None 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'closed',
    },
    {
      name: 'the status page without version after a POST body is 500 too',
      request: Buffer.from('POST /\r\nContent-Length: 2\r\n\r\nab'),
      status: 'HTTP/None 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'closed',
    },
    {
      name: 'a POST to the status page without Content-Length is 411',
      request: Buffer.from('POST / HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 411 Length Required',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(411, 'Length Required'),
      after: 'open',
    },
    {
      name: 'malformed XML is 400',
      request: post('<methodCall><methodName>supervisor.getState</methodName>'),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'open',
    },
    {
      name: 'an empty method name is 400',
      request: post('<methodCall><methodName></methodName><params/></methodCall>'),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'open',
    },
    {
      name: 'a base64 parameter that is not UTF-8 is 400 (supervisor decodes base64 to str)',
      request: post(encodeCall('supervisor.getProcessInfo', [new Uint8Array([0xff, 0xfe])])),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'open',
    },
    {
      name: 'a Python exception in a method (int where a name is expected) is 500',
      request: post(encodeCall('supervisor.getProcessInfo', [5])),
      status: 'HTTP/1.1 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'open',
    },
    {
      name: 'a multicall item that is not a struct is 500',
      request: post(encodeCall('system.multicall', [['str']])),
      status: 'HTTP/1.1 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'open',
    },
    {
      name: 'multicall of a string is 500',
      request: post(encodeCall('system.multicall', ['abc'])),
      status: 'HTTP/1.1 500 Internal Server Error',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(500, 'Internal Server Error'),
      after: 'open',
    },
    {
      name: 'HTTP/1.0 echoes the version and closes after the answer',
      request: post(encodeCall('supervisor.getState'), [], { version: '1.0' }),
      status: 'HTTP/1.0 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length'],
      body: GET_STATE_BODY,
      after: 'closed',
    },
    {
      name: 'HTTP/1.0 with keep-alive says Keep-Alive and stays open',
      request: post(encodeCall('supervisor.getState'), ['Connection: keep-alive'], { version: '1.0' }),
      status: 'HTTP/1.0 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length', 'Connection'],
      body: GET_STATE_BODY,
      after: 'open',
    },
    {
      name: 'HTTP/1.1 with Connection: close closes without saying so',
      request: post(encodeCall('supervisor.getState'), ['Connection: close']),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length'],
      body: GET_STATE_BODY,
      after: 'closed',
    },
    {
      name: 'a PUT on /RPC2 is 400',
      request: Buffer.from('PUT /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'next-400',
    },
    {
      name: 'HEAD of an unknown path is 404',
      request: Buffer.from('HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 404 Not Found',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(404, 'Not Found'),
      after: 'open',
    },
    {
      name: 'DELETE of an unknown path is 400',
      request: Buffer.from('DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n'),
      status: 'HTTP/1.1 400 Bad Request',
      headerNames: ['Server', 'Date', 'Content-Length', 'Content-Type'],
      body: medusaErrorPage(400, 'Bad Request'),
      after: 'open',
    },
    {
      name: 'a blank line before the request line is skipped and folded headers joined',
      request: Buffer.concat([
        Buffer.from('\r\n'),
        post(encodeCall('supervisor.getState'), ['X-Long: a', ' b']),
      ]),
      status: 'HTTP/1.1 200 OK',
      headerNames: ['Server', 'Date', 'Content-Type', 'Content-Length'],
      body: GET_STATE_BODY,
      after: 'open',
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const conn = await RawConn.open(targetOf(transports[0]!.emulator!));
      conn.send(c.request);
      const res = await conn.response();
      assert.equal(res.statusLine, c.status);
      assert.deepEqual(
        res.headers.map(([n]) => n),
        c.headerNames,
      );
      assert.equal(header(res, 'Server'), 'Medusa/1.12');
      assert.equal(Number(header(res, 'Content-Length')), res.body.length);
      if (c.body !== undefined) assert.equal(res.body.toString('utf8'), c.body);
      if (c.bodyIncludes !== undefined) assert.ok(res.body.toString('utf8').includes(c.bodyIncludes), res.body.toString('utf8'));
      if (c.headerNames.includes('Pragma')) {
        assert.equal(header(res, 'Content-Type'), 'text/html;charset=utf-8');
        assert.equal(header(res, 'Expires'), 'Thu, 01 Jan 1970 00:00:00 GMT');
      }
      if (c.headerNames.includes('Connection')) assert.equal(header(res, 'Connection'), 'Keep-Alive');
      if (c.after === 'closed') {
        assert.equal(await conn.waitClosed(), true, 'server closed the connection');
        conn.destroy();
        return;
      }
      conn.send(post(encodeCall('supervisor.getState')));
      if (c.after === 'open') {
        assert.equal((await conn.response()).body.toString('utf8'), GET_STATE_BODY);
      } else if (c.after === 'next-400') {
        assert.equal((await conn.response()).statusLine, 'HTTP/1.1 400 Bad Request');
      } else {
        assert.equal(await conn.waitClosed(), true, 'server closed the connection');
        assert.equal(conn.data.length, 0);
      }
      conn.destroy();
    });
  }

  it('never answers Content-Length: 0 and keeps the socket open', async () => {
    const conn = await RawConn.open(targetOf(transports[0]!.emulator!));
    conn.send('POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    conn.send(post(encodeCall('supervisor.getState')));
    assert.equal((await conn.quiet(150)).length, 0);
    assert.equal(conn.closed, false);
    conn.destroy();
  });

  it('answers pipelined requests in order, including one split into single bytes', async () => {
    const conn = await RawConn.open(targetOf(transports[1]!.emulator!));
    const both = Buffer.concat([post(encodeCall('supervisor.getState')), post(encodeCall('nope.x'))]);
    for (let i = 0; i < both.length; i++) conn.send(both.subarray(i, i + 1));
    assert.equal((await conn.response()).body.toString('utf8'), GET_STATE_BODY);
    assert.equal((await conn.response()).body.toString('utf8'), UNKNOWN_METHOD_BODY);
    conn.destroy();
  });

  it('destroys a connection whose head exceeds 64 KiB', async () => {
    const conn = await RawConn.open(targetOf(transports[0]!.emulator!));
    conn.send(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(70 * 1024)}`);
    assert.equal(await conn.waitClosed(), true);
    assert.equal(conn.data.length, 0);
  });

  it('destroys a connection announcing a body over 16 MiB', async () => {
    const conn = await RawConn.open(targetOf(transports[0]!.emulator!));
    conn.send(`POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 * 1024 * 1024 + 1}\r\n\r\n`);
    assert.equal(await conn.waitClosed(), true);
    assert.equal(conn.data.length, 0);
  });

  it('survives seeded random and mutated requests, and still answers afterwards', async () => {
    const seed = Number(process.env.EMULATOR_FUZZ_SEED ?? 0x5eed);
    const random = mulberry32(seed);
    const valid = [
      post(encodeCall('system.multicall', [[{ methodName: 'supervisor.getProcessInfo', params: ['alpha:worker'] }]])),
      post(encodeCall('supervisor.getProcessInfo', ['cron'])),
      Buffer.from(`GET / HTTP/1.0\r\n${basic('a', 'b')}\r\n\r\n`),
    ];
    const target = targetOf(transports[0]!.emulator!);
    try {
      for (let round = 0; round < 120; round++) {
        let bytes = Buffer.from(valid[Math.floor(random() * valid.length)]!);
        const edits = 1 + Math.floor(random() * 4);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(random() * bytes.length);
          const kind = random();
          if (kind < 0.4) bytes[at] = Math.floor(random() * 256);
          else if (kind < 0.6) bytes = bytes.subarray(0, at);
          else if (kind < 0.8) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), bytes.subarray(at)]);
          else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + Math.floor(random() * 20))]);
        }
        if (random() < 0.1) bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
        const conn = await RawConn.open(target);
        conn.send(bytes);
        conn.socket.end();
        await conn.waitClosed(1000);
        conn.destroy();
      }
      const conn = await RawConn.open(target);
      conn.send(post(encodeCall('supervisor.getState')));
      assert.equal((await conn.response()).body.toString('utf8'), GET_STATE_BODY);
      conn.destroy();
    } catch (err) {
      throw new Error(`fuzz failure with EMULATOR_FUZZ_SEED=${seed}: ${(err as Error).message}`, { cause: err });
    }
  });

  it('closes without a byte on a request line it cannot crack', async () => {
    const conn = await RawConn.open(targetOf(transports[1]!.emulator!));
    conn.send('garbage\r\n\r\n');
    assert.equal(await conn.waitClosed(), true);
    assert.equal(conn.data.length, 0);
  });

  it('closes after a head made only of blank lines', async () => {
    const conn = await RawConn.open(targetOf(transports[0]!.emulator!));
    conn.send('\r\n\r\n\r\n\r\n');
    assert.equal(await conn.waitClosed(), true);
    assert.equal(conn.data.length, 0);
  });
});

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

// Concurrent: each case has its own connection, and the 401 cases wait out a silence.
describe('emulator Basic auth', { concurrency: true }, () => {
  const sha = `{SHA}${createHash('sha1').update('s3cret', 'utf8').digest('hex')}`;
  const servers: Array<{ name: string; password: string; listen: EmulatorOptions['listen']; emulator?: SupervisordEmulator }> = [
    { name: 'tcp, plain password', password: 's3cret', listen: { port: 0 } },
    { name: 'unix socket, {SHA} password', password: sha, listen: { socketPath: join(tmp, 'auth.sock') } },
  ];

  before(async () => {
    for (const s of servers) s.emulator = await startEmulator({ listen: s.listen, username: 'bob', password: s.password });
  });

  const UNAUTHORIZED_HEAD = ['Server', 'Date', 'Connection', 'WWW-Authenticate', 'Content-Length', 'Content-Type'];

  for (const s of servers) {
    const cases: Array<{ name: string; extra: string[]; expect: 200 | 400 | 401 | 500 }> = [
      { name: 'right credentials', extra: [basic('bob', 's3cret')], expect: 200 },
      { name: 'lower-case header name and scheme', extra: [basic('bob', 's3cret').replace('Authorization: Basic', 'authorization: basic')], expect: 200 },
      { name: 'no Authorization header', extra: [], expect: 401 },
      { name: 'wrong password', extra: [basic('bob', 'wrong')], expect: 401 },
      { name: 'wrong user', extra: [basic('alice', 's3cret')], expect: 401 },
      { name: 'the {SHA} string itself as password', extra: [basic('bob', sha)], expect: 401 },
      { name: 'another scheme', extra: ['Authorization: Bearer abc'], expect: 401 },
      { name: 'a scheme without credentials', extra: ['Authorization: Basic'], expect: 401 },
      { name: 'malformed base64', extra: ['Authorization: Basic !!!notb64'], expect: 400 },
      { name: 'base64 that is not UTF-8', extra: [`Authorization: Basic ${Buffer.from([0xff, 0x3a, 0x41]).toString('base64')}`], expect: 400 },
      { name: 'base64 without a colon', extra: [`Authorization: Basic ${Buffer.from('bobs3cret').toString('base64')}`], expect: 500 },
    ];
    for (const c of cases) {
      it(`${c.name} -> ${c.expect} (${s.name})`, async () => {
        const conn = await RawConn.open(targetOf(s.emulator!));
        conn.send(post(encodeCall('supervisor.getState'), c.extra));
        const res = await conn.response();
        if (c.expect === 200) {
          assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
          assert.equal(res.body.toString('utf8'), GET_STATE_BODY);
        } else if (c.expect === 401) {
          assert.equal(res.statusLine, 'HTTP/1.1 401 Unauthorized');
          assert.deepEqual(
            res.headers.map(([n]) => n),
            UNAUTHORIZED_HEAD,
          );
          assert.equal(header(res, 'Connection'), 'close');
          assert.equal(header(res, 'WWW-Authenticate'), 'Basic realm="default"');
          assert.equal(header(res, 'Content-Type'), 'text/html');
          assert.equal(res.body.length, 137);
          assert.equal(res.body.toString('utf8'), medusaErrorPage(401, 'Unauthorized'));
          // medusa stops reading the channel: even a correct request is never answered, and the socket stays open.
          conn.send(post(encodeCall('supervisor.getState'), [basic('bob', 's3cret')]));
          assert.equal((await conn.quiet(120)).length, 0);
          assert.equal(conn.closed, false);
        } else {
          const reason = c.expect === 400 ? 'Bad Request' : 'Internal Server Error';
          assert.equal(res.statusLine, `HTTP/1.1 ${c.expect} ${reason}`);
          assert.equal(res.body.toString('utf8'), medusaErrorPage(c.expect, reason));
        }
        conn.destroy();
      });
    }
  }

  it('asks for credentials before serving the HTML page', async () => {
    const conn = await RawConn.open(targetOf(servers[0]!.emulator!));
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await conn.response()).statusLine, 'HTTP/1.1 401 Unauthorized');
    conn.destroy();
  });

  it('closes after a 401 to an HTTP/1.0 request', async () => {
    const conn = await RawConn.open(targetOf(servers[0]!.emulator!));
    conn.send(post(encodeCall('supervisor.getState'), [], { version: '1.0' }));
    assert.equal((await conn.response()).statusLine, 'HTTP/1.0 401 Unauthorized');
    assert.equal(await conn.waitClosed(), true);
  });

  it('through XmlRpcClient: wrong password is HttpStatusError 401, right one works on both transports', async () => {
    for (const s of servers) {
      const bad = client(s.emulator!.url, { username: 'bob', password: 'nope' });
      await assert.rejects(bad.call('supervisor.getState'), (err: unknown) => {
        assert.ok(err instanceof HttpStatusError);
        assert.equal(err.code, 'ERR_HTTP_STATUS');
        assert.equal(err.status, 401);
        assert.equal(err.reason, 'Unauthorized');
        assert.ok(!err.message.includes('nope'), 'no password in the message');
        return true;
      });
      const good = client(s.emulator!.url, { username: 'bob', password: 's3cret' });
      assert.deepEqual(await good.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
    }
  });
});

// ---------------------------------------------------------------------------
// Methods through XmlRpcClient
// ---------------------------------------------------------------------------

describe('emulator methods (XmlRpcClient)', () => {
  let emulator: SupervisordEmulator;
  let rpc: XmlRpcClient;

  before(async () => {
    emulator = await startEmulator({
      listen: { socketPath: join(tmp, 'methods.sock') },
      processes: table(),
      version: '3.0b2',
      identification: 'emu-id',
      pid: 4321,
    });
    rpc = client(emulator.url);
  });

  it('getAllProcessInfo answers every process sorted by group then name, members in supervisord order', async () => {
    const all = (await rpc.call('supervisor.getAllProcessInfo')) as Array<Record<string, XmlRpcValue>>;
    assert.deepEqual(
      all.map((p) => `${p.group}:${p.name}`),
      ['alpha:api', 'alpha:worker', 'cron:cron', 'zeta:web'],
    );
    for (const p of all) assert.deepEqual(Object.keys(p), MEMBER_ORDER);
    const web = all[3]!;
    assert.equal(web.now, PINNED_NOW);
    assert.equal(web.description, 'pid 4242, uptime 1:02:05');
    assert.equal(all[1]!.description, "can't find command 'x'");
    assert.equal(all[2]!.description, 'Not started');
    assert.equal(all[0]!.description, '');
  });

  it('sorts names by code point like Python, not by UTF-16 unit', async () => {
    const saved = emulator.processes;
    emulator.processes = ['\u{1F600}', '\uFFFD', 'b', 'a'].map((name) => makeProcess({ name }, PINNED_NOW));
    const all = (await rpc.call('supervisor.getAllProcessInfo')) as Array<Record<string, XmlRpcValue>>;
    emulator.processes = saved;
    assert.deepEqual(
      all.map((p) => p.name),
      ['a', 'b', '\uFFFD', '\u{1F600}'],
    );
  });

  const lookups: Array<{ arg: string; found?: string; fault?: string }> = [
    { arg: 'cron', found: 'cron:cron' },
    { arg: 'cron:cron', found: 'cron:cron' },
    { arg: 'alpha:worker', found: 'alpha:worker' },
    { arg: 'worker', fault: 'BAD_NAME: worker' },
    { arg: 'alpha:*', fault: 'BAD_NAME: alpha:*' },
    { arg: 'alpha:', fault: 'BAD_NAME: alpha:' },
    { arg: 'nope', fault: 'BAD_NAME: nope' },
    { arg: 'alpha:nope', fault: 'BAD_NAME: alpha:nope' },
  ];
  for (const l of lookups) {
    it(`getProcessInfo(${JSON.stringify(l.arg)}) -> ${l.found ?? l.fault}`, async () => {
      if (l.found !== undefined) {
        const p = (await rpc.call('supervisor.getProcessInfo', [l.arg])) as Record<string, XmlRpcValue>;
        assert.equal(`${p.group}:${p.name}`, l.found);
        assert.deepEqual(Object.keys(p), MEMBER_ORDER);
      } else {
        await assert.rejects(rpc.call('supervisor.getProcessInfo', [l.arg]), (err: unknown) => {
          assert.ok(err instanceof XmlRpcFault);
          assert.equal(err.code, 'ERR_XMLRPC_FAULT');
          assert.equal(err.faultCode, 10);
          assert.equal(err.faultString, l.fault);
          assert.equal(err.message, `fault 10: ${l.fault}`);
          return true;
        });
      }
    });
  }

  const simple: Array<{ method: string; params?: XmlRpcValue[]; expect: XmlRpcValue }> = [
    { method: 'supervisor.getState', expect: { statecode: 1, statename: 'RUNNING' } },
    { method: 'supervisor.getSupervisorVersion', expect: '3.0b2' },
    { method: 'supervisor.getAPIVersion', expect: '3.0' },
    { method: 'supervisor.getIdentification', expect: 'emu-id' },
    { method: 'supervisor.getPID', expect: 4321 },
    { method: 'supervisor.getProcessInfo', params: [Buffer.from('cron')], expect: 'cron' },
  ];
  for (const s of simple) {
    it(`${s.method} answers ${JSON.stringify(s.expect)}`, async () => {
      const got = await rpc.call(s.method, s.params);
      if (s.method === 'supervisor.getProcessInfo') assert.equal((got as Record<string, XmlRpcValue>).name, s.expect);
      else assert.deepEqual(got, s.expect);
    });
  }

  it('system.listMethods lists exactly what the emulator implements, sorted', async () => {
    assert.deepEqual(await rpc.call('system.listMethods'), [
      'supervisor.clearLog',
      'supervisor.getAPIVersion',
      'supervisor.getAllProcessInfo',
      'supervisor.getIdentification',
      'supervisor.getPID',
      'supervisor.getProcessInfo',
      'supervisor.getState',
      'supervisor.getSupervisorVersion',
      'supervisor.readLog',
      'supervisor.readMainLog',
      'system.listMethods',
      'system.multicall',
    ]);
  });

  const faults: Array<{ name: string; method: string; params?: XmlRpcValue[]; code: number; text: string }> = [
    { name: 'unknown method', method: 'supervisor.startProcess', params: ['x'], code: 1, text: 'UNKNOWN_METHOD' },
    { name: 'private method', method: 'supervisor._update', code: 1, text: 'UNKNOWN_METHOD' },
    { name: 'three-part name', method: 'supervisor.getState.x', code: 1, text: 'UNKNOWN_METHOD' },
    { name: 'extra argument', method: 'supervisor.getState', params: [1], code: 2, text: 'INCORRECT_PARAMETERS' },
    { name: 'missing argument', method: 'supervisor.getProcessInfo', code: 2, text: 'INCORRECT_PARAMETERS' },
    { name: 'multicall of a struct', method: 'system.multicall', params: [{ a: 1 }], code: 2, text: 'INCORRECT_PARAMETERS' },
    { name: 'multicall without argument', method: 'system.multicall', code: 2, text: 'INCORRECT_PARAMETERS' },
  ];
  for (const f of faults) {
    it(`fault ${f.code} ${f.text} for ${f.name}`, async () => {
      await assert.rejects(rpc.call(f.method, f.params), (err: unknown) => {
        assert.ok(err instanceof XmlRpcFault);
        assert.equal(err.faultCode, f.code);
        assert.equal(err.faultString, f.text);
        return true;
      });
    });
  }

  it('multicall answers bare results and fault structs in order', async () => {
    const results = await rpc.multicall([
      { methodName: 'supervisor.getSupervisorVersion' },
      { methodName: 'supervisor.getProcessInfo', params: ['nope'] },
      { methodName: 'nope.x', params: [] },
      { methodName: 'supervisor.getPID', params: [] },
      { methodName: 'supervisor.getProcessInfo', params: ['cron'] },
    ]);
    assert.equal(results.length, 5);
    assert.equal(results[0], '3.0b2');
    assert.ok(results[1] instanceof XmlRpcFault);
    assert.equal(results[1].faultString, 'BAD_NAME: nope');
    assert.ok(results[2] instanceof XmlRpcFault);
    assert.equal(results[2].faultCode, 1);
    assert.equal(results[3], 4321);
    assert.equal((results[4] as Record<string, XmlRpcValue>).name, 'cron');
  });

  // Items as supervisord's xmlrpc.py multicall treats them (observed on 4.2.5).
  const items: Array<{ name: string; item: XmlRpcValue; expect: XmlRpcValue }> = [
    { name: 'no methodName', item: { params: [] }, expect: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS: No methodName' } },
    {
      name: 'recursive multicall',
      item: { methodName: 'system.multicall', params: [[]] },
      expect: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS: Recursive system.multicall forbidden' },
    },
    {
      name: 'methodName not a string',
      item: { methodName: 5 },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'int' object has no attribute 'split'" },
    },
    {
      name: 'Python exception inside',
      item: { methodName: 'supervisor.getProcessInfo', params: [true] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'bool' object has no attribute 'split'" },
    },
    {
      name: 'params a string (spread into characters)',
      item: { methodName: 'supervisor.getState', params: 'notalist' },
      expect: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' },
    },
    { name: 'params a one-character string', item: { methodName: 'supervisor.getProcessInfo', params: 'q' }, expect: { faultCode: 10, faultString: 'BAD_NAME: q' } },
    {
      name: 'params a struct (spread into its keys)',
      item: { methodName: 'supervisor.getProcessInfo', params: { cron: 1 } },
      expect: 'cron',
    },
    { name: 'params an int', item: { methodName: 'supervisor.getState', params: 3 }, expect: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' } },
    { name: 'params an int, unknown method', item: { methodName: 'a.b', params: 3 }, expect: { faultCode: 1, faultString: 'UNKNOWN_METHOD' } },
    { name: 'params missing', item: { methodName: 'supervisor.getAPIVersion' }, expect: '3.0' },
    {
      name: 'a double where a name is expected',
      item: { methodName: 'supervisor.getProcessInfo', params: [1.5] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'float' object has no attribute 'split'" },
    },
    {
      name: 'a list, struct, date where a name is expected',
      item: { methodName: 'supervisor.getProcessInfo', params: [[1]] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'list' object has no attribute 'split'" },
    },
    {
      name: 'a struct where a name is expected',
      item: { methodName: 'supervisor.getProcessInfo', params: [{}] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'dict' object has no attribute 'split'" },
    },
    {
      name: 'a date where a name is expected',
      item: { methodName: 'supervisor.getProcessInfo', params: [new Date(0)] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'datetime' object has no attribute 'split'" },
    },
    {
      name: 'a nil where a name is expected',
      item: { methodName: 'supervisor.getProcessInfo', params: [null] },
      expect: { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:'NoneType' object has no attribute 'split'" },
    },
    {
      // Only an i8 beyond 2^53 is told apart: our decoder gives smaller ones as numbers.
      name: 'an i8 becomes its digits (supervisor does not know i8)',
      item: { methodName: 'supervisor.getProcessInfo', params: [2n ** 62n] },
      expect: { faultCode: 10, faultString: `BAD_NAME: ${2n ** 62n}` },
    },
  ];
  for (const i of items) {
    it(`multicall item: ${i.name}`, async () => {
      const got = (await rpc.call('system.multicall', [[i.item]])) as XmlRpcValue[];
      if (typeof i.expect === 'string') assert.equal((got[0] as Record<string, XmlRpcValue>).name ?? got[0], i.expect);
      else assert.deepEqual(got, [i.expect]);
    });
  }

  it('a struct member named __proto__ stays an ordinary member on the way in', async () => {
    const item = JSON.parse('{"methodName": "supervisor.getProcessInfo", "__proto__": {"x": 1}, "params": ["cron"]}') as XmlRpcValue;
    const got = (await rpc.call('system.multicall', [[item]])) as Array<Record<string, XmlRpcValue>>;
    assert.equal(got[0]!.name, 'cron');
  });

  it('setFault forces a fault, in multicall too, and null clears it', async () => {
    emulator.setFault('supervisor.getAllProcessInfo', { faultCode: 6, faultString: 'SHUTDOWN_STATE' });
    await assert.rejects(rpc.call('supervisor.getAllProcessInfo'), (err: unknown) => {
      assert.ok(err instanceof XmlRpcFault);
      assert.equal(err.faultCode, 6);
      assert.equal(err.faultString, 'SHUTDOWN_STATE');
      return true;
    });
    const [item] = await rpc.multicall([{ methodName: 'supervisor.getAllProcessInfo' }]);
    assert.ok(item instanceof XmlRpcFault);
    assert.equal(item.faultCode, 6);
    emulator.setFault('supervisor.getAllProcessInfo', null);
    assert.equal(((await rpc.call('supervisor.getAllProcessInfo')) as unknown[]).length, 4);
  });

  it('setFault refuses a fault it cannot encode', () => {
    assert.throws(
      () => emulator.setFault('x', { faultCode: 1.5, faultString: 'X' }),
      (err: unknown) => err instanceof TypeError && err.message === "setFault: 'faultCode' must be a 32-bit integer, got 1.5",
    );
    assert.throws(
      () => emulator.setFault('x', { faultCode: 1, faultString: 5 as unknown as string }),
      (err: unknown) => err instanceof TypeError && err.message === "setFault: 'faultString' must be a string, got 5",
    );
  });

  it('every supervisor.* method faults SHUTDOWN_STATE while the daemon is not RUNNING; system.* still works', async () => {
    emulator.state = { statecode: -1, statename: 'SHUTDOWN' };
    try {
      for (const method of ['supervisor.getState', 'supervisor.getAllProcessInfo', 'supervisor.getSupervisorVersion']) {
        await assert.rejects(rpc.call(method), (err: unknown) => err instanceof XmlRpcFault && err.faultCode === 6 && err.faultString === 'SHUTDOWN_STATE');
      }
      assert.ok(Array.isArray(await rpc.call('system.listMethods')));
    } finally {
      emulator.state = { statecode: 1, statename: 'RUNNING' };
    }
  });

  it('a live process (now 0) follows the clock, with a fresh description; a pinned one is answered as stored', async () => {
    const saved = emulator.processes;
    const start = Math.floor(Date.now() / 1000) - 90061; // 1 day, 1:01:01 ago
    emulator.processes = [
      { ...makeProcess({ name: 'live', start, pid: 9 }), description: 'stale' },
      makeProcess({ name: 'pinned', start: 100, pid: 9, description: 'as stored' }, 200),
    ];
    const before = Math.floor(Date.now() / 1000);
    const [live, pinned] = (await rpc.call('supervisor.getAllProcessInfo')) as Array<Record<string, XmlRpcValue>>;
    const afterCall = Math.floor(Date.now() / 1000);
    emulator.processes = saved;
    assert.ok((live!.now as number) >= before && (live!.now as number) <= afterCall, `now ${live!.now} in [${before}, ${afterCall}]`);
    assert.equal(live!.description, `pid 9, uptime 1 day, ${formatHms((live!.now as number) - start - 86400)}`);
    assert.equal(pinned!.now, 200);
    assert.equal(pinned!.description, 'as stored');
  });

  it('a process table the encoder cannot write answers 500, and the server keeps serving', async () => {
    const saved = emulator.processes;
    emulator.processes = [{ ...makeProcess({ name: 'bad' }, 5), pid: Number.NaN }];
    await assert.rejects(rpc.call('supervisor.getAllProcessInfo'), (err: unknown) => err instanceof HttpStatusError && err.status === 500);
    emulator.processes = [null as unknown as ProcessInfo];
    await assert.rejects(rpc.call('supervisor.getAllProcessInfo'), (err: unknown) => err instanceof HttpStatusError && err.status === 500);
    // Not a Python exception, so not a FAILED fault: the whole multicall fails.
    await assert.rejects(rpc.multicall([{ methodName: 'supervisor.getAllProcessInfo' }]), (err: unknown) => err instanceof HttpStatusError && err.status === 500);
    emulator.processes = saved;
    assert.equal(((await rpc.call('supervisor.getAllProcessInfo')) as unknown[]).length, 4);
  });

  it('setHttpOverride answers the HTML page or an error status instead of XML-RPC', async () => {
    emulator.setHttpOverride('html');
    await assert.rejects(rpc.call('supervisor.getState'), (err: unknown) => {
      assert.ok(err instanceof NotXmlRpcError);
      assert.equal(err.code, 'ERR_NOT_XMLRPC');
      assert.match(err.contentType, /^text\/html/);
      return true;
    });
    emulator.setHttpOverride(503);
    await assert.rejects(rpc.call('supervisor.getState'), (err: unknown) => {
      assert.ok(err instanceof HttpStatusError);
      assert.equal(err.status, 503);
      assert.equal(err.reason, 'Service Unavailable');
      return true;
    });
    emulator.setHttpOverride(null);
    assert.deepEqual(await rpc.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
    assert.throws(
      () => emulator.setHttpOverride(299),
      (err: unknown) => err instanceof RangeError && err.message === 'setHttpOverride: no error page for HTTP status 299',
    );
    assert.throws(() => emulator.setHttpOverride(200), RangeError);
  });

  it('counts connections, requests and calls (multicall items included)', async () => {
    const fresh = await startEmulator({ processes: table() });
    const c = client(fresh.url);
    await c.call('supervisor.getState');
    await c.call('supervisor.getState');
    await c.multicall([{ methodName: 'supervisor.getPID' }, { methodName: 'supervisor.getState' }]);
    assert.equal(fresh.stats.connections, 1);
    assert.equal(fresh.stats.requests, 3);
    assert.deepEqual({ ...fresh.stats.calls }, { 'supervisor.getState': 3, 'system.multicall': 1, 'supervisor.getPID': 1 });
    const conn = await RawConn.open(targetOf(fresh));
    conn.send('GET /nothing HTTP/1.1\r\n\r\n');
    await conn.response();
    assert.equal(fresh.stats.connections, 2);
    assert.equal(fresh.stats.requests, 4);
    conn.destroy();
  });
});

function formatHms(seconds: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(seconds / 3600)}:${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
}

// ---------------------------------------------------------------------------
// Options and lifecycle
// ---------------------------------------------------------------------------

describe('emulator options and lifecycle', () => {
  const bad: Array<{ options: unknown; error: typeof TypeError | typeof RangeError; message: string }> = [
    { options: null, error: TypeError, message: 'emulator options must be an object, got null' },
    { options: { listen: { port: 0 }, colour: 1 }, error: TypeError, message: "emulator option 'colour' is unknown" },
    { options: {}, error: TypeError, message: "emulator option 'listen' must be { host?, port } or { socketPath }, got undefined" },
    { options: { listen: { socketPath: 'rel.sock' } }, error: TypeError, message: `emulator option 'listen.socketPath' must be an absolute path, got "rel.sock"` },
    {
      options: { listen: { socketPath: `sockets/${'x'.repeat(60)}.sock` } },
      error: TypeError,
      message: `emulator option 'listen.socketPath' must be an absolute path, got "sockets/${'x'.repeat(32)}..."`,
    },
    { options: { listen: { socketPath: '/a.sock', port: 1 } }, error: TypeError, message: "emulator option 'listen' takes either { socketPath } or { host?, port }, not both" },
    { options: { listen: { port: 70000 } }, error: RangeError, message: "emulator option 'listen.port' must be an integer from 0 to 65535, got 70000" },
    { options: { listen: { port: '1' } }, error: RangeError, message: `emulator option 'listen.port' must be an integer from 0 to 65535, got "1"` },
    { options: { listen: { port: 0, hots: 'x' } }, error: TypeError, message: "emulator option 'listen.hots' is unknown" },
    { options: { listen: { port: 0, host: '' } }, error: TypeError, message: `emulator option 'listen.host' must be a non-empty string, got ""` },
    { options: { listen: { port: 0 }, processes: {} }, error: TypeError, message: "emulator option 'processes' must be an array, got object" },
    { options: { listen: { port: 0 }, version: 4 }, error: TypeError, message: "emulator option 'version' must be a string, got 4" },
    { options: { listen: { port: 0 }, username: 'u' }, error: TypeError, message: "emulator options 'username' and 'password' must be given together" },
    { options: { listen: { port: 0 }, password: 12 }, error: TypeError, message: "emulator option 'password' must be a string, got 12" },
    { options: { listen: { port: 0 }, pid: -1 }, error: RangeError, message: "emulator option 'pid' must be a non-negative integer, got -1" },
    { options: { listen: { port: 0 }, state: { statecode: 'x' } }, error: TypeError, message: "emulator option 'state' must be { statecode: integer, statename: string }" },
    { options: { listen: { port: 0 }, state: { statecode: 1, statename: 1 } }, error: TypeError, message: "emulator option 'state' must be { statecode: integer, statename: string }" },
    { options: { listen: { port: 0 }, state: null }, error: TypeError, message: "emulator option 'state' must be { statecode: integer, statename: string }" },
    { options: { listen: { port: 0 }, identification: ['a'] }, error: TypeError, message: "emulator option 'identification' must be a string, got an array" },
    { options: { listen: { port: 0 }, mainLog: 5 }, error: TypeError, message: "emulator option 'mainLog' must be a string or null, got 5" },
    { options: { listen: { port: 0 }, mainLog: Buffer.from('x') }, error: TypeError, message: "emulator option 'mainLog' must be a string or null, got object" },
  ];
  for (const b of bad) {
    it(`refuses ${b.message}`, async () => {
      await assert.rejects(SupervisordEmulator.start(b.options as EmulatorOptions), (err: unknown) => {
        assert.ok(err instanceof b.error, `${String(err)}`);
        assert.equal((err as Error).message, b.message);
        return true;
      });
    });
  }

  it('uses its defaults: version 4.2.5, RUNNING, identification supervisor, own pid, url on 127.0.0.1', async () => {
    const e = await startEmulator();
    assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+\/RPC2$/);
    const c = client(e.url);
    const got = await c.multicall([
      { methodName: 'supervisor.getSupervisorVersion' },
      { methodName: 'supervisor.getState' },
      { methodName: 'supervisor.getIdentification' },
      { methodName: 'supervisor.getPID' },
      { methodName: 'supervisor.getAllProcessInfo' },
    ]);
    assert.deepEqual(got, ['4.2.5', { statecode: 1, statename: 'RUNNING' }, 'supervisor', process.pid, []]);
  });

  it('listens on IPv6 loopback with a bracketed URL when available', async (t) => {
    let e: SupervisordEmulator;
    try {
      e = await startEmulator({ listen: { host: '::1', port: 0 } });
    } catch (err) {
      t.skip(`no IPv6 loopback here: ${(err as Error).message}`);
      return;
    }
    assert.match(e.url, /^http:\/\/\[::1\]:\d+\/RPC2$/);
    assert.equal(await client(e.url).call('supervisor.getAPIVersion'), '3.0');
  });

  it('does not share the caller’s process array', async () => {
    const mine = table();
    const e = await startEmulator({ processes: mine });
    mine.pop();
    assert.equal(e.processes.length, 4);
  });

  it('close() is idempotent, drops every connection (deaf ones too) and removes the socket file', async () => {
    const path = join(tmp, 'close.sock');
    const e = await SupervisordEmulator.start({ listen: { socketPath: path }, username: 'u', password: 'p' });
    const deaf = await RawConn.open({ socketPath: path });
    deaf.send(post(encodeCall('supervisor.getState')));
    assert.equal((await deaf.response()).statusLine, 'HTTP/1.1 401 Unauthorized');
    const idle = await RawConn.open({ socketPath: path });
    const first = e.close();
    assert.equal(e.close(), first);
    await first;
    assert.equal(await deaf.waitClosed(), true);
    assert.equal(await idle.waitClosed(), true);
    assert.equal(existsSync(path), false);
    await assert.rejects(RawConn.open({ socketPath: path }), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  });

  it('rejects with the system error when the address is taken', async () => {
    const path = join(tmp, 'taken.sock');
    writeFileSync(path, '');
    await assert.rejects(SupervisordEmulator.start({ listen: { socketPath: path } }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EADDRINUSE');
      return true;
    });
    assert.equal(existsSync(path), true, 'an existing file is never removed');
  });
});

// ---------------------------------------------------------------------------
// Differential: real supervisord vs emulator
// ---------------------------------------------------------------------------

/** supervisord's path, or null. */
function findSupervisord(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin'])) {
    if (dir !== '' && existsSync(join(dir, 'supervisord'))) return join(dir, 'supervisord');
  }
  return null;
}

describe('emulator against a real supervisord (same raw requests, same answers)', { concurrency: true }, () => {
  const binary = findSupervisord();
  const dir = join(tmp, 'real');
  const realSock = join(dir, 'real.sock');
  let child: ChildProcess | undefined;
  let realVersion = '';
  let startError = '';

  before(async () => {
    if (binary === null) return;
    // Inside this run's temp dir: no stale socket from an earlier run can exist.
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'supervisord.conf'),
      [
        '[supervisord]',
        `logfile=${join(dir, 'supervisord.log')}`,
        `pidfile=${join(dir, 'supervisord.pid')}`,
        `childlogdir=${dir}`,
        'identifier=emu-diff',
        '',
        '[unix_http_server]',
        `file=${realSock}`,
        'username=bob',
        `password={SHA}${createHash('sha1').update('s3cret').digest('hex')}`,
        '',
        '[rpcinterface:supervisor]',
        'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
        '',
      ].join('\n'),
    );
    child = spawn(binary, ['-n', '-c', join(dir, 'supervisord.conf')], { stdio: 'ignore' });
    const deadline = Date.now() + 8000;
    while (!existsSync(realSock) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!existsSync(realSock)) {
      startError = `supervisord did not create its socket (exit code ${child.exitCode})`;
      return;
    }
    const probe = await RawConn.open({ socketPath: realSock });
    probe.send(post(encodeCall('supervisor.getSupervisorVersion'), [basic('bob', 's3cret')]));
    realVersion = decodeResponse((await probe.response()).body) as string;
    probe.destroy();
    await startEmulator({
      listen: { socketPath: join(dir, 'emu.sock') },
      username: 'bob',
      password: 's3cret',
      identification: 'emu-diff',
      version: realVersion,
    });
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  const auth = basic('bob', 's3cret');
  // `silent`: the server never answers, so the first wait is short.
  const requests: Array<{ name: string; bytes: Buffer; silent?: boolean }> = [
    { name: 'getState', bytes: post(encodeCall('supervisor.getState'), [auth]) },
    { name: 'getAllProcessInfo (none)', bytes: post(encodeCall('supervisor.getAllProcessInfo'), [auth]) },
    { name: 'getSupervisorVersion', bytes: post(encodeCall('supervisor.getSupervisorVersion'), [auth]) },
    { name: 'getAPIVersion', bytes: post(encodeCall('supervisor.getAPIVersion'), [auth]) },
    { name: 'getIdentification', bytes: post(encodeCall('supervisor.getIdentification'), [auth]) },
    { name: 'unknown method', bytes: post(encodeCall('nope.x'), [auth]) },
    { name: 'private method', bytes: post(encodeCall('supervisor._update', ['x']), [auth]) },
    { name: 'BAD_NAME', bytes: post(encodeCall('supervisor.getProcessInfo', ['nope']), [auth]) },
    { name: 'BAD_NAME for group:*', bytes: post(encodeCall('supervisor.getProcessInfo', ['grp:*']), [auth]) },
    { name: 'int name -> 500', bytes: post(encodeCall('supervisor.getProcessInfo', [5]), [auth]) },
    { name: 'extra param', bytes: post(encodeCall('supervisor.getState', [1]), [auth]) },
    { name: 'missing param', bytes: post(encodeCall('supervisor.getProcessInfo'), [auth]) },
    {
      name: 'multicall mix',
      bytes: post(
        encodeCall('system.multicall', [
          [
            { methodName: 'supervisor.getAPIVersion', params: [] },
            { methodName: 'supervisor.getProcessInfo', params: ['nope'] },
            { methodName: 'nope.x', params: [] },
            { params: [] },
            { methodName: 'system.multicall', params: [[]] },
            { methodName: 5 },
            { methodName: 'supervisor.getProcessInfo', params: [true] },
            { methodName: 'supervisor.getState', params: 'ab' },
            { methodName: 'supervisor.getState', params: 3 },
          ],
        ]),
        [auth],
      ),
    },
    { name: 'multicall of a non-struct item', bytes: post(encodeCall('system.multicall', [[1]]), [auth]) },
    { name: 'multicall of a struct', bytes: post(encodeCall('system.multicall', [{ a: 1 }]), [auth]) },
    { name: 'multicall of a string', bytes: post(encodeCall('system.multicall', ['ab']), [auth]) },
    { name: 'malformed XML', bytes: post('<methodCall><methodName>x', [auth]) },
    { name: 'GET /RPC2', bytes: Buffer.from(`GET /RPC2 HTTP/1.1\r\n${auth}\r\n\r\n`) },
    { name: 'GET /nothing', bytes: Buffer.from(`GET /nothing HTTP/1.1\r\n${auth}\r\n\r\n`) },
    { name: 'POST /nothing', bytes: post(encodeCall('supervisor.getState'), [auth], { path: '/nothing' }) },
    { name: 'no Content-Length', bytes: Buffer.from(`POST /RPC2 HTTP/1.1\r\n${auth}\r\n\r\n`) },
    { name: 'HTTP/1.0 keep-alive', bytes: post(encodeCall('supervisor.getState'), [auth, 'Connection: keep-alive'], { version: '1.0' }) },
    { name: 'no credentials', bytes: post(encodeCall('supervisor.getState')) },
    { name: 'wrong password', bytes: post(encodeCall('supervisor.getState'), [basic('bob', 'x')]) },
    { name: 'malformed base64', bytes: post(encodeCall('supervisor.getState'), ['Authorization: Basic !!!x']) },
    { name: 'no colon in credentials', bytes: post(encodeCall('supervisor.getState'), [`Authorization: Basic ${Buffer.from('bob').toString('base64')}`]) },
    { name: 'uncrackable request line', bytes: Buffer.from('garbage\r\n\r\n') },
    { name: 'request line without version', bytes: Buffer.from(`garbage line\r\n${auth}\r\n\r\n`) },
    { name: 'status page without version', bytes: Buffer.from(`GET /\r\n${auth}\r\n\r\n`) },
    { name: 'PUT with a body', bytes: Buffer.from(`PUT /RPC2 HTTP/1.1\r\n${auth}\r\nContent-Length: 3\r\n\r\nabc`) },
    { name: 'POST elsewhere with a body', bytes: post(encodeCall('supervisor.getState'), [auth], { path: '/elsewhere' }) },
    { name: 'HTTP/1.0', bytes: post(encodeCall('supervisor.getState'), [auth], { version: '1.0' }) },
    { name: 'Connection: close', bytes: post(encodeCall('supervisor.getState'), [auth, 'Connection: close']) },
    { name: 'Content-Length: 0', bytes: Buffer.from(`POST /RPC2 HTTP/1.1\r\n${auth}\r\nContent-Length: 0\r\n\r\n`), silent: true },
    { name: 'bad Content-Length', bytes: Buffer.from(`POST /RPC2 HTTP/1.1\r\n${auth}\r\nContent-Length: 1x\r\n\r\n`) },
    { name: 'HEAD elsewhere', bytes: Buffer.from(`HEAD /x HTTP/1.1\r\n${auth}\r\n\r\n`) },
    { name: 'another auth scheme', bytes: post(encodeCall('supervisor.getState'), ['Authorization: Bearer x']) },
  ];

  /** The answer, then what the same connection does with a valid follow-up request, as comparable text. */
  async function exchange(path: string, bytes: Buffer, silent: boolean): Promise<string[]> {
    const conn = await RawConn.open({ socketPath: path });
    const show = (o: RawResponse | 'closed' | 'silent'): string =>
      typeof o === 'string'
        ? o
        : [o.statusLine, ...o.headers.map(([n, v]) => `${n}: ${n === 'Date' ? '<date>' : v}`), '', o.body.toString('utf8')].join('\n');
    try {
      conn.send(bytes);
      const first = await conn.outcome(silent ? 200 : 3000);
      if (first === 'closed') return ['closed'];
      conn.send(post(encodeCall('supervisor.getAPIVersion'), [auth]));
      return [show(first), show(await conn.outcome(200))];
    } finally {
      conn.destroy();
    }
  }

  for (const r of requests) {
    it(r.name, async (t) => {
      if (binary === null) {
        t.skip('supervisord not found on PATH: install the "supervisor" package to compare with the real server');
        return;
      }
      assert.equal(startError, '', startError);
      const [real, emu] = await Promise.all([
        exchange(realSock, r.bytes, r.silent === true),
        exchange(join(dir, 'emu.sock'), r.bytes, r.silent === true),
      ]);
      assert.deepEqual(emu, real);
    });
  }
});

