/**
 * The emulator's process structs: `makeProcess` (defaults, descriptions,
 * stable pids and log paths, clock pinning) and the state table.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { makeProcess, PROCESS_STATES } from '../../lib/emulator/processes.js';
import type { ProcessInfo } from '../../lib/types.js';
import { MEMBER_ORDER } from '../helpers/reference-processes.js';

/** `%b %d %I:%M %p` in the local zone, computed with Intl (independent of the emulator's own getters). */
function localStopTime(epoch: number): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: true,
  }).formatToParts(new Date(epoch * 1000));
  const get = (type: string): string => parts.find((p) => p.type === type)!.value;
  return `${get('month')} ${get('day')} ${get('hour')}:${get('minute')} ${get('dayPeriod').toUpperCase()}`;
}

/** Epoch seconds of a wall-clock time in the local zone (month 0-based, as `Date` takes it). */
function localEpoch(year: number, month: number, day: number, hour: number, minute: number): number {
  return new Date(year, month, day, hour, minute).getTime() / 1000;
}

describe('makeProcess', () => {
  const NOW = 1700000000;
  const cases: Array<{ name: string; partial: Partial<ProcessInfo> & { name: string }; expect: Partial<ProcessInfo> }> = [
    {
      name: 'RUNNING by default, group = name, uptime from start',
      partial: { name: 'web', pid: 123, start: NOW - 125 },
      expect: { group: 'web', state: 20, statename: 'RUNNING', pid: 123, stop: 0, now: NOW, description: 'pid 123, uptime 0:02:05' },
    },
    {
      name: 'uptime past one day',
      partial: { name: 'web', pid: 1, start: NOW - (86400 + 2 * 3600 + 3 * 60 + 4) },
      expect: { description: 'pid 1, uptime 1 day, 2:03:04' },
    },
    {
      name: 'uptime of several days',
      partial: { name: 'web', pid: 1, start: NOW - 2 * 86400 },
      expect: { description: 'pid 1, uptime 2 days, 0:00:00' },
    },
    {
      name: 'a start after now (clock set back) shows no uptime',
      partial: { name: 'web', pid: 1, start: NOW + 50 },
      expect: { description: 'pid 1, uptime 0:00:00' },
    },
    {
      name: 'statename given: state follows',
      partial: { name: 'w', statename: 'BACKOFF' },
      expect: { state: 30, pid: 0, description: 'unknown error (try "tail w")' },
    },
    {
      name: 'state given: statename follows',
      partial: { name: 'w', state: 200, spawnerr: 'Exited too quickly (process log may have details)' },
      expect: { statename: 'FATAL', description: 'Exited too quickly (process log may have details)' },
    },
    {
      name: 'an unknown statename is state UNKNOWN',
      partial: { name: 'w', statename: 'WEIRD' },
      expect: { state: 1000, statename: 'WEIRD', description: '' },
    },
    {
      name: 'an unknown state is statename UNKNOWN',
      partial: { name: 'w', state: 7 },
      expect: { state: 7, statename: 'UNKNOWN', description: '' },
    },
    {
      name: 'STOPPED never started',
      partial: { name: 'w', state: 0 },
      expect: { start: 0, stop: 0, pid: 0, description: 'Not started' },
    },
    {
      name: 'STOPPED after a run shows the local stop time',
      partial: { name: 'w', state: 0, start: NOW - 100, stop: 1414815722 },
      expect: { stop: 1414815722, description: localStopTime(1414815722) },
    },
    {
      name: 'a stop at local noon is 12 PM',
      partial: { name: 'w', state: 0, start: NOW - 100, stop: localEpoch(2014, 10, 1, 12, 5) },
      expect: { description: 'Nov 01 12:05 PM' },
    },
    {
      name: 'a stop at local midnight is 12 AM',
      partial: { name: 'w', state: 0, start: NOW - 100, stop: localEpoch(2014, 10, 2, 0, 5) },
      expect: { description: 'Nov 02 12:05 AM' },
    },
    {
      name: 'EXITED in the afternoon',
      partial: { name: 'w', statename: 'EXITED', start: NOW - 100, stop: NOW - 7, exitstatus: 3 },
      expect: { exitstatus: 3, description: localStopTime(NOW - 7) },
    },
    {
      name: 'STARTING and STOPPING have a pid and no description',
      partial: { name: 'w', statename: 'STOPPING', group: 'g' },
      expect: { group: 'g', description: '', start: NOW - 60 },
    },
    {
      name: 'logfile defaults to stdout_logfile',
      partial: { name: 'w', stdout_logfile: '/var/log/w.log' },
      expect: { logfile: '/var/log/w.log', stdout_logfile: '/var/log/w.log' },
    },
    {
      name: 'stdout_logfile defaults to logfile',
      partial: { name: 'w', logfile: '/var/log/old.log' },
      expect: { logfile: '/var/log/old.log', stdout_logfile: '/var/log/old.log' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = makeProcess(c.partial, NOW);
      assert.deepEqual(Object.keys(p), MEMBER_ORDER);
      for (const [key, value] of Object.entries(c.expect)) assert.equal(p[key as keyof ProcessInfo], value, key);
      if (p.state === 20 || p.state === 10 || p.state === 40) assert.ok(p.pid > 0);
      else if (c.partial.pid === undefined) assert.equal(p.pid, 0);
    });
  }

  it('makes stable, supervisord-like log paths per group and name', () => {
    const a = makeProcess({ name: 'web', group: 'g' }, NOW);
    const b = makeProcess({ name: 'web', group: 'g' }, NOW + 5);
    const c = makeProcess({ name: 'web', group: 'h' }, NOW);
    assert.match(a.stdout_logfile, /^\/var\/log\/supervisor\/web-stdout---supervisor-[a-z0-9_]{8}\.log$/);
    assert.match(a.stderr_logfile, /^\/var\/log\/supervisor\/web-stderr---supervisor-[a-z0-9_]{8}\.log$/);
    assert.equal(a.stdout_logfile, b.stdout_logfile);
    assert.equal(a.pid, b.pid);
    assert.notEqual(a.stdout_logfile, c.stdout_logfile);
  });

  it('pins now only when asked: argument, then partial.now, else 0 (live)', () => {
    assert.equal(makeProcess({ name: 'a' }, 10).now, 10);
    assert.equal(makeProcess({ name: 'a', now: 20 }).now, 20);
    assert.equal(makeProcess({ name: 'a', now: 20 }, 30).now, 30);
    const live = makeProcess({ name: 'a', pid: 5 });
    assert.equal(live.now, 0);
    assert.equal(live.description, 'pid 5, uptime 0:01:00');
  });

  it('exports the process state table', () => {
    assert.equal(PROCESS_STATES.RUNNING, 20);
    assert.equal(Object.isFrozen(PROCESS_STATES), true);
  });

  it('refuses a missing name', () => {
    assert.throws(
      () => makeProcess({ name: '' }),
      (err: unknown) => err instanceof TypeError && err.message === `makeProcess: 'name' must be a non-empty string, got ""`,
    );
    assert.throws(
      () => makeProcess({} as { name: string }),
      (err: unknown) => err instanceof TypeError && err.message === `makeProcess: 'name' must be a non-empty string, got undefined`,
    );
  });
});
