/**
 * The demo (`npm start`): settings, the pieces it is made of (recorded
 * seed, emulator script, round table), then whole runs in
 * process and as a child process, against a real supervisord (skipped with a
 * reason when it is not installed) and the emulator, ending normally, on an
 * abort, SIGINT, SIGTERM, process.exit() and launch failures. After every
 * run: no demo dir is left in the (private) tmp dir, supervisord's pid is
 * gone, and no process carries the launcher's marker environment variable
 * with the demo's dir (read from /proc: these tests need Linux, as CI has).
 * The launcher itself is tested in launcher.test.ts.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import {
  DEMO_DIR_PREFIX,
  DemoError,
  EmulatedScript,
  loadRecorded,
  RoundTable,
  runDemo,
} from '../../lib/demo/demo.js';
import { findSupervisord } from '../../lib/launcher/find-supervisord.js';
import type { CheckResult, ServiceCheckStatus } from '../../lib/types.js';
import { alive, markedPids, script, waitUntil } from '../helpers/launched-processes.js';

const DEMO_JS = fileURLToPath(new URL('../../lib/demo/demo.js', import.meta.url));
const SUPERVISORD = findSupervisord();
const NOT_INSTALLED = 'supervisord is not installed (apt-get install supervisor)';
const REAL_TMP = tmpdir();

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A writable that keeps what was written; `isTTY` optional. */
class Capture extends Writable {
  text = '';
  isTTY?: boolean;
  readonly #onWrite: ((text: string) => void) | undefined;

  constructor(onWrite?: (text: string) => void) {
    super();
    this.#onWrite = onWrite;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    this.#onWrite?.(this.text);
    callback();
  }
}

/** The demo dir named in the output. */
function demoDir(output: string): string {
  const m = new RegExp(`(/\\S*${DEMO_DIR_PREFIX}[A-Za-z0-9]+)`).exec(output);
  assert.ok(m, `no demo dir in the output:\n${output}`);
  return m[1]!;
}

/** supervisord's pid, from the header of a real run. */
function supervisordPid(output: string): number {
  const m = /pid (\d+)\) in /.exec(output);
  assert.ok(m, `no supervisord pid in the output:\n${output}`);
  return Number(m[1]);
}

/** Asserts that nothing of the run is left: its dir, supervisord (if real), any marked process. */
async function assertNothingLeft(output: string, tmp: string, before: string[]): Promise<void> {
  const dir = demoDir(output);
  assert.ok(dir.startsWith(`${tmp}/`), `the demo dir ${dir} is not in the private tmp dir ${tmp}`);
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
  assert.deepEqual(readdirSync(tmp), before, 'the tmp dir listing changed');
  if (/pid (\d+)\) in /.test(output)) assert.equal(alive(supervisordPid(output)), false, 'supervisord is still running');
  assert.deepEqual(markedPids(dir), [], 'processes of the demo are still running');
}

/**
 * Runs `fn` with `os.tmpdir()` pointing at a fresh private dir (TMPDIR), so
 * that a listing comparison is not disturbed by other test files; returns the
 * dir and its listing before `fn`.
 */
async function inPrivateTmp(fn: (tmp: string, before: string[]) => Promise<void>): Promise<void> {
  const tmp = mkdtempSync(join(REAL_TMP, 'sc-demo-test-'));
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp;
  try {
    await fn(tmp, readdirSync(tmp));
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

describe('runDemo settings', () => {
  const cases: Array<{ name: string; options: Parameters<typeof runDemo>[0]; env?: Record<string, string>; message: string }> = [
    { name: 'rounds 0', options: { rounds: 0 }, message: 'rounds must be an integer from 1 to 1000, got 0' },
    { name: 'fractional rounds', options: { rounds: 2.5 }, message: 'rounds must be an integer from 1 to 1000, got 2.5' },
    { name: 'negative interval', options: { intervalMs: -1 }, message: 'intervalMs must be an integer from 0 to 600000, got -1' },
    { name: 'rounds from env not a number', options: {}, env: { SUPERVISORD_CHECK_DEMO_ROUNDS: 'two' }, message: 'SUPERVISORD_CHECK_DEMO_ROUNDS must be a whole number, got "two"' },
    { name: 'rounds from env 0', options: {}, env: { SUPERVISORD_CHECK_DEMO_ROUNDS: '0' }, message: 'rounds must be an integer from 1 to 1000, got 0' },
    { name: 'interval from env 1e3', options: {}, env: { SUPERVISORD_CHECK_DEMO_INTERVAL_MS: '1e3' }, message: 'SUPERVISORD_CHECK_DEMO_INTERVAL_MS must be a whole number, got "1e3"' },
  ];
  it('has a stable error class for them', () => {
    const error = new DemoError('x');
    assert.deepEqual([error.name, error.code, error.message], ['DemoError', 'ERR_DEMO_SETTING', 'x']);
  });

  for (const c of cases) {
    it(`exits 2 on ${c.name}`, async () => {
      await inPrivateTmp(async (tmp, before) => {
        const stdout = new Capture();
        const stderr = new Capture();
        const code = await runDemo({ ...c.options, stdout, stderr, env: { ...process.env, ...c.env } });
        assert.equal(code, 2);
        assert.equal(stderr.text, `supervisord-check demo: ${c.message}\n`);
        assert.equal(stdout.text, '');
        assert.deepEqual(readdirSync(tmp), before);
      });
    });
  }
});

// ---------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------

describe('emulator seed and script', () => {
  it('decodes the recorded answers', () => {
    const recorded = loadRecorded();
    assert.equal(recorded.version, '4.2.5');
    assert.match(recorded.source, /getAllProcessInfo\.http/);
    assert.equal(recorded.processes.get('broken:broken')?.statename, 'FATAL');
    assert.equal(recorded.processes.get('exiter:exiter')?.exitstatus, 3);
    assert.equal(recorded.processes.get('web:front')?.group, 'web');
  });

  it('falls back to defaults when the recording is not there', () => {
    const dir = mkdtempSync(join(REAL_TMP, 'sc-demo-seed-'));
    try {
      const recorded = loadRecorded(pathToFileURL(join(dir, 'a', 'b', 'demo.js')).href);
      assert.equal(recorded.processes.size, 0);
      assert.equal(recorded.version, '4.2.5');
      assert.match(recorded.source, /were not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const expected: Array<[number, Record<string, string>]> = [
    [0, { sleeper: 'STARTING', exiter: 'RUNNING', broken: 'BACKOFF', 'web:front': 'STARTING', 'web:back': 'STARTING', looper: 'RUNNING', idle: 'STOPPED' }],
    [1, { sleeper: 'RUNNING', exiter: 'EXITED', broken: 'FATAL', 'web:front': 'RUNNING', 'web:back': 'RUNNING', looper: 'EXITED', idle: 'STOPPED' }],
    [2, { sleeper: 'RUNNING', exiter: 'EXITED', broken: 'FATAL', 'web:front': 'RUNNING', 'web:back': 'RUNNING', looper: 'RUNNING', idle: 'STOPPED' }],
  ];
  for (const seeded of [true, false]) {
    for (const [round, states] of expected) {
      it(`scripts round ${round} ${seeded ? 'from the recording' : 'from defaults'}`, () => {
        const script = new EmulatedScript(seeded ? loadRecorded().processes : new Map(), '/tmp/demo-x');
        const table = script.processesAt(round);
        const actual = Object.fromEntries(table.map((p) => [p.group === p.name ? p.name : `${p.group}:${p.name}`, p.statename]));
        assert.deepEqual(actual, states);
        for (const p of table) assert.ok(p.stdout_logfile.startsWith(seeded ? '/tmp/demo-x/' : '/'), p.stdout_logfile);
        const exiter = table.find((p) => p.name === 'exiter')!;
        assert.equal(exiter.exitstatus, round === 0 ? 0 : 3);
        if (seeded) assert.equal(table.find((p) => p.name === 'broken')!.spawnerr, "can't find command '/nonexistent/supervisord-check-missing'");
      });
    }
  }
});

// ---------------------------------------------------------------------------
// The round table
// ---------------------------------------------------------------------------

type Proc = { name: string; group?: string; status: ServiceCheckStatus; state?: string; uptime: number; description?: string; exit?: number; stop?: string };

/** A result shaped like the check's (tags, the reference's 11-line message), built here from the spec. */
function result(procs: Proc[], extra: { errors?: string[] } = {}): CheckResult {
  const base = ['supervisord_server:demo'];
  const out: CheckResult = {
    metrics: [],
    serviceChecks: [{ name: 'supervisord.can_connect', status: 0, tags: base }],
    metadata: { version: { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' } },
    warnings: [],
    errors: extra.errors ?? [],
  };
  for (const p of procs) {
    const group = p.group ?? p.name;
    const tags = [...base, `supervisord_process:${p.name}`, `supervisord_group:${group}`];
    const check: CheckResult['serviceChecks'][number] = { name: 'supervisord.process.status', status: p.status, tags };
    if (p.state !== undefined) {
      check.message = [
        'Current time: 2026-11-25 12:00:00',
        `Process name: ${p.name}`,
        `Process group: ${group}`,
        `Description: ${p.description ?? ''}`,
        'Error log file: /tmp/e.log',
        'Stdout log file: /tmp/o.log',
        'Log file: /tmp/o.log',
        `State: ${p.state}`,
        'Start time: 2026-11-25 11:59:00',
        `Stop time: ${p.stop ?? ''}`,
        `Exit Status: ${p.exit ?? 0}`,
      ].join('\n');
    }
    out.serviceChecks.push(check);
    out.metrics.push({ name: 'supervisord.process.uptime', type: 'gauge', value: p.uptime, tags });
  }
  return out;
}

describe('RoundTable', () => {
  const at = (seconds: number): Date => new Date(Date.UTC(2026, 10, 25, 12, 0, 0) + seconds * 1000);
  const target = 'unix:///tmp/x/supervisor.sock';

  it('shows the text table, why processes are down, then what changed', () => {
    const table = new RoundTable({ color: false, target });
    const first = table.render(
      result([
        { name: 'looper', status: 0, uptime: 5 },
        { name: 'steady', status: 0, uptime: 5 },
        { name: 'exiter', status: 0, uptime: 1 },
        { name: 'idle', status: 2, state: 'STOPPED', uptime: 0, description: 'Not started' },
        { name: 'front', group: 'web', status: 3, state: 'STARTING', uptime: 0 },
      ]),
      0,
      2,
      at(0),
    );
    const lines = first.split('\n');
    assert.match(lines[0]!, /^Round 1\/2 at \d\d:\d\d:\d\d$/);
    assert.match(lines[1]!, /^ {2}PROCESS +GROUP +STATE +STATUS +UPTIME$/);
    assert.match(first, /\n {2}front +web +STARTING +unknown +/);
    assert.match(first, new RegExp(`\\n {2}5 processes: 3 up, 1 down, 1 unknown . supervisord 4\\.2\\.5 at ${target} reachable\\n`));
    assert.ok(first.endsWith('\n  idle is STOPPED (Not started), web:front is STARTING\n'), first);
    const second = table.render(
      result([
        { name: 'looper', status: 0, uptime: 0 },
        { name: 'steady', status: 0, uptime: 8 },
        { name: 'exiter', status: 2, state: 'EXITED', uptime: 0, description: 'Nov 25 12:00 PM', exit: 3, stop: '2026-11-25 12:00:02' },
        { name: 'idle', status: 2, state: 'STOPPED', uptime: 0, description: 'Not started' },
        { name: 'front', group: 'web', status: 0, uptime: 3 },
      ]),
      1,
      2,
      at(3),
    );
    assert.match(second, /^Round 2\/2 at /);
    assert.ok(second.endsWith('\n  changes: looper restarted, exiter RUNNING -> EXITED (exit status 3), web:front STARTING -> RUNNING\n'), second);
  });

  it('says when nothing changed, sees a stopped process that ran again, and keeps the errors', () => {
    const table = new RoundTable({ color: false, target });
    const exited = (stop: string): Proc => ({ name: 'looper', status: 2, state: 'EXITED', uptime: 0, exit: 1, stop });
    assert.doesNotMatch(table.render(result([{ name: 'a', status: 0, uptime: 1 }, exited('12:00:01')]), 0, 4, at(0)), /changes/);
    const same = table.render(result([{ name: 'a', status: 0, uptime: 2 }, exited('12:00:01')]), 1, 4, at(1));
    assert.ok(same.endsWith('\n  changes: none\n'), same);
    const starting: Proc = { name: 'a', status: 3, state: 'STARTING', uptime: 0 };
    const again = table.render(result([starting, exited('12:00:04')]), 2, 4, at(5));
    assert.ok(again.endsWith('\n  changes: a RUNNING -> STARTING (restarting), looper ran again and is EXITED again (exit status 1)\n'), again);
    const failed = table.render(result([{ name: 'b', status: 3, uptime: 0 }], { errors: ['boom'] }), 3, 4, at(6));
    assert.match(failed, /\n {2}error: boom\n/);
    assert.ok(failed.endsWith('\n  changes: b is ?\n'), failed);
  });

  it('passes colours to the table only when asked', () => {
    const procs: Proc[] = [
      { name: 'up1', status: 0, uptime: 1 },
      { name: 'down1', status: 2, state: 'FATAL', uptime: 0, description: 'nope' },
    ];
    const coloured = new RoundTable({ color: true, target }).render(result(procs), 0, 1, at(0));
    assert.match(coloured, /\u001b\[32mup\u001b\[0m/);
    assert.match(coloured, /\u001b\[31mdown\u001b\[0m/);
    assert.ok(coloured.endsWith('\n  down1 is FATAL (nope)\n'), coloured);
    assert.doesNotMatch(new RoundTable({ color: false, target }).render(result(procs), 0, 1, at(0)), /\u001b/);
  });
});

// ---------------------------------------------------------------------------
// Whole runs, in process
// ---------------------------------------------------------------------------

describe('runDemo against the emulator', () => {
  it('runs the rounds with the scripted changes and leaves nothing behind', async () => {
    await inPrivateTmp(async (tmp, before) => {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runDemo({ stdout, stderr, rounds: 3, intervalMs: 0, env: { ...process.env, SUPERVISORD_BIN: '' } });
      assert.equal(stderr.text, '');
      assert.equal(code, 0, stdout.text);
      const out = stdout.text;
      // Regression: an empty SUPERVISORD_BIN was reported as "supervisord is not installed".
      assert.ok(out.startsWith('supervisord-check demo: SUPERVISORD_BIN is empty: running against the built-in emulator\n'), out);
      assert.match(out, /seeded from the answer recorded from a real supervisord/);
      // Regression: the emulator's header gave the real programs' timings ("exits after 3 s"), which its rounds do not follow.
      assert.match(out, /\n {2}looper {5}exits at every other round and is restarted at the next\n/);
      assert.doesNotMatch(out, / s,? again| after \d+ s/);
      assert.equal(out.match(/^Round \d\/3 at /gm)?.length, 3);
      for (const name of ['sleeper', 'exiter', 'broken', 'front', 'back', 'looper', 'idle']) assert.match(out, new RegExp(`\\n {2}${name} `));
      assert.match(out, /\n {2}7 processes: 2 up, 2 down, 3 unknown . supervisord 4\.2\.5 at unix:\/\/\/\S+\/supervisor\.sock reachable\n/);
      assert.match(out, /\n {2}broken is BACKOFF \(can't find command '\/nonexistent\/supervisord-check-missing'\), idle is STOPPED \(Not started\), sleeper is STARTING, web:back is STARTING, web:front is STARTING\n/);
      assert.match(out, /\n {2}changes: broken BACKOFF -> FATAL \(can't find command '\/nonexistent\/supervisord-check-missing'\), exiter RUNNING -> EXITED \(exit status 3\), looper RUNNING -> EXITED \(exit status 1\), sleeper STARTING -> RUNNING, web:back STARTING -> RUNNING, web:front STARTING -> RUNNING\n/);
      assert.match(out, /\n {2}changes: looper EXITED -> RUNNING\n/);
      assert.match(out, /\n {2}idle +idle +STOPPED +down +-\n/);
      // Regression: the closing line suggested `supervisord-check --help`, a command npm start does not install.
      assert.match(out, /\nDemo done: emulator stopped, \S+ removed\. Point it at your own supervisord: supervisord-check --help \(from a clone, without installing: npx supervisord-check --help; to install the command: npm install -g \.\)\n$/);
      await assertNothingLeft(out, tmp, before);
    });
  });

  it('says it was asked for the emulator when supervisordPath is null', async () => {
    await inPrivateTmp(async (tmp, before) => {
      const stdout = new Capture();
      const code = await runDemo({ stdout, stderr: new Capture(), rounds: 1, supervisordPath: null });
      assert.equal(code, 0);
      assert.ok(stdout.text.startsWith('supervisord-check demo: running against the built-in emulator\n'), stdout.text);
      assert.doesNotMatch(stdout.text, /changes:/);
      await assertNothingLeft(stdout.text, tmp, before);
    });
  });

  const colours: Array<[string, boolean, string | undefined, boolean]> = [
    ['a terminal', true, undefined, true],
    ['a terminal with NO_COLOR', true, '1', false],
    ['a terminal with an empty NO_COLOR', true, '', true],
    ['a pipe', false, undefined, false],
  ];
  for (const [what, tty, noColor, expected] of colours) {
    it(`${expected ? 'colours' : 'does not colour'} the status words on ${what}`, async () => {
      await inPrivateTmp(async () => {
        const stdout = new Capture();
        stdout.isTTY = tty;
        const env: NodeJS.ProcessEnv = { ...process.env };
        delete env['NO_COLOR'];
        if (noColor !== undefined) env['NO_COLOR'] = noColor;
        assert.equal(await runDemo({ stdout, stderr: new Capture(), rounds: 1, supervisordPath: null, env }), 0);
        assert.equal(stdout.text.includes('\u001b['), expected);
      });
    });
  }

  it('returns 130 and cleans up when aborted between rounds', async () => {
    await inPrivateTmp(async (tmp, before) => {
      const controller = new AbortController();
      const stdout = new Capture((text) => {
        if (text.includes('Round 1/')) controller.abort();
      });
      const started = Date.now();
      const code = await runDemo({ stdout, stderr: new Capture(), rounds: 3, intervalMs: 60_000, supervisordPath: null, signal: controller.signal });
      assert.equal(code, 130);
      assert.ok(Date.now() - started < 5000, 'the abort did not cut the pause short');
      assert.match(stdout.text, /\nDemo interrupted: emulator stopped, \S+ removed\.\n$/);
      await assertNothingLeft(stdout.text, tmp, before);
    });
  });

  it('stops, cleans up and returns 1 when the output fails', async () => {
    await inPrivateTmp(async (tmp, before) => {
      let seen = '';
      const broken = new Writable({
        write(chunk: Buffer, _encoding, callback): void {
          seen += chunk.toString('utf8');
          // Like a pipe whose reader went away, once the header is out.
          callback(seen.includes('Round 1/') ? Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) : null);
        },
      });
      const stderr = new Capture();
      const code = await runDemo({ stdout: broken, stderr, rounds: 3, intervalMs: 60_000, supervisordPath: null });
      assert.equal(code, 1);
      assert.equal(stderr.text, '');
      assert.doesNotMatch(seen, /Demo (done|interrupted)/);
      await assertNothingLeft(seen, tmp, before);
    });
  });

  it('returns 130 without starting anything when the signal is already aborted', async () => {
    await inPrivateTmp(async (tmp, before) => {
      const stdout = new Capture();
      const code = await runDemo({ stdout, stderr: new Capture(), supervisordPath: null, signal: AbortSignal.abort() });
      assert.equal(code, 130);
      assert.doesNotMatch(stdout.text, /Round/);
      await assertNothingLeft(stdout.text, tmp, before);
    });
  });
});

describe('runDemo against a real supervisord', () => {
  it('runs the rounds and leaves no process and no temp dir behind', async (t) => {
    if (SUPERVISORD === null) return t.skip(NOT_INSTALLED);
    await inPrivateTmp(async (tmp, before) => {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runDemo({ stdout, stderr, rounds: 2, intervalMs: 100 });
      assert.equal(stderr.text, '');
      assert.equal(code, 0, stdout.text);
      const out = stdout.text;
      assert.match(out, new RegExp(`^supervisord-check demo: a throwaway supervisord \\(${SUPERVISORD}, pid \\d+\\) in `));
      assert.equal(out.match(/^Round \d\/2 at \d\d:\d\d:\d\d\n/gm)?.length, 2, out);
      assert.equal(out.match(/^ {2}7 processes: \d up, \d down, \d unknown . supervisord \d+\.\d+\S* at unix:\/\/\/\S+ reachable\n/gm)?.length, 2, out);
      assert.match(out, /\n {2}broken +broken +(BACKOFF|FATAL) +down /);
      assert.match(out, /broken is (BACKOFF|FATAL) \(can't find command '\/nonexistent\/supervisord-check-missing'\)/);
      assert.match(out, /\n {2}idle +idle +STOPPED +down +-\n/);
      assert.match(out, /\n {2}front +web +(STARTING|RUNNING) /);
      assert.match(out, /\n {2}exiter +exiter +(RUNNING +up|EXITED +down) /);
      assert.match(out, /\nDemo done: supervisord stopped, \S+ removed\. /);
      await assertNothingLeft(out, tmp, before);
    });
  });

  for (const when of ['while waiting for supervisord', 'between rounds'] as const) {
    it(`returns 130 and cleans up when aborted ${when}`, async (t) => {
      if (SUPERVISORD === null) return t.skip(NOT_INSTALLED);
      await inPrivateTmp(async (tmp, before) => {
        const controller = new AbortController();
        const stdout = new Capture((text) => {
          if (when === 'between rounds' ? text.includes('Round 1/') : text.includes('pid ')) controller.abort();
        });
        const code = await runDemo({ stdout, stderr: new Capture(), rounds: 3, intervalMs: 60_000, signal: controller.signal });
        assert.equal(code, 130);
        assert.match(stdout.text, /\nDemo interrupted: supervisord stopped, \S+ removed\.\n$/);
        if (when === 'while waiting for supervisord') assert.doesNotMatch(stdout.text, /Round/);
        await assertNothingLeft(stdout.text, tmp, before);
      });
    });
  }
});

describe('runDemo when supervisord cannot be started', () => {
  it('reports a binary that cannot be run, and an early exit, with exit code 1', async () => {
    const bin = mkdtempSync(join(REAL_TMP, 'sc-demo-bin-'));
    try {
      const early = script(bin, 'supervisord-early', 'echo "Error: something is wrong" >&2\nexit 7');
      const cases: Array<[string, RegExp]> = [
        [join(bin, 'missing'), /^supervisord-check demo: supervisord \(\S+missing -c \S+supervisord\.conf\) could not be run: spawn \S+missing ENOENT; its log ends with:\n/],
        [early, /^supervisord-check demo: supervisord \(\S+supervisord-early -c \S+\) exited before answering \(exit code 7\); its log ends with:\nError: something is wrong\n$/],
      ];
      for (const [path, message] of cases) {
        await inPrivateTmp(async (tmp, before) => {
          const stdout = new Capture();
          const stderr = new Capture();
          const code = await runDemo({ stdout, stderr, supervisordPath: path, rounds: 1 });
          assert.equal(code, 1);
          assert.match(stderr.text, message);
          assert.doesNotMatch(stdout.text, /Demo (done|interrupted)/);
          await assertNothingLeft(stdout.text, tmp, before);
        });
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// `node dist/lib/demo/demo.js` as a child process (what `npm start` runs)
// ---------------------------------------------------------------------------

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` with a private TMPDIR; `onStdout` may signal the child.
 * Resolves when it exits (killed after 20 s so that a hang fails the test).
 */
function runChild(args: string[], env: NodeJS.ProcessEnv, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function withChildTmp(fn: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = mkdtempSync(join(REAL_TMP, 'sc-demo-child-'));
  try {
    await fn(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe('node dist/lib/demo/demo.js', { concurrency: true }, () => {
  const kinds = [
    { kind: 'real supervisord', env: {} as Record<string, string>, real: true },
    { kind: 'emulator', env: { SUPERVISORD_BIN: '' }, real: false },
  ];
  for (const { kind, env, real } of kinds) {
    it(`completes with exit code 0 against the ${kind} and leaves nothing behind`, async (t) => {
      if (real && SUPERVISORD === null) return t.skip(NOT_INSTALLED);
      await withChildTmp(async (tmp) => {
        const run = await runChild([DEMO_JS], { ...env, TMPDIR: tmp, SUPERVISORD_CHECK_DEMO_ROUNDS: '2', SUPERVISORD_CHECK_DEMO_INTERVAL_MS: '100' });
        assert.equal(run.stderr, '');
        assert.equal(run.code, 0, run.stdout);
        assert.equal(run.stdout.match(/^Round \d\/2 /gm)?.length, 2);
        assert.match(run.stdout, /\nDemo done: /);
        await assertNothingLeft(run.stdout, tmp, []);
      });
    });

    for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      it(`cleans up on ${signal} against the ${kind} and exits ${exitCode}`, async (t) => {
        if (real && SUPERVISORD === null) return t.skip(NOT_INSTALLED);
        await withChildTmp(async (tmp) => {
          let sent = false;
          const run = await runChild([DEMO_JS], { ...env, TMPDIR: tmp, SUPERVISORD_CHECK_DEMO_INTERVAL_MS: '60000' }, (text, child) => {
            if (!sent && text.includes('Round 1/')) {
              sent = true;
              child.kill(signal);
            }
          });
          assert.equal(run.code, exitCode, `${run.stdout}\n${run.stderr}`);
          assert.match(run.stdout, /\nDemo interrupted: /);
          await assertNothingLeft(run.stdout, tmp, []);
        });
      });
    }
  }

  it('cleans up and exits 1 when its stdout reader goes away', async (t) => {
    if (SUPERVISORD === null) return t.skip(NOT_INSTALLED);
    await withChildTmp(async (tmp) => {
      let header = '';
      const run = await runChild([DEMO_JS], { TMPDIR: tmp, SUPERVISORD_CHECK_DEMO_INTERVAL_MS: '300' }, (text, child) => {
        if (header === '' && text.includes('Checking it')) {
          header = text;
          child.stdout!.destroy(); // like `npm start | head`
        }
      });
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr, '');
      await assertNothingLeft(header, tmp, []);
    });
  });

  it('exits 2 on a bad setting', async () => {
    await withChildTmp(async (tmp) => {
      const run = await runChild([DEMO_JS], { TMPDIR: tmp, SUPERVISORD_CHECK_DEMO_ROUNDS: '-1' });
      assert.equal(run.code, 2);
      assert.equal(run.stderr, 'supervisord-check demo: SUPERVISORD_CHECK_DEMO_ROUNDS must be a whole number, got "-1"\n');
      assert.deepEqual(readdirSync(tmp), []);
    });
  });

  it('exits 2 for a SUPERVISORD_BIN that is not an executable file, before printing anything (regression: the program list came first)', async () => {
    await withChildTmp(async (tmp) => {
      const run = await runChild([DEMO_JS], { TMPDIR: tmp, SUPERVISORD_BIN: '/nonexistent/supervisord' });
      assert.equal(run.code, 2);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        'supervisord-check demo: SUPERVISORD_BIN=/nonexistent/supervisord is not an executable file (unset it to search PATH, or set it empty to use the built-in emulator)\n',
      );
      assert.deepEqual(readdirSync(tmp), []);
    });
  });

  it('does not run when imported', async () => {
    const run = await runChild(['--input-type=module', '-e', `import(${JSON.stringify(pathToFileURL(DEMO_JS).href)}).then(() => console.log('imported'))`], {});
    assert.equal(run.code, 0);
    assert.equal(run.stdout, 'imported\n');
  });

  for (const { kind, env, real } of kinds) {
    it(`stops the ${kind} and removes the dir when the process exits mid-demo`, async (t) => {
      if (real && SUPERVISORD === null) return t.skip(NOT_INSTALLED);
      await withChildTmp(async (tmp) => {
        // process.exit() skips every pending await: only the 'exit' hooks run.
        const program = `
          import { Writable } from 'node:stream';
          import { runDemo } from ${JSON.stringify(pathToFileURL(DEMO_JS).href)};
          const stdout = new Writable({ write(chunk, encoding, callback) {
            process.stdout.write(chunk);
            if (String(chunk).startsWith('\\nRound 1/')) process.exit(5);
            callback();
          } });
          await runDemo({ stdout, intervalMs: 60000 });`;
        const run = await runChild(['--input-type=module', '-e', program], { ...env, TMPDIR: tmp });
        assert.equal(run.code, 5, run.stderr);
        const dir = demoDir(run.stdout);
        assert.equal(existsSync(dir), false);
        assert.deepEqual(readdirSync(tmp), []);
        if (!real) return;
        // supervisord got SIGTERM and stops its programs by itself, after we are gone.
        await waitUntil('supervisord and its programs to stop', () => !alive(supervisordPid(run.stdout)) && markedPids(dir).length === 0);
      });
    });
  }
});
