/**
 * How the command line ends: its exit codes.
 *
 * @module
 */

import { ConfigError } from '../errors.js';
import { UsageError } from './args.js';

/** Exit codes (Nagios style for a single run). */
export const EXIT_OK = 0;
export const EXIT_WARNING = 1;
export const EXIT_CRITICAL = 2;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

/**
 * The exit of a command that failed before or outside its runs: bad flags
 * or configuration are said as they are (exit 2), anything else is an
 * internal error (exit 3).
 */
export function exitForError(error: unknown, say: (line: string) => void): number {
  if (error instanceof UsageError || error instanceof ConfigError) {
    say(error.message);
    return EXIT_USAGE;
  }
  say(`internal error: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT_INTERNAL;
}
