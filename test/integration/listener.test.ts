/**
 * `supervisord-check listen` as a REAL supervisord's event listener, from
 * the `[eventlistener:x]` section of its own temp config (lib/launcher):
 * - a crash-looping program: the exits on /metrics equal the `exited:` lines
 *   of supervisord's log, exactly;
 * - `supervisorctl stop` / `start` give the transitions RUNNING->STOPPING->
 *   STOPPED->STARTING->RUNNING, in the JSON lines too;
 * - `supervisorctl update` after adding then removing a program adds then
 *   drops its series (PROCESS_GROUP_ADDED / REMOVED);
 * - a non-ASCII program name (payload `len` counts characters, not bytes);
 * - a reload (SIGHUP) ends the listener and starts a new one on the same
 *   port; stopping supervisord leaves no process behind.
 * The truth comes from supervisord (its log, XML-RPC through the launcher),
 * never from the listener. Skips, with the reason printed, only when
 * supervisord is not installed.
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { findSupervisord } from '../../lib/launcher/find-supervisord.js';
import { freePort, startSupervisord } from '../../lib/launcher/supervisord.js';
import type { LaunchedSupervisord, ProcessStruct } from '../../lib/launcher/supervisord.js';
import { alive, markedPids, sleep } from '../helpers/launched-processes.js';

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

describe('listen: a real supervisord with the listener in its config', { skip: SKIP, timeout: 120_000 }, () => {
  let sv: LaunchedSupervisord;
  let port: number;
  let jsonl: string;

  before(async () => {
    port = await freePort();
    sv = await startSupervisord({
      dirPrefix: 'sc-listener-',
      programs: [
        { name: 'crash', command: "sh -c 'sleep 0.2; exit 3'", startsecs: 0, autorestart: true, autostart: false },
        { name: 'sleeper', command: 'sleep 1000', startsecs: 0 },
        { name: 'café', command: 'sleep 1000', startsecs: 0 },
      ],
      extraConfig: '',
    });
    jsonl = join(sv.dir, 'events.jsonl');
    // The listener is added now, with the directory known, by a config update (PROCESS_GROUP_ADDED for itself).
    writeFileSync(
      sv.configPath,
      `${readFileSync(sv.configPath, 'utf8')}\n[eventlistener:check]\ncommand=${process.execPath} ${MAIN} listen --serve 127.0.0.1:${port} --jsonl ${jsonl} --resync 2s\n` +
        `events=PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5\nbuffer_size=1024\nstartsecs=0\nstopwaitsecs=5\nstderr_logfile=${join(sv.dir, 'listener.err')}\n`,
    );
    const update = await sv.ctl('update');
    assert.equal(update.code, 0, update.stderr + update.stdout);
    const ready = await scrapeUntil(port, (t) => sample(t, 'supervisord_can_connect_status') === 0);
    assert.equal(sample(ready, 'supervisord_can_connect_status'), 0, `listener not ready: ${sv.logTail()}`);
  });

  after(async () => {
    const dir = sv?.dir;
    await sv?.stop();
    if (dir !== undefined) assert.deepEqual(markedPids(dir), [], 'a process of the launched supervisord outlived it');
  });

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
