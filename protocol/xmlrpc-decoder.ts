/**
 * Streaming XML-RPC decoder: the bytes of a `<methodResponse>` (or a
 * `<methodCall>`) to JavaScript values, in one pass over bytes.
 *
 * Feed chunks of any size to {@link XmlRpcDecoder.write} as they arrive and
 * call {@link XmlRpcDecoder.end} at the end; any byte may be the last of a
 * chunk (the middle of a UTF-8 sequence, a tag name, an entity). The decoder
 * keeps only the pending partial token between chunks (a tag is at most
 * {@link MAX_TAG_BYTES} bytes; comments, CDATA sections and text are consumed
 * as they arrive), never the document.
 *
 * It accepts what XML-RPC producers send (Python's `xmlrpc.client`, which
 * supervisord answers with, and others): an XML declaration at the very start (after an optional UTF-8 BOM), other
 * processing instructions and comments anywhere, whitespace between
 * elements, attributes (skipped), the five predefined entities, decimal and
 * hexadecimal character references, CDATA sections, raw UTF-8, and raw control
 * characters and `\r` inside text (supervisord sends them unescaped: invalid
 * XML 1.0, kept verbatim, `\r\n` is not normalised).
 *
 * It refuses, with the error classes of `errors.ts` and a message saying what
 * and `at byte N` (absolute offset from the start of the document):
 * malformed or misplaced markup and text ({@link XmlRpcParseError}), unknown
 * value types ({@link XmlRpcTypeError}), invalid scalar text
 * ({@link XmlRpcValueError}), a document cut short ({@link XmlRpcTruncatedError}),
 * any `<!DOCTYPE`/`<!ENTITY`/other declaration ({@link XmlRpcDoctypeError}; no
 * entity is ever expanded or looked up), invalid UTF-8 and character
 * references to U+0000, surrogates or beyond U+10FFFF
 * ({@link XmlRpcEncodingError}), nesting deeper than `maxDepth`
 * ({@link DepthLimitError}) and documents over `maxBytes`
 * ({@link DocumentSizeError}).
 *
 * Error detection is chunk-agnostic: whatever the chunking, the same document
 * fails with the same class, code and offset. Every byte is validated as UTF-8
 * before the parser looks at it, and the parser reports problems in document
 * order, so the first problem in the bytes wins.
 *
 * Where XML-RPC leaves room, the decoder decides: `<double>` also takes the
 * `inf`/`nan` spellings Python's marshaller writes; an `<array>` without
 * `<data>` is `[]` (Python reads it so); a `<dateTime.iso8601>` without a
 * zone is UTC; `&#0;`, surrogates and references beyond U+10FFFF are
 * encoding errors; scalar text may be surrounded by whitespace; a struct
 * member must have a `<name>` then a `<value>`; a response holds exactly one
 * `<param>`.
 *
 * Value mapping (see `types.ts`): `int`/`i4` -> number (signed 32-bit),
 * `i8` -> number when safe else bigint (signed 64-bit), `double` -> number,
 * `boolean` -> boolean, `string` and untyped `<value>` text -> string,
 * `base64` -> Uint8Array, `dateTime.iso8601` -> Date (UTC when no zone is
 * given), `nil`/`ex:nil` -> null, `array` -> array, `struct` -> plain object.
 *
 * This file holds the public API and the streaming machinery (limits, UTF-8
 * validation, the bytes carried between chunks); the state machine that
 * reads tokens and builds values is `xmlrpc-parser.ts`, and the byte values,
 * element names and frame kinds it works with are `xmlrpc-grammar.ts`.
 *
 * @module
 */
import { Buffer, isUtf8 } from 'node:buffer';
import {
  DepthLimitError,
  DocumentSizeError,
  ProtocolError,
  XmlRpcDoctypeError,
  XmlRpcEncodingError,
  XmlRpcFault,
  XmlRpcParseError,
  XmlRpcTruncatedError,
  XmlRpcTypeError,
  XmlRpcValueError,
} from './errors.js';
import type { XmlRpcCall, XmlRpcValue } from './types.js';
import { findInvalidUtf8, incompleteUtf8Tail } from './utf8.js';
import { AMP, M_CDATA, M_COMMENT, M_PI } from './xmlrpc-grammar.js';
import { XmlRpcParser } from './xmlrpc-parser.js';

export { MAX_TAG_BYTES } from './xmlrpc-grammar.js';

/** Options of {@link XmlRpcDecoder}, {@link decodeResponse} and {@link decodeCall}. */
export interface XmlRpcDecoderOptions {
  /** Maximum element nesting depth (counting every element, methodResponse included). Default 64. */
  maxDepth?: number;
  /** Maximum document size in bytes. Default 256 MiB (268435456). */
  maxBytes?: number;
}

/** Default of {@link XmlRpcDecoderOptions.maxDepth}. */
export const DEFAULT_MAX_DEPTH = 64;
/** Default of {@link XmlRpcDecoderOptions.maxBytes}: 256 MiB. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/**
 * When a token was cut by the end of the previous chunk and the new chunk is
 * larger than this, the token is finished in a copy of the carry plus this
 * many bytes of the chunk, and the rest of the chunk is parsed in place.
 * Tokens are short (a tag name, an entity); a longer one falls back to a
 * copy of the whole chunk, so the value only affects speed.
 */
const JOIN_BYTES = 256;

/** The carry when nothing is carried. */
const EMPTY = Buffer.alloc(0);

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * The first index at or after `at` (at most 3 bytes later) that does not hold
 * a UTF-8 continuation byte: no character of valid UTF-8 spans it.
 */
function characterBoundary(bytes: Uint8Array, at: number): number {
  let k = at;
  for (let i = 0; i < 3 && k < bytes.length && (bytes[k]! & 0xc0) === 0x80; i++) k++;
  return k;
}

interface Limits {
  maxDepth: number;
  maxBytes: number;
}

/** Applies defaults and validates every field; unknown keys are reported. */
function resolveOptions(options: XmlRpcDecoderOptions | undefined): Limits {
  if (options === undefined) return { maxDepth: DEFAULT_MAX_DEPTH, maxBytes: DEFAULT_MAX_BYTES };
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`decoder options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'maxDepth' && key !== 'maxBytes') throw new TypeError(`unknown decoder option ${JSON.stringify(key)}`);
  }
  return {
    maxDepth: positiveInteger(options.maxDepth, 'maxDepth', DEFAULT_MAX_DEPTH),
    maxBytes: positiveInteger(options.maxBytes, 'maxBytes', DEFAULT_MAX_BYTES),
  };
}

function positiveInteger(v: unknown, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`${field} must be a number, got ${typeof v}`);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${field} must be a positive integer, got ${v}`);
  return v;
}

/**
 * The byte-level machinery shared by {@link XmlRpcDecoder} and
 * {@link XmlRpcCallDecoder}: limits, UTF-8 validation, carried bytes, the
 * sticky error.
 */
class DecoderCore {
  readonly parser: XmlRpcParser;
  readonly #maxBytes: number;
  written = 0;
  /** Bytes not consumed yet: a cut token, then possibly a cut UTF-8 sequence. */
  #carry: Buffer = EMPTY;
  /** How many leading bytes of the carry were already validated as UTF-8. */
  #carryChecked = 0;
  #error: unknown = null;
  #ended = false;

  constructor(options: XmlRpcDecoderOptions | undefined, call: boolean) {
    const limits = resolveOptions(options);
    this.#maxBytes = limits.maxBytes;
    this.parser = new XmlRpcParser(limits.maxDepth, call);
  }

  write(chunk: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    if (this.#ended) throw new ProtocolError('ERR_XMLRPC_DECODER_ENDED', 'write after end() of the xml-rpc decoder');
    if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
    try {
      this.#write(chunk);
    } catch (err) {
      this.#error = err;
      throw err;
    }
  }

  #write(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n > this.#maxBytes - this.written) throw new DocumentSizeError(this.#maxBytes);
    if (n === 0) return;
    const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const carry = this.#carry;
    const base = this.written - carry.length;
    this.written += n;
    if (carry.length === 0) {
      this.#feed(input, 0, base, 0, true);
    } else if (n <= JOIN_BYTES + 3) {
      // Up to JOIN_BYTES + 3: the joint below may take 3 more bytes to end on
      // a character, and must never reach the chunk's end, where a character
      // cut by the next chunk would be taken for invalid UTF-8 (found by the
      // fuzzer: fixtures/fuzz-regressions/join-*).
      this.#feed(concat(carry, input), this.#carryChecked, base, 0, true);
    } else {
      // Finish the cut token in a small copy (the carry and the chunk's
      // first bytes, up to a character boundary), then parse the chunk in
      // place. Copying the whole chunk behind the carry instead made a
      // streamed decode in 64 KiB chunks slower (see bench/parse.js).
      const k = characterBoundary(input, JOIN_BYTES);
      const joint = concat(carry, input.subarray(0, k));
      const stop = this.#feed(joint, this.#carryChecked, base, 0, false);
      if (stop < carry.length) {
        // A token longer than the copy (long attributes): one buffer after all.
        this.#feed(concat(this.#carry, input.subarray(k)), this.#carryChecked, base + stop, 0, true);
      } else {
        this.#feed(input, k, base + carry.length, stop - carry.length, true);
      }
    }
  }

  /**
   * Validates `buf` from `checked` (the bytes before are valid), parses it
   * from `from`, and keeps what the parser did not consume as the carry.
   * `last` says whether `buf` ends where the bytes written so far end: only
   * then may a cut UTF-8 sequence wait for the next chunk.
   *
   * @returns where the parser stopped.
   */
  #feed(buf: Buffer, checked: number, base: number, from: number, last: boolean): number {
    const len = buf.length;
    const tail = last ? incompleteUtf8Tail(buf, checked, len) : len;
    let bad = -1;
    if (tail > checked && !isUtf8(buf.subarray(checked, tail))) bad = findInvalidUtf8(buf, checked, tail);
    const limit = bad >= 0 ? bad : tail;
    // The parser sees only validated bytes, and sees those before the bad
    // one: an earlier syntax error wins, as it would byte by byte.
    const stop = this.parser.run(limit === len ? buf : buf.subarray(0, limit), base, from);
    if (bad >= 0) throw new XmlRpcEncodingError('invalid utf-8', base + bad);
    if (stop === len) {
      this.#carry = EMPTY;
      this.#carryChecked = 0;
    } else {
      // A copy: the caller may reuse its chunk once write() returns.
      this.#carry = Buffer.from(buf.subarray(stop));
      this.#carryChecked = tail - stop;
    }
    return stop;
  }

  /** Checks that the document is complete; throws the sticky error otherwise. */
  finish(): void {
    if (this.#error !== null) throw this.#error;
    this.#ended = true;
    try {
      this.#finish();
    } catch (err) {
      this.#error = err;
      throw err;
    }
  }

  #finish(): void {
    const carry = this.#carry;
    const at = this.written;
    if (this.#carryChecked < carry.length) {
      throw new XmlRpcEncodingError('truncated utf-8 sequence', at - (carry.length - this.#carryChecked));
    }
    const parser = this.parser;
    let inside = '';
    if (parser.mode === M_COMMENT) inside = 'a comment';
    else if (parser.mode === M_CDATA) inside = 'a CDATA section';
    else if (parser.mode === M_PI) inside = 'a processing instruction';
    else if (carry.length > 0) inside = carry[0] === AMP ? 'an entity reference' : 'a tag';
    else if (!parser.complete && parser.rootSeen) inside = `<${parser.openElement}>`;
    if (inside !== '') throw new XmlRpcTruncatedError(`document ends inside ${inside}`, at);
    if (!parser.complete) throw new XmlRpcTruncatedError(at === 0 ? 'empty document' : 'document has no root element', at);
  }
}

/**
 * Streaming decoder of one XML-RPC `<methodResponse>` (for a `<methodCall>`
 * use {@link XmlRpcCallDecoder} or {@link decodeCall}).
 *
 * ```ts
 * const decoder = new XmlRpcDecoder({ maxBytes: 64 << 20 });
 * for await (const chunk of body) decoder.write(chunk);
 * const value = decoder.end(); // throws XmlRpcFault for a <fault> answer
 * ```
 *
 * A response holds exactly one `<param>`: `<params/>` (no value) and a
 * second `<param>` are {@link XmlRpcParseError}s. A `system.multicall` answer
 * is an ordinary array whose failed items are plain
 * `{faultCode, faultString}` structs; turning those into faults is the
 * caller's job.
 *
 * Structs are plain objects (prototype `Object.prototype`); a member named
 * `__proto__`, `constructor` or `prototype` is an ordinary own property. A
 * repeated member name keeps the last value (as Python's dict does).
 */
export class XmlRpcDecoder {
  readonly #core: DecoderCore;

  /**
   * @param options limits; defaults: `maxDepth` 64, `maxBytes` 256 MiB.
   * @throws {TypeError} for options of the wrong type or an unknown option key.
   * @throws {RangeError} for a limit that is not a positive integer.
   */
  constructor(options?: XmlRpcDecoderOptions) {
    this.#core = new DecoderCore(options, false);
  }

  /**
   * Feeds the next chunk (any size; it may split anything). The chunk is not
   * kept: only a cut token is copied. Throws as soon as an error is certain;
   * after an error every further `write`/`end` throws the same error.
   *
   * @throws {DocumentSizeError} when the bytes written would exceed `maxBytes`
   *   (nothing of that chunk is processed).
   * @throws {XmlRpcParseError} or one of its subclasses
   *   ({@link XmlRpcTypeError}, {@link XmlRpcValueError},
   *   {@link XmlRpcDoctypeError}, {@link XmlRpcEncodingError}) for a bad
   *   document, and {@link DepthLimitError} for nesting deeper than `maxDepth`.
   * @throws {ProtocolError} with code `ERR_XMLRPC_DECODER_ENDED` after `end()`.
   */
  write(chunk: Uint8Array): void {
    this.#core.write(chunk);
  }

  /**
   * Finishes the document and returns the response's value. Calling it again
   * returns the same value (or throws the same error).
   *
   * @throws {XmlRpcFault} for a `<fault>` response.
   * @throws {XmlRpcTruncatedError} when the document is incomplete (including
   *   an empty document), {@link XmlRpcEncodingError} when it ends inside a
   *   UTF-8 sequence, and the error of an earlier failed `write`.
   */
  end(): XmlRpcValue {
    this.#core.finish();
    const parser = this.#core.parser;
    if (parser.faultString !== null) throw new XmlRpcFault(parser.faultCode, parser.faultString);
    return parser.result;
  }

  /** Bytes written so far (accepted by `write`). */
  get bytesWritten(): number {
    return this.#core.written;
  }
}

/**
 * Streaming decoder of one XML-RPC `<methodCall>`: the same rules as
 * {@link XmlRpcDecoder}, with `<methodName>` and optional `<params>` holding
 * any number of `<param>`s.
 */
export class XmlRpcCallDecoder {
  readonly #core: DecoderCore;

  /**
   * @param options limits; defaults: `maxDepth` 64, `maxBytes` 256 MiB.
   * @throws {TypeError} for options of the wrong type or an unknown option key.
   * @throws {RangeError} for a limit that is not a positive integer.
   */
  constructor(options?: XmlRpcDecoderOptions) {
    this.#core = new DecoderCore(options, true);
  }

  /** Feeds the next chunk; see {@link XmlRpcDecoder.write}. */
  write(chunk: Uint8Array): void {
    this.#core.write(chunk);
  }

  /**
   * Finishes the document and returns the call. Calling it again returns an
   * equal call.
   *
   * @throws see {@link XmlRpcDecoder.end} (a call has no fault).
   */
  end(): XmlRpcCall {
    this.#core.finish();
    const parser = this.#core.parser;
    return { method: parser.method, params: parser.params };
  }

  /** Bytes written so far (accepted by `write`). */
  get bytesWritten(): number {
    return this.#core.written;
  }
}

/**
 * Decodes a complete `<methodResponse>` held in one buffer.
 *
 * @returns the response's value.
 * @throws {XmlRpcFault} for a `<fault>` response, and everything
 *   {@link XmlRpcDecoder.write} and {@link XmlRpcDecoder.end} throw.
 */
export function decodeResponse(bytes: Uint8Array, options?: XmlRpcDecoderOptions): XmlRpcValue {
  const decoder = new XmlRpcDecoder(options);
  decoder.write(bytes);
  return decoder.end();
}

/**
 * Decodes a complete `<methodCall>` held in one buffer.
 *
 * @returns `{ method, params }` (`params` is empty when `<params>` is absent).
 * @throws everything {@link XmlRpcDecoder.write} and {@link XmlRpcDecoder.end} throw.
 */
export function decodeCall(bytes: Uint8Array, options?: XmlRpcDecoderOptions): XmlRpcCall {
  const decoder = new XmlRpcCallDecoder(options);
  decoder.write(bytes);
  return decoder.end();
}
