/**
 * Replays the inputs the decoder fuzzer found failing (fixtures/fuzz-regressions:
 * `NAME.bin` holds the bytes, `NAME.json` the record written by the fuzzer
 * plus the outcome expected from the fixed decoder, see test/fuzz/fuzz-decoder.ts).
 *
 * Each input is decoded whole and with the chunking that failed, then with
 * every chunk size around the decoder's thresholds, split at every byte
 * offset when small, and in seeded random chunks: the invariants must hold
 * for all of them, and the outcome must be the expected one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';

import { checkInput, describeOutcome, makeRng, randomCuts, readStoredInputs, repoRoot, summarize } from '../fuzz/fuzz-decoder.js';
import type { CheckResult, FailureRecord } from '../fuzz/fuzz-decoder.js';

const DIR = path.join(repoRoot(), 'fixtures', 'fuzz-regressions');
const stored = readStoredInputs(DIR);

/** Chunk sizes tried on every input: the thresholds of the decoder (256 + 3 joined, 4096 per tag) and small ones. */
const SIZES = [1, 2, 3, 4, 7, 64, 255, 256, 257, 258, 259, 260, 4095, 4096, 4097];

function cutsOfSize(length: number, size: number, offset: number): number[] {
  const cuts: number[] = [];
  for (let c = offset; c < length; c += size) if (c > 0) cuts.push(c);
  return cuts;
}

test('the regression directory holds inputs, each with a description and an expected outcome', () => {
  assert.ok(stored.length > 0, `no inputs in ${DIR}`);
  for (const s of stored) {
    assert.ok(s.record.description.length > 20, `${s.name}: describe what broke`);
    assert.ok(s.record.expect !== undefined, `${s.name}: no "expect"`);
    assert.ok(Array.isArray(s.record.cuts), `${s.name}: no "cuts"`);
  }
});

for (const { name, bytes, record } of stored) {
  test(`regression ${name}`, () => {
    const options = { call: record.call, decoderOptions: record.decoderOptions };
    const check = (cuts: readonly number[], label: string): CheckResult => {
      const r = checkInput(bytes, cuts, options);
      assert.equal(r.violation, undefined, `${name} (${label}, cuts ${cuts.length > 20 ? `${cuts.length} cuts` : cuts.join(',')}): ${r.violation?.detail}`);
      return r;
    };
    const expected: FailureRecord['expect'] = record.expect;
    const first = check(record.cuts, 'recorded chunks');
    assert.deepEqual(summarize(first.whole), expected, describeOutcome(first.whole));
    for (const size of SIZES) {
      if (size >= bytes.length) continue;
      // Two phases per size: chunk boundaries land on different bytes.
      for (const offset of [size, Math.max(1, size >> 1)]) check(cutsOfSize(bytes.length, size, offset), `chunks of ${size} from ${offset}`);
    }
    if (bytes.length <= 4096) {
      for (let cut = 1; cut < bytes.length; cut++) check([cut], `split at ${cut}`);
    }
    const rng = makeRng(0xbad5eed);
    for (let i = 0; i < 30; i++) check(randomCuts(rng, bytes), `random chunking ${i}`);
  });
}
