/**
 * The command line's secrets: `--password-file` and `SUPERVISORD_PASSWORD`,
 * the reading of `--config` under the same rules, and the warnings for files
 * others can read.
 *
 * @module
 */

import { constants as fsConstants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

import { UsageError } from './args.js';
import type { CliOptions } from './args.js';
import { fsProblem } from './report.js';

/**
 * The password from `--password-file` (its first line), else
 * `SUPERVISORD_PASSWORD`. The file must be a regular file: it is opened
 * without blocking and checked before any read, so that a FIFO (whose open
 * and read wait for a writer), a device or a directory is refused at once.
 * Warns when others may read it or write it.
 */
export async function readPassword(
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>,
  say: (line: string) => void,
): Promise<string | undefined> {
  if (options.passwordFile === undefined) {
    const fromEnv = env['SUPERVISORD_PASSWORD'];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  }
  const file = options.passwordFile;
  const { text, mode } = await readRegularFile(file, '--password-file', PASSWORD_FILE_MAX_BYTES);
  const first = text.split('\n', 1)[0]!.replace(/\r$/, '');
  if (first === '') throw new UsageError(`--password-file ${file} is empty (the password is its first line)`);
  warnAboutMode(file, '--password-file', mode, true, say);
  return first;
}

/**
 * The warnings for a file of the command line that others may change or
 * read: every user can write it (they could put their own password or
 * servers there), or, when it holds a password, the group or others can
 * read it.
 *
 * @param mode the file's mode, from the `stat` of the handle it was read through.
 */
export function warnAboutMode(file: string, flag: string, mode: number, holdsPassword: boolean, say: (line: string) => void): void {
  if ((mode & 0o002) !== 0) say(`warning: ${flag} ${file} can be written by every user (chmod ${holdsPassword ? '600' : 'o-w'} it)`);
  const what = flag === '--config' ? ' holds a password and' : '';
  if (holdsPassword && (mode & 0o044) !== 0) say(`warning: ${flag} ${file}${what} can be read by other users (chmod 600 it)`);
}

/** Only the first line is used; a password file is far smaller than this. */
const PASSWORD_FILE_MAX_BYTES = 64 * 1024;

/**
 * Largest `--config` file. 1 MiB holds about 6,000 instances of seven keys
 * (measured: read in 0.2 s, 15 MB of heap), far more servers than one
 * process should check in turn (a fleet is `/probe`'s job); the cap bounds
 * what a wrong path costs (a log file, `/proc/kcore`) before the refusal.
 */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

/**
 * The text of `--config FILE` and its mode, under the rules of
 * `--password-file`: a regular file only, refused at once otherwise, and at
 * most {@link CONFIG_FILE_MAX_BYTES}.
 *
 * @throws {UsageError} naming the file and the problem.
 */
export async function readConfigText(file: string): Promise<{ text: string; mode: number }> {
  const read = await readRegularFile(file, '--config', CONFIG_FILE_MAX_BYTES);
  if (read.truncated) throw new UsageError(`--config ${file} is larger than ${CONFIG_FILE_MAX_BYTES / 1024 / 1024} MiB, the most a configuration file may hold`);
  return read;
}

/**
 * Reads at most `maxBytes` of a file named by `flag`. The file is opened
 * without blocking and checked before any read, so that a FIFO (whose open
 * and read wait for a writer), a device (`/dev/zero` never ends), a socket
 * or a directory is refused at once. The size `stat` reports is not trusted
 * (files of `/proc` report 0): the file is read until its end or past
 * `maxBytes`.
 *
 * @returns the text (UTF-8) of at most `maxBytes`, the file's mode, and
 *   `truncated` when the file holds more.
 * @throws {UsageError} naming the flag, the file and the problem.
 */
async function readRegularFile(file: string, flag: string, maxBytes: number): Promise<{ text: string; mode: number; truncated: boolean }> {
  let handle: FileHandle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (error) {
    // open(2) refuses a unix socket with ENXIO, a message that does not say what the file is.
    if ((error as NodeJS.ErrnoException).code === 'ENXIO' && (await stat(file).catch(() => undefined))?.isSocket() === true) {
      throw new UsageError(`${flag} ${file} is a socket, not a regular file`);
    }
    throw new UsageError(`cannot read ${flag} ${file}: ${fsProblem(error)}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      const what = stats.isFIFO() ? 'a FIFO' : stats.isDirectory() ? 'a directory' : 'a device';
      throw new UsageError(`${flag} ${file} is ${what}, not a regular file`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    const bytes = Buffer.concat(chunks, total);
    return { text: bytes.subarray(0, maxBytes).toString('utf8'), mode: stats.mode, truncated: total > maxBytes };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read ${flag} ${file}: ${fsProblem(error)}`);
  } finally {
    await handle.close();
  }
}

const READ_CHUNK_BYTES = 64 * 1024;
