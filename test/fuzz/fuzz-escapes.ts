/**
 * Fuzzing of what reaches a terminal: hostile strings from a server (C0 and
 * C1 controls, DEL, ESC sequences such as CSI erase-line and OSC 52
 * clipboard writes, the 8-bit CSI U+009B, bidirectional controls such as
 * U+202E, line and paragraph separators, mixed with ordinary and non-ASCII
 * text) put in every server-supplied field a run reports: process names,
 * groups, state names, descriptions, spawn errors, log paths, the version, a
 * fault string, an HTTP reason. Each input goes through the check's own
 * result building (`buildRun`) and out through every path that writes text
 * for a person: `--format text` (without colours, and with them once our own
 * colour codes are removed) and the stderr log lines (`errorLog` through
 * `oneLine`, what `main()`'s `say` writes).
 *
 * Invariant: no output line holds a character a terminal or log viewer could
 * act on (the set is written here independently of the code under test),
 * and the text log is one line per message.
 *
 * ```
 * node dist/test/fuzz/fuzz-escapes.js [--seconds N] [--seed S]
 * ```
 * Last line: `<N> inputs/s, <V> violations`; exit code 1 with a violation.
 *
 * @module
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { errorLog, oneLine } from '../../lib/cli/report.js';
import { ConfigError } from '../../lib/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { formatText } from '../../lib/outputs/text.js';
import { buildRun } from '../../lib/submissions.js';
import type { Collected } from '../../lib/submissions.js';
import type { ServerRun } from '../../lib/types.js';
import { HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import { inputSeed, makeRng } from './fuzz-decoder.js';
import type { Rng } from './fuzz-decoder.js';

/** What must never reach the output: C0, DEL, C1, ALM, LRM/RLM, LS/PS, bidi embeddings, overrides and isolates. */
export const UNSAFE_OUTPUT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Pieces a hostile string is built from. */
const HOSTILE_PIECES: readonly string[] = [
  '\r',
  '\n',
  '\r\n',
  '\t',
  '\x00',
  '\x07',
  '\x08',
  '\x1b',
  '\x1b[2K',
  '\x1b[1A\x1b[2K',
  '\x1b[31m',
  '\x1b[0m',
  '\x1b]0;pwned\x07',
  '\x1b]52;c;Y3VybCBldmlsLnNofHNo\x07',
  '\x1b]52;c;Y3VybCBldmlsLnNofHNo\x1b\\',
  '\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\',
  '\x1bP+q\x1b\\',
  '\x7f',
  '\x85',
  '\x90',
  '\x9b',
  '\x9b2J',
  '\x9d0;t\x9c',
  '\u061c',
  '\u200e',
  '\u200f',
  '\u2028',
  '\u2029',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  'supervisord-check: prod: the check works again',
];

const TEXT_PIECES: readonly string[] = ['web', 'worker_1', ' ', 'é', '日本', '😀', '\u00a0', '\u200d', 'm:', '|', ',', '"', '\\', '%s', '?', ':'];

/** A string of 0 to 12 pieces, most of them hostile. */
export function hostileString(rng: Rng): string {
  let s = '';
  const n = rng.int(0, 12);
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.6)) s += rng.pick(HOSTILE_PIECES);
    else if (rng.chance(0.1)) s += String.fromCharCode(rng.int(0, 0x9f));
    else if (rng.chance(0.1)) s += String.fromCharCode(rng.int(0x2000, 0x206f));
    else s += rng.pick(TEXT_PIECES);
  }
  return s;
}

const STATES = ['RUNNING', 'STOPPED', 'FATAL', 'STARTING', 'BACKOFF', 'EXITED', 'UNKNOWN'];

/** One hostile server answer, as a run would have collected it. */
export function hostileCollected(rng: Rng): Collected {
  const kind = rng.int(0, 9);
  if (kind === 0) return { processInfo: { ok: false, error: new XmlRpcFault(rng.int(1, 99), hostileString(rng)) } };
  if (kind === 1) return { processInfo: { ok: false, error: new HttpStatusError(rng.pick([500, 403, 502]), hostileString(rng), 'http://127.0.0.1:9001/RPC2') } };
  const processes = Array.from({ length: rng.int(0, 4) }, () => ({
    name: hostileString(rng),
    group: hostileString(rng),
    statename: rng.chance(0.8) ? rng.pick(STATES) : hostileString(rng),
    state: rng.int(0, 1000),
    description: hostileString(rng),
    spawnerr: hostileString(rng),
    stdout_logfile: hostileString(rng),
    stderr_logfile: hostileString(rng),
    logfile: hostileString(rng),
    start: 1_700_000_000 - rng.int(0, 100_000),
    stop: rng.chance(0.5) ? 0 : 1_700_000_000 - rng.int(0, 1000),
    now: 1_700_000_000,
    exitstatus: rng.int(0, 255),
    pid: rng.int(0, 65535),
  }));
  const collected: Collected = { processInfo: { ok: true, value: processes } };
  if (rng.chance(0.7)) {
    collected.version = rng.chance(0.5) ? { ok: true, value: `4.2.5${hostileString(rng)}` } : { ok: true, value: hostileString(rng) };
  } else if (rng.chance(0.5)) {
    collected.version = { ok: false, error: new XmlRpcFault(1, hostileString(rng)) };
  }
  if (rng.chance(0.5)) {
    collected.state = rng.chance(0.5)
      ? { ok: true, value: { statecode: rng.int(-1, 2), statename: hostileString(rng) } }
      : { ok: false, error: new XmlRpcFault(6, hostileString(rng)) };
  }
  return collected;
}

/** Our own colour codes, the only escapes `formatText({ color: true })` may write. */
const OUR_COLOURS = /\x1b\[(?:3[123]|0)m/g;

/** A broken invariant: where, and the offending line. */
export interface EscapeViolation {
  index: number;
  path: string;
  line: string;
}

/**
 * Runs one input through every text path.
 *
 * @returns the violations (none when the outputs are safe).
 */
export function checkEscapeInput(runSeed: number, index: number): EscapeViolation[] {
  const rng = makeRng(inputSeed(runSeed, index));
  const name = rng.chance(0.3) ? hostileString(rng) : 'prod';
  const instance = { name: name.trim() === '' ? 'prod' : name, tags: rng.chance(0.3) ? [hostileString(rng)] : [] };
  const violations: EscapeViolation[] = [];
  const check = (where: string, text: string): void => {
    for (const line of text.split('\n')) if (UNSAFE_OUTPUT.test(line)) violations.push({ index, path: where, line });
  };
  let config: ReturnType<typeof resolveConfig>['config'];
  try {
    ({ config } = resolveConfig(instance));
  } catch (error) {
    // A refused configuration (a tag reusing one of our labels) is said on stderr: that line must be safe too.
    if (!(error instanceof ConfigError)) throw error;
    check('stderr, config error', oneLine(error.message));
    return violations;
  }
  const { result } = buildRun(config, hostileCollected(rng));
  if (rng.chance(0.3)) result.warnings.push(hostileString(rng));
  const run: ServerRun = { name: config.name, target: hostileString(rng), tags: [...config.instanceTags], result };
  check('text', formatText([run, run]));
  check('text, colour', formatText([run], { color: true }).replace(OUR_COLOURS, ''));
  const said: string[] = [];
  const log = errorLog((line) => said.push(oneLine(line)));
  log([run]);
  log([{ ...run, result: { ...run.result, errors: [] } }]);
  for (const line of said) {
    if (line.includes('\n')) violations.push({ index, path: 'stderr', line });
    check('stderr', line);
  }
  return violations;
}

/** A run of the escape fuzzer. */
export interface EscapeFuzzReport {
  inputs: number;
  elapsedMs: number;
  violations: EscapeViolation[];
}

/** Runs inputs `0..` until `durationMs` or `maxInputs`, whichever comes first. */
export function runEscapeFuzz(options: { seed: number; durationMs?: number; maxInputs?: number }): EscapeFuzzReport {
  const started = performance.now();
  const violations: EscapeViolation[] = [];
  let inputs = 0;
  const maxInputs = options.maxInputs ?? Infinity;
  const durationMs = options.durationMs ?? Infinity;
  while (inputs < maxInputs && performance.now() - started < durationMs) {
    violations.push(...checkEscapeInput(options.seed, inputs));
    inputs++;
  }
  return { inputs, elapsedMs: performance.now() - started, violations };
}

// Run only when executed (npm run fuzz), not when imported by the tests, nor
// when `node --test dist/test/` runs every file of the tree as a test:
// its children carry NODE_TEST_CONTEXT. The tests run seeded fuzz rounds of
// their own; a timed, randomly seeded fuzz has no place in `npm test`.
if (
  process.env['NODE_TEST_CONTEXT'] === undefined &&
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  const args = process.argv.slice(2);
  const value = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i < 0 ? undefined : args[i + 1];
  };
  const seconds = Number(value('--seconds') ?? 10);
  const seed = Number(value('--seed') ?? (Date.now() ^ (process.pid << 16)) >>> 0);
  if (!(seconds > 0) || !Number.isSafeInteger(seed)) {
    console.error('usage: node dist/test/fuzz/fuzz-escapes.js [--seconds N] [--seed S]');
    process.exitCode = 2;
  } else {
    console.log(`fuzz-escapes: seed ${seed}, ${seconds} s`);
    const report = runEscapeFuzz({ seed, durationMs: seconds * 1000 });
    for (const v of report.violations.slice(0, 50)) console.log(`fuzz-escapes: VIOLATION input ${v.index} (${v.path}): ${JSON.stringify(v.line)}`);
    console.log(`${Math.round((report.inputs * 1000) / report.elapsedMs)} inputs/s, ${report.violations.length} violations`);
    process.exitCode = report.violations.length > 0 ? 1 : 0;
  }
}
