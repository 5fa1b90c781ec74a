/**
 * Parsers for the text of XML-RPC scalar elements (`int`, `i4`, `i8`,
 * `double`, `boolean`, `base64`, `dateTime.iso8601`), working on bytes.
 *
 * Each takes the element's text as `bytes[start..end)` (already free of
 * entities, comments and CDATA markers) and returns the value, or
 * `undefined` when the text is not valid for the type. The decoder turns
 * `undefined` into an `XmlRpcValueError` naming the element and the offset.
 *
 * Leading and trailing XML whitespace is ignored for every type here: Python's
 * unmarshaller calls `int()`/`float()`, which strip it, and pretty-printers
 * indent scalar text.
 *
 * Internal to `protocol/`: not exported from `protocol/index.ts`.
 *
 * @module
 */

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const PLUS = 0x2b; // +
const DASH = 0x2d; // -
const DOT = 0x2e; // .
const ZERO = 0x30; // 0
const COLON = 0x3a; // :
const EQUALS = 0x3d; // =
const UPPER_T = 0x54; // T
const UPPER_Z = 0x5a; // Z
const LOWER_E = 0x65; // e
const CASE_BIT = 0x20; // ASCII upper | 0x20 = lower

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isWs(b: number): boolean {
  return b === SP || b === LF || b === TAB || b === CR;
}

/** First index in `[start, end)` that is not XML whitespace. */
function trimStart(bytes: Uint8Array, start: number, end: number): number {
  while (start < end && isWs(bytes[start]!)) start++;
  return start;
}

/** One past the last index in `[start, end)` that is not XML whitespace. */
function trimEnd(bytes: Uint8Array, start: number, end: number): number {
  while (end > start && isWs(bytes[end - 1]!)) end--;
  return end;
}

/**
 * Sign and decimal digits by digit arithmetic. The magnitude is exact while
 * it stays at or below 2^53 (every partial value is smaller than the final
 * one), which covers every 32-bit value and the safe part of 64-bit values.
 *
 * @returns the value, or NaN when the text is not `[+-]?[0-9]+`.
 */
function digits(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  const first = bytes[i];
  if (first === DASH || first === PLUS) {
    negative = first === DASH;
    i++;
  }
  if (i === end) return NaN;
  let v = 0;
  for (; i < end; i++) {
    const d = bytes[i]! - ZERO;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/**
 * `<int>`/`<i4>` text: optional sign and decimal digits (no `_`, no hex).
 *
 * @returns the number (`-0` written as `0`), `undefined` when the text is
 *   not an integer, `null` when it is outside the signed 32-bit range.
 */
export function parseInt32(bytes: Uint8Array, start: number, end: number): number | undefined | null {
  start = trimStart(bytes, start, end);
  end = trimEnd(bytes, start, end);
  const v = digits(bytes, start, end);
  if (v !== v) return undefined; // NaN
  if (v < INT32_MIN || v > INT32_MAX) return null;
  return v | 0;
}

/**
 * `<i8>` text: optional sign and decimal digits.
 *
 * @returns a number when the value is a safe integer, else a bigint;
 *   `undefined` when the text is not an integer, `null` when it is outside
 *   the signed 64-bit range.
 */
export function parseInt64(bytes: Uint8Array, start: number, end: number): number | bigint | undefined | null {
  start = trimStart(bytes, start, end);
  end = trimEnd(bytes, start, end);
  const v = digits(bytes, start, end);
  if (v !== v) return undefined;
  if (Number.isSafeInteger(v)) return v === 0 ? 0 : v;
  // Beyond 2^53 the double lost digits: redo it exactly (rare: ids, byte counts).
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!);
  const big = BigInt(text);
  if (big < INT64_MIN || big > INT64_MAX) return null;
  return big;
}

/**
 * `<double>` text: `[+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?`, as
 * Python's `repr(float)` writes it (`1e-07`, `-0.0`, `1e+16`), plus the
 * non-finite spellings Python's `float()` accepts (`inf`, `infinity`, `nan`,
 * any case, optional sign): Python's marshaller writes `repr(float('inf'))`
 * as `inf` without complaint, so a Python server can send them. Hex floats,
 * `_` separators and an empty text are refused.
 *
 * @returns the number, or `undefined` when the text is not a double.
 */
export function parseDouble(bytes: Uint8Array, start: number, end: number): number | undefined {
  start = trimStart(bytes, start, end);
  end = trimEnd(bytes, start, end);
  let i = start;
  let sign = 1;
  if (i < end && (bytes[i] === PLUS || bytes[i] === DASH)) {
    if (bytes[i] === DASH) sign = -1;
    i++;
  }
  const n = end - i;
  if ((n === 3 || n === 8) && matchesLower(bytes, i, n === 3 ? 'inf' : 'infinity')) return sign * Infinity;
  if (n === 3 && matchesLower(bytes, i, 'nan')) return NaN;
  let mantissaDigits = 0;
  while (i < end && isDigit(bytes[i]!)) {
    i++;
    mantissaDigits++;
  }
  if (i < end && bytes[i] === DOT) {
    i++;
    while (i < end && isDigit(bytes[i]!)) {
      i++;
      mantissaDigits++;
    }
  }
  if (mantissaDigits === 0) return undefined;
  if (i < end && (bytes[i]! | CASE_BIT) === LOWER_E) {
    i++;
    if (i < end && (bytes[i] === PLUS || bytes[i] === DASH)) i++;
    const expStart = i;
    while (i < end && isDigit(bytes[i]!)) i++;
    if (i === expStart) return undefined;
  }
  if (i !== end) return undefined;
  // The grammar above is a subset of what Number() accepts, and Number()
  // rounds correctly; the text is ASCII, so one char per byte.
  let text = '';
  for (let k = start; k < end; k++) text += String.fromCharCode(bytes[k]!);
  return Number(text);
}

function isDigit(b: number): boolean {
  return b >= ZERO && b <= ZERO + 9;
}

/** Case-insensitive comparison of ASCII letters with a lower-case word. */
function matchesLower(bytes: Uint8Array, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if ((bytes[at + k]! | CASE_BIT) !== word.charCodeAt(k)) return false;
  return true;
}

/**
 * `<boolean>` text: `1` or `0` (the spec), and leniently `true` or `false`
 * in any case (some producers write those).
 *
 * @returns the boolean, or `undefined` for anything else (`2`, `yes`, empty).
 */
export function parseBoolean(bytes: Uint8Array, start: number, end: number): boolean | undefined {
  start = trimStart(bytes, start, end);
  end = trimEnd(bytes, start, end);
  const n = end - start;
  if (n === 1) {
    const b = bytes[start];
    if (b === ZERO + 1) return true;
    if (b === ZERO) return false;
    return undefined;
  }
  if (n === 4 && matchesLower(bytes, start, 'true')) return true;
  if (n === 5 && matchesLower(bytes, start, 'false')) return false;
  return undefined;
}

/** Base64 alphabet value of each byte, 255 for bytes outside the alphabet. */
const BASE64_VALUE = (() => {
  const t = new Uint8Array(256).fill(255);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let k = 0; k < 64; k++) t[alphabet.charCodeAt(k)] = k;
  return t;
})();

/**
 * `<base64>` text (RFC 4648 standard alphabet). Whitespace anywhere is
 * skipped: Python's `base64.encodebytes` breaks lines every 76 characters.
 * Padding is optional but, when present, must complete the last quantum and
 * be the last thing in the text. Any other character (including the URL-safe
 * `-` and `_`) is refused.
 *
 * @returns the decoded bytes (a fresh `Uint8Array` of exactly that length),
 *   or `undefined` when the text is not valid base64.
 */
export function decodeBase64(bytes: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const out = new Uint8Array(((end - start) >> 2) * 3 + 3);
  let o = 0;
  let acc = 0; // bits not yet written, most significant first
  let quantum = 0; // alphabet characters in the current group of four
  let padding = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    const v = BASE64_VALUE[b]!;
    if (v !== 255) {
      if (padding !== 0) return undefined; // data after '='
      acc = (acc << 6) | v;
      if (++quantum === 4) {
        out[o++] = acc >>> 16;
        out[o++] = (acc >>> 8) & 0xff;
        out[o++] = acc & 0xff;
        acc = 0;
        quantum = 0;
      }
    } else if (b === EQUALS) {
      padding++;
      // '=' may only complete a quantum of 2 or 3 characters.
      if (quantum < 2 || quantum + padding > 4) return undefined;
    } else if (!isWs(b)) {
      return undefined;
    }
  }
  if (padding !== 0 && quantum + padding !== 4) return undefined;
  if (quantum === 1) return undefined; // 6 bits cannot make a byte
  if (quantum === 2) out[o++] = (acc >>> 4) & 0xff;
  else if (quantum === 3) {
    out[o++] = (acc >>> 10) & 0xff;
    out[o++] = (acc >>> 2) & 0xff;
  }
  return out.slice(0, o);
}

/** Reads `n` decimal digits at `at`; -1 if any byte is not a digit or the text is too short. */
function fixedDigits(bytes: Uint8Array, at: number, n: number, end: number): number {
  if (at + n > end) return -1;
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = bytes[at + k]! - ZERO;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * `<dateTime.iso8601>` text:
 * `YYYYMMDDTHH:MM:SS` (what Python and most producers write) or
 * `YYYY-MM-DDTHH:MM:SS`, optionally followed by a fraction of a second
 * (`.123`, kept to the millisecond) and a zone: `Z`, `+hh:mm`, `-hh:mm`,
 * `+hhmm` or `-hhmm`.
 *
 * XML-RPC leaves the zone of a value without one unspecified; Python writes
 * `datetime` values as given (supervisord has none to send). Such a value is
 * read as UTC, so the result never depends on the machine running the
 * decoder.
 *
 * @returns the `Date`, or `undefined` when the text does not have that form
 *   or names an impossible date or time (month 13, February 30, 24:00:00,
 *   second 60).
 */
export function parseDateTime(bytes: Uint8Array, start: number, end: number): Date | undefined {
  start = trimStart(bytes, start, end);
  end = trimEnd(bytes, start, end);
  let i = start;
  const year = fixedDigits(bytes, i, 4, end);
  if (year < 0) return undefined;
  i += 4;
  const dashes = bytes[i] === DASH;
  if (dashes) i++;
  const month = fixedDigits(bytes, i, 2, end);
  i += 2;
  if (dashes) {
    if (bytes[i] !== DASH) return undefined;
    i++;
  }
  const day = fixedDigits(bytes, i, 2, end);
  i += 2;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (bytes[i] !== UPPER_T) return undefined;
  const hour = fixedDigits(bytes, i + 1, 2, end);
  if (bytes[i + 3] !== COLON) return undefined;
  const minute = fixedDigits(bytes, i + 4, 2, end);
  if (bytes[i + 6] !== COLON) return undefined;
  const second = fixedDigits(bytes, i + 7, 2, end);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  i += 9;
  let ms = 0;
  if (i < end && bytes[i] === DOT) {
    i++;
    const fracStart = i;
    while (i < end && isDigit(bytes[i]!)) {
      if (i - fracStart < 3) ms = ms * 10 + (bytes[i]! - ZERO);
      i++;
    }
    if (i === fracStart) return undefined;
    for (let k = i - fracStart; k < 3; k++) ms *= 10;
  }
  let offsetMinutes = 0;
  if (i < end) {
    const z = bytes[i];
    if (z === UPPER_Z || z === (UPPER_Z | CASE_BIT)) {
      i++;
    } else if (z === PLUS || z === DASH) {
      const oh = fixedDigits(bytes, i + 1, 2, end);
      let k = i + 3;
      if (bytes[k] === COLON) k++;
      const om = fixedDigits(bytes, k, 2, end);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offsetMinutes = (z === DASH ? -1 : 1) * (oh * 60 + om);
      i = k + 2;
    }
  }
  if (i !== end) return undefined;
  // Date.UTC maps years 0..99 to 1900..1999: set the full year explicitly.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (offsetMinutes !== 0) date.setTime(date.getTime() - offsetMinutes * 60_000);
  return date;
}
