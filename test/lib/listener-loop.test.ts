/**
 * The listener loop (lib/listener/listener.ts) with a fake XML-RPC client,
 * for what a real supervisord will not produce on demand: a server without
 * multicall, the marker in the snapshot's multicall and the snapshot applied
 * when it comes back, a snapshot at once after lost events (one at a time),
 * reads of how runs ended batched, bounded and cancelled by a new start, an
 * exit-status source asked first, BACKOFFs told apart (exit or failed
 * spawn), an unreadable envelope answered once when the input goes quiet,
 * names judged off the main thread, a failing read (said once, then its
 * recovery), a malformed listing, an output that breaks.
 */

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import { XmlRpcFault } from '../../protocol/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess } from '../../lib/emulator/index.js';
import { END_BATCH, EventListener } from '../../lib/listener/listener.js';
import type { ExitAnswer, ExitQuery, ExitStatusSource, ListenerAlert } from '../../lib/listener/listener.js';
import { EXITED_TOO_QUICKLY, ListenerState, RESYNC_MARKER_TYPE } from '../../lib/listener/state.js';
import type { CheckClient, ProcessInfo } from '../../lib/types.js';
import { envelope } from '../helpers/listener-envelope.js';
import { sleep, waitUntil } from '../helpers/launched-processes.js';

interface Fake extends CheckClient {
  calls: string[];
  /** The marker data of each snapshot asked for, in order. */
  tokens: string[];
}

function fakeClient(answer: (method: string, params: readonly unknown[]) => unknown, multicall: boolean): Fake {
  const calls: string[] = [];
  const tokens: string[] = [];
  const call = async (method: string, params: readonly unknown[] = []): Promise<unknown> => {
    calls.push(`${method}(${params.join(',')})`);
    const value = answer(method, params);
    if (value instanceof Error) throw value;
    return value;
  };
  const client: Fake = { calls, tokens, call, close: async () => {} };
  if (multicall) {
    client.multicall = async (list) => {
      calls.push(`multicall[${list.map((c) => c.methodName).join(',')}]`);
      return list.map((c) => {
        if (c.methodName === 'supervisor.sendRemoteCommEvent') {
          tokens.push(String(c.params?.[1]));
          return true;
        }
        return answer(c.methodName, c.params ?? []);
      });
    };
  }
  return client;
}

interface Started {
  listener: EventListener;
  input: PassThrough;
  output: PassThrough;
  out: () => string;
  logs: string[];
  lines: Record<string, unknown>[];
  alerts: ListenerAlert[];
}

function start(client: CheckClient, options: { instance?: Record<string, unknown>; exitSource?: ExitStatusSource } = {}): Started {
  const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock', ...options.instance });
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  const logs: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const alerts: ListenerAlert[] = [];
  const listener = new EventListener({
    state: new ListenerState(config),
    client,
    input,
    output,
    log: (l) => logs.push(l),
    jsonl: (r) => lines.push(r),
    onAlert: (a) => alerts.push(a),
    ...(options.exitSource === undefined ? {} : { exitSource: options.exitSource }),
  });
  listener.start();
  return { listener, input, output, out: () => Buffer.concat(chunks).toString('utf8'), logs, lines, alerts };
}

/** A pool of its own per test, numbered without gaps unless a test skips numbers. */
function pool(name: string): (eventname: string, payload: string, skip?: number) => Buffer {
  let next = 0;
  return (eventname, payload, skip = 0) => {
    next += skip;
    return envelope(eventname, payload, { pool: name, poolserial: next++ });
  };
}

const transition = (send: ReturnType<typeof pool>, name: string, from: string, to: string, extra = ''): Buffer =>
  send(`PROCESS_STATE_${to}`, `processname:${name} groupname:${name} from_state:${from}${extra}`);

const markerOf = (send: ReturnType<typeof pool>, token: string): Buffer => send('REMOTE_COMMUNICATION', `type:${RESYNC_MARKER_TYPE}\n${token}`);

function serving(procs: () => readonly ProcessInfo[]): (method: string, params: readonly unknown[]) => unknown {
  return (method, params) => {
    if (method === 'supervisor.getAllProcessInfo') return procs();
    if (method === 'supervisor.getState') return { statename: 'RUNNING', statecode: 1 };
    if (method === 'supervisor.getSupervisorVersion') return '4.2.5';
    return procs().find((p) => `${p.group}:${p.name}` === params[0]) ?? new XmlRpcFault(10, `BAD_NAME: ${String(params[0])}`);
  };
}

const count = (calls: readonly string[], needle: string): number => calls.filter((c) => c.includes(needle)).length;

describe('listener loop: snapshots', () => {
  it('without multicall: three separate calls and no marker; reads of how runs ended one call each, once the input is quiet', async () => {
    const procs = [makeProcess({ name: 'a', statename: 'EXITED', exitstatus: 4 }), makeProcess({ name: 'b', statename: 'EXITED', exitstatus: 5 })];
    const client = fakeClient((method, params) => (method === 'supervisor.getState' ? new Error('no state') : serving(() => procs)(method, params)), false);
    const t = start(client);
    const send = pool('nomc');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    assert.deepEqual(client.calls, ['supervisor.getAllProcessInfo()', 'supervisor.getState()', 'supervisor.getSupervisorVersion()']);
    t.input.write(Buffer.concat([transition(send, 'a', 'RUNNING', 'EXITED', ' expected:0 pid:9'), transition(send, 'b', 'RUNNING', 'EXITED', ' expected:0 pid:9')]));
    await waitUntil('two exit statuses', () => t.lines.filter((l) => l['event'] === 'exit_status').length === 2);
    assert.deepEqual(t.lines.filter((l) => l['event'] === 'exit_status').map((l) => [l['name'], l['exitstatus']]), [['a', 4], ['b', 5]]);
    assert.deepEqual(client.calls.slice(3), ['supervisor.getProcessInfo(a:a)', 'supervisor.getProcessInfo(b:b)']);
    assert.deepEqual(t.alerts.map((a) => [a.name, a.exitstatus]), [['a', 4], ['b', 5]]);
    assert.equal(t.out(), 'READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n');
    t.input.end();
    await t.listener.done;
  });

  it('the marker goes in the listing\'s multicall; events lost start a snapshot at once, the next waits for the pending one, drift is not counted', async () => {
    let procs = [makeProcess({ name: 'a', statename: 'RUNNING', pid: 7, start: 1000 })];
    const client = fakeClient(serving(() => procs), true);
    const t = start(client);
    const send = pool('lost');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    assert.deepEqual(client.calls, ['multicall[supervisor.sendRemoteCommEvent,supervisor.getAllProcessInfo,supervisor.getState,supervisor.getSupervisorVersion]']);
    t.input.write(markerOf(send, client.tokens[0]!));
    await waitUntil('the seed applied at its marker', () => t.listener.state.pending === 'none');
    assert.equal(t.listener.state.markers, 'yes');
    // supervisord restarted a and discarded the events; 5 events lost before the next one.
    procs = [makeProcess({ name: 'a', statename: 'RUNNING', pid: 8, start: 2000 })];
    t.input.write(send('TICK_5', 'when:1', 5));
    await waitUntil('a snapshot', () => client.calls.length === 2);
    assert.match(t.logs.find((l) => l.startsWith('supervisord discarded')) ?? '', /^supervisord discarded 5 event\(s\) of pool lost \(its buffer_size is too small/u);
    // Another gap while that one waits for its marker: one more snapshot after it, not now.
    t.input.write(send('TICK_5', 'when:2', 2));
    await sleep(50);
    assert.equal(client.calls.length, 2);
    t.input.write(markerOf(send, client.tokens[1]!));
    await waitUntil('the one that waited', () => client.calls.length === 3);
    const line = t.logs.find((l) => l.startsWith('after 7 lost event(s)'));
    assert.equal(line, "after 7 lost event(s), supervisord's list corrected 1 process(es), counted 1 restart(s) and 0 exit(s) they hid: a:a: RUNNING with pid 8 in supervisord, pid 7 from the events");
    const r = t.listener.state.result();
    assert.equal(r.metrics.find((m) => m.name === 'supervisord.listener.events_lost')?.value, 7);
    assert.equal(r.metrics.find((m) => m.name === 'supervisord.listener.drift')?.value, 0);
    assert.equal(r.metrics.find((m) => m.name === 'supervisord.process.restarts')?.value, 1);
    assert.deepEqual(t.lines.filter((l) => l['event'] === 'events_lost').map((l) => [l['count'], l['next_poolserial']]), [[5, 6], [2, 9]]);
    assert.equal(t.lines.find((l) => l['event'] === 'resync')?.['restarts_inferred'], 1);
    t.listener.stop();
    await t.listener.done;
  });

  it('a listing that is not one: can_connect CRITICAL with the reason; the end of input inside an event is said', async () => {
    const client = fakeClient((method) => (method === 'supervisor.getAllProcessInfo' ? 'nonsense' : '4.2.5'), true);
    const t = start(client);
    await waitUntil('the failure', () => t.logs.some((l) => l.startsWith('collection (seed) failed')));
    assert.equal(t.logs[0], 'collection (seed) failed: An error occurred while reading process information: expected an array of process structs, got a string');
    assert.equal(t.listener.state.result().serviceChecks[0]?.status, 2);
    assert.equal(t.listener.state.pending, 'none');
    t.input.write(Buffer.from('ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:9\nwhen'));
    t.input.end();
    await t.listener.done;
    assert.match(t.logs.at(-1)!, /^the input ended inside an event: TICK_5 \(serial 1\) ended at EOF after 4 of 9 payload characters/u);
  });
});

describe('listener loop: how runs ended', () => {
  it('a new start cancels the read (supervisord has forgotten the status): the alert says unknown, no getProcessInfo', async () => {
    const procs = [makeProcess({ name: 'crash', statename: 'RUNNING', pid: 3 })];
    const client = fakeClient(serving(() => procs), true);
    const t = start(client);
    const send = pool('cancel');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(transition(send, 'crash', 'RUNNING', 'EXITED', ' expected:0 pid:3'));
    t.input.write(transition(send, 'crash', 'EXITED', 'STARTING', ' tries:0'));
    await waitUntil('the alert', () => t.alerts.length === 1);
    assert.deepEqual(t.alerts[0], { name: 'crash', group: 'crash', from: 'RUNNING', to: 'EXITED', exitstatus: undefined, spawnerr: '' });
    assert.equal(count(client.calls, 'getProcessInfo'), 0);
    t.listener.stop();
    await t.listener.done;
  });

  it('many ends: read in multicalls of at most END_BATCH, one at a time, each process once (its last end)', async () => {
    const names = Array.from({ length: 250 }, (_, i) => `p${i}`);
    const procs = names.map((name) => makeProcess({ name, statename: 'STOPPED', start: 10, stop: 20, exitstatus: 0 }));
    let inFlight = 0;
    let most = 0;
    const client = fakeClient(serving(() => procs), true);
    const multicall = client.multicall!;
    client.multicall = async (list) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(5);
      try {
        return await multicall(list);
      } finally {
        inFlight--;
      }
    };
    const t = start(client);
    const send = pool('batch');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    const stops = names.flatMap((name) => [transition(send, name, 'RUNNING', 'STOPPING', ' pid:5'), transition(send, name, 'STOPPING', 'STOPPED', ' pid:5')]);
    t.input.write(Buffer.concat(stops));
    await waitUntil('250 exit statuses', () => t.lines.filter((l) => l['event'] === 'exit_status').length === 250, 10_000);
    const reads = client.calls.filter((c) => c.includes('getProcessInfo'));
    assert.equal(reads.length, 3);
    for (const r of reads) assert.ok(r.split('supervisor.getProcessInfo').length - 1 <= END_BATCH, r);
    assert.equal(most, 1);
    t.listener.stop();
    await t.listener.done;
  });

  it('BACKOFF from STARTING: an exit when supervisord says it exited too quickly (counted, status unknown), a failed spawn otherwise (not counted)', async () => {
    let procs = [makeProcess({ name: 'quick', statename: 'STOPPED' }), makeProcess({ name: 'nocmd', statename: 'STOPPED' })];
    const client = fakeClient(serving(() => procs), true);
    const t = start(client);
    const send = pool('backoff');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    procs = [
      makeProcess({ name: 'quick', statename: 'BACKOFF', start: 10, stop: 11, spawnerr: EXITED_TOO_QUICKLY }),
      makeProcess({ name: 'nocmd', statename: 'BACKOFF', start: 10, stop: 0, spawnerr: "can't find command '/nope'" }),
    ];
    for (const name of ['quick', 'nocmd']) {
      t.input.write(transition(send, name, 'STOPPED', 'STARTING', ' tries:0'));
      t.input.write(transition(send, name, 'STARTING', 'BACKOFF', ' tries:1'));
    }
    await waitUntil('two alerts', () => t.alerts.length === 2);
    assert.deepEqual(t.alerts.map((a) => [a.name, a.to, a.exitstatus, a.spawnerr]), [
      ['quick', 'BACKOFF', undefined, EXITED_TOO_QUICKLY],
      ['nocmd', 'BACKOFF', undefined, "can't find command '/nope'"],
    ]);
    const r = t.listener.state.result();
    const exits = (name: string): number | undefined => r.metrics.find((m) => m.name === 'supervisord.process.exits' && m.tags.includes(`supervisord_process:${name}`) && m.tags.includes('expected:false'))?.value;
    assert.equal(exits('quick'), 1);
    assert.equal(exits('nocmd'), 0);
    assert.equal(r.metrics.some((m) => m.name === 'supervisord.process.exit_status'), false);
    assert.deepEqual(t.lines.filter((l) => l['event'] === 'spawn_failure').map((l) => l['name']), ['nocmd']);
    t.listener.stop();
    await t.listener.done;
  });

  it('an exit-status source is asked first (what it tells wins, no read); what it cannot tell is read; FATAL waits for the last exit', async () => {
    const procs = [makeProcess({ name: 'quick', statename: 'FATAL', start: 10, stop: 11, spawnerr: EXITED_TOO_QUICKLY }), makeProcess({ name: 'done', statename: 'EXITED', exitstatus: 7 })];
    const client = fakeClient(serving(() => procs), true);
    const asked: ExitQuery[][] = [];
    const source: ExitStatusSource = {
      exitStatuses: async (queries) => {
        asked.push([...queries]);
        return queries.map((q) => (q.name === 'quick' ? { exitstatus: 3 } : undefined));
      },
    };
    const t = start(client, { exitSource: source });
    const send = pool('source');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(transition(send, 'quick', 'STOPPED', 'STARTING', ' tries:0'));
    t.input.write(transition(send, 'quick', 'STARTING', 'BACKOFF', ' tries:1'));
    t.input.write(transition(send, 'quick', 'BACKOFF', 'FATAL'));
    t.input.write(transition(send, 'done', 'RUNNING', 'EXITED', ' expected:0 pid:4'));
    await waitUntil('three alerts', () => t.alerts.length === 3);
    assert.deepEqual(t.alerts.map((a) => [a.name, a.to, a.exitstatus]), [['quick', 'BACKOFF', 3], ['quick', 'FATAL', 3], ['done', 'EXITED', 7]]);
    assert.deepEqual(asked.flat().map((q) => [q.name, q.kind]), [['quick', 'backoff'], ['done', 'exited']]);
    assert.equal(asked[0]![0]!.pid, undefined);
    assert.equal(asked[0]![1]!.pid, 4);
    assert.deepEqual(client.calls.filter((c) => c.includes('getProcessInfo')), ['supervisor.getProcessInfo(done:done)']);
    const gauge = t.listener.state.result().metrics.find((m) => m.name === 'supervisord.process.exit_status' && m.tags.includes('supervisord_process:quick'));
    assert.equal(gauge?.value, 3);
    t.listener.stop();
    await t.listener.done;
  });

  it('a read that fails is said once, its recovery too; a source that rejects counts as no answer', async () => {
    let fail = true;
    const procs = ['a', 'b'].map((name) => makeProcess({ name, statename: 'EXITED', exitstatus: 1 }));
    const client = fakeClient((method, params) => (method === 'supervisor.getProcessInfo' && fail ? new Error('connection reset') : serving(() => procs)(method, params)), true);
    const t = start(client, { exitSource: { exitStatuses: () => Promise.reject(new Error('log unreadable')) } });
    const send = pool('fails');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(transition(send, 'a', 'RUNNING', 'EXITED', ' expected:0 pid:9'));
    t.input.write(transition(send, 'b', 'RUNNING', 'EXITED', ' expected:0 pid:9'));
    await waitUntil('the failure said', () => t.logs.includes('cannot read an exit status: connection reset'));
    await waitUntil('the alerts', () => t.alerts.length === 2);
    assert.deepEqual(t.alerts.map((a) => a.exitstatus), [undefined, undefined]);
    fail = false;
    t.input.write(transition(send, 'a', 'EXITED', 'STARTING', ' tries:0'));
    t.input.write(transition(send, 'a', 'STARTING', 'RUNNING', ' pid:10'));
    t.input.write(transition(send, 'a', 'RUNNING', 'EXITED', ' expected:0 pid:10'));
    await waitUntil('the recovery said', () => t.logs.includes('exit statuses can be read again'));
    assert.equal(t.logs.filter((l) => l.startsWith('cannot read')).length, 1);
    t.listener.stop();
    await t.listener.done;
  });
});

describe('listener loop: an exit-status source placed by the listings\' markers', () => {
  /** A source that records the hooks the listener calls, and answers its asks with `answer`. */
  function recordingSource(answer: (q: ExitQuery) => ExitAnswer = () => undefined): ExitStatusSource & { hooks: string[]; seenNames: string[] } {
    const hooks: string[] = [];
    const seenNames: string[] = [];
    return {
      hooks,
      seenNames,
      seen: (name, group) => seenNames.push(`${group}:${name}`),
      exitStatuses: async (queries) => {
        hooks.push(`ask ${queries.map((q) => `${q.id}:${q.name}`).join(',')}`);
        return queries.map(answer);
      },
      snapshotCalls: () => {
        hooks.push('calls');
        return [{ methodName: 'supervisor.readLog', params: [-64, 0] }];
      },
      snapshotAnswered: async (answers, processes) => {
        hooks.push(`answered ${JSON.stringify(answers)} ${processes === undefined ? '-' : processes.map((p) => p.name).join(',')}`);
      },
      snapshotPlaced: (marker) => hooks.push(`placed ${JSON.stringify(marker)}`),
      breakAfter: (end, seq) => hooks.push(`break ${end} ${seq}`),
    };
  }

  /** Holds the client's multicalls until the returned function is called. */
  function hold(client: Fake): () => void {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const multicall = client.multicall!;
    client.multicall = async (list) => {
      await gate;
      return multicall(list);
    };
    return open;
  }

  it('its calls ride in the listing\'s multicall after the marker\'s; the answers reach it before the listing is applied; ends wait for the marker that places them', async () => {
    const procs = [makeProcess({ name: 'a', statename: 'STARTING' })];
    const client = fakeClient((method, params) => (method === 'supervisor.readLog' ? 'the log' : serving(() => procs)(method, params)), true);
    const open = hold(client);
    const source = recordingSource();
    const t = start(client, { exitSource: source });
    const send = pool('placed');
    await waitUntil('the seed asked', () => client.tokens.length === 0 && source.hooks.includes('calls'));
    // The end arrives while the listing is under way: its read waits (at most END_MAX_WAIT_MS).
    t.input.write(transition(send, 'a', 'STARTING', 'BACKOFF', ' tries:1'));
    await sleep(400);
    assert.deepEqual(source.hooks, ['calls']);
    open();
    await waitUntil('the answers', () => source.hooks.length === 2);
    assert.deepEqual(client.calls, ['multicall[supervisor.sendRemoteCommEvent,supervisor.getAllProcessInfo,supervisor.getState,supervisor.getSupervisorVersion,supervisor.readLog]']);
    assert.equal(source.hooks[1], 'answered ["the log"] a');
    await sleep(200);
    assert.equal(source.hooks.length, 2, 'no ask before the marker');
    t.input.write(markerOf(send, client.tokens[0]!));
    await waitUntil('the ask', () => source.hooks.some((h) => h.startsWith('ask')));
    assert.deepEqual(source.hooks.slice(2), ['placed {"seq":2,"end":1}', 'ask 1:a']);
    assert.deepEqual(source.seenNames, ['a:a']);
    // Lost events and a group added are breaks, after the last end and at their event.
    t.input.write(transition(send, 'a', 'BACKOFF', 'STARTING', ' tries:1'));
    t.input.write(send('PROCESS_STATE_BACKOFF', 'processname:a groupname:a from_state:STARTING tries:2', 3));
    await waitUntil('the break', () => source.hooks.some((h) => h.startsWith('break')));
    assert.equal(source.hooks.find((h) => h.startsWith('break')), 'break 1 4');
    t.input.write(send('PROCESS_GROUP_ADDED', 'groupname:new\n'));
    await waitUntil('the second break', () => source.hooks.filter((h) => h.startsWith('break')).length === 2);
    assert.equal(source.hooks.filter((h) => h.startsWith('break'))[1], 'break 2 5');
    t.listener.stop();
    await t.listener.done;
  });

  it('no calls without a marker (no multicall), the listing\'s processes all the same; a listing whose multicall fails gives it no answers', async () => {
    const plain = fakeClient(serving(() => [makeProcess({ name: 'p', group: 'g' })]), false);
    const quiet = recordingSource();
    const t1 = start(plain, { exitSource: quiet });
    await waitUntil('the seed', () => t1.logs.some((l) => l.startsWith('seeded')));
    assert.deepEqual(quiet.hooks, ['answered undefined p']);
    t1.listener.stop();
    await t1.listener.done;

    let fail = true;
    const client = fakeClient(serving(() => []), true);
    const multicall = client.multicall!;
    client.multicall = async (list) => {
      if (fail) throw new Error('connection reset');
      return multicall(list);
    };
    const source = recordingSource();
    const t = start(client, { instance: {}, exitSource: source });
    await waitUntil('the failure', () => t.logs.some((l) => l.startsWith('collection (seed) failed')));
    assert.deepEqual(source.hooks, ['calls', 'answered undefined -']);
    fail = false;
    t.listener.stop();
    await t.listener.done;
  });

  it('stopped while the listing is under way: the source still gets its answers (a batch waiting for its reader is not left hanging)', async () => {
    const client = fakeClient((method, params) => (method === 'supervisor.readLog' ? '' : serving(() => [])(method, params)), true);
    const open = hold(client);
    const source = recordingSource();
    const t = start(client, { exitSource: source });
    await waitUntil('the seed asked', () => source.hooks.includes('calls'));
    t.listener.stop();
    open();
    await t.listener.done;
    assert.deepEqual(source.hooks, ['calls', 'answered [""] ']);
  });

  it('a signal death the source names: the alert, the JSON line and exit_signal carry it', async () => {
    const client = fakeClient(serving(() => [makeProcess({ name: 'web', statename: 'RUNNING', pid: 5 })]), true);
    const source = recordingSource((q) => (q.name === 'web' ? { exitstatus: -1, signal: 'SIGKILL' } : undefined));
    const t = start(client, { exitSource: source });
    const send = pool('signal');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(markerOf(send, client.tokens[0]!));
    t.input.write(transition(send, 'web', 'RUNNING', 'EXITED', ' expected:0 pid:5'));
    t.input.write(transition(send, 'web', 'EXITED', 'FATAL'));
    await waitUntil('the alerts', () => t.alerts.length === 2);
    assert.deepEqual(t.alerts.map((a) => [a.to, a.exitstatus, a.signal]), [['EXITED', -1, 'SIGKILL'], ['FATAL', -1, 'SIGKILL']]);
    assert.deepEqual(t.lines.filter((l) => l['event'] === 'exit_status').map((l) => [l['exitstatus'], l['signal']]), [[-1, 'SIGKILL']]);
    const metrics = t.listener.state.result().metrics.filter((m) => m.tags.includes('supervisord_process:web') && m.name.startsWith('supervisord.process.exit'));
    assert.deepEqual(metrics.map((m) => [m.name, m.value]).filter(([n]) => n !== 'supervisord.process.exits'), [['supervisord.process.exit_status', -1], ['supervisord.process.exit_signal', 9]]);
    t.listener.stop();
    await t.listener.done;
  });
});

describe('listener loop: without markers, and what is said', () => {
  it('a pool without REMOTE_COMMUNICATION: the listing is compared once the input is quiet, drift is named, markers stop', async () => {
    let procs = [makeProcess({ name: 'a', statename: 'RUNNING', pid: 7 })];
    const client = fakeClient(serving(() => procs), true);
    const t = start(client);
    const send = pool('nomarker');
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    procs = [makeProcess({ name: 'a', statename: 'FATAL' }), makeProcess({ name: 'b', statename: 'STOPPED' })];
    // No event says why a is FATAL: drift once the input has been quiet; b belongs to the group announced.
    t.input.write(send('PROCESS_GROUP_ADDED', 'groupname:b\n'));
    await waitUntil('the drift', () => t.logs.some((l) => l.startsWith('drift')), 15_000);
    assert.ok(t.logs.includes('drift found by the listing after a new group: a:a: FATAL in supervisord, RUNNING from the events'), t.logs.join('\n'));
    assert.equal(t.logs.filter((l) => l.startsWith('drift')).length, 1);
    assert.match(t.logs.find((l) => l.startsWith('the marker')) ?? '', /^the marker sent with the first listing did not come back: this listener's events= lacks REMOTE_COMMUNICATION/u);
    assert.equal(t.listener.state.markers, 'no');
    assert.deepEqual(client.calls.slice(-1), ['multicall[supervisor.getAllProcessInfo,supervisor.getState,supervisor.getSupervisorVersion]']);
    assert.equal(t.listener.state.result().metrics.find((m) => m.name === 'supervisord.listener.drift')?.value, 1);
    t.listener.stop();
    await t.listener.done;
  });

  it('a FATAL after its exit was settled alerts at once; a JSON line that cannot be written is said; a read answer that is no struct is said', async () => {
    let procs = [makeProcess({ name: 'q', statename: 'STOPPED' })];
    const client = fakeClient((method, params) => (method === 'supervisor.getProcessInfo' ? 'garbage' : serving(() => procs)(method, params)), true);
    const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock' });
    const input = new PassThrough();
    const logs: string[] = [];
    const alerts: ListenerAlert[] = [];
    const listener = new EventListener({
      state: new ListenerState(config),
      client,
      input,
      output: new PassThrough(),
      log: (l) => logs.push(l),
      jsonl: () => {
        throw new Error('disk full');
      },
      onAlert: (a) => alerts.push(a),
    });
    listener.start();
    const send = pool('fatal');
    await waitUntil('the seed', () => logs.some((l) => l.startsWith('seeded')));
    procs = [makeProcess({ name: 'q', statename: 'BACKOFF' })];
    input.write(transition(send, 'q', 'STOPPED', 'STARTING', ' tries:0'));
    input.write(transition(send, 'q', 'STARTING', 'BACKOFF', ' tries:1'));
    await waitUntil('the BACKOFF alert', () => alerts.length === 1);
    input.write(transition(send, 'q', 'BACKOFF', 'FATAL'));
    await waitUntil('the FATAL alert', () => alerts.length === 2);
    assert.deepEqual(alerts.map((a) => [a.to, a.exitstatus]), [['BACKOFF', undefined], ['FATAL', undefined]]);
    assert.ok(logs.includes('cannot write a JSON line: disk full'));
    assert.ok(logs.includes('cannot read an exit status: not a process struct'));
    listener.stop();
    await listener.done;
  });

  it('reads whose multicall fails are said; names that cannot be judged by the deadline are said, and no process is listed', { timeout: 60_000 }, async () => {
    const slow = '1'.repeat(100_000) + 'x';
    const procs = [makeProcess({ name: 'a', statename: 'EXITED' }), makeProcess({ name: 'b', statename: 'EXITED' }), makeProcess({ name: slow, statename: 'FATAL' })];
    const client = fakeClient(serving(() => procs), true);
    const multicall = client.multicall!;
    client.multicall = async (list) => {
      if (list[0]?.methodName === 'supervisor.getProcessInfo') throw new Error('socket hang up');
      return multicall(list);
    };
    const t = start(client, { instance: { proc_regex: ['\\d+$'], timeout: 1 } });
    const send = pool('mcfail');
    await waitUntil('the judging failure', () => t.logs.some((l) => l.startsWith('cannot filter process names')), 20_000);
    assert.match(t.logs.find((l) => l.startsWith('cannot filter')) ?? '', /^cannot filter process names: matching \d+ process name\(s\) against '\\\\d\+\$' did not finish by the run's deadline$/u);
    const r = t.listener.state.result();
    assert.match(r.errors[0] ?? '', /^An error occurred while filtering process names: /u);
    assert.deepEqual(r.processes ?? [], []);
    t.input.write(Buffer.concat([transition(send, 'a', 'RUNNING', 'EXITED', ' expected:0 pid:1'), transition(send, 'b', 'RUNNING', 'EXITED', ' expected:0 pid:2')]));
    await waitUntil('the failure said', () => t.logs.includes('cannot read an exit status: socket hang up'));
    t.listener.stop();
    await t.listener.done;
  });
});

describe('listener loop: input and outputs', () => {
  it('an envelope whose len is unreadable: answered once, when the input goes quiet, a header-like payload included; the next one is read', async () => {
    const client = fakeClient(serving(() => []), true);
    const t = start(client);
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(Buffer.from('ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:x\n'));
    await sleep(50);
    t.input.write(envelope('PROCESS_STATE_FATAL', 'processname:web groupname:web from_state:BACKOFF', { pool: 'q', poolserial: 0 }));
    await sleep(50);
    assert.equal(t.out(), 'READY\n');
    await waitUntil('the answer', () => t.out().includes('RESULT'));
    assert.equal(t.out(), 'READY\nRESULT 2\nOKREADY\n');
    await waitUntil('the log line', () => t.logs.some((l) => l.startsWith('malformed')));
    assert.match(t.logs.find((l) => l.startsWith('malformed')) ?? '', /len "x" is not a decimal integer in the header at byte 0 \(\d+ more bytes discarded until the input went quiet\)$/u);
    assert.equal(t.listener.state.size, 0);
    assert.match(t.listener.state.result().serviceChecks[0]?.message ?? '', /^events arrive from supervisord but cannot be read \(1 in a row/u);
    t.input.write(envelope('TICK_5', 'when:1', { pool: 'q', poolserial: 1 }));
    await waitUntil('the next answer', () => t.out().split('RESULT').length === 3);
    assert.equal(t.listener.state.result().serviceChecks[0]?.status, 0);
    t.listener.stop();
    await t.listener.done;
  });

  it('with patterns, names are judged on the worker before their processes appear', async () => {
    const procs = [makeProcess({ name: 'web', statename: 'RUNNING' }), makeProcess({ name: 'db', statename: 'RUNNING' })];
    const client = fakeClient(serving(() => procs), true);
    const t = start(client, { instance: { proc_regex: ['^w'] } });
    await waitUntil('web judged', () => (t.listener.state.result().processes ?? []).length === 1);
    assert.deepEqual(t.listener.state.result().processes?.map((p) => p.name), ['web']);
    t.listener.stop();
    await t.listener.done;
  });

  it('an output that fails ends the listener, saying why', async () => {
    const client = fakeClient(() => [], true);
    const t = start(client);
    t.output.emit('error', new Error('EPIPE: broken pipe'));
    await t.listener.done;
    assert.ok(t.logs.includes('cannot answer supervisord: EPIPE: broken pipe'));
    t.input.write(envelope('TICK_5', 'when:1'));
    assert.equal(t.out(), 'READY\n');
  });
});
