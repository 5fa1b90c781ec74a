import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { tcpAddress } from '../../protocol/address.js';
import { AddressError, ClientClosedError, XmlRpcFault } from '../../protocol/errors.js';
import { encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { DEFAULT_MAX_CONNECTIONS, XmlRpcPool } from '../../protocol/xmlrpc-pool.js';
import { httpResponse, startServer } from '../helpers/raw-server.js';
import type { RawServer, RawServerOptions, Responder } from '../helpers/raw-server.js';

const servers: RawServer[] = [];
const pools: XmlRpcPool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(respond: Responder, opts: RawServerOptions = {}): Promise<RawServer> {
  const s = await startServer(respond, opts);
  servers.push(s);
  return s;
}

function pool(...args: ConstructorParameters<typeof XmlRpcPool>): XmlRpcPool {
  const p = new XmlRpcPool(...args);
  pools.push(p);
  return p;
}

/** Answers every request with the connection's number, after `delayMs`; a `fault` method gets a fault. */
const numbered = (delayMs: number): Responder => (request, socket) => {
  const body = request.body.includes('<methodName>fault</methodName>')
    ? encodeFault(3, 'BAD_ARGUMENTS')
    : encodeResponse(request.body.includes('<methodName>system.multicall</methodName>') ? [request.connection] : request.connection);
  setTimeout(() => socket.destroyed || socket.write(httpResponse(200, 'OK', body)), delayMs);
};

describe('XmlRpcPool', () => {
  for (const unix of [false, true]) {
    test(`concurrent calls go to separate connections, up to maxConnections; sequential calls reuse one (${unix ? 'unix' : 'tcp'})`, async () => {
      const server = await serve(numbered(20), { unix });
      const p = pool(server.url, { maxConnections: 3 });
      assert.equal(await p.call('a'), 0);
      assert.equal(await p.call('a'), 0);
      assert.equal(server.connections, 1);
      assert.equal(p.size, 1);
      // Five at once: three connections, the fourth and fifth wait on the least busy ones.
      const answers = await Promise.all([1, 2, 3, 4, 5].map(() => p.call('a')));
      assert.deepEqual([...answers].sort(), [0, 0, 1, 1, 2]);
      assert.equal(server.connections, 3);
      assert.equal(p.size, 3);
      const multi = await Promise.all([p.multicall([{ methodName: 'a' }]), p.multicall([{ methodName: 'a' }])]);
      assert.deepEqual(multi.map((m) => m[0]).sort(), [0, 1]);
      assert.equal(server.connections, 3);
    });
  }

  test('faults and errors come back as from XmlRpcClient; a failed call frees its connection', async () => {
    const server = await serve(numbered(0));
    const p = pool(server.url, { maxConnections: 2 });
    await assert.rejects(p.call('fault'), (e: unknown) => e instanceof XmlRpcFault && e.faultCode === 3);
    assert.equal(await p.call('a'), 0);
    assert.equal(server.connections, 1);
  });

  test('close() closes every connection and rejects the pending calls and later ones', async () => {
    const server = await serve(() => {}); // never answers
    const p = pool(server.url, { maxConnections: 4 });
    const pending = [1, 2, 3].map(() => p.call('a'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(server.openSockets.size, 3);
    await p.close();
    for (const call of pending) await assert.rejects(call, ClientClosedError);
    await assert.rejects(p.call('a'), ClientClosedError);
    await assert.rejects(p.multicall([{ methodName: 'a' }]), ClientClosedError);
    for (let i = 0; i < 50 && server.openSockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(server.openSockets.size, 0);
    await p.close(); // idempotent
  });

  test("the URL's credentials go to every connection, unless the options name their own", async () => {
    const server = await serve(numbered(10));
    const url = server.url.replace('http://', 'http://ops:s3cret-pass@');
    const p = pool(url, { maxConnections: 2 });
    await Promise.all([p.call('a'), p.call('a')]);
    const auth = (i: number): string | undefined => /\r\nAuthorization: Basic (\S+)/.exec(server.requests[i]!.head)?.[1];
    assert.deepEqual([auth(0), auth(1)], [Buffer.from('ops:s3cret-pass').toString('base64'), Buffer.from('ops:s3cret-pass').toString('base64')]);
    const q = pool(url, { username: 'other', password: 'other-pass' });
    await q.call('a');
    assert.equal(auth(2), Buffer.from('other:other-pass').toString('base64'));
    const r = pool(tcpAddress('127.0.0.1', server.port), {});
    await r.call('a');
    assert.equal(auth(3), undefined);
  });

  test('options: maxConnections validated and defaulted; the client options as XmlRpcClient validates them', () => {
    assert.equal(pool('http://127.0.0.1:9').maxConnections, DEFAULT_MAX_CONNECTIONS);
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', { maxConnections: 0 }), { name: 'RangeError', message: 'options.maxConnections must be an integer in 1-1024, got 0' });
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', { maxConnections: 1.5 }), RangeError);
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', { maxConnections: '2' as unknown as number }), { name: 'TypeError', message: 'options.maxConnections must be a number' });
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', { bogus: 1 } as never), { name: 'TypeError', message: 'unknown option "bogus"' });
    assert.throws(() => new XmlRpcPool('http://127.0.0.1:9', null as never), { name: 'TypeError', message: 'options must be an object' });
    assert.throws(() => new XmlRpcPool('ftp://x'), AddressError);
    assert.equal(pool('http://127.0.0.1:9', { maxConnections: 1024 }).address.display, 'http://127.0.0.1:9/RPC2');
  });
});
