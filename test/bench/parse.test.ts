/**
 * `node bench/parse.js` as a performance tracker a CI job runs: `--help`,
 * refused flags, the `--quick --json` schema (the text labels checked
 * against the bytes, regenerated here), and `--compare` passing and failing
 * on baselines made to be better and worse than any real run.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { generateAllProcessInfoXml } from '../../fixtures/generate.js';

const SCRIPT = fileURLToPath(new URL('../../../bench/parse.js', import.meta.url));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function bench(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

type Line = Record<string, unknown> & { schema: number; kind: string };
const lines = (stdout: string): Line[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-parse-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('bench/parse.js: command line', () => {
  it('--help prints the usage, the schema and the exit codes, and runs nothing', async () => {
    const out = await bench(['--help']);
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^Usage: node bench\/parse\.js \[--quick\] \[--json\]/);
    for (const word of ['--quick', '--json', '--sizes', '--compare', '--threshold', 'schema 1', 'Exit codes', 'Headline']) assert.ok(out.stdout.includes(word), word);
    assert.equal(out.stderr, '');
  });

  const refused: Array<[string[], string]> = [
    [['--fast'], 'unknown argument "--fast"'],
    [['--quick', 'extra'], 'unknown argument "extra"'],
    [['--sizes', '0'], '--sizes expects positive integers separated by commas, got "0"'],
    [['--sizes'], '--sizes needs a value'],
    [['--threshold', '5'], '--threshold applies only to --compare'],
    [['--compare', 'x.json', '--threshold', 'ten'], '--threshold expects a percentage such as 15 or 7.5%, got "ten"'],
  ];
  for (const [args, message] of refused) {
    it(`refuses ${args.join(' ')}: exit 2, the reason and the usage on stderr`, async () => {
      const out = await bench(args);
      assert.equal(out.code, 2);
      assert.equal(out.stdout, '');
      assert.ok(out.stderr.startsWith(`bench/parse.js: ${message}\n\nUsage: `), out.stderr);
    });
  }

  it('an unusable baseline is refused before anything is measured', async () => {
    const missing = await bench(['--quick', '--compare', join(dir, 'missing.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--compare .*missing\.json: cannot read it: ENOENT/);
    const other = join(dir, 'other-schema.json');
    writeFileSync(other, '{"schema":2,"kind":"summary"}\n');
    const wrong = await bench(['--quick', '--compare', other]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /line 1 has schema 2, this script writes and reads schema 1/);
    assert.equal(wrong.stdout, '');
  });
});

describe('bench/parse.js --quick --json, and --compare', () => {
  let quick: Line[] = [];
  before(async () => {
    const out = await bench(['--quick', '--json']);
    assert.equal(out.code, 0, out.stderr);
    quick = lines(out.stdout);
  });

  it('every line carries the schema; the cases, then one summary with the headline', () => {
    assert.ok(quick.every((l) => l.schema === 1));
    const cases = quick.filter((l) => l.kind === 'case');
    assert.deepEqual(quick.map((l) => l.kind), [...cases.map(() => 'case'), 'summary']);
    const names = cases.map((l) => l['case']);
    for (const n of [1000, 10000]) {
      for (const text of ['ascii', 'utf8']) {
        for (const name of ['decodeResponse', 'stream-64KiB', 'floor-utf8', 'floor-JSON.parse']) assert.ok(names.includes(`${name}/${n}/${text}`), `${name}/${n}/${text}`);
      }
    }
    for (const row of cases) {
      for (const key of ['processes', 'bytes', 'medianMs', 'cpuMs', 'mbPerSec', 'nsPerProcess', 'samples', 'nonAsciiBytes', 'seed']) {
        assert.equal(typeof row[key], 'number', `${String(row['case'])}: ${key}`);
      }
      const ours = /^(decodeResponse|stream-64KiB)\//.test(String(row['case']));
      assert.equal(typeof row['ratioToUtf8'], ours ? 'number' : 'undefined', String(row['case']));
    }
    const summary = quick.at(-1)!;
    assert.equal(summary['mode'], 'quick');
    assert.deepEqual(summary['sizes'], [1000, 10000]);
    const headline = summary['headline'] as { case: string; ratioToUtf8: number };
    assert.equal(headline.case, 'decodeResponse/10000/ascii');
    assert.equal(headline.ratioToUtf8, cases.find((l) => l['case'] === headline.case)!['ratioToUtf8']);
    assert.ok(headline.ratioToUtf8 > 0);
  });

  it('the text of each row is what its bytes hold: ascii rows ASCII-only, utf8 rows with non-ASCII bytes', () => {
    const seen = new Set<string>();
    for (const row of quick.filter((l) => l.kind === 'case')) {
      const ascii = row['text'] === 'ascii';
      assert.equal(row['asciiOnly'], ascii, String(row['case']));
      const key = `${String(row['processes'])}/${String(row['text'])}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // Regenerated here from the row's own seed: the bench's label must match the bytes.
      const doc = generateAllProcessInfoXml(row['processes'] as number, { ascii, seed: row['seed'] as number });
      const nonAscii = doc.reduce((n, b) => n + (b >= 0x80 ? 1 : 0), 0);
      assert.equal(row['nonAsciiBytes'], nonAscii, key);
      assert.equal(nonAscii > 0, !ascii, key);
    }
    assert.equal(seen.size, 4);
  });

  /** A baseline of the 1,000-process rows of the quick run, every ratio replaced by `ratio`. */
  function baseline(name: string, ratio: number): string {
    const file = join(dir, name);
    const rows = quick
      .filter((l) => l.kind === 'case' && l['processes'] === 1000)
      .map((l) => (l['ratioToUtf8'] === undefined ? l : { ...l, ratioToUtf8: ratio }));
    const summary = { ...quick.at(-1)!, sizes: [1000], headline: { case: 'decodeResponse/1000/ascii', ratioToUtf8: ratio } };
    writeFileSync(file, [...rows, summary].map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  }

  it('--compare: exit 0 against a baseline far slower, 1 against one far faster; every row printed', async () => {
    const [better, worse] = await Promise.all([
      bench(['--quick', '--sizes', '1000', '--compare', baseline('slow-baseline.json', 1000)]),
      bench(['--quick', '--sizes', '1000', '--json', '--compare', baseline('fast-baseline.json', 0.001), '--threshold', '20%']),
    ]);
    assert.equal(better.code, 0, better.stderr);
    assert.match(better.stdout, /^headline decodeResponse\/1000\/ascii: 1000\.00x -> \d+\.\d\dx \(-\d+\.\d %\): within 15 %$/m);
    for (const name of ['decodeResponse/1000/ascii', 'stream-64KiB/1000/ascii', 'decodeResponse/1000/utf8', 'stream-64KiB/1000/utf8']) {
      assert.match(better.stdout, new RegExp(`^${name.replace(/[/.]/g, '\\$&')} +1000\\.00x +\\d+\\.\\d\\dx +-\\d+\\.\\d %`, 'm'), name);
    }
    assert.equal(worse.code, 1, worse.stderr);
    const compared = lines(worse.stdout).at(-1)!;
    assert.equal(compared.kind, 'compare');
    assert.equal(compared['thresholdPct'], 20);
    assert.equal(compared['failed'], true);
    assert.equal((compared['rows'] as unknown[]).length, 4);
    assert.equal((compared['headline'] as { pastThreshold: boolean }).pastThreshold, true);
  });
});
