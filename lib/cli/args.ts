/**
 * The command line of `supervisord-check`, parsed and validated without any
 * I/O: flags to {@link CliOptions}, and options to a check instance with the
 * reference's keys. Reading files, the environment and the file system is
 * `cli.ts`'s job.
 *
 * @module
 */

import { parseAddress } from '../../protocol/address.js';
import { AddressError } from '../../protocol/errors.js';
import { reservedTagProblem } from '../config.js';
import { parseRange } from '../outputs/nagios-range.js';
import type { InstanceConfig, MappedStatus } from '../types.js';

/**
 * The command line cannot be used: unknown flag, missing or malformed value,
 * flags that contradict each other. The CLI prints the message as
 * `supervisord-check: <message>` and exits with code 2. A message never
 * contains a password.
 */
export class UsageError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_USAGE' as const;

  override get name(): string {
    return 'UsageError';
  }
}

/** Output formats of `--format`. */
export type OutputFormat = 'text' | 'json' | 'prometheus' | 'dogstatsd' | 'nagios';

/** A `host:port` flag value. IPv6 hosts are bare (`::1`), without brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/** What the command line asks for. */
export interface CliOptions {
  /** `check` (the default), `help`, `version`, or `demo` (first argument `demo`). */
  command: 'check' | 'help' | 'version' | 'demo';
  /** Arguments after `demo`, for the demo itself. */
  demoArgs: string[];
  /** `--socket`, normalised to `unix:///abs/path`. */
  socket?: string;
  host?: string;
  port?: number;
  url?: string;
  /** `--tls-ca`: PEM CA file for an https server (instance key `tls_ca`). */
  tlsCa?: string;
  /** `--tls-cert`: PEM client certificate (instance key `tls_cert`), with `tlsKey`. */
  tlsCert?: string;
  /** `--tls-key`: PEM private key of `tlsCert` (instance key `tls_key`). */
  tlsKey?: string;
  /** `--insecure`: do not verify an https server's certificate (instance key `tls_verify: false`). Set only when given. */
  insecure?: true;
  /** `--resources`: read each process's CPU, memory, descriptors and threads from /proc (instance key `collect_resources`). Set only when given. */
  resources?: true;
  username?: string;
  passwordFile?: string;
  name?: string;
  procNames: string[];
  procRegex: string[];
  procNamesExclude: string[];
  procRegexExclude: string[];
  /** `--status-mapping STATE=status` pairs, in order. */
  statusMapping: Array<[string, string]>;
  tags: string[];
  /** `--timeout`, in seconds. */
  timeoutSeconds?: number;
  config?: string;
  format?: OutputFormat;
  /** `--interval`, in milliseconds. */
  intervalMs?: number;
  serve?: HostPort;
  dogstatsd?: HostPort;
  /** `--min-interval` (`--serve`), in milliseconds; 0 allowed. */
  minIntervalMs?: number;
  /** `--max-connections` (`--serve`). */
  maxConnections?: number;
  /** `--probe-max-targets` (`--serve`). */
  probeMaxTargets?: number;
  /** `--max-server-connections` (`--serve`): most connections to one supervisord, all checks together. */
  maxServerConnections?: number;
  /** False with `--no-color`. */
  color: boolean;
  /** `--fail-if-no-match`: a single run whose include filters matched no process exits 2. Set only when given. */
  failIfNoMatch?: true;
  /** `--state-file`: a file (one server) or a directory (one file per server) where a single run keeps what the next one needs. */
  stateFile?: string;
  /** `--format nagios`: thresholds (ranges as given) and `--perfdata-uptime`. */
  nagios?: NagiosFlags;
}

/** The flags of `--format nagios`; a count without flags keeps the format's default thresholds. */
export interface NagiosFlags {
  down?: { warning?: string; critical?: string };
  unknown?: { warning?: string; critical?: string };
  uptime?: true;
}

const FORMATS: readonly OutputFormat[] = ['text', 'json', 'prometheus', 'dogstatsd', 'nagios'];

/** Flags that tune `--serve` (applied by {@link applyServeFlag}). */
const SERVE_FLAGS: Readonly<Record<string, { repeat: boolean }>> = Object.freeze({
  '--min-interval': { repeat: false },
  '--max-connections': { repeat: false },
  '--probe-max-targets': { repeat: false },
  '--max-server-connections': { repeat: false },
});

/**
 * Threshold flags of `--format nagios` (applied by {@link applyNagiosFlag}):
 * the count and the threshold each sets. `--warning`/`--critical` (and
 * `-w`/`-c`, as Monitoring Plugins spell them) are the down count's.
 */
const NAGIOS_FLAGS: Readonly<Record<string, { count: 'down' | 'unknown'; level: 'warning' | 'critical' }>> = Object.freeze({
  '--warning': { count: 'down', level: 'warning' },
  '--critical': { count: 'down', level: 'critical' },
  '--warning-down': { count: 'down', level: 'warning' },
  '--critical-down': { count: 'down', level: 'critical' },
  '--warning-unknown': { count: 'unknown', level: 'warning' },
  '--critical-unknown': { count: 'unknown', level: 'critical' },
});
const NAGIOS_ALIASES: Readonly<Record<string, string>> = Object.freeze({ '-w': '--warning', '-c': '--critical' });

/** Flags taking a value; `repeat` ones may be given several times. */
const VALUE_FLAGS: Readonly<Record<string, { repeat: boolean }>> = Object.freeze({
  '--socket': { repeat: false },
  '--host': { repeat: false },
  '--port': { repeat: false },
  '--url': { repeat: false },
  '--tls-ca': { repeat: false },
  '--tls-cert': { repeat: false },
  '--tls-key': { repeat: false },
  '--username': { repeat: false },
  '--password-file': { repeat: false },
  '--name': { repeat: false },
  '--proc-names': { repeat: true },
  '--proc-regex': { repeat: true },
  '--proc-names-exclude': { repeat: true },
  '--proc-regex-exclude': { repeat: true },
  '--status-mapping': { repeat: true },
  '--tag': { repeat: true },
  '--timeout': { repeat: false },
  '--config': { repeat: false },
  '--format': { repeat: false },
  '--interval': { repeat: false },
  '--serve': { repeat: false },
  '--dogstatsd': { repeat: false },
  '--state-file': { repeat: false },
  ...SERVE_FLAGS,
  ...Object.fromEntries(Object.keys(NAGIOS_FLAGS).map((f) => [f, { repeat: false }])),
});

/** Flags of an https server; the server they apply to may come from the environment. */
const TLS_FLAGS = ['--tls-ca', '--tls-cert', '--tls-key', '--insecure'];

/** Flags that describe one instance, which `--config` describes instead. */
const INSTANCE_FLAGS = [
  '--socket',
  '--host',
  '--port',
  '--url',
  '--tls-ca',
  '--tls-cert',
  '--tls-key',
  '--insecure',
  '--resources',
  '--username',
  '--name',
  '--proc-names',
  '--proc-regex',
  '--proc-names-exclude',
  '--proc-regex-exclude',
  '--status-mapping',
  '--tag',
  '--timeout',
];

const PASSWORD_REFUSAL =
  '--password is not accepted: a password on the command line is visible to every user of the machine ' +
  '(ps, /proc) and stays in the shell history; put it in a file readable only by you and pass ' +
  '--password-file FILE, or set SUPERVISORD_PASSWORD';

/** Shortest `--interval`: a check every few milliseconds would only load supervisord. */
const MIN_INTERVAL_MS = 100;
/** Longest `--interval` and `--timeout` (one day; also below setTimeout's 2^31 ms ceiling). */
const MAX_DURATION_MS = 86_400_000;

/**
 * Parses the arguments (without `node` and the script).
 *
 * `--flag value` and `--flag=value` are both accepted. `--help`/`-h` and
 * `--version`/`-V` win over everything else. `demo` as the first argument
 * selects the demo; what follows it is left to the demo.
 *
 * @throws {UsageError} naming the flag at fault.
 */
export function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    command: 'check',
    demoArgs: [],
    procNames: [],
    procRegex: [],
    procNamesExclude: [],
    procRegexExclude: [],
    statusMapping: [],
    tags: [],
    color: true,
  };
  if (argv[0] === 'demo') {
    options.command = 'demo';
    options.demoArgs = argv.slice(1);
    return options;
  }
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) return { ...options, command: 'help' };
  if (flags.includes('--version') || flags.includes('-V')) return { ...options, command: 'version' };

  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (i === end) {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument ${quote(argv[i + 1]!)}`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      throw new UsageError(`unexpected argument ${quote(arg)} (the only subcommand is demo, as the first argument)`);
    }
    const eq = arg.indexOf('=');
    const given = eq < 0 ? arg : arg.slice(0, eq);
    const flag = NAGIOS_ALIASES[given] ?? given;
    // Refused before anything else, and without ever quoting the value.
    if (flag === '--password' || flag === '--pass') throw new UsageError(PASSWORD_REFUSAL);
    if (flag === '--no-color') {
      if (eq >= 0) throw new UsageError('--no-color takes no value');
      options.color = false;
      continue;
    }
    if (flag === '--fail-if-no-match') {
      if (eq >= 0) throw new UsageError('--fail-if-no-match takes no value');
      options.failIfNoMatch = true;
      continue;
    }
    if (flag === '--perfdata-uptime') {
      if (eq >= 0) throw new UsageError('--perfdata-uptime takes no value');
      (options.nagios ??= {}).uptime = true;
      seen.add(flag);
      continue;
    }
    if (flag === '--insecure') {
      if (eq >= 0) throw new UsageError('--insecure takes no value');
      options.insecure = true;
      seen.add(flag);
      continue;
    }
    if (flag === '--resources') {
      if (eq >= 0) throw new UsageError('--resources takes no value');
      options.resources = true;
      seen.add(flag);
      continue;
    }
    const spec = VALUE_FLAGS[flag];
    if (spec === undefined) throw new UsageError(`unknown option ${quote(flag)} (see --help)`);
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || i + 1 === end || next.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      value = next;
      i++;
    }
    if (!spec.repeat && seen.has(flag)) throw new UsageError(`${flag}${given === flag ? '' : ` (${given})`} is given more than once`);
    seen.add(flag);
    applyFlag(options, flag, value);
  }
  checkCombinations(options, seen);
  return options;
}

function applyFlag(options: CliOptions, flag: string, value: string): void {
  switch (flag) {
    case '--socket':
      options.socket = socketValue(value);
      return;
    case '--host':
      options.host = hostValue(value);
      return;
    case '--port':
      options.port = portValue(value, '--port', 1);
      return;
    case '--url':
      nonEmpty(value, flag);
      options.url = value;
      return;
    case '--tls-ca':
      nonEmpty(value, flag);
      options.tlsCa = value;
      return;
    case '--tls-cert':
      nonEmpty(value, flag);
      options.tlsCert = value;
      return;
    case '--tls-key':
      nonEmpty(value, flag);
      options.tlsKey = value;
      return;
    case '--username':
      nonEmpty(value, flag);
      options.username = value;
      return;
    case '--password-file':
      nonEmpty(value, flag);
      options.passwordFile = value;
      return;
    case '--name':
      if (value.trim() === '') throw new UsageError('--name needs a non-blank server name');
      options.name = value;
      return;
    case '--proc-names':
      options.procNames.push(...nameList(value, flag));
      return;
    case '--proc-names-exclude':
      options.procNamesExclude.push(...nameList(value, flag));
      return;
    case '--proc-regex':
      // Not split at commas: a pattern may hold one (`a{1,3}`).
      nonEmpty(value, flag);
      options.procRegex.push(value);
      return;
    case '--proc-regex-exclude':
      nonEmpty(value, flag);
      options.procRegexExclude.push(value);
      return;
    case '--status-mapping':
      options.statusMapping.push(...mappingList(value));
      return;
    case '--tag': {
      nonEmpty(value, flag);
      const problem = reservedTagProblem(value);
      if (problem !== undefined) throw new UsageError(`--tag ${quote(value)}: ${problem}`);
      options.tags.push(value);
      return;
    }
    case '--timeout':
      options.timeoutSeconds = parseDuration(value, flag) / 1000;
      return;
    case '--config':
      nonEmpty(value, flag);
      options.config = value;
      return;
    case '--format':
      if (!(FORMATS as readonly string[]).includes(value)) {
        throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got ${quote(value)}`);
      }
      options.format = value as OutputFormat;
      return;
    case '--interval': {
      const ms = parseDuration(value, flag);
      if (ms < MIN_INTERVAL_MS) throw new UsageError(`--interval must be at least ${MIN_INTERVAL_MS}ms, got ${quote(value)}`);
      options.intervalMs = ms;
      return;
    }
    case '--serve':
      options.serve = parseHostPort(value, flag, 0);
      return;
    case '--dogstatsd':
      options.dogstatsd = parseHostPort(value, flag, 1);
      return;
    case '--state-file':
      if (value === '' || value.includes('\0')) throw new UsageError('--state-file needs the path of a file or a directory');
      options.stateFile = value;
      return;
    default:
      if (flag in NAGIOS_FLAGS) applyNagiosFlag(options, flag, value);
      else applyServeFlag(options, flag, value);
  }
}

function applyNagiosFlag(options: CliOptions, flag: string, value: string): void {
  const { count, level } = NAGIOS_FLAGS[flag]!;
  try {
    parseRange(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
  const nagios = (options.nagios ??= {});
  const thresholds = (nagios[count] ??= {});
  if (thresholds[level] !== undefined) {
    // Only the down count has several spellings (a flag given twice is refused before).
    throw new UsageError(`${flag}: the ${level} threshold of the down count is already set (--${level}, -${level[0]} and --${level}-down all set it)`);
  }
  thresholds[level] = value;
}

function applyServeFlag(options: CliOptions, flag: string, value: string): void {
  switch (flag) {
    case '--min-interval':
      // 0 turns the cache off (every scrape that does not overlap a run runs the check).
      options.minIntervalMs = /^\s*0+(?:\.0+)?(?:ms|s|m|h)?\s*$/.test(value) ? 0 : parseDuration(value, flag);
      return;
    case '--max-connections':
      options.maxConnections = integerValue(value, flag, 1, 100_000);
      return;
    case '--max-server-connections':
      options.maxServerConnections = integerValue(value, flag, 1, 1024);
      return;
    default: // '--probe-max-targets'
      options.probeMaxTargets = integerValue(value, flag, 1, 1_000_000);
  }
}

function integerValue(text: string, flag: string, min: number, max: number): number {
  const n = /^[0-9]{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got ${quote(text)}`);
  return n;
}

function checkCombinations(options: CliOptions, seen: ReadonlySet<string>): void {
  if (options.config !== undefined) {
    const clash = INSTANCE_FLAGS.find((f) => seen.has(f));
    if (clash !== undefined) {
      throw new UsageError(`--config cannot be combined with ${clash}: the instances in the file describe the servers`);
    }
  }
  const targets = [
    options.socket !== undefined ? '--socket' : undefined,
    options.url !== undefined ? '--url' : undefined,
    options.host !== undefined || options.port !== undefined ? '--host/--port' : undefined,
  ].filter((t) => t !== undefined);
  if (targets.length > 1) throw new UsageError(`${targets.join(' and ')} both name the server: give only one`);
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError(options.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  }
  const tlsFlag = TLS_FLAGS.find((f) => seen.has(f));
  if (tlsFlag !== undefined && targets.length === 1 && options.url === undefined) {
    throw new UsageError(`${tlsFlag} applies only to an https server (--url https://...), not to ${targets[0]}`);
  }
  if (options.serve !== undefined && options.dogstatsd !== undefined) {
    throw new UsageError('--serve and --dogstatsd cannot be combined: run two instances of supervisord-check');
  }
  const serveFlag = Object.keys(SERVE_FLAGS).find((f) => seen.has(f));
  if (serveFlag !== undefined && options.serve === undefined) throw new UsageError(`${serveFlag} applies only to --serve`);
  if (options.serve !== undefined && options.intervalMs !== undefined) {
    throw new UsageError('--interval does not apply to --serve: each scrape of /metrics runs the check');
  }
  if (options.failIfNoMatch === true && (options.serve !== undefined || options.dogstatsd !== undefined || options.intervalMs !== undefined)) {
    throw new UsageError('--fail-if-no-match applies only to a single run (its exit code), not to --interval, --serve or --dogstatsd');
  }
  if (options.stateFile !== undefined) {
    const mode = options.serve !== undefined ? '--serve' : options.dogstatsd !== undefined ? '--dogstatsd' : options.intervalMs !== undefined ? '--interval' : undefined;
    if (mode !== undefined) throw new UsageError(`--state-file applies to single runs, not to ${mode}, which remembers between its runs by itself`);
  }
  checkNagiosCombinations(options, seen);
  if (options.format !== undefined && (options.serve !== undefined || options.dogstatsd !== undefined)) {
    const mode = options.serve !== undefined ? '--serve (always prometheus)' : '--dogstatsd (always DogStatsD datagrams)';
    throw new UsageError(`--format does not apply to ${mode}`);
  }
}

function checkNagiosCombinations(options: CliOptions, seen: ReadonlySet<string>): void {
  if (options.format !== 'nagios') {
    const flag = [...Object.keys(NAGIOS_FLAGS), '--perfdata-uptime'].find((f) => seen.has(f));
    if (flag !== undefined) throw new UsageError(`${flag} applies only to --format nagios`);
    return;
  }
  if (options.intervalMs !== undefined) {
    throw new UsageError('--format nagios is for one run per invocation (the monitoring system schedules them): --interval does not apply');
  }
}

/**
 * A duration: a number with an optional unit `ms`, `s`, `m` or `h`; no unit
 * means seconds (`10`, `10s`, `500ms`, `1.5m`).
 *
 * @returns milliseconds, rounded to an integer.
 * @throws {UsageError} for anything else, zero, or more than a day.
 */
export function parseDuration(text: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`${flag} must be a duration like 10s, 500ms or 10 (seconds), got ${quote(text)}`);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  const ms = Math.round(Number(m[1]) * factor);
  if (ms <= 0) throw new UsageError(`${flag} must be longer than 0, got ${quote(text)}`);
  if (ms > MAX_DURATION_MS) throw new UsageError(`${flag} must be at most a day, got ${quote(text)}`);
  return ms;
}

/**
 * `host:port`, `[ipv6]:port`, or a bare port (host `127.0.0.1`: listening on
 * every interface must be asked for explicitly, `0.0.0.0:9876`).
 *
 * @param minPort 0 allows port 0 (any free port, for `--serve`).
 * @throws {UsageError} naming the flag.
 */
export function parseHostPort(text: string, flag: string, minPort: 0 | 1): HostPort {
  const example = `e.g. ${flag} 127.0.0.1:${flag === '--serve' ? 9876 : 8125}`;
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^[0-9]+$/.test(text)) {
    host = '127.0.0.1';
    portText = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0 || text.indexOf(':') !== colon) throw new UsageError(`${flag} must be host:port, ${example}, got ${quote(text)}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (/[\s/@]/.test(host)) throw new UsageError(`${flag} has an invalid host ${quote(host)}, ${example}`);
  return { host, port: portValue(portText, flag, minPort) };
}

function portValue(text: string, flag: string, min: 0 | 1): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= 65535)) throw new UsageError(`${flag} needs a port number from ${min} to 65535, got ${quote(text)}`);
  return n;
}

function socketValue(value: string): string {
  const path = value.startsWith('unix://') ? value.slice('unix://'.length) : value;
  if (!path.startsWith('/')) {
    throw new UsageError(`--socket needs unix:///absolute/path.sock or an absolute path, got ${quote(value)}`);
  }
  return `unix://${path}`;
}

function nameList(value: string, flag: string): string[] {
  const names = value.split(',');
  if (names.some((n) => n === '')) throw new UsageError(`${flag} has an empty name in ${quote(value)} (names are separated by commas)`);
  return names;
}

/** The statuses a state can be mapped to. */
const MAPPED_STATUSES: readonly string[] = ['up', 'down', 'unknown'];

function mappingList(value: string): Array<[string, string]> {
  return value.split(',').map((item): [string, string] => {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      throw new UsageError(`--status-mapping must be STATE=up|down|unknown, e.g. STOPPED=up, got ${quote(item)}`);
    }
    const status = item.slice(eq + 1);
    // Checked here rather than left to the check, whose message (the reference's) names the config key, not the flag.
    if (!MAPPED_STATUSES.includes(status)) {
      throw new UsageError(
        `--status-mapping ${quote(item)}: the status must be up, down or unknown (lower case), got ${quote(status)}`,
      );
    }
    return [item.slice(0, eq), status];
  });
}

/**
 * `--host`: a host name or an IP address, IPv6 bare (`::1`). A `host:port`
 * (one colon, which no IPv6 address has) or a bracketed IPv6 would otherwise
 * become an IPv6 literal that never connects.
 */
function hostValue(value: string): string {
  if (value.trim() === '') throw new UsageError('--host needs a host name or an IP address');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new UsageError(`--host takes a host name or an IP address, not a URL: use --url ${value}`);
  }
  const bracketed = /^\[([^\]]*)\](?::([0-9]+))?$/.exec(value);
  if (bracketed !== null) {
    const port = bracketed[2] === undefined ? '' : ` --port ${bracketed[2]}`;
    throw new UsageError(`--host takes an IPv6 address without brackets: use --host ${bracketed[1]}${port}`);
  }
  const colon = value.indexOf(':');
  if (colon >= 0 && value.indexOf(':', colon + 1) < 0) {
    throw new UsageError(
      `--host takes no port, got ${quote(value)}: use --host ${value.slice(0, colon)} --port ${value.slice(colon + 1)}`,
    );
  }
  return value;
}

function nonEmpty(value: string, flag: string): void {
  if (value === '') throw new UsageError(`${flag} needs a non-empty value`);
}

function quote(text: string): string {
  return JSON.stringify(text);
}

/** Where a check instance connects, as instance keys, plus a printable form. */
export type Target = (
  | { socket: string }
  | { host: string; port: number }
  /** An https URL, or an http URL whose path is not /RPC2: the instance key `url` (no userinfo), and its host and port for the default name. */
  | { url: string; host: string; port: number }
) & {
  /** `unix:///run/supervisor.sock`, `http://localhost:9001`, `https://h:443` (the path when it is not /RPC2). */
  display: string;
  /** The user of the URL's userinfo, when there was one. */
  username?: string;
  /** The password of the URL's userinfo (only accepted from the environment). */
  password?: string;
};

/**
 * Maps a server URL to instance keys: `unix:///abs/path` (or `/abs/path`) to
 * `socket`, `http://host[:port][/RPC2]` (or `host[:port]`) to the reference's
 * `host` and `port`; `https://...`, and http with another path (a proxy), to
 * our `url`, without its userinfo.
 *
 * @param url the URL.
 * @param origin how to name it in messages (`--url`, `SUPERVISOR_SERVER_URL`).
 * @param allowPassword whether a password in the URL is accepted (not on the command line).
 * @throws {UsageError} naming `origin`; the URL's userinfo is never quoted.
 */
export function targetFromUrl(url: string, origin: string, allowPassword: boolean): Target {
  let parsed: ReturnType<typeof parseAddress>;
  try {
    parsed = parseAddress(url);
  } catch (error) {
    if (!(error instanceof AddressError)) throw error;
    throw new UsageError(`${origin}: ${error.message}`);
  }
  const { address } = parsed;
  if (parsed.password !== undefined && !allowPassword) throw new UsageError(`${origin} must not contain a password: ${PASSWORD_REFUSAL.slice(PASSWORD_REFUSAL.indexOf(':') + 2)}`);
  const auth: { username?: string; password?: string } = {};
  if (parsed.username !== undefined && parsed.username !== '') auth.username = parsed.username;
  if (parsed.password !== undefined && parsed.password !== '') auth.password = parsed.password;
  if (address.kind === 'unix') return { socket: `unix://${address.socketPath}`, display: `unix://${address.socketPath}`, ...auth };
  const host = address.host;
  const rpc2 = address.path === '/' || address.path === '/RPC2' || address.path.startsWith('/RPC2/');
  if (!address.tls && rpc2) return { host, port: address.port, display: `http://${hostPort(host, address.port)}`, ...auth };
  // address.display has no userinfo; the check reads `/` as /RPC2.
  const display = rpc2 ? `https://${hostPort(host, address.port)}` : address.display;
  return { url: address.display, host, port: address.port, display, ...auth };
}

/** `host:port` with IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The default server name of a target: the socket path
 * (`/run/supervisor.sock`) or `host:port` (`localhost:9001`).
 */
export function defaultName(target: Target): string {
  return 'socket' in target ? target.socket.slice('unix://'.length) : hostPort(target.host, target.port);
}

/** Whether a target is an https URL, the only kind the TLS flags apply to. */
function isHttps(target: Target): boolean {
  return 'url' in target && target.url.startsWith('https://');
}

/**
 * The check instance (reference keys) that the flags describe. Keys are set
 * only when the flags give them, so that the check's defaults apply.
 *
 * @param options parsed flags (not `--config`).
 * @param target where to connect (from the flags or the default discovery).
 * @param password the password from `--password-file` or the environment.
 * @throws {UsageError} when a TLS flag is given and the target is not an
 *   https URL (it may come from `SUPERVISOR_SERVER_URL` or the default
 *   discovery, known only now).
 */
export function instanceFromOptions(options: CliOptions, target: Target, password: string | undefined): InstanceConfig {
  const instance: InstanceConfig = { name: options.name ?? defaultName(target) };
  if ('socket' in target) instance.socket = target.socket;
  else if ('url' in target) instance.url = target.url;
  else {
    instance.host = target.host;
    instance.port = target.port;
  }
  const tlsFlags: Array<[string, () => void, unknown]> = [
    ['--tls-ca', () => (instance.tls_ca = options.tlsCa!), options.tlsCa],
    ['--tls-cert', () => (instance.tls_cert = options.tlsCert!), options.tlsCert],
    ['--tls-key', () => (instance.tls_key = options.tlsKey!), options.tlsKey],
    ['--insecure', () => (instance.tls_verify = false), options.insecure],
  ];
  for (const [flag, set, value] of tlsFlags) {
    if (value === undefined) continue;
    if (!isHttps(target)) throw new UsageError(`${flag} applies only to an https server (--url https://...), not to ${target.display}`);
    set();
  }
  const username = options.username ?? target.username;
  if (username !== undefined) instance.username = username;
  // A password without a user is not sent by the check (it warns); an ambient SUPERVISORD_PASSWORD must not cause that warning.
  const secret = password ?? target.password;
  if (username !== undefined && secret !== undefined) instance.password = secret;
  if (options.procNames.length > 0) instance.proc_names = [...options.procNames];
  if (options.procRegex.length > 0) instance.proc_regex = [...options.procRegex];
  if (options.procNamesExclude.length > 0) instance.proc_names_exclude = [...options.procNamesExclude];
  if (options.procRegexExclude.length > 0) instance.proc_regex_exclude = [...options.procRegexExclude];
  // Every status was checked by the flag's parser.
  if (options.statusMapping.length > 0) instance.status_mapping_override = Object.fromEntries(options.statusMapping) as Record<string, MappedStatus>;
  if (options.tags.length > 0) instance.tags = [...options.tags];
  if (options.timeoutSeconds !== undefined) instance.timeout = options.timeoutSeconds;
  if (options.resources === true) instance.collect_resources = true;
  return instance;
}

/** The `--help` text. */
export const HELP_TEXT = `Usage: supervisord-check [options]
       supervisord-check listen [options]  (an event listener; listen --help)
       supervisord-check demo

Checks supervisord over XML-RPC like the Datadog Agent's supervisord check,
and prints or exports the result.

Server (one of; default: $SUPERVISOR_SERVER_URL, then the first existing of
/var/run/supervisor.sock, /run/supervisor.sock, /tmp/supervisor.sock, then
http://localhost:9001):
  --socket PATH            unix:///abs/path.sock or /abs/path.sock
  --url URL                unix:///abs/path.sock, http://host:port or
                           https://host:port[/path] (e.g. a TLS proxy)
  --tls-ca FILE            https: trust the CA certificates in FILE (PEM)
                           instead of the system's
  --insecure               https: do not verify the server certificate
  --tls-cert FILE, --tls-key FILE
                           https: client certificate and its key (PEM)
  --host HOST, --port N    TCP host (default localhost) and port (default 9001)
  --username USER          HTTP Basic user
  --password-file FILE     password: the file's first line; else the
                           SUPERVISORD_PASSWORD environment variable
                           (--password is refused: argv is public)
  --name NAME              server name, tag supervisord_server (default:
                           the socket path or host:port)
  --config FILE            the Datadog Agent's conf.d/supervisord.d/conf.yaml
                           as it is, or JSON {"instances": [{...}, ...]};
                           servers run concurrently; with --serve, a
                           "modules" map configures /probe

Check (the Datadog instance keys):
  --proc-names A,B         only these processes (repeatable)
  --proc-regex RE          only processes matching RE (repeatable)
  --proc-names-exclude A,B / --proc-regex-exclude RE
  --status-mapping S=up    map a state to up, down or unknown (repeatable)
  --fail-if-no-match       a single run exits 2 when an include filter
                           (proc_names, proc_regex; flags or --config)
                           matched no process (default: only a warning)
  --tag K:V                add a tag to everything (repeatable)
  --timeout 10s            deadline of a whole run, every call included
                           (ms, s, m, h; default unit s; default 10s)
  --resources              also each running process's CPU time, memory,
                           open files and threads, alone and with its
                           children, from /proc (supervisord on this host:
                           a socket or a loopback address)

Output:
  --format F               text (default on a terminal), json (default
                           otherwise), prometheus, dogstatsd, nagios
                           (Monitoring Plugins: exit 0 OK, 1 WARNING,
                           2 CRITICAL, 3 UNKNOWN; one line with performance
                           data, then why)
  -w, --warning R / -c, --critical R
                           nagios: thresholds on each server's count of down
                           processes, as ranges (10, 10:, ~:10, 10:20,
                           @10:20; alert outside, @ inside); default
                           --critical 0 (any down process is CRITICAL)
  --warning-down R, --critical-down R
                           the same, by name
  --warning-unknown R, --critical-unknown R
                           nagios: thresholds on the unknown count; default
                           --warning-unknown 0
  --perfdata-uptime        nagios: each process's uptime in the performance
                           data
  --no-color               no colours in text (also NO_COLOR=1)
  --interval 15s           run again every interval until SIGINT/SIGTERM
                           (json: one compact line per run)
  --serve HOST:PORT        serve /metrics and /probe (Prometheus, OpenMetrics)
  --min-interval 5s        --serve: a result younger than this answers a
                           scrape without a new run (0: no reuse)
  --max-connections 256    --serve: most client connections at a time
  --probe-max-targets 1000 --serve: most /probe targets remembered (least
                           recently probed forgotten first)
  --max-server-connections 32
                           --serve: most connections to one supervisord,
                           all checks and /probe targets together
  --dogstatsd HOST:PORT    send DogStatsD datagrams over UDP at start and
                           every interval (default 15s)
  --state-file PATH        single runs (a monitoring system starting the
                           command every interval): keep what the next run
                           needs in PATH (a file; a directory: one file per
                           server), so that it skips the full listing and
                           counts restarts
  -h, --help / -V, --version

Exit codes (single run): 0 every service check OK, 1 one is WARNING or
UNKNOWN, 2 one is CRITICAL or the run failed, or bad flags/config; 3 internal
error. With --interval, --serve, --dogstatsd: 0 after SIGINT/SIGTERM.
--format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad flags or
config, an internal error, a filter that matched no process).
`;
