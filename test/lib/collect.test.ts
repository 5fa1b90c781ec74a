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
import {
  BAD_NAME_FAULT,
  Collector,
  MAX_AUTO_CONNECTIONS,
  MULTICALL_RETRY_MS,
  SHARD_MIN_PROCESSES,
  learnNames,
  selectiveNames,
  shardCount,
} from '../../lib/collect.js';
import type { CallHints, CollectClient } from '../../lib/types.js';
import { resolveConfig } from '../../lib/config.js';
import { buildResult, decodeProcessList } from '../../lib/submissions.js';
import type { Collected } from '../../lib/submissions.js';
import { FakeMainLog, logLine } from '../helpers/main-log.js';

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
  /** The requests marked as learning listings (`CallHints.listing`), as in `requests`. */
  readonly listings: string[] = [];
  /** supervisord's main log, for `supervisor.readLog`. */
  readonly log = new FakeMainLog();
  declare multicall?: (calls: readonly MulticallRequest[], hints?: CallHints) => Promise<unknown>;

  constructor(procs: Proc[], withMulticall = true) {
    this.procs = procs;
    if (withMulticall) {
      this.multicall = async (calls, hints) => {
        const text = `multicall(${calls.map((c) => callText(c.methodName, c.params ?? [])).join(', ')})`;
        this.requests.push(text);
        if (hints?.listing === true) this.listings.push(text);
        if (this.multicallError !== undefined) throw this.multicallError;
        if (this.multicallAnswer !== undefined) return this.multicallAnswer;
        return calls.map((c) => {
          try {
            return this.#answer(c.methodName, c.params ?? [], true);
          } catch (error) {
            return error;
          }
        });
      };
    }
  }

  async call(method: string, params: readonly unknown[] = [], hints?: CallHints): Promise<unknown> {
    this.requests.push(callText(method, params));
    if (hints?.listing === true) this.listings.push(callText(method, params));
    return this.#answer(method, params);
  }

  #answer(method: string, params: readonly unknown[], inMulticall = false): unknown {
    const forced = this.faults.get(method);
    if (forced !== undefined) throw forced;
    switch (method) {
      case 'supervisor.readLog':
        return this.log.answer(method, params, inMulticall);
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

/**
 * The answers of a Collected without `decoded` (the process list decoded
 * once for the run), after checking that it is that list's decoding.
 */
function answers(collected: Collected): Collected {
  const { decoded, ...rest } = collected;
  if (decoded !== undefined) {
    assert.equal(collected.processInfo.ok, true, 'a process list that failed is not decoded');
    assert.deepEqual(decoded, decodeProcessList((collected.processInfo as { value: unknown }).value));
  }
  return rest;
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
      assert.deepEqual(answers(collected), { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
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
    assert.deepEqual(answers(collected), { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3]);
  });

  test('faults inside the multicall are failed outcomes in place', async () => {
    const server = new FakeServer(ZOO);
    const shutdown = new XmlRpcFault(6, 'SHUTDOWN_STATE');
    for (const m of ['supervisor.getAllProcessInfo', 'supervisor.getSupervisorVersion', 'supervisor.getState']) server.faults.set(m, shutdown);
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(answers(collected), { processInfo: { ok: false, error: shutdown }, version: { ok: false, error: shutdown }, state: { ok: false, error: shutdown } });
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
    assert.deepEqual(answers(second), {
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
    assert.deepEqual(answers(collected), { processInfo: ok(sorted(server.procs)), version: ok('4.2.5'), state: ok(STATE) });
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
      assert.deepEqual(answers(collected), { processInfo: ok([]), version: ok('4.2.5'), state: ok(STATE) });
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
      assert.deepEqual(answers(first), { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
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
    assert.deepEqual(answers(await collector.collect(server)), { processInfo: { ok: false, error: lost } });
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
    assert.deepEqual(answers(collected), { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3, 'getAllProcessInfo']);
    assert.equal(collector.multicallRetryAt, undefined);
  });

  test('401 and other statuses are the run\'s failure, without fallback', async () => {
    const server = new FakeServer(ZOO);
    const error = new HttpStatusError(401, 'Unauthorized', 'x');
    server.multicallError = error;
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(answers(collected), { processInfo: { ok: false, error } });
    assert.deepEqual(server.requests, [ALL3]);
  });
});

describe('Collector: separate calls (client without multicall), malformed structs', () => {
  test('the reference order; version and state only after a valid list', async () => {
    const server = new FakeServer(ZOO, false);
    const collected = await new Collector(config()).collect(server);
    assert.deepEqual(answers(collected), { processInfo: ok(sorted(ZOO)), version: ok('4.2.5'), state: ok(STATE) });
    assert.deepEqual(server.requests, ['getAllProcessInfo', 'getSupervisorVersion', 'getState']);
    const fault = new XmlRpcFault(2, 'INCORRECT_PARAMETERS');
    server.faults.set('supervisor.getAllProcessInfo', fault);
    assert.deepEqual(answers(await new Collector(config()).collect(server)), { processInfo: { ok: false, error: fault } });
    assert.deepEqual(server.requests.slice(3), ['getAllProcessInfo']);
  });

  test('selective: one call per process, stopping at a BAD_NAME to relist, then version and state', async () => {
    const server = new FakeServer(ZOO, false);
    const collector = new Collector(config({ proc_names: ['front', 'idle'] }), { clock: manual().clock });
    await collector.collect(server);
    server.procs = ZOO.filter((x) => !(x.group === 'api'));
    const collected = await collector.collect(server);
    assert.deepEqual(answers(collected), { processInfo: ok(sorted(server.procs)), version: ok('4.2.5'), state: ok(STATE) });
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

describe('shardCount', () => {
  test('one listing below the threshold, one connection per 30 processes above, at most 96; max_connections forces', () => {
    const cases: Array<[number, number | undefined, number]> = [
      [0, undefined, 1],
      [1, undefined, 1],
      [SHARD_MIN_PROCESSES - 1, undefined, 1],
      [SHARD_MIN_PROCESSES, undefined, 7],
      [250, undefined, 9],
      [1000, undefined, 34],
      [2000, undefined, 67],
      [2850, undefined, 95],
      [2851, undefined, MAX_AUTO_CONNECTIONS],
      [4000, undefined, MAX_AUTO_CONNECTIONS],
      [50_000, undefined, MAX_AUTO_CONNECTIONS],
      [10, 4, 4],
      [3, 4, 3],
      [0, 4, 1],
      [5000, 1, 1],
      [5000, 200, 200],
    ];
    for (const [processes, max, k] of cases) assert.equal(shardCount(processes, max), k, `${processes} processes, max_connections ${String(max)}`);
  });
});

describe('Collector: sharded full collection', () => {
  /** `n` processes: some grouped, some not. */
  const many = (n: number): Proc[] => Array.from({ length: n }, (_, i) => (i % 3 === 0 ? p(`g${i % 4}`, `w${i}`) : p(`p${i}`, `p${i}`)));
  const multicalls = (server: FakeServer): string[] => server.requests.filter((r) => r.startsWith('multicall('));

  test('learns from the first listing (marked as such), then asks every group:name in K consecutive slices; same list as a listing', async () => {
    const procs = many(10);
    const server = new FakeServer(procs);
    const debug: string[] = [];
    const collector = new Collector(config({ max_connections: 3 }), { clock: manual().clock, debug: (m) => debug.push(m) });
    const first = await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3]);
    assert.deepEqual(server.listings, [ALL3], 'the learning listing is marked');
    assert.equal(collector.processCount, 10);
    const second = await collector.collect(server);
    assert.deepEqual(second, first);
    assert.deepEqual(listing(second), sorted(procs));
    const specs = sorted(procs).map((x) => `getProcessInfo(${x.group}:${x.name})`);
    assert.deepEqual(server.requests.slice(1), [
      `multicall(${specs.slice(0, 3).join(', ')})`,
      `multicall(${specs.slice(3, 6).join(', ')})`,
      `multicall(${specs.slice(6).join(', ')}, getSupervisorVersion, getState)`,
    ]);
    assert.deepEqual(server.listings, [ALL3], 'the shards are not listings');
    assert.deepEqual(debug, ['collection: full listing', 'collection: 10 processes by name in 3 parallel multicalls']);
  });

  test('the shards are built once per listing: the same frozen requests every run, new ones once the names are relearned', async () => {
    const server = new FakeServer(many(9));
    const clock = manual();
    const sent: Array<readonly MulticallRequest[]> = [];
    const multicall = server.multicall!;
    server.multicall = (calls, hints) => {
      sent.push(calls);
      return multicall(calls, hints);
    };
    const collector = new Collector(config({ max_connections: 3, name_refresh_interval: 60 }), { clock: clock.clock });
    await collector.collect(server); // the learning listing
    await collector.collect(server);
    await collector.collect(server);
    const [first, second] = [sent.slice(1, 4), sent.slice(4, 7)];
    assert.equal(first.length, 3);
    first.forEach((batch, i) => assert.equal(second[i], batch, `shard ${i} is the same array`));
    for (const batch of first) {
      assert.ok(Object.isFrozen(batch));
      for (const request of batch) assert.ok(Object.isFrozen(request) && Object.isFrozen(request.params), JSON.stringify(request));
    }
    // Frozen: a client (or a test) cannot change what the next run sends.
    assert.throws(() => (first[0] as MulticallRequest[]).push({ methodName: 'x' }), TypeError);

    // Relearned names (a refresh that sees a new process): new requests, with it.
    server.procs = [...many(9), p('new', 'new')];
    clock.now += 60_000;
    await collector.refresh(server);
    sent.length = 0;
    await collector.collect(server);
    assert.equal(sent.length, 3);
    assert.ok(sent.every((batch) => !first.includes(batch)));
    assert.ok(sent.flat().some((request) => request.params?.[0] === 'new:new'));
    const relearned = [...sent];
    sent.length = 0;
    await collector.collect(server);
    relearned.forEach((batch, i) => assert.equal(sent[i], batch));
    assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs));
  });

  test('the shards are sent at once', async () => {
    const server = new FakeServer(many(8));
    let inFlight = 0;
    let most = 0;
    const multicall = server.multicall!;
    server.multicall = async (calls, hints) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return multicall(calls, hints);
    };
    const collector = new Collector(config({ max_connections: 4 }), { clock: manual().clock });
    await collector.collect(server);
    await collector.collect(server);
    assert.equal(most, 4);
  });

  test('automatic: one listing per run below the threshold, shards from it on', async () => {
    const server = new FakeServer(many(SHARD_MIN_PROCESSES - 1));
    const collector = new Collector(config(), { clock: manual().clock });
    for (let i = 0; i < 3; i++) await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, ALL3, ALL3]);
    assert.deepEqual(server.listings, [ALL3], 'only the first listing, of unknown size, is a learning one');
    server.procs = many(SHARD_MIN_PROCESSES);
    await collector.collect(server);
    await collector.collect(server);
    assert.equal(multicalls(server).length, 4 + shardCount(SHARD_MIN_PROCESSES, undefined));
    assert.equal(shardCount(SHARD_MIN_PROCESSES, undefined), 7);
  });

  test('a removed process (BAD_NAME) makes the same run list everything and relearn; the version and state of the shards are kept', async () => {
    const procs = many(9);
    const server = new FakeServer(procs);
    const collector = new Collector(config({ max_connections: 3 }), { clock: manual().clock });
    await collector.collect(server);
    server.procs = procs.slice(1);
    const collected = await collector.collect(server);
    assert.deepEqual(answers(collected), { processInfo: ok(sorted(server.procs)), version: ok('4.2.5'), state: ok(STATE) });
    assert.equal(server.requests.length, 1 + 3 + 1);
    assert.equal(server.requests.at(-1), 'getAllProcessInfo');
    assert.deepEqual(server.listings, [ALL3, 'getAllProcessInfo'], 'the relisting is a learning listing');
    assert.equal(collector.processCount, 8);
    await collector.collect(server);
    assert.equal(multicalls(server).length, 1 + 3 + 3, 'shards again, over the new list');
  });

  test('a process added since the listing is not asked until a refresh', async () => {
    const server = new FakeServer(many(6));
    const clock = manual();
    const collector = new Collector(config({ max_connections: 2, name_refresh_interval: 60 }), { clock: clock.clock });
    await collector.collect(server);
    server.procs = [...many(6), p('new', 'new')];
    assert.deepEqual(listing(await collector.collect(server)), sorted(many(6)));
    assert.equal(collector.refreshDue, false);
    clock.now += 60_000;
    assert.equal(collector.refreshDue, true);
    // The run does not list: that is refresh()'s job, outside the run.
    assert.deepEqual(listing(await collector.collect(server)), sorted(many(6)));
    assert.equal(server.requests.at(-1)!.startsWith('multicall(getProcessInfo'), true);
    const refreshing = collector.refresh(server);
    assert.equal(collector.refreshDue, false, 'not due while under way');
    await refreshing;
    assert.deepEqual(server.requests.at(-1), 'getAllProcessInfo');
    assert.deepEqual(server.listings.at(-1), 'getAllProcessInfo', 'the refresh is a learning listing');
    assert.equal(collector.refreshDue, false);
    assert.equal(collector.processCount, 7);
    assert.deepEqual(listing(await collector.collect(server)), sorted(server.procs));
  });

  test('a failed refresh changes nothing and is due again; a refresh older than a relisting does not undo it', async () => {
    const server = new FakeServer(many(6));
    const clock = manual();
    const debug: string[] = [];
    const collector = new Collector(config({ max_connections: 2, name_refresh_interval: 60 }), { clock: clock.clock, debug: (m) => debug.push(m) });
    await collector.collect(server);
    clock.now += 60_000;
    server.faults.set('supervisor.getAllProcessInfo', new ConnectError('connect ECONNREFUSED', 'x', 'ECONNREFUSED'));
    await collector.refresh(server);
    assert.equal(debug.at(-1), 'collection: the background listing failed (connect ECONNREFUSED); tried again after the next run');
    assert.equal(collector.refreshDue, true);
    assert.equal(collector.processCount, 6);
    server.faults.clear();

    // A refresh starts with 6 processes and answers late; meanwhile a run finds one removed and relists.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: CollectClient = {
      call: async (method, params, hints) => {
        const answer = await server.call(method, params, hints);
        await gate;
        return answer;
      },
    };
    const refreshing = collector.refresh(slow);
    clock.now += 1000;
    server.procs = many(6).slice(1);
    await collector.collect(server);
    assert.equal(collector.processCount, 5);
    release();
    await refreshing;
    assert.equal(collector.processCount, 5, 'the older listing is not learnt');
    assert.equal(debug.at(-1), 'collection: process names refreshed (6 processes)');
  });

  test('another fault on a process is the run\'s; a failed shard is the run\'s failure', async () => {
    const server = new FakeServer(many(6));
    const collector = new Collector(config({ max_connections: 2 }), { clock: manual().clock });
    await collector.collect(server);
    const shutdown = new XmlRpcFault(6, 'SHUTDOWN_STATE');
    server.faults.set('supervisor.getProcessInfo', shutdown);
    assert.deepEqual((await collector.collect(server)).processInfo, { ok: false, error: shutdown });
    server.faults.clear();
    const lost = new ConnectError('connection reset', 'x');
    const multicall = server.multicall!;
    let n = 0;
    server.multicall = async (calls, hints) => {
      if (n++ === 1) throw lost;
      return multicall(calls, hints);
    };
    assert.deepEqual((await collector.collect(server)).processInfo, { ok: false, error: lost });
    assert.equal(collector.processCount, 6, 'what was learnt is kept');
  });

  test('without multicall, or when it fails, one listing instead of thousands of separate calls; a malformed shard answer too', async () => {
    const procs = many(6);
    const separate = new FakeServer(procs, false);
    const a = new Collector(config({ max_connections: 2 }), { clock: manual().clock });
    await a.collect(separate);
    assert.deepEqual(listing(await a.collect(separate)), sorted(procs));
    assert.deepEqual(separate.requests.slice(3), ['getAllProcessInfo', 'getSupervisorVersion', 'getState']);

    const missing = new FakeServer(procs);
    const b = new Collector(config({ max_connections: 2 }), { clock: manual().clock });
    await b.collect(missing);
    missing.multicallError = new XmlRpcFault(1, 'UNKNOWN_METHOD');
    assert.deepEqual(listing(await b.collect(missing)), sorted(procs));
    assert.deepEqual(missing.requests.slice(1, 3), [
      `multicall(${sorted(procs).slice(0, 3).map((x) => `getProcessInfo(${x.group}:${x.name})`).join(', ')})`,
      `multicall(${sorted(procs).slice(3).map((x) => `getProcessInfo(${x.group}:${x.name})`).join(', ')}, getSupervisorVersion, getState)`,
    ]);
    assert.deepEqual(missing.requests.slice(3), ['getAllProcessInfo', 'getSupervisorVersion', 'getState']);
    assert.notEqual(b.multicallRetryAt, undefined);

    const short = new FakeServer(procs);
    const c = new Collector(config({ max_connections: 2 }), { clock: manual().clock });
    await c.collect(short);
    short.multicallAnswer = [p('x', 'x')];
    assert.deepEqual(listing(await c.collect(short)), sorted(procs));
    assert.equal(short.requests.at(-3), 'getAllProcessInfo');
  });

  test('selective collection of a large server refreshes in the background too; of a small one, in the run', async () => {
    const clock = manual();
    const big = new FakeServer([...many(SHARD_MIN_PROCESSES), p('web', 'front')]);
    const a = new Collector(config({ proc_names: ['front'], name_refresh_interval: 60 }), { clock: clock.clock });
    await a.collect(big);
    assert.equal(a.refreshDue, false);
    clock.now += 60_000;
    assert.equal(a.refreshDue, true);
    await a.collect(big);
    assert.equal(big.requests.at(-1), 'multicall(getProcessInfo(web:front), getSupervisorVersion, getState)');
    await a.refresh(big);
    assert.equal(a.refreshDue, false);

    const small = new FakeServer([p('web', 'front')]);
    const b = new Collector(config({ proc_names: ['front'], name_refresh_interval: 60 }), { clock: clock.clock });
    await b.collect(small);
    clock.now += 60_000;
    assert.equal(b.refreshDue, false);
    await b.collect(small);
    assert.equal(small.requests.at(-1), ALL3);
    assert.deepEqual(small.listings, [ALL3], 'a listing of a known small server is not marked');
  });
});

// ---------------------------------------------------------------------------

/** FATAL after exits before startsecs: supervisord says exitstatus 0; its main log says 3. */
const quick = (group = 'quick', name = 'quick'): Proc =>
  ({
    ...p(group, name),
    statename: 'FATAL',
    state: 200,
    start: 1700000049,
    stop: 1700000050,
    pid: 0,
    spawnerr: 'Exited too quickly (process log may have details)',
    description: 'Exited too quickly (process log may have details)',
  }) as Proc;
const EXITED_3 = logLine("spawned: 'quick' with pid 7") + logLine('exited: quick (exit status 3; not expected)', 'WARN');

function lookup(collected: Collected, name: string): unknown {
  assert.ok(collected.exits !== undefined, 'no exit evidence');
  return collected.exits.lookup(name);
}

describe('Collector: the main log, read while a process needs it', () => {
  test('first needed: one call once the structs are in; then in the run\'s multicall; not read once nothing needs it', async () => {
    const server = new FakeServer([p('web', 'front'), quick()]);
    server.log.append(EXITED_3);
    const debug: string[] = [];
    const collector = new Collector(config(), { debug: (m) => debug.push(m) });
    let collected = await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, 'readLog(-65536,0)']);
    assert.deepEqual(lookup(collected, 'quick'), {
      known: true,
      exit: { kind: 'exited', name: 'quick', status: 3, expected: false, time: '2026-12-06 23:00:00,000' },
    });
    assert.deepEqual(collected.exits?.sharedNames, new Set());
    assert.equal(debug.at(-1), `collection: main log read (${server.log.size} bytes in 1 call, 2 events, after a gap)`);
    collected = await collector.collect(server);
    const offset = server.log.size;
    // from the offset, with the 128 bytes before it (the anchor that tells the file is the same)
    assert.deepEqual(server.requests.slice(2), [`multicall(getAllProcessInfo, getSupervisorVersion, getState, readLog(${offset - 128},${128 + 256 * 1024}))`]);
    assert.equal((lookup(collected, 'quick') as { known: boolean }).known, true);
    // started again and running: this run still reads (it could not know), the next does not
    server.procs = [p('web', 'front'), p('quick', 'quick')];
    collected = await collector.collect(server);
    assert.match(server.requests.at(-1)!, /readLog/);
    assert.equal(collected.exits, undefined, 'nothing needs the log: no evidence');
    await collector.collect(server);
    assert.equal(server.requests.at(-1), ALL3);
  });

  test('a saved state carries the reader and the wish to read: a restored collector reads from the offset, in its multicall, and knows the shared names', async () => {
    const server = new FakeServer([p('web', 'front'), quick('a', 'quick'), quick('b', 'quick')]);
    server.log.append(EXITED_3);
    const old = new Collector(config({ proc_names: ['quick'] }));
    await old.collect(server); // learns the groups with a listing, then reads the tail
    const saved = JSON.parse(JSON.stringify({ collector: old.exportState(), log: old.mainLog!.getState() }));
    assert.equal(saved.collector.logWanted, true);
    const fresh = new Collector(config({ proc_names: ['quick'] }));
    fresh.restoreState(saved.collector);
    fresh.mainLog!.restoreState(saved.log);
    const before = server.requests.length;
    const collected = await fresh.collect(server);
    const offset = server.log.size;
    // no listing: the names, the shared ones and the offset all come from the state
    assert.deepEqual(server.requests.slice(before), [
      `multicall(getProcessInfo(a:quick), getProcessInfo(b:quick), getSupervisorVersion, getState, readLog(${offset - 128},${128 + 256 * 1024}))`,
    ]);
    assert.deepEqual(collected.exits?.sharedNames, new Set(['quick']), 'a name two groups share stays ambiguous after a restore');
    assert.throws(() => new Collector(config()).restoreState({ logWanted: 'yes' }), { name: 'StateError', message: 'logWanted should be true or false' });
  });

  test('read_main_log: false never reads it, and says so', async () => {
    const server = new FakeServer([quick()]);
    server.log.append(EXITED_3);
    const collector = new Collector(config({ read_main_log: false }));
    assert.equal(collector.mainLog, undefined);
    const collected = await collector.collect(server);
    await collector.collect(server);
    assert.deepEqual(server.requests, [ALL3, ALL3]);
    assert.deepEqual(lookup(collected, 'quick'), { known: false, reason: "reading supervisord's main log is turned off (read_main_log: false)" });
    const result = buildResult(config({ read_main_log: false }), collected);
    assert.equal(result.metrics.find((m) => m.name === 'supervisord.process.exit_status'), undefined);
    assert.deepEqual(result.processes?.[0]?.exit, { status: null, reason: "reading supervisord's main log is turned off (read_main_log: false)" });
  });

  test('without multicall: after the version and the state', async () => {
    const server = new FakeServer([quick()], false);
    server.log.append(EXITED_3);
    const collector = new Collector(config());
    const collected = await collector.collect(server);
    assert.deepEqual(server.requests, ['getAllProcessInfo', 'getSupervisorVersion', 'getState', 'readLog(-65536,0)']);
    assert.equal((lookup(collected, 'quick') as { known: boolean }).known, true);
  });

  test('a relisting after BAD_NAME: the log read in the multicall is older than the structs, so it is read again after', async () => {
    const server = new FakeServer([quick('g', 'quick'), p('web', 'front')]);
    server.log.append(EXITED_3);
    const collector = new Collector(config({ proc_names: ['quick'] }));
    await collector.collect(server); // listing, learns g:quick; log read after
    await collector.collect(server); // selective, log in the multicall
    server.procs = [quick('h', 'quick')];
    const before = server.requests.length;
    const collected = await collector.collect(server);
    assert.deepEqual(
      server.requests.slice(before).map((r) => r.replace(/readLog\([^)]*\)/, 'readLog')),
      ['multicall(getProcessInfo(g:quick), getSupervisorVersion, getState, readLog)', 'getAllProcessInfo', 'readLog'],
    );
    assert.equal((lookup(collected, 'quick') as { known: boolean }).known, true);
  });

  test('sharded collection: one call after every shard is in, never inside a shard', async () => {
    const procs = [quick(), ...Array.from({ length: 9 }, (_, i) => p('g', `n${i}`))];
    const server = new FakeServer(procs);
    server.log.append(EXITED_3);
    const collector = new Collector(config({ max_connections: 3 }));
    await collector.collect(server);
    for (let i = 0; i < 2; i++) {
      const before = server.requests.length;
      const collected = await collector.collect(server);
      const made = server.requests.slice(before);
      assert.equal(made.filter((r) => r.startsWith('multicall(')).length, 3);
      assert.ok(made.filter((r) => r.startsWith('multicall(')).every((r) => !r.includes('readLog')));
      assert.match(made.at(-1)!, /^readLog\(/);
      assert.equal((lookup(collected, 'quick') as { known: boolean }).known, true);
    }
  });

  test('several processes with the name the log gives: the evidence says so (their statuses are unknown)', async () => {
    const server = new FakeServer([quick('a', 'quick'), quick('b', 'quick')]);
    server.log.append(EXITED_3);
    const collector = new Collector(config());
    const collected = await collector.collect(server);
    assert.deepEqual(collected.exits?.sharedNames, new Set(['quick']));
    const result = buildResult(config(), collected);
    assert.equal(result.metrics.find((m) => m.name === 'supervisord.process.exit_status'), undefined);
    assert.deepEqual(result.warnings, [
      "exit status of 'a:quick' (FATAL), 'b:quick' (FATAL) unknown: several processes are named 'quick' and the main log names a process without its group; supervisord's process info says 0 for an exit before startsecs, which is not an exit status",
    ]);
    // Later listings of the same processes keep what was learnt; a listing that differs is learnt again.
    assert.deepEqual((await collector.collect(server)).exits?.sharedNames, new Set(['quick']));
    server.procs = [quick('a', 'quick'), quick('b', 'other')];
    assert.deepEqual((await collector.collect(server)).exits?.sharedNames, new Set());
    server.procs = [quick('a', 'quick'), quick('b', 'quick')];
    assert.deepEqual((await collector.collect(server)).exits?.sharedNames, new Set(['quick']));
    server.procs = [quick('a', 'quick'), quick('b', 'quicker')];
    assert.deepEqual((await collector.collect(server)).exits?.sharedNames, new Set());
    server.procs = [quick('a', 'quick'), quick('b', 'quick')];
    // Selective collection knows the shared names from its last full listing.
    const selective = new Collector(config({ proc_names: ['quick'] }));
    await selective.collect(server);
    assert.deepEqual((await selective.collect(server)).exits?.sharedNames, new Set(['quick']));
  });

  test('a server without readLog: the statuses are unknown, with the fault', async () => {
    const server = new FakeServer([quick()]);
    server.faults.set('supervisor.readLog', new XmlRpcFault(1, 'UNKNOWN_METHOD'));
    const collector = new Collector(config());
    for (let i = 0; i < 2; i++) {
      const collected = await collector.collect(server);
      assert.deepEqual(lookup(collected, 'quick'), { known: false, reason: "supervisord's main log could not be read (UNKNOWN_METHOD)" });
    }
  });

  test('a small max_response_bytes makes the reads smaller (the run\'s answer stays under it)', async () => {
    const server = new FakeServer([quick()]);
    server.log.append(EXITED_3);
    const collector = new Collector(config({ max_response_bytes: 32768 }));
    await collector.collect(server);
    assert.equal(server.requests.at(-1), 'readLog(-2048,0)');
    await collector.collect(server);
    assert.match(server.requests.at(-1)!, new RegExp(`readLog\\(${server.log.size - 128},${128 + 2048}\\)\\)$`));
  });
});
