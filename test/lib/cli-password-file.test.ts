/**
 * `--password-file` that is not an ordinary private file: a FIFO is refused
 * at once (reading it would wait for a writer forever), so are a device and
 * a directory; a file every user can write gets a warning.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { cli } from '../helpers/cli-capture.js';

describe('--password-file must be a regular file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sv-pwfile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const hasMkfifo = spawnSync('mkfifo', ['--version']).status === 0;
  // On the old code, reading the FIFO waited for a writer forever: the timeout turns that into a failure.
  it('a FIFO is refused at once, without waiting for a writer', { timeout: 10_000, skip: hasMkfifo ? false : 'mkfifo is not available' }, async () => {
    const fifo = join(dir, 'pw.fifo');
    assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0);
    const out = await cli(['--host', '127.0.0.1', '--port', '1', '--username', 'u', '--password-file', fifo]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `supervisord-check: --password-file ${fifo} is a FIFO, not a regular file\n`);
  });

  it('a device is refused (/dev/zero would be read without end)', async () => {
    const out = await cli(['--host', '127.0.0.1', '--port', '1', '--username', 'u', '--password-file', '/dev/zero']);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, 'supervisord-check: --password-file /dev/zero is a device, not a regular file\n');
  });

  it('a directory is refused', async () => {
    const out = await cli(['--host', '127.0.0.1', '--port', '1', '--username', 'u', '--password-file', dir]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `supervisord-check: --password-file ${dir} is a directory, not a regular file\n`);
  });

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
