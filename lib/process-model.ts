/**
 * supervisord's process model, as its XML-RPC interface shows it: the state
 * codes and the order of `getAllProcessInfo`. Shared by the check's
 * collection, the emulator and the fixture generator.
 *
 * @module
 */

/** Process state codes (`supervisor/states.py`, `ProcessStates`). */
export const PROCESS_STATES = Object.freeze({
  STOPPED: 0,
  STARTING: 10,
  RUNNING: 20,
  BACKOFF: 30,
  STOPPING: 40,
  EXITED: 100,
  FATAL: 200,
  UNKNOWN: 1000,
} as const);

/**
 * Compares by Unicode code point, as Python compares `str` (JavaScript's `<`
 * compares UTF-16 code units, which puts characters above U+FFFF, written as
 * surrogate pairs, before U+E000..U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // A surrogate (0xd800-0xdfff) starts a code point above 0xffff: it sorts after 0xe000-0xffff.
      const sx = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
      const sy = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
      return sx - sy;
    }
  }
  return a.length - b.length;
}

/**
 * The order of `getAllProcessInfo` (`_getAllProcesses(lexical=True)`): by
 * group name, then by process name, both by code point.
 */
export function compareListingOrder(a: { group: string; name: string }, b: { group: string; name: string }): number {
  return compareCodePoints(a.group, b.group) || compareCodePoints(a.name, b.name);
}
