import { createRandom as prng } from '../../fixtures/generate.js'; // mulberry32: a failing seed replays
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DepthLimitError,
  DocumentSizeError,
  ProtocolError,
  XmlRpcDoctypeError,
  XmlRpcEncodingError,
  XmlRpcFault,
  XmlRpcParseError,
  XmlRpcTruncatedError,
  XmlRpcTypeError,
  XmlRpcValueError,
} from '../../protocol/errors.js';
import {
  MAX_TAG_BYTES,
  XmlRpcCallDecoder,
  XmlRpcDecoder,
  decodeCall,
  decodeResponse,
  type XmlRpcDecoderOptions,
} from '../../protocol/xmlrpc-decoder.js';
import type { XmlRpcValue } from '../../protocol/types.js';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** What xmlrpc.client.dumps writes around a response's single value. */
const HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
const TAIL = '</param>\n</params>\n</methodResponse>\n';
const response = (value: string): string => HEAD + value + TAIL;
const bytes = (doc: string | Uint8Array): Uint8Array => (typeof doc === 'string' ? Buffer.from(doc, 'utf8') : doc);

/** Byte offset of the `nth` occurrence of `marker` in `doc` (the expected offset of an error). */
function at(doc: string | Uint8Array, marker: string, nth = 0): number {
  const b = Buffer.from(bytes(doc));
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = b.indexOf(marker, i + 1);
    if (i < 0) throw new Error(`marker ${JSON.stringify(marker)} not in document`);
  }
  return i;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Decodes `doc` written in pieces cut at `cuts` (ascending offsets). */
function decodeIn(doc: Uint8Array, cuts: readonly number[], options?: XmlRpcDecoderOptions, call = false): Outcome {
  const decoder = call ? new XmlRpcCallDecoder(options) : new XmlRpcDecoder(options);
  try {
    let prev = 0;
    for (const cut of [...cuts, doc.length]) {
      decoder.write(doc.subarray(prev, cut));
      prev = cut;
    }
    return { ok: true, value: decoder.end() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name} ${(e as ProtocolError).code} ${e.message}` : String(e);
}

function assertSameOutcome(expected: Outcome, actual: Outcome, label: string): void {
  if (!expected.ok) {
    assert.ok(!actual.ok, `${label}: expected ${describeError(expected.error)}, got a value`);
    const e = expected.error as ProtocolError;
    const a = actual.error as ProtocolError;
    assert.equal(a.constructor, e.constructor, `${label}: ${describeError(a)} vs ${describeError(e)}`);
    assert.equal(a.code, e.code, label);
    assert.equal(a.message, e.message, label);
    return;
  }
  assert.ok(actual.ok, `${label}: unexpected ${actual.ok ? '' : describeError(actual.error)}`);
  assert.deepStrictEqual(actual.value, expected.value, label);
}


/**
 * Decodes `doc` whole, then split in two at every offset, one byte at a
 * time, and in seeded random chunks; every way must give the same outcome.
 */
function decodeEveryWay(doc: Uint8Array, options?: XmlRpcDecoderOptions, call = false): Outcome {
  const whole = decodeIn(doc, [], options, call);
  for (let i = 0; i <= doc.length; i++) assertSameOutcome(whole, decodeIn(doc, [i], options, call), `split at ${i}`);
  const each: number[] = [];
  for (let i = 1; i < doc.length; i++) each.push(i);
  assertSameOutcome(whole, decodeIn(doc, each, options, call), 'one byte at a time');
  const seed = (doc.length * 2654435761) >>> 0;
  const random = prng(seed);
  for (let round = 0; round < 8; round++) {
    const cuts: number[] = [];
    for (let i = 0; i < doc.length; i += 1 + Math.floor(random() * 24)) cuts.push(i);
    assertSameOutcome(whole, decodeIn(doc, cuts, options, call), `random chunks (seed ${seed}, round ${round})`);
  }
  return whole;
}

// ---------------------------------------------------------------------------
// Golden documents
// ---------------------------------------------------------------------------

interface Golden {
  name: string;
  doc: string | Uint8Array;
  value?: XmlRpcValue;
  fault?: [number, string];
}

const struct = (entries: [string, XmlRpcValue][]): XmlRpcValue => {
  const o: { [k: string]: XmlRpcValue } = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  return o;
};

const goldens: Golden[] = [
  { name: 'python string', doc: response('<value><string>hello</string></value>\n'), value: 'hello' },
  {
    name: 'declaration, processing instructions, comments and indentation',
    doc:
      '<?xml version="1.0" encoding="UTF-8"?>\n<?other stuff?>\n<!-- c -->\n<methodResponse>\n  <!-- c2 -->\n' +
      '  <params>\n    <param>\n      <value>\n        <int>42</int>\n      </value>\n    </param>\n  </params>\n' +
      '</methodResponse>\n<!-- after -->\n<?pi after?>\n  ',
    value: 42,
  },
  { name: 'UTF-8 BOM before the declaration', doc: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(response('<value>x</value>'))]), value: 'x' },
  { name: '<string/>', doc: response('<value><string/></value>'), value: '' },
  { name: '<string></string>', doc: response('<value><string></string></value>\n'), value: '' },
  { name: '<value/>', doc: response('<value/>'), value: '' },
  { name: '<value></value>', doc: response('<value></value>'), value: '' },
  { name: 'untyped value keeps its whitespace', doc: response('<value>  two  spaces \n</value>'), value: '  two  spaces \n' },
  { name: 'whitespace around a type element is ignored', doc: response('<value>\n  <string> x </string>\n</value>'), value: ' x ' },
  { name: 'the five entities', doc: response('<value><string>&amp;&lt;&gt;&quot;&apos;</string></value>'), value: '&<>"\'' },
  { name: 'decimal and hex character references', doc: response('<value><string>&#233;&#xE9;&#x1f600;&#65;&#0000010;</string></value>'), value: 'éé😀A\n' },
  { name: 'CDATA mixed with text and entities', doc: response('<value><string>a<![CDATA[<b>&amp;]]]]>c&lt;<![CDATA[]]></string></value>'), value: 'a<b>&amp;]]c<' },
  { name: 'CDATA in an untyped value', doc: response('<value>a&amp;<![CDATA[ b ]]></value>'), value: 'a& b ' },
  { name: 'raw UTF-8 with 2, 3 and 4 byte characters', doc: response('<value><string>héllo wörld 日本 😀 𝄞</string></value>'), value: 'héllo wörld 日本 😀 𝄞' },
  {
    name: 'raw control characters and CR are kept verbatim',
    doc: response('<value><string>a\r\nb\x01\x1b[31m\x00z\tq\r</string></value>'),
    value: 'a\r\nb\x01\x1b[31m\x00z\tq\r',
  },
  { name: 'comments and PIs inside text', doc: response('<value><string>ab<!-- x -->cd<?pi x?>e</string></value>'), value: 'abcde' },
  {
    name: 'int, i4, i8 and bigint',
    doc: response(
      '<value><array><data>\n<value><i4>-2147483648</i4></value>\n<value><int>2147483647</int></value>\n' +
        '<value><i8>9007199254740991</i8></value>\n<value><i8>9007199254740992</i8></value>\n' +
        '<value><i8>-9223372036854775808</i8></value>\n<value><i8>9223372036854775807</i8></value>\n' +
        '<value><int> +7 </int></value>\n<value><int>-0</int></value>\n<value><i8>0012</i8></value>\n' +
        '<value><int>&#49;<!-- split -->2</int></value>\n</data></array></value>\n',
    ),
    value: [-2147483648, 2147483647, 9007199254740991, 9007199254740992n, -9223372036854775808n, 9223372036854775807n, 7, 0, 12, 12],
  },
  { name: 'nil and ex:nil', doc: response('<value><array><data><value><nil/></value><value><ex:nil/></value><value><nil></nil></value><value><nil> </nil></value></data></array></value>'), value: [null, null, null, null] },
  { name: 'base64 with line breaks', doc: response('<value><base64>\naGVsbG8g\nd29ybGQ=\n</base64></value>'), value: new Uint8Array(Buffer.from('hello world')) },
  { name: 'empty base64', doc: response('<value><base64></base64></value>'), value: new Uint8Array(0) },
  {
    name: 'dateTime forms',
    doc: response(
      '<value><array><data>' +
        '<value><dateTime.iso8601>20240229T23:59:59</dateTime.iso8601></value>' +
        '<value><dateTime.iso8601>2024-02-29T23:59:59Z</dateTime.iso8601></value>' +
        '<value><dateTime.iso8601>2024-02-29T23:59:59+02:00</dateTime.iso8601></value>' +
        '<value><dateTime.iso8601> 19980717T14:08:55-0130 </dateTime.iso8601></value>' +
        '<value><dateTime.iso8601>0001-01-01T00:00:00</dateTime.iso8601></value>' +
        '<value><dateTime.iso8601>2024-01-01T00:00:00.5Z</dateTime.iso8601></value>' +
        '</data></array></value>',
    ),
    value: [
      new Date(Date.UTC(2024, 1, 29, 23, 59, 59)),
      new Date(Date.UTC(2024, 1, 29, 23, 59, 59)),
      new Date(Date.UTC(2024, 1, 29, 21, 59, 59)),
      new Date(Date.UTC(1998, 6, 17, 15, 38, 55)),
      new Date('0001-01-01T00:00:00Z'),
      new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 500)),
    ],
  },
  {
    name: 'nested arrays and structs',
    doc: response(
      '<value><struct>\n<member>\n<name>list</name>\n<value><array><data>\n<value><array><data>\n</data></array></value>\n' +
        '<value><struct>\n</struct></value>\n<value><array><data>\n<value><int>1</int></value>\n' +
        '<value><struct>\n<member>\n<name>deep</name>\n<value><boolean>1</boolean></value>\n</member>\n</struct></value>\n' +
        '</data></array></value>\n</data></array></value>\n</member>\n<member>\n<name>n</name>\n<value><double>1.5</double></value>\n</member>\n</struct></value>\n',
    ),
    value: { list: [[], {}, [1, { deep: true }]], n: 1.5 },
  },
  {
    name: '__proto__, constructor and prototype members are own properties',
    doc: response(
      '<value><struct>\n<member>\n<name>__proto__</name>\n<value><string>p</string></value>\n</member>\n' +
        '<member>\n<name>constructor</name>\n<value><int>1</int></value>\n</member>\n' +
        '<member>\n<name>prototype</name>\n<value><struct>\n<member>\n<name>__proto__</name>\n<value><int>2</int></value>\n</member>\n</struct></value>\n</member>\n' +
        '</struct></value>\n',
    ),
    value: struct([
      ['__proto__', 'p'],
      ['constructor', 1],
      ['prototype', struct([['__proto__', 2]])],
    ]),
  },
  {
    name: 'duplicate member: last wins',
    doc: response('<value><struct><member><name>a</name><value><int>1</int></value></member><member><name>a</name><value>two</value></member></struct></value>'),
    value: { a: 'two' },
  },
  {
    name: 'empty and non-ASCII member names, names with entities',
    doc: response('<value><struct><member><name></name><value><int>1</int></value></member><member><name>naïve</name><value><int>2</int></value></member><member><name>a&amp;b</name><value><int>3</int></value></member></struct></value>'),
    value: { '': 1, naïve: 2, 'a&b': 3 },
  },
  {
    name: 'attributes are skipped, including ">" in quotes and self-closing tags',
    doc:
      '<methodResponse xmlns:ex="http://x/y?a>b" other=\'1/>\'>\n<params >\n<param>\n<value kind="x>y"><array a="1"><data><value><nil a="1"/></value>' +
      '<value><ex:nil /></value></data></array></value>\n</param>\n</params >\n</methodResponse >',
    value: [null, null],
  },
  { name: 'empty array and struct forms', doc: response('<value><array><data><value><array/></value><value><array></array></value><value><array><data/></array></value><value><struct/></value></data></array></value>'), value: [[], [], [], {}] },
  { name: 'booleans', doc: response('<value><array><data><value><boolean>1</boolean></value><value><boolean>0</boolean></value><value><boolean> true </boolean></value><value><boolean>FALSE</boolean></value></data></array></value>'), value: [true, false, true, false] },
  {
    name: 'fault',
    doc:
      "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n" +
      '<member>\n<name>faultString</name>\n<value><string>BAD_NAME: foo</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n',
    fault: [10, 'BAD_NAME: foo'],
  },
  {
    name: 'multicall: bare values and fault structs stay plain values',
    doc: response(
      '<value><array><data>\n<value><string>4.2.5</string></value>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n' +
        '<member>\n<name>faultString</name>\n<value><string>BAD_NAME: nope</string></value>\n</member>\n</struct></value>\n' +
        '<value><struct>\n<member>\n<name>statecode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n</struct></value>\n' +
        '</data></array></value>\n',
    ),
    value: ['4.2.5', { faultCode: 10, faultString: 'BAD_NAME: nope' }, { statecode: 1, statename: 'RUNNING' }],
  },
  {
    name: 'python getAllProcessInfo shape',
    doc: response(
      '<value><array><data>\n' +
        ['web', 'wörker'].map((n, i) =>
          `<value><struct>\n<member>\n<name>name</name>\n<value><string>${n}</string></value>\n</member>\n` +
            `<member>\n<name>group</name>\n<value><string>${n}</string></value>\n</member>\n` +
            `<member>\n<name>pid</name>\n<value><int>${i === 0 ? 123 : 0}</int></value>\n</member>\n` +
            `<member>\n<name>stdout_logfile</name>\n<value><string>/var/log/${n}-stdout.log</string></value>\n</member>\n` +
            `<member>\n<name>stderr_logfile</name>\n<value><string></string></value>\n</member>\n` +
            `<member>\n<name>description</name>\n<value><string>pid 123, uptime 0:01:02 &amp; &lt;more&gt;</string></value>\n</member>\n` +
            `<member>\n<name>exitstatus</name>\n<value><int>-1</int></value>\n</member>\n</struct></value>\n`,
        ).join('') +
        '</data></array></value>\n',
    ),
    value: [
      { name: 'web', group: 'web', pid: 123, stdout_logfile: '/var/log/web-stdout.log', stderr_logfile: '', description: 'pid 123, uptime 0:01:02 & <more>', exitstatus: -1 },
      { name: 'wörker', group: 'wörker', pid: 0, stdout_logfile: '/var/log/wörker-stdout.log', stderr_logfile: '', description: 'pid 123, uptime 0:01:02 & <more>', exitstatus: -1 },
    ],
  },
];

for (const g of goldens) {
  test(`golden: ${g.name}`, () => {
    const outcome = decodeEveryWay(bytes(g.doc));
    if (g.fault !== undefined) {
      assert.ok(!outcome.ok, 'expected a fault');
      const f = outcome.error;
      assert.ok(f instanceof XmlRpcFault, describeError(f));
      assert.equal(f.code, 'ERR_XMLRPC_FAULT');
      assert.equal(f.faultCode, g.fault[0]);
      assert.equal(f.faultString, g.fault[1]);
      return;
    }
    assert.ok(outcome.ok, outcome.ok ? '' : describeError(outcome.error));
    assert.deepStrictEqual(outcome.value, g.value);
  });
}

test('structs are plain objects whatever their member names', () => {
  const v = decodeResponse(bytes(goldens.find((g) => g.name.startsWith('__proto__'))!.doc)) as { [k: string]: XmlRpcValue };
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ['__proto__', 'constructor', 'prototype']);
  assert.ok(Object.hasOwn(v, '__proto__'));
  assert.equal(v['__proto__'], 'p');
  assert.equal(JSON.stringify(v), '{"__proto__":"p","constructor":1,"prototype":{"__proto__":2}}');
  const inner = v['prototype'] as object;
  assert.equal(Object.getPrototypeOf(inner), Object.prototype);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

test('member names are shared between structs (interned)', () => {
  const v = decodeResponse(bytes(response(
    '<value><array><data>' +
      '<value><struct><member><name>stdout_logfile</name><value><int>1</int></value></member><member><name>stderr_logfile</name><value><int>2</int></value></member></struct></value>' +
      '<value><struct><member><name>stdout_logfile</name><value><int>3</int></value></member><member><name>stderr_logfile</name><value><int>4</int></value></member></struct></value>' +
      '</data></array></value>',
  ))) as { [k: string]: number }[];
  assert.deepEqual(v, [{ stdout_logfile: 1, stderr_logfile: 2 }, { stdout_logfile: 3, stderr_logfile: 4 }]);
  assert.deepEqual(Object.keys(v[0]!), Object.keys(v[1]!));
});

// ---------------------------------------------------------------------------
// Refused documents
// ---------------------------------------------------------------------------

interface Bad {
  name: string;
  doc: string | Uint8Array;
  error: new (...args: never[]) => Error;
  code: string;
  /** The message, with `{at}` standing for the expected offset. */
  message: string;
  at?: number;
  options?: XmlRpcDecoderOptions;
}

const v = (x: string): string => response(`<value>${x}</value>`);
const docAt = (doc: string, marker: string, nth = 0): { doc: string; at: number } => ({ doc, at: at(doc, marker, nth) });

const bads: Bad[] = [
  { name: 'mismatched end tag', ...docAt(v('<string>x</int>'), '</int>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'end tag </int> does not match <string> at byte {at}' },
  { name: 'unclosed scalar', ...docAt(v('<int>1'), '</value>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'end tag </value> does not match <int> at byte {at}' },
  { name: 'text where an element is expected', ...docAt('<methodResponse><params>x<param>', 'x<param>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text in <params> at byte {at}' },
  { name: 'text before the root', doc: '  hello', at: 2, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text before the root element at byte {at}' },
  { name: 'element in the wrong place', ...docAt('<methodResponse><param>', '<param>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <param> in <methodResponse> at byte {at}' },
  { name: 'unknown element in a struct', ...docAt(v('<struct><foo/></struct>'), '<foo/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <foo> in <struct> at byte {at}' },
  { name: 'element inside a scalar', ...docAt(v('<string><b>x</b></string>'), '<b>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <b> in <string> at byte {at}' },
  { name: 'XML-RPC element that is not a type inside a value', ...docAt(v('<param/>'), '<param/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <param> in <value> at byte {at}' },
  { name: 'wrong root element', doc: '<methodCall/>', at: 0, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'expected <methodResponse> as the root element, found <methodCall> at byte {at}' },
  { name: 'end tag before the root', doc: '</methodResponse>', at: 0, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected end tag </methodResponse> at byte {at}' },
  { name: 'garbage after the root', ...docAt(response('<value/>') + ' !', '!'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text after the root element at byte {at}', },
  { name: 'element after the root', ...docAt(response('<value/>') + '<methodResponse/>', '<methodResponse/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'element <methodResponse> after the root element at byte {at}' },
  { name: 'text mixed with a type element', ...docAt(v('x<int>1</int>'), '<int>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'text mixed with an element in <value> at byte {at}' },
  { name: 'text after a type element', ...docAt(v('<int>1</int>x'), 'x</value>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text in <value> at byte {at}' },
  { name: 'two type elements in a value', ...docAt(v('<int>1</int><int>2</int>'), '<int>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one element in <value> at byte {at}' },
  { name: 'unknown value type', ...docAt(v('<float>1.5</float>'), '<float>'), error: XmlRpcTypeError, code: 'ERR_XMLRPC_UNKNOWN_TYPE', message: 'unknown value type <float> at byte {at}' },
  { name: 'bad int', ...docAt(v('<int>12x</int>'), '12x'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'invalid <int> value "12x" at byte {at}' },
  { name: 'empty int', ...docAt(v('<int></int>'), '</int>'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'invalid <int> value "" at byte {at}' },
  { name: 'int out of range', ...docAt(v('<i4>2147483648</i4>'), '2147483648'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'out of range <i4> value "2147483648" at byte {at}' },
  { name: 'i8 out of range', ...docAt(v('<i8>-9223372036854775809</i8>'), '-9223'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'out of range <i8> value "-9223372036854775809" at byte {at}' },
  { name: 'bad boolean', ...docAt(v('<boolean>2</boolean>'), '2</'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'invalid <boolean> value "2" at byte {at}' },
  { name: 'bad base64', ...docAt(v('<base64>aGk=x</base64>'), 'aGk'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'invalid <base64> value "aGk=x" at byte {at}' },
  { name: 'bad date', ...docAt(v('<dateTime.iso8601>20241301T00:00:00</dateTime.iso8601>'), '2024'), error: XmlRpcValueError, code: 'ERR_XMLRPC_BAD_VALUE', message: 'invalid <dateTime.iso8601> value "20241301T00:00:00" at byte {at}' },
  { name: 'empty document', doc: '', at: 0, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'empty document at byte {at}' },
  { name: 'whitespace only', doc: ' \n ', at: 3, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document has no root element at byte {at}' },
  { name: 'truncated inside an element', doc: HEAD + '<value><struct>\n<member>\n', at: (HEAD + '<value><struct>\n<member>\n').length, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside <member> at byte {at}' },
  { name: 'truncated inside a tag', doc: '<methodResponse><par', at: 20, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside a tag at byte {at}' },
  { name: 'truncated inside a comment', doc: '<methodResponse><!-- x --', at: 25, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside a comment at byte {at}' },
  { name: 'truncated inside CDATA', doc: HEAD + '<value><![CDATA[abc]]', at: (HEAD + '<value><![CDATA[abc]]').length, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside a CDATA section at byte {at}' },
  { name: 'truncated inside a processing instruction', doc: '<?xml version="1.0"?', at: 20, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside a processing instruction at byte {at}' },
  { name: 'truncated inside an entity', doc: HEAD + '<value>&am', at: (HEAD + '<value>&am').length, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside an entity reference at byte {at}' },
  { name: 'truncated after the text of a value', doc: HEAD + '<value>abc', at: (HEAD + '<value>abc').length, error: XmlRpcTruncatedError, code: 'ERR_XMLRPC_TRUNCATED', message: 'document ends inside <value> at byte {at}' },
  { name: 'DOCTYPE at the start', doc: '<?xml version="1.0"?>\n<!DOCTYPE methodResponse>\n<methodResponse/>', at: 22, error: XmlRpcDoctypeError, code: 'ERR_XMLRPC_DOCTYPE', message: 'document type or markup declaration not allowed at byte {at}' },
  { name: 'ENTITY inside a value', ...docAt(v('<string><!ENTITY x "y"></string>'), '<!ENTITY'), error: XmlRpcDoctypeError, code: 'ERR_XMLRPC_DOCTYPE', message: 'document type or markup declaration not allowed at byte {at}' },
  { name: 'ELEMENT between elements', ...docAt('<methodResponse><!ELEMENT a ANY>', '<!ELEMENT'), error: XmlRpcDoctypeError, code: 'ERR_XMLRPC_DOCTYPE', message: 'document type or markup declaration not allowed at byte {at}' },
  { name: 'ATTLIST after the root', ...docAt(response('<value/>') + '<!ATTLIST a b CDATA #IMPLIED>', '<!ATTLIST'), error: XmlRpcDoctypeError, code: 'ERR_XMLRPC_DOCTYPE', message: 'document type or markup declaration not allowed at byte {at}' },
  { name: 'unknown entity is never looked up', ...docAt(v('<string>&foo;</string>'), '&foo;'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unknown entity "&foo;" at byte {at}' },
  { name: 'malformed entity', ...docAt(v('<string>a &amp b</string>'), '&amp'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed entity reference at byte {at}' },
  { name: 'overlong entity', ...docAt(v(`<string>&#${'0'.repeat(40)}65;</string>`), '&#'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed entity reference at byte {at}' },
  { name: 'bad character reference digits', ...docAt(v('<string>&#12a;</string>'), '&#'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed character reference at byte {at}' },
  { name: 'empty hex character reference', ...docAt(v('<string>&#x;</string>'), '&#'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed character reference at byte {at}' },
  { name: 'reference to U+0000', ...docAt(v('<string>&#0;</string>'), '&#0;'), error: XmlRpcEncodingError, code: 'ERR_XMLRPC_ENCODING', message: 'character reference &#0; names no allowed character at byte {at}' },
  { name: 'reference to a surrogate', ...docAt(v('<string>&#xD800;</string>'), '&#x'), error: XmlRpcEncodingError, code: 'ERR_XMLRPC_ENCODING', message: 'character reference &#xD800; names no allowed character at byte {at}' },
  { name: 'reference beyond U+10FFFF', ...docAt(v('<string>&#x110000;</string>'), '&#x'), error: XmlRpcEncodingError, code: 'ERR_XMLRPC_ENCODING', message: 'character reference &#x110000; names no allowed character at byte {at}' },
  { name: 'huge decimal reference', ...docAt(v('<string>&#99999999999999999999;</string>'), '&#'), error: XmlRpcEncodingError, code: 'ERR_XMLRPC_ENCODING', message: 'character reference &#99999999999999999999; names no allowed character at byte {at}' },
  { name: 'nesting deeper than maxDepth', ...docAt(v('<array><data><value><array>'), '<array>', 1), options: { maxDepth: 7 }, error: DepthLimitError, code: 'ERR_XMLRPC_DEPTH', message: 'nesting deeper than 7 levels at byte {at}' },
  { name: 'a self-closing element deeper than maxDepth', ...docAt(v('<nil/>'), '<nil/>'), options: { maxDepth: 4 }, error: DepthLimitError, code: 'ERR_XMLRPC_DEPTH', message: 'nesting deeper than 4 levels at byte {at}' },
  { name: 'document larger than maxBytes', doc: response('<value><string>0123456789</string></value>'), options: { maxBytes: 60 }, error: DocumentSizeError, code: 'ERR_XMLRPC_TOO_LARGE', message: 'document larger than 60 bytes' },
  { name: 'invalid UTF-8: stray continuation byte', doc: Buffer.concat([bytes(HEAD + '<value>ab'), Buffer.from([0x80]), bytes('</value>' + TAIL)]), at: Buffer.byteLength(HEAD + '<value>ab'), error: XmlRpcEncodingError, code: 'ERR_XMLRPC_ENCODING', message: 'invalid utf-8 at byte {at}' },
  { name: 'fault without faultString', ...docAt('<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member></struct></value></fault></methodResponse>', '</fault>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<fault> value is not a struct with an int faultCode and a string faultString at byte {at}' },
  { name: 'fault with a string faultCode', ...docAt('<methodResponse><fault><value><struct><member><name>faultCode</name><value>1</value></member><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>', '</fault>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<fault> value is not a struct with an int faultCode and a string faultString at byte {at}' },
  { name: 'fault that is not a struct', ...docAt('<methodResponse><fault><value><array><data/></array></value></fault></methodResponse>', '</fault>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<fault> value is not a struct with an int faultCode and a string faultString at byte {at}' },
  { name: 'fault with no value', ...docAt('<methodResponse><fault></fault></methodResponse>', '</fault>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<fault> with no <value> at byte {at}' },
  { name: 'response with no value', ...docAt("<?xml version='1.0'?>\n<methodResponse>\n<params>\n</params>\n</methodResponse>\n", '</params>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'response has no value at byte {at}' },
  { name: 'response with <params/>', ...docAt('<methodResponse><params/></methodResponse>', '<params/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'response has no value at byte {at}' },
  { name: 'response with two params', ...docAt(HEAD + '<value/></param><param><value/>' + TAIL, '<param>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <param> in a response at byte {at}' },
  { name: 'empty methodResponse', ...docAt('<methodResponse></methodResponse>', '</methodResponse>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<methodResponse> with neither <params> nor <fault> at byte {at}' },
  { name: 'params and fault', ...docAt('<methodResponse><params><param><value/></param></params><fault>', '<fault>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <params> or <fault> in <methodResponse> at byte {at}' },
  { name: 'param with no value', ...docAt('<methodResponse><params><param></param>', '</param>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<param> with no <value> at byte {at}' },
  { name: 'param with two values', ...docAt('<methodResponse><params><param><value/><value/>', '<value/>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <value> in <param> at byte {at}' },
  { name: 'member with no value', ...docAt(v('<struct>\n<member>\n<name>a</name>\n</member>'), '</member>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'struct member with no <value> at byte {at}' },
  { name: 'unknown element in a member', ...docAt(v('<struct><member><name>a</name><foo/>'), '<foo/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <foo> in <member> at byte {at}' },
  { name: 'member with nothing', ...docAt(v('<struct><member/>'), '<member/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'struct member with no <name> at byte {at}' },
  { name: 'member value before its name', ...docAt(v('<struct><member><value/>'), '<value/>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: '<value> before <name> in <member> at byte {at}' },
  { name: 'member with two names', ...docAt(v('<struct><member><name>a</name><name>'), '<name>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <name> in <member> at byte {at}' },
  { name: 'member with two values', ...docAt(v('<struct><member><name>a</name><value/><value/>'), '<value/>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <value> in <member> at byte {at}' },
  { name: 'array with two data', ...docAt(v('<array><data/><data/>'), '<data/>', 1), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'more than one <data> in <array> at byte {at}' },
  { name: 'xml declaration not at the start', doc: ' <?xml version="1.0"?><methodResponse/>', at: 1, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'xml declaration not at the start of the document at byte {at}' },
  { name: 'malformed processing instruction', doc: '<? x?>', at: 0, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed processing instruction at byte {at}' },
  { name: 'space after <', ...docAt('<methodResponse>< params>', '< params>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed tag at byte {at}' },
  { name: '<>', ...docAt('<methodResponse><>', '<>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed tag at byte {at}' },
  { name: '< inside a tag name', ...docAt('<methodResponse><par<ams>', '<par<'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed tag at byte {at}' },
  { name: '< inside attributes', ...docAt('<methodResponse a="1" <params>', '<methodResponse'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed tag at byte {at}' },
  { name: '/ not followed by >', ...docAt('<methodResponse><params/ >', '<params'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed tag at byte {at}' },
  { name: 'malformed end tag', ...docAt('<methodResponse><params></params x>', '</params'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed end tag at byte {at}' },
  { name: 'empty end tag', ...docAt('<methodResponse></>', '</>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed end tag at byte {at}' },
  { name: 'tag longer than the limit', ...docAt(`<methodResponse><params a="${'x'.repeat(MAX_TAG_BYTES)}">`, '<params'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: `tag longer than ${MAX_TAG_BYTES} bytes at byte {at}` },
  { name: 'end tag longer than the limit', ...docAt(`<methodResponse></${'x'.repeat(MAX_TAG_BYTES)}>`, '</'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: `tag longer than ${MAX_TAG_BYTES} bytes at byte {at}` },
  { name: 'name longer than the limit', ...docAt(`<methodResponse><${'x'.repeat(MAX_TAG_BYTES)}>`, '<x'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: `tag longer than ${MAX_TAG_BYTES} bytes at byte {at}` },
  { name: 'self-closing tag at the limit', ...docAt(`<methodResponse><${'x'.repeat(MAX_TAG_BYTES - 2)}/>`, '<x'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: `tag longer than ${MAX_TAG_BYTES} bytes at byte {at}` },
  { name: 'PI target longer than the limit', doc: `<?${'x'.repeat(MAX_TAG_BYTES)}?>`, at: 0, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: `tag longer than ${MAX_TAG_BYTES} bytes at byte {at}` },
  { name: 'CDATA between elements', ...docAt('<methodResponse><params><![CDATA[x]]>', '<![CDATA['), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected CDATA section in <params> at byte {at}' },
  { name: 'CDATA before the root', doc: '<![CDATA[x]]>', at: 0, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected CDATA section before the root element at byte {at}' },
  { name: 'malformed CDATA', ...docAt(v('<string><![CDATX[x]]></string>'), '<![CDATX'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed CDATA section at byte {at}' },
  { name: 'malformed comment', ...docAt('<methodResponse><!-x-->', '<!-x'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed comment at byte {at}' },
  { name: 'malformed markup', ...docAt('<methodResponse><!1>', '<!1'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'malformed markup at byte {at}' },
  { name: 'entity between elements', ...docAt('<methodResponse>&#32;<params>', '&#32;'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text in <methodResponse> at byte {at}' },
  { name: 'text in nil', ...docAt(v('<nil>x</nil>'), 'x</nil>'), error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected text in <nil> at byte {at}' },
  { name: 'long unknown names are cut in messages', ...docAt(v(`<${'y'.repeat(50)}/>`), '<yyy'), error: XmlRpcTypeError, code: 'ERR_XMLRPC_UNKNOWN_TYPE', message: `unknown value type <${'y'.repeat(40)}...> at byte {at}` },
  { name: 'a syntax error before an encoding error wins', doc: Buffer.concat([bytes(HEAD + '<vaXue>'), Buffer.from([0xff])]), at: HEAD.length, error: XmlRpcParseError, code: 'ERR_XMLRPC_SYNTAX', message: 'unexpected element <vaXue> in <param> at byte {at}' },
];

for (const b of bads) {
  test(`refused: ${b.name}`, () => {
    const outcome = decodeEveryWay(bytes(b.doc), b.options);
    assert.ok(!outcome.ok, 'expected an error');
    const e = outcome.error as ProtocolError & { offset?: number };
    assert.ok(e instanceof b.error, describeError(e));
    assert.equal(e.constructor, b.error, describeError(e));
    assert.equal(e.code, b.code);
    assert.equal(e.message, b.message.replace('{at}', String(b.at)));
    if (b.at !== undefined) assert.equal(e.offset, b.at);
  });
}

// ---------------------------------------------------------------------------
// Limits and hostile documents
// ---------------------------------------------------------------------------

test('a 100,000-deep document fails fast at maxDepth, without recursion', () => {
  const depth = 100_000;
  const open = '<value><array><data>';
  const doc = Buffer.from(HEAD + open.repeat(depth) + '</data></array></value>'.repeat(depth) + TAIL);
  const started = process.hrtime.bigint();
  const outcome = decodeIn(doc, []);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(!outcome.ok);
  assert.ok(outcome.error instanceof DepthLimitError, describeError(outcome.error));
  // Depth 65 is reached by the 61st element after <param> (depth 3):
  // <value>, <array>, <data> repeat, so it is the 21st <array>.
  const offset = HEAD.length + 20 * open.length + '<value>'.length;
  assert.equal(outcome.error.message, `nesting deeper than 64 levels at byte ${offset}`);
  assert.equal(outcome.error.offset, offset);
  assert.equal(outcome.error.limit, 64);
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test('a 100,000-deep document decodes with a high maxDepth (explicit stack)', () => {
  const depth = 100_000;
  const doc = Buffer.from(HEAD + '<value><array><data>'.repeat(depth) + '<value><int>7</int></value>' + '</data></array></value>'.repeat(depth) + TAIL);
  const value = decodeResponse(doc, { maxDepth: 3 * depth + 5 });
  let v: XmlRpcValue = value;
  for (let d = 0; d < depth; d++) {
    assert.ok(Array.isArray(v) && v.length === 1, `level ${d}`);
    v = v[0]!;
  }
  assert.equal(v, 7);
});

test('billion laughs is refused at the DOCTYPE, before any entity', () => {
  let doc = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n';
  for (let i = 1; i < 10; i++) doc += `<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">\n`;
  doc += ']>\n' + response('<value><string>&lol9;</string></value>').slice("<?xml version='1.0'?>\n".length);
  const outcome = decodeEveryWay(Buffer.from(doc));
  assert.ok(!outcome.ok);
  assert.ok(outcome.error instanceof XmlRpcDoctypeError, describeError(outcome.error));
  assert.equal(outcome.error.code, 'ERR_XMLRPC_DOCTYPE');
  assert.equal(outcome.error.message, `document type or markup declaration not allowed at byte ${at(doc, '<!DOCTYPE')}`);
});

test('DocumentSizeError is thrown by the write that crosses maxBytes, before processing it', () => {
  const decoder = new XmlRpcDecoder({ maxBytes: 25 });
  decoder.write(Buffer.from('<methodResponse>'));
  decoder.write(Buffer.from('<params>'));
  assert.equal(decoder.bytesWritten, 24);
  // The next chunk is garbage: it is refused for its size, not parsed.
  const check = (e: unknown): boolean => {
    assert.ok(e instanceof DocumentSizeError);
    assert.equal(e.code, 'ERR_XMLRPC_TOO_LARGE');
    assert.equal(e.message, 'document larger than 25 bytes');
    assert.equal(e.limit, 25);
    return true;
  };
  assert.throws(() => decoder.write(Buffer.from('xx')), check);
  assert.equal(decoder.bytesWritten, 24);
  // Sticky: the same error again, from write and from end.
  assert.throws(() => decoder.write(Buffer.from('x')), check);
  assert.throws(() => decoder.end(), check);
});

test('exactly maxBytes is accepted', () => {
  const doc = Buffer.from(response('<value><int>1</int></value>'));
  assert.equal(decodeResponse(doc, { maxBytes: doc.length }), 1);
});

// ---------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------

const utf8Cases: { name: string; bad: number[]; lead: number }[] = [
  { name: 'overlong 2-byte form', bad: [0xc0, 0xaf], lead: 0 },
  { name: 'overlong 3-byte form', bad: [0xe0, 0x80, 0xaf], lead: 0 },
  { name: 'overlong 4-byte form', bad: [0xf0, 0x80, 0x80, 0xaf], lead: 0 },
  { name: 'surrogate', bad: [0xed, 0xa0, 0x80], lead: 0 },
  { name: 'beyond U+10FFFF', bad: [0xf4, 0x90, 0x80, 0x80], lead: 0 },
  { name: 'byte 0xF8', bad: [0xf8, 0x88, 0x80, 0x80, 0x80], lead: 0 },
  { name: 'byte 0xFF', bad: [0xff], lead: 0 },
  { name: 'sequence cut by ASCII', bad: [0xe2, 0x82, 0x41], lead: 0 },
  { name: '4-byte sequence cut at its last byte', bad: [0xf0, 0x9f, 0x98, 0x41], lead: 0 },
  { name: 'valid character then a stray continuation', bad: [0xc3, 0xa9, 0xa9], lead: 2 },
];

for (const c of utf8Cases) {
  test(`invalid UTF-8 in text, every split: ${c.name}`, () => {
    const prefix = Buffer.from(HEAD + '<value><string>é');
    const doc = Buffer.concat([prefix, Buffer.from(c.bad), Buffer.from('x</string></value>' + TAIL)]);
    const outcome = decodeEveryWay(doc);
    assert.ok(!outcome.ok);
    assert.ok(outcome.error instanceof XmlRpcEncodingError, describeError(outcome.error));
    assert.equal(outcome.error.code, 'ERR_XMLRPC_ENCODING');
    assert.equal(outcome.error.message, `invalid utf-8 at byte ${prefix.length + c.lead}`);
  });
}

test('invalid UTF-8 in a tag name, a member name and after the root', () => {
  for (const [before, after] of [
    ['<methodResponse><par', 'ams>'],
    [HEAD + '<value><struct><member><name>a', '</name>'],
    [response('<value/>'), ''],
  ] as const) {
    const doc = Buffer.concat([Buffer.from(before), Buffer.from([0xe9]), Buffer.from('z' + after)]);
    const outcome = decodeEveryWay(doc);
    assert.ok(!outcome.ok);
    assert.ok(outcome.error instanceof XmlRpcEncodingError, describeError(outcome.error));
    assert.equal(outcome.error.message, `invalid utf-8 at byte ${Buffer.byteLength(before)}`);
  }
});

test('a document ending inside a UTF-8 sequence', () => {
  const doc = Buffer.concat([Buffer.from(response('<value/>')), Buffer.from([0xf0, 0x9f, 0x98])]);
  const outcome = decodeEveryWay(doc);
  assert.ok(!outcome.ok);
  assert.ok(outcome.error instanceof XmlRpcEncodingError, describeError(outcome.error));
  assert.equal(outcome.error.message, `truncated utf-8 sequence at byte ${doc.length - 3}`);
});

test('a valid 4-byte character split across three writes', () => {
  const d = new XmlRpcDecoder();
  d.write(Buffer.from(HEAD + '<value>'));
  d.write(Buffer.from([0xf0, 0x9f]));
  d.write(Buffer.from([0x98]));
  d.write(Buffer.concat([Buffer.from([0x80]), Buffer.from('</value>' + TAIL)]));
  assert.equal(d.end(), '😀');
});

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

test('decodeCall: method and params, every split', () => {
  const doc = Buffer.from(
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getProcessInfo</methodName>\n<params>\n" +
      '<param>\n<value><string>web:web_00</string></value>\n</param>\n<param>\n<value><int>2</int></value>\n</param>\n</params>\n</methodCall>\n',
  );
  const outcome = decodeEveryWay(doc, undefined, true);
  assert.ok(outcome.ok);
  assert.deepStrictEqual(outcome.value, { method: 'supervisor.getProcessInfo', params: ['web:web_00', 2] });
  assert.deepStrictEqual(decodeCall(doc), { method: 'supervisor.getProcessInfo', params: ['web:web_00', 2] });
});

test('XmlRpcCallDecoder streams and counts bytes', () => {
  const doc = Buffer.from('<methodCall><methodName>system.multicall</methodName><params><param><value><array><data/></array></value></param></params></methodCall>');
  const d = new XmlRpcCallDecoder();
  d.write(doc.subarray(0, 30));
  assert.equal(d.bytesWritten, 30);
  d.write(doc.subarray(30));
  assert.equal(d.bytesWritten, doc.length);
  assert.deepStrictEqual(d.end(), { method: 'system.multicall', params: [[]] });
});

test('decodeCall: params are optional, may be empty', () => {
  assert.deepStrictEqual(decodeCall(Buffer.from('<methodCall><methodName>system.listMethods</methodName></methodCall>')), { method: 'system.listMethods', params: [] });
  assert.deepStrictEqual(decodeCall(Buffer.from('<methodCall><methodName>a&amp;b</methodName><params/></methodCall>')), { method: 'a&b', params: [] });
});

const badCalls: { name: string; doc: string; message: string; marker: string; nth?: number }[] = [
  { name: 'no methodName', doc: '<methodCall></methodCall>', message: '<methodCall> with no <methodName>', marker: '</methodCall>' },
  { name: 'params before methodName', doc: '<methodCall><params/>', message: '<params> before <methodName> in <methodCall>', marker: '<params/>' },
  { name: 'two methodNames', doc: '<methodCall><methodName>a</methodName><methodName>', message: 'more than one <methodName> in <methodCall>', marker: '<methodName>', nth: 1 },
  { name: 'two params', doc: '<methodCall><methodName>a</methodName><params/><params/>', message: 'more than one <params> in <methodCall>', marker: '<params/>', nth: 1 },
  { name: 'a fault', doc: '<methodCall><fault>', message: 'unexpected element <fault> in <methodCall>', marker: '<fault>' },
  { name: 'a response', doc: '<methodResponse>', message: 'expected <methodCall> as the root element, found <methodResponse>', marker: '<methodResponse>' },
];

for (const c of badCalls) {
  test(`decodeCall refuses: ${c.name}`, () => {
    const outcome = decodeEveryWay(Buffer.from(c.doc), undefined, true);
    assert.ok(!outcome.ok);
    assert.equal(outcome.error?.constructor, XmlRpcParseError);
    assert.equal((outcome.error as XmlRpcParseError).message, `${c.message} at byte ${at(c.doc, c.marker, c.nth)}`);
  });
}

// ---------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------

test('bytesWritten counts accepted bytes; end() is repeatable', () => {
  const doc = Buffer.from(response('<value><int>5</int></value>'));
  const d = new XmlRpcDecoder();
  assert.equal(d.bytesWritten, 0);
  d.write(doc.subarray(0, 10));
  assert.equal(d.bytesWritten, 10);
  d.write(new Uint8Array(doc.subarray(10))); // a plain Uint8Array works too
  assert.equal(d.bytesWritten, doc.length);
  assert.equal(d.end(), 5);
  assert.equal(d.end(), 5);
});

test('a fault is thrown again by a second end()', () => {
  const doc = bytes(goldens.find((g) => g.name === 'fault')!.doc);
  const d = new XmlRpcDecoder();
  d.write(doc);
  for (let i = 0; i < 2; i++) {
    assert.throws(() => d.end(), (e: unknown) => e instanceof XmlRpcFault && e.faultCode === 10 && e.message === 'fault 10: BAD_NAME: foo');
  }
});

test('errors are sticky: every later write and end throws the same error', () => {
  const d = new XmlRpcDecoder();
  let first: unknown;
  try {
    d.write(Buffer.from('<methodResponse><oops>'));
  } catch (e) {
    first = e;
  }
  assert.ok(first instanceof XmlRpcParseError);
  assert.throws(() => d.write(Buffer.from('<params>')), (e: unknown) => e === first);
  assert.throws(() => d.end(), (e: unknown) => e === first);
});

test('a truncation error from end() is sticky too', () => {
  const d = new XmlRpcDecoder();
  d.write(Buffer.from('<methodResponse>'));
  let first: unknown;
  assert.throws(() => d.end(), (e: unknown) => ((first = e), e instanceof XmlRpcTruncatedError));
  assert.throws(() => d.end(), (e: unknown) => e === first);
  assert.throws(() => d.write(Buffer.from('x')), (e: unknown) => e === first);
});

test('write after end', () => {
  const d = new XmlRpcDecoder();
  d.write(Buffer.from(response('<value/>')));
  assert.equal(d.end(), '');
  assert.throws(
    () => d.write(Buffer.from(' ')),
    (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_XMLRPC_DECODER_ENDED' && e.message === 'write after end() of the xml-rpc decoder',
  );
});

test('write refuses what is not a Uint8Array', () => {
  const d = new XmlRpcDecoder();
  assert.throws(() => d.write('<methodResponse>' as unknown as Uint8Array), { name: 'TypeError', message: 'chunk must be a Uint8Array' });
});

test('options are validated, field by field', () => {
  const cases: [unknown, string, string][] = [
    [null, 'TypeError', 'decoder options must be an object, got null'],
    [5, 'TypeError', 'decoder options must be an object, got number'],
    [{ maxdepth: 3 }, 'TypeError', 'unknown decoder option "maxdepth"'],
    [{ maxDepth: '3' }, 'TypeError', 'maxDepth must be a number, got string'],
    [{ maxDepth: 0 }, 'RangeError', 'maxDepth must be a positive integer, got 0'],
    [{ maxBytes: 1.5 }, 'RangeError', 'maxBytes must be a positive integer, got 1.5'],
    [{ maxBytes: Infinity }, 'RangeError', 'maxBytes must be a positive integer, got Infinity'],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => new XmlRpcDecoder(options as XmlRpcDecoderOptions), { name, message });
    assert.throws(() => decodeCall(Buffer.from(''), options as XmlRpcDecoderOptions), { name, message });
  }
  assert.equal(decodeResponse(Buffer.from(response('<value>a</value>')), { maxDepth: undefined, maxBytes: 1000 } as unknown as XmlRpcDecoderOptions), 'a');
});
