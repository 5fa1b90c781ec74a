/**
 * Streaming HTTP/1.x response parser working on bytes.
 *
 * Feed it the socket's chunks as they arrive with {@link HttpResponseParser.execute};
 * it calls the sink's `onHead` once the status line and headers are complete,
 * hands each body slice to `onBody` as a view of the caller's chunk (never
 * copied, never concatenated), and calls `onComplete` when the framing says the
 * response ended. Any byte may be the last of a chunk.
 *
 * Framing, in RFC 9112 section 6.3 order for a response to a POST:
 * 1xx answers are skipped (a 101 is refused), 204 and 304 have no body,
 * `Transfer-Encoding: chunked` (extensions and trailers allowed and ignored),
 * then `Content-Length`, then read-until-close. supervisord never sends
 * `Connection: close`, not even on a response after which it closes, so
 * `Content-Length` is what decides whether a response is complete.
 *
 * Cost: body bytes are handed over as views (no copy), so framing even a
 * megabyte answer, whole or in 4 KiB HTTP chunks, costs microseconds: nothing
 * next to the time supervisord takes to send it (it writes 4 KiB per turn of
 * its event loop).
 *
 * Chunks may be views of a buffer the caller reuses (the client reads every
 * chunk of a connection into one buffer): nothing outlives `execute` as a view
 * of its chunk. A line cut by the end of a chunk is copied into the parser's
 * own buffer, and header values become strings.
 *
 * Lines may end in CRLF or a bare LF (tolerated, as most clients do); a bare
 * CR inside a line, obsolete header folding, or any byte the grammar does not
 * allow is an {@link HttpParseError} naming the byte offset.
 *
 * @module
 */

import { BodySizeError, HeaderSizeError, HttpParseError } from './errors.js';

/** Status line and headers of a response. */
export interface HttpResponseHead {
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: number;
  readonly status: number;
  /** Reason phrase, possibly empty (decoded as latin1). */
  readonly reason: string;
  /** Lower-case header names; repeated headers joined with `", "`. */
  readonly headers: ReadonlyMap<string, string>;
  /** How the body is delimited. */
  readonly framing: 'none' | 'length' | 'chunked' | 'close';
  /** The announced `Content-Length`, or -1 when the body is not length-delimited. */
  readonly contentLength: number;
}

/** Receives the parts of one response. A throw aborts parsing and propagates out of `execute`/`finish`. */
export interface HttpResponseSink {
  onHead(head: HttpResponseHead): void;
  /** A slice of body bytes; a view of the chunk given to `execute`, valid only during the call. */
  onBody(chunk: Uint8Array): void;
  onComplete(): void;
}

/** Limits and context of a {@link HttpResponseParser}. */
export interface HttpResponseParserOptions {
  /** Maximum size of the status line plus headers (and, separately, of the trailers), bytes. */
  maxHeaderBytes: number;
  /** Maximum body size (after removing chunked framing), bytes. */
  maxBodyBytes: number;
  /** Printable server address used in error messages. */
  address: string;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const DEL = 0x7f;
const ZERO = 0x30;

// States. Line-oriented ones (status, header, trailer) share one code path.
const S_STATUS = 0;
const S_HEADER = 1;
const S_TRAILER = 2;
const S_BODY_LENGTH = 3;
const S_CHUNK_SIZE = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_SIZE_LF = 6;
const S_CHUNK_DATA = 7;
const S_CHUNK_DATA_CR = 8;
const S_CHUNK_DATA_LF = 9;
const S_BODY_CLOSE = 10;
const S_DONE = 11;

/** RFC 9110 tchar: the bytes allowed in a header name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** Hex digit values, -1 for other bytes. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[ZERO + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

/**
 * Header names the client looks at, interned so a response does not build a
 * string for them (matched by length and bytes, ASCII case-insensitively).
 */
const KNOWN_NAMES: ReadonlyArray<readonly [string, Uint8Array]> = [
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'content-encoding',
  'server',
  'date',
].map((n) => [n, Buffer.from(n, 'latin1')] as const);

/**
 * Hex digits accepted in a chunk size. The size limit already refuses large
 * values digit by digit; this only stops an endless run of leading zeros.
 */
const MAX_CHUNK_SIZE_DIGITS = 32;

/**
 * Incremental parser of one HTTP/1.x response. Create one per response.
 *
 * Errors: {@link HttpParseError} (grammar), {@link HeaderSizeError}
 * (status line plus headers, or trailers, over `maxHeaderBytes`),
 * {@link BodySizeError} (`Content-Length` or streamed body over
 * `maxBodyBytes`; a too large `Content-Length` is refused before any body
 * byte is read). After a throw the parser must not be used again.
 */
export class HttpResponseParser {
  readonly #sink: HttpResponseSink;
  readonly #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  readonly #address: string;

  #state = S_STATUS;
  /** Absolute offset (in the response) of the first byte of the current `execute` chunk. */
  #base = 0;
  /** Bytes of completed lines in the current head or trailer section. */
  #sectionBytes = 0;
  /** Partial line carried over from the previous chunk. Bounded by maxHeaderBytes. */
  #pending: Uint8Array | null = null;
  #pendingLen = 0;

  #versionMinor = 1;
  #status = 0;
  #reason = '';
  #headers = new Map<string, string>();

  /** Remaining bytes of the Content-Length body or of the current chunk. */
  #remaining = 0;
  #chunkDigits = 0;
  #extBytes = 0;
  #bodyBytes = 0;

  constructor(sink: HttpResponseSink, options: HttpResponseParserOptions) {
    this.#sink = sink;
    this.#maxHeaderBytes = options.maxHeaderBytes;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#address = options.address;
  }

  /** Total response bytes consumed so far. */
  get bytesConsumed(): number {
    return this.#base;
  }

  /** True once `onComplete` was called. */
  get complete(): boolean {
    return this.#state === S_DONE;
  }

  /**
   * Parses the next chunk.
   *
   * @returns the number of bytes consumed: `chunk.length`, or less when the
   *   response completed inside the chunk (the rest belongs to no response).
   * @throws whatever the sink throws, and the parse and limit errors listed on the class.
   */
  execute(chunk: Uint8Array): number {
    const len = chunk.length;
    let pos = 0;
    while (pos < len && this.#state !== S_DONE) {
      switch (this.#state) {
        case S_STATUS:
        case S_HEADER:
        case S_TRAILER:
          pos = this.#line(chunk, pos);
          break;
        case S_BODY_LENGTH: {
          const n = Math.min(this.#remaining, len - pos);
          this.#remaining -= n;
          this.#sink.onBody(chunk.subarray(pos, pos + n));
          pos += n;
          if (this.#remaining === 0) this.#complete();
          break;
        }
        case S_CHUNK_SIZE: {
          const c = chunk[pos]!;
          const d = HEX[c]!;
          if (d >= 0) {
            // Refuse as soon as the announced size cannot fit: no overflow, no
            // waiting for a multi-gigabyte chunk to arrive.
            this.#remaining = this.#remaining * 16 + d;
            if (this.#bodyBytes + this.#remaining > this.#maxBodyBytes) {
              throw new BodySizeError(this.#maxBodyBytes, this.#address);
            }
            if (++this.#chunkDigits > MAX_CHUNK_SIZE_DIGITS) throw this.#error('chunk size has too many digits', this.#base + pos);
            pos++;
            break;
          }
          if (this.#chunkDigits === 0) throw this.#error('expected a chunk size', this.#base + pos);
          if (c === CR) this.#state = S_CHUNK_SIZE_LF;
          else if (c === LF) this.#endChunkSize();
          else if (c === SEMICOLON || c === SP || c === HTAB) this.#state = S_CHUNK_EXT;
          else throw this.#error('invalid character in chunk size', this.#base + pos);
          pos++;
          break;
        }
        case S_CHUNK_EXT: {
          // Extensions are ignored (RFC 9112 section 7.1.1), but bounded.
          const c = chunk[pos]!;
          if (c === CR) this.#state = S_CHUNK_SIZE_LF;
          else if (c === LF) this.#endChunkSize();
          else if ((c < SP && c !== HTAB) || c === DEL) throw this.#error('invalid character in chunk extension', this.#base + pos);
          else if (++this.#extBytes > this.#maxHeaderBytes) {
            throw this.#error(`chunk extension longer than ${this.#maxHeaderBytes} bytes`, this.#base + pos);
          }
          pos++;
          break;
        }
        case S_CHUNK_SIZE_LF:
          if (chunk[pos] !== LF) throw this.#error('expected LF after chunk size', this.#base + pos);
          this.#endChunkSize();
          pos++;
          break;
        case S_CHUNK_DATA: {
          const n = Math.min(this.#remaining, len - pos);
          this.#remaining -= n;
          this.#bodyBytes += n;
          this.#sink.onBody(chunk.subarray(pos, pos + n));
          pos += n;
          if (this.#remaining === 0) this.#state = S_CHUNK_DATA_CR;
          break;
        }
        case S_CHUNK_DATA_CR: {
          const c = chunk[pos]!;
          if (c === CR) this.#state = S_CHUNK_DATA_LF;
          else if (c === LF) this.#startChunk();
          else throw this.#error('expected CRLF after chunk data', this.#base + pos);
          pos++;
          break;
        }
        case S_CHUNK_DATA_LF:
          if (chunk[pos] !== LF) throw this.#error('expected CRLF after chunk data', this.#base + pos);
          this.#startChunk();
          pos++;
          break;
        default: {
          // S_BODY_CLOSE: everything until EOF is body.
          const n = len - pos;
          this.#bodyBytes += n;
          if (this.#bodyBytes > this.#maxBodyBytes) throw new BodySizeError(this.#maxBodyBytes, this.#address);
          this.#sink.onBody(pos === 0 ? chunk : chunk.subarray(pos));
          pos = len;
        }
      }
    }
    this.#base += pos;
    return pos;
  }

  /**
   * Tells the parser the connection reached EOF. A close-delimited body
   * completes here (calling `onComplete`).
   *
   * @returns true when the response is complete, false when it was truncated.
   */
  finish(): boolean {
    if (this.#state === S_BODY_CLOSE) this.#complete();
    return this.#state === S_DONE;
  }

  // -------------------------------------------------------------------------

  /** Consumes up to and including the next LF; handles a complete line. */
  #line(chunk: Uint8Array, pos: number): number {
    const lf = chunk.indexOf(LF, pos);
    const limit = this.#maxHeaderBytes;
    if (lf < 0) {
      // Refuse an endless line as soon as it is too long, not when it ends.
      if (this.#sectionBytes + this.#pendingLen + (chunk.length - pos) > limit) throw new HeaderSizeError(limit, this.#address);
      this.#appendPending(chunk, pos, chunk.length);
      return chunk.length;
    }
    const lineStart = this.#base + pos - this.#pendingLen;
    this.#sectionBytes += this.#pendingLen + (lf + 1 - pos);
    if (this.#sectionBytes > limit) throw new HeaderSizeError(limit, this.#address);
    let buf = chunk;
    let start = pos;
    let end = lf;
    if (this.#pendingLen > 0) {
      this.#appendPending(chunk, pos, lf);
      buf = this.#pending!;
      start = 0;
      end = this.#pendingLen;
      this.#pendingLen = 0;
    }
    if (end > start && buf[end - 1] === CR) end--;
    if (this.#state === S_STATUS) this.#statusLine(buf, start, end, lineStart);
    else this.#headerLine(buf, start, end, lineStart);
    return lf + 1;
  }

  /** Copies (never keeps a view: the caller's chunk is overwritten by its next read). */
  #appendPending(chunk: Uint8Array, from: number, to: number): void {
    const need = this.#pendingLen + (to - from);
    let buf = this.#pending;
    if (buf === null || buf.length < need) {
      const grown = new Uint8Array(Math.max(need, buf === null ? 256 : buf.length * 2));
      if (buf !== null) grown.set(buf.subarray(0, this.#pendingLen));
      this.#pending = buf = grown;
    }
    buf.set(chunk.subarray(from, to), this.#pendingLen);
    this.#pendingLen = need;
  }

  /** `HTTP/1.x SP 3DIGIT [SP reason]`; a missing reason (with or without its space) is accepted. */
  #statusLine(b: Uint8Array, start: number, end: number, at: number): void {
    const n = end - start;
    if (
      n < 12 ||
      b[start] !== 0x48 || // H
      b[start + 1] !== 0x54 || // T
      b[start + 2] !== 0x54 || // T
      b[start + 3] !== 0x50 || // P
      b[start + 4] !== 0x2f || // /
      b[start + 5] !== 0x31 || // 1
      b[start + 6] !== 0x2e // .
    ) {
      throw this.#lineError('invalid status line: expected "HTTP/1.x NNN"', at, b, start, end);
    }
    const minor = b[start + 7]! - ZERO;
    if ((minor !== 0 && minor !== 1) || b[start + 8] !== SP) {
      throw this.#lineError('invalid status line: unsupported HTTP version', at, b, start, end);
    }
    let status = 0;
    for (let i = start + 9; i < start + 12; i++) {
      const d = b[i]! - ZERO;
      if (d < 0 || d > 9) throw this.#lineError('invalid status line: status is not 3 digits', at, b, start, end);
      status = status * 10 + d;
    }
    if (status < 100) throw this.#lineError('invalid status line: status below 100', at, b, start, end);
    let reason = '';
    if (n > 12) {
      if (b[start + 12] !== SP) throw this.#lineError('invalid status line: status is not 3 digits', at, b, start, end);
      for (let i = start + 13; i < end; i++) {
        const c = b[i]!;
        if ((c < SP && c !== HTAB) || c === DEL) {
          throw this.#error('invalid character in reason phrase', at + (i - start));
        }
      }
      reason = Buffer.from(b.buffer, b.byteOffset + start + 13, end - start - 13).toString('latin1');
    }
    this.#versionMinor = minor;
    this.#status = status;
    this.#reason = reason;
    this.#state = S_HEADER;
  }

  #headerLine(b: Uint8Array, start: number, end: number, at: number): void {
    if (start === end) {
      this.#endOfSection(at);
      return;
    }
    const first = b[start]!;
    if (first === SP || first === HTAB) {
      throw this.#error('obsolete header line folding', at);
    }
    let colon = start;
    while (colon < end && TCHAR[b[colon]!] === 1) colon++;
    if (colon === end || b[colon] !== COLON || colon === start) {
      throw this.#error('invalid header name', at + (colon - start));
    }
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    for (let i = vs; i < ve; i++) {
      const c = b[i]!;
      if ((c < SP && c !== HTAB) || c === DEL) {
        throw this.#error('invalid character in header value', at + (i - start));
      }
    }
    if (this.#state === S_TRAILER) return; // trailers are validated and dropped
    const name = headerName(b, start, colon);
    const value = Buffer.from(b.buffer, b.byteOffset + vs, ve - vs).toString('latin1');
    const previous = this.#headers.get(name);
    if (previous === undefined) {
      this.#headers.set(name, value);
    } else if (name === 'content-length') {
      // Differing lengths are a classic smuggling/desync vector (RFC 9112 section 6.3).
      if (previous !== value) throw this.#error('conflicting content-length headers', at);
    } else {
      this.#headers.set(name, `${previous}, ${value}`);
    }
  }

  /** The empty line (at absolute offset `at`) ending the head or the trailers. */
  #endOfSection(at: number): void {
    if (this.#state === S_TRAILER) {
      this.#complete();
      return;
    }
    const status = this.#status;
    this.#sectionBytes = 0;
    if (status < 200) {
      if (status === 101) throw this.#error('unexpected 101 switching protocols', at);
      // Interim response (100 Continue, 103 Early Hints): the real one follows.
      this.#headers = new Map();
      this.#state = S_STATUS;
      return;
    }
    const headers = this.#headers;
    let framing: HttpResponseHead['framing'];
    let contentLength = -1;
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (status === 204 || status === 304) {
      framing = 'none';
    } else if (te !== undefined) {
      // We send no TE header, so only "chunked" is legitimate; a gzip coding
      // would hand compressed bytes to the XML decoder.
      if (te.trim().toLowerCase() !== 'chunked') {
        throw this.#error(`unsupported transfer-encoding ${JSON.stringify(te)}`, at);
      }
      framing = 'chunked';
    } else if (cl !== undefined) {
      contentLength = parseContentLength(cl);
      if (contentLength < 0) throw this.#error(`invalid content-length ${JSON.stringify(cl)}`, at);
      framing = 'length';
    } else {
      framing = 'close';
    }
    this.#sink.onHead({
      versionMinor: this.#versionMinor,
      status,
      reason: this.#reason,
      headers,
      framing,
      contentLength,
    });
    switch (framing) {
      case 'none':
        this.#complete();
        break;
      case 'chunked':
        this.#startChunk();
        break;
      case 'length':
        if (contentLength > this.#maxBodyBytes) {
          throw new BodySizeError(this.#maxBodyBytes, this.#address, contentLength);
        }
        this.#remaining = contentLength;
        if (contentLength === 0) this.#complete();
        else this.#state = S_BODY_LENGTH;
        break;
      default:
        this.#state = S_BODY_CLOSE;
    }
  }

  #startChunk(): void {
    this.#state = S_CHUNK_SIZE;
    this.#remaining = 0;
    this.#chunkDigits = 0;
    this.#extBytes = 0;
  }

  #endChunkSize(): void {
    if (this.#remaining === 0) {
      this.#state = S_TRAILER;
      this.#sectionBytes = 0;
    } else {
      this.#state = S_CHUNK_DATA;
    }
  }

  #complete(): void {
    this.#state = S_DONE;
    this.#pending = null;
    this.#sink.onComplete();
  }

  /** `offset` is absolute: bytes from the start of the response. */
  #error(what: string, offset: number): HttpParseError {
    return new HttpParseError(`${what} at byte ${offset} of the response from ${this.#address}`, this.#address);
  }

  /** Like #error, quoting the start of the offending line (escaped, at most 40 bytes). */
  #lineError(what: string, at: number, b: Uint8Array, start: number, end: number): HttpParseError {
    const shown = JSON.stringify(Buffer.from(b.buffer, b.byteOffset + start, Math.min(end - start, 40)).toString('latin1'));
    return new HttpParseError(`${what} at byte ${at} of the response from ${this.#address}: ${shown}`, this.#address);
  }
}

/** Lower-case header name, interned for the names the client uses. */
function headerName(b: Uint8Array, start: number, end: number): string {
  const n = end - start;
  outer: for (const [name, bytes] of KNOWN_NAMES) {
    if (bytes.length !== n) continue;
    for (let i = 0; i < n; i++) {
      // ASCII case folding; safe because only tchar bytes reach here.
      if ((b[start + i]! | 0x20) !== bytes[i]) continue outer;
    }
    return name;
  }
  return Buffer.from(b.buffer, b.byteOffset + start, n).toString('latin1').toLowerCase();
}

/** Digits only, by arithmetic; -1 when invalid. */
function parseContentLength(text: string): number {
  if (text.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  // Past 2^53 digit arithmetic accumulates rounding errors; Number() rounds
  // once, so the error message shows the announced value faithfully.
  return n > Number.MAX_SAFE_INTEGER ? Number(text) : n;
}
