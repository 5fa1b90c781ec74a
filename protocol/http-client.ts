/**
 * A minimal HTTP/1.1 client for XML-RPC POSTs, built directly on `node:net`
 * and `node:tls` (not `node:http`, whose agent, header handling and
 * `Connection` semantics do not fit supervisord's medusa server).
 *
 * What supervisord's HTTP server requires (see protocol/README.md) and how it is met:
 * - headers written as `Name: value` with one space, CRLF, headers and body in
 *   one write; never `Content-Length: 0`, `Expect` or a chunked request;
 * - one request in flight per connection: calls are queued FIFO on the
 *   client's single connection, which is kept alive between calls;
 * - the server never says `Connection: close` when closing: responses are
 *   framed by `Content-Length` and an early EOF is a truncated response;
 * - after a 401 the server keeps the socket open but never answers on it
 *   again: a connection is destroyed after any non-200 answer, a
 *   `Connection: close`, an HTTP/1.0 answer without keep-alive, or any error;
 * - the server never reaps idle connections but may be restarted under us, so
 *   a REUSED connection can fail before the first response byte (reset,
 *   EPIPE, EOF). The server may or may not have executed the request by then.
 *   A request the caller marked idempotent (see {@link HttpRequestOptions}) is
 *   retried once on a fresh connection; any other request fails, since
 *   sending it again could run it twice (a `startProcess`, say). A fresh
 *   connection is never retried.
 *
 * Timers: `connectTimeoutMs` bounds the TCP/TLS connect; `timeoutMs` is the
 * deadline of the whole call, starting when `request()` is called, so it
 * includes waiting in the queue, connecting, a retry, and the full response
 * including the caller's decoding (a server dripping one byte at a time still
 * hits it). `idleTimeoutMs` closes a kept-alive connection nobody used. The
 * idle socket and its timer are `unref()`ed: a process that forgot `close()`
 * still exits.
 *
 * Reads use net's `onread` option into one buffer per connection, not 'data'
 * events, and small reads reach the exchange in batches: see
 * READ_BUFFER_BYTES and BODY_BATCH_BYTES for why and what it costs.
 *
 * Nothing thrown from a socket callback escapes: the pending call is rejected
 * and the socket destroyed.
 *
 * @module
 */

import * as net from 'node:net';
import * as tls from 'node:tls';
import { domainToASCII } from 'node:url';

import type { Address } from './address.js';
import { ClientClosedError, ConnectError, ConnectionClosedError, TimeoutError } from './errors.js';
import { HttpResponseParser } from './http-response-parser.js';
import type { HttpResponseHead, HttpResponseSink } from './http-response-parser.js';

/** TLS settings passed to `tls.connect` for `https` addresses. */
export interface HttpTlsOptions {
  /** Trusted CA certificates (PEM), replacing Node's default list. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Client certificate (PEM), for servers behind a proxy that asks for one. */
  cert?: string | Buffer;
  /** Client private key (PEM). */
  key?: string | Buffer;
  /** SNI and certificate name to check; defaults to the host when it is a name, not an IP. */
  servername?: string;
}

/**
 * Settings of an {@link HttpClient}. All fields are required here: the
 * public entry ({@link XmlRpcClient}) validates user input and applies the
 * defaults listed in {@link HTTP_DEFAULTS}.
 */
export interface HttpClientOptions {
  username?: string | undefined;
  password?: string | undefined;
  connectTimeoutMs: number;
  timeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  tls?: HttpTlsOptions | undefined;
}

/** Settings of one {@link HttpClient.request}. */
export interface HttpRequestOptions {
  /**
   * Whether the request may safely reach the server twice (default false).
   * Only an idempotent request is retried, once, when a reused kept-alive
   * connection fails (reset, EPIPE, EOF) before the first response byte: the
   * server may have executed the first attempt before the connection broke.
   */
  idempotent?: boolean | undefined;
}

/**
 * Default limits and timeouts.
 *
 * `idleTimeoutMs` is 10 s: below the Datadog Agent's 15 s check interval, so
 * the calls of one check run share a connection but a connection does not
 * linger, half-forgotten, between runs (supervisord never reaps it).
 */
export const HTTP_DEFAULTS = Object.freeze({
  connectTimeoutMs: 5_000,
  timeoutMs: 10_000,
  idleTimeoutMs: 10_000,
  maxHeaderBytes: 64 * 1024,
  maxBodyBytes: 256 * 1024 * 1024,
});

/**
 * Receives one response. Created afresh for each attempt (a retried call gets
 * a new exchange; the failed attempt's exchange saw no byte). A throw from
 * `onHead` or `onBody` rejects the call and destroys the connection; a throw
 * from `onEnd` rejects the call but keeps the connection, whose response was
 * completely and correctly framed.
 */
export interface HttpExchange<T> {
  /** Status line and headers; throw to refuse the response (e.g. a non-200 status). */
  onHead(head: HttpResponseHead): void;
  /**
   * Body bytes, in order: a view of memory the connection reuses (its read
   * buffer, or the batch small reads are gathered in), valid only during the
   * call. Copy what you keep.
   */
  onBody(chunk: Uint8Array): void;
  /** The body ended; return the call's result. */
  onEnd(): T;
}

const USER_AGENT = 'supervisord-check';

/**
 * Size of the one buffer every connection reads into, through net's `onread`
 * option (TCP, unix sockets and TLS alike) instead of 'data' events.
 *
 * Why: supervisord writes a large answer 4 KiB per turn of its event loop, so
 * a getAllProcessInfo answer of a megabyte reaches us in hundreds of reads,
 * and per-read overhead, not parsing, is most of our CPU. A 'data' event
 * costs a fresh Buffer plus the Readable machinery (push, emit) per read;
 * `onread` hands the bytes to the parser straight from the socket. Against a
 * real supervisord with 1,000 programs, `onread` (with the body batches
 * below) cut our CPU per getAllProcessInfo to a fraction of what 'data'
 * events cost, over unix sockets and TCP alike (see bench/check.js).
 * Size: 16, 64 and 256 KiB did alike (with a server writing 4 KiB at a time
 * every read is ~4 KiB). 64 KiB is what Node's own stream reads use and keeps
 * reads few when a fast server or a proxy sends in bulk.
 *
 * The price: a chunk is a view of this buffer and is overwritten by the next
 * read, of this connection or of another. Whatever outlives the callback is
 * copied: the HTTP parser copies a
 * partial status line, header or trailer line into its own buffer and builds
 * header strings; the XML-RPC decoder copies the cut token it carries to the
 * next write; {@link HttpExchange.onBody} receivers must do the same.
 * Nothing here relies on pause()/'data' flow control: the callback never
 * returns false, and a response is bounded by the deadline and maxBodyBytes.
 *
 * One buffer for every connection of the process, not one each: a read's
 * callback runs to its end before any other read (of any socket) can start,
 * and an idle kept-alive connection then costs no buffer at all (a process
 * keeping 10,000 connections to as many servers held 640 MB of read buffers
 * otherwise; bench/fleet.js).
 */
const READ_BUFFER_BYTES = 64 * 1024;
const READ_BUFFER = Buffer.allocUnsafe(READ_BUFFER_BYTES);

/**
 * Body bytes gathered before the exchange (the XML-RPC decoder) sees them;
 * reads of at least DIRECT_BODY_BYTES go to it directly, uncopied.
 *
 * Why: each of the hundreds of reads of a large answer comes after an idle
 * gap of milliseconds (supervisord walking its processes), and work done
 * right after a wake-up runs cold: decoding each 4 KiB read as it came cost
 * several times the CPU the same bytes take to decode in one pass. Copying
 * small reads into a batch costs only a memcpy. With a server pacing 4 KiB
 * writes, 64 KiB batches cost the least CPU per call: 16 KiB saved less,
 * 256 KiB no more (see bench/check.js for the real server).
 *
 * The price: a decode error inside a batch surfaces when the batch is
 * handed over: when it is full, when the response is complete, when the
 * connection ends or fails (the batch is drained first, so the decode error,
 * not the transport error, is reported), or at the deadline. A server that
 * sends a malformed body and then stalls is therefore reported at the
 * deadline instead of at once, with the decode error.
 *
 * A batch belongs to one response while it arrives (responses on several
 * connections arrive interleaved) and goes back to a small free list when
 * the response ends, so an idle connection holds none.
 */
const BODY_BATCH_BYTES = 64 * 1024;
/** Batches kept for reuse once their responses ended: as many as responses usually arrive at once. */
const FREE_BATCHES_MAX = 16;
const freeBatches: Buffer[] = [];

function takeBatch(): Buffer {
  return freeBatches.pop() ?? Buffer.allocUnsafe(BODY_BATCH_BYTES);
}

function returnBatch(batch: Buffer): void {
  if (freeBatches.length < FREE_BATCHES_MAX) freeBatches.push(batch);
}
const DIRECT_BODY_BYTES = 16 * 1024;
/** Errors that mean "the peer dropped the connection", as opposed to a local failure. */
const RETRYABLE_OS_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

interface Call {
  readonly body: Uint8Array;
  readonly makeExchange: () => HttpExchange<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  deadline: NodeJS.Timeout | undefined;
  /** Attempts left after a reused connection failed before any response byte: 1 for an idempotent request, else 0. */
  retries: number;
  settled: boolean;
}

/** One attempt of a call on one connection. */
interface Attempt {
  readonly call: Call;
  readonly reused: boolean;
  readonly exchange: HttpExchange<unknown>;
  readonly parser: HttpResponseParser;
  head: HttpResponseHead | null;
  gotBytes: boolean;
  /** Body bytes waiting in `batch` for the exchange. */
  batched: number;
  /** Where small body reads gather (see BODY_BATCH_BYTES); taken at the first one, given back when the attempt ends. */
  batch: Buffer | undefined;
}

interface Connection {
  readonly socket: net.Socket;
  connected: boolean;
  dead: boolean;
  attempt: Attempt | null;
  connectTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * HTTP/1.1 POST client holding at most one connection to one address.
 * Internal building block of {@link XmlRpcClient}.
 */
export class HttpClient {
  /** Where the client connects. */
  readonly address: Address;
  readonly #options: HttpClientOptions;
  /** Request head up to `Content-Length: `, and everything after its value, built once. */
  readonly #headPrefix: Buffer;
  readonly #headSuffix: Buffer;
  readonly #connectHost: string;

  #queue: Call[] = [];
  #active: Call | null = null;
  #conn: Connection | null = null;
  /** A connection closing gracefully ({@link HttpClient.closeGracefully}): {@link HttpClient.close} cuts it. */
  #ending: Connection | null = null;
  #closed = false;

  constructor(address: Address, options: HttpClientOptions) {
    this.address = address;
    this.#options = options;
    let hostHeader = 'localhost'; // what supervisorctl sends over a unix socket
    this.#connectHost = '';
    if (address.kind === 'tcp') {
      // IDN host names travel as punycode in the Host header and to the resolver.
      const host = isAscii(address.host) ? address.host : domainToASCII(address.host) || address.host;
      this.#connectHost = host;
      const shown = host.includes(':') ? `[${host}]` : host;
      hostHeader = address.port === (address.tls ? 443 : 80) ? shown : `${shown}:${address.port}`;
    }
    const auth =
      options.username !== undefined && options.password !== undefined
        ? `Authorization: Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}\r\n`
        : '';
    this.#headPrefix = Buffer.from(
      `POST ${address.path} HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: text/xml\r\nContent-Length: `,
      'latin1',
    );
    this.#headSuffix = Buffer.from(`\r\n${auth}User-Agent: ${USER_AGENT}\r\n\r\n`, 'latin1');
  }

  /**
   * POSTs `body` and streams the response into a fresh exchange.
   *
   * @param body the request body; must not be empty (supervisord hangs on
   *   `Content-Length: 0`).
   * @param makeExchange creates the receiver of the response, once per attempt.
   * @param options `idempotent` (default false): see {@link HttpRequestOptions}.
   * @returns what the exchange's `onEnd` returns.
   * @throws (rejects) {@link ConnectError}, {@link ConnectionClosedError},
   *   {@link TimeoutError} (`ERR_CONNECT_TIMEOUT`, `ERR_DEADLINE`),
   *   {@link HttpParseError}, {@link HeaderSizeError}, {@link BodySizeError},
   *   {@link ClientClosedError}, or whatever the exchange throws.
   */
  request<T>(body: Uint8Array, makeExchange: () => HttpExchange<T>, options: HttpRequestOptions = {}): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new ClientClosedError(`client for ${this.address.display} is closed`));
    }
    if (!(body instanceof Uint8Array) || body.length === 0) {
      return Promise.reject(new TypeError('request body must be a non-empty Uint8Array: supervisord never answers Content-Length: 0'));
    }
    // Headers and body in one buffer, so one write (and usually one segment).
    const length = String(body.length);
    const bytes = Buffer.allocUnsafe(this.#headPrefix.length + length.length + this.#headSuffix.length + body.length);
    let at = this.#headPrefix.copy(bytes, 0);
    at += bytes.write(length, at, 'latin1');
    at += this.#headSuffix.copy(bytes, at);
    bytes.set(body, at);
    return new Promise<T>((resolve, reject) => {
      const call: Call = {
        body: bytes,
        makeExchange,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: undefined,
        retries: options.idempotent === true ? 1 : 0,
        settled: false,
      };
      const ms = this.#options.timeoutMs;
      call.deadline = setTimeout(() => {
        call.deadline = undefined;
        this.#onDeadline(call);
      }, ms);
      this.#queue.push(call);
      this.#pump();
    });
  }

  /**
   * Destroys the connection and rejects the pending and queued calls with
   * {@link ClientClosedError}. Later calls reject the same way. Resolves once
   * the socket is closed. Idempotent.
   */
  close(): Promise<void> {
    this.#closed = true;
    const error = (): ClientClosedError =>
      new ClientClosedError(`client for ${this.address.display} closed while the call was pending`);
    const queued = this.#queue;
    this.#queue = [];
    for (const call of queued) this.#reject(call, error());
    const active = this.#active;
    this.#active = null;
    if (active !== null) this.#reject(active, error());
    const open = [this.#conn, this.#ending].filter((c): c is Connection => c !== null && !c.socket.closed);
    this.#conn = null;
    this.#ending = null;
    return Promise.all(
      open.map(
        (conn) =>
          new Promise<void>((resolve) => {
            conn.socket.once('close', () => resolve());
            this.#destroy(conn);
          }),
      ),
    ).then(() => undefined);
  }

  /**
   * Closes an idle kept-alive connection so that the server has let it go
   * when this resolves: half-closes it (the server reads end of file) and
   * waits for the server to close its side. supervisord notices a closed
   * connection only at the next turn of its loop, and until then still holds
   * its descriptor: a connection opened in its place at once would be one
   * more. Without an idle connection (none, or a call under way or queued),
   * or when the server has not closed within `graceMs`, the connection is
   * destroyed as by {@link HttpClient.close}, which also cuts it at once
   * when called meanwhile. Later calls reject with {@link ClientClosedError}.
   */
  closeGracefully(graceMs: number): Promise<void> {
    const conn = this.#conn;
    if (conn === null || conn.dead || !conn.connected || conn.attempt !== null || this.#active !== null || this.#queue.length > 0) return this.close();
    this.#closed = true;
    this.#conn = null;
    clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    this.#ending = conn;
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.#destroy(conn), graceMs);
      cut.unref();
      conn.socket.once('close', () => {
        clearTimeout(cut);
        if (this.#ending === conn) this.#ending = null;
        resolve();
      });
      // The server's end of file arrives as 'end', which destroys the connection (#onEnd).
      conn.socket.end();
    });
  }

  // -------------------------------------------------------------------------
  // scheduling
  // -------------------------------------------------------------------------

  #pump(): void {
    if (this.#active !== null || this.#closed) return;
    const call = this.#queue.shift();
    if (call === undefined) return;
    this.#active = call;
    this.#attempt(call);
  }

  #attempt(call: Call): void {
    let conn = this.#conn;
    const reused = conn !== null;
    if (conn === null) {
      conn = this.#conn = this.#connect();
    } else {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = undefined;
      conn.socket.ref();
    }
    let exchange: HttpExchange<unknown>;
    try {
      exchange = call.makeExchange();
    } catch (error) {
      this.#fail(conn, call, error);
      return;
    }
    const attempt: Attempt = { call, reused, exchange, parser: null!, head: null, gotBytes: false, batched: 0, batch: undefined };
    const sink: HttpResponseSink = {
      onHead: (head) => {
        attempt.head = head;
        exchange.onHead(head);
      },
      onBody: (chunk) => {
        if (chunk.length >= DIRECT_BODY_BYTES) {
          // A large read is worth a call of its own: no copy.
          this.#flush(attempt);
          exchange.onBody(chunk);
          return;
        }
        const batch = (attempt.batch ??= takeBatch());
        if (attempt.batched + chunk.length > batch.length) this.#flush(attempt);
        batch.set(chunk, attempt.batched);
        attempt.batched += chunk.length;
      },
      // Inside execute(): a throw here fails the call and drops the connection, like any onBody throw.
      onComplete: () => this.#flush(attempt),
    };
    (attempt as { parser: HttpResponseParser }).parser = new HttpResponseParser(sink, {
      maxHeaderBytes: this.#options.maxHeaderBytes,
      maxBodyBytes: this.#options.maxBodyBytes,
      address: this.address.display,
    });
    conn.attempt = attempt;
    if (conn.connected) this.#send(conn);
  }

  /** Hands the batched body bytes to the exchange. */
  #flush(attempt: Attempt): void {
    const n = attempt.batched;
    if (n === 0) return;
    attempt.batched = 0;
    attempt.exchange.onBody(attempt.batch!.subarray(0, n));
  }

  /**
   * Before an attempt ends in a transport error, hands the exchange the body
   * bytes still batched: a decode error in them was there first, and is what
   * the call reports (as it would have had every read reached the exchange
   * at once).
   *
   * @returns what the exchange threw, else `error`.
   */
  #drain(attempt: Attempt, error: unknown): unknown {
    try {
      this.#flush(attempt);
    } catch (found) {
      return found;
    }
    return error;
  }

  #send(conn: Connection): void {
    // Errors (EPIPE on a socket the server closed) arrive through 'error'.
    conn.socket.write(conn.attempt!.call.body);
  }

  #onDeadline(call: Call): void {
    const ms = this.#options.timeoutMs;
    const error = new TimeoutError(
      'ERR_DEADLINE',
      `no complete answer from ${this.address.display} within ${ms} ms`,
      this.address.display,
      ms,
    );
    if (call === this.#active) {
      const conn = this.#conn;
      let reason: unknown = error;
      if (conn !== null) {
        if (conn.attempt !== null) reason = this.#drain(conn.attempt, error);
        this.#destroy(conn);
      }
      this.#active = null;
      this.#reject(call, reason);
      this.#pump();
    } else {
      // Still queued. Defensive: with one timeoutMs for every call and a FIFO
      // queue, an earlier call's deadline always expires first and hands over.
      this.#queue.splice(this.#queue.indexOf(call), 1);
      this.#reject(call, error);
    }
  }

  #reject(call: Call, error: unknown): void {
    if (this.#done(call)) call.reject(error);
  }

  /** Marks a call settled and clears its deadline; false when it already was. */
  #done(call: Call): boolean {
    if (call.settled) return false;
    call.settled = true;
    clearTimeout(call.deadline);
    call.deadline = undefined;
    return true;
  }

  /**
   * Ends the active call with an error, after destroying its connection; or,
   * when the failure is `retryable` (a reused connection failed before any
   * response byte) and the call has a retry left (it is idempotent), retries it.
   */
  #fail(conn: Connection, call: Call, error: unknown, retryable = false): void {
    this.#destroy(conn);
    if (call !== this.#active) return;
    if (retryable && call.retries > 0) {
      call.retries--;
      this.#attempt(call);
      return;
    }
    this.#active = null;
    this.#reject(call, error);
    this.#pump();
  }

  /** The response is complete: keep or drop the connection, then hand the result to the caller. */
  #finish(conn: Connection, attempt: Attempt, keepAlive: boolean): void {
    conn.attempt = null;
    release(attempt);
    const head = attempt.head!;
    // A close-delimited body arrives here with keepAlive false (from 'end').
    if (keepAlive && head.status === 200 && wantsKeepAlive(head)) {
      conn.socket.unref();
      conn.idleTimer = setTimeout(() => {
        conn.idleTimer = undefined;
        this.#destroy(conn);
      }, this.#options.idleTimeoutMs);
      conn.idleTimer.unref();
    } else {
      this.#destroy(conn);
    }
    const call = attempt.call;
    this.#active = null;
    this.#done(call); // the active call is never already settled: settling deactivates it
    try {
      call.resolve(attempt.exchange.onEnd());
    } catch (error) {
      call.reject(error);
    }
    this.#pump();
  }

  // -------------------------------------------------------------------------
  // sockets
  // -------------------------------------------------------------------------

  #connect(): Connection {
    const address = this.address;
    // Every read lands in the shared read buffer and is parsed at once; the
    // callback runs before the next read can overwrite it (see READ_BUFFER_BYTES).
    const onread: net.OnReadOpts = {
      buffer: READ_BUFFER,
      callback: (nread, buf) => {
        this.#onRead(conn, buf.subarray(0, nread));
        return true; // never pause: one response is bounded by the deadline and maxBodyBytes
      },
    };
    let socket: net.Socket;
    if (address.kind === 'unix') {
      socket = net.connect({ path: address.socketPath, onread });
    } else if (address.tls) {
      const t = this.#options.tls ?? {};
      const servername = t.servername ?? (net.isIP(this.#connectHost) === 0 ? this.#connectHost : undefined);
      // tls.connect hands `onread` to the TLSSocket when it opens the socket
      // itself (no `socket` option): decrypted bytes go to the same callback.
      // Node's typings omit the field.
      const options: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host: this.#connectHost, port: address.port, onread };
      if (servername !== undefined) options.servername = servername;
      if (t.ca !== undefined) options.ca = t.ca;
      if (t.cert !== undefined) options.cert = t.cert;
      if (t.key !== undefined) options.key = t.key;
      if (t.rejectUnauthorized !== undefined) options.rejectUnauthorized = t.rejectUnauthorized;
      socket = tls.connect(options);
    } else {
      socket = net.connect({ host: this.#connectHost, port: address.port, onread });
    }
    const conn: Connection = {
      socket,
      connected: false,
      dead: false,
      attempt: null,
      connectTimer: undefined,
      idleTimer: undefined,
    };
    const ms = this.#options.connectTimeoutMs;
    conn.connectTimer = setTimeout(() => {
      conn.connectTimer = undefined;
      const attempt = conn.attempt;
      const error = new TimeoutError(
        'ERR_CONNECT_TIMEOUT',
        `connecting to ${address.display} timed out after ${ms} ms`,
        address.display,
        ms,
      );
      // A connecting connection always carries the attempt that opened it.
      this.#fail(conn, attempt!.call, error);
    }, ms);
    socket.once(address.kind === 'tcp' && address.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(conn.connectTimer);
      conn.connectTimer = undefined;
      conn.connected = true;
      if (address.kind === 'tcp') socket.setNoDelay(true);
      if (conn.attempt !== null) this.#send(conn);
    });
    socket.on('end', () => this.#onEnd(conn));
    socket.on('error', (error: Error) => this.#onError(conn, error));
    // Normally 'end' or 'error' came first and this finds nothing to do; a
    // close without either is treated as EOF.
    socket.on('close', () => this.#onEnd(conn));
    return conn;
  }

  /** One read: `chunk` is a view of the connection's read buffer, overwritten by the next read. */
  #onRead(conn: Connection, chunk: Uint8Array): void {
    const attempt = conn.attempt;
    if (attempt === null) {
      // Bytes on an idle connection belong to no request: the stream is out
      // of step (e.g. a body longer than its Content-Length). Drop it.
      this.#destroy(conn);
      return;
    }
    attempt.gotBytes = true;
    let consumed: number;
    try {
      consumed = attempt.parser.execute(chunk);
    } catch (error) {
      this.#fail(conn, attempt.call, error);
      return;
    }
    if (attempt.parser.complete) this.#finish(conn, attempt, consumed === chunk.length);
  }

  #onEnd(conn: Connection): void {
    const attempt = conn.attempt;
    if (attempt === null) {
      this.#destroy(conn);
      return;
    }
    if (attempt.gotBytes) {
      let complete: boolean;
      try {
        complete = attempt.parser.finish(); // completes a close-delimited body, flushing the batch
      } catch (error) {
        this.#fail(conn, attempt.call, error);
        return;
      }
      if (complete) {
        this.#finish(conn, attempt, false);
        return;
      }
    }
    // Retried only when no byte came, so nothing was batched to drain.
    this.#fail(conn, attempt.call, this.#drain(attempt, this.#closedError(attempt)), !attempt.gotBytes && attempt.reused);
  }

  #onError(conn: Connection, error: Error): void {
    const attempt = conn.attempt;
    if (attempt === null) {
      this.#destroy(conn);
      return;
    }
    const osCode = (error as NodeJS.ErrnoException).code;
    const display = this.address.display;
    if (!conn.connected) {
      this.#fail(conn, attempt.call, this.#connectError(error, osCode));
      return;
    }
    const retryable = attempt.reused && !attempt.gotBytes && osCode !== undefined && RETRYABLE_OS_CODES.has(osCode);
    const what = attempt.gotBytes ? 'the response was complete' : 'any response byte';
    const closed = new ConnectionClosedError(
      `connection to ${display} failed with ${osCode ?? error.message} before ${what}`,
      display,
      !attempt.gotBytes,
      osCode,
    );
    this.#fail(conn, attempt.call, this.#drain(attempt, closed), retryable);
  }

  #closedError(attempt: Attempt): ConnectionClosedError {
    const display = this.address.display;
    return attempt.gotBytes
      ? new ConnectionClosedError(
          `connection to ${display} closed after ${attempt.parser.bytesConsumed} bytes, before the response was complete (truncated response)`,
          display,
          false,
        )
      : new ConnectionClosedError(`connection to ${display} closed before any response byte`, display, true);
  }

  #connectError(error: Error, osCode: string | undefined): ConnectError {
    const address = this.address;
    if (osCode !== undefined && osCode.startsWith('E')) {
      const target = address.kind === 'unix' ? address.socketPath : `${this.#connectHost}:${address.port}`;
      return new ConnectError(`connect ${osCode} ${target} (${address.display})`, address.display, osCode, { cause: error });
    }
    // TLS handshake failures: certificate codes such as DEPTH_ZERO_SELF_SIGNED_CERT.
    return new ConnectError(
      `tls handshake with ${address.display} failed: ${error.message}${osCode === undefined ? '' : ` (${osCode})`}`,
      address.display,
      osCode,
      { cause: error },
    );
  }

  /** Destroys a connection and every timer it owns; forgets it if it is the client's. */
  #destroy(conn: Connection): void {
    if (this.#conn === conn) this.#conn = null;
    if (conn.dead) return;
    conn.dead = true;
    if (conn.attempt !== null) release(conn.attempt);
    conn.attempt = null;
    clearTimeout(conn.connectTimer);
    clearTimeout(conn.idleTimer);
    conn.connectTimer = conn.idleTimer = undefined;
    conn.socket.destroy();
  }
}

/** Gives an ended attempt's batch back (its bytes were handed over or are dropped with the attempt). */
function release(attempt: Attempt): void {
  const batch = attempt.batch;
  if (batch === undefined) return;
  attempt.batch = undefined;
  attempt.batched = 0;
  returnBatch(batch);
}

/**
 * HTTP/1.1 stays open unless `Connection: close`; HTTP/1.0 closes unless
 * `Connection: keep-alive` (RFC 9112 section 9.3, and what medusa does).
 */
function wantsKeepAlive(head: HttpResponseHead): boolean {
  const connection = head.headers.get('connection');
  const tokens = connection === undefined ? [] : connection.toLowerCase().split(',').map((t) => t.trim());
  if (tokens.includes('close')) return false;
  return head.versionMinor === 1 || tokens.includes('keep-alive');
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * How many body batches wait on the free list (see BODY_BATCH_BYTES): every
 * other batch belongs to a response still arriving. For tests and
 * benchmarks of what idle connections hold (none).
 */
export function freeBodyBatches(): number {
  return freeBatches.length;
}
