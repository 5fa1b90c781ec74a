// The measured process of `node bench/check.js --footprint`: a fresh Node
// that loads nothing before what it measures (this file imports nothing
// before it), then prints one JSON line.
//
//   node bench/footprint-child.js bare                      peak RSS of Node itself
//   node bench/footprint-child.js import URL                time, CPU and RSS to import URL
//   node bench/footprint-child.js check DIST SOCKET N RUNS [INTERVAL_MS]
//                                                           a check over N programs, RUNS runs, back to
//                                                           back or INTERVAL_MS apart (as an agent's interval)
//
// Peak RSS is VmHWM (Linux: the peak of this address space alone; a
// process's `maxRSS` can be inherited from a large parent across fork and
// exec), else `process.resourceUsage().maxRSS`.

const MB = 1024 * 1024;
const hr = () => process.hrtime.bigint();

/** Imported only after what is measured: its ES module facade costs a few ms that the entry may or may not pay itself. */
async function peakRssMb() {
  try {
    const { readFileSync } = await import('node:fs');
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

async function timedImport(url) {
  const rss0 = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = hr();
  const module = await import(url);
  const ms = Number(hr() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { module, ms, cpuMs: (cpu.user + cpu.system) / 1e3, rssDeltaMb: (process.memoryUsage().rss - rss0) / MB };
}

const [mode, ...args] = process.argv.slice(2);
let out;
if (mode === 'bare') {
  out = { mode, peakRssMb: await peakRssMb(), rssMb: process.memoryUsage().rss / MB };
} else if (mode === 'import') {
  const { ms, cpuMs, rssDeltaMb } = await timedImport(args[0]);
  out = { mode, ms, cpuMs, rssDeltaMb, peakRssMb: await peakRssMb() };
} else if (mode === 'check') {
  const [dist, socket, n, runs, intervalMs] = [args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4] ?? 0)];
  const { module, ms: importMs } = await timedImport(new URL('lib/index.js', dist).href);
  const check = new module.SupervisordCheck({ name: 'footprint', socket, timeout: 120, listing_timeout: 900 });
  const walls = [];
  const cpus = [];
  const rssAfterRun = [];
  try {
    for (let i = 0; i < runs; i++) {
      if (i > 0 && intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
      const t0 = hr();
      const cpu0 = process.cpuUsage();
      const result = await check.run();
      const cpu = process.cpuUsage(cpu0);
      walls.push(Number(hr() - t0) / 1e6);
      cpus.push((cpu.user + cpu.system) / 1e3);
      if (result.errors.length > 0) throw new Error(`run ${i + 1}: ${result.errors.join('; ')}`);
      if (result.processes?.length !== n) throw new Error(`run ${i + 1}: ${result.processes?.length} processes, expected ${n}`);
      rssAfterRun.push(process.memoryUsage().rss / MB);
    }
  } finally {
    await check.close();
  }
  const heap = process.memoryUsage();
  out = { mode, programs: n, intervalMs, importMs, runMs: walls, runCpuMs: cpus, rssAfterRunMb: rssAfterRun, heapUsedMb: heap.heapUsed / MB, peakRssMb: await peakRssMb() };
} else {
  process.stderr.write(`footprint-child.js: unknown mode ${JSON.stringify(mode)} (bare, import URL, check DIST SOCKET N RUNS [INTERVAL_MS])\n`);
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
