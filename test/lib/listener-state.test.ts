/**
 * The listener's state: events applied in order give the polling check's
 * submissions for the same processes plus the event counts; resyncs seed,
 * replace and count drift only once no event explained a difference;
 * exit statuses are taken only from an answer in which the run has ended.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveConfig } from '../../lib/config.js';
import { EventStreamParser } from '../../lib/listener/event-protocol.js';
import type { ListenerEvent } from '../../lib/listener/event-protocol.js';
import { DRIFT_GRACE_MS, ListenerState } from '../../lib/listener/state.js';
import type { ServerProcess } from '../../lib/listener/state.js';
import type { CheckResult } from '../../lib/types.js';
import { envelope } from '../helpers/listener-envelope.js';

const T0 = 1_700_000_000_000;

function setup(instance: Record<string, unknown> = {}): { state: ListenerState; clock: { now: number } } {
  const clock = { now: T0 };
  const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock', ...instance });
  return { state: new ListenerState(config, { clock: () => clock.now }), clock };
}

function event(eventname: string, payload: string): ListenerEvent {
  const items = new EventStreamParser().push(envelope(eventname, payload));
  assert.ok(items[0]?.ok);
  return items[0].event;
}

function stateEvent(to: string, name: string, from: string, extra = ''): ListenerEvent {
  return event(`PROCESS_STATE_${to}`, `processname:${name} groupname:${name} from_state:${from}${extra}`);
}

function value(result: CheckResult, name: string, ...tags: string[]): number | undefined {
  return result.metrics.find((m) => m.name === name && tags.every((t) => m.tags.includes(t)))?.value;
}

function server(name: string, statename: string, extra: Partial<ServerProcess> = {}): ServerProcess {
  return { name, group: name, statename, start: 1000, stop: 0, pid: statename === 'RUNNING' ? 42 : 0, exitstatus: 0, spawnerr: '', stdout_logfile: '', stderr_logfile: '', ...extra };
}

describe('listener state: events', () => {
  it('a crash loop: every exit, transition and start counted; status and uptime as the polling check', () => {
    const { state, clock } = setup();
    state.resync(0, [server('web', 'STOPPED')], 'RUNNING', '4.2.5');
    const applied = state.apply(stateEvent('STARTING', 'web', 'STOPPED', ' tries:0'));
    assert.deepEqual(applied, { kind: 'transition', name: 'web', group: 'web', from: 'STOPPED', to: 'STARTING', fetchExit: false, alert: false });
    state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:11'));
    for (let i = 0; i < 3; i++) {
      const exited = state.apply(stateEvent('EXITED', 'web', 'RUNNING', ' expected:0 pid:11'));
      assert.equal(exited.kind === 'transition' && exited.alert && exited.fetchExit && exited.expected === false, true);
      state.apply(stateEvent('STARTING', 'web', 'EXITED', ' tries:0'));
      state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:12'));
    }
    state.apply(stateEvent('EXITED', 'web', 'RUNNING', ' expected:1 pid:12'));
    clock.now += 7000;
    const r = state.result();
    const web = ['supervisord_process:web', 'supervisord_group:web'];
    assert.equal(value(r, 'supervisord.process.exits', ...web, 'expected:false'), 3);
    assert.equal(value(r, 'supervisord.process.exits', ...web, 'expected:true'), 1);
    assert.equal(value(r, 'supervisord.process.transitions', ...web, 'from_state:RUNNING', 'to_state:EXITED'), 4);
    assert.equal(value(r, 'supervisord.process.transitions', ...web, 'from_state:STOPPED', 'to_state:STARTING'), 1);
    assert.equal(value(r, 'supervisord.process.restarts', ...web), 4);
    assert.equal(value(r, 'supervisord.process.count', 'status:down'), 1);
    assert.equal(value(r, 'supervisord.process.uptime', ...web), 0);
    assert.equal(value(r, 'supervisord.process.downtime', ...web), 7);
    assert.equal(value(r, 'supervisord.listener.events', 'eventname:PROCESS_STATE_EXITED'), 4);
    const status = r.serviceChecks.find((c) => c.name === 'supervisord.process.status');
    assert.equal(status?.status, 2);
    assert.match(status?.message ?? '', /State: EXITED/u);
    assert.equal(r.serviceChecks[0]?.name, 'supervisord.can_connect');
    assert.equal(r.serviceChecks[0]?.status, 0);
    assert.equal(r.metadata.version?.raw, '4.2.5');
    assert.equal(r.serviceChecks.find((c) => c.name === 'supervisord.server.state')?.status, 0);
  });

  it('RUNNING uptime counts from the STARTING event (supervisord records start then), description as supervisord writes it', () => {
    const { state, clock } = setup();
    state.resync(0, []);
    state.apply(stateEvent('STARTING', 'db', 'STOPPED', ' tries:0'));
    clock.now += 1000;
    state.apply(stateEvent('RUNNING', 'db', 'STARTING', ' pid:77'));
    clock.now += 125_000;
    const r = state.result();
    assert.equal(value(r, 'supervisord.process.uptime', 'supervisord_process:db'), 126);
    assert.deepEqual(r.processes?.map((p) => [p.name, p.statename, p.status, p.description]), [['db', 'RUNNING', 'up', 'pid 77, uptime 0:02:06']]);
  });

  it('PROCESS_GROUP_REMOVED drops the series of the group; filters apply to the event metrics', () => {
    const { state } = setup({ proc_names_exclude: ['hidden'] });
    state.resync(0, [server('a', 'RUNNING'), server('b', 'RUNNING'), server('hidden', 'RUNNING')]);
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:42'));
    state.apply(stateEvent('STOPPING', 'hidden', 'RUNNING', ' pid:42'));
    assert.deepEqual(state.apply(event('PROCESS_GROUP_REMOVED', 'groupname:a\n')), { kind: 'group', eventname: 'PROCESS_GROUP_REMOVED', group: 'a' });
    const r = state.result();
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:a')), false);
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:hidden')), false);
    assert.equal(value(r, 'supervisord.process.count', 'status:up'), 1);
    assert.equal(state.size, 2);
  });

  it('envelopes without what their type needs, and parser failures, are malformed and counted', () => {
    const { state } = setup();
    state.resync(0, []);
    assert.equal(state.apply(event('PROCESS_STATE_RUNNING', 'groupname:x from_state:STARTING')).kind, 'malformed');
    assert.equal(state.apply(event('PROCESS_STATE_NAPPING', 'processname:x groupname:x from_state:STARTING')).kind, 'malformed');
    assert.equal(state.apply(event('PROCESS_GROUP_ADDED', '')).kind, 'malformed');
    assert.deepEqual(state.applyMalformed({ code: 'ERR_EVENT_HEADER', message: 'no len token in the header at byte 0' }), {
      kind: 'malformed',
      message: 'no len token in the header at byte 0',
    });
    assert.equal(value(state.result(), 'supervisord.listener.malformed'), 4);
    assert.equal(state.seq, 4);
  });

  it('SUPERVISOR_STATE_CHANGE_* set supervisord.server.state; other events are only counted', () => {
    const { state } = setup();
    state.resync(0, [], 'RUNNING');
    assert.deepEqual(state.apply(event('SUPERVISOR_STATE_CHANGE_STOPPING', '')), { kind: 'supervisor', eventname: 'SUPERVISOR_STATE_CHANGE_STOPPING' });
    const r = state.result();
    assert.deepEqual(r.serviceChecks.find((c) => c.name === 'supervisord.server.state'), { name: 'supervisord.server.state', status: 2, tags: ['supervisord_server:sv'], message: 'supervisord is SHUTDOWN' });
    state.apply(event('SUPERVISOR_STATE_CHANGE_RUNNING', ''));
    assert.equal(state.result().serviceChecks.find((c) => c.name === 'supervisord.server.state')?.status, 0);
    assert.deepEqual(state.apply(event('PROCESS_LOG_STDOUT', 'processname:a groupname:a pid:1 channel:stdout\nx')), { kind: 'other', eventname: 'PROCESS_LOG_STDOUT' });
  });
});

describe('listener state: can_connect', () => {
  it('CRITICAL before the first collection, with the failure message after a failed one, OK once one worked', () => {
    const { state } = setup();
    assert.deepEqual(state.result().serviceChecks[0], { name: 'supervisord.can_connect', status: 2, tags: ['supervisord_server:sv'], message: 'no answer from unix:///tmp/sv.sock yet' });
    state.collectionFailed('Cannot connect to unix:///tmp/sv.sock.');
    assert.equal(state.result().serviceChecks[0]?.message, 'Cannot connect to unix:///tmp/sv.sock.');
    state.resync(0, []);
    assert.equal(state.result().serviceChecks[0]?.status, 0);
  });

  it('CRITICAL when the TICKs stop coming (three periods missed)', () => {
    const { state, clock } = setup();
    state.resync(0, []);
    state.apply(event('TICK_60', 'when:1'));
    state.apply(event('TICK_5', 'when:1'));
    clock.now += 15_000;
    assert.equal(state.result().serviceChecks[0]?.status, 0);
    clock.now += 1000;
    assert.deepEqual(state.result().serviceChecks[0]?.message, 'no event from supervisord for 16 s (a TICK is due every 5 s)');
  });
});

describe('listener state: resync', () => {
  it('a difference no event explains within the grace period is drift, counted and named', () => {
    const { state, clock } = setup();
    state.resync(0, [server('a', 'RUNNING'), server('gone', 'RUNNING')]);
    state.resync(state.seq, [server('a', 'FATAL'), server('new', 'STOPPED')]);
    assert.equal(state.suspects, 3);
    assert.deepEqual(state.confirmDrift(), []);
    clock.now += DRIFT_GRACE_MS;
    assert.deepEqual(state.confirmDrift().sort(), [
      'a:a: FATAL in supervisord, RUNNING from the events',
      'gone:gone: not in supervisord, RUNNING from the events',
      'new:new: STOPPED in supervisord, unknown to the events',
    ]);
    const r = state.result();
    assert.equal(value(r, 'supervisord.listener.drift'), 3);
    assert.deepEqual(r.processes?.map((p) => `${p.name}=${p.statename}`), ['a=FATAL', 'new=STOPPED']);
  });

  it('events still on their way when supervisord answered explain the difference: no drift', () => {
    const { state, clock } = setup();
    state.resync(0, [server('a', 'STOPPED')]);
    // supervisord already RUNNING, the STARTING and RUNNING events still buffered on its side.
    state.resync(state.seq, [server('a', 'RUNNING')]);
    state.apply(stateEvent('STARTING', 'a', 'STOPPED', ' tries:0'));
    state.apply(stateEvent('RUNNING', 'a', 'STARTING', ' pid:5'));
    clock.now += DRIFT_GRACE_MS;
    assert.deepEqual(state.confirmDrift(), []);
    assert.equal(value(state.result(), 'supervisord.listener.drift'), 0);
  });

  it('a process an event changed after the request keeps the event state', () => {
    const { state } = setup();
    state.resync(0, [server('a', 'RUNNING')]);
    const since = state.seq;
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:42'));
    state.resync(since, [server('a', 'RUNNING')]);
    assert.equal(state.suspects, 0);
    assert.equal(state.result().processes?.[0]?.statename, 'STOPPING');
  });
});

describe('listener state: exit statuses and lag', () => {
  it('takes the exit status from an answer where the run has ended, not from one already restarted', () => {
    const { state } = setup();
    state.resync(0, [server('a', 'RUNNING')]);
    state.apply(stateEvent('EXITED', 'a', 'RUNNING', ' expected:0 pid:42'));
    assert.equal(state.exitInfo(server('a', 'STARTING', { exitstatus: 0, stop: 1500 })), undefined);
    assert.equal(state.exitInfo(server('a', 'EXITED', { exitstatus: 3, stop: 1500 })), 3);
    assert.equal(state.exitInfo(server('other', 'EXITED', { exitstatus: 3, stop: 1500 })), undefined);
    assert.equal(value(state.result(), 'supervisord.process.exit_status', 'supervisord_process:a'), 3);
  });

  it('each exporter cursor measures the lag from the oldest event it has not exported', () => {
    const { state, clock } = setup();
    state.resync(0, []);
    const a = state.cursor();
    state.apply(event('TICK_5', 'when:1'));
    clock.now += 200;
    const b = state.cursor();
    state.apply(event('TICK_5', 'when:2'));
    clock.now += 300;
    assert.equal(value(state.result(a), 'supervisord.listener.lag'), 0.5);
    assert.equal(value(state.result(b), 'supervisord.listener.lag'), 0.3);
    clock.now += 1000;
    assert.equal(value(state.result(a), 'supervisord.listener.lag'), 0);
    assert.equal(value(state.result(), 'supervisord.listener.lag'), undefined);
  });
});
