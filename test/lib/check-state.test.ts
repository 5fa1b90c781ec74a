/**
 * What a check remembers between runs, saved and restored
 * (`SupervisordCheck.exportState` / `restoreState`, lib/check-state.ts):
 * against the emulator, a new check restored from an old one's state makes
 * the calls and counts the restarts the old one's next run would have; a
 * state of another format, version or server is refused whole; a bad slot
 * is dropped alone. Also the one-shot shard count and the Prometheus
 * counter totals' export and restore.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { STATE_FORMAT, STATE_VERSION } from '../../lib/check-state.js';
import type { CheckState } from '../../lib/check-state.js';
import { MAX_AUTO_CONNECTIONS, MULTICALL_RETRY_MS, oneShotShardCount, SHARD_MIN_PROCESSES, shardCount, staggeredShards } from '../../lib/collect.js';
import { StateError } from '../../lib/errors.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { CounterTotals } from '../../lib/outputs/prometheus.js';
import type { CheckResult, InstanceConfig } from '../../lib/types.js';

const NOW = 1_700_000_000;
const SIZE = 250; // over SHARD_MIN_PROCESSES: runs after the first shard

function table(n: number) {
  return Array.from({ length: n }, (_, i) => makeProcess({ name: `p${String(i).padStart(4, '0')}`, start: NOW - 100, pid: 1000 + i }, NOW));
}

/** A JSON round trip, as through a file. */
const viaJson = (state: CheckState): unknown => JSON.parse(JSON.stringify(state));

const restarts = (r: CheckResult): Record<string, number> =>
  Object.fromEntries(
    r.metrics.filter((m) => m.name === 'supervisord.process.restarts').map((m) => [m.tags.find((t) => t.startsWith('supervisord_process:'))!.slice(20), m.value]),
  );

describe('SupervisordCheck.exportState / restoreState', () => {
  let emulator: SupervisordEmulator;
  const checks: SupervisordCheck[] = [];
  const calls = (method: string): number => emulator.stats.calls[method] ?? 0;

  function newCheck(instance: Partial<InstanceConfig> = {}, options: { debug?: string[]; clock?: () => number; oneShot?: boolean } = {}): SupervisordCheck {
    const log = { warn: () => {}, debug: (m: string): void => void options.debug?.push(m) };
    const check = new SupervisordCheck(
      { name: 'state', url: emulator.url, ...instance } as InstanceConfig,
      { log, ...(options.clock === undefined ? {} : { clock: options.clock }), ...(options.oneShot === undefined ? {} : { oneShot: options.oneShot }) },
    );
    checks.push(check);
    return check;
  }

  before(async () => {
    emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: table(SIZE) });
  });

  after(async () => {
    await Promise.all(checks.map((c) => c.close()));
    await emulator.close();
  });

  test('a new check has nothing to keep: the envelope names the server, no component', () => {
    const before = Date.now();
    const state = newCheck().exportState();
    assert.equal(state.format, STATE_FORMAT);
    assert.equal(state.version, STATE_VERSION);
    assert.deepEqual(state.server, { name: 'state', address: emulator.url });
    assert.ok(state.savedAt >= before && state.savedAt <= Date.now());
    assert.deepEqual(state.components, {});
  });

  test('restored into a new check, the next run collects by name (no listing) and gives what the old check would have', async () => {
    emulator.processes = table(SIZE);
    const old = newCheck();
    await old.run(); // learns the names with a listing
    const saved = viaJson(old.exportState());
    const listings = calls('supervisor.getAllProcessInfo');
    const byName = calls('supervisor.getProcessInfo');
    const debug: string[] = [];
    const fresh = newCheck({}, { debug });
    assert.deepEqual(fresh.restoreState(saved), []);
    const result = await fresh.run();
    assert.equal(calls('supervisor.getAllProcessInfo'), listings, 'no full listing');
    assert.equal(calls('supervisor.getProcessInfo'), byName + SIZE);
    assert.ok(debug.includes(`collection: ${SIZE} processes by name in ${shardCount(SIZE, undefined)} parallel multicalls`), debug.join('\n'));
    assert.deepEqual(result, await old.run());
  });

  test('a restart between the old check and the new one is counted by the new one (and only it)', async () => {
    emulator.processes = table(SIZE);
    const old = newCheck();
    assert.equal(Object.values(restarts(await old.run())).reduce((a, b) => a + b), 0);
    const saved = viaJson(old.exportState());
    // p0003 restarted: a new pid and start time; p0004 restarted within the same second: a new pid only.
    emulator.processes[3] = makeProcess({ name: 'p0003', start: NOW - 5, pid: 5003 }, NOW);
    emulator.processes[4] = makeProcess({ name: 'p0004', start: NOW - 100, pid: 5004 }, NOW);
    const fresh = newCheck();
    fresh.restoreState(saved);
    const counted = restarts(await fresh.run());
    assert.equal(counted['p0003'], 1);
    assert.equal(counted['p0004'], 1);
    assert.equal(Object.values(counted).reduce((a, b) => a + b), 2);
    // Without the state, a first run counts nothing.
    const forgetful = newCheck();
    assert.equal(Object.values(restarts(await forgetful.run())).reduce((a, b) => a + b), 0);
  });

  test('the state is refused whole when it is not ours, of another version or of another server', () => {
    const good = viaJson(newCheck().exportState()) as Record<string, unknown>;
    const cases: Array<[string, unknown, string]> = [
      ['null', null, 'not a state of supervisord-check (no "format": "supervisord-check state")'],
      ['another program', { format: 'other', version: 1 }, 'not a state of supervisord-check (no "format": "supervisord-check state")'],
      ['an array', [good], 'not a state of supervisord-check (no "format": "supervisord-check state")'],
      ['version 2', { ...good, version: 2 }, 'state version 2, this check reads version 1'],
      ['no version', { ...good, version: undefined }, 'state version "undefined", this check reads version 1'],
      ['no server', { ...good, server: 'x' }, 'the state does not say which server it belongs to'],
      [
        'another name',
        { ...good, server: { name: 'other', address: emulator.url } },
        `the state belongs to another server ("other" at ${emulator.url}), not to "state" at ${emulator.url}`,
      ],
      [
        'another address',
        { ...good, server: { name: 'state', address: 'unix:///x.sock' } },
        `the state belongs to another server ("state" at unix:///x.sock), not to "state" at ${emulator.url}`,
      ],
      ['no time', { ...good, savedAt: 'yesterday' }, 'the state has no valid "savedAt" time'],
      ['a negative time', { ...good, savedAt: -1 }, 'the state has no valid "savedAt" time'],
      ['no components', { ...good, components: [] }, 'the state has no "components"'],
    ];
    for (const [what, state, message] of cases) {
      assert.throws(
        () => newCheck().restoreState(state),
        (error: unknown) => error instanceof StateError && error.code === 'ERR_STATE' && error.name === 'StateError' && error.message === message,
        what,
      );
    }
  });

  test('a malformed slot is dropped with a warning, the others are restored; slots of others are ignored', async () => {
    emulator.processes = table(SIZE);
    const old = newCheck();
    await old.run();
    const good = viaJson(old.exportState()) as CheckState;
    const collector = good.components['collector'];
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
      ['history not a list', { history: { a: 1 } }, ["the saved state's 'history' is ignored: the restart marks should be a list"]],
      ['a bad mark', { history: [['p:p', -1, 3]] }, ["the saved state's 'history' is ignored: restart mark 0 is not [\"group:name\", start, pid]"]],
      ['collector not an object', { collector: 3 }, ["the saved state's 'collector' is ignored: the collector state should be an object"]],
      ['specs not strings', { collector: { learnedAt: NOW, specs: [1] } }, ["the saved state's 'collector' is ignored: the process names: item 0 is not a string"]],
      ['no learning time', { collector: { specs: ['a:a'] } }, ["the saved state's 'collector' is ignored: the learning time is not a time"]],
      ['bad name map', { collector: { learnedAt: NOW, specs: [], names: { wanted: [], map: [['a']] } } }, ["the saved state's 'collector' is ignored: name map entry 0 is not [name, [\"group:name\", ...]]"]],
      ['name map not an object', { collector: { learnedAt: NOW, specs: [], names: [] } }, ["the saved state's 'collector' is ignored: the name map should be an object"]],
      ['bad retry time', { collector: { multicallRetryAt: 'soon' } }, ["the saved state's 'collector' is ignored: the multicall retry time is not a time"]],
      ['a slot of others', { counters: 'anything' }, []],
    ];
    for (const [what, slots, warnings] of cases) {
      const check = newCheck();
      assert.deepEqual(check.restoreState({ ...good, components: { ...good.components, ...slots } }), warnings, what);
    }
    // history dropped, collector kept: no listing, no restart counted.
    const check = newCheck();
    check.restoreState({ ...good, components: { collector, history: 'x' } });
    const listings = calls('supervisor.getAllProcessInfo');
    emulator.processes[0] = makeProcess({ name: 'p0000', start: NOW - 5, pid: 7000 }, NOW);
    const result = await check.run();
    assert.equal(calls('supervisor.getAllProcessInfo'), listings);
    assert.equal(restarts(result)['p0000'], 0);
  });

  test('restoreState after run() is refused', async () => {
    const check = newCheck();
    const state = check.exportState();
    await check.run();
    assert.throws(() => check.restoreState(state), { name: 'Error', message: 'restoreState() must be called before the first run()' });
  });

  test('selective collection: the name map is restored for the same wanted names, relearnt for others', async () => {
    emulator.processes = [...table(3), makeProcess({ name: 'front', group: 'web', pid: 77 }, NOW), makeProcess({ name: 'back', group: 'web', pid: 78 }, NOW)];
    const old = newCheck({ proc_names: ['front', 'p0001'] });
    await old.run();
    const saved = viaJson(old.exportState()) as CheckState;
    assert.deepEqual((saved.components['collector'] as { names: unknown }).names, { wanted: ['front', 'p0001'], map: [['p0001', ['p0001:p0001']], ['front', ['web:front']]] });
    const listings = calls('supervisor.getAllProcessInfo');
    const same = newCheck({ proc_names: ['p0001', 'front'] });
    same.restoreState(saved);
    const result = await same.run();
    assert.equal(calls('supervisor.getAllProcessInfo'), listings, 'the map is used');
    assert.deepEqual(result.processes?.map((p) => `${p.group}:${p.name}`), ['p0001:p0001', 'web:front']);
    const debug: string[] = [];
    const other = newCheck({ proc_names: ['back'] }, { debug });
    other.restoreState(saved);
    assert.ok(debug.includes('collection: the saved name map is for other names: the next run lists everything'), debug.join('\n'));
    assert.deepEqual((await other.run()).processes?.map((p) => `${p.group}:${p.name}`), ['web:back']);
    assert.equal(calls('supervisor.getAllProcessInfo'), listings + 1, 'relearnt with one listing');
  });

  test('a learning time in the future (the clock went back) makes the names due: a refresh follows the run', async () => {
    emulator.processes = table(SIZE);
    let now = Date.now();
    const old = newCheck({}, { clock: () => now });
    await old.run();
    const saved = viaJson(old.exportState()) as CheckState;
    now -= 3_600_000; // an hour back
    const check = newCheck({}, { clock: () => now });
    check.restoreState(saved);
    const listings = calls('supervisor.getAllProcessInfo');
    await check.run();
    assert.equal(await check.idle(), true, 'a background refresh was under way');
    assert.equal(calls('supervisor.getAllProcessInfo'), listings + 1);
    assert.equal(await check.idle(), false);
    const exported = check.exportState().components['collector'] as { learnedAt: number };
    assert.equal(exported.learnedAt, now, 'learnt again at the refresh');
  });

  test('a server without multicall: remembered, capped at MULTICALL_RETRY_MS from now', async () => {
    emulator.processes = table(3);
    const now = Date.now();
    const check = newCheck({}, { clock: () => now });
    const state = viaJson(check.exportState()) as CheckState;
    const far = { ...state, components: { collector: { multicallRetryAt: now + 100 * MULTICALL_RETRY_MS } } };
    check.restoreState(far);
    assert.deepEqual(check.exportState().components, { collector: { multicallRetryAt: now + MULTICALL_RETRY_MS } });
    const multicalls = calls('system.multicall');
    await check.run();
    assert.equal(calls('system.multicall'), multicalls, 'separate calls');
    const past = newCheck({}, { clock: () => now });
    past.restoreState({ ...state, components: { collector: { multicallRetryAt: now - 1 } } });
    assert.deepEqual(past.exportState().components, {});
  });

  test('the state holds no credentials', async () => {
    const password = 'Sentinel-Secret-91b';
    const check = newCheck({ username: 'ops-user-x', password });
    emulator.processes = table(3);
    await check.run();
    const text = JSON.stringify(check.exportState());
    assert.ok(!text.includes(password) && !text.includes('ops-user-x'), text);
  });

  test('oneShot: the shard count of runs on new connections', async () => {
    emulator.processes = table(1200);
    const debug: string[] = [];
    const check = newCheck({}, { debug, oneShot: true });
    await check.run();
    const kept = newCheck({}, { debug: [] });
    await kept.run();
    const saved = viaJson(kept.exportState());
    const oneShot = newCheck({}, { debug, oneShot: true });
    oneShot.restoreState(saved);
    await oneShot.run();
    assert.ok(debug.includes(`collection: 1200 processes by name in ${oneShotShardCount(1200, undefined)} parallel multicalls`), debug.join('\n'));
    assert.equal(oneShotShardCount(1200, undefined), 28);
    assert.throws(() => new SupervisordCheck({ name: 'x' }, { oneShot: 'yes' as unknown as boolean }), {
      name: 'TypeError',
      message: 'options.oneShot must be true or false',
    });
  });
});

test('oneShotShardCount: about 0.8 x sqrt(processes) from 200 processes, max_connections wins', () => {
  const cases: Array<[number, number | undefined, number]> = [
    [0, undefined, 1],
    [SHARD_MIN_PROCESSES - 1, undefined, 1],
    [SHARD_MIN_PROCESSES, undefined, 12],
    [1000, undefined, 26],
    [2000, undefined, 36],
    [4000, undefined, 51],
    [14_400, undefined, MAX_AUTO_CONNECTIONS],
    [100_000, undefined, MAX_AUTO_CONNECTIONS],
    [2000, 5, 5],
    [3, 5, 3],
  ];
  for (const [processes, max, expected] of cases) assert.equal(oneShotShardCount(processes, max), expected, `${processes}, ${max}`);
});

test('staggeredShards: consecutive slices in order, one share smaller each, none empty', () => {
  const specs = (n: number): string[] => Array.from({ length: n }, (_, i) => `g:p${i}`);
  const cases: Array<[number, number, number[]]> = [
    [10, 4, [4, 3, 2, 1]],
    [3, 3, [1, 1, 1]],
    [2, 2, [1, 1]],
    [2000, 36, []],
    [7, 6, [2, 1, 2, 1, 1]], // rounding leaves the fifth empty: left out
  ];
  for (const [n, k, sizes] of cases) {
    const shards = staggeredShards(specs(n), k);
    assert.deepEqual(shards.flat(), specs(n), `${n}/${k}: every spec once, in order`);
    assert.ok(shards.every((s) => s.length > 0), `${n}/${k}: none empty`);
    if (sizes.length > 0) assert.deepEqual(shards.map((s) => s.length), sizes, `${n}/${k}`);
  }
  const big = staggeredShards(specs(2000), 36).map((s) => s.length);
  assert.equal(big.length, 36);
  assert.ok(big[0]! >= 105 && big[0]! <= 112 && big.at(-1)! <= 4, big.join(','));
  for (let i = 1; i < big.length; i++) assert.ok(big[i]! <= big[i - 1]! + 1, big.join(','));
  assert.deepEqual(staggeredShards(specs(1), 3).map((s) => s.length), [1], 'empty slices left out');
});

describe('CounterTotals.entries / restore', () => {
  test('totals and idle times survive a round trip; idle beyond the grace period and malformed entries are left out', () => {
    let now = 1000;
    const a = new CounterTotals({ graceMs: 10_000, now: () => now });
    a.add('x{a="1"}', 2);
    now += 500;
    a.add('y', 1);
    now += 100;
    assert.deepEqual(a.entries(), [
      ['x{a="1"}', 2, 600],
      ['y', 1, 100],
    ]);
    let later = 50;
    const b = new CounterTotals({ graceMs: 10_000, now: () => later });
    const malformed = b.restore([...a.entries(), ['z', -1, 0], ['w', 1], 'v', ['u', Number.NaN, 0], ['t', 1, -5], ['old', 4, 9_700]], 400);
    assert.equal(malformed, 5);
    assert.deepEqual(b.entries(), [
      ['x{a="1"}', 2, 1000],
      ['y', 1, 500],
    ]);
    assert.equal(b.add('y', 1), 2);
    later += 9_001; // x: idle 10,001 ms > grace
    assert.deepEqual(b.entries(), [['y', 2, 9001]]);
  });

  test('restore keeps at most maxSeries, the least recently added dropped', () => {
    const c = new CounterTotals({ maxSeries: 2, now: () => 0 });
    c.restore([
      ['a', 1, 30],
      ['b', 1, 10],
      ['c', 1, 20],
    ]);
    assert.deepEqual(c.entries().map((e) => e[0]), ['c', 'b']);
  });
});
