/**
 * `SupervisordCheck`: one configured supervisord instance, run on demand.
 * It owns the connection and what is remembered between runs (the restart
 * marks of `submissions.ts`, the collector's name map and multicall support);
 * which calls are made is `collect.ts`'s business, and what the answers mean
 * is computed by the pure functions of `submissions.ts`.
 *
 * @module
 */

import { performance } from 'node:perf_hooks';

import { ConnectError, ConnectionClosedError, TimeoutError } from '../protocol/errors.js';
import { CredentialRedactor } from '../protocol/redact.js';
import { XmlRpcClient } from '../protocol/xmlrpc-client.js';
import { Collector } from './collect.js';
import { NameFilter } from './name-filter.js';
import { resolveConfig } from './config.js';
import { missingCredentialsWarning } from './hints.js';
import type { Credentials, ResolvedConfig, TlsMaterial } from './config.js';
import { buildRun, processNames } from './submissions.js';
import type { Collected, ProcessHistory } from './submissions.js';
import type { CheckClient, CheckResult, CollectClient, InstanceConfig, ServiceCheckStatus } from './types.js';

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
}

const OPTION_KEYS = new Set(['log', 'client', 'clock']);

/**
 * The supervisord check for one instance. The connection is opened by the
 * first run, kept between runs and released by {@link SupervisordCheck.close}.
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
  readonly #collector: Collector;
  /** Judges server-supplied names against proc_regex / proc_regex_exclude within the run's deadline. */
  readonly #names: NameFilter;
  #history: ProcessHistory | undefined;
  #client: CheckClient | undefined;
  #configWarningsPending = true;
  #queue: Promise<unknown> = Promise.resolve();

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
    this.#redactor = new CredentialRedactor(credentials?.username, credentials?.password);
    this.configWarnings = Object.freeze([...warnings]);
    this.#log = options.log;
    this.#injected = options.client;
    this.#names = new NameFilter([...config.procRegex, ...config.procRegexExclude]);
    this.#collector = new Collector(config, {
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      debug: (message) => this.#debug(message),
    });
    for (const warning of warnings) this.#warn(warning);
  }

  /**
   * Runs the check once: one `system.multicall` of the process information
   * (`getAllProcessInfo`, or `getProcessInfo` of the named processes), the
   * version and the state, or separate calls where multicall fails (see
   * `collect.ts`). Restarts are counted against the previous run that read
   * the process list. The instance's `timeout` bounds the whole run, however
   * many calls it makes.
   *
   * @returns the submissions, warnings and errors of the run. Never rejects
   *   for anything the server or the network does: failures are in
   *   `errors` (and a CRITICAL `supervisord.can_connect` when the server could
   *   not be reached).
   */
  run(): Promise<CheckResult> {
    const result = this.#queue.then(() => this.#runOnce());
    this.#queue = result.catch(() => undefined); // #runOnce does not reject; the chain must survive if it ever did
    return result;
  }

  /** Closes the connection (an in-flight run ends with an error). A later run opens a new one. */
  async close(): Promise<void> {
    const client = this.#client ?? this.#injected;
    this.#client = undefined;
    await Promise.all([client?.close(), this.#names.close()]);
  }

  async #runOnce(): Promise<CheckResult> {
    let result: CheckResult;
    try {
      const started = performance.now();
      const collected = await this.#collectWithin();
      const unjudged = await this.#names.judge(processNames(collected), started + this.config.timeoutMs);
      const output = buildRun(this.config, collected, this.#history, unjudged);
      result = output.result;
      if (output.history !== undefined) this.#history = output.history;
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
   * bounds the run, not each call (the multicall fallback and a relisting
   * after BAD_NAME make several). A call still pending when it expires is
   * abandoned with a {@link TimeoutError} (reported like the reference's
   * socket timeout), and a connection of ours is closed so nothing of this run
   * reaches into the next one; an injected client is left to its owner.
   */
  async #collectWithin(): Promise<Collected> {
    const client = this.#getClient();
    const ms = this.config.timeoutMs;
    const display = this.config.address.display;
    const deadline = performance.now() + ms;
    let expired = false;
    const bound = (start: () => Promise<unknown>): Promise<unknown> => {
      const expire = (): TimeoutError => {
        expired = true;
        return new TimeoutError('ERR_DEADLINE', `no complete answer from ${display} within ${ms} ms (the run's deadline)`, display, ms);
      };
      const left = deadline - performance.now();
      // Timers fire on whole milliseconds, possibly a fraction early: once one fired, the run is over.
      if (expired || left < 1) return Promise.reject(expire());
      let pending: Promise<unknown>;
      try {
        pending = start();
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(expire()), left);
        pending.then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    };
    const bounded: CollectClient = { call: (method, params) => bound(() => client.call(method, params)) };
    if (client.multicall !== undefined) bounded.multicall = (calls) => bound(() => client.multicall!(calls));
    const collected = await this.#collector.collect(bounded);
    if (expired && this.#client === client) {
      this.#client = undefined;
      await client.close();
    }
    return collected;
  }

  /**
   * Why a `url` target could not be reached. The reference's `Cannot connect`
   * message (kept for parity) drops the cause, which is what a user of an
   * https URL needs most: an untrusted certificate or a host name that the
   * certificate does not cover is fixed in the configuration, not on the
   * server. Only for `url` (ours): host/port/socket runs keep the
   * reference's output.
   */
  #failureDetail(collected: Collected): string | undefined {
    const outcome = collected.processInfo;
    if (this.config.url === undefined || outcome.ok) return undefined;
    const error = outcome.error;
    if (!(error instanceof ConnectError || error instanceof TimeoutError || error instanceof ConnectionClosedError)) return undefined;
    let detail = error.message;
    // The transport names some TLS failures by code only (`connect ERR_TLS_CERT_ALTNAME_INVALID ...`): add Node's reason.
    const cause = error.cause;
    if (cause instanceof Error && cause.message !== '' && !detail.includes(cause.message)) detail += `: ${cause.message}`;
    const tls = this.config.tls;
    if (tls === undefined) return detail;
    const code = error instanceof TimeoutError ? undefined : error.osCode;
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
    if (this.#client === undefined) {
      const auth = this.#credentials;
      this.#client = new XmlRpcClient(this.config.address, {
        ...(auth === undefined ? {} : { username: auth.username, password: auth.password }),
        connectTimeoutMs: this.config.connectTimeoutMs,
        timeoutMs: this.config.timeoutMs,
        maxBodyBytes: this.config.maxResponseBytes,
        ...(this.#tls === undefined ? {} : { tls: this.#tls.clientOptions() }),
        // Every call of the check only reads: one that met a stale kept-alive socket is safe to send again.
        idempotent: true,
      });
    }
    return this.#client;
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
    // The same tag strings repeat across every submission of a process (and
    // the instance tags across all): redact each distinct string once (the
    // redaction cost of a 1,000-process run drops to a third; bench/check.js).
    const memo = new Map<string, string>();
    const m = (text: string): string => {
      let masked = memo.get(text);
      if (masked === undefined) {
        masked = this.#maskText(text);
        memo.set(text, masked);
      }
      return masked;
    };
    for (const metric of result.metrics) metric.tags = metric.tags.map(m);
    for (const check of result.serviceChecks) {
      check.tags = check.tags.map(m);
      if (check.message !== undefined) check.message = m(check.message);
    }
    result.warnings = result.warnings.map(m);
    result.errors = result.errors.map(m);
    const version = result.metadata.version;
    if (version !== undefined) version.raw = m(version.raw);
    for (const p of result.processes ?? []) {
      p.name = m(p.name);
      p.group = m(p.group);
      p.statename = m(p.statename);
      p.description = m(p.description);
    }
    return result;
  }
}

function checkOptions(options: unknown): asserts options is CheckOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}' (expected log, client, clock)`);
  }
  const { log, client, clock } = options as Record<string, unknown>;
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
