/**
 * Output formats of the check's results: a human-readable table (`text`), the
 * Prometheus text exposition format 0.0.4 (`prometheus`) and DogStatsD
 * datagrams (`dogstatsd`). JSON needs no module: a result is plain data.
 *
 * Every format takes the same input, one {@link ServerRun} per checked
 * supervisord, and is generic over metric and service-check names: a name it
 * has no description for is still exported, with a generic description.
 *
 * @module
 */

import type { CheckResult, MappedStatus } from '../types.js';

/**
 * One supervisord and the result of one run of its check: what the output
 * formats need beyond the {@link CheckResult} itself.
 */
export interface ServerRun {
  /** The instance's `name` (the value of its `supervisord_server` tag). */
  readonly name: string;
  /** Where the server was reached, printable without credentials (`unix:///run/supervisor.sock`, `http://localhost:9001/RPC2`). */
  readonly target: string;
  /**
   * The instance tags (`[...tags, 'supervisord_server:<name>']`): the labels
   * of the per-server series (`supervisord_up`), which exist even when the run
   * failed and therefore emitted nothing else.
   */
  readonly tags: readonly string[];
  /** The run's result. */
  readonly result: CheckResult;
  /**
   * statename -> mapped status of the instance. Optional; the text table uses
   * it to name the state of an OK process, which the result only implies (an
   * OK `supervisord.process.status` carries no message): when exactly one
   * state maps to `up`, that is the state.
   */
  readonly statusMapping?: Readonly<Record<string, MappedStatus>>;
}

export { formatText, humanizeDuration } from './text.js';
export type { TextOptions } from './text.js';
export { CounterTotals, formatPrometheus, PROMETHEUS_CONTENT_TYPE, prometheusMetricName } from './prometheus.js';
export type { PrometheusOptions } from './prometheus.js';
export { DOGSTATSD_MAX_PAYLOAD, formatDogStatsD, packDatagrams } from './dogstatsd.js';
