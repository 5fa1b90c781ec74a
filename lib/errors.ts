/**
 * Errors of the check layer.
 *
 * @module
 */

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
