/**
 * Values as supervisord's Python side sees them: its XML-RPC unmarshalling,
 * `type(x).__name__` for error messages, `int(x)` with its exceptions, and
 * the lenient base64 decoding of the Basic auth header.
 *
 * @module
 */

import type { XmlRpcStruct, XmlRpcValue } from '../../protocol/types.js';
import { pythonRepr } from '../python/repr.js';

/**
 * A Python exception raised inside a method. A TypeError becomes fault 2
 * INCORRECT_PARAMETERS (supervisor's `traverse` catches it around the call);
 * any other escapes: medusa answers HTTP 500, and `system.multicall` turns it
 * into fault 30 `FAILED: <class 'NAME'>:message`.
 */
export class PythonException {
  constructor(
    readonly pyClass: string,
    /** `str(exception)`, which is also its `args[0]` for the exceptions raised here. */
    readonly message: string,
  ) {}
}

/**
 * What Python's `type(x).__name__` says for a decoded parameter, after
 * supervisor's own unmarshalling (xmlrpc.py `loads`): base64 and i8 already
 * became str there.
 */
export function pythonType(value: XmlRpcValue): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Date) return 'datetime';
  return 'dict';
}

/**
 * supervisor's unmarshaller (xmlrpc.py) knows neither `<i8>` nor `<nil/>` and
 * decodes `<base64>` to str: a bigint arrives as its digits, bytes as UTF-8
 * text. Invalid UTF-8 made its `loads` fail, hence HTTP 400.
 */
export function pythonize(value: XmlRpcValue): XmlRpcValue {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return STRICT_UTF8.decode(value);
  if (Array.isArray(value)) return value.map(pythonize);
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: XmlRpcStruct = {};
    for (const key of Object.keys(value)) {
      // defineProperty: a member named __proto__ stays an ordinary member.
      Object.defineProperty(out, key, { value: pythonize(value[key]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

export const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Python's non-strict `base64.decodebytes`: characters outside the alphabet
 * are skipped, decoding stops at complete padding, and an incomplete last
 * quantum is an error (null).
 */
export function pythonBase64(text: string): Buffer | null {
  let data = '';
  let quad = 0;
  let pads = 0;
  for (const c of text) {
    if (c === '=') {
      if (quad >= 2 && quad + ++pads >= 4) return Buffer.from(data, 'base64');
      continue;
    }
    if (!/^[A-Za-z0-9+/]$/.test(c)) continue;
    pads = 0;
    data += c;
    quad = (quad + 1) % 4;
  }
  return quad === 0 ? Buffer.from(data, 'base64') : null;
}

/** Python's `str.isspace()` characters, which `int()` strips around the digits. */
const PYTHON_SPACE = /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/**
 * The value of a Unicode decimal digit (`٣` is 3), which Python's `int()`
 * takes like an ASCII one; undefined for any other character. Unicode
 * encodes the decimal digits in runs of ten from 0 to 9, so a digit's value
 * is its distance from the start of the run of digits it is in, modulo 10.
 */
function decimalValue(ch: string): number | undefined {
  const cp = ch.codePointAt(0)!;
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp < 0x80 || !DECIMAL_DIGIT.test(ch)) return undefined;
  let zero = cp;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  return (cp - zero) % 10;
}

/**
 * Python's `int(text)` in base 10: spaces around, an optional sign, decimal
 * digits (any script) with single underscores between them; undefined for
 * anything else.
 */
function parseDecimal(text: string): bigint | undefined {
  const chars = [...text];
  let start = 0;
  let end = chars.length;
  while (start < end && PYTHON_SPACE.test(chars[start]!)) start++;
  while (end > start && PYTHON_SPACE.test(chars[end - 1]!)) end--;
  let negative = false;
  if (chars[start] === '+' || chars[start] === '-') negative = chars[start++] === '-';
  let digits = '';
  let underscore = false;
  for (let i = start; i < end; i++) {
    if (chars[i] === '_' && digits !== '' && !underscore) {
      underscore = true;
      continue;
    }
    const value = decimalValue(chars[i]!);
    if (value === undefined) return undefined;
    digits += String(value);
    underscore = false;
  }
  if (digits === '' || underscore) return undefined;
  const n = BigInt(digits);
  return negative ? -n : n;
}

/**
 * Python's `int(value)` of a decoded XML-RPC parameter after
 * {@link pythonize} (an i8 is a string of digits by then), exact at any size.
 *
 * @throws {PythonException} as Python raises them: TypeError for None, a
 *   list, a dict or a datetime; ValueError for a string that is not a
 *   base-10 integer (`invalid literal for int() with base 10: 'abc'`, the
 *   repr cut at 200 characters) and for NaN; OverflowError for an infinity.
 */
export function pythonInt(value: XmlRpcValue): bigint {
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw new PythonException('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(value)) throw new PythonException('OverflowError', 'cannot convert float infinity to integer');
    return BigInt(Math.trunc(value));
  }
  if (typeof value === 'string') {
    const n = parseDecimal(value);
    if (n !== undefined) return n;
    // CPython: "invalid literal for int() with base %d: %.200R".
    const repr = [...pythonRepr(value)].slice(0, 200).join('');
    throw new PythonException('ValueError', `invalid literal for int() with base 10: ${repr}`);
  }
  throw new PythonException('TypeError', `int() argument must be a string, a bytes-like object or a real number, not '${pythonType(value)}'`);
}
