/**
 * Text a server supplied (process names, groups, descriptions, fault strings,
 * HTTP reasons), made harmless for a terminal or a log viewer.
 *
 * A server controls much of what the check prints. Written raw, a carriage
 * return or an erase-line sequence lets it hide the real line behind a forged
 * one, an OSC sequence can set the window title or the clipboard (OSC 52), a
 * C1 control such as U+009B is a CSI on terminals that honour 8-bit controls,
 * and a bidirectional override (U+202E) makes a line read differently from
 * the bytes it holds. Every character that can do one of these becomes `?`:
 * an escape sequence is left as visible text (`?[2K`), never interpreted.
 *
 * @module
 */

/**
 * C0 controls (tab, CR and LF included), DEL, C1 controls (U+0080-U+009F,
 * U+009B CSI among them), the line and paragraph separators (U+2028,
 * U+2029: line breaks to many viewers), and the bidirectional formatting
 * characters: ALM (U+061C), LRM and RLM (U+200E, U+200F), the embeddings
 * and overrides U+202A-U+202E and the isolates U+2066-U+2069.
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Replaces every character of `text` that a terminal or log viewer could
 * act on (see the module documentation) with `?`. Printable text, non-ASCII
 * letters included, is unchanged.
 *
 * @param text any string, typically from the server.
 * @returns the same string with each unsafe character replaced by `?`.
 */
export function neutralizeControls(text: string): string {
  return text.replace(UNSAFE, '?');
}

