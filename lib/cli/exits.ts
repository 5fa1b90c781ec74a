/**
 * How the command line ends: its exit codes.
 *
 * @module
 */

import { ConfigError } from '../errors.js';
import type { ServerRun } from '../types.js';
import { isUnmatchedFilterWarning } from '../submission-names.js';
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

/**
 * The exit code of a single run under `--fail-if-no-match`: a run whose
 * include filters matched no process is a failure, {@link EXIT_CRITICAL}
 * (what a process check says of a process that is not there), said on
 * stderr; any other code is kept, a worse one included.
 *
 * @param code the exit code of the runs' service checks and errors.
 */
export function failIfNoMatch(runs: readonly ServerRun[], code: number, say: (line: string) => void): number {
  if (code >= EXIT_CRITICAL) return code;
  const unmatched = runs.filter((run) => run.result.warnings.some(isUnmatchedFilterWarning));
  if (unmatched.length === 0) return code;
  say(`--fail-if-no-match: an include filter matched no process on ${unmatched.map((run) => run.name).join(', ')} (exit ${EXIT_CRITICAL})`);
  return EXIT_CRITICAL;
}
