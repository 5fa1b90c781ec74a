import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROCESS_STATES, compareCodePoints, compareListingOrder } from '../../lib/process-model.js';

test('compareCodePoints: Python str order, not UTF-16 order', () => {
  // [a, b, sign of a - b]
  const cases: Array<[string, string, number]> = [
    ['a', 'b', -1],
    ['b', 'a', 1],
    ['a', 'a', 0],
    ['a', 'ab', -1],
    ['ab', 'a', 1],
    ['', 'a', -1],
    ['Z', 'a', -1],
    ['é', 'z', 1],
    // U+FF5E (BMP, above the surrogates) sorts before U+1F600 in Python; UTF-16 order says the opposite
    ['\uff5e', '\u{1f600}', -1],
    ['\u{1f600}', '\uff5e', 1],
    ['\u{1f600}', '\u{1f601}', -1],
    ['\ud7ff', '\u{10000}', -1],
    ['\ue000', '\u{1d11e}', -1],
    ['\u{1f680}', '\u{1d11e}', 1],
  ];
  for (const [a, b, sign] of cases) assert.equal(Math.sign(compareCodePoints(a, b)), sign, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

test('compareListingOrder: by group, then by name, as getAllProcessInfo lists', () => {
  const procs = [
    { group: 'web', name: 'b' },
    { group: 'api', name: 'z' },
    { group: 'web', name: 'a' },
    { group: '\u{1f680}', name: 'x' },
    { group: '\uffff', name: 'y' },
  ];
  const sorted = procs.slice().sort(compareListingOrder).map((p) => `${p.group}:${p.name}`);
  assert.deepEqual(sorted, ['api:z', 'web:a', 'web:b', '\uffff:y', '\u{1f680}:x']);
});

test('PROCESS_STATES: supervisor/states.py codes, frozen', () => {
  assert.deepEqual({ ...PROCESS_STATES }, { STOPPED: 0, STARTING: 10, RUNNING: 20, BACKOFF: 30, STOPPING: 40, EXITED: 100, FATAL: 200, UNKNOWN: 1000 });
  assert.ok(Object.isFrozen(PROCESS_STATES));
});
