/**
 * `--state-file` (lib/cli/state-file.ts): the file's name and place, its
 * reading (what is refused, with which warning), its atomic, locked,
 * size-capped writing; and the command line with it against the emulator:
 * a second invocation makes no full listing, counts a restart made between
 * the two and keeps the Prometheus totals; files that cannot be used are
 * ignored with a warning; two invocations spawned at once on one file
 * leave it whole.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

import { STATE_FORMAT } from '../../lib/check-state.js';
import { resolveConfig } from '../../lib/config.js';
import { main } from '../../lib/cli/main.js';
import { readStateFile, STATE_FILE_MAX_BYTES, stateFileName, statePath, writeStateFile } from '../../lib/cli/state-file.js';
import { oneShotShardCount } from '../../lib/collect.js';
import { Capture, cli, spawnCli } from '../helpers/cli-run.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { ProcessInfo } from '../../lib/types.js';

const NOW = 1_700_000_000;
const OURS = `{"format":${JSON.stringify(STATE_FORMAT)}`;
const IS_ROOT = process.geteuid?.() === 0;

let root: string;
before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'state-file-test-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A new empty directory under the test's temp dir. */
function freshDir(): string {
  const dir = path.join(root, `d${counter++}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** What lstat says identifies a file, as the module computes it. */
function identity(file: string): string {
  const s = lstatSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.mtimeNs}:${s.ctimeNs}:${s.size}`;
}

describe('stateFileName and statePath', () => {
  const server = (name: string, address = 'unix:///run/supervisor.sock') => ({ name, address });

  test('a safe name per server: unsafe characters as _, no leading dot, at most 64, then a digest of name and address', () => {
    const cases: Array<[string, RegExp]> = [
      ['web-1', /^web-1\.[0-9a-f]{12}\.state\.json$/],
      ['/tmp/x.sock', /^_tmp_x\.sock\.[0-9a-f]{12}\.state\.json$/],
      ['..', /^_\.[0-9a-f]{12}\.state\.json$/],
      ['../../etc/passwd', /^__\.\._etc_passwd\.[0-9a-f]{12}\.state\.json$/],
      ['café prod', /^caf__prod\.[0-9a-f]{12}\.state\.json$/],
      ['x'.repeat(300), new RegExp(`^x{64}\\.[0-9a-f]{12}\\.state\\.json$`)],
    ];
    for (const [name, pattern] of cases) assert.match(stateFileName(server(name)), pattern, name);
    assert.notEqual(stateFileName(server('a')), stateFileName(server('a', 'http://h:9001/RPC2')), 'same name, other address');
    assert.notEqual(stateFileName(server('a/b')), stateFileName(server('a_b')), 'names that sanitise alike');
    assert.equal(stateFileName(server('a')), stateFileName(server('a')), 'stable');
  });

  test('a directory (existing, or ending in /) holds one file per server; anything else is the file itself', async () => {
    const dir = freshDir();
    const s = server('web');
    assert.deepEqual(await statePath(dir, s, '/'), { file: path.join(dir, stateFileName(s)), directory: true });
    assert.deepEqual(await statePath(`${dir}/new/`, s, '/'), { file: path.join(dir, 'new', stateFileName(s)), directory: true });
    assert.deepEqual(await statePath('state.json', s, dir), { file: path.join(dir, 'state.json'), directory: false });
    assert.deepEqual(await statePath(path.join(dir, 'missing'), s, '/'), { file: path.join(dir, 'missing'), directory: false });
  });
});

test("the instance key 'state_file': a non-empty path, kept as written", () => {
  assert.equal(resolveConfig({ name: 'n', state_file: 'rel/s.json' }).config.stateFile, 'rel/s.json');
  assert.equal(resolveConfig({ name: 'n', state_file: null }).config.stateFile, undefined);
  assert.equal(resolveConfig({ name: 'n' }).warnings.length, 0);
  for (const [bad, shown] of [['', "''"], [3, '3'], ['a\0b', "'a\\x00b'"], [['x'], "['x']"]] as const) {
    assert.throws(() => resolveConfig({ name: 'n', state_file: bad }), {
      name: 'ConfigError',
      code: 'ERR_CONFIG',
      key: 'state_file',
      message: `'state_file' should be the path of a file or a directory, got ${shown}`,
    });
  }
});

describe('readStateFile', () => {
  test('what cannot be used is said, with whether a save may replace it', async () => {
    const dir = freshDir();
    const file = (name: string, text?: string, mode = 0o600): string => {
      const f = path.join(dir, name);
      if (text !== undefined) writeFileSync(f, text, { mode });
      chmodSync(f, mode);
      return f;
    };
    const target = file('target', `${OURS},"version":1}`);
    symlinkSync(target, path.join(dir, 'link'));
    mkfifoOrSkip(path.join(dir, 'fifo'));
    const big = file('big', '');
    truncateSync(big, STATE_FILE_MAX_BYTES + 1);
    const cases: Array<[string, string, { problem?: string; replaceable: boolean; value?: unknown }]> = [
      ['absent', path.join(dir, 'absent'), { replaceable: true }],
      ['a symbolic link', path.join(dir, 'link'), { problem: 'it is a symbolic link (never followed)', replaceable: false }],
      ['a directory', dir, { problem: 'it is not a regular file', replaceable: false }],
      ['under a file', path.join(target, 'x'), { problem: 'it cannot be read: ENOTDIR: not a directory', replaceable: false }],
      ['too big', big, { problem: `it has ${STATE_FILE_MAX_BYTES + 1} bytes, more than the ${STATE_FILE_MAX_BYTES} a state file may have`, replaceable: true }],
      ['empty', file('empty', ''), { problem: 'it is empty', replaceable: true }],
      ['ours, truncated', file('truncated', `${OURS},"vers`), { problem: 'it is not valid JSON (truncated or damaged)', replaceable: true }],
      ['not ours, not JSON', file('text', 'hello\n'), { problem: 'it is not a state file of supervisord-check', replaceable: false }],
      ['not ours, JSON', file('json', '{"a":1}'), { value: { a: 1 }, replaceable: false }],
      ['writable by others', file('open', `${OURS}}`, 0o666), { problem: 'other users can write it', replaceable: true }],
      ['ours', target, { value: { format: STATE_FORMAT, version: 1 }, replaceable: true }],
    ];
    if (existsSync(path.join(dir, 'fifo'))) cases.push(['a FIFO (not waited on)', path.join(dir, 'fifo'), { problem: 'it is not a regular file', replaceable: false }]);
    for (const [what, f, expected] of cases) {
      const read = await readStateFile(f);
      const { identity: id, ...rest } = read;
      assert.deepEqual(rest, expected, what);
      assert.equal(id, what === 'absent' || what === 'under a file' ? null : identity(f), `${what}: identity`);
    }
  });

  test('a file of another user is refused (root only: chown)', { skip: IS_ROOT ? false : 'needs root to give a file to another user' }, async () => {
    const f = path.join(freshDir(), 'theirs');
    writeFileSync(f, `${OURS}}`, { mode: 0o600 });
    chownSync(f, 65534, 65534);
    const read = await readStateFile(f);
    assert.equal(read.problem, 'it belongs to another user (uid 65534)');
    assert.equal(read.replaceable, true);
  });
});

/** A FIFO at `file` when mkfifo exists here (a read must not wait on it). */
function mkfifoOrSkip(file: string): void {
  spawnSync('mkfifo', ['-m', '600', file], { stdio: 'ignore' });
}

describe('writeStateFile', () => {
  test('a new file: mode 0600 whatever the umask, the text exactly, no temporary file or lock left', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'state.json');
    const old = process.umask(0);
    try {
      const written = await writeStateFile(f, `${OURS}}`, null, true);
      assert.equal(written.problem, undefined);
      assert.equal(written.identity, identity(f));
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(readFileSync(f, 'utf8'), `${OURS}}`);
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  test('replaces only the file this invocation read: one saved since is kept', async () => {
    const f = path.join(freshDir(), 'state.json');
    const first = await writeStateFile(f, `${OURS},"n":1}`, null, true);
    const second = await writeStateFile(f, `${OURS},"n":2}`, first.identity, true);
    assert.equal(second.problem, undefined);
    assert.notEqual(second.identity, first.identity);
    const stale = await writeStateFile(f, `${OURS},"n":3}`, first.identity, true);
    assert.equal(stale.problem, 'another invocation saved it since this one read it (its state is kept)');
    assert.equal(stale.identity, second.identity);
    assert.equal(readFileSync(f, 'utf8'), `${OURS},"n":2}`);
    const appeared = await writeStateFile(path.join(path.dirname(f), 'other.json'), 'x', null, true);
    assert.equal(appeared.problem, undefined);
    const late = await writeStateFile(path.join(path.dirname(f), 'other.json'), 'y', null, true);
    assert.equal(late.problem, 'another invocation saved it since this one read it (its state is kept)', 'created since this one found none');
  });

  test('never through a symbolic link, never over a file that is not ours', async () => {
    const dir = freshDir();
    const target = path.join(dir, 'precious');
    writeFileSync(target, 'do not touch');
    const link = path.join(dir, 'link');
    symlinkSync(target, link);
    const viaLink = await readStateFile(link);
    const refused = await writeStateFile(link, `${OURS}}`, viaLink.identity, viaLink.replaceable);
    assert.equal(refused.problem, 'it is a symbolic link (never replaced)');
    // Even when told it may be replaced.
    assert.equal((await writeStateFile(link, `${OURS}}`, identity(link), true)).problem, 'it is a symbolic link (never replaced)');
    assert.equal(readFileSync(target, 'utf8'), 'do not touch');
    assert.ok(lstatSync(link).isSymbolicLink());
    const foreign = await readStateFile(target);
    assert.equal((await writeStateFile(target, `${OURS}}`, foreign.identity, foreign.replaceable)).problem, 'it is not a state file of supervisord-check, so it is not replaced');
    assert.equal(readFileSync(target, 'utf8'), 'do not touch');
  });

  test('a state over the size cap is not written', async () => {
    const f = path.join(freshDir(), 'state.json');
    await writeStateFile(f, `${OURS}}`, null, true);
    const before = identity(f);
    const text = `${OURS},"x":"${'a'.repeat(STATE_FILE_MAX_BYTES)}"}`;
    const written = await writeStateFile(f, text, before, true);
    assert.equal(written.problem, `the state has ${Buffer.byteLength(text)} bytes, more than the ${STATE_FILE_MAX_BYTES} a state file may have`);
    assert.equal(identity(f), before);
  });

  test('the lock: a live holder makes the save give up after the wait; a stale one (dead pid, or old) is removed', async () => {
    const dir = freshDir();
    const f = path.join(dir, 'state.json');
    const lock = `${f}.lock`;
    writeFileSync(lock, `${process.pid} ${hostname()} ${Date.now()} abc\n`);
    const started = performance.now();
    const held = await writeStateFile(f, `${OURS}}`, null, true, { lockWaitMs: 150 });
    assert.ok(performance.now() - started >= 140, 'it waited');
    assert.equal(held.problem, `another invocation (pid ${process.pid}) held its lock ${lock} for more than 150 ms`);
    assert.ok(!existsSync(f));
    assert.ok(existsSync(lock), "another's lock is left alone");
    writeFileSync(lock, `1 elsewhere.example ${Date.now()} abc\n`);
    assert.match((await writeStateFile(f, `${OURS}}`, null, true, { lockWaitMs: 60 })).problem ?? '', /^another invocation \(pid 1\) held its lock/, 'another host: by age only');

    const dead = await deadPid();
    writeFileSync(lock, `${dead} ${hostname()} ${Date.now()} abc\n`);
    assert.equal((await writeStateFile(f, `${OURS},"n":1}`, null, true, { lockWaitMs: 0 })).problem, undefined, 'dead holder');
    assert.ok(!existsSync(lock));

    writeFileSync(lock, `1 elsewhere.example 0 abc\n`);
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    assert.equal((await writeStateFile(f, `${OURS},"n":2}`, identity(f), true, { lockWaitMs: 0 })).problem, undefined, 'older than a minute');
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  test('a failure to write is said, nothing thrown, no temporary file left', async () => {
    const dir = freshDir();
    const taken = path.join(dir, 'taken');
    mkdirSync(taken);
    writeFileSync(path.join(taken, 'x'), '');
    const written = await writeStateFile(taken, `${OURS}}`, identity(taken), true);
    assert.match(written.problem ?? '', /^it cannot be written: E(ISDIR|NOTEMPTY|EXIST)\b/);
    assert.deepEqual(readdirSync(dir), ['taken']);
  });

  test('a directory that does not exist: said, nothing thrown', async () => {
    const f = path.join(freshDir(), 'missing', 'state.json');
    const written = await writeStateFile(f, `${OURS}}`, null, true);
    assert.equal(written.problem, `the directory ${path.dirname(f)} does not exist (it is not created)`);
    const file = path.join(freshDir(), 'state.json');
    mkdirSync(`${file}.lock`);
    writeFileSync(path.join(`${file}.lock`, 'x'), '');
    assert.equal((await writeStateFile(file, `${OURS}}`, null, true, { lockWaitMs: 0 })).problem, `another invocation held its lock ${file}.lock for more than 0 ms`, 'a lock that is not a file');
  });
});

/** The pid of a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve(child.pid!));
  });
}

// ---------------------------------------------------------------------------
// The command line with --state-file
// ---------------------------------------------------------------------------

const processes = (n: number): ProcessInfo[] =>
  Array.from({ length: n }, (_, i) => makeProcess({ name: `p${String(i).padStart(3, '0')}`, start: NOW - 100, pid: 2000 + i }, NOW));

describe('supervisord-check --state-file', () => {
  let emulator: SupervisordEmulator;
  const listings = (): number => emulator.stats.calls['supervisor.getAllProcessInfo'] ?? 0;
  const multicalls = (): number => emulator.stats.calls['system.multicall'] ?? 0;

  before(async () => {
    emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: processes(250) });
  });
  beforeEach(() => {
    emulator.processes = processes(250);
  });
  after(async () => emulator.close());

  const base = (): string[] => ['--url', emulator.url, '--name', 'emu'];

  test('the second invocation makes no full listing, counts a restart made in between, and the Prometheus totals carry over', async () => {
    const dir = freshDir();
    const args = [...base(), '--state-file', dir, '--format', 'prometheus'];
    const restartsOf = (text: string, name: string): string | undefined =>
      text.split('\n').find((l) => l.startsWith('supervisord_process_restarts_total{') && l.includes(`supervisord_process="${name}"`))?.split(' ')[1];
    const first = await cli(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    assert.equal(restartsOf(first.stdout, 'p007'), '0');
    const file = path.join(dir, stateFileName({ name: 'emu', address: emulator.url }));
    assert.deepEqual(readdirSync(dir), [path.basename(file)]);
    assert.equal(statSync(file).mode & 0o777, 0o600);

    emulator.processes[7] = makeProcess({ name: 'p007', start: NOW - 3, pid: 9007 }, NOW);
    const listed = listings();
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(listings(), listed, 'no getAllProcessInfo');
    assert.equal(restartsOf(second.stdout, 'p007'), '1');
    assert.equal(restartsOf(second.stdout, 'p008'), '0');
    const third = await cli(args);
    assert.equal(restartsOf(third.stdout, 'p007'), '1', 'the total, not the delta');
    const json = await cli([...base(), '--state-file', dir, '--format', 'json']);
    const restarts = (JSON.parse(json.stdout) as { metrics: Array<{ name: string; value: number }> }).metrics.filter((m) => m.name === 'supervisord.process.restarts');
    assert.equal(restarts.length, 250);
    assert.ok(restarts.every((m) => m.value === 0), 'json carries each run its delta');
    assert.equal(listings(), listed);
    assert.deepEqual(readdirSync(dir), [path.basename(file)], 'no temporary file or lock left');
  });

  test('--format nagios (a plugin the monitoring system starts every interval) keeps its state too: the second invocation makes no full listing', async () => {
    const dir = freshDir();
    const args = [...base(), '--state-file', dir, '--format', 'nagios'];
    const first = await cli(args);
    assert.match(first.stdout, /^SUPERVISORD OK - /);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(readdirSync(dir), [stateFileName({ name: 'emu', address: emulator.url })]);
    const listed = listings();
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^SUPERVISORD OK - /);
    assert.equal(listings(), listed, 'no getAllProcessInfo');
  });

  test('files that cannot be used are ignored with a warning and the run goes on as a learning run; ours are replaced, others never', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    const args = [...base(), '--state-file', file, '--format', 'json'];
    assert.equal((await cli(args)).code, 0);
    const good = readFileSync(file, 'utf8');
    const state = JSON.parse(good) as Record<string, unknown>;
    const afresh = '; this run starts afresh (a full listing; restarts are counted from the next run)';
    const cases: Array<[string, string, string, boolean]> = [
      ['corrupt', good.slice(0, 60), `it is not valid JSON (truncated or damaged)${afresh}`, true],
      ['another version', JSON.stringify({ ...state, version: 99 }), `state version 99, this check reads version 1${afresh}`, true],
      [
        'another server',
        JSON.stringify({ ...state, server: { name: 'other', address: emulator.url } }),
        `the state belongs to another server ("other" at ${emulator.url}), not to "emu" at ${emulator.url}${afresh}`,
        true,
      ],
      ['foreign JSON', '{"settings":true}', `not a state of supervisord-check (no "format": "supervisord-check state")${afresh}`, false],
    ];
    for (const [what, text, why, replaced] of cases) {
      writeFileSync(file, text, { mode: 0o600 });
      const listed = listings();
      const outcome = await cli(args);
      assert.equal(outcome.code, 0, what);
      assert.equal(listings(), listed + 1, `${what}: a learning run`);
      const lines = outcome.stderr.trim().split('\n');
      assert.equal(lines[0], `supervisord-check: warning: state file ${file} is ignored: ${why}`, what);
      if (replaced) {
        assert.equal(lines.length, 1, what);
        assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { format: string }).format, STATE_FORMAT, `${what}: replaced`);
      } else {
        assert.equal(lines[1], `supervisord-check: warning: state file ${file} not saved: it is not a state file of supervisord-check, so it is not replaced`);
        assert.equal(readFileSync(file, 'utf8'), text, `${what}: left as it was`);
      }
    }
    writeFileSync(file, JSON.stringify({ ...state, components: { ...(state['components'] as object), counters: [['x', 'y', 1]], history: 5 } }), { mode: 0o600 });
    const listed = listings();
    const partly = await cli(args);
    assert.equal(listings(), listed, 'the collector slot was still used');
    assert.deepEqual(partly.stderr.trim().split('\n'), [
      `supervisord-check: warning: state file ${file}: the saved state's 'history' is ignored: the restart marks should be a list`,
      `supervisord-check: warning: state file ${file}: 1 malformed counter totals: ignored`,
    ]);
  });

  test('usage: single runs only; one file per server', async () => {
    const dir = freshDir();
    const config = path.join(dir, 'conf.json');
    writeFileSync(config, JSON.stringify({ instances: [{ name: 'a', url: emulator.url }, { name: 'b', url: emulator.url }] }));
    const cases: Array<[string[], string]> = [
      [[...base(), '--state-file', dir, '--interval', '5s'], '--state-file applies to single runs, not to --interval, which remembers between its runs by itself'],
      [[...base(), '--state-file', dir, '--serve', '0'], '--state-file applies to single runs, not to --serve, which remembers between its runs by itself'],
      [[...base(), '--state-file', dir, '--dogstatsd', '127.0.0.1:8125'], '--state-file applies to single runs, not to --dogstatsd, which remembers between its runs by itself'],
      [[...base(), '--state-file='], '--state-file needs the path of a file or a directory'],
      [
        ['--config', config, '--state-file', path.join(dir, 'one.json')],
        `--state-file ${path.join(dir, 'one.json')} is a file, which holds one server's state: with 2 instances, give a directory (one file per server is made in it)`,
      ],
    ];
    for (const [argv, message] of cases) {
      const outcome = await cli(argv);
      assert.equal(outcome.code, 2, argv.join(' '));
      assert.equal(outcome.stderr, `supervisord-check: ${message}\n`);
    }
    writeFileSync(config, JSON.stringify({ instances: [{ name: 'a', url: emulator.url, state_file: 's.json' }, { name: 'b', url: emulator.url, state_file: './s.json' }] }));
    const shared = await cli(['--config', config]);
    assert.equal(shared.code, 2);
    assert.equal(shared.stderr, `supervisord-check: the servers "a" and "b" would share the state file ${path.join(dir, 's.json')}: give each its own\n`);
  });

  test('--config: one file per server in a directory; a relative state_file is taken from the config file directory and wins for its instance', async () => {
    const dir = freshDir();
    const states = path.join(dir, 'states');
    mkdirSync(states);
    const config = path.join(dir, 'conf.json');
    writeFileSync(config, JSON.stringify({ instances: [{ name: 'a', url: emulator.url }, { name: 'b', url: emulator.url, state_file: 'own.json' }] }));
    const outcome = await cli(['--config', config, '--state-file', states, '--format', 'json']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.deepEqual(readdirSync(states), [stateFileName({ name: 'a', address: emulator.url })]);
    assert.ok(existsSync(path.join(dir, 'own.json')));
    const listed = listings();
    assert.equal((await cli(['--config', config, '--state-file', states, '--format', 'json'])).code, 0);
    assert.equal(listings(), listed);
  });

  test('state_file with a long-running mode: said, not used', async () => {
    const dir = freshDir();
    const config = path.join(dir, 'conf.json');
    writeFileSync(config, JSON.stringify({ instances: [{ name: 'a', url: emulator.url, state_file: 's.json' }] }));
    const controller = new AbortController();
    const stdout = new Capture();
    const stderr = new Capture();
    const done = main(['--config', config, '--interval', '100ms', '--format', 'json'], {}, { stdout, stderr, signal: controller.signal });
    while (stdout.text === '') await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    assert.equal(await done, 0);
    assert.equal(stderr.text, `supervisord-check: warning: 'state_file' (instance "a") applies to single runs only: not used by a long-running mode\n`);
    assert.ok(!existsSync(path.join(dir, 's.json')));
  });

  test('two invocations spawned at once on one file: one saves, the other says why it did not; the file stays whole', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'state.json');
    const args = [...base(), '--state-file', file, '--format', 'json'];
    assert.equal((await spawnCli(args)).code, 0);
    // Hold the lock until both have read the file and made their calls: their saves then meet.
    const lock = `${file}.lock`;
    writeFileSync(lock, `${process.pid} ${hostname()} ${Date.now()} test\n`);
    const calls = multicalls();
    const both = Promise.all([spawnCli(args), spawnCli(args)]);
    const deadline = Date.now() + 20_000;
    const shards = oneShotShardCount(250, undefined);
    while (multicalls() < calls + 2 * shards && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    rmSync(lock);
    const outcomes = await both;
    for (const o of outcomes) assert.equal(o.code, 0, o.stderr);
    const warned = outcomes.filter((o) => o.stderr !== '');
    assert.equal(warned.length, 1, outcomes.map((o) => o.stderr).join('|'));
    assert.equal(warned[0]!.stderr, `supervisord-check: warning: state file ${file} not saved: another invocation saved it since this one read it (its state is kept)\n`);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { format: string }).format, STATE_FORMAT);
    // And without the test's hand on the lock: several at once, several times.
    for (let round = 0; round < 3; round++) {
      const many = await Promise.all([spawnCli(args), spawnCli(args), spawnCli(args)]);
      for (const o of many) {
        assert.equal(o.code, 0, o.stderr);
        for (const line of o.stderr.split('\n').filter((l) => l !== '')) {
          assert.match(line, /not saved: (another invocation saved it since this one read it|another invocation \(pid \d+\) held its lock)/, line);
        }
      }
      assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { format: string }).format, STATE_FORMAT);
      assert.deepEqual(readdirSync(dir), ['state.json']);
    }
  });
});
