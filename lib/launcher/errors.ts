/**
 * The launcher's error: one class, a stable `code` per failure.
 *
 * @module
 */

/**
 * Codes of {@link LauncherError}:
 *
 * - `ERR_LAUNCHER_OPTION`: an option is invalid (the message names it), or a
 *   program or group name supervisord would refuse or misread;
 * - `ERR_LAUNCHER_NOT_INSTALLED`: supervisord (or supervisorctl) was not found;
 * - `ERR_LAUNCHER_EXITED`: supervisord could not be run, or exited before
 *   answering (the message carries the end of its log);
 * - `ERR_LAUNCHER_PORT_IN_USE`: supervisord exited because the TCP port chosen
 *   for it was taken meanwhile;
 * - `ERR_LAUNCHER_TIMEOUT`: the awaited state was not reached in time (the
 *   message says what was seen last);
 * - `ERR_LAUNCHER_NOT_RUNNING`: the supervisord was stopped, or had exited,
 *   before the call.
 */
export type LauncherErrorCode =
  | 'ERR_LAUNCHER_OPTION'
  | 'ERR_LAUNCHER_NOT_INSTALLED'
  | 'ERR_LAUNCHER_EXITED'
  | 'ERR_LAUNCHER_PORT_IN_USE'
  | 'ERR_LAUNCHER_TIMEOUT'
  | 'ERR_LAUNCHER_NOT_RUNNING';

/** Why starting, driving or stopping a throwaway supervisord failed. */
export class LauncherError extends Error {
  /** Stable machine-readable identifier; see {@link LauncherErrorCode}. */
  readonly code: LauncherErrorCode;

  constructor(code: LauncherErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  override get name(): string {
    return 'LauncherError';
  }
}
