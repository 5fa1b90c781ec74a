/**
 * What the package ships and how it is built: the tarball's file list (no
 * sources, source maps that carry them, the licence), a packed manifest
 * without `prepare` (npm warns on every install of a package that has one),
 * and `prepare` building only in a git checkout. The whole round trip (a
 * fresh clone's `npm ci`, `npm pack`, an install into an ESM and strict
 * TypeScript app) is too slow for the suite; these pin its pieces.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  license: string;
  files: string[];
  scripts: Record<string, string>;
};

describe('the tarball', () => {
  const npm = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it('ships dist/, source maps with their sources, the licence, and no TypeScript source or test', (t) => {
    if (npm.status !== 0) return t.skip(`npm pack --dry-run failed: ${npm.stderr || String(npm.error)}`);
    const files = (JSON.parse(npm.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    assert.ok(files.includes('LICENSE'));
    assert.ok(files.includes('dist/lib/index.js') && files.includes('dist/lib/index.d.ts') && files.includes('dist/lib/cli/main.js'));
    assert.deepEqual(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')), []);
    assert.deepEqual(files.filter((f) => f.startsWith('dist/test') || f.startsWith('dist/bench')), []);
    const maps = files.filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 10);
    // Regression: the maps pointed at sources the tarball does not ship.
    for (const map of maps) {
      const parsed = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      assert.equal(parsed.sourcesContent?.length, parsed.sources.length, map);
      assert.ok(parsed.sourcesContent!.every((s) => typeof s === 'string' && s.length > 0), map);
    }
  });

  it('has a BSD-3-Clause licence file, as the manifest says', () => {
    assert.equal(manifest.license, 'BSD-3-Clause');
    const licence = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    assert.match(licence, /^BSD 3-Clause License\n\nCopyright \(c\) \d{4}, the supervisord-check authors\n/);
    assert.match(licence, /Neither the name of the copyright holder nor the names of its\s+contributors/);
  });
});

describe('build scripts', () => {
  it('builds before packing, from an empty dist/', () => {
    assert.match(manifest.scripts['prepack']!, /rmSync\('dist'.*&& npm run build && node scripts\/pack-manifest\.js strip$/);
    assert.equal(manifest.scripts['postpack'], 'node scripts/pack-manifest.js restore');
  });

  it('packs a manifest without prepare, and restores package.json byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-pack-'));
    try {
      mkdirSync(join(dir, 'scripts'));
      copyFileSync(join(ROOT, 'scripts/pack-manifest.js'), join(dir, 'scripts/pack-manifest.js'));
      const original = readFileSync(join(ROOT, 'package.json'), 'utf8');
      writeFileSync(join(dir, 'package.json'), original);
      execFileSync(process.execPath, ['scripts/pack-manifest.js', 'strip'], { cwd: dir });
      const stripped = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
      assert.equal(stripped.scripts['prepare'], undefined);
      const { prepare: _prepare, ...otherScripts } = manifest.scripts;
      assert.deepEqual(stripped, { ...manifest, scripts: otherScripts });
      // A second strip before a restore would lose the original: refused.
      assert.throws(() => execFileSync(process.execPath, ['scripts/pack-manifest.js', 'strip'], { cwd: dir, stdio: 'pipe' }));
      execFileSync(process.execPath, ['scripts/pack-manifest.js', 'restore'], { cwd: dir });
      assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), original);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prepare builds in a git checkout only (npm ci in a clone), never while packing', () => {
    assert.equal(manifest.scripts['prepare'], 'node scripts/prepare.js');
    const dir = mkdtempSync(join(tmpdir(), 'sc-prepare-'));
    try {
      // A fake npm that records that it was asked to build.
      writeFileSync(join(dir, 'fake-npm.js'), "require('fs').writeFileSync('built', process.argv.slice(2).join(' '));");
      const run = (env: Record<string, string>): string | undefined => {
        rmSync(join(dir, 'built'), { force: true });
        execFileSync(process.execPath, [join(ROOT, 'scripts/prepare.js')], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', npm_execpath: join(dir, 'fake-npm.js'), ...env } });
        try {
          return readFileSync(join(dir, 'built'), 'utf8');
        } catch {
          return undefined;
        }
      };
      writeFileSync(join(dir, 'package.json'), '{"type": "commonjs"}');
      assert.equal(run({ npm_command: 'ci' }), undefined, 'not a git checkout (an installed tarball): nothing');
      mkdirSync(join(dir, '.git'));
      assert.equal(run({ npm_command: 'ci' }), 'run build');
      assert.equal(run({ npm_command: 'install' }), 'run build');
      assert.equal(run({ npm_command: 'pack' }), undefined, 'prepack has built');
      assert.equal(run({ npm_command: 'publish' }), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
