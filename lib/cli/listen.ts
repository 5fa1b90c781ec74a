/**
 * `supervisord-check listen`: the event listener as a command, for an
 * `[eventlistener:x]` section of supervisord. Parses its own flags (the
 * server and check flags are the main command's, parsed by `cli/args.ts`),
 * seeds and resyncs through XML-RPC, and exports the state with the main
 * command's outputs: `--serve` (Prometheus, same names), `--dogstatsd` (plus
 * Datadog events), and JSON lines (`--jsonl`). With `--resources`, each
 * export of `--serve` and `--dogstatsd` also carries the processes'
 * resources, read from `/proc` then (`listener/resources.ts`).
 *
 * stdout belongs to the protocol: nothing else is ever written there. Logs go
 * to stderr, one line each, `supervisord-check listen: ...` (supervisord
 * keeps them in the listener's stderr log).
 *
 * @module
 */

import { createSocket } from 'node:dgram';
import { createWriteStream, fstatSync, statSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { createServer, isIPv6 } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { mainLogLimits } from '../collect.js';
import { resolveConfig } from '../config.js';
import { DEFAULT_RESYNC_MS, EventListener } from '../listener/listener.js';
import type { ExitStatusSource, ListenerAlert } from '../listener/listener.js';
import { MainLogExitSource } from '../listener/exit-source.js';
import { ListenerResources } from '../listener/resources.js';
import type { ListenerResourcesOptions } from '../listener/resources.js';
import { ListenerState } from '../listener/state.js';
import { formatDogStatsDEvent } from '../outputs/dogstatsd.js';
import type { CheckResult, ServerRun } from '../types.js';
import { instanceFromOptions, parseArgs, parseDuration, parseHostPort, UsageError } from './args.js';
import type { HostPort } from './args.js';
import { sendDogStatsD } from './dogstatsd.js';
import { EXIT_OK, exitForError } from './exits.js';
import { lineWriter } from './report.js';
import { readPassword } from './secrets.js';
import { serve } from './serve.js';
import { stopper } from './stopper.js';
import type { Stopper } from './stopper.js';
import { targetOf } from './target.js';

/**
 * Streams and hooks of {@link runListen}: those of the main command (the
 * same fields as `main()`'s, so that it passes its own), the input, and
 * where exit statuses come from.
 */
export interface ListenIo {
  /** Where the protocol's answers go. Default `process.stdout`; its `fd`, when it has one, is what `--jsonl` may not name. */
  stdout?: NodeJS.WritableStream & { fd?: number };
  /** Default `process.stderr`. */
  stderr?: NodeJS.WritableStream;
  /** Stops the listener like SIGINT/SIGTERM (which it listens to when this is absent). */
  signal?: AbortSignal;
  /** Socket paths tried when no server is named. */
  defaultSockets?: readonly string[];
  /** Called once `--serve` listens, with the bound address. */
  onListening?: (address: HostPort) => void;
  /** supervisord's envelopes. Default `process.stdin`; its `fd`, when it has one, is what `--jsonl` may not name either. */
  stdin?: NodeJS.ReadableStream & { fd?: number };
  /** How long `--serve` retries a port still held by the previous listener, ms. Default 10000. */
  portWaitMs?: number;
  /** Where the exit statuses supervisord's API no longer has are found. Default: its main log (`MainLogExitSource`), none with `--no-main-log`. */
  exitSource?: ExitStatusSource;
  /** For tests: how `--resources` reads `/proc` (see `ListenerResourcesOptions`). */
  resources?: Pick<ListenerResourcesOptions, 'read' | 'minIntervalMs'>;
}

/** The flags of `listen` itself. */
interface ListenFlags {
  serve?: HostPort;
  dogstatsd?: HostPort;
  intervalMs?: number;
  resyncMs: number;
  jsonl?: string;
  /** `--no-main-log`: never read supervisord's main log (the polling check's `read_main_log: false`). */
  noMainLog: boolean;
}

const PROGRAM = 'supervisord-check listen';
const DEFAULT_DOGSTATSD_INTERVAL_MS = 15_000;
const PORT_WAIT_MS = 10_000;
const PORT_RETRY_MS = 100;
/** Shortest `--resync`: each one lists every process, which costs supervisord most. */
const MIN_RESYNC_MS = 1000;
const OWN_FLAGS = new Set(['--serve', '--dogstatsd', '--interval', '--resync', '--jsonl']);
/** Flags of `listen` that take no value. */
const NO_MAIN_LOG = '--no-main-log';
/** Main-command flags that make no sense here. */
const REFUSED: Readonly<Record<string, string>> = {
  '--config': 'listen watches the supervisord that started it: give its server with --socket, --url or --host/--port (default: $SUPERVISOR_SERVER_URL)',
  '--format': 'listen writes only the event protocol on stdout: use --serve, --dogstatsd or --jsonl',
  '--no-color': 'listen has no text output',
};

/**
 * Runs the listener until its input ends (supervisord stops or restarts it)
 * or SIGINT/SIGTERM (or `io.signal`).
 *
 * @param argv the arguments after `listen`.
 * @param env `SUPERVISOR_SERVER_URL` (set by supervisord for its children),
 *   `SUPERVISOR_USERNAME` and `SUPERVISOR_PASSWORD` (supervisor's
 *   `childutils` convention), `SUPERVISORD_PASSWORD`.
 * @returns 0 after a clean end, 2 for bad flags, 3 for an internal error;
 *   never rejects.
 */
export async function runListen(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: ListenIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const say = lineWriter(stderr, PROGRAM);
  try {
    const end = argv.indexOf('--');
    const before = end < 0 ? argv : argv.slice(0, end);
    if (before.includes('--help') || before.includes('-h')) {
      // stdout is the protocol's when supervisord runs us; --help is for a terminal.
      stdout.write(LISTEN_HELP);
      return EXIT_OK;
    }
    const { flags, rest } = splitFlags(argv);
    if (flags.jsonl !== undefined) refuseOwnStreams(flags.jsonl, { stdout, stdin: io.stdin ?? process.stdin });
    const options = parseArgs(rest);
    if (options.command !== 'check') throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    const password = await readPassword(options, env, say);
    const target = targetOf(options, env, io.defaultSockets, say);
    // supervisor's childutils reads these for its listeners: accept them the same way.
    const envUser = env['SUPERVISOR_USERNAME'];
    const envPassword = env['SUPERVISOR_PASSWORD'];
    if (target.username === undefined && envUser !== undefined && envUser !== '') {
      target.username = envUser;
      if (envPassword !== undefined && envPassword !== '') target.password = envPassword;
    }
    const instance = { ...instanceFromOptions(options, target, password), collection: 'full', ...(flags.noMainLog ? { read_main_log: false } : {}) };
    const { config, credentials, tls, warnings } = resolveConfig(instance);
    if (options.resources === true && flags.serve === undefined && flags.dogstatsd === undefined) {
      throw new UsageError('--resources applies to --serve and --dogstatsd (JSON lines carry events, not samples)');
    }
    for (const warning of warnings) say(`warning: ${warning}`);
    const client = new XmlRpcClient(config.address, {
      ...(credentials === undefined ? {} : { username: credentials.username, password: credentials.password }),
      connectTimeoutMs: config.connectTimeoutMs,
      timeoutMs: config.timeoutMs,
      maxBodyBytes: config.maxResponseBytes,
      ...(tls === undefined ? {} : { tls: tls.clientOptions() }),
      // The listener only reads (a collection, one getProcessInfo per exit): a retry on a stale socket is safe.
      idempotent: true,
    });
    // The exit statuses supervisord's API no longer has (exits before startsecs, runs restarted since), from its main log.
    const exitSource = io.exitSource ?? (config.readMainLog ? new MainLogExitSource({ client, read: mainLogLimits(config.maxResponseBytes), log: say }) : undefined);
    try {
      const state = new ListenerState(config);
      const resources = config.collectResources ? new ListenerResources({ state, client, ...io.resources }) : undefined;
      await listen(flags, state, client, resources, { ...io, stdout, ...(exitSource === undefined ? {} : { exitSource }) }, say);
    } finally {
      await client.close();
    }
    return EXIT_OK;
  } catch (error) {
    return exitForError(error, say);
  }
}

/** Takes the flags of `listen` out of argv; the rest is for the main command's parser. */
function splitFlags(argv: readonly string[]): { flags: ListenFlags; rest: string[] } {
  const flags: ListenFlags = { resyncMs: DEFAULT_RESYNC_MS, noMainLog: false };
  const rest: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const refusal = REFUSED[flag];
    if (refusal !== undefined) throw new UsageError(`${flag} does not apply to listen: ${refusal}`);
    if (flag === NO_MAIN_LOG) {
      if (eq >= 0) throw new UsageError(`${NO_MAIN_LOG} takes no value`);
      if (flags.noMainLog) throw new UsageError(`${NO_MAIN_LOG} is given more than once`);
      flags.noMainLog = true;
      continue;
    }
    if (!OWN_FLAGS.has(flag)) {
      rest.push(arg);
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      value = next;
      i++;
    }
    if (seen.has(flag)) throw new UsageError(`${flag} is given more than once`);
    seen.add(flag);
    switch (flag) {
      case '--serve':
        flags.serve = parseHostPort(value, flag, 0);
        break;
      case '--dogstatsd':
        flags.dogstatsd = parseHostPort(value, flag, 1);
        break;
      case '--interval':
        flags.intervalMs = parseDuration(value, flag);
        break;
      case '--resync': {
        const ms = parseDuration(value, flag);
        if (ms < MIN_RESYNC_MS) throw new UsageError(`--resync must be at least 1s, got ${JSON.stringify(value)}`);
        flags.resyncMs = ms;
        break;
      }
      default:
        if (value === '') throw new UsageError('--jsonl needs stderr or a file path');
        flags.jsonl = value;
    }
  }
  if (flags.intervalMs !== undefined && flags.dogstatsd === undefined) {
    throw new UsageError('--interval applies only to --dogstatsd (how often the whole state is sent)');
  }
  if (flags.serve === undefined && flags.dogstatsd === undefined && flags.jsonl === undefined) {
    throw new UsageError('listen needs an output: --serve HOST:PORT, --dogstatsd HOST:PORT and/or --jsonl stderr|FILE');
  }
  return { flags, rest };
}

/** The listener and its outputs, until the input ends or a stop signal. */
async function listen(
  flags: ListenFlags,
  state: ListenerState,
  client: XmlRpcClient,
  resources: ListenerResources | undefined,
  io: ListenIo & { stdout: NodeJS.WritableStream },
  say: (line: string) => void,
): Promise<void> {
  const jsonl = openJsonl(flags.jsonl, io.stderr ?? process.stderr);
  const alerts = flags.dogstatsd === undefined ? undefined : alertSender(flags.dogstatsd, state, say);
  const listener = new EventListener({
    state,
    client,
    input: io.stdin ?? process.stdin,
    output: io.stdout,
    resyncMs: flags.resyncMs,
    log: say,
    ...(jsonl === undefined ? {} : { jsonl: jsonl.write }),
    ...(alerts === undefined ? {} : { onAlert: alerts.send }),
    ...(io.exitSource === undefined ? {} : { exitSource: io.exitSource }),
  });
  // Stops on the caller's signal (or SIGINT/SIGTERM) and when supervisord closes our input.
  const outer = stopper(io.signal);
  const inner = new AbortController();
  void outer.promise.then(() => inner.abort());
  void listener.done.then(() => inner.abort());
  const stop = stopper(inner.signal);
  listener.start();
  try {
    const outputs: Array<Promise<void>> = [];
    if (flags.serve !== undefined) {
      const where = flags.serve;
      outputs.push(
        (async () => {
          await portFree(where, io.portWaitMs ?? PORT_WAIT_MS, stop);
          if (stop.stopped) return;
          const { config } = state;
          const placeholder = { name: config.name, target: config.address.display, tags: config.instanceTags, result: state.result() };
          // The state is in memory: every scrape reads it afresh (no reuse window), so a transition is visible at once.
          await serve({
            where,
            source: { servers: [placeholder], run: exporter(state, resources) },
            modules: new Map(),
            minIntervalMs: 0,
            stop,
            onListening: io.onListening,
            say,
          });
        })(),
      );
    }
    if (flags.dogstatsd !== undefined) {
      outputs.push(sendDogStatsD(flags.dogstatsd, flags.intervalMs ?? DEFAULT_DOGSTATSD_INTERVAL_MS, exporter(state, resources), stop, say));
    }
    // An output that cannot start (port taken for good) ends the listener: supervisord restarts it and says so.
    await Promise.all(outputs.map((o) => o.catch((error: unknown) => {
      inner.abort();
      throw error;
    })));
    await stop.promise;
  } finally {
    listener.stop();
    await listener.done;
    outer.dispose();
    stop.dispose();
    await alerts?.close();
    await jsonl?.close();
  }
}

/**
 * A `runAll` for the main command's outputs: the state as one run, with its
 * count totals turned into the deltas since this exporter's previous call
 * (what `serve()` sums into Prometheus counters and DogStatsD sends as `|c`),
 * then the processes' resources when they are read.
 */
function exporter(state: ListenerState, resources: ListenerResources | undefined): () => Promise<ServerRun[]> {
  const cursor = state.cursor();
  const last = new Map<string, number>();
  const { config } = state;
  return async () => {
    const result = state.result(cursor);
    deltas(result, last);
    if (resources !== undefined) {
      const read = await resources.collect();
      // Nine per process: no spread (tens of thousands of arguments).
      for (const metric of read.metrics) result.metrics.push(metric);
      result.warnings.push(...read.warnings);
    }
    return [{ name: config.name, target: config.address.display, tags: config.instanceTags, result, statusMapping: config.statusMapping }];
  };
}

/** Replaces each count's total by its increase since `last` saw it; series gone from the result are forgotten. */
function deltas(result: CheckResult, last: Map<string, number>): void {
  const seen = new Set<string>();
  for (const metric of result.metrics) {
    if (metric.type !== 'count') continue;
    const key = `${metric.name}\u0000${metric.tags.join('\u0000')}`;
    seen.add(key);
    const before = last.get(key) ?? 0;
    last.set(key, metric.value);
    // A process removed and added again starts from 0.
    metric.value = metric.value >= before ? metric.value - before : metric.value;
  }
  for (const key of last.keys()) if (!seen.has(key)) last.delete(key);
}

/**
 * Waits until `where` can be bound: after a reload supervisord starts the new
 * listener while the old one may still hold the port for a moment.
 * Gives up silently after `waitMs` (`serve()` then reports the error).
 */
async function portFree(where: HostPort, waitMs: number, stop: Stopper): Promise<void> {
  if (where.port === 0) return;
  const deadline = Date.now() + waitMs;
  while (!stop.stopped) {
    const problem = await new Promise<string | undefined>((resolve) => {
      const probe = createServer();
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      probe.listen(where.port, where.host, () => probe.close(() => resolve(undefined)));
    });
    if (problem !== 'EADDRINUSE' || Date.now() >= deadline) return;
    await Promise.race([delay(PORT_RETRY_MS), stop.promise]);
  }
}

/**
 * Refuses a `--jsonl` file that is this listener's stdout or stdin: JSON
 * lines on stdout would reach supervisord as answers (it then stops sending
 * events for good), on stdin they would come back as input. Compares device
 * and inode, so `/dev/stdout`, `/proc/self/fd/1`, `/dev/fd/0` and the
 * path of a file or pipe the stream is are all caught. A path that does
 * not exist yet is a new file, nobody's stream.
 *
 * @throws {UsageError} naming the stream.
 */
function refuseOwnStreams(path: string, streams: Readonly<Record<'stdout' | 'stdin', { fd?: number }>>): void {
  if (path === 'stderr' || path === '-') return;
  let target: { dev: number; ino: number };
  try {
    target = statSync(path);
  } catch {
    return;
  }
  for (const [name, stream] of Object.entries(streams)) {
    if (typeof stream.fd !== 'number') continue;
    let own: { dev: number; ino: number };
    try {
      own = fstatSync(stream.fd);
    } catch {
      continue;
    }
    if (own.dev === target.dev && own.ino === target.ino) {
      throw new UsageError(`--jsonl ${JSON.stringify(path)} is this listener's ${name}, which carries supervisord's event protocol: use --jsonl stderr or another file`);
    }
  }
}

/** `--jsonl stderr` or `--jsonl FILE` (appended to). */
function openJsonl(where: string | undefined, stderr: NodeJS.WritableStream): { write: (record: Record<string, unknown>) => void; close: () => Promise<void> } | undefined {
  if (where === undefined) return undefined;
  if (where === 'stderr' || where === '-') {
    return { write: (record) => void stderr.write(`${JSON.stringify(record)}\n`), close: async () => {} };
  }
  const file: WriteStream = createWriteStream(where, { flags: 'a' });
  let failed: string | undefined;
  file.on('error', (error) => {
    failed = error.message;
  });
  return {
    write: (record) => {
      if (failed !== undefined) throw new Error(`--jsonl ${where}: ${failed}`);
      file.write(`${JSON.stringify(record)}\n`);
    },
    close: () => new Promise<void>((resolve) => file.end(() => resolve())),
  };
}

/** Datadog events (`_e{...}`, alert type error) for unexpected exits, FATAL and BACKOFF, sent at once. */
function alertSender(where: HostPort, state: ListenerState, say: (line: string) => void): { send: (alert: ListenerAlert) => void; close: () => Promise<void> } {
  const socket = createSocket(isIPv6(where.host) ? 'udp6' : 'udp4');
  socket.on('error', () => {});
  let lastError = '';
  const { config } = state;
  return {
    send: (alert) => {
      const status = alert.exitstatus === undefined ? 'exit status unknown' : alert.signal === undefined ? `exit status ${alert.exitstatus}` : `killed by ${alert.signal}`;
      const what = alert.to === 'EXITED' ? 'exited unexpectedly' : `is ${alert.to}`;
      const text = [
        `supervisord ${config.name}: process ${alert.name} (group ${alert.group}) went from ${alert.from} to ${alert.to}, ${status}${alert.signal === undefined ? '' : ` (exit status ${String(alert.exitstatus)})`}.`,
        ...(alert.spawnerr === '' ? [] : [`Spawn error: ${alert.spawnerr}`]),
      ].join('\n');
      const datagram = formatDogStatsDEvent({
        title: `${alert.name} ${what} (${status})`,
        text,
        alertType: 'error',
        aggregationKey: `supervisord:${config.name}:${alert.group}:${alert.name}`,
        sourceType: 'supervisord',
        tags: [...config.instanceTags, `supervisord_process:${alert.name}`, `supervisord_group:${alert.group}`, `to_state:${alert.to}`],
      });
      socket.send(Buffer.from(datagram, 'utf8'), where.port, where.host, (error) => {
        const message = error === null ? '' : error.message;
        if (message !== lastError) say(message === '' ? 'DogStatsD events are sent again' : `cannot send a DogStatsD event: ${message}`);
        lastError = message;
      });
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** The `listen --help` text. */
export const LISTEN_HELP = `Usage: supervisord-check listen [options]

Runs as a supervisord event listener (protocol 3.0): keeps every process's
state from the events, counts every transition and exit, and exports them.
Configure it in supervisord:

  [eventlistener:supervisord-check]
  command=supervisord-check listen --serve 127.0.0.1:9876
  events=PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5,REMOTE_COMMUNICATION
  buffer_size=10000
  stderr_logfile=/var/log/supervisor/supervisord-check.log

buffer_size: at least 5 events per program (a restart of every program
queues 4 each). Events supervisord discards are counted
(supervisord_listener_events_lost_total) and make it compare with
supervisord's own list at once. REMOTE_COMMUNICATION carries the marker that
places each listing exactly among the events.

Outputs (at least one):
  --serve HOST:PORT        serve /metrics (Prometheus), the polling
                           exporter's names plus the event counts
  --dogstatsd HOST:PORT    DogStatsD: the whole state every --interval
                           (default 15s), Datadog events at once on an
                           unexpected exit, FATAL or BACKOFF
  --jsonl stderr|FILE      one JSON line per event, exit status, lost
                           events and resync (not stdout: the protocol's)

State:
  --resync 10m             compare with supervisord's own list this often
                           (and log and count any drift); also at once
                           after lost events or a new group
  --no-main-log            never read supervisord's main log: the exit
                           statuses its API no longer has (an exit before
                           startsecs, a run restarted since) are unknown

Server (default: $SUPERVISOR_SERVER_URL, which supervisord sets for its
listeners), credentials, filters, --name, --tag, --timeout: as for
supervisord-check (see supervisord-check --help); SUPERVISOR_USERNAME and
SUPERVISOR_PASSWORD are read as supervisor's childutils does.

  --resources              with --serve or --dogstatsd: each running
                           process's CPU, memory, descriptors and threads
                           (and its tree's), read from /proc at each
                           export; needs the server on this host (a unix
                           socket or a loopback address)

stdout carries only the protocol. Logs go to stderr. Ends when supervisord
closes its input, or on SIGINT/SIGTERM, with exit code 0; 2 for bad flags.
`;
