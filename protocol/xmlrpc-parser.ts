/**
 * The XML-RPC parsing state machine: reads the whole tokens of a buffer of
 * complete UTF-8 characters, checks them against the grammar
 * (`xmlrpc-grammar.ts`) and builds the decoded values. Chunking, UTF-8
 * validation and the bytes carried between chunks are the streaming
 * decoder's (`xmlrpc-decoder.ts`), which documents the accepted language and
 * the errors. Internal, not exported from `index.ts`.
 *
 * @module
 */
import { Buffer, isAscii } from 'node:buffer';
import { DepthLimitError, XmlRpcDoctypeError, XmlRpcEncodingError, XmlRpcParseError, XmlRpcTypeError, XmlRpcValueError } from './errors.js';
import * as grammar from './xmlrpc-grammar.js';
import type { XmlRpcStruct, XmlRpcValue } from './types.js';
import { decodeBase64, parseBoolean, parseDateTime, parseDouble, parseInt32, parseInt64 } from './xml-scalars.js';

// The grammar's constants, copied into private constants of this module
// rather than read through imported bindings: V8 reads an imported (or
// exported) binding from a cell with a check at every use, while it folds a
// module's private constants into the code. The loops below read them for
// every byte and tag: decoding was markedly slower with plain imports (see
// bench/parse.js).
const {
  // limits
  MAX_TAG_BYTES, MAX_ENTITY_BYTES, MAX_NUMBER_TEXT,
  // bytes and byte sequences
  TAB, LF, CR, SP, BANG, DQUOTE, HASH, AMP, SQUOTE, DASH, SLASH, ZERO, SEMICOLON, LT, GT, QUESTION, LBRACKET,
  RBRACKET, LOWER_X, CASE_BIT, BOM_0, BOM_1, BOM_2, COMMENT_END, CDATA_OPEN, CDATA_END, PI_END, ENDS_NAME,
  // element ids, names and frame kinds
  E_UNKNOWN, E_METHOD_RESPONSE, E_METHOD_CALL, E_METHOD_NAME, E_PARAMS, E_PARAM, E_FAULT, E_VALUE, E_ARRAY, E_DATA,
  E_STRUCT, E_MEMBER, E_NAME, E_STRING, E_INT, E_I4, E_I8, E_BOOLEAN, E_DOUBLE, E_BASE64, E_DATETIME, E_NIL, E_EX_NIL,
  ELEMENT_NAMES, ELEMENT_BYTES, K_PROLOG, K_EPILOG, K_RESPONSE, K_CALL, K_PARAMS, K_PARAM, K_FAULT, K_ARRAY, K_DATA,
  K_STRUCT, K_MEMBER, K_NIL, K_VALUE_DONE, K_VALUE, K_NAME, K_METHOD_NAME, K_STRING, K_INT, K_I8, K_BOOLEAN, K_DOUBLE,
  K_BASE64, K_DATETIME, TYPE_KIND, F_HAS_NAME, F_HAS_VALUE, M_NONE, M_COMMENT, M_CDATA, M_PI,
  // tags as 32-bit words, for the fast paths
  word, W_MEMBER_0, W_MEMBER_4, W_MEMBER_END_0, W_MEMBER_END_4, W_NAME_0, H_NAME_4, W_NAME_END_0, W_NAME_END_3,
  W_VALUE_0, W_VALUE_3, W_VALUE_END_0, W_VALUE_END_4, W_STRING_0, W_STRING_4, W_STRUCT_4, W_STRING_END_0,
  W_STRING_END_4, W_INT_0, W_INT_END_0, H_INT_END_4, INT32_MIN, INT32_MAX, LT_X4,
} = grammar;

// ---------------------------------------------------------------------------
// Matching bytes
// ---------------------------------------------------------------------------

/** XML whitespace: space, LF, tab or CR. */
function isWs(b: number): boolean {
  return b === SP || b === LF || b === TAB || b === CR;
}

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
// Messages and values
// ---------------------------------------------------------------------------

/** A piece of document text shortened for a message: at most 40 characters, then `...`. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Shows a piece of document text in a message: clipped, quoted, escaped. */
function quote(text: string): string {
  return JSON.stringify(clip(text));
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

// ---------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------

/** The parser's buffer between runs. */
const EMPTY = Buffer.alloc(0);

/**
 * `Buffer#latin1Slice` and `Buffer#utf8Slice`: what `toString(encoding,
 * start, end)` calls after checking its arguments. Undocumented but present
 * in every Node release (Node's own modules and busboy call them); used when
 * present, they save the argument checks of one `toString` per token, which
 * showed in the decoding time of large answers (see bench/parse.js).
 */
interface SliceMethods {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const SLICES =
  typeof (Buffer.prototype as unknown as Partial<SliceMethods>).latin1Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<SliceMethods>).utf8Slice === 'function';
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

// Member names are interned in a small cache indexed by a hash of their bytes
// (two candidate slots per name). A getAllProcessInfo answer repeats the same
// 14 names for every process; reusing one internalized string saves an
// allocation per member and speeds up every property store (see #intern).
const NAME_CACHE_SIZE = 256; // power of two
const NAME_CACHE_MAX_LENGTH = 64;

/** Members per struct whose names are predicted (bounds the memory of #shapes). */
const MAX_SHAPE_MEMBERS = 256;

/**
 * The member names met, interned (see `#intern`), shared by every parser of
 * the process, and the predictions made of them (see `#fastMember`): answers
 * of one server, and of servers of one kind, have the same member names, so
 * a parser starts with what the previous documents taught instead of
 * hashing and interning each name, and building its prediction, again for
 * each document (a `/probe` exporter decodes one answer per probe). Both
 * tables are bounded; a name found in them is checked against the bytes.
 */
const NAMES: (string | undefined)[] = new Array<string | undefined>(NAME_CACHE_SIZE);
const PREDICTIONS = new Map<string, PredictedName>();

function predictionOf(name: string): PredictedName {
  let predicted = PREDICTIONS.get(name);
  if (predicted === undefined) {
    predicted = new PredictedName(name);
    if (PREDICTIONS.size >= NAME_CACHE_SIZE) PREDICTIONS.clear();
    PREDICTIONS.set(name, predicted);
  }
  return predicted;
}

/**
 * What the methods that read one construct (a comment, a CDATA section, a
 * processing instruction, a reference) return instead of the index after it
 * when the buffer ends inside it: the construct is incomplete. Where the next
 * buffer resumes is then in the parser's `#cutAt`; no index is ever encoded
 * in a return value.
 */
const INCOMPLETE = -1;

/**
 * What the fast paths return instead of the index after a construct when
 * they do not take it: the general parser reads the same bytes instead.
 */
const DECLINED = -1;

/**
 * The parsing state machine. The streaming decoder (`xmlrpc-decoder.ts`)
 * validates UTF-8 and manages the carried bytes; the parser receives buffers
 * of complete characters and consumes as many whole tokens as they hold.
 *
 * The element stack is explicit (parallel arrays indexed by depth), so a
 * deeply nested document costs no JavaScript stack and fails at `maxDepth`.
 *
 * Performance decisions, each taken on large getAllProcessInfo answers
 * written as Python writes them, against the `buf.toString('utf8')` floor
 * (figures: bench/parse.js and the README):
 * - the general parser (tag names scanned, identified by length and bytes,
 *   one frame per element) is backed by speculative fast paths (#fastMember,
 *   #fastValue) that read a whole `<member>` or `<value>` of the common
 *   shapes with 4-byte word compares and no frames;
 * - member names are internalized, hashed over every byte (sampling a few
 *   bytes made two names evict each other once per struct), and predicted
 *   from the previous struct at the same depth;
 * - strings: one native slice per token (see #string and SLICES);
 * - text: a 4-byte-at-a-time scan for `<` (see #fastScalar);
 * - chunks: only a small copy finishes a cut token (see DecoderCore in
 *   `xmlrpc-decoder.ts`);
 * - the grammar's constants are private constants of this module (see the
 *   top of the file).
 */
export class XmlRpcParser {
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
  /** How much of the innermost number element's text has arrived: see {@link grammar.MAX_NUMBER_TEXT}. */
  #numberLength = 0;
  #rangeStart = -1;
  #rangeEnd = -1;
  #rangeHigh = 0; // OR of the range's bytes: >= 0x80 means non-ASCII
  /** Absolute offset where the innermost element's content starts (for value errors). */
  #contentAt = 0;

  /** The value of the last closed type element, waiting for its `</value>`. */
  #value: XmlRpcValue = null;

  /** Where the next buffer resumes, set when a method returns {@link INCOMPLETE}. */
  #cutAt = 0;

  /** Construct spanning chunks (comment, CDATA, PI), or M_NONE. */
  mode = M_NONE;
  /** Absolute offset at which an XML declaration may start (0, or 3 after a BOM). */
  #declarationAt = 0;
  /** True once the root element has started. */
  rootSeen = false;


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
      if (pos === INCOMPLETE) return this.#finish(this.#cutAt);
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
            if (q === INCOMPLETE) return this.#finish(this.#cutAt);
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
        if (q !== DECLINED) {
          pos = q;
          continue;
        }
      } else if (kind === K_DATA) {
        const q = this.#fastValue(pos);
        if (q !== DECLINED) {
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
        if (p === limit) return this.#finish(this.#cutTag(pos, limit));
        if (buf[p] !== GT || nameEnd === pos + 2) throw this.#malformed('end tag', pos);
        this.#endTag(pos + 2, nameEnd, pos);
        pos = p + 1;
      } else if (c1 === BANG) {
        const q = this.#bang(pos);
        if (q === INCOMPLETE) return this.#finish(this.#cutAt);
        pos = q;
      } else if (c1 === QUESTION) {
        const q = this.#processingInstruction(pos, limit);
        if (q === INCOMPLETE) return this.#finish(this.#cutAt);
        pos = q;
      } else {
        let p = pos + 1;
        while (p < limit && ENDS_NAME[buf[p]!] === 0) p++;
        if (p === limit) return this.#finish(this.#cutTag(pos, limit));
        const nameEnd = p;
        c = buf[p]!;
        if (nameEnd === pos + 1 || c === LT) throw this.#malformed('tag', pos);
        let selfClosing = false;
        if (c === GT) {
          p++;
        } else if (c === SLASH) {
          if (p + 1 === limit) return this.#finish(this.#cutTag(pos, limit));
          if (buf[p + 1] !== GT) throw this.#malformed('tag', pos);
          selfClosing = true;
          p += 2;
        } else {
          // Attributes: skipped, honouring quotes ('>' may appear inside them).
          let quoteByte = 0;
          let last = 0; // last byte outside quotes that is not whitespace
          for (;;) {
            if (p === limit) return this.#finish(this.#cutTag(pos, limit));
            const b = buf[p]!;
            if (quoteByte !== 0) {
              if (b === quoteByte) quoteByte = 0;
            } else if (b === GT) {
              break;
            } else if (b === DQUOTE || b === SQUOTE) {
              quoteByte = b;
            } else if (b === LT) {
              throw this.#malformed('tag', pos);
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

  /**
   * Ends a run at `stop`, the first byte not consumed; moves a pending text
   * range into the string (the buffer is going away).
   */
  #finish(stop: number): number {
    if (this.#rangeStart >= 0) this.#flushRange();
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    return stop;
  }

  /**
   * The buffer ends inside a construct: records that the bytes from `at` on
   * (a cut token, or the bytes that may begin the end of a comment, CDATA
   * section or processing instruction) are carried and parsed again with the
   * next buffer. Returns {@link INCOMPLETE}.
   */
  #incomplete(at: number): number {
    this.#cutAt = at;
    return INCOMPLETE;
  }

  /**
   * The scan of the tag that starts at `at` reached `limit` (the end of the
   * buffer, or MAX_TAG_BYTES past `at`) without finding its end.
   *
   * @returns `at`, where the cut tag starts: it is carried to the next buffer.
   * @throws {XmlRpcParseError} when the tag is already MAX_TAG_BYTES long.
   */
  #cutTag(at: number, limit: number): number {
    if (limit - at === MAX_TAG_BYTES) throw this.#syntax(`tag longer than ${MAX_TAG_BYTES} bytes`, at);
    return at;
  }

  // -------------------------------------------------------------------------
  // Text
  // -------------------------------------------------------------------------

  /** The string of `buf[start..end)`; `high` is the OR of its bytes. */
  #string(start: number, end: number, high: number): string {
    // One native call per token, rather than slicing one latin1 string of
    // the whole buffer: those slices are cheap, but they keep the
    // buffer-sized string alive and its GC cost made decoding slower, whole
    // or in chunks (see bench/parse.js); per-token strings retain nothing.
    // ASCII text takes the latin1 conversion, a plain copy.
    if (SLICES) {
      const b = this.#buf as unknown as SliceMethods;
      return high < 0x80 ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
    }
    return this.#buf.toString(high < 0x80 ? 'latin1' : 'utf8', start, end);
  }

  #addRange(start: number, end: number, high: number): void {
    const kind = this.#kinds[this.#sp]!;
    if (kind >= K_INT && kind !== K_BASE64) this.#boundNumber(end - start);
    if (this.#rangeStart >= 0) this.#flushRange();
    this.#rangeStart = start;
    this.#rangeEnd = end;
    this.#rangeHigh = high;
  }

  /**
   * Counts `more` into the text of a number element, and refuses it once it
   * would exceed {@link grammar.MAX_NUMBER_TEXT}. Counted as it arrives, so
   * that the verdict does not depend on where the chunks were cut: the bytes
   * of its text ranges (a character of several UTF-8 bytes counts for each)
   * and the characters of its references.
   */
  #boundNumber(more: number): void {
    this.#numberLength += more;
    if (this.#numberLength <= MAX_NUMBER_TEXT) return;
    const element = ELEMENT_NAMES[this.#elements[this.#sp]!]!;
    throw new XmlRpcValueError(`<${element}> value longer than ${MAX_NUMBER_TEXT} characters`, this.#contentAt);
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
    const names = NAMES;
    const slot1 = h & (NAME_CACHE_SIZE - 1);
    const slot2 = (h >>> 16) & (NAME_CACHE_SIZE - 1);
    let cached = names[slot1];
    if (cached !== undefined && cached.length === n && sameAscii(cached, buf, start)) return cached;
    cached = names[slot2];
    if (cached !== undefined && cached.length === n && sameAscii(cached, buf, start)) return cached;
    // Keys of an object are internalized strings; reading one back gives
    // the internalized copy, which V8 uses as a property key without hashing
    // and looking it up again on every store: member stores were markedly
    // faster than with sliced strings as keys (see bench/parse.js).
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

  /**
   * The value a scalar parser (`xml-scalars.ts`) made of the scalar just
   * taken.
   *
   * @throws {XmlRpcValueError} when the parser found the text invalid
   *   (`undefined`) or out of range (`null`).
   */
  #checked<T extends XmlRpcValue>(value: T | null | undefined): T {
    if (value === undefined || value === null) {
      const text = this.#scalarBytes.toString('utf8', this.#scalarStart, this.#scalarEnd);
      const element = ELEMENT_NAMES[this.#elements[this.#sp]!]!;
      const what = value === undefined ? 'invalid' : 'out of range';
      throw new XmlRpcValueError(`${what} <${element}> value ${quote(text)}`, this.#contentAt);
    }
    return value;
  }

  /**
   * Decodes the entity or character reference at `at` (an `&`) and appends
   * its character to the text.
   *
   * @returns the index after the `;`, or {@link INCOMPLETE} when the buffer
   *   ends first.
   */
  #reference(at: number): number {
    const buf = this.#buf;
    const limit = Math.min(buf.length, at + MAX_ENTITY_BYTES);
    let q = at + 1;
    for (;;) {
      if (q === limit) {
        if (limit - at === MAX_ENTITY_BYTES) throw this.#malformed('entity reference', at);
        return this.#incomplete(at);
      }
      const b = buf[q]!;
      if (b === SEMICOLON) break;
      if (b === LT || b === AMP || isWs(b)) throw this.#malformed('entity reference', at);
      q++;
    }
    let ch: string;
    if (buf[at + 1] === HASH) {
      const hex = buf[at + 2] === LOWER_X;
      let k = at + (hex ? 3 : 2);
      if (k === q) throw this.#malformed('character reference', at);
      let cp = 0;
      for (; k < q; k++) {
        const b = buf[k]!;
        let d = b - ZERO;
        if (hex && (d < 0 || d > 9)) {
          const lower = b | CASE_BIT;
          d = lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1; // a..f
        }
        if (d < 0 || d > (hex ? 15 : 9)) throw this.#malformed('character reference', at);
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
    const kind = this.#kinds[this.#sp]!;
    if (kind >= K_INT && kind !== K_BASE64) this.#boundNumber(ch.length);
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
  // depth limit) they return DECLINED and the general parser reads the same
  // bytes from the same position, so the result and any error are the ones
  // the general parser gives. Why they exist: see the performance decisions
  // on the class.

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

  /** `<string>S</string>` or `<int>N</int>` at `p`: the index after it, or DECLINED. */
  #fastScalar(p: number): number {
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    if (p + 12 > end) return DECLINED; // shortest: <int>0</int>
    const w = view.getUint32(p, true);
    if (w === W_STRING_0) {
      if (view.getUint32(p + 4, true) !== W_STRING_4) return DECLINED;
      const start = p + 8;
      let q = start;
      // Four bytes per step while none is '<' (SWAR: a byte of x is zero
      // exactly when that byte was '<'; the expression is non-zero iff x has
      // a zero byte): faster than a byte loop on the whole decode. Scanning
      // for '<' with indexOf after the first bytes was slower: most strings
      // are short (see bench/parse.js).
      while (q + 4 <= end) {
        const x = view.getUint32(q, true) ^ LT_X4;
        if (((x - 0x01010101) & ~x & 0x80808080) !== 0) break;
        q += 4;
      }
      while (q < end && buf[q] !== LT) q++;
      if (this.#nextAmp < q && this.#hasAmp(start, q)) return DECLINED;
      const high = this.#ascii ? 0 : orBytes(buf, start, q);
      if (q + 9 > end || view.getUint32(q, true) !== W_STRING_END_0 || view.getUint32(q + 4, true) !== W_STRING_END_4 || buf[q + 8] !== GT) {
        return DECLINED;
      }
      this.#fastValueRead = q === start ? '' : this.#string(start, q, high);
      return q + 9;
    }
    if (w === W_INT_0) {
      if (buf[p + 4] !== GT) return DECLINED;
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
      if (q === start || q - start > 10 || q + 6 > end) return DECLINED;
      if (view.getUint32(q, true) !== W_INT_END_0 || view.getUint16(q + 4, true) !== H_INT_END_4) return DECLINED;
      if (negative) v = -v;
      if (v < INT32_MIN || v > INT32_MAX) return DECLINED;
      this.#fastValueRead = v | 0;
      return q + 6;
    }
    return DECLINED;
  }

  /** A whole `<member>` at `pos` inside a `<struct>`: the index after it, or DECLINED. */
  #fastMember(pos: number): number {
    if (this.#sp + 3 > this.#maxDepth) return DECLINED;
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    let p = pos;
    if (p + 8 > end || view.getUint32(p, true) !== W_MEMBER_0 || view.getUint32(p + 4, true) !== W_MEMBER_4) return DECLINED;
    p += 8;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 6 > end || view.getUint32(p, true) !== W_NAME_0 || view.getUint16(p + 4, true) !== H_NAME_4) return DECLINED;
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
      if (this.#nextAmp < p && this.#hasAmp(nameStart, p)) return DECLINED;
      if (!this.#ascii && orBytes(buf, nameStart, p) >= 0x80) return DECLINED; // only ASCII names are interned
      name = this.#intern(nameStart, p);
      if (k < MAX_SHAPE_MEMBERS) shape[k] = predictionOf(name);
    }
    if (p + 7 > end || view.getUint32(p, true) !== W_NAME_END_0 || view.getUint32(p + 3, true) !== W_NAME_END_3) return DECLINED;
    p += 7;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 7 > end || view.getUint32(p, true) !== W_VALUE_0 || view.getUint32(p + 3, true) !== W_VALUE_3) return DECLINED;
    p = this.#fastScalar(p + 7);
    if (p === DECLINED) return DECLINED;
    if (p + 8 > end || view.getUint32(p, true) !== W_VALUE_END_0 || view.getUint32(p + 4, true) !== W_VALUE_END_4) return DECLINED;
    p += 8;
    while (p < end && isWs(buf[p]!)) p++;
    if (p + 9 > end || view.getUint32(p, true) !== W_MEMBER_END_0 || view.getUint32(p + 4, true) !== W_MEMBER_END_4 || buf[p + 8] !== GT) {
      return DECLINED;
    }
    setMember(this.#objects[sp] as XmlRpcStruct, name, this.#fastValueRead);
    this.#flags[sp] = k + 1;
    return p + 9;
  }

  /** A whole `<value>` with a string or int at `pos` inside a `<data>`: the index after it, or DECLINED. */
  #fastValue(pos: number): number {
    if (this.#sp + 2 > this.#maxDepth) return DECLINED;
    const buf = this.#buf;
    const view = this.#view;
    const end = buf.length;
    if (pos + 7 > end || view.getUint32(pos, true) !== W_VALUE_0 || view.getUint32(pos + 3, true) !== W_VALUE_3) return DECLINED;
    if (pos + 15 <= end && view.getUint32(pos + 7, true) === W_STRING_0 && view.getUint32(pos + 11, true) === W_STRUCT_4) {
      // <value><struct>: open both (the members take #fastMember).
      this.#push(K_VALUE, E_VALUE, pos + 7);
      this.#push(K_STRUCT, E_STRUCT, pos + 15);
      return pos + 15;
    }
    const p = this.#fastScalar(pos + 7);
    if (p === DECLINED || p + 8 > end || view.getUint32(p, true) !== W_VALUE_END_0 || view.getUint32(p + 4, true) !== W_VALUE_END_4) return DECLINED;
    (this.#objects[this.#sp] as XmlRpcValue[]).push(this.#fastValueRead);
    return p + 8;
  }

  // -------------------------------------------------------------------------
  // Markup other than tags
  // -------------------------------------------------------------------------

  /**
   * `<!` at `at`: a comment, a CDATA section, or a refused declaration.
   *
   * @returns the index after the construct, or {@link INCOMPLETE} when the
   *   buffer ends inside it.
   */
  #bang(at: number): number {
    const buf = this.#buf;
    const end = buf.length;
    if (at + 2 === end) return this.#incomplete(at);
    const c2 = buf[at + 2]!;
    if (c2 === DASH) {
      if (at + 3 === end) return this.#incomplete(at);
      if (buf[at + 3] !== DASH) throw this.#malformed('comment', at);
      return this.#comment(at + 4);
    }
    if (c2 === LBRACKET) {
      for (let k = 3; k < CDATA_OPEN.length; k++) {
        if (at + k === end) return this.#incomplete(at);
        if (buf[at + k] !== CDATA_OPEN[k]) throw this.#malformed('CDATA section', at);
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
    throw this.#malformed('markup', at);
  }

  /** Inside a comment from `from`: finds `-->`. Returns as #bang does. */
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
    return this.#incomplete(k);
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
      return this.#incomplete(stop);
    }
    this.mode = M_NONE;
    return i + 3;
  }

  /** `<?` at `at`: the XML declaration (only at the start) or another processing instruction. */
  #processingInstruction(at: number, limit: number): number {
    const buf = this.#buf;
    let p = at + 2;
    while (p < limit && !isWs(buf[p]!) && buf[p] !== QUESTION) p++;
    if (p === limit) return this.#incomplete(this.#cutTag(at, limit));
    if (p === at + 2) throw this.#malformed('processing instruction', at);
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
    return this.#incomplete(k);
  }

  /** Continues a construct left open by the previous buffer. Returns as #bang does. */
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
        throw this.#unexpectedElement(start, end, at);
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
    this.#numberLength = 0;
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
      case K_INT:
        this.#takeScalar();
        v = this.#checked(parseInt32(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
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
      case K_I8:
        this.#takeScalar();
        v = this.#checked(parseInt64(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
      case K_BOOLEAN:
        this.#takeScalar();
        v = this.#checked(parseBoolean(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
      case K_DOUBLE:
        this.#takeScalar();
        v = this.#checked(parseDouble(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
      case K_BASE64:
        this.#takeScalar();
        v = this.#checked(decodeBase64(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
      case K_DATETIME:
        this.#takeScalar();
        v = this.#checked(parseDateTime(this.#scalarBytes, this.#scalarStart, this.#scalarEnd));
        break;
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

  /** `malformed <what>` at `at`: the construct starting there breaks the syntax. */
  #malformed(what: string, at: number): XmlRpcParseError {
    return this.#syntax(`malformed ${what}`, at);
  }

  /** The tag name `buf[start..end)`, clipped, for a message. */
  #nameAt(start: number, end: number): string {
    return clip(this.#buf.toString('utf8', start, end));
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
