/**
 * The `supervisord-check` command line run by a test: in process (main()
 * with captured streams) or as a child process.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { main } from '../../lib/cli/main.js';
import type { CliIo } from '../../lib/cli/main.js';

/** The compiled executable. */
export const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

/** A writable that keeps what was written. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

/** What a run of the command line printed and its exit code. */
export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** main() in process, with an empty environment, no default sockets and `io`'s other hooks. */
export async function runCli(argv: string[], io: Omit<CliIo, 'stdout' | 'stderr'> = {}): Promise<CliOutcome & { code: number }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, {}, { defaultSockets: [], ...io, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** {@link runCli} with no other hook. */
export function cli(argv: string[]): Promise<CliOutcome & { code: number }> {
  return runCli(argv);
}

/** The executable as a child process (only PATH in its environment), SIGKILLed after `killAfterMs`. */
export function spawnCli(argv: string[], killAfterMs = 30_000): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const killer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}
