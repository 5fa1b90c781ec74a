/**
 * Exit statuses against a REAL supervisord (the harness of
 * test/helpers/supervisord.ts), checked against supervisord's own main log
 * read from its file by this test:
 * - `supervisor.readLog` answers as lib/exit-log.ts and the stand-in of
 *   test/helpers/main-log.ts say (bounds, faults, a character cut by a read);
 * - a program that exits 3 before its `startsecs` ends FATAL with
 *   `exitstatus: 0` in supervisord's answers; the check exports 3, the code
 *   of the last `exited:` line of the log;
 * - a program killed with SIGKILL exports -1 and the signal 9, before and
 *   after its `startsecs`;
 * - with `logfile=syslog` (no log to read), the status is unknown: no sample,
 *   never 0;
 * - across `clearLog()` and rotations (`logfile_maxbytes`), the exported
 *   status is the last one the log holds, or unknown when a rotation moved
 *   it to `supervisord.log.1` (which readLog cannot read) before the check
 *   read it: never another value.
 *
 * Skips, with the reason printed, only when supervisord is not installed.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { formatText } from '../../lib/outputs/text.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import type { CheckResult, InstanceConfig } from '../../lib/types.js';
import { findSupervisord, HarnessFault, startSupervisord, type HarnessProcess, type RunningSupervisord } from '../helpers/supervisord.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;

const checks: SupervisordCheck[] = [];
function newCheck(sup: RunningSupervisord, debug: string[] = [], instance: Partial<InstanceConfig> = {}): SupervisordCheck {
  const c = new SupervisordCheck({ name: 'it', socket: sup.socketUrl!, timeout: 5, ...instance }, { log: { warn: () => {}, debug: (m) => debug.push(m) } });
  checks.push(c);
  return c;
}
after(async () => {
  for (const c of checks) await c.close();
});

/** The metric `name` of process `proc`, or undefined. */
function metric(result: CheckResult, name: string, proc: string): number | undefined {
  return result.metrics.find((m) => m.name === name && m.tags.includes(`supervisord_process:${proc}`))?.value;
}

/** `exited: NAME (...)` lines of the log text, parsed here with a regular expression of this test's own. */
function exitedLines(text: string, name: string): Array<{ code: number | null; signal: string | null }> {
  const re = new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} [A-Z]{4} exited: ${name} \\((?:exit status (\\d+)|terminated by (\\S+)); (?:not )?expected\\)$`, 'gm');
  return [...text.matchAll(re)].map((m) => ({ code: m[1] === undefined ? null : Number(m[1]), signal: m[2] ?? null }));
}

const mainLog = (sup: RunningSupervisord): string => {
  const file = join(sup.dir, 'supervisord.log');
  const rotated = `${file}.1`;
  return (existsSync(rotated) ? readFileSync(rotated, 'utf8') : '') + (existsSync(file) ? readFileSync(file, 'utf8') : '');
};

const GRACEFUL = `/bin/sh -c "trap 'exit 0' TERM; while :; do sleep 0.2; done"`;

const state = (name: string, statename: string) => (procs: HarnessProcess[]): boolean => procs.some((p) => p['name'] === name && p['statename'] === statename);

describe('supervisor.readLog on a real supervisord: what the reader relies on', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  before(async () => {
    sup = await startSupervisord({ programs: [{ name: 'café', command: '/bin/sh -c "exit 5"', startsecs: 1, startretries: 0 }] });
    await sup.waitFor(state('café', 'FATAL'));
  });
  after(async () => {
    await sup?.stop();
  });

  it('bounds: a range, the end, past the end, bad arguments; a character cut at either end fails (HTTP 500, fault 30 in a multicall)', async () => {
    const bytes = readFileSync(join(sup.dir, 'supervisord.log'));
    const size = bytes.length;
    assert.equal(await sup.call('supervisor.readLog', [0, 40]), bytes.subarray(0, 40).toString('utf8'));
    assert.equal(await sup.call('supervisor.readLog', [-60, 0]), bytes.subarray(size - 60).toString('utf8'));
    assert.equal(await sup.call('supervisor.readLog', [-(size + 1000), 0]), bytes.toString('utf8'), 'a tail longer than the file is the file');
    assert.equal(await sup.call('supervisor.readLog', [size, 10]), '');
    assert.equal(await sup.call('supervisor.readLog', [size + 1000, 10]), '');
    for (const params of [
      [-5, 5],
      [0, -5],
    ]) {
      await assert.rejects(sup.call('supervisor.readLog', params), (e: unknown) => e instanceof HarnessFault && e.faultCode === 3 && e.faultString === 'BAD_ARGUMENTS');
    }
    const e = bytes.indexOf(Buffer.from('é'));
    assert.ok(e > 0, 'the log names café');
    await assert.rejects(sup.call('supervisor.readLog', [e + 1, 10]), /HTTP 500/);
    await assert.rejects(sup.call('supervisor.readLog', [0, e + 1]), /HTTP 500/);
    const [cut] = (await sup.call('system.multicall', [[{ methodName: 'supervisor.readLog', params: [e + 1, 10] }]])) as Array<Record<string, unknown>>;
    assert.equal(cut!['faultCode'], 30);
    assert.match(String(cut!['faultString']), /utf-8/);
    // Offsets past 2^31: the library's client sends them as <i8>, which supervisord reads too.
    const client = new XmlRpcClient(sup.socketUrl!);
    try {
      assert.equal(await client.call('supervisor.readLog', [2 ** 40, 1]), '');
      assert.equal(await client.call('supervisor.readLog', [2 ** 31 + 5, 1]), '');
    } finally {
      await client.close();
    }
  });
});

describe('exit statuses on a real supervisord, against its main log', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  before(async () => {
    sup = await startSupervisord({
      programs: [
        // Exits 3 before startsecs, 3 times: FATAL, and supervisord says exitstatus 0.
        { name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 2 },
        // Killed by SIGKILL before startsecs.
        { name: 'suicide', command: '/bin/sh -c "kill -9 $$"', startsecs: 1, startretries: 0 },
        // Killed by SIGKILL after startsecs (by the test).
        { name: 'victim', command: '/bin/sleep 1000', startsecs: 0, autorestart: false },
        { name: 'idle', command: '/bin/sleep 1000', autostart: false },
        // Exits 0 on SIGTERM: stopped, supervisord says 0, and that 0 is an exit status.
        { name: 'graceful', command: GRACEFUL, startsecs: 0 },
      ],
    });
    await sup.waitFor((procs) => state('quick', 'FATAL')(procs) && state('suicide', 'FATAL')(procs) && state('victim', 'RUNNING')(procs), 20_000);
  });
  after(async () => {
    await sup?.stop();
  });

  it('exit 3 before startsecs: supervisord says 0, its log says 3 (three times), the check exports 3', async () => {
    const info = (await sup.call('supervisor.getProcessInfo', ['quick'])) as HarnessProcess;
    assert.deepEqual([info['statename'], info['exitstatus'], info['spawnerr']], ['FATAL', 0, 'Exited too quickly (process log may have details)']);
    const lines = exitedLines(mainLog(sup), 'quick');
    assert.deepEqual(lines, [{ code: 3, signal: null }, { code: 3, signal: null }, { code: 3, signal: null }]);
    const debug: string[] = [];
    const check = newCheck(sup, debug);
    const result = await check.run();
    assert.deepEqual(result.errors, []);
    assert.equal(metric(result, 'supervisord.process.exit_status', 'quick'), lines.at(-1)!.code);
    assert.deepEqual(result.processes?.find((p) => p.name === 'quick')?.exit, { status: 3, source: 'main-log' });
    assert.match(formatText([{ name: 'it', result }]), /^quick: exit status 3 \(Exited too quickly \(process log may have details\)\)$/m);
    assert.ok(debug.some((m) => /^collection: main log read \(\d+ bytes in 1 call, \d+ events, after a gap\)$/.test(m)), debug.join('\n'));
    // The next run reads in its multicall only what is new: the 128-byte anchor.
    await check.run();
    assert.ok(debug.includes('collection: main log read (128 bytes in 1 call, 0 events)'), debug.join('\n'));
    // start_time: supervisord's start, never 0
    assert.equal(metric(result, 'supervisord.process.start_time', 'quick'), info['start']);
    assert.equal(metric(result, 'supervisord.process.start_time', 'idle'), undefined, 'never started');
  });

  it('a stop that ended with status 0: STOPPED and 0 in supervisord, a stopped: line in its log, the check exports 0', async () => {
    const stopped = await sup.ctl('stop', 'graceful');
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    const info = (await sup.call('supervisor.getProcessInfo', ['graceful'])) as HarnessProcess;
    assert.deepEqual([info['statename'], info['exitstatus']], ['STOPPED', 0]);
    assert.match(mainLog(sup), /^\S+ \S+ INFO stopped: graceful \(exit status 0\)$/m);
    const result = await newCheck(sup).run();
    assert.equal(metric(result, 'supervisord.process.exit_status', 'graceful'), 0);
    assert.deepEqual(result.processes?.find((p) => p.name === 'graceful')?.exit, { status: 0, source: 'main-log' });
  });

  it('SIGKILL before startsecs (FATAL, supervisord says 0) and after it (EXITED, -1): -1 and the signal 9', async () => {
    const victim = (await sup.call('supervisor.getProcessInfo', ['victim'])) as HarnessProcess;
    process.kill(Number(victim['pid']), 'SIGKILL');
    await sup.waitFor(state('victim', 'EXITED'));
    const text = mainLog(sup);
    assert.deepEqual(exitedLines(text, 'suicide').at(-1), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(exitedLines(text, 'victim').at(-1), { code: null, signal: 'SIGKILL' });
    assert.equal(((await sup.call('supervisor.getProcessInfo', ['suicide'])) as HarnessProcess)['exitstatus'], 0);
    assert.equal(((await sup.call('supervisor.getProcessInfo', ['victim'])) as HarnessProcess)['exitstatus'], -1);
    const result = await newCheck(sup).run();
    for (const name of ['suicide', 'victim']) {
      assert.equal(metric(result, 'supervisord.process.exit_status', name), -1, name);
      assert.equal(metric(result, 'supervisord.process.exit_signal', name), 9, name);
    }
    assert.match(formatText([{ name: 'it', result }]), /^victim: killed by SIGKILL \(/m);
  });
});

describe('exit statuses across clearLog and rotations (logfile_maxbytes)', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sc-rotate-'));
    sup = await startSupervisord({
      programs: [
        // A different code at each attempt, from a counter in a file; started by the test.
        { name: 'counter', command: `/bin/sh -c "n=$(cat ${dir}/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${dir}/n; exit $n"`, startsecs: 1, startretries: 1, autostart: false },
      ],
      extraConfig: '[supervisord]\nlogfile_maxbytes=1200\nlogfile_backups=1',
    });
  });
  after(async () => {
    await sup?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('through clearLog and rotations: the exported status is the last exit the log holds, or unknown when a rotation took it away', async () => {
    const debug: string[] = [];
    const check = newCheck(sup, debug, { proc_names: ['counter'] });
    await check.run();
    let previous = 0;
    let rotations = 0;
    let known = 0;
    for (let round = 1; round <= 6; round++) {
      if (round === 3) assert.equal(await sup.call('supervisor.clearLog'), true);
      const size = readFileSync(join(sup.dir, 'supervisord.log')).length;
      const started = await sup.ctl('start', 'counter');
      assert.notEqual(started.code, 0, 'counter cannot start');
      await sup.waitFor(state('counter', 'FATAL'));
      const lines = exitedLines(mainLog(sup), 'counter');
      const last = lines.at(-1)!;
      assert.ok(last.code! > previous, `round ${round}: a new exit in the log (${last.code} after ${previous})`);
      previous = last.code!;
      if (readFileSync(join(sup.dir, 'supervisord.log')).length < size) rotations++;
      const result = await check.run();
      const exported = metric(result, 'supervisord.process.exit_status', 'counter');
      const context = `round ${round}: ${debug.slice(-3).join(' | ')}`;
      // The current file holds that exit: it is exported. Rotated into supervisord.log.1 before the check
      // read it (readLog reads the current file only): unknown, never another value.
      if (exitedLines(readFileSync(join(sup.dir, 'supervisord.log'), 'utf8'), 'counter').at(-1)?.code === last.code) {
        assert.equal(exported, last.code, context);
        known++;
      } else {
        assert.equal(exported, undefined, context);
        assert.equal(result.processes?.[0]?.exit?.status, null, context);
      }
    }
    assert.ok(rotations >= 2, `the log was rotated or cleared between two reads ${rotations} times`);
    assert.ok(known >= 3, `the status was known in ${known} rounds`);
    assert.ok(debug.some((m) => m.includes(', after a gap)')), 'a gap was seen');
  });
});

describe('no main log to read (logfile=syslog): unknown, never 0', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  before(async () => {
    sup = await startSupervisord({
      programs: [{ name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 0 }],
      extraConfig: '[supervisord]\nlogfile=syslog',
    });
    await sup.waitFor(state('quick', 'FATAL'));
  });
  after(async () => {
    await sup?.stop();
  });

  it('no exit_status sample, the summary says why, a warning; readLog answers NO_FILE', async () => {
    await assert.rejects(sup.call('supervisor.readLog', [-100, 0]), (e: unknown) => e instanceof HarnessFault && e.faultCode === 20 && e.faultString === 'NO_FILE: syslog');
    const result = await newCheck(sup).run();
    assert.deepEqual(result.errors, []);
    assert.equal(metric(result, 'supervisord.process.exit_status', 'quick'), undefined);
    const reason = "supervisord's main log could not be read (NO_FILE: syslog: no log file (logfile=syslog, or the file was removed))";
    assert.deepEqual(result.processes?.[0]?.exit, { status: null, reason });
    assert.deepEqual(result.warnings, [
      `exit status of 'quick' (FATAL) unknown: ${reason}; supervisord's process info says 0 for an exit before startsecs, which is not an exit status`,
    ]);
    assert.match(formatText([{ name: 'it', result }]), /^quick: exit status unknown \(/m);
  });
});

describe('loglevel=warn: exits before startsecs are logged (WARN), a stop that ended with 0 is not (INFO)', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  before(async () => {
    sup = await startSupervisord({
      programs: [
        { name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 0 },
        { name: 'graceful', command: GRACEFUL, startsecs: 0 },
      ],
      extraConfig: '[supervisord]\nloglevel=warn',
    });
    await sup.waitFor((procs) => state('quick', 'FATAL')(procs) && state('graceful', 'RUNNING')(procs));
    // Killed (a WARN line), restarted by supervisord, then stopped with status 0 (an INFO line, not written).
    const first = (await sup.call('supervisor.getProcessInfo', ['graceful'])) as HarnessProcess;
    process.kill(Number(first['pid']), 'SIGKILL');
    await sup.waitFor((procs) => procs.some((p) => p['name'] === 'graceful' && p['statename'] === 'RUNNING' && p['pid'] !== first['pid']));
    const stopped = await sup.ctl('stop', 'graceful');
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
  });
  after(async () => {
    await sup?.stop();
  });

  it('FATAL: 3 from the WARN line; STOPPED with 0 after a logged kill: unknown, never the -1 of the kill', async () => {
    const text = mainLog(sup);
    assert.deepEqual(exitedLines(text, 'quick'), [{ code: 3, signal: null }]);
    assert.doesNotMatch(text, / INFO /, 'no INFO line');
    // The log's last exit of graceful is the kill: taking it would say -1 for a stop that ended with 0.
    assert.deepEqual(exitedLines(text, 'graceful'), [{ code: null, signal: 'SIGKILL' }]);
    assert.doesNotMatch(text, /stopped: graceful/);
    assert.equal(((await sup.call('supervisor.getProcessInfo', ['graceful'])) as HarnessProcess)['exitstatus'], 0);
    const result = await newCheck(sup).run();
    assert.equal(metric(result, 'supervisord.process.exit_status', 'quick'), 3);
    assert.equal(metric(result, 'supervisord.process.exit_status', 'graceful'), undefined);
    assert.deepEqual(result.processes?.find((p) => p.name === 'graceful')?.exit, {
      status: null,
      reason: "supervisord's main log has no INFO lines (loglevel warn or higher does not log a stop that ended with status 0)",
    });
  });
});
