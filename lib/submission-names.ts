/**
 * The names of the check's submissions (metrics and service checks), and
 * how to recognise one of its warnings, apart from the code that makes them,
 * so that the output formats and the command can read results without
 * loading it.
 *
 * @module
 */

/** Service-check name of the connection to supervisord. */
export const CAN_CONNECT = 'supervisord.can_connect';
/** Service-check name of each monitored process. */
export const PROCESS_STATUS = 'supervisord.process.status';
/** Gauge: seconds since the process started, for RUNNING, BACKOFF, STOPPING; else 0. */
export const PROCESS_UPTIME = 'supervisord.process.uptime';
/** Gauge: how many monitored processes have each mapped status. */
export const PROCESS_COUNT = 'supervisord.process.count';
/** Ours, count: new starts of the process seen since the previous run (see `restartCount` in submissions.ts). */
export const PROCESS_RESTARTS = 'supervisord.process.restarts';
/** Ours, gauge: seconds since a stopped, exited or fatal process stopped (see `processDowntime` in submissions.ts). */
export const PROCESS_DOWNTIME = 'supervisord.process.downtime';
/** Ours, gauge: the last exit status of a process that has exited (see `processExit` in submissions.ts). */
export const PROCESS_EXIT_STATUS = 'supervisord.process.exit_status';
/** Ours, gauge: the number of the signal that ended the last run of a process (see `processExit` in submissions.ts). */
export const PROCESS_EXIT_SIGNAL = 'supervisord.process.exit_signal';
/** Ours, gauge: epoch seconds of the last start attempt of a process (supervisord's `start`), when it has one. */
export const PROCESS_START_TIME = 'supervisord.process.start_time';
/** Ours, gauge: monitored processes per group and mapped status. */
export const GROUP_COUNT = 'supervisord.group.count';
/** Ours, service check: the state of supervisord itself (see `serverStateCheck` in submissions.ts). */
export const SERVER_STATE = 'supervisord.server.state';

/**
 * Whether `warning` is the one a run gives when an include filter
 * (`proc_names`, `proc_regex`) matched no process, as `hints.ts` words it:
 * `'proc_names' entry 'web' matched no process...`, `'proc_regex' patterns
 * ... matched no process...`.
 */
export function isUnmatchedFilterWarning(warning: string): boolean {
  return UNMATCHED_FILTER.test(warning);
}

const UNMATCHED_FILTER = /^'proc_(?:names|regex)' (?:entry|entries|pattern|patterns) [\s\S]* matched no process/;
