/**
 * Lists of strings (tag lists) compared cheaply. The submissions of one
 * process carry copies of one tag list, which hold the very same string
 * objects: comparing them element by element is a few pointer comparisons,
 * where a lookup by content would hash every string.
 *
 * @module
 */

/** Whether two lists hold the same strings in the same order. */
export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
