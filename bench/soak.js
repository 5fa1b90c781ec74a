// Soak test: thousands of consecutive check runs against a
// REAL supervisord over one kept-alive unix-socket connection, with the
// daemon restarted (SIGHUP) a few times in between.
//
//   node bench/soak.js                         10,000 runs, 3 restarts
//   node bench/soak.js --runs 2000 --restarts 1 --json
//
// Starts a private supervisord (the launcher of lib/launcher/: temp dir, its
// own unix socket) with a few `sleep` programs, one in a group and one left
// stopped, and one SupervisordCheck on its socket, then runs the check
// back to back. The first restart falls in the first 1,000 runs (warm-up),
// the others are spread evenly over the rest, and all happen
// WHILE the runs go on: a restart window lasts from the SIGHUP until the
// daemon is RUNNING again, and a run that overlaps one may fail (connection
// reset, SHUTDOWN_STATE) without counting against the targets.
//
// Every 1,000 runs (or --every N) it prints: runs done, failed runs (errors
// or `supervisord.can_connect` not OK) outside and inside restart windows,
// runs without process data, run times (median, p99, max), heap used after
// a full GC, RSS, this process's file descriptors and active handles by
// type (`process.getActiveResourcesInfo()`), and supervisord's own file
// descriptors (constant when the check keeps one connection).
//
// Targets (exit code 1 when one is missed):
// - heap used at the end within 10 % of the heap after the first 1,000 runs;
// - after `check.close()` and supervisord's stop, handles and file
//   descriptors back to what they were before supervisord started;
// - no failed run, and no run without process data, outside restart windows.
//
// The heap is measured after `global.gc()`: without `--expose-gc` the script
// re-runs itself with it. Runs against ../dist (built by `npm ci`);
// BENCH_DIST=path/to/build points it at another build of the same tree.
// supervisord is stopped on every path (end, error, Ctrl-C / SIGTERM).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------
// --expose-gc: re-run this script with it, before loading anything else
// ---------------------------------------------------------------------------

if (typeof globalThis.gc !== 'function') {
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches both processes (same process group); a signal sent to this
  // one alone is passed on. Either way the child cleans up and exits first.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0)));
} else {
  await main();
}

// ---------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------

async function main() {
  const { emitJson, fmtInt, fmtMs, machine, median, printTable } = await import('./common.js');
  const dist = process.env.BENCH_DIST !== undefined
    ? pathToFileURL(path.resolve(process.env.BENCH_DIST) + path.sep)
    : new URL('../dist/', import.meta.url);
  const { SupervisordCheck } = await import(new URL('lib/check.js', dist).href);
  const { startSupervisord } = await import(new URL('lib/launcher/supervisord.js', dist).href);

  const options = parseOptions(process.argv.slice(2));
  const { runs, restarts, every, json } = options;
  /** Heap growth allowed between the first checkpoint and the end. */
  const HEAP_BOUND = 1.1;

  // startsecs=0: RUNNING as soon as spawned, at the start and after each restart.
  const PROGRAMS = [
    { name: 'web', command: '/bin/sleep 100000', startsecs: 0 },
    { name: 'api', command: '/bin/sleep 100000', startsecs: 0 },
    { name: 'worker', command: '/bin/sleep 100000', group: 'jobs', startsecs: 0 },
    { name: 'mailer', command: '/bin/sleep 100000', group: 'jobs', startsecs: 0 },
    { name: 'idle', command: '/bin/sleep 100000', autostart: false },
  ];
  const settled = (procs) =>
    procs.length === PROGRAMS.length && procs.every((p) => p.statename === (p.name === 'idle' ? 'STOPPED' : 'RUNNING'));

  const note = (text) => process.stderr.write(`${text}\n`);
  let sup = null;
  let check = null;
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await check?.close();
      await sup?.stop();
    })());
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (interrupted) process.exit(130); // the launcher's exit hook still stops supervisord
      interrupted = true;
      note(`${signal}: stopping supervisord (a second ${signal} exits at once)...`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  process.stdout.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    interrupted = true;
    void cleanup().finally(() => process.exit(0));
  });

  const beforeSupervisord = await settledResources();
  sup = await startSupervisord({ programs: PROGRAMS });
  await sup.waitFor(settled);
  // The baseline is taken with supervisord running: its first start leaves
  // this process one more descriptor for good (a /dev/null that Node opens
  // once for child stdio and keeps: more starts do not add any), which
  // is not the check's doing. supervisord itself holds nothing in this
  // process (its child handle is unref()ed, its output goes to a file).
  const startResources = await settledResources();
  check = new SupervisordCheck({ name: 'soak', socket: sup.socketUrl, timeout: 5 });

  if (!json) {
    const m = machine();
    process.stdout.write(
      `soak: ${fmtInt(runs)} runs, ${restarts} restart(s), ${PROGRAMS.length} programs, unix socket; ` +
        `${m.node}, ${m.cpu}, ${m.cores} cores\n\n`,
    );
  }

  // The first restart falls inside the first report window, so that the heap
  // reference (after the first `every` runs) already holds the code V8
  // compiles for the error and reconnect paths: that warm-up alone adds about
  // 0.2 MB of code, enough to make a leak-free run read 1.12 against a
  // reference taken before it.
  // The others are spread evenly over the rest: 10,000 runs, 3 restarts ->
  // runs 500, 4,833, 7,667.
  const first = Math.max(1, Math.round(every / 2));
  const restartAt = new Set(
    Array.from({ length: restarts }, (_, k) => (k === 0 ? first : Math.round(first + (k * (runs - first)) / restarts))),
  );
  /** Restart windows, in performance.now() ms; `end` is Infinity while one lasts. */
  const windows = [];
  const restarting = [];
  const counts = { failedOutside: 0, failedInside: 0, noDataOutside: 0, noDataInside: 0 };
  const firstFailures = [];
  const rows = [];
  let block = [];
  let heapBase;

  const started = performance.now();
  let blockStarted = started;
  try {
    for (let i = 0; i < runs && !interrupted; i++) {
      if (restartAt.has(i)) {
        const window = { start: performance.now(), end: Infinity, run: i };
        windows.push(window);
        restarting.push(
          sup.restart().then(() => {
            window.end = performance.now();
          }),
        );
      }
      const t0 = performance.now();
      const result = await check.run();
      const t1 = performance.now();
      block.push(t1 - t0);

      const canConnect = result.serviceChecks.find((s) => s.name === 'supervisord.can_connect');
      const failed = result.errors.length > 0 || canConnect?.status !== 0;
      const noData = result.processes === undefined || result.processes.length !== PROGRAMS.length;
      const inWindow = windows.some((w) => t0 <= w.end && t1 >= w.start);
      if (failed) counts[inWindow ? 'failedInside' : 'failedOutside']++;
      if (noData) counts[inWindow ? 'noDataInside' : 'noDataOutside']++;
      if ((failed || noData) && !inWindow && firstFailures.length < 5) {
        firstFailures.push({ run: i, errors: result.errors, serviceChecks: result.serviceChecks.filter((s) => s.status !== 0) });
      }

      if ((i + 1) % every === 0 || i + 1 === runs) {
        const now = performance.now();
        const row = checkpoint(i + 1, block, now - blockStarted, now - started);
        heapBase ??= row.heapUsed;
        rows.push(row);
        if (json) emitJson({ case: 'soak-checkpoint', ...row });
        else printRow(row, rows.length === 1);
        block = [];
        blockStarted = performance.now();
      }
    }
    await Promise.all(restarting);
  } catch (error) {
    await cleanup();
    throw error;
  }
  if (interrupted) return;

  const end = rows.at(-1);
  await check.close();
  const afterClose = await settledResources();
  await sup.stop();
  const endResources = await settledResources();
  const elapsed = performance.now() - started;

  // -------------------------------------------------------------------------
  // Verdict
  // -------------------------------------------------------------------------

  const heapRatio = end.heapUsed / heapBase;
  // Diagnosis, not a target: the heap without V8's code space, which grows
  // when code runs for the first time (a restart's error paths) and is not
  // memory the check retains.
  const dataBase = rows[0].heapUsed - (rows[0].heapSpaces.code_space ?? 0);
  const dataEnd = end.heapUsed - (end.heapSpaces.code_space ?? 0);
  const leakedByCheck = diff(startResources, afterClose);
  const leaked = diff(startResources, endResources);
  const targets = [
    {
      target: `heap used at the end within ${Math.round((HEAP_BOUND - 1) * 100)} % of the heap after the first ${fmtInt(Math.min(every, runs))} runs`,
      measured: `${mb(heapBase)} MB -> ${mb(end.heapUsed)} MB, ratio ${heapRatio.toFixed(3)}`,
      ok: heapRatio <= HEAP_BOUND,
    },
    {
      target: 'handles and file descriptors back to the start after check.close() and supervisord stop',
      measured:
        leaked === '' && leakedByCheck === ''
          ? `same as at the start (${describe(startResources)})`
          : `start ${describe(startResources)}; after check.close() ${describe(afterClose)}; after supervisord stop ${describe(endResources)}`,
      ok: leaked === '' && leakedByCheck === '',
    },
    {
      target: 'no failed run and no run without process data outside restart windows',
      measured: `${counts.failedOutside} failed, ${counts.noDataOutside} without data outside; ${counts.failedInside} failed, ${counts.noDataInside} without data inside ${windows.length} window(s)`,
      ok: counts.failedOutside === 0 && counts.noDataOutside === 0,
    },
  ];
  const summary = {
    runs: rows.at(-1).runs,
    restarts: windows.length,
    seconds: +(elapsed / 1000).toFixed(1),
    runsPerSecond: +(rows.at(-1).runs / (elapsed / 1000)).toFixed(0),
    restartWindowsMs: windows.map((w) => Math.round(w.end - w.start)),
    heapBaseBytes: heapBase,
    heapEndBytes: end.heapUsed,
    heapRatio: +heapRatio.toFixed(4),
    heapWithoutCodeRatio: +(dataEnd / dataBase).toFixed(4),
    codeSpaceBytes: [rows[0].heapSpaces.code_space, end.heapSpaces.code_space],
    resourcesBeforeSupervisord: beforeSupervisord,
    resourcesAtStart: startResources,
    resourcesAfterCheckClose: afterClose,
    resourcesAtEnd: endResources,
    ...counts,
    firstFailures,
    targetsMissed: targets.filter((t) => !t.ok).map((t) => t.target),
  };
  if (json) {
    emitJson({ case: 'soak-summary', ...summary });
  } else {
    process.stdout.write(
      `\n${fmtInt(summary.runs)} runs in ${summary.seconds} s (${fmtInt(summary.runsPerSecond)} runs/s); ` +
        `restart windows (ms): ${summary.restartWindowsMs.join(', ') || 'none'}\n` +
        `heap without V8's code space: ${mb(dataBase)} MB -> ${mb(dataEnd)} MB, ratio ${(dataEnd / dataBase).toFixed(3)} ` +
        `(code space ${mb(rows[0].heapSpaces.code_space ?? 0)} MB -> ${mb(end.heapSpaces.code_space ?? 0)} MB)\n` +
        `after check.close(): ${describe(afterClose)}\n\n`,
    );
    printTable(
      [
        { key: 'target', title: 'target' },
        { key: 'measured', title: 'measured' },
        { key: 'verdict', title: 'verdict' },
      ],
      targets.map((t) => ({ ...t, verdict: t.ok ? 'ok' : 'MISSED' })),
    );
    for (const f of firstFailures) note(`failed run ${f.run} outside restart windows: ${JSON.stringify(f)}`);
  }
  process.exitCode = targets.every((t) => t.ok) ? 0 : 1;

  // -------------------------------------------------------------------------
  // Helpers (closures over the imports above)
  // -------------------------------------------------------------------------

  function checkpoint(done, times, blockMs, totalMs) {
    globalThis.gc();
    const memory = process.memoryUsage();
    const resources = snapshot();
    const sorted = [...times].sort((a, b) => a - b);
    return {
      runs: done,
      failedOutside: counts.failedOutside,
      failedInside: counts.failedInside,
      noData: counts.noDataOutside + counts.noDataInside,
      medianMs: +median(sorted).toFixed(3),
      p99Ms: +sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))].toFixed(3),
      maxMs: +sorted.at(-1).toFixed(3),
      runsPerSecond: Math.round(times.length / (blockMs / 1000)),
      seconds: +(totalMs / 1000).toFixed(1),
      heapUsed: memory.heapUsed,
      // Where the heap is, to tell retained objects (old space) from code
      // compiled late (a restart's error paths run for the first time).
      heapSpaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size])),
      rss: memory.rss,
      fds: resources.fds,
      handles: Object.fromEntries(Object.entries(resources).filter(([k]) => k !== 'fds')),
      supervisordFds: countFds(`/proc/${sup.pid}/fd`),
    };
  }

  function printRow(row, first) {
    const columns = [
      ['runs', 8, (r) => fmtInt(r.runs)],
      ['failed', 7, (r) => String(r.failedOutside)],
      ['in restart', 10, (r) => String(r.failedInside)],
      ['no data', 7, (r) => String(r.noData)],
      ['median ms', 9, (r) => fmtMs(r.medianMs)],
      ['p99 ms', 7, (r) => fmtMs(r.p99Ms)],
      ['max ms', 7, (r) => fmtMs(r.maxMs)],
      ['runs/s', 6, (r) => fmtInt(r.runsPerSecond)],
      ['heap MB', 7, (r) => mb(r.heapUsed)],
      ['RSS MB', 6, (r) => mb(r.rss)],
      ['fds', 4, (r) => String(r.fds ?? '?')],
      ['sup fds', 7, (r) => String(r.supervisordFds ?? '?')],
    ];
    const line = (cells) => `${cells.map((c, i) => c.padStart(columns[i][1])).join('  ')}  `;
    if (first) {
      process.stdout.write(`${line(columns.map((c) => c[0]))}handles\n`);
      process.stdout.write(`${line(columns.map((c) => '-'.repeat(c[1])))}-------\n`);
    }
    process.stdout.write(`${line(columns.map((c) => c[2](row)))}${describe(row.handles)}\n`);
  }
}

// ---------------------------------------------------------------------------
// Options and small helpers
// ---------------------------------------------------------------------------

function parseOptions(argv) {
  const value = (flag, fallback, min) => {
    const i = argv.indexOf(flag);
    if (i < 0) return fallback;
    const n = Number(argv[i + 1]);
    if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${flag} expects an integer >= ${min}, got ${JSON.stringify(argv[i + 1] ?? '')}`);
    return n;
  };
  const known = new Set(['--runs', '--restarts', '--every', '--json']);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) throw new RangeError(`unknown argument ${JSON.stringify(argv[i])} (expected --runs N, --restarts N, --every N, --json)`);
    if (argv[i] !== '--json') i++;
  }
  const runs = value('--runs', 10_000, 1);
  return { runs, restarts: value('--restarts', 3, 0), every: Math.min(runs, value('--every', 1000, 1)), json: argv.includes('--json') };
}

/** Open file descriptors (Linux /proc) and active handles by type. */
function snapshot() {
  const counts = {};
  const fds = countFds('/proc/self/fd');
  if (fds !== undefined) counts.fds = fds;
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** A snapshot once two taken 20 ms apart agree (at most 2 s): closed handles leave the loop a turn later. */
async function settledResources() {
  let last = snapshot();
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = snapshot();
    if (diff(last, now) === '') return now;
    last = now;
  }
  return last;
}

function countFds(dir) {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return undefined;
  }
}

/** '' when equal, else `type a -> b` for each difference. */
function diff(a, b) {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys
    .filter((k) => (a[k] ?? 0) !== (b[k] ?? 0))
    .map((k) => `${k} ${a[k] ?? 0} -> ${b[k] ?? 0}`)
    .join(', ');
}

function describe(counts) {
  const parts = Object.entries(counts)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, v]) => `${k} ${v}`);
  return parts.join(', ') || 'none';
}

function mb(bytes) {
  return (bytes / 1024 / 1024).toFixed(2);
}
