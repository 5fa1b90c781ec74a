/**
 * The `supervisord-check` command line, end to end: in process (main() with
 * captured streams) against the emulator for each format, exit codes,
 * `--config`, default target discovery, passwords, `--serve` (scrapes,
 * coalescing, 404s), `--interval` and `--dogstatsd` (datagrams received on a
 * local UDP socket); as a child process for signals and exit codes; and
 * against a real supervisord when it is installed.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SupervisordCheck } from '../../lib/check.js';
import { exitCode, main } from '../../lib/cli/main.js';
import type { CliIo, CliStream } from '../../lib/cli/main.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { CheckResult, ProcessInfo } from '../../lib/types.js';
import { parseExposition, promtoolCheck, unexpectedLint } from '../helpers/prometheus-text.js';
import { findSupervisord, startSupervisord, supervisordVersion, zooPrograms, zooSettled } from '../helpers/supervisord.js';
import type { RunningSupervisord } from '../helpers/supervisord.js';
import { http } from '../helpers/serving.js';

const CLI = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));
const SENTINEL = 'Sentinel-Pw-7c1e9a';
const NOW = 1_700_000_000;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A writable that keeps what was written; `onWrite` sees the text so far. */
class Capture extends Writable {
  text = '';
  readonly isTTY: boolean;
  readonly #onWrite: ((text: string) => void) | undefined;

  constructor(isTTY = false, onWrite?: (text: string) => void) {
    super();
    this.isTTY = isTTY;
    this.#onWrite = onWrite;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    this.#onWrite?.(this.text);
    callback();
  }
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** main() in process; the environment is only what the test gives. */
async function cli(argv: string[], env: Record<string, string> = {}, io: CliIo & { tty?: boolean } = {}): Promise<Outcome> {
  const stdout = io.stdout ?? new Capture(io.tty ?? false);
  const stderr = io.stderr ?? new Capture();
  const code = await main(argv, env, { defaultSockets: [], ...io, stdout, stderr });
  return { code, stdout: (stdout as Capture).text, stderr: (stderr as Capture).text };
}

interface ChildOutcome extends Outcome {
  signal: NodeJS.Signals | null;
  /** ms from the moment `stopAt` sent the signal to the exit (NaN if none sent). */
  stopMs: number;
}

/**
 * The CLI as a child process. `stopWhen` is called on every output; when it
 * returns true the child gets `signal`.
 */
function child(
  argv: string[],
  env: Record<string, string> = {},
  stop?: { when: (out: { stdout: string; stderr: string }) => boolean | Promise<boolean>; signal: NodeJS.Signals },
): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn(process.execPath, [CLI, ...argv], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    let sentAt = NaN;
    let checking = false;
    const maybeStop = async (): Promise<void> => {
      if (stop === undefined || !Number.isNaN(sentAt) || checking) return;
      checking = true;
      try {
        if (await stop.when(out)) {
          sentAt = performance.now();
          proc.kill(stop.signal);
        }
      } catch (error) {
        proc.kill('SIGKILL');
        reject(error as Error);
      } finally {
        checking = false;
      }
    };
    proc.stdout!.on('data', (d: Buffer) => {
      out.stdout += d.toString('utf8');
      void maybeStop();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      out.stderr += d.toString('utf8');
      void maybeStop();
    });
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, signal, stdout: out.stdout, stderr: out.stderr, stopMs: performance.now() - sentAt });
    });
  });
}

const calls = (emulator: SupervisordEmulator): number => emulator.stats.calls['supervisor.getAllProcessInfo'] ?? 0;

/** The reference processes of check-spec section 5, on a pinned clock. */
function referenceProcesses(): ProcessInfo[] {
  return [
    makeProcess({ name: 'mysql', statename: 'RUNNING', start: NOW - 125 }, NOW),
    makeProcess({ name: 'java', statename: 'STOPPED', start: NOW - 350, stop: NOW - 16, exitstatus: 21 }, NOW),
    makeProcess({ name: 'python', statename: 'STARTING', start: NOW - 1 }, NOW),
  ];
}

function healthyProcesses(): ProcessInfo[] {
  return [
    makeProcess({ name: 'web', statename: 'RUNNING', start: NOW - 3725 }, NOW),
    makeProcess({ name: 'worker', group: 'jobs', statename: 'RUNNING', start: NOW - 60 }, NOW),
  ];
}

/** Asserts that the sentinel password appears nowhere. */
function noSecret(outcome: { stdout: string; stderr: string }, what: string): void {
  assert.equal(outcome.stdout.includes(SENTINEL), false, `the password appears on stdout (${what})`);
  assert.equal(outcome.stderr.includes(SENTINEL), false, `the password appears on stderr (${what})`);
}

/** Parses strictly and with promtool (when installed); returns the families. */
async function promChecked(text: string, t: { diagnostic(message: string): void }): Promise<ReturnType<typeof parseExposition>> {
  const families = parseExposition(text);
  const promtool = await promtoolCheck(text);
  if (promtool === null) t.diagnostic('promtool is not installed: only our own parser checked the exposition');
  else {
    assert.notEqual(promtool.code, 1, `promtool could not parse:\n${promtool.output}`);
    assert.deepEqual(unexpectedLint(promtool.output), []);
  }
  return families;
}

function samples(families: ReturnType<typeof parseExposition>, name: string): Array<[Record<string, string>, number]> {
  const f = families.get(name);
  assert.ok(f !== undefined, `no family ${name}`);
  return f.samples.map((s) => [s.labels, s.value]);
}

/** What the Agent reads from one datagram: fields split at `|`, tags at `,`. */
function datagram(line: string): { name: string; value: string; type: string; tags: string[]; message?: string } {
  const fields = line.split('|');
  if (fields[0] === '_sc') {
    const d: { name: string; value: string; type: string; tags: string[]; message?: string } = { name: fields[1]!, value: fields[2]!, type: 'sc', tags: [] };
    for (const f of fields.slice(3)) {
      if (f.startsWith('#')) d.tags = f.slice(1).split(',');
      else if (f.startsWith('m:')) d.message = f.slice(2);
      else throw new Error(`bad service-check field ${f}`);
    }
    return d;
  }
  const [nameValue, type, tags] = fields;
  assert.ok(type === 'g' || type === 'c', `bad type in ${line}`);
  assert.ok(fields.length <= 3);
  const colon = nameValue!.lastIndexOf(':');
  assert.match(nameValue!.slice(colon + 1), /^-?[0-9.e+]+$/);
  return { name: nameValue!.slice(0, colon), value: nameValue!.slice(colon + 1), type, tags: tags === undefined ? [] : tags.slice(1).split(',') };
}

/**
 * main() with `--serve`: runs `body` once it listens, then stops it (also when
 * `body` throws, so that a failed assertion cannot leave the server running).
 */
async function serving(
  argv: string[],
  body: (port: number, stderr: Capture) => Promise<void>,
): Promise<{ outcome: Outcome; stopMs: number }> {
  const controller = new AbortController();
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve) => (listening = resolve));
  const stderr = new Capture();
  const done = cli(argv, {}, { signal: controller.signal, stderr, onListening: (a) => listening(a.port) });
  const p = await Promise.race([
    port,
    done.then((o): never => {
      throw new Error(`main() ended before listening: ${o.stderr}`);
    }),
  ]);
  let started = 0;
  try {
    await body(p, stderr);
  } finally {
    started = performance.now();
    controller.abort();
  }
  const outcome = await done;
  return { outcome, stopMs: performance.now() - started };
}

/** The number of `supervisord.process.status` service checks. */
function processChecks(result: CheckResult): number {
  return result.serviceChecks.filter((c) => c.name === 'supervisord.process.status').length;
}

function packageVersion(): string {
  let url = new URL('./', import.meta.url);
  for (let i = 0; i < 6; i++) {
    url = new URL('../', url);
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', url), 'utf8')) as { name: string; version: string };
      if (pkg.name === 'supervisord-check') return pkg.version;
    } catch {
      // keep going up
    }
  }
  throw new Error('package.json not found');
}

// ---------------------------------------------------------------------------
// Fixtures: emulators on a unix socket and TCP
// ---------------------------------------------------------------------------

let dir: string;
let sockPath: string;
/** Reference processes (exit 2), on a unix socket. */
let sockEmu: SupervisordEmulator;
/** Healthy processes (exit 0), TCP. */
let tcpEmu: SupervisordEmulator;
let tcpPort: number;
/** Requires admin / SENTINEL. */
let authEmu: SupervisordEmulator;
let authPort: number;
/** Requires admin / another password. */
let otherAuthEmu: SupervisordEmulator;
let otherAuthPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  sockPath = join(dir, 'supervisor.sock');
  sockEmu = await SupervisordEmulator.start({ listen: { socketPath: sockPath }, processes: referenceProcesses() });
  tcpEmu = await SupervisordEmulator.start({ listen: { port: 0 }, processes: healthyProcesses(), version: '3.3.3' });
  tcpPort = Number(new URL(tcpEmu.url).port);
  authEmu = await SupervisordEmulator.start({ listen: { port: 0 }, processes: healthyProcesses(), username: 'admin', password: SENTINEL });
  authPort = Number(new URL(authEmu.url).port);
  otherAuthEmu = await SupervisordEmulator.start({ listen: { port: 0 }, processes: healthyProcesses(), username: 'admin', password: 'another-password' });
  otherAuthPort = Number(new URL(otherAuthEmu.url).port);
});

after(async () => {
  await Promise.all([sockEmu?.close(), tcpEmu?.close(), authEmu?.close(), otherAuthEmu?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

// ---------------------------------------------------------------------------
// Formats, in process
// ---------------------------------------------------------------------------

describe('formats (in process, emulator on a unix socket)', () => {
  it('json is the check result as-is, and the default when stdout is not a terminal', async () => {
    const out = await cli(['--socket', sockPath]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, '');
    const parsed = JSON.parse(out.stdout) as CheckResult;
    const check = new SupervisordCheck({ name: sockPath, socket: `unix://${sockPath}` });
    try {
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(await check.run())));
    } finally {
      await check.close();
    }
    assert.ok(out.stdout.startsWith('{\n  "metrics": ['), 'pretty printed');
    assert.equal(parsed.serviceChecks[0]?.tags.at(-1), `supervisord_server:${sockPath}`, 'named after the socket path');
  });

  it('text is the default on a terminal, coloured unless NO_COLOR or --no-color', async () => {
    const colored = await cli(['--socket', sockPath], {}, { tty: true });
    assert.equal(colored.code, 2);
    const plain = colored.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    assert.notEqual(plain, colored.stdout);
    const lines = plain.split('\n');
    // The description of a STOPPED process is its stop time in the local time zone.
    assert.match(lines[5]!, /^java: exit status 21 \(\w{3} \d\d \d\d:\d\d [AP]M\)$/);
    assert.deepEqual(lines, [
      'PROCESS  GROUP   STATE     STATUS   UPTIME',
      'java     java    STOPPED   down     -',
      'mysql    mysql   RUNNING   up       2m 05s',
      'python   python  STARTING  unknown  -',
      `3 processes: 1 up, 1 down, 1 unknown \u2014 supervisord 4.2.5 at unix://${sockPath} reachable`,
      lines[5],
      '',
    ]);
    for (const [env, argv] of [
      [{ NO_COLOR: '1' }, []],
      [{}, ['--no-color']],
      [{ NO_COLOR: '' }, ['--format', 'text', '--no-color']],
    ] as Array<[Record<string, string>, string[]]>) {
      const out = await cli(['--socket', sockPath, ...argv], env, { tty: true });
      assert.equal(out.stdout, plain, `${JSON.stringify(env)} ${argv.join(' ')}`);
    }
    // --format text on a pipe: no colour either.
    assert.equal((await cli(['--socket', sockPath, '--format', 'text'])).stdout, plain);
  });

  it('prometheus passes the strict parser and promtool', async (t) => {
    const out = await cli(['--socket', sockPath, '--format', 'prometheus', '--tag', 'env:test']);
    assert.equal(out.code, 2);
    const families = await promChecked(out.stdout, t);
    const server = { env: 'test', supervisord_server: sockPath };
    assert.deepEqual(samples(families, 'supervisord_up'), [[server, 1]]);
    assert.deepEqual(samples(families, 'supervisord_version_info'), [[{ ...server, version: '4.2.5' }, 1]]);
    assert.deepEqual(
      samples(families, 'supervisord_process_status').map(([l, v]) => [l['supervisord_process'], v]),
      [['java', 2], ['mysql', 0], ['python', 3]],
    );
    assert.equal(out.stderr, '');
  });

  it('dogstatsd writes one datagram per line', async () => {
    const out = await cli(['--socket', sockPath, '--format', 'dogstatsd']);
    assert.equal(out.code, 2);
    const lines = out.stdout.trimEnd().split('\n');
    const parsed = lines.map(datagram);
    // Every submission of the run, one line each.
    const result = JSON.parse((await cli(['--socket', sockPath, '--format', 'json'])).stdout) as CheckResult;
    assert.equal(lines.length, result.metrics.length + result.serviceChecks.length);
    assert.equal(parsed.filter((d) => d.name === 'supervisord.process.uptime' || d.name === 'supervisord.process.count').length, 6);
    const checkNames = new Set(['supervisord.can_connect', 'supervisord.process.status']);
    assert.deepEqual(parsed.filter((d) => d.type === 'sc' && checkNames.has(d.name)).map((d) => [d.name, d.value]), [
      ['supervisord.can_connect', '0'],
      ['supervisord.process.status', '2'],
      ['supervisord.process.status', '0'],
      ['supervisord.process.status', '3'],
    ]);
    const java = parsed.find((d) => d.type === 'sc' && d.tags.includes('supervisord_process:java'))!;
    assert.match(java.message!, /^Current time: .*\\nProcess name: java\\n.*\\nState: STOPPED\\n/);
    assert.ok(lines.includes(`supervisord.process.uptime:125|g|#supervisord_server:${sockPath},supervisord_process:mysql,supervisord_group:mysql`));
  });
});

// ---------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------

describe('exit codes (in process)', () => {
  const cases: Array<{ processes: () => ProcessInfo[]; argv?: string[]; code: number; why: string }> = [
    { processes: healthyProcesses, code: 0, why: 'every service check OK' },
    { processes: () => [], code: 0, why: 'no process: can_connect OK only' },
    { processes: () => [...healthyProcesses(), makeProcess({ name: 'boot', statename: 'STARTING' }, NOW)], code: 1, why: 'UNKNOWN (STARTING)' },
    { processes: () => [makeProcess({ name: 'odd', state: 1000, statename: 'UNKNOWN' }, NOW)], code: 1, why: 'UNKNOWN (UNKNOWN state)' },
    { processes: () => [...healthyProcesses(), makeProcess({ name: 'dead', statename: 'FATAL' }, NOW)], code: 2, why: 'CRITICAL (FATAL)' },
    {
      processes: () => [makeProcess({ name: 'off', statename: 'STOPPED' }, NOW), makeProcess({ name: 'boot', statename: 'STARTING' }, NOW)],
      code: 2,
      why: 'CRITICAL wins over UNKNOWN',
    },
    { processes: () => [makeProcess({ name: 'off', statename: 'STOPPED' }, NOW)], argv: ['--status-mapping', 'STOPPED=up'], code: 0, why: 'STOPPED mapped to up' },
    { processes: () => [makeProcess({ name: 'off', statename: 'STOPPED' }, NOW)], argv: ['--proc-names-exclude', 'off'], code: 0, why: 'the CRITICAL process excluded' },
  ];
  let emu: SupervisordEmulator;
  before(async () => {
    emu = await SupervisordEmulator.start({ listen: { port: 0 } });
  });
  after(async () => {
    await emu.close();
  });
  for (const c of cases) {
    it(`${c.code}: ${c.why}`, async () => {
      emu.processes = c.processes();
      const out = await cli(['--url', emu.url, '--format', 'json', ...(c.argv ?? [])]);
      assert.equal(out.code, c.code, out.stdout);
      assert.equal(out.stderr, '');
    });
  }

  it('2 for an XML-RPC fault (an error without a service check)', async () => {
    emu.setFault('supervisor.getAllProcessInfo', { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
    try {
      const out = await cli(['--url', emu.url, '--format', 'prometheus']);
      assert.equal(out.code, 2);
      assert.match(out.stdout, /^supervisord_up\{supervisord_server="127\.0\.0\.1:\d+"\} 0$/m);
      // prometheus cannot carry the error text: stderr does.
      assert.match(out.stderr, /^supervisord-check: 127\.0\.0\.1:\d+: An error occurred while reading process information: 1 UNKNOWN_METHOD\n$/);
    } finally {
      emu.setFault('supervisor.getAllProcessInfo', null);
    }
  });

  it('2 for an unreachable server', async () => {
    const missing = join(dir, 'missing.sock');
    const out = await cli(['--socket', missing, '--format', 'text']);
    assert.equal(out.code, 2);
    assert.equal(
      out.stdout,
      `supervisord at unix://${missing} unreachable\nerror: Cannot connect to unix://${missing}. Make sure supervisor is running and socket is enabled and socket file has the right permissions.\n` +
        `warning: connect ENOENT ${missing} (unix://${missing}): the socket file does not exist (is supervisord running? is this its socket?)\n`,
    );
    // the reason is in the JSON output too
    const json = await cli(['--socket', missing, '--format', 'json']);
    assert.equal(json.code, 2);
    assert.deepEqual((JSON.parse(json.stdout) as { warnings: string[] }).warnings, [
      `connect ENOENT ${missing} (unix://${missing}): the socket file does not exist (is supervisord running? is this its socket?)`,
    ]);
  });

  const usage: Array<{ argv: string[]; env?: Record<string, string>; stderr: string | RegExp; why: string }> = [
    { argv: ['--bogus'], stderr: 'supervisord-check: unknown option "--bogus" (see --help)\n', why: 'unknown flag' },
    { argv: ['--socket', 'rel.sock'], stderr: 'supervisord-check: --socket needs unix:///absolute/path.sock or an absolute path, got "rel.sock"\n', why: 'bad socket' },
    {
      // Regression: the check's message (the reference's) suggested the very value it refused and named the config key.
      argv: ['--host', '127.0.0.1', '--status-mapping', 'STOPPED=ok'],
      stderr: 'supervisord-check: --status-mapping "STOPPED=ok": the status must be up, down or unknown (lower case), got "ok"\n',
      why: 'a status mapping to a status that does not exist names the flag and the valid statuses',
    },
    {
      argv: ['--config', '/nonexistent/sc.json'],
      stderr: 'supervisord-check: cannot read --config /nonexistent/sc.json: ENOENT: no such file or directory\n',
      why: 'a config file that cannot be read',
    },
    {
      // Regression: became http://[127.0.0.1:19001]:9001/RPC2.
      argv: ['--host', '127.0.0.1:19001'],
      stderr: 'supervisord-check: --host takes no port, got "127.0.0.1:19001": use --host 127.0.0.1 --port 19001\n',
      why: 'a host with a port',
    },
    {
      // Regression: became the Prometheus label status="down,x".
      argv: ['--host', '127.0.0.1', '--tag', 'status:x'],
      stderr: /^supervisord-check: --tag "status:x": the key 'status' is one the check sets itself \([^)]*\); use another key, e\.g\. 'user_status:x'\n$/,
      why: 'a tag that reuses a key the check sets',
    },
    {
      argv: ['--host', '127.0.0.1', '--proc-regex', '(?P<x'],
      stderr: /^supervisord-check: [^\n]*proc_regex[^\n]*\n$/,
      why: 'a pattern the check refuses',
    },
    { argv: ['--host', 'a b'], stderr: /^supervisord-check: 'host' should be a host name or an IP address[^\n]*\n$/, why: 'a host the check refuses' },
    { argv: ['demo', 'extra'], stderr: 'supervisord-check: demo takes no arguments, got "extra"\n', why: 'demo arguments' },
  ];
  for (const c of usage) {
    it(`2 with one line on stderr: ${c.why}`, async () => {
      const out = await cli(c.argv, c.env);
      assert.equal(out.code, 2);
      assert.equal(out.stdout, '');
      if (typeof c.stderr === 'string') assert.equal(out.stderr, c.stderr);
      else assert.match(out.stderr, c.stderr);
    });
  }

  it('3 for an internal error', async () => {
    const broken = { write: () => { throw new Error('disk on fire'); } } as unknown as CliStream;
    const stderr = new Capture();
    const code = await main(['--url', tcpEmu.url, '--format', 'json'], {}, { stdout: broken, stderr });
    assert.equal(code, 3);
    assert.equal(stderr.text, 'supervisord-check: internal error: disk on fire\n');
  });

  it('exitCode() follows the Nagios convention over several servers', () => {
    const r = (partial: Partial<CheckResult>): { name: string; target: string; tags: string[]; result: CheckResult } => ({
      name: 'x',
      target: 'x',
      tags: [],
      result: { metrics: [], serviceChecks: [], metadata: {}, warnings: ['ignored'], errors: [], ...partial },
    });
    const sc = (status: 0 | 1 | 2 | 3): Partial<CheckResult> => ({ serviceChecks: [{ name: 'n', status, tags: [] }] });
    assert.equal(exitCode([]), 0);
    assert.equal(exitCode([r({})]), 0);
    assert.equal(exitCode([r(sc(0)), r(sc(1))]), 1);
    assert.equal(exitCode([r(sc(3)), r(sc(0))]), 1);
    assert.equal(exitCode([r(sc(1)), r(sc(2))]), 2);
    assert.equal(exitCode([r(sc(0)), r({ errors: ['e'] })]), 2);
  });

  it('--help and --version print on stdout and exit 0', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: supervisord-check \[options\]/);
    const version = await cli(['--version']);
    assert.deepEqual(version, { code: 0, stdout: `${packageVersion()}\n`, stderr: '' });
  });
});

// ---------------------------------------------------------------------------
// --config
// ---------------------------------------------------------------------------

describe('--config', () => {
  let config: string;
  before(() => {
    config = writeFile(
      'two.json',
      JSON.stringify({
        init_config: {},
        instances: [
          { name: 'sock', socket: `unix://${sockPath}`, tags: ['team:a'] },
          { name: 'tcp', host: '127.0.0.1', port: tcpPort },
        ],
      }),
    );
  });

  it('json: {results: [{instance, ...result}]} in instance order', async () => {
    const out = await cli(['--config', config]);
    assert.equal(out.code, 2);
    const parsed = JSON.parse(out.stdout) as { results: Array<CheckResult & { instance: string }> };
    assert.deepEqual(parsed.results.map((r) => r.instance), ['sock', 'tcp']);
    assert.equal(parsed.results[1]!.metadata.version?.raw, '3.3.3');
    assert.deepEqual(parsed.results[0]!.serviceChecks[0]!.tags, ['team:a', 'supervisord_server:sock']);
  });

  it('json keeps the results shape for a single instance', async () => {
    const one = writeFile('one.json', JSON.stringify({ instances: [{ name: 'tcp', host: '127.0.0.1', port: tcpPort }] }));
    const out = await cli(['--config', one]);
    assert.equal(out.code, 0);
    assert.deepEqual(Object.keys(JSON.parse(out.stdout) as object), ['results']);
  });

  it('prometheus: one exposition for both servers', async (t) => {
    const out = await cli(['--config', config, '--format', 'prometheus']);
    const families = await promChecked(out.stdout, t);
    assert.deepEqual(samples(families, 'supervisord_up'), [
      [{ team: 'a', supervisord_server: 'sock' }, 1],
      [{ supervisord_server: 'tcp' }, 1],
    ]);
    assert.deepEqual(samples(families, 'supervisord_version_info').map(([l]) => l['version']), ['4.2.5', '3.3.3']);
    assert.equal(samples(families, 'supervisord_process_uptime_seconds').length, 5);
  });

  it('text: one block per server; dogstatsd: the datagrams of both', async () => {
    const text = await cli(['--config', config, '--format', 'text']);
    assert.match(text.stdout, /^\[sock\]\nPROCESS/);
    assert.match(text.stdout, /\n\n\[tcp\]\nPROCESS {2}GROUP {2}STATE {4}STATUS {2}UPTIME\nworker {3}jobs {3}RUNNING {2}up {6}1m 00s\nweb {6}web {4}RUNNING {2}up {6}1h 02m\n/);
    const statsd = await cli(['--config', config, '--format', 'dogstatsd']);
    const servers = new Set(statsd.stdout.trimEnd().split('\n').map((l) => datagram(l).tags.find((t) => t.startsWith('supervisord_server:'))));
    assert.deepEqual([...servers], ['supervisord_server:sock', 'supervisord_server:tcp']);
  });

  it('prometheus and dogstatsd cannot carry warnings and errors: they go to stderr', async () => {
    const deprecated = writeFile(
      'deprecated.json',
      JSON.stringify({
        instances: [
          { name: 'old', host: '127.0.0.1', port: tcpPort, user: 'u' },
          { name: 'gone', socket: `unix://${join(dir, 'gone.sock')}` },
        ],
      }),
    );
    for (const format of ['prometheus', 'dogstatsd']) {
      const out = await cli(['--config', deprecated, '--format', format]);
      assert.equal(out.code, 2);
      assert.deepEqual(out.stderr.split('\n'), [
        "supervisord-check: old: warning: 'user' is deprecated, use 'username' instead",
        "supervisord-check: old: warning: 'username' is set but 'password' is not: no credentials are sent",
        `supervisord-check: gone: Cannot connect to unix://${join(dir, 'gone.sock')}. Make sure supervisor is running and socket is enabled and socket file has the right permissions.`,
        `supervisord-check: gone: warning: connect ENOENT ${join(dir, 'gone.sock')} (unix://${join(dir, 'gone.sock')}): the socket file does not exist (is supervisord running? is this its socket?)`,
        '',
      ]);
    }
  });

  it('fills in the password from SUPERVISORD_PASSWORD for instances with a user and no password', async () => {
    const auth = writeFile(
      'auth.json',
      JSON.stringify({
        instances: [
          { name: 'a', host: '127.0.0.1', port: authPort, username: 'admin' },
          { name: 'b', host: '127.0.0.1', port: otherAuthPort, username: 'admin', password: 'another-password' },
        ],
      }),
    );
    const out = await cli(['--config', auth], { SUPERVISORD_PASSWORD: SENTINEL });
    assert.equal(out.code, 0, out.stdout);
    noSecret(out, 'config with env password');
  });

  it("reads the Datadog Agent's conf.yaml as it is (regression: 'is not valid JSON')", async () => {
    const yaml = writeFile(
      'conf.yaml',
      [
        '## All options defined here are available to all instances.',
        'init_config:',
        '',
        'instances:',
        '',
        '    ## @param name - string - required',
        '    #',
        `  - name: sock   # the socket`,
        `    socket: unix://${sockPath}`,
        '    host: http://127.0.0.1',
        '    tags:',
        '      - team:a',
        '',
        "  - name: 'tcp'",
        '    host: 127.0.0.1',
        `    port: ${tcpPort}`,
        '    proc_names: [worker, web]',
        '    status_mapping_override: {STOPPED: up}',
        '    timeout: 5',
        '',
        '## Log Section',
        'logs:',
        '  - type: file',
        '    path: /var/log/supervisor/*.log',
        '',
      ].join('\n'),
    );
    const out = await cli(['--config', yaml]);
    assert.equal(out.stderr, '');
    const parsed = JSON.parse(out.stdout) as { results: Array<CheckResult & { instance: string }> };
    assert.deepEqual(parsed.results.map((r) => r.instance), ['sock', 'tcp']);
    assert.deepEqual(parsed.results[0]!.serviceChecks[0]!.tags, ['team:a', 'supervisord_server:sock']);
    assert.deepEqual(parsed.results[1]!.processes?.map((p) => p.name), ['worker', 'web']);
    const json = await cli(['--config', config]);
    assert.deepEqual(
      (JSON.parse(json.stdout) as { results: CheckResult[] }).results[0]!.metrics.map((m) => m.name),
      parsed.results[0]!.metrics.map((m) => m.name),
      'the same instance as in JSON',
    );
  });

  it('warns when a config file holding a password can be read by other users, as for --password-file', async () => {
    const text = `instances:\n  - name: a\n    host: 127.0.0.1\n    port: ${authPort}\n    username: admin\n    password: ${SENTINEL}\n`;
    const open = writeFile('open.yaml', text, 0o640);
    const warned = await cli(['--config', open]);
    assert.equal(warned.code, 0, warned.stdout);
    assert.equal(warned.stderr, `supervisord-check: warning: --config ${open} holds a password and can be read by other users (chmod 600 it)\n`);
    noSecret(warned, 'open config file');
    const closed = await cli(['--config', writeFile('closed.yaml', text)]);
    assert.equal(closed.stderr, '');
    const noPassword = await cli(['--config', writeFile('nopw.yaml', `instances:\n  - name: a\n    socket: unix://${sockPath}\n`, 0o644)]);
    assert.equal(noPassword.stderr, '', 'no password in it: nothing to say');
  });

  const bad: Array<{ file: () => string; message: (path: string) => string; why: string }> = [
    { file: () => join(dir, 'absent.json'), message: (p) => `cannot read --config ${p}: ENOENT: no such file or directory`, why: 'missing file' },
    { file: () => writeFile('bad.json', `{"instances": [{"name": "x", "password": "${SENTINEL}",}]}`), message: (p) => `--config ${p} is not valid JSON`, why: 'invalid JSON holding a password' },
    { file: () => writeFile('array.json', '[]'), message: (p) => `--config ${p} must hold a JSON object {"instances": [{...}, ...]}`, why: 'not an object' },
    { file: () => writeFile('extra.json', '{"instances": [{}], "instance": 1}'), message: (p) => `--config ${p} must hold a JSON object {"instances": [{...}, ...]}: unknown key "instance"`, why: 'unknown key' },
    {
      file: () => writeFile('bad.yaml', `instances:\n  - name: x\n    password: "${SENTINEL}\n`),
      message: (p) => `--config ${p}: line 3, column 15: a double-quoted value is not closed on its line (values on several lines are not supported)`,
      why: 'YAML outside the subset: line and column, never the text (it may be a password)',
    },
    {
      file: () => writeFile('list.yaml', '- name: x\n'),
      message: (p) => `--config ${p} must hold a YAML mapping with 'instances:', a list of instances (as the Datadog Agent's conf.yaml)`,
      why: 'YAML that is not a mapping',
    },
    {
      file: () => writeFile('none.yaml', 'init_config:\n\ninstances:\n'),
      message: (p) => `--config ${p} must hold a YAML mapping with 'instances:', a list of instances (as the Datadog Agent's conf.yaml): "instances" must be a non-empty list`,
      why: 'YAML without instances',
    },
    { file: () => writeFile('empty.json', '{"instances": []}'), message: (p) => `--config ${p} must hold a JSON object {"instances": [{...}, ...]}: "instances" must be a non-empty list`, why: 'no instances' },
    {
      file: () => writeFile('noname.json', `{"instances": [{"name": "ok", "host": "h"}, {"host": "h", "password": "${SENTINEL}"}]}`),
      message: (p) => `--config ${p}: instance 2: Supervisor server name not specified in yaml configuration.`,
      why: "the reference's message, with the instance's position",
    },
    {
      file: () => writeFile('dup.json', '{"instances": [{"name": "prod", "host": "a"}, {"name": "other", "host": "b"}, {"name": "prod", "host": "c"}]}'),
      message: (p) => `--config ${p}: instance 3: the name "prod" is already that of instance 1: names must be unique`,
      why: 'two instances with one name (their series would merge)',
    },
    {
      file: () => writeFile('scalar.json', '{"instances": [5]}'),
      message: (p) => `--config ${p}: instance 1: the instance configuration should be a dictionary, got 5`,
      why: 'an instance that is not an object',
    },
  ];
  for (const c of bad) {
    it(`exits 2 with one line: ${c.why}`, async () => {
      const path = c.file();
      const out = await cli(['--config', path]);
      assert.deepEqual(out, { code: 2, stdout: '', stderr: `supervisord-check: ${c.message(path)}\n` });
    });
  }
});

// ---------------------------------------------------------------------------
// Default target
// ---------------------------------------------------------------------------

describe('default target discovery', () => {
  it('uses the first existing default socket, and says so on stderr only', async () => {
    const out = await cli(['--format', 'json'], {}, { defaultSockets: [join(dir, 'none-1.sock'), sockPath, join(dir, 'none-2.sock')] });
    assert.equal(out.stderr, `supervisord-check: using unix://${sockPath} (first existing default socket)\n`);
    assert.equal(out.code, 2);
    assert.equal((JSON.parse(out.stdout) as CheckResult).serviceChecks[0]!.status, 0);
  });

  it('prefers SUPERVISOR_SERVER_URL', async () => {
    const out = await cli(['--format', 'prometheus'], { SUPERVISOR_SERVER_URL: `http://127.0.0.1:${tcpPort}` }, { defaultSockets: [sockPath] });
    assert.equal(out.stderr, `supervisord-check: using http://127.0.0.1:${tcpPort} (from SUPERVISOR_SERVER_URL)\n`);
    assert.equal(out.code, 0);
    assert.match(out.stdout, new RegExp(`^supervisord_up\\{supervisord_server="127\\.0\\.0\\.1:${tcpPort}"\\} 1$`, 'm'));
  });

  it('accepts credentials in SUPERVISOR_SERVER_URL (the environment is private) and never prints them', async () => {
    const out = await cli(['--format', 'text'], { SUPERVISOR_SERVER_URL: `http://admin:${SENTINEL}@127.0.0.1:${authPort}` });
    assert.equal(out.code, 0, out.stdout);
    assert.equal(out.stderr, `supervisord-check: using http://127.0.0.1:${authPort} (from SUPERVISOR_SERVER_URL)\n`);
    noSecret(out, 'SUPERVISOR_SERVER_URL');
  });

  it('refuses a bad SUPERVISOR_SERVER_URL', async () => {
    const out = await cli([], { SUPERVISOR_SERVER_URL: 'ftp://h' });
    assert.deepEqual(out, {
      code: 2,
      stdout: '',
      stderr: 'supervisord-check: SUPERVISOR_SERVER_URL: address "ftp://h" has unknown scheme ftp: expected unix, http or https\n',
    });
  });

  it('falls back to http://localhost:9001', async () => {
    const none = join(dir, 'none.sock');
    const out = await cli(['--format', 'json', '--timeout', '2s'], {}, { defaultSockets: [none] });
    assert.equal(out.stderr.split('\n')[0], `supervisord-check: using http://localhost:9001 (no socket at ${none})`);
    assert.match((JSON.parse(out.stdout) as CheckResult).serviceChecks[0]?.tags.at(-1) ?? '', /^supervisord_server:localhost:9001$/);
  });

  it('says nothing when the server is named', async () => {
    for (const argv of [['--socket', sockPath], ['--url', `unix://${sockPath}`], ['--port', String(tcpPort), '--host', '127.0.0.1']]) {
      const out = await cli([...argv, '--format', 'json'], {}, { defaultSockets: [sockPath] });
      assert.equal(out.stderr, '', argv.join(' '));
    }
  });
});

// ---------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------

describe('passwords', () => {
  const FORMATS = ['text', 'json', 'prometheus', 'dogstatsd'];

  it('authenticates with SUPERVISORD_PASSWORD and never prints it, in every format', async () => {
    for (const format of FORMATS) {
      const out = await cli(['--host', '127.0.0.1', '--port', String(authPort), '--username', 'admin', '--format', format], { SUPERVISORD_PASSWORD: SENTINEL });
      assert.equal(out.code, 0, `${format}: ${out.stdout}${out.stderr}`);
      noSecret(out, format);
    }
  });

  it('authenticates with --password-file (first line only), and warns when others can read it', async () => {
    const file = writeFile('pw', `${SENTINEL}\r\nsecond line\n`);
    const out = await cli(['--url', `http://admin@127.0.0.1:${authPort}`, '--password-file', file, '--format', 'json'], { SUPERVISORD_PASSWORD: 'ignored' });
    assert.equal(out.code, 0, out.stdout);
    assert.equal(out.stderr, '');
    noSecret(out, 'password file');
    const open = writeFile('pw-open', `${SENTINEL}\n`, 0o644);
    const warned = await cli(['--host', '127.0.0.1', '--port', String(authPort), '--username', 'admin', '--password-file', open, '--format', 'json']);
    assert.equal(warned.code, 0);
    assert.equal(warned.stderr, `supervisord-check: warning: --password-file ${open} can be read by other users (chmod 600 it)\n`);
    noSecret(warned, 'open password file');
  });

  it('a wrong password fails with the reference message and is never printed, in every format', async () => {
    const file = writeFile('pw-wrong', `${SENTINEL}\n`);
    for (const format of FORMATS) {
      for (const source of [{ argv: ['--password-file', file], env: {} }, { argv: [], env: { SUPERVISORD_PASSWORD: SENTINEL } }]) {
        const out = await cli(['--host', '127.0.0.1', '--port', String(otherAuthPort), '--username', 'admin', '--format', format, ...source.argv], source.env);
        assert.equal(out.code, 2, format);
        assert.ok(`${out.stdout}${out.stderr}`.includes(`Username or password to 127.0.0.1:${otherAuthPort} are incorrect.`), `${format}: ${out.stdout}${out.stderr}`);
        noSecret(out, `wrong password, ${format}`);
      }
    }
  });

  it('refuses the password on the command line, without echoing it', async () => {
    for (const argv of [['--password', SENTINEL], [`--password=${SENTINEL}`], ['--url', `http://admin:${SENTINEL}@127.0.0.1:${authPort}`]]) {
      const out = await cli(argv);
      assert.equal(out.code, 2);
      assert.match(out.stderr, /^supervisord-check: (--url must not contain a password: )?(--password is not accepted: )?a password on the command line is visible|^supervisord-check: --password is not accepted/);
      assert.equal(out.stderr.split('\n').length, 2, 'one line');
      noSecret(out, argv.join(' ').replace(SENTINEL, 'SECRET'));
    }
  });

  it('refuses unusable password files', async () => {
    const empty = writeFile('pw-empty', '\nsecond');
    const cases: Array<[string[], string]> = [
      [['--host', 'h', '--username', 'u', '--password-file', join(dir, 'absent')], `cannot read --password-file ${join(dir, 'absent')}: ENOENT: no such file or directory`],
      [['--host', 'h', '--username', 'u', '--password-file', empty], `--password-file ${empty} is empty (the password is its first line)`],
      [['--host', 'h', '--password-file', writeFile('pw-nouser', SENTINEL)], '--password-file needs --username (or a user in --url)'],
    ];
    for (const [argv, message] of cases) {
      assert.deepEqual(await cli(argv), { code: 2, stdout: '', stderr: `supervisord-check: ${message}\n` });
    }
  });

  it('does not send an ambient SUPERVISORD_PASSWORD without a user (no warning, no auth)', async () => {
    const out = await cli(['--url', tcpEmu.url, '--format', 'json'], { SUPERVISORD_PASSWORD: SENTINEL });
    assert.equal(out.code, 0);
    assert.deepEqual((JSON.parse(out.stdout) as CheckResult).warnings, []);
  });
});

// ---------------------------------------------------------------------------
// --serve
// ---------------------------------------------------------------------------

describe('--serve (in process)', () => {
  let slow: Server;
  let slowPath: string;
  before(async () => {
    // A proxy that holds each request 150 ms, so that two scrapes surely overlap.
    slowPath = join(dir, 'slow.sock');
    slow = createServer((client) => {
      const upstream = connect(sockPath);
      client.on('data', (d) => setTimeout(() => upstream.write(d), 150));
      upstream.on('data', (d) => client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise<void>((resolve) => slow.listen(slowPath, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => slow.close(() => resolve()));
  });

  it('answers /metrics per scrape (--min-interval 0), coalesces overlapping scrapes, and stops cleanly', async (t) => {
    let port = 0;
    const argv = ['--socket', slowPath, '--serve', '127.0.0.1:0', '--name', 'served', '--min-interval', '0'];
    const { outcome, stopMs } = await serving(argv, async (p, stderr) => {
      port = p;
      assert.equal(stderr.text, `supervisord-check: serving http://127.0.0.1:${p}/metrics\n`);

      const before1 = calls(sockEmu);
      const first = await http(p, '/metrics');
      const second = await http(p, '/metrics?x=1');
      assert.equal(calls(sockEmu) - before1, 2, 'one run per scrape');
      for (const answer of [first, second]) {
        assert.equal(answer.status, 200);
        assert.equal(answer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
        const families = await promChecked(answer.body, t);
        assert.deepEqual(samples(families, 'supervisord_up'), [[{ supervisord_server: 'served' }, 1]]);
      }

      const before2 = calls(sockEmu);
      const [a, b] = await Promise.all([http(p, '/metrics'), http(p, '/metrics')]);
      assert.equal(calls(sockEmu) - before2, 1, 'two overlapping scrapes share one run');
      assert.equal(a.body, b.body);

      const head = await http(p, '/metrics', {}, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(Number(head.headers['content-length']) > 100, true);

      const root = await http(p, '/');
      assert.equal(root.status, 200);
      assert.match(root.headers['content-type'] ?? '', /^text\/html/);
      assert.match(root.body, /<a href="\/metrics">/);
      const missing = await http(p, '/metricz');
      assert.deepEqual([missing.status, missing.body], [404, 'Not found: the metrics are at /metrics and /probe?target=...&module=...\n']);
      const post = await http(p, '/metrics', {}, 'POST');
      assert.deepEqual([post.status, post.headers['allow']], [405, 'GET, HEAD']);

      // A failing server: supervisord_up 0, the error said once on stderr, then its end.
      sockEmu.setFault('supervisor.getAllProcessInfo', { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
      try {
        for (let i = 0; i < 2; i++) {
          const down = await http(p, '/metrics');
          assert.equal(down.status, 200);
          assert.match(down.body, /^supervisord_up\{supervisord_server="served"\} 0$/m);
        }
      } finally {
        sockEmu.setFault('supervisor.getAllProcessInfo', null);
      }
      assert.match((await http(p, '/metrics')).body, /^supervisord_up\{supervisord_server="served"\} 1$/m);
      assert.deepEqual(stderr.text.split('\n').slice(1), [
        'supervisord-check: served: An error occurred while reading process information: 1 UNKNOWN_METHOD',
        'supervisord-check: served: the check works again',
        '',
      ]);
    });
    assert.equal(outcome.code, 0);
    assert.ok(stopMs < 1000, `stopped in ${stopMs} ms`);
    await assert.rejects(http(port, '/metrics'), { code: 'ECONNREFUSED' });
  });

  it('stops within a second even during a scrape, and exits 2 when it cannot listen', async () => {
    let scrape: Promise<unknown> = Promise.resolve();
    const { outcome, stopMs } = await serving(['--socket', slowPath, '--serve', '127.0.0.1:0'], async (p) => {
      scrape = http(p, '/metrics').catch((e: Error) => e);
      await new Promise((resolve) => setTimeout(resolve, 30));
    });
    assert.equal(outcome.code, 0);
    assert.ok(stopMs < 1000, `stopped in ${stopMs} ms`);
    await scrape;

    const busy = await cli(['--url', tcpEmu.url, '--serve', `127.0.0.1:${tcpPort}`]);
    assert.deepEqual(busy, {
      code: 2,
      stdout: '',
      stderr: `supervisord-check: cannot listen on 127.0.0.1:${tcpPort}: listen EADDRINUSE: address already in use 127.0.0.1:${tcpPort}\n`,
    });
  });
});

// ---------------------------------------------------------------------------
// --interval and --dogstatsd, in process
// ---------------------------------------------------------------------------

describe('--interval and --dogstatsd (in process)', () => {
  it('--interval repeats until stopped: JSON Lines, text with a time header, blank-separated expositions', async (t) => {
    const expectations: Array<{ format: string; runs: (text: string) => string[] }> = [
      { format: 'json', runs: (text) => text.split('\n').filter((l) => l !== '') },
      { format: 'text', runs: (text) => text.split(/^--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ---\n/m).slice(1) },
      { format: 'prometheus', runs: (text) => text.split('\n\n') },
    ];
    for (const e of expectations) {
      const controller = new AbortController();
      const stdout = new Capture(false, (text) => {
        if (e.runs(text).length >= 2 && text.endsWith('\n')) controller.abort();
      });
      const timer = setTimeout(() => controller.abort(), 5000); // a failure must not hang the file
      const out = await cli(['--url', tcpEmu.url, '--interval', '100ms', '--format', e.format], {}, { stdout, signal: controller.signal });
      clearTimeout(timer);
      assert.equal(out.code, 0);
      const runs = e.runs(out.stdout);
      assert.equal(runs.length, 2, `${e.format}: ${out.stdout}`);
      for (const run of runs) {
        if (e.format === 'json') assert.equal(processChecks(JSON.parse(run) as CheckResult), 2);
        if (e.format === 'text') assert.match(run, /^2 processes: 2 up/m);
        if (e.format === 'prometheus') await promChecked(run.endsWith('\n') ? run : `${run}\n`, t);
      }
    }
  });

  it('an already aborted signal stops before the first run', async () => {
    const controller = new AbortController();
    controller.abort();
    const before1 = calls(tcpEmu);
    const out = await cli(['--url', tcpEmu.url, '--interval', '1s'], {}, { signal: controller.signal });
    assert.deepEqual([out.code, out.stdout], [0, '']);
    assert.equal(calls(tcpEmu), before1);
  });

  it('a stop during a run of more servers than run at once opens no connection after main() returns (regression)', async () => {
    let accepted = 0;
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hung.address() as AddressInfo).port;
      // 10 servers, 8 at a time: the 2 last would start once the first 8 are closed by the stop.
      const instances = Array.from({ length: 10 }, (_, i) => ({ name: `h${i}`, host: '127.0.0.1', port, timeout: 5 }));
      const config = writeFile('hung-10.json', JSON.stringify({ instances }));
      const controller = new AbortController();
      const waiting = (async () => {
        while (accepted < 8) await new Promise((resolve) => setTimeout(resolve, 5));
        controller.abort();
      })();
      const started = Date.now();
      const out = await cli(['--config', config, '--interval', '1s', '--format', 'json'], {}, { signal: controller.signal });
      await waiting;
      assert.equal(out.code, 0);
      assert.ok(Date.now() - started < 2000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(accepted, 8);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });

  it('--dogstatsd sends at start and every interval over UDP, packets of whole datagrams', async () => {
    const receiver: UdpSocket = createSocket('udp4');
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const port = receiver.address().port;
    const packets: string[] = [];
    const controller = new AbortController();
    receiver.on('message', (msg) => {
      packets.push(msg.toString('utf8'));
      if (packets.length === 2) controller.abort();
    });
    const timer = setTimeout(() => controller.abort(), 5000); // a failure must not hang the file
    try {
      const out = await cli(['--socket', sockPath, '--dogstatsd', `127.0.0.1:${port}`, '--interval', '100ms', '--tag', 'a,b|c:d'], {}, { signal: controller.signal });
      assert.equal(out.code, 0);
      assert.equal(out.stdout, '');
      assert.equal(out.stderr, `supervisord-check: sending DogStatsD datagrams to 127.0.0.1:${port} every 0.1s\n`);
      assert.equal(packets.length, 2);
      for (const packet of packets) {
        const lines = packet.split('\n').map(datagram);
        assert.ok(lines.length >= 10);
        assert.deepEqual(lines.find((d) => d.name === 'supervisord.can_connect'), {
          name: 'supervisord.can_connect',
          value: '0',
          type: 'sc',
          tags: ['a_b_c:d_1cc9eeff', `supervisord_server:${sockPath}`],
        });
        assert.ok(lines.some((d) => d.name === 'supervisord.process.count' && d.value === '1' && d.tags.includes('status:unknown')));
      }
    } finally {
      clearTimeout(timer);
      receiver.close();
    }
  });

  it('--dogstatsd reports a send failure once, not every interval', async () => {
    const controller = new AbortController();
    let runs = 0;
    const stderr = new Capture(false, () => {});
    const before1 = calls(tcpEmu);
    const started = Date.now();
    const poll = setInterval(() => {
      runs = calls(tcpEmu) - before1;
      if (runs >= 3 || Date.now() - started > 5000) controller.abort();
    }, 20);
    try {
      // A datagram longer than UDP allows (65,507 bytes over IPv4) fails every send with EMSGSIZE, without any network.
      const huge = `big:${'x'.repeat(70_000)}`;
      const out = await cli(['--url', tcpEmu.url, '--dogstatsd', '127.0.0.1:9', '--interval', '100ms', '--tag', huge], {}, { signal: controller.signal, stderr });
      assert.equal(out.code, 0);
      const sendErrors = out.stderr.split('\n').filter((l) => l.includes('cannot send to DogStatsD'));
      assert.equal(sendErrors.length, 1, out.stderr);
      assert.equal(sendErrors[0], 'supervisord-check: cannot send to DogStatsD: send EMSGSIZE 127.0.0.1:9');
      assert.ok(runs >= 3);
    } finally {
      clearInterval(poll);
    }
  });
});

// ---------------------------------------------------------------------------
// Child process: exit codes, every format, signals
// ---------------------------------------------------------------------------

describe('as a child process', () => {
  it('exits 0, 1, 2 and prints every format', async (t) => {
    const ok = await child(['--url', tcpEmu.url, '--format', 'text']);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^2 processes: 2 up, 0 down, 0 unknown/m);
    assert.equal(ok.stdout.includes('\x1b'), false, 'no colour on a pipe');

    const json = await child(['--socket', sockPath]);
    assert.equal(json.code, 2);
    assert.equal(processChecks(JSON.parse(json.stdout) as CheckResult), 3);

    const prom = await child(['--socket', sockPath, '--format', 'prometheus']);
    assert.equal(prom.code, 2);
    assert.deepEqual(samples(await promChecked(prom.stdout, t), 'supervisord_up'), [[{ supervisord_server: sockPath }, 1]]);

    const statsd = await child(['--socket', sockPath, '--format', 'dogstatsd']);
    assert.ok(statsd.stdout.trimEnd().split('\n').map(datagram).length >= 10);

    const unknown = await child(['--url', tcpEmu.url, '--proc-names', 'web', '--status-mapping', 'RUNNING=unknown']);
    assert.equal(unknown.code, 1);

    const bad = await child(['--port', 'x']);
    assert.deepEqual([bad.code, bad.stdout, bad.stderr], [2, '', 'supervisord-check: --port needs a port number from 1 to 65535, got "x"\n']);

    const version = await child(['--version']);
    assert.deepEqual([version.code, version.stdout], [0, `${packageVersion()}\n`]);
  });

  it('stops --interval when the reader of stdout goes away (| head)', async () => {
    const started = performance.now();
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const quoted = [process.execPath, CLI, '--url', tcpEmu.url, '--interval', '100ms', '--format', 'json'].map((a) => `'${a}'`).join(' ');
      // bash's PIPESTATUS gives the CLI's own exit code: 0 for a clean stop, not a crash on EPIPE.
      const proc = spawn('/bin/bash', ['-c', `${quoted} | head -n 1; exit \${PIPESTATUS[0]}`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      let stdout = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      // The whole process group: bash, the CLI and head.
      const killer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 10_000);
      proc.on('error', reject);
      proc.on('close', (code) => {
        clearTimeout(killer);
        resolve({ code, stdout });
      });
    });
    assert.equal(out.code, 0);
    assert.equal(processChecks(JSON.parse(out.stdout) as CheckResult), 2);
    assert.ok(performance.now() - started < 5000, 'the pipeline ended');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} ends --interval within a second with exit code 0`, async () => {
      const out = await child(['--socket', sockPath, '--interval', '15s', '--format', 'json'], {}, { when: (o) => o.stdout.endsWith('\n'), signal });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.signal, null);
      assert.ok(out.stopMs < 1000, `took ${out.stopMs} ms`);
      assert.equal(processChecks(JSON.parse(out.stdout) as CheckResult), 3);
    });
  }

  it('SIGTERM ends --serve within a second with exit code 0, after two scrapes', async (t) => {
    const bodies: string[] = [];
    const out = await child(['--socket', sockPath, '--serve', '127.0.0.1:0'], {}, {
      when: async (o) => {
        const m = /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(o.stderr);
        if (m === null || bodies.length > 0) return false;
        for (let i = 0; i < 2; i++) bodies.push((await http(Number(m[1]), '/metrics')).body);
        return true;
      },
      signal: 'SIGTERM',
    });
    assert.equal(out.code, 0, out.stderr);
    assert.ok(out.stopMs < 1000, `took ${out.stopMs} ms`);
    assert.equal(bodies.length, 2);
    for (const body of bodies) assert.deepEqual(samples(await promChecked(body, t), 'supervisord_up'), [[{ supervisord_server: sockPath }, 1]]);
  });

  it('SIGTERM ends --dogstatsd within a second with exit code 0', async () => {
    const receiver = createSocket('udp4');
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    let received = '';
    receiver.on('message', (m) => (received += m.toString('utf8')));
    try {
      const out = await child(['--url', tcpEmu.url, '--dogstatsd', `127.0.0.1:${receiver.address().port}`], {}, {
        when: async () => {
          for (let i = 0; i < 100 && received === ''; i++) await new Promise((r) => setTimeout(r, 20));
          return received !== '';
        },
        signal: 'SIGTERM',
      });
      assert.equal(out.code, 0, out.stderr);
      assert.ok(out.stopMs < 1000, `took ${out.stopMs} ms`);
      assert.match(received, /^supervisord\.process\.uptime:3725\|g\|#supervisord_server:127\.0\.0\.1:\d+,supervisord_process:web,supervisord_group:web$/m);
    } finally {
      receiver.close();
    }
  });
});

// ---------------------------------------------------------------------------
// A real supervisord
// ---------------------------------------------------------------------------

describe('against a real supervisord', () => {
  let sup: RunningSupervisord | undefined;
  let skip: string | undefined;
  before(async () => {
    if (findSupervisord() === null) {
      skip = 'supervisord is not installed (apt-get install supervisor)';
      return;
    }
    sup = await startSupervisord({ programs: zooPrograms(), username: 'admin', password: SENTINEL });
    await sup.waitFor(zooSettled);
  });
  after(async () => {
    await sup?.stop();
  });

  it('every format, over the socket (SUPERVISORD_PASSWORD) and TCP (--password-file)', async (t) => {
    if (sup === undefined) return t.skip(skip);
    const version = await supervisordVersion();
    const pwFile = writeFile('real-pw', `${SENTINEL}\n`);
    const targets: Array<{ argv: string[]; env: Record<string, string> }> = [
      { argv: ['--socket', sup.socketUrl!, '--username', 'admin', '--name', 'real'], env: { SUPERVISORD_PASSWORD: SENTINEL } },
      { argv: ['--url', sup.url!, '--username', 'admin', '--password-file', pwFile, '--name', 'real'], env: {} },
    ];
    for (const target of targets) {
      const json = await child([...target.argv, '--format', 'json'], target.env);
      assert.equal(json.code, 2, json.stderr); // broken FATAL, exiter EXITED, idle STOPPED
      const result = JSON.parse(json.stdout) as CheckResult;
      assert.equal(result.metadata.version?.raw, version);
      assert.deepEqual(result.errors, []);
      const statuses = Object.fromEntries(
        result.serviceChecks
          .filter((c) => c.name === 'supervisord.process.status')
          .map((c) => [c.tags.find((tag) => tag.startsWith('supervisord_process:'))!.slice(20), c.status]),
      );
      assert.deepEqual(statuses, { back: 0, broken: 2, café: 0, exiter: 2, front: 0, idle: 2, sleeper: 0 });

      const text = await child([...target.argv, '--format', 'text'], target.env);
      assert.match(text.stdout, /^broken +broken +FATAL +down +-$/m);
      assert.match(text.stdout, /^front +web +RUNNING +up +\d+s$/m);
      assert.match(text.stdout, new RegExp(`^7 processes: 4 up, 3 down, 0 unknown \u2014 supervisord ${version.replace(/\./g, '\\.')} at .* reachable$`, 'm'));

      const prom = await child([...target.argv, '--format', 'prometheus'], target.env);
      const families = await promChecked(prom.stdout, t);
      assert.deepEqual(samples(families, 'supervisord_up'), [[{ supervisord_server: 'real' }, 1]]);
      assert.deepEqual(samples(families, 'supervisord_version_info'), [[{ supervisord_server: 'real', version }, 1]]);
      assert.deepEqual(samples(families, 'supervisord_processes').map(([l, v]) => [l['status'], v]), [['down', 3], ['up', 4], ['unknown', 0]]);

      const statsd = await child([...target.argv, '--format', 'dogstatsd'], target.env);
      const lines = statsd.stdout.trimEnd().split('\n').map(datagram);
      assert.equal(lines.filter((d) => d.name === 'supervisord.process.status').length, 7);
      assert.ok(lines.some((d) => d.name === 'supervisord.process.status' && d.tags.includes('supervisord_process:café') && d.value === '0'));

      for (const out of [json, text, prom, statsd]) noSecret(out, `real supervisord ${target.argv[0]}`);
    }
  });

  it('a wrong password: exit 2, the reference message, the password never printed', async (t) => {
    if (sup === undefined) return t.skip(skip);
    const out = await child(['--socket', sup.socketUrl!, '--username', 'admin', '--format', 'text'], { SUPERVISORD_PASSWORD: `${SENTINEL}-wrong` });
    assert.equal(out.code, 2);
    assert.match(out.stdout, /^error: Username or password to .* are incorrect\.$/m);
    noSecret(out, 'wrong password on a real supervisord');
  });
});

// ---------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------

describe('demo', () => {
  it('runs the demo (emulator, one quick round) and returns its exit code', async () => {
    const stdout = new Capture();
    const out = await cli(['demo'], { PATH: process.env['PATH'] ?? '', SUPERVISORD_BIN: '', SUPERVISORD_CHECK_DEMO_ROUNDS: '1', SUPERVISORD_CHECK_DEMO_INTERVAL_MS: '100' }, { stdout });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /SupervisordCheck/);
  });
});
