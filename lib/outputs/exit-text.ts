/**
 * How a process's last run ended, and how a run that could not read the
 * process list failed, for the human-readable outputs (the text table, the
 * Monitoring Plugins format): one classification, each format its words.
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

/**
 * How a failed run failed, from the message of its CRITICAL
 * `supervisord.can_connect` (the reference's wording, which the check keeps):
 * the server refused the credentials (HTTP 401), answered with an error
 * (another HTTP status, an answer that is not XML-RPC), did not answer within
 * the run's deadline (it was reached: a busy server is not a dead one), or
 * could not be reached (`Cannot connect to`: nothing answered).
 */
export type RunFailure = 'credentials' | 'error' | 'timeout' | 'unreachable';

export function runFailure(message: string): RunFailure {
  if (message.startsWith('Username or password to ')) return 'credentials';
  if (message.startsWith('An error occurred while connecting to ')) return 'error';
  if (message.startsWith('supervisord at ') && message.includes(' did not answer within ')) return 'timeout';
  return 'unreachable';
}
