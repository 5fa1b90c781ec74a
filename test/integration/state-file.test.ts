/**
 * `supervisord-check --state-file` against a REAL supervisord (a few dozen
 * programs, two of them in a `[group:web]`), the command spawned afresh per
 * invocation as a monitoring system does, through a proxy that counts the
 * `getAllProcessInfo` calls reaching supervisord:
 * - sharded (`max_connections`) and selective (`proc_names`, a grouped
 *   name) collection: the second invocation makes no full listing and
 *   reports every process;
 * - a program restarted between two invocations is counted by the second
 *   (and nothing else is), as supervisord's own log counts it: one new
 *   `spawned:` line.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { CheckResult } from '../../lib/types.js';
import { spawnCli } from '../helpers/cli-run.js';
import { findSupervisord, startSupervisord, type ProgramSpec, type RunningSupervisord } from '../helpers/supervisord.js';

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;
const LISTING = 'supervisor.getAllProcessInfo';

const programs: ProgramSpec[] = [
  ...Array.from({ length: 30 }, (_, i): ProgramSpec => ({ name: `p${String(i).padStart(2, '0')}`, command: '/bin/sleep 100000' })),
  { name: 'front', command: '/bin/sleep 100000', group: 'web' },
  { name: 'back', command: '/bin/sleep 100000', group: 'web' },
];

/**
 * A unix socket in front of supervisord's, passing bytes both ways and
 * counting the full listings asked (the method name in the requests, also
 * inside a multicall). Requests are small: each connection's are kept whole.
 */
class CountingProxy {
  listings = 0;
  readonly path: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server, where: string) {
    this.#server = server;
    this.path = where;
  }

  static async start(where: string, upstream: string): Promise<CountingProxy> {
    const server = createServer();
    const proxy = new CountingProxy(server, where);
    server.on('connection', (client) => {
      const upstreamSocket = connect(upstream);
      proxy.#sockets.add(client).add(upstreamSocket);
      let sent = '';
      client.on('data', (chunk: Buffer) => {
        const before = sent.split(LISTING).length;
        sent += chunk.toString('latin1');
        proxy.listings += sent.split(LISTING).length - before;
        upstreamSocket.write(chunk);
      });
      upstreamSocket.on('data', (chunk: Buffer) => client.write(chunk));
      const end = (): void => {
        client.destroy();
        upstreamSocket.destroy();
      };
      client.on('close', end).on('error', end);
      upstreamSocket.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(where, resolve));
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** The CLI as a new process, its JSON result. */
async function invoke(argv: string[]): Promise<{ code: number | null; result: CheckResult; stderr: string }> {
  const { code, stdout, stderr } = await spawnCli([...argv, '--format', 'json']);
  try {
    const parsed = JSON.parse(stdout) as CheckResult | { results: CheckResult[] };
    return { code, result: 'results' in parsed ? parsed.results[0]! : parsed, stderr };
  } catch {
    throw new Error(`exit ${code}, no JSON: ${stderr}`);
  }
}

const restarts = (r: CheckResult): Map<string, number> =>
  new Map(
    r.metrics
      .filter((m) => m.name === 'supervisord.process.restarts')
      .map((m) => [`${m.tags.find((t) => t.startsWith('supervisord_group:'))!.slice(18)}:${m.tags.find((t) => t.startsWith('supervisord_process:'))!.slice(20)}`, m.value]),
  );

describe('--state-file against a real supervisord, one process per invocation', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  let proxy: CountingProxy;
  let dir: string;

  /** supervisord's own count of starts of `name` so far (its main log). */
  const spawns = (name: string): number => readFileSync(path.join(sup.dir, 'supervisord.log'), 'utf8').split(`spawned: '${name}' with pid`).length - 1;

  /** Stops and starts `spec` and waits until it runs again. */
  async function restart(spec: string): Promise<void> {
    await sup.call('supervisor.stopProcess', [spec]);
    await sup.call('supervisor.startProcess', [spec]);
    await sup.waitFor((procs) => procs.every((p) => p['statename'] === 'RUNNING'));
  }

  before(async () => {
    sup = await startSupervisord({ programs, inet: false, startTimeoutMs: 30_000 });
    await sup.waitFor((procs) => procs.length === programs.length && procs.every((p) => p['statename'] === 'RUNNING'), 30_000);
    dir = mkdtempSync(path.join(tmpdir(), 'state-file-integration-'));
    proxy = await CountingProxy.start(path.join(dir, 'proxy.sock'), sup.socketPath!);
  });

  after(async () => {
    await proxy?.close();
    await sup?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, extra, monitored] of [
    ['sharded collection (max_connections: 3)', { max_connections: 3 }, programs.length],
    ['selective collection of a grouped name (proc_names)', { proc_names: ['front', 'p05'] }, 2],
  ] as const) {
    it(`${what}: no full listing after the first invocation; a restart in between is counted by the next one, as in supervisord's log`, async () => {
      const config = path.join(dir, `${what.split(' ')[0]}.json`);
      writeFileSync(config, JSON.stringify({ instances: [{ name: 'real', socket: `unix://${proxy.path}`, state_file: `${what.split(' ')[0]}.state`, ...extra }] }));
      const argv = ['--config', config];
      const listed = proxy.listings;
      const first = await invoke(argv);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stderr, '');
      assert.equal(proxy.listings, listed + 1, 'the first invocation learns with one listing');
      assert.equal(first.result.processes?.length, monitored);

      const second = await invoke(argv);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(proxy.listings, listed + 1, 'no listing in the second invocation');
      assert.deepEqual(second.result.processes?.map((p) => p.name), first.result.processes?.map((p) => p.name));
      assert.ok([...restarts(second.result).values()].every((v) => v === 0));

      const before = { front: spawns('front'), p05: spawns('p05'), p06: spawns('p06') };
      await restart('web:front');
      await restart('p05');
      const third = await invoke(argv);
      assert.equal(third.code, 0, third.stderr);
      assert.equal(proxy.listings, listed + 1, 'no listing in the third invocation');
      // supervisord's own log: one new start of each restarted program, none of the others.
      assert.deepEqual({ front: spawns('front'), p05: spawns('p05'), p06: spawns('p06') }, { front: before.front + 1, p05: before.p05 + 1, p06: before.p06 });
      const counted = restarts(third.result);
      assert.equal(counted.get('web:front'), 1);
      assert.equal(counted.get('p05:p05'), 1);
      assert.equal([...counted.values()].reduce((a, b) => a + b), 2, 'nothing else');
      assert.equal(counted.size, monitored);
    });
  }
});
