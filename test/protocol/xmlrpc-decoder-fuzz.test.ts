/**
 * The decoder fuzzer in `npm test`: a short seeded run that must find no
 * violation, plus tests of the fuzzing engine itself (its corpus, its
 * mutations, and that each invariant check does catch a decoder breaking
 * it). The long run is `npm run fuzz -- --seconds N` (test/fuzz/run.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DepthLimitError, ProtocolError, XmlRpcFault, XmlRpcParseError } from '../../protocol/errors.js';
import { decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import {
  MUTATORS,
  buildCorpus,
  checkInput,
  chunksOf,
  decodeChunks,
  describeOutcome,
  generateInput,
  inputSeed,
  makeRng,
  mutate,
  randomCuts,
  readStoredInputs,
  runFuzz,
  summarize,
  timeBudgetMs,
  writeFailure,
} from '../fuzz/fuzz-decoder.js';
import type { DecodeFn, FuzzReport, Violation } from '../fuzz/fuzz-decoder.js';
import { USAGE, parseArgs, runCli } from '../fuzz/run.js';

/** Seed of the in-suite run: fixed, so a failure here reproduces with `--seed`. */
const SEED = 0x7f0220;
const corpus = buildCorpus(SEED);

// ---------------------------------------------------------------------------
// The short run
// ---------------------------------------------------------------------------

test(`short fuzz run (seed ${SEED}): no invariant violation`, () => {
  // Counted, not timed, so every machine checks the same inputs; the time
  // cap only keeps a very slow machine (coverage, load) within seconds.
  let report: FuzzReport | undefined;
  const violations: Violation[] = [];
  report = runFuzz({ seed: SEED, maxInputs: 25_000, durationMs: 4_000, corpus, onViolation: (v) => violations.push(v) });
  const lines = violations.slice(0, 5).map((v) => `${v.invariant} input ${v.input?.index}: ${v.detail}`);
  assert.equal(report.violationList.length, 0, `seed ${SEED}: ${lines.join('\n')}`);
  // The run must have done real work: enough inputs, and both accepted and refused documents.
  assert.ok(report.inputs >= 2_000, `only ${report.inputs} inputs in ${report.elapsedMs.toFixed(0)} ms`);
  assert.ok((report.outcomes['value'] ?? 0) > report.inputs * 0.03, JSON.stringify(report.outcomes));
  for (const code of ['ERR_XMLRPC_SYNTAX', 'ERR_XMLRPC_ENCODING', 'ERR_XMLRPC_TRUNCATED', 'ERR_XMLRPC_DEPTH', 'ERR_XMLRPC_FAULT']) {
    assert.ok((report.outcomes[code] ?? 0) > 0, `no ${code} in ${JSON.stringify(report.outcomes)}`);
  }
  report = undefined;
});

// ---------------------------------------------------------------------------
// Corpus and inputs
// ---------------------------------------------------------------------------

test('the corpus holds recorded, generated and hand-written documents, responses and calls', () => {
  const kinds = new Set(corpus.map((e) => e.name.split(/[:#-]/)[0]));
  for (const k of ['recorded', 'processes', 'random', 'fault', 'multicall', 'call', 'hand']) assert.ok(kinds.has(k), `no ${k} entry`);
  assert.ok(corpus.some((e) => e.call) && corpus.some((e) => !e.call));
  assert.ok(corpus.filter((e) => e.name.startsWith('recorded:')).length >= 20);
  assert.deepEqual(
    buildCorpus(SEED).map((e) => e.bytes),
    corpus.map((e) => e.bytes),
    'same seed, same corpus',
  );
});

test('every unmutated corpus document decodes (or is a fault) and passes the invariants', () => {
  for (const entry of corpus) {
    const result = checkInput(entry.bytes, randomCuts(makeRng(1), entry.bytes), { call: entry.call });
    assert.equal(result.violation, undefined, `${entry.name}: ${result.violation?.detail}`);
    if (entry.name === 'recorded:malformed-xml.request') {
      // The recording sent a deliberately broken call.
      assert.ok(result.whole.kind === 'error' && result.whole.error instanceof XmlRpcParseError, describeOutcome(result.whole));
      continue;
    }
    const ok = result.whole.kind === 'value' || (result.whole.kind === 'error' && result.whole.error instanceof XmlRpcFault);
    assert.ok(ok, `${entry.name}: ${describeOutcome(result.whole)}`);
  }
});

test('inputs are reproducible from (run seed, index) alone', () => {
  for (const index of [0, 1, 2, 999, 123_456]) {
    const a = generateInput(SEED, index, corpus);
    const b = generateInput(SEED, index, corpus);
    assert.deepEqual(b.bytes, a.bytes);
    assert.deepEqual(b.cuts, a.cuts);
    assert.deepEqual(b.mutations, a.mutations);
    assert.equal(a.seed, inputSeed(SEED, index));
  }
  assert.notEqual(inputSeed(SEED, 0), inputSeed(SEED, 1));
  assert.notEqual(inputSeed(SEED, 0), inputSeed(SEED + 1, 0));
});

test('randomCuts gives ascending offsets strictly inside the document', () => {
  const rng = makeRng(7);
  for (const length of [0, 1, 2, 3, 10, 600, 601, 5000]) {
    for (let round = 0; round < 200; round++) {
      const cuts = randomCuts(rng, Buffer.from('<a>\u00e9\u65e5'.repeat(length + 1)).subarray(0, length));
      for (let i = 0; i < cuts.length; i++) {
        assert.ok(cuts[i]! >= 1 && cuts[i]! < length, `length ${length}: cut ${cuts[i]}`);
        if (i > 0) assert.ok(cuts[i]! > cuts[i - 1]!, `length ${length}: ${cuts.join(',')}`);
      }
      assert.deepEqual(Buffer.concat(chunksOf(Buffer.alloc(length, 0x61), cuts)), Buffer.alloc(length, 0x61));
    }
  }
});

test('every mutator changes documents, never its input, and is deterministic', () => {
  const doc = corpus.find((e) => e.name === 'recorded:getProcessInfo-cafe')!.bytes;
  const copy = Buffer.from(doc);
  for (const m of MUTATORS) {
    let changed = 0;
    for (let i = 0; i < 40; i++) {
      const a = m.apply(makeRng(i), doc, corpus);
      const b = m.apply(makeRng(i), doc, corpus);
      assert.deepEqual(b, a, `${m.name} seed ${i} is not deterministic`);
      if (!a.equals(doc)) changed++;
    }
    assert.deepEqual(doc, copy, `${m.name} modified its input`);
    assert.ok(changed >= 30, `${m.name} changed only ${changed} of 40 documents`);
  }
});

test('mutate applies one to four named mutations', () => {
  const names = new Set(MUTATORS.map((m) => m.name));
  const rng = makeRng(3);
  const counts = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const { mutations } = mutate(rng, corpus[0]!.bytes, corpus);
    counts.add(mutations.length);
    for (const name of mutations) assert.ok(names.has(name), name);
  }
  assert.deepEqual([...counts].sort(), [1, 2, 3, 4]);
});

test('deep-nesting mutations reach the depth limit without a stack overflow', () => {
  const deep = MUTATORS.find((m) => m.name === 'deep-nesting')!;
  const doc = corpus.find((e) => e.name === 'recorded:getState')!.bytes;
  let depthErrors = 0;
  for (let i = 0; i < 60; i++) {
    const bytes = deep.apply(makeRng(i), doc, corpus);
    const result = checkInput(bytes, randomCuts(makeRng(i), bytes));
    assert.equal(result.violation, undefined, result.violation?.detail);
    if (result.whole.kind === 'error' && result.whole.error instanceof DepthLimitError) depthErrors++;
  }
  assert.ok(depthErrors >= 10, `only ${depthErrors} DepthLimitErrors`);
});

// ---------------------------------------------------------------------------
// The invariant checks catch broken decoders
// ---------------------------------------------------------------------------

const DOC = Buffer.from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><int>1</int></value>\n</param>\n</params>\n</methodResponse>\n");
const CUTS = [5, 40, 41];

/** A decoder that works like the real one except on chunked input, where it does `broken`. */
const brokenWhenChunked =
  (broken: (chunks: readonly Uint8Array[]) => unknown): DecodeFn =>
  (chunks, call, options) =>
    chunks.length > 1 ? broken(chunks) : decodeChunks(chunks, call, options);

test('invariant checks: each catches a decoder that breaks it', async (t) => {
  const cases: { name: string; decode: DecodeFn; invariant: string; detail: RegExp }[] = [
    {
      name: 'TypeError',
      decode: brokenWhenChunked(() => (null as unknown as { x: number }).x),
      invariant: 'exception',
      detail: /^chunked: TypeError: Cannot read properties of null/,
    },
    {
      name: 'stack overflow',
      decode: () => {
        const recurse = (n: number): number => recurse(n + 1) + 1;
        return recurse(0);
      },
      invariant: 'exception',
      detail: /^whole: RangeError: Maximum call stack size exceeded/,
    },
    {
      name: 'a thrown string',
      decode: () => {
        throw 'oops'; // eslint-disable-line no-throw-literal
      },
      invariant: 'exception',
      detail: /^whole: non-error thrown: oops$/,
    },
    {
      name: 'different values',
      decode: brokenWhenChunked((chunks) => chunks.length),
      invariant: 'disagreement',
      detail: /^whole: value 1 \| chunked \(4 chunks\): value 4$/,
    },
    {
      name: 'value against error',
      decode: brokenWhenChunked(() => {
        throw new XmlRpcParseError('bad', 3);
      }),
      invariant: 'disagreement',
      detail: /chunked \(4 chunks\): XmlRpcParseError ERR_XMLRPC_SYNTAX: bad at byte 3$/,
    },
    {
      name: 'different offsets',
      decode: (chunks) => {
        throw new XmlRpcParseError('bad', chunks.length);
      },
      invariant: 'disagreement',
      detail: /at byte 1 \| .* at byte 4$/,
    },
    {
      name: 'different codes',
      decode: (chunks) => {
        throw new ProtocolError(chunks.length > 1 ? 'ERR_B' : 'ERR_A', 'x');
      },
      invariant: 'disagreement',
      detail: /ProtocolError ERR_A: x \| .*ProtocolError ERR_B: x$/,
    },
    {
      name: 'different fault strings',
      decode: (chunks) => {
        throw new XmlRpcFault(1, chunks.length > 1 ? 'a' : 'b');
      },
      invariant: 'disagreement',
      detail: /fault 1: b \| .*fault 1: a$/,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const result = checkInput(DOC, CUTS, { decode: c.decode });
      assert.equal(result.violation?.invariant, c.invariant, result.violation?.detail ?? 'no violation');
      assert.match(result.violation.detail, c.detail);
    });
  }
});

test('invariant checks: a consistent fault or error is not a violation', () => {
  for (const decode of [
    (): never => {
      throw new XmlRpcFault(6, 'SHUTDOWN_STATE');
    },
    (): never => {
      throw new XmlRpcParseError('bad', 7);
    },
  ]) {
    const result = checkInput(DOC, CUTS, { decode });
    assert.equal(result.violation, undefined);
    assert.equal(result.whole.kind, 'error');
  }
});

test('invariant checks: time is measured, and an over-budget decode is confirmed by re-runs', () => {
  // A fake clock: each decode "takes" what the schedule says.
  const clock = (durations: number[]): (() => number) => {
    let t = 0;
    let reads = 0;
    return () => {
      // Reads come in pairs around each decode: advance at every second read.
      if (reads++ % 2 === 1) t += durations.shift() ?? 1;
      return t;
    };
  };
  // Always slow: reported once re-runs confirm it.
  const slow = checkInput(DOC, CUTS, { now: clock([250, 250, 250, 250, 250, 250]), budgetMs: 200 });
  assert.equal(slow.violation?.invariant, 'time');
  assert.equal(slow.violation.detail, `250.0 ms for ${DOC.length} bytes (budget 200 ms)`);
  // Slow once (a GC pause), fast on the re-run: not a violation.
  const once = checkInput(DOC, CUTS, { now: clock([250, 3, 2, 2]), budgetMs: 200 });
  assert.equal(once.violation, undefined);
  assert.equal(once.ms, 2);
  assert.equal(timeBudgetMs(DOC.length), 200);
  assert.equal(timeBudgetMs(100_000), 200);
  assert.equal(timeBudgetMs(100_001), 400);
});

test('runFuzz: RSS over the bound is one memory violation; the run goes on', () => {
  const samples = [100, 100, 900, 900, 100];
  const violations: Violation[] = [];
  const report = runFuzz({
    seed: 1,
    maxInputs: 40,
    corpus,
    rssEvery: 10,
    maxRssBytes: 500,
    rss: () => samples.shift() ?? 100,
    onViolation: (v) => violations.push(v),
  });
  assert.equal(report.inputs, 40);
  assert.equal(violations.length, 1);
  assert.equal(violations[0]!.invariant, 'memory');
  assert.equal(violations[0]!.input, undefined);
  assert.match(violations[0]!.detail, /^rss 0 MiB after 20 inputs, bound 0 MiB$/);
  assert.equal(report.maxRssBytes, 900);
});

test('runFuzz: a broken decoder is reported with a stack trace, and stack traces come back after the run', () => {
  const limit = Error.stackTraceLimit;
  const violations: Violation[] = [];
  const report = runFuzz({
    seed: 2,
    maxInputs: 30,
    corpus,
    decode: brokenWhenChunked(() => {
      throw new TypeError('broken on purpose');
    }),
    onViolation: (v) => violations.push(v),
  });
  assert.equal(Error.stackTraceLimit, limit);
  assert.ok(violations.length > 0 && violations.length === report.violationList.length);
  const v = violations[0]!;
  assert.equal(v.invariant, 'exception');
  assert.match(v.detail, /^chunked: TypeError: broken on purpose \(at .*xmlrpc-decoder-fuzz\.test\.js/);
  assert.equal(v.runSeed, 2);
  assert.ok(v.input !== undefined && v.input.cuts.length > 0);
});

test('runFuzz: limits are validated', () => {
  assert.throws(() => runFuzz({ seed: 1 }), { name: 'RangeError', message: 'runFuzz needs durationMs or maxInputs' });
  assert.throws(() => runFuzz({ seed: 1, durationMs: 0 }), { name: 'RangeError', message: 'durationMs must be positive, got 0' });
  assert.throws(() => runFuzz({ seed: 1, maxInputs: 1.5 }), { name: 'RangeError', message: 'maxInputs must be a positive integer, got 1.5' });
});

test('failure files round-trip and replay to the same outcome', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-failures-'));
  try {
    const input = generateInput(SEED, 42, corpus);
    const v: Violation = { invariant: 'disagreement', detail: 'made up', runSeed: SEED, input };
    const bin = writeFailure(dir, v)!;
    assert.equal(path.basename(bin), `disagreement-${SEED.toString(16)}-42.bin`);
    assert.equal(writeFailure(dir, { invariant: 'memory', detail: 'x', runSeed: SEED }), undefined);
    const [stored] = readStoredInputs(dir);
    assert.ok(stored !== undefined);
    assert.deepEqual(stored.bytes, input.bytes);
    assert.deepEqual(stored.record.cuts, input.cuts);
    assert.equal(stored.record.inputSeed, input.seed);
    assert.equal(stored.record.detail, 'made up');
    const replay = checkInput(stored.bytes, stored.record.cuts, { call: stored.record.call, decoderOptions: stored.record.decoderOptions });
    const original = checkInput(input.bytes, input.cuts, { call: input.call, decoderOptions: input.decoderOptions });
    assert.deepEqual(summarize(replay.whole), summarize(original.whole));
    fs.writeFileSync(path.join(dir, 'orphan.bin'), 'x');
    assert.throws(() => readStoredInputs(dir), /orphan\.bin has no orphan\.json beside it/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(readStoredInputs(path.join(dir, 'missing')), []);
});

test('summarize and describeOutcome', () => {
  assert.deepEqual(summarize({ kind: 'value', value: 1 }), { ok: true });
  assert.deepEqual(summarize({ kind: 'error', error: new XmlRpcFault(6, 'SHUTDOWN_STATE') }), { fault: { faultCode: 6, faultString: 'SHUTDOWN_STATE' } });
  assert.deepEqual(summarize({ kind: 'error', error: new XmlRpcParseError('bad', 3) }), { error: 'XmlRpcParseError', code: 'ERR_XMLRPC_SYNTAX', offset: 3 });
  assert.deepEqual(summarize({ kind: 'error', error: new ProtocolError('ERR_X', 'x') }), { error: 'ProtocolError', code: 'ERR_X' });
  assert.equal(summarize({ kind: 'exception', error: new TypeError('x') }), undefined);
  assert.equal(describeOutcome({ kind: 'value', value: [1n, 'a'.repeat(300)] }).length, 'value '.length + 203);
  assert.equal(describeOutcome({ kind: 'value', value: undefined }), 'value undefined');
  const circular: Record<string, unknown> = {};
  circular['self'] = circular;
  assert.equal(describeOutcome({ kind: 'value', value: circular }), 'value [object Object]');
  assert.equal(decodeResponse(DOC), 1);
});

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

const RUN_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fuzz', 'run.js');

test('run.js as a command: progress, then the last line "<N> inputs/s, 0 violations", exit code 0', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-run-'));
  try {
    // As a user runs it: outside the test runner (run.js stays quiet under NODE_TEST_CONTEXT).
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync(process.execPath, [RUN_JS, '--seconds', '1.2', '--seed', '5', '--out', out], { encoding: 'utf8', timeout: 20_000, env });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^fuzz: seed 5, 1\.2 s, corpus of \d+ documents, failures to /);
    assert.ok(lines.some((l) => /^fuzz: 1 s, \d+ inputs, \d+ inputs\/s, 0 violations, rss \d+ MiB$/.test(l)), r.stdout);
    assert.match(lines.at(-1)!, /^[1-9]\d* inputs\/s, 0 violations$/);
    assert.deepEqual(fs.readdirSync(out), []);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('runCli: violations are printed, written to --out, counted in the last line, exit code 1', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-run-'));
  const lines: string[] = [];
  try {
    const code = runCli(['--seconds=0.2', '--seed=9', `--out=${out}`], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(`ERR ${l}`),
      decode: brokenWhenChunked(() => {
        throw new RangeError('broken on purpose');
      }),
    });
    assert.equal(code, 1);
    const last = /^(\d+) inputs\/s, (\d+) violations$/.exec(lines.at(-1)!);
    assert.ok(last !== null, lines.at(-1));
    const violations = Number(last[2]);
    assert.ok(violations > 0);
    const reported = lines.filter((l) => l.startsWith('fuzz: VIOLATION exception input '));
    assert.equal(reported.length, violations);
    assert.match(reported[0]!, /: chunked: RangeError: broken on purpose \(at .*\) -> .*\.bin$/);
    // At most 50 pairs of files, whatever the number of violations.
    const files = fs.readdirSync(out);
    assert.equal(files.length, 2 * Math.min(50, violations));
    assert.ok(files.every((f) => /^exception-9-\d+\.(bin|json)$/.test(f)), files.join(' '));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('runCli: bad arguments give exit code 2 and say why; --help gives the usage', () => {
  const cases: [string[], string][] = [
    [['--seconds', '0'], '--seconds must be a positive number, got "0"'],
    [['--seconds'], '--seconds needs a value'],
    [['--seed', '-1'], '--seed must be an integer in 0..4294967295, got "-1"'],
    [['--seed=x'], '--seed must be an integer in 0..4294967295, got "x"'],
    [['--out='], '--out needs a value'],
    [['--bogus'], 'unknown argument "--bogus"'],
  ];
  for (const [args, message] of cases) {
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l) }), 2, args.join(' '));
    assert.deepEqual(err, [`fuzz: ${message}`, USAGE]);
    assert.deepEqual(out, []);
  }
  const out: string[] = [];
  assert.equal(runCli(['-h'], { out: (l) => out.push(l), err: (l) => out.push(l) }), 0);
  assert.deepEqual(out, [USAGE]);
  assert.deepEqual(parseArgs(['--seconds', '2.5', '--seed', '4294967295', '--out', 'x']), { seconds: 2.5, seed: 4294967295, out: 'x', help: false });
});
