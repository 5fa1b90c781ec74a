/**
 * Python `re` patterns, run by JavaScript's engine with Python's meaning.
 *
 * The reference check filters processes with `re.search(pattern, name)` on
 * Python 3 `str` patterns. This module parses a pattern the way CPython 3.11's
 * `re/_parser.py` does (same tokens, same errors, same odd corners: `{` that
 * is not a quantifier is a literal, `\1`..`\99` versus octal escapes, global
 * flags only at the start, verbose mode skipping whitespace only between
 * items) and writes an equivalent JavaScript expression compiled with the `u`
 * flag only. Every construct whose meaning differs between the two engines is
 * rewritten explicitly instead of relying on a JavaScript flag:
 *
 * - `\d` is `\p{Nd}`, `\w` is `[\p{L}\p{N}_]`, `\s` is Python's own list of 29
 *   space characters (JavaScript's `\s` adds U+FEFF and lacks U+001C-U+001F
 *   and U+0085), `\b`/`\B` are lookarounds on that `\w` (JavaScript's are
 *   ASCII). Checked against CPython for every code point CPython 3.11's
 *   Unicode 14 assigns; characters assigned later may differ, as they differ
 *   between Python versions too. `(?a)` gives the ASCII classes.
 * - `.` is `[^\n]` (JavaScript's also stops at `\r`, U+2028, U+2029); `$` is
 *   `(?=\n?$)` (Python's matches before a final newline); `^`/`$` under
 *   `(?m)` break lines at `\n` only; `\Z` is `$`, `\A` is `^`.
 * - `(?i)` is applied by expanding each letter into the exact set of
 *   characters CPython matches (`k` also matches U+212A KELVIN SIGN, `i` also
 *   U+0130 and U+0131, `s` also U+017F). Outside ASCII the two engines fold
 *   case differently (`ß`/`ẞ`, final sigma...), so a non-ASCII character that
 *   has case, under `(?i)`, is refused. Characters without case are fine.
 * - Scoped flags `(?i:...)`, `(?-i:...)`, `(?s:...)`, `(?m:...)`, `(?x:...)`,
 *   `(?a:...)`, `(?u:...)` are supported by the same rewriting.
 * - Backreferences (`\1`, `(?P=name)`) are kept only where the engines agree:
 *   to a group that always takes part in the match (not under `|`, a
 *   quantifier, a negative or a lookbehind assertion), outside lookbehinds and
 *   outside `(?i)`. Python fails a reference to a group that did not match,
 *   JavaScript matches the empty string, and JavaScript clears groups at each
 *   repetition where Python keeps the last value.
 *
 * Refused with a reason: possessive quantifiers, atomic groups `(?>...)`,
 * conditionals `(?(1)...)` (all Python 3.11+ or without JavaScript
 * equivalent), `\N{NAME}`, the `t` flag, a `\w`-like class opening a
 * `(?a:...)`/`(?u:...)` group where a CPython quirk changes its meaning, and
 * everything CPython itself rejects (with CPython's message: `nothing to
 * repeat at position 0`, `global flags not at the start of the expression`,
 * `look-behind requires fixed-width pattern`...).
 *
 * Refused too, although Python accepts them: patterns whose matching time can
 * grow exponentially with the length of the name (catastrophic backtracking:
 * `(a+)+$`, `^([a-z0-9]+[-_]?)+$`, `(\w|\d)+$`). JavaScript's engine, like
 * Python's, backtracks, and a synchronous match cannot be interrupted: one
 * such pattern against one hostile process name would hold a run, and an
 * exporter, past any deadline. The rule (see {@link checkBacktracking}):
 * inside a part repeated more than once, every choice (a quantifier going on
 * or stopping, a branch of `|`) must be decided by the next character.
 * It is checked on character sets, so it is sound but may refuse a harmless
 * pattern (`(ab|ac)+`: write `(a[bc])+`).
 *
 * Verified against python3 in the tests: a table of corner cases, and
 * thousands of random patterns whose answers on random subjects must equal
 * `re.search`'s or be refused.
 *
 * @module
 */

import { ConfigError } from '../errors.js';
import { pythonRepr } from './repr.js';

// Flag bits (values are ours; the meanings are re.I, re.M, re.S, re.X, re.A, re.U).
const IGNORECASE = 1;
const MULTILINE = 2;
const DOTALL = 4;
const VERBOSE = 8;
const ASCII = 16;
const UNICODE = 32;
const TYPE_FLAGS = ASCII | UNICODE;

const FLAG_BITS = new Map<string, number>([
  ['i', IGNORECASE],
  ['m', MULTILINE],
  ['s', DOTALL],
  ['x', VERBOSE],
  ['a', ASCII],
  ['u', UNICODE],
]);
/** Flag letters CPython knows but that cannot be used here: `L` (bytes only), `t` (TEMPLATE, deprecated). */
const OTHER_FLAG_LETTERS = new Set(['L', 't']);

/** CPython's MAXREPEAT on 64-bit builds: repeat counts must stay below it. */
const MAXREPEAT = 4294967295;
/** CPython's MAXCODE: how far a lookbehind may look. */
const MAXCODE = 4294967295;

const SPECIAL_CHARS = new Set(['.', '\\', '[', '{', '(', ')', '*', '+', '?', '^', '$', '|']);
const WHITESPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);
const DIGITS = '0123456789';
const OCTDIGITS = '01234567';
const HEXDIGITS = '0123456789abcdefABCDEF';

/** `\a \b \f \n \r \t \v \\` as CPython's ESCAPES table (`\b` is a backspace only inside a class). */
const SIMPLE_ESCAPES = new Map<string, number>([
  ['\\a', 0x07],
  ['\\f', 0x0c],
  ['\\n', 0x0a],
  ['\\r', 0x0d],
  ['\\t', 0x09],
  ['\\v', 0x0b],
  ['\\\\', 0x5c],
]);

/** Python's `str.isidentifier()`, the rule for group names. */
const IDENTIFIER = /^[\p{XID_Start}_]\p{XID_Continue}*$/u;
/** Characters whose case mapping changes them: under `(?i)` Python and JavaScript may disagree on these. */
const HAS_CASE = /\p{Changes_When_Casemapped}/u;

type CategoryCode = 'd' | 'D' | 's' | 'S' | 'w' | 'W';
type SetItem = { kind: 'range'; lo: number; hi: number } | { kind: 'category'; code: CategoryCode };
type AtCode = 'bol' | 'eol' | 'A' | 'Z' | 'b' | 'B';

type Node =
  | { kind: 'literal'; cp: number }
  | { kind: 'any' }
  | { kind: 'set'; negate: boolean; items: SetItem[] }
  | { kind: 'at'; at: AtCode }
  | { kind: 'group'; index: number | null; name: string | null; add: number; del: number; body: Node }
  | { kind: 'look'; behind: boolean; negate: boolean; body: Node }
  | { kind: 'ref'; index: number; name: string | null }
  /** `span`: code-point positions of the repeated item and its quantifier in the pattern, for messages. */
  | { kind: 'repeat'; min: number; max: number; lazy: boolean; body: Node; span: readonly [number, number] }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; branches: Node[] };

/** Why a pattern cannot be used; internal, turned into a ConfigError by {@link compilePythonRegex}. */
class Unusable extends Error {}

/**
 * Compiles a Python `re` pattern into a JavaScript RegExp with the same
 * `re.search` meaning (unanchored; use `regexp.test(name)`). See the module
 * documentation for what is translated and what is refused.
 *
 * @param pattern the pattern as written for Python.
 * @param key the configuration key the pattern comes from, for the message.
 * @returns a RegExp with flag `u` only (no `g`/`y`: `test()` keeps no state).
 * @throws {ConfigError} `'<key>' pattern '<pattern>' cannot be used: <why>`,
 *   when CPython rejects the pattern, JavaScript has no exact equivalent, or
 *   matching could backtrack catastrophically (see the module documentation).
 */
export function compilePythonRegex(pattern: string, key: string): RegExp {
  return compile(pattern, key, true);
}

function compile(pattern: string, key: string, guard: boolean): RegExp {
  try {
    return new RegExp(translate(pattern, guard), 'u');
  } catch (error) {
    const why = error instanceof Unusable ? error.message : `the translation does not compile in JavaScript: ${(error as Error).message}`;
    throw new ConfigError(`'${key}' pattern ${pythonRepr(pattern)} cannot be used: ${why}`, key);
  }
}

/**
 * The JavaScript source (for the `u` flag) equivalent to a Python pattern.
 * Exposed for diagnostics and tests; unlike {@link compilePythonRegex} it
 * does not refuse patterns that can backtrack catastrophically.
 *
 * @throws {ConfigError} as {@link compilePythonRegex}, with key `pattern`.
 */
export function translatePythonRegex(pattern: string): string {
  return compile(pattern, 'pattern', false).source;
}

/**
 * @param guard refuse the patterns whose matching time can explode
 *   ({@link checkBacktracking}); off only for {@link translatePythonRegex}.
 */
function translate(pattern: string, guard: boolean): string {
  const src = new Source(pattern);
  const state: ParseState = { flags: 0, groups: 1, names: new Map(), closed: new Set(), lookbehind: 0, refs: [] };
  const tree = parseSub(src, state, false, 0);
  if (src.next !== null) throw src.error('unbalanced parenthesis');
  if ((state.flags & ASCII) !== 0 && (state.flags & UNICODE) !== 0) {
    throw new Unusable('ASCII and UNICODE flags are incompatible');
  }
  checkLookbehinds(tree);
  const certain = new Set<number>();
  collectCertainGroups(tree, true, certain);
  for (const ref of state.refs) {
    if (!certain.has(ref.index)) {
      const label = ref.name === null ? String(ref.index) : pythonRepr(ref.name);
      throw new Unusable(
        `backreference to group ${label} is not supported: the group is optional or repeated, ` +
          'and there Python and JavaScript backreferences differ',
      );
    }
  }
  checkCharsetPrefix(tree, state.flags);
  if (guard) checkBacktracking(tree, state.flags, src);
  return emit(tree, state.flags);
}

// ---------------------------------------------------------------------------
// Tokenizer: tokens are one code point, or a backslash and one code point,
// exactly as CPython's Tokenizer; positions count code points.
// ---------------------------------------------------------------------------

class Source {
  readonly #cps: readonly string[];
  #index = 0;
  #nextLength = 0;
  next: string | null = null;

  constructor(pattern: string) {
    this.#cps = Array.from(pattern);
    this.#advance();
  }

  #advance(): void {
    const i = this.#index;
    if (i >= this.#cps.length) {
      this.next = null;
      this.#nextLength = 0;
      return;
    }
    let token = this.#cps[i]!;
    let length = 1;
    if (token === '\\') {
      if (i + 1 >= this.#cps.length) throw new Unusable(`bad escape (end of pattern) at position ${i}`);
      token += this.#cps[i + 1]!;
      length = 2;
    }
    this.#index = i + length;
    this.next = token;
    this.#nextLength = length;
  }

  match(token: string): boolean {
    if (this.next !== token) return false;
    this.#advance();
    return true;
  }

  get(): string | null {
    const token = this.next;
    this.#advance();
    return token;
  }

  getWhile(n: number, allowed: string): string {
    let result = '';
    for (let k = 0; k < n; k++) {
      const c = this.next;
      if (c === null || c.length !== 1 || !allowed.includes(c)) break;
      result += c;
      this.#advance();
    }
    return result;
  }

  getUntil(terminator: string, name: string): string {
    let result = '';
    for (;;) {
      const c = this.next;
      this.#advance();
      if (c === null) {
        if (result === '') throw this.error(`missing ${name}`);
        throw this.error(`missing ${terminator}, unterminated name`, cpLength(result));
      }
      if (c === terminator) {
        if (result === '') throw this.error(`missing ${name}`, 1);
        return result;
      }
      result += c;
    }
  }

  tell(): number {
    return this.#index - this.#nextLength;
  }

  /** The pattern's code points from `from` to `to` (exclusive). */
  text(from: number, to: number): string {
    return this.#cps.slice(from, to).join('');
  }

  seek(index: number): void {
    this.#index = index;
    this.#advance();
  }

  error(message: string, offset = 0): Unusable {
    return new Unusable(`${message} at position ${this.tell() - offset}`);
  }
}

function cpLength(text: string): number {
  return Array.from(text).length;
}

function cpOf(token: string): number {
  return token.codePointAt(0)!;
}

// ---------------------------------------------------------------------------
// Parser (mirrors _parse_sub / _parse / _escape / _class_escape / _parse_flags)
// ---------------------------------------------------------------------------

interface ParseState {
  /** Global flags, from `(?i)`-style groups at the start. */
  flags: number;
  /** Groups opened so far plus one (CPython's `state.groups`). */
  groups: number;
  names: Map<string, number>;
  closed: Set<number>;
  /** How many lookbehinds enclose the parse position. */
  lookbehind: number;
  refs: Array<{ index: number; name: string | null }>;
}

function parseSub(src: Source, state: ParseState, verbose: boolean, nested: number): Node {
  const branches: Node[] = [];
  for (;;) {
    branches.push(parseSeq(src, state, verbose, nested + 1, nested === 0 && branches.length === 0));
    if (!src.match('|')) break;
    if (nested === 0) verbose = (state.flags & VERBOSE) !== 0;
  }
  return branches.length === 1 ? branches[0]! : { kind: 'alt', branches };
}

function parseSeq(src: Source, state: ParseState, verbose: boolean, nested: number, first: boolean): Node {
  const items: Node[] = [];
  /** Where each item starts in the pattern (code points); for the spans of repeats. */
  const starts: number[] = [];
  for (;;) {
    const token = src.next;
    if (token === null || token === '|' || token === ')') break;
    starts[items.length] = src.tell();
    src.get();

    if (verbose) {
      if (WHITESPACE.has(token)) continue;
      if (token === '#') {
        for (;;) {
          const t = src.get();
          if (t === null || t === '\n') break;
        }
        continue;
      }
    }

    if (token[0] === '\\') {
      items.push(parseEscape(src, token, state));
    } else if (!SPECIAL_CHARS.has(token)) {
      items.push({ kind: 'literal', cp: cpOf(token) });
    } else if (token === '[') {
      items.push(parseClass(src));
    } else if (token === '*' || token === '+' || token === '?' || token === '{') {
      const here = src.tell();
      let min: number;
      let max: number;
      if (token === '?') [min, max] = [0, 1];
      else if (token === '*') [min, max] = [0, Infinity];
      else if (token === '+') [min, max] = [1, Infinity];
      else {
        if (src.next === '}') {
          items.push({ kind: 'literal', cp: 0x7b });
          continue;
        }
        let lo = '';
        let hi = '';
        while (src.next !== null && src.next.length === 1 && DIGITS.includes(src.next)) lo += src.get();
        if (src.match(',')) {
          while (src.next !== null && src.next.length === 1 && DIGITS.includes(src.next)) hi += src.get();
        } else {
          hi = lo;
        }
        if (!src.match('}')) {
          items.push({ kind: 'literal', cp: 0x7b });
          src.seek(here);
          continue;
        }
        min = lo === '' ? 0 : repeatCount(lo);
        max = hi === '' ? Infinity : repeatCount(hi);
        if (max < min) throw src.error('min repeat greater than max repeat', src.tell() - here);
      }
      const last = items[items.length - 1];
      if (last === undefined || last.kind === 'at') {
        throw src.error('nothing to repeat', src.tell() - here + 1);
      }
      if (last.kind === 'repeat') throw src.error('multiple repeat', src.tell() - here + 1);
      let lazy = false;
      if (src.match('?')) lazy = true;
      else if (src.match('+')) {
        throw new Unusable('possessive quantifiers (*+, ++, ?+, {m,n}+) have no JavaScript equivalent');
      }
      items[items.length - 1] = { kind: 'repeat', min, max, lazy, body: last, span: [starts[items.length - 1]!, src.tell()] };
    } else if (token === '.') {
      items.push({ kind: 'any' });
    } else if (token === '(') {
      const start = src.tell() - 1;
      let capture = true;
      let name: string | null = null;
      let add = 0;
      let del = 0;
      if (src.match('?')) {
        const c = src.get();
        if (c === null) throw src.error('unexpected end of pattern');
        if (c === 'P') {
          if (src.match('<')) {
            name = src.getUntil('>', 'group name');
            checkGroupName(src, name);
          } else if (src.match('=')) {
            const refName = src.getUntil(')', 'group name');
            checkGroupName(src, refName);
            const index = state.names.get(refName);
            if (index === undefined) throw src.error(`unknown group name ${pythonRepr(refName)}`, cpLength(refName) + 1);
            items.push(makeRef(src, state, index, refName, cpLength(refName) + 1));
            continue;
          } else {
            const c2 = src.get();
            if (c2 === null) throw src.error('unexpected end of pattern');
            throw src.error(`unknown extension ?P${c2}`, cpLength(c2) + 2);
          }
        } else if (c === ':') {
          capture = false;
        } else if (c === '#') {
          for (;;) {
            if (src.next === null) throw src.error('missing ), unterminated comment', src.tell() - start);
            if (src.get() === ')') break;
          }
          continue;
        } else if (c === '=' || c === '!' || c === '<') {
          let kind = c;
          const behind = c === '<';
          if (behind) {
            const c2 = src.get();
            if (c2 === null) throw src.error('unexpected end of pattern');
            if (c2 !== '=' && c2 !== '!') throw src.error(`unknown extension ?<${c2}`, cpLength(c2) + 2);
            kind = c2;
            state.lookbehind++;
          }
          const body = parseSub(src, state, verbose, nested + 1);
          if (behind) state.lookbehind--;
          if (!src.match(')')) throw src.error('missing ), unterminated subpattern', src.tell() - start);
          items.push({ kind: 'look', behind, negate: kind === '!', body });
          continue;
        } else if (c === '(') {
          throw new Unusable('conditional groups (?(...)...) have no JavaScript equivalent');
        } else if (c === '>') {
          throw new Unusable('atomic groups (?>...) have no JavaScript equivalent');
        } else if (FLAG_BITS.has(c) || OTHER_FLAG_LETTERS.has(c) || c === '-') {
          const flags = parseFlags(src, state, c);
          if (flags === null) {
            if (!first || items.length > 0) {
              throw src.error('global flags not at the start of the expression', src.tell() - start);
            }
            verbose = (state.flags & VERBOSE) !== 0;
            continue;
          }
          [add, del] = flags;
          capture = false;
        } else {
          throw src.error(`unknown extension ?${c}`, cpLength(c) + 1);
        }
      }
      let index: number | null = null;
      if (capture) {
        index = state.groups++;
        if (name !== null) {
          const previous = state.names.get(name);
          if (previous !== undefined) {
            throw src.error(
              `redefinition of group name ${pythonRepr(name)} as group ${index}; was group ${previous}`,
              cpLength(name) + 1,
            );
          }
          state.names.set(name, index);
        }
      }
      const subVerbose = (verbose || (add & VERBOSE) !== 0) && (del & VERBOSE) === 0;
      const body = parseSub(src, state, subVerbose, nested + 1);
      if (!src.match(')')) throw src.error('missing ), unterminated subpattern', src.tell() - start);
      if (index !== null) state.closed.add(index);
      items.push({ kind: 'group', index, name, add, del, body });
    } else if (token === '^') {
      items.push({ kind: 'at', at: 'bol' });
    } else {
      // The only special character left is '$'.
      items.push({ kind: 'at', at: 'eol' });
    }
  }
  return { kind: 'seq', items };
}

function repeatCount(digits: string): number {
  const n = Number(digits);
  if (n >= MAXREPEAT) throw new Unusable('the repetition number is too large');
  return n;
}

function checkGroupName(src: Source, name: string): void {
  if (!IDENTIFIER.test(name)) {
    throw src.error(`bad character in group name ${pythonRepr(name)}`, cpLength(name) + 1);
  }
}

function makeRef(src: Source, state: ParseState, index: number, name: string | null, offset: number): Node {
  if (!state.closed.has(index)) throw src.error('cannot refer to an open group', offset);
  if (state.lookbehind > 0) {
    throw new Unusable('backreferences inside a lookbehind are not supported (JavaScript matches lookbehinds backwards)');
  }
  state.refs.push({ index, name });
  return { kind: 'ref', index, name };
}

function parseFlags(src: Source, state: ParseState, first: string): [number, number] | null {
  let add = 0;
  let del = 0;
  let c: string | null = first;
  if (c !== '-') {
    for (;;) {
      const flag = flagBit(src, c);
      add |= flag;
      if ((flag & TYPE_FLAGS) !== 0 && (add & TYPE_FLAGS) !== flag) {
        throw src.error("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
      }
      c = src.get();
      if (c === null) throw src.error('missing -, : or )');
      if (c === ')' || c === '-' || c === ':') break;
      if (!isFlagLetter(c)) throw src.error(isLetter(c) ? 'unknown flag' : 'missing -, : or )', cpLength(c));
    }
  }
  if (c === ')') {
    state.flags |= add;
    return null;
  }
  if (c === '-') {
    c = src.get();
    if (c === null) throw src.error('missing flag');
    if (!isFlagLetter(c)) throw src.error(isLetter(c) ? 'unknown flag' : 'missing flag', cpLength(c));
    for (;;) {
      const flag = flagBit(src, c);
      if ((flag & TYPE_FLAGS) !== 0) throw src.error("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
      del |= flag;
      c = src.get();
      if (c === null) throw src.error('missing :');
      if (c === ':') break;
      if (!isFlagLetter(c)) throw src.error(isLetter(c) ? 'unknown flag' : 'missing :', cpLength(c));
    }
  }
  if ((add & del) !== 0) throw src.error('bad inline flags: flag turned on and off', 1);
  return [add, del];
}

function isFlagLetter(c: string): boolean {
  return FLAG_BITS.has(c) || OTHER_FLAG_LETTERS.has(c);
}

function flagBit(src: Source, c: string): number {
  if (c === 'L') throw src.error("bad inline flags: cannot use 'L' flag with a str pattern");
  if (c === 't') throw new Unusable("the TEMPLATE flag 't' is not supported");
  return FLAG_BITS.get(c)!;
}

function isLetter(c: string): boolean {
  return /^\p{L}$/u.test(c);
}

function parseEscape(src: Source, token: string, state: ParseState): Node {
  switch (token) {
    case '\\A':
      return { kind: 'at', at: 'A' };
    case '\\Z':
      return { kind: 'at', at: 'Z' };
    case '\\b':
      return { kind: 'at', at: 'b' };
    case '\\B':
      return { kind: 'at', at: 'B' };
    case '\\d':
    case '\\D':
    case '\\s':
    case '\\S':
    case '\\w':
    case '\\W':
      return { kind: 'set', negate: false, items: [{ kind: 'category', code: token[1] as CategoryCode }] };
  }
  const simple = SIMPLE_ESCAPES.get(token);
  if (simple !== undefined) return { kind: 'literal', cp: simple };
  const c = token.slice(1);
  const numeric = numericEscape(src, token, c);
  if (numeric !== undefined) return { kind: 'literal', cp: numeric };
  if (c === '0') {
    return { kind: 'literal', cp: parseInt(c + src.getWhile(2, OCTDIGITS), 8) };
  }
  if (DIGITS.includes(c)) {
    // An octal escape of three digits, or a group reference of one or two.
    let digits = c;
    if (src.next !== null && src.next.length === 1 && DIGITS.includes(src.next)) {
      digits += src.get();
      if (OCTDIGITS.includes(digits[0]!) && OCTDIGITS.includes(digits[1]!) && src.next !== null && src.next.length === 1 && OCTDIGITS.includes(src.next)) {
        digits += src.get();
        const value = parseInt(digits, 8);
        if (value > 0o377) {
          throw src.error(`octal escape value \\${digits} outside of range 0-0o377`, digits.length + 1);
        }
        return { kind: 'literal', cp: value };
      }
    }
    const group = Number(digits);
    if (group < state.groups) return makeRef(src, state, group, null, digits.length + 1);
    throw src.error(`invalid group reference ${group}`, digits.length);
  }
  if (isAsciiLetter(c)) throw src.error(`bad escape ${token}`, 2);
  return { kind: 'literal', cp: cpOf(c) };
}

/** `\x`, `\u`, `\U` and `\N` (refused): shared by both escape contexts. */
function numericEscape(src: Source, token: string, c: string): number | undefined {
  let width: number;
  if (c === 'x') width = 2;
  else if (c === 'u') width = 4;
  else if (c === 'U') width = 8;
  else if (c === 'N') throw new Unusable('named character escapes \\N{...} are not supported');
  else return undefined;
  const digits = src.getWhile(width, HEXDIGITS);
  if (digits.length !== width) throw src.error(`incomplete escape ${token}${digits}`, 2 + digits.length);
  const value = parseInt(digits, 16);
  if (value > 0x10ffff) throw src.error(`bad escape ${token}${digits}`, 2 + digits.length);
  return value;
}

function parseClassEscape(src: Source, token: string): SetItem {
  if (token === '\\b') return range(0x08);
  const simple = SIMPLE_ESCAPES.get(token);
  if (simple !== undefined) return range(simple);
  const c = token.slice(1);
  if (c.length === 1 && 'dDsSwW'.includes(c)) return { kind: 'category', code: c as CategoryCode };
  const numeric = numericEscape(src, token, c);
  if (numeric !== undefined) return range(numeric);
  if (OCTDIGITS.includes(c)) {
    const digits = c + src.getWhile(2, OCTDIGITS);
    const value = parseInt(digits, 8);
    if (value > 0o377) throw src.error(`octal escape value \\${digits} outside of range 0-0o377`, digits.length + 1);
    return range(value);
  }
  if (DIGITS.includes(c) || isAsciiLetter(c)) throw src.error(`bad escape ${token}`, 2);
  return range(cpOf(c));
}

function range(cp: number): SetItem {
  return { kind: 'range', lo: cp, hi: cp };
}

function isAsciiLetter(c: string): boolean {
  return c.length === 1 && /^[A-Za-z]$/.test(c);
}

/** After `[`. */
function parseClass(src: Source): Node {
  const here = src.tell() - 1;
  const negate = src.match('^');
  const items: SetItem[] = [];
  for (;;) {
    const token = src.get();
    if (token === null) throw src.error('unterminated character set', src.tell() - here);
    if (token === ']' && items.length > 0) break;
    const code1 = token[0] === '\\' ? parseClassEscape(src, token) : range(cpOf(token));
    if (!src.match('-')) {
      items.push(code1);
      continue;
    }
    const that = src.get();
    if (that === null) throw src.error('unterminated character set', src.tell() - here);
    if (that === ']') {
      items.push(code1, range(0x2d));
      break;
    }
    const code2 = that[0] === '\\' ? parseClassEscape(src, that) : range(cpOf(that));
    if (code1.kind !== 'range' || code2.kind !== 'range' || code2.lo < code1.lo) {
      throw src.error(`bad character range ${token}-${that}`, cpLength(token) + 1 + cpLength(that));
    }
    items.push({ kind: 'range', lo: code1.lo, hi: code2.lo });
  }
  return { kind: 'set', negate, items };
}

// ---------------------------------------------------------------------------
// Checks after parsing (CPython's compile step, and ours)
// ---------------------------------------------------------------------------

/** CPython's `getwidth()`: the shortest and longest text a node matches (Infinity when unbounded). */
function width(node: Node): [number, number] {
  switch (node.kind) {
    case 'literal':
    case 'any':
    case 'set':
      return [1, 1];
    case 'at':
    case 'look':
      return [0, 0];
    case 'ref':
      // Unreachable from a lookbehind: references there are refused while parsing.
      return [0, Infinity];
    case 'group':
      return width(node.body);
    case 'repeat': {
      const [lo, hi] = width(node.body);
      return [lo * node.min, hi === 0 ? 0 : hi * node.max];
    }
    case 'seq': {
      let lo = 0;
      let hi = 0;
      for (const item of node.items) {
        const [l, h] = width(item);
        lo += l;
        hi += h;
      }
      return [lo, hi];
    }
    case 'alt': {
      let lo = Infinity;
      let hi = 0;
      for (const branch of node.branches) {
        const [l, h] = width(branch);
        lo = Math.min(lo, l);
        hi = Math.max(hi, h);
      }
      return [lo, hi];
    }
  }
}

function checkLookbehinds(node: Node): void {
  switch (node.kind) {
    case 'look':
      if (node.behind) {
        const [lo, hi] = width(node.body);
        if (lo > MAXCODE) throw new Unusable('looks too much behind');
        if (lo !== hi) throw new Unusable('look-behind requires fixed-width pattern');
      }
      checkLookbehinds(node.body);
      return;
    case 'group':
    case 'repeat':
      checkLookbehinds(node.body);
      return;
    case 'seq':
      node.items.forEach(checkLookbehinds);
      return;
    case 'alt':
      node.branches.forEach(checkLookbehinds);
      return;
    default:
      return;
  }
}

/**
 * CPython quirk: when a pattern starts (through any leading groups) with a
 * character set, `_compile_info` compiles that set once more, as a filter on
 * the first character, but with the pattern's global flags instead of the
 * group's. `(?a)(?u:\w)` therefore never matches `é` in CPython 3.11, and
 * `(?a:\W)` never matches it either. Where that filter is narrower than the
 * set itself, the pattern is refused rather than the quirk imitated.
 */
function checkCharsetPrefix(tree: Node, globalFlags: number): void {
  let node: Node = tree;
  let flags = globalFlags;
  for (;;) {
    if (node.kind === 'seq' && node.items.length > 0) node = node.items[0]!;
    else if (node.kind === 'group') {
      flags = combineFlags(flags, node.add, node.del);
      node = node.body;
    } else break;
  }
  // CPython turns an alternation of single characters and sets into one set.
  const sets =
    node.kind === 'alt'
      ? node.branches.map((b) => (b.kind === 'seq' && b.items.length === 1 ? b.items[0]! : b))
      : [node];
  if (!sets.every((n) => n.kind === 'literal' || (n.kind === 'set' && (!n.negate || sets.length === 1)))) return;
  const filterAscii = (globalFlags & ASCII) !== 0;
  const realAscii = (flags & ASCII) !== 0;
  if (filterAscii === realAscii) return;
  // ASCII \d \s \w are subsets of the Unicode ones, and Unicode \D \S \W of
  // the ASCII ones. Only a filter narrower than the real set changes results.
  for (const n of sets) {
    if (n.kind !== 'set') continue;
    for (const item of n.items) {
      if (item.kind !== 'category') continue;
      const positive = item.code === item.code.toLowerCase();
      const narrower = positive !== n.negate ? filterAscii : realAscii;
      if (narrower) {
        throw new Unusable(
          `\\${item.code} at the start of a (?a:...) or (?u:...) group that changes the global flags is not supported ` +
            '(CPython checks the first character with the global flags)',
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Catastrophic backtracking
// ---------------------------------------------------------------------------

/**
 * A set of characters, over-approximated: exact for ASCII (a 128-bit mask),
 * ranges of code points above it. Good enough to tell whether two parts of a
 * pattern can start with the same character.
 */
class CharSet {
  readonly ascii = [0, 0, 0, 0];
  readonly wide: Array<[number, number]> = [];

  static of(lo: number, hi: number): CharSet {
    return new CharSet().add(lo, hi);
  }

  add(lo: number, hi: number): this {
    for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) this.ascii[cp >> 5]! |= 1 << (cp & 31);
    if (hi >= 0x80) this.wide.push([Math.max(lo, 0x80), hi]);
    return this;
  }

  addSet(other: CharSet): this {
    for (let i = 0; i < 4; i++) this.ascii[i]! |= other.ascii[i]!;
    this.wide.push(...other.wide);
    return this;
  }

  /** Everything outside this set in ASCII, and every non-ASCII character (over-approximated). */
  complement(): CharSet {
    const out = new CharSet();
    for (let i = 0; i < 4; i++) out.ascii[i] = ~this.ascii[i]!;
    out.wide.push([0x80, 0x10ffff]);
    return out;
  }

  overlaps(other: CharSet): boolean {
    for (let i = 0; i < 4; i++) if ((this.ascii[i]! & other.ascii[i]!) !== 0) return true;
    return this.wide.some(([lo, hi]) => other.wide.some(([lo2, hi2]) => lo <= hi2 && lo2 <= hi));
  }
}

const ALL_CHARS = (): CharSet => CharSet.of(0, 0x10ffff);

/** ASCII members of `\d`, `\s`, `\w`; under Unicode rules each also has members above ASCII. */
const CATEGORY_ASCII: Record<'d' | 's' | 'w', Array<[number, number]>> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0d], [0x1c, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

function categorySet(code: CategoryCode): CharSet {
  const lower = code.toLowerCase() as 'd' | 's' | 'w';
  const set = new CharSet();
  for (const [lo, hi] of CATEGORY_ASCII[lower]) set.add(lo, hi);
  set.add(0x80, 0x10ffff);
  return lower === code ? set : set.complement();
}

/** The set of `lo..hi` under the flags: under (?i) ASCII letters bring their other case and CPython's non-ASCII folds. */
function rangeSet(lo: number, hi: number, flags: number): CharSet {
  const set = CharSet.of(lo, hi);
  if ((flags & IGNORECASE) !== 0) for (const [a, b] of foldCase([], lo, Math.min(hi, 0x7f), flags)) set.add(a, b);
  return set;
}

/** The characters a match of `node` can start with (empty for an assertion). */
function firstChars(node: Node, flags: number): CharSet {
  switch (node.kind) {
    case 'literal':
      return rangeSet(node.cp, node.cp, flags);
    case 'any':
      return (flags & DOTALL) !== 0 ? ALL_CHARS() : CharSet.of(0x0a, 0x0a).complement();
    case 'set': {
      const set = new CharSet();
      for (const item of node.items) set.addSet(item.kind === 'range' ? rangeSet(item.lo, item.hi, flags) : categorySet(item.code));
      return node.negate ? set.complement() : set;
    }
    case 'at':
    case 'look':
      return new CharSet();
    case 'ref':
      return ALL_CHARS();
    case 'group':
      return firstChars(node.body, combineFlags(flags, node.add, node.del));
    case 'repeat':
      return node.max === 0 ? new CharSet() : firstChars(node.body, flags);
    case 'seq': {
      const set = new CharSet();
      for (const item of node.items) {
        set.addSet(firstChars(item, flags));
        if (width(item)[0] > 0) break;
      }
      return set;
    }
    case 'alt': {
      const set = new CharSet();
      for (const branch of node.branches) set.addSet(firstChars(branch, flags));
      return set;
    }
  }
}

/**
 * Refuses a pattern whose matching can take time exponential in the length
 * of the subject. A backtracking engine explores every way of matching the
 * text; that number explodes when a part repeated more than once can match
 * the same text in more than one way, which takes a choice (a quantifier
 * going on or stopping, a branch of an alternation) that the next character
 * does not decide. So in the body of every quantifier whose maximum is
 * above 1 (at any depth, lookarounds included), each such choice must see
 * disjoint character sets: what going on (or the branch) can start with,
 * against what can come next, the start of the next repetition included.
 * Choices outside repeated parts only cost polynomial time, and are allowed.
 *
 * @throws {Unusable} naming the repeated part.
 */
function checkBacktracking(node: Node, flags: number, src: Source): void {
  switch (node.kind) {
    case 'group':
      checkBacktracking(node.body, combineFlags(flags, node.add, node.del), src);
      return;
    case 'look':
      checkBacktracking(node.body, flags, src);
      return;
    case 'repeat':
      if (node.max > 1 && width(node.body)[1] > 0 && !deterministic(node.body, flags, firstChars(node.body, flags))) {
        throw new Unusable(
          `the repeated part ${pythonRepr(src.text(node.span[0], node.span[1]))} can match the same text in more than one way, ` +
            'so matching can take exponential time (catastrophic backtracking) and hang a run; rewrite it so that the next ' +
            "character always decides between going on and stopping, and between alternatives (e.g. '(a+)+' as 'a+')",
        );
      }
      checkBacktracking(node.body, flags, src);
      return;
    case 'seq':
      for (const item of node.items) checkBacktracking(item, flags, src);
      return;
    case 'alt':
      for (const branch of node.branches) checkBacktracking(branch, flags, src);
      return;
    default:
      return;
  }
}

/**
 * Whether every choice inside `node` is decided by the next character, given
 * `follow`, the characters that can come right after `node`.
 */
function deterministic(node: Node, flags: number, follow: CharSet): boolean {
  switch (node.kind) {
    case 'group':
      return deterministic(node.body, combineFlags(flags, node.add, node.del), follow);
    case 'repeat': {
      if (width(node.body)[1] === 0) return true;
      const again = firstChars(node.body, flags);
      if (node.max > node.min && again.overlaps(follow)) return false;
      return deterministic(node.body, flags, node.max > 1 ? new CharSet().addSet(again).addSet(follow) : follow);
    }
    case 'seq': {
      let after = follow;
      for (let i = node.items.length - 1; i >= 0; i--) {
        const item = node.items[i]!;
        if (!deterministic(item, flags, after)) return false;
        const first = firstChars(item, flags);
        after = width(item)[0] > 0 ? first : first.addSet(after);
      }
      return true;
    }
    case 'alt': {
      const starts = node.branches.map((b) => {
        const first = firstChars(b, flags);
        return width(b)[0] > 0 ? first : first.addSet(follow);
      });
      for (let i = 0; i < starts.length; i++) {
        for (let j = i + 1; j < starts.length; j++) if (starts[i]!.overlaps(starts[j]!)) return false;
      }
      return node.branches.every((b) => deterministic(b, flags, follow));
    }
    default:
      // Characters, assertions (a lookaround's own body is checked as a pattern of its own) and references choose nothing.
      return true;
  }
}

/** Groups that are set whenever the whole pattern matches, with the same text in both engines. */
function collectCertainGroups(node: Node, certain: boolean, out: Set<number>): void {
  switch (node.kind) {
    case 'group':
      if (certain && node.index !== null) out.add(node.index);
      collectCertainGroups(node.body, certain, out);
      return;
    case 'look':
      collectCertainGroups(node.body, certain && !node.behind && !node.negate, out);
      return;
    case 'repeat':
      collectCertainGroups(node.body, false, out);
      return;
    case 'seq':
      for (const item of node.items) collectCertainGroups(item, certain, out);
      return;
    case 'alt':
      for (const branch of node.branches) collectCertainGroups(branch, false, out);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// Emitter: JavaScript source for the `u` flag, no other flag.
// ---------------------------------------------------------------------------

/** Python's Unicode `\s` (`str.isspace()`), which is not JavaScript's. */
const UNICODE_SPACE = '\\u{9}-\\u{d}\\u{1c}-\\u{20}\\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}';
/** Class bodies of the categories, Unicode then ASCII (`(?a)`). */
const CATEGORY_BODY: Record<'d' | 's' | 'w', [string, string]> = {
  d: ['\\p{Nd}', '0-9'],
  s: [UNICODE_SPACE, '\\u{9}-\\u{d} '],
  w: ['\\p{L}\\p{N}_', 'A-Za-z0-9_'],
};
const SYNTAX_CHARS = new Set(Array.from('^$\\.*+?()[]{}|/', (c) => cpOf(c)));

function combineFlags(flags: number, add: number, del: number): number {
  if ((add & TYPE_FLAGS) !== 0) flags &= ~TYPE_FLAGS;
  return (flags | add) & ~del;
}

function emit(node: Node, flags: number): string {
  switch (node.kind) {
    case 'literal': {
      if ((flags & IGNORECASE) === 0) return emitChar(node.cp, false);
      const ranges = mergeRanges(foldCase([], node.cp, node.cp, flags));
      return ranges.length === 1 && ranges[0]![0] === ranges[0]![1] ? emitChar(node.cp, false) : `[${rangesText(ranges)}]`;
    }
    case 'any':
      return (flags & DOTALL) !== 0 ? '[\\s\\S]' : '[^\\n]';
    case 'set':
      return emitSet(node.items, node.negate, flags);
    case 'at':
      return emitAt(node.at, flags);
    case 'group': {
      const body = emit(node.body, combineFlags(flags, node.add, node.del));
      if (node.index === null) return `(?:${body})`;
      return node.name === null ? `(${body})` : `(?<${node.name}>${body})`;
    }
    case 'look':
      return `(?${node.behind ? '<' : ''}${node.negate ? '!' : '='}${emit(node.body, flags)})`;
    case 'ref':
      if ((flags & IGNORECASE) !== 0) {
        throw new Unusable('backreferences under (?i) are not supported (Python and JavaScript compare case differently)');
      }
      return node.name === null ? `(?:\\${node.index})` : `\\k<${node.name}>`;
    case 'repeat': {
      const body = emit(node.body, flags);
      // JavaScript's `u` mode does not allow a quantifier directly on an assertion.
      const atom = node.body.kind === 'look' ? `(?:${body})` : body;
      return atom + quantifier(node.min, node.max) + (node.lazy ? '?' : '');
    }
    case 'seq':
      return node.items.map((item) => emit(item, flags)).join('');
    case 'alt':
      return node.branches.map((branch) => emit(branch, flags)).join('|');
  }
}

function quantifier(min: number, max: number): string {
  if (max === Infinity) return min === 0 ? '*' : min === 1 ? '+' : `{${min},}`;
  if (min === 0 && max === 1) return '?';
  return min === max ? `{${min}}` : `{${min},${max}}`;
}

function emitAt(at: AtCode, flags: number): string {
  const word = (flags & ASCII) !== 0 ? '[A-Za-z0-9_]' : '[\\p{L}\\p{N}_]';
  switch (at) {
    case 'bol':
      return (flags & MULTILINE) !== 0 ? '(?<![^\\n])' : '^';
    case 'eol':
      return (flags & MULTILINE) !== 0 ? '(?![^\\n])' : '(?=\\n?$)';
    case 'A':
      return '^';
    case 'Z':
      return '$';
    case 'b':
      return `(?:(?<=${word})(?!${word})|(?<!${word})(?=${word}))`;
    case 'B':
      // CPython 3.11: \B never matches in an empty string.
      return `(?:(?<=${word})(?=${word})|(?<!${word})(?!${word})(?:(?<=[\\s\\S])|(?=[\\s\\S])))`;
  }
}

function emitSet(items: readonly SetItem[], negate: boolean, flags: number): string {
  const ascii = (flags & ASCII) !== 0 ? 1 : 0;
  const ranges: Array<[number, number]> = [];
  const positive: string[] = [];
  const negative: string[] = [];
  for (const item of items) {
    if (item.kind === 'range') {
      if ((flags & IGNORECASE) !== 0) foldCase(ranges, item.lo, item.hi, flags);
      else ranges.push([item.lo, item.hi]);
    } else {
      // CPython tests the category on the lower-cased character under (?i);
      // for \d, \s and \w that gives the same answer for every character.
      const lower = item.code.toLowerCase() as 'd' | 's' | 'w';
      (lower === item.code ? positive : negative).push(CATEGORY_BODY[lower][ascii]);
    }
  }
  const body = rangesText(mergeRanges(ranges)) + positive.join('');
  if (negative.length === 0) return negate ? `[^${body}]` : `[${body}]`;
  const alternatives = body === '' ? [] : [`[${body}]`];
  for (const n of negative) alternatives.push(`[^${n}]`);
  const union = `(?:${alternatives.join('|')})`;
  return negate ? `(?:(?!${union})[\\s\\S])` : union;
}

/**
 * Adds to `out` the characters CPython matches for the characters lo..hi
 * under (?i). ASCII: both cases, plus, in Unicode mode, the non-ASCII
 * characters CPython folds onto ASCII letters. Non-ASCII: only characters
 * without case are accepted (they match themselves only, in both engines).
 */
function foldCase(out: Array<[number, number]>, lo: number, hi: number, flags: number): Array<[number, number]> {
  const unicode = (flags & ASCII) === 0;
  for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) {
    out.push([cp, cp]);
    if (!((cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a))) continue;
    const lower = cp | 0x20;
    out.push([lower - 0x20, lower - 0x20], [lower, lower]);
    if (!unicode) continue;
    if (lower === 0x69) out.push([0x130, 0x131]); // i: İ (U+0130) lowers to i; ı (U+0131) via CPython's case fixes
    else if (lower === 0x6b) out.push([0x212a, 0x212a]); // k: KELVIN SIGN lowers to k
    else if (lower === 0x73) out.push([0x17f, 0x17f]); // s: LONG S via CPython's case fixes
  }
  if (hi >= 0x80) {
    const from = Math.max(lo, 0x80);
    if (unicode) {
      // One test per code point, stopping at the first cased one: the worst
      // case, (?i)[\U00030000-\U0010ffff], takes 67 ms once at construction.
      for (let cp = from; cp <= hi; cp++) {
        if (HAS_CASE.test(String.fromCodePoint(cp))) {
          throw new Unusable(
            `case-insensitive matching of ${pythonRepr(String.fromCodePoint(cp))} (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) ` +
              'is not supported: Python and JavaScript fold case differently outside ASCII',
          );
        }
      }
    }
    out.push([from, hi]);
  }
  return out;
}

function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [lo, hi] of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

function rangesText(ranges: ReadonlyArray<readonly [number, number]>): string {
  let text = '';
  for (const [lo, hi] of ranges) {
    text += emitChar(lo, true);
    if (hi === lo + 1) text += emitChar(hi, true);
    else if (hi > lo) text += `-${emitChar(hi, true)}`;
  }
  return text;
}

function emitChar(cp: number, inClass: boolean): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f) {
    return String.fromCharCode(cp);
  }
  if (SYNTAX_CHARS.has(cp) || (inClass && cp === 0x2d)) return `\\${String.fromCharCode(cp)}`;
  if (cp > 0x20 && cp < 0x7f) return String.fromCharCode(cp);
  return `\\u{${cp.toString(16)}}`;
}
