/**
 * The listener's state: events applied in order give the polling check's
 * submissions for the same processes plus the event counts; every exit is
 * counted (STARTING -> BACKOFF too, unless it was a failed spawn); an exit
 * status is only ever one that was told (never the API's placeholder 0);
 * gaps in `poolserial` are lost events; snapshots are applied at their
 * point (marker, newer TICK, quiet) and say what lost events hid; can_connect
 * says when events arrive unreadable; the lag of each exporter needs no
 * memory per event; processes wait for their names to be judged.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveConfig } from '../../lib/config.js';
import { EventStreamParser } from '../../lib/listener/event-protocol.js';
import type { ListenerEvent } from '../../lib/listener/event-protocol.js';
import { EXITED_TOO_QUICKLY, ListenerState, RESYNC_MARKER_TYPE } from '../../lib/listener/state.js';
import type { Applied, RunEnd, ServerProcess } from '../../lib/listener/state.js';
import type { CheckResult } from '../../lib/types.js';
import { envelope } from '../helpers/listener-envelope.js';
import type { EnvelopeOptions } from '../helpers/listener-envelope.js';

const T0 = 1_700_000_000_000;

function setup(instance: Record<string, unknown> = {}): { state: ListenerState; clock: { now: number } } {
  const clock = { now: T0 };
  const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock', ...instance });
  return { state: new ListenerState(config, { clock: () => clock.now }), clock };
}

function event(eventname: string, payload: string, options: EnvelopeOptions = {}): ListenerEvent {
  const items = new EventStreamParser().push(envelope(eventname, payload, { poolserial: 0, ...options }));
  assert.ok(items[0]?.ok);
  return items[0].event;
}

function stateEvent(to: string, name: string, from: string, extra = '', options: EnvelopeOptions = {}): ListenerEvent {
  return event(`PROCESS_STATE_${to}`, `processname:${name} groupname:${name} from_state:${from}${extra}`, options);
}

function value(result: CheckResult, name: string, ...tags: string[]): number | undefined {
  return result.metrics.find((m) => m.name === name && tags.every((t) => m.tags.includes(t)))?.value;
}

function server(name: string, statename: string, extra: Partial<ServerProcess> = {}): ServerProcess {
  return { name, group: name, statename, start: 1000, stop: 0, pid: statename === 'RUNNING' ? 42 : 0, exitstatus: 0, spawnerr: '', stdout_logfile: '', stderr_logfile: '', ...extra };
}

/** Seeds without a marker, then applies it at once as if the input had been quiet. */
function seed(state: ListenerState, processes: ServerProcess[], serverState?: string, version?: string): void {
  state.beginSnapshot('seed', false);
  state.snapshotAnswered({ processes, ...(serverState === undefined ? {} : { serverState }), ...(version === undefined ? {} : { version }) });
  state.settleSnapshot('quiet');
}

function endOf(applied: Applied): RunEnd {
  assert.ok(applied.kind === 'transition' && applied.end !== undefined, JSON.stringify(applied));
  return applied.end;
}

/** Applies the marker of the pending snapshot (its token), as supervisord would send it. */
function marker(state: ListenerState, token: string | undefined): Applied {
  return state.apply(event('REMOTE_COMMUNICATION', `type:${RESYNC_MARKER_TYPE}\n${token}`));
}

const WEB = ['supervisord_process:web', 'supervisord_group:web'];

describe('listener state: events', () => {
  it('a crash loop: every exit, transition and start counted; status and uptime as the polling check', () => {
    const { state, clock } = setup();
    seed(state, [server('web', 'STOPPED')], 'RUNNING', '4.2.5');
    const applied = state.apply(stateEvent('STARTING', 'web', 'STOPPED', ' tries:0'));
    assert.deepEqual(applied, { kind: 'transition', name: 'web', group: 'web', from: 'STOPPED', to: 'STARTING', alert: false, started: true });
    state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:11'));
    for (let i = 0; i < 3; i++) {
      const exited = state.apply(stateEvent('EXITED', 'web', 'RUNNING', ' expected:0 pid:11'));
      assert.equal(exited.kind === 'transition' && exited.alert && exited.expected === false, true);
      assert.deepEqual({ ...endOf(exited), id: 0 }, { id: 0, kind: 'exited', name: 'web', group: 'web', pid: 11, expected: false, arrivedAt: T0 });
      state.apply(stateEvent('STARTING', 'web', 'EXITED', ' tries:0'));
      state.apply(stateEvent('RUNNING', 'web', 'STARTING', ' pid:12'));
    }
    state.apply(stateEvent('EXITED', 'web', 'RUNNING', ' expected:1 pid:12'));
    clock.now += 7000;
    const r = state.result();
    assert.equal(value(r, 'supervisord.process.exits', ...WEB, 'expected:false'), 3);
    assert.equal(value(r, 'supervisord.process.exits', ...WEB, 'expected:true'), 1);
    assert.equal(value(r, 'supervisord.process.transitions', ...WEB, 'from_state:RUNNING', 'to_state:EXITED'), 4);
    assert.equal(value(r, 'supervisord.process.transitions', ...WEB, 'from_state:STOPPED', 'to_state:STARTING'), 1);
    assert.equal(value(r, 'supervisord.process.restarts', ...WEB), 4);
    assert.equal(value(r, 'supervisord.process.count', 'status:down'), 1);
    assert.equal(value(r, 'supervisord.process.uptime', ...WEB), 0);
    assert.equal(value(r, 'supervisord.process.downtime', ...WEB), 7);
    // No exit status was told: none is exported (never supervisord's placeholder 0).
    assert.equal(value(r, 'supervisord.process.exit_status', ...WEB), undefined);
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
    seed(state, []);
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
    seed(state, [server('a', 'RUNNING'), server('b', 'RUNNING'), server('hidden', 'RUNNING')]);
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:42'));
    state.apply(stateEvent('STOPPING', 'hidden', 'RUNNING', ' pid:42'));
    assert.deepEqual(state.apply(event('PROCESS_GROUP_REMOVED', 'groupname:a\n')), { kind: 'group', eventname: 'PROCESS_GROUP_REMOVED', group: 'a', seq: 3 });
    const r = state.result();
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:a')), false);
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:hidden')), false);
    assert.equal(value(r, 'supervisord.process.count', 'status:up'), 1);
    assert.equal(state.size, 2);
  });

  it('envelopes without what their type needs, and parser failures, are malformed and counted', () => {
    const { state } = setup();
    seed(state, []);
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
    seed(state, [], 'RUNNING');
    assert.deepEqual(state.apply(event('SUPERVISOR_STATE_CHANGE_STOPPING', '')), { kind: 'supervisor', eventname: 'SUPERVISOR_STATE_CHANGE_STOPPING' });
    const r = state.result();
    assert.deepEqual(r.serviceChecks.find((c) => c.name === 'supervisord.server.state'), { name: 'supervisord.server.state', status: 2, tags: ['supervisord_server:sv'], message: 'supervisord is SHUTDOWN' });
    state.apply(event('SUPERVISOR_STATE_CHANGE_RUNNING', ''));
    assert.equal(state.result().serviceChecks.find((c) => c.name === 'supervisord.server.state')?.status, 0);
    assert.deepEqual(state.apply(event('PROCESS_LOG_STDOUT', 'processname:a groupname:a pid:1 channel:stdout\nx')), { kind: 'other', eventname: 'PROCESS_LOG_STDOUT' });
    // Another listener's marker, or one whose snapshot is gone: only counted.
    assert.deepEqual(marker(state, 'not-ours'), { kind: 'other', eventname: 'REMOTE_COMMUNICATION' });
  });
});

describe('listener state: exits and exit statuses', () => {
  it('STARTING -> BACKOFF is an exit once settled as one (status unknown unless told), FATAL keeps that status, never a 0 nobody saw', () => {
    const { state } = setup();
    seed(state, [server('quick', 'STOPPED')]);
    state.apply(stateEvent('STARTING', 'quick', 'STOPPED', ' tries:0'));
    const first = endOf(state.apply(stateEvent('BACKOFF', 'quick', 'STARTING', ' tries:1')));
    assert.equal(first.kind, 'backoff');
    // Not counted before it is settled: it may have been a spawn that failed.
    assert.equal(value(state.result(), 'supervisord.process.exits', 'expected:false'), 0);
    assert.deepEqual(state.settleEnd(first, {}), { tracked: true });
    let r = state.result();
    assert.equal(value(r, 'supervisord.process.exits', 'expected:false'), 1);
    assert.equal(value(r, 'supervisord.process.exit_status'), undefined);
    assert.match(r.serviceChecks.find((c) => c.name === 'supervisord.process.status')?.message ?? '', /Description: Exited too quickly \(process log may have details\)/u);
    state.apply(stateEvent('STARTING', 'quick', 'BACKOFF', ' tries:1'));
    const second = endOf(state.apply(stateEvent('BACKOFF', 'quick', 'STARTING', ' tries:2')));
    state.apply(stateEvent('FATAL', 'quick', 'BACKOFF'));
    assert.deepEqual(state.settleEnd(second, { exitstatus: 3 }), { exitstatus: 3, tracked: true });
    r = state.result();
    assert.equal(value(r, 'supervisord.process.exits', 'expected:false'), 2);
    assert.equal(value(r, 'supervisord.process.exit_status'), 3);
    assert.equal(state.exitStatusOf('quick', 'quick'), 3);
    assert.equal(value(r, 'supervisord.process.transitions', 'from_state:STARTING', 'to_state:BACKOFF'), 2);
  });

  it('a BACKOFF that was a failed spawn is no exit; an old end settled late does not replace the last one', () => {
    const { state } = setup();
    seed(state, [server('x', 'STOPPED')]);
    state.apply(stateEvent('STARTING', 'x', 'STOPPED', ' tries:0'));
    const failed = endOf(state.apply(stateEvent('BACKOFF', 'x', 'STARTING', ' tries:1')));
    assert.deepEqual(state.settleEnd(failed, { spawnFailure: "can't find command 'nope'" }), { spawnFailure: "can't find command 'nope'", tracked: true });
    assert.equal(value(state.result(), 'supervisord.process.exits', 'expected:false'), 0);
    assert.equal(state.result().processes?.[0]?.description, "can't find command 'nope'");
    state.apply(stateEvent('STARTING', 'x', 'BACKOFF', ' tries:1'));
    state.apply(stateEvent('RUNNING', 'x', 'STARTING', ' pid:5'));
    const older = endOf(state.apply(stateEvent('EXITED', 'x', 'RUNNING', ' expected:0 pid:5')));
    state.apply(stateEvent('STARTING', 'x', 'EXITED', ' tries:0'));
    state.apply(stateEvent('RUNNING', 'x', 'STARTING', ' pid:6'));
    const newer = endOf(state.apply(stateEvent('EXITED', 'x', 'RUNNING', ' expected:0 pid:6')));
    assert.equal(state.settleEnd(newer, { exitstatus: 2 }).exitstatus, 2);
    assert.equal(state.settleEnd(older, { exitstatus: 9 }).exitstatus, 9);
    assert.equal(value(state.result(), 'supervisord.process.exit_status'), 2);
    assert.equal(value(state.result(), 'supervisord.process.exits', 'expected:false'), 2);
    // A process gone meanwhile: nothing to settle.
    assert.deepEqual(state.settleEnd({ ...newer, name: 'gone', group: 'gone' }, {}), { tracked: false });
  });

  it('a stop ends a run (its status is told by a read); a stop in BACKOFF keeps the last exit; the exit status goes after downtime', () => {
    const { state, clock } = setup();
    seed(state, [server('s', 'RUNNING', { pid: 8 })]);
    state.apply(stateEvent('STOPPING', 's', 'RUNNING', ' pid:8'));
    const stop = endOf(state.apply(stateEvent('STOPPED', 's', 'STOPPING', ' pid:8')));
    assert.equal(stop.kind, 'stopped');
    state.settleEnd(stop, { exitstatus: -1 });
    clock.now += 3000;
    const r = state.result();
    assert.deepEqual(
      r.metrics.filter((m) => m.tags.includes('supervisord_process:s') && !m.name.startsWith('supervisord.process.transitions')).map((m) => `${m.name}=${m.value}`),
      ['supervisord.process.uptime=0', 'supervisord.process.restarts=0', 'supervisord.process.downtime=3', 'supervisord.process.exit_status=-1', 'supervisord.process.start_time=1000', 'supervisord.process.exits=0', 'supervisord.process.exits=0'],
    );
    state.apply(stateEvent('STARTING', 's', 'STOPPED', ' tries:0'));
    const quick = endOf(state.apply(stateEvent('BACKOFF', 's', 'STARTING', ' tries:1')));
    state.settleEnd(quick, { exitstatus: 4 });
    const stopped = state.apply(stateEvent('STOPPED', 's', 'BACKOFF'));
    assert.equal(stopped.kind === 'transition' && stopped.end, undefined);
    assert.equal(value(state.result(), 'supervisord.process.exit_status'), 4);
  });
});

describe('listener state: exit statuses from supervisord\'s log, as the polling check shows them', () => {
  const message = (r: CheckResult, name: string): string => r.serviceChecks.find((c) => c.name === 'supervisord.process.status' && c.tags.includes(`supervisord_process:${name}`))?.message ?? '';

  it('an exit before startsecs told 3: exit_status 3, and the reference\'s Exit Status line says the 0 supervisord\'s API answers; an EXITED run says its status', () => {
    const { state } = setup();
    seed(state, [server('quick', 'STOPPED'), server('job', 'RUNNING', { pid: 7 })]);
    state.apply(stateEvent('STARTING', 'quick', 'STOPPED', ' tries:0'));
    state.settleEnd(endOf(state.apply(stateEvent('BACKOFF', 'quick', 'STARTING', ' tries:1'))), { exitstatus: 3 });
    state.apply(stateEvent('FATAL', 'quick', 'BACKOFF'));
    state.settleEnd(endOf(state.apply(stateEvent('EXITED', 'job', 'RUNNING', ' expected:0 pid:7'))), { exitstatus: 3 });
    const r = state.result();
    assert.equal(value(r, 'supervisord.process.exit_status', 'supervisord_process:quick'), 3);
    assert.match(message(r, 'quick'), /\nExit Status: 0$/u);
    assert.match(message(r, 'job'), /\nExit Status: 3$/u);
    // The result's processes and warnings agree with the metrics.
    assert.deepEqual(r.processes?.map((p) => [p.name, p.exit?.status]), [['job', 3], ['quick', 3]]);
    assert.equal(r.warnings.some((w) => w.includes('unknown')), false);
  });

  it('a signal death named by the log: exit_signal after exit_status; a new start forgets both; a listing of the same run keeps them, of another run drops them', () => {
    const { state } = setup();
    seed(state, [server('web', 'RUNNING', { pid: 5, start: 1000 })]);
    const end = endOf(state.apply(stateEvent('EXITED', 'web', 'RUNNING', ' expected:0 pid:5')));
    assert.deepEqual(state.settleEnd(end, { exitstatus: -1, signal: 'SIGKILL', coreDumped: true }), { exitstatus: -1, signal: 'SIGKILL', tracked: true });
    assert.equal(state.exitSignalOf('web', 'web'), 'SIGKILL');
    const exitMetrics = (): string[] =>
      state.result().metrics.filter((m) => m.tags.includes('supervisord_process:web') && /exit_(status|signal)$/u.test(m.name)).map((m) => `${m.name}=${m.value}`);
    assert.deepEqual(exitMetrics(), ['supervisord.process.exit_status=-1', 'supervisord.process.exit_signal=9']);
    // supervisord's API has the -1 too (EXITED): the signal is what the log adds.
    assert.deepEqual(state.result().processes?.[0]?.exit, { status: -1, source: 'process-info', signal: 'SIGKILL', coreDumped: true });
    // A listing of the same run (supervisord says EXITED -1): the signal stays.
    const stop = Math.floor(T0 / 1000);
    state.beginSnapshot('periodic', false);
    state.snapshotAnswered({ processes: [server('web', 'EXITED', { start: 1000, stop, exitstatus: -1 })] });
    state.settleSnapshot('quiet');
    assert.deepEqual(exitMetrics(), ['supervisord.process.exit_status=-1', 'supervisord.process.exit_signal=9']);
    // Another run the events did not see: supervisord's status alone.
    state.beginSnapshot('periodic', false);
    state.snapshotAnswered({ processes: [server('web', 'EXITED', { start: 2000, stop: stop + 5, exitstatus: -1 })] });
    state.settleSnapshot('quiet');
    assert.deepEqual(exitMetrics(), ['supervisord.process.exit_status=-1']);
    state.apply(stateEvent('STARTING', 'web', 'EXITED', ' tries:0'));
    assert.equal(state.exitSignalOf('web', 'web'), undefined);
    assert.deepEqual(exitMetrics(), []);
  });
});

describe('listener state: lost events', () => {
  it('a gap in a pool\'s poolserial is events lost, counted per pool; the first event, a resent one and a malformed one with a header count right', () => {
    const { state } = setup();
    seed(state, []);
    const tick = (poolserial: number, pool = 'p'): Applied => state.apply(event('TICK_5', 'when:1', { pool, poolserial }));
    assert.equal(tick(40).lost, undefined);
    assert.equal(tick(41).lost, undefined);
    assert.deepEqual(tick(45).lost, { pool: 'p', count: 3, next: 45, seq: 3 });
    assert.equal(tick(45).lost, undefined);
    assert.equal(tick(7, 'other').lost, undefined);
    const bad = new EventStreamParser().push(envelope('TICK_5', 'when:1 when:2', { pool: 'p', poolserial: 50 }))[0]!;
    assert.ok(!bad.ok);
    assert.deepEqual(state.applyMalformed(bad.malformed).lost, { pool: 'p', count: 4, next: 50, seq: 6 });
    assert.deepEqual(tick(9, 'other').lost, { pool: 'other', count: 1, next: 9, seq: 7 });
    assert.equal(state.lost, 8);
    assert.equal(value(state.result(), 'supervisord.listener.events_lost'), 8);
  });
});

describe('listener state: snapshots at their marker', () => {
  it('the answer before the marker: older events still arriving explain the difference, no drift; the exact comparison at the marker', () => {
    const { state } = setup();
    seed(state, [server('a', 'STOPPED')]);
    const { token } = state.beginSnapshot('periodic', true);
    assert.match(token!, /^[0-9a-f]{12}-1$/u);
    // supervisord already RUNNING, the STARTING and RUNNING events still queued on its side.
    assert.equal(state.snapshotAnswered({ processes: [server('a', 'RUNNING', { pid: 5, start: 2000 })] }), undefined);
    assert.equal(state.pending, 'answered');
    state.apply(stateEvent('STARTING', 'a', 'STOPPED', ' tries:0'));
    state.apply(stateEvent('RUNNING', 'a', 'STARTING', ' pid:5'));
    const m = marker(state, token);
    assert.equal(m.kind, 'marker');
    assert.ok(m.kind === 'marker' && m.reconciled !== undefined);
    assert.deepEqual({ ...m.reconciled }, { why: 'periodic', point: 'marker', differences: [], drift: true, lost: 0, restartsInferred: 0, exitsInferred: 0, seed: false, marker: { seq: 3, end: 0 } });
    assert.equal(state.pending, 'none');
    assert.equal(state.markers, 'yes');
    const r = state.result();
    assert.equal(value(r, 'supervisord.listener.drift'), 0);
    assert.equal(value(r, 'supervisord.process.restarts', 'supervisord_process:a'), 1);
  });

  it('a difference no event explains, with no event lost, is drift: counted, named, corrected', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING'), server('gone', 'RUNNING')]);
    const { token } = state.beginSnapshot('periodic', true);
    state.snapshotAnswered({ processes: [server('a', 'FATAL'), server('new', 'STOPPED')] });
    const m = marker(state, token);
    assert.ok(m.kind === 'marker' && m.reconciled !== undefined);
    assert.deepEqual([...m.reconciled.differences].sort(), [
      'a:a: FATAL in supervisord, RUNNING from the events',
      'gone:gone: not in supervisord, RUNNING from the events',
      'new:new: STOPPED in supervisord, unknown to the events',
    ]);
    assert.equal(m.reconciled.drift, true);
    const r = state.result();
    assert.equal(value(r, 'supervisord.listener.drift'), 3);
    assert.deepEqual(r.processes?.map((p) => `${p.name}=${p.statename}`), ['a=FATAL', 'new=STOPPED']);
    // FATAL's exitstatus 0 in the API is no status supervisord has.
    assert.equal(value(r, 'supervisord.process.exit_status', 'supervisord_process:a'), undefined);
  });

  it('the marker before the answer: processes changed after the marker are compared as they were at it and keep the newer events', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING', { pid: 7 }), server('b', 'RUNNING', { pid: 8 }), server('c', 'RUNNING', { pid: 9 })]);
    const { token } = state.beginSnapshot('periodic', true);
    assert.deepEqual(marker(state, token), { kind: 'marker' });
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:7'));
    state.apply(event('PROCESS_GROUP_REMOVED', 'groupname:c\n'));
    const reconciled = state.snapshotAnswered({ processes: [server('a', 'RUNNING', { pid: 7 }), server('b', 'RUNNING', { pid: 8 }), server('c', 'RUNNING', { pid: 9 })] });
    assert.deepEqual(reconciled?.differences, []);
    assert.equal(reconciled?.point, 'marker');
    assert.deepEqual(state.result().processes?.map((p) => `${p.name}=${p.statename}`), ['a=STOPPING', 'b=RUNNING']);
  });

  it('after lost events: the differences are what they hid, not drift; a new run no event showed is a restart, an end by an exit an exit', () => {
    const { state } = setup();
    seed(state, [
      server('seen', 'RUNNING', { pid: 10, start: 1000 }),
      server('hidden', 'RUNNING', { pid: 11, start: 1000 }),
      server('crashed', 'RUNNING', { pid: 12, start: 1000 }),
      server('quick', 'STARTING', { pid: 13, start: 1000 }),
    ]);
    state.apply(event('TICK_5', 'when:1', { pool: 'p', poolserial: 1 }));
    state.apply(stateEvent('STARTING', 'seen', 'STOPPED', ' tries:0', { pool: 'p', poolserial: 2 }));
    const gap = state.apply(stateEvent('RUNNING', 'seen', 'STARTING', ' pid:20', { pool: 'p', poolserial: 900 }));
    assert.deepEqual(gap.lost, { pool: 'p', count: 897, next: 900, seq: 3 });
    const after = [
      server('seen', 'RUNNING', { pid: 20, start: 1500 }),
      server('hidden', 'RUNNING', { pid: 21, start: 1500 }),
      server('crashed', 'EXITED', { start: 1000, stop: 1400, exitstatus: 3, spawnerr: 'Bad exit code 3' }),
      server('quick', 'FATAL', { start: 1400, stop: 1400, spawnerr: EXITED_TOO_QUICKLY }),
    ];
    const { token } = state.beginSnapshot('events lost', true);
    state.snapshotAnswered({ processes: after });
    const m = marker(state, token);
    assert.ok(m.kind === 'marker' && m.reconciled !== undefined);
    const r0 = m.reconciled;
    assert.equal(r0.drift, false);
    assert.equal(r0.lost, 897);
    assert.equal(r0.restartsInferred, 2); // hidden (new pid and start), quick (new start); seen's start was an event
    assert.equal(r0.exitsInferred, 2); // crashed (EXITED), quick (exited too quickly)
    assert.deepEqual([...r0.differences].sort(), [
      'crashed:crashed: EXITED in supervisord, RUNNING from the events',
      'hidden:hidden: RUNNING with pid 21 in supervisord, pid 11 from the events',
      'quick:quick: FATAL in supervisord, STARTING from the events',
    ]);
    const r = state.result();
    assert.equal(value(r, 'supervisord.listener.drift'), 0);
    assert.equal(value(r, 'supervisord.process.restarts', 'supervisord_process:seen'), 1);
    assert.equal(value(r, 'supervisord.process.restarts', 'supervisord_process:hidden'), 1);
    assert.equal(value(r, 'supervisord.process.restarts', 'supervisord_process:crashed'), 0);
    assert.equal(value(r, 'supervisord.process.restarts', 'supervisord_process:quick'), 1);
    assert.equal(value(r, 'supervisord.process.exits', 'supervisord_process:crashed', 'expected:false'), 1);
    assert.equal(value(r, 'supervisord.process.exits', 'supervisord_process:quick', 'expected:false'), 1);
    // EXITED's status is one supervisord observed; FATAL's 0 is not.
    assert.equal(value(r, 'supervisord.process.exit_status', 'supervisord_process:crashed'), 3);
    assert.equal(value(r, 'supervisord.process.exit_status', 'supervisord_process:quick'), undefined);
    // The next snapshot, with nothing new: nothing inferred again.
    const next = state.beginSnapshot('periodic', true);
    state.snapshotAnswered({ processes: after });
    const again = marker(state, next.token);
    assert.ok(again.kind === 'marker' && again.reconciled !== undefined);
    assert.deepEqual([again.reconciled.differences.length, again.reconciled.restartsInferred, again.reconciled.exitsInferred], [0, 0, 0]);
  });

  it('the processes of a group announced since the last snapshot are new, not drift', () => {
    const { state } = setup();
    seed(state, []);
    state.apply(event('PROCESS_GROUP_ADDED', 'groupname:late\n'));
    const { token } = state.beginSnapshot('group added', true);
    state.snapshotAnswered({ processes: [server('late', 'STOPPED')] });
    const m = marker(state, token);
    assert.ok(m.kind === 'marker' && m.reconciled !== undefined);
    assert.deepEqual(m.reconciled.differences, []);
    assert.equal(state.size, 1);
  });

  it('one snapshot at a time; a failed one is given up with the reason on can_connect', () => {
    const { state } = setup();
    seed(state, []);
    state.beginSnapshot('periodic', true);
    assert.throws(() => state.beginSnapshot('again', true), { message: 'a snapshot (periodic) is still pending' });
    state.snapshotFailed('Cannot connect to unix:///tmp/sv.sock.');
    assert.equal(state.pending, 'none');
    assert.equal(state.result().serviceChecks[0]?.message, 'Cannot connect to unix:///tmp/sv.sock.');
    assert.equal(state.snapshotAnswered({ processes: [] }), undefined);
    assert.equal(state.settleSnapshot('quiet'), undefined);
  });
});

describe('listener state: snapshots without a marker', () => {
  it('waits until a TICK newer than the listing arrives; events changed since the request are left to the events', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING'), server('b', 'RUNNING')]);
    state.beginSnapshot('periodic', false);
    state.snapshotAnswered({ processes: [server('a', 'STOPPED'), server('b', 'FATAL')], now: 5000 });
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:42'));
    assert.equal(state.apply(event('TICK_5', 'when:5000')).kind, 'other');
    assert.equal(state.pending, 'answered');
    const tick = state.apply(event('TICK_5', 'when:5005'));
    assert.ok(tick.kind === 'other' && tick.reconciled !== undefined);
    assert.equal(tick.reconciled.point, 'tick');
    assert.deepEqual(tick.reconciled.differences, ['b:b: FATAL in supervisord, RUNNING from the events']);
    assert.deepEqual(state.result().processes?.map((p) => `${p.name}=${p.statename}`), ['a=STOPPING', 'b=FATAL']);
    assert.equal(state.markers, 'unknown');
  });

  it('a marker that does not come while nothing was lost: the pool does not get them, later requests carry none', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING')]);
    const { token } = state.beginSnapshot('periodic', true);
    assert.notEqual(token, undefined);
    state.snapshotAnswered({ processes: [server('a', 'RUNNING')] });
    const settled = state.settleSnapshot('quiet');
    assert.equal(settled?.markersOff, true);
    assert.equal(settled?.point, 'quiet');
    assert.equal(state.markers, 'no');
    assert.equal(state.beginSnapshot('periodic', true).token, undefined);
  });

  it('a marker missing after lost events may have been discarded: markers stay on; a timeout never counts drift', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING')]);
    state.apply(event('TICK_5', 'when:1', { poolserial: 1 }));
    state.beginSnapshot('periodic', true);
    state.apply(event('TICK_5', 'when:1', { poolserial: 5 }));
    state.snapshotAnswered({ processes: [server('a', 'FATAL')] });
    const settled = state.settleSnapshot('timeout');
    assert.equal(settled?.markersOff, false);
    assert.equal(settled?.drift, false);
    assert.equal(state.markers, 'unknown');
    assert.equal(value(state.result(), 'supervisord.listener.drift'), 0);
  });

  it('events lost after a request whose snapshot settled without a marker stay unexplained for the processes it left out: no drift at the next one', () => {
    const { state } = setup();
    seed(state, [server('a', 'RUNNING', { pid: 1 }), server('b', 'RUNNING', { pid: 2 })]);
    state.apply(event('TICK_5', 'when:1', { poolserial: 1 }));
    state.beginSnapshot('events lost', true);
    state.snapshotAnswered({ processes: [server('a', 'STOPPING', { pid: 1 }), server('b', 'STOPPING', { pid: 2 })] });
    // Events after the request: a's STOPPING, then events lost (a's STOPPED, STARTING, RUNNING among them).
    state.apply(stateEvent('STOPPING', 'a', 'RUNNING', ' pid:1', { poolserial: 2 }));
    state.apply(event('TICK_5', 'when:1', { poolserial: 9 }));
    const first = state.settleSnapshot('quiet');
    assert.deepEqual(first?.differences, ['b:b: STOPPING in supervisord, RUNNING from the events']);
    assert.equal(first?.drift, false);
    const { token } = state.beginSnapshot('events lost', true);
    state.snapshotAnswered({ processes: [server('a', 'RUNNING', { pid: 11, start: 2000 }), server('b', 'STOPPING', { pid: 2 })] });
    const m = marker(state, token);
    assert.ok(m.kind === 'marker' && m.reconciled !== undefined);
    assert.deepEqual(m.reconciled.differences, ['a:a: RUNNING in supervisord, STOPPING from the events']);
    assert.equal(m.reconciled.drift, false);
    assert.equal(m.reconciled.restartsInferred, 1);
    assert.equal(value(state.result(), 'supervisord.listener.drift'), 0);
  });

  it('the seed is applied at once, then again exactly at its marker, never counting drift', () => {
    const { state } = setup();
    const { token } = state.beginSnapshot('seed', true);
    assert.equal(state.snapshotAnswered({ processes: [server('a', 'RUNNING', { pid: 3 })], serverState: 'RUNNING', version: '4.2.5' }), undefined);
    assert.deepEqual(state.result().processes?.map((p) => p.statename), ['RUNNING']);
    // An event older than the listing, still queued when supervisord answered.
    state.apply(stateEvent('STARTING', 'a', 'STOPPED', ' tries:0'));
    const m = marker(state, token);
    assert.ok(m.kind === 'marker' && m.reconciled?.seed === true);
    assert.deepEqual(state.result().processes?.map((p) => p.statename), ['RUNNING']);
    assert.equal(value(state.result(), 'supervisord.listener.drift'), 0);
  });
});

describe('listener state: can_connect', () => {
  it('CRITICAL before the first collection, with the failure message after a failed one, OK once one worked', () => {
    const { state } = setup();
    assert.deepEqual(state.result().serviceChecks[0], { name: 'supervisord.can_connect', status: 2, tags: ['supervisord_server:sv'], message: 'no answer from unix:///tmp/sv.sock yet' });
    state.collectionFailed('Cannot connect to unix:///tmp/sv.sock.');
    assert.equal(state.result().serviceChecks[0]?.message, 'Cannot connect to unix:///tmp/sv.sock.');
    seed(state, []);
    assert.equal(state.result().serviceChecks[0]?.status, 0);
  });

  it('CRITICAL when the TICKs stop coming (three periods missed)', () => {
    const { state, clock } = setup();
    seed(state, []);
    state.apply(event('TICK_60', 'when:1'));
    state.apply(event('TICK_5', 'when:1'));
    clock.now += 15_000;
    assert.equal(state.result().serviceChecks[0]?.status, 0);
    clock.now += 1000;
    assert.deepEqual(state.result().serviceChecks[0]?.message, 'no event from supervisord for 16 s (a TICK is due every 5 s)');
  });

  it('CRITICAL while events arrive but cannot be read, until one can', () => {
    const { state } = setup();
    seed(state, []);
    state.applyMalformed({ code: 'ERR_EVENT_HEADER', message: 'no len token at the end (found "x") in the header at byte 0' });
    state.applyMalformed({ code: 'ERR_EVENT_HEADER', message: 'no ver token at the start (found "y") in the header at byte 9' });
    assert.deepEqual(state.result().serviceChecks[0], {
      name: 'supervisord.can_connect',
      status: 2,
      tags: ['supervisord_server:sv'],
      message: 'events arrive from supervisord but cannot be read (2 in a row, the last: no ver token at the start (found "y") in the header at byte 9)',
    });
    state.apply(event('TICK_5', 'when:1'));
    assert.equal(state.result().serviceChecks[0]?.status, 0);
  });
});

describe('listener state: lag and judged names', () => {
  it('each exporter cursor measures the lag from the oldest event it has not exported, with one number per cursor', () => {
    const { state, clock } = setup();
    seed(state, []);
    const a = state.cursor();
    state.apply(event('TICK_5', 'when:1'));
    clock.now += 200;
    const b = state.cursor();
    for (let i = 0; i < 1000; i++) state.apply(event('TICK_5', 'when:2'));
    clock.now += 300;
    assert.deepEqual(Object.keys(a), ['oldest']);
    assert.equal(value(state.result(a), 'supervisord.listener.lag'), 0.5);
    assert.equal(value(state.result(b), 'supervisord.listener.lag'), 0.3);
    clock.now += 1000;
    assert.equal(value(state.result(a), 'supervisord.listener.lag'), 0);
    assert.equal(value(state.result(), 'supervisord.listener.lag'), undefined);
  });

  it('with patterns, a process appears once its name is judged; a judging that failed is the run\'s error, with no process', () => {
    const { state } = setup({ proc_regex: ['^w'] });
    seed(state, [server('web', 'RUNNING'), server('db', 'RUNNING')]);
    assert.deepEqual(state.result().processes, []);
    const { keys, names } = state.namesToJudge();
    assert.deepEqual([keys.sort(), names.sort()], [['db:db', 'web:web'], ['db', 'web']]);
    state.namesJudged(keys, "matching 2 process name(s) against '^w' did not finish by the run's deadline");
    let r = state.result();
    assert.deepEqual(r.errors, ["An error occurred while filtering process names: matching 2 process name(s) against '^w' did not finish by the run's deadline"]);
    assert.equal(r.metrics.some((m) => m.tags.includes('supervisord_process:web')), false);
    state.namesJudged(keys);
    r = state.result();
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.processes?.map((p) => p.name), ['web']);
    assert.deepEqual(state.namesToJudge().keys, []);
  });
});
