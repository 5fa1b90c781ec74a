/**
 * A hard limit on the connections a process holds to one server address,
 * shared by every pool given the same budget.
 *
 * Each connection costs the server a file descriptor for as long as it is
 * open, idle ones included (a server that never closes idle connections, as
 * many XML-RPC servers do not, counts on its clients for that). Several
 * clients of one process that reach the same server (different settings,
 * different paths of one endpoint, background work beside the main calls)
 * would each open their own; a budget makes them draw from one allowance.
 *
 * A connection is held as a {@link ConnectionLease}: busy while it carries
 * calls, idle between them. Idle leases are ended (the holder closes its
 * connection) after the holder's idle timeout, by one timer for the whole
 * budget, or at once when someone waits for a lease of that address and
 * none is free. A waiter is served in arrival order, within its timeout.
 *
 * An ended lease still counts until its holder says the connection is
 * closed, which the holder may make wait until the server has closed its
 * side: a server that notices a closed connection only at the next turn of
 * its loop (supervisord) would otherwise hold the old descriptor beside the
 * new connection that took its place, and exceed the budget for a moment.
 *
 * @module
 */

import type { Address } from './address.js';
import { ClientClosedError, LimitExceededError } from './errors.js';

/** Default {@link ConnectionBudgetOptions.maxPerAddress}. */
export const DEFAULT_MAX_PER_ADDRESS = 32;
const MAX_PER_ADDRESS_LIMIT = 1024;

/** Options of {@link ConnectionBudget}. */
export interface ConnectionBudgetOptions {
  /** Most connections held at once to one address, 1 to 1024 [32]. */
  maxPerAddress?: number | undefined;
}

/**
 * No connection to the address became free within the waiter's timeout:
 * every connection the budget allows is carrying calls.
 */
export class ConnectionBudgetError extends LimitExceededError {
  /** The address (printable, without credentials). */
  readonly address: string;

  constructor(limit: number, address: string, waitedMs: number) {
    super('ERR_CONNECTION_BUDGET', `no connection to ${address} became free within ${waitedMs} ms: all ${limit} allowed are busy`, limit);
    this.address = address;
  }
}

/**
 * The key under which a budget counts an address: where the sockets go, the
 * HTTP path aside (every path of one server shares its descriptors). Host
 * names are compared without case.
 */
export function connectionKey(address: Address): string {
  if (address.kind === 'unix') return `unix:${address.socketPath}`;
  const host = address.host.toLowerCase();
  return `${address.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

interface Waiter {
  readonly resolve: (lease: ConnectionLease) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  dispose: (() => void) | undefined;
}

/** What the budget knows of one address. */
interface AddressState {
  readonly key: string;
  readonly display: string;
  held: number;
  /** Idle leases, the longest idle first. */
  readonly idle: Set<ConnectionLease>;
  readonly waiters: Waiter[];
}

/** One connection counted against a {@link ConnectionBudget}. */
export class ConnectionLease {
  readonly #budget: ConnectionBudget;
  /** @internal */
  readonly state: AddressState;
  /** Closes the holder's connection; called by the budget, on an idle lease only. */
  #onEnd: (() => unknown) | undefined;
  #phase: 'busy' | 'idle' | 'ending' | 'released' = 'busy';
  /** `performance.now()` after which an idle lease is ended. */
  #expiresAt = 0;
  #idleMs = 0;

  /** @internal Created by {@link ConnectionBudget}. */
  constructor(budget: ConnectionBudget, state: AddressState) {
    this.#budget = budget;
    this.state = state;
  }

  /**
   * What the budget calls when it ends this idle lease: close the
   * connection. The lease is released after it returns, or when the promise
   * it returns settles (the connection is closed at both ends): until then it
   * still counts against the budget.
   */
  onEnd(close: () => unknown): void {
    this.#onEnd = close;
  }

  /** Whether the lease was released (by its holder or by the budget). */
  get released(): boolean {
    return this.#phase === 'released';
  }

  /** @internal */
  get expiresAt(): number {
    return this.#expiresAt;
  }

  /** @internal */
  get idleMs(): number {
    return this.#idleMs;
  }

  /**
   * The connection carries no call: the budget may end the lease (through
   * the holder's `evict`) when someone waits for this address, and does
   * after `idleMs`.
   */
  idle(idleMs: number): void {
    if (this.#phase !== 'busy') return;
    this.#phase = 'idle';
    this.#idleMs = idleMs;
    this.#expiresAt = performance.now() + idleMs;
    this.#budget.onIdle(this);
  }

  /** The connection carries calls again: it is not ended until it is idle. */
  busy(): void {
    if (this.#phase !== 'idle') return;
    this.#phase = 'busy';
    this.#budget.onBusy(this);
  }

  /** The holder closed its connection. Idempotent. */
  release(): void {
    if (this.#phase === 'released') return;
    const wasIdle = this.#phase === 'idle';
    this.#phase = 'released';
    this.#budget.onRelease(this, wasIdle);
  }

  /** @internal Ends an idle lease: the holder closes its connection; released once it says it is closed. */
  end(): void {
    if (this.#phase !== 'idle') return;
    this.#phase = 'ending';
    this.#budget.onBusy(this);
    let closing: unknown;
    try {
      closing = this.#onEnd?.();
    } finally {
      if (closing instanceof Promise) void closing.then(() => this.release(), () => this.release());
      else this.release();
    }
  }
}

/**
 * Connections per address, at most `maxPerAddress` at once, for every
 * holder given this budget. See the module comment.
 */
export class ConnectionBudget {
  /** Most connections held at once to one address. */
  readonly maxPerAddress: number;
  readonly #addresses = new Map<string, AddressState>();
  /** Idle leases by idle timeout, each set ordered by expiry (same timeout, idle in turn). */
  readonly #expiries = new Map<number, Set<ConnectionLease>>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /**
   * @param options see {@link ConnectionBudgetOptions}.
   * @throws {TypeError} / {RangeError} for a bad `maxPerAddress`, or an unknown key.
   */
  constructor(options: ConnectionBudgetOptions = {}) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError('options must be an object');
    for (const key of Object.keys(options)) {
      if (key !== 'maxPerAddress') throw new TypeError(`unknown option '${key}' (expected maxPerAddress)`);
    }
    const max = options.maxPerAddress;
    if (max !== undefined) {
      if (typeof max !== 'number') throw new TypeError('options.maxPerAddress must be a number');
      if (!Number.isInteger(max) || max < 1 || max > MAX_PER_ADDRESS_LIMIT) {
        throw new RangeError(`options.maxPerAddress must be an integer in 1-${MAX_PER_ADDRESS_LIMIT}, got ${max}`);
      }
    }
    this.maxPerAddress = max ?? DEFAULT_MAX_PER_ADDRESS;
  }

  /** Connections held now to `address` (busy and idle). */
  held(address: Address): number {
    return this.#addresses.get(connectionKey(address))?.held ?? 0;
  }

  /** Connections held now, all addresses together. */
  get total(): number {
    let n = 0;
    for (const state of this.#addresses.values()) n += state.held;
    return n;
  }

  /**
   * A lease when one is free for `address` now, else undefined (nothing is
   * ended to make room: the caller has connections of its own to wait on).
   */
  tryAcquire(address: Address): ConnectionLease | undefined {
    const state = this.#state(address);
    if (state.held >= this.maxPerAddress || state.waiters.length > 0) {
      this.#forget(state);
      return undefined;
    }
    return this.#grant(state);
  }

  /**
   * A lease for `address`: at once when one is free; else by ending the
   * longest idle one; else the first to be released or to fall idle.
   *
   * @param timeoutMs longest wait.
   * @param signal aborts the wait (rejects with {@link ClientClosedError}).
   * @throws (rejects) {@link ConnectionBudgetError} after `timeoutMs`.
   */
  acquire(address: Address, timeoutMs: number, signal?: AbortSignal): Promise<ConnectionLease> {
    if (signal?.aborted === true) return Promise.reject(new ClientClosedError(`client for ${address.display} is closed`));
    const state = this.#state(address);
    if (state.waiters.length === 0 && state.held < this.maxPerAddress) return Promise.resolve(this.#grant(state));
    const promise = new Promise<ConnectionLease>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, dispose: undefined };
      const leave = (error: Error): void => {
        const at = state.waiters.indexOf(waiter);
        if (at < 0) return;
        state.waiters.splice(at, 1);
        waiter.dispose?.();
        clearTimeout(waiter.timer);
        this.#forget(state);
        reject(error);
      };
      waiter.timer = setTimeout(() => leave(new ConnectionBudgetError(this.maxPerAddress, state.display, timeoutMs)), timeoutMs);
      if (signal !== undefined) {
        const onAbort = (): void => leave(new ClientClosedError(`client for ${state.display} closed while waiting for a connection`));
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.dispose = () => signal.removeEventListener('abort', onAbort);
      }
      state.waiters.push(waiter);
    });
    // The longest idle connection makes room: its release (now, or once closed at both ends) hands its place to the first waiter.
    state.idle.values().next().value?.end();
    return promise;
  }

  /** @internal */
  onIdle(lease: ConnectionLease): void {
    const state = lease.state;
    if (state.waiters.length > 0) {
      // Someone waits for this address: the idle connection makes room now.
      lease.end();
      return;
    }
    state.idle.add(lease);
    let expiring = this.#expiries.get(lease.idleMs);
    if (expiring === undefined) {
      expiring = new Set();
      this.#expiries.set(lease.idleMs, expiring);
    }
    expiring.add(lease);
    this.#schedule(lease.expiresAt);
  }

  /** @internal */
  onBusy(lease: ConnectionLease): void {
    lease.state.idle.delete(lease);
    this.#unexpire(lease);
  }

  /** @internal */
  onRelease(lease: ConnectionLease, wasIdle: boolean): void {
    const state = lease.state;
    if (wasIdle) {
      state.idle.delete(lease);
      this.#unexpire(lease);
    }
    state.held--;
    const waiter = state.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.dispose?.();
      waiter.resolve(this.#grant(state));
      return;
    }
    this.#forget(state);
  }

  #grant(state: AddressState): ConnectionLease {
    state.held++;
    return new ConnectionLease(this, state);
  }

  #state(address: Address): AddressState {
    const key = connectionKey(address);
    let state = this.#addresses.get(key);
    if (state === undefined) {
      state = { key, display: address.kind === 'unix' ? address.display : key, held: 0, idle: new Set(), waiters: [] };
      this.#addresses.set(key, state);
    }
    return state;
  }

  /** Drops what is known of an address nobody holds or waits for (addresses come and go: memory stays bounded). */
  #forget(state: AddressState): void {
    if (state.held === 0 && state.waiters.length === 0) this.#addresses.delete(state.key);
  }

  #unexpire(lease: ConnectionLease): void {
    const expiring = this.#expiries.get(lease.idleMs);
    if (expiring === undefined) return;
    expiring.delete(lease);
    if (expiring.size === 0) this.#expiries.delete(lease.idleMs);
  }

  /** One timer for the budget: at the earliest expiry of an idle lease. */
  #schedule(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, at - performance.now()));
    // Idle connections never keep a process alive.
    this.#timer.unref();
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    // Live iteration: ending a lease deletes it (and an emptied set) during the loop, which a Map or Set iterator allows; nothing is added meanwhile.
    for (const expiring of this.#expiries.values()) {
      for (const lease of expiring) {
        // Timers may fire a fraction of a millisecond early.
        if (lease.expiresAt > now + 1) {
          next = Math.min(next, lease.expiresAt);
          break;
        }
        lease.end();
      }
    }
    if (next < Infinity) this.#schedule(next);
  }
}
