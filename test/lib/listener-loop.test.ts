/**
 * The listener loop (lib/listener/listener.ts) with a fake XML-RPC client,
 * for the failures a real supervisord will not produce on demand: a server
 * without multicall, exit statuses of several processes in one multicall,
 * a failing exit-status call (said once, then its recovery), a malformed
 * listing, an output that breaks; and the order answer-then-side-effects.
 */

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import { XmlRpcFault } from '../../protocol/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess } from '../../lib/emulator/index.js';
import { EventListener } from '../../lib/listener/listener.js';
import { ListenerState } from '../../lib/listener/state.js';
import type { CheckClient } from '../../lib/types.js';
import { envelope } from '../helpers/listener-envelope.js';
import { waitUntil } from '../helpers/launched-processes.js';

interface Fake extends CheckClient {
  calls: string[];
}

function fakeClient(answer: (method: string, params: readonly unknown[]) => unknown, multicall: boolean): Fake {
  const calls: string[] = [];
  const call = async (method: string, params: readonly unknown[] = []): Promise<unknown> => {
    calls.push(`${method}(${params.join(',')})`);
    const value = answer(method, params);
    if (value instanceof Error) throw value;
    return value;
  };
  const client: Fake = { calls, call, close: async () => {} };
  if (multicall) {
    client.multicall = async (list) => {
      calls.push(`multicall[${list.map((c) => c.methodName).join(',')}]`);
      return list.map((c) => {
        const value = answer(c.methodName, c.params ?? []);
        return value;
      });
    };
  }
  return client;
}

function start(client: CheckClient): { listener: EventListener; input: PassThrough; output: PassThrough; out: () => string; logs: string[]; lines: Record<string, unknown>[] } {
  const { config } = resolveConfig({ name: 'sv', socket: 'unix:///tmp/sv.sock' });
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  const logs: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const listener = new EventListener({ state: new ListenerState(config), client, input, output, log: (l) => logs.push(l), jsonl: (r) => lines.push(r) });
  listener.start();
  return { listener, input, output, out: () => Buffer.concat(chunks).toString('utf8'), logs, lines };
}

const exited = (name: string): Buffer => envelope('PROCESS_STATE_EXITED', `processname:${name} groupname:${name} from_state:RUNNING expected:0 pid:9`);

describe('listener loop', () => {
  it('without multicall: three separate calls to seed; one getProcessInfo per exit, in order', async () => {
    const procs = [makeProcess({ name: 'a', statename: 'EXITED', exitstatus: 4 }), makeProcess({ name: 'b', statename: 'EXITED', exitstatus: 5 })];
    const client = fakeClient((method, params) => {
      if (method === 'supervisor.getAllProcessInfo') return procs;
      if (method === 'supervisor.getState') return new Error('no state');
      if (method === 'supervisor.getSupervisorVersion') return '4.2.5';
      return procs.find((p) => `${p.group}:${p.name}` === params[0]);
    }, false);
    const t = start(client);
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    assert.deepEqual(client.calls, ['supervisor.getAllProcessInfo()', 'supervisor.getState()', 'supervisor.getSupervisorVersion()']);
    t.input.write(Buffer.concat([exited('a'), exited('b')]));
    await waitUntil('two exit statuses', () => t.lines.filter((l) => l['event'] === 'exit_status').length === 2);
    assert.deepEqual(t.lines.filter((l) => l['event'] === 'exit_status').map((l) => [l['name'], l['exitstatus']]), [['a', 4], ['b', 5]]);
    assert.equal(t.out(), 'READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n');
    t.input.end();
    await t.listener.done;
  });

  it('with multicall: exits that wait for the call in flight go in one multicall; a failure is said once, its recovery too', async () => {
    let fail = true;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const procs = ['a', 'b', 'c'].map((name) => makeProcess({ name, statename: 'EXITED', exitstatus: 1 }));
    const client = fakeClient((method, params) => {
      if (method === 'supervisor.getAllProcessInfo') return procs;
      if (method === 'supervisor.getState') return { statename: 'RUNNING', statecode: 1 };
      if (method === 'supervisor.getSupervisorVersion') return '4.2.5';
      if (params[0] === 'gone:gone') return new XmlRpcFault(10, 'BAD_NAME: gone');
      return fail ? new Error('connection reset') : procs.find((p) => `${p.group}:${p.name}` === params[0]);
    }, true);
    const slowCall = client.call;
    let asked = false;
    client.call = async (method, params) => {
      if (method === 'supervisor.getProcessInfo') {
        asked = true;
        await gate;
      }
      return slowCall(method, params);
    };
    const t = start(client);
    await waitUntil('the seed', () => t.logs.some((l) => l.startsWith('seeded')));
    t.input.write(exited('a'));
    await waitUntil('the first fetch', () => asked);
    t.input.write(exited('b'));
    t.input.write(exited('c'));
    t.input.write(exited('gone'));
    await new Promise((r) => setImmediate(r));
    release();
    await waitUntil('the failure said', () => t.logs.includes('cannot read an exit status: connection reset'));
    assert.ok(client.calls.includes('multicall[supervisor.getProcessInfo,supervisor.getProcessInfo,supervisor.getProcessInfo]'), client.calls.join(' '));
    fail = false;
    t.input.write(exited('a'));
    await waitUntil('the recovery said', () => t.logs.includes('exit statuses can be read again'));
    assert.equal(t.logs.filter((l) => l.startsWith('cannot read')).length, 1);
    t.listener.stop();
    await t.listener.done;
  });

  it('a listing that is not one: can_connect CRITICAL with the reason; the end of input inside an event is said', async () => {
    const client = fakeClient((method) => (method === 'supervisor.getAllProcessInfo' ? 'nonsense' : '4.2.5'), true);
    const t = start(client);
    await waitUntil('the failure', () => t.logs.some((l) => l.startsWith('collection (seed) failed')));
    assert.equal(t.logs[0], 'collection (seed) failed: An error occurred while reading process information: expected an array of process structs, got a string');
    assert.equal(t.listener.state.result().serviceChecks[0]?.status, 2);
    t.input.write(Buffer.from('ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:9\nwhen'));
    t.input.end();
    await t.listener.done;
    assert.match(t.logs.at(-1)!, /^the input ended inside an event: TICK_5 \(serial 1\) ended at EOF after 4 of 9 payload characters/u);
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
