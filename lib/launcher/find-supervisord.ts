/**
 * Finding the installed `supervisord` and `supervisorctl`.
 *
 * @module
 */

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Searched after `PATH`: Debian's package installs in the first, pip's default prefix is the second. */
const WELL_KNOWN_DIRS = ['/usr/bin', '/usr/local/bin'];

/**
 * Path of the executable `name`: the first executable regular file of that
 * name in `preferDir`, then the directories of `PATH`, then `/usr/bin` and
 * `/usr/local/bin`.
 *
 * @param options `env`: where `PATH` is read (default `process.env`);
 *   `preferDir`: a directory searched first.
 * @returns the path, or null when there is none.
 */
export function findExecutable(name: string, options: { env?: NodeJS.ProcessEnv; preferDir?: string } = {}): string | null {
  const onPath = (options.env ?? process.env)['PATH']?.split(delimiter).filter((dir) => dir !== '') ?? [];
  const dirs = [...(options.preferDir === undefined ? [] : [options.preferDir]), ...onPath, ...WELL_KNOWN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not there or not executable: keep looking.
    }
  }
  return null;
}

/**
 * Path of the `supervisord` executable (see {@link findExecutable} for the
 * search). `SUPERVISORD_BIN` in `env` overrides the search: a path to use as
 * it is, or the empty string for "not installed".
 *
 * @param env where `SUPERVISORD_BIN` and `PATH` are read. Default `process.env`.
 * @returns the path, or null when supervisord is not installed.
 */
export function findSupervisord(env: NodeJS.ProcessEnv = process.env): string | null {
  const forced = env['SUPERVISORD_BIN'];
  if (forced !== undefined) return forced === '' ? null : forced;
  return findExecutable('supervisord', { env });
}
