/**
 * supervisord behind a TLS proxy: the check's `url` and `tls_*` keys and the
 * CLI's `--url https://...`, `--tls-ca`, `--insecure`, `--tls-cert`/`--tls-key`
 * against a TLS-terminating proxy (`tls.createServer` piping to the
 * emulator), with certificates made at test time by `openssl`. Trusted CA,
 * untrusted certificate, host name mismatch, verification off, client
 * certificates, the configuration errors that need real key files, and the
 * can_connect messages of URL targets.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createServer } from 'node:tls';
import type { Server, TlsOptions } from 'node:tls';
import { inspect } from 'node:util';

import { CRITICAL, OK, SupervisordCheck } from '../../lib/check.js';
import { main } from '../../lib/cli/main.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { ConfigError } from '../../lib/errors.js';
import type { CheckResult, InstanceConfig } from '../../lib/types.js';

const INET = 'Make sure supervisor is running and XML-RPC inet interface is enabled.';
const SOCKET = 'Make sure supervisor is running and socket is enabled and socket file has the right permissions.';

// ---------------------------------------------------------------------------
// Fixtures: certificates, the emulator, TLS proxies
// ---------------------------------------------------------------------------

interface Pem {
  cert: string;
  key: string;
}

const dir = mkdtempSync(join(tmpdir(), 'https-test-'));
/** Why the TLS cases cannot run (no openssl), or undefined. */
let skipReason: string | undefined;
/** CN=localhost, SAN IP:127.0.0.1 and DNS:localhost. */
let main127: Pem;
/** CN=elsewhere, SAN DNS:elsewhere.invalid only: trusted as a CA, wrong for 127.0.0.1. */
let elsewhere: Pem;

let emulator: SupervisordEmulator;
const proxies: Server[] = [];
const sockets = new Set<Socket>();
/** Proxy ports: the main certificate; the `elsewhere` certificate; the main one asking for a client certificate. */
let mainPort = 0;
let elsewherePort = 0;
let mtlsPort = 0;

function makeCertificate(name: string, subject: string, san: string): Pem {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const run = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', subject, '-addext', `subjectAltName=${san}`],
    { encoding: 'utf8' },
  );
  if (run.error !== undefined) throw new Error(`openssl cannot run: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`openssl req failed (${run.status}): ${run.stderr}`);
  return { cert, key };
}

/** A TLS-terminating proxy on 127.0.0.1 port 0 that pipes every connection to the emulator. */
async function startProxy(options: TlsOptions, upstreamPort: number): Promise<number> {
  const server = createServer(options, (client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {}); // the other side's close ends both
    }
    client.pipe(upstream).pipe(client);
  });
  // Handshake failures (the client refusing our certificate) are what several cases test.
  server.on('tlsClientError', () => {});
  proxies.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

before(async () => {
  emulator = await SupervisordEmulator.start({
    listen: { port: 0 },
    processes: [makeProcess({ name: 'web' }), makeProcess({ name: 'worker', group: 'jobs' })],
  });
  try {
    main127 = makeCertificate('main', '/CN=localhost', 'IP:127.0.0.1,DNS:localhost');
    elsewhere = makeCertificate('elsewhere', '/CN=elsewhere', 'DNS:elsewhere.invalid');
  } catch (error) {
    skipReason = (error as Error).message;
    return;
  }
  const upstream = Number(new URL(emulator.url).port);
  const pem = (p: Pem): TlsOptions => ({ cert: readFileSync(p.cert), key: readFileSync(p.key) });
  mainPort = await startProxy(pem(main127), upstream);
  elsewherePort = await startProxy(pem(elsewhere), upstream);
  mtlsPort = await startProxy({ ...pem(main127), requestCert: true, rejectUnauthorized: true, ca: readFileSync(main127.cert) }, upstream);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(proxies.map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

/** False (with the reason printed) when the certificates could not be made. */
function ready(t: TestContext): boolean {
  if (skipReason === undefined) return true;
  t.skip(`openssl is needed to make the test certificates: ${skipReason}`);
  return false;
}

/** Runs a check once and closes it. */
async function runOnce(instance: Record<string, unknown>): Promise<CheckResult> {
  const check = new SupervisordCheck(instance as unknown as InstanceConfig);
  try {
    return await check.run();
  } finally {
    await check.close();
  }
}

function canConnect(result: CheckResult): { status: number; message?: string } {
  const sc = result.serviceChecks.find((c) => c.name === 'supervisord.can_connect');
  assert.ok(sc !== undefined, 'no supervisord.can_connect');
  return sc.message === undefined ? { status: sc.status } : { status: sc.status, message: sc.message };
}

function assertOk(result: CheckResult): void {
  assert.deepEqual(result.errors, []);
  assert.deepEqual(canConnect(result), { status: OK });
  assert.deepEqual(
    result.processes?.map((p) => [p.group, p.name, p.statename]),
    [['jobs', 'worker', 'RUNNING'], ['web', 'web', 'RUNNING']],
  );
}

/** A CRITICAL can_connect whose message is also the run's only error. */
function assertCannotConnect(result: CheckResult, message: string): void {
  assert.deepEqual(canConnect(result), { status: CRITICAL, message });
  assert.deepEqual(result.errors, [message]);
}

// ---------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------

describe('check: https url through a TLS proxy', () => {
  it('trusts the server with tls_ca: OK with the emulator processes, twice on one connection', async (t) => {
    if (!ready(t)) return;
    const check = new SupervisordCheck({ name: 'tls', url: `https://127.0.0.1:${mainPort}/RPC2`, tls_ca: main127.cert });
    try {
      assert.equal(check.config.target, `https://127.0.0.1:${mainPort}`);
      const first = await check.run();
      assertOk(first);
      assert.deepEqual(first.warnings, []);
      const before = sockets.size;
      assertOk(await check.run());
      assert.equal(sockets.size, before, 'the second run opened a new connection');
    } finally {
      await check.close();
    }
  });

  it('without tls_ca: can_connect CRITICAL with the reference wording, the certificate reason in a warning', async (t) => {
    if (!ready(t)) return;
    const result = await runOnce({ name: 'tls', url: `https://127.0.0.1:${mainPort}/RPC2` });
    assertCannotConnect(result, `Cannot connect to https://127.0.0.1:${mainPort}. ${INET}`);
    assert.deepEqual(result.warnings, [
      `tls handshake with https://127.0.0.1:${mainPort}/RPC2 failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); ` +
        "set 'tls_ca' to the CA certificate (PEM) that signed the server's certificate, or 'tls_verify: false' to skip the check",
    ]);
  });

  it('a trusted certificate that does not name the host: CRITICAL, the mismatch in a warning', async (t) => {
    if (!ready(t)) return;
    const result = await runOnce({ name: 'tls', url: `https://127.0.0.1:${elsewherePort}`, tls_ca: elsewhere.cert });
    assertCannotConnect(result, `Cannot connect to https://127.0.0.1:${elsewherePort}. ${INET}`);
    assert.equal(result.warnings.length, 1);
    const [warning] = result.warnings;
    assert.ok(warning!.includes('ERR_TLS_CERT_ALTNAME_INVALID'), warning);
    assert.ok(warning!.includes("IP: 127.0.0.1 is not in the cert's list"), warning);
    assert.ok(warning!.endsWith(`; check that 'tls_ca' (${elsewhere.cert}) signed the server's certificate and that the certificate names the host of 'url'`), warning);
  });

  it('tls_verify: false accepts any certificate', async (t) => {
    if (!ready(t)) return;
    assertOk(await runOnce({ name: 'tls', url: `https://127.0.0.1:${elsewherePort}/`, tls_verify: false }));
    const unused = await runOnce({ name: 'tls', url: `https://127.0.0.1:${mainPort}`, tls_verify: false, tls_ca: elsewhere.cert });
    assertOk(unused);
    assert.deepEqual(unused.warnings, ["'tls_ca' is not used: 'tls_verify' is false, so the server certificate is not checked"]);
  });

  it('a server that never completes the handshake: connect timeout, reported as can_connect CRITICAL', async (t) => {
    if (!ready(t)) return;
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const result = await runOnce({ name: 'tls', url: `https://127.0.0.1:${port}`, tls_ca: main127.cert, connect_timeout: 0.2 });
      assertCannotConnect(result, `Cannot connect to https://127.0.0.1:${port}. ${INET}`);
      assert.deepEqual(result.warnings, [
        `connecting to https://127.0.0.1:${port}/RPC2 timed out after 200 ms: raise 'connect_timeout' if the server is slow to accept connections`,
      ]);
    } finally {
      for (const s of sockets) if (s.localPort === port) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('the wrong CA is not trusted', async (t) => {
    if (!ready(t)) return;
    const result = await runOnce({ name: 'tls', url: `https://127.0.0.1:${mainPort}`, tls_ca: elsewhere.cert });
    assertCannotConnect(result, `Cannot connect to https://127.0.0.1:${mainPort}. ${INET}`);
    assert.match(result.warnings[0] ?? '', /failed: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\); check that 'tls_ca'/);
  });

  it('a proxy that asks for a client certificate: OK with tls_cert/tls_key, CRITICAL without', async (t) => {
    if (!ready(t)) return;
    const url = `https://127.0.0.1:${mtlsPort}/RPC2`;
    assertOk(await runOnce({ name: 'mtls', url, tls_ca: main127.cert, tls_cert: main127.cert, tls_key: main127.key }));
    const refused = await runOnce({ name: 'mtls', url, tls_ca: main127.cert });
    assertCannotConnect(refused, `Cannot connect to https://127.0.0.1:${mtlsPort}. ${INET}`);
    // TLS 1.3: the server's alert comes as a failed first read, not as a handshake failure.
    assert.deepEqual(refused.warnings, [
      `connection to ${url} failed with ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED before any response byte; ` +
        "the server asks for a client certificate: set 'tls_cert' and 'tls_key'",
    ]);
  });

  it('the private key is in no printable form of the check or its configuration', (t) => {
    if (!ready(t)) return;
    const keyLine = readFileSync(main127.key, 'utf8').split('\n')[1]!;
    const instance = { name: 'mtls', url: `https://127.0.0.1:${mtlsPort}`, tls_ca: main127.cert, tls_cert: main127.cert, tls_key: main127.key };
    const resolution = resolveConfig(instance);
    const check = new SupervisordCheck(instance);
    for (const text of [JSON.stringify(resolution), inspect(resolution, { depth: 10, showHidden: true }), JSON.stringify(check), inspect(check, { depth: 10 })]) {
      assert.ok(!text.includes(keyLine), 'the private key was printed');
    }
    assert.deepEqual(check.config.tls, { verify: true, ca: main127.cert, cert: main127.cert, key: main127.key });
  });
});

describe('check: configuration errors that need real key files', () => {
  const https = { name: 'n', url: 'https://127.0.0.1:1' };
  it('refuses a key that does not belong to the certificate, a key file as tls_ca, a certificate as tls_key', (t) => {
    if (!ready(t)) return;
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [
        { ...https, tls_cert: main127.cert, tls_key: elsewhere.key },
        'tls_key',
        new RegExp(`^'tls_key' file '${escape(elsewhere.key)}' cannot be used with 'tls_cert' file '${escape(main127.cert)}': .*key values mismatch$`),
      ],
      [{ ...https, tls_ca: main127.key }, 'tls_ca', new RegExp(`^'tls_ca' file '${escape(main127.key)}' holds no PEM certificate \\(-----BEGIN CERTIFICATE-----\\)$`)],
      [
        { ...https, tls_cert: main127.cert, tls_key: main127.cert },
        'tls_key',
        new RegExp(`^'tls_key' file '${escape(main127.cert)}' cannot be used with 'tls_cert' file '${escape(main127.cert)}': .+`),
      ],
    ];
    for (const [instance, key, message] of cases) {
      assert.throws(
        () => new SupervisordCheck(instance as unknown as InstanceConfig),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.code, 'ERR_CONFIG');
          assert.equal(error.key, key);
          assert.match(error.message, message);
          assert.ok(!error.message.includes('PRIVATE KEY'), 'key material in the message');
          return true;
        },
      );
    }
  });
});

describe('check: can_connect messages of url targets', () => {
  it('unix url: the socket wording with the URL as configured, the OS reason in a warning', async () => {
    const path = join(dir, 'missing.sock');
    const result = await runOnce({ name: 'u', url: `unix://${path}` });
    assertCannotConnect(result, `Cannot connect to unix://${path}. ${SOCKET}`);
    assert.deepEqual(result.warnings, [`connect ENOENT ${path} (unix://${path}): the socket file does not exist (is supervisord running? is this its socket?)`]);
  });

  it('http url: the inet wording with the scheme, host and port', async () => {
    // A port that was just free: nothing listens there.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await runOnce({ name: 'h', url: `http://127.0.0.1:${port}/RPC2` });
    assertCannotConnect(result, `Cannot connect to http://127.0.0.1:${port}. ${INET}`);
    assert.deepEqual(result.warnings, [
      `connect ECONNREFUSED 127.0.0.1:${port} (http://127.0.0.1:${port}/RPC2): connection refused (is supervisord running? is this its address?)`,
    ]);
  });

  it('http url straight to the emulator: the path is used, / meaning /RPC2; an HTTP error adds no warning', async () => {
    assertOk(await runOnce({ name: 'h', url: emulator.url }));
    assertOk(await runOnce({ name: 'h', url: emulator.url.replace('/RPC2', '/') }));
    const wrongPath = await runOnce({ name: 'h', url: emulator.url.replace('/RPC2', '/nothing') });
    assertCannotConnect(wrongPath, 'An error occurred while connecting to h: 400 Bad Request');
    assert.deepEqual(wrongPath.warnings, []);
  });

  it('host/port and socket configurations keep the reference message, with the OS reason in a warning as for url', async () => {
    const path = join(dir, 'missing.sock');
    const result = await runOnce({ name: 's', socket: `unix://${path}` });
    assertCannotConnect(result, `Cannot connect to unix://${path}. ${SOCKET}`);
    assert.deepEqual(result.warnings, [`connect ENOENT ${path} (unix://${path}): the socket file does not exist (is supervisord running? is this its socket?)`]);
  });
});

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

class Capture extends Writable {
  text = '';
  readonly isTTY = false;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, env, { stdout, stderr, defaultSockets: [] });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('CLI: https', () => {
  it('--url https://... --tls-ca: JSON with can_connect OK, exit 0', async (t) => {
    if (!ready(t)) return;
    const out = await cli(['--url', `https://127.0.0.1:${mainPort}/RPC2`, '--tls-ca', main127.cert, '--format', 'json']);
    assert.equal(out.stderr, '');
    assert.equal(out.code, 0, out.stdout);
    const result = JSON.parse(out.stdout) as CheckResult;
    assertOk(result);
    assert.deepEqual(canConnect(result), { status: OK });
    assert.ok(result.serviceChecks[0]!.tags.includes(`supervisord_server:127.0.0.1:${mainPort}`));
  });

  it('without --tls-ca: exit 2, the reason in the JSON warnings', async (t) => {
    if (!ready(t)) return;
    const out = await cli(['--url', `https://127.0.0.1:${mainPort}`, '--format', 'json']);
    assert.equal(out.code, 2);
    const result = JSON.parse(out.stdout) as CheckResult;
    assertCannotConnect(result, `Cannot connect to https://127.0.0.1:${mainPort}. ${INET}`);
    assert.match(result.warnings[0] ?? '', /self-signed certificate/);
  });

  it('--insecure and client certificates', async (t) => {
    if (!ready(t)) return;
    const insecure = await cli(['--url', `https://127.0.0.1:${elsewherePort}`, '--insecure', '--format', 'json']);
    assert.equal(insecure.code, 0, insecure.stdout);
    assertOk(JSON.parse(insecure.stdout) as CheckResult);
    const mtls = await cli([
      '--url', `https://127.0.0.1:${mtlsPort}`, '--tls-ca', main127.cert, '--tls-cert', main127.cert, '--tls-key', main127.key, '--format', 'json',
    ]);
    assert.equal(mtls.code, 0, mtls.stdout);
    assertOk(JSON.parse(mtls.stdout) as CheckResult);
  });

  it('SUPERVISOR_SERVER_URL https with --tls-ca', async (t) => {
    if (!ready(t)) return;
    const out = await cli(['--tls-ca', main127.cert, '--format', 'json'], { SUPERVISOR_SERVER_URL: `https://127.0.0.1:${mainPort}` });
    assert.equal(out.stderr, `supervisord-check: using https://127.0.0.1:${mainPort} (from SUPERVISOR_SERVER_URL)\n`);
    assert.equal(out.code, 0, out.stdout);
    assertOk(JSON.parse(out.stdout) as CheckResult);
  });

  it('bad TLS flags: one line naming the problem, exit 2', async (t) => {
    if (!ready(t)) return;
    const missing = join(dir, 'nope.pem');
    const cases: Array<[string[], Record<string, string>, string]> = [
      [['--url', `https://127.0.0.1:${mainPort}`, '--tls-ca', missing], {}, `'tls_ca' file '${missing}' cannot be read: no such file`],
      [['--url', 'http://127.0.0.1:1', '--insecure'], {}, '--insecure applies only to an https server (--url https://...), not to http://127.0.0.1:1'],
      [['--tls-ca', main127.cert], { SUPERVISOR_SERVER_URL: 'unix:///run/s.sock' }, '--tls-ca applies only to an https server (--url https://...), not to unix:///run/s.sock'],
      [['--tls-ca', main127.cert], {}, '--tls-ca applies only to an https server (--url https://...), not to http://localhost:9001'],
    ];
    for (const [argv, env, message] of cases) {
      const out = await cli(argv, env);
      assert.equal(out.code, 2, message);
      assert.equal(out.stdout, '');
      assert.equal(out.stderr.split('\n').filter((l) => l !== '').at(-1), `supervisord-check: ${message}`);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
