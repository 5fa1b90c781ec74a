/**
 * The long fuzzing run of the XML-RPC decoder:
 *
 * ```
 * npm run fuzz -- --seconds 600 [--seed 12345] [--out fuzz-failures]
 * node dist/test/fuzz/run.js --seconds 60
 * ```
 *
 * Prints the seed, a progress line every 10 seconds (every second for runs
 * under a minute), one line per violation (its input is written to `--out`,
 * default `fuzz-failures/` in the current directory, as a `.bin` + `.json`
 * pair ready to be copied into `fixtures/fuzz-regressions/`), and as its
 * LAST line exactly `<N> inputs/s, <V> violations`. Exits with code 1 when
 * there was a violation, 2 for bad arguments.
 *
 * @module
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import { buildCorpus, runFuzz, writeFailure } from './fuzz-decoder.js';
import type { DecodeFn, FuzzProgress, Violation } from './fuzz-decoder.js';

/** At most this many failure files per run: a systematic bug would otherwise fill the disk. */
const MAX_FAILURE_FILES = 50;

/** The usage line printed by `--help` and after a bad argument. */
export const USAGE = 'usage: node dist/test/fuzz/run.js [--seconds N] [--seed S] [--out DIR]';

/** The parsed command line. */
export interface FuzzArgs {
  /** Run time, seconds (default 10). */
  seconds: number;
  /** Run seed, 0..2^32-1 (default: from the clock and pid, printed). */
  seed: number;
  /** Where failing inputs go (default `fuzz-failures`). */
  out: string;
  help: boolean;
}

/**
 * Parses the arguments (`--name value` or `--name=value`).
 *
 * @throws {Error} with the message to show, for a bad or unknown argument.
 */
export function parseArgs(argv: readonly string[]): FuzzArgs {
  const args: FuzzArgs = { seconds: 10, seed: (Date.now() ^ (process.pid << 16)) >>> 0, out: 'fuzz-failures', help: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const eq = flag.indexOf('=');
    const name = eq < 0 ? flag : flag.slice(0, eq);
    const inline = eq < 0 ? undefined : flag.slice(eq + 1);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--seconds': {
        const v = value();
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`--seconds must be a positive number, got ${JSON.stringify(v)}`);
        args.seconds = n;
        break;
      }
      case '--seed': {
        const v = value();
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`--seed must be an integer in 0..4294967295, got ${JSON.stringify(v)}`);
        args.seed = n;
        break;
      }
      case '--out':
        args.out = value();
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  return args;
}

/** Where {@link runCli} writes, and (for tests of the runner) the decoder to fuzz. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  decode?: DecodeFn;
}

const CONSOLE: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MiB`;
}

/**
 * Runs the fuzzer as the command line does.
 *
 * @returns the exit code: 0 without violation, 1 with, 2 for bad arguments.
 */
export function runCli(argv: readonly string[], io: CliIo = CONSOLE): number {
  let args: FuzzArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    io.err(`fuzz: ${(error as Error).message}`);
    io.err(USAGE);
    return 2;
  }
  if (args.help) {
    io.out(USAGE);
    return 0;
  }
  const corpus = buildCorpus(args.seed);
  const out = path.resolve(args.out);
  io.out(`fuzz: seed ${args.seed}, ${args.seconds} s, corpus of ${corpus.length} documents, failures to ${out}`);
  let written = 0;
  const report = runFuzz({
    seed: args.seed,
    durationMs: args.seconds * 1000,
    corpus,
    progressMs: args.seconds < 60 ? 1000 : 10_000,
    ...(io.decode === undefined ? {} : { decode: io.decode }),
    onProgress(p: FuzzProgress) {
      const rate = Math.round((p.inputs * 1000) / p.elapsedMs);
      io.out(`fuzz: ${(p.elapsedMs / 1000).toFixed(0)} s, ${p.inputs} inputs, ${rate} inputs/s, ${p.violations} violations, rss ${mib(p.rssBytes)}`);
    },
    onViolation(v: Violation) {
      let where = '';
      if (v.input !== undefined && written < MAX_FAILURE_FILES) {
        written++;
        where = ` -> ${writeFailure(out, v)}`;
      }
      const what = v.input === undefined ? '' : ` input ${v.input.index} (${v.input.source}; ${v.input.mutations.join(', ') || 'unmutated'})`;
      io.out(`fuzz: VIOLATION ${v.invariant}${what}: ${v.detail}${where}`);
    },
  });
  const outcomes = Object.entries(report.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  io.out(`fuzz: ${report.inputs} inputs in ${(report.elapsedMs / 1000).toFixed(1)} s; outcomes: ${outcomes}`);
  io.out(`fuzz: peak rss ${mib(report.maxRssBytes)}, slowest decode ${report.slowestMs.toFixed(1)} ms (${report.slowestLength} bytes)`);
  const violations = report.violationList.length;
  io.out(`${Math.round(report.rate)} inputs/s, ${violations} violations`);
  return violations > 0 ? 1 : 0;
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
  process.exitCode = runCli(process.argv.slice(2));
}
