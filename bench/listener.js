// Push vs poll: `supervisord-check listen` as the event listener of a REAL
// supervisord, beside a polling check, on a program that crashes every
// 200 ms (autorestart).
//
//   node bench/listener.js                 30 s with the listener (+15 s without, for supervisord's floor)
//   node bench/listener.js --seconds 10 --json
//
// Two phases, each with a fresh private supervisord (lib/launcher/):
// 1. floor: the crash loop alone for half the time: supervisord's CPU per
//    exit without any listener;
// 2. listener: the same loop with `[eventlistener:check]` running
//    `node dist/lib/cli/main.js listen --serve 127.0.0.1:<port>`, a
//    SupervisordCheck polling every 15 s beside it, and this script reading
//    /metrics every 5 ms.
// Printed:
// - exits: the truth (supervisord's log lines `exited: crash`), what the
//   listener counted (`supervisord_process_exits_total`), what polling saw
//   (the sum of `supervisord.process.restarts` over its runs);
// - exit-to-metric latency: when /metrics first showed k exits minus when
//   the k-th EXITED event reached the listener (the time of its JSON line,
//   written right after the answer; millisecond resolution), median and max,
//   with the scrape's own duration (median, the resolution) beside it. Then
//   the same from supervisord's k-th `exited:` log line, and from the
//   child's own exit (it writes `date +%s%N` just before exiting), which add
//   supervisord's own delays: its loop sleeps up to a second in poll() (a
//   SIGCHLD does not cut that sleep short), reaps at the end of a turn and
//   sends the event a turn later, so an exit reaches any listener up to about
//   a second after it happened, and a program "crashing every 200 ms" exits
//   about once a second;
// - supervisord's CPU (utime + stime from /proc, 10 ms ticks) per exit in
//   each phase, and the difference per event delivered to the listener;
// - how many exits had their status read (`exit_status` JSON lines: an
//   autorestarted program is often running again when getProcessInfo asks).
// Targets (exit code 1 when one is missed): every exit counted; latency
// from the event's arrival median under 50 ms, max under 250 ms.
//
// Runs against ../dist (built by `npm ci`). supervisord is stopped on every
// path (end, error, Ctrl-C).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { emitJson, fmtInt, fmtMs, machine, median, printTable } from './common.js';

const dist = new URL('../dist/', import.meta.url);
const { SupervisordCheck } = await import(new URL('lib/check.js', dist).href);
const { freePort, startSupervisord } = await import(new URL('lib/launcher/supervisord.js', dist).href);
const MAIN = fileURLToPath(new URL('lib/cli/main.js', dist));

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const si = argv.indexOf('--seconds');
const seconds = si >= 0 ? Number(argv[si + 1]) : 30;
if (!(seconds >= 2)) throw new RangeError(`--seconds must be a number >= 2, got ${JSON.stringify(argv[si + 1])}`);
const POLL_MS = 15_000;
const SCRAPE_EVERY_MS = 5;
const TICK_MS = 1000 / 100; // Linux USER_HZ

const note = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const work = mkdtempSync(join(tmpdir(), 'sc-bench-listener-'));
let sup = null;
let check = null;
const cleanup = async () => {
  await check?.close();
  await sup?.stop();
  rmSync(work, { recursive: true, force: true });
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

/** Sum of the samples of `family` whose line contains `needle`. */
function total(text, family, needle) {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${family}{`) && line.includes(needle)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** supervisord's CPU time so far, ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Epoch ms of supervisord's `exited: crash` log lines (local time, millisecond resolution). */
function exitLogTimes(dir) {
  const times = [];
  for (const m of readFileSync(join(dir, 'supervisord.log'), 'utf8').matchAll(/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+),(\d+) \w+ exited: crash /gmu)) {
    const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number);
    times.push(new Date(y, mo - 1, d, h, mi, sec, ms).getTime());
  }
  return times;
}

function crashProgram(exitsFile) {
  return { name: 'crash', command: `sh -c 'sleep 0.2; date +%%s%%N >> ${exitsFile}; exit 3'`, startsecs: 0, autorestart: true, autostart: false };
}

async function phase(withListener, ms) {
  const exitsFile = join(work, withListener ? 'exits-listener.txt' : 'exits-floor.txt');
  const port = await freePort();
  const jsonl = join(work, 'events.jsonl');
  const extraConfig = withListener
    ? `[eventlistener:check]\ncommand=${process.execPath} ${MAIN} listen --serve 127.0.0.1:${port} --jsonl ${jsonl}\n` +
      'events=PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5\nbuffer_size=1024\nstartsecs=0\n'
    : undefined;
  const program = crashProgram(exitsFile);
  // The launcher writes commands literally (it escapes `%` itself).
  program.command = program.command.replaceAll('%%', '%');
  sup = await startSupervisord({ programs: [program], ...(extraConfig === undefined ? {} : { extraConfig }) });
  if (withListener) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const text = await scrape(port).catch(() => '');
      if (/supervisord_can_connect_status\{[^}]*\} 0/u.test(text)) break;
      if (Date.now() > deadline) throw new Error(`the listener did not come up: ${sup.logTail()}`);
      await sleep(50);
    }
  }
  const cpu0 = cpuMs(sup.pid);
  await sup.ctl('start', 'crash');
  const started = Date.now();
  const seen = []; // seen[k-1]: epoch ms when /metrics first showed k exits
  const scrapeMs = [];
  const polled = [];
  if (withListener) check = new SupervisordCheck({ name: 'poll', socket: sup.socketUrl, proc_names: ['crash'] });
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
  await sup.ctl('stop', 'crash');
  const cpu = cpuMs(sup.pid) - cpu0;
  const logTimes = exitLogTimes(sup.dir);
  const truth = logTimes.length;
  let counted = seen.length;
  if (withListener) {
    // The last exits may still be on their way: give the listener a moment.
    for (let i = 0; i < 40 && counted < truth; i++) {
      await sleep(50);
      counted = total(await scrape(port), 'supervisord_process_exits_total', 'supervisord_process="crash"');
    }
    if (check !== null) polled.push((await check.run()).metrics.filter((m) => m.name === 'supervisord.process.restarts').reduce((s, m) => s + m.value, 0));
  }
  const events = withListener ? total(await scrape(port), 'supervisord_listener_events_total', '') : 0;
  const exitTimes = readFileSync(exitsFile, 'utf8').trim().split('\n').filter(Boolean).map((ns) => Number(BigInt(ns) / 1000n) / 1000);
  const latencies = seen.map((t, k) => t - logTimes[k]).filter((v) => Number.isFinite(v));
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
  return { truth, counted, polled: polled.reduce((a, b) => a + b, 0), cpu, events, latencies: fromArrival, fromLog: latencies, fromChild, scrapeMs, statuses };
}

try {
  const m = machine();
  if (!json) note(`bench/listener: ${seconds} s with the listener, ${Math.round(seconds / 2)} s floor; ${m.node}, ${m.cpu}, ${m.cores} cores`);
  const floor = await phase(false, (seconds * 1000) / 2);
  const run = await phase(true, seconds * 1000);
  const floorPerExit = floor.cpu / Math.max(1, floor.truth);
  const perExit = run.cpu / Math.max(1, run.truth);
  const perEvent = ((perExit - floorPerExit) * run.truth) / Math.max(1, run.events);
  const latency = { median: median(run.latencies), max: Math.max(...run.latencies) };
  const result = {
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
  if (run.counted !== run.truth) misses.push(`listener counted ${run.counted} of ${run.truth} exits`);
  if (!(latency.median < 50)) misses.push(`latency median ${fmtMs(latency.median)} ms (target < 50)`);
  if (!(latency.max < 250)) misses.push(`latency max ${fmtMs(latency.max)} ms (target < 250)`);
  if (json) emitJson({ ...result, misses });
  else {
    printTable(
      [
        { key: 'what', title: 'exits in supervisord log' },
        { key: 'truth', title: 'truth', format: fmtInt },
        { key: 'listener', title: 'listener', format: fmtInt },
        { key: 'polling', title: `polling every ${POLL_MS / 1000} s`, format: fmtInt },
      ],
      [{ what: `crash every 200 ms, ${seconds} s`, truth: run.truth, listener: run.counted, polling: run.polled }],
    );
    process.stdout.write('\n');
    printTable(
      [
        { key: 'what', title: 'exit -> /metrics' },
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
    process.stdout.write(`\nexit statuses read by getProcessInfo: ${run.statuses} of ${run.truth} exits\n`);
    for (const miss of misses) process.stdout.write(`MISSED: ${miss}\n`);
  }
  process.exitCode = misses.length === 0 ? 0 : 1;
} finally {
  await cleanup();
}
