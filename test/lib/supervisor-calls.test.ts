/**
 * Typed supervisord calls over the protocol client, against the emulator
 * (answers byte for byte as supervisord 4.2.5) and against servers that
 * answer something else; and the types of an instance, checked by the
 * compiler (a `@ts-expect-error` that no longer errs fails the build).
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { XmlRpcFault } from '../../protocol/errors.js';
import { checkAll, CheckGroup, SupervisordCheck } from '../../lib/index.js';
import type { InstanceConfig, ProcessInfo } from '../../lib/index.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import {
  getAllProcessInfo,
  getProcessInfo,
  getState,
  getSupervisorVersion,
  isProcessInfo,
  UnexpectedAnswerError,
} from '../../lib/supervisor-calls.js';
import type { SupervisorCaller } from '../../lib/supervisor-calls.js';

describe('typed supervisord calls', () => {
  let emulator: SupervisordEmulator;
  let client: XmlRpcClient;
  before(async () => {
    emulator = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: [makeProcess({ name: 'front', group: 'web' }), makeProcess({ name: 'worker', statename: 'FATAL' })],
    });
    client = new XmlRpcClient(emulator.url);
  });
  after(async () => {
    await client.close();
    await emulator.close();
  });

  it('give typed values, without a cast', async () => {
    const all: ProcessInfo[] = await getAllProcessInfo(client);
    assert.deepEqual(all.map((p) => `${p.group}:${p.name} ${p.statename}`), ['web:front RUNNING', 'worker:worker FATAL']);
    const front: ProcessInfo = await getProcessInfo(client, 'web:front');
    assert.equal(front.pid > 0, true);
    assert.deepEqual(await getState(client), { statecode: 1, statename: 'RUNNING' });
    assert.equal(await getSupervisorVersion(client), '4.2.5');
    await assert.rejects(getProcessInfo(client, 'front'), (error: unknown) => error instanceof XmlRpcFault && error.faultString === 'BAD_NAME: front');
  });

  it('isProcessInfo narrows a multicall item', async () => {
    const [info, version] = await client.multicall([
      { methodName: 'supervisor.getProcessInfo', params: ['web:front'] },
      { methodName: 'supervisor.getSupervisorVersion' },
    ]);
    assert.equal(isProcessInfo(info), true);
    if (isProcessInfo(info)) assert.equal(info.name, 'front');
    assert.equal(isProcessInfo(version), false);
  });

  it('isProcessInfo wants every member with its type', () => {
    const p = makeProcess({ name: 'a' });
    assert.equal(isProcessInfo(p), true);
    for (const member of Object.keys(p)) {
      const { [member]: _dropped, ...rest } = p as unknown as Record<string, unknown>;
      assert.equal(isProcessInfo(rest), false, `without ${member}`);
      assert.equal(isProcessInfo({ ...p, [member]: typeof (p as unknown as Record<string, unknown>)[member] === 'string' ? 1 : '1' }), false, `${member} of the wrong type`);
    }
    for (const value of [null, 'a', [p], 1]) assert.equal(isProcessInfo(value), false);
  });

  it('refuse answers of another shape with UnexpectedAnswerError', async () => {
    const odd = (value: unknown): SupervisorCaller => ({ call: async () => value });
    const cases: Array<[Promise<unknown>, string]> = [
      [getAllProcessInfo(odd({})), 'supervisor.getAllProcessInfo answered expected an array of process structs, got a struct'],
      [getProcessInfo(odd('x'), 'a'), 'supervisor.getProcessInfo answered process 0 is a string, not a struct'],
      [getState(odd({ statecode: '1', statename: 'RUNNING' })), 'supervisor.getState answered something other than a struct with an integer statecode and a string statename'],
      [getState(odd(null)), 'supervisor.getState answered something other than a struct with an integer statecode and a string statename'],
      [getSupervisorVersion(odd(4)), 'supervisor.getSupervisorVersion answered something other than a string'],
    ];
    for (const [promise, message] of cases) {
      await assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof UnexpectedAnswerError);
        assert.equal(error.code, 'ERR_UNEXPECTED_ANSWER');
        assert.equal(error.name, 'UnexpectedAnswerError');
        assert.equal(error.message, message);
        return true;
      });
    }
  });
});

describe('InstanceConfig', () => {
  it('types the instance of SupervisordCheck, checkAll and CheckGroup (checked at compile time), and is still validated at run time', async () => {
    const good: InstanceConfig = { name: 'a', socket: 'unix:///nonexistent/s.sock', port: '9001', timeout: 2, proc_names: ['x'], status_mapping_override: { STOPPED: 'up' } };
    const compileTimeOnly = (): void => {
      // @ts-expect-error a misspelt key (regression: the instance was `unknown`)
      new SupervisordCheck({ name: 'a', proc_regexx: ['^web'] });
      // @ts-expect-error a port that is not a number
      new SupervisordCheck({ name: 'a', port: 'abc' });
      // @ts-expect-error the name is required
      new SupervisordCheck({ host: 'h' });
      // @ts-expect-error a status that does not exist
      void checkAll([{ name: 'a', status_mapping_override: { STOPPED: 'ok' } }]);
      // @ts-expect-error a filter must be a list
      new CheckGroup([{ name: 'a', proc_names: 'web' }]);
    };
    void compileTimeOnly;
    const [entry] = await checkAll([good, { ...good, name: 'b' }]);
    assert.equal(entry!.name, 'a');
    assert.throws(() => new SupervisordCheck(JSON.parse('{"name": "a", "port": "abc"}') as InstanceConfig), /'port' should be an integer from 1 to 65535, got 'abc'/);
  });
});
