/**
 * Python's `repr()` and `str()` of JSON-like values, as the reference check's
 * messages print them (`e.g. ['value']`, `None`, `True`).
 *
 * @module
 */

/**
 * Formats a JSON-like value the way Python's `repr()` prints the value a YAML
 * loader would have produced: `'foo'`, `5`, `True`, `None`, `[1, 'a']`,
 * `{'a': 1}`. Strings are quoted and escaped as CPython does (single quotes
 * unless the text has a `'` and no `"`; `\n`, `\t`, `\r`, `\\`, and `\xhh`,
 * `\uhhhh`, `\Uhhhhhhhh` for characters that are not printable).
 *
 * JavaScript cannot tell `5` from `5.0`: integral numbers below 1e21 print as
 * Python ints. Recursive containers print as `[...]` / `{...}`, like Python.
 *
 * @param value any value; `undefined` prints as `None`.
 */
export function pythonRepr(value: unknown): string {
  return repr(value, new Set());
}

/**
 * Python's `str()` of a value: strings as they are, everything else as
 * {@link pythonRepr}. This is what `'%s' % value` prints.
 */
export function pythonStr(value: unknown): string {
  return typeof value === 'string' ? value : pythonRepr(value);
}

function repr(value: unknown, seen: Set<object>): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return reprString(value);
  if (typeof value === 'number') return reprNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return reprString(String(value));
  if (seen.has(value)) return Array.isArray(value) ? '[...]' : '{...}';
  seen.add(value);
  let text: string;
  if (Array.isArray(value)) {
    text = `[${value.map((item) => repr(item, seen)).join(', ')}]`;
  } else if (value instanceof Date) {
    text = reprString(value.toISOString());
  } else {
    const members = Object.entries(value).map(([k, v]) => `${reprString(k)}: ${repr(v, seen)}`);
    text = `{${members.join(', ')}}`;
  }
  seen.delete(value);
  return text;
}

/**
 * Characters CPython's `str.isprintable()` rejects (categories Cc, Cf, Cs,
 * Co, Cn, Zl, Zp, and Zs other than the space), which `repr()` escapes.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function reprString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) i++;
    const ch = String.fromCodePoint(cp);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp === 0x20 || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * Python's float `repr()`: the shortest round-trip digits (the same digits
 * JavaScript picks), in positional notation when the decimal exponent is in
 * -4..15 and in scientific notation (`1e+16`, `1.5e-05`) otherwise.
 */
function reprNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  // Integral values print as ints, with the digits JSON shows (12345678901234567000, not the binary value).
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exp < 0 ? '-' : '+';
    return `${sign}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  // A non-integral number with 0 <= exp < 16 has more digits than exp + 1.
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}
