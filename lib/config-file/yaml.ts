/**
 * A reader for the subset of YAML that Datadog check configurations are
 * written in (`conf.d/supervisord.d/conf.yaml`): block mappings and
 * sequences (a sequence may sit at its key's indentation), plain,
 * single-quoted and double-quoted scalars on one line, flow sequences and
 * flow mappings on one line, comments, an optional `---` at the top.
 *
 * Plain scalars follow the YAML 1.2 core schema: `null`, `~` and nothing are
 * null, `true`/`false` (and their capitalised forms) booleans, decimal,
 * `0x` and `0o` integers and decimal floats numbers, anything else a string.
 * YAML 1.1's `yes`/`no`/`on`/`off` stay strings: a key that wants a boolean
 * then says so, where a silent reading could be wrong.
 *
 * With a {@link ScalarSources}, the reader also records where each plain
 * scalar that is not plainly text was written (a number, a boolean, or what
 * a YAML 1.1 reader would read as one), with its text as written: a key that
 * takes text can then keep that text or refuse it by its position.
 *
 * Everything else (block scalars `|` `>`, anchors and aliases, tags,
 * directives, complex keys, several documents, scalars or flow collections
 * over several lines, tabs in indentation) is refused with a
 * {@link YamlSyntaxError} naming the line and column, as are integers with a
 * leading zero (octal in YAML 1.1, decimal in 1.2: quote them) and duplicate
 * keys. Messages never quote the text of the file: it may hold a password.
 *
 * @module
 */

import type { ScalarSource, ScalarSources } from './scalars.js';

/**
 * The text is not in the supported YAML subset. `line` and `column` are
 * 1-based; the message starts with `line L, column C: `.
 */
export class YamlSyntaxError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_YAML_SYNTAX' as const;
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based column of the problem. */
  readonly column: number;

  /**
   * @param line 1-based line.
   * @param column 1-based column.
   * @param what what is wrong, a short lower-case phrase.
   */
  constructor(line: number, column: number, what: string) {
    super(`line ${line}, column ${column}: ${what}`);
    this.line = line;
    this.column = column;
  }

  override get name(): string {
    return 'YamlSyntaxError';
  }
}

/** A YAML value as this reader produces it. */
export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };

const UNEXPECTED_INDENT = 'unexpected indentation (a value continued on the next lines is not supported: keep it on one line)';

/** Deepest nesting accepted: configuration files are shallow, and recursion must not exhaust the stack. */
const MAX_DEPTH = 64;

interface Line {
  /** 0-based line number. */
  readonly no: number;
  readonly text: string;
  /** Column of the first non-space character (the indentation). */
  readonly indent: number;
}

/**
 * Parses one YAML document of the supported subset.
 *
 * @param text the file's content (a UTF-8 BOM is skipped; LF or CRLF).
 * @param sources when given, receives the plain scalars that are not plainly
 *   text (see {@link ScalarSources}), by the mapping or list holding them.
 * @returns the document: null for an empty one.
 * @throws {YamlSyntaxError} for anything outside the subset.
 */
export function parseYaml(text: string, sources?: ScalarSources): YamlValue {
  return new Parser(text, sources).document();
}

class Parser {
  readonly #lines: Line[] = [];
  /** Index in #lines of the next line to read. */
  #next = 0;
  #depth = 0;
  readonly #sources: ScalarSources | undefined;
  /** The last plain scalar read that is not plainly text, until it is placed in its mapping or list. */
  #pending: ScalarSource | undefined;

  constructor(text: string, sources: ScalarSources | undefined) {
    this.#sources = sources;
    const raw = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
    let documentStarted = false;
    for (let no = 0; no < raw.length; no++) {
      const line = raw[no]!.endsWith('\r') ? raw[no]!.slice(0, -1) : raw[no]!;
      let indent = 0;
      while (line.charCodeAt(indent) === 0x20) indent++;
      const first = line[indent];
      if (first === undefined || first === '#') continue;
      if (first === '\t') {
        // A tab after the spaces of a line with nothing else on it is blank.
        if (line.slice(indent).trim() === '' || line.slice(indent).trimStart().startsWith('#')) continue;
        throw new YamlSyntaxError(no + 1, indent + 1, 'a tab in the indentation (YAML indents with spaces only)');
      }
      if (indent === 0 && isMarker(line, '---')) {
        if (documentStarted || this.#lines.length > 0) {
          throw new YamlSyntaxError(no + 1, 1, 'a second document (---): the file must hold one');
        }
        documentStarted = true;
        if (line.slice(3).trim() !== '' && !line.slice(3).trim().startsWith('#')) {
          throw new YamlSyntaxError(no + 1, 5, 'content on the --- line: start it on the next line');
        }
        continue;
      }
      if (indent === 0 && isMarker(line, '...')) {
        for (let rest = no + 1; rest < raw.length; rest++) {
          const after = raw[rest]!.trim();
          if (after !== '' && !after.startsWith('#')) throw new YamlSyntaxError(rest + 1, 1, 'content after the end of the document (...)');
        }
        break;
      }
      if (indent === 0 && first === '%') throw new YamlSyntaxError(no + 1, 1, 'directives (%) are not supported');
      this.#lines.push({ no, text: line, indent });
    }
  }

  document(): YamlValue {
    if (this.#lines.length === 0) return null;
    const first = this.#lines[0]!;
    const value = this.#node(first, first.indent);
    this.#pending = undefined; // a document that is a lone scalar: nothing holds it
    const extra = this.#peek();
    if (extra !== undefined) throw this.#error(extra, extra.indent, 'unexpected indentation: this line belongs to nothing above it');
    return value;
  }

  #peek(): Line | undefined {
    return this.#lines[this.#next];
  }

  #error(line: Line, column: number, what: string): YamlSyntaxError {
    return new YamlSyntaxError(line.no + 1, column + 1, what);
  }

  /**
   * The block node whose content starts on `line` at `column` (after a `- `,
   * `column` is past the indentation). `line` is the next line to read.
   */
  #node(line: Line, column: number): YamlValue {
    if (++this.#depth > MAX_DEPTH) throw this.#error(line, column, `nested more than ${MAX_DEPTH} levels deep`);
    try {
      if (isSequenceEntry(line.text, column)) return this.#sequence(line, column);
      if (keyEnd(line, column, this) !== undefined) return this.#mapping(line, column);
      this.#next++;
      return this.#inlineValue(line, column);
    } finally {
      this.#depth--;
    }
  }

  /** A block sequence whose `-` entries are at `column`; `line` holds the first. */
  #sequence(first: Line, column: number): YamlValue[] {
    const items: YamlValue[] = [];
    let line: Line | undefined = first;
    while (line !== undefined) {
      const content = skipSpaces(line.text, column + 1);
      if (content >= line.text.length || line.text[content] === '#') {
        // `-` alone: the item is the block below it, or null.
        this.#next++;
        const below = this.#peek();
        this.place(items, items.length, below !== undefined && below.indent > column ? this.#node(below, below.indent) : null);
      } else {
        this.place(items, items.length, this.#node(line, content));
      }
      const after = this.#peek();
      if (after === undefined || after.indent < column) break;
      if (after.indent > column) throw this.#error(after, after.indent, UNEXPECTED_INDENT);
      if (!isSequenceEntry(after.text, column)) break; // a key of the mapping that holds this sequence
      line = after;
    }
    return items;
  }

  /** A block mapping whose keys are at `column`; `line` holds the first. */
  #mapping(first: Line, column: number): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    const seen = new Set<string>();
    let line: Line | undefined = first;
    while (line !== undefined) {
      const key = keyEnd(line, column, this);
      if (key === undefined) throw this.#error(line, column, "expected 'key: value'");
      if (seen.has(key.key)) throw this.#error(line, column, 'a key given twice in one mapping');
      seen.add(key.key);
      this.#next++;
      const valueAt = skipSpaces(line.text, key.end);
      let value: YamlValue;
      if (valueAt < line.text.length && line.text[valueAt] !== '#') {
        if (isSequenceEntry(line.text, valueAt)) throw this.#error(line, valueAt, "a block sequence cannot start on its key's line: start it on the next line");
        if (keyEnd(line, valueAt, this) !== undefined) throw this.#error(line, valueAt, "a mapping cannot start on its key's line: start it on the next line");
        value = this.#inlineValue(line, valueAt);
      } else {
        const below = this.#peek();
        if (below !== undefined && below.indent > column) value = this.#node(below, below.indent);
        else if (below !== undefined && below.indent === column && isSequenceEntry(below.text, column)) value = this.#sequence(below, column);
        else value = null;
      }
      this.place(map, key.key, value);
      const after = this.#peek();
      if (after === undefined || after.indent < column) break;
      if (after.indent > column) throw this.#error(after, after.indent, UNEXPECTED_INDENT);
      line = after;
    }
    return map;
  }

  /** A scalar or flow collection from `column` to the end of the line (a comment may follow). */
  #inlineValue(line: Line, column: number): YamlValue {
    const scanner = new Scanner(line, column, this);
    const value = scanner.value(false);
    scanner.end();
    return value;
  }

  /** For the scanner's errors. */
  fail(line: Line, column: number, what: string): never {
    throw this.#error(line, column, what);
  }

  /** Nesting bookkeeping of flow collections, shared with the block depth. */
  enter(line: Line, column: number): void {
    if (++this.#depth > MAX_DEPTH) throw this.#error(line, column, `nested more than ${MAX_DEPTH} levels deep`);
  }

  leave(): void {
    this.#depth--;
  }

  /** For the scanner: a plain scalar that is not plainly text was just read. */
  read(source: ScalarSource | undefined): void {
    this.#pending = source;
  }

  /** Puts `value` at `key` of a mapping, or at the end of a list, and records where it was written when it was a plain scalar that is not plainly text. */
  place(container: { [key: string]: YamlValue } | YamlValue[], key: string | number, value: YamlValue): void {
    if (Array.isArray(container)) container.push(value);
    else defineKey(container, key as string, value);
    if (this.#pending !== undefined) this.#sources?.set(container, key, this.#pending);
    this.#pending = undefined;
  }
}

/** Reads scalars and flow collections within one line. */
class Scanner {
  readonly #line: Line;
  readonly #text: string;
  readonly #parser: Parser;
  #pos: number;
  /** The text of the last plain scalar read, as written. */
  #lastPlain: string | undefined;

  constructor(line: Line, column: number, parser: Parser) {
    this.#line = line;
    this.#text = line.text;
    this.#pos = column;
    this.#parser = parser;
  }

  #fail(what: string, at = this.#pos): never {
    return this.#parser.fail(this.#line, at, what);
  }

  /** Nothing but spaces and a comment may remain. */
  end(): void {
    this.#skip();
    if (this.#pos < this.#text.length && this.#text[this.#pos] !== '#') {
      this.#fail('unexpected text after the value (a value with ": " or " #" in it must be quoted)');
    }
  }

  #skip(): void {
    this.#pos = skipSpaces(this.#text, this.#pos);
  }

  /** A value at the current position; `flow` inside `[...]` / `{...}`. */
  value(flow: boolean): YamlValue {
    const c = this.#text[this.#pos];
    switch (c) {
      case '[':
        return this.#flowSequence();
      case '{':
        return this.#flowMapping();
      case "'":
        return this.#singleQuoted();
      case '"':
        return this.#doubleQuoted();
      case '|':
      case '>':
        return this.#fail('block scalars (| and >) are not supported: write the value on one line, quoted');
      case '&':
      case '*':
        return this.#fail('anchors and aliases (& and *) are not supported');
      case '!':
        return this.#fail('tags (!) are not supported');
      case '@':
      case '`':
        return this.#fail('a plain value cannot start with @ or ` (reserved): quote it');
      case '?':
        if (isBlank(this.#text[this.#pos + 1])) return this.#fail('complex keys (?) are not supported');
        break;
      case '%':
        return this.#fail('a plain value cannot start with %: quote it');
      default:
        break;
    }
    if (flow && (c === ',' || c === ']' || c === '}')) return null;
    return this.#plain(flow);
  }

  /** A plain scalar: up to ` #`, the end of the line, or in flow context `,` `]` `}` or `: `. */
  #plain(flow: boolean): YamlValue {
    const start = this.#pos;
    const text = this.#text;
    let end = start;
    let i = start;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '#' && i > start && isBlank(text[i - 1])) break;
      if (ch === ':' && (isBlank(text[i + 1]) || (flow && isFlowEnd(text[i + 1])))) {
        if (flow) break;
        this.#fail("a plain value cannot contain ': ': quote it", i);
      }
      if (flow && (ch === ',' || ch === ']' || ch === '}' || ch === '[' || ch === '{')) {
        if (ch === '[' || ch === '{') this.#fail(`'${ch}' inside a plain value of a flow collection: quote the value`, i);
        break;
      }
      i++;
      if (!isBlank(ch)) end = i;
    }
    this.#pos = end;
    const written = text.slice(start, end);
    this.#lastPlain = written;
    const value = resolvePlain(written, () => this.#fail('an integer with a leading zero is octal for some YAML readers and decimal for others: quote it, or drop the zero', start));
    const kind = typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : typeof value === 'string' && isYaml11NonString(written) ? 'yaml11' : undefined;
    this.#parser.read(kind === undefined ? undefined : { text: written, kind, line: this.#line.no + 1, column: start + 1 });
    return value;
  }

  #singleQuoted(): string {
    const open = this.#pos;
    let out = '';
    let i = open + 1;
    for (;;) {
      const close = this.#text.indexOf("'", i);
      if (close < 0) return this.#fail('a single-quoted value is not closed on its line (values on several lines are not supported)', open);
      out += this.#text.slice(i, close);
      if (this.#text[close + 1] === "'") {
        out += "'";
        i = close + 2;
        continue;
      }
      this.#pos = close + 1;
      return out;
    }
  }

  #doubleQuoted(): string {
    const open = this.#pos;
    const text = this.#text;
    let out = '';
    let i = open + 1;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '"') {
        this.#pos = i + 1;
        return out;
      }
      if (ch !== '\\') {
        out += ch;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple = e === undefined ? undefined : DOUBLE_QUOTED_ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        i += 2;
        continue;
      }
      const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      const hex = text.slice(i + 2, i + 2 + width);
      if (width === 0 || hex.length !== width || !/^[0-9a-fA-F]+$/.test(hex)) {
        return this.#fail(e === undefined ? 'a line cannot end with \\ in this subset (values on several lines are not supported)' : 'an unknown escape sequence', i);
      }
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return this.#fail('an escape of a code point that does not exist', i);
      out += String.fromCodePoint(code);
      i += 2 + width;
    }
    return this.#fail('a double-quoted value is not closed on its line (values on several lines are not supported)', open);
  }

  #flowSequence(): YamlValue[] {
    const open = this.#pos;
    this.#parser.enter(this.#line, open);
    const items: YamlValue[] = [];
    this.#pos++;
    this.#skip();
    if (this.#text[this.#pos] === ']') {
      this.#pos++;
      this.#parser.leave();
      return items;
    }
    for (;;) {
      this.#skip();
      if (this.#pos >= this.#text.length || this.#text[this.#pos] === '#') this.#unclosed(open, '[');
      if (this.#text[this.#pos] === ',') this.#fail('an empty entry in a flow sequence');
      const at = this.#pos;
      const item = this.value(true);
      this.#skip();
      if (this.#text[this.#pos] === ':' && (isBlank(this.#text[this.#pos + 1]) || isFlowEnd(this.#text[this.#pos + 1]))) {
        this.#fail('a key: value pair inside [...] is not supported: use {...}', at);
      }
      this.#parser.place(items, items.length, item);
      if (this.#separator(']', open)) break;
    }
    this.#parser.leave();
    return items;
  }

  #flowMapping(): { [key: string]: YamlValue } {
    const open = this.#pos;
    this.#parser.enter(this.#line, open);
    const map: { [key: string]: YamlValue } = {};
    const seen = new Set<string>();
    this.#pos++;
    this.#skip();
    if (this.#text[this.#pos] === '}') {
      this.#pos++;
      this.#parser.leave();
      return map;
    }
    for (;;) {
      this.#skip();
      if (this.#pos >= this.#text.length || this.#text[this.#pos] === '#') this.#unclosed(open, '{');
      const at = this.#pos;
      const c = this.#text[at];
      if (c === '[' || c === '{') this.#fail('a collection as a key is not supported');
      if (c === ',' || c === '}') this.#fail('an empty entry in a flow mapping');
      this.#lastPlain = undefined;
      const key = this.value(true);
      // A plain key is its text as written (`{1e3: x}` is "1e3", as in a block mapping), whatever it would read as as a value.
      const name = this.#lastPlain ?? keyText(key);
      this.#parser.read(undefined);
      this.#skip();
      let value: YamlValue = null;
      if (this.#text[this.#pos] === ':') {
        this.#pos++;
        this.#skip();
        if (this.#pos >= this.#text.length || this.#text[this.#pos] === '#') this.#unclosed(open, '{');
        value = this.value(true);
      }
      if (seen.has(name)) this.#fail('a key given twice in one mapping', at);
      seen.add(name);
      this.#parser.place(map, name, value);
      if (this.#separator('}', open)) break;
    }
    this.#parser.leave();
    return map;
  }

  /** After an entry: `,` (returns false) or the closing bracket (returns true). */
  #separator(close: string, open: number): boolean {
    this.#skip();
    const c = this.#text[this.#pos];
    if (c === close) {
      this.#pos++;
      return true;
    }
    if (c === ',') {
      this.#pos++;
      this.#skip();
      if (this.#text[this.#pos] === close) {
        this.#pos++;
        return true;
      }
      return false;
    }
    if (c === undefined || c === '#') return this.#unclosed(open, close === ']' ? '[' : '{');
    return this.#fail(`expected ',' or '${close}'`);
  }

  #unclosed(open: number, bracket: string): never {
    return this.#fail(`the '${bracket}' here is not closed on its line (flow collections on several lines are not supported)`, open);
  }

  /** A block mapping key at the scanner's position: its text and where the value starts, or undefined. */
  key(): { key: string; end: number } | undefined {
    const c = this.#text[this.#pos];
    if (c === "'" || c === '"') {
      const key = c === "'" ? this.#singleQuoted() : this.#doubleQuoted();
      const colon = skipSpaces(this.#text, this.#pos);
      if (this.#text[colon] === ':' && isBlank(this.#text[colon + 1])) return { key, end: colon + 1 };
      return undefined;
    }
    if (c === undefined || '[{#&*!|>@`%'.includes(c)) return undefined;
    if ((c === '-' || c === '?' || c === ':') && isBlank(this.#text[this.#pos + 1])) return undefined;
    const text = this.#text;
    for (let i = this.#pos; i < text.length; i++) {
      if (text[i] === '#' && i > this.#pos && isBlank(text[i - 1])) return undefined;
      if (text[i] === ':' && isBlank(text[i + 1])) {
        const key = text.slice(this.#pos, i).trimEnd();
        return { key, end: i + 1 };
      }
    }
    return undefined;
  }
}

const DOUBLE_QUOTED_ESCAPES: Readonly<Record<string, string>> = Object.freeze({
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\x85',
  _: '\xa0',
  L: '\u2028',
  P: '\u2029',
});

/** The key of a block mapping entry at `column` of `line`, or undefined when the content there is not `key:`. */
function keyEnd(line: Line, column: number, parser: Parser): { key: string; end: number } | undefined {
  try {
    return new Scanner(line, column, parser).key();
  } catch (error) {
    // An unclosed quote: not a key; reading it as a value reports it.
    if (error instanceof YamlSyntaxError) return undefined;
    throw error;
  }
}

/** A flow mapping's key as a string (keys of a configuration are names). */
function keyText(key: YamlValue): string {
  return key === null ? 'null' : String(key);
}

/** Sets a key as an own property, also `__proto__`. */
function defineKey(map: { [key: string]: YamlValue }, key: string, value: YamlValue): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function isMarker(line: string, marker: string): boolean {
  return line.startsWith(marker) && isBlank(line[3]);
}

function isSequenceEntry(text: string, column: number): boolean {
  return text[column] === '-' && isBlank(text[column + 1]);
}

/** A space, a tab or the end of the line. */
function isBlank(c: string | undefined): boolean {
  return c === undefined || c === ' ' || c === '\t';
}

function isFlowEnd(c: string | undefined): boolean {
  return c === ',' || c === ']' || c === '}';
}

function skipSpaces(text: string, from: number): number {
  let i = from;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

/**
 * What a YAML 1.1 reader (PyYAML, which the Datadog Agent's Python checks
 * load their configuration with; Go's yaml.v2) resolves to a boolean, an
 * integer, a float or null, from the YAML 1.1 type repository: the forms
 * YAML 1.2 left behind (`yes`, `off`, `y`, `1_000`, `0b101`, `017`, `1:30`,
 * `1.`) included.
 */
const YAML11_NON_STRING =
  /^(?:[yYnN]|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+|[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function isYaml11NonString(text: string): boolean {
  return YAML11_NON_STRING.test(text);
}

const INT = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;

/** YAML 1.2 core schema resolution of a plain scalar. */
function resolvePlain(text: string, leadingZero: () => never): YamlValue {
  switch (text) {
    case '':
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
    case '.inf':
    case '.Inf':
    case '.INF':
    case '+.inf':
    case '+.Inf':
    case '+.INF':
      return Infinity;
    case '-.inf':
    case '-.Inf':
    case '-.INF':
      return -Infinity;
    case '.nan':
    case '.NaN':
    case '.NAN':
      return NaN;
    default:
      break;
  }
  if (INT.test(text)) {
    if (/^[-+]?0[0-9]/.test(text)) leadingZero();
    return Number(text);
  }
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (FLOAT.test(text)) return Number(text);
  return text;
}
