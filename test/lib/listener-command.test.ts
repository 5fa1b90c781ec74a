/**
 * `supervisord-check listen` in-process, its input and output being streams
 * of the test and supervisord the emulator (the real one is in
 * test/integration/listener.test.ts): stdout carries only the protocol, one
 * answer per envelope (malformed ones included); no XML-RPC call but the
 * seed until a run ends, then one getProcessInfo; a Datadog event with the
 * exit status; the whole state over DogStatsD; JSON lines in a file; the end
 * of the input ends the command with 0. Then the flags it refuses.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { LISTEN_HELP, runListen } from '../../lib/cli/listen.js';
import { main } from '../../lib/cli/main.js';
import { envelope } from '../helpers/listener-envelope.js';
import { sleep, waitUntil } from '../helpers/launched-processes.js';

const DIR = mkdtempSync(join(tmpdir(), 'sc-listen-cmd-'));
const MAIN = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));
after(() => rmSync(DIR, { recursive: true, force: true }));

function capture(): PassThrough & { text: () => string } {
  const stream = new PassThrough() as PassThrough & { text: () => string };
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.text = () => Buffer.concat(chunks).toString('utf8');
  return stream;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const state = (name: string, to: string, from: string, extra = ''): Buffer =>
  envelope(`PROCESS_STATE_${to}`, `processname:${name} groupname:${name} from_state:${from}${extra}`);

describe('listen: in-process against the emulator', () => {
  it('answers every envelope on stdout and nothing else, exports, alerts, and ends with its input', async () => {
    const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web', statename: 'STOPPED' })] });
    const udp = createSocket('udp4');
    const datagrams: string[] = [];
    udp.on('message', (m) => datagrams.push(m.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const udpPort = (udp.address() as AddressInfo).port;
    const stdin = new PassThrough();
    const stdout = capture();
    const stderr = capture();
    const file = join(DIR, 'events.jsonl');
    let port = 0;
    try {
      const done = runListen(
        ['--url', emulator.url, '--name', 'sv', '--serve', '127.0.0.1:0', '--dogstatsd', `127.0.0.1:${udpPort}`, '--interval', '200ms', '--jsonl', file, '--tag', 'env:test'],
        {},
        { stdin, stdout, stderr, onListening: (a) => (port = a.port) },
      );
      await waitUntil('the seed', () => stderr.text().includes('seeded from'));
      await waitUntil('the port', () => port !== 0);
      const seedCalls = { ...emulator.stats.calls };
      stdin.write(state('web', 'STARTING', 'STOPPED', ' tries:0'));
      stdin.write(state('web', 'RUNNING', 'STARTING', ' pid:4242'));
      stdin.write(Buffer.from('not a header\n'));
      await waitUntil('three answers', () => stdout.text().split('RESULT').length === 4);
      let metrics = (await get(port, '/metrics')).body;
      assert.match(metrics, /supervisord_process_status\{env="test",supervisord_server="sv",supervisord_process="web",supervisord_group="web"\} 0/u);
      assert.match(metrics, /supervisord_listener_malformed_total\{env="test",supervisord_server="sv"\} 1/u);
      assert.deepEqual({ ...emulator.stats.calls }, seedCalls, 'an XML-RPC call between resyncs');

      emulator.processes = [makeProcess({ name: 'web', statename: 'EXITED', exitstatus: 3 })];
      stdin.write(state('web', 'EXITED', 'RUNNING', ' expected:0 pid:4242'));
      await waitUntil('the Datadog event', () => datagrams.some((d) => d.startsWith('_e{')));
      const event = datagrams.find((d) => d.startsWith('_e{'))!;
      const title = 'web exited unexpectedly (exit status 3)';
      assert.ok(event.startsWith(`_e{${title.length},`), event);
      assert.ok(event.includes(`:${title}|supervisord sv: process web (group web) went from RUNNING to EXITED, exit status 3.|k:supervisord:sv:web:web|s:supervisord|t:error|#env:test,supervisord_server:sv,`), event);
      assert.equal(emulator.stats.calls['supervisor.getProcessInfo'], 1);
      metrics = (await get(port, '/metrics')).body;
      assert.match(metrics, /supervisord_process_exits_total\{[^}]*supervisord_process="web"[^}]*expected="false"\} 1/u);
      assert.match(metrics, /supervisord_process_exit_status\{[^}]*\} 3/u);
      await waitUntil('the periodic DogStatsD state', () => datagrams.some((d) => d.includes('supervisord.process.exits:1|c|#env:test,supervisord_server:sv,supervisord_process:web,supervisord_group:web,expected:false')));
      // Counts go as deltas: the next periodic send has 0 for the same series.
      const before = datagrams.length;
      await waitUntil('a second periodic send', () => datagrams.slice(before).some((d) => d.includes('supervisord.process.exits:0|c|#env:test,supervisord_server:sv,supervisord_process:web,supervisord_group:web,expected:false')));

      stdin.end();
      assert.equal(await done, 0);
      assert.equal(stdout.text(), `READY\n${'RESULT 2\nOKREADY\n'.repeat(4)}`);
      assert.match(stderr.text(), /supervisord-check listen: malformed event, answered OK so that supervisord does not resend it: no len token at the end \(found "header"\) in the header at byte \d+/u);
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((l) => [l['event'], l['to'] ?? l['state'] ?? '']),
        [['transition', 'STARTING'], ['transition', 'RUNNING'], ['malformed', ''], ['transition', 'EXITED'], ['exit_status', 'EXITED']],
      );
      assert.equal(lines[4]!['exitstatus'], 3);
      await assert.rejects(get(port, '/metrics'), { code: 'ECONNREFUSED' });
    } finally {
      stdin.destroy();
      udp.close();
      await emulator.close();
    }
  });

  it('supervisord\'s main log: read in the seed\'s multicall unless --no-main-log; a signal death is "killed by SIGKILL" in the Datadog event', async () => {
    const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web', statename: 'RUNNING', pid: 77 })] });
    const udp = createSocket('udp4');
    const datagrams: string[] = [];
    udp.on('message', (m) => datagrams.push(m.toString('utf8')));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const udpPort = (udp.address() as AddressInfo).port;
    try {
      // The emulator's main log: empty (read, nothing to say), then no log file (a NO_FILE fault in the multicall,
      // said once: the listener goes on), then not read at all with --no-main-log.
      for (const [mainLog, flags, complaint] of [
        ['', [], false],
        [null, [], true],
        [null, ['--no-main-log'], false],
      ] as const) {
        emulator.replaceMainLog(mainLog);
        const stdin = new PassThrough();
        const stderr = capture();
        const before = emulator.stats.calls['supervisor.readLog'] ?? 0;
        const done = runListen(['--url', emulator.url, '--jsonl', 'stderr', ...flags], {}, { stdin, stdout: capture(), stderr });
        await waitUntil('the seed', () => stderr.text().includes('seeded from'));
        stdin.end();
        assert.equal(await done, 0);
        const what = JSON.stringify([mainLog, flags]);
        assert.equal((emulator.stats.calls['supervisor.readLog'] ?? 0) - before, flags.length === 0 ? 1 : 0, what);
        assert.equal(stderr.text().includes("cannot read supervisord's main log (NO_FILE: syslog"), complaint, `${what}: ${stderr.text()}`);
        assert.equal(stderr.text().includes("cannot read supervisord's main log"), complaint, what);
      }
      const stdin = new PassThrough();
      const stderr = capture();
      const exitSource = { exitStatuses: async (queries: readonly unknown[]) => queries.map(() => ({ exitstatus: -1, signal: 'SIGKILL' })) };
      const done = runListen(['--url', emulator.url, '--name', 'sv', '--dogstatsd', `127.0.0.1:${udpPort}`], {}, { stdin, stdout: capture(), stderr, exitSource });
      await waitUntil('the seed', () => stderr.text().includes('seeded from'));
      stdin.write(state('web', 'EXITED', 'RUNNING', ' expected:0 pid:77'));
      await waitUntil('the Datadog event', () => datagrams.some((d) => d.startsWith('_e{')));
      const event = datagrams.find((d) => d.startsWith('_e{'))!;
      assert.ok(event.includes(':web exited unexpectedly (killed by SIGKILL)|supervisord sv: process web (group web) went from RUNNING to EXITED, killed by SIGKILL (exit status -1).|'), event);
      stdin.end();
      assert.equal(await done, 0);
    } finally {
      udp.close();
      await emulator.close();
    }
  });

  it('an unreachable server: keeps answering events, can_connect CRITICAL with the reason, ends on the caller\'s signal', async () => {
    const stdin = new PassThrough();
    const stdout = capture();
    const stderr = capture();
    const controller = new AbortController();
    let port = 0;
    const done = runListen(['--socket', join(DIR, 'none.sock'), '--serve', '127.0.0.1:0'], {}, { stdin, stdout, stderr, signal: controller.signal, onListening: (a) => (port = a.port) });
    await waitUntil('the port', () => port !== 0);
    stdin.write(envelope('TICK_5', 'when:1'));
    await waitUntil('the answer', () => stdout.text().includes('RESULT'));
    await waitUntil('the failed seed', () => stderr.text().includes('collection (seed) failed'));
    const metrics = (await get(port, '/metrics')).body;
    assert.match(metrics, /supervisord_up\{supervisord_server="[^"]*none.sock"\} 0/u);
    assert.match(metrics, /supervisord_can_connect_status\{[^}]*\} 2/u);
    controller.abort();
    assert.equal(await done, 0);
    assert.equal(stdout.text(), 'READY\nRESULT 2\nOKREADY\n');
  });

  it('a --serve port held by another: waits for it, then serves', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const held = (holder.address() as AddressInfo).port;
    const stdin = new PassThrough();
    const stderr = capture();
    let listening = false;
    const done = runListen(['--socket', join(DIR, 'none.sock'), '--serve', `127.0.0.1:${held}`], {}, { stdin, stdout: capture(), stderr, onListening: () => (listening = true) });
    await sleep(300);
    assert.equal(listening, false);
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await waitUntil('the port', () => listening);
    assert.equal((await get(held, '/metrics')).status, 200);
    stdin.end();
    assert.equal(await done, 0);
  });
});

describe('listen: flags', () => {
  const CASES: ReadonlyArray<[string[], RegExp]> = [
    [[], /^supervisord-check listen: listen needs an output: --serve HOST:PORT, --dogstatsd HOST:PORT and\/or --jsonl stderr\|FILE\n$/u],
    [['--jsonl', 'stderr', '--format', 'json'], /--format does not apply to listen: listen writes only the event protocol on stdout/u],
    [['--jsonl', 'stderr', '--config', 'x.json'], /--config does not apply to listen/u],
    [['--jsonl', 'stderr', '--interval', '5s'], /--interval applies only to --dogstatsd/u],
    [['--jsonl', 'stderr', '--resync', '100ms'], /--resync must be at least 1s, got "100ms"/u],
    [['--serve'], /--serve needs a value/u],
    [['--serve', '1', '--serve=2'], /--serve is given more than once/u],
    [['--jsonl='], /--jsonl needs stderr or a file path/u],
    [['--jsonl', 'stderr', '--bogus'], /unknown option "--bogus"/u],
    [['--jsonl', 'stderr', 'demo'], /unexpected argument "demo"/u],
    [['--dogstatsd', 'nope'], /--dogstatsd must be host:port/u],
    [['--jsonl', 'stderr', '--no-main-log=yes'], /--no-main-log takes no value/u],
    [['--jsonl', 'stderr', '--no-main-log', '--no-main-log'], /--no-main-log is given more than once/u],
  ];
  for (const [argv, message] of CASES) {
    it(`${JSON.stringify(argv)}: exit 2, one line on stderr, nothing on stdout`, async () => {
      const stdout = capture();
      const stderr = capture();
      assert.equal(await runListen(argv, {}, { stdin: new PassThrough(), stdout, stderr }), 2);
      assert.match(stderr.text(), message);
      assert.equal(stderr.text().split('\n').length, 2);
      assert.equal(stdout.text(), '');
    });
  }

  it('--jsonl naming this listener\'s own stdout or stdin (same device and inode, whatever the path): exit 2, nothing on stdout', async () => {
    const file = join(DIR, 'stdout.txt');
    writeFileSync(file, '');
    const fd = openSync(file, 'a');
    const link = join(DIR, 'stdout-link');
    symlinkSync(file, link);
    try {
      for (const [jsonl, io, name] of [
        [file, { stdout: Object.assign(capture(), { fd }) }, 'stdout'],
        [link, { stdout: Object.assign(capture(), { fd }) }, 'stdout'],
        [file, { stdin: Object.assign(new PassThrough(), { fd }) }, 'stdin'],
      ] as const) {
        const stderr = capture();
        const stdout = 'stdout' in io ? io.stdout : capture();
        const code = await runListen(['--jsonl', jsonl, '--socket', join(DIR, 'none.sock')], {}, { stdin: new PassThrough(), ...io, stdout, stderr });
        assert.equal(code, 2, stderr.text());
        assert.equal(
          stderr.text(),
          `supervisord-check listen: --jsonl ${JSON.stringify(jsonl)} is this listener's ${name}, which carries supervisord's event protocol: use --jsonl stderr or another file\n`,
        );
        assert.equal(stdout.text(), '');
      }
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(file, 'utf8'), '');
  });

  it('--jsonl /dev/stdout in a real process whose stdout is a pipe (as under supervisord): refused, the pipe gets nothing', async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN, 'listen', '--jsonl', '/dev/stdout', '--socket', join(DIR, 'none.sock')], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, `supervisord-check listen: --jsonl "/dev/stdout" is this listener's stdout, which carries supervisord's event protocol: use --jsonl stderr or another file\n`);
  });

  it('--help prints the listener\'s help, with the [eventlistener:x] section; main() dispatches listen', async () => {
    const stdout = capture();
    assert.equal(await main(['listen', '--help'], {}, { stdout, stderr: capture() }), 0);
    assert.equal(stdout.text(), LISTEN_HELP);
    assert.match(LISTEN_HELP, /\[eventlistener:supervisord-check\]\n {2}command=supervisord-check listen --serve 127.0.0.1:9876\n {2}events=PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,TICK_5,REMOTE_COMMUNICATION\n {2}buffer_size=/u);
  });
});
