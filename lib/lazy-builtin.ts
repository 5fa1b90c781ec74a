/**
 * Node's built-in modules loaded on first use, for code paths most users of
 * the main entry never take (TLS files, hashed DogStatsD tags, `proc_regex`
 * workers, `collect_resources` on a TCP target). A static
 * `import` would load them with the entry: imported alone in a fresh Node 20
 * process, `node:tls` took 5 ms and 2.8 MB, `node:crypto` 3 ms and 1.8 MB,
 * the ES module facade of `node:fs` 2 ms and 1 MB, next to about 20 ms for
 * the whole main entry.
 *
 * @module
 */

import { createRequire } from 'node:module';

/** The built-ins loaded here, by specifier. */
export interface LazyBuiltins {
  'node:crypto': typeof import('node:crypto');
  'node:fs': typeof import('node:fs');
  'node:net': typeof import('node:net');
  'node:tls': typeof import('node:tls');
  'node:worker_threads': typeof import('node:worker_threads');
}

let requireBuiltin: NodeJS.Require | undefined;

/**
 * The built-in module `id`, loaded now if it was not yet:
 * `process.getBuiltinModule` (Node 20.16 and later), else a CommonJS
 * `require` made once.
 */
export function builtin<K extends keyof LazyBuiltins>(id: K): LazyBuiltins[K] {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (get !== undefined) return get(id) as LazyBuiltins[K];
  requireBuiltin ??= createRequire(import.meta.url);
  return requireBuiltin(id) as LazyBuiltins[K];
}
