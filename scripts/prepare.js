// `npm ci` / `npm install` in a clone: build dist/, so that the README's
// `npm ci && npm start` works on a fresh clone. Nothing anywhere else: the
// package's tarball ships dist/ (built by `prepack`), so that installing it
// runs no script, and `npm pack` / `npm publish` have already built it in
// `prepack`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const command = process.env.npm_command;
if (existsSync('.git') && command !== 'pack' && command !== 'publish') {
  const npm = process.env.npm_execpath;
  const run = npm === undefined
    ? spawnSync('npm', ['run', 'build'], { stdio: 'inherit' })
    : spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
}
