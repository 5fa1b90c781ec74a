/**
 * `supervisord-check`: the supervisord check, with the Datadog Agent check's
 * observable behaviour. The XML-RPC and HTTP core is in
 * `supervisord-check/protocol`.
 *
 * @module
 */
export { SupervisordCheck, OK, WARNING, CRITICAL, UNKNOWN } from './check.js';
export type { CheckOptions } from './check.js';
export { ConfigError } from './errors.js';
export { resolveConfig, DEFAULT_STATUS_MAPPING, TlsMaterial } from './config.js';
export type { ResolvedConfig, ResolvedTls, CompiledPattern } from './config.js';
export { compilePythonRegex } from './python/regex.js';
export { checkAll, CheckGroup } from './check-all.js';
export type { CheckEntry, CheckGroupOptions } from './check-all.js';
export {
  buildResult,
  buildRun,
  parseVersion,
  selectProcesses,
  mapStatus,
  CAN_CONNECT,
  PROCESS_STATUS,
  PROCESS_UPTIME,
  PROCESS_COUNT,
  PROCESS_RESTARTS,
  PROCESS_DOWNTIME,
  PROCESS_EXIT_STATUS,
  GROUP_COUNT,
  SERVER_STATE,
} from './submissions.js';
export type { Collected, CallOutcome, ProcessHistory, ProcessMark, RunOutput } from './submissions.js';
export { SupervisordEmulator, makeProcess, PROCESS_STATES } from './emulator/index.js';
export type { EmulatorOptions, EmulatedFault, EmulatedState, EmulatorStats } from './emulator/index.js';
export type * from './types.js';
export { formatText, formatPrometheus, formatDogStatsD, packDatagrams, PROMETHEUS_CONTENT_TYPE } from './outputs/index.js';
export type { ServerRun } from './outputs/index.js';
