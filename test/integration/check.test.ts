/**
 * The check against a REAL supervisord started by this file (the harness of
 * test/helpers/supervisord.ts), over the unix socket and TCP:
 * - issue 4: the zoo gives the expected counts, statuses, messages and
 *   uptimes (from the server's own clock), and version metadata equal to
 *   `supervisord --version`;
 * - issue 5: selective and full collection give identical results (a name in
 *   a group, a name in two groups, a name that does not exist), restarts
 *   read 1 then 0 around a `supervisorctl restart`, and a run while
 *   supervisord restarts (SIGHUP, slowed by a program that ignores SIGTERM)
 *   reports SHUTDOWN_STATE as `supervisord.server.state` CRITICAL with
 *   `supervisord.can_connect` OK and no error.
 *
 * The expected values come from the harness's own XML-RPC client, never from
 * the library. Skips, with the reason printed, only when supervisord is not
 * installed.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { CRITICAL, OK, SupervisordCheck } from '../../lib/check.js';
import type { CheckResult, Metric } from '../../lib/types.js';
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

const checks: SupervisordCheck[] = [];

function newCheck(instance: Record<string, unknown>, debug?: string[]): SupervisordCheck {
  const log = { warn: (m: string): void => assert.fail(`unexpected warning: ${m}`), debug: (m: string): number => debug?.push(m) ?? 0 };
  const c = new SupervisordCheck({ timeout: 5, ...instance }, { log });
  checks.push(c);
  return c;
}

after(async () => {
  for (const c of checks) await c.close();
});

const pad = (n: number): string => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS` in this host's zone (check-spec section 4), written independently of the library. */
function localTime(epoch: number): string {
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const key = (p: HarnessProcess): string => `${String(p['group'])}:${String(p['name'])}`;
const num = (p: HarnessProcess, member: string): number => Number(p[member]);

/** The value of metric `name` for the process `group:name`, or undefined. */
function metricOf(result: CheckResult, name: string, spec: string): number | undefined {
  const [group, proc] = spec.split(':') as [string, string];
  return result.metrics.find(
    (m) => m.name === name && m.tags.includes(`supervisord_process:${proc}`) && m.tags.includes(`supervisord_group:${group}`),
  )?.value;
}

/**
 * Runs `full` and `auto` between two runs of `full`, until the two `full`
 * runs agree (no tick of the server's clock in between, so all three saw the
 * same second), then returns the pair.
 */
async function sameSecond(full: SupervisordCheck, auto: SupervisordCheck): Promise<[CheckResult, CheckResult]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const a = await full.run();
    const b = await auto.run();
    const c = await full.run();
    if (JSON.stringify(a) === JSON.stringify(c)) return [a, b];
  }
  throw new Error('the server clock ticked during every attempt');
}

describe('the check against a real supervisord: the zoo', { skip: SKIP }, () => {
  let sup: RunningSupervisord;

  before(async () => {
    sup = await startSupervisord({ programs: zooPrograms() });
    await sup.waitFor(zooSettled);
  });

  after(async () => {
    await sup?.stop();
  });

  for (const transport of ['unix socket', 'tcp'] as const) {
    it(`issue 4 over ${transport}: counts, statuses, messages, uptimes from the server clock, version`, async () => {
      const at = transport === 'tcp' ? { host: '127.0.0.1', port: sup.port } : { socket: sup.socketUrl };
      const check = newCheck({ name: 'zoo', ...at, tags: ['env:it'] });
      const before = (await sup.call('supervisor.getAllProcessInfo')) as HarnessProcess[];
      const result = await check.run();
      const after = (await sup.call('supervisor.getAllProcessInfo')) as HarnessProcess[];
      const t0 = num(before[0]!, 'now');
      const t1 = num(after[0]!, 'now');
      const base = ['env:it', 'supervisord_server:zoo'];

      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.warnings, []);
      assert.deepEqual(result.serviceChecks[0], { name: 'supervisord.can_connect', status: OK, tags: base });
      const raw = await supervisordVersion();
      const [major, minor, patch] = raw.split('.');
      assert.deepEqual(result.metadata, { version: { raw, major, minor, ...(patch === undefined ? {} : { patch }), scheme: 'supervisord' } });

      const counts = result.metrics.filter((m) => m.name === 'supervisord.process.count').map((m) => [m.tags.at(-1), m.value]);
      assert.deepEqual(counts, [['status:down', 3], ['status:up', 4], ['status:unknown', 0]]);

      const statuses = result.serviceChecks.filter((c) => c.name === 'supervisord.process.status');
      assert.deepEqual(
        statuses.map((c) => c.tags.filter((t) => t.startsWith('supervisord_group:') || t.startsWith('supervisord_process:'))),
        after.map((p) => [`supervisord_process:${String(p['name'])}`, `supervisord_group:${String(p['group'])}`]),
        'one status per process, in the server order',
      );
      const currentTimes = new Set<string>();
      for (let t = t0; t <= t1; t++) currentTimes.add(`Current time: ${localTime(t)}`);
      for (const [i, p] of after.entries()) {
        const check = statuses[i]!;
        const running = ZOO_STATES[key(p)] === 'RUNNING';
        assert.equal(check.status, running ? OK : CRITICAL, key(p));
        if (running) {
          assert.equal(check.message, undefined);
        } else {
          const lines = check.message!.split('\n');
          assert.ok(currentTimes.has(lines[0]!), `${lines[0]} within ${t0}..${t1}`);
          assert.deepEqual(lines.slice(1), [
            `Process name: ${String(p['name'])}`,
            `Process group: ${String(p['group'])}`,
            `Description: ${String(p['description'])}`,
            `Error log file: ${String(p['stderr_logfile'])}`,
            `Stdout log file: ${String(p['stdout_logfile'])}`,
            `Log file: ${String(p['logfile'])}`,
            `State: ${String(p['statename'])}`,
            `Start time: ${localTime(num(p, 'start'))}`,
            `Stop time: ${num(p, 'stop') === 0 ? '' : localTime(num(p, 'stop'))}`,
            `Exit Status: ${num(p, 'exitstatus')}`,
          ]);
        }
        const uptime = metricOf(result, 'supervisord.process.uptime', key(p))!;
        if (running) {
          // now - start with the server's own clock, read between the two harness calls
          assert.ok(uptime >= t0 - num(p, 'start') && uptime <= t1 - num(p, 'start'), `${key(p)} uptime ${uptime}, server ${t0}..${t1} - ${num(p, 'start')}`);
        } else {
          assert.equal(uptime, 0, key(p));
        }
      }

      // issue 5 on the same run
      const exiter = after.find((p) => key(p) === 'exiter:exiter')!;
      const downtime = metricOf(result, 'supervisord.process.downtime', 'exiter:exiter')!;
      assert.ok(downtime >= t0 - num(exiter, 'stop') && downtime <= t1 - num(exiter, 'stop'), `downtime ${downtime}`);
      assert.equal(metricOf(result, 'supervisord.process.exit_status', 'exiter:exiter'), 3);
      // broken never ran (command not found: stop is 0), idle never started: neither has a downtime or an exit status
      for (const spec of ['broken:broken', 'idle:idle', 'sleeper:sleeper']) {
        assert.equal(metricOf(result, 'supervisord.process.downtime', spec), undefined, spec);
        assert.equal(metricOf(result, 'supervisord.process.exit_status', spec), undefined, spec);
      }
      assert.deepEqual(result.metrics.filter((m) => m.name === 'supervisord.process.restarts').map((m) => m.value), [0, 0, 0, 0, 0, 0, 0]);
      const web = result.metrics.filter((m: Metric) => m.name === 'supervisord.group.count' && m.tags.includes('supervisord_group:web'));
      assert.deepEqual(web.map((m) => [m.tags.at(-1), m.value]), [['status:down', 0], ['status:up', 2], ['status:unknown', 0]]);
      assert.deepEqual(result.serviceChecks.at(-1), { name: 'supervisord.server.state', status: OK, tags: base });
    });
  }

  it('issue 5: selective and full collection give identical results (a name in a group, a name that does not exist)', async () => {
    const instance = { name: 'zoo', socket: sup.socketUrl, proc_names: ['front', 'sleeper', 'exiter', 'broken', 'nonexistent'], tags: ['t:sel'] };
    const debug: string[] = [];
    const full = newCheck({ ...instance, collection: 'full' });
    const auto = newCheck(instance, debug);
    await auto.run(); // learns the map
    const [a, b] = await sameSecond(full, auto);
    assert.deepEqual(b, a);
    assert.deepEqual(a.processes?.map((p) => `${p.group}:${p.name}`), ['broken:broken', 'exiter:exiter', 'sleeper:sleeper', 'web:front']);
    assert.ok(debug.includes('collection: 4 processes by name, 1 wanted name not seen yet'), debug.join('\n'));
  });

  it('issue 5: a program restarted with supervisorctl counts 1 restart, then 0 (selective and full)', async () => {
    const instance = { name: 'zoo', socket: sup.socketUrl, proc_names: ['sleeper', 'café'] };
    const auto = newCheck(instance);
    const full = newCheck({ ...instance, collection: 'full' });
    const restarts = (r: CheckResult): number[] => r.metrics.filter((m) => m.name === 'supervisord.process.restarts').map((m) => m.value);
    for (const c of [auto, full]) assert.deepEqual(restarts(await c.run()), [0, 0]);
    const pid = num(((await sup.call('supervisor.getProcessInfo', ['sleeper'])) as HarnessProcess), 'pid');
    const ctl = await sup.ctl('restart', 'sleeper');
    assert.equal(ctl.code, 0, ctl.stderr + ctl.stdout);
    await sup.waitFor((procs) => procs.some((p) => key(p) === 'sleeper:sleeper' && p['statename'] === 'RUNNING' && num(p, 'pid') !== pid));
    // café then sleeper: server order
    for (const c of [auto, full]) assert.deepEqual(restarts(await c.run()), [0, 1]);
    for (const c of [auto, full]) assert.deepEqual(restarts(await c.run()), [0, 0]);
  });
});

describe('the check against a real supervisord being restarted', { skip: SKIP }, () => {
  let sup: RunningSupervisord;

  before(async () => {
    sup = await startSupervisord({
      programs: [
        // Ignores SIGTERM: supervisord waits stopwaitsecs (2 s, set by the harness) before SIGKILL
        // (to the whole process group, so the sleep goes too), which keeps the restart window open.
        { name: 'stubborn', command: `/bin/sh -c 'trap "" TERM; while :; do sleep 1; done'`, extra: { killasgroup: 'true' } },
        // Two processes named `dup`, one per group.
        { name: 'dup1', command: '/bin/sleep 100000', group: 'g1', extra: { process_name: 'dup' } },
        { name: 'dup2', command: '/bin/sleep 100000', group: 'g2', extra: { process_name: 'dup' } },
      ],
    });
    await sup.waitFor((procs) => procs.length === 3 && procs.every((p) => p['statename'] === 'RUNNING'));
  });

  after(async () => {
    await sup?.stop();
  });

  it('issue 5: a name in two groups, selective and full identical', async () => {
    const instance = { name: 'dups', socket: sup.socketUrl, proc_names: ['dup', 'nothere'] };
    const debug: string[] = [];
    const full = newCheck({ ...instance, collection: 'full' });
    const auto = newCheck(instance, debug);
    await auto.run();
    const [a, b] = await sameSecond(full, auto);
    assert.deepEqual(b, a);
    assert.deepEqual(a.processes?.map((p) => `${p.group}:${p.name}`), ['g1:dup', 'g2:dup']);
    assert.ok(debug.includes('collection: 2 processes by name, 1 wanted name not seen yet'), debug.join('\n'));
  });

  it('issue 5: SHUTDOWN_STATE during a restart is server.state CRITICAL, can_connect OK, no data, no error; then restarts show', async () => {
    const base = ['supervisord_server:sup'];
    const auto = newCheck({ name: 'sup', socket: sup.socketUrl, proc_names: ['stubborn', 'dup'] });
    const full = newCheck({ name: 'sup', host: '127.0.0.1', port: sup.port });
    for (const c of [auto, full]) assert.deepEqual((await c.run()).errors, []);
    await auto.run(); // selective from now on

    let restarted = false;
    const restarting = sup.restart().then(() => {
      restarted = true;
    });
    const seen: Array<{ check: string; result: CheckResult }> = [];
    while (!restarted) {
      for (const [name, c] of [['auto', auto], ['full', full]] as const) seen.push({ check: name, result: await c.run() });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await restarting;

    const shutdown: CheckResult = {
      metrics: [],
      serviceChecks: [
        { name: 'supervisord.can_connect', status: OK, tags: base },
        { name: 'supervisord.server.state', status: CRITICAL, tags: base, message: 'SHUTDOWN_STATE' },
      ],
      metadata: {},
      warnings: [],
      errors: [],
    };
    const inWindow = seen.filter(({ result }) => result.serviceChecks.some((c) => c.name === 'supervisord.server.state' && c.status === CRITICAL));
    for (const name of ['auto', 'full']) {
      assert.ok(inWindow.some((s) => s.check === name), `${name} saw the restart window: ${JSON.stringify(seen.map((s) => [s.check, s.result.serviceChecks.map((c) => c.status), s.result.errors]))}`);
    }
    for (const { result } of inWindow) assert.deepEqual(result, shutdown);
    // Every other run in the window is a normal run or, while the sockets are reopened, a connection failure.
    for (const { result } of seen) {
      if (inWindow.some((s) => s.result === result)) continue;
      assert.ok(result.errors.length === 0 || result.errors[0]!.startsWith('Cannot connect to '), result.errors.join('; '));
    }

    // supervisord restarted every program: over the runs after the window, each process counts exactly 1 restart.
    for (const name of ['auto', 'full'] as const) {
      const c = name === 'auto' ? auto : full;
      const first = seen.findIndex((s) => s.check === name && inWindow.includes(s));
      const later = seen.slice(first).filter((s) => s.check === name).map((s) => s.result);
      let result = await c.run();
      later.push(result);
      for (let i = 0; i < 50 && result.processes?.some((p) => p.statename !== 'RUNNING'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = await c.run();
        later.push(result);
      }
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.serviceChecks.at(-1), { name: 'supervisord.server.state', status: OK, tags: base });
      assert.deepEqual(result.processes?.map((p) => `${p.group}:${p.name}:${p.statename}`), ['g1:dup:RUNNING', 'g2:dup:RUNNING', 'stubborn:stubborn:RUNNING']);
      const total = new Map<string, number>();
      for (const r of later) {
        for (const m of r.metrics.filter((x) => x.name === 'supervisord.process.restarts')) {
          const k = m.tags.filter((t) => t.startsWith('supervisord_group:') || t.startsWith('supervisord_process:')).join(' ');
          total.set(k, (total.get(k) ?? 0) + m.value);
        }
      }
      assert.deepEqual([...total.values()], [1, 1, 1], `${name}: ${JSON.stringify([...total])}`);
    }
  });
});
