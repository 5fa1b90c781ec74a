/**
 * Warnings that explain a result the user would otherwise misread, added to a
 * run's `warnings` (never to its submissions, which stay the reference's):
 * include filters that matched nothing, and an HTTP 401 from a server that
 * no credentials were sent to.
 *
 * @module
 */

import { HttpStatusError } from '../protocol/errors.js';
import type { ResolvedConfig } from './config.js';
import { pythonRepr } from './python/repr.js';
import type { ProcessInfo } from './types.js';

/**
 * One warning per include list (`proc_names`, `proc_regex`) with entries that
 * matched no process of the server's answer, naming them. An empty selection
 * is otherwise a silent OK: `0 processes`, every service check OK. The
 * usual cause is a `group:name` (what supervisorctl shows) or a group name:
 * like the reference, the filters see the process `name` only, and the
 * warning says so, with the name to use when the entry names a process the
 * server has.
 *
 * Patterns are never matched here: the verdicts come from the run's
 * judging (`NameFilter.judge`, on a worker within the run's deadline, over
 * the names and, for the patterns that matched none, over the texts of
 * {@link hintTexts}); a text it did not judge in time suggests nothing.
 *
 * @param processes every process of the server's answer, before selection
 *   (with selective collection, those found among the named ones).
 * @param config the instance.
 */
export function unmatchedFilterWarnings(processes: readonly ProcessInfo[], config: ResolvedConfig): string[] {
  const warnings: string[] = [];
  // The set of names only for proc_names (an instance with proc_regex alone needs none).
  const names = config.procNames.length === 0 ? undefined : new Set(processes.map((p) => p.name));
  const missingNames = names === undefined ? [] : config.procNames.filter((name) => !names.has(name));
  if (missingNames.length > 0) {
    warnings.push(
      `'proc_names' ${plural(missingNames.length, 'entry', 'entries')} ${missingNames.map((n) => pythonRepr(n)).join(', ')} ` +
        `matched no process${suggestions(missingNames, processes, (n) => pythonRepr(n), (n, key) => n === key)}; ${NAMES_ONLY}`,
    );
  }
  // The names were judged before selection (r.test finds those verdicts); the group texts only through judged().
  const missingPatterns = config.procRegex.filter((r) => !processes.some((p) => r.test(p.name)));
  if (missingPatterns.length > 0) {
    warnings.push(
      `'proc_regex' ${plural(missingPatterns.length, 'pattern', 'patterns')} ${missingPatterns.map((r) => pythonRepr(r.pattern)).join(', ')} ` +
        `matched no process${suggestions(missingPatterns, processes, (r) => pythonRepr(r.pattern), (r, key) => r.judged(key) === true)}; ${NAMES_ONLY}`,
    );
  }
  return warnings;
}

const NAMES_ONLY = `only process names are matched, never 'group:name' or a group name`;

/**
 * The texts {@link unmatchedFilterWarnings} suggests from: the `group:name`
 * and the group of every process whose group is not its name, each once.
 *
 * @param listing the process list as the server sent it (items that are not
 *   structs with string `name` and `group` are skipped).
 */
export function hintTexts(listing: unknown): string[] {
  if (!Array.isArray(listing)) return [];
  const texts = new Set<string>();
  for (const item of listing) {
    if (typeof item !== 'object' || item === null) continue;
    const { name, group } = item as Record<string, unknown>;
    if (typeof name !== 'string' || typeof group !== 'string' || group === name) continue;
    texts.add(`${group}:${name}`);
    texts.add(group);
  }
  return [...texts];
}

/**
 * ` ('web:front' matches the group or group:name of process 'front')`: for
 * the entries that would match a process of the server by its group or its
 * `group:name`, which processes they were probably meant for.
 */
function suggestions<T>(entries: readonly T[], processes: readonly ProcessInfo[], label: (entry: T) => string, matches: (entry: T, key: string) => boolean): string {
  const hints: string[] = [];
  for (const entry of entries) {
    const hit = processes.filter((p) => p.group !== p.name && (matches(entry, `${p.group}:${p.name}`) || matches(entry, p.group)));
    if (hit.length === 0) continue;
    const shown = hit.slice(0, 3).map((p) => pythonRepr(p.name)).join(', ');
    const more = hit.length > 3 ? ` and ${hit.length - 3} more` : '';
    hints.push(`${label(entry)} matches the group or group:name of ${plural(hit.length, 'process', 'processes')} ${shown}${more}`);
  }
  return hints.length === 0 ? '' : ` (${hints.join('; ')})`;
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/**
 * The reference answers a 401 with `Username or password to <name> are
 * incorrect.`, also when none were configured, which sends the user looking
 * for a wrong password: this says what is missing.
 *
 * @returns a warning, or undefined when the failure is not a 401 or
 *   credentials were sent.
 */
export function missingCredentialsWarning(error: unknown, config: ResolvedConfig): string | undefined {
  if (!(error instanceof HttpStatusError) || error.status !== 401 || config.authenticated) return undefined;
  return (
    `the server asks for a username and password (HTTP 401) and ${config.username === undefined ? 'none are' : 'no password is'} configured: ` +
    `set 'username' and 'password' (command line: --username with --password-file or SUPERVISORD_PASSWORD)`
  );
}
