/**
 * `--format nagios` on the command line: its flags, exit codes 0 to 3 (bad
 * flags and internal failures UNKNOWN, with the reason on stdout where a
 * monitoring system reads it), in process against the emulator, as a child
 * process, and against a real supervisord whose counts and exit statuses
 * are checked against supervisorctl and supervisord's own log.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parseArgs, UsageError } from '../../lib/cli/args.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { cli } from '../helpers/cli-run.js';
import { datum, readPlugin, wellFormed } from '../helpers/nagios-plugin.js';
import { JAVA, MYSQL, PYTHON } from '../helpers/reference-processes.js';
import { findSupervisord, startSupervisord, zooPrograms, zooSettled } from '../helpers/supervisord.js';
import type { RunningSupervisord } from '../helpers/supervisord.js';

const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));
const NOW = 1_700_000_000;

let dir: string;
let sock: string;
let emulator: SupervisordEmulator;
let healthy: SupervisordEmulator;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-nagios-'));
  sock = join(dir, 'supervisor.sock');
  emulator = await SupervisordEmulator.start({ listen: { socketPath: sock }, processes: [{ ...MYSQL }, { ...JAVA }, { ...PYTHON }] });
  healthy = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web', start: NOW - 60 }, NOW)] });
});

after(async () => {
  await Promise.all([emulator?.close(), healthy?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('parseArgs: the nagios flags', () => {
  it('thresholds by flag, short and named, and --perfdata-uptime', () => {
    const options = parseArgs(['--format', 'nagios', '-w', '1', '-c', '2:5', '--warning-unknown', '@1:2', '--critical-unknown=3', '--perfdata-uptime']);
    assert.deepEqual(options.nagios, { down: { warning: '1', critical: '2:5' }, unknown: { warning: '@1:2', critical: '3' }, uptime: true });
    assert.deepEqual(parseArgs(['--format=nagios', '--warning-down', '~:4', '--critical', '10:']).nagios, { down: { warning: '~:4', critical: '10:' } });
    assert.equal(parseArgs(['--format', 'nagios']).nagios, undefined, 'no flag: the format\'s defaults');
  });

  const refused: Array<[string[], string]> = [
    [['-w', '1'], '--warning applies only to --format nagios'],
    [['--format', 'text', '--critical-unknown', '1'], '--critical-unknown applies only to --format nagios'],
    [['--perfdata-uptime'], '--perfdata-uptime applies only to --format nagios'],
    [['--format', 'nagios', '--perfdata-uptime=yes'], '--perfdata-uptime takes no value'],
    [['--format', 'nagios', '--interval', '5s'], '--format nagios is for one run per invocation (the monitoring system schedules them): --interval does not apply'],
    [['--format', 'nagios', '--serve', '127.0.0.1:0'], '--format does not apply to --serve (always prometheus)'],
    [['--format', 'nagios', '-c', '5:1'], '--critical: "5:1" is not a threshold range (the start 5 is greater than the end 1; e.g. 10, 10:, ~:10, 10:20, @10:20)'],
    [['--format', 'nagios', '--warning-unknown', ''], '--warning-unknown: "" is not a threshold range (give a start or an end; e.g. 10, 10:, ~:10, 10:20, @10:20)'],
    [['--format', 'nagios', '-w', '1', '--warning', '2'], '--warning is given more than once'],
    [['--format', 'nagios', '--critical', '1', '-c', '2'], '--critical (-c) is given more than once'],
    [['--format', 'nagios', '--warning', '1', '--warning-down', '2'], '--warning-down: the warning threshold of the down count is already set (--warning, -w and --warning-down all set it)'],
  ];
  for (const [argv, message] of refused) {
    it(`refuses ${argv.join(' ')}`, () => {
      assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && e.message === message);
    });
  }
});

describe('main --format nagios (in process, emulator)', () => {
  it('the reference processes: CRITICAL, exit 2, nothing on stderr', async () => {
    const out = await cli(['--socket', sock, '--format', 'nagios']);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, '');
    const read = wellFormed({ state: out.code, output: out.stdout });
    assert.equal(read.summary, '1 down (java), 1 unknown (python), 1 up');
    assert.deepEqual(read.perf.map((d) => [d.label, d.value]), [['up', 1], ['down', 1], ['unknown', 1]]);
  });

  const codes: Array<{ argv: string[]; code: number; summary: RegExp; why: string }> = [
    { argv: ['-c', '1', '--warning-unknown', '1'], code: 0, summary: /^1 down \(java\), 1 unknown \(python\), 1 up$/, why: 'thresholds that allow one of each: OK' },
    { argv: ['-c', '1'], code: 1, summary: /^1 down/, why: 'down allowed, unknown still warns by default' },
    { argv: ['--critical-unknown', '0'], code: 2, summary: /^1 down/, why: 'unknown made critical' },
    { argv: ['--proc-names', 'mysql,nope'], code: 3, summary: /^a filter matched no process; 1 process up$/, why: 'a name that matched nothing: UNKNOWN' },
    { argv: ['--proc-names', 'mysql', '--perfdata-uptime'], code: 0, summary: /^1 process up$/, why: 'uptime perfdata after the long output' },
  ];
  for (const c of codes) {
    it(`${c.argv.join(' ')}: exit ${c.code} (${c.why})`, async () => {
      const out = await cli(['--socket', sock, '--format', 'nagios', ...c.argv]);
      assert.equal(out.code, c.code, out.stdout);
      const read = wellFormed({ state: out.code, output: out.stdout });
      assert.match(read.summary, c.summary);
      if (c.argv.includes('--perfdata-uptime')) assert.deepEqual(read.morePerf.map((d) => [d.label, d.value, d.uom]), [['mysql uptime', 125, 's']]);
    });
  }

  it('an unreachable server: CRITICAL, the reason in the long output', async () => {
    const missing = join(dir, 'missing.sock');
    const out = await cli(['--socket', missing, '--format', 'nagios']);
    assert.equal(out.code, 2);
    const read = wellFormed({ state: out.code, output: out.stdout });
    assert.equal(read.summary, `unreachable: unix://${missing}`);
    assert.deepEqual(read.perf, []);
    assert.ok(read.long.some((l) => l.startsWith(`error: Cannot connect to unix://${missing}.`)), read.long.join('\n'));
  });

  const unknowns: Array<[string[], string]> = [
    [['--format', 'nagios', '--bogus'], 'unknown option "--bogus" (see --help)'],
    [['--format=nagios', '--critical', 'high'], '--critical: "high" is not a threshold range (the end "high" is not a number; e.g. 10, 10:, ~:10, 10:20, @10:20)'],
    [['--format', 'nagios', '--interval', '5s'], '--format nagios is for one run per invocation (the monitoring system schedules them): --interval does not apply'],
    [['--format', 'nagios', '--config', '/nonexistent/supervisord-check.yaml'], 'cannot read --config /nonexistent/supervisord-check.yaml: ENOENT: no such file or directory'],
  ];
  for (const [argv, message] of unknowns) {
    it(`bad arguments are UNKNOWN (exit 3) on stdout: ${argv.slice(2).join(' ') || argv[0]}`, async () => {
      const out = await cli(argv);
      assert.equal(out.code, 3);
      assert.equal(out.stderr, '');
      const read = readPlugin(out.stdout);
      assert.equal(read.state, 'UNKNOWN');
      // The reason on the first line, cut to 80 characters; then whole on the next line when it was cut.
      assert.equal(read.long.length === 0 ? read.summary : read.long[0], message);
      if (read.long.length > 0) assert.ok(message.startsWith(read.summary.slice(0, -3)), read.summary);
    });
  }

  it('without --format nagios a bad flag stays exit 2 on stderr', async () => {
    const out = await cli(['-w', '1']);
    assert.equal(out.code, 2);
    assert.equal(out.stdout, '');
    assert.equal(out.stderr, 'supervisord-check: --warning applies only to --format nagios\n');
  });

  it('--config with two servers: each judged, the worst wins', async () => {
    const config = join(dir, 'two.json');
    writeFileSync(config, JSON.stringify({ instances: [{ name: 'ref', socket: `unix://${sock}` }, { name: 'ok', url: healthy.url }] }));
    const out = await cli(['--config', config, '--format', 'nagios']);
    assert.equal(out.code, 2);
    const read = wellFormed({ state: out.code, output: out.stdout });
    assert.equal(read.summary, '1 of 2 servers not OK (ref); 1 down, 1 unknown, 2 up');
    assert.deepEqual(read.long.slice(0, 1), ['[ref] CRITICAL - 1 down (java), 1 unknown (python), 1 up']);
    assert.equal(datum(read, 'ok up')?.value, 1);
  });
});

describe('as a child process', () => {
  it('the exit code is the state, also for bad flags', async () => {
    // Asynchronous: the emulator answers from this process.
    const run = (argv: string[]): Promise<{ status: number | null; stdout: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [CLI, ...argv], { timeout: 20_000, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } }, (error, stdout) =>
          resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout }),
        );
      });
    const ok = await run(['--url', healthy.url, '--format', 'nagios']);
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /^SUPERVISORD OK - 1 process up \| 'up'=1;;;0;1 'down'=0;;0;0;1 'unknown'=0;0;;0;1\n$/);
    const bad = await run(['--format', 'nagios', '--port', 'x']);
    assert.equal(bad.status, 3);
    assert.match(bad.stdout, /^SUPERVISORD UNKNOWN - --port needs a port number/);
  });
});

describe('against a real supervisord', () => {
  let sup: RunningSupervisord | undefined;
  let skip: string | undefined;
  before(async () => {
    if (findSupervisord() === null) {
      skip = 'supervisord is not installed (apt-get install supervisor)';
      return;
    }
    sup = await startSupervisord({ programs: zooPrograms() });
    await sup.waitFor(zooSettled);
  });
  after(async () => {
    await sup?.stop();
  });

  it('counts as supervisorctl status sees them, exit statuses as supervisord logged them', async (t) => {
    if (sup === undefined) return t.skip(skip);
    const out = await cli(['--socket', sup.socketUrl!, '--format', 'nagios', '--perfdata-uptime']);
    const read = wellFormed({ state: out.code, output: out.stdout });

    // supervisorctl's own view, mapped as the reference maps states.
    const status = await sup.ctl('status');
    const states = status.stdout
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[1]!);
    const mapped = (s: string): string => (s === 'RUNNING' ? 'up' : s === 'STARTING' || s === 'UNKNOWN' ? 'unknown' : 'down');
    const expected = { up: 0, down: 0, unknown: 0 } as Record<string, number>;
    for (const s of states) expected[mapped(s)]!++;
    assert.equal(states.length, 7, status.stdout);
    assert.deepEqual(
      read.perf.map((d) => [d.label, d.value, d.max]),
      [['up', expected['up'], '7'], ['down', expected['down'], '7'], ['unknown', expected['unknown'], '7']],
    );
    assert.equal(out.code, expected['down']! > 0 ? 2 : expected['unknown']! > 0 ? 1 : 0);
    assert.equal(read.morePerf.length, 7, 'one uptime per process');

    // The exit status in the long output is the one supervisord's log gives (never a made-up 0).
    const log = readFileSync(join(sup.dir, 'supervisord.log'), 'utf8');
    const logged = [...log.matchAll(/exited: exiter \(exit status (\d+);/g)].at(-1)?.[1];
    assert.ok(logged !== undefined, 'supervisord logged the exit');
    assert.ok(read.long.some((l) => l.startsWith('exiter: EXITED (down), ') && l.endsWith(`, exit status ${logged}`)), read.long.join('\n'));
    assert.ok(read.long.some((l) => l.startsWith('idle: STOPPED (down), Not started, exit status unknown')), read.long.join('\n'));
  });
});
