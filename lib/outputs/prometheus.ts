/**
 * The Prometheus exposition of check results, for `--serve` and
 * `--format prometheus`: the text format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) and
 * OpenMetrics text 1.0.0 (https://openmetrics.io), which Prometheus asks for
 * first in its `Accept` header.
 *
 * Names. The metrics the check emits have Prometheus names that follow the
 * Prometheus naming conventions, so that `promtool check metrics` has no
 * remark ({@link PROMETHEUS_METRICS}: base units in the name, `_total` for
 * counters, no `_count` suffix, which belongs to summaries and histograms and
 * which an OpenMetrics parser reads as part of one). A name the table does not
 * know (a metric added later) is mapped generically:
 * - every character outside `[a-zA-Z0-9_]` becomes `_`; colons too, as
 *   Prometheus reserves them for recording rules;
 * - a Datadog `gauge` is a Prometheus `gauge`;
 * - a Datadog `monotonic_count` is a running total: a `counter`
 *   `<name>_total` holding the value as read;
 * - a Datadog `count` is a delta per run, and Prometheus counters must be
 *   cumulative: it becomes a `counter` `<name>_total` whose value is the sum
 *   of the deltas of every run rendered with the same {@link CounterTotals}
 *   (the life of a `--serve` process; a single run shows its own delta). A
 *   restart of the exporter is a counter reset, which `rate()` handles;
 * - a service check becomes a gauge `<name>_status` (unless the name already
 *   ends in `_status`) whose value is the status: 0 OK, 1 WARNING,
 *   2 CRITICAL, 3 UNKNOWN. Its message is not exported (labels must stay
 *   bounded; the message changes every run).
 *
 * Per server, `supervisord_up` is 1 when the run had no error and
 * `supervisord.can_connect` (when present) is OK, else 0; and
 * `supervisord_version_info{version="4.2.5"} 1` once the version is known
 * (an info metric: type `info` in OpenMetrics, a gauge in 0.0.4; the label is
 * cut to {@link MAX_VERSION_LABEL} characters).
 *
 * Labels. A tag `key:value` is the label `key="value"` (split at the first
 * colon); a tag without a colon is the label `tag="value"`. Label names are
 * sanitised to `[a-zA-Z_][a-zA-Z0-9_]*` and kept out of the reserved `__`
 * prefix. When several tags give the same label name, the label's value is
 * their distinct values sorted and joined with `,`, so that the result does
 * not depend on tag order.
 *
 * Servers. Each run's per-server series (`supervisord_up`,
 * `supervisord_version_info`, `supervisord_process_state`) have the run's
 * `tags` as labels, and `supervisord_server="<name>"` when those lack it (a
 * `checkAll` entry has no tags): several servers never merge into one
 * unlabelled series. Two runs whose server labels are the same are refused
 * (a `TypeError`, code `ERR_INVALID_ARG_VALUE`): one server's series would
 * hide the other's (a dead server's `supervisord_up 0` under a live one's).
 * The same run passed twice is shown once.
 *
 * Each family's metadata appears once, before its samples, which are
 * contiguous. A sample whose family and labels repeat an earlier one is
 * dropped: Prometheus rejects duplicate series in one exposition.
 *
 * @module
 */


import { PROCESS_STATES } from '../process-model.js';
import { sameStrings } from '../string-lists.js';
import type { OutputRun, ServiceCheckStatus } from '../types.js';

/** The `Content-Type` of a 0.0.4 text exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The `Content-Type` of an OpenMetrics 1.0.0 text exposition. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** The two exposition formats: Prometheus text 0.0.4 (`text`) and OpenMetrics text 1.0.0 (`openmetrics`). */
export type ExpositionFormat = 'text' | 'openmetrics';

const STATUS_SCALE = '0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN';

/** One metric of the check under its Prometheus name (the README's table). */
export interface PrometheusMetric {
  /**
   * The Datadog metric or service-check name (JSON and DogStatsD keep it);
   * empty for `supervisord_process_state`, which only Prometheus has (from
   * the result's `processes`: the state name that alerts on FATAL need).
   */
  readonly datadog: string;
  /** The Prometheus name of the samples (a counter's ends in `_total`). */
  readonly prometheus: string;
  readonly type: 'gauge' | 'counter';
  /** OpenMetrics unit (the name's suffix), when the value has one. */
  readonly unit?: 'seconds' | 'bytes';
  /** The labels besides the instance's (`supervisord_server` and the user's tags). */
  readonly labels: readonly string[];
  readonly help: string;
}

const PROCESS_LABELS = ['supervisord_process', 'supervisord_group'] as const;

/**
 * The resources of a running process read from `/proc` (`collect_resources`):
 * the process alone, then its tree (the process and its descendants). The
 * CPU times are running totals (Datadog `monotonic_count`): counters exported
 * as read, which fall back when the process restarts (a counter reset).
 */
const RESOURCE_METRICS: readonly PrometheusMetric[] = [
  ['', 'the process (all its threads)'],
  ['tree.', 'the process tree (its live processes, plus the CPU of the children they waited for)'],
].flatMap(([prefix, what]): PrometheusMetric[] => {
  const p = prefix === '' ? 'supervisord_process_' : 'supervisord_process_tree_';
  const summed = prefix === '' ? '' : ', summed over the live processes of the tree';
  const metrics: PrometheusMetric[] = [
    {
      datadog: `supervisord.process.${prefix}cpu_seconds`,
      prometheus: `${p}cpu_seconds_total`,
      type: 'counter',
      unit: 'seconds',
      labels: PROCESS_LABELS,
      help: `User and system CPU time of ${what}, seconds (/proc/<pid>/stat); starts again from 0 when the process restarts.`,
    },
    {
      datadog: `supervisord.process.${prefix}memory.rss`,
      prometheus: `${p}resident_memory_bytes`,
      type: 'gauge',
      unit: 'bytes',
      labels: PROCESS_LABELS,
      help: `Resident memory of ${prefix === '' ? 'the process' : 'the process tree'}, bytes${summed}${prefix === '' ? '' : ' (pages shared between them counted once per process)'}.`,
    },
    {
      datadog: `supervisord.process.${prefix}open_fds`,
      prometheus: `${p}open_fds`,
      type: 'gauge',
      labels: PROCESS_LABELS,
      help: `Open file descriptors of ${prefix === '' ? 'the process' : 'the process tree'}${summed}.`,
    },
    {
      datadog: `supervisord.process.${prefix}threads`,
      prometheus: `${p}threads`,
      type: 'gauge',
      labels: PROCESS_LABELS,
      help: `Threads of ${prefix === '' ? 'the process' : 'the process tree'}${summed}.`,
    },
  ];
  if (prefix !== '') {
    metrics.push({
      datadog: 'supervisord.process.tree.processes',
      prometheus: 'supervisord_process_tree_processes',
      type: 'gauge',
      labels: PROCESS_LABELS,
      help: 'Live processes of the process tree: the process and its descendants.',
    });
  }
  return metrics;
});

/** The metrics and service checks of the check, Datadog name to Prometheus name. */
export const PROMETHEUS_METRICS: readonly PrometheusMetric[] = Object.freeze([
  {
    datadog: 'supervisord.can_connect',
    prometheus: 'supervisord_can_connect_status',
    type: 'gauge',
    labels: [],
    help: `Whether supervisord answered the process list (service check supervisord.can_connect): ${STATUS_SCALE}.`,
  },
  {
    datadog: 'supervisord.process.status',
    prometheus: 'supervisord_process_status',
    type: 'gauge',
    labels: PROCESS_LABELS,
    help: `Mapped status of the process (service check supervisord.process.status; up is OK, down is CRITICAL): ${STATUS_SCALE}.`,
  },
  {
    datadog: 'supervisord.process.uptime',
    prometheus: 'supervisord_process_uptime_seconds',
    type: 'gauge',
    unit: 'seconds',
    labels: PROCESS_LABELS,
    help: 'Seconds since the process started, when it is RUNNING, BACKOFF or STOPPING; else 0.',
  },
  {
    datadog: 'supervisord.process.count',
    prometheus: 'supervisord_processes',
    type: 'gauge',
    labels: ['status'],
    help: 'Monitored processes by mapped status (label status: up, down, unknown).',
  },
  {
    datadog: 'supervisord.process.restarts',
    prometheus: 'supervisord_process_restarts_total',
    type: 'counter',
    labels: PROCESS_LABELS,
    help: 'Restarts of the process this exporter saw since it started (a new start time or pid between two runs); it resets with the exporter, changes() of supervisord_process_start_time_seconds does not.',
  },
  {
    datadog: 'supervisord.process.downtime',
    prometheus: 'supervisord_process_downtime_seconds',
    type: 'gauge',
    unit: 'seconds',
    labels: PROCESS_LABELS,
    help: 'Seconds the process has been down (STOPPED, EXITED or FATAL after it ran).',
  },
  {
    datadog: 'supervisord.process.exit_status',
    prometheus: 'supervisord_process_exit_status',
    type: 'gauge',
    labels: PROCESS_LABELS,
    help:
      "How the last run of the process ended: its exit status (supervisord's, or its main log's for an exit before startsecs, which supervisord reports as 0), -1 for a death by signal; absent when not known.",
  },
  {
    datadog: 'supervisord.process.exit_signal',
    prometheus: 'supervisord_process_exit_signal',
    type: 'gauge',
    labels: PROCESS_LABELS,
    help: "Number of the signal that ended the last run of the process (Linux numbers: 9 SIGKILL, 15 SIGTERM), as supervisord's main log names it; absent otherwise.",
  },
  {
    datadog: 'supervisord.process.start_time',
    prometheus: 'supervisord_process_start_time_seconds',
    type: 'gauge',
    unit: 'seconds',
    labels: PROCESS_LABELS,
    help: "Start time of the process's last start attempt, seconds since the epoch (supervisord's start); absent when it never started. changes() counts restarts.",
  },
  {
    datadog: 'supervisord.group.count',
    prometheus: 'supervisord_group_processes',
    type: 'gauge',
    labels: ['supervisord_group', 'status'],
    help: 'Monitored processes per group and mapped status (label status: up, down, unknown).',
  },
  {
    datadog: '',
    prometheus: 'supervisord_process_state',
    type: 'gauge',
    labels: PROCESS_LABELS,
    help: "supervisord's state code of the process: 0 STOPPED, 10 STARTING, 20 RUNNING, 30 BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL, 1000 UNKNOWN.",
  },
  {
    datadog: 'supervisord.listener.lag',
    prometheus: 'supervisord_listener_lag_seconds',
    type: 'gauge',
    unit: 'seconds',
    labels: [],
    help: 'Event listener: seconds between the arrival of the oldest event an export carried and that export (0 when it carried none).',
  },
  {
    datadog: 'supervisord.server.state',
    prometheus: 'supervisord_server_state_status',
    type: 'gauge',
    labels: [],
    help: `State of supervisord itself (service check supervisord.server.state): ${STATUS_SCALE}.`,
  },
  ...RESOURCE_METRICS,
] satisfies PrometheusMetric[]);

const BY_DATADOG_NAME: ReadonlyMap<string, PrometheusMetric> = new Map(PROMETHEUS_METRICS.filter((m) => m.datadog !== '').map((m) => [m.datadog, m]));

const UP_HELP = 'Whether the last check of this supervisord succeeded (1) or failed (0: unreachable, timed out, HTTP or XML-RPC error).';
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
 * {@link formatPrometheus} (or {@link prometheusSnapshot}) call; take each
 * run's snapshot once (render it as often as needed), or its deltas are added
 * twice.
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
    // Nothing held and nothing to add (a probe target whose processes never restarted): no clock, no lookup.
    if (this.#totals.size === 0 && !(delta !== 0 && Number.isFinite(delta))) return 0;
    const now = this.#now();
    this.#expire(now);
    const entry = this.#totals.get(series);
    const total = (entry?.total ?? 0) + (Number.isFinite(delta) ? delta : 0);
    // A series at 0 is what a series never added to is: nothing to hold (most
    // restart counters stay at 0; holding them cost an exporter of 10,000
    // /probe targets 8 KB per target, bench/fleet.js).
    if (entry === undefined && total === 0) return 0;
    // Re-inserted, so that the map stays ordered by last use.
    this.#totals.delete(series);
    this.#totals.set(series, { total, seen: now });
    if (this.#totals.size > this.#maxSeries) this.#totals.delete(this.#totals.keys().next().value!);
    return total;
  }

  /** The series' total so far (0 for a series never added to), without adding anything. */
  get(series: string): number {
    if (this.#totals.size === 0) return 0;
    return this.#totals.get(series)?.total ?? 0;
  }

  /**
   * The series held, least recently added first, each with its total and
   * how long ago (ms) it was last added to: what a process that ends after
   * its run saves for the next one ({@link CounterTotals.restore}).
   */
  entries(): Array<[series: string, total: number, idleMs: number]> {
    const now = this.#now();
    this.#expire(now);
    return [...this.#totals].map(([series, entry]) => [series, entry.total, Math.max(0, now - entry.seen)]);
  }

  /**
   * Takes back series that {@link CounterTotals.entries} gave (another
   * process's), each as last added to `idleMs + elapsedMs` ago; a series
   * idle for more than the grace period is left out, and beyond `maxSeries`
   * the least recently added are. Entries that are not `[string, finite
   * number >= 0, number >= 0]` are skipped.
   *
   * @param elapsedMs time that passed since `entries()` gave them. Default 0.
   * @returns how many entries were skipped as malformed.
   */
  restore(entries: readonly unknown[], elapsedMs = 0): number {
    const now = this.#now();
    let malformed = 0;
    const valid: Array<[string, number, number]> = [];
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length !== 3) {
        malformed++;
        continue;
      }
      const [series, total, idleMs] = entry as unknown[];
      if (typeof series === 'string' && typeof total === 'number' && Number.isFinite(total) && total >= 0 && typeof idleMs === 'number' && idleMs >= 0) {
        valid.push([series, total, idleMs + Math.max(0, elapsedMs)]);
      } else {
        malformed++;
      }
    }
    // Most idle first: the map stays ordered by last use.
    valid.sort((a, b) => b[2] - a[2]);
    for (const [series, total, idleMs] of valid) {
      if (idleMs > this.#graceMs) continue;
      this.#totals.delete(series);
      this.#totals.set(series, { total, seen: now - idleMs });
      if (this.#totals.size > this.#maxSeries) this.#totals.delete(this.#totals.keys().next().value!);
    }
    return malformed;
  }

  /** Number of series held (after forgetting those whose grace period is over; a series that never left 0 is not held). */
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

/** A gauge added to an exposition, before the check's families (the `/probe` results). */
export interface ExtraGauge {
  /** A valid Prometheus metric name. */
  readonly name: string;
  readonly help: string;
  readonly value: number;
  readonly unit?: 'seconds';
}

/** Options of {@link formatPrometheus} and {@link prometheusSnapshot}. */
export interface PrometheusOptions {
  /**
   * Where `count` metrics accumulate across runs: one for every server, or a
   * function giving each server's run its own (undefined: that run's
   * counters show its delta). Default: none, each counter shows the run's
   * own delta.
   */
  counters?: CounterTotals | ((run: OutputRun) => CounterTotals | undefined);
  /**
   * With `counters`: false shows the totals so far without adding the runs'
   * deltas (a provisional answer whose runs are added later). Default true.
   */
  accumulate?: boolean;
  /** Gauges without labels written first. Default none. */
  extra?: readonly ExtraGauge[];
  /** {@link formatPrometheus} only: the format. Default `text` (0.0.4). */
  format?: ExpositionFormat;
}

/**
 * A Datadog metric or service-check name as a Prometheus metric name, by the
 * generic rule: every character outside `[a-zA-Z0-9_]` becomes `_`, and a
 * leading digit gets a `_` in front. (The check's own metrics have the names
 * of {@link PROMETHEUS_METRICS} instead.)
 */
export function prometheusMetricName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (clean === '') return '_';
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

interface Family {
  /** Place in the snapshot (what a {@link LabelSet} records to drop a repeated series). */
  readonly index: number;
  /** The name of the samples (`_total` included for a counter, `_info` for an info metric). */
  readonly name: string;
  readonly type: 'gauge' | 'counter' | 'info';
  readonly unit: 'seconds' | 'bytes' | undefined;
  readonly help: string;
  /** The samples' labels and values, in order. */
  readonly labels: LabelSet[];
  readonly values: number[];
}

/**
 * The runs' samples with their counters already accumulated: render it in
 * either format, as often as needed, without adding any delta again.
 */
export interface PrometheusSnapshot {
  /** The exposition in `format` (ends with a newline; OpenMetrics with `# EOF`). */
  render(format: ExpositionFormat): string;
  /** {@link PrometheusSnapshot.render} as UTF-8 bytes. */
  bytes(format: ExpositionFormat): Buffer;
}

/**
 * Takes the runs' samples once (adding their `count` deltas to
 * `options.counters`). Families come in this order: the `extra` gauges,
 * `supervisord_up`, `supervisord_version_info`, the metrics in order of first
 * appearance, `supervisord_process_state` (from the results' `processes`),
 * then the service checks in order of first appearance.
 *
 * @param runs one entry per checked server: `ServerRun`s, or the entries of
 *   `checkAll` (see the module comment for the labels).
 * @param options see {@link PrometheusOptions} (`format` is ignored).
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` when a run has neither a
 *   `supervisord_server` tag nor a name, or two runs have the same server
 *   labels.
 */
export function prometheusSnapshot(input: readonly OutputRun[], options: PrometheusOptions = {}): PrometheusSnapshot {
  const runs = labelledRuns(input);
  const families = new Map<string, Family>();
  const all: Family[] = [];
  const family = (name: string, type: Family['type'], help: string, unit?: 'seconds' | 'bytes'): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { index: all.length, name, type, unit, help, labels: [], values: [] };
      families.set(name, f);
      all.push(f);
    }
    return f;
  };
  const add = (f: Family, labels: LabelSet, value: number): void => {
    if (labels.families.includes(f.index)) return;
    labels.families.push(f.index);
    f.labels.push(labels);
    f.values.push(value);
  };
  const countersOf = options.counters;
  const accumulate = options.accumulate ?? true;
  const labelsOf = labelSets();

  for (const gauge of options.extra ?? []) add(family(gauge.name, 'gauge', gauge.help, gauge.unit), labelsOf(NO_TAGS), gauge.value);
  for (const run of runs) {
    add(family('supervisord_up', 'gauge', UP_HELP), labelsOf(run.tags), isUp(run) ? 1 : 0);
  }
  for (const run of runs) {
    const version = run.result.metadata.version;
    if (version !== undefined) {
      // `version:<v>` is the label version="<v>" (a tag splits at its first colon).
      add(family('supervisord_version_info', 'info', VERSION_HELP), labelsOf(run.tags.concat(`version:${versionLabel(version.raw)}`)), 1);
    }
  }
  for (const run of runs) {
    const counters = typeof countersOf === 'function' ? countersOf(run.source) : countersOf;
    for (const metric of run.result.metrics) {
      const known = BY_DATADOG_NAME.get(metric.name);
      const labels = labelsOf(metric.tags);
      if (metric.type === 'count') {
        const name = known?.type === 'counter' ? known.prometheus : counterName(prometheusMetricName(metric.name));
        const help =
          known?.help ?? `Datadog count ${metric.name} of the supervisord check, summed over the runs since this exporter started.`;
        let value = metric.value;
        if (counters !== undefined) {
          const series = `${name}${labels.text}`;
          value = accumulate ? counters.add(series, metric.value) : counters.get(series);
        }
        add(family(name, 'counter', help), labels, value);
      } else if (metric.type === 'monotonic_count') {
        // A running total read as it is (CPU seconds): exported as read, never accumulated; a decrease is a counter reset.
        const base = prometheusMetricName(metric.name);
        const name = known?.type === 'counter' ? known.prometheus : base.endsWith('_total') ? base : `${base}_total`;
        const help = known?.help ?? `Datadog monotonic count ${metric.name} of the supervisord check (a running total).`;
        add(family(name, 'counter', help, known?.unit), labels, metric.value);
      } else {
        const name = known?.type === 'gauge' ? known.prometheus : prometheusMetricName(metric.name);
        const help = known?.help ?? `Datadog gauge ${metric.name} of the supervisord check.`;
        add(family(name, 'gauge', help, known?.unit), labels, metric.value);
      }
    }
  }
  for (const run of runs) {
    for (const p of run.result.processes ?? []) {
      // A state name supervisord does not have has no code to give.
      if (!Object.hasOwn(PROCESS_STATES, p.statename)) continue;
      const code = (PROCESS_STATES as Readonly<Record<string, number>>)[p.statename]!;
      const labels = labelsOf(run.tags.concat(`supervisord_process:${p.name}`, `supervisord_group:${p.group}`));
      add(family(STATE.prometheus, 'gauge', STATE.help), labels, code);
    }
  }
  for (const run of runs) {
    for (const check of run.result.serviceChecks) {
      const known = BY_DATADOG_NAME.get(check.name);
      const name = known?.prometheus ?? statusName(prometheusMetricName(check.name));
      const help = known?.help ?? `Datadog service check ${check.name} of the supervisord check: ${STATUS_SCALE}.`;
      add(family(name, 'gauge', help), labelsOf(check.tags), check.status);
    }
  }
  return {
    render: (format) => renderFamilies(all, format).toString('utf8'),
    bytes: (format) => renderFamilies(all, format),
  };
}

const NO_TAGS: readonly string[] = [];
const STATE = PROMETHEUS_METRICS.find((m) => m.prometheus === 'supervisord_process_state')!;

function counterName(base: string): string {
  return base.endsWith('_total') ? base : `${base}_total`;
}

function statusName(base: string): string {
  return base.endsWith('_status') ? base : `${base}_status`;
}

/**
 * Renders the runs as one exposition (ends with a newline), by default in the
 * text format 0.0.4. Family order: see {@link prometheusSnapshot}.
 *
 * @param runs one entry per checked server (`ServerRun`s, or the entries of `checkAll`).
 * @param options see {@link PrometheusOptions}.
 * @throws {TypeError} as {@link prometheusSnapshot}.
 */
export function formatPrometheus(runs: readonly OutputRun[], options: PrometheusOptions = {}): string {
  return prometheusSnapshot(runs, options).render(options.format ?? 'text');
}

/**
 * The exposition of the families, as UTF-8: 0.0.4 (`text`) or OpenMetrics.
 * OpenMetrics names a counter's family without `_total` and an info metric's
 * without `_info` (the samples keep them), declares units with `# UNIT`,
 * escapes `"` in HELP too, and ends with `# EOF`; 0.0.4 has no info type (an
 * info metric is the gauge it stands for).
 *
 * Written as bytes into one buffer: each header, family name and label set
 * is encoded once (a label set serves every family of its process) and
 * copied, and each value's spelling copied in. Joining the page as a
 * string first cost about twice as much (its pieces are joined, then the
 * page copied again into bytes; bench/fleet.js).
 */
function renderFamilies(families: readonly Family[], format: ExpositionFormat): Buffer {
  const headers = families.map((f) => familyHeader(f, format));
  let size = format === 'openmetrics' ? EOF.length : 0;
  for (let i = 0; i < families.length; i++) {
    const { labels } = families[i]!;
    const { lines, name } = headers[i]!;
    size += lines.length + labels.length * (name.length + 2 + MAX_VALUE_LENGTH);
    for (let j = 0; j < labels.length; j++) size += labelBytes(labels[j]!).length;
  }
  // Written in a scratch buffer, then copied into one of the exact size: a page is sent, and kept with
  // --min-interval, and the room left for values (24 bytes each) held 4 KB more per 30-process page
  // (350 MB of kept pages for 10,000 targets, against 280).
  const page = size <= SCRATCH_MAX ? (scratch.length >= size ? scratch : (scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, 2 * size)))) : Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (let i = 0; i < families.length; i++) {
    const { labels, values } = families[i]!;
    const { lines, name } = headers[i]!;
    page.set(lines, at);
    at += lines.length;
    for (let j = 0; j < labels.length; j++) {
      page.set(name, at);
      at += name.length;
      const bytes = labels[j]!.bytes!;
      page.set(bytes, at);
      at += bytes.length;
      page[at++] = 0x20;
      at = writeValue(page, at, values[j]!);
      page[at++] = 0x0a;
    }
  }
  if (format === 'openmetrics') {
    page.set(EOF, at);
    at += EOF.length;
  }
  return Buffer.from(page.subarray(0, at));
}

/** The buffer pages are written in (one at a time: rendering is synchronous); a larger page gets its own. */
const SCRATCH_MAX = 256 * 1024;
let scratch = Buffer.allocUnsafeSlow(0);

const EOF = Buffer.from('# EOF\n');

/** Longest {@link formatValue} of a number: `-1.2345678901234567e-308`. */
const MAX_VALUE_LENGTH = 24;

function labelBytes(set: LabelSet): Buffer {
  return (set.bytes ??= Buffer.from(set.text, 'utf8'));
}

/** {@link formatValue} of `value` written at `at` (ASCII: digits, signs, `.`, `e`, `NaN`, `Inf`); returns the end. */
function writeValue(page: Buffer, at: number, value: number): number {
  const text = formatValue(value);
  for (let i = 0; i < text.length; i++) page[at++] = text.charCodeAt(i);
  return at;
}

/** A family's header lines in each format, for one name, type and unit, with the name (as the samples begin). */
interface Header {
  readonly name: string;
  readonly type: Family['type'];
  readonly unit: Family['unit'];
  readonly nameBytes: Buffer;
  text?: Buffer;
  openmetrics?: Buffer;
}

/**
 * Family headers by help text: the same few families on every page, whose
 * help strings are constants (looked up by a string that keeps its hash).
 */
const HEADERS = new Map<string, Header>();
const HEADERS_MAX = 512;

/** The `# HELP`, `# TYPE` (and OpenMetrics `# UNIT`) lines of a family, and its name, in UTF-8. */
function familyHeader(f: Family, format: ExpositionFormat): { lines: Buffer; name: Buffer } {
  let entry = HEADERS.get(f.help);
  if (entry === undefined || entry.name !== f.name || entry.type !== f.type || entry.unit !== f.unit) {
    entry = { name: f.name, type: f.type, unit: f.unit, nameBytes: Buffer.from(f.name, 'utf8') };
    if (HEADERS.size >= HEADERS_MAX) HEADERS.clear();
    HEADERS.set(f.help, entry);
  }
  let lines = entry[format];
  if (lines === undefined) {
    let text: string;
    if (format === 'openmetrics') {
      const suffix = f.type === 'counter' ? '_total' : f.type === 'info' ? '_info' : '';
      const name = suffix !== '' && f.name.endsWith(suffix) ? f.name.slice(0, -suffix.length) : f.name;
      text = `# HELP ${name} ${escapeLabelValue(f.help)}\n# TYPE ${name} ${f.type}\n`;
      if (f.unit !== undefined) text += `# UNIT ${name} ${f.unit}\n`;
    } else {
      text = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type === 'info' ? 'gauge' : f.type}\n`;
    }
    lines = Buffer.from(text, 'utf8');
    entry[format] = lines;
  }
  return { lines, name: entry.nameBytes };
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

/** A run whose per-server labels are settled. */
interface LabelledRun {
  /** The run as given (what a `counters` function is asked about). */
  readonly source: OutputRun;
  readonly tags: readonly string[];
  readonly result: OutputRun['result'];
}

/**
 * Each run with the tags of its per-server series: its `tags` when they hold
 * `supervisord_server`, else those plus `supervisord_server:<name>`. The same
 * run object twice is kept once.
 *
 * @throws {TypeError} see {@link prometheusSnapshot}.
 */
function labelledRuns(runs: readonly OutputRun[]): LabelledRun[] {
  if (!Array.isArray(runs)) throw invalidRuns('runs must be an array of { name, result } or ServerRun objects');
  const byLabels = new Map<string, { index: number; result: unknown }>();
  const labelled: LabelledRun[] = [];
  for (const [i, run] of runs.entries()) {
    if (typeof run !== 'object' || run === null || typeof run.result !== 'object' || run.result === null) {
      throw invalidRuns(`runs[${i}] is not a run: expected { name, result } or a ServerRun`);
    }
    const given: unknown = run.tags;
    const tags = Array.isArray(given) && given.every((t) => typeof t === 'string') ? (given as string[]) : [];
    let server = tags;
    if (!tags.some((t) => t.startsWith('supervisord_server:'))) {
      if (typeof run.name !== 'string' || run.name === '') {
        throw invalidRuns(`runs[${i}] has no supervisord_server tag and no name to label its series with`);
      }
      server = [...tags, `supervisord_server:${run.name}`];
    }
    const key = renderLabels(server);
    const earlier = byLabels.get(key);
    if (earlier !== undefined) {
      if (earlier.result === run.result) continue;
      throw invalidRuns(
        `runs[${earlier.index}] and runs[${i}] have the same server labels (${key === '' ? 'none' : key}): their series would be one; give each server its own name`,
      );
    }
    byLabels.set(key, { index: i, result: run.result });
    labelled.push({ source: run, tags: server, result: run.result });
  }
  return labelled;
}

function invalidRuns(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' });
}

/**
 * The value of `supervisord_up`: true when the run had no error and
 * `supervisord.can_connect`, if submitted, is OK.
 */
export function isUp(run: Pick<OutputRun, 'result'>): boolean {
  if (run.result.errors.length > 0) return false;
  const OK: ServiceCheckStatus = 0;
  return run.result.serviceChecks.every((c) => c.name !== 'supervisord.can_connect' || c.status === OK);
}

/** The labels of a series as a snapshot renders them, shared by every series that has them. */
interface LabelSet {
  /** `{name="value",...}`, or '' without labels. */
  readonly text: string;
  /** `text` in UTF-8, once a page is written. */
  bytes?: Buffer;
  /** The indexes of the families that have a sample with these labels: a repeated series is dropped. */
  readonly families: number[];
}

interface LabelNode {
  set?: LabelSet;
  /** The first child's tag and node; further children in `more` (most nodes have one child: the trie makes few maps). */
  tag?: string;
  child?: LabelNode;
  more?: Map<string, LabelNode>;
}

/**
 * {@link renderLabels} remembered for one snapshot: the metrics and the
 * service check of a process carry copies of one tag list, so its labels are
 * rendered once instead of once per series. Looked up tag by tag (each tag
 * string is shared by the copies and keeps its hash), never by a joined key;
 * a list whose tags are the very strings of the list before (the next
 * metric of the same process) is not looked up at all.
 *
 * Two lists that render alike (`a:1` twice, and once; `k-x:1` and `k_x:1`)
 * share one {@link LabelSet}. Two different canonical lists (every tag
 * `key:value` with a key that is its own label name, no key twice: what the
 * check's tags are) never render alike, as their text gives back their tags;
 * so the sets are indexed by text only from the first list that is not
 * canonical on (the sets made before it included).
 */
function labelSets(): (tags: readonly string[]) => LabelSet {
  const root: LabelNode = {};
  const parts = new Map<string, LabelPart>();
  const made: LabelSet[] = [];
  let byText: Map<string, LabelSet> | undefined;
  let lastTags: readonly string[] = [];
  let lastSet: LabelSet | undefined;
  return (tags) => {
    if (lastSet !== undefined && sameStrings(tags, lastTags)) return lastSet;
    let node = root;
    for (let i = 0; i < tags.length; i++) node = childOf(node, tags[i]!);
    let set = node.set;
    if (set === undefined) {
      const text = renderLabels(tags, parts);
      if (!labelsCanonical && byText === undefined) byText = new Map(made.map((m) => [m.text, m]));
      set = byText?.get(text);
      if (set === undefined) {
        set = { text, families: [] };
        made.push(set);
        byText?.set(text, set);
      }
      node.set = set;
    }
    lastTags = tags;
    lastSet = set;
    return set;
  };
}

function childOf(node: LabelNode, tag: string): LabelNode {
  if (node.child === undefined) {
    node.tag = tag;
    node.child = {};
    return node.child;
  }
  if (node.tag === tag) return node.child;
  node.more ??= new Map();
  let child = node.more.get(tag);
  if (child === undefined) {
    child = {};
    node.more.set(tag, child);
  }
  return child;
}

/** What one tag gives a label set. */
interface LabelPart {
  readonly name: string;
  readonly value: string;
  /** `name="escaped value"`. */
  readonly text: string;
  /** The tag is `key:value` whose key is its own label name. */
  readonly canonical: boolean;
}

function labelPart(tag: string): LabelPart {
  const colon = tag.indexOf(':');
  if (colon < 0) return { name: 'tag', value: tag, text: `tag="${escapeLabelValue(tag)}"`, canonical: false };
  const name = labelName(tag, colon);
  const value = tag.slice(colon + 1);
  return { name, value, text: `${name}="${escapeLabelValue(value)}"`, canonical: colon === name.length && tag.startsWith(name) };
}

/** Scratch space of {@link renderLabels} (one call at a time: nothing in it is kept). */
const scratchParts: LabelPart[] = [];
/** Whether the tags of the last {@link renderLabels} were canonical (see {@link labelSets}). */
let labelsCanonical = true;

/**
 * `{name="value",...}` from Datadog tags, or the empty string when there are
 * none. See the module comment for the rules. Tags whose label names all
 * differ (the usual list) are written in order in one pass; repeated names
 * take {@link mergedLabels}. `parts`: what each tag gives, remembered for
 * one snapshot (its server tag is in every list, its group tags in many).
 */
function renderLabels(tags: readonly string[], parts = new Map<string, LabelPart>()): string {
  const n = tags.length;
  labelsCanonical = true;
  if (n === 0) return '';
  let repeated = false;
  let out = '{';
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    let part = parts.get(tag);
    if (part === undefined) {
      part = labelPart(tag);
      parts.set(tag, part);
    }
    if (!part.canonical) labelsCanonical = false;
    for (let j = 0; j < i && !repeated; j++) repeated = scratchParts[j]!.name === part.name;
    scratchParts[i] = part;
    out += i === 0 ? part.text : `,${part.text}`;
  }
  if (repeated) {
    labelsCanonical = false;
    out = `{${mergedLabels(n)}`;
  }
  scratchParts.length = 0;
  return `${out}}`;
}

/**
 * The labels of the first `n` scratch parts when names repeat: each name
 * once, at its first place, its value the distinct values sorted and joined
 * with `,`.
 */
function mergedLabels(n: number): string {
  const labels = new Map<string, string[]>();
  for (let i = 0; i < n; i++) {
    const { name, value } = scratchParts[i]!;
    const values = labels.get(name);
    if (values === undefined) labels.set(name, [value]);
    else if (!values.includes(value)) values.push(value);
  }
  const parts: string[] = [];
  for (const [name, values] of labels) {
    const value = values.length === 1 ? values[0]! : [...values].sort().join(',');
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return parts.join(',');
}

/** Label names by tag key: a run has a handful of keys, each seen in every series. */
const LABEL_NAMES = new Map<string, string>();
const LABEL_NAMES_MAX = 1024;

/**
 * The label name of the key `tag.slice(0, colon)`: `[a-zA-Z_][a-zA-Z0-9_]*`,
 * outside the `__` prefix that Prometheus reserves for itself.
 */
function labelName(tag: string, colon: number): string {
  const key = tag.slice(0, colon);
  let name = LABEL_NAMES.get(key);
  if (name === undefined) {
    name = sanitisedLabelName(key);
    if (LABEL_NAMES.size >= LABEL_NAMES_MAX) LABEL_NAMES.clear();
    LABEL_NAMES.set(key, name);
  }
  return name;
}

function sanitisedLabelName(key: string): string {
  let name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (name === '') return 'tag';
  if (/^[0-9]/.test(name)) name = `_${name}`;
  if (name.startsWith('__')) name = `tag${name}`;
  return name;
}

const LABEL_ESCAPED = /[\\"\n]/;

/** Label values (both formats) and OpenMetrics HELP escape backslash, double quote and line feed. */
function escapeLabelValue(value: string): string {
  if (!LABEL_ESCAPED.test(value)) return value;
  return value.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`));
}

/** 0.0.4 HELP text escapes backslash and line feed only. */
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
