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
 * It accepts what XML-RPC producers send (supervisord-protocol.md section 3):
 * an XML declaration at the very start (after an optional UTF-8 BOM), other
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
 * @module
 */
import { Buffer, isAscii, isUtf8 } from 'node:buffer';
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
import type { XmlRpcCall, XmlRpcStruct, XmlRpcValue } from './types.js';
import { findInvalidUtf8, incompleteUtf8Tail } from './utf8.js';
import { decodeBase64, parseBoolean, parseDateTime, parseDouble, parseInt32, parseInt64 } from './xml-scalars.js';

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
 * Longest tag (from `<` to `>`, attributes included) the decoder accepts, and
 * so the most it carries between chunks. XML-RPC tags are at most 19 bytes;
 * namespace declarations on the root element stay well under 200.
 */
export const MAX_TAG_BYTES = 4096;

/**
 * Longest entity or character reference (from `&` to `;`). `&#x10FFFF;` is
 * 10 bytes; the margin allows leading zeros, which XML permits.
 */
const MAX_ENTITY_BYTES = 32;

// ---------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const BANG = 0x21; // !
const DQUOTE = 0x22; // "
const HASH = 0x23; // #
const AMP = 0x26; // &
const SQUOTE = 0x27; // '
const DASH = 0x2d; // -
const SLASH = 0x2f; // /
const ZERO = 0x30; // 0
const SEMICOLON = 0x3b; // ;
const LT = 0x3c; // <
const GT = 0x3e; // >
const QUESTION = 0x3f; // ?
const LBRACKET = 0x5b; // [
const RBRACKET = 0x5d; // ]
const LOWER_X = 0x78; // x
const CASE_BIT = 0x20; // ASCII upper | 0x20 = lower
const BOM_0 = 0xef;
const BOM_1 = 0xbb;
const BOM_2 = 0xbf;

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

const COMMENT_END = ascii('-->');
const CDATA_OPEN = ascii('<![CDATA[');
const CDATA_END = ascii(']]>');
const PI_END = ascii('?>');
const EMPTY = Buffer.alloc(0);

/**
 * `Buffer#latin1Slice` and `Buffer#utf8Slice`: what `toString(encoding,
 * start, end)` calls after checking its arguments. Undocumented but present
 * in every Node release (Node's own modules and busboy call them); used when
 * present. Measured: 17.1 against 18.8 ms (median) for a 10,000-process
 * answer, the argument checks of 80,000 `toString` calls.
 */
interface SliceMethods {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const SLICES =
  typeof (Buffer.prototype as unknown as Partial<SliceMethods>).latin1Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<SliceMethods>).utf8Slice === 'function';
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/**
 * 1 for the bytes that end a tag name: whitespace, `/`, `>` and `<`. One table
 * load per name byte instead of four comparisons.
 */
const ENDS_NAME = (() => {
  const t = new Uint8Array(256);
  for (const b of [SP, TAB, LF, CR, SLASH, GT, LT]) t[b] = 1;
  return t;
})();

function isWs(b: number): boolean {
  return b === SP || b === LF || b === TAB || b === CR;
}

/**
 * Four bytes of a literal as the little-endian 32-bit word `DataView.getUint32(p, true)`
 * reads. The fast paths compare tags four bytes at a time: measured on the
 * 140,000 `<member>` tags of a 10,000-process answer, two word reads take
 * 0.28 ms where a byte loop against a literal array takes 1.86 ms (0.60 ms
 * hand-unrolled).
 */
function word(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

const W_MEMBER_0 = word('<mem'); // <member>
const W_MEMBER_4 = word('ber>');
const W_MEMBER_END_0 = word('</me'); // </member>
const W_MEMBER_END_4 = word('mber');
const W_NAME_0 = word('<nam'); // <name>
const H_NAME_4 = word('e>\0\0'); // as getUint16
const W_NAME_END_0 = word('</na'); // </name>
const W_NAME_END_3 = word('ame>');
const W_VALUE_0 = word('<val'); // <value>
const W_VALUE_3 = word('lue>');
const W_VALUE_END_0 = word('</va'); // </value>
const W_VALUE_END_4 = word('lue>');
const W_STRING_0 = word('<str'); // <string>
const W_STRING_4 = word('ing>');
const W_STRUCT_4 = word('uct>'); // <struct>, after W_STRING_0
const W_STRING_END_0 = word('</st'); // </string>
const W_STRING_END_4 = word('ring');
const W_INT_0 = word('<int'); // <int>
const W_INT_END_0 = word('</in'); // </int>
const H_INT_END_4 = word('t>\0\0'); // as getUint16
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const LT_X4 = 0x3c3c3c3c; // '<' in each byte of a word

// ---------------------------------------------------------------------------
// Elements and frames
// ---------------------------------------------------------------------------

// Element ids: what a tag name is, decided from its bytes without making a string.
const E_UNKNOWN = 0;
const E_METHOD_RESPONSE = 1;
const E_METHOD_CALL = 2;
const E_METHOD_NAME = 3;
const E_PARAMS = 4;
const E_PARAM = 5;
const E_FAULT = 6;
const E_VALUE = 7;
const E_ARRAY = 8;
const E_DATA = 9;
const E_STRUCT = 10;
const E_MEMBER = 11;
const E_NAME = 12;
const E_STRING = 13;
const E_INT = 14;
const E_I4 = 15;
const E_I8 = 16;
const E_BOOLEAN = 17;
const E_DOUBLE = 18;
const E_BASE64 = 19;
const E_DATETIME = 20;
const E_NIL = 21;
const E_EX_NIL = 22;

const ELEMENT_NAMES = [
  '',
  'methodResponse',
  'methodCall',
  'methodName',
  'params',
  'param',
  'fault',
  'value',
  'array',
  'data',
  'struct',
  'member',
  'name',
  'string',
  'int',
  'i4',
  'i8',
  'boolean',
  'double',
  'base64',
  'dateTime.iso8601',
  'nil',
  'ex:nil',
];
const ELEMENT_BYTES = ELEMENT_NAMES.map(ascii);

// Frame kinds: what an open element is and what may appear inside it.
// Kinds below K_VALUE hold elements only (text must be whitespace); K_VALUE
// and above hold text.
const K_PROLOG = 0; // before the root element (the stack bottom)
const K_EPILOG = 1; // after the root element (the stack bottom)
const K_RESPONSE = 2;
const K_CALL = 3;
const K_PARAMS = 4;
const K_PARAM = 5;
const K_FAULT = 6;
const K_ARRAY = 7;
const K_DATA = 8;
const K_STRUCT = 9;
const K_MEMBER = 10;
const K_NIL = 11;
const K_VALUE_DONE = 12; // a <value> whose type element has been read
const K_VALUE = 13; // a <value> with no type element yet: its text is an untyped string
const K_NAME = 14;
const K_METHOD_NAME = 15;
const K_STRING = 16;
const K_INT = 17;
const K_I8 = 18;
const K_BOOLEAN = 19;
const K_DOUBLE = 20;
const K_BASE64 = 21;
const K_DATETIME = 22;

/** Frame kind of each element id inside a `<value>`; -1 for elements that are not types. */
const TYPE_KIND = (() => {
  const t = new Array<number>(ELEMENT_NAMES.length).fill(-1);
  t[E_STRING] = K_STRING;
  t[E_INT] = K_INT;
  t[E_I4] = K_INT;
  t[E_I8] = K_I8;
  t[E_BOOLEAN] = K_BOOLEAN;
  t[E_DOUBLE] = K_DOUBLE;
  t[E_BASE64] = K_BASE64;
  t[E_DATETIME] = K_DATETIME;
  t[E_NIL] = K_NIL;
  t[E_EX_NIL] = K_NIL;
  t[E_ARRAY] = K_ARRAY;
  t[E_STRUCT] = K_STRUCT;
  return t;
})();

// Frame flags.
const F_HAS_NAME = 1; // <member>: <name> seen; <methodCall>: <methodName> seen
const F_HAS_VALUE = 2; // <member>, <param>, <fault>: <value> seen; <methodCall>: <params> seen; <array>: <data> seen; <methodResponse>: child seen

// Modes: constructs that may span any number of chunks.
const M_NONE = 0;
const M_COMMENT = 1;
const M_CDATA = 2;
const M_PI = 3;

/** Compares `bytes[at..at+lit.length)` with `lit` (the caller checked the length). */
function same(bytes: Uint8Array, at: number, lit: Uint8Array): boolean {
  for (let k = 0; k < lit.length; k++) if (bytes[at + k] !== lit[k]) return false;
  return true;
}

/**
 * The element id of the tag name `bytes[start..end)`: dispatch on length,
 * then one distinguishing byte, then a full comparison. No string is made.
 */
function identify(bytes: Uint8Array, start: number, end: number): number {
  let id = E_UNKNOWN;
  switch (end - start) {
    case 2:
      if (bytes[start] === 0x69 /* i */) id = bytes[start + 1] === 0x34 /* 4 */ ? E_I4 : E_I8;
      break;
    case 3:
      id = bytes[start] === 0x69 /* i */ ? E_INT : E_NIL;
      break;
    case 4:
      id = bytes[start] === 0x6e /* n */ ? E_NAME : E_DATA;
      break;
    case 5:
      switch (bytes[start]) {
        case 0x76 /* v */:
          id = E_VALUE;
          break;
        case 0x70 /* p */:
          id = E_PARAM;
          break;
        case 0x66 /* f */:
          id = E_FAULT;
          break;
        case 0x61 /* a */:
          id = E_ARRAY;
          break;
      }
      break;
    case 6:
      switch (bytes[start]) {
        case 0x6d /* m */:
          id = E_MEMBER;
          break;
        case 0x70 /* p */:
          id = E_PARAMS;
          break;
        case 0x64 /* d */:
          id = E_DOUBLE;
          break;
        case 0x62 /* b */:
          id = E_BASE64;
          break;
        case 0x65 /* e */:
          id = E_EX_NIL;
          break;
        case 0x73 /* s */:
          id = bytes[start + 3] === 0x69 /* i */ ? E_STRING : E_STRUCT;
          break;
      }
      break;
    case 7:
      id = E_BOOLEAN;
      break;
    case 10:
      id = bytes[start + 6] === 0x43 /* C */ ? E_METHOD_CALL : E_METHOD_NAME;
      break;
    case 14:
      id = E_METHOD_RESPONSE;
      break;
    case 16:
      id = E_DATETIME;
      break;
  }
  return id !== E_UNKNOWN && same(bytes, start, ELEMENT_BYTES[id]!) ? id : E_UNKNOWN;
}

/** Whether the ASCII string `s` equals the bytes at `bytes[at..at+s.length)`. */
function sameAscii(s: string, bytes: Uint8Array, at: number): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== bytes[at + k]) return false;
  return true;
}

/** OR of the bytes `bytes[start..end)`: 0x80 or more means non-ASCII. */
function orBytes(bytes: Uint8Array, start: number, end: number): number {
  let high = 0;
  for (let k = start; k < end; k++) high |= bytes[k]!;
  return high;
}

/** Shows a piece of document text in a message: quoted, escaped, at most 40 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

/**
 * Sets a struct member. `__proto__` is the only name whose assignment does
 * not create an own property (the `Object.prototype.__proto__` setter), so it
 * is defined instead; `constructor` and `prototype` are ordinary.
 */
function setMember(struct: XmlRpcStruct, name: string, value: XmlRpcValue): void {
  if (name === '__proto__') {
    Object.defineProperty(struct, name, { value, writable: true, enumerable: true, configurable: true });
  } else {
    struct[name] = value;
  }
}

// Member names are interned in a small cache indexed by a hash of their bytes
// (two candidate slots per name). A getAllProcessInfo answer repeats the same
// 14 names for every process; reusing one internalized string saves an
// allocation per member and speeds up every property store (see #intern).
const NAME_CACHE_SIZE = 256; // power of two
const NAME_CACHE_MAX_LENGTH = 64;

/** Members per struct whose names are predicted (bounds the memory of #shapes). */
const MAX_SHAPE_MEMBERS = 256;

/**
 * A member name expected at some position in a struct, with its bytes as
 * little-endian words for comparing four bytes at a time: one word per whole
 * four bytes, then the word ending at the last byte (it may overlap the
 * previous one).
 */
class PredictedName {
  readonly name: string;
  readonly length: number;
  readonly words: Uint32Array;

  constructor(name: string) {
    const n = name.length;
    this.name = name;
    this.length = n;
    const whole = n >> 2;
    this.words = new Uint32Array(whole + 1);
    for (let i = 0; i < whole; i++) this.words[i] = word(name.slice(4 * i, 4 * i + 4));
    if (n >= 4) this.words[whole] = word(name.slice(n - 4));
  }
}

/** Whether the bytes at `p` are the predicted name (the caller checked the bounds). */
function sameName(view: DataView, p: number, predicted: PredictedName): boolean {
  const n = predicted.length;
  if (n < 4) {
    for (let k = 0; k < n; k++) if (view.getUint8(p + k) !== predicted.name.charCodeAt(k)) return false;
    return true;
  }
  const words = predicted.words;
  const whole = n >> 2;
  for (let i = 0; i < whole; i++) if (view.getUint32(p + 4 * i, true) !== words[i]) return false;
  return view.getUint32(p + n - 4, true) === words[whole];
}

// ---------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------

/**
 * The parsing state machine. {@link XmlRpcDecoder} validates UTF-8 and
 * manages the carried bytes; the parser receives buffers of complete
 * characters and consumes as many whole tokens as they hold.
 *
 * The element stack is explicit (parallel arrays indexed by depth), so a
 * deeply nested document costs no JavaScript stack and fails at `maxDepth`.
 *
 * Performance notes. Measured on a 10,000-process getAllProcessInfo answer
 * written as Python writes it (13 MB, ASCII), Node 20, 2-core AMD EPYC, where
 * `buf.toString('utf8')` of the same bytes takes 8-9 ms:
 * - the general parser alone (tag names scanned, identified by length and
 *   bytes, one frame per element) took 61 ms. The speculative fast paths
 *   (#fastMember, #fastValue) read a whole `<member>` or `<value>` of the
 *   common shapes with 4-byte word compares and no frames: 41 ms;
 * - member names: internalized (property stores 4.1 -> 2.3 ms), hashed over
 *   every byte (a 3-byte sample made two names evict each other 10,000
 *   times), and predicted from the previous struct (20.2 -> 17.2 ms);
 * - strings: one native slice per token (see #string and SLICES);
 * - text: a 4-byte-at-a-time scan for `<` (see #fastScalar);
 * - chunks: only a small copy finishes a cut token (see DecoderCore).
 * Result: 15-16 ms, 1.8-2.1x the floor, for one buffer; 17 ms, 2.0-2.5x, in
 * 64 KiB chunks (medians and minimums of 41 interleaved samples on a shared,
 * noisy machine).
 */
class XmlRpcParser {
  readonly #maxDepth: number;
  readonly #call: boolean;

  // The element stack. Slot 0 is the document (K_PROLOG, then K_EPILOG).
  readonly #kinds: number[] = [K_PROLOG];
  readonly #elements: number[] = [E_UNKNOWN];
  readonly #flags: number[] = [0];
  /** Per frame: the object of a struct, the array of a data/array, the name of a member. */
  readonly #objects: unknown[] = [null];
  #sp = 0;

  // The buffer being parsed (valid during run() only).
  #buf: Buffer = EMPTY;
  #view: DataView = EMPTY_VIEW;
  /** Whether the whole buffer is ASCII (then no token needs its bytes ORed). */
  #ascii = false;
  /**
   * Index of the next `&` in the buffer at or after the last place looked
   * (buffer length when none; -1 before the first look). The fast paths scan
   * text for `<` only and consult this to know whether an entity is inside.
   */
  #nextAmp = -1;
  #base = 0;

  // Text of the innermost element: pieces already made into a string, plus
  // at most one pending byte range of the current buffer.
  #text = '';
  #rangeStart = -1;
  #rangeEnd = -1;
  #rangeHigh = 0; // OR of the range's bytes: >= 0x80 means non-ASCII
  /** Absolute offset where the innermost element's content starts (for value errors). */
  #contentAt = 0;

  /** The value of the last closed type element, waiting for its `</value>`. */
  #value: XmlRpcValue = null;

  /** Construct spanning chunks (comment, CDATA, PI), or M_NONE. */
  mode = M_NONE;
  /** Absolute offset at which an XML declaration may start (0, or 3 after a BOM). */
  #declarationAt = 0;
  /** True once the root element has started. */
  rootSeen = false;

  readonly #names: (string | undefined)[] = new Array<string | undefined>(NAME_CACHE_SIZE);
  /** Per depth: the member names of the last struct read at that depth, in order. */
  readonly #shapes: (PredictedName | undefined)[][] = [];

  // Results.
  result: XmlRpcValue = null;
  faultCode = 0;
  faultString: string | null = null;
  method = '';
  readonly params: XmlRpcValue[] = [];

  constructor(maxDepth: number, call: boolean) {
    this.#maxDepth = maxDepth;
    this.#call = call;
  }

  /** True once the root element is closed (only whitespace, comments and PIs may follow). */
  get complete(): boolean {
    return this.#kinds[0] === K_EPILOG;
  }

  /** Name of the innermost open element, or '' at the document level. */
  get openElement(): string {
    return this.#sp === 0 ? '' : ELEMENT_NAMES[this.#elements[this.#sp]!]!;
  }

  /**
   * Parses the whole tokens of `buf` from index `from` (complete UTF-8
   * characters only); the first byte of `buf` is at absolute offset `base`.
   *
   * @returns the index of the first byte not consumed: the start of a token
   *   cut by the end of `buf`, to be carried into the next buffer.
   */
  run(buf: Buffer, base: number, from: number): number {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.#ascii = isAscii(buf);
    this.#nextAmp = -1;
    this.#base = base;
    const end = buf.length;
    let pos = from;
    if (base + from === 0 && end >= 3 && buf[0] === BOM_0 && buf[1] === BOM_1 && buf[2] === BOM_2) {
      pos = 3;
      this.#declarationAt = 3;
    }
    if (this.mode !== M_NONE) {
      pos = this.#resume(pos);
      if (pos < 0) return this.#finish(-pos - 1);
    }
    const kinds = this.#kinds;
    while (pos < end) {
      let c = buf[pos]!;
      if (c !== LT) {
        if (kinds[this.#sp]! >= K_VALUE) {
          // Text content: scan to the next markup or reference.
          let p = pos;
          let high = 0;
          while (p < end) {
            c = buf[p]!;
            if (c === LT || c === AMP) break;
            high |= c;
            p++;
          }
          if (p > pos) this.#addRange(pos, p, high);
          if (p < end && c === AMP) {
            const q = this.#reference(p);
            if (q < 0) return this.#finish(p);
            pos = q;
          } else {
            pos = p;
          }
          continue;
        }
        // Element content: whitespace only.
        while (c === LF || c === SP || c === TAB || c === CR) {
          if (++pos === end) return this.#finish(end);
          c = buf[pos]!;
        }
        if (c !== LT) throw this.#unexpectedText(pos);
      }
      // Markup at pos. First the fast paths for the shapes Python writes.
      const kind = kinds[this.#sp]!;
      if (kind === K_STRUCT) {
        const q = this.#fastMember(pos);
        if (q > 0) {
          pos = q;
          continue;
        }
      } else if (kind === K_DATA) {
        const q = this.#fastValue(pos);
        if (q > 0) {
          pos = q;
          continue;
        }
      }
      if (pos + 1 === end) return this.#finish(pos);
      const c1 = buf[pos + 1]!;
      const limit = end - pos > MAX_TAG_BYTES ? pos + MAX_TAG_BYTES : end;
      if (c1 === SLASH) {
        // The end tag of the open element, written plainly: compare it in
        // place, no scan for the name's end.
        const expected = ELEMENT_BYTES[this.#elements[this.#sp]!]!;
        const close = pos + 2 + expected.length;
        if (close < end && buf[close] === GT && this.#sp !== 0 && same(buf, pos + 2, expected)) {
          this.#close(pos);
          pos = close + 1;
          continue;
        }
        let p = pos + 2;
        while (p < limit && ENDS_NAME[buf[p]!] === 0) p++;
        const nameEnd = p;
        while (p < limit && isWs(buf[p]!)) p++;
        if (p === limit) {
          if (limit - pos === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, pos);
          return this.#finish(pos);
        }
        if (buf[p] !== GT || nameEnd === pos + 2) throw this.#syntax('malformed end tag', pos);
        this.#endTag(pos + 2, nameEnd, pos);
        pos = p + 1;
      } else if (c1 === BANG) {
        const q = this.#bang(pos);
        if (q < 0) return this.#finish(-q - 1);
        pos = q;
      } else if (c1 === QUESTION) {
        const q = this.#processingInstruction(pos, limit);
        if (q < 0) return this.#finish(-q - 1);
        pos = q;
      } else {
        let p = pos + 1;
        while (p < limit && ENDS_NAME[buf[p]!] === 0) p++;
        if (p === limit) {
          if (limit - pos === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, pos);
          return this.#finish(pos);
        }
        const nameEnd = p;
        c = buf[p]!;
        if (nameEnd === pos + 1 || c === LT) throw this.#syntax('malformed tag', pos);
        let selfClosing = false;
        if (c === GT) {
          p++;
        } else if (c === SLASH) {
          if (p + 1 === limit) {
            if (limit - pos === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, pos);
            return this.#finish(pos);
          }
          if (buf[p + 1] !== GT) throw this.#syntax('malformed tag', pos);
          selfClosing = true;
          p += 2;
        } else {
          // Attributes: skipped, honouring quotes ('>' may appear inside them).
          let quoteByte = 0;
          let last = 0; // last byte outside quotes that is not whitespace
          for (;;) {
            if (p === limit) {
              if (limit - pos === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, pos);
              return this.#finish(pos);
            }
            const b = buf[p]!;
            if (quoteByte !== 0) {
              if (b === quoteByte) quoteByte = 0;
            } else if (b === GT) {
              break;
            } else if (b === DQUOTE || b === SQUOTE) {
              quoteByte = b;
            } else if (b === LT) {
              throw this.#syntax('malformed tag', pos);
            }
            if (!isWs(b)) last = b;
            p++;
          }
          selfClosing = last === SLASH;
          p++;
        }
        this.#startTag(pos + 1, nameEnd, pos, p, selfClosing);
        pos = p;
      }
    }
    return this.#finish(end);
  }

  /** Ends a run: moves a pending text range into the string (the buffer is going away). */
  #finish(stop: number): number {
    if (this.#rangeStart >= 0) this.#flushRange();
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    return stop;
  }

  // -------------------------------------------------------------------------
  // Text
  // -------------------------------------------------------------------------

  /** The string of `buf[start..end)`; `high` is the OR of its bytes. */
  #string(start: number, end: number, high: number): string {
    // One native call per token. Measured against slicing one latin1 string
    // of the whole buffer (10,000-process answer, median of 41): 18.5 ms
    // against 28.5 ms whole, 20.9 ms against 30.1 ms in 64 KiB chunks. The
    // slices are cheap, but they keep the buffer-sized string alive and its
    // GC cost dominates; per-token strings also retain nothing. ASCII text
    // takes the latin1 conversion, a plain copy.
    if (SLICES) {
      const b = this.#buf as unknown as SliceMethods;
      return high < 0x80 ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
    }
    return this.#buf.toString(high < 0x80 ? 'latin1' : 'utf8', start, end);
  }

  #addRange(start: number, end: number, high: number): void {
    if (this.#rangeStart >= 0) this.#flushRange();
    this.#rangeStart = start;
    this.#rangeEnd = end;
    this.#rangeHigh = high;
  }

  #flushRange(): void {
    this.#text += this.#string(this.#rangeStart, this.#rangeEnd, this.#rangeHigh);
    this.#rangeStart = -1;
  }

  /** The innermost element's text, as a string; resets it. */
  #takeText(): string {
    let s = this.#text;
    if (this.#rangeStart >= 0) {
      const r = this.#string(this.#rangeStart, this.#rangeEnd, this.#rangeHigh);
      this.#rangeStart = -1;
      s = s === '' ? r : s + r;
    }
    this.#text = '';
    return s;
  }

  /** A member name: interned when it is one ASCII range of the buffer. */
  #takeName(): string {
    const start = this.#rangeStart;
    if (this.#text !== '' || start < 0 || this.#rangeHigh >= 0x80) return this.#takeText();
    this.#rangeStart = -1;
    return this.#intern(start, this.#rangeEnd);
  }

  /** The string of the ASCII range `buf[start..end)`, from the name cache when it was seen recently. */
  #intern(start: number, end: number): string {
    const n = end - start;
    if (n === 0) return '';
    if (n > NAME_CACHE_MAX_LENGTH) return this.#string(start, end, 0);
    const buf = this.#buf;
    // FNV-1a over every byte: sampling a few bytes made `stdout_logfile` and
    // `stderr_logfile` collide and evict each other 10,000 times.
    let h = 0x811c9dc5;
    for (let k = start; k < end; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
    // Two candidate slots per name, so two names sharing one slot do not
    // keep evicting each other.
    const names = this.#names;
    const slot1 = h & (NAME_CACHE_SIZE - 1);
    const slot2 = (h >>> 16) & (NAME_CACHE_SIZE - 1);
    let cached = names[slot1];
    if (cached !== undefined && cached.length === n && sameAscii(cached, buf, start)) return cached;
    cached = names[slot2];
    if (cached !== undefined && cached.length === n && sameAscii(cached, buf, start)) return cached;
    // Keys of an object are internalized strings; reading one back gives
    // the internalized copy, which V8 uses as a property key without hashing
    // and looking it up again on every store. Measured: 140,000 member stores
    // take 4.1 ms with sliced strings as keys, 2.3 ms with internalized ones.
    const s = Object.keys({ [this.#string(start, end, 0)]: 0 })[0]!;
    names[names[slot1] === undefined ? slot1 : slot2] = s;
    return s;
  }

  /** Whether the text gathered so far is only whitespace. */
  #textIsWhitespace(): boolean {
    const t = this.#text;
    for (let k = 0; k < t.length; k++) if (!isWs(t.charCodeAt(k))) return false;
    if (this.#rangeStart >= 0) {
      const buf = this.#buf;
      for (let k = this.#rangeStart; k < this.#rangeEnd; k++) if (!isWs(buf[k]!)) return false;
    }
    return true;
  }

  // Scalar text as bytes: the pending range itself when the text is one
  // range of the current buffer (the common case: no copy, no string),
  // else the UTF-8 encoding of the gathered string.
  #scalarBytes: Buffer = EMPTY;
  #scalarStart = 0;
  #scalarEnd = 0;

  #takeScalar(): void {
    if (this.#text === '') {
      if (this.#rangeStart >= 0) {
        this.#scalarBytes = this.#buf;
        this.#scalarStart = this.#rangeStart;
        this.#scalarEnd = this.#rangeEnd;
        this.#rangeStart = -1;
        return;
      }
      this.#scalarBytes = EMPTY;
      this.#scalarStart = 0;
      this.#scalarEnd = 0;
      return;
    }
    const bytes = Buffer.from(this.#takeText(), 'utf8');
    this.#scalarBytes = bytes;
    this.#scalarStart = 0;
    this.#scalarEnd = bytes.length;
  }

  /** XmlRpcValueError for the scalar just taken. */
  #badValue(what: string): XmlRpcValueError {
    const text = this.#scalarBytes.toString('utf8', this.#scalarStart, this.#scalarEnd);
    const element = ELEMENT_NAMES[this.#elements[this.#sp]!]!;
    return new XmlRpcValueError(`${what} <${element}> value ${quote(text)}`, this.#contentAt);
  }

  /**
   * Decodes the entity or character reference at `at` (an `&`) and appends
   * its character to the text.
   *
   * @returns the index after the `;`, or -1 when the buffer ends first.
   */
  #reference(at: number): number {
    const buf = this.#buf;
    const limit = Math.min(buf.length, at + MAX_ENTITY_BYTES);
    let q = at + 1;
    for (;;) {
      if (q === limit) {
        if (limit - at === MAX_ENTITY_BYTES) throw this.#syntax('malformed entity reference', at);
        return -1;
      }
      const b = buf[q]!;
      if (b === SEMICOLON) break;
      if (b === LT || b === AMP || isWs(b)) throw this.#syntax('malformed entity reference', at);
      q++;
    }
    let ch: string;
    if (buf[at + 1] === HASH) {
      const hex = buf[at + 2] === LOWER_X;
      let k = at + (hex ? 3 : 2);
      if (k === q) throw this.#syntax('malformed character reference', at);
      let cp = 0;
      for (; k < q; k++) {
        const b = buf[k]!;
        let d = b - ZERO;
        if (hex && (d < 0 || d > 9)) {
          const lower = b | CASE_BIT;
          d = lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1; // a..f
        }
        if (d < 0 || d > (hex ? 15 : 9)) throw this.#syntax('malformed character reference', at);
        // Saturate: anything past U+10FFFF is refused below, whatever its size.
        if (cp <= 0x10ffff) cp = cp * (hex ? 16 : 10) + d;
      }
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw new XmlRpcEncodingError(
          `character reference ${buf.toString('latin1', at, q + 1)} names no allowed character`,
          this.#base + at,
        );
      }
      ch = String.fromCodePoint(cp);
    } else {
      ch = namedEntity(buf, at + 1, q);
      if (ch === '') throw this.#syntax(`unknown entity ${quote(buf.toString('utf8', at, q + 1))}`, at);
    }
    if (this.#rangeStart >= 0) this.#flushRange();
    this.#text += ch;
    return q + 1;
  }

  // -------------------------------------------------------------------------
  // Fast paths
  // -------------------------------------------------------------------------
  //
  // Speculative parsers for the exact shapes `xmlrpc.client.dumps` writes:
  //   <member>\n<name>N</name>\n<value><string>S</string></value>\n</member>
  //   <member>\n<name>N</name>\n<value><int>123</int></value>\n</member>
  //   <value><string>S</string></value>  <value><int>123</int></value>
  // (`\n` standing for any whitespace). They commit nothing until the whole
  // construct has been read from the buffer and is valid; on anything else
  // (a cut construct, an entity, a comment, another type, a bad number, a
  // depth limit) they return -1 and the general parser reads the same bytes
  // from the same position, so the result and any error are the ones the
  // general parser gives. Measured on the 10,000-process answer: see the
  // performance notes on the class.

  /** The value read by #fastScalar. */
  #fastValueRead: XmlRpcValue = null;

  /** Whether `buf[start..end)` holds an `&`; moves #nextAmp forward when it is behind `start`. */
  #hasAmp(start: number, end: number): boolean {
    let a = this.#nextAmp;
    if (a < start) {
      a = this.#buf.indexOf(AMP, start);
      if (a < 0) a = this.#buf.length;
      this.#nextAmp = a;
    }
    return a < end;
  }

  /** `<string>S</string>` or `<int>N</int>` at `p`: the index after it, or -1. */
  #fastScalar(p: number): number {
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    if (p + 12 > end) return -1; // shortest: <int>0</int>
    const w = view.getUint32(p, true);
    if (w === W_STRING_0) {
      if (view.getUint32(p + 4, true) !== W_STRING_4) return -1;
      const start = p + 8;
      let q = start;
      // Four bytes per step while none is '<' (SWAR: a byte of x is zero
      // exactly when that byte was '<'; the expression is non-zero iff x has
      // a zero byte). Measured: 6% off the whole decode of a 10,000-process
      // answer (16.6 against 17.8 ms). Scanning for '<' with indexOf after
      // the first 24 bytes was slower (20.1 against 18.4 ms): most strings
      // are short.
      while (q + 4 <= end) {
        const x = view.getUint32(q, true) ^ LT_X4;
        if (((x - 0x01010101) & ~x & 0x80808080) !== 0) break;
        q += 4;
      }
      while (q < end && buf[q] !== LT) q++;
      if (this.#nextAmp < q && this.#hasAmp(start, q)) return -1;
      const high = this.#ascii ? 0 : orBytes(buf, start, q);
      if (q + 9 > end || view.getUint32(q, true) !== W_STRING_END_0 || view.getUint32(q + 4, true) !== W_STRING_END_4 || buf[q + 8] !== GT) {
        return -1;
      }
      this.#fastValueRead = q === start ? '' : this.#string(start, q, high);
      return q + 9;
    }
    if (w === W_INT_0) {
      if (buf[p + 4] !== GT) return -1;
      let q = p + 5;
      const negative = buf[q] === DASH;
      if (negative) q++;
      const start = q;
      let v = 0;
      while (q < end) {
        const d = buf[q]! - ZERO;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        q++;
      }
      // Ten digits at most keeps v exact; the general parser handles the rest.
      if (q === start || q - start > 10 || q + 6 > end) return -1;
      if (view.getUint32(q, true) !== W_INT_END_0 || view.getUint16(q + 4, true) !== H_INT_END_4) return -1;
      if (negative) v = -v;
      if (v < INT32_MIN || v > INT32_MAX) return -1;
      this.#fastValueRead = v | 0;
      return q + 6;
    }
    return -1;
  }

  /** A whole `<member>` at `pos` inside a `<struct>`: the index after it, or -1. */
  #fastMember(pos: number): number {
    if (this.#sp + 3 > this.#maxDepth) return -1;
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    let p = pos;
    if (p + 8 > end || view.getUint32(p, true) !== W_MEMBER_0 || view.getUint32(p + 4, true) !== W_MEMBER_4) return -1;
    p += 8;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 6 > end || view.getUint32(p, true) !== W_NAME_0 || view.getUint16(p + 4, true) !== H_NAME_4) return -1;
    p += 6;
    // The k-th member of a struct usually has the name the k-th member of
    // the previous struct at this depth had (a list of same-shaped structs):
    // check that name's bytes in place before scanning and hashing.
    const sp = this.#sp;
    const k = this.#flags[sp]!;
    const shape = this.#shapes[sp] ?? (this.#shapes[sp] = []);
    const predicted = k < shape.length ? shape[k] : undefined;
    let name: string;
    if (predicted !== undefined && p + predicted.length < end && buf[p + predicted.length] === LT && sameName(view, p, predicted)) {
      name = predicted.name;
      p += predicted.length;
    } else {
      const nameStart = p;
      while (p < end && buf[p] !== LT) p++;
      if (this.#nextAmp < p && this.#hasAmp(nameStart, p)) return -1;
      if (!this.#ascii && orBytes(buf, nameStart, p) >= 0x80) return -1; // only ASCII names are interned
      name = this.#intern(nameStart, p);
      if (k < MAX_SHAPE_MEMBERS) shape[k] = new PredictedName(name);
    }
    if (p + 7 > end || view.getUint32(p, true) !== W_NAME_END_0 || view.getUint32(p + 3, true) !== W_NAME_END_3) return -1;
    p += 7;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 7 > end || view.getUint32(p, true) !== W_VALUE_0 || view.getUint32(p + 3, true) !== W_VALUE_3) return -1;
    p = this.#fastScalar(p + 7);
    if (p < 0) return -1;
    if (p + 8 > end || view.getUint32(p, true) !== W_VALUE_END_0 || view.getUint32(p + 4, true) !== W_VALUE_END_4) return -1;
    p += 8;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 9 > end || view.getUint32(p, true) !== W_MEMBER_END_0 || view.getUint32(p + 4, true) !== W_MEMBER_END_4 || buf[p + 8] !== GT) {
      return -1;
    }
    setMember(this.#objects[sp] as XmlRpcStruct, name, this.#fastValueRead);
    this.#flags[sp] = k + 1;
    return p + 9;
  }

  /** A whole `<value>` with a string or int at `pos` inside a `<data>`: the index after it, or -1. */
  #fastValue(pos: number): number {
    if (this.#sp + 2 > this.#maxDepth) return -1;
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    if (pos + 7 > end || view.getUint32(pos, true) !== W_VALUE_0 || view.getUint32(pos + 3, true) !== W_VALUE_3) return -1;
    if (pos + 15 <= end && view.getUint32(pos + 7, true) === W_STRING_0 && view.getUint32(pos + 11, true) === W_STRUCT_4) {
      // <value><struct>: open both (the members take #fastMember).
      this.#push(K_VALUE, E_VALUE, pos + 7);
      this.#push(K_STRUCT, E_STRUCT, pos + 15);
      return pos + 15;
    }
    const p = this.#fastScalar(pos + 7);
    if (p < 0 || p + 8 > end || view.getUint32(p, true) !== W_VALUE_END_0 || view.getUint32(p + 4, true) !== W_VALUE_END_4) return -1;
    (this.#objects[this.#sp] as XmlRpcValue[]).push(this.#fastValueRead);
    return p + 8;
  }

  // -------------------------------------------------------------------------
  // Markup other than tags
  // -------------------------------------------------------------------------

  /**
   * `<!` at `at`: a comment, a CDATA section, or a refused declaration.
   *
   * @returns the index after the construct, or `-(stop + 1)` when the buffer
   *   ends inside it (`stop` is where to carry from).
   */
  #bang(at: number): number {
    const buf = this.#buf;
    const end = buf.length;
    if (at + 2 === end) return -(at + 1);
    const c2 = buf[at + 2]!;
    if (c2 === DASH) {
      if (at + 3 === end) return -(at + 1);
      if (buf[at + 3] !== DASH) throw this.#syntax('malformed comment', at);
      return this.#comment(at + 4);
    }
    if (c2 === LBRACKET) {
      for (let k = 3; k < CDATA_OPEN.length; k++) {
        if (at + k === end) return -(at + 1);
        if (buf[at + k] !== CDATA_OPEN[k]) throw this.#syntax('malformed CDATA section', at);
      }
      if (this.#kinds[this.#sp]! < K_VALUE) {
        throw this.#syntax(`unexpected CDATA section ${this.#where()}`, at);
      }
      return this.#cdata(at + CDATA_OPEN.length);
    }
    const letter = c2 | CASE_BIT;
    if (letter >= 0x61 && letter <= 0x7a) {
      // <!DOCTYPE, <!ENTITY, <!ELEMENT, <!ATTLIST...: refused before reading
      // further, so no declaration is ever processed (billion laughs, XXE).
      throw new XmlRpcDoctypeError('document type or markup declaration not allowed', this.#base + at);
    }
    throw this.#syntax('malformed markup', at);
  }

  /** Inside a comment from `from`: finds `-->`. Same return convention as #bang. */
  #comment(from: number): number {
    const buf = this.#buf;
    const i = buf.indexOf(COMMENT_END, from);
    if (i >= 0) {
      this.mode = M_NONE;
      return i + 3;
    }
    this.mode = M_COMMENT;
    // Carry trailing dashes: they may begin the '-->' the next chunk ends.
    let k = buf.length;
    if (k > from && buf[k - 1] === DASH) k--;
    if (k > from && buf[k - 1] === DASH) k--;
    return -(k + 1);
  }

  /** Inside a CDATA section from `from`: its bytes are text up to `]]>`. */
  #cdata(from: number): number {
    const buf = this.#buf;
    const i = buf.indexOf(CDATA_END, from);
    let stop = i;
    if (i < 0) {
      // Carry trailing ']' (ASCII, so never inside a UTF-8 sequence).
      stop = buf.length;
      if (stop > from && buf[stop - 1] === RBRACKET) stop--;
      if (stop > from && buf[stop - 1] === RBRACKET) stop--;
    }
    if (stop > from) {
      let high = 0;
      for (let k = from; k < stop; k++) high |= buf[k]!;
      this.#addRange(from, stop, high);
    }
    if (i < 0) {
      this.mode = M_CDATA;
      return -(stop + 1);
    }
    this.mode = M_NONE;
    return i + 3;
  }

  /** `<?` at `at`: the XML declaration (only at the start) or another processing instruction. */
  #processingInstruction(at: number, limit: number): number {
    const buf = this.#buf;
    let p = at + 2;
    while (p < limit && !isWs(buf[p]!) && buf[p] !== QUESTION) p++;
    if (p === limit) {
      if (limit - at === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, at);
      return -(at + 1);
    }
    if (p === at + 2) throw this.#syntax('malformed processing instruction', at);
    if (
      p - at === 5 &&
      (buf[at + 2]! | CASE_BIT) === 0x78 /* x */ &&
      (buf[at + 3]! | CASE_BIT) === 0x6d /* m */ &&
      (buf[at + 4]! | CASE_BIT) === 0x6c /* l */ &&
      this.#base + at !== this.#declarationAt
    ) {
      throw this.#syntax('xml declaration not at the start of the document', at);
    }
    return this.#piBody(p);
  }

  /** Inside a processing instruction from `from`: finds `?>`. */
  #piBody(from: number): number {
    const buf = this.#buf;
    const i = buf.indexOf(PI_END, from);
    if (i >= 0) {
      this.mode = M_NONE;
      return i + 2;
    }
    this.mode = M_PI;
    let k = buf.length;
    if (k > from && buf[k - 1] === QUESTION) k--;
    return -(k + 1);
  }

  /** Continues a construct left open by the previous buffer. */
  #resume(from: number): number {
    switch (this.mode) {
      case M_COMMENT:
        return this.#comment(from);
      case M_CDATA:
        return this.#cdata(from);
      default:
        return this.#piBody(from);
    }
  }

  // -------------------------------------------------------------------------
  // Elements
  // -------------------------------------------------------------------------

  /**
   * A start tag: name at `buf[start..end)`, `<` at `at`, content from `after`.
   */
  #startTag(start: number, end: number, at: number, after: number, selfClosing: boolean): void {
    const id = identify(this.#buf, start, end);
    const sp = this.#sp;
    const flags = this.#flags;
    const parent = this.#kinds[sp]!;
    let kind: number;
    switch (parent) {
      case K_VALUE:
        kind = TYPE_KIND[id]!;
        if (kind < 0) {
          if (id === E_UNKNOWN) {
            throw new XmlRpcTypeError(`unknown value type <${this.#nameAt(start, end)}>`, this.#base + at);
          }
          throw this.#unexpectedElement(start, end, at);
        }
        if (!this.#textIsWhitespace()) throw this.#syntax('text mixed with an element in <value>', at);
        break;
      case K_MEMBER:
        if (id === E_NAME) {
          if ((flags[sp]! & F_HAS_NAME) !== 0) throw this.#syntax('more than one <name> in <member>', at);
          flags[sp]! |= F_HAS_NAME;
          kind = K_NAME;
        } else if (id === E_VALUE) {
          if ((flags[sp]! & F_HAS_NAME) === 0) throw this.#syntax('<value> before <name> in <member>', at);
          if ((flags[sp]! & F_HAS_VALUE) !== 0) throw this.#syntax('more than one <value> in <member>', at);
          flags[sp]! |= F_HAS_VALUE;
          kind = K_VALUE;
        } else {
          throw this.#unexpectedElement(start, end, at);
        }
        break;
      case K_STRUCT:
        if (id !== E_MEMBER) throw this.#unexpectedElement(start, end, at);
        kind = K_MEMBER;
        break;
      case K_DATA:
        if (id !== E_VALUE) throw this.#unexpectedElement(start, end, at);
        kind = K_VALUE;
        break;
      case K_ARRAY:
        if (id !== E_DATA) throw this.#unexpectedElement(start, end, at);
        if (flags[sp] !== 0) throw this.#syntax('more than one <data> in <array>', at);
        flags[sp] = F_HAS_VALUE;
        kind = K_DATA;
        break;
      case K_PARAM:
      case K_FAULT:
        if (id !== E_VALUE) throw this.#unexpectedElement(start, end, at);
        if (flags[sp] !== 0) throw this.#syntax(`more than one <value> in <${this.openElement}>`, at);
        flags[sp] = F_HAS_VALUE;
        kind = K_VALUE;
        break;
      case K_PARAMS:
        if (id !== E_PARAM) throw this.#unexpectedElement(start, end, at);
        if (!this.#call && flags[sp] !== 0) throw this.#syntax('more than one <param> in a response', at);
        flags[sp]!++;
        kind = K_PARAM;
        break;
      case K_RESPONSE:
        if (id === E_PARAMS) kind = K_PARAMS;
        else if (id === E_FAULT) kind = K_FAULT;
        else throw this.#unexpectedElement(start, end, at);
        if (flags[sp] !== 0) throw this.#syntax('more than one <params> or <fault> in <methodResponse>', at);
        flags[sp] = F_HAS_VALUE;
        break;
      case K_CALL:
        if (id === E_METHOD_NAME) {
          if ((flags[sp]! & F_HAS_NAME) !== 0) throw this.#syntax('more than one <methodName> in <methodCall>', at);
          flags[sp]! |= F_HAS_NAME;
          kind = K_METHOD_NAME;
        } else if (id === E_PARAMS) {
          if ((flags[sp]! & F_HAS_NAME) === 0) throw this.#syntax('<params> before <methodName> in <methodCall>', at);
          if ((flags[sp]! & F_HAS_VALUE) !== 0) throw this.#syntax('more than one <params> in <methodCall>', at);
          flags[sp]! |= F_HAS_VALUE;
          kind = K_PARAMS;
        } else {
          throw this.#unexpectedElement(start, end, at);
        }
        break;
      case K_PROLOG: {
        const root = this.#call ? E_METHOD_CALL : E_METHOD_RESPONSE;
        if (id !== root) {
          throw this.#syntax(`expected <${ELEMENT_NAMES[root]!}> as the root element, found <${this.#nameAt(start, end)}>`, at);
        }
        kind = this.#call ? K_CALL : K_RESPONSE;
        this.rootSeen = true;
        break;
      }
      case K_EPILOG:
        throw this.#syntax(`element <${this.#nameAt(start, end)}> after the root element`, at);
      case K_VALUE_DONE:
        throw this.#syntax('more than one element in <value>', at);
      default:
        // Scalars, <nil>, <name>, <methodName>: no child elements.
        throw this.#syntax(`unexpected element <${this.#nameAt(start, end)}> in <${this.openElement}>`, at);
    }
    if (sp >= this.#maxDepth) throw new DepthLimitError(this.#maxDepth, this.#base + at);
    this.#push(kind, id, after);
    if (selfClosing) this.#close(at);
  }

  /** Opens an element whose content starts at `after` (the caller checked that it may be there). */
  #push(kind: number, id: number, after: number): void {
    const top = ++this.#sp;
    this.#kinds[top] = kind;
    this.#elements[top] = id;
    this.#flags[top] = 0;
    this.#objects[top] = kind === K_STRUCT ? {} : kind === K_DATA ? [] : null;
    this.#text = '';
    this.#rangeStart = -1;
    this.#contentAt = this.#base + after;
  }

  /** An end tag: name at `buf[start..end)`, `<` at `at`. */
  #endTag(start: number, end: number, at: number): void {
    const sp = this.#sp;
    if (sp === 0) throw this.#syntax(`unexpected end tag </${this.#nameAt(start, end)}>`, at);
    const expected = ELEMENT_BYTES[this.#elements[sp]!]!;
    if (end - start !== expected.length || !same(this.#buf, start, expected)) {
      throw this.#syntax(`end tag </${this.#nameAt(start, end)}> does not match <${this.openElement}>`, at);
    }
    this.#close(at);
  }

  /** Closes the innermost element (its end tag, or its self-closing tag, is at `at`). */
  #close(at: number): void {
    const sp = this.#sp;
    const kinds = this.#kinds;
    let v: XmlRpcValue;
    switch (kinds[sp]) {
      case K_STRING:
        v = this.#takeText();
        break;
      case K_VALUE:
        this.#sp = sp - 1;
        this.#deliver(this.#takeText());
        return;
      case K_VALUE_DONE:
        this.#sp = sp - 1;
        this.#deliver(this.#value);
        return;
      case K_MEMBER: {
        const f = this.#flags[sp]!;
        if ((f & F_HAS_VALUE) === 0) {
          throw this.#syntax((f & F_HAS_NAME) === 0 ? 'struct member with no <name>' : 'struct member with no <value>', at);
        }
        this.#sp = sp - 1;
        this.#flags[sp - 1]!++; // members read so far, for #fastMember's name prediction
        return;
      }
      case K_NAME:
        this.#objects[sp - 1] = this.#takeName();
        this.#sp = sp - 1;
        return;
      case K_INT: {
        this.#takeScalar();
        const n = parseInt32(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (n === undefined) throw this.#badValue('invalid');
        if (n === null) throw this.#badValue('out of range');
        v = n;
        break;
      }
      case K_STRUCT:
        v = this.#objects[sp] as XmlRpcStruct;
        break;
      case K_DATA:
        this.#objects[sp - 1] = this.#objects[sp];
        this.#sp = sp - 1;
        return;
      case K_ARRAY:
        v = this.#flags[sp] === 0 ? [] : (this.#objects[sp] as XmlRpcValue[]);
        break;
      case K_I8: {
        this.#takeScalar();
        const n = parseInt64(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (n === undefined) throw this.#badValue('invalid');
        if (n === null) throw this.#badValue('out of range');
        v = n;
        break;
      }
      case K_BOOLEAN: {
        this.#takeScalar();
        const b = parseBoolean(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (b === undefined) throw this.#badValue('invalid');
        v = b;
        break;
      }
      case K_DOUBLE: {
        this.#takeScalar();
        const d = parseDouble(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (d === undefined) throw this.#badValue('invalid');
        v = d;
        break;
      }
      case K_BASE64: {
        this.#takeScalar();
        const bytes = decodeBase64(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (bytes === undefined) throw this.#badValue('invalid');
        v = bytes;
        break;
      }
      case K_DATETIME: {
        this.#takeScalar();
        const d = parseDateTime(this.#scalarBytes, this.#scalarStart, this.#scalarEnd);
        if (d === undefined) throw this.#badValue('invalid');
        v = d;
        break;
      }
      case K_NIL:
        v = null;
        break;
      case K_PARAM:
        if (this.#flags[sp] === 0) throw this.#syntax('<param> with no <value>', at);
        this.#sp = sp - 1;
        return;
      case K_PARAMS:
        // A response carries exactly one value; `<params/>` carries none.
        if (!this.#call && this.#flags[sp] === 0) throw this.#syntax('response has no value', at);
        this.#sp = sp - 1;
        return;
      case K_FAULT:
        if (this.#flags[sp] === 0) throw this.#syntax('<fault> with no <value>', at);
        this.#checkFault(at);
        this.#sp = sp - 1;
        return;
      case K_METHOD_NAME:
        this.method = this.#takeText();
        this.#sp = sp - 1;
        return;
      case K_RESPONSE:
        if (this.#flags[sp] === 0) throw this.#syntax('<methodResponse> with neither <params> nor <fault>', at);
        this.#sp = 0;
        kinds[0] = K_EPILOG;
        return;
      default: // K_CALL
        if ((this.#flags[sp]! & F_HAS_NAME) === 0) throw this.#syntax('<methodCall> with no <methodName>', at);
        this.#sp = 0;
        kinds[0] = K_EPILOG;
        return;
    }
    // A type element closed: its value waits in the enclosing <value>.
    this.#sp = sp - 1;
    kinds[sp - 1] = K_VALUE_DONE;
    this.#value = v;
  }

  /** Hands the value of a closed `<value>` to the element holding it. */
  #deliver(v: XmlRpcValue): void {
    const sp = this.#sp;
    switch (this.#kinds[sp]) {
      case K_DATA:
        (this.#objects[sp] as XmlRpcValue[]).push(v);
        break;
      case K_MEMBER:
        setMember(this.#objects[sp - 1] as XmlRpcStruct, this.#objects[sp] as string, v);
        break;
      case K_PARAM:
        if (this.#call) this.params.push(v);
        else this.result = v;
        break;
      default: // K_FAULT
        this.result = v;
        break;
    }
  }

  #checkFault(at: number): void {
    const v = this.result;
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const s = v as XmlRpcStruct;
      const code = Object.hasOwn(s, 'faultCode') ? s['faultCode'] : undefined;
      const text = Object.hasOwn(s, 'faultString') ? s['faultString'] : undefined;
      if (typeof code === 'number' && Number.isInteger(code) && typeof text === 'string') {
        this.faultCode = code;
        this.faultString = text;
        return;
      }
    }
    throw this.#syntax('<fault> value is not a struct with an int faultCode and a string faultString', at);
  }

  // -------------------------------------------------------------------------
  // Errors
  // -------------------------------------------------------------------------

  #syntax(what: string, at: number): XmlRpcParseError {
    return new XmlRpcParseError(what, this.#base + at);
  }

  #nameAt(start: number, end: number): string {
    const name = this.#buf.toString('utf8', start, end);
    return name.length > 40 ? `${name.slice(0, 40)}...` : name;
  }

  #where(): string {
    const sp = this.#sp;
    if (sp === 0) return this.#kinds[0] === K_PROLOG ? 'before the root element' : 'after the root element';
    return `in <${this.openElement}>`;
  }

  #unexpectedText(at: number): XmlRpcParseError {
    return this.#syntax(`unexpected text ${this.#where()}`, at);
  }

  #unexpectedElement(start: number, end: number, at: number): XmlRpcParseError {
    return this.#syntax(`unexpected element <${this.#nameAt(start, end)}> in <${this.openElement}>`, at);
  }
}

/** The character of a predefined entity name `bytes[start..end)`, or '' if it is not one. */
function namedEntity(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  const b0 = bytes[start];
  if (n === 2 && bytes[start + 1] === 0x74 /* t */) {
    if (b0 === 0x6c /* l */) return '<';
    if (b0 === 0x67 /* g */) return '>';
  } else if (n === 3 && b0 === 0x61 /* a */ && bytes[start + 1] === 0x6d /* m */ && bytes[start + 2] === 0x70 /* p */) {
    return '&';
  } else if (n === 4) {
    if (b0 === 0x71 /* q */ && bytes[start + 1] === 0x75 && bytes[start + 2] === 0x6f && bytes[start + 3] === 0x74) return '"';
    if (b0 === 0x61 /* a */ && bytes[start + 1] === 0x70 && bytes[start + 2] === 0x6f && bytes[start + 3] === 0x73) return "'";
  }
  return '';
}

// ---------------------------------------------------------------------------
// The public decoders
// ---------------------------------------------------------------------------

/**
 * When a token was cut by the end of the previous chunk and the new chunk is
 * larger than this, the token is finished in a copy of the carry plus this
 * many bytes of the chunk, and the rest of the chunk is parsed in place.
 * Tokens are short (a tag name, an entity); a longer one falls back to a
 * copy of the whole chunk, so the value only affects speed.
 */
const JOIN_BYTES = 256;

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
      // place. Copying the whole chunk behind the carry instead cost 5% of a
      // streamed decode (64 KiB chunks of a 10,000-process answer).
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
