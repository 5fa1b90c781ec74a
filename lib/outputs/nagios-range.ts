/**
 * Threshold ranges of the Monitoring Plugins development guidelines, the
 * syntax of `--warning`/`--critical` and of the `warn` and `crit` fields of
 * performance data: `[@][start:][end]`.
 *
 * - `start` <= `end`; a `start` of 0 may be left out (`10` is `0:10`);
 * - an `end` left out is positive infinity (`10:`);
 * - `~` as `start` is negative infinity (`~:10`);
 * - without `@`, a value exceeds the threshold when it is OUTSIDE
 *   `start..end` (endpoints included: `10` alerts above 10 and below 0);
 * - with `@`, when it is INSIDE (`@10:20` alerts from 10 to 20 included);
 * - an empty range is not one: `start` or `end` must be given.
 *
 * Kept apart from the formatter so that the command line can validate its
 * flags without loading the format.
 *
 * @module
 */

/** A parsed range. `start` may be `-Infinity`, `end` `Infinity`. */
export interface NagiosRange {
  /** The range as written (what performance data repeats). */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** `@`: alert inside `start..end` instead of outside. */
  readonly inside: boolean;
}

const NUMBER = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

/**
 * Parses a range.
 *
 * @param text e.g. `10`, `10:`, `~:10`, `10:20`, `@10:20`.
 * @throws {RangeError} saying what is wrong, quoting `text`.
 */
export function parseRange(text: string): NagiosRange {
  const bad = (why: string): RangeError =>
    new RangeError(`${JSON.stringify(text)} is not a threshold range (${why}; e.g. 10, 10:, ~:10, 10:20, @10:20)`);
  const inside = text.startsWith('@');
  const body = inside ? text.slice(1) : text;
  const colon = body.indexOf(':');
  const startText = colon < 0 ? '' : body.slice(0, colon);
  const endText = colon < 0 ? body : body.slice(colon + 1);
  if (startText === '' && endText === '') throw bad('give a start or an end');
  let start = 0;
  if (startText === '~') start = -Infinity;
  else if (startText !== '') {
    if (!NUMBER.test(startText)) throw bad(`the start ${JSON.stringify(startText)} is not a number or ~`);
    start = Number(startText);
  }
  let end = Infinity;
  if (endText !== '') {
    if (!NUMBER.test(endText)) throw bad(`the end ${JSON.stringify(endText)} is not a number`);
    end = Number(endText);
  }
  if (start > end) throw bad(`the start ${startText} is greater than the end ${endText}`);
  return { text, start, end, inside };
}

/** Whether `value` exceeds the threshold `range` (an alert). */
export function exceeds(range: NagiosRange, value: number): boolean {
  const within = value >= range.start && value <= range.end;
  return range.inside ? within : !within;
}
