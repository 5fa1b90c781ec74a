/**
 * `SupervisordCheck`: one configured supervisord instance, run on demand.
 * The I/O lives here (two XML-RPC calls per run, like the reference); what
 * they mean is computed by the pure functions of `submissions.ts`.
 *
 * @module
 */

import { XmlRpcClient } from '../protocol/xmlrpc-client.js';
import type { MulticallRequest } from '../protocol/xmlrpc-client.js';
import { resolveConfig } from './config.js';
import type { Credentials, ResolvedConfig } from './config.js';
import { buildResult, decodeProcessList } from './submissions.js';
import type { CallOutcome, Collected } from './submissions.js';
import type { CheckResult, ServiceCheckStatus } from './types.js';

/** Service-check status OK. */
export const OK = 0 as const satisfies ServiceCheckStatus;
/** Service-check status WARNING (the reference check never uses it). */
export const WARNING = 1 as const satisfies ServiceCheckStatus;
/** Service-check status CRITICAL. */
export const CRITICAL = 2 as const satisfies ServiceCheckStatus;
/** Service-check status UNKNOWN. */
export const UNKNOWN = 3 as const satisfies ServiceCheckStatus;

/** What the check needs from an XML-RPC client ({@link XmlRpcClient} has it). */
export interface CheckClient {
  /** Calls one method; rejects with the protocol errors of `protocol/errors.ts`. */
  call(method: string, params?: readonly unknown[]): Promise<unknown>;
  /** Releases the connection. */
  close(): Promise<void>;
  /** Several calls in one request (not used yet). */
  multicall?(calls: readonly MulticallRequest[]): Promise<unknown>;
}

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
}

const OPTION_KEYS = new Set(['log', 'client']);

/**
 * Passwords of at least this many characters are masked (`***`) in every
 * string a run returns or logs, whatever produced the string. The check's own
 * messages never contain the password; this also covers a server or client
 * that would echo it. Shorter passwords are not masked: replacing every `pass`
 * in `password` would garble the messages.
 */
const MIN_MASKED_PASSWORD = 6;

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
  readonly #log: CheckOptions['log'];
  readonly #injected: CheckClient | undefined;
  #client: CheckClient | undefined;
  #configWarningsPending = true;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * @param instance the instance as loaded from YAML/JSON (check-spec section 1).
   * @param options see {@link CheckOptions}.
   * @throws {ConfigError} when the instance cannot be used (the reference's
   *   messages where it has them); no connection is made.
   * @throws {TypeError} when `options` is malformed (unknown key, `log.warn`
   *   or `client.call`/`client.close` not functions).
   */
  constructor(instance: unknown, options: CheckOptions = {}) {
    checkOptions(options);
    const { config, credentials, warnings } = resolveConfig(instance);
    this.config = config;
    this.#credentials = credentials;
    this.configWarnings = Object.freeze([...warnings]);
    this.#log = options.log;
    this.#injected = options.client;
    for (const warning of warnings) this.#warn(warning);
  }

  /**
   * Runs the check once: `supervisor.getAllProcessInfo`, then, when that
   * worked, `supervisor.getSupervisorVersion`.
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
    await client?.close();
  }

  async #runOnce(): Promise<CheckResult> {
    let result: CheckResult;
    try {
      result = buildResult(this.config, await this.#collect());
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
   * The I/O of a run. Kept apart from {@link buildResult} so that both calls
   * can later be one `system.multicall` without touching what is emitted.
   */
  async #collect(): Promise<Collected> {
    const processInfo = await settle(() => this.#getClient().call('supervisor.getAllProcessInfo'));
    // As the reference: the version is asked only after the processes were submitted.
    if (!processInfo.ok || !decodeProcessList(processInfo.value).ok) return { processInfo };
    const version = await settle(() => this.#getClient().call('supervisor.getSupervisorVersion'));
    return { processInfo, version };
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
    const password = this.#credentials?.password;
    if (password === undefined || password.length < MIN_MASKED_PASSWORD) return text;
    return text.replaceAll(password, '***');
  }

  #mask(result: CheckResult): CheckResult {
    const password = this.#credentials?.password;
    if (password === undefined || password.length < MIN_MASKED_PASSWORD) return result;
    const m = (text: string): string => this.#maskText(text);
    for (const metric of result.metrics) metric.tags = metric.tags.map(m);
    for (const check of result.serviceChecks) {
      check.tags = check.tags.map(m);
      if (check.message !== undefined) check.message = m(check.message);
    }
    result.warnings = result.warnings.map(m);
    result.errors = result.errors.map(m);
    const version = result.metadata.version;
    if (version !== undefined) version.raw = m(version.raw);
    return result;
  }
}

async function settle(call: () => Promise<unknown>): Promise<CallOutcome> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return { ok: false, error };
  }
}

function checkOptions(options: unknown): asserts options is CheckOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}' (expected log, client)`);
  }
  const { log, client } = options as Record<string, unknown>;
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
