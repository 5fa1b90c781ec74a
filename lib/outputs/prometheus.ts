/**
 * The Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) of check
 * results, for `--serve` and `--format prometheus`.
 *
 * Mapping (generic over names, so metrics added later need no change here):
 * - a metric name has every character outside `[a-zA-Z0-9_]` replaced by `_`
 *   (`supervisord.process.count` -> `supervisord_process_count`); colons are
 *   replaced too, Prometheus reserves them for recording rules;
 * - a Datadog `gauge` is a Prometheus `gauge`;
 * - a Datadog `count` is a delta per run, and Prometheus counters must be
 *   cumulative: it becomes a `counter` named `<name>_total` whose value is the
 *   sum of the deltas of every run rendered with the same
 *   {@link CounterTotals} (the life of a `--serve` process; a single run shows
 *   its own delta). A restart of the exporter is a counter reset, which
 *   `rate()` handles;
 * - a service check becomes a gauge `<name>_status` (unless the name already
 *   ends in `_status`) whose value is the status: 0 OK, 1 WARNING,
 *   2 CRITICAL, 3 UNKNOWN. Its message is not exported (labels must stay
 *   bounded; the message changes every run);
 * - per server, `supervisord_up` is 1 when the run had no error and
 *   `supervisord.can_connect` (when present) is OK, else 0; and
 *   `supervisord_version_info{version="4.2.5"} 1` once the version is known
 *   (cut to {@link MAX_VERSION_LABEL} characters);
 * - a tag `key:value` is the label `key="value"` (split at the first colon);
 *   a tag without a colon is the label `tag="value"`. Label names are
 *   sanitised to `[a-zA-Z_][a-zA-Z0-9_]*` and kept out of the reserved `__`
 *   prefix. When several tags give the same label name, the label's value is
 *   their distinct values sorted and joined with `,`, so that the result does
 *   not depend on tag order.
 *
 * Each family's `# HELP` and `# TYPE` appear once, before its samples, which
 * are contiguous. A sample whose family and labels repeat an earlier one (two
 * configured instances with the same name and tags) is dropped: Prometheus
 * rejects duplicate series in one exposition.
 *
 * @module
 */

import { performance } from 'node:perf_hooks';

import type { ServiceCheckStatus } from '../types.js';
import type { ServerRun } from '../types.js';

/** The `Content-Type` of a 0.0.4 text exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const STATUS_SCALE = '0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN';

/** Descriptions of the metrics the check emits or will emit, by Datadog name. */
const METRIC_HELP: Readonly<Record<string, string>> = Object.freeze({
  'supervisord.process.count': 'Monitored processes by mapped status (label status: up, down, unknown).',
  'supervisord.process.uptime': 'Seconds since the process started, when it is RUNNING, BACKOFF or STOPPING; else 0.',
  'supervisord.process.restarts': 'Restarts of the process seen by the check, summed over the runs since this exporter started.',
  'supervisord.process.downtime': 'Seconds the process has been down.',
  'supervisord.process.exit_status': 'Exit status of the last exit of the process; -1 when it was killed by a signal (supervisord reports no signal number).',
  'supervisord.group.count': 'Monitored processes per group.',
});

/** Descriptions of the service checks, by Datadog name. */
const SERVICE_CHECK_HELP: Readonly<Record<string, string>> = Object.freeze({
  'supervisord.can_connect': `Whether supervisord answered the process list (service check supervisord.can_connect): ${STATUS_SCALE}.`,
  'supervisord.process.status': `Mapped status of the process (service check supervisord.process.status; up is OK, down is CRITICAL): ${STATUS_SCALE}.`,
  'supervisord.server.state': `State of supervisord itself (service check supervisord.server.state): ${STATUS_SCALE}.`,
});

const UP_HELP = 'Whether the last check of this supervisord succeeded (1) or failed (0: unreachable, HTTP or XML-RPC error).';
const VERSION_HELP = 'Version of supervisord (supervisor.getSupervisorVersion); the value is always 1.';

/** Options of {@link CounterTotals}. */
export interface CounterTotalsOptions {
  /**
   * A series not added to for this long is forgotten (its process is gone):
   * if it comes back its total starts again from 0, which Prometheus reads
   * as a counter reset. Default 10 minutes.
   */
  graceMs?: number;
  /** At most this many series are kept; beyond it the least recently added is forgotten. Default 100,000. */
  maxSeries?: number;
  /** Milliseconds clock, default `performance.now`. */
  now?: () => number;
}

/**
 * Running totals of Datadog `count` metrics, so that they can be exposed as
 * Prometheus counters. Keep one per exporter and pass it to every
 * {@link formatPrometheus} call; render each run once (coalesced scrapes
 * share the rendered text), or its deltas are added twice.
 *
 * Memory stays bounded when processes come and go: a series not added to
 * for `graceMs` is dropped, and at most `maxSeries` are kept.
 */
export class CounterTotals {
  /** Total and last use per series, least recently added first. */
  readonly #totals = new Map<string, { total: number; seen: number }>();
  readonly #graceMs: number;
  readonly #maxSeries: number;
  readonly #now: () => number;

  /** @throws {RangeError} when `graceMs` is negative or `maxSeries` not a positive integer. */
  constructor(options: CounterTotalsOptions = {}) {
    this.#graceMs = options.graceMs ?? 600_000;
    this.#maxSeries = options.maxSeries ?? 100_000;
    this.#now = options.now ?? (() => performance.now());
    if (!(this.#graceMs >= 0)) throw new RangeError(`graceMs must be a non-negative number, got ${this.#graceMs}`);
    if (!Number.isInteger(this.#maxSeries) || this.#maxSeries < 1) throw new RangeError(`maxSeries must be a positive integer, got ${this.#maxSeries}`);
  }

  /**
   * Adds a run's delta to the series' total, and forgets the series whose
   * grace period is over.
   *
   * @param series identifies the series (family name and rendered labels).
   * @param delta the run's value; a non-finite delta leaves the total unchanged.
   * @returns the new total.
   */
  add(series: string, delta: number): number {
    const now = this.#now();
    this.#expire(now);
    const entry = this.#totals.get(series);
    const total = (entry?.total ?? 0) + (Number.isFinite(delta) ? delta : 0);
    // Re-inserted, so that the map stays ordered by last use.
    this.#totals.delete(series);
    this.#totals.set(series, { total, seen: now });
    if (this.#totals.size > this.#maxSeries) this.#totals.delete(this.#totals.keys().next().value!);
    return total;
  }

  /** Number of series held (after forgetting those whose grace period is over). */
  get size(): number {
    this.#expire(this.#now());
    return this.#totals.size;
  }

  #expire(now: number): void {
    for (const [series, entry] of this.#totals) {
      if (now - entry.seen <= this.#graceMs) break;
      this.#totals.delete(series);
    }
  }
}

/** Options of {@link formatPrometheus}. */
export interface PrometheusOptions {
  /**
   * Where `count` metrics accumulate across runs. Default: none, each counter
   * shows the run's own delta.
   */
  counters?: CounterTotals;
}

/**
 * A Datadog metric or service-check name as a Prometheus metric name: every
 * character outside `[a-zA-Z0-9_]` becomes `_`, and a leading digit gets a `_`
 * in front.
 */
export function prometheusMetricName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (clean === '') return '_';
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

interface Family {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  readonly samples: string[];
  readonly series: Set<string>;
}

/**
 * Renders the runs as one exposition (ends with a newline). Families come in
 * this order: `supervisord_up`, `supervisord_version_info`, the metrics in
 * order of first appearance, then the service checks in order of first
 * appearance.
 *
 * @param runs one entry per checked server.
 * @param options see {@link PrometheusOptions}.
 */
export function formatPrometheus(runs: readonly ServerRun[], options: PrometheusOptions = {}): string {
  const families = new Map<string, Family>();
  const family = (name: string, type: Family['type'], help: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type, help, samples: [], series: new Set() };
      families.set(name, f);
    }
    return f;
  };
  const add = (f: Family, labels: string, value: number): void => {
    if (f.series.has(labels)) return;
    f.series.add(labels);
    f.samples.push(`${f.name}${labels} ${formatValue(value)}`);
  };

  for (const run of runs) {
    add(family('supervisord_up', 'gauge', UP_HELP), renderLabels(run.tags), isUp(run) ? 1 : 0);
  }
  for (const run of runs) {
    const version = run.result.metadata.version;
    if (version !== undefined) {
      add(family('supervisord_version_info', 'gauge', VERSION_HELP), renderLabels(run.tags, ['version', versionLabel(version.raw)]), 1);
    }
  }
  for (const run of runs) {
    for (const metric of run.result.metrics) {
      const base = prometheusMetricName(metric.name);
      const labels = renderLabels(metric.tags);
      if (metric.type === 'count') {
        const name = base.endsWith('_total') ? base : `${base}_total`;
        const help =
          METRIC_HELP[metric.name] ??
          `Datadog count ${metric.name} of the supervisord check, summed over the runs since this exporter started.`;
        const f = family(name, 'counter', help);
        const value = options.counters === undefined ? metric.value : options.counters.add(`${name}${labels}`, metric.value);
        add(f, labels, value);
      } else {
        const help = METRIC_HELP[metric.name] ?? `Datadog gauge ${metric.name} of the supervisord check.`;
        add(family(base, 'gauge', help), labels, metric.value);
      }
    }
  }
  for (const run of runs) {
    for (const check of run.result.serviceChecks) {
      const base = prometheusMetricName(check.name);
      const name = base.endsWith('_status') ? base : `${base}_status`;
      const help = SERVICE_CHECK_HELP[check.name] ?? `Datadog service check ${check.name} of the supervisord check: ${STATUS_SCALE}.`;
      add(family(name, 'gauge', help), renderLabels(check.tags), check.status);
    }
  }

  let out = '';
  for (const f of families.values()) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const sample of f.samples) out += `${sample}\n`;
  }
  return out;
}

/** Longest `version` label value, in code points: a server may send any string as its version. */
export const MAX_VERSION_LABEL = 64;

/**
 * The version as a label value: unchanged up to {@link MAX_VERSION_LABEL}
 * code points; longer, its beginning followed by `...` (a whole 300 KB
 * version string would be a 300 KB label on every scrape).
 */
function versionLabel(raw: string): string {
  if (raw.length <= MAX_VERSION_LABEL) return raw;
  // More than twice as many UTF-16 units as the limit is more code points than the limit.
  if (raw.length <= 2 * MAX_VERSION_LABEL && Array.from(raw).length <= MAX_VERSION_LABEL) return raw;
  return `${Array.from(raw.slice(0, 2 * MAX_VERSION_LABEL)).slice(0, MAX_VERSION_LABEL - 3).join('')}...`;
}

/** 1 when the run had no error and can_connect, if submitted, is OK. */
function isUp(run: ServerRun): boolean {
  if (run.result.errors.length > 0) return false;
  const OK: ServiceCheckStatus = 0;
  return run.result.serviceChecks.every((c) => c.name !== 'supervisord.can_connect' || c.status === OK);
}

/**
 * `{name="value",...}` from Datadog tags plus an extra label, or the empty
 * string when there are none. See the module comment for the rules.
 */
function renderLabels(tags: readonly string[], extra?: [string, string]): string {
  const labels = new Map<string, string[]>();
  const put = (name: string, value: string): void => {
    const values = labels.get(name);
    if (values === undefined) labels.set(name, [value]);
    else if (!values.includes(value)) values.push(value);
  };
  for (const tag of tags) {
    const colon = tag.indexOf(':');
    if (colon < 0) put('tag', tag);
    else put(labelName(tag.slice(0, colon)), tag.slice(colon + 1));
  }
  if (extra !== undefined) put(labelName(extra[0]), extra[1]);
  if (labels.size === 0) return '';
  const parts: string[] = [];
  for (const [name, values] of labels) {
    const value = values.length === 1 ? values[0]! : [...values].sort().join(',');
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return `{${parts.join(',')}}`;
}

/** `[a-zA-Z_][a-zA-Z0-9_]*`, outside the `__` prefix that Prometheus reserves for itself. */
function labelName(key: string): string {
  let name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (name === '') return 'tag';
  if (/^[0-9]/.test(name)) name = `_${name}`;
  if (name.startsWith('__')) name = `tag${name}`;
  return name;
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`));
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => (ch === '\n' ? '\\n' : '\\\\'));
}

/** Go's `ParseFloat` spellings, which Prometheus reads: `NaN`, `+Inf`, `-Inf`. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
