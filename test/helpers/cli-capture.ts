/**
 * The command line in process: main() with captured stdout and stderr.
 *
 * @module
 */

import { Writable } from 'node:stream';

import { main } from '../../lib/cli/main.js';
import type { CliIo } from '../../lib/cli/main.js';

/** A writable that keeps what was written. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

/** Runs main() with an empty environment, no default sockets and `io`'s other hooks; returns its exit code and output. */
export async function runCli(argv: string[], io: Omit<CliIo, 'stdout' | 'stderr'> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, {}, { defaultSockets: [], ...io, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
