/**
 * Where the scalars of a configuration file that are not text were written:
 * their text as written and their line and column. A reader loses the text
 * of `1e5` (the number 100000), `0x1F` (31), `1.50` (1.5) or
 * `12345678901234567890` (12345678901234567000 in a double); the keys that
 * take text (a password, a name, a path) need it back, or a position to
 * refuse it at.
 *
 * @module
 */

/** How a scalar written without quotes reads. */
export type ScalarKind =
  /** A number to the reader (YAML 1.2 core schema, or a JSON number). */
  | 'number'
  /** A boolean to the reader (`true`, `False`). */
  | 'boolean'
  /**
   * Text to this reader (YAML 1.2) but a number or a boolean to a YAML 1.1
   * reader such as the Datadog Agent's PyYAML: `yes`, `off`, `1_000`,
   * `0b101`, `1:30`.
   */
  | 'yaml11';

/** One scalar as written in the file. */
export interface ScalarSource {
  /** The scalar's text exactly as written. */
  readonly text: string;
  readonly kind: ScalarKind;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column of its first character. */
  readonly column: number;
}

/**
 * The scalars of one document that are not plainly text, by the mapping or
 * list that holds them and their key or index. Held weakly: the table lives
 * as long as the values it describes.
 */
export class ScalarSources {
  readonly #byContainer = new WeakMap<object, Map<string | number, ScalarSource>>();

  /** Records the scalar at `key` of `container`. */
  set(container: object, key: string | number, source: ScalarSource): void {
    let entries = this.#byContainer.get(container);
    if (entries === undefined) {
      entries = new Map();
      this.#byContainer.set(container, entries);
    }
    entries.set(key, source);
  }

  /** The scalar at `key` of `container`, or undefined when it was written as text (quoted, or plain text to every reader). */
  get(container: object, key: string | number): ScalarSource | undefined {
    return this.#byContainer.get(container)?.get(key);
  }
}
