/**
 * `/probe` cannot exhaust a REAL supervisord's file descriptors: supervisord
 * runs with a low descriptor limit (prlimit) and a program that exits and is
 * restarted all the time; 1,000 GETs spelling the same server differently
 * (paths under /RPC2, queries, case, default ports, the socket) make one
 * target and one connection; 40 modules reaching the same server (40
 * targets) hold at most --max-server-connections connections together. The
 * crasher is spawned again and again throughout, which supervisord cannot do
 * once its descriptors are gone (`too many open files to spawn`).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseExposition } from '../helpers/prometheus-text.js';
import { waitUntil } from '../helpers/launched-processes.js';
import { http, serving } from '../helpers/serving.js';
import { findSupervisord, startSupervisord, type RunningSupervisord } from '../helpers/supervisord.js';

const SKIP =
  findSupervisord() === null
    ? 'supervisord is not installed (apt-get install supervisor)'
    : !hasPrlimit()
      ? 'prlimit (util-linux) is not installed: supervisord cannot be given a low descriptor limit'
      : false;

/** supervisord's descriptor limit in these tests: what a small container gives it. */
const NOFILE = 96;

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** supervisord's open sockets (listening ones included), from /proc. */
function sockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

const spawns = (sup: RunningSupervisord): number => readFileSync(join(sup.dir, 'supervisord.log'), 'utf8').split("spawned: 'crasher'").length - 1;

describe('/probe against a real supervisord with few descriptors', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  let baseline: number;

  before(async () => {
    sup = await startSupervisord({
      unix: true,
      programs: [{ name: 'crasher', command: '/bin/sh -c "sleep 0.2; exit 1"', extra: { autorestart: 'true', startretries: '1000000' } }],
    });
    execFileSync('prlimit', ['--pid', String(sup.pid), `--nofile=${NOFILE}:${NOFILE}`]);
    baseline = sockets(sup.pid);
  });

  after(async () => {
    await sup?.stop();
  });

  /** Runs `probes` while sampling supervisord's sockets every 20 ms; the most seen above the baseline. */
  async function sampled(probes: () => Promise<void>): Promise<number> {
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, sockets(sup.pid) - baseline)), 20);
    try {
      await probes();
    } finally {
      clearInterval(timer);
    }
    return Math.max(most, sockets(sup.pid) - baseline);
  }

  function file(name: string, modules: Record<string, unknown>): string {
    const path = join(sup.dir, name);
    writeFileSync(path, JSON.stringify({ modules }));
    chmodSync(path, 0o600);
    return path;
  }

  /** `count` GETs, `parallel` at a time. */
  async function storm(port: number, paths: readonly string[], parallel: number): Promise<number[]> {
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < paths.length) statuses.push((await http(port, paths[next++]!)).status);
      }),
    );
    return statuses;
  }

  it('1,000 spellings of one server are one target: one connection, the crasher keeps spawning', { timeout: 120_000 }, async () => {
    const config = file('spellings.json', { m: { allow: ['127.0.0.1', 'localhost', `unix://${sup.socketPath}`], ports: [sup.port] } });
    const port = sup.port!;
    const forms = [
      (i: number) => `127.0.0.1:${port}/RPC2/${i}`,
      (i: number) => `http://127.0.0.1:${port}/RPC2?n=${i}`,
      (i: number) => `HTTP://127.0.0.1:${port}/RPC2x${i}#f`,
      (i: number) => `127.0.0.1:${port}?${i}`,
    ];
    const paths = Array.from({ length: 1000 }, (_, i) => `/probe?module=m&target=${encodeURIComponent(forms[i % forms.length]!(i))}`);
    const spawned = spawns(sup);
    await serving(['--config', config, '--serve', '127.0.0.1:0'], async (p) => {
      const most = await sampled(async () => {
        const statuses = await storm(p, paths, 50);
        assert.deepEqual([...new Set(statuses)], [200]);
      });
      assert.ok(most <= 1, `supervisord held ${most} more sockets`);
      const own = parseExposition((await http(p, '/metrics')).body);
      assert.equal(own.get('supervisord_probe_targets')?.samples[0]?.value, 1);
      assert.equal(own.get('supervisord_exporter_server_connections')?.samples[0]?.value, 1);
      const probe = parseExposition((await http(p, `/probe?module=m&target=127.0.0.1:${port}/RPC2/x`)).body);
      assert.deepEqual(probe.get('supervisord_up')?.samples.map((s) => s.labels), [{ supervisord_server: `127.0.0.1:${port}` }]);
    });
    // The crasher restarts every 0.2 s or so: it went on being spawned during the storm.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.ok(spawns(sup) > spawned, 'the crasher was spawned again');
    assert.doesNotMatch(readFileSync(join(sup.dir, 'supervisord.log'), 'utf8'), /too many open files/);
  });

  it('40 modules reaching the same server hold at most --max-server-connections connections to it together', { timeout: 120_000 }, async () => {
    const modules = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${i}`, { allow: ['127.0.0.1', `unix://${sup.socketPath}`] }]));
    const config = file('modules.json', modules);
    const targets = [`127.0.0.1:${sup.port}`, `unix://${sup.socketPath}`];
    const paths = Array.from({ length: 1000 }, (_, i) => `/probe?module=m${i % 40}&target=${encodeURIComponent(targets[Math.floor(i / 40) % 2]!)}`);
    const spawned = spawns(sup);
    await serving(['--config', config, '--serve', '127.0.0.1:0', '--min-interval', '0', '--max-server-connections', '4'], async (p, stderr) => {
      const most = await sampled(async () => {
        const statuses = await storm(p, paths, 50);
        assert.deepEqual([...new Set(statuses)], [200], stderr.text);
      });
      // Two addresses (TCP and the socket), 4 each.
      assert.ok(most <= 8, `supervisord held ${most} more sockets`);
      const own = parseExposition((await http(p, '/metrics')).body);
      assert.equal(own.get('supervisord_probe_targets')?.samples[0]?.value, 80);
      assert.ok(own.get('supervisord_exporter_server_connections')!.samples[0]!.value <= 8);
    });
    // supervisord sees the connections closed at its next loop turns.
    await waitUntil('supervisord closed our connections', () => sockets(sup.pid) === baseline, 5000);
    assert.ok(spawns(sup) > spawned, 'the crasher was spawned again');
    assert.doesNotMatch(readFileSync(join(sup.dir, 'supervisord.log'), 'utf8'), /too many open files/);
  });
});
