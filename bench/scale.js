// How the check scales with the number of programs, against a REAL supervisord.
//
//   node bench/scale.js                          250, 500, 1,000, 2,000 and 4,000 programs (~10-15 min)
//   node bench/scale.js --programs 250,1000      chosen sizes
//   node bench/scale.js --json                   one JSON object per line per size
//   node bench/scale.js --runs 3 --max-seconds 600
//   node bench/scale.js --one-shot               the command started afresh per invocation, with --state-file
//                                                (2,000 and 4,000 programs, ~10 min); --invocations N (default 6)
//
// For each size N, a private supervisord (lib/launcher: temp dir, own unix
// socket) with N programs `/bin/sleep 100000` (stdout/stderr NONE, started
// at once), then, in the same run:
//
//  1. getAllProcessInfo: the raw request on a socket of its own (no decoding:
//     the server's side alone): answer bytes, wall time, and supervisord's
//     CPU time for it, from /proc/<pid>/stat (utime + stime, clock ticks).
//  2. The first run of a default check (`{ name, socket }`): it knows nothing
//     yet, so it lists everything to learn the process names (the learning
//     listing, which may run to `listing_timeout` while supervisord answers).
//  3. `--runs` default check runs, as in production: on the connections the
//     previous run left open (the check keeps them 10 minutes; the Agent
//     runs it every 15 s): wall, supervisord CPU, our CPU (process.cpuUsage),
//     and the shard count K the check chose. The ratio column is
//     getAllProcessInfo's supervisord CPU over the check run's: the work the
//     check saves the server. Then up to 3 runs that open their connections
//     anew (after close(): a first run, or after 10 minutes idle), and the
//     runs of `max_connections: 1` (one getAllProcessInfo per run: the
//     check before sharding), as many as the listing samples. (Medians.)
//  4. The name refresh (every `name_refresh_interval`, 300 s by default): a
//     background listing on its own connection after a run. Timed from its
//     start to the debug line saying it is done, with supervisord's CPU
//     meanwhile; then a run made while another refresh is under way (it
//     must still end within `timeout`).
//
// `--resources` measures instead what `collect_resources` costs (default sizes
// 1,000 and 4,000; see measureResources below): one scan of /proc per run,
// our CPU per read beside the floor (the same /proc reads, nothing parsed),
// supervisord's CPU meanwhile (nothing is asked of it), and how far each
// program's fork time lies from supervisord's `start` (the identity window).
//
// With --one-shot, for each size N (default 2,000 and 4,000), what a
// monitoring system that starts `supervisord-check` every interval costs
// the server: the CLI (dist/lib/cli/main.js) spawned as a new process per
// invocation with `--state-file DIR/`, supervisord's CPU from spawn to exit:
//  1. getAllProcessInfo on a raw connection, as above (the reference);
//  2. the CLI without a state file (every invocation is a learning run);
//  3. `--invocations` invocations with the state file: the first learns
//     (a full listing), the later ones collect by name on new connections
//     (the one-shot shard count); a program is stopped and started between
//     the last two, and the last must count that restart (and only it);
//  4. in process, runs restored from that state on new connections with the
//     long-running check's shards (one per 30 processes, even slices): what
//     the one-shot shards (fewer, staggered) save.
// With --turns, one listing and one later invocation are counted again in
// supervisord's loop turns (its poll() calls, under strace -c): a figure
// that does not depend on the machine's load.
// The target is "later invocation sv CPU <= 1/8 of getAllProcessInfo's".
//
// supervisord is stopped on every path (end, error, Ctrl-C / SIGTERM, a size
// over its time limit): the launcher's stop() ends supervisord and SIGKILLs
// what is left of its programs' process groups; the pids seen are checked
// and killed too. `--max-seconds` (default 1500) bounds the whole bench:
// sizes that would start after it are skipped, with a note.
//
// Runs against ../dist (built by `npm ci`); BENCH_DIST=path/to/build points
// it at another build. Needs supervisord (apt-get install supervisor).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { emitJson, fmtInt, fmtMs, killLeftoverSleeps, machine, median, printTable } from './common.js';

const dist = process.env.BENCH_DIST !== undefined
  ? pathToFileURL(path.resolve(process.env.BENCH_DIST) + path.sep)
  : new URL('../dist/', import.meta.url);
const { SupervisordCheck } = await import(new URL('lib/check.js', dist).href);
const { startSupervisord, supervisordVersion } = await import(new URL('lib/launcher/supervisord.js', dist).href);
const { readProcessResources } = await import(new URL('lib/resources/read.js', dist).href);
const { oneShotShardCount, shardCount } = await import(new URL('lib/collect.js', dist).href);
const CLI = new URL('lib/cli/main.js', dist);

const DEFAULT_SIZES = [250, 500, 1000, 2000, 4000];
const RESOURCE_SIZES = [1000, 4000];
const ONE_SHOT_SIZES = [2000, 4000];

function parseOptions(argv) {
  const out = { json: false, sizes: DEFAULT_SIZES, runs: 5, maxSeconds: 1500, resources: false, oneShot: false, invocations: 6, turns: false };
  let sizesGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json' || a === '--resources') {
      out[a.slice(2)] = true;
      continue;
    }
    if (a === '--one-shot' || a === '--turns') {
      if (a === '--one-shot') out.oneShot = true;
      else out.turns = true;
      continue;
    }
    const value = argv[++i] ?? '';
    if (a === '--programs') {
      const list = value.split(',').map(Number);
      if (value === '' || list.some((n) => !Number.isSafeInteger(n) || n <= 0 || n > 20_000)) {
        throw new RangeError(`--programs expects sizes from 1 to 20000 separated by commas, got ${JSON.stringify(value)}`);
      }
      out.sizes = list;
      sizesGiven = true;
    } else if (a === '--runs' || a === '--max-seconds' || a === '--invocations') {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`${a} expects a positive integer, got ${JSON.stringify(value)}`);
      if (a === '--runs') out.runs = n;
      else if (a === '--invocations') out.invocations = n;
      else out.maxSeconds = n;
    } else {
      throw new RangeError(
        `unknown argument ${JSON.stringify(a)} (expected --json, --programs N[,N...], --runs N, --max-seconds S, --resources, --one-shot, --invocations N, --turns)`,
      );
    }
  }
  if (out.resources && out.oneShot) throw new RangeError('--resources and --one-shot are separate benches: run them one at a time');
  if (out.resources && !sizesGiven) out.sizes = RESOURCE_SIZES;
  if (out.oneShot && !sizesGiven) out.sizes = ONE_SHOT_SIZES;
  if (out.turns && !out.oneShot) throw new RangeError('--turns applies to --one-shot');
  if (out.oneShot && out.invocations < 3) throw new RangeError('--invocations must be at least 3 with --one-shot (a learning one, one after it, one after a restart)');
  return out;
}

let opts;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`bench/scale.js: ${error.message}\n`);
  process.exit(2);
}
const log = (line = '') => { if (!opts.json && !interrupted) process.stdout.write(`${line}\n`); };
const note = (line) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------
// Cleanup on every path
// ---------------------------------------------------------------------------

/** The supervisord of the size being measured (or being started). */
let current = null;
/** Checks not closed yet. */
const checks = new Set();
/** CLI processes of the one-shot mode still running. */
const children = new Set();
/** Temp directories of the one-shot mode's state files. */
const stateDirs = new Set();
const programPids = new Set();
let interrupted = false;

async function stopCurrent() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of stateDirs) fs.rmSync(dir, { recursive: true, force: true });
  stateDirs.clear();
  await Promise.allSettled([...checks].map((c) => c.close()));
  checks.clear();
  const sup = await current?.catch(() => null);
  current = null;
  if (sup != null) await sup.stop();
  const leftovers = killLeftoverSleeps(programPids);
  programPids.clear();
  if (leftovers > 0) note(`killed ${leftovers} program(s) supervisord left behind`);
}

let stopping = null;
function interrupt(why, code) {
  if (interrupted) {
    note(`${why} again: exiting without waiting for supervisord`);
    process.exit(code);
  }
  interrupted = true;
  note(`${why}: stopping supervisord and its programs (a second ${why} exits at once)...`);
  stopping ??= stopCurrent();
  void stopping.finally(() => process.exit(code));
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => interrupt(signal, 130));
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  if (!interrupted) interrupt('stdout closed', 0);
});

// ---------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() || 100);

/** supervisord's CPU time so far (user + system), ms. */
function serverCpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Fields after the command (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Wall, supervisord CPU and our CPU of `fn`. */
async function timed(pid, fn) {
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuMs(pid);
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const serverMs = serverCpuMs(pid) - server0;
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs, serverMs, oursMs: (cpu.user + cpu.system) / 1000 };
}

const LISTING_REQUEST = (() => {
  const body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getAllProcessInfo</methodName>\n<params>\n</params>\n</methodCall>\n";
  return Buffer.from(`POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
})();

/** One getAllProcessInfo on a new raw connection, the answer counted and dropped: resolves to its body's size. */
function rawListing(socketPath, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let head = '';
    let length = -1;
    let got = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(LISTING_REQUEST));
    socket.on('data', (chunk) => {
      if (length < 0) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end));
        if (m === null) return socket.destroy(new Error(`no Content-Length in ${JSON.stringify(head.slice(0, 200))}`));
        length = Number(m[1]);
        got = head.length - end - 4;
      } else {
        got += chunk.length;
      }
      if (got >= length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(length);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before the whole answer'));
    });
  });
}

/** A default check, with its debug lines. */
function newCheck(sup, debug, options = {}) {
  const check = new SupervisordCheck(
    { name: 'scale', socket: sup.socketUrl },
    { log: { warn: (m) => debug.push(`warn: ${m}`), debug: (m) => debug.push(m) }, ...options },
  );
  checks.add(check);
  return check;
}

async function closeCheck(check) {
  await check.close();
  checks.delete(check);
}

function assertHealthy(result, n, what) {
  if (result.errors.length > 0) throw new Error(`${what}: ${result.errors.join('; ')}`);
  const seen = result.processes?.length ?? 0;
  if (seen !== n) throw new Error(`${what}: ${seen} processes reported, expected ${n}`);
}

/** Resolves once `debug` holds a line matching `pattern`, polling (bounded). */
async function waitForLine(debug, pattern, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!debug.some((line) => pattern.test(line))) {
    if (performance.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${debug.slice(-3).join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A supervisord with `n` sleep programs (the one being measured), how long it took to start, and a bound for one listing. */
async function startSleepers(n) {
  const programs = Array.from({ length: n }, (_, i) => ({
    name: `p${String(i).padStart(5, '0')}`,
    command: '/bin/sleep 100000',
    startsecs: 0,
    extra: { stdout_logfile: 'NONE', stderr_logfile: 'NONE' },
  }));
  const startedAt = performance.now();
  // Starting N programs, then listing them (the launcher waits until each was started once), grows with N squared too.
  current = startSupervisord({ programs, startTimeoutMs: Math.max(60_000, n * 150) });
  const sup = await current;
  // Generous bounds: a 4,000-program listing takes 13-18 s here.
  return { sup, pid: sup.pid, startMs: performance.now() - startedAt, listingBound: Math.max(30_000, (n / 1000) ** 2 * 4000) };
}

async function measureSize(n) {
  const { sup, pid, startMs, listingBound } = await startSleepers(n);

  // 1. getAllProcessInfo, the server's side alone.
  const listingSamples = n >= 4000 ? 1 : n >= 2000 ? 2 : 3;
  const listings = [];
  for (let i = 0; i < listingSamples; i++) listings.push(await timed(pid, () => rawListing(sup.socketPath, listingBound)));
  const bytes = listings[0].value;
  for (const p of await sup.call('supervisor.getAllProcessInfo', [], listingBound)) if (p.pid > 0) programPids.add(p.pid);

  // 2. The first run: the learning listing.
  const debug = [];
  const check = newCheck(sup, debug);
  const first = await timed(pid, () => check.run());
  const firstOk = first.value.errors.length === 0 && first.value.processes?.length === n;
  const firstError = firstOk ? undefined : first.value.errors.join('; ');
  await check.close();

  // 3. Default runs: on the connections the previous run left open (as in
  // production: they stay open 10 minutes), after one run that opens them;
  // then runs that each open their connections anew (close() before each).
  assertHealthy(await check.run(), n, 'the run that opens the connections');
  const runs = [];
  for (let i = 0; i < opts.runs; i++) {
    debug.length = 0;
    const r = await timed(pid, () => check.run());
    assertHealthy(r.value, n, `run ${i + 1}`);
    runs.push(r);
  }
  const shards = Number(/in (\d+) parallel multicalls/.exec(debug.join('\n'))?.[1] ?? 1);
  const fresh = [];
  for (let i = 0; i < Math.min(opts.runs, 3); i++) {
    await check.close();
    const r = await timed(pid, () => check.run());
    assertHealthy(r.value, n, `run on new connections ${i + 1}`);
    fresh.push(r);
  }
  await closeCheck(check);

  // 3b. The same runs with `max_connections: 1`: one getAllProcessInfo per run, as before sharding.
  const singleDebug = [];
  const single = new SupervisordCheck(
    { name: 'scale', socket: sup.socketUrl, max_connections: 1, timeout: listingBound / 1000 },
    { log: { warn: (m) => singleDebug.push(`warn: ${m}`), debug: (m) => singleDebug.push(m) } },
  );
  checks.add(single);
  const singles = [];
  for (let i = 0; i < Math.min(opts.runs, listingSamples); i++) {
    const r = await timed(pid, async () => {
      const result = await single.run();
      await single.close();
      return result;
    });
    assertHealthy(r.value, n, `single-call run ${i + 1}`);
    singles.push(r);
  }
  await closeCheck(single);

  // 4. The refresh: a check whose clock says the names are due.
  const clock = { now: Date.now() };
  const refreshDebug = [];
  const refreshing = newCheck(sup, refreshDebug, { clock: () => clock.now });
  assertHealthy(await refreshing.run(), n, 'refresh: learning run');
  clock.now += 301_000;
  assertHealthy(await refreshing.run(), n, 'refresh: run before the refresh');
  let refresh;
  let duringRefresh;
  if (refreshDebug.some((l) => l.includes('in the background'))) {
    refresh = await timed(pid, () => waitForLine(refreshDebug, /process names refreshed|background listing failed/, 120_000));
    // Another refresh, and a run while it goes on.
    clock.now += 301_000;
    refreshDebug.length = 0;
    assertHealthy(await refreshing.run(), n, 'refresh: run starting the second refresh');
    duringRefresh = await timed(pid, () => refreshing.run());
    assertHealthy(duringRefresh.value, n, 'run during a refresh');
    await waitForLine(refreshDebug, /process names refreshed|background listing failed/, 120_000);
  }
  await closeCheck(refreshing);

  const med = (xs, key) => median(xs.map((x) => x[key]));
  const listingServerMs = med(listings, 'serverMs');
  const runServerMs = med(runs, 'serverMs');
  return {
    programs: n,
    startSeconds: startMs / 1000,
    answerBytes: bytes,
    listingWallMs: med(listings, 'wallMs'),
    listingServerMs,
    listingSamples,
    runWallMs: med(runs, 'wallMs'),
    runServerMs,
    runOursMs: med(runs, 'oursMs'),
    runMaxWallMs: Math.max(...runs.map((r) => r.wallMs)),
    runs: runs.length,
    shards,
    // CPU ticks are 10 ms: a run under a tick may read 0.
    ratio: runServerMs > 0 ? listingServerMs / runServerMs : null,
    freshWallMs: med(fresh, 'wallMs'),
    freshServerMs: med(fresh, 'serverMs'),
    singleWallMs: med(singles, 'wallMs'),
    singleServerMs: med(singles, 'serverMs'),
    singleOursMs: med(singles, 'oursMs'),
    firstWallMs: first.wallMs,
    firstServerMs: first.serverMs,
    firstOk,
    ...(firstError === undefined ? {} : { firstError }),
    refreshWallMs: refresh?.wallMs ?? null,
    refreshServerMs: refresh?.serverMs ?? null,
    duringRefreshWallMs: duringRefresh?.wallMs ?? null,
  };
}

// ---------------------------------------------------------------------------
// --resources: what collect_resources costs
// ---------------------------------------------------------------------------

/**
 * The floor of a resource read: the /proc reads it makes (list /proc; open,
 * read, close every process's stat; stat() of each program's fd directory),
 * with nothing parsed and no metric built. Returns how many stats were read.
 */
function procFloor(pids) {
  const buf = Buffer.allocUnsafe(4096);
  let n = 0;
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 0x31 || c > 0x39) continue;
    let fd;
    try {
      fd = fs.openSync(`/proc/${name}/stat`, 'r');
    } catch {
      continue;
    }
    try {
      fs.readSync(fd, buf, 0, buf.length, 0);
      n++;
    } catch {
      // exited
    } finally {
      fs.closeSync(fd);
    }
  }
  for (const pid of pids) {
    try {
      fs.statSync(`/proc/${pid}/fd`);
    } catch {
      // exited
    }
  }
  return n;
}

/** Our CPU (user + system, ms) and wall time of `fn`. */
async function ourCpu(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs: performance.now() - t0, oursMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * N sleep programs; then, in the same run: a check with collect_resources
 * (its first run lists everything and asks getPID once), `--runs` reads of
 * every program's resources alternating with their floor (our CPU, medians;
 * supervisord's CPU over the reads), and `--runs` check runs with and without
 * collect_resources. Every read must report all N programs, without warning.
 * The identity window: fork time (/proc/<pid>/stat field 22 over the boot
 * time from /proc/uptime) minus supervisord's `start`, over every program.
 */
async function measureResources(n) {
  const { sup, startMs, listingBound } = await startSleepers(n);
  const listed = await sup.call('supervisor.getAllProcessInfo', [], listingBound);
  for (const p of listed) if (p.pid > 0) programPids.add(p.pid);

  // The identity window, from the same listing.
  const uptime = Number(fs.readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
  const boot = Date.now() / 1000 - uptime;
  const gaps = [];
  for (const p of listed) {
    const stat = fs.readFileSync(`/proc/${p.pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    gaps.push(boot + Number(fields[19]) / (1000 / TICK_MS) - p.start);
  }
  gaps.sort((a, b) => a - b);

  const debug = [];
  const check = new SupervisordCheck(
    { name: 'scale', socket: sup.socketUrl, collect_resources: true, timeout: listingBound / 1000 },
    { log: { warn: (m) => debug.push(`warn: ${m}`), debug: (m) => debug.push(m) } },
  );
  checks.add(check);
  const first = await timed(sup.pid, () => check.run());
  assertHealthy(first.value, n, 'first run with collect_resources');
  const firstSeries = first.value.metrics.filter((m) => m.name === 'supervisord.process.memory.rss').length;
  if (firstSeries !== n || first.value.warnings.length > 0) {
    throw new Error(`first run: ${firstSeries} of ${n} processes read; warnings: ${first.value.warnings.join('; ')}`);
  }

  // The read alone, against its floor, alternating (the same load hits both).
  const processes = listed.map((p) => ({ name: p.name, group: p.group, pid: p.pid, start: p.start }));
  const pids = processes.map((p) => p.pid);
  const reads = [];
  const floors = [];
  let metrics = 0;
  for (let i = 0; i < opts.runs + 1; i++) {
    const r = await timed(sup.pid, () => readProcessResources(processes, { supervisordPid: sup.pid }));
    const f = await ourCpu(() => procFloor(pids));
    if (r.value.counts.read !== n || r.value.warnings.length > 0) {
      throw new Error(`read ${i + 1}: ${JSON.stringify(r.value.counts)} of ${n}; ${r.value.warnings.join('; ')}`);
    }
    metrics = r.value.metrics.length;
    if (i === 0) continue; // warm-up
    reads.push(r);
    floors.push(f);
  }

  // Whole check runs with and without collect_resources (on kept connections).
  const plain = new SupervisordCheck({ name: 'scale', socket: sup.socketUrl, timeout: listingBound / 1000 });
  checks.add(plain);
  assertHealthy(await plain.run(), n, 'first run without collect_resources');
  const withRuns = [];
  const withoutRuns = [];
  for (let i = 0; i < opts.runs; i++) {
    const a = await timed(sup.pid, () => check.run());
    assertHealthy(a.value, n, `run ${i + 1} with collect_resources`);
    withRuns.push(a);
    const b = await timed(sup.pid, () => plain.run());
    assertHealthy(b.value, n, `run ${i + 1} without`);
    withoutRuns.push(b);
  }
  await closeCheck(check);
  await closeCheck(plain);

  const med = (xs, key) => median(xs.map((x) => x[key]));
  const readOursMs = med(reads, 'oursMs');
  const floorOursMs = med(floors, 'oursMs');
  const pick = (q) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))];
  return {
    programs: n,
    procEntries: fs.readdirSync('/proc').filter((e) => /^[1-9]/.test(e)).length,
    startSeconds: startMs / 1000,
    metrics,
    readOursMs,
    readWallMs: med(reads, 'wallMs'),
    readServerMs: reads.reduce((sum, r) => sum + r.serverMs, 0),
    readSamples: reads.length,
    floorOursMs,
    readVsFloor: readOursMs / floorOursMs,
    firstRunWallMs: first.wallMs,
    runWithOursMs: med(withRuns, 'oursMs'),
    runWithoutOursMs: med(withoutRuns, 'oursMs'),
    runWithWallMs: med(withRuns, 'wallMs'),
    runWithoutWallMs: med(withoutRuns, 'wallMs'),
    runWithServerMs: med(withRuns, 'serverMs'),
    runWithoutServerMs: med(withoutRuns, 'serverMs'),
    gapMin: gaps[0],
    gapMedian: pick(0.5),
    gapP99: pick(0.99),
    gapMax: gaps[gaps.length - 1],
  };
}

function printResources(rows) {
  const ms = (x) => `${fmtMs(x)} ms`;
  const sec = (x) => `${x.toFixed(2)} s`;
  log('collect_resources: one read of every program\'s resources (median; floor: the same /proc reads, nothing parsed):');
  printTable(
    [
      { key: 'programs', title: 'programs', format: fmtInt },
      { key: 'procEntries', title: '/proc pids', format: fmtInt },
      { key: 'metrics', title: 'metrics', format: fmtInt },
      { key: 'readOursMs', title: 'read: our CPU', format: ms },
      { key: 'floorOursMs', title: 'floor CPU', format: ms },
      { key: 'readVsFloor', title: 'read/floor', format: (r) => `${r.toFixed(2)}x` },
      { key: 'readWallMs', title: 'read wall', format: ms },
      { key: 'readServerMs', title: 'sv CPU, all reads', format: ms },
      { key: 'runWithOursMs', title: 'run+res our CPU', format: ms },
      { key: 'runWithoutOursMs', title: 'run our CPU', format: ms },
      { key: 'runWithServerMs', title: 'run+res sv CPU', format: ms },
      { key: 'runWithoutServerMs', title: 'run sv CPU', format: ms },
    ],
    rows,
  );
  log();
  log('Fork time (/proc) minus supervisord\'s start, every program:');
  printTable(
    [
      { key: 'programs', title: 'programs', format: fmtInt },
      { key: 'gapMin', title: 'min', format: sec },
      { key: 'gapMedian', title: 'median', format: sec },
      { key: 'gapP99', title: 'p99', format: sec },
      { key: 'gapMax', title: 'max', format: sec },
      { key: 'startSeconds', title: 'supervisord start', format: (x) => `${x.toFixed(0)} s` },
    ],
    rows,
  );
}

// ---------------------------------------------------------------------------
// One-shot: the command started afresh per invocation
// ---------------------------------------------------------------------------

/**
 * Runs the CLI once as a new process; resolves to its output, exit code,
 * wall time and supervisord's CPU from spawn to exit. Killed at `boundMs`.
 */
function invoke(pid, args, boundMs) {
  return new Promise((resolve, reject) => {
    const server0 = serverCpuMs(pid);
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI.pathname, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const serverMs = serverCpuMs(pid) - server0;
      if (signal !== null) return reject(new Error(`the CLI was killed (${signal}) after ${boundMs} ms: ${stderr.slice(-500)}`));
      resolve({ code, stdout, stderr, wallMs: performance.now() - t0, serverMs });
    });
  });
}

/** The parsed JSON of an invocation, checked: no error, every program reported. */
function healthyResult(outcome, n, what) {
  let result;
  try {
    result = JSON.parse(outcome.stdout);
  } catch {
    throw new Error(`${what}: exit ${outcome.code}, no JSON on stdout; stderr: ${outcome.stderr.slice(-500)}`);
  }
  if (result.results !== undefined) result = result.results[0]; // --config
  if (result.errors.length > 0) throw new Error(`${what}: ${result.errors.join('; ')}`);
  if ((result.processes?.length ?? 0) !== n) throw new Error(`${what}: ${result.processes?.length ?? 0} processes reported, expected ${n}`);
  return result;
}

/** `name -> restarts` from a result's `supervisord.process.restarts` counts. */
function restartsOf(result) {
  const out = new Map();
  for (const m of result.metrics) {
    if (m.name !== 'supervisord.process.restarts') continue;
    const tag = m.tags.find((t) => t.startsWith('supervisord_process:'));
    out.set(tag.slice('supervisord_process:'.length), m.value);
  }
  return out;
}

async function measureOneShot(n) {
  const { sup, pid, startMs, listingBound } = await startSleepers(n);
  const bound = listingBound * 2 + 60_000;

  // 1. The reference: getAllProcessInfo on a raw connection.
  const listingSamples = n >= 4000 ? 1 : 2;
  const listings = [];
  for (let i = 0; i < listingSamples; i++) listings.push(await timed(pid, () => rawListing(sup.socketPath, listingBound)));
  for (const p of await sup.call('supervisor.getAllProcessInfo', [], listingBound)) if (p.pid > 0) programPids.add(p.pid);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisord-check-one-shot-'));
  stateDirs.add(dir);
  const timeouts = ['--timeout', '60s'];
  const common = ['--socket', sup.socketPath, '--name', 'scale', '--format', 'json', ...timeouts];

  // 2. Without a state file: every invocation lists everything.
  const plainRun = await invoke(pid, common, bound);
  healthyResult(plainRun, n, 'invocation without a state file');

  // 3. With the state file.
  const withState = [...common, '--state-file', `${dir}/`];
  const invocations = [];
  const victim = `p${String(7).padStart(5, '0')}`;
  let restartSeen;
  for (let i = 0; i < opts.invocations; i++) {
    if (i === opts.invocations - 1) {
      // A restart between the last two invocations.
      await sup.call('supervisor.stopProcess', [`${victim}:${victim}`], listingBound);
      await sup.call('supervisor.startProcess', [`${victim}:${victim}`], listingBound);
    }
    const outcome = await invoke(pid, withState, bound);
    const result = healthyResult(outcome, n, `invocation ${i + 1} with a state file`);
    if (outcome.stderr.includes('warning: state file')) throw new Error(`invocation ${i + 1}: ${outcome.stderr.trim()}`);
    invocations.push(outcome);
    if (i === opts.invocations - 1) {
      const restarts = restartsOf(result);
      const others = [...restarts].filter(([name, v]) => name !== victim && v !== 0).length;
      restartSeen = restarts.get(victim) === 1 && others === 0;
      if (!restartSeen) note(`  restart not counted as expected: ${victim}=${restarts.get(victim)}, ${others} other(s) non-zero`);
    }
  }
  const stateFile = fs.readdirSync(dir).find((f) => f.endsWith('.state.json'));
  const stateBytes = stateFile === undefined ? null : fs.statSync(path.join(dir, stateFile)).size;

  // 4. The long-running check's shards (one per 30 processes, even slices) on new connections, restored from that state.
  const saved = JSON.parse(fs.readFileSync(path.join(dir, stateFile), 'utf8'));
  const keptK = shardCount(n, undefined);
  const kept = [];
  for (let i = 0; i < Math.min(3, opts.invocations - 1); i++) {
    const check = newCheck(sup, []);
    check.restoreState(saved);
    const r = await timed(pid, () => check.run());
    await closeCheck(check);
    assertHealthy(r.value, n, `run with the long-running shards ${i + 1}`);
    kept.push(r);
  }

  // 5. Turns (loop iterations) of one listing and one later invocation.
  const turns = opts.turns ? { listing: await pollCount(pid, () => rawListing(sup.socketPath, listingBound)), later: await pollCount(pid, () => invoke(pid, withState, bound)) } : null;

  const med = (xs, key) => median(xs.map((x) => x[key]));
  const listingServerMs = med(listings, 'serverMs');
  const later = invocations.slice(1);
  const laterServerMs = med(later, 'serverMs');
  return {
    programs: n,
    startSeconds: startMs / 1000,
    listingServerMs,
    listingWallMs: med(listings, 'wallMs'),
    listingSamples,
    plainServerMs: plainRun.serverMs,
    plainWallMs: plainRun.wallMs,
    firstServerMs: invocations[0].serverMs,
    firstWallMs: invocations[0].wallMs,
    laterServerMs,
    laterMaxServerMs: Math.max(...later.map((x) => x.serverMs)),
    laterWallMs: med(later, 'wallMs'),
    laterSamples: later.length,
    shards: oneShotShardCount(n, undefined),
    ratio: laterServerMs > 0 ? listingServerMs / laterServerMs : null,
    targetMet: laterServerMs * 8 <= listingServerMs,
    restartCounted: restartSeen === true,
    stateBytes,
    keptShards: keptK,
    keptKServerMs: med(kept, 'serverMs'),
    keptKWallMs: med(kept, 'wallMs'),
    listingTurns: turns?.listing ?? null,
    laterTurns: turns?.later ?? null,
  };
}

/** A duration in ms for a table cell: seconds from 1 s on, '-' when unknown. */
function fmtDuration(ms) {
  return ms === null || ms === undefined ? '-' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${fmtMs(ms)} ms`;
}

function printOneShot(rows) {
  const s = fmtDuration;
  log('The command started afresh per invocation (median; supervisord CPU from spawn to exit, /proc/<pid>/stat, 10 ms ticks):');
  printTable(
    [
      { key: 'programs', title: 'programs', format: fmtInt },
      { key: 'listingServerMs', title: 'getAll sv CPU', format: s },
      { key: 'plainServerMs', title: 'no state: sv CPU', format: s },
      { key: 'firstServerMs', title: '1st (learning) sv CPU', format: s },
      { key: 'shards', title: 'K' },
      { key: 'laterServerMs', title: 'later sv CPU', format: s },
      { key: 'laterMaxServerMs', title: 'later max', format: s },
      { key: 'ratio', title: 'getAll/later', format: (r) => (r === null ? '-' : `${r.toFixed(1)}x`) },
      { key: 'targetMet', title: '<= 1/8', format: (ok) => (ok ? 'yes' : 'NO') },
      { key: 'restartCounted', title: 'restart counted', format: (ok) => (ok ? 'yes' : 'NO') },
      { key: 'laterWallMs', title: 'later wall', format: s },
      { key: 'stateBytes', title: 'state file', format: (b) => `${fmtInt(b)} B` },
      { key: 'keptShards', title: 'long-running K' },
      { key: 'keptKServerMs', title: 'its sv CPU (new conn.)', format: s },
      ...(opts.turns ? [{ key: 'listingTurns', title: 'turns getAll' }, { key: 'laterTurns', title: 'turns later' }] : []),
    ],
    rows,
  );
}

/** supervisord's poll() calls (turns of its loop) while `fn` runs, counted by strace -c; null without strace. */
async function pollCount(pid, fn) {
  const out = path.join(os.tmpdir(), `supervisord-check-strace-${process.pid}-${Date.now()}.txt`);
  const tracer = spawn('strace', ['-c', '-e', 'trace=poll', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(tracer);
  let attached = false;
  let failed = false;
  tracer.stderr.setEncoding('utf8').on('data', (d) => {
    if (d.includes('attached')) attached = true;
  });
  tracer.on('error', () => (failed = true));
  const deadline = performance.now() + 5000;
  while (!attached && !failed && tracer.exitCode === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (!attached) {
    tracer.kill('SIGKILL');
    children.delete(tracer);
    note('  --turns: strace could not attach to supervisord (is strace installed? ptrace allowed?): turns not counted');
    return null;
  }
  try {
    await fn();
  } finally {
    tracer.kill('SIGINT');
    await new Promise((r) => (tracer.exitCode === null ? tracer.on('close', r) : r()));
    children.delete(tracer);
  }
  const text = fs.readFileSync(out, 'utf8');
  fs.rmSync(out, { force: true });
  const line = text.split('\n').find((l) => / poll$/.test(l.trim()));
  return line === undefined ? 0 : Number(line.trim().split(/\s+/)[3]);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const host = machine();
const version = await supervisordVersion().catch((error) => {
  note(`bench/scale.js: ${error.message}`);
  process.exit(2);
});
log(`supervisord ${version}, ${host.cpu} (${host.cores} cores), Node ${host.node}, ${host.platform}`);
log(
  opts.oneShot
    ? `sizes ${opts.sizes.join(', ')}; one-shot: ${opts.invocations} invocations of the CLI with --state-file each; limit ${opts.maxSeconds} s`
    : `sizes ${opts.sizes.join(', ')}; ${opts.runs} check runs each on kept connections, up to 3 on new ones; limit ${opts.maxSeconds} s`,
);
log();

const benchStart = performance.now();
const rows = [];
let failed = false;
for (const n of opts.sizes) {
  if (interrupted) break;
  const elapsed = (performance.now() - benchStart) / 1000;
  if (elapsed > opts.maxSeconds) {
    note(`skipping ${n} programs: ${elapsed.toFixed(0)} s elapsed, over --max-seconds ${opts.maxSeconds}`);
    continue;
  }
  note(`${n} programs...`);
  try {
    const row = opts.resources ? await measureResources(n) : opts.oneShot ? await measureOneShot(n) : await measureSize(n);
    rows.push(row);
    if (opts.json) emitJson({ case: `${opts.resources ? 'resources' : opts.oneShot ? 'scale one-shot' : 'scale'} ${n} programs`, ...row, machine: host, supervisord: version });
    else note(`  ${JSON.stringify(row)}`);
  } catch (error) {
    failed = true;
    note(`${n} programs failed: ${error.stack ?? error}`);
  } finally {
    await stopCurrent();
  }
}

if (!opts.json && rows.length > 0 && opts.resources) printResources(rows);
if (!opts.json && rows.length > 0 && opts.oneShot) printOneShot(rows);
if (!opts.json && rows.length > 0 && !opts.resources && !opts.oneShot) {
  const s = fmtDuration;
  log('getAllProcessInfo vs a default check run (median; supervisord CPU from /proc/<pid>/stat, 10 ms ticks):');
  printTable(
    [
      { key: 'programs', title: 'programs', format: fmtInt },
      { key: 'answerBytes', title: 'answer bytes', format: fmtInt },
      { key: 'listingWallMs', title: 'getAll wall', format: s },
      { key: 'listingServerMs', title: 'getAll sv CPU', format: s },
      { key: 'shards', title: 'K' },
      { key: 'runWallMs', title: 'run wall', format: s },
      { key: 'runMaxWallMs', title: 'run max wall', format: s },
      { key: 'runServerMs', title: 'run sv CPU', format: s },
      { key: 'runOursMs', title: 'our CPU', format: s },
      { key: 'ratio', title: 'sv CPU getAll/run', format: (r) => (r === null ? '-' : `${r.toFixed(1)}x`) },
      { key: 'freshWallMs', title: 'new-conn run wall', format: s },
      { key: 'freshServerMs', title: 'new-conn run sv CPU', format: s },
      { key: 'singleWallMs', title: '1-call run wall', format: s },
      { key: 'singleServerMs', title: '1-call run sv CPU', format: s },
    ],
    rows,
  );
  log();
  log('Learning (first run) and refresh (background listing) costs:');
  printTable(
    [
      { key: 'programs', title: 'programs', format: fmtInt },
      { key: 'firstWallMs', title: 'first run wall', format: s },
      { key: 'firstServerMs', title: 'first run sv CPU', format: s },
      { key: 'firstOk', title: 'first run ok', format: (ok) => (ok ? 'yes' : 'no') },
      { key: 'refreshWallMs', title: 'refresh wall', format: s },
      { key: 'refreshServerMs', title: 'refresh sv CPU', format: s },
      { key: 'duringRefreshWallMs', title: 'run during refresh', format: s },
      { key: 'startSeconds', title: 'supervisord start', format: (x) => `${x.toFixed(0)} s` },
    ],
    rows,
  );
  for (const r of rows) if (r.firstError !== undefined) log(`first run at ${r.programs}: ${r.firstError}`);
}
process.exitCode = failed ? 1 : 0;
