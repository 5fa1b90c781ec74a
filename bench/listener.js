// `supervisord-check listen` as the event listener of a REAL supervisord.
//
//   node bench/listener.js                  crash loop: 30 s with the listener (+15 s without, for supervisord's floor)
//   node bench/listener.js --seconds 10 --json
//   node bench/listener.js --storm 500,1000,2000 [--buffers 5x,1024] [--json]
//
// Runs against ../dist (built by `npm ci`). supervisord and its programs are
// stopped on every path (end, error, Ctrl-C). Heavy storms (over 500
// programs) should run alone on the machine: wrap them in `flock`.
//
// Crash-loop mode. Two phases, each with a fresh private supervisord
// (lib/launcher/), two programs: `crash` exits 3 every 200 ms after
// `startsecs=0` (RUNNING -> EXITED), `quick` exits 3 at once with
// `startsecs=1` (STARTING -> BACKOFF, an exit supervisord keeps no status
// for), both `autorestart`:
// 1. floor: the loops alone for half the time: supervisord's CPU per exit
//    without any listener;
// 2. listener: the same loops with `[eventlistener:check]` running
//    `node dist/lib/cli/main.js listen --serve 127.0.0.1:<port>`, a
//    SupervisordCheck polling every 15 s beside it, and this script reading
//    /metrics every 5 ms.
// Printed: exits, the truth (supervisord's log lines `exited: crash` and
// `exited: quick`), what the listener counted
// (`supervisord_process_exits_total`), what polling saw (the sum of
// `supervisord.process.restarts` over its runs); the exit-to-metric latency
// of `crash` from the event's arrival at the listener (the time of its JSON
// line, written right after the answer; millisecond resolution), from
// supervisord's log line and from the child's own exit (it writes `date
// +%s%N` just before exiting): supervisord's loop sleeps up to a second in
// poll() (a SIGCHLD does not cut that sleep short), reaps at the end of a
// turn and sends the event a turn later; supervisord's CPU (utime + stime
// from /proc, 10 ms ticks) per exit in each phase; how many exits had their
// status read. Targets (exit code 1 when one is missed): every exit counted,
// both programs; latency from the event's arrival median under 50 ms, max
// under 250 ms.
//
// Storm mode (`--storm N,...`). For each N and each buffer_size of
// `--buffers` (`5x` = 5 x N, or a number; default `5x,1024`): a private
// supervisord with N programs `/bin/sleep 100000` in group `p` (startsecs 0,
// no logs) and the listener (`events=PROCESS_STATE,PROCESS_GROUP,
// SUPERVISOR_STATE_CHANGE,TICK_5,REMOTE_COMMUNICATION`). Once the listener
// shows every program RUNNING, a restart of the group as `supervisorctl
// restart p:*` does it (stopProcessGroup then startProcessGroup, waiting).
// Then /metrics only (no call that would load supervisord) every 250 ms
// until the listener's state is right (every program RUNNING and its
// restarts_total moved) and its event count has stopped growing for 3 s, at
// most 240 s; then one getAllProcessInfo checks the state against
// supervisord's. Printed per run: events supervisord discarded (its log's
// `event buffer overflowed` lines) and the loss the listener reported
// (`supervisord_listener_events_lost_total`); the STOPPED, STARTING and
// RUNNING transitions counted against supervisord's `stopped:`,
// `spawned:` and `success:` log lines (STOPPING against N); exits counted
// against `exited:` lines; drift; the programs whose restarts_total moved;
// seconds from the end of the restart command to the right state, and to the
// last event; supervisord's CPU from the restart until then. Targets: exits
// = `exited:` lines every run; the state right and every restarts_total
// moved within 30 s of the restart when events were lost; with the 5x
// buffer every transition counted.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { emitJson, fmtInt, fmtMs, killLeftoverSleeps, machine, median, printTable } from './common.js';

const dist = new URL('../dist/', import.meta.url);
const { SupervisordCheck } = await import(new URL('lib/check.js', dist).href);
const { freePort, startSupervisord } = await import(new URL('lib/launcher/supervisord.js', dist).href);
const MAIN = fileURLToPath(new URL('lib/cli/main.js', dist));

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(option('--seconds') ?? 30);
if (!(seconds >= 2)) throw new RangeError(`--seconds must be a number >= 2, got ${JSON.stringify(option('--seconds'))}`);
const stormSizes = option('--storm')?.split(',').map(Number);
if (stormSizes !== undefined && (stormSizes.length === 0 || stormSizes.some((n) => !Number.isSafeInteger(n) || n < 1 || n > 20_000))) {
  throw new RangeError(`--storm expects program counts from 1 to 20000 separated by commas, got ${JSON.stringify(option('--storm'))}`);
}
const bufferSpecs = (option('--buffers') ?? '5x,1024').split(',');
for (const b of bufferSpecs) if (!/^(\d+x|\d+)$/u.test(b)) throw new RangeError(`--buffers expects entries like 5x or 1024, got ${JSON.stringify(b)}`);
const POLL_MS = 15_000;
const SCRAPE_EVERY_MS = 5;
const TICK_MS = 1000 / 100; // Linux USER_HZ
const LISTENER_EVENTS = 'PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5,REMOTE_COMMUNICATION';

const note = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const work = mkdtempSync(join(tmpdir(), 'sc-bench-listener-'));
let sup = null;
let check = null;
const programPids = new Set();
const cleanup = async () => {
  await check?.close();
  await sup?.stop();
  sup = null;
  killLeftoverSleeps(programPids);
  if (process.env.BENCH_KEEP === undefined) rmSync(work, { recursive: true, force: true });
  else note(`kept ${work}`);
};
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

function scrape(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sum of the samples of `family` whose line contains every needle. */
function total(text, family, ...needles) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${family}{`) || line.startsWith(`${family} `)) && needles.every((n) => line.includes(n))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** `label -> value` of the samples of `family`, keyed by the value of `label`. */
function byLabel(text, family, label) {
  const out = new Map();
  const re = new RegExp(`${label}="([^"]*)"`, 'u');
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${family}{`)) continue;
    const m = re.exec(line);
    if (m !== null) out.set(m[1], Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** supervisord's CPU time so far, ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** supervisord's main log from byte `from`. */
function logSince(dir, from = 0) {
  return readFileSync(join(dir, 'supervisord.log')).subarray(from).toString('utf8');
}

/** Epoch ms of supervisord's `exited: <name>` log lines (local time, millisecond resolution). */
function exitLogTimes(dir, name) {
  const times = [];
  for (const m of logSince(dir).matchAll(new RegExp(`^(\\d+)-(\\d+)-(\\d+) (\\d+):(\\d+):(\\d+),(\\d+) \\w+ exited: ${name} `, 'gmu'))) {
    const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number);
    times.push(new Date(y, mo - 1, d, h, mi, sec, ms).getTime());
  }
  return times;
}

function listenerSection(port, jsonl, bufferSize) {
  return (
    `[eventlistener:check]\ncommand=${process.execPath} ${MAIN} listen --serve 127.0.0.1:${port} --jsonl ${jsonl}\n` +
    `events=${LISTENER_EVENTS}\nbuffer_size=${bufferSize}\nstartsecs=0\nstderr_logfile=${join(work, 'listener.err')}\n`
  );
}

async function waitForListener(port, ready, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape(port).catch(() => '');
    if (/supervisord_can_connect_status\{[^}]*\} 0/u.test(text) && ready(text)) return text;
    if (Date.now() > deadline) throw new Error(`the listener did not come up: ${sup.logTail()}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// Crash-loop mode
// ---------------------------------------------------------------------------

async function phase(withListener, ms) {
  const exitsFile = join(work, withListener ? 'exits-listener.txt' : 'exits-floor.txt');
  const port = await freePort();
  const jsonl = join(work, 'events.jsonl');
  const programs = [
    { name: 'crash', command: `sh -c 'sleep 0.2; date +%s%N >> ${exitsFile}; exit 3'`, startsecs: 0, autorestart: true, autostart: false },
    { name: 'quick', command: '/bin/sh -c "exit 3"', startsecs: 1, startretries: 1000, autorestart: true, autostart: false },
  ];
  sup = await startSupervisord({ programs, ...(withListener ? { extraConfig: listenerSection(port, jsonl, 1024) } : {}) });
  if (withListener) await waitForListener(port, () => true, 15_000);
  const cpu0 = cpuMs(sup.pid);
  await sup.ctl('start', 'crash', 'quick');
  const started = Date.now();
  const seen = []; // seen[k-1]: epoch ms when /metrics first showed k exits of crash
  const scrapeMs = [];
  const polled = [];
  if (withListener) check = new SupervisordCheck({ name: 'poll', socket: sup.socketUrl, proc_names: ['crash', 'quick'] });
  let nextPoll = started;
  while (Date.now() - started < ms) {
    if (check !== null && Date.now() >= nextPoll) {
      nextPoll += POLL_MS;
      void check.run().then((r) => polled.push(r.metrics.filter((m) => m.name === 'supervisord.process.restarts').reduce((s, m) => s + m.value, 0)));
    }
    if (withListener) {
      const t0 = performance.now();
      const text = await scrape(port);
      scrapeMs.push(performance.now() - t0);
      const now = Date.now();
      const n = total(text, 'supervisord_process_exits_total', 'supervisord_process="crash"');
      while (seen.length < n) seen.push(now);
    }
    await sleep(SCRAPE_EVERY_MS);
  }
  await sup.ctl('stop', 'crash', 'quick');
  const cpu = cpuMs(sup.pid) - cpu0;
  const logTimes = exitLogTimes(sup.dir, 'crash');
  const truth = { crash: logTimes.length, quick: exitLogTimes(sup.dir, 'quick').length };
  const counted = { crash: seen.length, quick: 0 };
  if (withListener) {
    // The last exits may still be on their way (a BACKOFF counts once settled): give the listener a moment.
    for (let i = 0; i < 60; i++) {
      const text = await scrape(port);
      counted.crash = total(text, 'supervisord_process_exits_total', 'supervisord_process="crash"');
      counted.quick = total(text, 'supervisord_process_exits_total', 'supervisord_process="quick"');
      if (counted.crash === truth.crash && counted.quick === truth.quick) break;
      await sleep(50);
    }
    if (check !== null) polled.push((await check.run()).metrics.filter((m) => m.name === 'supervisord.process.restarts').reduce((s, m) => s + m.value, 0));
  }
  const events = withListener ? total(await scrape(port), 'supervisord_listener_events_total') : 0;
  const exitTimes = readFileSync(exitsFile, 'utf8').trim().split('\n').filter(Boolean).map((ns) => Number(BigInt(ns) / 1000n) / 1000);
  const fromLog = seen.map((t, k) => t - logTimes[k]).filter((v) => Number.isFinite(v));
  const fromChild = seen.map((t, k) => t - exitTimes[k]).filter((v) => Number.isFinite(v));
  const records = withListener ? readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
  const statuses = records.filter((r) => r.event === 'exit_status').length;
  // When each EXITED event reached the listener (its JSON line is written right after the answer).
  const arrivals = records.filter((r) => r.event === 'transition' && r.name === 'crash' && r.to === 'EXITED').map((r) => Date.parse(r.time));
  const fromArrival = seen.map((t, k) => t - arrivals[k]).filter((v) => Number.isFinite(v));
  await check?.close();
  check = null;
  await sup.stop();
  sup = null;
  const exits = truth.crash + truth.quick;
  return { truth, counted, exits, polled: polled.reduce((a, b) => a + b, 0), cpu, events, latencies: fromArrival, fromLog, fromChild, scrapeMs, statuses };
}

async function crashLoop(m) {
  if (!json) note(`bench/listener: crash loop, ${seconds} s with the listener, ${Math.round(seconds / 2)} s floor; ${m.node}, ${m.cpu}, ${m.cores} cores`);
  const floor = await phase(false, (seconds * 1000) / 2);
  const run = await phase(true, seconds * 1000);
  const floorPerExit = floor.cpu / Math.max(1, floor.exits);
  const perExit = run.cpu / Math.max(1, run.exits);
  const perEvent = ((perExit - floorPerExit) * run.exits) / Math.max(1, run.events);
  const latency = { median: median(run.latencies), max: Math.max(...run.latencies) };
  const result = {
    mode: 'crash loop',
    seconds,
    exits: { truth: run.truth, listener: run.counted, polling: run.polled },
    latencyMs: { ...latency, scrapeMedian: median(run.scrapeMs), samples: run.latencies.length },
    logLineToMetricMs: { median: median(run.fromLog), max: Math.max(...run.fromLog) },
    childExitToMetricMs: { median: median(run.fromChild), max: Math.max(...run.fromChild) },
    supervisordCpuMs: { perExitFloor: floorPerExit, perExitWithListener: perExit, perListenerEvent: perEvent, events: run.events },
    exitStatusesRead: run.statuses,
    machine: m,
  };
  const misses = [];
  for (const name of ['crash', 'quick']) if (run.counted[name] !== run.truth[name]) misses.push(`listener counted ${run.counted[name]} of ${run.truth[name]} exits of ${name}`);
  if (!(latency.median < 50)) misses.push(`latency median ${fmtMs(latency.median)} ms (target < 50)`);
  if (!(latency.max < 250)) misses.push(`latency max ${fmtMs(latency.max)} ms (target < 250)`);
  if (json) emitJson({ ...result, misses });
  else {
    printTable(
      [
        { key: 'what', title: 'exits' },
        { key: 'truth', title: "supervisord's log", format: fmtInt },
        { key: 'listener', title: 'listener', format: fmtInt },
        { key: 'polling', title: `polling every ${POLL_MS / 1000} s`, format: fmtInt },
      ],
      [
        { what: `crash (RUNNING -> EXITED every 200 ms), ${seconds} s`, truth: run.truth.crash, listener: run.counted.crash },
        { what: `quick (STARTING -> BACKOFF, startsecs=1), ${seconds} s`, truth: run.truth.quick, listener: run.counted.quick },
        { what: 'both', truth: run.exits, listener: run.counted.crash + run.counted.quick, polling: run.polled },
      ],
    );
    process.stdout.write('\n');
    printTable(
      [
        { key: 'what', title: 'exit of crash -> /metrics' },
        { key: 'median', title: 'median ms', format: fmtMs },
        { key: 'max', title: 'max ms', format: fmtMs },
        { key: 'scrape', title: 'scrape median ms (resolution)', format: fmtMs },
      ],
      [
        { what: `from the event's arrival at the listener (${run.latencies.length} exits)`, median: latency.median, max: latency.max, scrape: median(run.scrapeMs) },
        { what: "from supervisord's exited: log line (+ supervisord holding the event)", median: median(run.fromLog), max: Math.max(...run.fromLog), scrape: median(run.scrapeMs) },
        { what: "from the child's own exit (+ supervisord's reaping)", median: median(run.fromChild), max: Math.max(...run.fromChild), scrape: median(run.scrapeMs) },
      ],
    );
    process.stdout.write('\n');
    printTable(
      [
        { key: 'what', title: 'supervisord CPU' },
        { key: 'floor', title: 'per exit, no listener ms', format: fmtMs },
        { key: 'with', title: 'per exit, listener ms', format: fmtMs },
        { key: 'event', title: 'per listener event ms', format: fmtMs },
      ],
      [{ what: `${fmtInt(run.events)} events`, floor: floorPerExit, with: perExit, event: perEvent }],
    );
    process.stdout.write(`\nexit statuses read: ${run.statuses} of ${run.exits} exits\n`);
    for (const miss of misses) process.stdout.write(`MISSED: ${miss}\n`);
  }
  return misses;
}

// ---------------------------------------------------------------------------
// Storm mode
// ---------------------------------------------------------------------------

const STORM_MAX_MS = 240_000;
const SETTLED_MS = 3000;

/** Counts of the storm's lines in supervisord's log (from the restart on). */
function stormTruth(log) {
  const count = (re) => (log.match(re) ?? []).length;
  return {
    overflowed: count(/event buffer overflowed, discarding event/gu),
    stopped: count(/ stopped: p\d+ /gu),
    spawned: count(/ spawned: 'p\d+'/gu),
    success: count(/ success: p\d+ entered RUNNING/gu),
    exited: count(/ exited: /gu),
  };
}

/** The listener's counts that the storm moves. */
function stormCounts(text) {
  const to = (state) => total(text, 'supervisord_process_transitions_total', `to_state="${state}"`, 'supervisord_group="p"');
  return {
    stopping: to('STOPPING'),
    stopped: to('STOPPED'),
    starting: to('STARTING'),
    running: to('RUNNING'),
    exits: total(text, 'supervisord_process_exits_total', 'supervisord_group="p"'),
    lost: total(text, 'supervisord_listener_events_lost_total'),
    drift: total(text, 'supervisord_listener_drift_total'),
    events: total(text, 'supervisord_listener_events_total'),
    restarts: byLabel(text.split('\n').filter((l) => l.includes('supervisord_group="p"')).join('\n'), 'supervisord_process_restarts_total', 'supervisord_process'),
    states: byLabel(text.split('\n').filter((l) => l.includes('supervisord_group="p"')).join('\n'), 'supervisord_process_state', 'supervisord_process'),
  };
}

async function storm(n, bufferSize) {
  const names = Array.from({ length: n }, (_, i) => `p${String(i).padStart(5, '0')}`);
  const programs = names.map((name) => ({ name, group: 'p', command: '/bin/sleep 100000', startsecs: 0, extra: { stdout_logfile: 'NONE', stderr_logfile: 'NONE' } }));
  const port = await freePort();
  const jsonl = join(work, `storm-${n}-${bufferSize}.jsonl`);
  sup = await startSupervisord({ programs, extraConfig: listenerSection(port, jsonl, bufferSize), startTimeoutMs: Math.max(60_000, n * 150) });
  const allRunning = (text) => {
    const states = stormCounts(text).states;
    return states.size === n && [...states.values()].every((s) => s === 20);
  };
  // The start's own events may overflow a small buffer: the listener resyncs; wait until it shows every program RUNNING and is quiet.
  await waitForListener(port, allRunning, Math.max(120_000, n * 100));
  let before = stormCounts(await scrape(port));
  for (let last = before.events; ; last = before.events) {
    await sleep(SETTLED_MS);
    before = stormCounts(await scrape(port));
    if (before.events === last) break;
  }
  for (const p of /** @type {Array<Record<string, number>>} */ (await sup.call('supervisor.getAllProcessInfo', [], 120_000))) programPids.add(p.pid);
  const logFrom = statSync(join(sup.dir, 'supervisord.log')).size;
  const cpu0 = cpuMs(sup.pid);
  const t0 = performance.now();
  await sup.call('supervisor.stopProcessGroup', ['p', true], 300_000);
  await sup.call('supervisor.startProcessGroup', ['p', true], 300_000);
  const restarted = performance.now();
  let rightAt;
  let lastEventAt = restarted;
  let after = before;
  while (performance.now() - t0 < STORM_MAX_MS) {
    await sleep(250);
    const now = performance.now();
    const counts = stormCounts(await scrape(port));
    if (counts.events !== after.events) lastEventAt = now;
    after = counts;
    const right =
      counts.states.size === n &&
      names.every((name) => counts.states.get(name) === 20 && (counts.restarts.get(name) ?? 0) > (before.restarts.get(name) ?? 0));
    if (right && rightAt === undefined) rightAt = now;
    if (rightAt !== undefined && now - lastEventAt >= SETTLED_MS) break;
  }
  const cpu = cpuMs(sup.pid) - cpu0;
  const truth = stormTruth(logSince(sup.dir, logFrom));
  const final = /** @type {Array<Record<string, unknown>>} */ (await sup.call('supervisor.getAllProcessInfo', [], 120_000));
  for (const p of final) programPids.add(p.pid);
  const wrongAtEnd = final.filter((p) => p.group === 'p' && after.states.get(String(p.name)) !== Number(p.state)).length;
  const moved = names.filter((name) => (after.restarts.get(name) ?? 0) > (before.restarts.get(name) ?? 0)).length;
  const d = (key) => after[key] - before[key];
  const row = {
    programs: n,
    bufferSize,
    overflowed: truth.overflowed,
    lostReported: d('lost'),
    stopping: d('stopping'),
    stopped: d('stopped'),
    stoppedLog: truth.stopped,
    starting: d('starting'),
    startingLog: truth.spawned,
    running: d('running'),
    runningLog: truth.success,
    exits: d('exits'),
    exitedLog: truth.exited,
    drift: d('drift'),
    moved,
    wrongAtEnd,
    restartS: (restarted - t0) / 1000,
    rightS: rightAt === undefined ? undefined : (rightAt - restarted) / 1000,
    lastEventS: (lastEventAt - restarted) / 1000,
    cpuS: cpu / 1000,
  };
  await sup.stop();
  sup = null;
  killLeftoverSleeps(programPids);
  programPids.clear();
  return row;
}

async function storms(m) {
  if (!json) note(`bench/listener: restart storms of ${stormSizes.join(', ')} programs, buffer_size ${bufferSpecs.join(', ')}; ${m.node}, ${m.cpu}, ${m.cores} cores`);
  const rows = [];
  const misses = [];
  for (const n of stormSizes) {
    for (const spec of bufferSpecs) {
      const bufferSize = spec.endsWith('x') ? Number(spec.slice(0, -1)) * n : Number(spec);
      if (!json) note(`${n} programs, buffer_size ${bufferSize}...`);
      const row = await storm(n, bufferSize);
      rows.push(row);
      const name = `${n} programs, buffer_size ${bufferSize}`;
      if (row.exits !== row.exitedLog) misses.push(`${name}: ${row.exits} exits counted, ${row.exitedLog} exited: lines`);
      if (row.lostReported !== row.overflowed) misses.push(`${name}: ${row.lostReported} events reported lost, ${row.overflowed} discarded`);
      if (row.wrongAtEnd > 0 || row.moved < n) misses.push(`${name}: ${row.wrongAtEnd} processes in a wrong state at the end, ${n - row.moved} restarts_total unmoved`);
      if (row.overflowed > 0 && !(row.rightS <= 30)) misses.push(`${name}: right state ${row.rightS === undefined ? 'never' : `after ${row.rightS.toFixed(1)} s`} (target 30 s)`);
      if (row.overflowed === 0 && (row.stopped !== row.stoppedLog || row.starting !== row.startingLog || row.running !== row.runningLog || row.stopping !== n)) {
        misses.push(`${name}: no event lost but not every transition counted`);
      }
      if (spec.endsWith('x') && row.overflowed > 0) misses.push(`${name}: the recommended buffer_size lost ${row.overflowed} events`);
      if (json) emitJson({ mode: 'storm', ...row, machine: m });
    }
  }
  if (!json) {
    const pair = (a, b) => `${fmtInt(a)}/${fmtInt(b)}`;
    printTable(
      [
        { key: 'programs', title: 'programs', format: fmtInt },
        { key: 'bufferSize', title: 'buffer_size', format: fmtInt },
        { key: 'lost', title: 'lost: log/reported' },
        { key: 'stopped', title: 'STOPPED counted/log' },
        { key: 'starting', title: 'STARTING counted/log' },
        { key: 'running', title: 'RUNNING counted/log' },
        { key: 'exits', title: 'exits counted/log' },
        { key: 'drift', title: 'drift', format: fmtInt },
        { key: 'moved', title: 'restarts moved' },
        { key: 'restartS', title: 'restart s', format: (v) => v.toFixed(1) },
        { key: 'rightS', title: 'right state s', format: (v) => v.toFixed(1) },
        { key: 'lastEventS', title: 'last event s', format: (v) => v.toFixed(1) },
        { key: 'cpuS', title: 'supervisord CPU s', format: (v) => v.toFixed(1) },
      ],
      rows.map((r) => ({
        ...r,
        lost: pair(r.overflowed, r.lostReported),
        stopped: pair(r.stopped, r.stoppedLog),
        starting: pair(r.starting, r.startingLog),
        running: pair(r.running, r.runningLog),
        exits: pair(r.exits, r.exitedLog),
        moved: pair(r.moved, r.programs),
      })),
    );
    process.stdout.write('\n"restart s": the stop and start calls; "right state s" and "last event s": after them.\n');
    for (const miss of misses) process.stdout.write(`MISSED: ${miss}\n`);
  }
  return misses;
}

try {
  const m = machine();
  const misses = stormSizes === undefined ? await crashLoop(m) : await storms(m);
  process.exitCode = misses.length === 0 ? 0 : 1;
} finally {
  await cleanup();
}
