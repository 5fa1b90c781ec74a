/**
 * Where an XML-RPC server listens: a unix socket or a TCP host and port
 * (optionally TLS), plus the HTTP path of the endpoint.
 *
 * Accepted spellings (those of supervisor's own tools, plus bare paths and
 * hosts):
 * - `unix:///absolute/path.sock`, supervisor's own form (and a bare
 *   `/absolute/path.sock`);
 * - `http://[user:pass@]host[:port][/path]` and `https://...`, where a missing
 *   port is the scheme's default (80, 443), as in any URL;
 * - `host` and `host:port` without a scheme, where a missing port is 9001,
 *   supervisorctl's default.
 *
 * A missing path is `/RPC2`. An explicit path is kept as given (supervisord
 * serves its HTML web UI at `/`, and the client reports that clearly instead
 * of silently rewriting the URL).
 *
 * Nothing here ever puts a password into an error message: inputs quoted in
 * messages have their userinfo replaced by `***@`.
 *
 * @module
 */

import { AddressError } from './errors.js';

/**
 * A resolved server address.
 *
 * `display` is printable and never contains credentials:
 * `unix:///var/run/supervisor.sock`, `http://localhost:9001/RPC2`,
 * `https://h:443/RPC2`, `http://[::1]:9001/RPC2`.
 */
export type Address =
  | { kind: 'unix'; socketPath: string; path: string; display: string }
  | { kind: 'tcp'; tls: boolean; host: string; port: number; path: string; display: string };

/** The result of {@link parseAddress}: the address and the URL's userinfo, percent-decoded. */
export interface ParsedAddress {
  address: Address;
  username?: string;
  password?: string;
}

/** The XML-RPC endpoint of supervisord; any path starting with `/RPC2` reaches it. */
export const DEFAULT_PATH = '/RPC2';
/** supervisorctl's default port, used when neither a scheme nor a port is given. */
export const DEFAULT_PORT = 9001;

const SLASH = 0x2f; // /

/**
 * Parses a server URL or host string.
 *
 * @param url `unix:///abs/path.sock`, `/abs/path.sock`, `http://host[:port][/path]`,
 *   `https://host[:port][/path]`, `host`, `host:port`; IPv6 hosts in brackets (`[::1]`).
 * @returns the address, and the username/password found in the URL's userinfo
 *   (percent-decoded), if any.
 * @throws {AddressError} for an empty or relative socket path, an unknown
 *   scheme, an empty host, a port that is not a number in 1-65535, CR/LF/NUL
 *   anywhere, or a userinfo that does not percent-decode. The message quotes
 *   the input with its userinfo masked.
 * @throws {TypeError} when `url` is not a string.
 */
export function parseAddress(url: string): ParsedAddress {
  if (typeof url !== 'string') {
    throw new TypeError(`address must be a string, got ${describeType(url)}`);
  }
  const shown = quoteInput(url);
  if (hasForbiddenControl(url)) {
    throw new AddressError(`address ${shown} contains a CR, LF or NUL character`);
  }
  if (url.trim() === '') {
    throw new AddressError('address is empty');
  }
  const schemeEnd = findSchemeEnd(url);
  if (schemeEnd < 0) {
    if (url.charCodeAt(0) === SLASH) {
      return { address: unixAddress(url) };
    }
    return parseAuthorityAndPath(url, 0, false, DEFAULT_PORT, shown);
  }
  const scheme = url.slice(0, schemeEnd).toLowerCase();
  const rest = schemeEnd + 3; // past '://'
  switch (scheme) {
    case 'unix': {
      const socketPath = url.slice(rest);
      if (socketPath === '') {
        throw new AddressError(`address ${shown} has an empty socket path`);
      }
      if (socketPath.charCodeAt(0) !== SLASH) {
        throw new AddressError(
          `address ${shown} has a relative socket path: write unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock`,
        );
      }
      return { address: unixAddress(socketPath) };
    }
    case 'http':
      return parseAuthorityAndPath(url, rest, false, 80, shown);
    case 'https':
      return parseAuthorityAndPath(url, rest, true, 443, shown);
    default:
      throw new AddressError(`address ${shown} has unknown scheme ${scheme}: expected unix, http or https`);
  }
}

/**
 * Builds a TCP address.
 *
 * @param host host name, IPv4 or IPv6 address (bare `::1` or bracketed `[::1]`).
 * @param port number or numeric string in 1-65535; default 9001.
 * @param options `tls` (default false) selects https; `path` defaults to `/RPC2`.
 * @throws {AddressError} for an empty host, a host with whitespace, `/`, `@`
 *   or CR/LF/NUL, a bad port or a path not starting with `/`.
 */
export function tcpAddress(
  host: string,
  port?: number | string,
  options?: { tls?: boolean; path?: string },
): Address {
  if (typeof host !== 'string') {
    throw new TypeError(`host must be a string, got ${describeType(host)}`);
  }
  let bare = host;
  if (bare.length >= 2 && bare.charCodeAt(0) === 0x5b && bare.charCodeAt(bare.length - 1) === 0x5d) {
    bare = bare.slice(1, -1); // [::1] -> ::1
  }
  checkHost(bare, quoteInput(host));
  const portNumber = port === undefined ? DEFAULT_PORT : checkPort(port, `invalid port ${quoteInput(String(port))}`);
  const tls = options?.tls ?? false;
  const path = options?.path === undefined ? DEFAULT_PATH : checkPath(options.path);
  return makeTcp(bare, portNumber, tls, path);
}

/**
 * Builds a unix-socket address.
 *
 * @param socketPath absolute file system path of the socket.
 * @param path HTTP path, default `/RPC2`.
 * @throws {AddressError} for an empty or relative socket path, CR/LF/NUL in
 *   it, or a path not starting with `/`.
 */
export function unixAddress(socketPath: string, path?: string): Address {
  if (typeof socketPath !== 'string') {
    throw new TypeError(`socket path must be a string, got ${describeType(socketPath)}`);
  }
  if (socketPath === '') {
    throw new AddressError('socket path is empty');
  }
  if (hasForbiddenControl(socketPath)) {
    throw new AddressError(`socket path ${quoteInput(socketPath)} contains a CR, LF or NUL character`);
  }
  if (socketPath.charCodeAt(0) !== SLASH) {
    throw new AddressError(`socket path ${quoteInput(socketPath)} is not absolute`);
  }
  return {
    kind: 'unix',
    socketPath,
    path: path === undefined ? DEFAULT_PATH : checkPath(path),
    display: `unix://${socketPath}`,
  };
}

/**
 * Refuses a credential that cannot travel in an HTTP header: CR, LF or NUL
 * anywhere, and for the username a `:` (Basic auth splits `user:pass` at the
 * first colon, RFC 7617 section 2, so such a user could never log in).
 *
 * @throws {AddressError} naming the field, never the value.
 * @throws {TypeError} when `value` is not a string.
 */
export function validateCredential(field: 'username' | 'password', value: string): void {
  if (typeof value !== 'string') {
    throw new TypeError(`${field} must be a string, got ${describeType(value)}`);
  }
  if (hasForbiddenControl(value)) {
    throw new AddressError(`${field} contains a CR, LF or NUL character`);
  }
  if (field === 'username' && value.includes(':')) {
    throw new AddressError('username contains a colon, which HTTP Basic authentication cannot carry');
  }
}

// ---------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------

/** Index of `://` after a syntactically valid scheme (RFC 3986 ALPHA *( ALPHA / DIGIT / + / - / . )), or -1. */
function findSchemeEnd(s: string): number {
  const c0 = s.charCodeAt(0);
  if (!isAlpha(c0)) return -1;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3a /* : */) {
      return s.startsWith('//', i + 1) ? i : -1;
    }
    if (!(isAlpha(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) return -1;
  }
  return -1;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function parseAuthorityAndPath(url: string, start: number, tls: boolean, defaultPort: number, shown: string): ParsedAddress {
  // The authority ends at the first '/', '?' or '#' (RFC 3986 section 3.2).
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === SLASH || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
    end++;
  }
  let authority = url.slice(start, end);
  const result: { username?: string; password?: string } = {};
  // The last '@' separates userinfo, as WHATWG URL does, so an unescaped '@'
  // in a password still parses.
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const username = decodeUserinfo(colon < 0 ? userinfo : userinfo.slice(0, colon), 'username', shown);
    validateCredential('username', username);
    result.username = username;
    if (colon >= 0) {
      const password = decodeUserinfo(userinfo.slice(colon + 1), 'password', shown);
      validateCredential('password', password);
      result.password = password;
    }
  }
  let host: string;
  let portText: string | undefined;
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    const close = authority.indexOf(']');
    if (close < 0) {
      throw new AddressError(`address ${shown} has an unterminated IPv6 host (missing "]")`);
    }
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '') {
      if (after.charCodeAt(0) !== 0x3a) {
        throw new AddressError(`address ${shown} has unexpected text after the IPv6 host`);
      }
      portText = after.slice(1);
    }
    if (!host.includes(':')) {
      throw new AddressError(`address ${shown} has brackets around a host that is not an IPv6 address`);
    }
  } else {
    const colon = authority.indexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else {
      host = authority;
    }
  }
  checkHost(host, shown);
  // An empty port ("http://h:/") means the default, as in WHATWG URL.
  const port = portText === undefined || portText === '' ? defaultPort : checkPort(portText, `address ${shown} has an invalid port`);
  let path = url.slice(end);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash); // fragments are never sent
  if (path === '') path = DEFAULT_PATH;
  else if (path.charCodeAt(0) === 0x3f) path = DEFAULT_PATH + path; // "host?x": query on the default path
  return { address: makeTcp(host, port, tls, checkPath(path)), ...result };
}

function makeTcp(host: string, port: number, tls: boolean, path: string): Address {
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { kind: 'tcp', tls, host, port, path, display: `${tls ? 'https' : 'http'}://${shownHost}:${port}${path}` };
}

function decodeUserinfo(text: string, field: 'username' | 'password', shown: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // `shown` has the userinfo masked: only the field is named.
    throw new AddressError(`address ${shown} has a ${field} that is not valid percent-encoding`);
  }
}

function checkHost(host: string, shown: string): void {
  if (host === '') {
    throw new AddressError(`address ${shown} has an empty host`);
  }
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    // Whitespace, controls, '/', '@' or a stray '[' ']' can only be a typo,
    // and CR/LF would end up inside the Host header.
    if (c <= 0x20 || c === 0x7f || c === SLASH || c === 0x40 || c === 0x5b || c === 0x5d || c === 0x5c) {
      throw new AddressError(`address ${shown} has an invalid character in the host`);
    }
  }
  if (host.includes(':') && !isIpv6Like(host)) {
    throw new AddressError(`address ${shown} has an invalid host`);
  }
}

/** Rough shape check only (hex digits, ':' and '.', then an optional `%zone`); the resolver has the final word. */
function isIpv6Like(host: string): boolean {
  const zone = host.indexOf('%');
  const end = zone < 0 ? host.length : zone;
  for (let i = 0; i < end; i++) {
    const c = host.charCodeAt(i) | 0x20; // ASCII lower case; ':' and '.' and digits are unchanged
    if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x61 && c <= 0x66) || c === 0x2e)) return false;
  }
  return zone !== 0 && zone !== host.length - 1;
}

function checkPort(port: number | string, what: string): number {
  let n: number;
  if (typeof port === 'number') {
    n = Number.isInteger(port) ? port : -1;
  } else if (typeof port === 'string') {
    n = 0;
    const text = port.trim();
    if (text === '' || text.length > 5) n = -1;
    for (let i = 0; i < text.length && n >= 0; i++) {
      const d = text.charCodeAt(i) - 0x30;
      n = d >= 0 && d <= 9 ? n * 10 + d : -1;
    }
  } else {
    throw new TypeError(`port must be a number or a string, got ${describeType(port)}`);
  }
  if (n < 1 || n > 65535) {
    throw new AddressError(`${what}: expected an integer in 1-65535`);
  }
  return n;
}

/**
 * Validates and normalises an HTTP path: it must start with '/', CR/LF/NUL
 * are refused, and anything that cannot appear raw in a request line (space,
 * other controls, non-ASCII) is percent-encoded as UTF-8.
 */
function checkPath(path: string): string {
  if (typeof path !== 'string') {
    throw new TypeError(`path must be a string, got ${describeType(path)}`);
  }
  if (hasForbiddenControl(path)) {
    throw new AddressError(`path ${quoteInput(path)} contains a CR, LF or NUL character`);
  }
  if (path.charCodeAt(0) !== SLASH) {
    throw new AddressError(`path ${quoteInput(path)} does not start with "/"`);
  }
  let needsEncoding = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      needsEncoding = true;
      break;
    }
  }
  if (!needsEncoding) return path;
  let out = '';
  for (const ch of path) {
    const c = ch.codePointAt(0)!;
    if (c > 0x20 && c < 0x7f) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  }
  return out;
}

function hasForbiddenControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) return true;
  }
  return false;
}

/**
 * Quotes an input for an error message: JSON-escaped (so control characters
 * stay visible) with any `userinfo@` replaced by `***@`.
 */
function quoteInput(input: string): string {
  return JSON.stringify(maskUserinfo(input));
}

/**
 * Masks what sits between `//` (or the start) and the last `@` of the input.
 * Not just of the authority: an unescaped `/`, `?` or `#` in a password ends
 * the authority early (`http://u:pa/ss@h` is refused for its port), and the
 * quoted input must still hide it. A path holding an `@` is over-masked, which
 * only costs detail in an error message.
 */
function maskUserinfo(input: string): string {
  const slashes = input.indexOf('//');
  const start = slashes >= 0 ? slashes + 2 : 0;
  const at = input.lastIndexOf('@');
  if (at < start) return input;
  return `${input.slice(0, start)}***${input.slice(at)}`;
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
