/**
 * The collector (lib/collect.ts) against a fake client that answers from a
 * process table, with and without `multicall`, and a clock the tests move:
 * which calls each run makes, what it hands to the submissions, the name map
 * (learning, BAD_NAME, refresh) and the multicall fallback and retry.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConnectError, HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import type { MulticallRequest } from '../../protocol/xmlrpc-client.js';
import { BAD_NAME_FAULT, Collector, MULTICALL_RETRY_MS, learnNames, selectiveNames } from '../../lib/collect.js';
import type { CollectClient } from '../../lib/types.js';
import { resolveConfig } from '../../lib/config.js';
import type { Collected } from '../../lib/submissions.js';

function config(instance: Record<string, unknown> = {}) {
  return resolveConfig({ name: 'n', ...instance }).config;
}

interface Proc {
  name: string;
  group: string;
}

/** A complete process struct (the separate-call path checks the list before asking the version). */
const p = (group: string, name: string): Proc =>
  ({
    name,
    group,
    start: 1700000000,
    stop: 0,
    now: 1700000100,
    state: 20,
    statename: 'RUNNING',
    spawnerr: '',
    exitstatus: 0,
    logfile: '/l',
    stdout_logfile: '/l',
    stderr_logfile: '/e',
    pid: 42,
    description: 'pid 42, uptime 0:01:40',
  }) as Proc;
const STATE = { statecode: 1, statename: 'RUNNING' };

/** Python's sort of (group, name) by code point, written independently of the module. */
function sorted(procs: readonly Proc[]): Proc[] {
  const key = (x: Proc): number[] => [...x.group, '\u0000', ...x.name].map((c) => c.codePointAt(0)!);
  return procs.slice().sort((a, b) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
}

/**
 * Answers like supervisord from `procs`. `requests` records each round trip:
 * `multicall(a, b(x), ...)` or the method name (with its argument).
 */
class FakeServer implements CollectClient {
  procs: Proc[];
  readonly requests: string[] = [];
  /** Forced failures by method name (also inside a multicall). */
  readonly faults = new Map<string, Error>();
  /** When set, the multicall request itself fails with this. */
  multicallError: Error | undefined;
  /** When set, replaces the multicall answer. */
  multicallAnswer: unknown;
  /** Applied to each getProcessInfo answer (to serve malformed structs). */
  rewrite: (struct: Proc) => unknown = (struct) => struct;
  declare multicall?: (calls: readonly MulticallRequest[]) => Promise<unknown>;

  constructor(procs: Proc[], withMulticall = true) {
    this.procs = procs;
    if (withMulticall) {
      this.multicall = async (calls) => {
        this.requests.push(`multicall(${calls.map((c) => callText(c.methodName, c.params ?? [])).join(', ')})`);
        if (this.multicallError !== undefined) throw this.multicallError;
        if (this.multicallAnswer !== undefined) return this.multicallAnswer;
        return calls.map((c) => {
          try {
            return this.#answer(c.methodName, c.params ?? []);
          } catch (error) {
            return error;
          }
        });
      };
    }
  }

  async call(method: string, params: readonly unknown[] = []): Promise<unknown> {
    this.requests.push(callText(method, params));
    return this.#answer(method, params);
  }

  #answer(method: string, params: readonly unknown[]): unknown {
    const forced = this.faults.get(method);
    if (forced !== undefined) throw forced;
    switch (method) {
      case 'supervisor.getAllProcessInfo':
        return sorted(this.procs).map((x) => ({ ...x }));
      case 'supervisor.getProcessInfo': {
        // As supervisord: a name without a colon is `name:name` (a program outside any [group:x]).
        const spec = String(params[0]);
        const qualified = spec.includes(':') ? spec : `${spec}:${spec}`;
        const found = this.procs.find((x) => `${x.group}:${x.name}` === qualified);
        if (found === undefined) throw new XmlRpcFault(BAD_NAME_FAULT, `BAD_NAME: ${spec}`);
        return this.rewrite({ ...found });
      }
      case 'supervisor.getSupervisorVersion':
        return '4.2.5';
      case 'supervisor.getState':
        return STATE;
      default:
        throw new XmlRpcFault(1, 'UNKNOWN_METHOD');
    }
  }
}

/** `getProcessInfo(web:front)`: a call as the tests list it. */
function callText(method: string, params: readonly unknown[]): string {
  const short = method.replace(/^supervisor\./, '');
  return params.length === 0 ? short : `${short}(${params.join(',')})`;
}

const ALL3 = 'multicall(getAllProcessInfo, getSupervisorVersion, getState)';

function manual(start = 1_700_000_000_000): { now: number; clock: () => number } {
  const c = { now: start, clock: () => c.now };
  return c;
}

function ok(value: unknown) {
  return { ok: true as const, value };
}

/** The listing part of a Collected, as plain values. */
function listing(collected: Collected): unknown {
  assert.equal(collected.processInfo.ok, true, String((collected.processInfo as { error?: unknown }).error));
  return (collected.processInfo as { value: unknown }).value;
}

const ZOO = [p('web', 'front'), p('web', 'back'), p('api', 'front'), p('sleeper', 'sleeper'), p('café', 'café'), p('idle', 'idle')];

// ---------------------------------------------------------------------------

describe('selectiveNames', () => {
  test('only with collection auto, no proc_regex and some proc_names; excludes removed, order kept, no repeat', () => {
    const cases: Array<[Record<string, unknown>, string[] | undefined]> = [
      [{}, undefined],
      [{ proc_names: [] }, undefined],
      [{ proc_names: ['a'], proc_regex: ['b'] }, undefined],
      [{ proc_names: ['a'], collection: 'full' }, undefined],
      [{ proc_regex: ['a'] }, undefined],
      [{ proc_names: ['b', 'a', 'b'] }, ['b', 'a']],
      [{ proc_names: ['a', 'b', 'c'], proc_names_exclude: ['b'] }, ['a', 'c']],
      [{ proc_names: ['web1', 'db1'], proc_regex_exclude: ['^w'] }, ['db1']],
      [{ proc_names: ['a'], proc_names_exclude: ['a'] }, []],
      [{ proc_names: ['a'], collection: 'auto' }, ['a']],
    ];
    for (const [instance, expected] of cases) assert.deepEqual(selectiveNames(config(instance)), expected, JSON.stringify(instance));
  });
});

describe('learnNames', () => {
  test('every group of each wanted name, in listing order; other items skipped', () => {
    const list = [p('api', 'front'), { name: 5, group: 'x' }, null, 'front', p('web', 'back'), p('web', 'front'), { name: 'front' }, p('x', 'other')];
    assert.deepEqual(
      [...learnNames(list, new Set(['front', 'back', 'missing']))],
      [
        ['front', ['api:front', 'web:front']],
        ['back', ['web:back']],
      ],
    );
  });
});

describe('Collector: full collection', () => {
  test('one multicall of the listing, the version and the state; nothing learnt', async () => {
    const server = new FakeServer(ZOO);
    const debug: string[] = [];
    const collector = new Collector(config(), { debug: (m) => debug.push(m) });
    for (let i = 0; i < 2; i++) {
      const collected = await collector.collect(server);
      assert.deepEqual(collected, { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
    }
    assert.deepEqual(server.requests, [ALL3, ALL3]);
    assert.equal(collector.names, undefined);
    assert.equal(collector.multicallRetryAt, undefined);
    assert.deepEqual(debug, ['collection: full listing', 'collection: full listing']);
  });

  test('collection: full with proc_names lists everything', async () => {
    const server = new FakeServer(ZOO);
    const collector = new Collector(config({ proc_names: ['front'], collection: 'full' }));
    await collector.collect(server);
    await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, ALL3]);
  });

  test('a failed request is the process outcome, nothing else', async () => {
    const server = new FakeServer(ZOO);
    const error = new ConnectError('connect ECONNREFUSED', 'x', 'ECONNREFUSED');
    server.multicallError = error;
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(collected, { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3]);
  });

  test('faults inside the multicall are failed outcomes in place', async () => {
    const server = new FakeServer(ZOO);
    const shutdown = new XmlRpcFault(6, 'SHUTDOWN_STATE');
    for (const m of ['supervisor.getAllProcessInfo', 'supervisor.getSupervisorVersion', 'supervisor.getState']) server.faults.set(m, shutdown);
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(collected, { processInfo: { ok: false, error: shutdown }, version: { ok: false, error: shutdown }, state: { ok: false, error: shutdown } });
  });
});

describe('Collector: selective collection', () => {
  test('first run lists and learns; later runs ask each qualified name, answers in listing order', async () => {
    const server = new FakeServer(ZOO);
    const clock = manual();
    const debug: string[] = [];
    const collector = new Collector(config({ proc_names: ['sleeper', 'front', 'missing', 'café'] }), { clock: clock.clock, debug: (m) => debug.push(m) });
    const first = await collector.collect(server);
    assert.deepEqual(listing(first), sorted(ZOO));
    assert.deepEqual(
      collector.names,
      new Map([
        ['front', ['api:front', 'web:front']],
        ['sleeper', ['sleeper:sleeper']],
        ['café', ['café:café']],
      ]),
    );
    clock.now += 15_000;
    const second = await collector.collect(server);
    assert.deepEqual(second, {
      processInfo: ok([p('api', 'front'), p('café', 'café'), p('sleeper', 'sleeper'), p('web', 'front')]),
      version: ok('4.2.5'),
      state: ok(STATE),
    });
    assert.deepEqual(server.requests, [
      ALL3,
      'multicall(getProcessInfo(sleeper:sleeper), getProcessInfo(api:front), getProcessInfo(web:front), getProcessInfo(café:café), getProcessInfo(missing), getSupervisorVersion, getState)',
    ]);
    assert.deepEqual(debug, [
      'collection: full listing to learn the groups of 4 names',
      'collection: 4 processes by name, 1 wanted name not seen yet',
    ]);
  });

  test('BAD_NAME: the same run lists everything and relearns', async () => {
    const server = new FakeServer(ZOO);
    const clock = manual();
    const debug: string[] = [];
    const collector = new Collector(config({ proc_names: ['front', 'back'] }), { clock: clock.clock, debug: (m) => debug.push(m) });
    await collector.collect(server);
    server.procs = ZOO.filter((x) => !(x.group === 'api' && x.name === 'front')).concat(p('new', 'back'));
    clock.now += 1000;
    const collected = await collector.collect(server);
    assert.deepEqual(collected, { processInfo: ok(sorted(server.procs)), version: ok('4.2.5'), state: ok(STATE) });
    assert.deepEqual(server.requests.slice(1), [
      'multicall(getProcessInfo(api:front), getProcessInfo(web:front), getProcessInfo(web:back), getSupervisorVersion, getState)',
      'getAllProcessInfo',
    ]);
    assert.deepEqual(collector.names, new Map([['back', ['new:back', 'web:back']], ['front', ['web:front']]]));
    assert.equal(debug[2], 'collection: a process name is gone (BAD_NAME): full listing to relearn the names');
    // and the next run uses the new map
    clock.now += 1000;
    await collector.collect(server);
    assert.equal(server.requests[3], 'multicall(getProcessInfo(web:front), getProcessInfo(new:back), getProcessInfo(web:back), getSupervisorVersion, getState)');
  });

  test('a failed relisting forgets the map: the next run lists again', async () => {
    const server = new FakeServer(ZOO);
    const collector = new Collector(config({ proc_names: ['front'] }), { clock: manual().clock });
    await collector.collect(server);
    server.procs = [p('web', 'front')];
    const lost = new ConnectError('connection reset', 'x');
    server.faults.set('supervisor.getAllProcessInfo', lost);
    const collected = await collector.collect(server);
    assert.deepEqual(collected.processInfo, { ok: false, error: lost });
    assert.equal(collector.names, undefined);
    server.faults.clear();
    await collector.collect(server);
    assert.equal(server.requests[3], ALL3);
    assert.deepEqual(collector.names, new Map([['front', ['web:front']]]));
  });

  test('another fault on a selected process is the run\'s (SHUTDOWN_STATE), and the map is kept', async () => {
    const server = new FakeServer(ZOO);
    const collector = new Collector(config({ proc_names: ['front', 'idle'] }), { clock: manual().clock });
    await collector.collect(server);
    const shutdown = new XmlRpcFault(6, 'SHUTDOWN_STATE');
    server.faults.set('supervisor.getProcessInfo', shutdown);
    const collected = await collector.collect(server);
    assert.deepEqual(collected.processInfo, { ok: false, error: shutdown });
    assert.notEqual(collector.names, undefined);
    assert.deepEqual(server.requests.slice(1), [
      'multicall(getProcessInfo(api:front), getProcessInfo(web:front), getProcessInfo(idle:idle), getSupervisorVersion, getState)',
    ]);
  });

  test('the map is refreshed by a full listing every name_refresh_interval, so a name in a new group appears', async () => {
    const server = new FakeServer([p('web', 'front')]);
    const clock = manual();
    const collector = new Collector(config({ proc_names: ['front', 'later'], name_refresh_interval: 60 }), { clock: clock.clock });
    await collector.collect(server);
    server.procs = [p('web', 'front'), p('api', 'front'), p('later', 'later')];
    clock.now += 59_999;
    // `later` is outside any group: asked as it is, found at once. `api:front` needs a listing.
    assert.deepEqual(listing(await collector.collect(server)), [p('later', 'later'), p('web', 'front')]);
    clock.now += 1;
    assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs));
    clock.now += 1;
    assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs));
    assert.deepEqual(server.requests, [
      ALL3,
      'multicall(getProcessInfo(web:front), getProcessInfo(later), getSupervisorVersion, getState)',
      ALL3,
      'multicall(getProcessInfo(api:front), getProcessInfo(web:front), getProcessInfo(later:later), getSupervisorVersion, getState)',
    ]);
  });

  test('a wanted program added outside any group is reported on the next run and then mapped', async () => {
    for (const withMulticall of [true, false]) {
      const server = new FakeServer([p('web', 'front')], withMulticall);
      const clock = manual();
      const collector = new Collector(config({ proc_names: ['front', 'ghost'] }), { clock: clock.clock });
      await collector.collect(server);
      clock.now += 1000;
      assert.deepEqual(listing(await collector.collect(server)), [p('web', 'front')]);
      server.procs = [p('web', 'front'), p('ghost', 'ghost')];
      clock.now += 1000;
      assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs), `multicall ${withMulticall}`);
      assert.deepEqual(collector.names?.get('ghost'), ['ghost:ghost']);
      clock.now += 1000;
      assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs));
      const asked = server.requests.slice(-4).join(' | ');
      assert.match(asked, /getProcessInfo\(ghost:ghost\)/, asked);
    }
  });

  test('a BAD_NAME for a name not seen yet is expected: no relisting; a probe stops separate calls only on other faults', async () => {
    const server = new FakeServer([p('web', 'front')], false);
    const collector = new Collector(config({ proc_names: ['ghost', 'front', 'other'] }), { clock: manual().clock });
    await collector.collect(server);
    const collected = await collector.collect(server);
    assert.deepEqual(listing(collected), [p('web', 'front')]);
    assert.deepEqual(server.requests.slice(-5), [
      'getProcessInfo(web:front)',
      'getProcessInfo(ghost)',
      'getProcessInfo(other)',
      'getSupervisorVersion',
      'getState',
    ]);
    const shutdown = new XmlRpcFault(6, 'SHUTDOWN_STATE');
    server.faults.set('supervisor.getProcessInfo', shutdown);
    assert.deepEqual((await collector.collect(server)).processInfo, { ok: false, error: shutdown });
  });

  test('name_refresh_interval 0: a full listing every run', async () => {
    const server = new FakeServer(ZOO);
    const collector = new Collector(config({ proc_names: ['front'], name_refresh_interval: 0 }), { clock: manual().clock });
    await collector.collect(server);
    await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, ALL3]);
  });

  test('every wanted name excluded, or none on the server: only version and state after learning', async () => {
    for (const instance of [{ proc_names: ['front'], proc_names_exclude: ['front'] }, { proc_names: ['nothere'] }]) {
      const server = new FakeServer(ZOO);
      const collector = new Collector(config(instance), { clock: manual().clock });
      await collector.collect(server);
      const collected = await collector.collect(server);
      assert.deepEqual(collected, { processInfo: ok([]), version: ok('4.2.5'), state: ok(STATE) });
      const probe = instance.proc_names_exclude === undefined ? 'getProcessInfo(nothere), ' : '';
      assert.deepEqual(server.requests, [ALL3, `multicall(${probe}getSupervisorVersion, getState)`]);
    }
  });

  test('the default clock is Date.now', async () => {
    const server = new FakeServer(ZOO);
    const collector = new Collector(config({ proc_names: ['idle'] }));
    await collector.collect(server);
    await collector.collect(server);
    assert.equal(server.requests[1], 'multicall(getProcessInfo(idle:idle), getSupervisorVersion, getState)');
  });
});

describe('Collector: multicall fallback', () => {
  const failures: Array<[string, Error]> = [
    ['a fault of system.multicall itself', new XmlRpcFault(1, 'UNKNOWN_METHOD')],
    ['HTTP 500', new HttpStatusError(500, 'Internal Server Error', 'x')],
  ];
  for (const [what, error] of failures) {
    test(`${what}: separate calls in the reference order, remembered for 10 minutes, then multicall again`, async () => {
      const server = new FakeServer(ZOO);
      server.multicallError = error;
      const clock = manual();
      const debug: string[] = [];
      const collector = new Collector(config(), { clock: clock.clock, debug: (m) => debug.push(m) });
      const first = await collector.collect(server);
      assert.deepEqual(first, { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
      assert.deepEqual(server.requests, [ALL3, 'getAllProcessInfo', 'getSupervisorVersion', 'getState']);
      assert.equal(collector.multicallRetryAt, clock.now + MULTICALL_RETRY_MS);
      assert.equal(
        debug[1],
        `system.multicall failed (${error.message}): separate calls until ${new Date(clock.now + MULTICALL_RETRY_MS).toISOString()}`,
      );
      clock.now += MULTICALL_RETRY_MS - 1;
      await collector.collect(server);
      assert.deepEqual(server.requests.slice(4), ['getAllProcessInfo', 'getSupervisorVersion', 'getState']);
      clock.now += 1;
      assert.equal(collector.multicallRetryAt, undefined);
      server.multicallError = undefined;
      await collector.collect(server);
      assert.deepEqual(server.requests.slice(7), [ALL3]);
    });
  }

  test('a malformed multicall answer also falls back', async () => {
    for (const answer of [['only one'], 'not an array']) {
      const server = new FakeServer(ZOO);
      server.multicallAnswer = answer;
      const collector = new Collector(config(), { clock: manual().clock });
      const collected = await collector.collect(server);
      assert.deepEqual(collected.processInfo, ok(sorted(ZOO)));
      assert.notEqual(collector.multicallRetryAt, undefined);
    }
  });

  test('a fault of system.multicall is remembered even when the separate calls then fail', async () => {
    const server = new FakeServer(ZOO);
    server.multicallError = new XmlRpcFault(1, 'UNKNOWN_METHOD');
    const lost = new ConnectError('connection reset', 'x');
    server.faults.set('supervisor.getAllProcessInfo', lost);
    const clock = manual();
    const collector = new Collector(config(), { clock: clock.clock });
    assert.deepEqual(await collector.collect(server), { processInfo: { ok: false, error: lost } });
    assert.equal(collector.multicallRetryAt, clock.now + MULTICALL_RETRY_MS);
    await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, 'getAllProcessInfo', 'getAllProcessInfo']);
  });

  test('after HTTP 500, when the separate calls fail too, multicall is not given up', async () => {
    const server = new FakeServer(ZOO);
    const error = new HttpStatusError(500, 'Internal Server Error', 'x');
    server.multicallError = error;
    server.faults.set('supervisor.getAllProcessInfo', error);
    const collector = new Collector(config(), { clock: manual().clock });
    const collected = await collector.collect(server);
    assert.deepEqual(collected, { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3, 'getAllProcessInfo']);
    assert.equal(collector.multicallRetryAt, undefined);
  });

  test('401 and other statuses are the run\'s failure, without fallback', async () => {
    const server = new FakeServer(ZOO);
    const error = new HttpStatusError(401, 'Unauthorized', 'x');
    server.multicallError = error;
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(collected, { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3]);
  });
});

describe('Collector: separate calls (client without multicall), malformed structs', () => {
  test('the reference order; version and state only after a valid list', async () => {
    const server = new FakeServer(ZOO, false);
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(collected, { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
    assert.deepEqual(server.requests, ['getAllProcessInfo', 'getSupervisorVersion', 'getState']);
    const fault = new XmlRpcFault(2, 'INCORRECT_PARAMETERS');
    server.faults.set('supervisor.getAllProcessInfo', fault);
    assert.deepEqual(await new Collector(config()).collect(server), { processInfo: { ok: false, error: fault } });
    assert.deepEqual(server.requests.slice(3), ['getAllProcessInfo']);
  });

  test('selective: one call per process, stopping at a BAD_NAME to relist, then version and state', async () => {
    const server = new FakeServer(ZOO, false);
    const collector = new Collector(config({ proc_names: ['front', 'idle'] }), { clock: manual().clock });
    await collector.collect(server);
    server.procs = ZOO.filter((x) => !(x.group === 'api'));
    const collected = await collector.collect(server);
    assert.deepEqual(collected, { processInfo: ok(sorted(server.procs)), version: ok('4.2.5'), state: ok(STATE) });
    assert.deepEqual(server.requests.slice(3), ['getProcessInfo(api:front)', 'getAllProcessInfo', 'getSupervisorVersion', 'getState']);
    await collector.collect(server);
    assert.deepEqual(server.requests.slice(7), ['getProcessInfo(web:front)', 'getProcessInfo(idle:idle)', 'getSupervisorVersion', 'getState']);
  });

  test('selective: a malformed struct stops before the version, like a malformed list', async () => {
    const server = new FakeServer([p('web', 'front')], false);
    const collector = new Collector(config({ proc_names: ['front'] }), { clock: manual().clock });
    await collector.collect(server);
    server.procs = [{ ...p('web', 'front'), start: 'x' } as unknown as Proc];
    const collected = await collector.collect(server);
    assert.equal(collected.version, undefined);
    assert.equal(collected.state, undefined);
  });

  test('selective: structs without a string group or name are sorted first, and left for the decoder to refuse', async () => {
    const server = new FakeServer([p('web', 'front'), p('api', 'front'), p('b', 'back')]);
    const collector = new Collector(config({ proc_names: ['front', 'back'] }), { clock: manual().clock });
    await collector.collect(server);
    server.rewrite = (struct) => (struct.group === 'api' ? { ...struct, group: null } : struct.group === 'b' ? { ...struct, name: 7 } : struct);
    const collected = await collector.collect(server);
    assert.deepEqual(listing(collected), [{ ...p('api', 'front'), group: null }, { ...p('b', 'back'), name: 7 }, p('web', 'front')]);
  });
});
