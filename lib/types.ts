/**
 * Types shared by the check layer: supervisord's process struct, the
 * instance configuration (the reference's keys plus ours) and a run's result.
 *
 * @module
 */

import type { MulticallRequest } from '../protocol/xmlrpc-client.js';

/**
 * One process as supervisord's `getProcessInfo` / `getAllProcessInfo`
 * describe it (supervisord 3.x and 4.x). Times are epoch seconds from the
 * server's clock.
 */
export interface ProcessInfo {
  name: string;
  /** Equals `name` for a program not in a `[group:x]`. */
  group: string;
  /** Epoch seconds of the last start attempt, 0 if never started. */
  start: number;
  /** Epoch seconds of the last stop, 0 if never stopped. */
  stop: number;
  /** The server's clock when the answer was made. */
  now: number;
  state: number;
  statename: string;
  spawnerr: string;
  exitstatus: number;
  /** Old alias of `stdout_logfile`. */
  logfile: string;
  stdout_logfile: string;
  stderr_logfile: string;
  /** 0 when not running. */
  pid: number;
  description: string;
}

/** Mapped status of a process, as in the reference check. */
export type MappedStatus = 'up' | 'down' | 'unknown';

/** Service-check status numbers (Datadog Agent convention). */
export type ServiceCheckStatus = 0 | 1 | 2 | 3;

/** A number, or a string holding one (`'9001'`, `'2.5'`): what YAML and JSON files give for these keys. */
export type Numeric = number | `${number}`;

/**
 * One check instance: the reference check's keys, then ours. The type
 * catches misspelt keys and wrong types in code; the constructor of
 * `SupervisordCheck` still validates every key at run time (data read from
 * JSON or YAML is `unknown` until then: pass it `as InstanceConfig`, and a
 * bad value is a `ConfigError` naming the key).
 */
export interface InstanceConfig {
  /** Required: identifies the server; tags every submission as `supervisord_server:<name>`. */
  name: string;
  /** TCP host (HTTP mode). Default `localhost`. */
  host?: string;
  /** TCP port. Default 9001. A numeric string is accepted. */
  port?: Numeric;
  /** `unix:///absolute/path.sock`: talk over that unix socket; host/port are then ignored. */
  socket?: string;
  /**
   * Ours: the server as a URL, instead of `host`/`port`/`socket` (setting one
   * of those too is refused): `http://host[:port][/path]`,
   * `https://host[:port][/path]` (e.g. supervisord behind a TLS proxy) or
   * `unix:///absolute/path.sock`. A missing port is the scheme's (80, 443); a
   * missing path or `/` is `/RPC2`, another path is used as given. Credentials
   * in the URL (`user:pass@`) are refused: use `username` and `password`.
   */
  url?: string;
  /**
   * Ours, https `url` only: verify the server certificate (trusted CA, host
   * name or IP in the certificate). Default true.
   */
  tls_verify?: boolean;
  /**
   * Ours, https `url` only: path of a PEM file of CA certificates to trust
   * instead of Node's list (e.g. a private CA or a self-signed certificate).
   * Read when the check is created.
   */
  tls_ca?: string;
  /** Ours, https `url` only: path of a PEM client certificate, for a proxy that asks for one. With `tls_key`. */
  tls_cert?: string;
  /** Ours, https `url` only: path of the PEM private key of `tls_cert`. With `tls_cert`. */
  tls_key?: string;
  /** HTTP Basic user; sent only with `password`. */
  username?: string;
  /** HTTP Basic password; sent only with `username`. Never appears in results, errors or logs. */
  password?: string;
  /** @deprecated Use `username`. */
  user?: string;
  /** @deprecated Use `password`. */
  pass?: string;
  /** Monitor the processes with these names (the process `name`, never `group:name`). */
  proc_names?: readonly string[];
  /** Monitor the processes whose name a pattern matches (Python `re.search`, unanchored; names only). */
  proc_regex?: readonly string[];
  /** Drop the processes with these names. */
  proc_names_exclude?: readonly string[];
  /** Drop the processes whose name a pattern matches. */
  proc_regex_exclude?: readonly string[];
  /** statename -> mapped status, replacing entries of the default mapping. */
  status_mapping_override?: Readonly<Record<string, MappedStatus>>;
  /**
   * Added to every submission, before the server tag. A key the check sets
   * itself (`status`, `supervisord_server`, `supervisord_process`,
   * `supervisord_group`, `version`, `tag`) is refused.
   */
  tags?: readonly string[];
  /** Ours: deadline of a whole run in seconds, every call included (a numeric string is accepted). Default 10. */
  timeout?: Numeric;
  /** Ours: TCP/socket connect timeout in seconds. Default 5. */
  connect_timeout?: Numeric;
  /** Ours: largest response accepted, bytes (1024 to 1 GiB). Default 64 MiB (about 50,000 processes). */
  max_response_bytes?: number;
  /**
   * Ours: `auto` (default) asks supervisord only for the processes named in
   * `proc_names` (with `getProcessInfo`) when the instance selects by
   * `proc_names` alone (no `proc_regex`); `full` always asks for the whole
   * list, as the reference does. The submissions are the same either way.
   */
  collection?: 'auto' | 'full';
  /**
   * Ours: with selective collection, the longest time in seconds between two
   * full listings that relearn which groups hold the wanted names (so that
   * processes added since appear). Default 300; 0 lists in full every run.
   * A numeric string is accepted.
   */
  name_refresh_interval?: Numeric;
  /**
   * Ours: the connections a full collection of a large server spreads its
   * `getProcessInfo` calls over (sharded collection): `auto` (default: one
   * per 30 processes of the last listing from 200 processes, at most 96), or
   * 1 to 256 (1: one `getAllProcessInfo` per run, as the reference).
   */
  max_connections?: 'auto' | number;
  /**
   * Ours: seconds a full listing that learns the process names may take
   * (first run, a process gone, the refresh), default 60, while supervisord
   * answers other calls. A numeric string is accepted.
   */
  listing_timeout?: Numeric;
  /**
   * Ours: also report each running process's CPU time, resident memory, open
   * descriptors and threads, alone and summed over its process tree, read
   * from Linux's `/proc` (`supervisord.process.cpu_seconds`...). Needs
   * supervisord on this host: a unix socket or a loopback address (anything
   * else is a warning). Default false.
   */
  collect_resources?: boolean;
  /**
   * Ours: read supervisord's main log (`supervisor.readLog`) for the exit
   * status of a process that exited before its `startsecs`, which
   * supervisord's process info gives as 0. Default true. Read only while a
   * monitored process needs it, from where the last read ended.
   */
  read_main_log?: boolean;
  /**
   * Ours, read by the command line only (a library user calls
   * `exportState()` / `restoreState()`): where a single run keeps what the
   * next one needs (a file, or a directory holding one file per server). A
   * relative path is taken from the directory of the `--config` file.
   */
  state_file?: string;
  /** Read by the Datadog Agent itself (scheduling); accepted and ignored by the check. */
  min_collection_interval?: Numeric;
  /** Read by the Datadog Agent itself; accepted and ignored by the check. */
  empty_default_hostname?: boolean;
  /** Read by the Datadog Agent itself (the `service` tag); accepted and ignored by the check. */
  service?: string;
  /** Read by the Datadog Agent itself; accepted and ignored by the check. */
  disable_generic_tags?: boolean;
  /** Documented by the reference without being used; accepted and ignored. */
  server_check?: boolean;
}

/** @deprecated The former name of {@link InstanceConfig}. */
export type SupervisordInstance = InstanceConfig;

/**
 * A metric submission. `count` is a delta since the previous run (the
 * Agent's `count`); `monotonic_count` is a running total read as it is (a
 * process's CPU seconds; the Agent's `monotonic_count`, which submits the
 * difference between two runs and ignores a decrease, a restart).
 */
export interface Metric {
  name: string;
  type: 'gauge' | 'count' | 'monotonic_count';
  value: number;
  tags: string[];
}

/** A service-check submission. `message` is present only when there is one. */
export interface ServiceCheck {
  name: string;
  status: ServiceCheckStatus;
  tags: string[];
  message?: string;
}

/**
 * supervisord's version as the reference check records it in metadata:
 * parts are strings, as the Datadog Agent stores them.
 */
export interface VersionMetadata {
  raw: string;
  major: string;
  minor: string;
  patch?: string;
  release?: string;
  scheme: 'supervisord';
}

/** What one `run()` emits. */
export interface CheckResult {
  metrics: Metric[];
  serviceChecks: ServiceCheck[];
  metadata: { version?: VersionMetadata };
  /** Non-fatal problems (deprecated keys, unknown keys, version not collected...). */
  warnings: string[];
  /** Errors of the run (the reference raises these). Empty on success. */
  errors: string[];
  /**
   * Ours, for displays (not submissions): the monitored processes in
   * submission order. Present only when the process list was read.
   */
  processes?: ProcessSummary[];
}

/** One monitored process as a run saw it (see {@link CheckResult.processes}). */
export interface ProcessSummary {
  name: string;
  group: string;
  statename: string;
  /** The mapped status (default mapping with `status_mapping_override` applied). */
  status: MappedStatus;
  /** The value of the `supervisord.process.uptime` gauge. */
  uptime: number;
  /** supervisord's own description (`pid 123, uptime 0:02:05`, `Not started`...). */
  description: string;
  /** How its last run ended, when it is EXITED, BACKOFF, FATAL or STOPPED after an exit (absent otherwise). */
  exit?: ProcessExit;
}

/**
 * How the last run of a process ended (see {@link ProcessSummary.exit}): the
 * value of `supervisord.process.exit_status`, or why there is none.
 */
export interface ProcessExit {
  /** The exit status (0 to 255), -1 when a signal ended it; null when neither supervisord's answers nor its main log tell it. */
  status: number | null;
  /** The signal that ended it, as supervisord's main log names it (`SIGKILL`, `signal 42`). */
  signal?: string;
  /** The signal dumped core. */
  coreDumped?: boolean;
  /** Where the status comes from: supervisord's process info, or its main log (for an exit before `startsecs`, which the process info gives as 0). */
  source?: 'process-info' | 'main-log';
  /** Why `status` is null. */
  reason?: string;
}

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

/**
 * A run as the output formats take it: a {@link ServerRun}, or an entry of
 * what `checkAll` and `CheckGroup.run` resolve to (`{ name, result }`). A run
 * without `tags`, or whose tags have no `supervisord_server`, has its
 * per-server series labelled `supervisord_server="<name>"`.
 */
export type OutputRun = Pick<ServerRun, 'name' | 'result'> & Partial<Omit<ServerRun, 'name' | 'result'>>;

/** What the check needs from an XML-RPC client (`XmlRpcClient` of `supervisord-check/protocol` has it). */
export interface CheckClient {
  /** Calls one method; rejects with the protocol errors of `protocol/errors.ts`. */
  call(method: string, params?: readonly unknown[]): Promise<unknown>;
  /** Releases the connection. */
  close(): Promise<void>;
  /**
   * Several calls in one request: resolves to one item per call, the result
   * or an `XmlRpcFault` (as `XmlRpcClient.multicall`). Without it, every
   * run makes separate calls.
   */
  multicall?(calls: readonly MulticallRequest[]): Promise<unknown>;
}

/** What the collector says about a call, for the run's deadline. */
export interface CallHints {
  /**
   * A full listing that learns the process names of a server of unknown or
   * large size: it may run to `listing_timeout` instead of `timeout` while
   * the server shows it is alive.
   */
  listing?: boolean;
}

/**
 * What collecting needs: a run's calls, bounded by its deadline. Calls made
 * at the same time may travel on separate connections.
 */
export interface CollectClient {
  /** As {@link CheckClient.call}. */
  call(method: string, params?: readonly unknown[], hints?: CallHints): Promise<unknown>;
  /** As {@link CheckClient.multicall}. */
  multicall?(calls: readonly MulticallRequest[], hints?: CallHints): Promise<unknown>;
}
