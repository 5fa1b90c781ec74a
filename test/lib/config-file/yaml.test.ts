/**
 * The YAML subset reader: what Datadog configurations are written in is read
 * as a YAML reader would; everything else is refused with the line and the
 * column, never silently read differently.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseYaml, YamlSyntaxError } from '../../../lib/config-file/yaml.js';
import type { YamlValue } from '../../../lib/config-file/yaml.js';
import { ScalarSources } from '../../../lib/config-file/scalars.js';

describe('parseYaml: the subset', () => {
  const cases: Array<[string, YamlValue, string]> = [
    ['', null, 'an empty document'],
    ['# only a comment\n\n   \n', null, 'comments and blank lines only'],
    ['---\na: 1\n...\n# after the end\n', { a: 1 }, 'document start and end markers'],
    ['\uFEFFa: 1\r\nb: 2\r\n', { a: 1, b: 2 }, 'a BOM and CRLF line ends'],
    ['init_config:\n\ninstances:\n  - name: x\n', { init_config: null, instances: [{ name: 'x' }] }, 'the Datadog shape'],
    ['instances:\n- name: x\n  host: h\n- name: y\nother: 1\n', { instances: [{ name: 'x', host: 'h' }, { name: 'y' }], other: 1 }, "a sequence at its key's indentation"],
    ['instances:\n\n    ## @param name\n    #\n  - name: x\n\n    # host: h\n', { instances: [{ name: 'x' }] }, 'comments at any indentation'],
    ['a:\n  b:\n    c: d\n  e: f\n', { a: { b: { c: 'd' }, e: 'f' } }, 'nested mappings'],
    ['- - a\n  - b\n- c: d\n  e: f\n-\n- \n  x: 1\n', [['a', 'b'], { c: 'd', e: 'f' }, null, { x: 1 }], 'nested sequences, a mapping in an entry, empty entries'],
    [
      'n: [1, two, "th,ree", [4], {five: 5}, ]\nm: {a: 1, b: [x, y], c}\ne: []\nf: {}\n',
      { n: [1, 'two', 'th,ree', [4], { five: 5 }], m: { a: 1, b: ['x', 'y'], c: null }, e: [], f: {} },
      'flow sequences and mappings, nested, a trailing comma',
    ],
    ["s: 'it''s # not a comment'\nd: \"tab\\tquote\\\" \\u00e9\\x41\\U0001F600\"\n", { s: "it's # not a comment", d: 'tab\tquote" éA😀' }, 'quoted scalars and escapes'],
    ['"quoted key": 1\n\'other\': 2\n', { 'quoted key': 1, other: 2 }, 'quoted keys'],
    [
      'url: unix:///var/run//supervisor.sock\nhost: http://127.0.0.1\ntag: env:prod\nhash: a#b\nre: worker_\\d+$\nc: it\'s # comment\n',
      { url: 'unix:///var/run//supervisor.sock', host: 'http://127.0.0.1', tag: 'env:prod', hash: 'a#b', re: 'worker_\\d+$', c: "it's" },
      'plain scalars with colons, # without a space before it, apostrophes',
    ],
    [
      'a: ~\nb: null\nc: NULL\nd: true\ne: False\nf: 9001\ng: -1\nh: 0x1F\ni: 0o17\nj: 2.5\nk: .5\nl: 1e3\nm: .inf\nn: yes\no: off\np: 0\nq: "9001"\nr: 10s\n',
      { a: null, b: null, c: null, d: true, e: false, f: 9001, g: -1, h: 31, i: 15, j: 2.5, k: 0.5, l: 1000, m: Infinity, n: 'yes', o: 'off', p: 0, q: '9001', r: '10s' },
      'YAML 1.2 core schema (yes/off stay strings)',
    ],
    ['a:    spaced value   \t# c\n', { a: 'spaced value' }, 'spaces around a plain value'],
    ['a: [1 2, x y]\nb: {k: v w}\n', { a: ['1 2', 'x y'], b: { k: 'v w' } }, 'plain values of several words in flow collections'],
    ['x\n', 'x', 'a scalar document'],
  ];
  for (const [text, expected, why] of cases) {
    it(why, () => {
      assert.deepEqual(parseYaml(text), expected);
    });
  }

  it('keeps __proto__ as an ordinary key', () => {
    const value = parseYaml('__proto__: 1\nm: {__proto__: 2}\n') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__', 'm']);
    assert.equal(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, 1);
    assert.deepEqual(Object.keys(value['m'] as object), ['__proto__']);
  });

  it('reads NaN', () => {
    assert.ok(Number.isNaN((parseYaml('a: .nan') as { a: number }).a));
  });
});

describe('parseYaml: refused, with line and column', () => {
  const SECRET = 'S3cret-value';
  const cases: Array<[string, number, number, string]> = [
    ['a: |\n  text\n', 1, 4, 'block scalars (| and >) are not supported: write the value on one line, quoted'],
    ['a: >-\n  text\n', 1, 4, 'block scalars (| and >) are not supported: write the value on one line, quoted'],
    ['a: &anchor 1\n', 1, 4, 'anchors and aliases (& and *) are not supported'],
    ['a: *alias\n', 1, 4, 'anchors and aliases (& and *) are not supported'],
    ['a: !!str 1\n', 1, 4, 'tags (!) are not supported'],
    ['a: @x\n', 1, 4, 'a plain value cannot start with @ or ` (reserved): quote it'],
    ['a: %x\n', 1, 4, 'a plain value cannot start with %: quote it'],
    ['%YAML 1.2\n---\na: 1\n', 1, 1, 'directives (%) are not supported'],
    ['? a\n: b\n', 1, 1, 'complex keys (?) are not supported'],
    ['a: 1\n---\nb: 2\n', 2, 1, 'a second document (---): the file must hold one'],
    ['--- a: 1\n', 1, 5, 'content on the --- line: start it on the next line'],
    ['a: 1\n...\nb: 2\n', 3, 1, 'content after the end of the document (...)'],
    ['a:\n\tb: 1\n', 2, 1, 'a tab in the indentation (YAML indents with spaces only)'],
    ['a: 1\na: 2\n', 2, 1, 'a key given twice in one mapping'],
    ['m: {a: 1, a: 2}\n', 1, 11, 'a key given twice in one mapping'],
    ['a: b: c\n', 1, 4, "a mapping cannot start on its key's line: start it on the next line"],
    ['a: - b\n', 1, 4, "a block sequence cannot start on its key's line: start it on the next line"],
    ['a: x y: z\n', 1, 4, "a mapping cannot start on its key's line: start it on the next line"],
    ['- a: x y: z\n', 1, 6, "a mapping cannot start on its key's line: start it on the next line"],
    ['- a\n- b: c: d\n', 2, 6, "a mapping cannot start on its key's line: start it on the next line"],
    ['x: 1\nplain: a: b\n', 2, 8, "a mapping cannot start on its key's line: start it on the next line"],
    ['just text: more: x\n', 1, 12, "a mapping cannot start on its key's line: start it on the next line"],
    ['- text: a\n- b c: d: e\n', 2, 8, "a mapping cannot start on its key's line: start it on the next line"],
    ['a: plain\n  continued\n', 2, 3, 'unexpected indentation (a value continued on the next lines is not supported: keep it on one line)'],
    ['a:\n    - x\n  - y\n', 3, 3, 'unexpected indentation (a value continued on the next lines is not supported: keep it on one line)'],
    ['- a\n- b\nc: d\n', 3, 1, 'unexpected indentation: this line belongs to nothing above it'],
    ['a: 1\n- b\n', 2, 1, "expected 'key: value'"],
    [`p: '${SECRET}\n`, 1, 4, 'a single-quoted value is not closed on its line (values on several lines are not supported)'],
    [`p: "${SECRET}\n`, 1, 4, 'a double-quoted value is not closed on its line (values on several lines are not supported)'],
    [`p: "${SECRET}\\q"\n`, 1, 17, 'an unknown escape sequence'],
    ['p: "a\\\n', 1, 6, 'a line cannot end with \\ in this subset (values on several lines are not supported)'],
    ['p: "\\uD800"\n', 1, 5, 'an escape of a code point that does not exist'],
    [`p: '${SECRET}' tail\n`, 1, 19, 'unexpected text after the value (a value with ": " or " #" in it must be quoted)'],
    ['a: [1, 2\n  , 3]\n', 1, 4, "the '[' here is not closed on its line (flow collections on several lines are not supported)"],
    ['a: {x: 1\n', 1, 4, "the '{' here is not closed on its line (flow collections on several lines are not supported)"],
    ['a: [1, , 2]\n', 1, 8, 'an empty entry in a flow sequence'],
    ['a: [x: 1]\n', 1, 5, 'a key: value pair inside [...] is not supported: use {...}'],
    ['a: {[x]: 1}\n', 1, 5, 'a collection as a key is not supported'],
    ['a: [b[c]]\n', 1, 6, "'[' inside a plain value of a flow collection: quote the value"],
    ['a: {x: "1" y}\n', 1, 12, "expected ',' or '}'"],
    ['a: [1] x\n', 1, 8, 'unexpected text after the value (a value with ": " or " #" in it must be quoted)'],
    ['port: 09001\n', 1, 7, 'an integer with a leading zero is octal for some YAML readers and decimal for others: quote it, or drop the zero'],
    [`${'['.repeat(100)}${']'.repeat(100)}\n`, 1, 64, 'nested more than 64 levels deep'],
  ];
  for (const [text, line, column, what] of cases) {
    it(`${JSON.stringify(text.split('\n')[0]).slice(0, 40)}: ${what}`, () => {
      assert.throws(
        () => parseYaml(text),
        (error: unknown) => {
          assert.ok(error instanceof YamlSyntaxError, String(error));
          assert.equal(error.code, 'ERR_YAML_SYNTAX');
          assert.equal(error.name, 'YamlSyntaxError');
          assert.equal(error.message, `line ${line}, column ${column}: ${what}`);
          assert.deepEqual([error.line, error.column], [line, column]);
          assert.ok(!error.message.includes(SECRET), 'never the text of the file');
          return true;
        },
      );
    });
  }

  it('a deep block nesting is refused, not a stack overflow', () => {
    const text = Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    assert.throws(() => parseYaml(text), /^YamlSyntaxError: line 65, column 65: nested more than 64 levels deep$/);
  });
});

describe('parseYaml: where plain scalars that are not plainly text were written', () => {
  // [document, path to the container, key or index, expected source or undefined]
  const cases: Array<[string, Array<string | number>, string | number, { text: string; kind: string; line: number; column: number } | undefined, string]> = [
    ['p: 1e5\n', [], 'p', { text: '1e5', kind: 'number', line: 1, column: 4 }, 'a number in a block mapping'],
    ['a:\n  b: 0x1F   # c\n', ['a'], 'b', { text: '0x1F', kind: 'number', line: 2, column: 6 }, 'nested, a comment after it'],
    ['l:\n  - x\n  - 1.50\n', ['l'], 1, { text: '1.50', kind: 'number', line: 3, column: 5 }, 'an item of a block sequence'],
    ['l: [a, 12345678901234567890]\n', ['l'], 1, { text: '12345678901234567890', kind: 'number', line: 1, column: 8 }, 'an item of a flow sequence'],
    ['m: {k: true}\n', ['m'], 'k', { text: 'true', kind: 'boolean', line: 1, column: 8 }, 'a value of a flow mapping'],
    ['p: yes\n', [], 'p', { text: 'yes', kind: 'yaml11', line: 1, column: 4 }, 'yes: text here, a boolean to YAML 1.1'],
    ['p: 1_000\n', [], 'p', { text: '1_000', kind: 'yaml11', line: 1, column: 4 }, '1_000: an integer to YAML 1.1'],
    ['p: 1:30\n', [], 'p', { text: '1:30', kind: 'yaml11', line: 1, column: 4 }, 'sexagesimal 1:30: 90 to YAML 1.1'],
    ['p: 0o17\n', [], 'p', { text: '0o17', kind: 'number', line: 1, column: 4 }, '0o17: 15 to YAML 1.2'],
    ['p:\n  +1\n', [], 'p', { text: '+1', kind: 'number', line: 2, column: 3 }, 'a value on the line below its key'],
    ['p: text\n', [], 'p', undefined, 'plain text is not recorded'],
    ['p: "1e5"\n', [], 'p', undefined, 'a quoted number is text'],
    ['p: ~\n', [], 'p', undefined, 'null is not recorded (unset for every reader)'],
    ['p: 10.0.0.1\n', [], 'p', undefined, 'an address is text to every reader'],
  ];
  for (const [text, path, key, expected, why] of cases) {
    it(why, () => {
      const sources = new ScalarSources();
      let container = parseYaml(text, sources) as Record<string | number, unknown>;
      for (const step of path) container = container[step] as Record<string | number, unknown>;
      const source = sources.get(container, key);
      assert.deepEqual(source === undefined ? undefined : { ...source }, expected);
    });
  }

  it('reads a plain key of a flow mapping as written, like a block key', () => {
    assert.deepEqual(parseYaml('m: {1e3: a, 0x1F: b, ~: c, "q": d}\n1e3: e\n'), { m: { '1e3': 'a', '0x1F': 'b', '~': 'c', q: 'd' }, '1e3': 'e' });
  });

  it('records nothing for a lone scalar document, and records without a table', () => {
    const sources = new ScalarSources();
    assert.equal(parseYaml('1e5\n', sources), 100000);
    assert.deepEqual(parseYaml('p: 1e5\n'), { p: 100000 });
  });
});
