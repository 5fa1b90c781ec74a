/**
 * Which targets can have their processes' resources read from this host's
 * `/proc`. Apart from the reader (`read.ts` and its `/proc` modules), so that
 * validating a configuration loads neither them nor `node:net`.
 *
 * @module
 */

import type { Address } from '../../protocol/address.js';
import { builtin } from '../lazy-builtin.js';

/**
 * Why resources cannot be collected from a target, or undefined when they
 * can: the target must be a unix socket or a loopback TCP address
 * (`localhost`, 127.0.0.0/8, `::1`) on Linux, or the unspecified address
 * (`0.0.0.0`, `::`), which Linux connects to this host: supervisord sets
 * `SUPERVISOR_SERVER_URL` to `http://0.0.0.0:<port>` for its children when
 * its only server is `port=0.0.0.0:<port>`. Another host's pids mean
 * nothing in this host's `/proc`, and guessing that a name or address is
 * this host would be a guess.
 */
export function resourcesProblem(address: Address, platform: string = process.platform): string | undefined {
  if (platform !== 'linux') return `'collect_resources' reads Linux's /proc, and this host runs ${platform}: resources are not collected`;
  if (address.kind === 'unix' || isLoopback(address.host)) return undefined;
  return (
    `'collect_resources' needs supervisord on this host (a unix socket or a loopback address such as 127.0.0.1), ` +
    `and ${address.display} is not one: resources are not collected`
  );
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '0.0.0.0' || h === '::') return true;
  if (builtin('node:net').isIP(h) === 4) return h.startsWith('127.');
  if (h === '::1' || /^(?:0{1,4}:){7}0{0,3}1$/.test(h)) return true;
  // IPv4-mapped: ::ffff:127.0.0.1
  const mapped = /^::ffff:([0-9.]+)$/.exec(h);
  return mapped !== null && builtin('node:net').isIP(mapped[1]!) === 4 && mapped[1]!.startsWith('127.');
}
