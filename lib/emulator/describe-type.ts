/**
 * The emulator's way of naming a bad argument in an error message.
 *
 * @module
 */

/** A short description of a value's type for error messages (never the value of a credential). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return typeof value;
}
