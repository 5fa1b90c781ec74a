/**
 * What a `/probe` socket allow-list entry admits, beyond its path: a socket
 * path is only a name, and what sits at it receives the module's
 * credentials. An entry trusts the directory it names (`/run/sv/*.sock`
 * trusts `/run/sv`): whoever owns it, and root. What that owner could not
 * have put there is refused:
 *
 * - a symbolic link (it could point at another user's socket), anything
 *   that is not a socket, a socket with hard links (another name for the
 *   same socket, made elsewhere);
 * - a socket owned by a user other than the directory's owner, root or the
 *   exporter's own user (another user could place their own socket);
 * - a directory that users other than its owner can write without the
 *   sticky bit: they could replace the socket between this check and the
 *   connection (with the sticky bit, nobody but its owner can rename or
 *   remove a socket, and a socket of theirs is refused above);
 * - nothing at the path, when users other than the owner can write the
 *   directory: one of them could create it before the connection;
 * - a directory owned by another user than root or the exporter's, in a
 *   directory that others can write (`/tmp/socks`): anyone could have made
 *   it, and its owner is the one trusted.
 *
 * What remains between the check and the connection is a change that only
 * a trusted user can make (the directory's owner, root, or in a sticky
 * directory the socket's trusted owner), who could have placed a socket
 * there anyway. Symbolic links in the directory the entry names are
 * followed (`/var/run` is one): the entry's author chose them.
 *
 * @module
 */

import { lstatSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';

import { fsProblem } from './report.js';

/** Group and others write bits. */
const WRITABLE_BY_OTHERS = 0o022;
const STICKY = 0o1000;

/**
 * Why the socket at `path` must not receive a probe, or undefined when it
 * may (see the module comment). Synchronous: a few `lstat`s of local
 * directories, done on every probe just before it runs.
 *
 * @param path a normalised absolute socket path.
 * @param euid the exporter's effective user id (default: this process's);
 *   undefined where the platform has none, which skips the checks.
 */
export function socketProblem(path: string, euid: number | undefined = exporterEuid()): string | undefined {
  if (euid === undefined) return undefined;
  try {
    return checkSocket(path, euid);
  } catch (error) {
    // EACCES, ENOTDIR, ELOOP...: the exporter could not connect through that path either.
    return `it cannot be checked: ${fsProblem(error)}`;
  }
}

/** This process's effective user id, read once (an exporter does not change it; a probe asked for it every time). */
let euidRead = false;
let ownEuid: number | undefined;

function exporterEuid(): number | undefined {
  if (!euidRead) {
    ownEuid = process.geteuid?.();
    euidRead = true;
  }
  return ownEuid;
}

function checkSocket(path: string, euid: number): string | undefined {
  const dir = posix.dirname(path);
  const dirStats = statSync(dir, { throwIfNoEntry: false });
  if (dirStats === undefined) return missingDirectoryProblem(dir);
  if (!dirStats.isDirectory()) return `${dir} is not a directory`;
  const owners = `the owner of ${dir} (uid ${dirStats.uid}), root or this exporter's user (uid ${euid})`;
  if (dirStats.uid !== 0 && dirStats.uid !== euid) {
    const parent = posix.dirname(dir);
    const parentStats = statSync(parent, { throwIfNoEntry: false });
    if (parentStats !== undefined && writableByOthers(parentStats)) {
      return `${dir} belongs to uid ${dirStats.uid} and sits in ${parent}, which other users can write: any of them could have made it`;
    }
  }
  const stats = lstatSync(path, { throwIfNoEntry: false });
  if (stats === undefined) {
    if (writableByOthers(dirStats)) return `nothing is at that path, and other users can create it in ${dir} ${modeText(dirStats)}`;
    return undefined;
  }
  if (stats.isSymbolicLink()) return 'it is a symbolic link: allow and probe the socket itself';
  if (!stats.isSocket()) return 'it is not a socket';
  if (stats.nlink !== 1) return `the socket has ${stats.nlink} names (hard links): one of them may have been made elsewhere`;
  if (stats.uid !== dirStats.uid && stats.uid !== 0 && stats.uid !== euid) return `the socket belongs to uid ${stats.uid}, not to ${owners}`;
  if (writableByOthers(dirStats) && (dirStats.mode & STICKY) === 0) {
    return `other users can write ${dir} ${modeText(dirStats)} without the sticky bit: they could replace the socket before the connection`;
  }
  return undefined;
}

/** The socket's directory does not exist: admitted only when no one but the owner of its nearest existing ancestor (or root) could create it. */
function missingDirectoryProblem(dir: string): string | undefined {
  let ancestor = posix.dirname(dir);
  for (;;) {
    const stats = statSync(ancestor, { throwIfNoEntry: false });
    if (stats !== undefined) {
      return writableByOthers(stats) ? `${dir} does not exist, and other users can create it in ${ancestor} ${modeText(stats)}` : undefined;
    }
    ancestor = posix.dirname(ancestor);
  }
}

function writableByOthers(stats: Stats): boolean {
  return (stats.mode & WRITABLE_BY_OTHERS) !== 0;
}

function modeText(stats: Stats): string {
  return `(mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')})`;
}
