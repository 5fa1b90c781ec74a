/**
 * `supervisord-check listen` as a REAL supervisord's event listener, from
 * the `[eventlistener:x]` section of its own temp config (lib/launcher):
 * - a crash-looping program: the exits on /metrics equal the `exited:` lines
 *   of supervisord's log, exactly;
 * - a quick crash loop (`exit 3` before `startsecs`, STARTING -> BACKOFF,
 *   then FATAL): every exit counted as in the log, and its exit status,
 *   which supervisord's API answers 0 for, is the 3 of the log's `exited:`
 *   lines (exported, in each Datadog event and JSON line); a crash loop
 *   exiting 11, 12, 13 gets each BACKOFF its own code, in the log's order;
 * - `kill -9` of a RUNNING program: -1 and signal 9, `killed by SIGKILL` in
 *   the Datadog event, also when `autorestart` spawned it again at once
 *   (supervisord's API no longer has it);
 * - `logfile=syslog` (no main log to read): the same crash loop's status is
 *   unknown (no sample, "exit status unknown"), never 0, said on stderr;
 * - `supervisorctl stop` / `start` give the transitions RUNNING->STOPPING->
 *   STOPPED->STARTING->RUNNING, in the JSON lines too;
 * - `supervisorctl update` after adding then removing a program adds then
 *   drops its series (PROCESS_GROUP_ADDED / REMOVED);
 * - a non-ASCII program name (payload `len` counts characters, not bytes);
 * - a reload (SIGHUP) ends the listener and starts a new one on the same
 *   port; stopping supervisord leaves no process behind;
 * - a restart storm with a buffer too small: the events supervisord
 *   discarded (its `event buffer overflowed` lines) are reported, the state
 *   is right and every restart counted within 30 s, no drift;
 * - `identifier=prod web` and a program printing a fake envelope on a
 *   PROCESS_LOG stream: every event read, the fake one never applied, one
 *   answer each (supervisord never puts the listener in its UNKNOWN state);
 * - an identifier with a line break (supervisord accepts a continuation
 *   line): no header can be read; each envelope is still answered once and
 *   can_connect says that events arrive but cannot be read.
 * - `--resources`: a program holding 200 MB reports at least that resident
 *   memory on /metrics (VmRSS agrees), a shell with two `sleep` children is
 *   a tree of 3; a restarted program is never credited with its previous
 *   pid's CPU: every sample after the restart is at most what the new
 *   process has used, read from its own /proc entry right after the scrape.
 * The truth comes from supervisord (its log, XML-RPC through the launcher),
 * never from the listener. Skips, with the reason printed, only when
 * supervisord is not installed.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { findSupervisord } from '../../lib/launcher/find-supervisord.js';
import { freePort, startSupervisord } from '../../lib/launcher/supervisord.js';
import type { LaunchedSupervisord, ProcessStruct } from '../../lib/launcher/supervisord.js';
import { alive, markedPids, sleep, waitUntil } from '../helpers/launched-processes.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;
const MAIN = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of the first sample of `family` with all `labels` (`name="value"` strings); undefined when absent. */
function sample(text: string, family: string, ...labels: string[]): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
    if (labels.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Scrapes until `predicate` holds; returns the last exposition (the caller asserts on it). */
async function scrapeUntil(port: number, predicate: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    try {
      text = await scrape(port);
      if (predicate(text)) return text;
    } catch {
      // Not listening yet (or between two listeners).
    }
    await sleep(50);
  }
  return text;
}

const proc = (name: string): string => `supervisord_process="${name}"`;

const EVENTS = 'PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5,REMOTE_COMMUNICATION';

/** supervisord's main log, from byte `from`. */
function mainLog(sv: LaunchedSupervisord, from = 0): string {
  return readFileSync(join(sv.dir, 'supervisord.log')).subarray(from).toString('utf8');
}

/** Lines of supervisord's main log matching `pattern` (global), from byte `from`. */
function logCount(sv: LaunchedSupervisord, pattern: RegExp, from = 0): number {
  return (mainLog(sv, from).match(pattern) ?? []).length;
}

function logSize(sv: LaunchedSupervisord): number {
  return statSync(join(sv.dir, 'supervisord.log')).size;
}

/** The `[eventlistener:check]` section of the listener under test. */
function listenerSection(port: number, dir: string, options: { events?: string; bufferSize?: number; flags?: string } = {}): string {
  return (
    `[eventlistener:check]\ncommand=${process.execPath} ${MAIN} listen --serve 127.0.0.1:${port} --jsonl ${join(dir, 'events.jsonl')} ${options.flags ?? ''}\n` +
    `events=${options.events ?? EVENTS}\nbuffer_size=${options.bufferSize ?? 1024}\nstartsecs=0\nstopwaitsecs=5\nstderr_logfile=${join(dir, 'listener.err')}\n`
  );
}

/** Adds the listener under test to supervisord's config (`supervisorctl update`) and waits until it says can_connect OK. */
async function addListener(sv: LaunchedSupervisord, port: number, options: Parameters<typeof listenerSection>[2]): Promise<void> {
  writeFileSync(sv.configPath, `${readFileSync(sv.configPath, 'utf8')}\n${listenerSection(port, sv.dir, options)}`);
  const update = await sv.ctl('update');
  assert.equal(update.code, 0, update.stderr + update.stdout);
  const ready = await scrapeUntil(port, (t) => sample(t, 'supervisord_can_connect_status') === 0);
  assert.equal(sample(ready, 'supervisord_can_connect_status'), 0, `listener not ready: ${sv.logTail()}`);
}

/** Stops a launched supervisord; none of its processes may outlive it. */
async function stopLaunched(sv: LaunchedSupervisord | undefined): Promise<void> {
  const dir = sv?.dir;
  await sv?.stop();
  if (dir !== undefined) assert.deepEqual(markedPids(dir), [], 'a process of the launched supervisord outlived it');
}

describe('listen: a real supervisord with the listener in its config', { skip: SKIP, timeout: 120_000 }, () => {
  let sv: LaunchedSupervisord;
  let port: number;
  let jsonl: string;
  let udp: ReturnType<typeof createSocket>;
  const datagrams: string[] = [];
  // The counter of the program exiting 11, 12, 13 (its command needs the path before supervisord's directory exists).
  const counter = mkdtempSync(join(tmpdir(), 'sc-listener-count-'));

  before(async () => {
    port = await freePort();
    sv = await startSupervisord({
      dirPrefix: 'sc-listener-',
      programs: [
        { name: 'crash', command: "sh -c 'sleep 0.2; exit 3'", startsecs: 0, autorestart: true, autostart: false },
        { name: 'sleeper', command: 'sleep 1000', startsecs: 0 },
        { name: 'café', command: 'sleep 1000', startsecs: 0 },
        { name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 2, autostart: false },
        {
          name: 'counting',
          command: `/bin/sh -c "n=$(( $(cat ${counter}/n 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}/n; exit $((10 + n))"`,
          startsecs: 1,
          startretries: 2,
          autostart: false,
        },
        { name: 'victim', command: 'sleep 1000', startsecs: 0, autorestart: false, autostart: false },
        { name: 'phoenix', command: 'sleep 1000', startsecs: 0, autorestart: true, autostart: false },
      ],
      extraConfig: '',
    });
    jsonl = join(sv.dir, 'events.jsonl');
    // The listener is added now, with the directory known, by a config update (PROCESS_GROUP_ADDED for itself).
    udp = createSocket('udp4');
    udp.on('message', (m) => datagrams.push(m.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const udpPort = (udp.address() as AddressInfo).port;
    await addListener(sv, port, { flags: `--resync 2s --dogstatsd 127.0.0.1:${udpPort}` });
  });

  after(async () => {
    udp?.close();
    await stopLaunched(sv);
    rmSync(counter, { recursive: true, force: true });
  });

  /** The titles of the Datadog events about `name`, in order. */
  const titles = (name: string): string[] => datagrams.filter((d) => d.startsWith('_e{') && d.includes(`:${name} `)).map((d) => d.slice(d.indexOf(':') + 1, d.indexOf('|')));
  const jsonLines = (): Array<Record<string, unknown>> => readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

  it('a crash-looping program: every exit of supervisord\'s log is counted, expected:false', async () => {
    assert.equal((await sv.ctl('start', 'crash')).code, 0);
    await sleep(3000);
    const stop = await sv.ctl('stop', 'crash');
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    const truth = (): number => (readFileSync(join(sv.dir, 'supervisord.log'), 'utf8').match(/exited: crash \(exit status 3; not expected\)/gu) ?? []).length;
    const expected = truth();
    // How fast supervisord restarts depends on its loop's wake-ups: only ask that it looped.
    assert.ok(expected >= 2, `only ${expected} exits: not a crash loop`);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_exits_total', proc('crash'), 'expected="false"') === expected);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('crash'), 'expected="false"'), expected);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('crash'), 'expected="true"'), 0);
    assert.equal(sample(text, 'supervisord_process_transitions_total', proc('crash'), 'from_state="RUNNING"', 'to_state="EXITED"'), expected);
    assert.equal(sample(text, 'supervisord_process_status', proc('crash')), 2);
  });

  it('a quick crash loop (exit 3 before startsecs, then FATAL): every exit of the log counted, each with the status of its exited: line, where supervisord\'s API says 0', async () => {
    const from = logSize(sv);
    await sv.ctl('start', 'quick');
    await sv.waitFor((ps) => ps.some((p) => p['name'] === 'quick' && p['statename'] === 'FATAL'), 20_000);
    const logged = [...mainLog(sv, from).matchAll(/exited: quick \(exit status (\d+); not expected\)/gu)].map((m) => Number(m[1]));
    // Three, or four when supervisord's loop reaped a child only after startsecs (then RUNNING -> EXITED, and one more attempt).
    assert.ok(logged.length >= 3 && logged.every((n) => n === 3), mainLog(sv, from));
    // supervisord itself answers 0 for it:
    assert.equal(((await sv.call('supervisor.getProcessInfo', ['quick'])) as ProcessStruct)['exitstatus'], 0);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_exits_total', proc('quick'), 'expected="false"') === logged.length && sample(t, 'supervisord_process_exit_status', proc('quick')) !== undefined);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('quick'), 'expected="false"'), logged.length);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('quick'), 'expected="true"'), 0);
    const transitions = (from: string, to: string): number => sample(text, 'supervisord_process_transitions_total', proc('quick'), `from_state="${from}"`, `to_state="${to}"`) ?? 0;
    assert.equal(transitions('STARTING', 'BACKOFF') + transitions('RUNNING', 'EXITED'), logged.length);
    assert.equal(sample(text, 'supervisord_process_exit_status', proc('quick')), 3);
    assert.equal(sample(text, 'supervisord_process_exit_signal', proc('quick')), undefined);
    assert.equal(sample(text, 'supervisord_process_state', proc('quick')), 200);
    await waitUntil('the Datadog events', () => titles('quick').length === logged.length + 1);
    assert.deepEqual(titles('quick').slice(-4), ['quick is BACKOFF (exit status 3)', 'quick is BACKOFF (exit status 3)', 'quick is BACKOFF (exit status 3)', 'quick is FATAL (exit status 3)']);
    for (const title of titles('quick')) assert.match(title, /\(exit status 3\)$/u);
    assert.equal(datagrams.some((d) => d.includes('quick') && d.includes('exit status 0')), false);
    const records = jsonLines().filter((r) => r['event'] === 'exit_status' && r['name'] === 'quick');
    assert.deepEqual(records.map((r) => r['exitstatus']), logged);
  });

  it('a crash loop exiting 11, 12, 13 before startsecs: each BACKOFF gets its own code, in the order of the log', async () => {
    const from = logSize(sv);
    await sv.ctl('start', 'counting');
    await sv.waitFor((ps) => ps.some((p) => p['name'] === 'counting' && p['statename'] === 'FATAL'), 20_000);
    const logged = [...mainLog(sv, from).matchAll(/exited: counting \(exit status (\d+); not expected\)/gu)].map((m) => Number(m[1]));
    // 11, 12, 13 (and 14 when supervisord reaped one child only after startsecs: RUNNING -> EXITED, one more attempt).
    assert.deepEqual(logged.slice(0, 3), [11, 12, 13], mainLog(sv, from));
    const last = logged[logged.length - 1]!;
    await waitUntil('the Datadog events', () => titles('counting').length === logged.length + 1);
    assert.deepEqual(titles('counting').map((t) => Number(/\(exit status (\d+)\)$/u.exec(t)?.[1])), [...logged, last]);
    assert.deepEqual(titles('counting').slice(-1), [`counting is FATAL (exit status ${last})`]);
    const records = jsonLines().filter((r) => r['event'] === 'exit_status' && r['name'] === 'counting');
    assert.deepEqual(records.map((r) => r['exitstatus']), logged);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_exit_status', proc('counting')) === last);
    assert.equal(sample(text, 'supervisord_process_exit_status', proc('counting')), last);
  });

  it('kill -9 of a RUNNING program: -1 and signal 9, "killed by SIGKILL"; also when autorestart spawned it again at once', async () => {
    const from = logSize(sv);
    for (const name of ['victim', 'phoenix']) {
      assert.equal((await sv.ctl('start', name)).code, 0);
      const pid = Number(((await sv.call('supervisor.getProcessInfo', [name])) as ProcessStruct)['pid']);
      process.kill(pid, 'SIGKILL');
    }
    await sv.waitFor((ps) => ps.some((p) => p['name'] === 'victim' && p['statename'] === 'EXITED'), 10_000);
    await waitUntil('phoenix spawned again', () => logCount(sv, /spawned: 'phoenix'/gu, from) === 2);
    for (const name of ['victim', 'phoenix']) assert.equal(logCount(sv, new RegExp(`exited: ${name} \\(terminated by SIGKILL; not expected\\)`, 'gu'), from), 1, mainLog(sv, from));
    // supervisord's API no longer has phoenix's -1: it spawned it again.
    assert.equal(((await sv.call('supervisor.getProcessInfo', ['phoenix'])) as ProcessStruct)['exitstatus'], 0);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_exit_signal', proc('victim')) !== undefined);
    assert.equal(sample(text, 'supervisord_process_exit_status', proc('victim')), -1);
    assert.equal(sample(text, 'supervisord_process_exit_signal', proc('victim')), 9);
    await waitUntil('the Datadog events', () => titles('victim').length === 1 && titles('phoenix').length === 1);
    assert.deepEqual([...titles('victim'), ...titles('phoenix')], ['victim exited unexpectedly (killed by SIGKILL)', 'phoenix exited unexpectedly (killed by SIGKILL)']);
    assert.ok(datagrams.some((d) => d.includes('process victim (group victim) went from RUNNING to EXITED, killed by SIGKILL (exit status -1).')));
    const records = jsonLines().filter((r) => r['event'] === 'exit_status' && (r['name'] === 'victim' || r['name'] === 'phoenix'));
    assert.deepEqual(records.map((r) => [r['name'], r['exitstatus'], r['signal']]).sort(), [['phoenix', -1, 'SIGKILL'], ['victim', -1, 'SIGKILL']]);
    await sv.ctl('stop', 'phoenix');
  });

  it('supervisorctl stop then start: RUNNING->STOPPING->STOPPED->STARTING->RUNNING, in the metrics and the JSON lines', async () => {
    const label = proc('sleeper');
    const before = await scrape(port);
    const count = (t: string, from: string, to: string): number => sample(t, 'supervisord_process_transitions_total', label, `from_state="${from}"`, `to_state="${to}"`) ?? 0;
    assert.equal((await sv.ctl('stop', 'sleeper')).code, 0);
    assert.equal((await sv.ctl('start', 'sleeper')).code, 0);
    const text = await scrapeUntil(port, (t) => count(t, 'STARTING', 'RUNNING') === count(before, 'STARTING', 'RUNNING') + 1);
    assert.equal(count(text, 'RUNNING', 'STOPPING'), count(before, 'RUNNING', 'STOPPING') + 1);
    assert.equal(count(text, 'STOPPING', 'STOPPED'), count(before, 'STOPPING', 'STOPPED') + 1);
    assert.equal(count(text, 'STOPPED', 'STARTING'), count(before, 'STOPPED', 'STARTING') + 1);
    assert.equal(count(text, 'STARTING', 'RUNNING'), count(before, 'STARTING', 'RUNNING') + 1);
    assert.equal(sample(text, 'supervisord_process_status', label), 0);
    const info = (await sv.call('supervisor.getProcessInfo', ['sleeper'])) as ProcessStruct;
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const sleeper = lines.filter((l) => l['event'] === 'transition' && l['name'] === 'sleeper').map((l) => `${String(l['from'])}->${String(l['to'])}`);
    assert.deepEqual(sleeper.slice(-4), ['RUNNING->STOPPING', 'STOPPING->STOPPED', 'STOPPED->STARTING', 'STARTING->RUNNING']);
    assert.equal(lines.filter((l) => l['name'] === 'sleeper' && l['to'] === 'RUNNING').at(-1)?.['pid'], info['pid']);
  });

  it('a non-ASCII program name: its events are read (len counts characters, not bytes)', async () => {
    assert.equal((await sv.ctl('restart', 'café')).code, 0);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_transitions_total', proc('café'), 'from_state="STARTING"', 'to_state="RUNNING"') === 1);
    assert.equal(sample(text, 'supervisord_process_transitions_total', proc('café'), 'from_state="STARTING"', 'to_state="RUNNING"'), 1);
    assert.equal(sample(text, 'supervisord_process_transitions_total', proc('café'), 'from_state="RUNNING"', 'to_state="STOPPING"'), 1);
    assert.equal(sample(text, 'supervisord_process_status', proc('café')), 0);
    assert.equal(sample(text, 'supervisord_listener_malformed_total'), 0);
  });

  it('supervisorctl update adding then removing a program adds then drops its series', async () => {
    const original = readFileSync(sv.configPath, 'utf8');
    writeFileSync(sv.configPath, `${original}\n[program:added]\ncommand=sleep 1000\nstartsecs=0\nautostart=false\n`);
    assert.equal((await sv.ctl('update')).code, 0);
    // autostart=false: no process event, only the group's; the resync it causes shows the process.
    let text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_status', proc('added')) !== undefined);
    assert.equal(sample(text, 'supervisord_process_status', proc('added')), 2);
    writeFileSync(sv.configPath, original);
    assert.equal((await sv.ctl('update')).code, 0);
    text = await scrapeUntil(port, (t) => !t.includes(proc('added')));
    assert.equal(text.includes(proc('added')), false, 'the removed program still has series');
    assert.equal(sample(text, 'supervisord_listener_drift_total'), 0);
  });

  it('a reload ends the listener and starts a new one that serves on the same port', async () => {
    const old = (await sv.call('supervisor.getProcessInfo', ['check'])) as ProcessStruct;
    await sv.restart();
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_listener_events_total', 'eventname="SUPERVISOR_STATE_CHANGE_RUNNING"') === 1 && sample(t, 'supervisord_can_connect_status') === 0);
    assert.equal(sample(text, 'supervisord_listener_events_total', 'eventname="SUPERVISOR_STATE_CHANGE_RUNNING"'), 1, `no new listener on the port: ${sv.logTail()}`);
    const now = (await sv.call('supervisor.getProcessInfo', ['check'])) as ProcessStruct;
    assert.notEqual(now['pid'], old['pid']);
    assert.equal(alive(Number(old['pid'])), false, 'the old listener is still running');
    assert.equal(sample(text, 'supervisord_process_status', proc('sleeper')), 0);
  });
});

describe('listen: no main log to read (logfile=syslog): exit statuses only supervisord\'s log has are unknown, never 0', { skip: SKIP, timeout: 60_000 }, () => {
  let sv: LaunchedSupervisord;
  let port: number;
  let udp: ReturnType<typeof createSocket>;
  const datagrams: string[] = [];

  before(async () => {
    port = await freePort();
    sv = await startSupervisord({
      dirPrefix: 'sc-listener-syslog-',
      programs: [{ name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 2, autostart: false }],
      extraConfig: '[supervisord]\nlogfile=syslog',
    });
    udp = createSocket('udp4');
    udp.on('message', (m) => datagrams.push(m.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    await addListener(sv, port, { flags: `--dogstatsd 127.0.0.1:${(udp.address() as AddressInfo).port}` });
  });

  after(async () => {
    udp?.close();
    await stopLaunched(sv);
  });

  it('a quick crash loop: every exit counted, its status no sample and "exit status unknown"; stderr says why', async () => {
    await sv.ctl('start', 'quick');
    await sv.waitFor((ps) => ps.some((p) => p['name'] === 'quick' && p['statename'] === 'FATAL'), 20_000);
    assert.equal(existsSync(join(sv.dir, 'supervisord.log')), false);
    const quickTitles = (): string[] => datagrams.filter((d) => d.startsWith('_e{') && d.includes(':quick ')).map((d) => d.slice(d.indexOf(':') + 1, d.indexOf('|')));
    await waitUntil('the FATAL event', () => quickTitles().includes('quick is FATAL (exit status unknown)'));
    // The exits are the events' (no log file): STARTING -> BACKOFF, and RUNNING -> EXITED when supervisord's loop reaped the child after startsecs.
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_state', proc('quick')) === 200);
    const exits = (sample(text, 'supervisord_process_transitions_total', proc('quick'), 'from_state="STARTING"', 'to_state="BACKOFF"') ?? 0) + (sample(text, 'supervisord_process_transitions_total', proc('quick'), 'from_state="RUNNING"', 'to_state="EXITED"') ?? 0);
    assert.ok(exits >= 3, `${exits} exits`);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('quick'), 'expected="false"'), exits);
    assert.equal(sample(text, 'supervisord_process_exit_status', proc('quick')), undefined, 'an exit status the listener could not read');
    assert.equal(quickTitles().length, exits + 1);
    for (const title of quickTitles()) assert.match(title, /^quick (is BACKOFF|exited unexpectedly|is FATAL) \(exit status unknown\)$/u);
    assert.equal(datagrams.some((d) => d.includes('exit status 0')), false);
    assert.match(readFileSync(join(sv.dir, 'listener.err'), 'utf8'), /cannot read supervisord's main log \(NO_FILE: syslog: no log file/u);
  });
});

describe('listen: a restart storm with a buffer_size too small', { skip: SKIP, timeout: 120_000 }, () => {
  const N = 60;
  let sv: LaunchedSupervisord;
  let port: number;

  before(async () => {
    port = await freePort();
    const programs = Array.from({ length: N }, (_, i) => ({ name: `s${String(i).padStart(2, '0')}`, group: 'storm', command: 'sleep 1000', startsecs: 0 }));
    sv = await startSupervisord({ dirPrefix: 'sc-listener-storm-', programs });
    writeFileSync(sv.configPath, `${readFileSync(sv.configPath, 'utf8')}\n${listenerSection(port, sv.dir, { bufferSize: 20 })}`);
    assert.equal((await sv.ctl('update')).code, 0);
    const ready = await scrapeUntil(port, (t) => sample(t, 'supervisord_processes', 'status="up"') === N + 1);
    assert.equal(sample(ready, 'supervisord_processes', 'status="up"'), N + 1, `listener not ready: ${sv.logTail()}`);
  });

  after(() => stopLaunched(sv));

  it('the discarded events are reported as lost, the state is right and every restart counted within 30 s, no drift', async () => {
    const before = await scrape(port);
    const from = logSize(sv);
    const restartsBefore = (name: string): number => sample(before, 'supervisord_process_restarts_total', proc(name)) ?? 0;
    const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(2, '0')}`);
    const pids = new Map(((await sv.call('supervisor.getAllProcessInfo')) as ProcessStruct[]).map((p) => [p['name'], p['pid']]));
    assert.equal((await sv.ctl('restart', 'storm:*')).code, 0);
    const started = Date.now();
    const right = (t: string): boolean => names.every((n) => sample(t, 'supervisord_process_state', proc(n)) === 20 && (sample(t, 'supervisord_process_restarts_total', proc(n)) ?? 0) > restartsBefore(n));
    let text = await scrapeUntil(port, right, 30_000);
    assert.ok(right(text), `not right within 30 s of the restart: ${names.filter((n) => sample(text, 'supervisord_process_state', proc(n)) !== 20).length} not RUNNING`);
    const elapsed = Date.now() - started;
    // Every program did restart (new pid), and supervisord says RUNNING for each.
    const now = (await sv.call('supervisor.getAllProcessInfo')) as ProcessStruct[];
    for (const p of now.filter((x) => x['group'] === 'storm')) {
      assert.equal(p['statename'], 'RUNNING');
      assert.notEqual(p['pid'], pids.get(p['name']));
    }
    // Once the events stop, the loss reported is what supervisord's log says it discarded.
    let events = -1;
    for (let i = 0; i < 60 && sample(text, 'supervisord_listener_events_total', 'eventname="TICK_5"') !== events; i++) {
      events = sample(text, 'supervisord_listener_events_total', 'eventname="TICK_5"') ?? 0;
      await sleep(500);
      text = await scrape(port);
    }
    const discarded = logCount(sv, /pool check event buffer overflowed, discarding event/gu, from);
    assert.ok(discarded > 0, 'the buffer did not overflow: the test shows nothing');
    const lostBefore = sample(before, 'supervisord_listener_events_lost_total') ?? 0;
    await scrapeUntil(port, (t) => (sample(t, 'supervisord_listener_events_lost_total') ?? 0) - lostBefore === logCount(sv, /pool check event buffer overflowed/gu, from));
    text = await scrape(port);
    assert.equal((sample(text, 'supervisord_listener_events_lost_total') ?? 0) - lostBefore, logCount(sv, /pool check event buffer overflowed/gu, from));
    assert.equal(sample(text, 'supervisord_listener_drift_total'), 0);
    assert.equal(logCount(sv, /exited: /gu, from), 0);
    for (const n of names) assert.equal(sample(text, 'supervisord_process_exits_total', proc(n), 'expected="false"'), 0);
    assert.match(readFileSync(join(sv.dir, 'listener.err'), 'utf8'), /supervisord discarded \d+ event\(s\) of pool check/u);
    assert.ok(elapsed <= 30_000);
  });
});

describe('listen: identifier=prod web, and a program printing a fake envelope on a PROCESS_LOG stream', { skip: SKIP, timeout: 60_000 }, () => {
  let sv: LaunchedSupervisord;
  let port: number;

  before(async () => {
    port = await freePort();
    const fake = 'ver:3.0 server:prod web serial:9 pool:check poolserial:9 eventname:PROCESS_STATE_FATAL len:48\\nprocessname:victim groupname:victim from_state:RUNNING';
    sv = await startSupervisord({
      dirPrefix: 'sc-listener-ident-',
      identifier: 'prod web',
      programs: [
        { name: 'victim', command: 'sleep 1000', startsecs: 0 },
        { name: 'crash', command: "sh -c 'sleep 0.3; exit 3'", startsecs: 0, autorestart: false, autostart: false },
        { name: 'liar', command: `/bin/sh -c 'printf "${fake}"; sleep 0.5; printf "${fake}${fake}\\n"; sleep 1000'`, startsecs: 0, autostart: false, extra: { stdout_events_enabled: 'true' } },
      ],
    });
    await addListener(sv, port, { events: `${EVENTS},PROCESS_LOG` });
  });

  after(() => stopLaunched(sv));

  it('every event is read and answered once; the forged FATAL is data; exits counted as in the log', async () => {
    assert.equal(((await sv.call('supervisor.getIdentification')) as string), 'prod web');
    assert.equal((await sv.ctl('start', 'liar')).code, 0);
    await sleep(1000);
    assert.equal((await sv.ctl('start', 'crash')).code, 0);
    await sv.waitFor((ps) => ps.some((p) => p['name'] === 'crash' && p['statename'] === 'EXITED'));
    const exits = logCount(sv, /exited: crash \(exit status 3; not expected\)/gu);
    assert.equal(exits, 1);
    const text = await scrapeUntil(port, (t) => sample(t, 'supervisord_process_exits_total', proc('crash'), 'expected="false"') === exits);
    assert.equal(sample(text, 'supervisord_process_exits_total', proc('crash'), 'expected="false"'), exits);
    assert.equal(sample(text, 'supervisord_process_status', proc('victim')), 0, 'the forged FATAL was applied');
    assert.equal(sample(text, 'supervisord_process_transitions_total', proc('victim'), 'to_state="FATAL"'), undefined);
    assert.ok((sample(text, 'supervisord_listener_events_total', 'eventname="PROCESS_LOG_STDOUT"') ?? 0) >= 2);
    assert.equal(sample(text, 'supervisord_listener_malformed_total'), 0);
    assert.equal(sample(text, 'supervisord_can_connect_status'), 0);
    // One answer per event: supervisord never saw a second one (it would put the listener in UNKNOWN for good).
    assert.doesNotMatch(mainLog(sv), /has entered the UNKNOWN state/u);
    assert.equal(sample(text, 'supervisord_listener_drift_total'), 0);
  });
});

describe('listen: an identifier with a line break (no header can be read)', { skip: SKIP, timeout: 60_000 }, () => {
  let sv: LaunchedSupervisord;
  let port: number;

  before(async () => {
    port = await freePort();
    sv = await startSupervisord({ dirPrefix: 'sc-listener-broken-', programs: [{ name: 'a', command: 'sleep 1000', startsecs: 0 }] });
    // supervisord's config reader takes an indented line as the continuation of the value.
    const config = readFileSync(sv.configPath, 'utf8').replace('[supervisord]\n', '[supervisord]\nidentifier=prod\n  web\n');
    writeFileSync(sv.configPath, `${config}\n${listenerSection(port, sv.dir)}`);
    await sv.restart();
  });

  after(() => stopLaunched(sv));

  it('each envelope is answered once when the input goes quiet; can_connect says events arrive but cannot be read', async () => {
    assert.equal(await sv.call('supervisor.getIdentification'), 'prod\nweb');
    const text = await scrapeUntil(port, (t) => (sample(t, 'supervisord_listener_malformed_total') ?? 0) >= 2, 20_000);
    assert.ok((sample(text, 'supervisord_listener_malformed_total') ?? 0) >= 2, `no malformed envelope: ${readFileSync(join(sv.dir, 'listener.err'), 'utf8')}`);
    assert.equal(sample(text, 'supervisord_can_connect_status'), 2);
    assert.match(text, /supervisord_up\{[^}]*\} 0/u);
    assert.match(readFileSync(join(sv.dir, 'listener.err'), 'utf8'), /malformed event, answered OK so that supervisord does not resend it: no len token at the end \(found "server:prod"\) in the header at byte 0/u);
    // Still answering: more envelopes keep coming (the TICKs), and supervisord kept the listener.
    const more = await scrapeUntil(port, (t) => (sample(t, 'supervisord_listener_malformed_total') ?? 0) > (sample(text, 'supervisord_listener_malformed_total') ?? 0), 15_000);
    assert.ok((sample(more, 'supervisord_listener_malformed_total') ?? 0) > (sample(text, 'supervisord_listener_malformed_total') ?? 0));
    assert.doesNotMatch(mainLog(sv), /has entered the UNKNOWN state/u);
  });
});

describe('listen --resources: the programs of a real supervisord, from /proc', { skip: SKIP, timeout: 120_000 }, () => {
  const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
  const MIB = 1024 * 1024;
  let sv: LaunchedSupervisord;
  let port: number;

  before(async () => {
    port = await freePort();
    sv = await startSupervisord({
      dirPrefix: 'sc-listener-res-',
      programs: [
        ...(PYTHON === undefined ? [] : [{ name: 'mem', command: `${PYTHON} -c "import time; b = b'x' * (200 << 20); time.sleep(100000)"`, startsecs: 0 }]),
        { name: 'tree', command: "/bin/sh -c 'sleep 1000 & sleep 1000 & wait'", startsecs: 0 },
        { name: 'burn', command: "/bin/sh -c 'while :; do :; done'", startsecs: 1 },
      ],
    });
    await addListener(sv, port, { flags: '--resources' });
  });

  after(() => stopLaunched(sv));

  const pidOf = async (name: string): Promise<number> => Number(((await sv.call('supervisor.getProcessInfo', [name])) as ProcessStruct)['pid']);
  /** User + system CPU seconds of a process, from its own /proc entry. */
  const cpuOf = (pid: number): number => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').slice(readFileSync(`/proc/${pid}/stat`, 'latin1').lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };

  it('a program holding 200 MB reports at least that resident memory; a shell with two sleep children is a tree of 3', { skip: PYTHON === undefined ? 'python3 is not installed' : false }, async () => {
    const text = await scrapeUntil(port, (t) => (sample(t, 'supervisord_process_resident_memory_bytes', proc('mem')) ?? 0) >= 200 * MIB && sample(t, 'supervisord_process_tree_processes', proc('tree')) === 3, 30_000);
    const rss = sample(text, 'supervisord_process_resident_memory_bytes', proc('mem'));
    assert.ok(rss !== undefined && rss >= 200 * MIB, `resident memory of mem: ${rss}; listener log: ${readFileSync(join(sv.dir, 'listener.err'), 'utf8')}`);
    const status = readFileSync(`/proc/${await pidOf('mem')}/status`, 'utf8');
    const vmRss = Number(/^VmRSS:\s+(\d+) kB$/mu.exec(status)![1]) * 1024;
    assert.ok(Math.abs(vmRss - rss) < 8 * MIB, `VmRSS ${vmRss} vs ${rss}`);
    assert.ok((sample(text, 'supervisord_process_tree_resident_memory_bytes', proc('mem')) ?? 0) >= rss);
    assert.equal(sample(text, 'supervisord_process_tree_processes', proc('tree')), 3);
    assert.equal(sample(text, 'supervisord_process_threads', proc('tree')), 1);
    assert.equal(sample(text, 'supervisord_process_tree_threads', proc('tree')), 3);
    // The listener itself is monitored too (it is one of supervisord's programs).
    assert.ok((sample(text, 'supervisord_process_cpu_seconds_total', proc('check')) ?? 0) > 0);
    assert.doesNotMatch(readFileSync(join(sv.dir, 'listener.err'), 'utf8'), /resources|warning/u);
  });

  it("a restarted program is never credited with its previous pid's CPU", async (t) => {
    const cpu = (t: string): number | undefined => sample(t, 'supervisord_process_cpu_seconds_total', proc('burn'));
    const before = await scrapeUntil(port, (t) => (cpu(t) ?? 0) >= 3, 30_000);
    const oldCpu = cpu(before);
    assert.ok(oldCpu !== undefined && oldCpu >= 3, `burn's CPU before the restart: ${oldCpu}`);
    const oldPid = await pidOf('burn');
    const restart = await sv.ctl('restart', 'burn');
    assert.equal(restart.code, 0, restart.stdout + restart.stderr);
    const newPid = await pidOf('burn');
    const restarted = Date.now();
    let firstAt = 0;
    assert.notEqual(newPid, oldPid);
    // Every sample from now on: at most what the new process has used by the end of the scrape.
    const seen: number[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (seen.length === 0 || seen.length < 20)) {
      const text = await scrape(port);
      const truth = cpuOf(newPid);
      const value = cpu(text);
      if (value !== undefined) {
        assert.ok(value <= truth + 0.02, `burn credited with ${value} s of CPU; its new process (pid ${newPid}) has used ${truth} s, the previous one ${oldCpu} s or more`);
        if (seen.length === 0) firstAt = Date.now();
        seen.push(value);
      }
      await sleep(100);
    }
    assert.ok(seen.length > 0, 'the new process of burn was never reported');
    t.diagnostic(`first sample of the new process ${((firstAt - restarted) / 1000).toFixed(1)} s after supervisorctl restart returned`);
    assert.ok(seen.at(-1)! >= seen[0]!, 'the counter of one process never falls');
  });
});
