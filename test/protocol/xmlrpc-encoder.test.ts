import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { encodeCall, encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { XmlRpcEncodeError } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';

const HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
const TAIL = '</param>\n</params>\n</methodResponse>\n';

/** Lets a test hand the encoder values its type forbids. */
function any(v: unknown): XmlRpcValue {
  return v as XmlRpcValue;
}

function utcDate(y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): Date {
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  date.setUTCFullYear(y); // Date.UTC maps years 0..99 to 1900..1999
  return date;
}

function withProto(): XmlRpcValue {
  // JSON.parse makes "__proto__" an ordinary own property, as the decoder does.
  return any(JSON.parse('{"__proto__":1,"constructor":"c"}'));
}

function nullProto(): XmlRpcValue {
  const o = Object.create(null) as Record<string, XmlRpcValue>;
  o['k'] = 'v';
  return o;
}

const str = (s: string): string => `<value><string>${s}</string></value>\n`;
const int = (s: string): string => `<value><int>${s}</int></value>\n`;
const i8 = (s: string): string => `<value><i8>${s}</i8></value>\n`;
const dbl = (s: string): string => `<value><double>${s}</double></value>\n`;
const arr = (inner: string): string => `<value><array><data>\n${inner}</data></array></value>\n`;
const member = (name: string, value: string): string => `<member>\n<name>${name}</name>\n${value}</member>\n`;
const struct = (inner: string): string => `<value><struct>\n${inner}</struct></value>\n`;

// [name, value, expected <value> line(s)]. Expected texts are Python's
// xmlrpc.client.dumps output for the same value (the python test checks the
// ones Python can write).
const GOLDEN: readonly (readonly [string, XmlRpcValue, string])[] = [
  ['int 0', 0, int('0')],
  ['int -0 is 0', -0, int('0')],
  ['int 1', 1, int('1')],
  ['int -1', -1, int('-1')],
  ['int32 max', 2147483647, int('2147483647')],
  ['int32 min', -2147483648, int('-2147483648')],
  ['above int32 is i8', 2147483648, i8('2147483648')],
  ['below int32 is i8', -2147483649, i8('-2147483649')],
  ['max safe integer is i8', Number.MAX_SAFE_INTEGER, i8('9007199254740991')],
  ['min safe integer is i8', Number.MIN_SAFE_INTEGER, i8('-9007199254740991')],
  ['2^53 is a double', 2 ** 53, dbl('9007199254740992.0')],
  ['2^60 is a double', 2 ** 60, dbl('1.152921504606847e+18')],
  ['1e16 is a double in exponent form', 1e16, dbl('1e+16')],
  ['1e21', 1e21, dbl('1e+21')],
  ['1.5', 1.5, dbl('1.5')],
  ['-2.25', -2.25, dbl('-2.25')],
  ['0.1', 0.1, dbl('0.1')],
  ['0.1 + 0.2', 0.1 + 0.2, dbl('0.30000000000000004')],
  ['1e-4 positional', 0.0001, dbl('0.0001')],
  ['1e-5 exponent, two digits', 0.00001, dbl('1e-05')],
  ['1e-7', 1e-7, dbl('1e-07')],
  ['-1.5e-10', -1.5e-10, dbl('-1.5e-10')],
  ['123.456', 123.456, dbl('123.456')],
  ['1234567890123456.7: shortest digits', 1234567890123456.7, dbl('1234567890123456.8')],
  ['smallest subnormal', 5e-324, dbl('5e-324')],
  ['largest double', Number.MAX_VALUE, dbl('1.7976931348623157e+308')],
  ['bigint 0 is i8', 0n, i8('0')],
  ['bigint int64 max', 2n ** 63n - 1n, i8('9223372036854775807')],
  ['bigint int64 min', -(2n ** 63n), i8('-9223372036854775808')],
  ['true', true, '<value><boolean>1</boolean></value>\n'],
  ['false', false, '<value><boolean>0</boolean></value>\n'],
  ['empty string', '', str('')],
  ['plain string', 'supervisor', str('supervisor')],
  ['only & < > are escaped', `a&b<c>d"e'f`, str(`a&amp;b&lt;c&gt;d"e'f`)],
  ['escapes at both ends', '&x>', str('&amp;x&gt;')],
  ['CDATA end is escaped by its >', 'a]]>b', str('a]]&gt;b')],
  ['entity-looking text is escaped', '&amp;', str('&amp;amp;')],
  ['control characters pass through', '\u0000\u0001\r\n\t\u001f', str('\u0000\u0001\r\n\t\u001f')],
  ['non-ASCII incl. 4-byte', 'é日本🚀', str('é日本🚀')],
  ['surrogate pair next to &', '🚀&🚀', str('🚀&amp;🚀')],
  ['null has no newline', null, '<value><nil/></value>'],
  ['empty base64', new Uint8Array(0), '<value><base64>\n</base64></value>\n'],
  ['base64', Buffer.from('hello'), '<value><base64>\naGVsbG8=\n</base64></value>\n'],
  ['base64 of 57 bytes is one line', new Uint8Array(57), `<value><base64>\n${'A'.repeat(76)}\n</base64></value>\n`],
  [
    'base64 of 58 bytes is two lines',
    new Uint8Array(58).fill(255),
    `<value><base64>\n${'/'.repeat(76)}\n/w==\n</base64></value>\n`,
  ],
  ['base64 of a subarray uses its own bytes', Buffer.from('xxhelloxx').subarray(2, 7), '<value><base64>\naGVsbG8=\n</base64></value>\n'],
  ['date', utcDate(2024, 1, 2, 3, 4, 5), '<value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value>\n'],
  ['date drops milliseconds', utcDate(2024, 12, 31, 23, 59, 59, 999), '<value><dateTime.iso8601>20241231T23:59:59</dateTime.iso8601></value>\n'],
  ['date year 5 is zero-padded', utcDate(5, 1, 2, 3, 4, 5), '<value><dateTime.iso8601>00050102T03:04:05</dateTime.iso8601></value>\n'],
  ['date year 9999', utcDate(9999, 12, 31, 0, 0, 0), '<value><dateTime.iso8601>99991231T00:00:00</dateTime.iso8601></value>\n'],
  ['date before 1970', new Date(-1), '<value><dateTime.iso8601>19691231T23:59:59</dateTime.iso8601></value>\n'],
  ['empty array', [], arr('')],
  ['array', [1, 'a'], arr(int('1') + str('a'))],
  ['nil inside an array', [null, 1, null], arr(`<value><nil/></value>${int('1')}<value><nil/></value>`)],
  ['nested arrays', [[[]], []], arr(arr(arr('')) + arr(''))],
  ['empty struct', {}, struct('')],
  ['struct', { k: true, n: 'x' }, struct(member('k', '<value><boolean>1</boolean></value>\n') + member('n', str('x')))],
  ['member names are escaped', { 'a&b<c>': 1 }, struct(member('a&amp;b&lt;c&gt;', int('1')))],
  ['__proto__ and constructor members', withProto(), struct(member('__proto__', int('1')) + member('constructor', str('c')))],
  ['null-prototype object is a struct', nullProto(), struct(member('k', str('v')))],
  ['members in Object.keys order', { b: 1, 2: 2, a: 3 }, struct(member('2', int('2')) + member('b', int('1')) + member('a', int('3')))],
  ['struct in array in struct', { a: [{ b: null }] }, struct(member('a', arr(struct(member('b', '<value><nil/></value>')))))],
  ['shared (not circular) references', ((s: XmlRpcValue[]) => [s, s])([1]), arr(arr(int('1')) + arr(int('1')))],
];

test('encodeResponse: golden output per type', async (t) => {
  for (const [name, value, expected] of GOLDEN) {
    await t.test(name, () => {
      const out = encodeResponse(value);
      assert.ok(Buffer.isBuffer(out));
      assert.equal(out.toString('utf8'), HEAD + expected + TAIL);
    });
  }
});

test('encodeCall: golden output', async (t) => {
  const cases: readonly (readonly [string, string, readonly XmlRpcValue[] | undefined, string])[] = [
    ['no params', 'supervisor.getState', undefined, '<params>\n</params>\n'],
    ['empty params', 'system.listMethods', [], '<params>\n</params>\n'],
    ['params', 'supervisor.getProcessInfo', ['web:web_00', 1], `<params>\n<param>\n${str('web:web_00')}</param>\n<param>\n${int('1')}</param>\n</params>\n`],
    ['nil param', 'm', [null], '<params>\n<param>\n<value><nil/></value></param>\n</params>\n'],
  ];
  for (const [name, method, params, body] of cases) {
    await t.test(name, () => {
      const out = params === undefined ? encodeCall(method) : encodeCall(method, params);
      assert.equal(out.toString('utf8'), `<?xml version='1.0'?>\n<methodCall>\n<methodName>${method}</methodName>\n${body}</methodCall>\n`);
    });
  }
  await t.test('many params', () => {
    const params = Array.from({ length: 20_000 }, (_, i) => `p${i}`);
    const out = encodeCall('m', params).toString('utf8');
    assert.equal(out, `<?xml version='1.0'?>\n<methodCall>\n<methodName>m</methodName>\n<params>\n${params.map((p) => `<param>\n${str(p)}</param>\n`).join('')}</params>\n</methodCall>\n`);
  });
  await t.test('method name is escaped (Python does not: ours stays well-formed)', () => {
    const out = encodeCall('a&b<c>é').toString('utf8');
    assert.ok(out.includes('<methodName>a&amp;b&lt;c&gt;é</methodName>\n'), out);
  });
});

test('encodeFault: golden output', () => {
  assert.equal(
    encodeFault(10, 'BAD_NAME: a&b<c>').toString('utf8'),
    "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n" +
      '<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n' +
      '<member>\n<name>faultString</name>\n<value><string>BAD_NAME: a&amp;b&lt;c&gt;</string></value>\n</member>\n' +
      '</struct></value>\n</fault>\n</methodResponse>\n',
  );
  assert.ok(encodeFault(-2147483648, '').toString().includes('<int>-2147483648</int>'));
  assert.ok(encodeFault(2147483647, '').toString().includes('<int>2147483647</int>'));
});

class Foo {
  x = 1;
}

function circularArray(): XmlRpcValue {
  const a: XmlRpcValue[] = [1];
  a.push([a]);
  return a;
}

function circularStruct(): XmlRpcValue {
  const o: Record<string, XmlRpcValue> = { a: 1 };
  o['self'] = { deeper: [o] };
  return o;
}

function withYear(year: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year);
  return d;
}

// [name, encode, exact message]
const REFUSALS: readonly (readonly [string, () => unknown, string])[] = [
  ['NaN', () => encodeResponse(NaN), 'cannot encode NaN at value'],
  ['Infinity', () => encodeCall('m', [1, Infinity]), 'cannot encode Infinity at params[1]'],
  ['-Infinity in a struct', () => encodeResponse({ a: [-Infinity] }), 'cannot encode -Infinity at value.a[0]'],
  ['bigint above int64', () => encodeResponse(2n ** 63n), 'bigint 9223372036854775808 outside the signed 64-bit range at value'],
  ['bigint below int64', () => encodeResponse([-(2n ** 63n) - 1n]), 'bigint -9223372036854775809 outside the signed 64-bit range at value[0]'],
  ['circular array', () => encodeResponse(circularArray()), 'circular reference at value[1][0]'],
  ['circular struct', () => encodeCall('m', [circularStruct()]), 'circular reference at params[0].self.deeper[0]'],
  ['function', () => encodeCall('m', [any({ foo: [1, 2, () => 1] })]), 'cannot encode a function at params[0].foo[2]'],
  ['symbol', () => encodeResponse(any(Symbol('s'))), 'cannot encode a symbol at value'],
  ['undefined member', () => encodeResponse(any({ x: undefined })), 'cannot encode undefined at value.x'],
  ['array hole', () => encodeResponse(any([1, , 2])), 'cannot encode undefined at value[1]'],
  ['undefined root', () => encodeResponse(any(undefined)), 'cannot encode undefined at value'],
  ['odd member name in the path', () => encodeResponse(any({ 'a b': { 'x-y': [NaN] } })), 'cannot encode NaN at value["a b"]["x-y"][0]'],
  ['invalid Date', () => encodeResponse(new Date(NaN)), 'invalid Date at value'],
  ['date year 10000', () => encodeResponse(withYear(10000)), 'date year 10000 outside 1..9999 at value'],
  ['date year 0', () => encodeResponse([withYear(0)]), 'date year 0 outside 1..9999 at value[0]'],
  ['Map', () => encodeResponse(any(new Map())), 'cannot encode a Map at value (only plain objects become structs)'],
  ['Int16Array', () => encodeResponse(any(new Int16Array(2))), 'cannot encode an Int16Array at value (only plain objects become structs)'],
  ['ArrayBuffer', () => encodeResponse(any({ b: new ArrayBuffer(2) })), 'cannot encode an ArrayBuffer at value.b (only plain objects become structs)'],
  ['boxed string', () => encodeResponse(any(new String('x'))), 'cannot encode a String at value (only plain objects become structs)'],
  ['class instance', () => encodeResponse(any(new Foo())), 'cannot encode an instance of Foo at value (only plain objects become structs)'],
  ['custom prototype', () => encodeResponse(any(Object.create({ a: 1 }))), 'cannot encode an object with a custom prototype at value (only plain objects become structs)'],
  ['prototype with an odd constructor', () => encodeResponse(any(Object.create({ constructor: 5 }))), 'cannot encode an object with a custom prototype at value (only plain objects become structs)'],
  ['lone high surrogate', () => encodeResponse('\ud800x'), 'lone surrogate U+D800 at index 0 of the string at value'],
  ['lone low surrogate', () => encodeResponse(['ab\udc00']), 'lone surrogate U+DC00 at index 2 of the string at value[0]'],
  ['high surrogate at the end', () => encodeResponse('a&\ud83d'), 'lone surrogate U+D83D at index 2 of the string at value'],
  ['reversed pair', () => encodeResponse('\ude80\ud83d'), 'lone surrogate U+DE80 at index 0 of the string at value'],
  ['lone surrogate in a member name', () => encodeResponse({ ok: 1, 'k\udfff': 1 }), 'lone surrogate U+DFFF at index 1 of the member name at value["k\\udfff"]'],
  ['lone surrogate in a method name', () => encodeCall('m\ud800'), 'lone surrogate U+D800 at index 1 of the method name'],
  ['method name not a string', () => encodeCall(any(5) as string), 'method name must be a string, got 5'],
  ['method name null', () => encodeCall(any(null) as string), 'method name must be a string, got null'],
  ['params not an array', () => encodeCall('m', any({}) as XmlRpcValue[]), 'params must be an array, got an object'],
  ['params a string', () => encodeCall('m', any('x') as XmlRpcValue[]), 'params must be an array, got a string'],
  ['params a Buffer', () => encodeCall('m', any(Buffer.from('x')) as XmlRpcValue[]), 'params must be an array, got a Buffer'],
  ['fault code not an integer', () => encodeFault(1.5, 'x'), 'fault code must be a signed 32-bit integer, got 1.5'],
  ['fault code above int32', () => encodeFault(2 ** 31, 'x'), 'fault code must be a signed 32-bit integer, got 2147483648'],
  ['fault code below int32', () => encodeFault(-(2 ** 31) - 1, 'x'), 'fault code must be a signed 32-bit integer, got -2147483649'],
  ['fault code bigint', () => encodeFault(any(1n) as number, 'x'), 'fault code must be a signed 32-bit integer, got 1n'],
  ['fault code NaN', () => encodeFault(NaN, 'x'), 'fault code must be a signed 32-bit integer, got NaN'],
  ['fault string not a string', () => encodeFault(1, any(undefined) as string), 'fault string must be a string, got undefined'],
  ['fault string a boolean', () => encodeFault(1, any(true) as string), 'fault string must be a string, got a boolean'],
  ['lone surrogate in the fault string', () => encodeFault(1, 'x\ud800'), 'lone surrogate U+D800 at index 1 of the string at faultString'],
];

test('refusals: XmlRpcEncodeError with code and a message saying what and where', async (t) => {
  for (const [name, encode, message] of REFUSALS) {
    await t.test(name, () => {
      assert.throws(encode, (err: unknown) => {
        assert.ok(err instanceof XmlRpcEncodeError, `expected XmlRpcEncodeError, got ${String(err)}`);
        assert.equal(err.code, 'ERR_XMLRPC_ENCODE');
        assert.equal(err.name, 'XmlRpcEncodeError');
        assert.equal(err.message, message);
        return true;
      });
    });
  }
});

test('the encoder is reusable after a refusal (no state leaks between calls)', () => {
  const shared: XmlRpcValue[] = [1];
  assert.throws(() => encodeResponse([shared, NaN]), XmlRpcEncodeError);
  assert.equal(encodeResponse([shared, shared]).toString(), HEAD + arr(arr(int('1')) + arr(int('1'))) + TAIL);
});

test('100,000 nested arrays encode without recursion', () => {
  const depth = 100_000;
  let v: XmlRpcValue = [];
  for (let i = 1; i < depth; i++) v = [v];
  const out = encodeResponse(v).toString('latin1');
  const open = '<value><array><data>\n';
  const close = '</data></array></value>\n';
  assert.equal(out.length, HEAD.length + depth * (open.length + close.length) + TAIL.length);
  assert.ok(out.startsWith(HEAD + open.repeat(3)));
  assert.ok(out.endsWith(close.repeat(3) + TAIL));
});

test('large documents: multi-byte text across many internal flushes stays intact', async (t) => {
  await t.test('200,000 short non-ASCII strings', () => {
    const piece = 'é日🚀&<\u0000';
    const n = 200_000;
    const out = encodeResponse(new Array<XmlRpcValue>(n).fill(piece));
    const expected = HEAD + arr(str('é日🚀&amp;&lt;\u0000').repeat(n)) + TAIL;
    assert.equal(out.length, Buffer.byteLength(expected));
    assert.ok(out.equals(Buffer.from(expected)));
  });
  await t.test('one string larger than a slab, between small values', () => {
    const big = 'ü'.repeat(3_000_000) + '🚀';
    const out = encodeResponse([1, big, 'x'.repeat(20_000), big, 2]);
    const expected = HEAD + arr(int('1') + str(big) + str('x'.repeat(20_000)) + str(big) + int('2')) + TAIL;
    assert.ok(out.equals(Buffer.from(expected)));
  });
  await t.test('a mid-sized document does not keep a larger internal buffer alive', () => {
    for (const n of [1000, 4000, 15_000]) {
      const out = encodeResponse(new Array<XmlRpcValue>(n).fill('y'.repeat(30)));
      assert.equal(out.toString('latin1'), HEAD + arr(str('y'.repeat(30)).repeat(n)) + TAIL);
      assert.ok(out.length > 20_000);
      assert.ok(out.buffer.byteLength <= out.length + (out.length >>> 3), `${n}: ${out.length} bytes hold ${out.buffer.byteLength}`);
    }
  });
});
