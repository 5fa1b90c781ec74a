/**
 * `collect_resources` against a REAL supervisord started by this file: a
 * program holding 200 MB reports at least that resident memory; a shell
 * starting two `sleep` children reports a tree of 3 processes (counted
 * independently with `pgrep`); a CPU-bound program's CPU counter grows by
 * about one second per second; a program restarted between two runs is
 * never credited with its previous pid's CPU; a program not running has no
 * resources. Over the unix socket and loopback TCP, in the Prometheus output
 * (promtool-clean) and through `/probe` with a module that sets the key.
 *
 * Skips, with the reason printed, only when supervisord (or python3, for the
 * memory test) is not installed.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { main } from '../../lib/cli/main.js';
import { formatPrometheus } from '../../lib/outputs/prometheus.js';
import { readProcessResources } from '../../lib/resources/read.js';
import type { CheckResult, InstanceConfig } from '../../lib/types.js';
import { parseExposition, promtoolCheck } from '../helpers/prometheus-text.js';
import { findSupervisord, startSupervisord, type HarnessProcess, type RunningSupervisord } from '../helpers/supervisord.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));
const MIB = 1024 * 1024;

const checks: SupervisordCheck[] = [];
function newCheck(instance: Partial<InstanceConfig>): SupervisordCheck {
  const c = new SupervisordCheck({ name: 'res', timeout: 10, collect_resources: true, ...instance } as InstanceConfig);
  checks.push(c);
  return c;
}
after(async () => {
  for (const c of checks) await c.close();
});

/** The resource metrics of one process of a result, by name. */
function resourcesOf(result: CheckResult, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of result.metrics) {
    if (m.name.startsWith('supervisord.process.') && /cpu_seconds|memory|open_fds|threads|processes$/.test(m.name) && m.tags.includes(`supervisord_process:${name}`)) {
      out[m.name] = m.value;
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the check until `ok` holds of its result (bounded), and returns that result. */
async function runUntil(check: SupervisordCheck, what: string, ok: (r: CheckResult) => boolean, timeoutMs = 15_000): Promise<CheckResult> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await check.run();
    if (ok(r)) return r;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last result ${JSON.stringify({ errors: r.errors, warnings: r.warnings, metrics: r.metrics.filter((m) => m.name.includes('tree')) })}`);
    await sleep(200);
  }
}

describe('collect_resources against a real supervisord', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  const pidOf = async (name: string): Promise<number> => {
    const list = (await sup.call('supervisor.getAllProcessInfo')) as HarnessProcess[];
    return Number(list.find((p) => p['name'] === name)!['pid']);
  };

  before(async () => {
    sup = await startSupervisord({
      programs: [
        ...(PYTHON === undefined ? [] : [{ name: 'mem', command: `${PYTHON} -c "import time; b = b'x' * (200 << 20); time.sleep(100000)"` }]),
        { name: 'tree', command: "/bin/sh -c 'sleep 1000 & sleep 1000 & wait'" },
        { name: 'burn', command: "/bin/sh -c 'while :; do :; done'" },
        { name: 'sleeper', command: '/bin/sleep 100000', group: 'g' },
        { name: 'idle', command: '/bin/sleep 100000', autostart: false },
      ],
    });
    await sup.waitFor((procs) => procs.filter((p) => p['statename'] === 'RUNNING').length === procs.length - 1);
  });
  after(async () => {
    await sup?.stop();
  });

  it('a program holding 200 MB reports at least that resident memory, alone and as a tree', { skip: PYTHON === undefined ? 'python3 is not installed' : false }, async () => {
    const check = newCheck({ socket: sup.socketUrl! });
    await runUntil(check, 'mem holding 200 MiB', (x) => (resourcesOf(x, 'mem')['supervisord.process.memory.rss'] ?? 0) >= 200 * MIB);
    // An independent reading: VmRSS of /proc/<pid>/status, in kB, just before and just after a run
    // (the interpreter may still be growing past the 200 MiB it allocated).
    const pid = await pidOf('mem');
    const vmRss = (): number => Number(/^VmRSS:\s+(\d+) kB$/m.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))![1]) * 1024;
    const vmBefore = vmRss();
    const r = await check.run();
    const vmAfter = vmRss();
    const mem = resourcesOf(r, 'mem');
    assert.ok(mem['supervisord.process.memory.rss']! >= 200 * MIB);
    assert.ok(mem['supervisord.process.tree.memory.rss']! >= 200 * MIB);
    const rss = mem['supervisord.process.memory.rss']!;
    assert.ok(rss >= Math.min(vmBefore, vmAfter) - 8 * MIB && rss <= Math.max(vmBefore, vmAfter) + 8 * MIB, `VmRSS ${vmBefore}..${vmAfter} vs ${rss}`);
    assert.equal(mem['supervisord.process.threads'], 1);
    assert.ok(mem['supervisord.process.open_fds']! >= 3, 'stdin, stdout, stderr at least');
  });

  it('a shell starting two sleep children is a tree of 3 processes (pgrep agrees)', async () => {
    const check = newCheck({ socket: sup.socketUrl! });
    const r = await runUntil(check, 'tree of 3', (x) => resourcesOf(x, 'tree')['supervisord.process.tree.processes'] === 3);
    const children = execFileSync('pgrep', ['-P', String(await pidOf('tree'))], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(children.length + 1, 3);
    const tree = resourcesOf(r, 'tree');
    assert.equal(tree['supervisord.process.threads'], 1);
    assert.equal(tree['supervisord.process.tree.threads'], 3);
    assert.ok(tree['supervisord.process.tree.memory.rss']! > tree['supervisord.process.memory.rss']!);
    assert.ok(tree['supervisord.process.tree.open_fds']! > tree['supervisord.process.open_fds']!);
    assert.deepEqual(r.warnings, []);
    // A program alone is a tree of one.
    assert.equal(resourcesOf(r, 'sleeper')['supervisord.process.tree.processes'], 1);
  });

  it("a CPU-bound program's CPU counter grows by about one second per second", async () => {
    const check = newCheck({ socket: sup.socketUrl! });
    const first = await check.run();
    const t1 = performance.now();
    await sleep(3000);
    const second = await check.run();
    const t2 = performance.now();
    const c1 = resourcesOf(first, 'burn')['supervisord.process.cpu_seconds']!;
    const c2 = resourcesOf(second, 'burn')['supervisord.process.cpu_seconds']!;
    const rate = (c2 - c1) / ((t2 - t1) / 1000);
    // Generous: one thread cannot use more than a core; the machine's 2 cores are shared with other test suites.
    assert.ok(rate > 0.2 && rate < 1.2, `CPU seconds per second ${rate.toFixed(2)} (${c1} -> ${c2})`);
    assert.ok(resourcesOf(second, 'burn')['supervisord.process.tree.cpu_seconds']! >= c2);
    assert.equal(resourcesOf(second, 'sleeper')['supervisord.process.cpu_seconds']! < 0.5, true);
  });

  it("a program restarted between two runs is never credited with its previous pid's CPU", async () => {
    const check = newCheck({ socket: sup.socketUrl! });
    const before = await runUntil(check, 'burn past 1 s of CPU', (x) => (resourcesOf(x, 'burn')['supervisord.process.cpu_seconds'] ?? 0) >= 1);
    const old = (await sup.call('supervisor.getProcessInfo', ['burn'])) as HarnessProcess;
    const oldCpu = resourcesOf(before, 'burn')['supervisord.process.cpu_seconds']!;
    const restarted = performance.now();
    const ctl = await sup.ctl('restart', 'burn');
    assert.equal(ctl.code, 0, ctl.stdout + ctl.stderr);
    const after = await check.run();
    const sinceRestart = (performance.now() - restarted) / 1000;
    const now = (await sup.call('supervisor.getProcessInfo', ['burn'])) as HarnessProcess;
    assert.notEqual(now['pid'], old['pid']);
    const newCpu = resourcesOf(after, 'burn')['supervisord.process.cpu_seconds']!;
    assert.ok(newCpu < oldCpu, `after the restart ${newCpu} s, before ${oldCpu} s`);
    assert.ok(newCpu <= sinceRestart + 0.1, `${newCpu} s of CPU in ${sinceRestart.toFixed(2)} s since the restart`);
    // The previous struct (old pid, old start), read now: that process is gone, or its pid is another's.
    const stale = await readProcessResources(
      [{ name: 'burn', group: 'burn', pid: Number(old['pid']), start: Number(old['start']) }],
      { supervisordPid: sup.pid },
    );
    assert.deepEqual(stale.metrics, []);
    assert.equal(stale.counts.read, 0);
    // The new pid with the previous start (a listing older than the restart): not credited either.
    const mixed = await readProcessResources(
      [{ name: 'burn', group: 'burn', pid: Number(now['pid']), start: Number(old['start']) - 5 }],
      { supervisordPid: sup.pid },
    );
    assert.deepEqual(mixed.metrics, []);
    assert.equal(mixed.counts.mismatched, 1);
  });

  it('over loopback TCP too; a program that is not running has no resources; the output is promtool-clean', async (t) => {
    const check = newCheck({ host: '127.0.0.1', port: sup.port! });
    const r = await check.run();
    assert.deepEqual(r.errors, []);
    assert.equal(resourcesOf(r, 'sleeper')['supervisord.process.tree.processes'], 1);
    assert.deepEqual(resourcesOf(r, 'idle'), {});
    const text = formatPrometheus([{ name: 'res', target: 'tcp', tags: ['supervisord_server:res'], result: r }]);
    const families = parseExposition(text);
    for (const name of ['supervisord_process_cpu_seconds_total', 'supervisord_process_resident_memory_bytes', 'supervisord_process_open_fds', 'supervisord_process_tree_processes']) {
      assert.ok(families.has(name), name);
      assert.ok(!families.get(name)!.samples.some((s) => s.labels['supervisord_process'] === 'idle'));
    }
    const checked = await promtoolCheck(text);
    if (checked === null) t.diagnostic('promtool is not installed');
    else assert.deepEqual(checked, { code: 0, output: '' });
  });

  it("/probe reports them for a module with 'collect_resources' and a local target", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resources-probe-'));
    const config = join(dir, 'probe.json');
    writeFileSync(config, JSON.stringify({ modules: { local: { allow: [`unix://${sup.socketPath!}`], collect_resources: true } } }), { mode: 0o600 });
    const controller = new AbortController();
    const stderr = new (class extends Writable {
      text = '';
      override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
        this.text += chunk.toString();
        cb();
      }
    })();
    let listening!: (port: number) => void;
    const port = new Promise<number>((resolve) => (listening = resolve));
    const done = main(['--config', config, '--serve', '127.0.0.1:0'], {}, { defaultSockets: [], stdout: stderr, stderr, signal: controller.signal, onListening: (a) => listening(a.port) });
    try {
      const p = await Promise.race([port, done.then((code): never => assert.fail(`main() ended (${code}): ${stderr.text}`))]);
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: p, path: `/probe?target=${encodeURIComponent(`unix://${sup.socketPath!}`)}&module=local`, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
        });
        req.on('error', reject);
        req.end();
      });
      const families = parseExposition(body);
      const trees = families.get('supervisord_process_tree_processes')?.samples ?? [];
      assert.equal(trees.find((s) => s.labels['supervisord_process'] === 'tree')?.value, 3, body);
      assert.ok(families.has('supervisord_process_cpu_seconds_total'));
    } finally {
      controller.abort();
      await done;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
