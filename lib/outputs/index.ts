/**
 * `supervisord-check/outputs`: the output formats of the check's results, a
 * human-readable table (`text`), the Prometheus text exposition format 0.0.4
 * or OpenMetrics 1.0.0 (`prometheus`), DogStatsD datagrams (`dogstatsd`) and
 * the Monitoring Plugins format with its state (`nagios`). JSON needs no
 * module: a result is plain data.
 *
 * Every format takes the same input, one {@link ServerRun} per checked
 * supervisord (or an entry of `checkAll`, `{ name, result }`), and is generic
 * over metric and service-check names: a name it has no description for is
 * still exported, with a generic description.
 *
 * An entry of its own, not the main entry's: importing a module loads it
 * whole, and the formats are about a sixth of the main entry's import time
 * (about 3 of 18 ms on the 2-core machine of the README's figures), which an
 * agent that submits the results itself never needs.
 *
 * @module
 */

export type { OutputRun, ServerRun } from '../types.js';
export { formatText } from './text.js';
export type { TextOptions } from './text.js';
export {
  CounterTotals,
  formatPrometheus,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROMETHEUS_METRICS,
  prometheusMetricName,
} from './prometheus.js';
export type { CounterTotalsOptions, ExpositionFormat, ExtraGauge, PrometheusMetric, PrometheusOptions } from './prometheus.js';
export { DOGSTATSD_MAX_PAYLOAD, formatDogStatsD, packDatagrams } from './dogstatsd.js';
export type { DogStatsDOptions } from './dogstatsd.js';
export { formatNagios, NAGIOS_STATES } from './nagios.js';
export type { NagiosOptions, NagiosReport, NagiosRun, NagiosState, NagiosThresholds } from './nagios.js';
