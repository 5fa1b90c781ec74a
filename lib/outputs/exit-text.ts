/**
 * How a process's last run ended, in words, for the human-readable outputs
 * (the text table, the Monitoring Plugins long output).
 *
 * @module
 */

import type { ProcessExit } from '../types.js';

/**
 * `exit status 3`, `killed by SIGKILL`, `killed by SIGSEGV, core dumped`,
 * `killed by a signal` (supervisord's -1 without a log line naming it) or
 * `exit status unknown` (neither supervisord's answers nor its main log tell
 * it: never printed as 0).
 */
export function exitText(exit: ProcessExit): string {
  if (exit.status === null) return 'exit status unknown';
  if (exit.signal !== undefined) return `killed by ${exit.signal}${exit.coreDumped === true ? ', core dumped' : ''}`;
  return exit.status === -1 ? 'killed by a signal' : `exit status ${exit.status}`;
}
