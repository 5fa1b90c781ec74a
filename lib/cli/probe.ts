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
 * One identity per server: every spelling of a target that reaches the same
 * endpoint is one target (one check, one connection, one `--min-interval`),
 * so that nobody can multiply the connections or the runs a server gets by
 * writing its address differently. The identity is the scheme, the host
 * (lower case; an IPv6 address in its canonical form), the port (a missing
 * one is the default), and the HTTP path: supervisord answers XML-RPC on any
 * path that starts with `/RPC2`, so every such path is `/RPC2` (and so is
 * `/`, the server's web page), and the query string is dropped. Any other path names another endpoint (supervisord
 * behind a proxy) and is accepted only when the module lists it in `paths`.
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
  /** HTTP paths other than `/RPC2` a target may name (a proxy's); empty: none. */
  readonly paths: ReadonlySet<string>;
}

/** The keys of a module that are not instance keys. */
const MODULE_KEYS = new Set(['allow', 'ports', 'paths']);
/** supervisord's XML-RPC endpoint: every path that starts with it reaches it. */
const RPC_PATH = '/RPC2';
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
    const paths = new Set<string>();
    if (Object.hasOwn(record, 'paths')) {
      const p = record['paths'];
      if (!Array.isArray(p) || p.length === 0 || !p.every((e) => typeof e === 'string' && PROXY_PATH.test(e) && !e.startsWith(RPC_PATH))) {
        throw new ConfigError(`${at}: 'paths' must be a non-empty list of HTTP paths (a '/' then letters, digits and '/._~-', not /RPC2, which is always allowed)`);
      }
      for (const e of p as string[]) paths.add(e);
    }
    const settings = Object.fromEntries(Object.entries(record).filter(([k]) => !MODULE_KEYS.has(k)));
    validateSettings(settings, at);
    modules.set(name, { name, settings: Object.freeze(settings), allow, ports, paths });
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

/** A path a module's `paths` may list: plain characters only, so that one endpoint has one spelling. */
const PROXY_PATH = /^\/[A-Za-z0-9/._~-]{0,255}$/;

/**
 * The `/probe` request could not be served as asked: the answer is `status`
 * (400, or 429 for a target probed again too soon) with the message (one
 * line, never a credential).
 */
export class ProbeRequestError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_PROBE_REQUEST' as const;
  /** The HTTP status of the answer. */
  readonly status: 400 | 429;

  /**
   * @param message the reason, one line.
   * @param status 400 (default) or 429.
   */
  constructor(message: string, status: 400 | 429 = 400) {
    super(message);
    this.status = status;
  }

  override get name(): string {
    return 'ProbeRequestError';
  }
}

/** Where a probe goes: the instance's `name` and `url`, once the module allowed it. */
export interface ProbeTarget {
  /**
   * The server's identity in its canonical spelling (the `supervisord_server`
   * label): `host:port` (`[v6]:port`) for `http` on `/RPC2`, else
   * `http(s)://host:port[/path]`; `unix:///path` for a socket. Every
   * spelling of one endpoint has the same one.
   */
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
    return { name: `unix://${path}`, url: `unix://${path}` };
  }
  let host = address.host.toLowerCase();
  if (host.includes('%')) throw new ProbeRequestError('malformed target: IPv6 zone identifiers are not accepted');
  const family = isIP(host);
  // One spelling per IPv6 address (`0:0::1` and `::0001` are `::1`), as WHATWG URL writes it.
  if (family === 6) host = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  if (family !== 0) {
    if (!module.allow.allowsIp(host, family === 4 ? 'ipv4' : 'ipv6')) throw refused('the address is in none of its networks');
  } else {
    if (!HOST_NAME.test(host) || host.split('.').every((label) => NUMERIC_LABEL.test(label))) {
      throw new ProbeRequestError(`malformed target: ${JSON.stringify(address.host)} is neither an IP address nor a host name`);
    }
    if (!module.allow.allowsName(host)) throw refused('no host name entry of its allow-list matches');
  }
  if (module.ports !== undefined && !module.ports.has(address.port)) throw refused(`port ${address.port} is not in its ports`);
  const query = address.path.indexOf('?');
  const asked = query < 0 ? address.path : address.path.slice(0, query);
  let path: string;
  // `/` (supervisord's web page) names the server as much as no path does.
  if (asked.startsWith(RPC_PATH) || asked === '/') path = RPC_PATH;
  else if (module.paths.has(asked)) path = asked;
  else {
    throw new ProbeRequestError(
      `target ${JSON.stringify(target)} names the path ${JSON.stringify(asked.slice(0, 64))}: supervisord answers XML-RPC at ${RPC_PATH}; ` +
        `another path (a proxy's) must be listed in the 'paths' of module ${JSON.stringify(module.name)}`,
    );
  }
  const scheme = address.tls ? 'https' : 'http';
  const where = hostPort(host, address.port);
  const url = `${scheme}://${where}${path}`;
  return { name: !address.tls && path === RPC_PATH ? where : path === RPC_PATH ? `${scheme}://${where}` : url, url };
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

/** Options of {@link ProbeTargets}. */
export interface ProbeTargetsOptions {
  /**
   * A target forgotten less than this long after it was last probed is
   * refused (429) until this long has passed, so that forgetting it does not
   * let it be run again sooner than `--min-interval` allows. Default 0.
   */
  minIntervalMs?: number;
  /**
   * Called when forgotten targets are probed again (the cache is too small
   * for the targets probed: each such probe starts afresh). At most once per
   * `warnEveryMs`, with the count since the last call.
   */
  onThrash?: (comebacks: number) => void;
  /** Default 60 s. */
  warnEveryMs?: number;
  /** Milliseconds clock, default `performance.now`. */
  now?: () => number;
}

interface Remembered<E> {
  readonly entry: E;
  /** When it was last probed (clock ms). */
  last: number;
}

/**
 * The targets probed so far, at most `max`, the least recently probed
 * evicted (and closed) first. Each keeps its own check (connection, restart
 * marks, name map) and counters between probes; its idle connection is
 * closed by the client's idle timeout.
 *
 * The keys of the targets forgotten last (as many as `max`, and every one
 * forgotten within `minIntervalMs` of its last probe) are remembered with
 * the time of that probe: to refuse a probe that comes sooner than the
 * minimum interval, and to notice targets that come back after being
 * forgotten, which means the cache is smaller than the set of targets.
 */
export class ProbeTargets<E extends ProbeEntry> {
  readonly #entries = new Map<string, Remembered<E>>();
  readonly #max: number;
  readonly #minIntervalMs: number;
  readonly #onThrash: ((comebacks: number) => void) | undefined;
  readonly #warnEveryMs: number;
  readonly #now: () => number;
  /** Keys forgotten, with the time of their last probe, the earliest forgotten first. */
  readonly #forgotten = new Map<string, number>();
  #evicted = 0;
  #comebacks = 0;
  #warnedAt = -Infinity;

  /**
   * @param max most targets remembered, at least 1.
   * @param options see {@link ProbeTargetsOptions}.
   */
  constructor(max: number, options: ProbeTargetsOptions = {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${String(max)}`);
    this.#max = max;
    this.#minIntervalMs = options.minIntervalMs ?? 0;
    this.#onThrash = options.onThrash;
    this.#warnEveryMs = options.warnEveryMs ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * The entry of `key`, made by `create` when there is none. Marks it as the
   * most recently used; evicts the least recently used beyond `max`.
   *
   * @throws {ProbeRequestError} (429) for a target forgotten less than
   *   `minIntervalMs` after its last probe, until that time has passed.
   */
  get(key: string, create: () => E): E {
    const now = this.#now();
    let remembered = this.#entries.get(key);
    if (remembered !== undefined) {
      this.#entries.delete(key);
      remembered.last = now;
    } else {
      const last = this.#forgotten.get(key);
      if (last !== undefined) {
        if (now - last < this.#minIntervalMs) {
          const wait = Math.ceil((last + this.#minIntervalMs - now) / 1000);
          throw new ProbeRequestError(
            `this target was probed less than --min-interval ago and forgotten since (--probe-max-targets ${this.#max} is smaller than the number of targets probed): try again in ${wait} s`,
            429,
          );
        }
        this.#forgotten.delete(key);
        this.#comeback(now);
      }
      remembered = { entry: create(), last: now };
    }
    this.#entries.set(key, remembered);
    while (this.#entries.size > this.#max) {
      const [oldest, evicted] = this.#entries.entries().next().value as [string, Remembered<E>];
      this.#entries.delete(oldest);
      this.#evicted++;
      void evicted.entry.close();
      this.#forgotten.set(oldest, evicted.last);
    }
    this.#prune(now);
    return remembered.entry;
  }

  /** Number of targets remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Targets forgotten to make room, since the start. */
  get evicted(): number {
    return this.#evicted;
  }

  /** The remembered entries, least recently probed first. */
  *values(): IterableIterator<E> {
    for (const remembered of this.#entries.values()) yield remembered.entry;
  }

  /** Closes and forgets every entry. */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#forgotten.clear();
    await Promise.all(entries.map((e) => e.entry.close()));
  }

  /** A forgotten target was probed again: said at most once per `warnEveryMs`, with the count. */
  #comeback(now: number): void {
    this.#comebacks++;
    if (now - this.#warnedAt < this.#warnEveryMs) return;
    this.#warnedAt = now;
    const count = this.#comebacks;
    this.#comebacks = 0;
    this.#onThrash?.(count);
  }

  /** Beyond `max` forgotten keys, drops the earliest, except those the minimum interval still covers. */
  #prune(now: number): void {
    for (const [key, last] of this.#forgotten) {
      if (this.#forgotten.size <= this.#max || now - last < this.#minIntervalMs) break;
      this.#forgotten.delete(key);
    }
  }
}
