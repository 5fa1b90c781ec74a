/**
 * The command line's secrets: `--password-file` and `SUPERVISORD_PASSWORD`, and the warnings for files others can read.
 *
 * @module
 */

import { constants as fsConstants, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
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
  const { text, mode } = await readPasswordFile(file);
  const first = text.split('\n', 1)[0]!.replace(/\r$/, '');
  if (first === '') throw new UsageError(`--password-file ${file} is empty (the password is its first line)`);
  // 0o002: writable by anyone, who could put their own password there.
  if ((mode & 0o002) !== 0) say(`warning: --password-file ${file} can be written by every user (chmod 600 it)`);
  if ((mode & 0o044) !== 0) say(readableWarning(file, '--password-file', ''));
  return first;
}

/** Only the first line is used; a password file is far smaller than this. */
const PASSWORD_FILE_MAX_BYTES = 64 * 1024;

/** Reads the start of a regular file, refusing anything else before reading (see {@link readPassword}). */
async function readPasswordFile(file: string): Promise<{ text: string; mode: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (error) {
    throw new UsageError(`cannot read --password-file ${file}: ${fsProblem(error)}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      const what = stats.isFIFO() ? 'a FIFO' : stats.isDirectory() ? 'a directory' : stats.isSocket() ? 'a socket' : 'a device';
      throw new UsageError(`--password-file ${file} is ${what}, not a regular file`);
    }
    const buffer = Buffer.alloc(Math.min(stats.size, PASSWORD_FILE_MAX_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), mode: stats.mode };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read --password-file ${file}: ${fsProblem(error)}`);
  } finally {
    await handle.close();
  }
}

/** `warning: --password-file F can be read by other users (chmod 600 it)`. */
export function readableWarning(file: string, flag: string, what: string): string {
  return `warning: ${flag} ${file}${what === '' ? '' : ` ${what}`} can be read by other users (chmod 600 it)`;
}

/** {@link readableWarning} when the group or others may read `file` (mode 0o044). */
export function warnIfReadableByOthers(file: string, flag: string, what: string, say: (line: string) => void): void {
  try {
    if ((statSync(file).mode & 0o044) !== 0) say(readableWarning(file, flag, what));
  } catch {
    // It was just read; a race with its removal changes nothing.
  }
}
