#!/usr/bin/env node
/**
 * `supervisord-check`: the command line. Parses the flags (`cli-args.ts`),
 * builds one check instance per server, then runs once, every `--interval`,
 * per scrape (`--serve`) or per interval to a DogStatsD server
 * (`--dogstatsd`), writing one of the output formats of `outputs/`.
 *
 * Decisions (the reference has no command line):
 * - default `--format`: `text` when stdout is a terminal, `json` otherwise
 *   (a pipe is usually a program);
 * - `--interval` with `json` writes one compact JSON document per line
 *   (JSON Lines), so that a reader can split the runs; `text` starts each run
 *   with a `--- <local time> ---` line; `prometheus` separates expositions by
 *   a blank line;
 * - `--config` always writes JSON as `{ "results": [{ "instance": name,
 *   ...result }] }`, even for one instance, so that its shape does not depend
 *   on the file's length; the flags write the bare result;
 * - exit codes of a single run (Nagios style): 0 every service check OK;
 *   1 any WARNING or UNKNOWN; 2 any CRITICAL or an error in a run (an XML-RPC
 *   fault has no service check but is a failure), and also bad flags or
 *   configuration; 3 an internal error. The long-running modes exit 0 after
 *   SIGINT/SIGTERM;
 * - `--password-file` and `SUPERVISORD_PASSWORD` are used only with a user
 *   name (flags) and, with `--config`, fill in the password of instances that
 *   have a user and no password;
 * - `prometheus` and `dogstatsd` cannot carry the runs' errors and warnings:
 *   they go to stderr (in the long-running modes, only when they change);
 * - the executable stops its long-running modes as on SIGTERM when the
 *   reader of stdout goes away (`| head`).
 * - a single run with `--state-file` (or `state_file`) restores each
 *   server's state before its run and saves it after its output
 *   (`state-file.ts`); an instance's `state_file` wins over the flag.
 *
 * main() releases every handle it opens on every path, so that both the
 * executable and an in-process caller end by themselves.
 *
 * @module
 */

import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SupervisordCheck } from '../check.js';
import { CheckGroup } from '../check-all.js';
import { HELP_TEXT, instanceFromOptions, parseArgs, UsageError } from './args.js';
import type { CliOptions, HostPort, OutputFormat } from './args.js';
import { ConfigFileError, holdsPassword, parseConfigFile } from '../config-file/load.js';
import { ConfigError } from '../errors.js';
import { formatDogStatsD } from '../outputs/dogstatsd.js';
import { CounterTotals, formatPrometheus } from '../outputs/prometheus.js';
import type { InstanceConfig, OutputRun, ServerRun } from '../types.js';
import { formatText } from '../outputs/text.js';
import { formatLocalTime } from '../submissions.js';
import { sendDogStatsD } from './dogstatsd.js';
import { EXIT_CRITICAL, EXIT_OK, EXIT_WARNING, exitForError, failIfNoMatch } from './exits.js';
import { errorLog, lineWriter } from './report.js';
import { readConfigText, readPassword, warnAboutMode } from './secrets.js';
import { DEFAULT_SOCKETS, targetOf } from './target.js';
import { ConnectionBudget } from '../../protocol/connection-budget.js';
import { parseModules } from './probe.js';
import type { ProbeModule } from './probe.js';
import { serve, serverRun } from './serve.js';
import { stopper } from './stopper.js';

/** A writable stream as the CLI uses it (`process.stdout` or a test's capture). */
export type CliStream = NodeJS.WritableStream & { isTTY?: boolean };

/** Where main() writes and what stops it; every field has a default. */
export interface CliIo {
  /** Default `process.stdout`. Its `isTTY` selects the default format and colours. */
  stdout?: CliStream;
  /** Default `process.stderr`. */
  stderr?: CliStream;
  /**
   * Stops the long-running modes like SIGINT/SIGTERM. When absent, main()
   * listens to SIGINT and SIGTERM itself while a long-running mode runs.
   */
  signal?: AbortSignal;
  /** Socket paths tried when no server is named (default {@link DEFAULT_SOCKETS}). */
  defaultSockets?: readonly string[];
  /**
   * Called once `--serve` listens, with the bound address (useful with port
   * 0); the address is also printed on stderr.
   */
  onListening?: (address: HostPort) => void;
}

/** `--dogstatsd` sends this often unless `--interval` says otherwise. */
const DEFAULT_DOGSTATSD_INTERVAL_MS = 15_000;

const PROGRAM = 'supervisord-check';

/**
 * Runs the command line.
 *
 * @param argv the arguments without `node` and the script.
 * @param env the environment (`SUPERVISORD_PASSWORD`, `SUPERVISOR_SERVER_URL`,
 *   `NO_COLOR`). Default `process.env`.
 * @param io streams, stop signal and test hooks; see {@link CliIo}.
 * @returns the exit code; never rejects. Problems are reported on stderr as
 *   one line `supervisord-check: <problem>`.
 */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  io: CliIo = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const say = lineWriter(stderr, PROGRAM);
  try {
    if (argv[0] === 'listen') {
      // A command of its own (the event listener), with its own flags.
      const { runListen } = await import('./listen.js');
      return await runListen(argv.slice(1), env, io);
    }
    const options = parseArgs(argv);
    if (options.command === 'help') {
      stdout.write(HELP_TEXT);
      return EXIT_OK;
    }
    if (options.command === 'version') {
      stdout.write(`${await packageVersion()}\n`);
      return EXIT_OK;
    }
    if (options.command === 'demo') {
      if (options.demoArgs.length > 0) throw new UsageError(`demo takes no arguments, got ${JSON.stringify(options.demoArgs[0])}`);
      const { runDemo } = await import('../demo/demo.js');
      return await runDemo({ stdout, stderr, env: env as NodeJS.ProcessEnv, ...(io.signal === undefined ? {} : { signal: io.signal }) });
    }
    // The exporter's connections to each supervisord, all checks and /probe targets together.
    const connections = options.serve === undefined ? undefined : new ConnectionBudget({ maxPerAddress: options.maxServerConnections });
    const { checks, modules } = await createChecks(options, env, io, say, connections);
    try {
      return await runMode(options, checks, modules, env, io, stdout, say, connections);
    } finally {
      await Promise.all(checks.map((c) => c.close()));
    }
  } catch (error) {
    if (wantsNagios(argv)) return nagiosFailure(error, stdout);
    return exitForError(error, say);
  }
}

/** Whether the arguments ask for `--format nagios` (looked at before, or without, a successful parse). */
function wantsNagios(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  return flags.some((arg, i) => arg === '--format=nagios' || (arg === '--format' && flags[i + 1] === 'nagios'));
}

/**
 * A command that asked for `--format nagios` and failed before or outside
 * its run: UNKNOWN (exit 3) with the reason on stdout, where a monitoring
 * system reads it, for bad flags or configuration as for an internal error.
 */
async function nagiosFailure(error: unknown, stdout: CliStream): Promise<number> {
  const { nagiosUnknown } = await import('../outputs/nagios.js');
  const usage = error instanceof UsageError || error instanceof ConfigError;
  const message = error instanceof Error ? error.message : String(error);
  const report = nagiosUnknown(usage ? message : `internal error: ${message}`);
  stdout.write(report.output);
  return report.state;
}

async function createChecks(
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  say: (line: string) => void,
  connections: ConnectionBudget | undefined,
): Promise<{ checks: SupervisordCheck[]; modules: Map<string, ProbeModule> }> {
  const password = await readPassword(options, env, say);
  let instances: unknown[];
  let modules = new Map<string, ProbeModule>();
  if (options.config !== undefined) {
    const config = await readConfig(options.config, password, say);
    instances = config.instances;
    if (config.modules !== undefined) {
      if (options.serve === undefined) throw new UsageError(`--config ${options.config}: "modules" serve /probe, which needs --serve`);
      modules = parseModules(config.modules, `--config ${options.config}`);
    }
  } else {
    const target = targetOf(options, env, io.defaultSockets, say);
    if (password !== undefined && options.username === undefined && target.username === undefined && options.passwordFile !== undefined) {
      throw new UsageError('--password-file needs --username (or a user in --url)');
    }
    instances = [instanceFromOptions(options, target, password)];
  }
  const checks: SupervisordCheck[] = [];
  for (let i = 0; i < instances.length; i++) {
    try {
      // Data from the file or the flags: the constructor validates every key (a ConfigError names the one at fault).
      // The exposition of --serve drops service-check messages: they are not built.
      checks.push(
        new SupervisordCheck(instances[i] as InstanceConfig, {
          oneShot: isSingleRun(options),
          ...(connections === undefined ? {} : { connections }),
          ...(options.serve === undefined ? {} : { messages: false }),
        }),
      );
    } catch (error) {
      await Promise.all(checks.map((c) => c.close()));
      if (error instanceof ConfigError && options.config !== undefined) {
        throw new ConfigError(`--config ${options.config}: instance ${i + 1}: ${error.message}`);
      }
      throw error;
    }
  }
  // The name is every series' supervisord_server label: two instances with one name would export as one.
  const first = new Map<string, number>();
  for (const [i, check] of checks.entries()) {
    const earlier = first.get(check.config.name);
    if (earlier !== undefined) {
      await Promise.all(checks.map((c) => c.close()));
      throw new ConfigError(
        `--config ${options.config}: instance ${i + 1}: the name ${JSON.stringify(check.config.name)} is already that of instance ${earlier}: names must be unique`,
      );
    }
    first.set(check.config.name, i + 1);
  }
  return { checks, modules };
}

/**
 * The instances and the `/probe` modules of `--config FILE` (the Datadog
 * Agent's conf.yaml, or JSON), with the password filled in where a user has
 * none. A file that holds a password and that other users can read gets the
 * warning `--password-file` gets.
 */
async function readConfig(
  file: string,
  password: string | undefined,
  say: (line: string) => void,
): Promise<{ instances: unknown[]; modules: unknown }> {
  const { text, mode } = await readConfigText(file);
  let instances: unknown[];
  let modules: unknown;
  try {
    ({ instances, modules } = parseConfigFile(text, `--config ${file}`));
  } catch (error) {
    if (error instanceof ConfigFileError) throw new UsageError(error.message);
    throw error;
  }
  const moduleList = typeof modules === 'object' && modules !== null ? Object.values(modules) : [];
  warnAboutMode(file, '--config', mode, instances.some(holdsPassword) || moduleList.some(holdsPassword), say);
  const filled = (instance: unknown): unknown => {
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) return instance;
    const copy = { ...(instance as Record<string, unknown>) };
    const hasUser = isSet(copy['username']) || isSet(copy['user']);
    const hasPassword = isSet(copy['password']) || isSet(copy['pass']);
    if (password !== undefined && hasUser && !hasPassword) copy['password'] = password;
    return copy;
  };
  const moduleSettings =
    typeof modules === 'object' && modules !== null && !Array.isArray(modules)
      ? Object.fromEntries(Object.entries(modules).map(([name, settings]) => [name, filled(settings)]))
      : modules;
  return { instances: instances.map(filled), modules: moduleSettings };
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/**
 * Runs every check (at most 8 at a time, {@link CheckGroup}'s default) and
 * pairs each result with its server. `stop()` makes a run in progress start
 * no further check: after a stop, main() closes the checks, and a check
 * started later would open a new connection that nothing closes.
 */
function runner(checks: readonly SupervisordCheck[]): { runAll: () => Promise<ServerRun[]>; stop: () => void } {
  // The checks are ours and closed by main(); the group only schedules them (its close() closes none of them).
  const group = new CheckGroup(checks);
  const runAll = async (): Promise<ServerRun[]> => (await group.run()).map((entry, i) => serverRun(checks[i]!, entry.result));
  return { runAll, stop: () => void group.close() };
}

async function runMode(
  options: CliOptions,
  checks: readonly SupervisordCheck[],
  modules: ReadonlyMap<string, ProbeModule>,
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  stdout: CliStream,
  say: (line: string) => void,
  connections: ConnectionBudget | undefined,
): Promise<number> {
  const tty = stdout.isTTY === true;
  const format: OutputFormat = options.format ?? (tty ? 'text' : 'json');
  const color = tty && options.color && (env['NO_COLOR'] ?? '') === '';
  const counters = new CounterTotals();
  /** With state files: each server's counter totals, kept between invocations. */
  let stateCounters: ((run: OutputRun) => CounterTotals | undefined) | undefined;
  const render = (runs: ServerRun[], repeated: boolean): string => {
    switch (format) {
      case 'text':
        return `${repeated ? `--- ${formatLocalTime(Date.now() / 1000)} ---\n` : ''}${formatText(runs, { color })}`;
      case 'json': {
        const value = options.config === undefined ? runs[0]!.result : { results: runs.map((r) => ({ instance: r.name, ...r.result })) };
        return `${JSON.stringify(value, null, repeated ? undefined : 2)}\n`;
      }
      case 'prometheus':
        return `${repeated ? '\n' : ''}${formatPrometheus(runs, { counters: stateCounters ?? counters })}`;
      default: {
        const lines = formatDogStatsD(runs);
        return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
      }
    }
  };
  // Machine formats cannot carry errors and warnings (text and json do): they go to stderr.
  const reportErrors = format === 'prometheus' || format === 'dogstatsd';
  const { runAll, stop: stopRuns } = runner(checks);

  if (isSingleRun(options)) {
    const configDirectory = options.config === undefined ? process.cwd() : dirname(resolve(options.config));
    // Loaded only when a state file is asked for (it loads node:crypto and node:os).
    const wanted = options.stateFile !== undefined || checks.some((c) => c.config.stateFile !== undefined);
    const states = wanted ? await (await import('./state-file.js')).StateSession.open(checks, { option: options.stateFile, configDirectory }, say) : undefined;
    if (states !== undefined) stateCounters = (run) => states.countersFor(run);
    if (format === 'nagios') {
      const code = await runNagios(options, checks, runAll, stdout);
      await states?.save();
      return code;
    }
    const runs = await runAll();
    stdout.write(render(runs, false));
    if (reportErrors) errorLog(say)(runs);
    await states?.save();
    return options.failIfNoMatch === true ? failIfNoMatch(runs, exitCode(runs), say) : exitCode(runs);
  }
  const unused = checks.find((c) => c.config.stateFile !== undefined);
  if (unused !== undefined) say(`warning: 'state_file' (instance ${JSON.stringify(unused.config.name)}) applies to single runs only: not used by a long-running mode`);

  const stop = stopper(io.signal);
  try {
    if (options.serve !== undefined) {
      await serve({
        where: options.serve,
        checks,
        modules,
        stop,
        onListening: io.onListening,
        say,
        ...(options.minIntervalMs === undefined ? {} : { minIntervalMs: options.minIntervalMs }),
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        ...(options.probeMaxTargets === undefined ? {} : { probeMaxTargets: options.probeMaxTargets }),
        ...(connections === undefined ? {} : { connections }),
      });
      return EXIT_OK;
    }
    if (options.dogstatsd !== undefined) {
      await sendDogStatsD(options.dogstatsd, options.intervalMs ?? DEFAULT_DOGSTATSD_INTERVAL_MS, runAll, stop, say);
      return EXIT_OK;
    }
    let first = true;
    const log = errorLog(say);
    while (!stop.stopped) {
      const runs = await Promise.race([runAll(), stop.promise]);
      if (runs === undefined) break;
      stdout.write(render(runs, format !== 'prometheus' || !first));
      first = false;
      if (reportErrors) log(runs);
      await stop.sleep(options.intervalMs!);
    }
    return EXIT_OK;
  } finally {
    stop.dispose();
    stopRuns();
  }
}

/** One run and exit (no `--serve`, `--dogstatsd` or `--interval`). */
function isSingleRun(options: CliOptions): boolean {
  return options.serve === undefined && options.dogstatsd === undefined && options.intervalMs === undefined;
}

/**
 * `--format nagios`: one run, judged by the Monitoring Plugins rules; the
 * exit code is the plugin's state. The format is loaded only here.
 */
async function runNagios(
  options: CliOptions,
  checks: readonly SupervisordCheck[],
  runAll: () => Promise<ServerRun[]>,
  stdout: CliStream,
): Promise<number> {
  const { formatNagios } = await import('../outputs/nagios.js');
  const runs = await runAll();
  const filtered = (c: SupervisordCheck): boolean =>
    c.config.procNames.length + c.config.procRegex.length + c.config.procNamesExclude.length + c.config.procRegexExclude.length > 0;
  const report = formatNagios(
    runs.map((run, i) => ({ ...run, filtered: filtered(checks[i]!) })),
    options.nagios ?? {},
  );
  stdout.write(report.output);
  return report.state;
}

/**
 * The exit code of a single run (Nagios style): 2 when any service check is
 * CRITICAL or any run has an error, else 1 when any is WARNING or UNKNOWN, else 0.
 */
export function exitCode(runs: readonly ServerRun[]): number {
  let code = EXIT_OK;
  for (const { result } of runs) {
    if (result.errors.length > 0) return EXIT_CRITICAL;
    for (const check of result.serviceChecks) {
      if (check.status === 2) return EXIT_CRITICAL;
      if (check.status !== 0) code = EXIT_WARNING;
    }
  }
  return code;
}

/** The version in the package.json nearest above this file (dist/lib/cli/main.js -> ../../package.json). */
async function packageVersion(): Promise<string> {
  let url = new URL('./', import.meta.url);
  for (let level = 0; level < 5; level++) {
    url = new URL('../', url);
    try {
      const pkg = JSON.parse(await readFile(new URL('package.json', url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'supervisord-check' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: keep going up
    }
  }
  throw new Error('package.json of supervisord-check not found above the executable');
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npm links the bin: compare the real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  // `supervisord-check --interval 5s | head`: once the reader is gone, stop as on SIGTERM (a no-op for a single run).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.emit('SIGTERM', 'SIGTERM');
  });
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
