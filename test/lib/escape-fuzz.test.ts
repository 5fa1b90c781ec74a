/**
 * A short run of the escape fuzzer (test/fuzz/fuzz-escapes.ts) in `npm test`:
 * hostile server strings through `--format text` and the stderr log lines,
 * no control, escape or bidirectional character in the output.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hostileString, runEscapeFuzz, UNSAFE_OUTPUT } from '../fuzz/fuzz-escapes.js';
import { makeRng } from '../fuzz/fuzz-decoder.js';

describe('escape fuzzer', () => {
  it('the generator does produce what it must catch', () => {
    const rng = makeRng(7);
    const samples = Array.from({ length: 500 }, () => hostileString(rng));
    assert.ok(samples.filter((s) => UNSAFE_OUTPUT.test(s)).length > 300);
    for (const ch of ['\x1b]52;', '\x9b', '\u202e', '\r']) assert.ok(samples.some((s) => s.includes(ch)), JSON.stringify(ch));
  });

  for (const seed of [1, 0x5eed, 0xdeadbeef]) {
    it(`seed ${seed}: 1,500 inputs, no unsafe character in any output line`, () => {
      const report = runEscapeFuzz({ seed, maxInputs: 1500 });
      assert.equal(report.inputs, 1500);
      assert.deepEqual(report.violations.slice(0, 3), [], `seed ${seed}: ${report.violations.length} violations`);
    });
  }
});
