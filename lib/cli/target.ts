/**
 * Which supervisord the command line talks to: the flags, else `SUPERVISOR_SERVER_URL`, the usual sockets, `http://localhost:9001`.
 *
 * @module
 */

import { existsSync } from 'node:fs';

import { hostPort, targetFromUrl } from './args.js';
import type { CliOptions, Target } from './args.js';

/** supervisor's usual socket paths, tried in order when no server is named. */
export const DEFAULT_SOCKETS: readonly string[] = Object.freeze([
  '/var/run/supervisor.sock',
  '/run/supervisor.sock',
  '/tmp/supervisor.sock',
]);

/** The TCP server of supervisorctl's default `serverurl`, tried last. */
const DEFAULT_TCP: Target = { host: 'localhost', port: 9001, display: 'http://localhost:9001' };

/**
 * The server the flags name (`--socket`, `--url`, `--host`/`--port`), else
 * the one {@link discoverTarget} finds (said on stderr).
 */
export function targetOf(
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>,
  defaultSockets: readonly string[] = DEFAULT_SOCKETS,
  say: (line: string) => void,
): Target {
  if (options.socket !== undefined) return { socket: options.socket, display: options.socket };
  if (options.url !== undefined) return targetFromUrl(options.url, '--url', false);
  if (options.host !== undefined || options.port !== undefined) {
    const host = options.host ?? 'localhost';
    const port = options.port ?? 9001;
    return { host, port, display: `http://${hostPort(host, port)}` };
  }
  const found = discoverTarget(env, defaultSockets);
  say(`using ${found.target.display} (${found.how})`);
  return found.target;
}

/** `SUPERVISOR_SERVER_URL`, else the first existing default socket, else `http://localhost:9001`. */
export function discoverTarget(
  env: Readonly<Record<string, string | undefined>>,
  sockets: readonly string[],
): { target: Target; how: string } {
  const url = env['SUPERVISOR_SERVER_URL'];
  if (url !== undefined && url !== '') {
    // The environment is private to the user, unlike argv: a password there is accepted.
    return { target: targetFromUrl(url, 'SUPERVISOR_SERVER_URL', true), how: 'from SUPERVISOR_SERVER_URL' };
  }
  for (const path of sockets) {
    if (existsSync(path)) return { target: { socket: `unix://${path}`, display: `unix://${path}` }, how: 'first existing default socket' };
  }
  return { target: DEFAULT_TCP, how: `no socket at ${sockets.join(', ') || '(none)'}` };
}
