/**
 * `supervisord-check`: the supervisord check, with the Datadog Agent check's
 * observable behaviour. The output formats of its results are in
 * `supervisord-check/outputs`, the XML-RPC and HTTP core in
 * `supervisord-check/protocol`, the supervisord emulator in
 * `supervisord-check/emulator`.
 *
 * Only what the README documents is exported here; every name is a promise.
 * The rest of `lib/` is internal: its own code and the tests import it from
 * its modules.
 *
 * @module
 */
export { SupervisordCheck, OK, WARNING, CRITICAL, UNKNOWN } from './check.js';
export type { CheckOptions } from './check.js';
/** The validated instance a check holds (`check.config`). */
export type { ResolvedConfig } from './config.js';
export { checkAll, CheckGroup } from './check-all.js';
export type { CheckEntry, CheckGroupOptions } from './check-all.js';
export { ConfigError, StateError } from './errors.js';
/** What `SupervisordCheck.exportState()` returns and `restoreState()` takes. */
export type { CheckState, StateServer } from './check-state.js';
export { getAllProcessInfo, getProcessInfo, getState, getSupervisorVersion, isProcessInfo, UnexpectedAnswerError } from './supervisor-calls.js';
export type { SupervisorCaller, SupervisorState } from './supervisor-calls.js';
export {
  CAN_CONNECT,
  PROCESS_STATUS,
  PROCESS_UPTIME,
  PROCESS_COUNT,
  PROCESS_RESTARTS,
  PROCESS_DOWNTIME,
  PROCESS_EXIT_STATUS,
  PROCESS_EXIT_SIGNAL,
  PROCESS_START_TIME,
  GROUP_COUNT,
  SERVER_STATE,
} from './submission-names.js';
export type * from './types.js';
// The output formats are in `supervisord-check/outputs` (lib/outputs/index.ts):
// importing a module loads it whole, and an agent that submits the results
// itself never needs them.
