/**
 * The command line run in process with captured streams, for the CLI tests
 * that need nothing more than the exit code and what was written.
 */

import { Writable } from 'node:stream';

import { main } from '../../lib/cli/main.js';

/** A writable that keeps what was written. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

/** main() with an empty environment, no default sockets, and captured stdout and stderr. */
export async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, {}, { stdout, stderr, defaultSockets: [] });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
