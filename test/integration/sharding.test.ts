/**
 * Sharded full collection against a REAL supervisord with a few hundred
 * programs (plain, in a `[group:x]`, and a `numprocs` program): forced and
 * automatic sharding give exactly the submissions of one `getAllProcessInfo`;
 * a program removed or added with `supervisorctl update` between runs; the
 * connections are all released by `close()`.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { SHARD_MIN_PROCESSES } from '../../lib/collect.js';
import type { CheckResult, InstanceConfig } from '../../lib/types.js';
import { findSupervisord, startSupervisord, type ProgramSpec, type RunningSupervisord } from '../helpers/supervisord.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;

/** Enough processes for the automatic shard count to be more than one. */
const PLAIN = SHARD_MIN_PROCESSES;
const programs: ProgramSpec[] = [
  ...Array.from({ length: PLAIN }, (_, i): ProgramSpec => ({ name: `p${String(i).padStart(3, '0')}`, command: '/bin/sleep 100000' })),
  { name: 'front', command: '/bin/sleep 100000', group: 'web' },
  { name: 'back', command: '/bin/sleep 100000', group: 'web' },
  { name: 'worker', command: '/bin/sleep 100000', numprocs: 3 },
  { name: 'café', command: '/bin/sleep 100000' },
];
const TOTAL = PLAIN + 2 + 3 + 1;

const checks: SupervisordCheck[] = [];

function newCheck(instance: Record<string, unknown>, debug?: string[], clock?: () => number): SupervisordCheck {
  const log = { warn: (m: string): void => assert.fail(`unexpected warning: ${m}`), debug: (m: string): number => debug?.push(m) ?? 0 };
  const c = new SupervisordCheck({ timeout: 10, ...instance } as InstanceConfig, { log, ...(clock === undefined ? {} : { clock }) });
  checks.push(c);
  return c;
}

/**
 * Runs `reference`, `other`, `reference` until the two reference runs agree
 * (no tick of the server's clock in between), then returns the pair.
 */
async function sameSecond(reference: SupervisordCheck, other: SupervisordCheck): Promise<[CheckResult, CheckResult]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const a = await reference.run();
    const b = await other.run();
    const c = await reference.run();
    if (JSON.stringify(a) === JSON.stringify(c)) return [a, b];
  }
  throw new Error('the server clock ticked during every attempt');
}

const specs = (r: CheckResult): string[] => (r.processes ?? []).map((p) => `${p.group}:${p.name}`);

/** Rewrites the config with `edit` and applies it (`supervisorctl update`: adds and removes programs). */
async function reconfigure(sup: RunningSupervisord, edit: (text: string) => string): Promise<void> {
  writeFileSync(sup.configPath, edit(readFileSync(sup.configPath, 'utf8')));
  const ctl = await sup.ctl('update');
  assert.equal(ctl.code, 0, ctl.stderr + ctl.stdout);
}

const SECTION = (name: string): RegExp => new RegExp(`\\n\\[program:${name}\\]\\n(?:[^\\n[]+\\n)*`, 'u');

describe('sharded full collection against a real supervisord', { skip: SKIP }, () => {
  let sup: RunningSupervisord;

  before(async () => {
    sup = await startSupervisord({ programs, inet: false, startTimeoutMs: 60_000 });
    await sup.waitFor((procs) => procs.length === TOTAL && procs.every((p) => p['statename'] === 'RUNNING'), 60_000);
  });

  after(async () => {
    for (const c of checks) await c.close();
    await sup?.stop();
  });

  it('forced (max_connections) and automatic sharding give exactly the submissions of one getAllProcessInfo', async () => {
    const single = newCheck({ name: 'shards', socket: sup.socketUrl, collection: 'full', max_connections: 1, tags: ['t:x'] });
    const debug: string[] = [];
    const forced = newCheck({ name: 'shards', socket: sup.socketUrl, max_connections: 7, tags: ['t:x'] }, debug);
    const autoDebug: string[] = [];
    const auto = newCheck({ name: 'shards', socket: sup.socketUrl, tags: ['t:x'] }, autoDebug);
    await forced.run(); // learns the names
    await auto.run();
    for (const [check, log] of [
      [forced, debug],
      [auto, autoDebug],
    ] as const) {
      const [a, b] = await sameSecond(single, check);
      assert.deepEqual(b, a);
      assert.equal(a.processes?.length, TOTAL);
      // grouped, numprocs and non-ASCII names, in listing order (group, then name, by code point)
      assert.deepEqual(specs(a).slice(-5), ['web:back', 'web:front', 'worker:worker_0', 'worker:worker_1', 'worker:worker_2']);
      assert.equal(specs(a)[0], 'café:café');
      assert.ok(!log.includes('collection: full listing') || log.indexOf('collection: full listing') === 0, log.join('\n'));
    }
    assert.ok(debug.includes(`collection: ${TOTAL} processes by name in 7 parallel multicalls`), debug.join('\n'));
    assert.ok(autoDebug.includes(`collection: ${TOTAL} processes by name in 7 parallel multicalls`), autoDebug.join('\n'));
  });

  it('a program removed between runs (BAD_NAME): the same run lists again, exactly the full result', async () => {
    const single = newCheck({ name: 'rm', socket: sup.socketUrl, collection: 'full', max_connections: 1 });
    const debug: string[] = [];
    const sharded = newCheck({ name: 'rm', socket: sup.socketUrl, max_connections: 4 }, debug);
    await sharded.run();
    await reconfigure(sup, (text) => text.replace(SECTION('p007'), '\n'));
    await sup.waitFor((procs) => procs.length === TOTAL - 1);
    debug.length = 0;
    const [a, b] = await sameSecond(single, sharded);
    assert.deepEqual(b, a);
    assert.ok(!specs(a).includes('p007:p007'));
    assert.equal(a.processes?.length, TOTAL - 1);
    assert.ok(debug.includes('collection: a process name is gone (BAD_NAME): full listing to relearn the names'), debug.join('\n'));
  });

  it('a wanted program added outside any group: the next selective run gives what a full listing gives; sharding sees it at the refresh', async () => {
    const instance = { name: 'add', socket: sup.socketUrl, proc_names: ['late', 'front', 'p001'] };
    const full = newCheck({ ...instance, collection: 'full', max_connections: 1 });
    const selective = newCheck(instance);
    const clock = { now: Date.now() };
    const shardDebug: string[] = [];
    const sharded = newCheck({ name: 'add', socket: sup.socketUrl, max_connections: 4, name_refresh_interval: 60 }, shardDebug, () => clock.now);
    const before = await selective.run();
    assert.deepEqual(specs(before), ['p001:p001', 'web:front']);
    assert.equal((await sharded.run()).processes?.length, TOTAL - 1);

    await reconfigure(sup, (text) => `${text}\n[program:late]\ncommand=/bin/sleep 100000\nstartsecs=0\n`);
    await sup.waitFor((procs) => procs.some((p) => p['name'] === 'late' && p['statename'] === 'RUNNING'));

    const [a, b] = await sameSecond(full, selective);
    assert.deepEqual(b, a);
    assert.deepEqual(specs(a), ['late:late', 'p001:p001', 'web:front']);

    // Sharded collection asks the names of the last listing: the new program waits for the refresh.
    assert.equal((await sharded.run()).processes?.length, TOTAL - 1);
    clock.now += 60_000;
    shardDebug.length = 0;
    assert.equal((await sharded.run()).processes?.length, TOTAL - 1, 'the refresh runs after the run');
    for (let i = 0; i < 200 && !shardDebug.some((l) => l.startsWith('collection: process names refreshed')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(shardDebug.includes(`collection: process names refreshed (${TOTAL} processes)`), shardDebug.join('\n'));
    const after = await sharded.run();
    assert.equal(after.processes?.length, TOTAL);
    assert.ok(specs(after).includes('late:late'));
  });

  it('after sharded runs and close(), no socket or fd is left', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'TCPSocketWrap').length;
    // Let the connections of the tests above close first.
    for (const c of checks) await c.close();
    const baseline = { fds: fds(), sockets: sockets() };
    const debug: string[] = [];
    const check = new SupervisordCheck({ name: 'fd', socket: sup.socketUrl!, max_connections: 8 }, { log: { warn: () => {}, debug: (m) => debug.push(m) } });
    for (let i = 0; i < 3; i++) assert.deepEqual((await check.run()).errors, []);
    assert.ok(debug.some((l) => l.endsWith('in 8 parallel multicalls')), debug.join('\n'));
    assert.ok(fds() >= baseline.fds + 8, `the shards' connections are open between runs (${fds()} fds, baseline ${baseline.fds})`);
    await check.close();
    for (let i = 0; i < 100 && (fds() !== baseline.fds || sockets() !== baseline.sockets); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual({ fds: fds(), sockets: sockets() }, baseline);
  });
});
