/**
 * Issue 5 end to end: SupervisordCheck -> XmlRpcClient -> the supervisord
 * emulator (unix socket), counting the emulator's requests and calls. One
 * round trip per run, selective collection and its name map, the multicall
 * fallback, restarts, downtime and exit status, group counts, and
 * `supervisord.server.state` for each daemon state the emulator can be in
 * (RESTARTING's WARNING needs a getState answer supervisord never gives:
 * it is covered on the pure function in submissions.test.ts).
 *
 * Expected values are written from the definitions here, never with
 * the check's own helpers. Process tables use pinned `now` values so a run is
 * deterministic.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { CRITICAL, OK, SupervisordCheck, UNKNOWN } from '../../lib/check.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { CheckResult, Metric, ProcessInfo } from '../../lib/types.js';

const NOW = 1_700_000_000;
const tmp = mkdtempSync(join(tmpdir(), 'beyond-e2e-'));
const checks: SupervisordCheck[] = [];
let server: SupervisordEmulator;
let sockets = 0;

before(async () => {
  server = await SupervisordEmulator.start({ listen: { socketPath: join(tmp, `s${sockets++}.sock`) } });
});

after(async () => {
  for (const c of checks) await c.close();
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh emulator for each test: its counters start at 0. */
beforeEach(async () => {
  await server.close();
  server = await SupervisordEmulator.start({ listen: { socketPath: join(tmp, `s${sockets++}.sock`) } });
});

function newCheck(instance: Record<string, unknown> = {}, clock?: () => number): SupervisordCheck {
  const c = new SupervisordCheck({ name: 'srv', socket: server.url, timeout: 5, ...instance }, clock === undefined ? {} : { clock });
  checks.push(c);
  return c;
}

/** A pinned process: `now` fixed, so answers do not depend on the test's clock. */
function proc(partial: Partial<ProcessInfo> & { name: string }): ProcessInfo {
  return makeProcess(partial, NOW);
}

/** The table of most tests: every state, two groups, a name in two groups. */
function table(): ProcessInfo[] {
  return [
    proc({ name: 'front', group: 'web', statename: 'RUNNING', start: NOW - 100, pid: 101 }),
    proc({ name: 'back', group: 'web', statename: 'FATAL', start: NOW - 50, stop: NOW - 49, exitstatus: 127 }),
    proc({ name: 'front', group: 'api', statename: 'STARTING', start: NOW - 1, pid: 102 }),
    proc({ name: 'exiter', statename: 'EXITED', start: NOW - 300, stop: NOW - 200, exitstatus: 3 }),
    proc({ name: 'idle', statename: 'STOPPED', start: 0, stop: 0 }),
    proc({ name: 'flappy', statename: 'BACKOFF', start: NOW - 2, stop: NOW - 3, exitstatus: 1 }),
  ];
}

const calls = (name: string): number => server.stats.calls[name] ?? 0;
const named = (result: CheckResult, name: string): Metric[] => result.metrics.filter((m) => m.name === name);
/** `[process tag, value]` of one metric name. */
const values = (result: CheckResult, name: string): Array<[string, number]> =>
  named(result, name).map((m) => [m.tags.filter((t) => t.startsWith('supervisord_group:') || t.startsWith('supervisord_process:')).join(' '), m.value]);

describe('one round trip per run', () => {
  it('full collection: one multicall per run on one connection, no separate call', async () => {
    server.processes = table();
    const check = newCheck();
    for (let i = 0; i < 3; i++) assert.deepEqual((await check.run()).errors, []);
    assert.equal(server.stats.requests, 3);
    assert.equal(server.stats.connections, 1);
    assert.deepEqual({ ...server.stats.calls }, {
      'system.multicall': 3,
      'supervisor.getAllProcessInfo': 3,
      'supervisor.getSupervisorVersion': 3,
      'supervisor.getState': 3,
    });
  });
});

describe('selective collection', () => {
  it('learns from one listing, then asks getProcessInfo per qualified name; same result as a full collection', async () => {
    server.processes = table();
    const instance = { proc_names: ['front', 'idle', 'missing'], tags: ['t:1'] };
    const auto = newCheck(instance);
    const full = newCheck({ ...instance, collection: 'full' });
    const reference = await full.run();
    const learning = await auto.run();
    assert.deepEqual(learning, reference);
    const before = { ...server.stats.calls };
    const selective = await auto.run();
    assert.deepEqual(selective, reference);
    assert.equal(calls('supervisor.getAllProcessInfo'), before['supervisor.getAllProcessInfo']);
    assert.equal(calls('supervisor.getProcessInfo'), 4); // api:front, web:front, idle:idle, and `missing` asked as it is (not seen yet)
    assert.equal(calls('system.multicall'), 3);
    assert.equal(server.stats.requests, 3);
    // the monitored set, in listing order (group, then name)
    assert.deepEqual(selective.processes?.map((p) => `${p.group}:${p.name}`), ['api:front', 'idle:idle', 'web:front']);
  });

  it('a removed process (BAD_NAME) is relisted in the same run: still exactly the full result', async () => {
    server.processes = table();
    const instance = { proc_names: ['front', 'exiter'] };
    const auto = newCheck(instance);
    const full = newCheck({ ...instance, collection: 'full' });
    await auto.run();
    server.processes = table().filter((p) => p.group !== 'api');
    const requests = server.stats.requests;
    const result = await auto.run();
    assert.equal(server.stats.requests - requests, 2, 'the multicall, then getAllProcessInfo');
    assert.deepEqual(result, await full.run());
    assert.deepEqual(result.processes?.map((p) => `${p.group}:${p.name}`), ['exiter:exiter', 'web:front']);
    // relearnt: the next run asks the two remaining processes only
    const perName = calls('supervisor.getProcessInfo');
    await auto.run();
    assert.equal(calls('supervisor.getProcessInfo') - perName, 2);
  });

  it('a process added under a wanted name appears after name_refresh_interval', async () => {
    server.processes = table();
    const clock = { now: 1_000_000 };
    const auto = newCheck({ proc_names: ['exiter'], name_refresh_interval: 300 }, () => clock.now);
    await auto.run();
    server.processes = [...table(), proc({ name: 'exiter', group: 'batch', statename: 'RUNNING', start: NOW - 5, pid: 103 })];
    clock.now += 299_000;
    assert.deepEqual((await auto.run()).processes?.map((p) => p.group), ['exiter']);
    clock.now += 1000;
    assert.deepEqual((await auto.run()).processes?.map((p) => p.group), ['batch', 'exiter']);
  });
});

describe('multicall fallback', () => {
  it('a server whose multicall faults gets separate calls, the same result, and multicall again after 10 minutes', async () => {
    server.processes = table();
    const clock = { now: 5_000_000 };
    const normal = await newCheck().run();
    const base = server.stats.requests;
    server.setFault('system.multicall', { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
    const check = newCheck({}, () => clock.now);
    const first = await check.run();
    assert.deepEqual(first, normal);
    assert.equal(server.stats.requests - base, 4, 'the failed multicall, then three separate calls');
    await check.run();
    assert.equal(server.stats.requests - base, 7, 'separate calls only');
    server.setFault('system.multicall', null);
    clock.now += 10 * 60 * 1000;
    const multicalls = calls('system.multicall');
    await check.run();
    assert.equal(server.stats.requests - base, 8);
    assert.equal(calls('system.multicall') - multicalls, 1);
  });
});

describe('one deadline per run', () => {
  it('a slow server without multicall: the run ends at its timeout, our connection is closed, the next run skips multicall', async () => {
    server.processes = table();
    server.setFault('system.multicall', { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
    // Delays every answer by 300 ms; counts the connections the check opens and sees them closed.
    const sockets = new Set<Socket>();
    let opened = 0;
    const proxy = createServer((down) => {
      opened++;
      const up = connect(server.url.slice('unix://'.length));
      for (const s of [down, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      down.on('data', (d: Buffer) => up.write(d));
      up.on('data', (d: Buffer) => setTimeout(() => down.destroyed || down.write(d), 300));
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as AddressInfo).port;
      // listing_timeout no longer than timeout: the first listing gets no more time than the run (the server answered the multicall fault)
      const check = newCheck({ host: '127.0.0.1', port, timeout: 0.5, listing_timeout: 0.5, socket: null });
      const message = `supervisord at http://127.0.0.1:${port} did not answer within 0.5 s: supervisor.getAllProcessInfo was pending.`;
      let started = performance.now();
      const first = await check.run();
      let elapsed = performance.now() - started;
      // the failed multicall (300 ms), then getAllProcessInfo, cut at 500 ms
      assert.ok(elapsed >= 490 && elapsed < 700, `first run took ${elapsed} ms`);
      assert.deepEqual(first.errors, [message]);
      assert.deepEqual(first.warnings, [
        "'timeout' (0.5 s) expired before supervisord answered: raise 'timeout' (--timeout) for a busy supervisord or one with many processes",
      ]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(sockets.size, 0, 'the connection of the expired run was closed');
      started = performance.now();
      const second = await check.run();
      elapsed = performance.now() - started;
      // multicall is known missing: the list (300 ms) arrives, the version is cut, the state not sent
      assert.ok(elapsed >= 490 && elapsed < 700, `second run took ${elapsed} ms`);
      assert.deepEqual(second.errors, []);
      assert.deepEqual(second.processes?.length, 6);
      const deadline = `no complete answer from http://127.0.0.1:${port}/RPC2 within 500 ms (the run's deadline)`;
      assert.deepEqual(second.warnings, [`Error collecting version: ${deadline}`, `Error collecting state: ${deadline}`]);
      // two per run: the listing's, and the getState sent beside a listing of unknown size still pending after timeout / 2
      assert.equal(opened, 4);
      await check.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

describe('restarts, downtime, exit status, group counts', () => {
  it('values and order after the reference submissions', async () => {
    server.processes = table();
    const result = await newCheck({ tags: ['env:e2e'] }).run();
    const base = ['env:e2e', 'supervisord_server:srv'];
    const ptags = (group: string, name: string): string[] => [...base, `supervisord_process:${name}`, `supervisord_group:${group}`];
    // listing order: api:front, exiter, flappy, idle, web:back, web:front
    const start = result.metrics.findIndex((m) => m.name === 'supervisord.process.restarts');
    assert.ok(result.metrics.slice(0, start).every((m) => m.name === 'supervisord.process.uptime' || m.name === 'supervisord.process.count'));
    assert.deepEqual(result.metrics.slice(start), [
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('api', 'front') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: NOW - 1, tags: ptags('api', 'front') },
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('exiter', 'exiter') },
      { name: 'supervisord.process.downtime', type: 'gauge', value: 200, tags: ptags('exiter', 'exiter') },
      { name: 'supervisord.process.exit_status', type: 'gauge', value: 3, tags: ptags('exiter', 'exiter') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: NOW - 300, tags: ptags('exiter', 'exiter') },
      // BACKOFF, started again (NOW - 2) after its last stop (NOW - 3): that start did not end in an exit, no exit status
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('flappy', 'flappy') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: NOW - 2, tags: ptags('flappy', 'flappy') },
      // never started: no start time (never 0)
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('idle', 'idle') },
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('web', 'back') },
      { name: 'supervisord.process.downtime', type: 'gauge', value: 49, tags: ptags('web', 'back') },
      { name: 'supervisord.process.exit_status', type: 'gauge', value: 127, tags: ptags('web', 'back') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: NOW - 50, tags: ptags('web', 'back') },
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags('web', 'front') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: NOW - 100, tags: ptags('web', 'front') },
      ...[
        ['api', 0, 0, 1],
        ['exiter', 1, 0, 0],
        ['flappy', 1, 0, 0],
        ['idle', 1, 0, 0],
        ['web', 1, 1, 0],
      ].flatMap(([group, down, up, unknown]) =>
        (['down', 'up', 'unknown'] as const).map((status, i) => ({
          name: 'supervisord.group.count',
          type: 'gauge' as const,
          value: [down, up, unknown][i] as number,
          tags: [...base, `supervisord_group:${String(group)}`, `status:${status}`],
        })),
      ),
    ]);
    assert.deepEqual(result.serviceChecks.at(-1), { name: 'supervisord.server.state', status: OK, tags: base });
  });

  it('restarts: 1 after a new start or a new pid, then 0; the first run is 0', async () => {
    server.processes = table();
    const check = newCheck({ proc_names: ['front'] });
    const restarts = async (): Promise<Array<[string, number]>> => values(await check.run(), 'supervisord.process.restarts');
    assert.deepEqual(await restarts(), [['supervisord_process:front supervisord_group:api', 0], ['supervisord_process:front supervisord_group:web', 0]]);
    server.processes = table().map((p) => (p.group === 'web' && p.name === 'front' ? { ...p, start: NOW - 10, pid: 555 } : p));
    assert.deepEqual(await restarts(), [['supervisord_process:front supervisord_group:api', 0], ['supervisord_process:front supervisord_group:web', 1]]);
    assert.deepEqual(await restarts(), [['supervisord_process:front supervisord_group:api', 0], ['supervisord_process:front supervisord_group:web', 0]]);
    server.processes = server.processes.map((p) => (p.group === 'api' ? { ...p, pid: 777 } : p));
    assert.deepEqual(await restarts(), [['supervisord_process:front supervisord_group:api', 1], ['supervisord_process:front supervisord_group:web', 0]]);
  });

  it('a restarted supervisord seen before its programs start: one restart, not two', async () => {
    server.processes = table();
    const check = newCheck({ proc_names: ['exiter'] });
    const spec = 'supervisord_process:exiter supervisord_group:exiter';
    await check.run();
    // supervisord's new process objects: never started yet
    server.processes = table().map((p) => (p.name === 'exiter' ? proc({ name: 'exiter', statename: 'STOPPED', start: 0, stop: 0 }) : p));
    assert.deepEqual(values(await check.run(), 'supervisord.process.restarts'), [[spec, 0]]);
    server.processes = table().map((p) => (p.name === 'exiter' ? proc({ name: 'exiter', statename: 'RUNNING', start: NOW - 1, pid: 900 }) : p));
    assert.deepEqual(values(await check.run(), 'supervisord.process.restarts'), [[spec, 1]]);
    assert.deepEqual(values(await check.run(), 'supervisord.process.restarts'), [[spec, 0]]);
  });

  it('a failed run keeps the marks: the restart shows on the next good run', async () => {
    server.processes = table();
    const check = newCheck({ proc_names: ['exiter'], collection: 'full' });
    await check.run();
    server.setHttpOverride(500);
    assert.equal((await check.run()).errors.length, 1);
    server.setHttpOverride(null);
    server.processes = table().map((p) => (p.name === 'exiter' ? { ...p, start: NOW - 20, stop: NOW - 10 } : p));
    assert.deepEqual(values(await check.run(), 'supervisord.process.restarts'), [['supervisord_process:exiter supervisord_group:exiter', 1]]);
  });
});

describe('supervisord.server.state', () => {
  const base = ['supervisord_server:srv'];
  // [statecode, statename, expected last service check] for states getState answers
  const answered: Array<[number, string, { status: number; message?: string }]> = [
    [1, 'RUNNING', { status: OK }],
    [2, 'FATAL', { status: CRITICAL, message: 'supervisord is FATAL' }],
    [5, 'DREAMING', { status: UNKNOWN, message: 'supervisord is DREAMING' }],
  ];
  for (const [statecode, statename, expected] of answered) {
    for (const collection of ['full', 'auto']) {
      it(`${statename} (${statecode}), ${collection} collection`, async () => {
        server.processes = table();
        server.state = { statecode, statename };
        const check = newCheck({ proc_names: ['idle'], collection });
        await check.run();
        const result = await check.run();
        assert.deepEqual(result.serviceChecks.at(-1), { name: 'supervisord.server.state', tags: base, ...expected });
        assert.deepEqual(result.errors, []);
        assert.equal(result.processes?.length, 1);
      });
    }
  }

  // RESTARTING (0) and SHUTDOWN (-1): supervisord refuses every supervisor.* call, getState included.
  for (const [statecode, statename] of [[0, 'RESTARTING'], [-1, 'SHUTDOWN']] as const) {
    for (const collection of ['full', 'auto']) {
      it(`${statename} (${statecode}), ${collection} collection: SHUTDOWN_STATE is CRITICAL, can_connect OK, no data, no error`, async () => {
        server.processes = table();
        const check = newCheck({ proc_names: ['idle'], collection });
        await check.run();
        server.state = { statecode, statename };
        const result = await check.run();
        assert.deepEqual(result, {
          metrics: [],
          serviceChecks: [
            { name: 'supervisord.can_connect', status: OK, tags: base },
            { name: 'supervisord.server.state', status: CRITICAL, tags: base, message: 'SHUTDOWN_STATE' },
          ],
          metadata: {},
          warnings: [],
          errors: [],
        });
        // back to RUNNING, the same process data as before, restarts 0 (the marks were kept)
        server.state = { statecode: 1, statename: 'RUNNING' };
        const back = await check.run();
        assert.equal(back.serviceChecks.at(-1)?.status, OK);
        assert.deepEqual(values(back, 'supervisord.process.restarts'), [['supervisord_process:idle supervisord_group:idle', 0]]);
      });
    }
  }

  it('getState refused: no server.state, a warning, the rest intact', async () => {
    server.processes = table();
    server.setFault('supervisor.getState', { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
    const result = await newCheck().run();
    assert.ok(!result.serviceChecks.some((c) => c.name === 'supervisord.server.state'));
    assert.deepEqual(result.warnings, ['Error collecting state: fault 1: UNKNOWN_METHOD']);
    assert.deepEqual(result.errors, []);
    assert.equal(result.metadata.version?.raw, '4.2.5');
  });
});

/**
 * A TCP proxy to the emulator that holds back answers to requests naming
 * `getAllProcessInfo` by `listingDelayMs` and passes the others at once (a
 * supervisord busy writing a long listing still answers small calls), and
 * follows its sockets.
 */
async function slowListingProxy(listingDelayMs: number): Promise<{ port: number; sockets: Set<Socket>; opened: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let opened = 0;
  const proxy = createServer((down) => {
    opened++;
    const up = connect(server.url.slice('unix://'.length));
    let slow = false;
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    down.on('data', (d: Buffer) => {
      slow = d.includes('supervisor.getAllProcessInfo'); // small requests: one chunk each
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      if (slow) setTimeout(() => down.destroyed || down.write(d), listingDelayMs);
      else down.write(d);
    });
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    sockets,
    opened: () => opened,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

describe('the learning listing and the name refresh', () => {
  it('a first listing longer than timeout completes while supervisord answers a getState beside it; a usual listing does not', async () => {
    server.processes = table();
    const proxy = await slowListingProxy(700);
    try {
      const check = newCheck({ host: '127.0.0.1', port: proxy.port, timeout: 0.4, socket: null });
      let started = performance.now();
      const first = await check.run();
      assert.ok(performance.now() - started >= 690, 'the listing was waited for');
      assert.deepEqual(first.errors, []);
      assert.equal(first.processes?.length, 6);
      assert.equal(calls('supervisor.getState'), 2, 'the multicall, and the probe beside it');
      assert.equal(proxy.opened(), 2);
      // Now the size is known (6, small): the listing is every run's collection, bounded by timeout.
      started = performance.now();
      const second = await check.run();
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 395 && elapsed < 600, `second run took ${elapsed} ms`);
      const message = `supervisord at http://127.0.0.1:${proxy.port} did not answer within 0.4 s: system.multicall[supervisor.getAllProcessInfo, supervisor.getSupervisorVersion, supervisor.getState] was pending (the last listing had 6 processes).`;
      assert.deepEqual(second.errors, [message]);
      assert.deepEqual(second.serviceChecks, [{ name: 'supervisord.can_connect', status: CRITICAL, tags: ['supervisord_server:srv'], message }]);
      assert.deepEqual(second.warnings, [
        "'timeout' (0.4 s) expired before supervisord answered: raise 'timeout' (--timeout) for a busy supervisord or one with many processes",
      ]);
      await check.close();
    } finally {
      await proxy.close();
    }
  });

  it('the extended deadline is listing_timeout, reported as such', async () => {
    server.processes = table();
    const proxy = await slowListingProxy(1500);
    try {
      const check = newCheck({ host: '127.0.0.1', port: proxy.port, timeout: 0.3, listing_timeout: 0.6, socket: null });
      const started = performance.now();
      const result = await check.run();
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 595 && elapsed < 900, `the run took ${elapsed} ms`);
      const message = `supervisord at http://127.0.0.1:${proxy.port} did not answer within 0.6 s: system.multicall[supervisor.getAllProcessInfo, supervisor.getSupervisorVersion, supervisor.getState] was pending.`;
      assert.deepEqual(result.errors, [message]);
      assert.deepEqual(result.warnings, [
        "'listing_timeout' (0.6 s) expired before supervisord answered: raise 'listing_timeout' for a busy supervisord or one with many processes",
      ]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(proxy.sockets.size, 0, 'the connections of the expired run were closed');
      await check.close();
    } finally {
      await proxy.close();
    }
  });

  it('a due refresh lists in the background on a connection of its own, after the run; close() ends it and releases everything', async () => {
    server.processes = table();
    const proxy = await slowListingProxy(300);
    try {
      const clock = { now: 1_800_000_000_000 };
      const check = newCheck({ host: '127.0.0.1', port: proxy.port, socket: null, max_connections: 2, name_refresh_interval: 60 }, () => clock.now);
      assert.deepEqual((await check.run()).errors, []);
      clock.now += 60_000;
      const before = calls('supervisor.getAllProcessInfo');
      const started = performance.now();
      const result = await check.run();
      assert.ok(performance.now() - started < 250, 'the run did not wait for the refresh');
      assert.deepEqual(result.errors, []);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(calls('supervisor.getAllProcessInfo'), before + 1, 'the refresh is under way');
      assert.equal(proxy.opened(), 3, 'two shards, and the refresh on its own connection');
      await check.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(proxy.sockets.size, 0, 'close() released the refresh too');
    } finally {
      await proxy.close();
    }
  });
});
