/**
 * A fake `/proc` in a temp directory, for the resource reader's unit tests:
 * `uptime`, and per process `stat` (a line built from the fields given, or
 * raw text), `cmdline` and an `fd` directory with as many entries as
 * descriptors. Anything can be left out or replaced by the wrong kind of
 * file, to produce the errors a real `/proc` gives under churn.
 */

import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One fake process. Times in ticks (100 per second), memory in pages. */
export interface FakeProcess {
  pid: number;
  ppid: number;
  /** Default `sleep`. May hold spaces and parentheses. */
  comm?: string;
  /** Default `S`. */
  state?: string;
  utime?: number;
  stime?: number;
  cutime?: number;
  cstime?: number;
  /** Default 1. */
  threads?: number;
  startTicks: number;
  /** Default 100. */
  rssPages?: number;
  /** Open descriptors (entries of `fd/`), default 3; `file`: `fd` is a file (ENOTDIR); `none`: no `fd`. */
  fds?: number | 'file' | 'none';
  /** NUL-separated command line, default `/bin/<comm>`. */
  cmdline?: string;
  /** Replaces the stat line; `dir` makes `stat` a directory (EISDIR); `none` leaves it out. */
  stat?: string | 'dir' | 'none';
}

/** The `stat` line of a fake process, in proc(5)'s 52 fields. */
export function statLine(p: FakeProcess): string {
  const f = [
    p.pid, `(${p.comm ?? 'sleep'})`, p.state ?? 'S', p.ppid, p.pid, p.pid, 0, -1, 4194560, 120, 0, 0, 0,
    p.utime ?? 0, p.stime ?? 0, p.cutime ?? 0, p.cstime ?? 0, 20, 0, p.threads ?? 1, 0, p.startTicks, 8_400_000, p.rssPages ?? 100,
    '18446744073709551615', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  ];
  return `${f.join(' ')}\n`;
}

/** A fake `/proc` root. */
export interface FakeProc {
  readonly root: string;
  /** Adds (or replaces) a process. */
  add(p: FakeProcess): void;
  /** Removes the directory. */
  remove(): void;
}

/** Creates a fake `/proc` whose `uptime` is `uptimeSeconds`. */
export function fakeProc(uptimeSeconds: number): FakeProc {
  // tmpfs when there is one: a thousand fake processes take 3 s to write on this machine's disk, 0.1 s there.
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'fake-proc-'));
  chmodSync(root, 0o755);
  writeFileSync(join(root, 'uptime'), `${uptimeSeconds.toFixed(2)} 1234.56\n`);
  // Entries that are not processes, as in the real one.
  mkdirSync(join(root, 'self'));
  writeFileSync(join(root, 'meminfo'), 'MemTotal: 1 kB\n');
  return {
    root,
    add(p) {
      const dir = join(root, String(p.pid));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      if (p.stat === 'dir') mkdirSync(join(dir, 'stat'));
      else if (p.stat !== 'none') writeFileSync(join(dir, 'stat'), p.stat ?? statLine(p));
      writeFileSync(join(dir, 'cmdline'), `${p.cmdline ?? `/bin/${p.comm ?? 'sleep'}`}\0`);
      const fds = p.fds ?? 3;
      if (fds === 'file') {
        writeFileSync(join(dir, 'fd'), '');
      } else if (fds !== 'none') {
        mkdirSync(join(dir, 'fd'));
        for (let i = 0; i < fds; i++) writeFileSync(join(dir, 'fd', String(i)), '');
      }
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
