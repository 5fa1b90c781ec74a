/**
 * Several {@link XmlRpcClient}s to one address, so that calls made at the
 * same time travel on separate connections. A server that writes each
 * answer a slice per turn of its event loop (supervisord writes 4 KiB per
 * turn) serves concurrent connections in the same turns, so K answers cost
 * it about as many turns as the longest one instead of their sum.
 *
 * Each connection is an ordinary client: kept alive between calls, closed by
 * its own idle timer, retried once on a reused connection reset, bounded by
 * its own deadline. The pool only chooses which one carries a call.
 *
 * @module
 */

import { parseAddress } from './address.js';
import type { Address } from './address.js';
import type { ConnectionBudget, ConnectionLease } from './connection-budget.js';
import { ClientClosedError } from './errors.js';
import type { XmlRpcFault } from './errors.js';
import { HTTP_DEFAULTS } from './http-client.js';
import type { XmlRpcValue } from './types.js';
import { XmlRpcClient } from './xmlrpc-client.js';
import type { MulticallRequest, XmlRpcClientOptions } from './xmlrpc-client.js';

/** Options of {@link XmlRpcPool}: those of every connection's {@link XmlRpcClient}, and how many there may be. */
export interface XmlRpcPoolOptions extends XmlRpcClientOptions {
  /** Most connections open at once, 1 to 1024 [8]. */
  maxConnections?: number | undefined;
  /**
   * Draw every connection from this budget, shared with the other pools
   * given it [none]: the pool then holds at most
   * `min(maxConnections, budget.maxPerAddress)` connections, and fewer when
   * other pools hold connections to the same address. A pool with no
   * connection waits for one (within `timeoutMs`); a pool with some queues
   * its calls on them. An idle connection is closed after `idleTimeoutMs`,
   * or earlier when another pool waits for one to the same address.
   */
  budget?: ConnectionBudget | undefined;
}

/** Default {@link XmlRpcPoolOptions.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 8;
/**
 * How long a connection whose lease the budget ended waits for the server to
 * close its side before it is cut: a busy server's loop turn, which may take
 * a second under a large listing.
 */
const LEASE_CLOSE_GRACE_MS = 2000;
const MAX_CONNECTIONS_LIMIT = 1024;

interface Slot {
  client: XmlRpcClient;
  /** Calls handed to this client and not settled yet. */
  pending: number;
  /** With a budget: the connection's place in it. */
  lease: ConnectionLease | undefined;
}

/**
 * A pool of up to `maxConnections` connections to one XML-RPC server. A call
 * goes to a connection with nothing in flight, else to a new connection while
 * fewer than `maxConnections` exist (and, with a budget, one is free), else to
 * the connection with the fewest calls in flight (which queues it: one
 * request in flight per connection). Connections are opened on first need,
 * never before.
 *
 * Errors never contain the credentials (each client redacts its own).
 */
export class XmlRpcPool {
  /** Where the pool connects (printable form in `address.display`, without credentials). */
  readonly address: Address;
  /** The most connections the pool opens at once. */
  readonly maxConnections: number;
  readonly #clientOptions: XmlRpcClientOptions;
  readonly #budget: ConnectionBudget | undefined;
  readonly #idleMs: number;
  readonly #waitMs: number;
  readonly #slots: Slot[] = [];
  /** A client made to validate the options, used by the first connection. */
  #spare: XmlRpcClient | undefined;
  /** Aborts the waits for a lease when the pool closes. */
  #closing: AbortController | undefined;
  /** Clients whose lease the budget ended, closing gracefully: close() cuts them. */
  readonly #ending = new Set<XmlRpcClient>();
  /** The lease being waited for when the pool has no connection (one wait for every call meanwhile). */
  #acquiring: Promise<void> | undefined;
  #closed = false;

  /**
   * @param address as {@link XmlRpcClient}'s.
   * @param options see {@link XmlRpcPoolOptions}.
   * @throws as {@link XmlRpcClient}'s constructor (validated once, here), and
   *   {@link RangeError} / {@link TypeError} for a bad `maxConnections` or `budget`.
   */
  constructor(address: string | Address, options: XmlRpcPoolOptions = {}) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError('options must be an object');
    const { maxConnections, budget, ...clientOptions } = options;
    if (maxConnections !== undefined) {
      if (typeof maxConnections !== 'number') throw new TypeError('options.maxConnections must be a number');
      if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > MAX_CONNECTIONS_LIMIT) {
        throw new RangeError(`options.maxConnections must be an integer in 1-${MAX_CONNECTIONS_LIMIT}, got ${maxConnections}`);
      }
    }
    if (budget !== undefined && (typeof budget !== 'object' || budget === null || typeof budget.tryAcquire !== 'function')) {
      throw new TypeError('options.budget must be a ConnectionBudget');
    }
    this.maxConnections = maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#budget = budget;
    // Parse the address once: every client then shares it (and the URL's
    // credentials, unless the options name their own).
    let resolved: Address;
    let fromUrl: XmlRpcClientOptions = {};
    if (typeof address === 'string') {
      const parsed = parseAddress(address);
      resolved = parsed.address;
      if (clientOptions.username === undefined && clientOptions.password === undefined) {
        fromUrl = { username: parsed.username, password: parsed.password };
      }
    } else {
      resolved = address;
    }
    this.#clientOptions = { ...clientOptions, ...fromUrl };
    // The first client validates the options (and throws like XmlRpcClient would).
    const first = new XmlRpcClient(resolved, this.#clientOptions);
    this.address = first.address;
    this.#idleMs = this.#clientOptions.idleTimeoutMs ?? HTTP_DEFAULTS.idleTimeoutMs;
    this.#waitMs = this.#clientOptions.timeoutMs ?? HTTP_DEFAULTS.timeoutMs;
    if (budget === undefined) this.#slots.push({ client: first, pending: 0, lease: undefined });
    else this.#spare = first;
  }

  /** Connections (clients) created so far and not closed by the budget; each holds a socket only while in use or kept alive. */
  get size(): number {
    return this.#slots.length;
  }

  /** As {@link XmlRpcClient.call}, on the connection the pool chooses. */
  call(method: string, params?: readonly XmlRpcValue[]): Promise<XmlRpcValue> {
    return this.#run((client) => client.call(method, params));
  }

  /** As {@link XmlRpcClient.multicall}, on the connection the pool chooses. */
  multicall(calls: readonly MulticallRequest[]): Promise<Array<XmlRpcValue | XmlRpcFault>> {
    return this.#run((client) => client.multicall(calls));
  }

  /**
   * Closes every connection; pending and later calls reject with
   * `ClientClosedError`. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing?.abort();
    const slots = this.#slots.splice(0);
    // Connections still closing gracefully (their leases ended) are cut now: close() leaves no socket open.
    const ending = [...this.#ending];
    this.#ending.clear();
    // Each lease is given back once its socket is closed, not before: the budget never counts a connection gone that is still open.
    await Promise.all([
      ...slots.map((slot) => slot.client.close().then(() => slot.lease?.release())),
      ...ending.map((client) => client.close()),
    ]);
  }

  #run<T>(use: (client: XmlRpcClient) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClientClosedError(`client for ${this.address.display} is closed`));
    const slot = this.#pick();
    if (slot !== undefined) return this.#use(slot, use);
    // With a budget and no connection of our own: wait for one, once for all
    // the calls that arrive meanwhile (each waiting on its own would take
    // each connection the budget frees, and end it for the next: a
    // connection per call), then pick again.
    this.#acquiring ??= this.#acquire();
    return this.#acquiring.then(() => this.#run(use));
  }

  /** A lease from the budget, as a new slot; settles `#acquiring`. */
  #acquire(): Promise<void> {
    this.#closing ??= new AbortController();
    return this.#budget!.acquire(this.address, this.#waitMs, this.#closing.signal).then(
      (lease) => {
        this.#acquiring = undefined;
        if (this.#closed) {
          lease.release();
          throw new ClientClosedError(`client for ${this.address.display} is closed`);
        }
        this.#add(lease);
      },
      (error: unknown) => {
        this.#acquiring = undefined;
        throw error;
      },
    );
  }

  #use<T>(slot: Slot, use: (client: XmlRpcClient) => Promise<T>): Promise<T> {
    if (slot.pending++ === 0) slot.lease?.busy();
    const done = (): void => {
      if (--slot.pending === 0) slot.lease?.idle(this.#idleMs);
    };
    const result = use(slot.client);
    result.then(done, done);
    return result;
  }

  /** A connection for the next call; undefined when there is none and the budget has none free now. */
  #pick(): Slot | undefined {
    let least: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.pending === 0) return slot;
      if (least === undefined || slot.pending < least.pending) least = slot;
    }
    const budget = this.#budget;
    if (budget === undefined) {
      if (this.#slots.length < this.maxConnections) {
        const slot = { client: new XmlRpcClient(this.address, this.#clientOptions), pending: 0, lease: undefined };
        this.#slots.push(slot);
        return slot;
      }
      return least;
    }
    if (this.#slots.length < Math.min(this.maxConnections, budget.maxPerAddress)) {
      const lease = budget.tryAcquire(this.address);
      if (lease !== undefined) return this.#add(lease);
    }
    return least;
  }

  /** A new connection holding `lease`; the budget ending the lease closes it. */
  #add(lease: ConnectionLease): Slot {
    const client = this.#spare ?? new XmlRpcClient(this.address, this.#clientOptions);
    this.#spare = undefined;
    const slot: Slot = { client, pending: 0, lease };
    this.#slots.push(slot);
    lease.onEnd(() => {
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      // The lease counts until the server has closed its side too: its descriptor is then free for the next connection.
      this.#ending.add(client);
      const closing = client.closeGracefully(LEASE_CLOSE_GRACE_MS);
      const drop = (): boolean => this.#ending.delete(client);
      closing.then(drop, drop);
      return closing;
    });
    return slot;
  }
}
