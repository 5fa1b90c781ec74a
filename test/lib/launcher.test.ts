/**
 * The launcher of throwaway supervisords (lib/launcher/): finding the
 * binary, the config it writes and refuses, then launches with fake
 * executables (missing, exiting early, never answering, losing its port)
 * and with the real supervisord (skipped with the reason when it is not
 * installed): a program that forks, SIGKILL when the grace period is over,
 * TCP and auth, numprocs, restart, supervisorctl, a config supervisord
 * refuses. After each: no directory of the launcher is left and no process
 * carries its marker (read from /proc: Linux, as CI has).
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { LauncherError } from '../../lib/launcher/errors.js';
import { findExecutable, findSupervisord } from '../../lib/launcher/find-supervisord.js';
import { supervisordConfig } from '../../lib/launcher/supervisord-config.js';
import type { SupervisordConfigOptions } from '../../lib/launcher/supervisord-config.js';
import { delay, launchSupervisord, startSupervisord, supervisordVersion } from '../../lib/launcher/supervisord.js';
import type { LaunchedSupervisord, LaunchOptions, ProcessStruct, SupervisordCall } from '../../lib/launcher/supervisord.js';
import { unixAddress } from '../../protocol/address.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { alive, markedPids, script, waitUntil } from '../helpers/launched-processes.js';

const SUPERVISORD = findSupervisord();
const SKIP = SUPERVISORD === null ? 'supervisord is not installed (apt-get install supervisor)' : false;
const REAL_TMP = tmpdir();
const PORT_TAKEN = 'Error: Another program is already listening on a port that one of our HTTP servers is configured to use.';

/** A fresh dir for fake executables, removed after the file's tests. */
const BIN = mkdtempSync(join(REAL_TMP, 'sc-launcher-bin-'));
after(() => rmSync(BIN, { recursive: true, force: true }));

let prefixes = 0;
/** A dir prefix of its own, so that a test can see what the launcher left in the tmp dir. */
function uniquePrefix(): string {
  return `sc-launcher-${process.pid}-${++prefixes}-`;
}

function leftDirs(prefix: string): string[] {
  return readdirSync(REAL_TMP).filter((name) => name.startsWith(prefix));
}

/** Asserts a LauncherError's code and message. */
function launcherError(code: LauncherError['code'], message: RegExp | string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof LauncherError, String(error));
    assert.equal(error.name, 'LauncherError');
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

/** The directory named by an error message (`-c <dir>/supervisord.conf`). */
function dirOfMessage(message: string): string {
  const m = / -c (\S+)\/supervisord\.conf\)/.exec(message);
  assert.ok(m !== null, message);
  return m[1]!;
}

/** Asserts that nothing of `dir` is left: the directory, any process carrying its marker. */
async function assertNothingLeft(dir: string): Promise<void> {
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
  // SIGKILLed processes take a moment to go.
  await waitUntil(`the processes of ${dir} to go`, () => markedPids(dir).length === 0, 3000);
}

// ---------------------------------------------------------------------------
// Finding the binaries
// ---------------------------------------------------------------------------

describe('findSupervisord and findExecutable', () => {
  it('follow SUPERVISORD_BIN, the preferred dir, PATH, then the well-known dirs', () => {
    const dir = mkdtempSync(join(REAL_TMP, 'sc-launcher-find-'));
    try {
      const fake = script(dir, 'supervisord', 'exit 0');
      writeFileSync(join(dir, 'plain'), '');
      const wellKnown = ['/usr/bin/supervisord', '/usr/local/bin/supervisord'].find((p) => existsSync(p)) ?? null;
      const cases: Array<[string, NodeJS.ProcessEnv, string | null]> = [
        ['forced path', { SUPERVISORD_BIN: '/opt/x/supervisord', PATH: dir }, '/opt/x/supervisord'],
        ['forced absent', { SUPERVISORD_BIN: '', PATH: dir }, null],
        ['on PATH first', { PATH: `::/nonexistent:${dir}` }, fake],
        ['PATH without it', { PATH: '/nonexistent' }, wellKnown],
        ['no PATH', {}, wellKnown],
      ];
      for (const [name, env, expected] of cases) assert.equal(findSupervisord(env), expected, name);
      assert.equal(findExecutable('plain', { env: { PATH: dir } }), null, 'not executable');
      assert.equal(findExecutable('supervisord', { env: { PATH: '/nonexistent' }, preferDir: dir }), fake, 'preferred dir');
      assert.equal(findExecutable('no-such-executable-here', { env: {} }), null);
      assert.equal(findExecutable('no-such-executable-here'), null, 'PATH of process.env');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// The config
// ---------------------------------------------------------------------------

describe('supervisordConfig', () => {
  const base: SupervisordConfigOptions = { dir: '/tmp/a%b', socketPath: '/tmp/a%b/supervisor.sock', asRoot: false };

  it('writes a private foreground config, escaping every value it writes', () => {
    const text = supervisordConfig({
      ...base,
      identifier: 'id%1',
      programs: [
        { name: 'sleeper', command: '/bin/sleep 100%' },
        { name: 'front', group: 'web', command: '/bin/true', autostart: false, autorestart: 'unexpected', startsecs: 0, startretries: 1, exitcodes: '0,2' },
        { name: 'back%', group: 'web', command: '/bin/true', autorestart: false },
      ],
    });
    const lines = text.split('\n');
    const expected = [
      '[supervisord]',
      'nodaemon=true',
      'logfile=/tmp/a%%b/supervisord.log',
      'pidfile=/tmp/a%%b/supervisord.pid',
      'childlogdir=/tmp/a%%b',
      'minfds=64',
      'identifier=id%%1',
      '[unix_http_server]',
      'file=/tmp/a%%b/supervisor.sock',
      'chmod=0700',
      'serverurl=unix:///tmp/a%%b/supervisor.sock',
      '[program:sleeper]',
      'command=/bin/sleep 100%%',
      '[program:back%]',
      '[group:web]',
      'programs=front,back%%',
      'autostart=false',
      'autorestart=unexpected',
      'autorestart=false',
      'startsecs=0',
      'startretries=1',
      'exitcodes=0,2',
    ];
    for (const line of expected) assert.ok(lines.includes(line), `missing ${JSON.stringify(line)} in:\n${text}`);
    for (const absent of ['user=root', '[inet_http_server]', 'username=']) assert.ok(!text.includes(absent), absent);
    assert.equal(lines.filter((l) => l === 'stopasgroup=true').length, 3);
    assert.equal(lines.filter((l) => l === 'killasgroup=true').length, 3);
    assert.equal(lines.filter((l) => l === 'stopwaitsecs=2').length, 3);
  });

  it('writes the TCP server, auth on every server and supervisorctl, root, numprocs, extra lines and extra config', () => {
    const text = supervisordConfig({
      dir: '/tmp/x',
      port: 9123,
      username: 'u',
      password: 'p%w',
      asRoot: true,
      programs: [
        { name: 'many', command: '/bin/true', numprocs: 3 },
        { name: 'one', command: '/bin/true', numprocs: 1, extra: { stopwaitsecs: '7', priority: '5', process_name: '%(program_name)s' } },
      ],
      extraConfig: '[include]\nfiles=none',
    });
    const lines = text.split('\n');
    for (const line of ['user=root', '[inet_http_server]', 'port=127.0.0.1:9123', 'serverurl=http://127.0.0.1:9123', 'numprocs=3', 'process_name=%(program_name)s_%(process_num)d', 'numprocs=1', 'priority=5', 'process_name=%(program_name)s', 'stopwaitsecs=7']) {
      assert.ok(lines.includes(line), `missing ${JSON.stringify(line)} in:\n${text}`);
    }
    assert.equal(lines.filter((l) => l === 'username=u').length, 2, 'server and supervisorctl');
    assert.equal(lines.filter((l) => l === 'password=p%%w').length, 2);
    assert.ok(!text.includes('[unix_http_server]'));
    assert.equal(lines.filter((l) => l === 'stopwaitsecs=2').length, 1, 'extra replaces the launcher line of "one"');
    assert.ok(text.endsWith('[include]\nfiles=none\n'));
    // Running as root is the default when this process is root.
    assert.equal(supervisordConfig({ dir: '/tmp/x', port: 1 }).includes('user=root'), process.getuid?.() === 0);
  });

  const program = (extra: object): SupervisordConfigOptions => ({ ...base, programs: [{ name: 'p', command: '/bin/true', ...extra }] });
  const refused: Array<[string, SupervisordConfigOptions, string]> = [
    ['an empty name', program({ name: '' }), 'program name "" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a colon', program({ name: 'a:b' }), 'program name "a:b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a space', program({ name: 'a b' }), 'program name "a b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a slash', program({ name: 'a/b' }), 'program name "a/b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a comma', program({ name: 'a,b' }), 'program name "a,b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a bracket in a group', program({ group: 'w]' }), 'group name "w]" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
    ['a name used twice', { ...base, programs: [{ name: 'p', command: 'a' }, { name: 'p', command: 'b' }] }, 'program name "p" is used twice'],
    ['a line break in a command', program({ command: '/bin/true\n[program:evil]' }), 'program "p": command must not contain a line break'],
    ['a line break in an extra value', program({ extra: { priority: '1\r' } }), 'program "p": extra.priority must not contain a line break'],
    ['an extra key that is no option', program({ extra: { 'a=b': '1' } }), 'program "p": extra key "a=b" is not a supervisord option name'],
    ['negative startsecs', program({ startsecs: -1 }), 'program "p": startsecs must be an integer >= 0, got -1'],
    ['fractional startretries', program({ startretries: 1.5 }), 'program "p": startretries must be an integer >= 0, got 1.5'],
    ['numprocs 0', program({ numprocs: 0 }), 'program "p": numprocs must be an integer >= 1, got 0'],
    ['bad exitcodes', program({ exitcodes: '0;2' }), 'program "p": exitcodes must be comma-separated integers, got "0;2"'],
    ['a line break in the identifier', { ...base, identifier: 'a\nb' }, 'identifier must not contain a line break'],
    ['a line break in the password', { ...base, username: 'u', password: 'se\ncret' }, 'password must not contain a line break'],
    ['a username alone', { ...base, username: 'u' }, 'username and password go together'],
    ['no server', { dir: '/tmp/x' }, 'one of socketPath and port is needed: supervisord would serve no XML-RPC'],
    ['port 0', { dir: '/tmp/x', port: 0 }, 'port must be an integer from 1 to 65535, got 0'],
  ];
  for (const [what, options, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => supervisordConfig(options), launcherError('ERR_LAUNCHER_OPTION', message));
    });
  }
});

// ---------------------------------------------------------------------------
// Options, and launches that fail before supervisord answers
// ---------------------------------------------------------------------------

describe('launchSupervisord refusals', () => {
  const cases: Array<[string, LaunchOptions, LauncherError['code'], string]> = [
    ['an unknown option', { programz: [] } as unknown as LaunchOptions, 'ERR_LAUNCHER_OPTION', 'unknown option "programz"'],
    ['no server', { unix: false }, 'ERR_LAUNCHER_OPTION', 'options.unix and options.inet are both false: supervisord would serve no XML-RPC'],
    ['a negative grace period', { stopGraceMs: -1 }, 'ERR_LAUNCHER_OPTION', 'options.stopGraceMs must be an integer >= 0, got -1'],
    ['a dir prefix with a slash', { dirPrefix: '../x' }, 'ERR_LAUNCHER_OPTION', 'options.dirPrefix must not contain \'/\', got "../x"'],
    ['no supervisord', { env: { SUPERVISORD_BIN: '' } }, 'ERR_LAUNCHER_NOT_INSTALLED', 'supervisord is not installed (apt-get install supervisor)'],
    ['an invalid program name', { supervisordPath: '/bin/false', programs: [{ name: 'a b', command: '/bin/true' }] }, 'ERR_LAUNCHER_OPTION', 'program name "a b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\''],
  ];
  for (const [what, options, code, message] of cases) {
    it(`refuses ${what} with nothing left behind`, async () => {
      const prefix = uniquePrefix();
      await assert.rejects(launchSupervisord({ ...options, dirPrefix: options.dirPrefix ?? prefix }), launcherError(code, message));
      await assert.rejects(startSupervisord({ ...options, dirPrefix: options.dirPrefix ?? prefix }), launcherError(code, message));
      assert.deepEqual(leftDirs(prefix), []);
    });
  }

  it('refuses a start timeout that is not a positive integer', async () => {
    await assert.rejects(startSupervisord({ startTimeoutMs: 0 }), launcherError('ERR_LAUNCHER_OPTION', 'options.startTimeoutMs must be an integer >= 1, got 0'));
  });

  it('names itself, with a stable code', () => {
    const error = new LauncherError('ERR_LAUNCHER_TIMEOUT', 'late');
    assert.deepEqual([error.name, error.code, error.message, String(error)], ['LauncherError', 'ERR_LAUNCHER_TIMEOUT', 'late', 'LauncherError: late']);
  });
});

describe('launches that fail', () => {
  it('a binary that cannot be run: ready() says so, startSupervisord() removes the dir', async () => {
    const prefix = uniquePrefix();
    const missing = join(BIN, 'missing');
    const launched = await launchSupervisord({ supervisordPath: missing, dirPrefix: prefix });
    assert.equal(launched.pid, 0);
    const message = /^supervisord \(\S+\/missing -c \S+\/supervisord\.conf\) could not be run: spawn \S+\/missing ENOENT; its log ends with:\n\(empty\)$/;
    await assert.rejects(launched.ready(), launcherError('ERR_LAUNCHER_EXITED', message));
    await launched.stop();
    await assertNothingLeft(launched.dir);
    await assert.rejects(startSupervisord({ supervisordPath: missing, dirPrefix: prefix }), launcherError('ERR_LAUNCHER_EXITED', message));
    assert.deepEqual(leftDirs(prefix), []);
  });

  it('an early exit: the message carries the console output', async () => {
    const prefix = uniquePrefix();
    const early = script(BIN, 'supervisord-early', 'echo "Error: something is wrong" >&2\nexit 7');
    let dir = '';
    await assert.rejects(startSupervisord({ supervisordPath: early, dirPrefix: prefix }), (error: unknown) => {
      launcherError('ERR_LAUNCHER_EXITED', /^supervisord \(\S+supervisord-early -c \S+\) exited before answering \(exit code 7\); its log ends with:\nError: something is wrong$/)(error);
      dir = dirOfMessage((error as Error).message);
      return true;
    });
    await assertNothingLeft(dir);
  });

  it('one that never answers times out, and is SIGKILLed when it ignores SIGTERM', async () => {
    const deaf = script(BIN, 'supervisord-deaf', "trap '' TERM\nexec sleep 30");
    const launched = await launchSupervisord({ supervisordPath: deaf, dirPrefix: uniquePrefix(), stopGraceMs: 200 });
    await assert.rejects(
      launched.ready({ timeoutMs: 300 }),
      launcherError('ERR_LAUNCHER_TIMEOUT', /^supervisord \(\S+supervisord-deaf -c \S+\) did not answer RUNNING on \S+\/supervisor\.sock within 300 ms \(last: .+\); its log ends with:\n\(empty\)$/),
    );
    assert.ok(alive(launched.pid));
    assert.deepEqual(markedPids(launched.dir), [launched.pid]);
    const started = Date.now();
    await Promise.all([launched.stop(), launched.stop()]);
    await launched.stop(); // idempotent
    assert.ok(Date.now() - started < 3000);
    assert.equal(alive(launched.pid), false);
    await assertNothingLeft(launched.dir);
  });

  it('ready() rejects with the abort reason; startSupervisord() then stops it', async () => {
    const slow = script(BIN, 'supervisord-slow', 'exec sleep 30');
    const launched = await launchSupervisord({ supervisordPath: slow, dirPrefix: uniquePrefix() });
    const reason = new Error('stop now');
    await assert.rejects(launched.ready({ signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' });
    await assert.rejects(launched.ready({ signal: AbortSignal.abort(reason) }), reason);
    await launched.stop();
    assert.equal(alive(launched.pid), false);
    await assertNothingLeft(launched.dir);

    const prefix = uniquePrefix();
    await assert.rejects(startSupervisord({ supervisordPath: slow, dirPrefix: prefix, signal: AbortSignal.abort(reason) }), reason);
    assert.deepEqual(leftDirs(prefix), []);
  });

  it('a port taken at every attempt: ERR_LAUNCHER_PORT_IN_USE after 5 attempts', async () => {
    const prefix = uniquePrefix();
    const count = join(BIN, 'taken.count');
    const taken = script(BIN, 'supervisord-taken', `echo x >> ${count}\necho "${PORT_TAKEN}" >&2\nexit 2`);
    await assert.rejects(startSupervisord({ supervisordPath: taken, dirPrefix: prefix, inet: true }), launcherError('ERR_LAUNCHER_PORT_IN_USE', /already listening/));
    assert.equal(readFileSync(count, 'utf8'), 'x\n'.repeat(5));
    assert.deepEqual(leftDirs(prefix), []);
    // Without `inet` the same words are only an early exit: no port of ours was involved.
    await assert.rejects(startSupervisord({ supervisordPath: taken, dirPrefix: prefix }), launcherError('ERR_LAUNCHER_EXITED', /already listening/));
  });

  it('supervisordVersion reports a missing, failing, killed or absent supervisord', async () => {
    await assert.rejects(supervisordVersion(null), launcherError('ERR_LAUNCHER_NOT_INSTALLED', 'supervisord is not installed (apt-get install supervisor)'));
    await assert.rejects(supervisordVersion(join(BIN, 'missing')), launcherError('ERR_LAUNCHER_EXITED', /^\S+\/missing could not be run: spawn \S+ ENOENT$/));
    const failing = script(BIN, 'supervisord-failing', 'echo "no version" >&2\nexit 3');
    await assert.rejects(supervisordVersion(failing), launcherError('ERR_LAUNCHER_EXITED', `${failing} --version exited 3: no version`));
    const killed = script(BIN, 'supervisord-killed', 'kill -TERM $$');
    await assert.rejects(supervisordVersion(killed), launcherError('ERR_LAUNCHER_EXITED', `${killed} --version exited 143: `));
  });

  it('restart() reports a supervisord that exits on SIGHUP, or does not restart in time', async () => {
    const hup = script(BIN, 'supervisord-hup', "trap 'kill $!; exit 5' HUP\nsleep 30 &\necho ready\nwait");
    const exits = await launchSupervisord({ supervisordPath: hup, dirPrefix: uniquePrefix() });
    await waitUntil('the trap to be set', () => exits.logTail().endsWith('ready'));
    await assert.rejects(exits.restart(), launcherError('ERR_LAUNCHER_EXITED', /^supervisord \(\S+ -c \S+\) exited while restarting \(exit code 5\); its log ends with:\nready$/));
    await exits.stop();
    await assertNothingLeft(exits.dir);

    const deaf = script(BIN, 'supervisord-hup-deaf', "trap '' HUP\necho ready\nexec sleep 30");
    const stays = await launchSupervisord({ supervisordPath: deaf, dirPrefix: uniquePrefix() });
    await waitUntil('the trap to be set', () => stays.logTail().endsWith('ready'));
    await assert.rejects(stays.restart(150), launcherError('ERR_LAUNCHER_TIMEOUT', /^restart: supervisord did not restart within 150 ms; its log ends with:\nready$/));
    // Nor does it answer: waitFor names the last error.
    await assert.rejects(stays.waitFor(() => true, 150), launcherError('ERR_LAUNCHER_TIMEOUT', /^waitFor: condition not met within 150 ms; processes: \(none\); last error: connect ENOENT \S+\/supervisor\.sock \(unix:\/\/\S+\)$/));
    await stays.stop();
    await assertNothingLeft(stays.dir);
  });
});

describe('delay', () => {
  it('resolves after the time, rejects with the reason of an abort before or during it', async () => {
    await delay(1);
    const reason = new Error('now');
    await assert.rejects(delay(10, AbortSignal.abort(reason)), reason);
    const controller = new AbortController();
    const waiting = delay(60_000, controller.signal);
    controller.abort(reason);
    await assert.rejects(waiting, reason);
  });
});

// ---------------------------------------------------------------------------
// The real supervisord
// ---------------------------------------------------------------------------

describe('launcher against a real supervisord', { skip: SKIP }, () => {
  const started: LaunchedSupervisord[] = [];
  const start = async (options: Parameters<typeof startSupervisord>[0]): Promise<LaunchedSupervisord> => {
    const s = await startSupervisord({ dirPrefix: uniquePrefix(), ...options });
    started.push(s);
    return s;
  };
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  const byName = (procs: ProcessStruct[]): Map<string, ProcessStruct> => new Map(procs.map((p) => [`${String(p['group'])}:${String(p['name'])}`, p]));

  it('stops programs with their children: the process group, also a child that ignores SIGTERM', async () => {
    const s = await start({
      programs: [
        // The shell's child dies of the SIGTERM supervisord sends the group.
        { name: 'forker', command: "/bin/sh -c '/bin/sleep 100001 & wait'", startsecs: 0 },
        // This child ignores it and outlives its shell: the launcher's SIGKILL to the group ends it.
        { name: 'stubborn', command: "/bin/sh -c \"(trap '' TERM; exec /bin/sleep 100002) & wait\"", startsecs: 0 },
      ],
    });
    await s.waitFor((procs) => procs.length === 2 && procs.every((p) => p['statename'] === 'RUNNING'));
    const sleepers = (): number[] =>
      markedPids(s.dir).filter((pid) => /^\/bin\/sleep\0(100001|100002)\0$/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1')));
    await waitUntil('both children to run', () => sleepers().length === 2);
    assert.equal(markedPids(s.dir).length, 5, 'supervisord, two shells, two sleeps');
    await s.stop();
    assert.equal(alive(s.pid), false);
    await assertNothingLeft(s.dir);
  });

  it('SIGKILLs supervisord after the grace period, and its programs with it', async () => {
    const s = await start({ programs: [{ name: 'a', command: '/bin/sleep 100000' }, { name: 'b', command: '/bin/sleep 100000' }], stopGraceMs: 0 });
    assert.equal(markedPids(s.dir).length, 3);
    await s.stop();
    await assertNothingLeft(s.dir);
  });

  it('serves TCP with auth through the library client: call, waitFor, ctl, numprocs', async () => {
    const s = await start({
      unix: false,
      inet: true,
      username: 'user',
      password: 'pw%1',
      identifier: 'launcher-test',
      programs: [
        { name: 'many', command: '/bin/sleep 100000', numprocs: 2, group: 'pool' },
        { name: 'idle', command: '/bin/sleep 100000', autostart: false },
      ],
    });
    assert.equal(s.url, `http://127.0.0.1:${s.port}/RPC2`);
    assert.deepEqual([s.socketPath, s.socketUrl, s.username, s.password], [undefined, undefined, 'user', 'pw%1']);
    assert.equal(await s.call('supervisor.getIdentification'), 'launcher-test');
    // ready() waited for both numprocs processes to be started once.
    const procs = byName((await s.call('supervisor.getAllProcessInfo')) as ProcessStruct[]);
    assert.deepEqual([...procs.keys()].sort(), ['idle:idle', 'pool:many_0', 'pool:many_1']);
    for (const key of ['pool:many_0', 'pool:many_1']) assert.notEqual(procs.get(key)?.['start'], 0, key);
    await s.waitFor((p) => p.filter((q) => q['statename'] === 'RUNNING').length === 2);
    const status = await s.ctl('status');
    assert.equal(status.code, 3, status.stderr); // one process is not running
    assert.match(status.stdout, /^pool:many_0\s+RUNNING/m);
    assert.match(status.stdout, /^idle\s+STOPPED/m);
    await assert.rejects(s.waitFor(() => false, 120), launcherError('ERR_LAUNCHER_TIMEOUT', /^waitFor: condition not met within 120 ms; processes: (idle:idle|pool:many_\d)=/));
    await s.stop();
    await assertNothingLeft(s.dir);
  });

  it('restarts in place: same pid, new program pids; refuses once stopped', async () => {
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000', startsecs: 0 }] });
    const before = ((await s.call('supervisor.getAllProcessInfo')) as ProcessStruct[])[0]!['pid'];
    await s.restart();
    assert.equal(await s.call('supervisor.getPID'), s.pid);
    const now = ((await s.call('supervisor.getAllProcessInfo')) as ProcessStruct[])[0]!;
    assert.notEqual(now['pid'], before);
    assert.notEqual(now['start'], 0);
    await s.stop();
    await assert.rejects(s.restart(), launcherError('ERR_LAUNCHER_NOT_RUNNING', 'restart: supervisord is not running'));
    await assert.rejects(s.waitFor(() => true), launcherError('ERR_LAUNCHER_NOT_RUNNING', 'waitFor: supervisord was stopped'));
    await assert.rejects(s.ready(), launcherError('ERR_LAUNCHER_EXITED', /exited before answering \(exit code 0\)/));
    await assertNothingLeft(s.dir);
  });

  it('retries on a new port when supervisord lost the probed one', async () => {
    const count = join(BIN, 'once.count');
    // Loses the port at the first start only, then is the real supervisord.
    const once = script(BIN, 'supervisord-once', `if [ ! -e ${count} ]; then touch ${count}; echo "${PORT_TAKEN}" >&2; exit 2; fi\nexec ${SUPERVISORD} "$@"`);
    const prefix = uniquePrefix();
    const s = await start({ supervisordPath: once, dirPrefix: prefix, inet: true, unix: false });
    assert.deepEqual(leftDirs(prefix), [s.dir.slice(REAL_TMP.length + 1)], 'the first attempt left nothing');
    assert.deepEqual(await s.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
    await s.stop();
    await assertNothingLeft(s.dir);
  });

  it('waits through answers that are not RUNNING yet, with any transport', async () => {
    // A transport that fails once with a non-Error, then shows every program unstarted once.
    const seen: string[] = [];
    let hidden = false;
    const call: SupervisordCall = async (endpoint, method, params, timeoutMs) => {
      seen.push(method);
      if (seen.length === 1) throw 'not yet';
      const c = new XmlRpcClient(unixAddress(endpoint.socketPath!), { timeoutMs });
      try {
        const result = await c.call(method, params as never);
        if (method !== 'supervisor.getAllProcessInfo' || hidden) return result;
        hidden = true;
        return (result as ProcessStruct[]).map((p) => ({ ...p, start: 0 }));
      } finally {
        await c.close();
      }
    };
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000' }], call });
    assert.ok(seen.filter((m) => m === 'supervisor.getAllProcessInfo').length >= 2, seen.join(', '));
    assert.deepEqual(await s.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
    await s.stop();
    await assertNothingLeft(s.dir);
  });

  it('a config supervisord refuses fails fast with its log, and leaves nothing behind', async () => {
    let dir = '';
    await assert.rejects(start({ extraConfig: '[program:nocommand]\nautostart=true' }), (error: unknown) => {
      launcherError('ERR_LAUNCHER_EXITED', /exited before answering \(exit code 2\); its log ends with:\n[^]*program section program:nocommand does not specify a command/)(error);
      dir = dirOfMessage((error as Error).message);
      return true;
    });
    await assertNothingLeft(dir);
  });
});
