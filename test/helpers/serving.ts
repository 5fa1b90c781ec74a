/**
 * `supervisord-check --serve` run in process for a test: main() with the
 * given flags, the body run once it listens, then stopped whatever happens;
 * and a plain HTTP GET that does not reuse connections.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';

import { main } from '../../lib/cli/main.js';

/** Collects what is written (stderr of main()). */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request (GET by default, a new connection each time) of `path` on 127.0.0.1:`port`. */
export function http(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** main() with `--serve`: runs `body` once it listens, then stops it whatever happens. */
export async function serving(argv: string[], body: (port: number, stderr: Capture) => Promise<void>): Promise<{ code: number; stderr: string }> {
  const controller = new AbortController();
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve) => (listening = resolve));
  const stderr = new Capture();
  const done = main(argv, {}, { defaultSockets: [], stdout: new Capture(), stderr, signal: controller.signal, onListening: (a) => listening(a.port) });
  const p = await Promise.race([
    port,
    done.then((code): never => {
      throw new Error(`main() ended (${code}) before listening: ${stderr.text}`);
    }),
  ]);
  try {
    await body(p, stderr);
  } finally {
    controller.abort();
  }
  return { code: await done, stderr: stderr.text };
}
