/**
 * What the CLI says on stderr about runs and files.
 *
 * @module
 */

import { neutralizeControls } from '../outputs/safe-text.js';
import type { ServerRun } from '../types.js';

/**
 * Reports each server's run errors and warnings on stderr, for the modes
 * whose output cannot carry them: an error when it changes (not every run),
 * and its end; a warning when the previous run did not have it.
 */
export function errorLog(say: (line: string) => void): (runs: readonly ServerRun[]) => void {
  const lastErrors = new Map<number, string>();
  const lastWarnings = new Map<number, ReadonlySet<string>>();
  return (runs) => {
    runs.forEach((run, i) => {
      const text = run.result.errors.join('; ');
      if (text !== (lastErrors.get(i) ?? '')) say(text === '' ? `${run.name}: the check works again` : `${run.name}: ${text}`);
      lastErrors.set(i, text);
      const seen = lastWarnings.get(i);
      for (const warning of run.result.warnings) if (seen?.has(warning) !== true) say(`${run.name}: warning: ${warning}`);
      lastWarnings.set(i, new Set(run.result.warnings));
    });
  };
}

/** `ENOENT: no such file or directory` from a Node system error, without the path it repeats. */
export function fsProblem(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const comma = error.message.indexOf(', ');
  return comma > 0 && 'code' in error ? error.message.slice(0, comma) : error.message;
}

/**
 * A log line from any text: line breaks become spaces, then every other
 * control, escape or bidirectional character becomes `?` (server-supplied
 * names, reasons and fault strings end up in these lines; written raw they
 * could rewrite the terminal or forge a line).
 */
export function oneLine(text: string): string {
  return neutralizeControls(text.replace(/\r?\n/g, ' '));
}

/**
 * A function writing `<program>: <line>` (one line: line breaks become
 * spaces) to `stream`, swallowing write errors: there is nowhere left to
 * report those to, and the caller still returns its exit code.
 */
export function lineWriter(stream: NodeJS.WritableStream, program: string): (line: string) => void {
  return (line) => {
    try {
      stream.write(`${program}: ${oneLine(line)}\n`);
    } catch {
      // Nowhere left to report to.
    }
  };
}
