/**
 * Running part of the library as an unprivileged user (uid 65534) from a
 * root test process: the only way to see EACCES on a socket, since root
 * ignores file permissions.
 *
 * The child cannot read the checkout when it lives in a private directory
 * (CI clones into a 0700 temp dir: first seen as ERR_MODULE_NOT_FOUND in the
 * child), and cannot write c8's coverage profile either. So the compiled
 * `lib/` and `protocol/` are copied into a fresh world-readable temp dir, and
 * the child gets an environment without `NODE_V8_COVERAGE`.
 */

import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The uid and gid of `nobody` on Debian. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

/** A readable copy of the compiled library. */
export interface NobodyTree {
  /** The copy's root: holds `lib/`, `protocol/` and a `package.json` saying ESM. */
  readonly root: string;
  /** Absolute path of `rel` (e.g. `lib/check.js`) inside the copy. */
  file(rel: string): string;
  /** Removes the copy. Idempotent. */
  remove(): void;
}

const DIST = fileURLToPath(new URL('../../', import.meta.url));

/** Copies the compiled `lib/` and `protocol/` into a world-readable temp dir. */
export function compiledTreeForNobody(): NobodyTree {
  const root = mkdtempSync(path.join(tmpdir(), 'supervisord-check-nobody-'));
  chmodSync(root, 0o755);
  for (const dir of ['lib', 'protocol']) cpSync(path.join(DIST, dir), path.join(root, dir), { recursive: true });
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}\n', { mode: 0o644 });
  return {
    root,
    file: (rel) => path.join(root, rel),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** This process's environment without c8's `NODE_V8_COVERAGE`, which the child could not write to. */
export function envForNobody(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_V8_COVERAGE'];
  return env;
}
