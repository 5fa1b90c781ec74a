/**
 * checkAll and CheckGroup (lib/check-all.ts): results in instance order,
 * configuration errors as results, isolation of a hung server (a TCP server
 * that accepts and never answers) from a fast emulator, the concurrency
 * limit, reuse across runs, logging and option validation.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CheckGroup, checkAll } from '../../lib/check-all.js';
import type { CheckEntry } from '../../lib/check-all.js';
import { CRITICAL, OK, SupervisordCheck } from '../../lib/check.js';
import type { CheckClient, InstanceConfig } from '../../lib/types.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';

const NOW = 1_700_000_000;
const tmp = mkdtempSync(join(tmpdir(), 'check-all-'));
let fast: SupervisordEmulator;
let hung: Server;
let hungPort: number;
const hungSockets = new Set<Socket>();
let hungAccepted = 0;

before(async () => {
  fast = await SupervisordEmulator.start({
    listen: { socketPath: join(tmp, 'fast.sock') },
    processes: [makeProcess({ name: 'web', start: NOW - 60, pid: 10 }, NOW)],
  });
  // Accepts, reads, never answers.
  hung = createServer((socket) => {
    hungAccepted++;
    hungSockets.add(socket);
    socket.on('close', () => hungSockets.delete(socket));
    socket.on('error', () => {});
    socket.resume();
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  hungPort = (hung.address() as AddressInfo).port;
});

after(async () => {
  for (const s of hungSockets) s.destroy();
  await new Promise<void>((resolve) => hung.close(() => resolve()));
  await fast.close();
  rmSync(tmp, { recursive: true, force: true });
});

const fastInstance = (name: string, extra: Record<string, unknown> = {}): InstanceConfig => ({ name, socket: fast.url, timeout: 5, ...extra }) as InstanceConfig;

const EMPTY = { metrics: [], serviceChecks: [], metadata: {}, warnings: [] };

describe('checkAll', () => {
  it('one entry per instance, in instance order; a bad configuration is a result with its error', async () => {
    const entries = await checkAll([fastInstance('a'), { name: 'b', port: 0 }, null, { host: 'x' }, fastInstance('c', { tags: ['k:v'] })] as InstanceConfig[]);
    assert.deepEqual(entries.map((e) => e.name), ['a', 'b', 'instance #3', 'instance #4', 'c']);
    assert.deepEqual(entries[1]!.result, { ...EMPTY, errors: ["'port' should be an integer from 1 to 65535, got 0"] });
    assert.deepEqual(entries[2]!.result, { ...EMPTY, errors: ['the instance configuration should be a dictionary, got None'] });
    assert.deepEqual(entries[3]!.result, { ...EMPTY, errors: ['Supervisor server name not specified in yaml configuration.'] });
    for (const i of [0, 4]) {
      const r = entries[i]!.result;
      assert.deepEqual(r.errors, []);
      assert.equal(r.serviceChecks[0]!.status, OK);
      assert.deepEqual(r.processes?.map((p) => p.name), ['web']);
    }
    assert.ok(entries[4]!.result.metrics.every((m) => m.tags[0] === 'k:v'));
    assert.deepEqual(await checkAll([]), []);
  });

  it('a hung server does not delay the others beyond its own deadline', async () => {
    const started = Date.now();
    const arrivals: Array<[string, number]> = [];
    const entries = await checkAll(
      [
        { name: 'hung', host: '127.0.0.1', port: hungPort, timeout: 1.5 },
        fastInstance('fast1'),
        fastInstance('fast2'),
      ],
      { onResult: (entry) => arrivals.push([entry.name, Date.now() - started]) },
    );
    const order = arrivals.map(([name]) => name);
    assert.equal(order[2], 'hung', `completion order ${JSON.stringify(arrivals)}`);
    const hungAt = arrivals[2]![1];
    assert.ok(hungAt >= 1400, `the hung server got its whole deadline (${hungAt} ms)`);
    for (const [, at] of arrivals.slice(0, 2)) assert.ok(at < hungAt, `fast results came before the deadline: ${JSON.stringify(arrivals)}`);
    const pending = 'system.multicall[supervisor.getAllProcessInfo, supervisor.getSupervisorVersion, supervisor.getState]';
    const message = `supervisord at http://127.0.0.1:${hungPort} did not answer within 1.5 s: ${pending} was pending.`;
    assert.deepEqual(entries[0], {
      name: 'hung',
      result: {
        ...EMPTY,
        serviceChecks: [{ name: 'supervisord.can_connect', status: CRITICAL, tags: ['supervisord_server:hung'], message }],
        warnings: ["'timeout' (1.5 s) expired before supervisord answered: raise 'timeout' (--timeout) for a busy supervisord or one with many processes"],
        errors: [message],
      },
    });
    assert.deepEqual(entries[1]!.result.errors, []);
  });
});

/** A client that takes `delayMs` per request and records how many requests are in flight across all clients. */
function slowClients(count: number, delayMs: number): { clients: CheckClient[]; maxInFlight: () => number; closed: () => number } {
  let inFlight = 0;
  let max = 0;
  let closed = 0;
  const process = makeProcess({ name: 'p', start: NOW - 5, pid: 3 }, NOW);
  const answers: Record<string, unknown> = {
    'supervisor.getAllProcessInfo': [process],
    'supervisor.getSupervisorVersion': '4.2.5',
    'supervisor.getState': { statecode: 1, statename: 'RUNNING' },
  };
  const clients = Array.from({ length: count }, (): CheckClient => ({
    async call(method: string): Promise<unknown> {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      inFlight--;
      return answers[method];
    },
    async close(): Promise<void> {
      closed++;
    },
  }));
  return { clients, maxInFlight: () => max, closed: () => closed };
}

describe('CheckGroup', () => {
  it('runs at most `concurrency` instances at once; checks passed in are run, not closed', async () => {
    for (const concurrency of [1, 2, 8]) {
      const slow = slowClients(5, 5);
      const checks = slow.clients.map((client, i) => new SupervisordCheck({ name: `s${i}` }, { client }));
      const group = new CheckGroup(checks, { concurrency });
      assert.equal(group.size, 5);
      assert.deepEqual(group.checks, checks);
      const entries = await group.run();
      assert.deepEqual(entries.map((e) => e.name), ['s0', 's1', 's2', 's3', 's4']);
      assert.ok(entries.every((e) => e.result.errors.length === 0));
      assert.equal(slow.maxInFlight(), Math.min(concurrency, 5), `concurrency ${concurrency}`);
      await group.close();
      assert.equal(slow.closed(), 0);
    }
  });

  it('keeps its checks between runs: one connection, restarts counted across runs; close() releases', async () => {
    const e = await SupervisordEmulator.start({
      listen: { socketPath: join(tmp, 'reuse.sock') },
      processes: [makeProcess({ name: 'web', start: NOW - 60, pid: 10 }, NOW)],
    });
    try {
      const group = new CheckGroup([{ name: 'r', socket: e.url }, { name: 'bad', port: -1 }]);
      const restarts = (entries: CheckEntry[]): number[] =>
        entries[0]!.result.metrics.filter((m) => m.name === 'supervisord.process.restarts').map((m) => m.value);
      assert.deepEqual(restarts(await group.run()), [0]);
      e.processes = [makeProcess({ name: 'web', start: NOW - 1, pid: 11 }, NOW)];
      const second = await group.run();
      assert.deepEqual(restarts(second), [1]);
      assert.deepEqual(second[1]!.result.errors, ["'port' should be an integer from 1 to 65535, got -1"]);
      assert.equal(group.checks[1], undefined);
      assert.equal(e.stats.connections, 1);
      await group.close();
      // a run after close() reconnects
      assert.deepEqual(restarts(await group.run()), [0]);
      assert.equal(e.stats.connections, 2);
      await group.close();
    } finally {
      await e.close();
    }
  });

  it('close() during a run: the run starts no further instance (regression: later checks opened connections after close)', async () => {
    const before = hungAccepted;
    const group = new CheckGroup(
      [0, 1, 2].map((i) => ({ name: `h${i}`, host: '127.0.0.1', port: hungPort, timeout: 5 })),
      { concurrency: 1 },
    );
    const running = group.run();
    while (hungAccepted === before) await new Promise((resolve) => setTimeout(resolve, 5));
    const started = Date.now();
    await group.close();
    const entries = await running;
    assert.ok(Date.now() - started < 1000, 'the run ended with the close, not at the deadline');
    // give a wrongly started check the time to connect
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(hungAccepted - before, 1, 'only the first instance connected');
    assert.deepEqual(entries[0]!.result.serviceChecks, []);
    assert.match(entries[0]!.result.errors[0]!, /^An error occurred while connecting to h0: client for http:\/\/127\.0\.0\.1:\d+\/RPC2 closed while the call was pending$/);
    for (const i of [1, 2]) {
      assert.deepEqual(entries[i], { name: `h${i}`, result: { ...EMPTY, errors: ['not checked: the group was closed during the run'] } });
    }
  });

  it('log: each instance\'s warnings and debug lines, prefixed with its name', async () => {
    const warn: string[] = [];
    const debug: string[] = [];
    await checkAll([fastInstance('one', { typo: 1 }), fastInstance('two')], { log: { warn: (m) => warn.push(m), debug: (m) => debug.push(m) } });
    assert.deepEqual(warn, ["one: Unknown configuration key 'typo' is ignored"]);
    assert.deepEqual(debug.sort(), ['one: Version collected: 4.2.5', 'one: collection: full listing', 'two: Version collected: 4.2.5', 'two: collection: full listing']);
    const onlyWarn: string[] = [];
    await checkAll([fastInstance('three', { typo: 2 })], { log: { warn: (m) => onlyWarn.push(m) } });
    assert.deepEqual(onlyWarn, ["three: Unknown configuration key 'typo' is ignored"]);
  });

  it('a throwing onResult does not stop the others', async () => {
    let calls = 0;
    const entries = await checkAll([fastInstance('x'), fastInstance('y')], {
      concurrency: 1,
      onResult: () => {
        calls++;
        throw new Error('consumer down');
      },
    });
    assert.equal(calls, 2);
    assert.deepEqual(entries.map((e) => e.result.errors), [[], []]);
  });

  it('invalid arguments: TypeError or RangeError naming the option', async () => {
    const cases: Array<[unknown, unknown, string, string]> = [
      ['not an array', {}, 'TypeError', 'instances must be an array of instance configurations or SupervisordCheck objects'],
      [[], null, 'TypeError', 'options must be an object'],
      [[], { parallel: 2 }, 'TypeError', "unknown option 'parallel' (expected concurrency, log, onResult)"],
      [[], { concurrency: 0 }, 'RangeError', 'options.concurrency must be an integer from 1 to 1024, got 0'],
      [[], { concurrency: 1.5 }, 'RangeError', 'options.concurrency must be an integer from 1 to 1024, got 1.5'],
      [[], { concurrency: '4' }, 'RangeError', 'options.concurrency must be an integer from 1 to 1024, got 4'],
      [[], { concurrency: 1025 }, 'RangeError', 'options.concurrency must be an integer from 1 to 1024, got 1025'],
      [[], { log: {} }, 'TypeError', 'options.log must have a warn(message) method'],
      [[], { log: null }, 'TypeError', 'options.log must have a warn(message) method'],
      [[], { log: { warn: () => {}, debug: 'x' } }, 'TypeError', 'options.log.debug must be a function'],
      [[], { onResult: true }, 'TypeError', 'options.onResult must be a function'],
    ];
    for (const [instances, options, name, message] of cases) {
      assert.throws(() => new CheckGroup(instances as never, options as never), { name, message });
      await assert.rejects(checkAll(instances as never, options as never), { name, message });
    }
  });
});
