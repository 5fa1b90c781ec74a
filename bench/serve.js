// `--serve` under clients that do not read: 200 connections scrape /metrics
// of a 5,000-process supervisord (the emulator) and never read the answer.
// Prints the growth of RSS and of external memory (where Buffers live)
// beside the floor: one page, and the old behaviour's bound of one copy per
// connection. Also the supervisord runs that 50 back-to-back scrapes of a
// 500-process server cause with the default --min-interval and with 0. And
// scrapes beside 256 connections that send half a request (reopened when
// closed): their latency beside the floor (the same scrapes alone).
//
// Usage: node --expose-gc bench/serve.js [--json]
import { connect } from 'node:net';
import { request } from 'node:http';

import { main } from '../dist/lib/cli/main.js';
import { makeProcess, SupervisordEmulator } from '../dist/lib/emulator/index.js';

const json = process.argv.includes('--json');
const PROCESSES = 5000;
const CLIENTS = 200;
const SCRAPES = 50;

const emulator = await SupervisordEmulator.start({
  listen: { port: 0 },
  processes: Array.from({ length: PROCESSES }, (_, i) => makeProcess({ name: `worker_${String(i).padStart(4, '0')}`, group: `pool_${i % 50}`, statename: 'RUNNING' })),
});

async function serving(argv, body) {
  const controller = new AbortController();
  let listening;
  const port = new Promise((resolve) => (listening = resolve));
  const sink = { write: () => true };
  const done = main(argv, {}, { stdout: sink, stderr: sink, signal: controller.signal, onListening: (a) => listening(a.port) });
  try {
    return await body(await port);
  } finally {
    controller.abort();
    await done;
  }
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => resolve(bytes));
    }).on('error', reject).end();
  });
}

const rows = [];
const mb = (n) => Math.round((n / 1048576) * 10) / 10;

await serving(['--url', emulator.url, '--serve', '127.0.0.1:0', '--max-connections', String(CLIENTS + 10)], async (port) => {
  const page = await get(port, '/metrics');
  global.gc?.();
  const before = process.memoryUsage();
  const sockets = [];
  for (let i = 0; i < CLIENTS; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.pause();
    s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    sockets.push(s);
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
  global.gc?.();
  const after = process.memoryUsage();
  rows.push({ case: `${CLIENTS} non-reading clients x ${PROCESSES} processes`, pageMB: mb(page), rssGrowthMB: mb(after.rss - before.rss), externalGrowthMB: mb(after.external + after.arrayBuffers - before.external - before.arrayBuffers), floorMB: mb(page), oldBoundMB: mb(page * CLIENTS) });
  for (const s of sockets) s.destroy();
});

// A run asks getState once, however it collects (one listing, or shards of getProcessInfo).
const BACK_TO_BACK = 500;
const small = await SupervisordEmulator.start({
  listen: { port: 0 },
  processes: Array.from({ length: BACK_TO_BACK }, (_, i) => makeProcess({ name: `worker_${String(i).padStart(4, '0')}`, group: `pool_${i % 50}`, statename: 'RUNNING' })),
});
for (const minInterval of ['5s', '0']) {
  await serving(['--url', small.url, '--serve', '127.0.0.1:0', '--min-interval', minInterval], async (port) => {
    const calls = () => small.stats.calls['supervisor.getState'] ?? 0;
    const start = calls();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < SCRAPES; i++) await get(port, '/metrics');
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rows.push({ case: `${SCRAPES} back-to-back scrapes of ${BACK_TO_BACK} processes, --min-interval ${minInterval}`, supervisordRuns: calls() - start, seconds: Math.round(seconds * 100) / 100 });
  });
}
await small.close();
// Slow heads: 256 connections (all of --max-connections) that send half a
// request and wait, reopened as soon as they are closed, while a scraper
// scrapes: its latency beside the same scrapes without them (the floor).
{
  const SLOW = 256;
  const SCRAPES_SLOW = 20;
  await serving(['--url', emulator.url, '--serve', '127.0.0.1:0', '--min-interval', '5s'], async (port) => {
    const time = async () => {
      const times = [];
      for (let i = 0; i < SCRAPES_SLOW; i++) {
        const t0 = process.hrtime.bigint();
        await get(port, '/metrics');
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return times.sort((a, b) => a - b);
    };
    await get(port, '/metrics');
    const floor = await time();
    const sockets = new Set();
    let stopping = false;
    const open = () => {
      const s = connect(port, '127.0.0.1');
      sockets.add(s);
      s.on('error', () => {});
      s.on('connect', () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      s.on('close', () => {
        sockets.delete(s);
        if (!stopping) open();
      });
    };
    for (let i = 0; i < SLOW; i++) open();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const slow = await time();
    stopping = true;
    for (const s of sockets) s.destroy();
    const ms = (v) => Math.round(v * 10) / 10;
    rows.push({ case: `${SCRAPES_SLOW} scrapes beside ${SLOW} slow heads reopened when closed`, p50Ms: ms(slow[SCRAPES_SLOW >> 1]), maxMs: ms(slow.at(-1)), floorP50Ms: ms(floor[SCRAPES_SLOW >> 1]), floorMaxMs: ms(floor.at(-1)) });
  });
}
await emulator.close();

if (json) for (const r of rows) console.log(JSON.stringify(r));
else for (const r of rows) console.log(Object.entries(r).map(([k, v]) => `${k}: ${v}`).join('  '));
