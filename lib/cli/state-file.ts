/**
 * `--state-file`: what a single run keeps for the next one, in one small
 * file per server, for a command a monitoring system starts afresh every
 * interval. The state itself (its shape, its validation) is the check's
 * (`check-state.ts`); this module reads and writes the file, and adds the
 * counter totals of the Prometheus output as the slot `counters`.
 *
 * Guarantees (README, "Monitoring systems that start the command"):
 * - written atomically: a temporary file in the same directory (created
 *   exclusively, never through a symbolic link, mode 0600), synced, renamed
 *   over the file, the directory synced; a reader sees the old file or the
 *   new one, never a part;
 * - never read or written through a symbolic link at its own path;
 * - at most {@link STATE_FILE_MAX_BYTES}: a larger file is not read, a
 *   larger state is not written (a warning says so);
 * - two invocations that overlap: a save takes a lock file (created
 *   exclusively; a lock whose process is gone, or older than
 *   {@link LOCK_STALE_MS}, is stale and removed), waits up to
 *   {@link LOCK_WAIT_MS} for it, and then replaces the file only if nobody
 *   saved it since this invocation read it; otherwise this invocation's
 *   state is not saved (a warning), and the file stays whole;
 * - a file that cannot be read, is not a state of ours, belongs to another
 *   server or version, or is malformed is ignored with a warning: the run
 *   is a learning run, as a first one. A file that is not ours (not even
 *   the start of one of our states) is never replaced.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rename, stat, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

import type { SupervisordCheck } from '../check.js';
import { STATE_FORMAT } from '../check-state.js';
import type { CheckState, StateServer } from '../check-state.js';
import { StateError } from '../errors.js';
import { CounterTotals } from '../outputs/prometheus.js';
import type { ServerRun } from '../types.js';
import { UsageError } from './args.js';
import { fsProblem } from './report.js';

/** Largest state file read or written: 16 MiB (a server of 4,000 programs saves about 0.5 MB with the Prometheus counters). */
export const STATE_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** How long a save waits for another invocation's lock before giving up its save. */
export const LOCK_WAIT_MS = 2000;
/** A lock older than this is stale whoever holds it: a save holds it for milliseconds. */
export const LOCK_STALE_MS = 60_000;
/**
 * How long a counter series of the Prometheus output survives in the state
 * without being added to: a day, so that a command run every hour keeps
 * its totals, while the series of a process removed for good go.
 */
export const STATE_COUNTER_GRACE_MS = 24 * 60 * 60 * 1000;
/** How every state file of ours starts (`format` is the first key written): only such a file, or an empty one, is replaced. */
const OURS_PREFIX = `{"format":${JSON.stringify(STATE_FORMAT)}`;
const LOCK_POLL_MS = 25;

/** The slot the command line adds to the check's state: the Prometheus counter totals. */
const COUNTERS_SLOT = 'counters';

/**
 * The file name of a server's state inside a `--state-file` directory:
 * its name with every character outside `[A-Za-z0-9._-]` as `_` (at most
 * 64 of them, no leading dot), then 12 hex digits of a SHA-256 of the name
 * and the address, so that two servers never share a file:
 * `web-1.3f2a9c01b7de.state.json`.
 */
export function stateFileName(server: StateServer): string {
  const safe = server.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 64);
  const digest = createHash('sha256').update(`${server.name}\n${server.address}`).digest('hex').slice(0, 12);
  return `${safe}.${digest}.state.json`;
}

/**
 * Where a server's state lives: in a directory (an existing one, or a path
 * ending in `/`) the file {@link stateFileName} names; else the path
 * itself, which then holds one server's state.
 *
 * @param option the path given (`--state-file` or `state_file`).
 * @param base the directory a relative path is taken from.
 */
export async function statePath(option: string, server: StateServer, base: string): Promise<{ file: string; directory: boolean }> {
  const resolved = path.resolve(base, option);
  let directory = option.endsWith('/');
  if (!directory) {
    try {
      directory = (await stat(resolved)).isDirectory();
    } catch {
      // Not there (yet): a file.
    }
  }
  return directory ? { file: path.join(resolved, stateFileName(server)), directory } : { file: resolved, directory };
}

/** What {@link readStateFile} found. */
export interface StateRead {
  /** The parsed JSON, when the file could be read and parsed. */
  value?: unknown;
  /** Why the file cannot be used (said as a warning); absent when it was usable or did not exist. */
  problem?: string;
  /** The file's identity when read (device, inode, times, size), null when there was none: a save replaces only that file. */
  identity: string | null;
  /** Whether a save may replace the file: absent, empty, or one of our states (even a broken one). */
  replaceable: boolean;
}

/**
 * Reads a state file without following a symbolic link at `file`, refusing
 * anything but a regular file of this user, not writable by others, of at
 * most {@link STATE_FILE_MAX_BYTES}. Never throws.
 */
export async function readStateFile(file: string): Promise<StateRead> {
  let handle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { identity: null, replaceable: true };
    if (code === 'ELOOP') return { problem: 'it is a symbolic link (never followed)', identity: await identityOf(file), replaceable: false };
    return { problem: `it cannot be read: ${fsProblem(error)}`, identity: await identityOf(file), replaceable: false };
  }
  try {
    const stats = await handle.stat({ bigint: true });
    const identity = identityString(stats);
    if (!stats.isFile()) return { problem: 'it is not a regular file', identity, replaceable: false };
    const uid = process.geteuid?.();
    const mine = uid === undefined || stats.uid === BigInt(uid);
    if (stats.size > BigInt(STATE_FILE_MAX_BYTES)) {
      return { problem: `it has ${stats.size} bytes, more than the ${STATE_FILE_MAX_BYTES} a state file may have`, identity, replaceable: mine };
    }
    // At most the size seen: a file that grows meanwhile is cut there (and then fails to parse).
    const buffer = Buffer.alloc(Number(stats.size));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const text = buffer.subarray(0, filled).toString('utf8');
    const replaceable = text === '' || text.startsWith(OURS_PREFIX);
    if (!mine) return { problem: `it belongs to another user (uid ${stats.uid})`, identity, replaceable };
    if ((stats.mode & 0o022n) !== 0n) return { problem: 'other users can write it', identity, replaceable };
    if (text === '') return { problem: 'it is empty', identity, replaceable };
    try {
      return { value: JSON.parse(text) as unknown, identity, replaceable };
    } catch {
      return { problem: replaceable ? 'it is not valid JSON (truncated or damaged)' : 'it is not a state file of supervisord-check', identity, replaceable };
    }
  } catch (error) {
    return { problem: `it cannot be read: ${fsProblem(error)}`, identity: null, replaceable: false };
  } finally {
    await handle.close();
  }
}

/** What {@link writeStateFile} did. */
export interface StateWrite {
  /** Why the state was not saved (said as a warning); absent when it was. */
  problem?: string;
  /** The file's identity after the save (or as found, when not saved). */
  identity: string | null;
}

/** Options of {@link writeStateFile}. */
export interface StateWriteOptions {
  /** How long to wait for another invocation's lock, default {@link LOCK_WAIT_MS}. */
  lockWaitMs?: number;
}

/**
 * Replaces `file` with `text` atomically (see the module comment), if the
 * file is still the one this invocation read (`expected`, from
 * {@link readStateFile} or the previous write) and may be replaced. Never
 * throws.
 *
 * @param expected the identity read; null when there was no file.
 * @param replaceable whether the file read may be replaced.
 */
export async function writeStateFile(
  file: string,
  text: string,
  expected: string | null,
  replaceable: boolean,
  options: StateWriteOptions = {},
): Promise<StateWrite> {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > STATE_FILE_MAX_BYTES) {
    return { problem: `the state has ${bytes.length} bytes, more than the ${STATE_FILE_MAX_BYTES} a state file may have`, identity: expected };
  }
  const lock = await acquireLock(`${file}.lock`, options.lockWaitMs ?? LOCK_WAIT_MS);
  if ('problem' in lock) return { problem: lock.problem, identity: expected };
  let temp: string | undefined;
  try {
    const current = await identityOf(file);
    if (current !== expected) {
      return { problem: 'another invocation saved it since this one read it (its state is kept)', identity: current };
    }
    const entry = await lstat(file).catch(() => undefined);
    if (entry?.isSymbolicLink() === true) return { problem: 'it is a symbolic link (never replaced)', identity: current };
    if (!replaceable && entry !== undefined) return { problem: 'it is not a state file of supervisord-check, so it is not replaced', identity: current };
    temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    temp = undefined;
    await syncDirectory(path.dirname(file));
    return { identity: await identityOf(file) };
  } catch (error) {
    return { problem: `it cannot be written: ${fsProblem(error)}`, identity: expected };
  } finally {
    if (temp !== undefined) await unlink(temp).catch(() => {});
    await lock.release();
  }
}

/** Device, inode, modification and change times, size: a file replaced by a rename never has the old one's. */
function identityString(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.mtimeNs}:${stats.ctimeNs}:${stats.size}`;
}

/** The identity of what is at `file` (not following a symbolic link), or null when nothing is. */
async function identityOf(file: string): Promise<string | null> {
  try {
    return identityString(await lstat(file, { bigint: true }));
  } catch {
    return null;
  }
}

/** Makes the rename durable; a file system that cannot sync a directory is not an error. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // EINVAL and the like: nothing more can be done.
  }
}

/**
 * Takes the lock file `lock` (created exclusively, mode 0600, holding
 * `pid host time nonce`), waiting up to `waitMs`; a stale lock (its process
 * is gone from this host, or it is older than {@link LOCK_STALE_MS}) is
 * removed. Removing a stale lock is best-effort: two invocations that both
 * find it stale at the same instant may both proceed, and the file is still
 * whole (each writes its own temporary file and renames it).
 */
async function acquireLock(lock: string, waitMs: number): Promise<{ release: () => Promise<void> } | { problem: string }> {
  const token = `${process.pid} ${hostname()} ${Date.now()} ${randomBytes(6).toString('hex')}\n`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(lock, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return {
        release: async () => {
          // Only our own lock: one taken over as stale meanwhile is someone else's now.
          if ((await readSmall(lock)) === token) await unlink(lock).catch(() => {});
        },
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { problem: `the directory ${path.dirname(lock)} does not exist (it is not created)` };
      if (code !== 'EEXIST') return { problem: `its lock ${lock} cannot be made: ${fsProblem(error)}` };
    }
    const held = await readSmall(lock);
    if (held !== undefined && (await isStale(lock, held))) {
      // Removed only if it is still the lock judged stale.
      if ((await readSmall(lock)) === held) await unlink(lock).catch(() => {});
      continue;
    }
    if (Date.now() >= deadline) {
      const pid = held?.split(' ', 1)[0];
      return { problem: `another invocation${pid !== undefined && /^\d+$/.test(pid) ? ` (pid ${pid})` : ''} held its lock ${lock} for more than ${waitMs} ms` };
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

async function isStale(lock: string, held: string): Promise<boolean> {
  const [pid, host] = held.split(' ');
  if (host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !isAlive(Number(pid))) return true;
  try {
    return Date.now() - (await lstat(lock)).mtimeMs > LOCK_STALE_MS;
  } catch {
    return true; // gone: try again at once
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The first 512 bytes of a small file, not following a symbolic link; undefined when it cannot be read. */
async function readSmall(file: string): Promise<string | undefined> {
  try {
    const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    try {
      const buffer = Buffer.alloc(512);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** One server's state file in a {@link StateSession}. */
interface Entry {
  readonly check: SupervisordCheck;
  readonly file: string;
  identity: string | null;
  replaceable: boolean;
  readonly counters: CounterTotals;
}

/** Where each check keeps its state: the path given for all (`--state-file`) or its own (`state_file`), and the directory of relative ones. */
export interface StatePaths {
  /** `--state-file`. */
  option?: string | undefined;
  /** The directory relative `state_file` keys are taken from (the `--config` file's). */
  configDirectory: string;
}

/**
 * The state files of one invocation: opened before the run (each check's
 * state restored, or a warning saying why not), saved after it.
 */
export class StateSession {
  readonly #entries: Entry[];
  readonly #say: (line: string) => void;

  private constructor(entries: Entry[], say: (line: string) => void) {
    this.#entries = entries;
    this.#say = say;
  }

  /**
   * Reads every check's state file and restores it; a file that cannot be
   * used is said on stderr, and its check starts afresh.
   *
   * @returns undefined when no check has a state file.
   * @throws {UsageError} when one file is given for several servers, or two
   *   servers resolve to the same file.
   */
  static async open(checks: readonly SupervisordCheck[], paths: StatePaths, say: (line: string) => void): Promise<StateSession | undefined> {
    const chosen: Array<{ check: SupervisordCheck; file: string }> = [];
    const owner = new Map<string, string>();
    for (const check of checks) {
      const server = { name: check.config.name, address: check.config.address.display };
      const own = check.config.stateFile;
      const option = own ?? paths.option;
      if (option === undefined) continue;
      const { file, directory } = await statePath(option, server, own === undefined ? process.cwd() : paths.configDirectory);
      if (own === undefined && !directory && checks.length > 1) {
        throw new UsageError(`--state-file ${option} is a file, which holds one server's state: with ${checks.length} instances, give a directory (one file per server is made in it)`);
      }
      const earlier = owner.get(file);
      if (earlier !== undefined) {
        throw new UsageError(`the servers ${JSON.stringify(earlier)} and ${JSON.stringify(check.config.name)} would share the state file ${file}: give each its own`);
      }
      owner.set(file, check.config.name);
      chosen.push({ check, file });
    }
    if (chosen.length === 0) return undefined;
    const entries = await Promise.all(chosen.map(({ check, file }) => openEntry(check, file, say)));
    return new StateSession(entries, say);
  }

  /** The counter totals of a server's run (for `formatPrometheus`'s `counters`). */
  countersFor(run: Pick<ServerRun, 'name'>): CounterTotals | undefined {
    return this.#entries.find((e) => e.check.config.name === run.name)?.counters;
  }

  /**
   * Saves every state; then waits for the background name refreshes the
   * runs started (bounded by `listing_timeout`) and saves those states
   * again, so that a refresh is kept even if the process is killed during
   * it. Never throws: problems are said on stderr.
   */
  async save(options: StateWriteOptions = {}): Promise<void> {
    await Promise.all(this.#entries.map((entry) => this.#saveOne(entry, options)));
    await Promise.all(
      this.#entries.map(async (entry) => {
        if (await entry.check.idle()) await this.#saveOne(entry, options);
      }),
    );
  }

  async #saveOne(entry: Entry, options: StateWriteOptions): Promise<void> {
    const state: CheckState = entry.check.exportState();
    const counters = entry.counters.entries();
    if (counters.length > 0) state.components[COUNTERS_SLOT] = counters;
    const written = await writeStateFile(entry.file, JSON.stringify(state), entry.identity, entry.replaceable, options);
    entry.identity = written.identity;
    if (written.problem === undefined) entry.replaceable = true;
    else this.#say(`warning: state file ${entry.file} not saved: ${written.problem}`);
  }
}

async function openEntry(check: SupervisordCheck, file: string, say: (line: string) => void): Promise<Entry> {
  const counters = new CounterTotals({ graceMs: STATE_COUNTER_GRACE_MS });
  const read = await readStateFile(file);
  const entry: Entry = { check, file, identity: read.identity, replaceable: read.replaceable, counters };
  const ignored = (why: string): void =>
    say(`warning: state file ${file} is ignored: ${why}; this run starts afresh (a full listing; restarts are counted from the next run)`);
  if (read.problem !== undefined) {
    ignored(read.problem);
    return entry;
  }
  if (read.value === undefined) return entry; // no file yet: a first run
  try {
    for (const warning of check.restoreState(read.value)) say(`warning: state file ${file}: ${warning}`);
  } catch (error) {
    if (!(error instanceof StateError)) throw error;
    ignored(error.message);
    return entry;
  }
  const state = read.value as CheckState;
  const saved = state.components[COUNTERS_SLOT];
  if (saved !== undefined) {
    const malformed = Array.isArray(saved) ? counters.restore(saved, Date.now() - state.savedAt) : -1;
    if (malformed !== 0) {
      say(`warning: state file ${file}: ${malformed < 0 ? `the saved state's '${COUNTERS_SLOT}' is not a list` : `${malformed} malformed counter totals`}: ignored`);
    }
  }
  return entry;
}
