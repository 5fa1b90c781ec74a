import { compiledTreeForNobody, envForNobody, NOBODY } from '../helpers/as-nobody.js';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { parseAddress, tcpAddress, unixAddress } from '../../protocol/address.js';
import type { Address } from '../../protocol/address.js';
import {
  BodySizeError,
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  HeaderSizeError,
  HttpParseError,
  TimeoutError,
} from '../../protocol/errors.js';
import { freeBodyBatches, HTTP_DEFAULTS, HttpClient } from '../../protocol/http-client.js';
import type { HttpClientOptions, HttpExchange, HttpRequestOptions } from '../../protocol/http-client.js';
import {
  httpResponse,
  missingSocketPath,
  startServer,
  TEST_TLS_CERT,
  writeInPieces,
} from '../helpers/raw-server.js';
import type { RawServer, Responder, RawServerOptions } from '../helpers/raw-server.js';

interface Result {
  status: number;
  body: string;
}

/** An exchange that collects the body (tests only: the real client streams into a decoder). */
const collect = (): HttpExchange<Result> => {
  let status = 0;
  const chunks: Buffer[] = [];
  return {
    onHead: (head) => {
      status = head.status;
    },
    onBody: (chunk) => chunks.push(Buffer.from(chunk)),
    onEnd: () => ({ status, body: Buffer.concat(chunks).toString('utf8') }),
  };
};

const options = (extra: Partial<HttpClientOptions> = {}): HttpClientOptions => ({
  ...HTTP_DEFAULTS,
  timeoutMs: 3000,
  connectTimeoutMs: 2000,
  ...extra,
});

const servers: RawServer[] = [];
const clients: HttpClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(respond: Responder, opts: RawServerOptions = {}): Promise<RawServer> {
  const s = await startServer(respond, opts);
  servers.push(s);
  return s;
}

/** Asserts that `request` on `c` failed because its connection was reset before any response byte. */
function rejectsResetBeforeAnswer(request: Promise<unknown>, c: HttpClient): Promise<void> {
  return rejects(
    request,
    ConnectionClosedError,
    'ERR_CONNECTION_CLOSED',
    `connection to ${c.address.display} failed with ECONNRESET before any response byte`,
    (e) => {
      assert.equal(e['beforeResponse'], true);
      assert.equal(e['osCode'], 'ECONNRESET');
    },
  );
}

/**
 * A server that answers `conn<N>` (N: the connection's number) but drops the
 * second request on a connection before any answer byte, by closing (EOF)
 * or resetting the socket: as a restarted supervisord does to a kept-alive
 * connection. Only on the first connection unless `everyConnection`.
 */
function dropsSecondRequest(drop: 'end' | 'reset', opts: RawServerOptions & { everyConnection?: boolean } = {}): Promise<RawServer> {
  const { everyConnection = false, ...serverOptions } = opts;
  return serve((req, sock) => {
    if (req.indexOnConnection === 1 && (everyConnection || req.connection === 0)) {
      if (drop === 'end') sock.end();
      else sock.resetAndDestroy();
    } else {
      sock.write(ok(`conn${req.connection}`));
    }
  }, serverOptions);
}

function client(server: RawServer | Address | string, extra: Partial<HttpClientOptions> = {}): HttpClient {
  const address =
    typeof server === 'string' ? parseAddress(server).address : 'url' in server ? parseAddress(server.url).address : server;
  const c = new HttpClient(address, options(extra));
  clients.push(c);
  return c;
}

const ok = (body: string, headers?: Record<string, string>): Buffer => httpResponse(200, 'OK', body, headers);
const post = (c: HttpClient, body = 'ping', opts?: HttpRequestOptions): Promise<Result> => c.request(Buffer.from(body), collect, opts);
/** A request that may be retried (see HttpRequestOptions.idempotent). */
const postIdempotent = (c: HttpClient, body = 'ping'): Promise<Result> => post(c, body, { idempotent: true });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Polls `cond` (robust on a loaded machine, unlike a fixed sleep). */
async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Asserts a rejection's class, code and exact message (or a RegExp for OS-dependent parts). */
async function rejects(
  promise: Promise<unknown>,
  cls: new (...args: never[]) => Error,
  code: string,
  message: string | RegExp,
  more?: (e: Error & Record<string, unknown>) => void,
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as { code?: string }).code, code);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    more?.(e as Error & Record<string, unknown>);
    return true;
  });
}

for (const unix of [false, true]) {
  const kind = unix ? 'unix socket' : 'tcp';

  describe(`over ${kind}`, () => {
    test('sends exactly the specified request bytes', async () => {
      const s = await serve((_req, sock) => sock.write(ok('x')), { unix });
      const host = unix ? 'localhost' : `127.0.0.1:${s.port}`;
      await post(client(s), 'hello');
      const withAuth = client(s, { username: 'user', password: 'pässwörd' });
      await post(withAuth, '<é/>');
      await post(client(s, { username: 'only-user' }), 'z');
      assert.equal(
        s.requests[0]!.raw.toString('latin1'),
        `POST /RPC2 HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/xml\r\nContent-Length: 5\r\nUser-Agent: supervisord-check\r\n\r\nhello`,
      );
      const basic = Buffer.from('user:pässwörd', 'utf8').toString('base64');
      assert.equal(
        s.requests[1]!.raw.toString('latin1'),
        `POST /RPC2 HTTP/1.1\r\nHost: ${host}\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength('<é/>')}\r\nAuthorization: Basic ${basic}\r\nUser-Agent: supervisord-check\r\n\r\n${Buffer.from('<é/>').toString('latin1')}`,
      );
      assert.doesNotMatch(s.requests[2]!.head, /Authorization/);
      // one write: the request arrives in one piece on loopback
      for (const r of s.requests) assert.match(r.head, /^POST /);
    });

    test('reads Content-Length, chunked and close-delimited bodies', async () => {
      const answers = [
        ok('<a>content-length</a>'),
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n<a>c\r\n9\r\nhunked</a\r\n1\r\n>\r\n0\r\nT: 1\r\n\r\n'),
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<a>until close</a>'),
      ];
      const s = await serve(
        (req, sock) => {
          const i = s.requests.length - 1;
          sock.write(answers[i]!);
          if (i === 2) sock.end();
          assert.ok(req.body.length > 0);
        },
        { unix },
      );
      const c = client(s);
      assert.deepEqual(await post(c), { status: 200, body: '<a>content-length</a>' });
      assert.deepEqual(await post(c), { status: 200, body: '<a>chunked</a>' });
      assert.deepEqual(await post(c), { status: 200, body: '<a>until close</a>' });
      assert.equal(s.connections, 1);
    });

    test('keeps one connection alive across calls', async () => {
      const s = await serve((req, sock) => sock.write(ok(`echo ${req.body.toString()}`)), { unix });
      const c = client(s);
      for (let i = 0; i < 3; i++) assert.equal((await post(c, `n${i}`)).body, `echo n${i}`);
      assert.equal(s.connections, 1);
      assert.deepEqual(
        s.requests.map((r) => r.indexOnConnection),
        [0, 1, 2],
      );
    });

    test('serialises concurrent calls FIFO on one connection', async () => {
      let outstanding = 0;
      let maxOutstanding = 0;
      const s = await serve(
        (req, sock) => {
          outstanding++;
          maxOutstanding = Math.max(maxOutstanding, outstanding);
          setTimeout(() => {
            outstanding--;
            sock.write(ok(`echo ${req.body.toString()}`));
          }, 10);
        },
        { unix },
      );
      const c = client(s);
      const results = await Promise.all([0, 1, 2, 3, 4].map((i) => post(c, `call${i}`)));
      assert.deepEqual(
        results.map((r) => r.body),
        ['echo call0', 'echo call1', 'echo call2', 'echo call3', 'echo call4'],
      );
      assert.equal(maxOutstanding, 1);
      assert.equal(s.connections, 1);
    });

    test('a response split across TCP segments at awkward offsets', async () => {
      const bytes = Buffer.from(
        'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<a>é\r\n3\r\n</a\r\n1\r\n>\r\n0\r\n\r\n',
      );
      const cuts = [[1], [8, 9], [15, 16, 17], [30], [bytes.indexOf('\r\n\r\n') + 1], [bytes.indexOf('é') + 1], [bytes.length - 1]];
      const s = await serve(
        (req, sock) => {
          const i = Number(req.body.toString());
          writeInPieces(sock, bytes, cuts[i]!, 3);
        },
        { unix },
      );
      for (let i = 0; i < cuts.length; i++) {
        assert.deepEqual(await post(client(s), String(i)), { status: 200, body: '<a>é</a>' }, `cuts ${cuts[i]!.join(',')}`);
      }
    });

    test('a non-200 answer is read but its connection is not reused', async () => {
      const s = await serve(
        (_req, sock) => {
          if (s.requests.length === 1) sock.write(httpResponse(500, 'Internal Server Error', '<html>oops</html>', { 'Content-Type': 'text/html' }));
          else sock.write(ok('fine'));
        },
        { unix },
      );
      const c = client(s);
      assert.deepEqual(await post(c), { status: 500, body: '<html>oops</html>' });
      assert.deepEqual(await post(c), { status: 200, body: 'fine' });
      assert.equal(s.connections, 2);
    });

    test('Connection: close and HTTP/1.0 answers drop the connection; HTTP/1.0 keep-alive keeps it', async () => {
      const answers = [
        ok('a', { Connection: 'close' }),
        httpResponse(200, 'OK', 'b', {}, '1.0'),
        httpResponse(200, 'OK', 'c', { Connection: 'Keep-Alive' }, '1.0'),
        ok('d'),
      ];
      const s = await serve((_req, sock) => sock.write(answers[s.requests.length - 1]!), { unix });
      const c = client(s);
      for (const body of ['a', 'b', 'c', 'd']) assert.equal((await post(c)).body, body);
      // a | b | c d
      assert.deepEqual(
        s.requests.map((r) => r.connection),
        [0, 1, 2, 2],
      );
    });

    test('a truncated body is ConnectionClosedError (beforeResponse false)', async () => {
      const partial = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<methodResponse>';
      const s = await serve((_req, sock) => sock.end(partial), { unix });
      const c = client(s);
      await rejects(
        post(c),
        ConnectionClosedError,
        'ERR_CONNECTION_CLOSED',
        `connection to ${c.address.display} closed after ${partial.length} bytes, before the response was complete (truncated response)`,
        (e) => assert.equal(e['beforeResponse'], false),
      );
    });

    test('EOF before any byte on a fresh connection is not retried', async () => {
      const s = await serve((_req, sock) => sock.end(), { unix });
      const c = client(s);
      await rejects(
        post(c),
        ConnectionClosedError,
        'ERR_CONNECTION_CLOSED',
        `connection to ${c.address.display} closed before any response byte`,
        (e) => {
          assert.equal(e['beforeResponse'], true);
          assert.equal(e['address'], c.address.display);
        },
      );
      assert.equal(s.connections, 1);
    });

    test('an idle connection closed by the server is replaced', async () => {
      const s = await serve(
        (_req, sock) => {
          sock.write(ok('x'));
          setTimeout(() => sock.end(), 5);
        },
        { unix },
      );
      const c = client(s);
      await post(c);
      await waitFor(() => s.openSockets.size === 0, 'the client to drop the closed connection');
      assert.equal((await post(c)).body, 'x');
      assert.equal(s.connections, 2);
    });

    test('an idempotent request on a reused connection closed (EOF) is retried once', async () => {
      const s = await dropsSecondRequest('end', { unix });
      const c = client(s);
      assert.equal((await post(c)).body, 'conn0');
      assert.equal((await postIdempotent(c)).body, 'conn1');
      assert.equal(s.connections, 2);
    });

    test('a request not marked idempotent on a reused connection closed (EOF) is sent once and fails', async () => {
      const s = await dropsSecondRequest('end', { unix, everyConnection: true });
      const c = client(s);
      const variants: Array<HttpRequestOptions | undefined> = [undefined, {}, { idempotent: false }, { idempotent: undefined }];
      for (const [i, opts] of variants.entries()) {
        assert.equal((await post(c)).body, `conn${i}`, 'a fresh connection, kept alive');
        await rejects(
          post(c, 'startProcess', opts),
          ConnectionClosedError,
          'ERR_CONNECTION_CLOSED',
          `connection to ${c.address.display} closed before any response byte`,
          (e) => assert.equal(e['beforeResponse'], true),
        );
        assert.equal(s.requests.length, 2 * (i + 1), `${inspect(opts)}: the request reached the server once`);
        assert.equal(s.requests.at(-1)!.body.toString(), 'startProcess');
        assert.equal(s.connections, i + 1, `${inspect(opts)}: no connection was opened for a retry`);
      }
    });

    test('an idempotent request whose fresh retry fails too gives up after one retry', async () => {
      const s = await serve(
        (req, sock) => {
          if (req.connection === 0 && req.indexOnConnection === 0) sock.write(ok('first'));
          else sock.end();
        },
        { unix },
      );
      const c = client(s);
      await post(c);
      await rejects(
        postIdempotent(c),
        ConnectionClosedError,
        'ERR_CONNECTION_CLOSED',
        `connection to ${c.address.display} closed before any response byte`,
      );
      assert.equal(s.connections, 2);
      assert.equal(s.requests.length, 3);
    });

    test('a server that accepts and never answers hits the deadline', async () => {
      const s = await serve(() => {}, { unix });
      const c = client(s, { timeoutMs: 150 });
      const started = Date.now();
      await rejects(post(c), TimeoutError, 'ERR_DEADLINE', `no complete answer from ${c.address.display} within 150 ms`, (e) => {
        assert.equal(e['timeoutMs'], 150);
      });
      assert.ok(Date.now() - started < 1000);
      await waitFor(() => s.openSockets.size === 0, 'the socket to be destroyed');
    });

    test('a server dripping one byte at a time still hits the deadline', async () => {
      const response = ok('x'.repeat(500));
      const s = await serve(
        (_req, sock) => {
          let i = 0;
          const timer = setInterval(() => {
            if (sock.destroyed || i >= response.length) clearInterval(timer);
            else sock.write(response.subarray(i, ++i));
          }, 5);
          sock.on('close', () => clearInterval(timer));
        },
        { unix },
      );
      const c = client(s, { timeoutMs: 200 });
      await rejects(post(c), TimeoutError, 'ERR_DEADLINE', `no complete answer from ${c.address.display} within 200 ms`);
    });

    test('close() rejects the pending and queued calls and later calls', async () => {
      const s = await serve(() => {}, { unix });
      const c = client(s);
      const pending = [post(c), post(c), post(c)];
      await sleep(20);
      const closed = c.close();
      for (const p of pending) {
        await rejects(p, ClientClosedError, 'ERR_CLIENT_CLOSED', `client for ${c.address.display} closed while the call was pending`);
      }
      await closed;
      await rejects(post(c), ClientClosedError, 'ERR_CLIENT_CLOSED', `client for ${c.address.display} is closed`);
      await c.close(); // idempotent
      await waitFor(() => s.openSockets.size === 0, 'the socket to be closed');
    });

    test('headers over maxHeaderBytes reject and drop the connection', async () => {
      const s = await serve(
        (req, sock) => {
          if (req.connection === 0) sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(300)}\r\n\r\n`);
          else sock.write(ok('small'));
        },
        { unix },
      );
      const c = client(s, { maxHeaderBytes: 128 });
      await rejects(post(c), HeaderSizeError, 'ERR_HTTP_HEADERS_TOO_LARGE', `response headers from ${c.address.display} larger than 128 bytes`);
      assert.equal((await post(c)).body, 'small');
      assert.equal(s.connections, 2);
    });

    test('a 1 GB Content-Length is refused before reading the body', async () => {
      const s = await serve((_req, sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n<methodResponse>'), { unix });
      const c = client(s, { maxBodyBytes: 1024 * 1024 });
      let bodyBytes = 0;
      const p = c.request(Buffer.from('x'), () => ({ ...collect(), onBody: (b) => (bodyBytes += b.length) }));
      await rejects(
        p,
        BodySizeError,
        'ERR_HTTP_BODY_TOO_LARGE',
        `response body from ${c.address.display} announces 1073741824 bytes, more than the limit of 1048576`,
      );
      assert.equal(bodyBytes, 0);
    });

    test('garbage status line is HttpParseError', async () => {
      const s = await serve((_req, sock) => sock.write('SSH-2.0-OpenSSH_9.6\r\n'), { unix });
      const c = client(s);
      await rejects(
        post(c),
        HttpParseError,
        'ERR_HTTP_PARSE',
        `invalid status line: expected "HTTP/1.x NNN" at byte 0 of the response from ${c.address.display}: "SSH-2.0-OpenSSH_9.6"`,
      );
    });
  });
}

describe('reads land in reused per-connection memory (onread and body batches)', () => {
  const transports: Array<[string, RawServerOptions, Partial<HttpClientOptions>]> = [
    ['tcp', {}, {}],
    ['a unix socket', { unix: true }, {}],
    ['tls', { tls: true }, { tls: { ca: TEST_TLS_CERT } }],
  ];
  for (const [name, serverOptions, clientOptions] of transports) {
    test(`over ${name}: body chunks of every call are views of two buffers, small reads are batched, bytes intact`, async () => {
      const line = (i: number): string => `<line n="${i}">é ü ${'x'.repeat(i % 50)}</line>\n`;
      const text = (lines: number): string => Array.from({ length: lines }, (_, i) => line(i)).join('');
      // 1: ~40 KB dribbled in small pieces (batched); 2: ~190 KB in one write
      // (large reads go straight through); 3: chunked, dribbled.
      const bodies = [text(900), text(4500), text(300)];
      const chunked = (body: string): Buffer => {
        const b = Buffer.from(body);
        const parts = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
        for (let at = 0; at < b.length; at += 3000) {
          const piece = b.subarray(at, at + 3000);
          parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
        }
        parts.push(Buffer.from('0\r\n\r\n'));
        return Buffer.concat(parts);
      };
      const answers = [ok(bodies[0]!), ok(bodies[1]!), chunked(bodies[2]!)];
      const cutsOf = (bytes: Buffer): number[] => {
        // Inside the status line, a header, then every 997 bytes.
        const cuts = [3, 20, 50];
        for (let at = 997; at < bytes.length; at += 997) cuts.push(at);
        return cuts;
      };
      const s = await serve((req, sock) => {
        const bytes = answers[req.indexOnConnection]!;
        if (req.indexOnConnection === 1) sock.write(bytes);
        else writeInPieces(sock, bytes, cutsOf(bytes), 1);
      }, serverOptions);
      const c = client(s, clientOptions);
      const memory = new Set<ArrayBufferLike>();
      const viewing = (calls: number[]) => (): HttpExchange<Result> => {
        const inner = collect();
        calls.push(0);
        return {
          ...inner,
          onBody: (chunk) => {
            memory.add(chunk.buffer);
            calls[calls.length - 1]!++;
            inner.onBody(chunk);
          },
        };
      };
      const bodyCalls: number[] = [];
      for (const body of bodies) assert.deepEqual(await c.request(Buffer.from('x'), viewing(bodyCalls)), { status: 200, body });
      assert.equal(s.connections, 1);
      // ~40 pieces of the first answer reach the exchange in one 64 KiB batch
      // (A few more if a loaded machine lets 16 KiB pile up into one read, which goes straight through.)
      assert.ok(bodyCalls[0]! <= 5, `first answer: ${bodyCalls[0]} body calls for ${cutsOf(answers[0]!).length + 1} pieces`);
      assert.ok(bodyCalls[1]! >= 3, `second answer: ${bodyCalls[1]} body calls for ${answers[1]!.length} bytes`);
      // The read buffer and the batch buffer: no memory per read.
      assert.ok(memory.size <= 2, `body chunks came from ${memory.size} different buffers`);
    });
  }
});

describe('what a connection holds between calls', () => {
  /** An answer of `n` bytes of `fill`, written in 1 KiB pieces 1 ms apart (small reads: batched), or at once. */
  const answer = (fill: string, n: number): Buffer => ok(fill.repeat(n));
  const dribble = (sock: net.Socket, bytes: Buffer): void =>
    writeInPieces(sock, bytes, Array.from({ length: Math.floor(bytes.length / 1024) }, (_, i) => (i + 1) * 1024), 1);

  test('a response holds one body batch while it arrives; an idle connection none (at most 16 are kept for reuse)', async () => {
    const release: Array<() => void> = [];
    // The first 4 KB of a 40 KB answer (reads too small to skip the batch, however they pile up), then nothing until released.
    const s = await serve((req, sock) => {
      const bytes = answer(String.fromCharCode(97 + (req.connection % 26)), 40_000);
      writeInPieces(sock, bytes.subarray(0, 4_000), [2_000], 1);
      release.push(() => dribble(sock, bytes.subarray(4_000)));
    });
    const k = 20;
    const before = freeBodyBatches();
    const cs = Array.from({ length: k }, () => client(s));
    const calls = cs.map((c) => c.request(Buffer.from('x'), collect));
    while (release.length < k) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Every response has taken a batch: the free list gave what it had.
    assert.equal(freeBodyBatches(), 0, `free batches while ${k} responses arrive (${before} before)`);
    for (const go of release) go();
    const results = await Promise.all(calls);
    results.forEach((r) => assert.equal(r.body.length, 40_000));
    assert.equal(new Set(results.map((r) => r.body[0])).size, k, 'each connection its own bytes');
    // Idle: every batch was given back (16 kept, the rest left to the garbage collector).
    assert.equal(freeBodyBatches(), 16);
  });

  test('after an idle period, on the same connection: a large answer in small reads and in large ones decodes whole', async () => {
    const big = 'supervisord '.repeat(25_000); // 300 KB
    const s = await serve((req, sock) => {
      if (req.indexOnConnection === 0) sock.write(ok('small'));
      else if (req.indexOnConnection === 1) dribble(sock, ok(big));
      else sock.write(ok(big));
    });
    const c = client(s);
    assert.deepEqual(await c.request(Buffer.from('x'), collect), { status: 200, body: 'small' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await c.request(Buffer.from('x'), collect), { status: 200, body: big });
    assert.deepEqual(await c.request(Buffer.from('x'), collect), { status: 200, body: big });
    assert.equal(s.connections, 1);
  });

  test('many connections reading at once into the one read buffer: every answer its own bytes', async () => {
    const s = await serve((req, sock) => {
      // Distinct content per connection, cut at odd places so reads interleave.
      const body = `${req.connection}:`.padEnd(7, '.').repeat(3_000);
      writeInPieces(sock, ok(body), [7, 333, 4_097, 9_001, 15_000], 1);
    });
    const cs = Array.from({ length: 24 }, () => client(s));
    const results = await Promise.all(cs.map((c) => c.request(Buffer.from('x'), collect)));
    const seen = results.map((r) => r.body.slice(0, r.body.indexOf(':')));
    assert.equal(new Set(seen).size, 24);
    for (const r of results) assert.equal(r.body, r.body.slice(0, 7).repeat(3_000));
  });
});

describe('tcp only', () => {
  test('Host header brackets an IPv6 literal and carries the port', async () => {
    const seen: string[] = [];
    const six = net.createServer((sock) => {
      sock.once('data', (d) => {
        seen.push(d.toString('latin1'));
        sock.end(ok('y'));
      });
    });
    await new Promise<void>((r) => six.listen(0, '::1', r));
    try {
      const port = (six.address() as net.AddressInfo).port;
      assert.equal((await post(client(`http://[::1]:${port}/RPC2`))).body, 'y');
      assert.match(seen[0]!, new RegExp(`^POST /RPC2 HTTP/1.1\r\nHost: \\[::1\\]:${port}\r\n`));
    } finally {
      six.close();
    }
  });

  test('a reset before the status line on a fresh connection is not retried', async () => {
    const s = await serve((_req, sock) => sock.resetAndDestroy());
    const c = client(s);
    await rejectsResetBeforeAnswer(post(c), c);
    assert.equal(s.connections, 1);
  });

  test('a reset in the middle of the body', async () => {
    const s = await serve((_req, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n<methodResp');
      setTimeout(() => sock.resetAndDestroy(), 20);
    });
    const c = client(s);
    await rejects(
      post(c),
      ConnectionClosedError,
      'ERR_CONNECTION_CLOSED',
      `connection to ${c.address.display} failed with ECONNRESET before the response was complete`,
      (e) => {
        assert.equal(e['beforeResponse'], false);
        assert.equal(e['osCode'], 'ECONNRESET');
      },
    );
  });

  test('an idempotent request on a reused connection reset is retried once on a fresh connection', async () => {
    const s = await dropsSecondRequest('reset');
    const c = client(s);
    assert.equal((await post(c)).body, 'conn0');
    assert.equal((await postIdempotent(c)).body, 'conn1');
    assert.equal(s.connections, 2);
    assert.equal(s.requests.length, 3);
  });

  test('a request not marked idempotent on a reused connection reset is sent once and fails', async () => {
    const s = await dropsSecondRequest('reset');
    const c = client(s);
    assert.equal((await post(c)).body, 'conn0');
    await rejectsResetBeforeAnswer(post(c, 'startProcess'), c);
    assert.equal(s.requests.length, 2, 'the request reached the server once');
    assert.equal(s.requests[1]!.body.toString(), 'startProcess');
    assert.equal(s.connections, 1, 'no connection was opened for a retry');
    // The client recovers on a fresh connection.
    assert.equal((await post(c)).body, 'conn1');
  });

  test('an idle connection reset by the server is replaced', async () => {
    const s = await serve((req, sock) => {
      sock.write(ok(`conn${req.connection}`));
      if (req.connection === 0) setTimeout(() => sock.resetAndDestroy(), 5);
    });
    const c = client(s);
    assert.equal((await post(c)).body, 'conn0');
    await sleep(40);
    assert.equal((await post(c)).body, 'conn1');
    assert.equal(s.requests.length, 2, 'no retry was needed');
  });

  test('connection refused', async () => {
    const s = await startServer(() => {});
    const port = s.port;
    await s.close();
    const c = client(tcpAddress('127.0.0.1', port));
    await rejects(
      post(c),
      ConnectError,
      'ERR_CONNECT',
      `connect ECONNREFUSED 127.0.0.1:${port} (http://127.0.0.1:${port}/RPC2)`,
      (e) => {
        assert.equal(e['osCode'], 'ECONNREFUSED');
        assert.equal(e['address'], `http://127.0.0.1:${port}/RPC2`);
      },
    );
  });

  test('connect timeout (a TLS server that never completes the handshake)', async () => {
    const silent = net.createServer(() => {});
    const sockets = new Set<net.Socket>();
    silent.on('connection', (sock) => sockets.add(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const c = client(`https://127.0.0.1:${port}/RPC2`, { connectTimeoutMs: 100 });
      await rejects(
        post(c),
        TimeoutError,
        'ERR_CONNECT_TIMEOUT',
        `connecting to https://127.0.0.1:${port}/RPC2 timed out after 100 ms`,
        (e) => assert.equal(e['timeoutMs'], 100),
      );
    } finally {
      for (const sock of sockets) sock.destroy();
      silent.close();
    }
  });

  test('https with the server certificate as CA', async () => {
    const s = await serve((_req, sock) => sock.write(ok('secure')), { tls: true });
    assert.equal((await post(client(s, { tls: { ca: TEST_TLS_CERT } }))).body, 'secure');
    assert.equal((await post(client(`https://localhost:${s.port}/RPC2`, { tls: { ca: [TEST_TLS_CERT] } }))).body, 'secure');
    assert.equal((await post(client(s, { tls: { rejectUnauthorized: false, servername: 'localhost' } }))).body, 'secure');
  });

  test('https with an untrusted certificate is a ConnectError', async () => {
    const s = await serve((_req, sock) => sock.write(ok('secure')), { tls: true });
    const c = client(s);
    await rejects(
      post(c),
      ConnectError,
      'ERR_CONNECT',
      new RegExp(`^tls handshake with ${s.url.replace(/\./g, '\\.')} failed: .*certificate.* \\((SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)\\)$`),
      (e) => assert.match(String(e['osCode']), /SELF_SIGNED/),
    );
  });

  test('bytes after a complete response drop the connection', async () => {
    const s = await serve((req, sock) => {
      if (req.connection === 0 && req.indexOnConnection === 0) sock.write(Buffer.concat([ok('a'), Buffer.from('junk')]));
      else if (req.connection === 1 && req.indexOnConnection === 0) {
        sock.write(ok('b'));
        setTimeout(() => sock.write('late junk'), 10);
      } else sock.write(ok('c'));
    });
    const c = client(s);
    assert.equal((await post(c)).body, 'a');
    assert.equal((await post(c)).body, 'b');
    await waitFor(() => s.openSockets.size === 0, 'the client to drop the connection that got late junk');
    assert.equal((await post(c)).body, 'c');
    assert.deepEqual(
      s.requests.map((r) => r.connection),
      [0, 1, 2],
    );
  });

  test('exchange errors: onEnd keeps the connection, onBody and makeExchange drop it', async () => {
    const s = await serve((_req, sock) => sock.write(ok('body')));
    const c = client(s);
    const endError = new Error('decode failed');
    await assert.rejects(
      c.request(Buffer.from('x'), () => ({
        ...collect(),
        onEnd: () => {
          throw endError;
        },
      })),
      (e) => e === endError,
    );
    assert.equal((await post(c)).body, 'body');
    assert.equal(s.connections, 1);
    const bodyError = new Error('bad body');
    await assert.rejects(
      c.request(Buffer.from('x'), () => ({
        ...collect(),
        onBody: () => {
          throw bodyError;
        },
      })),
      (e) => e === bodyError,
    );
    assert.equal((await post(c)).body, 'body');
    assert.equal(s.connections, 2);
    const makeError = new Error('cannot start');
    await assert.rejects(
      c.request(Buffer.from('x'), () => {
        throw makeError;
      }),
      (e) => e === makeError,
    );
    assert.equal((await post(c)).body, 'body');
  });

  test('an empty body is refused without sending anything', async () => {
    const s = await serve((_req, sock) => sock.write(ok('x')));
    const c = client(s);
    await assert.rejects(c.request(Buffer.alloc(0), collect), {
      name: 'TypeError',
      message: 'request body must be a non-empty Uint8Array: supervisord never answers Content-Length: 0',
    });
    await assert.rejects(c.request('x' as unknown as Uint8Array, collect), { name: 'TypeError' });
    assert.equal(s.connections, 0);
  });

  test('a call queued behind a hanging one still ends at its deadline', async () => {
    const s = await serve(() => {});
    const c = client(s, { timeoutMs: 120 });
    const first = post(c);
    const second = post(c);
    await rejects(first, TimeoutError, 'ERR_DEADLINE', `no complete answer from ${c.address.display} within 120 ms`);
    await rejects(second, TimeoutError, 'ERR_DEADLINE', `no complete answer from ${c.address.display} within 120 ms`);
  });

  test('an idle connection is closed after idleTimeoutMs', async () => {
    const s = await serve((_req, sock) => sock.write(ok('x')));
    const c = client(s, { idleTimeoutMs: 30 });
    await post(c);
    assert.equal(s.openSockets.size, 1);
    await waitFor(() => s.openSockets.size === 0, 'the idle timeout to close the connection', 1000);
    await post(c);
    assert.equal(s.connections, 2);
  });

  test('a process that makes one call and never closes exits promptly (idle socket unref)', async () => {
    const s = await serve((_req, sock) => sock.write(ok('child')));
    // It imports a world-readable copy of the compiled tree (the checkout may be private).
    const tree = compiledTreeForNobody();
    const mod = tree.file('protocol/http-client.js');
    const addr = tree.file('protocol/address.js');
    const script = `
      import { HttpClient, HTTP_DEFAULTS } from ${JSON.stringify(mod)};
      import { parseAddress } from ${JSON.stringify(addr)};
      const c = new HttpClient(parseAddress(${JSON.stringify(s.url)}).address, { ...HTTP_DEFAULTS });
      const chunks = [];
      const r = await c.request(Buffer.from('x'), () => ({ onHead() {}, onBody(b) { chunks.push(Buffer.from(b)); }, onEnd() { return Buffer.concat(chunks).toString(); } }));
      console.log(r);`;
    const started = Date.now();
    let result: Awaited<ReturnType<typeof runNode>>;
    try {
      result = await runNode(['--input-type=module', '-e', script]);
    } finally {
      tree.remove();
    }
    const { code, stdout } = result;
    const elapsed = Date.now() - started;
    assert.equal(code, 0);
    assert.equal(stdout.trim(), 'child');
    assert.ok(elapsed < HTTP_DEFAULTS.idleTimeoutMs / 2, `child took ${elapsed} ms: the idle socket kept it alive`);
    assert.equal(s.connections, 1);
  });
});

describe('unix socket failures', () => {
  test('missing socket file is ENOENT', async () => {
    const m = missingSocketPath();
    try {
      const c = client(unixAddress(m.socketPath));
      await rejects(post(c), ConnectError, 'ERR_CONNECT', `connect ENOENT ${m.socketPath} (unix://${m.socketPath})`, (e) =>
        assert.equal(e['osCode'], 'ENOENT'),
      );
    } finally {
      m.cleanup();
    }
  });

  test('a socket path below a regular file is ENOTDIR', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-notdir-'));
    try {
      const file = path.join(dir, 'file');
      fs.writeFileSync(file, '');
      const socketPath = path.join(file, 's.sock');
      const c = client(unixAddress(socketPath));
      await rejects(post(c), ConnectError, 'ERR_CONNECT', `connect ENOTDIR ${socketPath} (unix://${socketPath})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a socket without permission is EACCES', async (t) => {
    const s = await serve((_req, sock) => sock.write(ok('x')), { unix: true });
    if (process.getuid?.() !== 0) {
      fs.chmodSync(s.socketPath, 0o000);
      const c = client(unixAddress(s.socketPath));
      await rejects(post(c), ConnectError, 'ERR_CONNECT', `connect EACCES ${s.socketPath} (unix://${s.socketPath})`);
      return;
    }
    // Root ignores file permissions: connect as "nobody" from a child process.
    // The socket's directory (mkdtemp, mode 0700, owned by root) is closed to it.
    // It imports a world-readable copy of the compiled tree (the checkout may be private).
    const tree = compiledTreeForNobody();
    const mod = tree.file('protocol/http-client.js');
    const addr = tree.file('protocol/address.js');
    const script = `
      import { HttpClient, HTTP_DEFAULTS } from ${JSON.stringify(mod)};
      import { unixAddress } from ${JSON.stringify(addr)};
      const c = new HttpClient(unixAddress(${JSON.stringify(s.socketPath)}), { ...HTTP_DEFAULTS });
      try {
        await c.request(Buffer.from('x'), () => ({ onHead() {}, onBody() {}, onEnd() {} }));
        console.log('{}');
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, osCode: e.osCode, message: e.message }));
      }`;
    let result: { code: number | null; stdout: string; stderr: string };
    try {
      result = await runNode(['--input-type=module', '-e', script], { ...NOBODY, cwd: os.tmpdir(), env: envForNobody() });
    } catch (error) {
      t.skip(`cannot run a child process as uid 65534: ${String(error)}`);
      return;
    } finally {
      tree.remove();
    }
    if (result.code !== 0) {
      t.skip(`child process as uid 65534 failed (exit ${result.code}): ${result.stderr.slice(0, 200)}`);
      return;
    }
    assert.deepEqual(JSON.parse(result.stdout), {
      name: 'ConnectError',
      code: 'ERR_CONNECT',
      osCode: 'EACCES',
      message: `connect EACCES ${s.socketPath} (unix://${s.socketPath})`,
    });
  });
});

function runNode(
  args: string[],
  extra: { uid?: number; gid?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...extra });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', (e) => {
      clearTimeout(kill);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}
