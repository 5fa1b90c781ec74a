/**
 * `--serve`: the Prometheus endpoint of the CLI.
 *
 * - `/metrics` checks the configured instances; `/probe?target=...&module=...`
 *   checks one target with a module's settings (`probe.ts`).
 * - Content negotiation: OpenMetrics text 1.0.0 when the `Accept` header
 *   prefers it (Prometheus does), else the text format 0.0.4.
 * - One run answers every scrape that arrives while it runs, and a result
 *   younger than `minIntervalMs` answers without running again: scrapes
 *   cannot drive supervisord harder than that. Each run is rendered once per
 *   format into one `Buffer` that every response shares, so clients that do
 *   not read cost a reference each, not a copy.
 * - `X-Prometheus-Scrape-Timeout-Seconds` (sent by Prometheus with every
 *   scrape) is honoured: a run still going shortly before it is answered with
 *   what is known, `supervisord_up 0` for the servers that have not answered
 *   yet; the run goes on and its result serves the next scrapes.
 * - At most `maxConnections` client connections at a time. A request head
 *   must arrive within {@link HEAD_TIMEOUT_MS}; when every slot is taken, a
 *   new connection closes the one that has waited longest without a request
 *   in progress (a slow or idle head), so that clients that never finish
 *   their request cannot lock the scrapers out. Only when every connection
 *   carries a request is a new one refused.
 * - `/probe` targets: one per server identity and module (`probe.ts`), at
 *   most `probeMaxTargets`, each with its check, connections and counters;
 *   every connection to supervisord (of `/metrics` and `/probe` together) is
 *   drawn from one budget per server address. `/metrics` then also carries
 *   the exporter's own figures (targets remembered and evicted, connections
 *   held).
 *
 * @module
 */

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import { ConnectionBudget } from '../../protocol/connection-budget.js';

import { SupervisordCheck } from '../check.js';
import { CheckGroup } from '../check-all.js';
import { ConfigError } from '../errors.js';
import {
  CounterTotals,
  isUp,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  prometheusSnapshot,
} from '../outputs/prometheus.js';
import type { ExpositionFormat, ExtraGauge, PrometheusSnapshot } from '../outputs/prometheus.js';
import type { CheckResult, ServerRun } from '../types.js';
import { hostPort, UsageError } from './args.js';
import type { HostPort } from './args.js';
import { ProbeRequestError, probeTarget, ProbeTargets } from './probe.js';
import type { ProbeModule } from './probe.js';
import { errorLog, fsProblem } from './report.js';
import type { Stopper } from './stopper.js';

/** `--min-interval` default: a result younger than this answers a scrape without a new run. */
export const DEFAULT_MIN_INTERVAL_MS = 5000;
/** `--max-connections` default. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** `--probe-max-targets` default. */
export const DEFAULT_PROBE_MAX_TARGETS = 1000;
/**
 * How long a client has to send a whole request head (then 408 and the
 * connection is closed): far below Prometheus' default scrape timeout of
 * 10 s, far above what any real client needs on a working network.
 */
export const HEAD_TIMEOUT_MS = 5000;
/** How often Node checks the head deadline of every connection. */
const HEAD_CHECK_INTERVAL_MS = 500;

/** What {@link serve} needs. */
export interface ServeOptions {
  where: HostPort;
  /** The configured instances (`/metrics`); they belong to the caller, which closes them. */
  checks?: readonly SupervisordCheck[];
  /**
   * Instead of `checks`: where `/metrics` gets its runs (the event listener's
   * state), with one placeholder per server for a scrape that cannot wait.
   */
  source?: { servers: readonly ServerRun[]; run: () => Promise<ServerRun[]> };
  /** The modules of `/probe` (none: `/probe` answers 400). */
  modules: ReadonlyMap<string, ProbeModule>;
  /** Default {@link DEFAULT_MIN_INTERVAL_MS}; 0 runs for every scrape not overlapping a run. */
  minIntervalMs?: number;
  /** Default {@link DEFAULT_MAX_CONNECTIONS}. */
  maxConnections?: number;
  /** Default {@link DEFAULT_PROBE_MAX_TARGETS}. */
  probeMaxTargets?: number;
  /**
   * The budget of connections to each supervisord, shared with `checks` when
   * they were given it (the caller's). Default: a budget of its own for the
   * `/probe` checks, with the default size.
   */
  connections?: ConnectionBudget;
  stop: Stopper;
  onListening?: ((address: HostPort) => void) | undefined;
  say: (line: string) => void;
}

/** A scrape source over the configured checks (the caller's: the group only schedules them). */
function checksSource(checks: readonly SupervisordCheck[]): Source {
  let onResult: ((run: ServerRun, index: number) => void) | undefined;
  const group = new CheckGroup(checks, { onResult: (entry, i) => onResult?.(serverRun(checks[i]!, entry.result), i) });
  return {
    servers: checks.map((c) => serverRun(c, emptyResult())),
    run: async (each) => {
      onResult = each;
      try {
        return (await group.run()).map((entry, i) => serverRun(checks[i]!, entry.result));
      } finally {
        onResult = undefined;
      }
    },
    // A run in progress starts no further instance once the exporter stops.
    close: () => void group.close(),
  };
}

/** A scrape source over runs made elsewhere, each known when all are. */
function eachRun(source: { servers: readonly ServerRun[]; run: () => Promise<ServerRun[]> }): Source {
  return {
    servers: source.servers,
    run: async (each) => {
      const runs = await source.run();
      runs.forEach((run, i) => each(run, i));
      return runs;
    },
  };
}

/** The run of a configured instance as the outputs need it. */
export function serverRun(check: SupervisordCheck, result: CheckResult): ServerRun {
  const { config } = check;
  return {
    name: config.name,
    target: config.address.display,
    tags: config.instanceTags,
    result,
    statusMapping: config.statusMapping,
  };
}

/**
 * Serves until `stop`: `/metrics`, `/probe`, `/` (a link to both); anything
 * else is 404.
 *
 * @throws {UsageError} when it cannot listen.
 */
export async function serve(options: ServeOptions): Promise<void> {
  const { where, modules, stop, say } = options;
  const minIntervalMs = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  const source = options.source === undefined ? checksSource(options.checks ?? []) : eachRun(options.source);
  let stopped = false;
  // A run still going when the exporter stops ends with its calls closed under it: not news.
  const logUntilStopped = (log: (runs: readonly ServerRun[]) => void) => (runs: readonly ServerRun[]): void => {
    if (!stopped) log(runs);
  };
  const metrics = new Scraper(source, {
    minIntervalMs,
    log: logUntilStopped(errorLog(say)),
    say,
  });
  const budget = options.connections ?? new ConnectionBudget();
  const maxTargets = options.probeMaxTargets ?? DEFAULT_PROBE_MAX_TARGETS;
  const probes = new ProbeTargets<ProbeEntry>(maxTargets, {
    minIntervalMs,
    onThrash: (n) =>
      say(
        `${n} /probe target${n === 1 ? ' was' : 's were'} probed again after being forgotten: --probe-max-targets ${maxTargets} is ` +
          `smaller than the number of targets probed, so such probes start afresh (a full listing, new connections, restart counts from 0); raise --probe-max-targets`,
      ),
  });
  // A page is served again only within --min-interval: older ones of targets not probed since are dropped (held at most
  // 1.25 x --min-interval), one sweep for all.
  const sweep = minIntervalMs > 0 ? setInterval(() => {
    for (const entry of probes.values()) entry.scraper.dropStale();
  }, Math.min(Math.max(minIntervalMs / 4, 250), MAX_DEADLINE_MS)) : undefined;
  sweep?.unref();

  const probe = (query: URLSearchParams): Scraper => {
    const { module, target } = probeQuery(query, modules);
    const allowed = probeTarget(module, target);
    return probes.get(`${module.name}\n${allowed.name}`, () => {
      if (stopped) throw new ProbeRequestError('the exporter is stopping');
      let check: SupervisordCheck;
      try {
        // The exposition drops service-check messages: they are not built.
        check = new SupervisordCheck({ ...module.settings, name: allowed.name, url: allowed.url }, { connections: budget, messages: false });
      } catch (error) {
        if (error instanceof ConfigError) throw new ProbeRequestError(`module ${JSON.stringify(module.name)} cannot check ${JSON.stringify(target)}: ${error.message}`);
        throw error;
      }
      const scraper = new Scraper(
        {
          servers: [serverRun(check, emptyResult())],
          run: async (each) => {
            const run = serverRun(check, await check.run());
            each(run, 0);
            return [run];
          },
        },
        { minIntervalMs, log: logUntilStopped(errorLog(say)), say, probe: true },
      );
      return { scraper, close: () => check.close() };
    }).scraper;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://exporter');
    } catch {
      reply(res, 400, TEXT, 'Bad request: unreadable URL\n');
      return;
    }
    const path = url.pathname;
    if (path !== '/metrics' && path !== '/probe' && path !== '/') {
      reply(res, 404, TEXT, 'Not found: the metrics are at /metrics and /probe?target=...&module=...\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply(res, 405, TEXT, 'Method not allowed: use GET\n');
      return;
    }
    const head = req.method === 'HEAD';
    if (path === '/') {
      reply(res, 200, 'text/html; charset=utf-8', INDEX_PAGE, head);
      return;
    }
    let scraper: Scraper;
    try {
      scraper = path === '/metrics' ? metrics : probe(url.searchParams);
    } catch (error) {
      if (!(error instanceof ProbeRequestError)) throw error;
      if (error.status === 429) {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(minIntervalMs / 1000))));
        reply(res, 429, TEXT, `Too many requests: ${error.message}\n`, head);
      } else {
        reply(res, 400, TEXT, `Bad request: ${error.message}\n`, head);
      }
      return;
    }
    const accept = req.headers.accept;
    scraper.scrape(scrapeDeadlineMs(req.headers['x-prometheus-scrape-timeout-seconds'])).then(
      (page) => {
        const answer = pageFor(page, accept);
        if (answer === undefined) {
          // A page kept in OpenMetrics only, for a client that refuses it: within --min-interval there is no other.
          reply(res, 406, TEXT, `Not acceptable: the last run (less than --min-interval ago) was rendered as OpenMetrics, which the Accept header refuses; ask again after --min-interval\n`, head);
          return;
        }
        const { format, bytes } = answer;
        const own = path === '/metrics' && modules.size > 0 ? exporterFamilies(probes, budget, format) : undefined;
        reply(res, 200, format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE, withFamilies(bytes, format, own), head);
      },
      (error: unknown) => {
        say(`internal error while scraping: ${error instanceof Error ? error.message : String(error)}`);
        reply(res, 500, TEXT, 'Internal error of supervisord-check\n');
      },
    );
  };
  const clients = new ClientConnections(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  const server = createServer({ connectionsCheckingInterval: HEAD_CHECK_INTERVAL_MS }, (req, res) => {
    clients.requestStarted(req.socket, res);
    try {
      handle(req, res);
    } catch (error) {
      say(`internal error while answering: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) reply(res, 500, TEXT, 'Internal error of supervisord-check\n');
    }
  });
  server.headersTimeout = HEAD_TIMEOUT_MS;
  server.requestTimeout = HEAD_TIMEOUT_MS;
  // Beyond maxConnections, memory stays bounded whatever the clients do; see ClientConnections.
  server.on('connection', (socket: Socket) => clients.accept(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where.port, where.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new UsageError(`cannot listen on ${hostPort(where.host, where.port)}: ${fsProblem(error)}`);
  }
  try {
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : where.port;
    say(`serving http://${hostPort(where.host, port)}/metrics${modules.size > 0 ? ' and /probe' : ''}`);
    options.onListening?.({ host: where.host, port });
    await stop.promise;
  } finally {
    stopped = true;
    clearInterval(sweep);
    source.close?.();
    await Promise.all([closeServer(server), probes.close()]);
  }
}

const TEXT = 'text/plain; charset=utf-8';
const INDEX_PAGE =
  '<!DOCTYPE html>\n<html><head><title>supervisord-check</title></head>' +
  '<body><h1>supervisord-check</h1><p><a href="/metrics">Metrics</a></p>' +
  '<p>Probe: <code>/probe?target=host:port&amp;module=name</code></p></body></html>\n';

interface ProbeEntry {
  readonly scraper: Scraper;
  close(): Promise<void>;
}

/** Query parameters that look like credentials: refused by name, never read. */
const CREDENTIAL_PARAMS = /^(?:user(?:name)?|pass(?:word)?|auth(?:orization)?|token|secret|credentials?|api_?key)$/i;

/**
 * The module and target of a `/probe` query: `target` required, `module`
 * optional when exactly one module is configured, nothing else accepted.
 */
function probeQuery(query: URLSearchParams, modules: ReadonlyMap<string, ProbeModule>): { module: ProbeModule; target: string } {
  for (const key of new Set(query.keys())) {
    if (CREDENTIAL_PARAMS.test(key)) {
      throw new ProbeRequestError('credentials are not accepted in the query string: set username and password in the module');
    }
    if (key !== 'target' && key !== 'module') throw new ProbeRequestError(`unknown parameter ${JSON.stringify(key.slice(0, 64))} (only target and module)`);
    if (query.getAll(key).length > 1) throw new ProbeRequestError(`${key} is given more than once`);
  }
  if (modules.size === 0) throw new ProbeRequestError('no modules are configured (--config "modules")');
  const target = query.get('target');
  if (target === null || target === '') throw new ProbeRequestError('target is missing (/probe?target=host:port&module=name)');
  const name = query.get('module');
  const configured = [...modules.keys()].join(', ');
  if (name === null || name === '') {
    if (modules.size === 1) return { module: modules.values().next().value as ProbeModule, target };
    throw new ProbeRequestError(`module is missing (configured: ${configured})`);
  }
  const module = modules.get(name);
  if (module === undefined) throw new ProbeRequestError(`unknown module ${JSON.stringify(name.slice(0, 64))} (configured: ${configured})`);
  return { module, target };
}

interface MediaRange {
  readonly type: string;
  readonly q: number;
  readonly version: string | undefined;
}

/** The media ranges of an `Accept` header that have a quality above 0. */
function mediaRanges(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = param.slice(0, eq).trim();
      const value = param.slice(eq + 1).trim();
      if (key === 'q') q = Number.isFinite(Number(value)) ? Number(value) : 0;
      else if (key === 'version') version = value;
    }
    if (q > 0 && type !== '') ranges.push({ type, q, version });
  }
  return ranges;
}

const isOpenMetrics = (r: MediaRange): boolean => r.type === 'application/openmetrics-text' && (r.version === undefined || r.version === '1.0.0');

/**
 * OpenMetrics 1.0.0 when the `Accept` header gives
 * `application/openmetrics-text` (version 1.0.0 or none) a quality at least
 * that of every other media range it accepts, else the text format 0.0.4.
 */
export function negotiate(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'text';
  let openmetrics = -1;
  let other = -1;
  for (const range of mediaRanges(accept)) {
    if (isOpenMetrics(range)) openmetrics = Math.max(openmetrics, range.q);
    else if (range.type !== 'application/openmetrics-text') other = Math.max(other, range.q);
  }
  return openmetrics > 0 && openmetrics >= other ? 'openmetrics' : 'text';
}

/**
 * Whether a client takes OpenMetrics when it is what there is (a page kept
 * in that format only): no `Accept`, or one that admits
 * `application/openmetrics-text` (1.0.0), `application/*` or `* / *`.
 */
export function acceptsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  return mediaRanges(accept).some((r) => isOpenMetrics(r) || r.type === 'application/*' || r.type === '*/*');
}

/** Answer this long before the scraper gives up: at most half a second, at most a tenth of its timeout. */
const MAX_MARGIN_MS = 500;
/** Longest deadline taken from the header (a day; setTimeout's limit is about 24.8 days). */
const MAX_DEADLINE_MS = 86_400_000;

/**
 * When to answer, from `X-Prometheus-Scrape-Timeout-Seconds`: shortly
 * before the scraper's timeout (undefined without a usable header: the run's
 * own `timeout` bounds the wait).
 */
export function scrapeDeadlineMs(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\s*[0-9]+(?:\.[0-9]+)?\s*$/.test(header)) return undefined;
  const ms = Number(header) * 1000;
  if (!(ms > 0)) return undefined;
  return Math.max(1, Math.min(MAX_DEADLINE_MS, Math.round(ms - Math.min(MAX_MARGIN_MS, ms / 10))));
}

/** What a {@link Scraper} scrapes. */
export interface Source {
  /** The servers, in run order, as placeholders (their `result` is not used). */
  readonly servers: readonly ServerRun[];
  /** Runs every server; `each` as soon as each one's run ends. */
  run(each: (run: ServerRun, index: number) => void): Promise<ServerRun[]>;
  /** Called once when the exporter stops. */
  close?(): void;
}

/** One run's exposition, rendered at most once per format and shared by every response. */
export class Page {
  #snapshot: PrometheusSnapshot | undefined;
  readonly #keep: boolean;
  readonly #bytes = new Map<ExpositionFormat, Buffer>();

  /**
   * @param snapshot the run's samples.
   * @param keep the page is kept to answer again: once rendered, it lets the
   *   snapshot (every sample's strings and sets) go and keeps only that
   *   format (Prometheus asks every target in the same one). Kept snapshots,
   *   or a second format rendered in advance, held an exporter of 10,000
   *   targets 165 to 240 MB more and made it collect twice as often
   *   (bench/fleet.js, --min-interval 5s).
   */
  constructor(snapshot: PrometheusSnapshot, keep = false) {
    this.#snapshot = snapshot;
    this.#keep = keep;
  }

  /**
   * The exposition in `format`: the same `Buffer` on every call; undefined
   * for a format a kept page was not rendered in.
   */
  bytes(format: ExpositionFormat): Buffer | undefined {
    let bytes = this.#bytes.get(format);
    if (bytes === undefined && this.#snapshot !== undefined) {
      bytes = this.#snapshot.bytes(format);
      this.#bytes.set(format, bytes);
      if (this.#keep) this.#snapshot = undefined;
    }
    return bytes;
  }
}

/**
 * What a page answers a client: the format it prefers; else, from a kept
 * page rendered in the other format only, that one when the client takes it
 * (every client takes the text format; OpenMetrics per its `Accept`).
 */
export function pageFor(page: Page, accept: string | undefined): { format: ExpositionFormat; bytes: Buffer } | undefined {
  const format = negotiate(accept);
  const bytes = page.bytes(format);
  if (bytes !== undefined) return { format, bytes };
  const other: ExpositionFormat = format === 'text' ? 'openmetrics' : 'text';
  if (other === 'openmetrics' && !acceptsOpenMetrics(accept)) return undefined;
  return { format: other, bytes: page.bytes(other)! };
}

interface Inflight {
  readonly promise: Promise<Page>;
  readonly done: Array<ServerRun | undefined>;
  readonly started: number;
}

/**
 * Runs a {@link Source} for scrapes: one run at a time shared by the scrapes
 * that arrive meanwhile, a result younger than `minIntervalMs` reused, and a
 * provisional page at a scrape's deadline.
 */
export class Scraper {
  readonly #source: Source;
  readonly #minIntervalMs: number;
  readonly #log: (runs: readonly ServerRun[]) => void;
  readonly #say: (line: string) => void;
  readonly #probe: boolean;
  readonly #counters = new CounterTotals();
  #inflight: Inflight | undefined;
  #last: { page: Page; at: number } | undefined;
  #late = false;

  constructor(
    source: Source,
    options: { minIntervalMs: number; log: (runs: readonly ServerRun[]) => void; say: (line: string) => void; probe?: boolean },
  ) {
    this.#source = source;
    this.#minIntervalMs = options.minIntervalMs;
    this.#log = options.log;
    this.#say = options.say;
    this.#probe = options.probe ?? false;
  }

  /**
   * The page of the latest run: the cached one when younger than the minimum
   * interval, else that of the run in progress (started if none).
   *
   * @param deadlineMs answer after this long at the latest, with a provisional page.
   */
  scrape(deadlineMs: number | undefined): Promise<Page> {
    const last = this.#last;
    if (last !== undefined) {
      if (performance.now() - last.at < this.#minIntervalMs) return Promise.resolve(last.page);
      this.#last = undefined;
    }
    const inflight = this.#inflight ?? this.#start();
    if (deadlineMs === undefined) return inflight.promise;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(this.#provisional(inflight, deadlineMs)), deadlineMs);
      // The run ends by its own timeout anyway; the timer must not keep a stopping process alive.
      timer.unref();
      inflight.promise.then(
        (page) => {
          clearTimeout(timer);
          if (this.#late) {
            this.#late = false;
            this.#say('scrapes are answered within their deadline again');
          }
          resolve(page);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** Forgets the last page once it is too old to answer a scrape (it holds a run's samples). */
  dropStale(): void {
    if (this.#last !== undefined && performance.now() - this.#last.at >= this.#minIntervalMs) this.#last = undefined;
  }

  #start(): Inflight {
    const started = performance.now();
    const done = new Array<ServerRun | undefined>(this.#source.servers.length);
    const promise = this.#source
      .run((run, i) => {
        done[i] = run;
      })
      .then((runs) => {
        this.#log(runs);
        const page = new Page(prometheusSnapshot(runs, { counters: this.#counters, extra: this.#extra(runs, performance.now() - started) }), this.#probe && this.#minIntervalMs > 0);
        // Kept only to answer again within the minimum interval (with 0, never: it would only hold memory).
        if (this.#minIntervalMs > 0) this.#last = { page, at: performance.now() };
        return page;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    const inflight = { promise, done, started };
    this.#inflight = inflight;
    return inflight;
  }

  /** What is known at a scrape's deadline: the servers that answered, `supervisord_up 0` for the others. */
  #provisional(inflight: Inflight, deadlineMs: number): Page {
    const seconds = deadlineMs / 1000;
    const reason = `no answer within the scrape's deadline (${seconds} s, from X-Prometheus-Scrape-Timeout-Seconds); the run goes on and its result serves the next scrape`;
    const runs = this.#source.servers.map((server, i) => inflight.done[i] ?? { ...server, result: { ...emptyResult(), errors: [reason] } });
    const waiting = runs.filter((_, i) => inflight.done[i] === undefined).map((r) => r.name);
    if (!this.#late) {
      this.#late = true;
      this.#say(`a scrape was answered at its deadline (${seconds} s) before ${waiting.join(', ')} answered: reported as supervisord_up 0`);
    }
    // accumulate: false, the run's deltas are added once, when it ends.
    return new Page(prometheusSnapshot(runs, { counters: this.#counters, accumulate: false, extra: this.#extra(runs, performance.now() - inflight.started) }));
  }

  #extra(runs: readonly ServerRun[], durationMs: number): ExtraGauge[] {
    if (!this.#probe) return [];
    const up = isUp(runs[0]!);
    return [
      { name: 'supervisord_probe_success', help: 'Whether the probe reached supervisord and read its process list (1) or not (0).', value: up ? 1 : 0 },
      {
        name: 'supervisord_probe_duration_seconds',
        help: 'How long the probe took, in seconds (of the run whose result this is).',
        value: Math.round(durationMs) / 1000,
        unit: 'seconds',
      },
    ];
  }
}

/**
 * The exporter's own families on `/metrics` (with `/probe` modules): how
 * many targets it remembers, how many it had to forget, how many
 * connections it holds to supervisord servers.
 */
function exporterFamilies(probes: ProbeTargets<ProbeEntry>, budget: ConnectionBudget, format: ExpositionFormat): string {
  const evicted = format === 'openmetrics' ? 'supervisord_probe_targets_evicted' : 'supervisord_probe_targets_evicted_total';
  return (
    '# HELP supervisord_probe_targets Targets of /probe remembered between probes (each with its check, connections and counters).\n' +
    '# TYPE supervisord_probe_targets gauge\n' +
    `supervisord_probe_targets ${probes.size}\n` +
    `# HELP ${evicted} Targets of /probe forgotten to stay within --probe-max-targets (a forgotten target's next probe starts afresh).\n` +
    `# TYPE ${evicted} counter\n` +
    `supervisord_probe_targets_evicted_total ${probes.evicted}\n` +
    '# HELP supervisord_exporter_server_connections Connections the exporter holds to supervisord servers (every check and /probe target together).\n' +
    '# TYPE supervisord_exporter_server_connections gauge\n' +
    `supervisord_exporter_server_connections ${budget.total}\n`
  );
}

const EOF_LINE = Buffer.from('# EOF\n', 'latin1');

/**
 * A page with more families at its end (before OpenMetrics' `# EOF`), as the
 * parts to send: the shared page is never copied for one response.
 */
function withFamilies(page: Buffer, format: ExpositionFormat, families: string | undefined): Buffer | Buffer[] {
  if (families === undefined) return page;
  const body = format === 'openmetrics' && page.subarray(page.length - EOF_LINE.length).equals(EOF_LINE) ? page.subarray(0, page.length - EOF_LINE.length) : page;
  return format === 'openmetrics' ? [body, Buffer.from(families, 'utf8'), EOF_LINE] : [body, Buffer.from(families, 'utf8')];
}

/**
 * The exporter's client connections, at most `max`. Connections without a
 * request in progress (a head still arriving, or kept alive between
 * requests) are kept in arrival order; when a new connection finds every
 * slot taken, the oldest of them is closed to make room, so that slow or
 * silent clients cannot keep the scrapers out. A new connection is refused
 * only when every open one carries a request.
 */
class ClientConnections {
  readonly #max: number;
  /** Requests in progress per open connection. */
  readonly #open = new Map<Socket, number>();
  /** Open connections with no request in progress, the longest waiting first. */
  readonly #waiting = new Set<Socket>();

  constructor(max: number) {
    this.#max = max;
  }

  accept(socket: Socket): void {
    if (this.#open.size >= this.#max) {
      const oldest = this.#waiting.values().next().value;
      if (oldest === undefined) {
        socket.destroy();
        return;
      }
      this.#forget(oldest);
      oldest.destroy();
    }
    this.#open.set(socket, 0);
    this.#waiting.add(socket);
    socket.once('close', () => this.#forget(socket));
  }

  requestStarted(socket: Socket, res: ServerResponse): void {
    const active = this.#open.get(socket);
    if (active === undefined) return;
    this.#open.set(socket, active + 1);
    this.#waiting.delete(socket);
    res.once('close', () => {
      const now = this.#open.get(socket);
      if (now === undefined) return;
      this.#open.set(socket, now - 1);
      // Kept alive for a next request: it waits again, as the newest.
      if (now === 1) this.#waiting.add(socket);
    });
  }

  #forget(socket: Socket): void {
    this.#open.delete(socket);
    this.#waiting.delete(socket);
  }
}

function emptyResult(): CheckResult {
  return { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] };
}

function reply(res: ServerResponse, status: number, type: string, body: string | Buffer | readonly Buffer[], head = false): void {
  const parts = typeof body === 'string' ? [Buffer.from(body, 'utf8')] : Buffer.isBuffer(body) ? [body] : body;
  let length = 0;
  for (const part of parts) length += part.length;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': length });
  if (head) {
    res.end();
    return;
  }
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1]);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Scrapers keep connections alive; close() alone would wait for them.
    server.closeAllConnections();
  });
}
