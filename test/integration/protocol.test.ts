/**
 * The XML-RPC client against a REAL supervisord started by this file (the
 * zoo of test/helpers/supervisord.ts), with and without Basic auth, over TCP
 * and over the unix socket. Skips, with the reason printed, only when
 * supervisord is not installed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../protocol/types.js';
import {
  findSupervisord,
  startSupervisord,
  supervisordVersion,
  zooPrograms,
  zooSettled,
  ZOO_STATES,
  type HarnessProcess,
  type RunningSupervisord,
} from '../helpers/supervisord.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;
const USER = 'monitor';
const PASSWORD = 'pw-sentinel-7f3a';

/**
 * A byte-for-byte TCP/unix proxy that counts the connections it accepts: the
 * only reliable way to see, from outside the client, how many connections
 * it opened (supervisord does not tell).
 */
class CountingProxy {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  accepted = 0;

  /**
   * @param stale when true, the proxy hides the upstream's close from the
   *   client (like a NAT or firewall that dropped the flow) and answers the
   *   client's next bytes with a TCP reset: the client's idle keep-alive
   *   socket then looks alive until it is reused.
   */
  constructor(upstream: { port: number } | { path: string }, stale = false) {
    this.server = net.createServer((down) => {
      this.accepted++;
      const up = 'path' in upstream ? net.connect(upstream.path) : net.connect(upstream.port, '127.0.0.1');
      let upClosed = false;
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      }
      down.on('error', () => up.destroy());
      up.on('error', () => (stale ? undefined : down.destroy()));
      up.on('close', () => {
        upClosed = true;
      });
      down.on('data', (c: Buffer) => {
        if (upClosed) down.resetAndDestroy();
        else up.write(c);
      });
      down.on('end', () => up.end());
      up.pipe(down, { end: !stale });
    });
  }

  listen(where: { port: 0 } | { path: string }): Promise<void> {
    return new Promise((resolve) => {
      if ('path' in where) this.server.listen(where.path, resolve);
      else this.server.listen(0, '127.0.0.1', resolve);
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const isStruct = (v: XmlRpcValue): v is XmlRpcStruct =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);

describe('XmlRpcClient against a real supervisord', { skip: SKIP }, () => {
  let plain: RunningSupervisord;
  let authed: RunningSupervisord;
  let version = '';
  const clients: XmlRpcClient[] = [];
  const client = (url: string, options: ConstructorParameters<typeof XmlRpcClient>[1] = {}): XmlRpcClient => {
    const c = new XmlRpcClient(url, { timeoutMs: 5000, ...options });
    clients.push(c);
    return c;
  };

  before(async () => {
    [plain, authed, version] = await Promise.all([
      startSupervisord({ programs: zooPrograms() }),
      startSupervisord({ programs: zooPrograms(), username: USER, password: PASSWORD, identifier: 'zoo-auth' }),
      supervisordVersion(),
    ]);
    await Promise.all([plain.waitFor(zooSettled), authed.waitFor(zooSettled)]);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([plain?.stop(), authed?.stop()]);
  });

  const targets = [
    { name: 'tcp, no auth', server: () => plain, url: () => plain.url!, auth: {}, identification: 'supervisor' },
    { name: 'unix, no auth', server: () => plain, url: () => plain.socketUrl!, auth: {}, identification: 'supervisor' },
    { name: 'tcp, auth', server: () => authed, url: () => authed.url!, auth: { username: USER, password: PASSWORD }, identification: 'zoo-auth' },
    { name: 'unix, auth', server: () => authed, url: () => authed.socketUrl!, auth: { username: USER, password: PASSWORD }, identification: 'zoo-auth' },
  ];

  for (const t of targets) {
    describe(t.name, () => {
      test('getAllProcessInfo: the zoo, as the harness sees it', async () => {
        const c = client(t.url(), t.auth);
        const procs = (await c.call('supervisor.getAllProcessInfo')) as XmlRpcStruct[];
        const harness = (await t.server().call('supervisor.getAllProcessInfo')) as HarnessProcess[];
        const key = (p: Record<string, unknown>): string => `${String(p['group'])}:${String(p['name'])}`;
        assert.deepEqual(procs.map(key), harness.map(key));
        assert.deepEqual(new Set(procs.map(key)), new Set(Object.keys(ZOO_STATES)));
        for (const p of procs) {
          const h = harness.find((x) => key(x) === key(p))!;
          assert.equal(p['statename'], ZOO_STATES[key(p)], key(p));
          for (const m of ['state', 'pid', 'exitstatus', 'spawnerr', 'start', 'stop', 'stdout_logfile', 'stderr_logfile']) {
            assert.equal(p[m], h[m], `${key(p)} ${m}`);
          }
        }
        const by = (k: string): XmlRpcStruct => procs.find((p) => key(p) === k)!;
        assert.equal(by('exiter:exiter')['exitstatus'], 3);
        assert.equal(by('exiter:exiter')['state'], 100);
        assert.equal(by('broken:broken')['state'], 200);
        assert.equal(by('broken:broken')['spawnerr'], "can't find command '/nonexistent/supervisord-check-missing'");
        assert.equal(by('idle:idle')['description'], 'Not started');
        assert.equal(by('café:café')['statename'], 'RUNNING');
        assert.ok((by('web:front')['pid'] as number) > 0);
      });

      test('getProcessInfo: group:name works, bare grouped name and unknown name are BAD_NAME', async () => {
        const c = client(t.url(), t.auth);
        const front = (await c.call('supervisor.getProcessInfo', ['web:front'])) as XmlRpcStruct;
        assert.equal(front['name'], 'front');
        assert.equal(front['group'], 'web');
        assert.equal(front['statename'], 'RUNNING');
        assert.equal(((await c.call('supervisor.getProcessInfo', ['café'])) as XmlRpcStruct)['name'], 'café');
        for (const name of ['front', 'nosuch']) {
          await assert.rejects(c.call('supervisor.getProcessInfo', [name]), (e: unknown) => {
            assert.ok(e instanceof XmlRpcFault, String(e));
            assert.equal(e.code, 'ERR_XMLRPC_FAULT');
            assert.equal(e.faultCode, 10);
            assert.equal(e.faultString, `BAD_NAME: ${name}`);
            assert.equal(e.message, `fault 10: BAD_NAME: ${name}`);
            return true;
          });
        }
      });

      test('getState, getSupervisorVersion (= supervisord --version), getIdentification, getPID', async () => {
        const c = client(t.url(), t.auth);
        assert.deepEqual(await c.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
        assert.equal(await c.call('supervisor.getSupervisorVersion'), version);
        assert.equal(await c.call('supervisor.getAPIVersion'), '3.0');
        assert.equal(await c.call('supervisor.getIdentification'), t.identification);
        assert.equal(await c.call('supervisor.getPID'), t.server().pid);
      });

      test('multicall: results and faults in place', async () => {
        const c = client(t.url(), t.auth);
        const r = await c.multicall([
          { methodName: 'supervisor.getState' },
          { methodName: 'supervisor.getProcessInfo', params: ['web:back'] },
          { methodName: 'supervisor.getProcessInfo', params: ['nosuch'] },
          { methodName: 'supervisor.getSupervisorVersion', params: [] },
          { methodName: 'supervisor.noSuchMethod' },
        ]);
        assert.equal(r.length, 5);
        assert.deepEqual(r[0], { statecode: 1, statename: 'RUNNING' });
        const back = r[1]!;
        assert.ok(!(back instanceof XmlRpcFault) && isStruct(back));
        assert.equal(back['group'], 'web');
        assert.ok(r[2] instanceof XmlRpcFault);
        assert.equal(r[2].faultCode, 10);
        assert.equal(r[2].faultString, 'BAD_NAME: nosuch');
        assert.equal(r[3], version);
        assert.ok(r[4] instanceof XmlRpcFault);
        assert.equal(r[4].faultCode, 1);
        assert.equal(r[4].faultString, 'UNKNOWN_METHOD');
      });
    });
  }

  for (const via of ['tcp', 'unix'] as const) {
    test(`401 over ${via}: wrong password and no password, without hanging, never leaking the password`, async () => {
      const url = via === 'tcp' ? authed.url! : authed.socketUrl!;
      const wrong = client(url, { username: USER, password: 'wrong-sentinel-91c2' });
      const none = client(url);
      for (const [c, secret] of [
        [wrong, 'wrong-sentinel-91c2'],
        [none, PASSWORD],
      ] as const) {
        const started = Date.now();
        await assert.rejects(c.call('supervisor.getState'), (e: unknown) => {
          assert.ok(e instanceof HttpStatusError, String(e));
          assert.equal(e.code, 'ERR_HTTP_STATUS');
          assert.equal(e.status, 401);
          assert.equal(e.reason, 'Unauthorized');
          assert.equal(e.message, `${c.address.display} answered HTTP 401 Unauthorized`);
          assert.ok(!JSON.stringify({ ...e, message: e.message, stack: e.stack }).includes(secret));
          return true;
        });
        // supervisord leaves the socket open after a 401: the client must not wait on it.
        assert.ok(Date.now() - started < 2000, `401 took ${Date.now() - started} ms`);
        // and the next call on the same client is answered (401 again, on a fresh connection)
        await assert.rejects(c.call('supervisor.getState'), { name: 'HttpStatusError', status: 401 });
      }
    });
  }

  describe('connection reuse, counted by a proxy in front of supervisord', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-'));
    const proxies: CountingProxy[] = [];
    after(async () => {
      await Promise.all(proxies.map((p) => p.close()));
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    for (const via of ['tcp', 'unix'] as const) {
      test(`50 calls over ${via} use one connection`, async () => {
        const proxy = new CountingProxy(via === 'tcp' ? { port: authed.port! } : { path: authed.socketPath! });
        proxies.push(proxy);
        const sock = path.join(tmp, `${via}.sock`);
        await proxy.listen(via === 'tcp' ? { port: 0 } : { path: sock });
        const c = client(via === 'tcp' ? `http://127.0.0.1:${proxy.port}/RPC2` : `unix://${sock}`, { username: USER, password: PASSWORD });
        for (let i = 0; i < 50; i++) {
          const r = i % 2 === 0 ? await c.call('supervisor.getState') : await c.call('supervisor.getProcessInfo', ['web:front']);
          assert.ok(isStruct(r));
        }
        assert.equal(proxy.accepted, 1);
        // Concurrent calls are queued on that same connection, not spread over new ones.
        const many = await Promise.all(Array.from({ length: 10 }, () => c.call('supervisor.getSupervisorVersion')));
        assert.deepEqual(many, Array(10).fill(version));
        assert.equal(proxy.accepted, 1);
      });
    }
  });

  test('a stale kept-alive connection (reset when reused) is retried once on a fresh one, after a real restart, for a call marked idempotent', async () => {
    const s = await startSupervisord({ programs: [{ name: 'only', command: '/bin/sleep 100000' }], unix: false });
    const proxy = new CountingProxy({ port: s.port! }, true);
    try {
      await proxy.listen({ port: 0 });
      const c = client(`http://127.0.0.1:${proxy.port}/RPC2`);
      assert.deepEqual(await c.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      await s.restart();
      // The client's socket still looks open; the first write on it is reset.
      assert.deepEqual(await c.call('supervisor.getState', [], { idempotent: true }), { statecode: 1, statename: 'RUNNING' });
      assert.equal(proxy.accepted, 2);
    } finally {
      await proxy.close();
      await s.stop();
    }
  });

  test('a kept-alive connection survives supervisord restarting between two calls', async () => {
    const s = await startSupervisord({ programs: [{ name: 'only', command: '/bin/sleep 100000' }] });
    try {
      await s.waitFor((p) => p[0]?.['statename'] === 'RUNNING');
      const tcp = client(s.url!);
      const unix = client(s.socketUrl!);
      const pidBefore = ((await tcp.call('supervisor.getProcessInfo', ['only'])) as XmlRpcStruct)['pid'];
      assert.deepEqual(await unix.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      // SIGHUP: supervisord closes every client connection and its listeners, then reopens them.
      await s.restart();
      assert.deepEqual(await tcp.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      assert.deepEqual(await unix.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      await s.waitFor((p) => p[0]?.['statename'] === 'RUNNING');
      const after = (await unix.call('supervisor.getProcessInfo', ['only'])) as XmlRpcStruct;
      assert.notEqual(after['pid'], pidBefore);
    } finally {
      await s.stop();
    }
  });
});
