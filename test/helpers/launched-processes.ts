/**
 * Looking for what a launched supervisord left behind (Linux /proc), and
 * fake supervisord executables, for the launcher's and the demo's tests.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { LAUNCHER_MARKER_ENV } from '../../lib/launcher/supervisord.js';

/** Pids of the live processes whose environment carries the launcher's marker for `dir`. */
export function markedPids(dir: string): number[] {
  const needle = Buffer.from(`${LAUNCHER_MARKER_ENV}=${dir}\0`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).includes(needle)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** True while `pid` runs; a zombie (exited, waiting for init to reap it once its parent is gone) is not running. */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'latin1'));
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every 20 ms; throws after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** An executable shell script `name` in `dir`, returning its path. */
export function script(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}
