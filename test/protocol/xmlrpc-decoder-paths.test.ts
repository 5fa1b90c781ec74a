import { createRandom as prng } from '../../fixtures/generate.js'; // mulberry32: a failing seed replays
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DepthLimitError, XmlRpcValueError } from '../../protocol/errors.js';
import { XmlRpcDecoder, decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import type { XmlRpcValue } from '../../protocol/types.js';

// The decoder reads the shapes Python writes through fast paths and falls
// back to the general parser for anything else. These tests check that both
// ways give the same values and the same errors.

const HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
const TAIL = '</param>\n</params>\n</methodResponse>\n';


const NAMES = ['name', 'group', 'statename', 'state', 'stdout_logfile', 'stderr_logfile', '__proto__', 'constructor', '', 'a&b', 'naïve', 'x'.repeat(70), 'pid', 'p'];
const STRINGS = ['', 'RUNNING', 'a<b & c>d', 'wörker 😀', '/var/log/supervisor/web-stdout---supervisor-abc123.log', ' \r\n\t', '\x01\x1b[0m', 'x'.repeat(100)];
const INTS = [0, -1, 1, 2147483647, -2147483648, 123456789, 42];

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A random value and its XML-RPC text in Python's layout; `mark` is inserted where it defeats the fast paths. */
function randomValue(random: () => number, depth: number, mark: string): [XmlRpcValue, string] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const r = random();
  if (depth < 3 && r < 0.25) {
    const value: { [k: string]: XmlRpcValue } = {};
    let xml = `<value>${mark}<struct>\n`;
    const n = Math.floor(random() * 6);
    for (let i = 0; i < n; i++) {
      const name = pick(NAMES);
      const [v, vx] = randomValue(random, depth + 1, mark);
      Object.defineProperty(value, name, { value: v, writable: true, enumerable: true, configurable: true });
      xml += `<member>\n<name>${mark}${escape(name)}</name>\n${vx}</member>\n`;
    }
    return [value, `${xml}</struct></value>\n`];
  }
  if (depth < 3 && r < 0.4) {
    const value: XmlRpcValue[] = [];
    let xml = `<value>${mark}<array><data>\n`;
    const n = Math.floor(random() * 5);
    for (let i = 0; i < n; i++) {
      const [v, vx] = randomValue(random, depth + 1, mark);
      value.push(v);
      xml += vx;
    }
    return [value, `${xml}</data></array></value>\n`];
  }
  if (r < 0.7) {
    const s = pick(STRINGS);
    return [s, `<value>${mark}<string>${escape(s)}</string></value>\n`];
  }
  const n = pick(INTS);
  return [n, `<value>${mark}<int>${n}</int></value>\n`];
}

test('fast paths and the general parser agree on random Python-shaped documents', () => {
  for (let round = 0; round < 300; round++) {
    const seed = 1000 + round;
    const random = prng(seed);
    // The same random choices twice: once plain, once with a comment that
    // sends every <value> and <name> through the general parser.
    const [expected, plain] = randomValue(random, 0, '');
    const [, marked] = randomValue(prng(seed), 0, '<!---->');
    const message = `seed ${seed}`;
    assert.deepStrictEqual(decodeResponse(Buffer.from(HEAD + plain + TAIL)), expected, message);
    assert.deepStrictEqual(decodeResponse(Buffer.from(HEAD + marked + TAIL)), expected, message);
    // And across chunk boundaries of several sizes.
    for (const size of [1, 7, 64, 300]) {
      const doc = Buffer.from(HEAD + plain + TAIL);
      const d = new XmlRpcDecoder();
      for (let i = 0; i < doc.length; i += size) d.write(doc.subarray(i, i + size));
      assert.deepStrictEqual(d.end(), expected, `${message}, chunks of ${size}`);
    }
  }
});

test('member names are predicted from the previous struct, and checked', () => {
  // Same position, names that extend, shorten or change the previous ones.
  const structs = [
    ['statename', 'state', 'pid'],
    ['state', 'statename', 'pid'],
    ['statenamex', 'stat', 'pi'],
    ['statename', 'state', 'pid'],
    ['sta', 'stdout_logfile', 'stderr_logfile'],
    ['stb', 'stderr_logfile', 'stdout_logfile'],
  ];
  const xml = structs
    .map((names, i) => `<value><struct>\n${names.map((n, k) => `<member>\n<name>${n}</name>\n<value><int>${i * 10 + k}</int></value>\n</member>\n`).join('')}</struct></value>\n`)
    .join('');
  const value = decodeResponse(Buffer.from(`${HEAD}<value><array><data>\n${xml}</data></array></value>\n${TAIL}`)) as { [k: string]: number }[];
  assert.deepStrictEqual(
    value,
    structs.map((names, i) => Object.fromEntries(names.map((n, k) => [n, i * 10 + k]))),
  );
});

test('what one document taught is shared by every decoder and checked: documents of other shapes interleaved chunk by chunk decode as they do alone', () => {
  const struct = (names: string[], base: number): string =>
    `<value><struct>\n${names.map((n, k) => `<member>\n<name>${n}</name>\n<value><int>${base + k}</int></value>\n</member>\n`).join('')}</struct></value>\n`;
  const docs = [
    [['name', 'group', 'pid'], ['name', 'group', 'pid']],
    [['group', 'name', 'pid'], ['name', 'pid']],
    [['name', 'groups', 'pi'], ['nam', 'group', 'pid', 'extra']],
  ].map((shapes) => Buffer.from(`${HEAD}<value><array><data>\n${shapes.map((names, i) => struct(names, i * 10)).join('')}</data></array></value>\n${TAIL}`));
  const alone = docs.map((doc) => decodeResponse(doc));
  for (const size of [1, 5, 17, 64]) {
    const decoders = docs.map(() => new XmlRpcDecoder());
    for (let at = 0; at < Math.max(...docs.map((d) => d.length)); at += size) {
      docs.forEach((doc, i) => {
        if (at < doc.length) decoders[i]!.write(doc.subarray(at, at + size));
      });
    }
    assert.deepStrictEqual(
      decoders.map((d) => d.end()),
      alone,
      `chunks of ${size}`,
    );
  }
  assert.deepStrictEqual(alone[1], [{ group: 0, name: 1, pid: 2 }, { name: 10, pid: 11 }]);
});

test('an int the fast path cannot take is read by the general parser', () => {
  const member = (text: string): string => `${HEAD}<value><struct>\n<member>\n<name>n</name>\n<value><int>${text}</int></value>\n</member>\n</struct></value>\n${TAIL}`;
  assert.deepStrictEqual(decodeResponse(Buffer.from(member('00000000042'))), { n: 42 });
  assert.deepStrictEqual(decodeResponse(Buffer.from(member(' 7'))), { n: 7 });
  const doc = member('2147483648');
  assert.throws(() => decodeResponse(Buffer.from(doc)), (e: unknown) => {
    assert.ok(e instanceof XmlRpcValueError);
    assert.equal(e.message, `out of range <int> value "2147483648" at byte ${doc.indexOf('2147483648')}`);
    return true;
  });
});

test('fast paths respect maxDepth exactly', () => {
  // methodResponse, params, param, value, array, data, value, struct = 8;
  // member, value, string = 11.
  const doc = Buffer.from(
    `${HEAD}<value><array><data>\n<value><struct>\n<member>\n<name>n</name>\n<value><string>s</string></value>\n</member>\n</struct></value>\n</data></array></value>\n${TAIL}`,
  );
  assert.deepStrictEqual(decodeResponse(doc, { maxDepth: 11 }), [{ n: 's' }]);
  for (const [maxDepth, marker] of [
    [10, '<string>'],
    [9, '<name>'],
    [8, '<member>'],
    [7, '<struct>'],
    [6, '<value><struct>'],
  ] as const) {
    assert.throws(() => decodeResponse(doc, { maxDepth }), (e: unknown) => {
      assert.ok(e instanceof DepthLimitError);
      assert.equal(e.message, `nesting deeper than ${maxDepth} levels at byte ${doc.indexOf(marker)}`);
      return true;
    });
  }
});

test('an array of bare values keeps order and types across the fast path', () => {
  const items: [XmlRpcValue, string][] = [
    ['a', '<value><string>a</string></value>'],
    [1, '<value><int>1</int></value>'],
    ['b', '<value>b</value>'],
    [true, '<value><boolean>1</boolean></value>'],
    ['&', '<value><string>&amp;</string></value>'],
    [-5, '<value><i4>-5</i4></value>'],
    [{}, '<value><struct/></value>'],
  ];
  const doc = `${HEAD}<value><array><data>\n${items.map((i) => i[1]).join('\n')}\n</data></array></value>\n${TAIL}`;
  assert.deepStrictEqual(decodeResponse(Buffer.from(doc)), items.map((i) => i[0]));
});
