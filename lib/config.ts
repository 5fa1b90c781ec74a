/**
 * Validation and defaults of one check instance (keys: lib/README.md),
 * applied in one place before any connection.
 *
 * The reference check reads the instance dict lazily and fails at run time;
 * we check everything at construction, with the reference's messages where it
 * has them and in its order: `name`, the types of the four filter lists,
 * their items, `status_mapping_override`, the patterns (the reference's
 * `re.search` fails last). Then the keys that have no reference message:
 * `tags`, the connection (`url` or `socket` or `host`/`port`, then the `tls_*`
 * keys, whose files are read here), the credentials, our limits.
 *
 * @module
 */

import { DEFAULT_STATUS_MAPPING } from './process-model.js';
import { AddressError } from '../protocol/errors.js';
import { parseAddress, tcpAddress, unixAddress, validateCredential } from '../protocol/address.js';
import type { Address } from '../protocol/address.js';
import type { HttpTlsOptions } from '../protocol/http-client.js';
import { ConfigError } from './errors.js';
import { builtin } from './lazy-builtin.js';
import { pythonRepr, pythonStr } from './python/repr.js';
import { CompiledPattern } from './name-filter.js';
import { resourcesProblem } from './resources/local-target.js';
import type { MappedStatus } from './types.js';

export type { CompiledPattern } from './name-filter.js';

/**
 * A validated instance with every default applied. It holds no password:
 * credentials are returned separately by {@link resolveConfig}, so this object
 * can be logged or printed as a whole.
 */
export interface ResolvedConfig {
  /** `name`, as configured (not trimmed). */
  readonly name: string;
  /** `host` as configured, default `localhost`; unused with a socket. */
  readonly host: string;
  /** `port` as a number, default 9001; unused with a socket. */
  readonly port: number;
  /** `port` as configured (`'9001'` or `9001`), for the messages, which print it as given. */
  readonly portText: string;
  /** `socket` as configured (`unix:///path.sock`), or undefined for TCP and for `url`. */
  readonly socket: string | undefined;
  /**
   * `url` as configured, or undefined. With a `url`, `host`, `port` and
   * `portText` are the URL's for http(s) and the defaults for unix.
   */
  readonly url: string | undefined;
  /**
   * The server as the `supervisord.can_connect` CRITICAL message names it:
   * `http://<host>:<port as configured>`, the `socket` as configured, the
   * `url`'s `<scheme>://<host>:<port>` for http(s), the `url` as configured for
   * unix.
   */
  readonly target: string;
  /** Where the check connects. */
  readonly address: Address;
  /** The `tls_*` settings of an https `url` (file paths, not their contents), else undefined. */
  readonly tls: ResolvedTls | undefined;
  /** The HTTP Basic user (`username`, else the deprecated `user`), or undefined. */
  readonly username: string | undefined;
  /** True when both a username and a password are set, so that credentials are sent. */
  readonly authenticated: boolean;
  readonly procNames: readonly string[];
  readonly procRegex: readonly CompiledPattern[];
  readonly procNamesExclude: readonly string[];
  readonly procRegexExclude: readonly CompiledPattern[];
  /**
   * statename -> mapped status: the default mapping with
   * `status_mapping_override` applied. A null-prototype object: look names up
   * with `Object.hasOwn`.
   */
  readonly statusMapping: Readonly<Record<string, MappedStatus>>;
  /** `tags`, as configured. */
  readonly tags: readonly string[];
  /** `[...tags, 'supervisord_server:<name>']`: the tags of `supervisord.can_connect` and the base of every other tag list. */
  readonly instanceTags: readonly string[];
  /** Whole-call deadline (`timeout`, seconds, default 10), in ms. */
  readonly timeoutMs: number;
  /** Connect timeout (`connect_timeout`, seconds, default 5), in ms. */
  readonly connectTimeoutMs: number;
  /** Largest response body accepted (`max_response_bytes`, default 64 MiB). */
  readonly maxResponseBytes: number;
  /** `collection`: `auto` (default) or `full`. See `collect.ts` for when `auto` is selective. */
  readonly collection: 'auto' | 'full';
  /** `name_refresh_interval` (seconds, default 300), in ms. */
  readonly nameRefreshMs: number;
  /**
   * `max_connections`: the connections a full collection spreads its
   * `getProcessInfo` calls over; undefined (`auto`, the default) lets
   * `collect.ts` choose from the process count.
   */
  readonly maxConnections: number | undefined;
  /** `listing_timeout` (seconds, default 60), in ms: the deadline of a full listing that learns the process names. */
  readonly listingTimeoutMs: number;
  /**
   * `collect_resources` (default false), when the target allows it (a unix
   * socket or a loopback address, on Linux); false, with a warning, when it
   * was asked for and the target does not.
   */
  readonly collectResources: boolean;
  /**
   * `read_main_log` (default true): read supervisord's main log
   * (`supervisor.readLog`) for the exit statuses its process info does not
   * hold (an exit before `startsecs`), when a monitored process has one.
   */
  readonly readMainLog: boolean;
  /** `state_file` as configured (read by the command line only), or undefined. */
  readonly stateFile: string | undefined;
}

/** The TLS settings of an https `url`, printable: paths of the files, never what they hold. */
export interface ResolvedTls {
  /** `tls_verify` (default true): the server certificate is checked against the CAs and the host. */
  readonly verify: boolean;
  /** `tls_ca` as configured: PEM CA certificates that replace Node's list; undefined for Node's list. */
  readonly ca: string | undefined;
  /** `tls_cert` as configured: the client certificate (PEM), or undefined. */
  readonly cert: string | undefined;
  /** `tls_key` as configured: the client certificate's private key (PEM), or undefined. */
  readonly key: string | undefined;
}

/**
 * What the `tls_*` files hold, read at construction, for the transport. The
 * private key is kept in a private field: it does not appear in
 * `JSON.stringify`, `util.inspect` or string conversion of this object.
 */
export class TlsMaterial {
  /** Whether the server certificate is verified (`tls_verify`). */
  readonly verify: boolean;
  /** The `tls_ca` file's content, or undefined for Node's CA list. */
  readonly ca: Buffer | undefined;
  /** The `tls_cert` file's content, or undefined. */
  readonly cert: Buffer | undefined;
  readonly #key: Buffer | undefined;

  /**
   * @param verify verify the server certificate.
   * @param files PEM contents; `cert` and `key` go together.
   */
  constructor(verify: boolean, files: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined } = {}) {
    this.verify = verify;
    this.ca = files.ca;
    this.cert = files.cert;
    this.#key = files.key;
  }

  /** The options of `XmlRpcClient`'s `tls`, private key included: for the transport only. */
  clientOptions(): HttpTlsOptions {
    const options: HttpTlsOptions = { rejectUnauthorized: this.verify };
    if (this.ca !== undefined) options.ca = this.ca;
    if (this.cert !== undefined) options.cert = this.cert;
    if (this.#key !== undefined) options.key = this.#key;
    return options;
  }

  /** JSON form: byte counts, key masked. */
  toJSON(): { verify: boolean; ca?: string; cert?: string; key?: string } {
    const json: { verify: boolean; ca?: string; cert?: string; key?: string } = { verify: this.verify };
    if (this.ca !== undefined) json.ca = `${this.ca.length} bytes`;
    if (this.cert !== undefined) json.cert = `${this.cert.length} bytes`;
    if (this.#key !== undefined) json.key = '***';
    return json;
  }

  /** Printable form, key masked. */
  toString(): string {
    return `TlsMaterial(${JSON.stringify(this.toJSON())})`;
  }

  /** What `util.inspect` and `console.log` print: {@link TlsMaterial.toString}. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * HTTP Basic credentials. The password is kept in a private field: it does not
 * appear in `JSON.stringify`, `util.inspect`, `console.log` or string
 * conversion of this object, only through the `password` getter.
 */
export class Credentials {
  /** The HTTP Basic user. */
  readonly username: string;
  readonly #password: string;

  /**
   * @param username the HTTP Basic user.
   * @param password the HTTP Basic password.
   */
  constructor(username: string, password: string) {
    this.username = username;
    this.#password = password;
  }

  /** The password, for the transport only. */
  get password(): string {
    return this.#password;
  }

  /** JSON form, password masked. */
  toJSON(): { username: string; password: string } {
    return { username: this.username, password: '***' };
  }

  /** Printable form, password masked. */
  toString(): string {
    return `Credentials(${this.username}, ***)`;
  }

  /** What `util.inspect` and `console.log` print: {@link Credentials.toString}. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** What {@link resolveConfig} returns. */
export interface ConfigResolution {
  config: ResolvedConfig;
  /** Set only when both a username and a password are configured. */
  credentials: Credentials | undefined;
  /** Set only for an https `url`: what to pass to the transport. */
  tls: TlsMaterial | undefined;
  /** Deprecations, unknown keys and other non-fatal remarks, in key order. */
  warnings: string[];
}

// The reference check's mapping, beside the state codes (the text format reads it without loading this module).
export { DEFAULT_STATUS_MAPPING };

/** Defaults of our own keys. */
export const CONFIG_DEFAULTS = Object.freeze({
  host: 'localhost',
  port: 9001,
  timeout: 10,
  connectTimeout: 5,
  maxResponseBytes: 64 * 1024 * 1024,
  collection: 'auto' as 'auto' | 'full',
  nameRefreshInterval: 300,
  listingTimeout: 60,
});

/** Largest `max_connections`. */
export const MAX_CONNECTIONS = 256;

const NAME_MESSAGE = 'Supervisor server name not specified in yaml configuration.';
const FILTER_KEYS = ['proc_regex', 'proc_regex_exclude', 'proc_names', 'proc_names_exclude'] as const;
const TLS_KEYS = ['tls_verify', 'tls_ca', 'tls_cert', 'tls_key'] as const;
const URL_FORMS = 'http://host[:port][/path], https://host[:port][/path] or unix:///absolute/path.sock';

/** Keys this check reads. */
const KNOWN_KEYS = new Set([
  'name',
  'host',
  'port',
  'socket',
  'url',
  ...TLS_KEYS,
  'username',
  'password',
  'user',
  'pass',
  ...FILTER_KEYS,
  'status_mapping_override',
  'tags',
  'timeout',
  'connect_timeout',
  'max_response_bytes',
  'collection',
  'name_refresh_interval',
  'max_connections',
  'listing_timeout',
  'collect_resources',
  'read_main_log',
  'state_file',
]);

/**
 * Keys the Datadog Agent itself reads in every instance (scheduling, host
 * name, service tag) or that the reference documents without using
 * (`server_check`). They are accepted without a warning and have no effect on
 * the check.
 */
export const AGENT_KEYS: ReadonlySet<string> = new Set([
  'min_collection_interval',
  'empty_default_hostname',
  'service',
  'disable_generic_tags',
  'server_check',
]);

/**
 * Tag keys the check or its outputs set themselves: the server, process and
 * group tags, `status` of the counts, the `version` label of
 * `supervisord_version_info`, and `tag`, the Prometheus label of tags
 * without a colon. A user tag with one of these keys would be merged with
 * ours (Prometheus `status="down,x"`) or make a series ambiguous in Datadog.
 */
export const RESERVED_TAG_KEYS: readonly string[] = Object.freeze([
  'supervisord_server',
  'supervisord_process',
  'supervisord_group',
  'status',
  'version',
  'tag',
]);

/**
 * Why a user tag cannot be used, or undefined when it can. The key (before
 * the first colon) is compared as the outputs would see it: lower-cased (the
 * Datadog Agent lowercases tags) and with every character outside
 * `[a-z0-9_]` as `_` (a Prometheus label name), so `Status:x` and
 * `supervisord-group:x` are refused too. A tag without a colon is accepted
 * (Datadog keeps it as it is; Prometheus shows it as `tag="<tag>"`).
 */
export function reservedTagProblem(tag: string): string | undefined {
  const colon = tag.indexOf(':');
  if (colon < 0) return undefined;
  const key = tag.slice(0, colon);
  const normalised = key.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (normalised === '') return `the key before ':' is empty`;
  if (!RESERVED_TAG_KEYS.includes(normalised)) return undefined;
  return (
    `the key ${pythonRepr(key)} is one the check sets itself (${RESERVED_TAG_KEYS.join(', ')}); ` +
    `use another key, e.g. ${pythonRepr(`user_${normalised}${tag.slice(colon)}`)}`
  );
}

const MAX_TIMEOUT_SECONDS = 86400;
const MIN_RESPONSE_BYTES = 1024;
const MAX_RESPONSE_BYTES = 1024 * 1024 * 1024;

/**
 * Validates one instance and applies the defaults.
 *
 * @param instance the instance as loaded from YAML or JSON.
 * @throws {ConfigError} at the first problem, with the reference check's
 *   message where it has one. Never contains a password or a username.
 */
export function resolveConfig(instance: unknown): ConfigResolution {
  if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
    throw new ConfigError(`the instance configuration should be a dictionary, got ${pythonRepr(instance)}`);
  }
  const raw = instance as Record<string, unknown>;
  const get = (key: string): unknown => (Object.hasOwn(raw, key) ? raw[key] : undefined);
  const has = (key: string): boolean => Object.hasOwn(raw, key);
  const warnings: string[] = [];

  // name: the reference's first check, before any connection.
  const name = get('name');
  if (!name || (typeof name === 'string' && name.trim() === '')) throw new ConfigError(NAME_MESSAGE, 'name');
  if (typeof name !== 'string') throw new ConfigError(`'name' should be a string, got ${pythonRepr(name)}`, 'name');

  // Filters: types first (reference order), then the items.
  const lists = new Map<string, unknown[]>();
  for (const key of FILTER_KEYS) {
    const value = has(key) ? get(key) : [];
    if (!Array.isArray(value)) {
      throw new ConfigError(`'${key}' should be a list of strings. e.g. ${pythonRepr([value])}`, key);
    }
    lists.set(key, value);
  }
  const [procRegexRaw, procRegexExcludeRaw, procNames, procNamesExclude] = FILTER_KEYS.map((key) =>
    stringList(lists.get(key)!, key, `'${key}' should be a list of strings`),
  ) as [string[], string[], string[], string[]];

  const statusMapping = resolveStatusMapping(has('status_mapping_override') ? get('status_mapping_override') : {}, warnings);

  const procRegex = procRegexRaw.map((p) => new CompiledPattern(p, 'proc_regex'));
  const procRegexExclude = procRegexExcludeRaw.map((p) => new CompiledPattern(p, 'proc_regex_exclude'));

  const tags = stringList(get('tags') ?? [], 'tags', `'tags' should be a list of strings`);
  tags.forEach((tag, i) => {
    const problem = reservedTagProblem(tag);
    if (problem !== undefined) throw new ConfigError(`'tags' item ${i} ${pythonRepr(tag)}: ${problem}`, 'tags');
  });

  // Connection: `url` (ours) or the reference's `socket`, else `host`/`port`.
  const url = get('url') ?? undefined;
  const socket = get('socket') ?? undefined;
  let host: string = CONFIG_DEFAULTS.host;
  let port: number = CONFIG_DEFAULTS.port;
  let portText = String(CONFIG_DEFAULTS.port);
  let address: Address;
  let target: string;
  if (url !== undefined) {
    // Two ways of naming the server would leave one of them silently unused.
    for (const other of ['socket', 'host', 'port']) {
      if ((get(other) ?? undefined) !== undefined) {
        throw new ConfigError(`'url' and '${other}' both name the server: set only one of them`, 'url');
      }
    }
    address = urlAddress(url);
    if (address.kind === 'tcp') {
      host = address.host;
      port = address.port;
      portText = String(port);
      target = `${address.tls ? 'https' : 'http'}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`;
    } else {
      target = url as string;
    }
  } else if (socket !== undefined) {
    address = socketAddress(socket);
    target = socket as string;
    // host and port are ignored with a socket (the reference's own example sets host: http://127.0.0.1).
    if (typeof get('host') === 'string') host = get('host') as string;
  } else {
    if (has('host')) {
      const h = get('host');
      if (typeof h !== 'string' || h === '') throw new ConfigError(`'host' should be a host name or an IP address`, 'host');
      // One colon is a host:port (no IPv6 address has a single colon): it would become the IPv6 literal [127.0.0.1:19001].
      const colon = h.indexOf(':');
      if (colon >= 0 && h.indexOf(':', colon + 1) < 0 && !/^[a-z][a-z0-9+.-]*:\/\//i.test(h)) {
        throw new ConfigError(
          `'host' should be a host name or an IP address without a port, got ${pythonRepr(h)}: ` +
            `set 'host': ${pythonRepr(h.slice(0, colon))} and 'port': ${pythonRepr(h.slice(colon + 1))}`,
          'host',
        );
      }
      host = h;
    }
    if (has('port')) [port, portText] = checkPort(get('port'));
    try {
      address = tcpAddress(host, port);
    } catch (error) {
      throw new ConfigError(`'host' should be a host name or an IP address: ${(error as Error).message}`, 'host');
    }
    target = `http://${host}:${portText}`;
  }
  const { resolved: tls, material: tlsMaterial } = resolveTls(raw, address, target, warnings);

  // Credentials: username/password win over the deprecated user/pass, as in
  // the reference (`instance.get('username') or instance.get('user')`).
  if (has('user')) warnings.push(`'user' is deprecated, use 'username' instead`);
  if (has('pass')) warnings.push(`'pass' is deprecated, use 'password' instead`);
  const username = credential(raw, 'username', 'user');
  const password = credential(raw, 'password', 'pass');
  if (username !== undefined && password === undefined) {
    warnings.push(`'username' is set but 'password' is not: no credentials are sent`);
  } else if (username === undefined && password !== undefined) {
    warnings.push(`'password' is set but 'username' is not: no credentials are sent`);
  }
  const credentials = username !== undefined && password !== undefined ? new Credentials(username, password) : undefined;

  // Our own limits.
  const timeout = seconds(get('timeout'), 'timeout', CONFIG_DEFAULTS.timeout);
  const connectTimeout = seconds(get('connect_timeout'), 'connect_timeout', CONFIG_DEFAULTS.connectTimeout);
  const maxResponseBytes = byteLimit(get('max_response_bytes'));
  const collection = collectionMode(get('collection'));
  const nameRefresh = refreshSeconds(get('name_refresh_interval'));
  const maxConnections = connectionCount(get('max_connections'));
  const listingTimeout = seconds(get('listing_timeout'), 'listing_timeout', CONFIG_DEFAULTS.listingTimeout);
  const collectResources = resourcesKey(get('collect_resources'), address, warnings);
  const readMainLog = flag(get('read_main_log'), 'read_main_log', true);
  const stateFile = statePath(get('state_file'));

  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key) && !AGENT_KEYS.has(key)) {
      warnings.push(`Unknown configuration key ${pythonRepr(key)} is ignored`);
    }
  }

  const config: ResolvedConfig = Object.freeze({
    name,
    host,
    port,
    portText,
    socket: url === undefined ? (socket as string | undefined) : undefined,
    url: url as string | undefined,
    target,
    address: Object.freeze(address),
    tls,
    username,
    authenticated: credentials !== undefined,
    procNames: Object.freeze(procNames),
    procRegex: Object.freeze(procRegex),
    procNamesExclude: Object.freeze(procNamesExclude),
    procRegexExclude: Object.freeze(procRegexExclude),
    statusMapping,
    tags: Object.freeze(tags),
    instanceTags: Object.freeze([...tags, `supervisord_server:${name}`]),
    timeoutMs: toMs(timeout),
    connectTimeoutMs: toMs(connectTimeout),
    maxResponseBytes,
    collection,
    nameRefreshMs: Math.round(nameRefresh * 1000),
    maxConnections,
    listingTimeoutMs: toMs(listingTimeout),
    collectResources,
    readMainLog,
    stateFile,
  });
  return { config, credentials, tls: tlsMaterial, warnings };
}

function stringList(value: unknown, key: string, message: string): string[] {
  if (!Array.isArray(value)) throw new ConfigError(message, key);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'string') {
      throw new ConfigError(`${message}, but item ${i} is ${pythonRepr(value[i])}`, key);
    }
  }
  return [...(value as string[])];
}

function socketAddress(socket: unknown): Address {
  const example = 'e.g. unix:///var/run/supervisor.sock';
  if (typeof socket !== 'string' || !socket.startsWith('unix://')) {
    throw new ConfigError(`'socket' should be unix:// followed by an absolute path, ${example}`, 'socket');
  }
  const path = socket.slice('unix://'.length);
  const prefix = `'socket' should be unix:// followed by an absolute path, ${example}`;
  if (path === '') throw new ConfigError(`${prefix}: the path is empty`, 'socket');
  if (!path.startsWith('/')) throw new ConfigError(`${prefix}: ${pythonRepr(path)} is not absolute`, 'socket');
  try {
    return unixAddress(path);
  } catch (error) {
    if (!(error instanceof AddressError)) throw error;
    throw new ConfigError(`${prefix}: ${error.message}`, 'socket');
  }
}

/**
 * `url`: a scheme is required (a bare `host:port` or path is what `host`,
 * `port` and `socket` are for), and userinfo is refused so that credentials
 * stay in `username`/`password`, out of the printable configuration. The
 * refusal never quotes the URL. A missing path or `/` means `/RPC2`, where
 * supervisord serves XML-RPC; another path is kept, for a proxy that serves
 * supervisord elsewhere.
 */
function urlAddress(url: unknown): Address {
  if (typeof url !== 'string' || url === '') throw new ConfigError(`'url' should be ${URL_FORMS}, got ${pythonRepr(url)}`, 'url');
  const authority = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?([^/?#]*)/.exec(url)![1]!;
  if (authority.includes('@')) {
    throw new ConfigError(
      `'url' must not contain credentials (user:password@): set 'username' and 'password' instead, which are kept out of printed configurations`,
      'url',
    );
  }
  if (!/^(?:https?|unix):\/\//i.test(url)) throw new ConfigError(`'url' should be ${URL_FORMS}, got ${pythonRepr(url)}`, 'url');
  let address: Address;
  try {
    address = parseAddress(url).address;
    if (address.kind === 'tcp' && address.path === '/') address = tcpAddress(address.host, address.port, { tls: address.tls });
  } catch (error) {
    if (!(error instanceof AddressError)) throw error;
    throw new ConfigError(`'url' should be ${URL_FORMS}: ${error.message}`, 'url');
  }
  return address;
}

/**
 * The `tls_*` keys: refused unless the server is an https `url`; `tls_cert`
 * and `tls_key` together or not at all. The files are read and parsed now, so
 * that a wrong path or a file of the wrong kind is a configuration error
 * naming the key and the path rather than a failure of every run.
 */
function resolveTls(
  raw: Record<string, unknown>,
  address: Address,
  target: string,
  warnings: string[],
): { resolved: ResolvedTls | undefined; material: TlsMaterial | undefined } {
  const value = (key: string): unknown => (Object.hasOwn(raw, key) ? (raw[key] ?? undefined) : undefined);
  if (!(address.kind === 'tcp' && address.tls)) {
    const set = TLS_KEYS.find((key) => value(key) !== undefined);
    if (set !== undefined) {
      throw new ConfigError(`'${set}' applies only to an https 'url' (e.g. https://host:443/RPC2), not to ${target}`, set);
    }
    return { resolved: undefined, material: undefined };
  }
  const verifyValue = value('tls_verify');
  if (verifyValue !== undefined && typeof verifyValue !== 'boolean') {
    throw new ConfigError(`'tls_verify' should be true or false, got ${pythonRepr(verifyValue)}`, 'tls_verify');
  }
  const verify = verifyValue ?? true;
  const ca = pathValue(value('tls_ca'), 'tls_ca');
  const cert = pathValue(value('tls_cert'), 'tls_cert');
  const key = pathValue(value('tls_key'), 'tls_key');
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert === undefined ? ['tls_key', 'tls_cert'] : ['tls_cert', 'tls_key'];
    throw new ConfigError(`'tls_cert' and 'tls_key' go together: '${given}' is set but '${missing}' is not`, missing);
  }
  if (ca !== undefined && !verify) {
    warnings.push(`'tls_ca' is not used: 'tls_verify' is false, so the server certificate is not checked`);
  }
  const caPem = ca === undefined ? undefined : certificateFile(ca, 'tls_ca');
  const certPem = cert === undefined ? undefined : certificateFile(cert, 'tls_cert');
  const keyPem = key === undefined ? undefined : readPemFile(key, 'tls_key');
  if (certPem !== undefined && keyPem !== undefined) {
    try {
      builtin('node:tls').createSecureContext({ cert: certPem, key: keyPem });
    } catch (error) {
      // OpenSSL's reason ("key values mismatch", "unsupported"), never the key itself.
      throw new ConfigError(
        `'tls_key' file ${pythonRepr(key)} cannot be used with 'tls_cert' file ${pythonRepr(cert)}: ${(error as Error).message}`,
        'tls_key',
      );
    }
  }
  return {
    resolved: Object.freeze({ verify, ca, cert, key }),
    material: new TlsMaterial(verify, { ca: caPem, cert: certPem, key: keyPem }),
  };
}

function pathValue(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`'${key}' should be the path of a PEM file, got ${pythonRepr(value)}`, key);
  }
  return value;
}

/** A file of PEM certificates (a CA bundle, a client certificate chain), each one parsed. */
function certificateFile(path: string, key: string): Buffer {
  const pem = readPemFile(path, key);
  // createSecureContext ignores CA text that is not a certificate: parse each block to report it.
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`'${key}' file ${pythonRepr(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, key);
  }
  blocks.forEach((block, i) => {
    try {
      new (builtin('node:crypto').X509Certificate)(block);
    } catch (error) {
      throw new ConfigError(`'${key}' file ${pythonRepr(path)}: certificate ${i + 1} cannot be parsed: ${(error as Error).message}`, key);
    }
  });
  return pem;
}

function readPemFile(path: string, key: string): Buffer {
  try {
    // Not a FIFO or a device, which could block the constructor or never end.
    if (!builtin('node:fs').statSync(path).isFile()) throw new ConfigError(`'${key}' file ${pythonRepr(path)} is not a regular file`, key);
    return builtin('node:fs').readFileSync(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError(`'${key}' file ${pythonRepr(path)} cannot be read: ${why}`, key);
  }
}

function checkPort(value: unknown): [number, string] {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfigError(`'port' should be an integer from 1 to 65535, got ${pythonRepr(value)}`, 'port');
  }
  return [n, String(value)];
}

/**
 * A credential key and its deprecated alias. Strings and numbers (YAML reads
 * `password: 1234` as a number; the reference formats it into the URL) are
 * accepted; an empty value is "not set". The value never appears in a message.
 */
function credential(raw: Record<string, unknown>, key: 'username' | 'password', alias: 'user' | 'pass'): string | undefined {
  for (const k of [key, alias]) {
    const value = Object.hasOwn(raw, k) ? raw[k] : undefined;
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new ConfigError(`'${k}' should be a string`, k);
    }
    const text = String(value);
    try {
      validateCredential(key, text);
    } catch (error) {
      throw new ConfigError(`'${k}' cannot be used: ${(error as Error).message}`, k);
    }
    return text;
  }
  return undefined;
}

function resolveStatusMapping(value: unknown, warnings: string[]): Readonly<Record<string, MappedStatus>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`'status_mapping_override' should be a dictionary`, 'status_mapping_override');
  }
  const mapping = Object.assign(Object.create(null) as Record<string, MappedStatus>, DEFAULT_STATUS_MAPPING);
  for (const [state, mapped] of Object.entries(value)) {
    if (mapped !== 'up' && mapped !== 'down' && mapped !== 'unknown') {
      throw new ConfigError(
        `'status_mapping_override' should be a status mapping e.g. ${state} => ${pythonStr(mapped)}`,
        'status_mapping_override',
      );
    }
    if (!Object.hasOwn(DEFAULT_STATUS_MAPPING, state)) {
      warnings.push(
        `'status_mapping_override' key ${pythonRepr(state)} is not a supervisord state ` +
          `(${Object.keys(DEFAULT_STATUS_MAPPING).join(', ')}); it only applies if the server sends it`,
      );
    }
    mapping[state] = mapped;
  }
  return Object.freeze(mapping);
}

/**
 * Seconds to whole milliseconds, once, here: timers and the client want
 * integers, and `1.001 * 1000` is 1000.9999999999999. At least 1 ms.
 */
function toMs(secondsValue: number): number {
  return Math.max(1, Math.round(secondsValue * 1000));
}

function seconds(value: unknown, key: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= MAX_TIMEOUT_SECONDS)) {
    throw new ConfigError(
      `'${key}' should be a number of seconds greater than 0 and at most ${MAX_TIMEOUT_SECONDS}, got ${pythonRepr(value)}`,
      key,
    );
  }
  return n;
}

function byteLimit(value: unknown): number {
  if (value === undefined || value === null) return CONFIG_DEFAULTS.maxResponseBytes;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_RESPONSE_BYTES || value > MAX_RESPONSE_BYTES) {
    throw new ConfigError(
      `'max_response_bytes' should be an integer from ${MIN_RESPONSE_BYTES} to ${MAX_RESPONSE_BYTES}, got ${pythonRepr(value)}`,
      'max_response_bytes',
    );
  }
  return value;
}

function collectionMode(value: unknown): 'auto' | 'full' {
  if (value === undefined || value === null) return CONFIG_DEFAULTS.collection;
  if (value !== 'auto' && value !== 'full') {
    throw new ConfigError(`'collection' should be 'auto' or 'full', got ${pythonRepr(value)}`, 'collection');
  }
  return value;
}

/** A boolean key; absent (or null) is `fallback`. */
function flag(value: unknown, key: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(`'${key}' should be true or false, got ${pythonRepr(value)}`, key);
  return value;
}

function connectionCount(value: unknown): number | undefined {
  if (value === undefined || value === null || value === 'auto') return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_CONNECTIONS) {
    throw new ConfigError(
      `'max_connections' should be 'auto' or an integer from 1 to ${MAX_CONNECTIONS}, got ${pythonRepr(value)}`,
      'max_connections',
    );
  }
  return value;
}

/** Unlike the timeouts, 0 is allowed: a full listing on every run. */
function refreshSeconds(value: unknown): number {
  if (value === undefined || value === null) return CONFIG_DEFAULTS.nameRefreshInterval;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= MAX_TIMEOUT_SECONDS)) {
    throw new ConfigError(
      `'name_refresh_interval' should be a number of seconds from 0 to ${MAX_TIMEOUT_SECONDS}, got ${pythonRepr(value)}`,
      'name_refresh_interval',
    );
  }
  return n;
}

/** `collect_resources`: a boolean; true only where the target is on this host (else a warning). */
function resourcesKey(value: unknown, address: Address, warnings: string[]): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (value !== true) throw new ConfigError(`'collect_resources' should be true or false, got ${pythonRepr(value)}`, 'collect_resources');
  const problem = resourcesProblem(address);
  if (problem === undefined) return true;
  warnings.push(problem);
  return false;
}

/** `state_file`: a non-empty path without NUL (the file system refuses those). */
function statePath(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw new ConfigError(`'state_file' should be the path of a file or a directory, got ${pythonRepr(value)}`, 'state_file');
  }
  return value;
}
