/**
 * A minimal HTTP/1.1 client for XML-RPC POSTs, built directly on `node:net`
 * and `node:tls` (not `node:http`, whose agent, header handling and
 * `Connection` semantics do not fit supervisord's medusa server).
 *
 * What supervisord requires (supervisord-protocol.md section 2) and how it is met:
 * - headers written as `Name: value` with one space, CRLF, headers and body in
 *   one write; never `Content-Length: 0`, `Expect` or a chunked request;
 * - one request in flight per connection: calls are queued FIFO on the
 *   client's single connection, which is kept alive between calls;
 * - the server never says `Connection: close` when closing: responses are
 *   framed by `Content-Length` and an early EOF is a truncated response;
 * - after a 401 the server keeps the socket open but never answers on it
 *   again: a connection is destroyed after any non-200 answer, a
 *   `Connection: close`, an HTTP/1.0 answer without keep-alive, or any error;
 * - the server never reaps idle connections but may be restarted under us: a
 *   REUSED connection that fails before the first response byte (reset, EPIPE,
 *   EOF) is retried once on a fresh connection. The retry applies to every
 *   call: it is safe because a monitor only sends read-only calls. A fresh
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
  /** Body bytes as they arrive (a view valid only during the call). */
  onBody(chunk: Uint8Array): void;
  /** The body ended; return the call's result. */
  onEnd(): T;
}

const USER_AGENT = 'supervisord-check';
/** Errors that mean "the peer dropped the connection", as opposed to a local failure. */
const RETRYABLE_OS_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

interface Call {
  readonly body: Uint8Array;
  readonly makeExchange: () => HttpExchange<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  deadline: NodeJS.Timeout | undefined;
  retried: boolean;
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
   * @returns what the exchange's `onEnd` returns.
   * @throws (rejects) {@link ConnectError}, {@link ConnectionClosedError},
   *   {@link TimeoutError} (`ERR_CONNECT_TIMEOUT`, `ERR_DEADLINE`),
   *   {@link HttpParseError}, {@link HeaderSizeError}, {@link BodySizeError},
   *   {@link ClientClosedError}, or whatever the exchange throws.
   */
  request<T>(body: Uint8Array, makeExchange: () => HttpExchange<T>): Promise<T> {
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
        retried: false,
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
    const conn = this.#conn;
    this.#conn = null;
    if (conn === null || conn.socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      conn.socket.once('close', () => resolve());
      this.#destroy(conn);
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
    const attempt: Attempt = { call, reused, exchange, parser: null!, head: null, gotBytes: false };
    const sink: HttpResponseSink = {
      onHead: (head) => {
        attempt.head = head;
        exchange.onHead(head);
      },
      onBody: (chunk) => exchange.onBody(chunk),
      onComplete: () => {},
    };
    (attempt as { parser: HttpResponseParser }).parser = new HttpResponseParser(sink, {
      maxHeaderBytes: this.#options.maxHeaderBytes,
      maxBodyBytes: this.#options.maxBodyBytes,
      address: this.address.display,
    });
    conn.attempt = attempt;
    if (conn.connected) this.#send(conn);
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
      if (conn !== null) this.#destroy(conn);
      this.#active = null;
      this.#reject(call, error);
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

  /** Ends the active call with an error, after destroying its connection; or retries it. */
  #fail(conn: Connection, call: Call, error: unknown, retryable = false): void {
    this.#destroy(conn);
    if (call !== this.#active) return;
    if (retryable && !call.retried) {
      call.retried = true;
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
    let socket: net.Socket;
    if (address.kind === 'unix') {
      socket = net.connect({ path: address.socketPath });
    } else if (address.tls) {
      const t = this.#options.tls ?? {};
      const servername = t.servername ?? (net.isIP(this.#connectHost) === 0 ? this.#connectHost : undefined);
      const options: tls.ConnectionOptions = { host: this.#connectHost, port: address.port };
      if (servername !== undefined) options.servername = servername;
      if (t.ca !== undefined) options.ca = t.ca;
      if (t.cert !== undefined) options.cert = t.cert;
      if (t.key !== undefined) options.key = t.key;
      if (t.rejectUnauthorized !== undefined) options.rejectUnauthorized = t.rejectUnauthorized;
      socket = tls.connect(options);
    } else {
      socket = net.connect({ host: this.#connectHost, port: address.port });
    }
    const conn: Connection = { socket, connected: false, dead: false, attempt: null, connectTimer: undefined, idleTimer: undefined };
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
    socket.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
    socket.on('end', () => this.#onEnd(conn));
    socket.on('error', (error: Error) => this.#onError(conn, error));
    // Normally 'end' or 'error' came first and this finds nothing to do; a
    // close without either is treated as EOF.
    socket.on('close', () => this.#onEnd(conn));
    return conn;
  }

  #onData(conn: Connection, chunk: Buffer): void {
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
    if (attempt.gotBytes && attempt.parser.finish()) {
      this.#finish(conn, attempt, false); // close-delimited body
      return;
    }
    this.#fail(conn, attempt.call, this.#closedError(attempt), !attempt.gotBytes && attempt.reused);
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
    this.#fail(
      conn,
      attempt.call,
      new ConnectionClosedError(
        `connection to ${display} failed with ${osCode ?? error.message} before ${what}`,
        display,
        !attempt.gotBytes,
        osCode,
      ),
      retryable,
    );
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
    conn.attempt = null;
    clearTimeout(conn.connectTimer);
    clearTimeout(conn.idleTimer);
    conn.connectTimer = conn.idleTimer = undefined;
    conn.socket.destroy();
  }
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
