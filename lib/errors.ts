/**
 * Errors of the check layer.
 *
 * @module
 */

import { TimeoutError } from '../protocol/errors.js';

/**
 * The instance configuration cannot be used. Thrown by the `SupervisordCheck`
 * constructor (and `resolveConfig`) before any connection is made.
 *
 * Messages are the reference check's where it has one (`Supervisor server
 * name not specified in yaml configuration.`, `'proc_regex' should be a list
 * of strings. e.g. ['value']`...), and otherwise name the key. A message never
 * contains a password or a username.
 */
export class ConfigError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_CONFIG' as const;
  /** The configuration key at fault, when there is one (`name`, `proc_regex`, `port`...). */
  readonly key?: string;

  /**
   * @param message the complete, user-facing message.
   * @param key the configuration key at fault.
   */
  constructor(message: string, key?: string) {
    super(message);
    if (key !== undefined) this.key = key;
  }

  override get name(): string {
    return 'ConfigError';
  }
}

/**
 * A run's deadline expired while supervisord had accepted the connection
 * and not answered every call: the server is reachable but slow (busy, or
 * writing a full listing of many processes). Reported as a timeout, not as
 * a connection failure. `code` is `ERR_DEADLINE`, as for the transport's own
 * deadline.
 */
export class RunDeadlineError extends TimeoutError {
  /** The deadline's configuration key: `timeout`, or `listing_timeout` for a run extended by a learning listing. */
  readonly key: 'timeout' | 'listing_timeout';
  /** The calls still pending, described (`supervisor.getAllProcessInfo`, `system.multicall[...]`). */
  readonly pending: readonly string[];
  /** How many processes the last full listing had, when there was one. */
  readonly processCount: number | undefined;

  /**
   * @param address the target, printable.
   * @param timeoutMs the deadline that expired, from the run's start.
   * @param key the configuration key of that deadline.
   * @param pending see {@link RunDeadlineError.pending}.
   * @param processCount see {@link RunDeadlineError.processCount}.
   */
  constructor(address: string, timeoutMs: number, key: 'timeout' | 'listing_timeout', pending: readonly string[], processCount: number | undefined) {
    super('ERR_DEADLINE', `no complete answer from ${address} within ${timeoutMs} ms (the run's deadline)`, address, timeoutMs);
    this.key = key;
    this.pending = Object.freeze([...pending]);
    this.processCount = processCount;
  }
}

/**
 * A saved state cannot be restored into a check
 * (`SupervisordCheck.restoreState`): it is not a state of this package, it
 * has another version, or it belongs to another server. Nothing of it was
 * restored: the next run is a learning run, as the first run of a new check.
 * A message names what is wrong, never what the state holds.
 */
export class StateError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_STATE' as const;

  override get name(): string {
    return 'StateError';
  }
}
