/**
 * One accepted connection, with medusa's HTTP/1.1 framing: request heads,
 * bodies by `Content-Length`, keep-alive, and the silences supervisord keeps.
 *
 * @module
 */

import type { Socket } from 'node:net';

import { getHeader, parseHead } from './http-request.js';
import type { RequestHead } from './http-request.js';
import { errorPage, REASONS, statusPage } from './http-responses.js';
import { answerCall } from './rpc-methods.js';
import type { MethodHooks } from './rpc-methods.js';

/** The emulator's private state as its connections see it. */
export interface EmulatorHooks extends MethodHooks {
  checkAuth(headers: readonly string[]): 'ok' | 401 | 400 | 500;
  override(): 'html' | number | null;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * One accepted connection: medusa's http_channel. Requests are handled in
 * order as their bytes arrive (medusa reads pipelined requests the same way);
 * every method answers synchronously, so there is never more than one request
 * in progress.
 */
export class Connection {
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
    const answer = answerCall(this.#hooks, body);
    if (typeof answer === 'number') this.#sendError(req, answer);
    else this.#send(req, 200, [['Content-Type', 'text/xml']], answer);
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
