/**
 * A configuration file in JSON: `JSON.parse`, then one pass over the text
 * that records where each number and boolean was written (its text as
 * written, line and column; see {@link ScalarSources}) and refuses a key
 * given twice in one object, which `JSON.parse` would silently read as the
 * last one.
 *
 * @module
 */

import type { ScalarSources } from './scalars.js';

/** The text is not JSON, or not JSON this reader accepts. Positions are 1-based; the message never quotes the text. */
export class JsonSyntaxError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_JSON_SYNTAX' as const;
  /** 1-based line of the problem, 0 when unknown (text `JSON.parse` refused). */
  readonly line: number;
  /** 1-based column of the problem, 0 when unknown. */
  readonly column: number;

  /**
   * @param line 1-based line, or 0.
   * @param column 1-based column, or 0.
   * @param what what is wrong, a short lower-case phrase.
   */
  constructor(line: number, column: number, what: string) {
    super(line === 0 ? what : `line ${line}, column ${column}: ${what}`);
    this.line = line;
    this.column = column;
  }

  override get name(): string {
    return 'JsonSyntaxError';
  }
}

/** Deepest nesting accepted, as in the YAML reader: configuration files are shallow, and the pass below recurses. */
const MAX_DEPTH = 64;

/**
 * Parses a JSON document.
 *
 * @param text the JSON text (without a BOM).
 * @param sources receives every number and boolean inside an object or an array.
 * @throws {JsonSyntaxError} for text that is not JSON (`JSON.parse`'s own
 *   message quotes the text, which may hold a password: it is not kept), a
 *   key given twice in one object, or nesting deeper than 64.
 */
export function parseJson(text: string, sources: ScalarSources): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonSyntaxError(0, 0, 'not valid JSON');
  }
  new Walker(text, sources).walk(value, 0);
  return value;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

/** Goes over text that `JSON.parse` accepted, beside the value it made. */
class Walker {
  readonly #text: string;
  readonly #sources: ScalarSources;
  #pos = 0;
  #line = 1;
  /** Index of the first character of the current line. */
  #lineStart = 0;

  constructor(text: string, sources: ScalarSources) {
    this.#text = text;
    this.#sources = sources;
  }

  /** Reads the value at the current position, `parsed` being what `JSON.parse` made of it. */
  walk(parsed: unknown, depth: number, container?: object, key?: string | number): void {
    this.#skip();
    const text = this.#text;
    const c = text[this.#pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_DEPTH) throw this.#error(`nested more than ${MAX_DEPTH} levels deep`);
      if (c === '{') this.#object(parsed as Record<string, unknown>, depth + 1);
      else this.#array(parsed as unknown[], depth + 1);
      return;
    }
    if (c === '"') {
      this.#string();
      return;
    }
    const start = this.#pos;
    let kind: 'number' | 'boolean' | undefined;
    if (c === 't' || c === 'f') {
      this.#pos += c === 't' ? 4 : 5;
      kind = 'boolean';
    } else if (c === 'n') {
      this.#pos += 4;
    } else {
      NUMBER.lastIndex = start;
      NUMBER.test(text);
      this.#pos = NUMBER.lastIndex;
      kind = 'number';
    }
    if (kind !== undefined && container !== undefined) {
      this.#sources.set(container, key!, { text: text.slice(start, this.#pos), kind, line: this.#line, column: start - this.#lineStart + 1 });
    }
  }

  #object(parsed: Record<string, unknown>, depth: number): void {
    this.#pos++; // {
    this.#skip();
    if (this.#text[this.#pos] === '}') {
      this.#pos++;
      return;
    }
    const seen = new Set<string>();
    for (;;) {
      this.#skip();
      const column = this.#pos - this.#lineStart + 1;
      const key = JSON.parse(this.#text.slice(this.#pos, this.#string())) as string;
      if (seen.has(key)) throw new JsonSyntaxError(this.#line, column, 'a key given twice in one object');
      seen.add(key);
      this.#skip();
      this.#pos++; // :
      this.walk(parsed[key], depth, parsed, key);
      this.#skip();
      if (this.#text[this.#pos++] === '}') return; // else ','
    }
  }

  #array(parsed: unknown[], depth: number): void {
    this.#pos++; // [
    this.#skip();
    if (this.#text[this.#pos] === ']') {
      this.#pos++;
      return;
    }
    for (let i = 0; ; i++) {
      this.walk(parsed[i], depth, parsed, i);
      this.#skip();
      if (this.#text[this.#pos++] === ']') return; // else ','
    }
  }

  /** Skips a string token; returns the index after its closing quote. */
  #string(): number {
    const text = this.#text;
    let i = this.#pos + 1;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    this.#pos = i + 1;
    return this.#pos;
  }

  /** Whitespace; in JSON the only place a line ends. */
  #skip(): void {
    const text = this.#text;
    for (;;) {
      const c = text[this.#pos];
      if (c === '\n') {
        this.#line++;
        this.#lineStart = this.#pos + 1;
      } else if (c !== ' ' && c !== '\t' && c !== '\r') {
        return;
      }
      this.#pos++;
    }
  }

  #error(what: string): JsonSyntaxError {
    return new JsonSyntaxError(this.#line, this.#pos - this.#lineStart + 1, what);
  }
}
