/**
 * ConnectionBudget: a hard per-address limit shared by pools (leases, idle
 * leases ended for waiters and after their idle timeout, waiters served in
 * order within their timeout), and XmlRpcPool drawing from it against a raw
 * server.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { parseAddress, tcpAddress, unixAddress } from '../../protocol/address.js';
import { connectionKey, ConnectionBudget, ConnectionBudgetError, DEFAULT_MAX_PER_ADDRESS } from '../../protocol/connection-budget.js';
import { ClientClosedError } from '../../protocol/errors.js';
import { encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { XmlRpcPool } from '../../protocol/xmlrpc-pool.js';
import { httpResponse, startServer } from '../helpers/raw-server.js';
import type { RawServer } from '../helpers/raw-server.js';

const A = tcpAddress('127.0.0.1', 9001);
const B = unixAddress('/run/b.sock');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ConnectionBudget', () => {
  test('connectionKey: where the sockets go, the path and the host case aside', () => {
    const cases: Array<[string, string]> = [
      ['http://127.0.0.1:9001/RPC2', 'http://127.0.0.1:9001'],
      ['http://127.0.0.1:9001/RPC2/other?x', 'http://127.0.0.1:9001'],
      ['https://SV.Example.com/RPC2', 'https://sv.example.com:443'],
      ['http://[::1]:9001', 'http://[::1]:9001'],
      ['unix:///run/a.sock', 'unix:/run/a.sock'],
    ];
    for (const [url, key] of cases) assert.equal(connectionKey(parseAddress(url).address), key, url);
  });

  test('at most maxPerAddress leases per address, each address on its own; released ones free room', () => {
    const budget = new ConnectionBudget({ maxPerAddress: 2 });
    const a1 = budget.tryAcquire(A)!;
    const a2 = budget.tryAcquire(A)!;
    assert.equal(budget.tryAcquire(A), undefined);
    assert.ok(budget.tryAcquire(B));
    assert.deepEqual([budget.held(A), budget.held(B), budget.total], [2, 1, 3]);
    // Idle leases are not ended for tryAcquire: its caller has connections to queue on.
    a1.idle(60_000);
    assert.equal(budget.tryAcquire(A), undefined);
    a2.release();
    a2.release();
    assert.ok(budget.tryAcquire(A));
    assert.equal(budget.held(A), 2);
    assert.equal(new ConnectionBudget().maxPerAddress, DEFAULT_MAX_PER_ADDRESS);
  });

  test('acquire ends the longest idle lease when the address is full', async () => {
    const budget = new ConnectionBudget({ maxPerAddress: 2 });
    const ended: string[] = [];
    const first = budget.tryAcquire(A)!;
    first.onEnd(() => ended.push('first'));
    const second = budget.tryAcquire(A)!;
    second.onEnd(() => ended.push('second'));
    second.idle(60_000);
    first.idle(60_000);
    const third = await budget.acquire(A, 1000);
    assert.deepEqual(ended, ['second']);
    assert.equal(second.released, true);
    assert.equal(budget.held(A), 2);
    third.release();
    first.release();
    assert.equal(budget.held(A), 0);
  });

  test('waiters are served in order: by a release, or by a lease falling idle (ended at once)', async () => {
    const budget = new ConnectionBudget({ maxPerAddress: 1 });
    const held = budget.tryAcquire(A)!;
    const ended: number[] = [];
    held.onEnd(() => ended.push(1));
    const order: string[] = [];
    const w1 = budget.acquire(A, 5000).then((l) => (order.push('w1'), l));
    const w2 = budget.acquire(A, 5000).then((l) => (order.push('w2'), l));
    assert.equal(budget.tryAcquire(A), undefined, 'no jumping the queue');
    held.idle(60_000);
    const l1 = await w1;
    assert.deepEqual(ended, [1]);
    l1.release();
    const l2 = await w2;
    assert.deepEqual(order, ['w1', 'w2']);
    assert.equal(budget.held(A), 1);
    l2.release();
  });

  test('a waiter gives up after its timeout (ConnectionBudgetError) or when aborted (ClientClosedError)', async () => {
    const budget = new ConnectionBudget({ maxPerAddress: 1 });
    const held = budget.tryAcquire(B)!;
    await assert.rejects(budget.acquire(B, 50), (e: unknown) => {
      assert.ok(e instanceof ConnectionBudgetError);
      assert.equal(e.code, 'ERR_CONNECTION_BUDGET');
      assert.equal(e.limit, 1);
      assert.equal(e.message, 'no connection to unix:///run/b.sock became free within 50 ms: all 1 allowed are busy');
      return true;
    });
    const controller = new AbortController();
    const waiting = budget.acquire(B, 5000, controller.signal);
    controller.abort();
    await assert.rejects(waiting, (e: unknown) => e instanceof ClientClosedError && e.message === 'client for unix:///run/b.sock closed while waiting for a connection');
    await assert.rejects(budget.acquire(B, 5000, controller.signal), ClientClosedError);
    held.release();
    assert.equal(budget.total, 0);
  });

  test('idle leases end after their idle time, by one timer; busy again before it, they stay', async () => {
    const budget = new ConnectionBudget();
    const ended: string[] = [];
    const make = (name: string): ReturnType<ConnectionBudget['tryAcquire']> => {
      const lease = budget.tryAcquire(A)!;
      lease.onEnd(() => ended.push(name));
      return lease;
    };
    const short = make('short')!;
    const long = make('long')!;
    const back = make('back')!;
    long.idle(400);
    short.idle(40);
    back.idle(40);
    back.busy();
    await sleep(150);
    assert.deepEqual(ended, ['short']);
    await sleep(400);
    assert.deepEqual(ended, ['short', 'long']);
    assert.equal(budget.held(A), 1);
    back.release();
  });

  test('one sweep ends every expired lease, also when some close gracefully (the sets change under the sweep)', async () => {
    const budget = new ConnectionBudget({ maxPerAddress: 8 });
    const ended: number[] = [];
    let closeLater!: () => void;
    const leases = Array.from({ length: 6 }, (_, i) => {
      const lease = budget.tryAcquire(A)!;
      lease.onEnd(() => {
        ended.push(i);
        // The third closes gracefully: it still counts until its promise settles.
        return i === 2 ? new Promise<void>((resolve) => (closeLater = resolve)) : undefined;
      });
      return lease;
    });
    for (const lease of leases.slice(0, 5)) lease.idle(30);
    leases[5]!.idle(5000);
    await sleep(120);
    assert.deepEqual(ended, [0, 1, 2, 3, 4]);
    assert.equal(budget.held(A), 2, 'the graceful one and the long idle one');
    closeLater();
    await sleep(0);
    assert.equal(budget.held(A), 1);
    leases[5]!.release();
    assert.equal(budget.held(A), 0);
  });

  test('options are validated', () => {
    assert.throws(() => new ConnectionBudget({ maxPerAddress: 0 }), { name: 'RangeError', message: 'options.maxPerAddress must be an integer in 1-1024, got 0' });
    assert.throws(() => new ConnectionBudget({ maxPerAddress: '2' as unknown as number }), { name: 'TypeError', message: 'options.maxPerAddress must be a number' });
    assert.throws(() => new ConnectionBudget({ max: 2 } as never), { name: 'TypeError', message: "unknown option 'max' (expected maxPerAddress)" });
    assert.throws(() => new ConnectionBudget(null as never), { name: 'TypeError', message: 'options must be an object' });
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', { budget: {} as never }), { name: 'TypeError', message: 'options.budget must be a ConnectionBudget' });
  });
});

describe('XmlRpcPool with a budget', () => {
  const servers: RawServer[] = [];
  const pools: XmlRpcPool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.close()));
  });

  test('three pools of 4 share 2 connections to one server: calls queue, none fails, the server never sees more than 2', async () => {
    let most = 0;
    const server = await startServer((request, socket) => {
      most = Math.max(most, server.openSockets.size);
      setTimeout(() => socket.destroyed || socket.write(httpResponse(200, 'OK', encodeResponse(request.connection))), 20);
    });
    servers.push(server);
    const budget = new ConnectionBudget({ maxPerAddress: 2 });
    const ps = [0, 1, 2].map(() => new XmlRpcPool(server.url, { maxConnections: 4, budget, idleTimeoutMs: 60_000 }));
    pools.push(...ps);
    const answers = await Promise.all(ps.flatMap((p) => [1, 2, 3, 4].map(() => p.call('a'))));
    assert.equal(answers.length, 12);
    assert.ok(most <= 2, `the server saw ${most} connections at once`);
    assert.ok(budget.held(ps[0]!.address) <= 2);
    await Promise.all(ps.map((p) => p.close()));
    assert.equal(budget.total, 0, 'close() gives the leases back');
  });

  test('an idle connection is closed after idleTimeoutMs, its lease given back; the next call opens another', async () => {
    const server = await startServer((request, socket) => socket.write(httpResponse(200, 'OK', encodeResponse(request.connection))));
    servers.push(server);
    const budget = new ConnectionBudget();
    const p = new XmlRpcPool(server.url, { budget, idleTimeoutMs: 50 });
    pools.push(p);
    assert.equal(await p.call('a'), 0);
    assert.equal(budget.total, 1);
    await sleep(200);
    assert.equal(budget.total, 0);
    assert.equal(p.size, 0);
    assert.equal(server.openSockets.size, 0);
    assert.equal(await p.call('a'), 1);
  });

  test('a pool closed while it waits for a connection rejects its call', async () => {
    const server = await startServer(() => {}); // never answers
    servers.push(server);
    const budget = new ConnectionBudget({ maxPerAddress: 1 });
    const busy = new XmlRpcPool(server.url, { budget });
    const waiting = new XmlRpcPool(server.url, { budget });
    pools.push(busy, waiting);
    const hung = busy.call('a');
    const queued = waiting.call('a');
    await sleep(30);
    await waiting.close();
    await assert.rejects(queued, ClientClosedError);
    await busy.close();
    await assert.rejects(hung, ClientClosedError);
    assert.equal(budget.total, 0);
  });
});
