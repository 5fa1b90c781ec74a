/**
 * Closing a kept-alive connection so that the server has let it go
 * (`XmlRpcClient.closeGracefully`), and a budget lease that counts until
 * then: supervisord notices a closed connection only at its next loop turn,
 * so a connection opened at once in the place of one just destroyed made it
 * hold one descriptor more than the budget for a moment. The fake servers
 * here close their side late (like a server busy with a loop turn), or never.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';

import { tcpAddress } from '../../protocol/address.js';
import { ConnectionBudget } from '../../protocol/connection-budget.js';
import { ClientClosedError } from '../../protocol/errors.js';
import { encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { XmlRpcPool } from '../../protocol/xmlrpc-pool.js';
import { httpResponse } from '../helpers/raw-server.js';

interface LateServer {
  readonly port: number;
  /** performance.now() when the server closed each connection, in order. */
  readonly closedAt: number[];
  /** Connections the server holds open now. */
  open(): number;
  /** Connections it accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * Answers every request with `"ok"`; after the client's end of file, closes
 * its side `delayMs` later, or never (`undefined`: only the client's cut ends it).
 */
function lateServer(delayMs: number | undefined): Promise<LateServer> {
  const sockets = new Set<net.Socket>();
  const closedAt: number[] = [];
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', (d: Buffer) => {
      if (d.includes('\r\n\r\n')) socket.write(httpResponse(200, 'OK', encodeResponse('ok')));
    });
    socket.on('end', () => {
      if (delayMs === undefined) return;
      setTimeout(() => {
        closedAt.push(performance.now());
        socket.end();
      }, delayMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        closedAt,
        open: () => sockets.size,
        accepted: () => accepted,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

describe('XmlRpcClient.closeGracefully', () => {
  const servers: LateServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  test('an idle connection: resolves once the server has closed its side, not before', async () => {
    const server = await lateServer(150);
    servers.push(server);
    const client = new XmlRpcClient(tcpAddress('127.0.0.1', server.port));
    assert.equal(await client.call('a'), 'ok');
    const started = performance.now();
    await client.closeGracefully(2000);
    const resolvedAt = performance.now();
    assert.equal(server.closedAt.length, 1, 'the server closed the connection');
    assert.ok(resolvedAt >= server.closedAt[0]!, 'resolved after the server closed its side');
    assert.ok(resolvedAt - started >= 140, `waited for the server (${(resolvedAt - started).toFixed(0)} ms)`);
    await assert.rejects(client.call('b'), ClientClosedError);
  });

  test('a server that never closes its side: the connection is cut after graceMs', async () => {
    const server = await lateServer(undefined);
    servers.push(server);
    const client = new XmlRpcClient(tcpAddress('127.0.0.1', server.port));
    await client.call('a');
    const started = performance.now();
    await client.closeGracefully(200);
    const waited = performance.now() - started;
    assert.ok(waited >= 190 && waited < 1500, `cut after about 200 ms (${waited.toFixed(0)} ms)`);
  });

  test('close() while a graceful close waits for the server: the connection is cut at once, both resolve', async () => {
    const server = await lateServer(undefined);
    servers.push(server);
    const client = new XmlRpcClient(tcpAddress('127.0.0.1', server.port));
    await client.call('a');
    const closing = client.closeGracefully(5000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.open(), 1, 'half-closed, still open at the server');
    const started = performance.now();
    await client.close();
    // The graceful close resolves on its socket's 'close' event (or at the 5 s cut): its socket is closed.
    await closing;
    assert.ok(performance.now() - started < 1000, `not held by the 5 s grace (${(performance.now() - started).toFixed(0)} ms)`);
  });

  test('no connection, or a call under way: as close() (at once; the call rejects)', async () => {
    const server = await lateServer(5000);
    servers.push(server);
    const unused = new XmlRpcClient(tcpAddress('127.0.0.1', server.port));
    const started = performance.now();
    await unused.closeGracefully(2000);
    assert.ok(performance.now() - started < 100);
    const busy = new XmlRpcClient(tcpAddress('127.0.0.1', server.port));
    await busy.call('a');
    const pending = busy.call('b');
    const closing = busy.closeGracefully(2000);
    await assert.rejects(pending, ClientClosedError);
    const t0 = performance.now();
    await closing;
    assert.ok(performance.now() - t0 < 1000, 'not held by the 5 s the server would take');
  });
});

describe('XmlRpcPool.close() with a connection its budget is closing gracefully', () => {
  test('the closing connection is cut too: close() leaves no socket open, and the lease goes to the waiter', async () => {
    const server = await lateServer(undefined);
    try {
      const budget = new ConnectionBudget({ maxPerAddress: 1 });
      const address = tcpAddress('127.0.0.1', server.port);
      const first = new XmlRpcPool(address, { budget, maxConnections: 1 });
      const second = new XmlRpcPool(address, { budget, maxConnections: 1 });
      assert.equal(await first.call('a'), 'ok');
      // The second pool waits for the budget's only place: the first pool's idle lease ends gracefully.
      const waiting = second.call('b');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(budget.held(address), 1, 'the ending lease still counts');
      assert.equal(server.open(), 1);
      const started = performance.now();
      await first.close();
      assert.ok(performance.now() - started < 1000, `not held by the 2 s grace (${(performance.now() - started).toFixed(0)} ms)`);
      // The lease is released only once the graceful close has resolved (on its socket's 'close').
      assert.equal(await waiting, 'ok', 'the waiter got the place once the old connection was gone');
      assert.ok(performance.now() - started < 1000, `at once, not after the 2 s grace (${(performance.now() - started).toFixed(0)} ms)`);
      assert.equal(budget.held(address), 1, "the second pool's connection");
      await second.close();
      assert.equal(budget.held(address), 0);
    } finally {
      await server.close();
    }
  });
});

describe('XmlRpcPool waiting for the budget', () => {
  test('calls that arrive while the pool has no connection wait once, then share the connection it gets', async () => {
    const server = await lateServer(0);
    try {
      const budget = new ConnectionBudget({ maxPerAddress: 1 });
      const address = tcpAddress('127.0.0.1', server.port);
      const other = new XmlRpcPool(address, { budget, maxConnections: 1 });
      const pool = new XmlRpcPool(address, { budget, maxConnections: 4 });
      await other.call('a');
      // The budget's only place is the other pool's idle connection: five calls wait for it together.
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => pool.call(`m${i}`)));
      assert.deepEqual(answers, ['ok', 'ok', 'ok', 'ok', 'ok']);
      assert.equal(server.accepted(), 2, 'one connection for the five calls (not one each, each ending the previous)');
      await Promise.all([pool.close(), other.close()]);
      assert.equal(budget.held(address), 0);
    } finally {
      await server.close();
    }
  });
});

describe('XmlRpcPool.close() and its leases', () => {
  test('a lease is given back once its connection is closed, not when close() begins', async () => {
    const server = await lateServer(0);
    try {
      const budget = new ConnectionBudget({ maxPerAddress: 2 });
      const address = tcpAddress('127.0.0.1', server.port);
      const pool = new XmlRpcPool(address, { budget, maxConnections: 1 });
      await pool.call('a');
      const closing = pool.close();
      assert.equal(budget.held(address), 1, 'still counted while its socket closes');
      await closing;
      assert.equal(budget.held(address), 0);
    } finally {
      await server.close();
    }
  });
});

describe('ConnectionBudget: an ended lease counts until its connection is closed at both ends', () => {
  test('a waiter gets the place only when the promise onEnd returned settles', async () => {
    const A = tcpAddress('127.0.0.1', 9001);
    const budget = new ConnectionBudget({ maxPerAddress: 1 });
    const lease = budget.tryAcquire(A)!;
    let closed!: () => void;
    lease.onEnd(() => new Promise<void>((resolve) => (closed = resolve)));
    lease.idle(60_000);
    let granted = false;
    const waiting = budget.acquire(A, 5000).then((l) => ((granted = true), l));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(granted, false, 'not while the old connection is still open at the server');
    assert.equal(budget.held(A), 1);
    assert.equal(lease.released, false);
    closed();
    const next = await waiting;
    assert.equal(lease.released, true);
    assert.equal(budget.held(A), 1);
    next.release();
    assert.equal(budget.held(A), 0);
  });

  test('an onEnd that rejects still releases the lease', async () => {
    const A = tcpAddress('127.0.0.1', 9002);
    const budget = new ConnectionBudget({ maxPerAddress: 1 });
    const lease = budget.tryAcquire(A)!;
    lease.onEnd(() => Promise.reject(new Error('socket already gone')));
    lease.idle(60_000);
    const next = await budget.acquire(A, 1000);
    assert.equal(lease.released, true);
    next.release();
  });
});

