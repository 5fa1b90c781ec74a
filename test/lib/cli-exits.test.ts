/**
 * `--fail-if-no-match`: a single run whose include filters (`proc_names`,
 * `proc_regex`, from the flags or `--config`) matched no process exits 2,
 * for a monitoring system that reads the exit code and ignores the output.
 * Without the flag such a run stays the reference's: a warning only. End to
 * end through main() against the emulator; the warnings recognised are the
 * check's own, from real runs.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseArgs } from '../../lib/cli/args.js';
import { EXIT_CRITICAL, EXIT_OK, EXIT_WARNING, failIfNoMatch } from '../../lib/cli/exits.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { ServerRun } from '../../lib/types.js';
import { runCli as cli } from '../helpers/cli-run.js';

let emulator: SupervisordEmulator;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-exits-'));
  emulator = await SupervisordEmulator.start({
    listen: { port: 0 },
    processes: [makeProcess({ name: 'web' }), makeProcess({ name: 'front', group: 'site' }), makeProcess({ name: 'boot', statename: 'STARTING' })],
  });
});

after(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('--fail-if-no-match', () => {
  const NOTE = (name: string): string => `supervisord-check: --fail-if-no-match: an include filter matched no process on ${name} (exit 2)\n`;
  // [filters, exit without the flag, exit with it]
  const cases: Array<[string[], number, number, string]> = [
    [['--proc-names', 'web'], EXIT_OK, EXIT_OK, 'every entry matched'],
    [['--proc-names', 'web,ghost'], EXIT_OK, EXIT_CRITICAL, 'one proc_names entry matched nothing'],
    [['--proc-names', 'site:front'], EXIT_OK, EXIT_CRITICAL, "a 'group:name', which the filters never match"],
    [['--proc-regex', '^nothing'], EXIT_OK, EXIT_CRITICAL, 'a proc_regex pattern matched nothing'],
    [['--proc-regex', '^w', '--proc-regex', '^x', '--proc-regex', '^y'], EXIT_OK, EXIT_CRITICAL, 'patterns, plural'],
    [['--proc-names', 'boot,ghost'], EXIT_WARNING, EXIT_CRITICAL, 'a run that was WARNING (a STARTING process is UNKNOWN)'],
    [['--proc-names', 'web', '--proc-names-exclude', 'ghost'], EXIT_OK, EXIT_OK, 'an exclude list that matched nothing is not an include filter'],
  ];
  for (const [filters, without, withFlag, why] of cases) {
    it(`${why}: exit ${without}, with the flag ${withFlag}`, async () => {
      const argv = ['--url', emulator.url, '--name', 'emu', '--format', 'json', ...filters];
      const plain = await cli(argv);
      assert.equal(plain.code, without, plain.stderr);
      assert.equal(plain.stderr, '');
      const failing = await cli([...argv, '--fail-if-no-match']);
      assert.equal(failing.code, withFlag);
      assert.equal(failing.stderr, withFlag === EXIT_CRITICAL ? NOTE('emu') : '');
      // The output is the same either way: the flag only decides the exit code.
      assert.deepEqual(JSON.parse(failing.stdout).warnings, JSON.parse(plain.stdout).warnings);
    });
  }

  it('a run that failed keeps its exit 2 and says nothing more', async () => {
    const out = await cli(['--host', '127.0.0.1', '--port', '1', '--proc-names', 'ghost', '--format', 'json', '--fail-if-no-match']);
    assert.equal(out.code, EXIT_CRITICAL);
    assert.equal(out.stderr, '');
  });

  it('with --config: any instance whose filters matched nothing, named', async () => {
    const file = join(dir, 'two.yaml');
    const server = `    host: 127.0.0.1\n    port: ${new URL(emulator.url).port}\n`;
    writeFileSync(file, `instances:\n  - name: good\n${server}    proc_names: [web]\n  - name: typo\n${server}    proc_regex: ['^wbe$']\n`, { mode: 0o600 });
    assert.equal((await cli(['--config', file, '--format', 'prometheus'])).code, EXIT_OK);
    const out = await cli(['--config', file, '--format', 'prometheus', '--fail-if-no-match']);
    assert.equal(out.code, EXIT_CRITICAL);
    // prometheus cannot carry warnings: they go to stderr, then the exit's reason.
    assert.match(out.stderr, /^supervisord-check: typo: warning: 'proc_regex' pattern '\^wbe\$' matched no process; /);
    assert.ok(out.stderr.endsWith(NOTE('typo')), out.stderr);
  });

  it('applies to a single run only, and takes no value', () => {
    assert.equal(parseArgs(['--fail-if-no-match']).failIfNoMatch, true);
    assert.equal(parseArgs([]).failIfNoMatch, undefined);
    const single = '--fail-if-no-match applies only to a single run (its exit code), not to --interval, --serve or --dogstatsd';
    for (const mode of [['--interval', '5s'], ['--serve', '0'], ['--dogstatsd', '127.0.0.1:8125']]) {
      assert.throws(() => parseArgs(['--fail-if-no-match', ...mode]), { name: 'UsageError', code: 'ERR_USAGE', message: single });
    }
    assert.throws(() => parseArgs(['--fail-if-no-match=yes']), { name: 'UsageError', message: '--fail-if-no-match takes no value' });
  });

  it('failIfNoMatch keeps a worse code, and recognises only the include-filter warnings', () => {
    const run = (warnings: string[]): ServerRun => ({ name: 's', target: 't', tags: [], result: { metrics: [], serviceChecks: [], metadata: {}, warnings, errors: [] } });
    const said: string[] = [];
    const say = (line: string): void => void said.push(line);
    const unmatched = run(["'proc_names' entry 'x' matched no process; only process names are matched, never 'group:name' or a group name"]);
    assert.equal(failIfNoMatch([unmatched], EXIT_CRITICAL, say), EXIT_CRITICAL);
    assert.equal(failIfNoMatch([unmatched], 3, say), 3);
    assert.deepEqual(said, []);
    const others = run(["'user' is deprecated, use 'username' instead", "Unknown configuration key 'proc_names matched no process' is ignored"]);
    assert.equal(failIfNoMatch([others], EXIT_OK, say), EXIT_OK);
    assert.equal(failIfNoMatch([others, unmatched], EXIT_WARNING, say), EXIT_CRITICAL);
    assert.deepEqual(said, ['--fail-if-no-match: an include filter matched no process on s (exit 2)']);
  });
});
