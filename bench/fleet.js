// A fleet behind one exporter: K emulated supervisords (the project's
// emulator, `supervisord-check/emulator`) on unix sockets, one
// `supervisord-check --serve` with a /probe module allowing them, and a
// driver that probes every target once per round, as Prometheus does with a
// /probe job. The exporter and the emulators run in processes of their own,
// so the exporter's CPU and memory are its own.
//
// Prints, for the measured rounds (after one warm-up round that creates
// every target): the exporter's CPU per probe (user + system, all its
// threads), its heap and RSS per target (after a forced GC, minus the same
// figures before the first probe), p50 / p99 probe latency, and the
// exporter's own counters (targets remembered, evicted). The floor beside
// the CPU figure: the same number of HTTP GETs of the exporter's static
// `/` page, on the same connections, in the same run.
//
// Each emulator's process table: the first `down` processes are STOPPED
// (alternately by a stop that ended with exit status 0 and one that ended
// with SIGTERM) or FATAL (exited 4 times before startsecs, with status 1, 2
// or 127), the rest RUNNING. Its main log holds what supervisord 4.2.5
// would have written for that table: the startup lines (running as root,
// RPC interface, unauthenticated server, `supervisord started with pid N`),
// `spawned:` and `success:` for each start, the `exited:` lines and `gave
// up:` of the FATAL ones, the `stopped:` line of the STOPPED ones (about
// 9 KB for 30 processes). The exporter then reads each target's log as it
// would a real server's: its last 64 KiB on its first probe, then in each
// probe's multicall only what is new (nothing here: a 128-byte anchor), and
// reports the exit status of every process that is down, from the log where
// supervisord's process info says 0. `--no-main-log` gives emulators
// without a log file (`logfile=syslog`): every readLog faults NO_FILE, and
// the exit statuses only the log has are unknown (a warning per probe).
// The column `exit`: the exit status samples of one probe's answer (`down`
// with the log). With `--password`, every emulator asks for HTTP Basic
// credentials (as `[unix_http_server]` with `username=`/`password=`) and the
// module holds them: the check then masks the password in every string of
// every result, as it always does when it has one.
//
// Usage: node --expose-gc bench/fleet.js [--targets 1000] [--processes 30]
//          [--down N (processes not RUNNING per target; 40 %)] [--no-main-log]
//          [--password (every supervisord asks for a username and password, the module holds them)]
//          [--rounds 2] [--concurrency 32] [--max-targets N] [--regex]
//          [--min-interval-ms 0]
//          [--profile FILE (the exporter's CPU profile over the measured probe rounds only)]
//          [--heap-snapshot FILE (the exporter's heap at the end)]
//          [--trace-gc (the exporter's collections)] [--node-flag F (the exporter's node)]
//          [--json]
// BENCH_DIST=/path/to/dist runs that build as the exporter (the emulators stay ours).
// Heavy runs: flock /work/wt/bench.lock node --expose-gc bench/fleet.js --targets 10000
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { emitJson, fmtInt, fmtMs, machine, median, printTable } from './common.js';

const SELF = fileURLToPath(import.meta.url);
const NOW = Math.floor(Date.now() / 1000);
/** `--password`: the credentials of every emulated supervisord. */
const CREDENTIALS = { username: 'monitor', password: 'fleet-secret-2026' };
// supervisord's spawnerr for a program that exited before its startsecs; the causes of the FATAL programs' exits.
const QUICK_EXIT = 'Exited too quickly (process log may have details)';
const FATAL_CAUSES = ['exit status 1', 'exit status 2', 'exit status 127'];

function flag(argv, name, fallback) {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const n = Number(argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} expects a whole number, got ${JSON.stringify(argv[i + 1])}`);
  return n;
}

const role = process.argv[2];
if (role === '--role-emulators') await emulators(process.argv.slice(3));
else if (role === '--role-exporter') await exporter(process.argv.slice(3));
else await driver(process.argv.slice(2));

/** Child: K emulators on `dir/sv-<i>.sock`, 30 processes each, with or without a main log; stops on 'stop'. */
async function emulators(argv) {
  const { makeProcess, SupervisordEmulator } = await import('../dist/lib/emulator/index.js');
  const [dir, from, to, processes, down, withLog] = [argv[0], Number(argv[1]), Number(argv[2]), Number(argv[3]), Number(argv[4]), argv[5] === 'log'];
  const credentials = argv[6] === 'password' ? CREDENTIALS : {};
  const started = [];
  for (let i = from; i < to; i++) {
    // supervisord's pid, answered by getPID and written in its log.
    const pid = 1000 + (i % 30000) * 2;
    const { table, log } = fleetServer(makeProcess, processes, down, pid);
    const socketPath = join(dir, `sv-${i}.sock`);
    started.push(await SupervisordEmulator.start({ listen: { socketPath }, processes: table, pid, mainLog: withLog ? log : null, ...credentials }));
  }
  process.send({ ready: started.length });
  process.on('message', async (m) => {
    if (m !== 'stop') return;
    await Promise.all(started.map((e) => e.close()));
    process.exit(0);
  });
}

/** supervisord's time stamp, in this host's zone: `2026-12-07 10:00:00,000`. */
function stamp(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())},${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * One emulated supervisord: its process table (see the header) and the main
 * log supervisord 4.2.5 would have written for it, with startsecs 1 and
 * startretries 3 (a FATAL program was started 4 times, 1, 2 and 3 s apart,
 * and exited each time before its startsecs).
 */
function fleetServer(makeProcess, processes, down, pid) {
  const up = (NOW - 3600 - processes - 10) * 1000;
  const lines = [
    [up, 'CRIT', 'Supervisor is running as root.  Privileges were not dropped because no user is specified in the config file.  If you intend to run as root, you can set user=root in the config file to avoid this message.'],
    [up + 2, 'INFO', "RPC interface 'supervisor' initialized"],
    [up + 2, 'CRIT', "Server 'unix_http_server' running without any HTTP authentication checking"],
    [up + 3, 'INFO', `supervisord started with pid ${pid}`],
  ];
  const table = [];
  for (let p = 0; p < processes; p++) {
    const name = `worker_${String(p).padStart(2, '0')}`;
    const start = NOW - 3600 - p;
    const at = start * 1000 + 7 * p;
    const childPid = pid + 1 + p * 4;
    if (p >= down) {
      const proc = makeProcess({ name, group: `pool_${p % 3}`, statename: 'RUNNING', start }, NOW);
      table.push(proc);
      lines.push([at, 'INFO', `spawned: '${name}' with pid ${proc.pid}`]);
      lines.push([at + 1000, 'INFO', `success: ${name} entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)`]);
    } else if (p % 2 === 0) {
      // Stopped by supervisorctl stop: alternately a child that exits 0 on SIGTERM (INFO) and one that SIGTERM kills (WARN, status -1).
      const killed = p % 4 === 2;
      const stop = NOW - 30 - p;
      table.push(makeProcess({ name, group: `pool_${p % 3}`, statename: 'STOPPED', start, stop, exitstatus: killed ? -1 : 0 }, NOW));
      lines.push([at, 'INFO', `spawned: '${name}' with pid ${childPid}`]);
      lines.push([at + 1000, 'INFO', `success: ${name} entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)`]);
      lines.push([stop * 1000 + 7 * p, killed ? 'WARN' : 'INFO', `stopped: ${name} (${killed ? 'terminated by SIGTERM' : 'exit status 0'})`]);
    } else {
      // supervisord says exitstatus 0 (None) for an exit before startsecs; only the log has the status.
      table.push(makeProcess({ name, group: `pool_${p % 3}`, statename: 'FATAL', start, stop: start, spawnerr: QUICK_EXIT }, NOW));
      const cause = FATAL_CAUSES[p % FATAL_CAUSES.length];
      for (const [attempt, delay] of [-6, -5, -3, 0].entries()) {
        lines.push([at + delay * 1000, 'INFO', `spawned: '${name}' with pid ${childPid + attempt}`]);
        lines.push([at + delay * 1000 + 40, 'WARN', `exited: ${name} (${cause}; not expected)`]);
      }
      lines.push([at + 41, 'INFO', `gave up: ${name} entered FATAL state, too many start retries too quickly`]);
    }
  }
  // Time order (a stable sort keeps the startup lines, written in the same millisecond, in order).
  lines.sort((a, b) => a[0] - b[0]);
  return { table, log: lines.map(([ms, level, message]) => `${stamp(ms)} ${level} ${message}\n`).join('') };
}

/** Child: the exporter (the CLI's main() in this process), answering 'measure' with its CPU and memory. */
async function exporter(argv) {
  // BENCH_DIST: another build of the exporter (an older commit's dist/), for a before/after in one session.
  const { main } = await import(process.env.BENCH_DIST === undefined ? '../dist/lib/cli/main.js' : pathToFileURL(join(process.env.BENCH_DIST, 'lib/cli/main.js')).href);
  const controller = new AbortController();
  const lines = [];
  let profiler;
  const stderr = { write: (s) => (lines.push(String(s)), true) };
  const done = main(argv, {}, { stdout: stderr, stderr, signal: controller.signal, onListening: (a) => process.send({ port: a.port }) });
  process.on('message', async (m) => {
    if (m === 'measure') {
      // The forced collections are the bench's, not the exporter's: the CPU before them ends an interval (cpuMs), the
      // CPU after them starts the next one (cpuAfterMs). Before, a round was charged the two collections of its start.
      const cpu = process.cpuUsage();
      globalThis.gc?.();
      globalThis.gc?.();
      const mem = process.memoryUsage();
      const after = process.cpuUsage();
      process.send({ cpuMs: (cpu.user + cpu.system) / 1000, cpuAfterMs: (after.user + after.system) / 1000, heap: mem.heapUsed, heapTotal: mem.heapTotal, rss: mem.rss, external: mem.external });
    } else if (m === 'profile-start' || m === 'profile-stop') {
      // The exporter's CPU profile over the probe rounds only (not the warm-up, the floors or the forced collections).
      const { Session } = await import('node:inspector/promises');
      if (m === 'profile-start') {
        profiler ??= new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
        process.send({ profiling: true });
      } else {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = undefined;
        process.send({ profile: JSON.stringify(profile) });
      }
    } else if (typeof m === 'object' && m !== null && 'snapshot' in m) {
      const { writeHeapSnapshot } = await import('node:v8');
      process.send({ snapshotted: writeHeapSnapshot(m.snapshot) });
    } else if (m === 'stop') {
      controller.abort();
    }
  });
  const code = await done;
  process.send({ exit: code, stderr: lines.join('').slice(-4000) });
  process.exit(0);
}

/** The CPU profiles of several rounds as one (node ids of round i offset so that they stay apart). */
function joinProfiles(profiles) {
  const out = { nodes: [], startTime: profiles[0].startTime, endTime: profiles.at(-1).endTime, samples: [], timeDeltas: [] };
  let offset = 0;
  for (const p of profiles) {
    let max = 0;
    for (const n of p.nodes) {
      out.nodes.push({ ...n, id: n.id + offset, children: (n.children ?? []).map((c) => c + offset) });
      max = Math.max(max, n.id);
    }
    out.samples.push(...p.samples.map((id) => id + offset));
    out.timeDeltas.push(...p.timeDeltas);
    offset += max;
  }
  return out;
}

function ask(child, message, key) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m !== null && typeof m === 'object' && key in m) {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m);
      }
    };
    const onExit = (code) => reject(new Error(`child exited (${code}) while waiting for ${key}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message !== undefined) child.send(message);
  });
}

async function driver(argv) {
  const json = argv.includes('--json');
  const regex = argv.includes('--regex');
  const mainLog = !argv.includes('--no-main-log');
  const password = argv.includes('--password');
  const targets = flag(argv, '--targets', 1000);
  const processes = flag(argv, '--processes', 30);
  const down = Math.min(processes, flag(argv, '--down', Math.round(processes * 0.4)));
  const rounds = Math.max(1, flag(argv, '--rounds', 2));
  const concurrency = Math.max(1, flag(argv, '--concurrency', 32));
  const maxTargets = flag(argv, '--max-targets', Math.max(targets, 1000));
  const minIntervalMs = flag(argv, '--min-interval-ms', 0);
  const at = argv.indexOf('--profile');
  const profile = at < 0 ? undefined : argv[at + 1];
  const traceGc = argv.includes('--trace-gc');
  // --node-flag F (repeatable): a flag of the exporter's node (e.g. --max-semi-space-size=64).
  const nodeFlags = argv.flatMap((a, i) => (a === '--node-flag' ? [argv[i + 1]] : []));
  const dir = mkdtempSync(join(tmpdir(), 'fleet-'));
  const children = [];
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    // Emulators: two processes (each emulator is a listening socket and a process table).
    const parts = targets >= 2000 ? 2 : 1;
    const emu = [];
    for (let p = 0; p < parts; p++) {
      const from = Math.floor((p * targets) / parts);
      const to = Math.floor(((p + 1) * targets) / parts);
      const child = fork(SELF, ['--role-emulators', dir, String(from), String(to), String(processes), String(down), mainLog ? 'log' : 'nolog', password ? 'password' : 'none'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      emu.push(ask(child, undefined, 'ready'));
    }
    await Promise.all(emu);
    const module = { allow: [`unix://${dir}/*.sock`], timeout: 10, ...(password ? CREDENTIALS : {}) };
    if (regex) module.proc_regex = ['^worker_[0-9]+$'];
    const config = join(dir, 'fleet.json');
    writeFileSync(config, JSON.stringify({ modules: { fleet: module } }), { mode: 0o600 });
    const exp = fork(
      SELF,
      ['--role-exporter', '--config', config, '--serve', '127.0.0.1:0', '--min-interval', `${minIntervalMs}ms`, '--probe-max-targets', String(maxTargets), '--max-connections', String(concurrency * 2 + 16)],
      {
        stdio: ['ignore', traceGc ? 'pipe' : 'inherit', 'inherit', 'ipc'],
        execArgv: ['--expose-gc', ...(traceGc ? ['--trace-gc'] : []), ...nodeFlags],
      },
    );
    children.push(exp);
    // --trace-gc: the exporter's collections by kind (count, total ms), from its trace lines.
    const gc = new Map();
    let gcText = '';
    exp.stdout?.on('data', (d) => {
      gcText += d.toString('latin1');
      const lines = gcText.split('\n');
      gcText = lines.pop();
      for (const line of lines) {
        const m = /: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)[^,]*, ([0-9.]+) \/ /.exec(line);
        if (m === null) continue;
        const entry = gc.get(m[1]) ?? { count: 0, ms: 0 };
        entry.count++;
        entry.ms += Number(m[2]);
        gc.set(m[1], entry);
      }
    });
    const { port } = await ask(exp, undefined, 'port');

    const get = (path) =>
      new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        request({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode, body, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
        })
          .on('error', reject)
          .end();
      });
    /** Every path once, `concurrency` at a time; the latencies. */
    const round = async (paths) => {
      const latencies = [];
      let next = 0;
      let failed = 0;
      const worker = async () => {
        while (next < paths.length) {
          const answer = await get(paths[next++]);
          latencies.push(answer.ms);
          if (answer.status !== 200 || (answer.body.includes('supervisord_probe_success') && !answer.body.includes('supervisord_probe_success 1'))) failed++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return { latencies, failed };
    };
    const probes = Array.from({ length: targets }, (_, i) => `/probe?module=fleet&target=${encodeURIComponent(`unix://${dir}/sv-${i}.sock`)}`);
    const floorPaths = Array.from({ length: targets }, () => '/');

    const base = await ask(exp, 'measure', 'cpuMs');
    const warm = await round(probes);
    const latencies = [];
    let failed = warm.failed;
    let cpuMs = 0;
    let floorMs = 0;
    const profiles = [];
    for (let r = 0; r < rounds; r++) {
      const a = await ask(exp, 'measure', 'cpuMs');
      if (profile !== undefined) await ask(exp, 'profile-start', 'profiling');
      const res = await round(probes);
      if (profile !== undefined) profiles.push(JSON.parse((await ask(exp, 'profile-stop', 'profile')).profile));
      const b = await ask(exp, 'measure', 'cpuMs');
      await round(floorPaths);
      const c = await ask(exp, 'measure', 'cpuMs');
      latencies.push(...res.latencies);
      failed += res.failed;
      cpuMs += b.cpuMs - a.cpuAfterMs;
      floorMs += c.cpuMs - b.cpuAfterMs;
    }
    // One profile: the rounds' samples one after the other (the nodes of each round renumbered apart).
    if (profile !== undefined) writeFileSync(profile, JSON.stringify(joinProfiles(profiles)));
    const end = await ask(exp, 'measure', 'cpuMs');
    const snap = argv.indexOf('--heap-snapshot');
    if (snap >= 0) await ask(exp, { snapshot: argv[snap + 1] }, 'snapshotted');
    // Exit status samples of one target (after the rounds: its log was read already).
    const exitSamples = ((await get(probes[0])).body.match(/^supervisord_process_exit_status\{/gm) ?? []).length;
    const own = await get('/metrics');
    const counter = (name) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(own.body);
      return m === null ? undefined : Number(m[1]);
    };
    latencies.sort((x, y) => x - y);
    const row = {
      case: `${process.env.BENCH_DIST === undefined ? '' : `[${process.env.BENCH_DIST}] `}${fmtInt(targets)} targets x ${processes} processes (${down} down)${nodeFlags.map((f) => `, node ${f}`).join('')}${regex ? ', proc_regex' : ''}${mainLog ? '' : ', no main log'}${password ? ', password' : ''}${maxTargets < targets ? `, --probe-max-targets ${maxTargets}` : ''}${minIntervalMs > 0 ? `, --min-interval ${minIntervalMs}ms` : ''}`,
      targets,
      processes,
      mainLog,
      exitSamples,
      probes: targets * rounds,
      cpuMsPerProbe: cpuMs / (targets * rounds),
      floorCpuMsPerGet: floorMs / (targets * rounds),
      heapMBPerTarget: (end.heap - base.heap) / 1048576 / targets,
      rssMBPerTarget: (end.rss - base.rss) / 1048576 / targets,
      heapMB: end.heap / 1048576,
      heapTotalMB: end.heapTotal / 1048576,
      externalMB: end.external / 1048576,
      rssMB: end.rss / 1048576,
      p50Ms: median(latencies),
      p99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))],
      failed,
      remembered: counter('supervisord_probe_targets'),
      evicted: counter('supervisord_probe_targets_evicted_total'),
      ...machine(),
    };
    if (json) emitJson(row);
    else {
      const mb = (v) => v.toFixed(1);
      const kb = (v) => `${(v * 1024).toFixed(1)} KB`;
      printTable(
        [
          { key: 'case', title: 'case' },
          { key: 'cpuMsPerProbe', title: 'CPU ms/probe', format: fmtMs },
          { key: 'floorCpuMsPerGet', title: 'floor: GET / ms', format: fmtMs },
          { key: 'heapMBPerTarget', title: 'heap/target', format: kb },
          { key: 'rssMBPerTarget', title: 'RSS/target', format: kb },
          { key: 'heapMB', title: 'heap MB', format: mb },
          { key: 'heapTotalMB', title: 'of', format: mb },
          { key: 'externalMB', title: 'external MB', format: mb },
          { key: 'rssMB', title: 'RSS MB', format: mb },
          { key: 'p50Ms', title: 'p50 ms', format: fmtMs },
          { key: 'p99Ms', title: 'p99 ms', format: fmtMs },
          { key: 'failed', title: 'failed' },
          { key: 'exitSamples', title: 'exit' },
          { key: 'evicted', title: 'evicted' },
        ],
        [row],
      );
    }
    if (traceGc) for (const [kind, { count, ms }] of gc) console.log(`exporter GC ${kind}: ${count} collections, ${Math.round(ms)} ms`);
    exp.send('stop');
    await ask(exp, undefined, 'exit');
  } finally {
    agent.destroy();
    for (const child of children) {
      if (child.exitCode === null && child.connected) child.send('stop');
    }
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      c.once('exit', () => (clearTimeout(timer), resolve()));
    }))));
    rmSync(dir, { recursive: true, force: true });
  }
}
