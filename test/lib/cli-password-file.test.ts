/**
 * `--password-file` and `--config` that are not ordinary private files: a
 * FIFO is refused at once (reading it would wait for a writer forever), so
 * are a device, a socket and a directory; a `--config` over 1 MiB is refused
 * after reading at most that much; a file every user can write gets a
 * warning, and a `--config` holding a password (in `instances` or in the
 * `/probe` `modules`) that others can read gets one too.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { runCli as cli } from '../helpers/cli-run.js';

/** The arguments that make main() read `file` as `flag`. */
const READS: Readonly<Record<string, (file: string) => string[]>> = {
  '--password-file': (file) => ['--host', '127.0.0.1', '--port', '1', '--username', 'u', '--password-file', file],
  '--config': (file) => ['--config', file],
};

describe('--password-file and --config must be regular files, refused at once otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sv-pwfile-'));
  const socket = join(dir, 'file.sock');
  const server = createServer();
  before(() => new Promise<void>((resolve) => server.listen(socket, resolve)));
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const hasMkfifo = spawnSync('mkfifo', ['--version']).status === 0;
  for (const [flag, argv] of Object.entries(READS)) {
    // On the old code, reading the FIFO waited for a writer forever: the timeout turns that into a failure.
    it(`${flag}: a FIFO is refused at once, without waiting for a writer`, { timeout: 10_000, skip: hasMkfifo ? false : 'mkfifo is not available' }, async () => {
      const fifo = join(dir, `${flag.slice(2)}.fifo`);
      assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0);
      const out = await cli(argv(fifo));
      assert.equal(out.code, 2);
      assert.equal(out.stderr, `supervisord-check: ${flag} ${fifo} is a FIFO, not a regular file\n`);
    });

    // /dev/zero would be read without end (--config read about 600 MB of it before failing).
    const others: Array<[string, () => string]> = [
      ['a device', () => '/dev/zero'],
      ['a directory', () => dir],
      ['a socket', () => socket],
    ];
    for (const [what, file] of others) {
      it(`${flag}: ${what} is refused`, { timeout: 10_000 }, async () => {
        const rss = process.memoryUsage().rss;
        const out = await cli(argv(file()));
        assert.equal(out.code, 2);
        assert.equal(out.stderr, `supervisord-check: ${flag} ${file()} is ${what}, not a regular file\n`);
        assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'nothing large was read');
      });
    }
  }
});

describe('--password-file warnings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sv-pwfile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a file every user can write: a warning, and the password is used', async () => {
    const emu = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web' })], username: 'u', password: 'Pw-1' });
    try {
      const file = join(dir, 'pw-writable');
      writeFileSync(file, 'Pw-1\n');
      chmodSync(file, 0o602);
      const out = await cli(['--url', emu.url, '--username', 'u', '--password-file', file, '--format', 'json']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stderr, `supervisord-check: warning: --password-file ${file} can be written by every user (chmod 600 it)\n`);
      chmodSync(file, 0o600);
      const quiet = await cli(['--url', emu.url, '--username', 'u', '--password-file', file, '--format', 'json']);
      assert.equal(quiet.code, 0);
      assert.equal(quiet.stderr, '');
    } finally {
      await emu.close();
    }
  });
});

describe('--config: a size cap, and the warnings of --password-file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sv-config-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a file over 1 MiB is refused; one of exactly 1 MiB is read', async () => {
    const instance = 'instances:\n  - name: a\n    host: 127.0.0.1\n    port: 1\n';
    const exact = join(dir, 'exact.yaml');
    writeFileSync(exact, instance + '#'.repeat(1024 * 1024 - instance.length - 1) + '\n', { mode: 0o600 });
    const read = await cli(['--config', exact, '--format', 'json']);
    assert.equal(read.code, 2, 'read, and the server at port 1 is down');
    assert.match(read.stdout, /"results"/);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, instance + '#'.repeat(1024 * 1024 - instance.length) + '\n', { mode: 0o600 });
    const out = await cli(['--config', big]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `supervisord-check: --config ${big} is larger than 1 MiB, the most a configuration file may hold\n`);
    assert.equal(out.stdout, '');
  });

  it('a file of /proc (its size said to be 0) is read to its end', async () => {
    const out = await cli(['--config', '/proc/self/status']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /^supervisord-check: --config \/proc\/self\/status: line \d+, column \d+: /);
  });

  it('warns when a password in the /probe modules can be read by others, as one in the instances', async () => {
    const text = 'modules:\n  m:\n    allow: [10.0.0.0/8]\n    username: u\n    password: S3cret-module-pw\n';
    const file = join(dir, 'modules.yaml');
    writeFileSync(file, text);
    chmodSync(file, 0o644);
    // Without --serve the modules are refused, after the warning: the file was read.
    const out = await cli(['--config', file]);
    assert.equal(out.code, 2);
    assert.equal(
      out.stderr,
      `supervisord-check: warning: --config ${file} holds a password and can be read by other users (chmod 600 it)\n` +
        `supervisord-check: --config ${file}: "modules" serve /probe, which needs --serve\n`,
    );
    assert.ok(!out.stderr.includes('S3cret-module-pw'));
    chmodSync(file, 0o600);
    assert.equal((await cli(['--config', file])).stderr, `supervisord-check: --config ${file}: "modules" serve /probe, which needs --serve\n`);
    const noPassword = join(dir, 'modules-nopw.yaml');
    writeFileSync(noPassword, 'modules:\n  m:\n    allow: [10.0.0.0/8]\n', { mode: 0o644 });
    chmodSync(noPassword, 0o644);
    assert.equal((await cli(['--config', noPassword])).stderr, `supervisord-check: --config ${noPassword}: "modules" serve /probe, which needs --serve\n`);
  });

  it('warns when every user can write it (they could name their own servers)', async () => {
    const file = join(dir, 'writable.yaml');
    writeFileSync(file, 'instances:\n  - name: a\n    host: 127.0.0.1\n    port: 1\n');
    chmodSync(file, 0o666);
    const out = await cli(['--config', file, '--format', 'json']);
    assert.equal(out.stderr, `supervisord-check: warning: --config ${file} can be written by every user (chmod o-w it)\n`);
  });
});
