import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { findInvalidUtf8, incompleteUtf8Tail } from '../../protocol/utf8.js';

// The decoder's UTF-8 helpers, against Node's own validator.

const cases: { name: string; bytes: number[]; invalidAt: number; tail: number }[] = [
  { name: 'empty', bytes: [], invalidAt: -1, tail: 0 },
  { name: 'ASCII', bytes: [0x41, 0x0a, 0x7f], invalidAt: -1, tail: 3 },
  { name: '2, 3 and 4 byte characters', bytes: [0xc3, 0xa9, 0xe6, 0x97, 0xa5, 0xf0, 0x9f, 0x98, 0x80], invalidAt: -1, tail: 9 },
  { name: 'U+10FFFF and U+D7FF, U+E000', bytes: [0xf4, 0x8f, 0xbf, 0xbf, 0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80], invalidAt: -1, tail: 10 },
  { name: 'cut 2-byte character', bytes: [0x41, 0xc3], invalidAt: 1, tail: 1 },
  { name: 'cut 3-byte character after 2 bytes', bytes: [0x41, 0xe6, 0x97], invalidAt: 1, tail: 1 },
  { name: 'cut 4-byte character after 3 bytes', bytes: [0xf0, 0x9f, 0x98], invalidAt: 0, tail: 0 },
  { name: 'cut sequence that is already invalid', bytes: [0x41, 0xe0, 0x80], invalidAt: 1, tail: 3 },
  { name: 'cut surrogate', bytes: [0xed, 0xa0], invalidAt: 0, tail: 2 },
  { name: 'cut sequence beyond U+10FFFF', bytes: [0xf4, 0x90], invalidAt: 0, tail: 2 },
  { name: 'lead then ASCII', bytes: [0xc3, 0x41], invalidAt: 0, tail: 2 },
  { name: '3-byte lead, continuation, ASCII', bytes: [0xe6, 0x97, 0x41], invalidAt: 0, tail: 3 },
  { name: 'stray continuation bytes', bytes: [0x80, 0x80, 0x80], invalidAt: 0, tail: 3 },
  { name: 'overlong NUL', bytes: [0xc0, 0x80], invalidAt: 0, tail: 2 },
  { name: 'overlong 3-byte', bytes: [0xe0, 0x9f, 0xbf], invalidAt: 0, tail: 3 },
  { name: 'overlong 4-byte', bytes: [0xf0, 0x8f, 0xbf, 0xbf], invalidAt: 0, tail: 4 },
  { name: 'bytes F5..FF', bytes: [0x41, 0xf5], invalidAt: 1, tail: 2 },
  { name: '4-byte lead with a bad third byte', bytes: [0xf0, 0x9f, 0x41, 0x80], invalidAt: 0, tail: 4 },
  { name: 'complete character then a cut one', bytes: [0xc3, 0xa9, 0xf0, 0x9f], invalidAt: 2, tail: 2 },
];

for (const c of cases) {
  test(`utf8: ${c.name}`, () => {
    const b = Uint8Array.from(c.bytes);
    assert.equal(findInvalidUtf8(b, 0, b.length), c.invalidAt);
    assert.equal(isUtf8(b), c.invalidAt === -1, 'agrees with buffer.isUtf8');
    assert.equal(incompleteUtf8Tail(b, 0, b.length), c.tail);
    // The bytes before the tail hold whole characters or a certain error.
    const head = b.subarray(0, c.tail);
    assert.equal(findInvalidUtf8(head, 0, head.length) === -1, isUtf8(head));
  });
}

test('utf8: ranges inside a larger buffer', () => {
  const b = Uint8Array.from([0xff, 0x41, 0xc3, 0xa9, 0x42, 0xe6, 0x97, 0xff]);
  assert.equal(findInvalidUtf8(b, 1, 5), -1);
  assert.equal(findInvalidUtf8(b, 1, 7), 5);
  assert.equal(incompleteUtf8Tail(b, 1, 7), 5);
  assert.equal(incompleteUtf8Tail(b, 6, 7), 7, 'a tail does not look before start');
});

test('utf8: agrees with buffer.isUtf8 on random bytes (seeded)', () => {
  let s = 12345;
  const random = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 16;
  };
  const interesting = [0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  for (let round = 0; round < 20000; round++) {
    const n = 1 + (random() % 6);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = random() % 3 === 0 ? random() & 0xff : interesting[random() % interesting.length]!;
    const at = findInvalidUtf8(b, 0, n);
    assert.equal(at === -1, isUtf8(b), `seed 12345, round ${round}: ${Buffer.from(b).toString('hex')}`);
    if (at >= 0) assert.ok(isUtf8(b.subarray(0, at)), `valid before ${at}: ${Buffer.from(b).toString('hex')}`);
    const tail = incompleteUtf8Tail(b, 0, n);
    if (tail < n) {
      // A held tail is never invalid on its own, and whatever completes it
      // may still make it valid.
      assert.ok(n - tail <= 3);
      assert.equal(findInvalidUtf8(b, 0, tail), at === -1 || at >= tail ? -1 : at);
    }
  }
});
