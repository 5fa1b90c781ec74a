/**
 * `SupervisordCheck`: one configured supervisord instance, run on demand.
 * It owns the connections (a pool: sharded collection sends several calls at
 * once) and what is remembered between runs (the restart marks of
 * `submissions.ts`, the collector's names and multicall support), which it
 * exports as a state another process restores (`check-state.ts`);
 * which calls are made is `collect.ts`'s business, and what the answers mean
 * is computed by the pure functions of `submissions.ts`.
 *
 * @module
 */

import { ConnectError, ConnectionClosedError, TimeoutError, XmlRpcFault } from '../protocol/errors.js';
import type { MulticallRequest } from '../protocol/xmlrpc-client.js';
import type { XmlRpcPool } from '../protocol/xmlrpc-pool.js';
import type { ConnectionBudget } from '../protocol/connection-budget.js';
import { CredentialRedactor } from '../protocol/redact.js';
import { sameStrings } from './string-lists.js';
import { Collector, MAX_AUTO_CONNECTIONS } from './collect.js';
import { checkEnvelope, historyFromState, historyToState, STATE_FORMAT, STATE_VERSION } from './check-state.js';
import type { CheckState, RestoreContext, StateComponent, StateServer } from './check-state.js';
import { RunDeadlineError, StateError } from './errors.js';
import { NameFilter } from './name-filter.js';
import { resolveConfig } from './config.js';
import { hintTexts, missingCredentialsWarning } from './hints.js';
import type { Credentials, ResolvedConfig, TlsMaterial } from './config.js';
import { buildRun, processNames } from './submissions.js';
import type { ResourceCollector } from './resources/collector.js';
import type { Collected, ProcessHistory } from './submissions.js';
import type { CallHints, CheckClient, CheckResult, CollectClient, InstanceConfig, ProcessInfo, ServiceCheckStatus } from './types.js';

/**
 * How long a learning listing runs before a `getState` is sent beside it on
 * another connection, to tell a busy supervisord (which answers it at its
 * next loop turn) from one that answers nothing. Most listings are over by
 * then, and the probe is not sent.
 */
const PROBE_AFTER_MS = 500;
const STATE_METHOD = 'supervisor.getState';
const PID_METHOD = 'supervisor.getPID';
/** How much later than the run's longest deadline the connections' own deadline falls. */
const CLIENT_DEADLINE_SLACK_MS = 1000;
/**
 * How long the check keeps an unused connection open: longer than the usual
 * intervals between runs (15 s to a few minutes), because supervisord accepts
 * one connection per turn of its event loop, and every turn walks every
 * process: opening the shards' connections anew for each run costs a large
 * server more than the calls themselves (bench/scale.js, fresh against kept
 * connections). supervisord never closes an idle connection; one it lost
 * (a restart) is retried on a fresh connection.
 */
export const CONNECTION_IDLE_MS = 10 * 60 * 1000;

/**
 * The XML-RPC client (HTTP/1.1 over TCP, TLS and unix sockets, the codec:
 * ten modules and `node:net`/`node:tls`), loaded by the first run that
 * opens a connection rather than by importing the check: it was about a
 * third of the main entry's import time (Node 20, bench/check.js
 * --footprint), and a check given its own client never loads it.
 */
let poolModule: typeof import('../protocol/xmlrpc-pool.js') | undefined;

/** What the OS codes of a failed connection mean, added to the warning. */
const OS_REASONS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused (is supervisord running? is this its address?)',
  ENOENT: 'the socket file does not exist (is supervisord running? is this its socket?)',
  EACCES: "permission denied: this user may not open the socket (see the socket's chown and chmod in [unix_http_server])",
  EPERM: 'operation not permitted',
  ECONNRESET: 'the connection was reset by the server',
  ENOTSOCK: 'the file is not a socket',
  EHOSTUNREACH: 'the host cannot be reached',
  ENETUNREACH: 'the network cannot be reached',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now (DNS)',
});

/** `system.multicall[3 x supervisor.getProcessInfo, supervisor.getState]` */
function describeBatch(calls: readonly MulticallRequest[]): string {
  const parts: string[] = [];
  for (let i = 0; i < calls.length; ) {
    let j = i + 1;
    while (j < calls.length && calls[j]!.methodName === calls[i]!.methodName) j++;
    parts.push(j - i === 1 ? calls[i]!.methodName : `${j - i} x ${calls[i]!.methodName}`);
    i = j;
  }
  return `system.multicall[${parts.join(', ')}]`;
}

/** `call`, rejected with a `TimeoutError` after `ms` (the timer is cleared when it settles). */
function withDeadline(call: Promise<unknown>, ms: number, display: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError('ERR_DEADLINE', `no complete answer from ${display} within ${ms} ms`, display, ms)), ms);
  });
  return Promise.race([call, expiry]).finally(() => clearTimeout(timer));
}

/** Service-check status OK. */
export const OK = 0 as const satisfies ServiceCheckStatus;
/** Service-check status WARNING (the reference check never uses it; `supervisord.server.state` does). */
export const WARNING = 1 as const satisfies ServiceCheckStatus;
/** Service-check status CRITICAL. */
export const CRITICAL = 2 as const satisfies ServiceCheckStatus;
/** Service-check status UNKNOWN. */
export const UNKNOWN = 3 as const satisfies ServiceCheckStatus;

/** Options of {@link SupervisordCheck}. */
export interface CheckOptions {
  /**
   * Receives warnings as they happen (deprecations and unknown keys at
   * construction, version not collected during a run), and with `debug` the
   * collected version. Default: none (warnings are in the results anyway).
   */
  log?: { warn(message: string): void; debug?(message: string): void };
  /**
   * For tests: the client to use instead of creating an {@link XmlRpcClient}
   * (anything with `call` and `close`). `close()` of the check closes it.
   */
  client?: CheckClient;
  /**
   * For tests: milliseconds since the epoch, default `Date.now`. Only drives
   * when the name map is refreshed and when multicall is tried again; every
   * time in the results comes from the server.
   */
  clock?: () => number;
  /**
   * The check makes one run and is closed, in a process that ends after it
   * (a command started by a monitoring system every interval, restoring
   * what the previous one saved: {@link SupervisordCheck.restoreState}):
   * every run then opens its connections anew, and sharded collection
   * spreads its calls over fewer of them, in slices that shrink as they are
   * accepted later (`oneShotShardCount` in `collect.ts`). Default false.
   */
  oneShot?: boolean;
  /**
   * Draw every connection (the run's, the shards', the background name
   * refresh's) from this budget, shared with the other checks given it, so
   * that all of them together hold at most `budget.maxPerAddress`
   * connections to one server. Default: none (the check's own
   * `max_connections` bounds its connections).
   */
  connections?: ConnectionBudget;
  /**
   * false: the service checks carry no `message` (the text of a non-OK
   * `supervisord.process.status` is the longest string of a run, built for
   * every process that is down), for a consumer that drops them: the
   * Prometheus exposition does (`--serve`, `/probe`). Default true.
   */
  messages?: boolean;
}

const OPTION_KEYS = new Set(['log', 'client', 'clock', 'oneShot', 'connections', 'messages']);

/**
 * The supervisord check for one instance. Connections are opened by the
 * runs that need them (one, or one per shard of a sharded collection, plus
 * one for a background name refresh), kept alive between runs, closed after
 * {@link CONNECTION_IDLE_MS} unused, and all released by
 * {@link SupervisordCheck.close}.
 * Runs are serialised (a second `run()` waits for the first).
 */
export class SupervisordCheck {
  /** The validated instance (no password in it). */
  readonly config: ResolvedConfig;
  /** Non-fatal configuration remarks; also in the first run's `warnings` and sent to `log.warn` at construction. */
  readonly configWarnings: readonly string[];
  readonly #credentials: Credentials | undefined;
  readonly #tls: TlsMaterial | undefined;
  /**
   * Masks (`***`) the password, the Basic token and pieces of them in every
   * string a run returns or logs, whatever produced the string: the check's
   * own messages never contain them, this also covers a server or client
   * that would echo them. Passwords under 6 characters are not masked
   * (replacing every `pass` in `password` would garble the messages).
   */
  readonly #redactor: CredentialRedactor;
  readonly #log: CheckOptions['log'];
  readonly #injected: CheckClient | undefined;
  readonly #budget: ConnectionBudget | undefined;
  /** {@link CheckOptions.messages}. */
  readonly #messages: boolean;
  readonly #collector: Collector;
  /** Judges server-supplied names against proc_regex / proc_regex_exclude within the run's deadline. */
  readonly #names: NameFilter;
  /** Reads the processes' resources from `/proc` after each run, with `collect_resources`. */
  /** With `collect_resources`: made by the first run that reads resources (the `/proc` reader is loaded then). */
  #resources: ResourceCollector | undefined;
  #history: ProcessHistory | undefined;
  #client: CheckClient | undefined;
  /** The background name refresh under way, and its own connection. */
  #refresh: Promise<void> | undefined;
  #refreshClient: XmlRpcPool | undefined;
  #configWarningsPending = true;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #clock: () => number;
  /** The slots of {@link SupervisordCheck.exportState}, by name. */
  readonly #components: ReadonlyMap<string, StateComponent>;
  /** Set by the first run(): a state is restored only before it. */
  #started = false;

  /**
   * @param instance the instance (keys: README.md, "Instance configuration"); validated at run time too, so
   *   data read from JSON or YAML can be passed `as InstanceConfig`.
   * @param options see {@link CheckOptions}.
   * @throws {ConfigError} when the instance cannot be used (the reference's
   *   messages where it has them); no connection is made.
   * @throws {TypeError} when `options` is malformed (unknown key, `log.warn`,
   *   `client.call`/`client.close` or `clock` not functions).
   */
  constructor(instance: InstanceConfig, options: CheckOptions = {}) {
    checkOptions(options);
    const { config, credentials, tls, warnings } = resolveConfig(instance);
    this.config = config;
    this.#credentials = credentials;
    this.#tls = tls;
    this.#redactor = CredentialRedactor.for(credentials?.username, credentials?.password);
    this.configWarnings = Object.freeze([...warnings]);
    this.#log = options.log;
    this.#injected = options.client;
    this.#budget = options.connections;
    this.#messages = options.messages ?? true;
    this.#names = new NameFilter([...config.procRegex, ...config.procRegexExclude]);
    this.#collector = new Collector(config, {
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      debug: (message) => this.#debug(message),
      oneShot: options.oneShot ?? false,
    });
    this.#clock = options.clock ?? Date.now;
    this.#components = this.#stateComponents();
    for (const warning of warnings) this.#warn(warning);
  }

  /**
   * Runs the check once: one `system.multicall` of the process information
   * (`getAllProcessInfo`, or `getProcessInfo` of the named processes), the
   * version and the state, or separate calls where multicall fails (see
   * `collect.ts`). Restarts are counted against the previous run that read
   * the process list. The instance's `timeout` bounds the whole run, however
   * many calls it makes. With `collect_resources`, the monitored processes'
   * CPU, memory, descriptors and threads are then read from `/proc`
   * (`resources/`) and added after the other metrics.
   *
   * @returns the submissions, warnings and errors of the run. Never rejects
   *   for anything the server or the network does: failures are in
   *   `errors` (and a CRITICAL `supervisord.can_connect` when the server could
   *   not be reached).
   */
  run(): Promise<CheckResult> {
    this.#started = true;
    const result = this.#queue.then(() => this.#runOnce());
    // Not result.catch(): that would hold the last result (all its submissions) until the next run.
    this.#queue = result.then(
      () => undefined,
      () => undefined, // #runOnce does not reject; the chain must survive if it ever did
    );
    return result;
  }

  /**
   * Closes every connection, the background name refresh's included (an
   * in-flight run ends with an error). A later run opens new ones.
   */
  async close(): Promise<void> {
    const client = this.#client ?? this.#injected;
    this.#client = undefined;
    const refreshing = this.#refresh;
    await Promise.all([client?.close(), this.#refreshClient?.close(), this.#names.close()]);
    await refreshing;
  }

  /**
   * What the check remembers between runs, as one JSON-serialisable value:
   * the process names the last listing taught and multicall support
   * (slot `collector`), the restart marks (slot `history`). Saved by a
   * process that ends after its run and given to
   * {@link SupervisordCheck.restoreState} of the next one, the next run
   * collects and counts restarts as a long-running check's next run would.
   * It holds no credentials. Call it between runs.
   */
  exportState(): CheckState {
    const components: Record<string, unknown> = {};
    for (const [name, component] of this.#components) {
      const value = component.export();
      if (value !== undefined) components[name] = value;
    }
    return {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      server: this.#stateServer(),
      savedAt: this.#clock(),
      components,
    };
  }

  /**
   * Takes back what {@link SupervisordCheck.exportState} of a check of the
   * same server (same `name` and address) gave, before the first run. Slots
   * the check does not own are ignored; a slot that fails its validation is
   * dropped (the rest is restored) and named in the returned warnings.
   *
   * @param state the value, as parsed from JSON.
   * @returns the warnings: one per slot dropped.
   * @throws {StateError} when the value is not a state of this package, has
   *   another version, or belongs to another server: nothing is restored.
   * @throws {Error} when a run was started already.
   */
  restoreState(state: unknown): string[] {
    if (this.#started) throw new Error('restoreState() must be called before the first run()');
    const checked = checkEnvelope(state, this.#stateServer());
    const context: RestoreContext = { now: this.#clock(), savedAt: checked.savedAt };
    const warnings: string[] = [];
    for (const [name, component] of this.#components) {
      if (!Object.hasOwn(checked.components, name)) continue;
      try {
        component.restore(checked.components[name], context);
      } catch (error) {
        if (!(error instanceof StateError)) throw error;
        warnings.push(this.#maskText(`the saved state's '${name}' is ignored: ${error.message}`));
      }
    }
    return warnings;
  }

  /**
   * Resolves once the background name refresh under way, if any, has ended
   * (it is bounded by `listing_timeout`): a process that exits after its run
   * waits for it, then saves the state, so that the refresh is not lost.
   *
   * @returns whether a refresh was under way.
   */
  async idle(): Promise<boolean> {
    const refreshing = this.#refresh;
    if (refreshing === undefined) return false;
    await refreshing;
    return true;
  }

  /** The server as a state names it. */
  #stateServer(): StateServer {
    return { name: this.config.name, address: this.config.address.display };
  }

  /**
   * The components of a saved state. Each slot is exported and validated by
   * its owner; one more component is one more entry here.
   */
  #stateComponents(): ReadonlyMap<string, StateComponent> {
    return new Map<string, StateComponent>([
      ['collector', { export: () => this.#collector.exportState(), restore: (value) => this.#collector.restoreState(value) }],
      [
        'mainLog',
        {
          // Where the last read of supervisord's main log ended, and the exits it saw (unused with read_main_log: false).
          export: () => {
            const state = this.#collector.mainLog?.getState();
            return state === undefined || (state.offset === null && state.names.length === 0) ? undefined : state;
          },
          restore: (value) => {
            try {
              this.#collector.mainLog?.restoreState(value);
            } catch (error) {
              if (error instanceof TypeError) throw new StateError(error.message);
              throw error;
            }
          },
        },
      ],
      [
        'history',
        {
          export: () => (this.#history === undefined ? undefined : historyToState(this.#history)),
          restore: (value) => {
            this.#history = historyFromState(value);
          },
        },
      ],
    ]);
  }

  async #runOnce(): Promise<CheckResult> {
    let result: CheckResult;
    try {
      const started = performance.now();
      const collected = await this.#collectWithin();
      const listedAt = performance.now();
      if (collected.processInfo.ok) this.#startRefresh();
      const unjudged = await this.#names.judge(processNames(collected), started + this.config.timeoutMs, {
        patterns: this.config.procRegex,
        texts: () => hintTexts(collected.processInfo.ok ? collected.processInfo.value : undefined),
      });
      const output = buildRun(this.config, collected, this.#history, unjudged, this.#messages);
      result = output.result;
      if (output.history !== undefined) this.#history = output.history;
      if (this.config.collectResources && output.monitored !== undefined) await this.#addResources(output.monitored, result, started, listedAt);
      const detail = this.#failureDetail(collected);
      if (detail !== undefined) result.warnings.push(detail);
      const missing = collected.processInfo.ok ? undefined : missingCredentialsWarning(collected.processInfo.error, this.config);
      if (missing !== undefined) result.warnings.push(missing);
    } catch (error) {
      // Only a bug of ours can get here; a run still never rejects.
      result = { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] };
      result.errors.push(`Internal error of the supervisord check: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const warning of result.warnings) this.#warn(warning);
    if (this.#configWarningsPending) {
      this.#configWarningsPending = false;
      result.warnings.unshift(...this.configWarnings);
    }
    if (result.metadata.version !== undefined) this.#debug(`Version collected: ${result.metadata.version.raw}`);
    return this.#mask(result);
  }

  /**
   * The collector's calls under one deadline for the whole run: `timeout`
   * bounds the run, not each call (the multicall fallback, the shards and a
   * relisting after BAD_NAME make several). A full listing that learns the
   * names of a server of unknown or large size (`CallHints.listing`) may
   * run to `listing_timeout` from the run's start, once the server has shown
   * in this run that it answers: an earlier call answered, or, on a
   * connection of ours, a `getState` sent beside the listing after
   * {@link PROBE_AFTER_MS}. A server that answers nothing is still reported
   * at `timeout`. A call still pending when the deadline expires is
   * abandoned with a {@link RunDeadlineError} (reported as a timeout, naming
   * the pending calls), and connections of ours are closed so nothing of
   * this run reaches into the next one; an injected client is left to its
   * owner.
   */
  async #collectWithin(): Promise<Collected> {
    if (this.#injected === undefined) poolModule ??= await import('../protocol/xmlrpc-pool.js');
    const client = this.#getClient();
    const owned = client !== this.#injected;
    const display = this.config.address.display;
    const started = performance.now();
    const normalEnd = started + this.config.timeoutMs;
    const longEnd = started + Math.max(this.config.listingTimeoutMs, this.config.timeoutMs);
    const processCount = this.#collector.processCount;
    const pending = new Set<{ what: string }>();
    let expired = false;
    let extended = false;
    let answered = false;
    const end = (): number => (extended ? longEnd : normalEnd);
    const expire = (): RunDeadlineError => {
      expired = true;
      const [ms, key] = extended
        ? [Math.max(this.config.listingTimeoutMs, this.config.timeoutMs), 'listing_timeout' as const]
        : [this.config.timeoutMs, 'timeout' as const];
      return new RunDeadlineError(display, ms, key, [...pending].map((p) => p.what), processCount);
    };
    const bound = (what: string, hints: CallHints | undefined, start: () => Promise<unknown>): Promise<unknown> => {
      const long = hints?.listing === true;
      // Timers fire on whole milliseconds, possibly a fraction early: once one fired, the run is over.
      if (expired || end() - performance.now() < 1) return Promise.reject(expire());
      let call: Promise<unknown>;
      try {
        call = start();
      } catch (error) {
        return Promise.reject(error);
      }
      const entry = { what };
      pending.add(entry);
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        let probe: NodeJS.Timeout | undefined;
        // At the end of `timeout`, a learning listing of a server seen answering gets until `listing_timeout`.
        const check = (): void => {
          if (long && answered && longEnd > normalEnd) extended = true;
          const left = end() - performance.now();
          if (left >= 1) {
            timer = setTimeout(check, left);
          } else {
            clearTimeout(probe);
            reject(expire());
            pending.delete(entry);
          }
        };
        timer = setTimeout(check, end() - performance.now());
        if (long && owned && !answered) {
          probe = setTimeout(() => {
            (client.call(STATE_METHOD, []) as Promise<unknown>).then(
              () => {
                answered = true;
              },
              () => {},
            );
          }, Math.min(PROBE_AFTER_MS, this.config.timeoutMs / 2));
        }
        const settled = (): void => {
          clearTimeout(timer);
          clearTimeout(probe);
          pending.delete(entry);
        };
        call.then(
          (value) => {
            settled();
            answered = true;
            resolve(value);
          },
          (error: unknown) => {
            settled();
            if (error instanceof XmlRpcFault) answered = true;
            reject(error);
          },
        );
      });
    };
    const bounded: CollectClient = {
      call: (method, params, hints) => bound(method, hints, () => client.call(method, params)),
    };
    if (client.multicall !== undefined) {
      bounded.multicall = (calls, hints) => bound(describeBatch(calls), hints, () => client.multicall!(calls));
    }
    const collected = await this.#collector.collect(bounded);
    if (expired && owned && this.#client === client) {
      this.#client = undefined;
      await client.close();
    }
    return collected;
  }

  /**
   * Adds the processes' resources (`/proc`) to a run that listed them. The
   * `getPID` that identifies supervisord, asked only when its pid is not
   * known yet (or no longer holds), shares the run's deadline.
   */
  async #addResources(monitored: readonly ProcessInfo[], result: CheckResult, started: number, listedAt: number): Promise<void> {
    const getPid = (): Promise<unknown> => {
      const left = Math.floor(started + this.config.timeoutMs - performance.now());
      if (left < 1) return Promise.reject(new Error(`the run's 'timeout' (${this.config.timeoutMs / 1000} s) has expired`));
      return withDeadline(this.#getClient().call(PID_METHOD, []), left, this.config.address.display);
    };
    this.#resources ??= new (await import('./resources/collector.js')).ResourceCollector({ instanceTags: this.config.instanceTags });
    const resources = await this.#resources.collect(monitored, { getPid, listedAt });
    // Nine per process: no spread (tens of thousands of arguments).
    for (const metric of resources.metrics) result.metrics.push(metric);
    result.warnings.push(...resources.warnings);
  }

  /**
   * Starts the background listing that refreshes the collector's names when
   * it asks for one, on a connection of its own (not one of the run's, which
   * the next run's shards may need), bounded by `listing_timeout`. Released
   * when it ends and by {@link SupervisordCheck.close}.
   */
  #startRefresh(): void {
    if (!this.#collector.refreshDue || this.#refresh !== undefined) return;
    const ms = Math.max(this.config.listingTimeoutMs, this.config.timeoutMs);
    const own = this.#injected === undefined ? this.#newClient(1, ms) : undefined;
    const client: CheckClient = own ?? this.#injected!;
    this.#refreshClient = own;
    const bounded: CollectClient = {
      call: (method, params) => withDeadline(client.call(method, params), ms, this.config.address.display),
    };
    this.#refresh = this.#collector.refresh(bounded).finally(async () => {
      this.#refresh = undefined;
      this.#refreshClient = undefined;
      await own?.close();
    });
  }

  /**
   * Why the server could not be reached or did not answer, as a warning: the
   * reference's `Cannot connect` message (kept for parity) drops the cause,
   * which is what a user needs most (no socket, refused, no permission, a
   * certificate...). For a deadline, which key to raise.
   */
  #failureDetail(collected: Collected): string | undefined {
    const outcome = collected.processInfo;
    if (outcome.ok) return undefined;
    const error = outcome.error;
    if (error instanceof TimeoutError && error.code === 'ERR_DEADLINE') {
      const key = error instanceof RunDeadlineError ? error.key : 'timeout';
      const flag = key === 'timeout' ? ` (--timeout)` : '';
      return `'${key}' (${error.timeoutMs / 1000} s) expired before supervisord answered: raise '${key}'${flag} for a busy supervisord or one with many processes`;
    }
    if (!(error instanceof ConnectError || error instanceof TimeoutError || error instanceof ConnectionClosedError)) return undefined;
    let detail = error.message;
    // The transport names some TLS failures by code only (`connect ERR_TLS_CERT_ALTNAME_INVALID ...`): add Node's reason.
    const cause = error.cause;
    if (cause instanceof Error && cause.message !== '' && !detail.includes(cause.message)) detail += `: ${cause.message}`;
    const code = error instanceof TimeoutError ? undefined : error.osCode;
    const reason = code === undefined ? undefined : OS_REASONS[code];
    if (reason !== undefined) detail += `: ${reason}`;
    if (error instanceof TimeoutError) detail += `: raise 'connect_timeout' if the server is slow to accept connections`;
    const tls = this.config.tls;
    if (tls === undefined) return detail;
    // OS errors are E + capitals (ECONNREFUSED); certificate failures are OpenSSL's or Node's codes.
    if (error instanceof ConnectError && code !== undefined && !/^E[A-Z0-9]+$/.test(code) && tls.verify) {
      detail +=
        tls.ca === undefined
          ? `; set 'tls_ca' to the CA certificate (PEM) that signed the server's certificate, or 'tls_verify: false' to skip the check`
          : `; check that 'tls_ca' (${tls.ca}) signed the server's certificate and that the certificate names the host of 'url'`;
    } else if (code?.endsWith('_ALERT_CERTIFICATE_REQUIRED') === true && tls.cert === undefined) {
      // TLS 1.3: the server's alert arrives after the client's handshake is done, as a failed read.
      detail += `; the server asks for a client certificate: set 'tls_cert' and 'tls_key'`;
    }
    return detail;
  }

  #getClient(): CheckClient {
    if (this.#injected !== undefined) return this.#injected;
    this.#client ??= this.#newClient(
      this.config.maxConnections ?? MAX_AUTO_CONNECTIONS,
      // The run's deadline is enforced above (and may be `listing_timeout`); the
      // client's own is a backstop a little later, so that the run's, which
      // names the pending calls, is the one reported.
      Math.max(this.config.listingTimeoutMs, this.config.timeoutMs) + CLIENT_DEADLINE_SLACK_MS,
    );
    return this.#client;
  }

  #newClient(maxConnections: number, timeoutMs: number): XmlRpcPool {
    const auth = this.#credentials;
    // Loaded by #collectWithin, which every path to a connection goes through first.
    return new poolModule!.XmlRpcPool(this.config.address, {
      // Every call of the check only reads: one that met a stale kept-alive socket is safe to send again.
      idempotent: true,
      ...(auth === undefined ? {} : { username: auth.username, password: auth.password }),
      connectTimeoutMs: this.config.connectTimeoutMs,
      timeoutMs,
      idleTimeoutMs: CONNECTION_IDLE_MS,
      maxBodyBytes: this.config.maxResponseBytes,
      ...(this.#tls === undefined ? {} : { tls: this.#tls.clientOptions() }),
      maxConnections,
      ...(this.#budget === undefined ? {} : { budget: this.#budget }),
    });
  }

  #warn(message: string): void {
    try {
      this.#log?.warn(this.#maskText(message));
    } catch {
      // A failing logger must not fail the check.
    }
  }

  #debug(message: string): void {
    try {
      this.#log?.debug?.(this.#maskText(message));
    } catch {
      // As #warn.
    }
  }

  #maskText(text: string): string {
    return this.#redactor.redact(text);
  }

  #mask(result: CheckResult): CheckResult {
    if (this.#redactor.empty) return result;
    // Tag strings come again in every list of a process (the instance tags in all): each distinct one is
    // redacted once, then found by its hash, which the string keeps (cheaper than even the redactor's quick
    // look at a string that is no longer in the processor's cache: bench/fleet.js --password).
    const memo = new Map<string, string>();
    const m = (text: string): string => {
      let masked = memo.get(text);
      if (masked === undefined) {
        masked = this.#maskText(text);
        memo.set(text, masked);
      }
      return masked;
    };
    // A list comes back as it is when nothing in it changes (the usual list); the copies of one list that the
    // submissions of a process carry hold the same strings, so a list of the very strings of the one before that
    // had nothing to mask is let through at once.
    let clean: readonly string[] = [];
    const tags = (list: string[]): string[] => {
      if (sameStrings(list, clean)) return list;
      let out: string[] | undefined;
      for (let i = 0; i < list.length; i++) {
        const text = list[i]!;
        const masked = m(text);
        if (masked !== text) (out ??= list.slice())[i] = masked;
      }
      if (out === undefined) clean = list;
      return out ?? list;
    };
    for (const metric of result.metrics) metric.tags = tags(metric.tags);
    for (const check of result.serviceChecks) {
      check.tags = tags(check.tags);
      if (check.message !== undefined) check.message = m(check.message);
    }
    result.warnings = result.warnings.map(m);
    result.errors = result.errors.map(m);
    const version = result.metadata.version;
    if (version !== undefined) version.raw = m(version.raw);
    // Each process's own strings appear once: redacted directly, not remembered.
    const once = (text: string): string => this.#maskText(text);
    for (const p of result.processes ?? []) {
      p.name = once(p.name);
      p.group = once(p.group);
      p.statename = once(p.statename);
      p.description = once(p.description);
      // An unknown exit's reason can quote the main log's failure (a fault string, an error message).
      if (p.exit?.reason !== undefined) p.exit.reason = m(p.exit.reason);
    }
    return result;
  }
}

function checkOptions(options: unknown): asserts options is CheckOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}' (expected log, client, clock, oneShot, connections, messages)`);
  }
  const { log, client, clock, oneShot, connections, messages } = options as Record<string, unknown>;
  if (oneShot !== undefined && typeof oneShot !== 'boolean') throw new TypeError('options.oneShot must be true or false');
  if (messages !== undefined && typeof messages !== 'boolean') throw new TypeError('options.messages must be true or false');
  if (connections !== undefined && (typeof connections !== 'object' || connections === null || typeof (connections as { tryAcquire?: unknown }).tryAcquire !== 'function')) {
    throw new TypeError('options.connections must be a ConnectionBudget');
  }
  if (clock !== undefined && typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds');
  if (log !== undefined) {
    const l = log as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null || typeof l['warn'] !== 'function') {
      throw new TypeError('options.log must have a warn(message) method');
    }
    if (l['debug'] !== undefined && typeof l['debug'] !== 'function') throw new TypeError('options.log.debug must be a function');
  }
  if (client !== undefined) {
    const c = client as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null || typeof c['call'] !== 'function' || typeof c['close'] !== 'function') {
      throw new TypeError('options.client must have call() and close() methods');
    }
  }
}
