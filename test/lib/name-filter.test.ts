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
import { CompiledPattern, MEMO_MAX_CHARS, MEMO_MAX_NAMES, NameFilter } from '../../lib/name-filter.js';

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
