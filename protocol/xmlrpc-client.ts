/**
 * XML-RPC client: encodes a call, POSTs it over the HTTP client, and streams
 * the response body straight into a decoder (no body buffer).
 *
 * @module
 */

import { parseAddress, validateCredential } from './address.js';
import type { Address } from './address.js';
import { HttpParseError, HttpStatusError, NotXmlRpcError, XmlRpcFault, XmlRpcResponseError } from './errors.js';
import { HTTP_DEFAULTS, HttpClient } from './http-client.js';
import { CredentialRedactor } from './redact.js';
import type { HttpClientOptions, HttpExchange, HttpTlsOptions } from './http-client.js';
import type { HttpResponseHead } from './http-response-parser.js';
import type { XmlRpcValue } from './types.js';
import { XmlRpcDecoder } from './xmlrpc-decoder.js';
import { encodeCall } from './xmlrpc-encoder.js';

/**
 * Options of {@link XmlRpcClient}. Every field is optional (`undefined` counts
 * as absent); defaults in brackets.
 */
export interface XmlRpcClientOptions {
  /** HTTP Basic user; sent only when `password` is set too. Overrides the URL's userinfo. */
  username?: string | undefined;
  /** HTTP Basic password; sent only when `username` is set too. Overrides the URL's userinfo. */
  password?: string | undefined;
  /** TCP/TLS connect timeout, ms [5000]. */
  connectTimeoutMs?: number | undefined;
  /** Deadline of a whole call, from `call()` to the decoded result, queueing and retry included, ms [10000]. */
  timeoutMs?: number | undefined;
  /** Close a kept-alive connection unused for this long, ms [10000]. */
  idleTimeoutMs?: number | undefined;
  /** Largest status line plus headers accepted, bytes [65536]. */
  maxHeaderBytes?: number | undefined;
  /** Largest response body accepted, bytes [268435456, 256 MiB]. */
  maxBodyBytes?: number | undefined;
  /** Deepest nesting of XML elements accepted by the decoder [64]. */
  maxDepth?: number | undefined;
  /** TLS settings for `https` addresses (refused for other addresses). */
  tls?: HttpTlsOptions | undefined;
  /**
   * Treat every call of this client as idempotent [false]: see
   * {@link CallOptions.idempotent}. A call's own `idempotent` option overrides it.
   */
  idempotent?: boolean | undefined;
}

/** Options of one {@link XmlRpcClient.call} or {@link XmlRpcClient.multicall}. */
export interface CallOptions {
  /**
   * Whether running the call twice is harmless (a read such as
   * `supervisor.getState`, unlike `supervisor.startProcess`). Only an
   * idempotent call is sent again, once, on a fresh connection when the
   * kept-alive connection it was sent on fails before the first byte of the
   * answer (a server restarted while the connection sat idle): the server may
   * have run the first attempt. Any other call fails then with
   * `ConnectionClosedError`. Default: the client's `idempotent` option, itself
   * false by default.
   */
  idempotent?: boolean | undefined;
}

/** One call of a {@link XmlRpcClient.multicall} batch. */
export interface MulticallRequest {
  methodName: string;
  params?: readonly XmlRpcValue[] | undefined;
}

/** Largest timeout `setTimeout` honours (2^31 - 1 ms); larger values fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const OPTION_KEYS = new Set([
  'username',
  'password',
  'connectTimeoutMs',
  'timeoutMs',
  'idleTimeoutMs',
  'maxHeaderBytes',
  'maxBodyBytes',
  'maxDepth',
  'tls',
  'idempotent',
]);
const TLS_KEYS = new Set(['ca', 'rejectUnauthorized', 'cert', 'key', 'servername']);

/**
 * An XML-RPC client for one server, over HTTP/1.1 on a unix socket, TCP or
 * TLS. Calls are serialised on one kept-alive connection (supervisord allows
 * one request in flight per connection); see `http-client.ts` for the
 * connection, retry and timeout rules.
 *
 * Errors never contain the credentials.
 */
export class XmlRpcClient {
  /** Where the client connects (printable form in `address.display`, without credentials). */
  readonly address: Address;
  readonly #http: HttpClient;
  readonly #maxDepth: number | undefined;
  readonly #maxBodyBytes: number;
  readonly #redactor: CredentialRedactor;
  readonly #idempotent: boolean;

  /**
   * @param address a URL or host string (see {@link parseAddress}) or an {@link Address}.
   * @param options see {@link XmlRpcClientOptions}. When neither `username`
   *   nor `password` is given, the URL's userinfo is used.
   * @throws {AddressError} for a bad address or a credential with CR/LF/NUL.
   * @throws {TypeError} for an option of the wrong type or an unknown option key (named in the message).
   * @throws {RangeError} for a number option out of range (named in the message).
   */
  constructor(address: string | Address, options: XmlRpcClientOptions = {}) {
    let parsed: { address: Address; username?: string; password?: string };
    if (typeof address === 'string') parsed = parseAddress(address);
    else if (isAddress(address)) parsed = { address };
    else throw new TypeError('address must be a string or an Address object');
    const o = checkOptions(options);
    if (o.tls !== undefined && !(parsed.address.kind === 'tcp' && parsed.address.tls)) {
      throw new TypeError(`options.tls is only used with https:// addresses, not ${parsed.address.display}`);
    }
    let username = parsed.username;
    let password = parsed.password;
    if (o.username !== undefined || o.password !== undefined) {
      username = o.username;
      password = o.password;
    }
    this.address = parsed.address;
    // Only sent credentials can come back.
    this.#redactor = CredentialRedactor.for(username, username === undefined ? undefined : password);
    this.#maxDepth = o.maxDepth;
    this.#idempotent = o.idempotent ?? false;
    this.#maxBodyBytes = o.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes;
    const http: HttpClientOptions = {
      username,
      password,
      connectTimeoutMs: o.connectTimeoutMs ?? HTTP_DEFAULTS.connectTimeoutMs,
      timeoutMs: o.timeoutMs ?? HTTP_DEFAULTS.timeoutMs,
      idleTimeoutMs: o.idleTimeoutMs ?? HTTP_DEFAULTS.idleTimeoutMs,
      maxHeaderBytes: o.maxHeaderBytes ?? HTTP_DEFAULTS.maxHeaderBytes,
      maxBodyBytes: this.#maxBodyBytes,
      tls: o.tls,
    };
    this.#http = new HttpClient(this.address, http);
  }

  /**
   * Calls a method.
   *
   * @param method the method name, e.g. `supervisor.getState`.
   * @param params the parameters [none].
   * @param options see {@link CallOptions}; `idempotent` defaults to the client's option.
   * @returns the decoded result.
   * @throws (rejects) {@link XmlRpcFault} when the server answers a fault;
   *   {@link HttpStatusError} for a non-200 answer (body not read);
   *   {@link NotXmlRpcError} for a 200 answer that is not XML (e.g. the web UI's HTML);
   *   the decoder's errors (`XmlRpcParseError` and subclasses, `DepthLimitError`,
   *   `DocumentSizeError`); {@link XmlRpcEncodeError} for unencodable params;
   *   and the transport errors of {@link HttpClient.request}.
   *   {@link TypeError} for invalid `options` (named in the message).
   */
  call(method: string, params?: readonly XmlRpcValue[], options?: CallOptions): Promise<XmlRpcValue> {
    let body: Buffer;
    let idempotent: boolean;
    try {
      idempotent = this.#isIdempotent(options);
      body = encodeCall(method, params);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#post(body, idempotent);
  }

  /** POSTs an encoded call and decodes the answer. */
  #post(body: Buffer, idempotent: boolean): Promise<XmlRpcValue> {
    const request = this.#http.request(body, () => this.#exchange(), { idempotent });
    if (this.#redactor.empty) return request;
    // A server echoing the request (status line, fault string, document text
    // quoted by a decoder error) must not get the credentials into an error.
    return request.catch((error: unknown) => Promise.reject(this.#redactor.redactError(error)));
  }

  /**
   * Runs several calls in one round trip with `system.multicall`.
   *
   * @param calls the calls, in order.
   * @param options see {@link CallOptions}; mark the batch idempotent only
   *   when every call in it is. `idempotent` defaults to the client's option.
   * A batch that cannot change (see {@link isFrozenBatch}: the array, each
   * call and its params frozen, the params strings, numbers, booleans,
   * bigints or null) is encoded once, and its bytes kept as long as the
   * batch lives: a caller that sends the same batches again and again (the
   * check's sharded runs) does not build the same request every time.
   *
   * @returns one entry per request, in order: the result, or an
   *   {@link XmlRpcFault} for a call that failed (not thrown). An empty batch
   *   resolves to `[]` without contacting the server.
   * @throws (rejects) {@link XmlRpcResponseError} when the answer is not an
   *   array of as many items as requests; everything {@link call} rejects with
   *   (a fault of `system.multicall` itself is thrown).
   */
  async multicall(calls: readonly MulticallRequest[], options?: CallOptions): Promise<Array<XmlRpcValue | XmlRpcFault>> {
    if (!Array.isArray(calls)) throw new TypeError('multicall expects an array of {methodName, params} objects');
    let body = encodedBatches.get(calls);
    let idempotent: boolean;
    if (body === undefined) {
      const batch: XmlRpcValue[] = [];
      for (let i = 0; i < calls.length; i++) {
        const c: unknown = calls[i];
        if (typeof c !== 'object' || c === null) throw new TypeError(`calls[${i}] must be an object`);
        const { methodName, params } = c as Partial<MulticallRequest>;
        if (typeof methodName !== 'string' || methodName === '') {
          throw new TypeError(`calls[${i}].methodName must be a non-empty string`);
        }
        if (params !== undefined && !Array.isArray(params)) throw new TypeError(`calls[${i}].params must be an array`);
        batch.push({ methodName, params: params === undefined ? [] : [...params] });
      }
      if (batch.length === 0) return [];
      idempotent = this.#isIdempotent(options);
      body = encodeCall('system.multicall', [batch]);
      if (isFrozenBatch(calls)) encodedBatches.set(calls, body);
    } else {
      idempotent = this.#isIdempotent(options);
    }
    return this.#multicallAnswer(await this.#post(body, idempotent), calls.length);
  }

  /** A `system.multicall` answer checked against the number of calls, failed calls as faults. */
  #multicallAnswer(answer: XmlRpcValue, calls: number): Array<XmlRpcValue | XmlRpcFault> {
    if (!Array.isArray(answer)) {
      throw new XmlRpcResponseError(
        `system.multicall on ${this.address.display} answered ${describeValue(answer)}, expected an array`,
        this.address.display,
      );
    }
    if (answer.length !== calls) {
      throw new XmlRpcResponseError(
        `system.multicall on ${this.address.display} answered ${answer.length} results for ${calls} calls`,
        this.address.display,
      );
    }
    const results: Array<XmlRpcValue | XmlRpcFault> = answer;
    for (let i = 0; i < answer.length; i++) {
      const fault = asFault(answer[i]!);
      if (fault !== undefined) results[i] = this.#redactor.redactError(fault);
    }
    return results;
  }

  /** Closes the connection; pending and later calls reject with `ClientClosedError`. Idempotent. */
  close(): Promise<void> {
    return this.#http.close();
  }

  /**
   * Closes the connection once the server has closed its side too, when it
   * is idle: the server's descriptor is free when this resolves (see
   * `HttpClient.closeGracefully`); otherwise, or after `graceMs`, as
   * {@link XmlRpcClient.close}.
   */
  closeGracefully(graceMs: number): Promise<void> {
    return this.#http.closeGracefully(graceMs);
  }

  /** A call's `idempotent` option, else the client's; validates `options`. */
  #isIdempotent(options: CallOptions | undefined): boolean {
    if (options === undefined) return this.#idempotent;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError('call options must be an object');
    }
    for (const key of Object.keys(options)) {
      if (key !== 'idempotent') throw new TypeError(`unknown call option ${JSON.stringify(key)}`);
    }
    const v: unknown = options.idempotent;
    if (v === undefined) return this.#idempotent;
    if (typeof v !== 'boolean') throw new TypeError('call option "idempotent" must be a boolean');
    return v;
  }

  #exchange(): HttpExchange<XmlRpcValue> {
    const display = this.address.display;
    const path = this.address.path;
    const decoder = new XmlRpcDecoder(
      this.#maxDepth === undefined ? { maxBytes: this.#maxBodyBytes } : { maxBytes: this.#maxBodyBytes, maxDepth: this.#maxDepth },
    );
    return {
      onHead(head: HttpResponseHead): void {
        // The body of an error page is never parsed: supervisord's error
        // answers (401, 404, 500 for a Python exception in a method) are HTML.
        if (head.status !== 200) throw new HttpStatusError(head.status, head.reason, display);
        const type = mediaType(head.headers.get('content-type'));
        if (!isXmlType(type)) {
          const hint = path.startsWith('/RPC2')
            ? 'is this a supervisord XML-RPC endpoint?'
            : 'the URL probably does not point at /RPC2';
          throw new NotXmlRpcError(`${display} answered 200 with ${type}, not XML-RPC: ${hint}`, display, type);
        }
        const encoding = head.headers.get('content-encoding');
        if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
          // We send no Accept-Encoding; a compressed body would only confuse the decoder.
          throw new HttpParseError(`${display} answered with unrequested content-encoding ${JSON.stringify(encoding)}`, display);
        }
      },
      onBody(chunk: Uint8Array): void {
        decoder.write(chunk);
      },
      onEnd(): XmlRpcValue {
        return decoder.end();
      },
    };
  }
}

/**
 * The encoded `system.multicall` bodies of the batches that cannot change
 * (see {@link isFrozenBatch}), each kept as long as its batch lives. Shared
 * by every client: a batch may go out on any connection of a pool.
 */
const encodedBatches = new WeakMap<readonly MulticallRequest[], Buffer>();

/**
 * Whether nothing in `calls` can change any more: the array, each call and
 * each call's `params` are frozen, hold their entries as data properties
 * (a getter could answer differently next time), and the params are
 * strings, numbers, booleans, bigints or null. Its encoding can then be
 * kept for the batch.
 */
function isFrozenBatch(calls: readonly MulticallRequest[]): boolean {
  if (!Object.isFrozen(calls)) return false;
  for (let i = 0; i < calls.length; i++) {
    const c = ownValue(calls, i);
    if (typeof c !== 'object' || c === null || !Object.isFrozen(c)) return false;
    if (ownValue(c, 'methodName') === undefined) return false;
    const params = Object.hasOwn(c, 'params') ? ownValue(c, 'params') : undefined;
    if (params === undefined) continue;
    if (!Array.isArray(params) || !Object.isFrozen(params)) return false;
    for (let j = 0; j < params.length; j++) {
      const v = ownValue(params, j);
      if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') return false;
    }
  }
  return true;
}

/** An own data property's value; undefined for an accessor or a missing property. */
function ownValue(o: object, key: string | number): unknown {
  const d = Object.getOwnPropertyDescriptor(o, key);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

function isAddress(a: unknown): a is Address {
  if (typeof a !== 'object' || a === null) return false;
  const x = a as Partial<Record<string, unknown>>;
  if (typeof x['path'] !== 'string' || typeof x['display'] !== 'string') return false;
  if (x['kind'] === 'unix') return typeof x['socketPath'] === 'string';
  return x['kind'] === 'tcp' && typeof x['host'] === 'string' && typeof x['port'] === 'number' && typeof x['tls'] === 'boolean';
}

/** `text/xml; charset=utf-8` -> `text/xml`; a missing header counts as XML (lenient servers omit it). */
function mediaType(value: string | undefined): string {
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

function isXmlType(type: string): boolean {
  return type === '' || type === 'text/xml' || type === 'application/xml' || type.endsWith('+xml');
}

/** A multicall item shaped like Python's fault dict: `{faultCode: int, faultString: string}`. */
function asFault(item: XmlRpcValue): XmlRpcFault | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Uint8Array || item instanceof Date) {
    return undefined;
  }
  const code = item['faultCode'];
  const text = item['faultString'];
  if (typeof code === 'number' && Number.isInteger(code) && typeof text === 'string') return new XmlRpcFault(code, text);
  return undefined;
}

function describeValue(v: XmlRpcValue): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'base64 data';
  if (v instanceof Date) return 'a date';
  if (typeof v === 'object') return 'a struct';
  return `a ${typeof v}`;
}

interface CheckedOptions {
  username?: string;
  password?: string;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  idleTimeoutMs?: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  maxDepth?: number;
  tls?: HttpTlsOptions;
  idempotent?: boolean;
}

/** Validates every key (type, range, unknown keys); `undefined` values count as absent. */
function checkOptions(options: unknown): CheckedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('options must be an object');
  }
  const input = options as Record<string, unknown>;
  const out: CheckedOptions = {};
  for (const key of Object.keys(input)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option ${JSON.stringify(key)}`);
  }
  for (const field of ['username', 'password'] as const) {
    const v = input[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new TypeError(`options.${field} must be a string`);
    validateCredential(field, v);
    out[field] = v;
  }
  const idempotent = input['idempotent'];
  if (idempotent !== undefined) {
    if (typeof idempotent !== 'boolean') throw new TypeError('options.idempotent must be a boolean');
    out.idempotent = idempotent;
  }
  const int = (key: keyof CheckedOptions & `${string}${'Ms' | 'Bytes' | 'Depth'}`, min: number, max: number): void => {
    const v = input[key];
    if (v === undefined) return;
    if (typeof v !== 'number') throw new TypeError(`options.${key} must be a number`);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`options.${key} must be an integer in ${min}-${max}, got ${v}`);
    }
    out[key] = v;
  };
  int('connectTimeoutMs', 1, MAX_TIMER_MS);
  int('timeoutMs', 1, MAX_TIMER_MS);
  int('idleTimeoutMs', 1, MAX_TIMER_MS);
  // A status line alone needs 12 bytes; less than that can never work.
  int('maxHeaderBytes', 64, 2 ** 30);
  int('maxBodyBytes', 1, Number.MAX_SAFE_INTEGER);
  int('maxDepth', 1, 10_000);
  const t = input['tls'];
  if (t !== undefined) {
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new TypeError('options.tls must be an object');
    const tlsIn = t as Record<string, unknown>;
    const tlsOut: HttpTlsOptions = {};
    for (const key of Object.keys(tlsIn)) {
      if (!TLS_KEYS.has(key)) throw new TypeError(`unknown option "tls.${key}"`);
    }
    const pem = (v: unknown): v is string | Buffer => typeof v === 'string' || Buffer.isBuffer(v);
    const { ca, rejectUnauthorized, cert, key, servername } = tlsIn;
    if (ca !== undefined) {
      if (!(pem(ca) || (Array.isArray(ca) && ca.every(pem)))) {
        throw new TypeError('options.tls.ca must be a string, a Buffer or an array of them');
      }
      tlsOut.ca = ca;
    }
    if (cert !== undefined) {
      if (!pem(cert)) throw new TypeError('options.tls.cert must be a string or a Buffer');
      tlsOut.cert = cert;
    }
    if (key !== undefined) {
      // The message never shows the key.
      if (!pem(key)) throw new TypeError('options.tls.key must be a string or a Buffer');
      tlsOut.key = key;
    }
    if (rejectUnauthorized !== undefined) {
      if (typeof rejectUnauthorized !== 'boolean') throw new TypeError('options.tls.rejectUnauthorized must be a boolean');
      tlsOut.rejectUnauthorized = rejectUnauthorized;
    }
    if (servername !== undefined) {
      if (typeof servername !== 'string' || servername === '') throw new TypeError('options.tls.servername must be a non-empty string');
      tlsOut.servername = servername;
    }
    out.tls = tlsOut;
  }
  return out;
}
