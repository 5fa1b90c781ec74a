/**
 * proc_regex / proc_regex_exclude against the names a server sends: judged
 * off the main thread within the run's deadline, each (pattern, name) once,
 * with the memory of verdicts bounded; patterns that can backtrack
 * catastrophically refused before any connection.
 */

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';

import { SupervisordCheck } from '../../lib/check.js';
import { main } from '../../lib/cli/main.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { ConfigError } from '../../lib/errors.js';
import { CompiledPattern, HINT_MS, MEMO_MAX_CHARS, MEMO_MAX_NAMES, NameFilter, RegexJudge } from '../../lib/name-filter.js';
import { hintTexts, unmatchedFilterWarnings } from '../../lib/hints.js';
import { resolveConfig } from '../../lib/config.js';

/** `\d+$` is accepted (no nested choice) but quadratic: against this name, seconds of matching. */
const SLOW_NAME = `${'1'.repeat(100_000)}x`;

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

describe('a pattern that cannot finish on a hostile name ends with the run deadline', () => {
  let emu: SupervisordEmulator;
  before(async () => {
    emu = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: [makeProcess({ name: 'web' }), makeProcess({ name: SLOW_NAME, statename: 'FATAL' })],
    });
  });
  after(async () => {
    await emu.close();
  });

  // On a main-thread match the run would hold the event loop for tens of seconds and then report the processes.
  it('the run reports the deadline error, can_connect OK, and no process', { timeout: 60_000 }, async () => {
    const check = new SupervisordCheck({ name: 'redos', url: emu.url, proc_regex: ['\\d+$'], timeout: 1 });
    try {
      for (let run = 0; run < 2; run++) {
        const result = await check.run();
        assert.deepEqual(result.errors, [
          "An error occurred while filtering process names: matching 2 process name(s) against '\\\\d+$' did not finish by the run's deadline",
        ]);
        assert.deepEqual(
          result.serviceChecks.map((c) => [c.name, c.status]),
          [['supervisord.can_connect', 0]],
        );
        assert.deepEqual(result.metrics, []);
      }
    } finally {
      await check.close();
    }
  });

  it('an exclude pattern is held to the same deadline', { timeout: 60_000 }, async () => {
    const check = new SupervisordCheck({ name: 'redos', url: emu.url, proc_regex_exclude: ['\\d+$'], timeout: 1 });
    try {
      const result = await check.run();
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0]!, /did not finish by the run's deadline$/);
      assert.equal(result.serviceChecks.filter((c) => c.name === 'supervisord.process.status').length, 0);
    } finally {
      await check.close();
    }
  });

  it('without the hostile name, the same check monitors what it matches', async () => {
    emu.processes = [makeProcess({ name: 'web' }), makeProcess({ name: 'worker_12', statename: 'FATAL' })];
    const check = new SupervisordCheck({ name: 'redos', url: emu.url, proc_regex: ['\\d+$'], timeout: 5 });
    try {
      const result = await check.run();
      assert.deepEqual(result.errors, []);
      const statuses = result.serviceChecks.filter((c) => c.name === 'supervisord.process.status');
      assert.deepEqual(
        statuses.map((c) => c.tags.find((t) => t.startsWith('supervisord_process:'))),
        ['supervisord_process:worker_12'],
      );
      assert.equal(check.config.procRegex[0]!.remembered, 2);
    } finally {
      await check.close();
    }
  });
});

describe('NameFilter and CompiledPattern', () => {
  it('never judges a name twice: a second judge of the same names needs no time at all', async () => {
    const p = new CompiledPattern('^web', 'proc_regex');
    const filter = new NameFilter([p]);
    try {
      assert.equal(await filter.judge(['web-1', 'db', 'web-1'], performance.now() + 10_000), undefined);
      assert.equal(p.remembered, 2);
      assert.equal(p.judged('web-1'), true);
      assert.equal(p.judged('db'), false);
      // A deadline already past: only a name not judged yet needs the worker, and so fails.
      assert.equal(await filter.judge(['db', 'web-1'], performance.now() - 1), undefined);
      assert.match((await filter.judge(['db', 'new'], performance.now() - 1))!, /^matching 1 process name\(s\) against '\^web' did not finish/);
    } finally {
      await filter.close();
    }
  });

  it('with no pattern, judge() does nothing', async () => {
    const filter = new NameFilter([]);
    assert.equal(await filter.judge(['a', 'b'], performance.now() - 1), undefined);
    await filter.close();
  });

  it('the memory of verdicts is bounded in names, least recently used forgotten first', () => {
    const p = new CompiledPattern('7$', 'proc_regex');
    p.test('keep');
    for (let i = 0; i < MEMO_MAX_NAMES + 500; i++) {
      p.test(`name-${i}`);
      if (i % 1000 === 0) p.test('keep'); // used recently: kept
    }
    assert.equal(p.remembered, MEMO_MAX_NAMES);
    assert.equal(p.judged('keep'), false);
    assert.equal(p.judged('name-0'), undefined);
    assert.equal(p.judged(`name-${MEMO_MAX_NAMES + 499}`), false);
    assert.equal(p.judged(`name-${MEMO_MAX_NAMES + 497}`), true);
  });

  it('and in characters', () => {
    const p = new CompiledPattern('^a', 'proc_regex');
    const big = 1024 * 1024;
    for (let i = 0; i < 20; i++) p.test(`${i}`.padEnd(big, 'a'));
    assert.equal(p.remembered, Math.floor(MEMO_MAX_CHARS / big));
    assert.equal(p.judged('19'.padEnd(big, 'a')), false);
    assert.equal(p.judged('0'.padEnd(big, 'a')), undefined);
  });
});

describe('catastrophic patterns are refused before any connection', () => {
  it('SupervisordCheck: ConfigError naming the key and the pattern', () => {
    assert.throws(
      () => new SupervisordCheck({ name: 'x', host: '127.0.0.1', port: 1, proc_regex_exclude: ['^([a-z0-9]+[-_]?)+$'] }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'proc_regex_exclude' &&
        error.message.startsWith("'proc_regex_exclude' pattern '^([a-z0-9]+[-_]?)+$' cannot be used: the repeated part '([a-z0-9]+[-_]?)+'"),
    );
  });

  it('the CLI: one line on stderr, exit code 2', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(['--host', '127.0.0.1', '--port', '1', '--proc-regex', '(a+)+$'], {}, { stdout, stderr, defaultSockets: [] });
    assert.equal(code, 2);
    assert.equal(stdout.text, '');
    assert.match(stderr.text, /^supervisord-check: 'proc_regex' pattern '\(a\+\)\+\$' cannot be used: the repeated part '\(a\+\)\+' can match the same text in more than one way, [^\n]*\n$/);
  });
});

describe('RegexJudge: one judge for every check, a bounded queue, each request within its deadline', () => {
  const SLOW = '\\d+$';
  const soon = (ms: number): number => performance.now() + ms;
  const judges: RegexJudge[] = [];
  after(async () => {
    await Promise.all(judges.map((j) => j.close()));
  });
  const judge = (options: ConstructorParameters<typeof RegexJudge>[0]): RegexJudge => {
    const j = new RegexJudge(options);
    judges.push(j);
    return j;
  };

  it('200 filters judged at once by one worker thread (regression: a thread per remembered target)', async () => {
    const shared = judge({ workers: 1 });
    const filters = Array.from({ length: 200 }, () => new NameFilter([new CompiledPattern('^web_[0-9]+$', 'proc_regex')], { judge: shared }));
    const results = await Promise.all(filters.map((f, i) => f.judge([`web_${i}`, `db_${i}`], soon(20_000))));
    assert.deepEqual(new Set(results), new Set([undefined]));
    assert.equal(shared.threads, 1);
    assert.equal(shared.queued, 0);
  });

  it('refuses at once beyond maxQueued (busy), serves in order, and a slow match ends at its deadline without holding the others past theirs', async () => {
    const j = judge({ workers: 1, maxQueued: 2 });
    const t0 = performance.now();
    const slow = j.judge([SLOW], [0, SLOW_NAME], soon(1500));
    const waitingShort = j.judge(['^a'], [0, 'abc'], soon(300));
    const waitingLong = j.judge(['^a'], [0, 'abc', 0, 'xa'], soon(20_000));
    const refused = j.judge(['^a'], [0, 'abc'], soon(20_000));
    assert.equal(await refused.result, 'busy');
    assert.equal(await waitingShort.result, 'deadline');
    assert.ok(performance.now() - t0 < 1200, 'the short one did not wait for the slow one');
    assert.equal(await slow.result, 'deadline');
    assert.deepEqual([...((await waitingLong.result) as Uint8Array)], [1, 0], 'served by a fresh worker after the slow one was stopped');
    assert.ok(performance.now() - t0 < 10_000);
  });

  it('a second worker serves the others while one is busy with a slow match', async () => {
    const j = judge({ workers: 2 });
    const slow = j.judge([SLOW], [0, SLOW_NAME], soon(3000));
    const t0 = performance.now();
    const quick = await j.judge(['^a'], [0, 'abc'], soon(20_000)).result;
    assert.deepEqual([...(quick as Uint8Array)], [1]);
    assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
    assert.equal(j.threads, 2);
    slow.cancel();
    assert.equal(await slow.result, 'closed');
  });

  it('ends idle workers after idleMs; a deadline already past fails without a worker', async () => {
    const j = judge({ idleMs: 50 });
    assert.equal(await j.judge(['^a'], [0, 'a'], soon(-1)).result, 'deadline');
    assert.equal(j.threads, 0);
    assert.ok((await j.judge(['^a'], [0, 'a'], soon(10_000)).result) instanceof Uint8Array);
    assert.equal(j.threads, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(j.threads, 0);
    assert.throws(() => new RegexJudge({ workers: 0 }), { name: 'RangeError', message: 'workers must be a positive integer, got 0' });
  });

  it('NameFilter.close() stops its own requests only', async () => {
    const j = judge({ workers: 1 });
    const mine = new NameFilter([new CompiledPattern(SLOW, 'proc_regex')], { judge: j });
    const other = new NameFilter([new CompiledPattern('^a', 'proc_regex')], { judge: j });
    const pending = mine.judge([SLOW_NAME], soon(20_000));
    const waiting = other.judge(['abc'], soon(20_000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await mine.close();
    assert.equal(await pending, "matching 1 process name(s) against '\\\\d+$' was stopped: the check was closed");
    assert.equal(await waiting, undefined);
  });

  it('a full queue is a run error naming the cause', async () => {
    const j = judge({ workers: 1, maxQueued: 1 });
    const slow = j.judge([SLOW], [0, SLOW_NAME], soon(3000));
    const queued = j.judge(['^a'], [0, 'a'], soon(3000));
    const filter = new NameFilter([new CompiledPattern('^b', 'proc_regex')], { judge: j });
    assert.equal(await filter.judge(['b'], soon(3000)), "matching 1 process name(s) against '^b' was refused: the regular expression worker has too many names waiting");
    slow.cancel();
    await queued.result;
  });
});

describe('the "matched nothing" hint judges group texts on the worker, within HINT_MS', () => {
  it(`a hostile group name leaves the hint without suggestion and costs the run ${HINT_MS} ms at most (regression: 30 s on the main thread)`, async () => {
    const processes = [makeProcess({ name: 'web', group: SLOW_NAME.slice(0, -1) }), makeProcess({ name: 'db' })];
    const { config } = resolveConfig({ name: 'n', proc_regex: ['\\d+$'] });
    const filter = new NameFilter(config.procRegex);
    try {
      const t0 = performance.now();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      const failure = await filter.judge(processes.map((p) => p.name), t0 + 10_000, { patterns: config.procRegex, texts: () => hintTexts(processes) });
      clearInterval(ticker);
      const took = performance.now() - t0;
      assert.equal(failure, undefined, 'the names were judged: the run goes on');
      assert.ok(took >= HINT_MS - 50 && took < HINT_MS + 1500, `${took} ms`);
      assert.ok(ticks > (HINT_MS / 10) * 0.5, `the event loop kept turning (${ticks} ticks)`);
      assert.deepEqual(unmatchedFilterWarnings(processes, config), [
        "'proc_regex' pattern '\\\\d+$' matched no process; only process names are matched, never 'group:name' or a group name",
      ]);
    } finally {
      await filter.close();
    }
  });

  it('a plain group name is suggested, judged on the worker', async () => {
    const processes = [makeProcess({ name: 'front', group: 'web_12' })];
    const { config } = resolveConfig({ name: 'n', proc_regex: ['_12$'] });
    const filter = new NameFilter(config.procRegex);
    assert.equal(await filter.judge(['front'], performance.now() + 10_000, { patterns: config.procRegex, texts: () => hintTexts(processes) }), undefined);
    assert.equal(config.procRegex[0]!.judged('web_12'), true);
    assert.match(unmatchedFilterWarnings(processes, config)[0]!, /\('_12\$' matches the group or group:name of process 'front'\)/);
    await filter.close();
  });
});
