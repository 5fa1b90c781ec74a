import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmlRpcValueError } from '../../protocol/errors.js';
import { XmlRpcDecoder } from '../../protocol/xmlrpc-decoder.js';
import type { XmlRpcValue } from '../../protocol/types.js';

// Scalar texts, decoded inside a Python-shaped response, whole and split at
// every offset (the text of a scalar cut by a chunk boundary takes another
// code path than a text held in one chunk).

const HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>";
const TAIL = '</value>\n</param>\n</params>\n</methodResponse>\n';

type Outcome = { ok: true; value: XmlRpcValue } | { ok: false; error: unknown };

function decodeIn(doc: Buffer, cut: number): Outcome {
  const d = new XmlRpcDecoder();
  try {
    d.write(doc.subarray(0, cut));
    d.write(doc.subarray(cut));
    return { ok: true, value: d.end() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Decodes `<element>text</element>` whole and split at every offset; all must agree. */
function decodeScalar(element: string, text: string): Outcome {
  const doc = Buffer.from(`${HEAD}<${element}>${text}</${element}>${TAIL}`);
  const whole = decodeIn(doc, doc.length);
  for (let i = 0; i < doc.length; i++) {
    const split = decodeIn(doc, i);
    if (whole.ok) {
      assert.ok(split.ok, `split at ${i}`);
      assert.deepStrictEqual(split.value, whole.value, `split at ${i}`);
    } else {
      assert.ok(!split.ok, `split at ${i}`);
      assert.equal((split.error as Error).message, (whole.error as Error).message, `split at ${i}`);
    }
  }
  return whole;
}

function valid(element: string, cases: [string, XmlRpcValue][]): void {
  for (const [text, expected] of cases) {
    test(`<${element}> ${JSON.stringify(text)} is ${typeof expected === 'bigint' ? `${expected}n` : String(expected)}`, () => {
      const outcome = decodeScalar(element, text);
      assert.ok(outcome.ok, outcome.ok ? '' : String(outcome.error));
      assert.deepStrictEqual(outcome.value, expected);
    });
  }
}

function invalid(element: string, what: 'invalid' | 'out of range', texts: string[]): void {
  for (const text of texts) {
    test(`<${element}> ${JSON.stringify(text)} is refused (${what})`, () => {
      const outcome = decodeScalar(element, text);
      assert.ok(!outcome.ok, 'expected an error');
      const e = outcome.error;
      assert.ok(e instanceof XmlRpcValueError, String(e));
      assert.equal(e.code, 'ERR_XMLRPC_BAD_VALUE');
      const offset = Buffer.byteLength(`${HEAD}<${element}>`);
      const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
      assert.equal(e.message, `${what} <${element}> value ${JSON.stringify(shown)} at byte ${offset}`);
      assert.equal(e.offset, offset);
    });
  }
}

valid('int', [
  ['0', 0],
  ['-1', -1],
  ['+1', 1],
  [' 42\n', 42],
  ['\t\r\n7', 7],
  ['2147483647', 2147483647],
  ['-2147483648', -2147483648],
  ['000000000000123', 123],
  ['-0', 0],
]);
invalid('int', 'invalid', ['', ' ', '1.0', '0x10', '1_000', '--1', '+', '-', '12 3', 'abc', '１']);
invalid('int', 'out of range', ['2147483648', '-2147483649', '99999999999999999999999999']);
valid('i4', [['-5', -5]]);
invalid('i4', 'out of range', ['4294967296']);

valid('i8', [
  ['12', 12],
  ['-0', 0],
  ['9007199254740991', 9007199254740991],
  ['-9007199254740991', -9007199254740991],
  ['9007199254740992', 9007199254740992n],
  ['-9007199254740993', -9007199254740993n],
  ['9223372036854775807', 9223372036854775807n],
  [' -9223372036854775808 ', -9223372036854775808n],
  ['+00000000000000000000000000001', 1],
]);
invalid('i8', 'invalid', ['', 'x', '1e3', '9223372036854775807x']);
invalid('i8', 'out of range', ['9223372036854775808', '-9223372036854775809', '1' + '0'.repeat(30)]);

valid('double', [
  ['1.5', 1.5],
  ['-0.0', -0],
  ['1e-07', 1e-7],
  ['1E+16', 1e16],
  ['.5', 0.5],
  ['5.', 5],
  ['+3', 3],
  [' 2.5\n', 2.5],
  ['0', 0],
  ['0.30000000000000004', 0.30000000000000004],
  ['1.7976931348623157e308', 1.7976931348623157e308],
  ['5e-324', 5e-324],
  ['1e400', Infinity],
  ['inf', Infinity],
  ['-inf', -Infinity],
  ['+Infinity', Infinity],
  ['INF', Infinity],
  ['nan', NaN],
  ['-NaN', NaN],
]);
invalid('double', 'invalid', ['', ' ', '.', 'e5', '1e', '1e+', '1.2.3', '0x10', '1_0', 'in', 'infinit', 'nana', '1 2', '- 1', '++1', 'Infinityx']);

valid('boolean', [
  ['1', true],
  ['0', false],
  ['true', true],
  ['false', false],
  ['TRUE', true],
  ['False', false],
  [' 1\n', true],
]);
invalid('boolean', 'invalid', ['2', '', 'yes', '01', 'tru', 'falsy', 'x']);

const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
valid('base64', [
  ['aGk=', b('hi')],
  ['aGk', b('hi')],
  ['aA==', b('h')],
  ['aA', b('h')],
  ['aGVsbG8=\n', b('hello')],
  ['  aG Vs\r\n\tbG8 = ', b('hello')],
  ['aGVsbG8gd29ybGQ=', b('hello world')],
  ['', b('')],
  ['+/+/', new Uint8Array([0xfb, 0xff, 0xbf])],
  ['AAECAwQFBgcICQoLDA0ODw==', new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])],
]);
invalid('base64', 'invalid', ['a', 'a===', '=', '==', 'aGk=aGk=', 'aG-k', 'aG_k', 'aGk==', 'aG=k', 'aGVsb', 'é', 'aGk=\x00']);

const utc = (...a: [number, number, number, number, number, number, number?]): Date => new Date(Date.UTC(a[0], a[1] - 1, a[2], a[3], a[4], a[5], a[6] ?? 0));
valid('dateTime.iso8601', [
  ['20240102T03:04:05', utc(2024, 1, 2, 3, 4, 5)],
  ['2024-01-02T03:04:05', utc(2024, 1, 2, 3, 4, 5)],
  ['2024-01-02T03:04:05Z', utc(2024, 1, 2, 3, 4, 5)],
  ['20240102T03:04:05z', utc(2024, 1, 2, 3, 4, 5)],
  ['2024-01-02T03:04:05.123Z', utc(2024, 1, 2, 3, 4, 5, 123)],
  ['2024-01-02T03:04:05.1', utc(2024, 1, 2, 3, 4, 5, 100)],
  ['2024-01-02T03:04:05.1234567+01:00', utc(2024, 1, 2, 2, 4, 5, 123)],
  ['2024-01-02T03:04:05-05:30', utc(2024, 1, 2, 8, 34, 5)],
  ['2024-01-02T03:04:05+0000', utc(2024, 1, 2, 3, 4, 5)],
  ['20000229T00:00:00', utc(2000, 2, 29, 0, 0, 0)],
  ['19700101T00:00:00', new Date(0)],
  ['99991231T23:59:59', utc(9999, 12, 31, 23, 59, 59)],
  ['00990615T12:00:00', new Date('0099-06-15T12:00:00Z')],
  [' 20240102T03:04:05\n', utc(2024, 1, 2, 3, 4, 5)],
]);
invalid('dateTime.iso8601', 'invalid', [
  '',
  '2024',
  '2024-0102T03:04:05',
  '202401-02T03:04:05',
  '20240230T00:00:00',
  '20230229T00:00:00',
  '21000229T00:00:00',
  '20241301T00:00:00',
  '20240100T00:00:00',
  '20240431T00:00:00',
  '20240102T24:00:00',
  '20240102T23:60:00',
  '20240102T23:59:60',
  '20240102 03:04:05',
  '20240102T3:04:05',
  '20240102T03-04:05',
  '20240102T03:04-05',
  '20240102T03:04:05.',
  '20240102T03:04:05+25:00',
  '20240102T03:04:05+01:60',
  '20240102T03:04:05+01',
  '20240102T03:04:05X',
  '2024010T03:04:05',
  'x0240102T03:04:05',
]);

test('a scalar text with entities, comments and CDATA is parsed from its pieces', () => {
  const pieces: [string, string, XmlRpcValue][] = [
    ['int', '&#45;1<!-- x -->2', -12],
    ['double', '<![CDATA[1.]]>5', 1.5],
    ['boolean', '&#x31;', true],
    ['base64', 'aG<!---->k=', b('hi')],
    ['dateTime.iso8601', '20240102T03<?pi?>:04:05', utc(2024, 1, 2, 3, 4, 5)],
    ['i8', '9223372036854775807<!---->', 9223372036854775807n],
  ];
  for (const [element, text, expected] of pieces) {
    const outcome = decodeScalar(element, text);
    assert.ok(outcome.ok, `${element}: ${outcome.ok ? '' : String(outcome.error)}`);
    assert.deepStrictEqual(outcome.value, expected, element);
  }
});

test('an invalid scalar text made of pieces is shown whole, and cut when long', () => {
  const outcome = decodeScalar('int', `1&#50;${'3'.repeat(50)}x`);
  assert.ok(!outcome.ok);
  assert.ok(outcome.error instanceof XmlRpcValueError);
  assert.equal(outcome.error.message, `invalid <int> value ${JSON.stringify(`12${'3'.repeat(38)}...`)} at byte ${Buffer.byteLength(`${HEAD}<int>`)}`);
});

test('number, boolean and date texts longer than 1,024 characters are refused as they arrive, memory bounded', () => {
  for (const element of ['int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601']) {
    // At the bound: judged by the scalar parser (leading zeros and padding are allowed).
    const atBound = element === 'double' ? `${'0'.repeat(1021)}1.5` : element.startsWith('i') ? `${' '.repeat(1020)}0042` : ' '.repeat(1024);
    const ok = decodeScalar(element, atBound.slice(0, 1024));
    if (element === 'double') assert.deepEqual(ok, { ok: true, value: 1.5 }, element);
    if (element === 'i8' || element === 'i4') assert.deepEqual(ok, { ok: true, value: 42 }, element);
    // One more character: refused, whole and split at every offset, with the same message.
    const over = decodeScalar(element, `${atBound.slice(0, 1024)}7`);
    assert.ok(!over.ok, element);
    assert.ok(over.error instanceof XmlRpcValueError, element);
    assert.equal((over.error as XmlRpcValueError).code, 'ERR_XMLRPC_BAD_VALUE');
    assert.match((over.error as Error).message, new RegExp(`^<${element.replace('.', '\\.')}> value longer than 1024 characters at byte \\d+$`));
  }
  // Through a character reference too.
  assert.ok(!decodeScalar('i8', `${'1'.repeat(1024)}&#49;`).ok);
});

test('fifty million digits in <i8> or <double> are refused after the first 64 KiB chunk that passes the bound', () => {
  for (const element of ['i8', 'double']) {
    const d = new XmlRpcDecoder();
    d.write(Buffer.from(`${HEAD}<${element}>`));
    const chunk = Buffer.alloc(65536, 0x31);
    let written = 0;
    let error: unknown;
    try {
      for (; written < 50_000_000; written += chunk.length) d.write(chunk);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof XmlRpcValueError, element);
    assert.equal(written, 0, `${element}: refused within the first chunk`);
  }
});
