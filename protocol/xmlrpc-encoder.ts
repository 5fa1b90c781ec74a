/**
 * XML-RPC encoder: JavaScript values to the bytes of a `<methodCall>` or a
 * `<methodResponse>`.
 *
 * The output is byte-identical to Python 3's `xmlrpc.client.dumps` for every
 * value Python can write (supervisord serialises with exactly that function,
 * so our fixtures and fake servers send what a real server sends):
 * - `<?xml version='1.0'?>\n` header, one line per `<param>`, `<member>`,
 *   `<name>` and scalar `<value>`; `<value><array><data>` and
 *   `<value><struct>` share a line;
 * - `<value><nil/></value>` is NOT followed by a newline (a quirk of
 *   `Marshaller.dump_nil`, reproduced on purpose);
 * - only `&`, `<` and `>` are escaped; control characters and `\r` pass
 *   through unescaped (as Python does, although XML 1.0 forbids most of them);
 * - doubles are written the way Python's `repr(float)` writes them
 *   (`1e-07`, `1e+16`, `0.30000000000000004`);
 * - base64 is split into lines of 76 characters, each ending in `\n`, after a
 *   `\n` following `<base64>` (`base64.encodebytes`).
 *
 * Mapping (the inverse of the decoder's, see `types.ts`):
 *
 * | JavaScript                                   | XML-RPC                            |
 * |----------------------------------------------|------------------------------------|
 * | `number`, integer in signed 32-bit range     | `<int>` (`-0` is written as `0`)   |
 * | `number`, other safe integer                 | `<i8>`                             |
 * | `number`, non-integer or unsafe integer      | `<double>`                         |
 * | `bigint` in signed 64-bit range              | `<i8>` (always, even when small)   |
 * | `boolean`                                    | `<boolean>1</boolean>` / `0`       |
 * | `string`                                     | `<string>`                         |
 * | `null`                                       | `<nil/>`                           |
 * | `Uint8Array` (and `Buffer`)                  | `<base64>`                         |
 * | `Date`                                       | `<dateTime.iso8601>` `YYYYMMDDTHH:MM:SS`, UTC, milliseconds dropped |
 * | array                                        | `<array><data>`                    |
 * | plain object (prototype `Object.prototype` or `null`) | `<struct>`, own enumerable string keys in `Object.keys` order |
 *
 * Everything else is refused with {@link XmlRpcEncodeError}, whose message
 * names the problem and where it is (`params[0].foo[2]`).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { XmlRpcEncodeError } from './errors.js';
import type { XmlRpcValue } from './types.js';

const XML_HEADER = "<?xml version='1.0'?>\n";
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Python's `base64.encodebytes` writes lines of 76 characters (57 input bytes). */
const BASE64_LINE = 76;

const AMP = 0x26; // &
const LT = 0x3c; // <
const GT = 0x3e; // >
const SURROGATE_MASK = 0xf800;
const SURROGATE = 0xd800; // (c & 0xf800) === 0xd800: any surrogate half
const HIGH_SURROGATE_MAX = 0xdbff;
const LOW_SURROGATE_MIN = 0xdc00;
const LOW_SURROGATE_MAX = 0xdfff;

/**
 * Encodes an XML-RPC `<methodCall>`.
 *
 * The method name is escaped like a string. Python's `dumps` does not escape
 * it (a name with `&` or `<` makes Python write broken XML); the output is
 * byte-identical to Python's for every name without `&`, `<` or `>`.
 *
 * @param method - method name, e.g. `supervisor.getAllProcessInfo`.
 * @param params - the parameters, default none (`<params>\n</params>` is
 *   still written, like Python).
 * @returns the UTF-8 bytes of the document.
 * @throws {@link XmlRpcEncodeError} when the name is not a string or holds a
 *   lone surrogate, `params` is not an array, or a parameter cannot be
 *   encoded (the message names the parameter, e.g. `params[1].env.PATH`).
 */
export function encodeCall(method: string, params: readonly XmlRpcValue[] = []): Buffer {
  if (typeof method !== 'string') {
    throw new XmlRpcEncodeError(`method name must be a string, got ${describe(method)}`);
  }
  if (!Array.isArray(params)) {
    throw new XmlRpcEncodeError(`params must be an array, got ${describe(params)}`);
  }
  const w = new Writer();
  w.out = `${XML_HEADER}<methodCall>\n<methodName>${escapeText(method, 'method name', '')}</methodName>\n<params>\n`;
  for (let i = 0; i < params.length; i++) {
    if (w.out.length > FLUSH_CHARS) w.flush();
    w.out += '<param>\n';
    w.value(params[i], `params[${i}]`);
    w.out += '</param>\n';
  }
  w.out += '</params>\n</methodCall>\n';
  return w.finish();
}

/**
 * Encodes a successful XML-RPC `<methodResponse>` carrying one value.
 *
 * @param value - the result.
 * @returns the UTF-8 bytes of the document.
 * @throws {@link XmlRpcEncodeError} when the value (or anything inside it)
 *   cannot be encoded; the path in the message starts at `value`.
 */
export function encodeResponse(value: XmlRpcValue): Buffer {
  const w = new Writer();
  w.out = `${XML_HEADER}<methodResponse>\n<params>\n<param>\n`;
  w.value(value, 'value');
  w.out += '</param>\n</params>\n</methodResponse>\n';
  return w.finish();
}

/**
 * Encodes an XML-RPC fault response, as supervisord sends for an `RPCError`:
 * `<methodResponse>\n<fault>\n<value><struct>` with members `faultCode`
 * (int) then `faultString` (string).
 *
 * @param faultCode - a signed 32-bit integer.
 * @param faultString - the fault's text, e.g. `BAD_NAME: foo`.
 * @returns the UTF-8 bytes of the document.
 * @throws {@link XmlRpcEncodeError} when `faultCode` is not a signed 32-bit
 *   integer or `faultString` is not a well-formed string.
 */
export function encodeFault(faultCode: number, faultString: string): Buffer {
  if (!Number.isInteger(faultCode) || faultCode < INT32_MIN || faultCode > INT32_MAX) {
    throw new XmlRpcEncodeError(`fault code must be a signed 32-bit integer, got ${describe(faultCode)}`);
  }
  if (typeof faultString !== 'string') {
    throw new XmlRpcEncodeError(`fault string must be a string, got ${describe(faultString)}`);
  }
  const text = escapeText(faultString, 'string', 'faultString');
  return Buffer.from(
    `${XML_HEADER}<methodResponse>\n<fault>\n<value><struct>\n` +
      `<member>\n<name>faultCode</name>\n<value><int>${faultCode}</int></value>\n</member>\n` +
      `<member>\n<name>faultString</name>\n<value><string>${text}</string></value>\n</member>\n` +
      '</struct></value>\n</fault>\n</methodResponse>\n',
    'utf8',
  );
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

/**
 * One open array or struct. Containers are walked with an explicit stack,
 * not recursion, so a deeply nested value cannot overflow the call stack, and
 * the path of a refused value is rebuilt from the frames only when needed.
 */
interface Frame {
  readonly container: readonly unknown[] | Record<string, unknown>;
  /** Member names of a struct; `null` for an array. */
  readonly keys: readonly string[] | null;
  /** Index of the next child; the child being written is `next - 1`. */
  next: number;
}

/**
 * Builds the document: text is appended to a short string which, each time
 * it passes {@link FLUSH_CHARS}, is encoded into 1 MiB slabs; the slabs are
 * joined once at the end.
 *
 * Chosen by timing the encoding of large getAllProcessInfo answers. Slower
 * alternatives: one string built with `+=` then one `Buffer.from` (flattening
 * the rope costs as much as building it); parts pushed into an array then
 * `join('')`; one `buf.write` per part into a growing Buffer (a native call
 * per part); flushing into one doubling Buffer (re-copied on growth). Flush
 * sizes from 1 KiB to 64 KiB do alike; 256 KiB is slower.
 */
class Writer {
  /** Text not yet encoded into a slab. */
  out = '';
  /** Filled slabs (each cut to its used length), in order. */
  private readonly done: Buffer[] = [];
  private slab: Buffer = EMPTY;
  private used = 0;
  private total = 0;
  private readonly stack: Frame[] = [];
  /** Containers on the stack, to refuse cycles (siblings may share an object, as in Python). */
  private readonly open = new Set<object>();
  private rootPath = '';

  /** Encodes pending text into the current slab, starting a new slab when it may not fit. */
  flush(): void {
    const s = this.out;
    this.out = '';
    // UTF-8 needs at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    const worst = s.length * 3;
    if (this.used + worst > this.slab.length) {
      if (this.used > 0) this.done.push(this.slab.subarray(0, this.used));
      this.slab = Buffer.allocUnsafe(Math.max(worst, SLAB_BYTES));
      this.used = 0;
    }
    const n = this.slab.write(s, this.used, 'utf8');
    this.used += n;
    this.total += n;
  }

  /** Flushes and returns the document as one Buffer. */
  finish(): Buffer {
    // A small document never reached a slab: encode it in one go.
    if (this.total === 0) return Buffer.from(this.out, 'utf8');
    this.flush();
    const last = this.slab.subarray(0, this.used);
    if (this.done.length > 0) {
      this.done.push(last);
      return Buffer.concat(this.done, this.total);
    }
    // One slab: do not let a small result keep the whole slab alive.
    return this.slab.length - this.used > this.slab.length >>> 3 ? Buffer.from(last) : last;
  }

  value(root: unknown, rootPath: string): void {
    this.rootPath = rootPath;
    this.scalarOrOpen(root);
    const stack = this.stack;
    while (stack.length > 0) {
      if (this.out.length > FLUSH_CHARS) this.flush();
      const frame = stack[stack.length - 1]!;
      const keys = frame.keys;
      if (keys === null) {
        const array = frame.container as readonly unknown[];
        if (frame.next < array.length) {
          this.scalarOrOpen(array[frame.next++]);
        } else {
          this.out += '</data></array></value>\n';
          this.close(frame);
        }
      } else {
        if (frame.next > 0) this.out += '</member>\n';
        if (frame.next < keys.length) {
          const key = keys[frame.next++]!;
          this.out += `<member>\n<name>${escapeText(key, 'member name', this)}</name>\n`;
          this.scalarOrOpen((frame.container as Record<string, unknown>)[key]);
        } else {
          this.out += '</struct></value>\n';
          this.close(frame);
        }
      }
    }
  }

  private close(frame: Frame): void {
    this.stack.pop();
    this.open.delete(frame.container);
  }

  /** Writes a scalar, or writes a container's opening tags and pushes its frame. */
  private scalarOrOpen(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.out += `<value><string>${escapeText(v, 'string', this)}</string></value>\n`;
        return;
      case 'number':
        this.out += this.number(v);
        return;
      case 'boolean':
        this.out += v ? '<value><boolean>1</boolean></value>\n' : '<value><boolean>0</boolean></value>\n';
        return;
      case 'bigint':
        if (v < INT64_MIN || v > INT64_MAX) {
          this.fail(`bigint ${v} outside the signed 64-bit range`);
        }
        this.out += `<value><i8>${v}</i8></value>\n`;
        return;
      case 'object':
        if (v === null) {
          // Python writes no newline after <nil/> (Marshaller.dump_nil).
          this.out += '<value><nil/></value>';
          return;
        }
        this.object(v);
        return;
      case 'undefined':
        this.fail('cannot encode undefined');
      default:
        this.fail(`cannot encode a ${typeof v}`);
    }
  }

  private number(v: number): string {
    if (Number.isInteger(v)) {
      if (v >= INT32_MIN && v <= INT32_MAX) return `<value><int>${v}</int></value>\n`;
      if (Number.isSafeInteger(v)) return `<value><i8>${v}</i8></value>\n`;
      // An unsafe integer (beyond 2^53) is not exact: it goes out as a double.
    } else if (!Number.isFinite(v)) {
      this.fail(`cannot encode ${v}`);
    }
    return `<value><double>${pythonFloatRepr(v)}</double></value>\n`;
  }

  private object(v: object): void {
    if (Array.isArray(v)) {
      this.push(v, null);
      this.out += '<value><array><data>\n';
      return;
    }
    if (v instanceof Uint8Array) {
      this.out += `<value><base64>\n${base64Lines(v)}</base64></value>\n`;
      return;
    }
    if (v instanceof Date) {
      this.out += `<value><dateTime.iso8601>${this.date(v)}</dateTime.iso8601></value>\n`;
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      this.fail(`cannot encode ${describe(v)}`, 'only plain objects become structs');
    }
    this.push(v as Record<string, unknown>, Object.keys(v));
    this.out += '<value><struct>\n';
  }

  private push(container: readonly unknown[] | Record<string, unknown>, keys: readonly string[] | null): void {
    if (this.open.has(container)) this.fail('circular reference');
    this.open.add(container);
    this.stack.push({ container, keys, next: 0 });
  }

  /** `YYYYMMDDTHH:MM:SS` in UTC, the form Python writes (`%Y%m%dT%H:%M:%S`, year zero-padded). */
  private date(d: Date): string {
    const t = d.getTime();
    if (Number.isNaN(t)) this.fail('invalid Date');
    const year = d.getUTCFullYear();
    // Four digits is all the format has room for; Python's datetime stops at 1..9999 too.
    if (year < 1 || year > 9999) this.fail(`date year ${year} outside 1..9999`);
    return (
      pad(year, 4) +
      pad(d.getUTCMonth() + 1, 2) +
      pad(d.getUTCDate(), 2) +
      'T' +
      pad(d.getUTCHours(), 2) +
      ':' +
      pad(d.getUTCMinutes(), 2) +
      ':' +
      pad(d.getUTCSeconds(), 2)
    );
  }

  /** Path of the value being written, e.g. `params[0].foo[2]`. */
  path(): string {
    let p = this.rootPath;
    for (const frame of this.stack) {
      const i = frame.next - 1;
      p += frame.keys === null ? `[${i}]` : memberPath(frame.keys[i]!);
    }
    return p;
  }

  /** Throws, saying what and where, e.g. `circular reference at params[0].a`. */
  fail(what: string, hint?: string): never {
    const at = `${what} at ${this.path()}`;
    throw new XmlRpcEncodeError(hint === undefined ? at : `${at} (${hint})`);
  }
}

const EMPTY = Buffer.alloc(0);
/** Slab size: large enough that the tail left unused in each slab stays a few percent. */
const SLAB_BYTES = 1 << 20;
/** Pending text is encoded once it is longer than this many UTF-16 units (see {@link Writer}). */
const FLUSH_CHARS = 16384;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function memberPath(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Escapes `&`, `<`, `>` exactly like Python's `xmlrpc.client.escape`, and
 * refuses lone surrogates (UTF-8 cannot carry them; Python fails too, when
 * it encodes the document).
 *
 * Fast path: a string with nothing to escape and no surrogate is returned
 * as is. A regex (`/[&<>\uD800-\uDFFF]/.test`, a native scan) decides that
 * faster than a `charCodeAt` loop over the strings of a large answer; only
 * the few strings it flags take the loop below.
 *
 * @param what - `string`, `member name` or `method name`, for messages.
 * @param at - the writer (its path is rebuilt on error) or a fixed location
 *   (`''` for none).
 */
function escapeText(s: string, what: string, at: Writer | string): string {
  if (!NEEDS_WORK.test(s)) return s;
  let out = '';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === AMP || c === LT || c === GT) {
      out += s.slice(from, i) + (c === AMP ? '&amp;' : c === LT ? '&lt;' : '&gt;');
      from = i + 1;
    } else if ((c & SURROGATE_MASK) === SURROGATE) {
      if (c <= HIGH_SURROGATE_MAX && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= LOW_SURROGATE_MIN && d <= LOW_SURROGATE_MAX) {
          i++;
          continue;
        }
      }
      const msg = `lone surrogate U+${c.toString(16).toUpperCase()} at index ${i} of the ${what}`;
      const path = typeof at === 'string' ? at : at.path();
      throw new XmlRpcEncodeError(path === '' ? msg : `${msg} at ${path}`);
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

const NEEDS_WORK = /[&<>\uD800-\uDFFF]/;

/** `base64.encodebytes`: lines of 76 characters, each (the last too) ending in `\n`; empty input gives ''. */
function base64Lines(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  if (b64.length <= BASE64_LINE) return b64.length === 0 ? '' : `${b64}\n`;
  let out = '';
  for (let i = 0; i < b64.length; i += BASE64_LINE) {
    out += `${b64.slice(i, i + BASE64_LINE)}\n`;
  }
  return out;
}

/**
 * Formats a finite double as Python's `repr(float)` does, so that the output
 * matches `dumps` byte for byte and Python's `float()` reads back the same
 * value: the shortest digits that round-trip (JavaScript's
 * `toExponential()` picks the same digits), in positional form when the
 * decimal exponent is in -4 < decpt <= 16 (with `.0` if there is no fraction),
 * else in exponent form with at least two exponent digits (`1e-07`, `1e+16`).
 * Never called with 0 or -0: they are integers and go out as `<int>0</int>`.
 */
function pythonFloatRepr(x: number): string {
  const e = x.toExponential(); // "-d.ddde+N": shortest round-trip digits
  let i = 0;
  let sign = '';
  if (e.charCodeAt(0) === 0x2d /* - */) {
    sign = '-';
    i = 1;
  }
  const ePos = e.indexOf('e', i);
  const digits = e[i]! + e.slice(i + 2, ePos); // drop the '.' (absent when one digit: slice is '')
  const exp = Number(e.slice(ePos + 1));
  const decpt = exp + 1; // value = 0.DIGITS * 10^decpt, Python's dtoa convention
  const nd = digits.length;
  if (decpt <= -4 || decpt > 16) {
    const mant = nd > 1 ? `${digits[0]!}.${digits.slice(1)}` : digits;
    const ae = Math.abs(exp);
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt < nd) return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  return `${sign}${digits}${'0'.repeat(decpt - nd)}.0`;
}

/** A short description of a refused value for messages: `a Map`, `an instance of Foo`, `NaN`, `5n`. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'object': {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === null || proto === Object.prototype) return 'an object';
      const ctor: unknown = (proto as { constructor?: unknown }).constructor;
      const name = typeof ctor === 'function' ? ctor.name : '';
      if (name === '' || name === 'Object') return 'an object with a custom prototype';
      if (!BUILTIN_CLASSES.has(name)) return `an instance of ${name}`;
      return `${'AEIOU'.includes(name[0]!) ? 'an' : 'a'} ${name}`;
    }
    case 'number':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'undefined':
      return 'undefined';
    default:
      return `a ${typeof v}`;
  }
}

const BUILTIN_CLASSES = new Set([
  'Map', 'Set', 'WeakMap', 'WeakSet', 'RegExp', 'Error', 'Promise', 'ArrayBuffer', 'SharedArrayBuffer',
  'DataView', 'Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'String', 'Number', 'Boolean',
  'Uint8Array', 'Buffer', 'Date',
]);
