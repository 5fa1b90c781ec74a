/**
 * A real Prometheus scraping `/probe` of `--serve` for two real supervisord
 * instances, with the blackbox-style relabelling of the README: after two
 * scrapes of each target, Prometheus' HTTP API must hold what the two
 * supervisords hold. Skips, saying why, without `/usr/bin/prometheus` or
 * supervisord. Every process started here is stopped on every path.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { main } from '../../lib/cli/main.js';
import { findSupervisord, startSupervisord, zooPrograms, zooSettled } from '../helpers/supervisord.js';
import type { HarnessProcess, RunningSupervisord } from '../helpers/supervisord.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PASSWORD = 'Prom-Sentinel-93b1';
/** The reference check's default mapping. */
const MAPPED: Readonly<Record<string, string>> = { RUNNING: 'up', STARTING: 'unknown', UNKNOWN: 'unknown' };

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(new Error(`not JSON from ${url}: ${body.slice(0, 200)}`, { cause: error }));
        }
      });
    }).on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

describe('a real Prometheus scraping /probe', () => {
  let skip: string | undefined;
  const sups: RunningSupervisord[] = [];
  let dir: string | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let promUrl = '';
  let exporter: { stop: AbortController; done: Promise<number>; stderr: Sink } | undefined;

  before(async () => {
    if (!existsSync(PROMETHEUS)) {
      skip = `${PROMETHEUS} is not installed (Debian package prometheus)`;
      return;
    }
    if (findSupervisord() === null) {
      skip = 'supervisord is not installed (apt-get install supervisor)';
      return;
    }
    dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
    const auth = { username: 'monitor', password: PASSWORD, unix: false };
    sups.push(await startSupervisord({ ...auth, programs: zooPrograms() }));
    sups.push(
      await startSupervisord({
        ...auth,
        programs: [
          { name: 'solo', command: '/bin/sleep 100000' },
          { name: 'idle', command: '/bin/sleep 100000', autostart: false },
        ],
      }),
    );
    await sups[0]!.waitFor(zooSettled);
    await sups[1]!.waitFor((ps) => ps.some((p) => p['name'] === 'solo' && p['statename'] === 'RUNNING'));

    const config = join(dir, 'exporter.json');
    writeFileSync(config, JSON.stringify({ modules: { supervisord: { allow: ['127.0.0.1'], username: 'monitor', password: PASSWORD, timeout: 5 } } }));
    chmodSync(config, 0o600);
    const stop = new AbortController();
    const stderr = new Sink();
    let listening!: (port: number) => void;
    const exporterPort = new Promise<number>((resolve) => (listening = resolve));
    const done = main(['--config', config, '--serve', '127.0.0.1:0', '--min-interval', '0'], {}, {
      stdout: new Sink(),
      stderr,
      signal: stop.signal,
      onListening: (a) => listening(a.port),
    });
    exporter = { stop, done, stderr };
    const port = await Promise.race([exporterPort, done.then((code): never => assert.fail(`the exporter ended (${code}): ${stderr.text}`))]);

    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    // The README's relabelling: each target becomes ?target=, the exporter is scraped.
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: supervisord',
        '    metrics_path: /probe',
        '    params:',
        '      module: [supervisord]',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${sups[0]!.port!}', '127.0.0.1:${sups[1]!.port!}']`,
        '    relabel_configs:',
        '      - source_labels: [__address__]',
        '        target_label: __param_target',
        '      - source_labels: [__param_target]',
        '        target_label: instance',
        '      - target_label: __address__',
        `        replacement: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d: Buffer) => (prometheusLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (prometheusLog = (prometheusLog + d.toString()).slice(-4000)));
  });

  after(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    exporter?.stop.abort();
    await exporter?.done;
    await Promise.all(sups.map((s) => s.stop()));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** An instant query's result vector. */
  async function query(q: string): Promise<Vector> {
    const answer = (await getJson(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)) as { status: string; data?: { result: Vector } };
    assert.equal(answer.status, 'success', JSON.stringify(answer));
    return answer.data!.result;
  }

  it('holds supervisord_up, the process counts and states of both supervisords after two scrapes', async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const targets = sups.map((s) => `127.0.0.1:${s.port!}`);
    // Two scrapes of each target: two samples of supervisord_up each within the last minute.
    const deadline = Date.now() + 60_000;
    for (;;) {
      let scrapes: Vector = [];
      try {
        scrapes = await query('count_over_time(supervisord_up[1m])');
      } catch {
        // Prometheus is still starting.
      }
      if (targets.every((i) => scrapes.some((s) => s.metric['instance'] === i && Number(s.value[1]) >= 2))) break;
      if (Date.now() > deadline) assert.fail(`no two scrapes of both targets within 60 s; prometheus: ${prometheusLog}; exporter: ${exporter!.stderr.text}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const byInstance = (v: Vector): Map<string, Vector> => {
      const m = new Map<string, Vector>();
      for (const s of v) m.set(s.metric['instance']!, [...(m.get(s.metric['instance']!) ?? []), s]);
      return m;
    };
    const up = byInstance(await query('supervisord_up'));
    const success = byInstance(await query('supervisord_probe_success'));
    const processes = byInstance(await query('supervisord_processes'));
    const status = byInstance(await query('supervisord_process_status'));
    const version = byInstance(await query('supervisord_version_info'));
    const state = byInstance(await query('supervisord_process_state'));
    for (const [i, sup] of sups.entries()) {
      const instance = targets[i]!;
      const held = (await sup.call('supervisor.getAllProcessInfo')) as HarnessProcess[];
      const supervisordVersion = String(await sup.call('supervisor.getSupervisorVersion'));
      assert.deepEqual(up.get(instance)?.map((s) => [s.metric['job'], s.metric['supervisord_server'], s.value[1]]), [['supervisord', instance, '1']]);
      assert.deepEqual(success.get(instance)?.map((s) => s.value[1]), ['1']);
      assert.deepEqual(version.get(instance)?.map((s) => s.metric['version']), [supervisordVersion]);
      const expectedCounts: Record<string, number> = { up: 0, down: 0, unknown: 0 };
      for (const p of held) expectedCounts[MAPPED[String(p['statename'])] ?? 'down']!++;
      const counts = Object.fromEntries((processes.get(instance) ?? []).map((s) => [s.metric['status'], Number(s.value[1])]));
      assert.deepEqual(counts, expectedCounts, instance);
      const expectedStatus = held.map((p) => `${String(p['group'])}:${String(p['name'])}=${p['statename'] === 'RUNNING' ? 0 : 2}`).sort();
      const seen = (status.get(instance) ?? []).map((s) => `${s.metric['supervisord_group']}:${s.metric['supervisord_process']}=${s.value[1]}`).sort();
      assert.deepEqual(seen, expectedStatus, instance);
      const expectedState = held.map((p) => `${String(p['group'])}:${String(p['name'])}=${String(p['state'])}`).sort();
      const seenState = (state.get(instance) ?? []).map((s) => `${s.metric['supervisord_group']}:${s.metric['supervisord_process']}=${s.value[1]}`).sort();
      assert.deepEqual(seenState, expectedState, instance);
    }
    assert.equal(exporter!.stderr.text.includes(PASSWORD), false);
  });
});
