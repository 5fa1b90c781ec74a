/**
 * `/probe` of `--serve`: the multi-target exporter pattern (blackbox_exporter,
 * snmp_exporter). Prometheus names the server to check in the `target`
 * parameter and the settings in `module`; the modules come from `--config`
 * and hold everything but the server (filters, credentials, timeouts, TLS)
 * and an allow-list of the servers they may reach, so that the exporter
 * cannot be used to reach arbitrary addresses.
 *
 * Allow-list entries (a module's `allow`, at least one):
 * - an IP address (`10.0.0.5`, `::1`, `[::1]`) or a network in CIDR form
 *   (`10.0.0.0/8`, `fd00::/8`): targets given as IP literals in it;
 * - a host name, where `*` stands for one or more characters of one label
 *   (`sv1.example.com`, `*.prod.example.com`, `web-*.example.com`): targets
 *   given as names that match, case-insensitively. A name is matched as
 *   written, not resolved: a network entry never admits a name;
 * - a socket path, where `*` stands for characters other than `/` in the
 *   file name only (`unix:///run/supervisor/*.sock` or
 *   `/run/supervisor/*.sock`); what sits at a matching path must also be a
 *   socket its directory's owner could have put there (`socket-guard.ts`),
 *   checked on every probe.
 * A module's `ports` (optional) restricts the TCP ports.
 *
 * A target the module does not allow is refused before anything is
 * contacted, as is any target written in a way that could reach a host other
 * than the one it seems to name (numeric forms that are not plain IP
 * addresses like `10.1` or `0x0a000001`, IPv6 zones, `..` in socket paths,
 * control characters).
 *
 * @module
 */

import { BlockList, isIP } from 'node:net';
import { posix } from 'node:path';

import { parseAddress } from '../../protocol/address.js';
import { AddressError } from '../../protocol/errors.js';
import { SupervisordCheck } from '../check.js';
import { ConfigError } from '../errors.js';
import { hostPort } from './args.js';
import { socketProblem } from './socket-guard.js';

/** A module of `--config`: the settings of the checks of `/probe?module=<name>`. */
export interface ProbeModule {
  readonly name: string;
  /** The instance keys (no server, no name). */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly allow: AllowList;
  /** Allowed TCP ports; undefined allows any. */
  readonly ports: ReadonlySet<number> | undefined;
}

/** The keys of a module that are not instance keys. */
const MODULE_KEYS = new Set(['allow', 'ports']);
/** Instance keys a module cannot have: the target names the server. */
const SERVER_KEYS = ['name', 'host', 'port', 'socket', 'url'];
const MODULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Validates the `modules` of a `--config` file: an object of module name to
 * settings. Each module's instance keys are validated as an instance's (and
 * its `tls_*` files read) now, so that a probe never meets a configuration
 * error the file could have shown.
 *
 * @param value the `modules` value.
 * @param where the file, for messages (`--config servers.json`).
 * @throws {ConfigError} naming the module and the key at fault.
 */
export function parseModules(value: unknown, where: string): Map<string, ProbeModule> {
  const modules = new Map<string, ProbeModule>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where}: "modules" must be an object of module name to settings`);
  }
  for (const [name, raw] of Object.entries(value)) {
    const at = `${where}: module ${JSON.stringify(name)}`;
    if (!MODULE_NAME.test(name)) throw new ConfigError(`${at}: a module name is 1 to 64 letters, digits, '_', '.' or '-'`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${at}: must be an object of instance keys plus "allow"`);
    const record = raw as Record<string, unknown>;
    const server = SERVER_KEYS.find((k) => Object.hasOwn(record, k));
    if (server !== undefined) throw new ConfigError(`${at}: '${server}' is not allowed in a module: the target of each probe names the server`);
    const allowRaw = record['allow'];
    if (!Array.isArray(allowRaw) || allowRaw.length === 0 || !allowRaw.every((e) => typeof e === 'string')) {
      throw new ConfigError(`${at}: 'allow' must be a non-empty list of addresses, networks, host name patterns or socket paths`);
    }
    let allow: AllowList;
    try {
      allow = new AllowList(allowRaw as string[]);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${at}: ${error.message}`);
      throw error;
    }
    let ports: Set<number> | undefined;
    if (Object.hasOwn(record, 'ports')) {
      const p = record['ports'];
      if (!Array.isArray(p) || p.length === 0 || !p.every((n) => Number.isInteger(n) && n >= 1 && n <= 65535)) {
        throw new ConfigError(`${at}: 'ports' must be a non-empty list of port numbers (1 to 65535)`);
      }
      ports = new Set(p as number[]);
    }
    const settings = Object.fromEntries(Object.entries(record).filter(([k]) => !MODULE_KEYS.has(k)));
    validateSettings(settings, at);
    modules.set(name, { name, settings: Object.freeze(settings), allow, ports });
  }
  return modules;
}

/** Builds a check from the settings (never run: no connection) to validate them and read the TLS files. */
function validateSettings(settings: Record<string, unknown>, at: string): void {
  const tls = Object.keys(settings).some((k) => k.startsWith('tls_'));
  let check: SupervisordCheck;
  try {
    check = new SupervisordCheck({ ...settings, name: 'module', url: tls ? 'https://localhost' : 'http://localhost' });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${at}: ${error.message}`, error.key);
    throw error;
  }
  void check.close();
  // Modules are ours: what an instance only warns about (unknown or deprecated keys) is refused here.
  if (check.configWarnings.length > 0) throw new ConfigError(`${at}: ${check.configWarnings[0]}`);
}

/**
 * The `/probe` request could not be served as asked: the answer is 400 with
 * the message (one line, never a credential).
 */
export class ProbeRequestError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_PROBE_REQUEST' as const;

  override get name(): string {
    return 'ProbeRequestError';
  }
}

/** Where a probe goes: the instance's `name` and `url`, once the module allowed it. */
export interface ProbeTarget {
  /** The target as given (the `supervisord_server` label). */
  readonly name: string;
  /** `http(s)://host:port/path` or `unix:///path`. */
  readonly url: string;
}

const MAX_TARGET_LENGTH = 1024;
/** C0 and C1 controls and DEL: nothing a host name or a socket path of ours needs, and what a terminal would obey in a log line. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** Labels that resolvers read as numbers (`10.1`, `0x0a000001`, `012`): such a name is an address in disguise. */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/;

/**
 * Checks a `/probe` target against a module, without contacting anything.
 *
 * @param module the module asked for.
 * @param target `host:port`, `host` (port 9001), `[v6]:port`,
 *   `http(s)://host[:port][/path]`, `unix:///path.sock` or `/path.sock`.
 * @throws {ProbeRequestError} for a malformed target, credentials in it, or
 *   one the module does not allow.
 */
export function probeTarget(module: ProbeModule, target: string): ProbeTarget {
  if (target.length > MAX_TARGET_LENGTH) throw new ProbeRequestError(`target is longer than ${MAX_TARGET_LENGTH} characters`);
  if (CONTROL.test(target)) throw new ProbeRequestError('target contains a control character');
  let parsed: ReturnType<typeof parseAddress>;
  try {
    parsed = parseAddress(target);
  } catch (error) {
    if (error instanceof AddressError) throw new ProbeRequestError(`malformed target: ${error.message}`);
    throw error;
  }
  if (parsed.username !== undefined || parsed.password !== undefined) {
    throw new ProbeRequestError('credentials are not accepted in the target: the module holds them');
  }
  const { address } = parsed;
  const refused = (what: string): ProbeRequestError =>
    new ProbeRequestError(`target ${JSON.stringify(target)} is not allowed by module ${JSON.stringify(module.name)} (${what})`);
  if (address.kind === 'unix') {
    const path = address.socketPath;
    if (posix.normalize(path) !== path || path.endsWith('/')) {
      throw new ProbeRequestError(`malformed target: the socket path must be normalised (no '.', '..', '//' or trailing '/')`);
    }
    if (!module.allow.allowsSocket(path)) throw refused('no socket entry of its allow-list matches');
    const problem = socketProblem(path);
    if (problem !== undefined) throw refused(problem);
    return { name: target, url: `unix://${path}` };
  }
  const host = address.host.toLowerCase();
  if (host.includes('%')) throw new ProbeRequestError('malformed target: IPv6 zone identifiers are not accepted');
  const family = isIP(host);
  if (family !== 0) {
    if (!module.allow.allowsIp(host, family === 4 ? 'ipv4' : 'ipv6')) throw refused('the address is in none of its networks');
  } else {
    if (!HOST_NAME.test(host) || host.split('.').every((label) => NUMERIC_LABEL.test(label))) {
      throw new ProbeRequestError(`malformed target: ${JSON.stringify(address.host)} is neither an IP address nor a host name`);
    }
    if (!module.allow.allowsName(host)) throw refused('no host name entry of its allow-list matches');
  }
  if (module.ports !== undefined && !module.ports.has(address.port)) throw refused(`port ${address.port} is not in its ports`);
  return { name: target, url: `${address.tls ? 'https' : 'http'}://${hostPort(host, address.port)}${address.path}` };
}

/** The allow-list of a module (see the module comment for the entries). */
export class AllowList {
  readonly #networks = new BlockList();
  readonly #names: RegExp[] = [];
  readonly #sockets: RegExp[] = [];

  /**
   * @param entries addresses, networks, host name patterns and socket path patterns.
   * @throws {ConfigError} naming the first entry that is none of them.
   */
  constructor(entries: readonly string[]) {
    for (const entry of entries) this.#add(entry);
  }

  #add(entry: string): void {
    const bad = (why: string): ConfigError => new ConfigError(`'allow' entry ${JSON.stringify(entry)} ${why}`, 'allow');
    if (entry.startsWith('unix://') || entry.startsWith('/')) {
      const path = entry.startsWith('unix://') ? entry.slice('unix://'.length) : entry;
      if (!path.startsWith('/') || CONTROL.test(path) || posix.normalize(path) !== path) throw bad('is not a normalised absolute socket path');
      // The directory is what the entry trusts (socket-guard.ts): it must be named, not matched.
      if (posix.dirname(path).includes('*')) throw bad("has a '*' in a directory: a '*' may stand only in the socket's file name");
      this.#sockets.push(new RegExp(`^${path.split('*').map(escapeRegExp).join('[^/]*')}$`));
      return;
    }
    const slash = entry.lastIndexOf('/');
    if (slash >= 0) {
      const ip = unbracket(entry.slice(0, slash));
      const family = isIP(ip);
      const bits = /^[0-9]{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : NaN;
      if (family === 0 || !(bits <= (family === 4 ? 32 : 128))) throw bad('is not a network (address/prefix length)');
      this.#networks.addSubnet(ip, bits, family === 4 ? 'ipv4' : 'ipv6');
      return;
    }
    const ip = unbracket(entry);
    const family = isIP(ip);
    if (family !== 0) {
      this.#networks.addAddress(ip, family === 4 ? 'ipv4' : 'ipv6');
      return;
    }
    const name = entry.toLowerCase();
    const labels = name.split('.');
    if (!labels.every((label) => /^[a-z0-9*-]{1,63}$/.test(label))) throw bad('is not an address, a network, a host name pattern or a socket path');
    this.#names.push(new RegExp(`^${labels.map((label) => label.split('*').map(escapeRegExp).join('[a-z0-9-]+')).join('\\.')}$`));
  }

  /** Whether an IP address (canonical, as `net.isIP` accepts it) is allowed. */
  allowsIp(ip: string, family: 'ipv4' | 'ipv6'): boolean {
    // BlockList also matches IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) against IPv4 networks.
    return this.#networks.check(ip, family);
  }

  /** Whether a host name (lower case) is allowed. */
  allowsName(name: string): boolean {
    return this.#names.some((re) => re.test(name));
  }

  /** Whether a socket path is allowed. */
  allowsSocket(path: string): boolean {
    return this.#sockets.some((re) => re.test(path));
  }
}

function unbracket(text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** One remembered target: what {@link ProbeTargets} keeps between probes. */
export interface ProbeEntry {
  /** Releases the entry's connection (called on eviction and on close). */
  close(): Promise<void>;
}

/**
 * The targets probed so far, at most `max`, the least recently probed
 * evicted (and closed) first. Each keeps its own check (connection, restart
 * marks, name map) and counters between probes; its idle connection is
 * closed by the client's idle timeout.
 */
export class ProbeTargets<E extends ProbeEntry> {
  readonly #entries = new Map<string, E>();
  readonly #max: number;

  /** @param max most targets remembered, at least 1. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${String(max)}`);
    this.#max = max;
  }

  /**
   * The entry of `key`, made by `create` when there is none. Marks it as the
   * most recently used; evicts the least recently used beyond `max`.
   */
  get(key: string, create: () => E): E {
    let entry = this.#entries.get(key);
    if (entry !== undefined) this.#entries.delete(key);
    else entry = create();
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max) {
      const [oldest, evicted] = this.#entries.entries().next().value as [string, E];
      this.#entries.delete(oldest);
      void evicted.close();
    }
    return entry;
  }

  /** Number of targets remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Closes and forgets every entry. */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((e) => e.close()));
  }
}
