/**
 * `listen --resources` without supervisord (the real one is in
 * test/integration/listener.test.ts):
 * - the state's proof of whose pid is whose (`resourceProcesses`): no
 *   process before a horizon exists; a TICK's `when` and a snapshot applied
 *   at its point move it, a snapshot given up after the longest wait does
 *   not; supervisord's `start` after a snapshot, unknown (0) after a STARTING
 *   event; lost events void it until the next snapshot; filters and names
 *   not judged yet leave processes out;
 * - the reader over a fake /proc: a process forked before the horizon is
 *   read, one forked after it is not (a pid the state still gives a program
 *   whose end has not arrived yet); supervisord's pid asked once and
 *   required to be the listener's ancestor; warnings said once; one reading
 *   per interval, one at a time;
 * - the command: `--resources` without --serve or --dogstatsd is refused, a
 *   remote target warns, and /metrics carries the samples.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { runListen } from '../../lib/cli/listen.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { EventStreamParser } from '../../lib/listener/event-protocol.js';
import type { ListenerEvent } from '../../lib/listener/event-protocol.js';
import { ListenerResources } from '../../lib/listener/resources.js';
import { ListenerState } from '../../lib/listener/state.js';
import type { ServerProcess } from '../../lib/listener/state.js';
import { PROCESS_CPU_SECONDS, PROCESS_MEMORY_RSS, TREE_PROCESSES } from '../../lib/resources/read.js';
import type { CheckClient } from '../../lib/types.js';
import { Capture } from '../helpers/cli-run.js';
import { fakeProc } from '../helpers/fake-proc.js';
import type { FakeProc } from '../helpers/fake-proc.js';
import { sleep, waitUntil } from '../helpers/launched-processes.js';
import { envelope } from '../helpers/listener-envelope.js';

const T0 = 1_700_000_000_000;
/** The margin the state takes before the moment that proves a horizon, ms. */
const MARGIN = 100;

function event(eventname: string, payload: string, poolserial = 0): ListenerEvent {
  const items = new EventStreamParser().push(envelope(eventname, payload, { poolserial }));
  assert.ok(items[0]?.ok);
  return items[0].event;
}

const stateEvent = (to: string, name: string, from: string, extra = '', poolserial = 0): ListenerEvent =>
  event(`PROCESS_STATE_${to}`, `processname:${name} groupname:${name} from_state:${from}${extra}`, poolserial);

function server(name: string, statename: string, extra: Partial<ServerProcess> = {}): ServerProcess {
  return { name, group: name, statename, start: 1000, stop: 0, pid: statename === 'RUNNING' ? 42 : 0, exitstatus: 0, spawnerr: '', stdout_logfile: '', stderr_logfile: '', ...extra };
}

describe('listener state: which pids the resource reader may trust', () => {
  function setup(instance: Record<string, unknown> = {}): { state: ListenerState; clock: { wall: number; mono: number } } {
    const clock = { wall: T0, mono: 5000 };
    const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock', ...instance });
    return { state: new ListenerState(config, { clock: () => clock.wall, monotonic: () => clock.mono }), clock };
  }

  it('nothing before any horizon; a snapshot applied at its point proves the pids it gives, from when its request was sent', () => {
    const { state, clock } = setup();
    state.apply(stateEvent('RUNNING', 'early', 'STARTING', ' pid:7'));
    assert.deepEqual(state.resourceProcesses(), { processes: [] });
    state.beginSnapshot('seed', false);
    clock.mono += 40;
    state.snapshotAnswered({ processes: [server('web', 'RUNNING', { pid: 42, start: 1000 }), server('idle', 'STOPPED'), server('early', 'RUNNING', { pid: 7, start: 990 })] });
    // Seeded at once to have a state, but not at its point yet: no proof.
    assert.deepEqual(state.resourceProcesses(), { processes: [] });
    clock.mono += 3000;
    state.settleSnapshot('quiet');
    assert.deepEqual(state.resourceProcesses(), {
      processes: [
        { name: 'early', group: 'early', pid: 7, start: 990 },
        { name: 'web', group: 'web', pid: 42, start: 1000 },
      ],
      listedAt: 5000 - MARGIN,
    });
  });

  it("a STARTING event's start is unknown (0): its arrival can be seconds after the fork", () => {
    const { state } = setup();
    state.beginSnapshot('seed', false);
    state.snapshotAnswered({ processes: [server('web', 'RUNNING', { pid: 42, start: 1000 })] });
    state.settleSnapshot('quiet');
    state.apply(stateEvent('STOPPING', 'web', 'RUNNING', ' pid:42'));
    assert.deepEqual(state.resourceProcesses().processes, [{ name: 'web', group: 'web', pid: 42, start: 1000 }], 'STOPPING: still the same run');
    state.apply(stateEvent('STOPPED', 'web', 'STOPPING', ' pid:42'));
    assert.deepEqual(state.resourceProcesses().processes, []);
    state.apply(stateEvent('STARTING', 'web', 'STOPPED', ' tries:0'));
    assert.deepEqual(state.resourceProcesses().processes, [], 'no pid in STARTING');
    state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:43'));
    assert.deepEqual(state.resourceProcesses().processes, [{ name: 'web', group: 'web', pid: 43, start: 0 }]);
  });

  it("a TICK moves the horizon to its `when` (the start of its period), on the monotonic clock; never back", () => {
    const { state, clock } = setup();
    state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:43'));
    // Arrives 2.5 s after its `when`.
    clock.wall = T0 + 2500;
    clock.mono = 9000;
    state.apply(event('TICK_5', `when:${T0 / 1000}`));
    assert.deepEqual(state.resourceProcesses(), { processes: [{ name: 'web', group: 'web', pid: 43, start: 0 }], listedAt: 9000 - 2500 - MARGIN });
    // An older TICK (TICK_60 of an earlier period) does not move it back.
    clock.mono = 9100;
    clock.wall = T0 + 2600;
    state.apply(event('TICK_60', `when:${T0 / 1000 - 60}`));
    assert.equal(state.resourceProcesses().listedAt, 9000 - 2500 - MARGIN);
    // A `when` in the future of this clock counts as the arrival.
    state.apply(event('TICK_5', `when:${T0 / 1000 + 5}`));
    assert.equal(state.resourceProcesses().listedAt, 9100 - MARGIN);
  });

  it('a snapshot given up after the longest wait proves nothing', () => {
    const { state, clock } = setup();
    state.beginSnapshot('seed', false);
    state.snapshotAnswered({ processes: [server('web', 'RUNNING')] });
    state.settleSnapshot('quiet');
    state.beginSnapshot('periodic', false);
    clock.mono += 60_000;
    state.snapshotAnswered({ processes: [server('web', 'RUNNING')] });
    state.settleSnapshot('timeout');
    assert.equal(state.resourceProcesses().listedAt, 5000 - MARGIN);
  });

  it('events lost since the last snapshot void the proof until the next one is applied', () => {
    const { state } = setup();
    state.beginSnapshot('seed', false);
    state.snapshotAnswered({ processes: [server('web', 'RUNNING')] });
    state.settleSnapshot('quiet');
    state.apply(event('TICK_5', `when:${T0 / 1000}`, 10));
    state.apply(event('TICK_5', `when:${T0 / 1000 + 5}`, 14));
    assert.deepEqual(state.resourceProcesses(), {
      processes: [],
      uncertain: "events supervisord discarded may hide the end of a run whose pid is now another process's: resources are not reported until the listing taken for them is applied",
    });
    state.beginSnapshot('events lost', false);
    state.snapshotAnswered({ processes: [server('web', 'RUNNING', { pid: 44 })] });
    state.settleSnapshot('quiet');
    assert.deepEqual(state.resourceProcesses().processes, [{ name: 'web', group: 'web', pid: 44, start: 1000 }]);
  });

  it('only monitored processes: the filters apply, names not judged yet wait, a failed judging gives none', () => {
    const { state } = setup({ proc_names_exclude: ['other'] });
    state.beginSnapshot('seed', false);
    state.snapshotAnswered({ processes: [server('web', 'RUNNING'), server('other', 'RUNNING', { pid: 43 })] });
    state.settleSnapshot('quiet');
    assert.deepEqual(state.resourceProcesses().processes.map((p) => p.name), ['web']);

    const judged = setup({ proc_regex: ['^w'] }).state;
    judged.beginSnapshot('seed', false);
    judged.snapshotAnswered({ processes: [server('web', 'RUNNING'), server('api', 'RUNNING', { pid: 43 })] });
    judged.settleSnapshot('quiet');
    assert.deepEqual(judged.resourceProcesses().processes, [], 'names not judged yet');
    const { keys } = judged.namesToJudge();
    judged.namesJudged(keys, 'the patterns could not be matched within 1 s');
    assert.deepEqual(judged.resourceProcesses(), { processes: [] });
    judged.namesJudged(keys);
    assert.deepEqual(judged.resourceProcesses().processes.map((p) => p.name), ['web']);
  });
});

describe('ListenerResources over a fake /proc', () => {
  const UPTIME = 10_000;
  /** Wall clock of the reader: the fake host booted UPTIME seconds before. */
  const NOW = T0;
  const BOOT = NOW / 1000 - UPTIME;
  const SUPERVISORD = 10;
  const SELF = 500;
  let fake: FakeProc;

  before(() => {
    fake = fakeProc(UPTIME);
    fake.add({ pid: SUPERVISORD, ppid: 1, comm: 'supervisord', startTicks: 100, cmdline: '/usr/bin/python3\u0000/usr/bin/supervisord\u0000-c\u0000/etc/supervisord.conf' });
    fake.add({ pid: SELF, ppid: 600, comm: 'node', startTicks: 200 });
    fake.add({ pid: 600, ppid: SUPERVISORD, comm: 'sh', startTicks: 200 });
    // Forked 60 s ago, supervisord's child.
    fake.add({ pid: 100, ppid: SUPERVISORD, startTicks: (UPTIME - 60) * 100, utime: 250, stime: 50, rssPages: 1000 });
    fake.add({ pid: 101, ppid: 100, startTicks: (UPTIME - 59) * 100 });
    // Forked 0.01 s ago: after any horizon the tests give.
    fake.add({ pid: 102, ppid: SUPERVISORD, startTicks: UPTIME * 100 - 1, utime: 900 });
  });
  after(() => fake.remove());

  interface FakeClient extends CheckClient {
    calls: string[];
  }
  function client(answer: () => unknown): FakeClient {
    const calls: string[] = [];
    return {
      calls,
      call: async (method: string) => {
        calls.push(method);
        const value = answer();
        if (value instanceof Error) throw value;
        return value;
      },
      close: async () => {},
    };
  }

  /** A state seeded with `processes` and applied at its point (the horizon: now). */
  function seeded(processes: ServerProcess[]): ListenerState {
    const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock', tags: ['env:t'], collect_resources: true });
    const state = new ListenerState(config);
    state.beginSnapshot('seed', false);
    state.snapshotAnswered({ processes });
    state.settleSnapshot('quiet');
    return state;
  }

  const read = { procRoot: '', clockTicks: 100, pageSize: 4096, now: () => NOW, self: SELF };
  const resources = (state: ListenerState, c: CheckClient, minIntervalMs = 0): ListenerResources =>
    new ListenerResources({ state, client: c, minIntervalMs, read: { ...read, procRoot: fake.root } });

  it("reads a process forked before the horizon; a pid held by a process forked after it is another's, skipped without a word", async () => {
    const state = seeded([
      server('web', 'RUNNING', { pid: 100, start: BOOT + UPTIME - 60 }),
      // The state still gives `api` pid 102, now held by a process forked since (its start agrees: only the horizon tells).
      server('api', 'RUNNING', { pid: 102, start: BOOT + UPTIME - 1 }),
    ]);
    const c = client(() => SUPERVISORD);
    const r = await resources(state, c).collect();
    assert.deepEqual(r.warnings, []);
    const tags = ['env:t', 'supervisord_server:sv', 'supervisord_process:web', 'supervisord_group:web'];
    assert.deepEqual(r.metrics.find((m) => m.name === PROCESS_CPU_SECONDS), { name: PROCESS_CPU_SECONDS, type: 'monotonic_count', value: 3, tags });
    assert.equal(r.metrics.find((m) => m.name === PROCESS_MEMORY_RSS)?.value, 1000 * 4096);
    assert.equal(r.metrics.find((m) => m.name === TREE_PROCESSES)?.value, 2);
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:api')), false);
    assert.deepEqual(c.calls, ['supervisor.getPID']);
  });

  it('a start the events gave (unknown) is not compared: no clock warning, the horizon decides', async () => {
    const state = seeded([server('web', 'STOPPED')]);
    state.apply(stateEvent('STARTING', 'web', 'STOPPED', ' tries:0'));
    state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:100'));
    const r = await resources(state, client(() => SUPERVISORD)).collect();
    assert.deepEqual(r.warnings, []);
    assert.equal(r.metrics.find((m) => m.name === PROCESS_CPU_SECONDS)?.value, 3);
  });

  it("supervisord's pid must be an ancestor of the listener: said once, never asked again", async () => {
    const state = seeded([server('web', 'RUNNING', { pid: 100, start: BOOT + UPTIME - 60 })]);
    const c = client(() => 100);
    const reader = resources(state, c);
    const first = await reader.collect();
    assert.deepEqual(first, {
      metrics: [],
      warnings: [
        'resources are not collected: unix:///tmp/sv.sock answers pid 100 to supervisor.getPID, which did not start this listener (its parents: 600, 10, 1): the events come from another supervisord, or from none',
      ],
    });
    assert.deepEqual(await reader.collect(), { metrics: [], warnings: [] });
    assert.deepEqual(c.calls, ['supervisor.getPID']);
    const notPid = client(() => 'x');
    assert.deepEqual((await resources(state, notPid).collect()).warnings, ['resources are not collected: unix:///tmp/sv.sock did not answer a process id to supervisor.getPID']);
  });

  it('a failed getPID is said, and asked again at the next export', async () => {
    const state = seeded([server('web', 'RUNNING', { pid: 100, start: BOOT + UPTIME - 60 })]);
    let fail = true;
    const c = client(() => (fail ? new Error('no complete answer within 5000 ms') : BigInt(SUPERVISORD)));
    const reader = resources(state, c);
    assert.deepEqual(await reader.collect(), { metrics: [], warnings: ['resources are not collected this time: supervisor.getPID failed: no complete answer within 5000 ms'] });
    fail = false;
    const r = await reader.collect();
    assert.deepEqual(r.warnings, []);
    assert.equal(r.metrics.length > 0, true);
    assert.deepEqual(c.calls, ['supervisor.getPID', 'supervisor.getPID']);
  });

  it('lost events: said once, nothing read, supervisord not asked', async () => {
    const state = seeded([server('web', 'RUNNING', { pid: 100, start: BOOT + UPTIME - 60 })]);
    state.apply(event('TICK_5', 'when:1', 10));
    state.apply(event('TICK_5', 'when:2', 12));
    const c = client(() => SUPERVISORD);
    const reader = resources(state, c);
    const first = await reader.collect();
    assert.equal(first.metrics.length, 0);
    assert.match(first.warnings[0]!, /^events supervisord discarded may hide/u);
    assert.deepEqual(await reader.collect(), { metrics: [], warnings: [] });
    assert.deepEqual(c.calls, []);
  });

  it("refuses a 'minIntervalMs' that is not a number of milliseconds", () => {
    const state = seeded([]);
    for (const bad of [-1, Number.NaN, Infinity, '5' as unknown as number]) {
      assert.throws(() => new ListenerResources({ state, client: client(() => 1), minIntervalMs: bad }), {
        name: 'TypeError',
        message: `ListenerResources: 'minIntervalMs' must be a number of milliseconds, 0 or more, got ${String(bad)}`,
      });
    }
  });

  it('one reading per interval, one at a time: an export sooner gets the previous samples', async () => {
    const state = seeded([server('web', 'RUNNING', { pid: 100, start: BOOT + UPTIME - 60 })]);
    const c = client(() => SUPERVISORD);
    const reader = resources(state, c, 60_000);
    const [a, b] = await Promise.all([reader.collect(), reader.collect()]);
    assert.equal(a.metrics.find((m) => m.name === PROCESS_CPU_SECONDS)?.value, 3);
    assert.deepEqual(b.metrics, a.metrics);
    assert.notEqual(b.metrics[0], a.metrics[0], 'each export gets its own copies');
    fake.add({ pid: 100, ppid: SUPERVISORD, startTicks: (UPTIME - 60) * 100, utime: 350, stime: 50, rssPages: 1000 });
    try {
      assert.equal((await reader.collect()).metrics.find((m) => m.name === PROCESS_CPU_SECONDS)?.value, 3, 'within the interval');
      assert.equal((await resources(state, c, 0).collect()).metrics.find((m) => m.name === PROCESS_CPU_SECONDS)?.value, 4, 'a new reading');
    } finally {
      fake.add({ pid: 100, ppid: SUPERVISORD, startTicks: (UPTIME - 60) * 100, utime: 250, stime: 50, rssPages: 1000 });
    }
  });
});

describe('listen --resources', () => {
  it('is refused without --serve or --dogstatsd (JSON lines carry events)', async () => {
    const stderr = new Capture();
    const code = await runListen(['--jsonl', 'stderr', '--socket', '/nowhere.sock', '--resources'], {}, { stdin: new PassThrough(), stdout: new Capture(), stderr });
    assert.equal(code, 2);
    assert.equal(stderr.text, 'supervisord-check listen: --resources applies to --serve and --dogstatsd (JSON lines carry events, not samples)\n');
  });

  it("a target on another host: the configuration's warning, and no reading", async () => {
    const stderr = new Capture();
    const stdin = new PassThrough();
    const done = runListen(['--url', 'http://192.0.2.1:9/RPC2', '--timeout', '1', '--resources', '--serve', '127.0.0.1:0'], {}, { stdin, stdout: new Capture(), stderr });
    await waitUntil('the warning', () => stderr.text.includes('warning'));
    stdin.end();
    assert.equal(await done, 0);
    assert.match(stderr.text, /supervisord-check listen: warning: 'collect_resources' needs supervisord on this host \(a unix socket or a loopback address such as 127\.0\.0\.1\), and http:\/\/192\.0\.2\.1:9\/RPC2 is not one: resources are not collected\n/u);
  });

  it("/metrics and DogStatsD carry the samples of the processes read, with the listener's tags; supervisord's pid is asked once for both", async () => {
    const UPTIME = 10_000;
    const fake = fakeProc(UPTIME);
    fake.add({ pid: 10, ppid: 1, comm: 'supervisord', startTicks: 100, cmdline: '/usr/bin/supervisord' });
    fake.add({ pid: 500, ppid: 10, comm: 'node', startTicks: 200 });
    fake.add({ pid: 100, ppid: 10, startTicks: (UPTIME - 60) * 100, utime: 120, rssPages: 256 });
    const emulator = await SupervisordEmulator.start({
      listen: { port: 0 },
      pid: 10,
      processes: [makeProcess({ name: 'web', statename: 'RUNNING', pid: 100, start: Math.floor(T0 / 1000) - 60, now: Math.floor(T0 / 1000) })],
    });
    const udp = createSocket('udp4');
    const datagrams: string[] = [];
    udp.on('message', (m) => datagrams.push(m.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const stdin = new PassThrough();
    const stderr = new Capture();
    let port = 0;
    try {
      const dogstatsd = ['--dogstatsd', `127.0.0.1:${(udp.address() as AddressInfo).port}`, '--interval', '200ms'];
      const done = runListen(['--url', emulator.url, '--name', 'sv', '--tag', 'env:t', '--resources', '--serve', '127.0.0.1:0', ...dogstatsd], {}, {
        stdin,
        stdout: new Capture(),
        stderr,
        onListening: (a) => (port = a.port),
        resources: { minIntervalMs: 0, read: { procRoot: fake.root, clockTicks: 100, pageSize: 4096, now: () => T0, self: 500 } },
      });
      await waitUntil('the seed', () => stderr.text.includes('seeded from'));
      await waitUntil('the port', () => port !== 0);
      // A TICK newer than the listing: the listing's point, and a horizon.
      stdin.write(envelope('TICK_5', `when:${Math.floor(Date.now() / 1000)}`));
      let body = '';
      for (let i = 0; i < 100 && !body.includes('supervisord_process_cpu_seconds_total'); i++) {
        if (i > 0) await sleep(50);
        body = await get(port, '/metrics');
      }
      assert.match(body, /supervisord_process_cpu_seconds_total\{env="t",supervisord_server="sv",supervisord_process="web",supervisord_group="web"\} 1\.2\n/u);
      assert.match(body, /supervisord_process_resident_memory_bytes\{env="t",supervisord_server="sv",supervisord_process="web",supervisord_group="web"\} 1048576\n/u);
      await waitUntil('the samples over DogStatsD', () => datagrams.some((d) => d.includes('supervisord.process.memory.rss:1048576|g|#env:t,supervisord_server:sv,supervisord_process:web,supervisord_group:web')));
      assert.equal(emulator.stats.calls['supervisor.getPID'], 1);
      stdin.end();
      assert.equal(await done, 0);
      assert.doesNotMatch(stderr.text, /warning/u);
    } finally {
      stdin.destroy();
      udp.close();
      await emulator.close();
      fake.remove();
    }
  });
});

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
}
