/**
 * Fuzzing engine for the streaming XML-RPC decoder (issue 7, item 1).
 *
 * A run draws inputs from a seeded corpus (recorded supervisord 4.2.5
 * answers and requests, generated process lists, encoder output of random
 * values, faults, multicall results, hand-written documents in the spellings
 * of other producers), mutates each one (bit flips, interesting bytes,
 * truncations, duplicated and deleted spans, inserted tags, entities, huge
 * numbers, deep nesting, invalid UTF-8, crossovers) and decodes it twice:
 * whole, and in random chunks. Invariants checked on every input:
 *
 * - (a) `exception`: the decoder returns a value or throws a
 *   {@link ProtocolError} (an {@link XmlRpcFault} counts as decoded); never
 *   a `TypeError`, `RangeError` (stack overflow) or anything else;
 * - (b) `disagreement`: whole and chunked decoding agree: deep-equal values,
 *   or errors of the same class, code, offset and message;
 * - (c) `time`: each decode stays within a time budget (200 ms per started
 *   100 KB), measured, and confirmed by re-running before it is reported;
 * - (d) `memory`: the process RSS, sampled every few thousand inputs, stays
 *   under a bound.
 *
 * Every input is reproducible on its own: its random stream is seeded by
 * {@link inputSeed}(run seed, index), and a violation records the exact
 * bytes and chunk boundaries. {@link writeFailure} stores them as a `.bin`
 * plus `.json` pair in the format `fixtures/fuzz-regressions/` uses, so a
 * failing input becomes a regression test by copying two files.
 *
 * Used by `test/fuzz/run.ts` (the long run), by
 * `test/protocol/xmlrpc-decoder-fuzz.test.ts` (a short run in `npm test`) and
 * by `test/protocol/fuzz-regressions.test.ts` (the replay).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import { createRandom, generateAllProcessInfoXml, randomValue } from '../../fixtures/generate.js';
import { ProtocolError, XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { XmlRpcCallDecoder, XmlRpcDecoder } from '../../protocol/xmlrpc-decoder.js';
import type { XmlRpcDecoderOptions } from '../../protocol/xmlrpc-decoder.js';
import { encodeCall, encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/** A seeded random source with the helpers the mutators need. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number;
  /** One item of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
}

/**
 * A seeded {@link Rng} over `createRandom` (mulberry32) of the fixture
 * generator: the same seed gives the same stream on every platform.
 *
 * @param seed any integer; only its low 32 bits matter.
 */
export function makeRng(seed: number): Rng {
  const next = createRandom(seed);
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  };
}

/**
 * The seed of input number `index` of a run seeded with `runSeed`: a
 * murmur3-style mix, so neighbouring indexes get unrelated streams and one
 * input can be regenerated without replaying the run before it.
 */
export function inputSeed(runSeed: number, index: number): number {
  let h = Math.imul((runSeed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------

/** One seed document of the corpus. */
export interface CorpusEntry {
  /** Where it comes from, e.g. `recorded:getState` or `random-value#3`. */
  readonly name: string;
  readonly bytes: Buffer;
  /** True for a `<methodCall>` (decoded with {@link XmlRpcCallDecoder}). */
  readonly call: boolean;
}

/** The repository root: the first directory above this file holding a `package.json` (works from `dist/` and `.build/*`). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const XML_START = Buffer.from('<?xml', 'latin1');

/**
 * The XML bodies of the recorded exchanges in `fixtures/supervisord-4.2.5/`:
 * answers (`NAME.http`) as responses, requests (`NAME.request.http`) as
 * calls. HTML error pages and bodiless requests are left out (they are not
 * XML-RPC, so mutating them explores nothing).
 */
export function recordedBodies(dir = path.join(repoRoot(), 'fixtures', 'supervisord-4.2.5')): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.http')) continue;
    const raw = fs.readFileSync(path.join(dir, file));
    const split = raw.indexOf(CRLFCRLF);
    if (split < 0) continue;
    const body = raw.subarray(split + 4);
    if (!body.subarray(0, XML_START.length).equals(XML_START)) continue;
    const call = file.endsWith('.request.http');
    out.push({ name: `recorded:${file.slice(0, -'.http'.length)}`, bytes: Buffer.from(body), call });
  }
  return out;
}

/**
 * Documents in the spellings other XML-RPC producers use (section 3 of
 * supervisord-protocol.md): pretty-printed, `<i4>`, `<i8>`, untyped values,
 * `<nil/>`, dates, base64, references, CDATA, comments, a BOM, attributes.
 * They reach the decoder's general paths, which Python-shaped answers skip.
 */
const HAND_WRITTEN: readonly { name: string; text: string; call?: boolean }[] = [
  {
    name: 'pretty-struct',
    text:
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n  <params>\n    <param>\n      <value>\n        <struct>\n' +
      '          <member><name>i4</name><value><i4>-42</i4></value></member>\n' +
      '          <member><name>i8</name><value><i8>9007199254740993</i8></value></member>\n' +
      '          <member><name>untyped</name><value>plain &amp; simple</value></member>\n' +
      '          <member><name>nil</name><value><nil/></value></member>\n' +
      '          <member><name>exnil</name><value><ex:nil/></value></member>\n' +
      '          <member><name>when</name><value><dateTime.iso8601>20261125T16:05:26</dateTime.iso8601></value></member>\n' +
      '          <member><name>blob</name><value><base64>aGVsbG8g\n  d29ybGQ=</base64></value></member>\n' +
      '          <member><name>yes</name><value><boolean>1</boolean></value></member>\n' +
      '          <member><name>pi</name><value><double>3.141592653589793</double></value></member>\n' +
      '        </struct>\n      </value>\n    </param>\n  </params>\n</methodResponse>\n',
  },
  {
    name: 'references-cdata-comments',
    text:
      '\ufeff<?xml version="1.0"?><!-- lead --><methodResponse><params><param><value><array><data>' +
      '<value><string>caf&#233; &#xE9;&#x1F680; &lt;&gt;&quot;&apos;</string></value>' +
      '<value><string><![CDATA[<raw> & ]] text]]></string></value>' +
      '<value><!-- inside --><int> 7 </int></value>' +
      '<value><?pi data?><string>a<!-- c -->b</string></value>' +
      '<value/>' +
      '<value><string/></value>' +
      '<value><array><data/></array></value>' +
      '<value><struct/></value>' +
      '</data></array></value></param></params></methodResponse><!-- tail -->\n',
  },
  {
    name: 'attributes-and-dates',
    text:
      "<?xml version='1.0'?><methodResponse xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\">" +
      '<params><param><value a=\'1>2\' b="x"><array><data>' +
      '<value><dateTime.iso8601>2026-11-25T16:05:26.123+01:00</dateTime.iso8601></value>' +
      '<value><dateTime.iso8601>00010101T00:00:00Z</dateTime.iso8601></value>' +
      '<value><double>-1.5e-300</double></value><value><double>inf</double></value>' +
      '<value><boolean>false</boolean></value><value><i8>-9223372036854775808</i8></value>' +
      '</data></array></value></param></params></methodResponse>',
  },
  {
    name: 'fault-pretty',
    text:
      '<?xml version="1.0"?>\r\n<methodResponse>\r\n<fault>\r\n<value>\r\n<struct>\r\n' +
      '<member>\r\n<name>faultString</name>\r\n<value>SHUTDOWN_STATE</value>\r\n</member>\r\n' +
      '<member>\r\n<name>faultCode</name>\r\n<value><i4>6</i4></value>\r\n</member>\r\n' +
      '</struct>\r\n</value>\r\n</fault>\r\n</methodResponse>\r\n',
  },
  {
    name: 'call-no-params',
    text: '<?xml version="1.0"?><methodCall><methodName>supervisor.getState</methodName></methodCall>',
    call: true,
  },
  {
    name: 'call-many-params',
    text:
      '<methodCall><methodName>x.y</methodName><params>' +
      '<param><value><i4>1</i4></value></param><param><value>two</value></param>' +
      '<param><value><struct><member><name>k</name><value><nil/></value></member></struct></value></param>' +
      '</params></methodCall>',
    call: true,
  },
];

/** supervisord's fault names, for realistic fault strings. */
const FAULT_NAMES = [
  'UNKNOWN_METHOD',
  'INCORRECT_PARAMETERS',
  'BAD_ARGUMENTS',
  'SHUTDOWN_STATE',
  'BAD_NAME: foo',
  'NOT_RUNNING: web:front',
  'SPAWN_ERROR: café',
  'FAILED: <&>',
];

/**
 * The fuzzing corpus, the same for the same seed: recorded bodies,
 * generated getAllProcessInfo answers (3 to 20 processes), encoder output of
 * random values (small: a few KB at most, so the run reaches its throughput
 * target), faults, multicall results, random calls and the hand-written
 * documents.
 *
 * @param seed seed of the generated parts.
 */
export function buildCorpus(seed = 0x5eed): CorpusEntry[] {
  const rng = makeRng(seed);
  const corpus: CorpusEntry[] = recordedBodies();
  for (const n of [3, 5, 8, 12, 20]) {
    corpus.push({ name: `processes-${n}`, bytes: generateAllProcessInfoXml(n, { seed: seed + n }), call: false });
  }
  for (let i = 0; i < 48; i++) {
    const value = randomValue(rng.next, { maxDepth: 3, maxItems: 4 });
    corpus.push({ name: `random-value#${i}`, bytes: encodeResponse(value), call: false });
  }
  for (let i = 0; i < 12; i++) {
    const code = rng.pick([1, 2, 3, 6, 10, 70, 0, -1, 2147483647, -2147483648]);
    corpus.push({ name: `fault#${i}`, bytes: encodeFault(code, rng.pick(FAULT_NAMES)), call: false });
  }
  for (let i = 0; i < 12; i++) {
    const items: XmlRpcValue[] = [];
    for (let n = rng.int(1, 5); n > 0; n--) {
      items.push(
        rng.chance(0.3)
          ? { faultCode: rng.pick([10, 70, 6]), faultString: rng.pick(FAULT_NAMES) }
          : randomValue(rng.next, { maxDepth: 2, maxItems: 3 }),
      );
    }
    corpus.push({ name: `multicall-result#${i}`, bytes: encodeResponse(items), call: false });
  }
  for (let i = 0; i < 8; i++) {
    const calls: XmlRpcValue[] = [];
    for (let n = rng.int(0, 3); n > 0; n--) {
      calls.push({ methodName: rng.pick(['supervisor.getProcessInfo', 'supervisor.getState']), params: [randomValue(rng.next, { maxDepth: 1 })] });
    }
    corpus.push({
      name: `call#${i}`,
      bytes: rng.chance(0.5) ? encodeCall('system.multicall', [calls]) : encodeCall('supervisor.getProcessInfo', [randomValue(rng.next, { maxDepth: 2 })]),
      call: true,
    });
  }
  for (const h of HAND_WRITTEN) corpus.push({ name: `hand:${h.name}`, bytes: Buffer.from(h.text, 'utf8'), call: h.call === true });
  return corpus;
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

const LT = 0x3c; // <
const GT = 0x3e; // >

/** Bytes that change the meaning of a document the most where they land. */
const INTERESTING_BYTES = [
  0x00, 0x09, 0x0a, 0x0d, 0x20, 0x21 /* ! */, 0x22 /* " */, 0x23 /* # */, 0x26 /* & */, 0x27 /* ' */, 0x2d /* - */,
  0x2f /* / */, 0x30, 0x39, 0x3b /* ; */, LT, GT, 0x3f /* ? */, 0x5b /* [ */, 0x5d /* ] */, 0x78 /* x */, 0x7f, 0x80,
  0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xfe, 0xff,
];

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Markup spliced in at tag boundaries. */
const TAGS = [
  '<value>', '</value>', '<value/>', '<struct>', '</struct>', '<struct/>', '<array>', '</array>', '<data>', '</data>',
  '<member>', '</member>', '<name>', '</name>', '<name/>', '<string>', '</string>', '<int>', '</int>', '<i4>', '<i8>',
  '<double>', '<boolean>', '<base64>', '<dateTime.iso8601>', '<nil/>', '<ex:nil/>', '<nil>', '</nil>', '<float>',
  '<params>', '</params>', '<params/>', '<param>', '</param>', '<fault>', '</fault>', '<methodResponse>',
  '</methodResponse>', '<methodCall>', '<methodName>', '</methodName>', '<!DOCTYPE x>',
  '<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>', '<!ENTITY x SYSTEM "file:///etc/passwd">',
  '<!ELEMENT x ANY>', '<![CDATA[', ']]>', '<![CDATA[x]]>', '<![CDAT', '<!--', '-->', '<!-- c -->', '<!->', '<?pi?>',
  '<?pi', '?>', '<?xml version="1.0"?>', '<?xml', '<? ?>', '<value a="1>2">', "<value a='", '<value/ >', '< value>',
  '</ value>', '</value >', '<>', '</>', '<', '>', '/>', '<value\n>', '<VALUE>', '<ex:nil>', '\ufeff',
].map((s) => Buffer.from(s, 'utf8'));

/** Entity and character references, valid and not. */
const ENTITIES = [
  '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#x10FFFF;', '&#x110000;', '&#xD800;', '&#xDFFF;', '&#99999999999;',
  '&#0;', '&#x0;', '&#9;', '&#65;', '&#x41;', '&#X41;', '&#x;', '&#;', '&#-1;', '&#x1F680;', '&#128512;', '&bogus;',
  '&;', '&', '&amp', '&#65', '&#x0000000000000000000041;', '&#00000000000000000000000000000065;', '&lt ;', '&AMP;',
  `&${'a'.repeat(40)};`, '&#xFFFE;', '&#xFFFF;',
].map(ascii);

/** Texts for the inside of numeric elements. */
const NUMBERS = [
  '2147483647', '2147483648', '-2147483648', '-2147483649', '99999999999999999999999999999999', '9223372036854775807',
  '9223372036854775808', '-9223372036854775809', '9007199254740993', '1e309', '-1e309', '1e-400', '4.9e-324',
  '1.7976931348623157e308', 'NaN', 'nan', 'inf', '-Infinity', 'infinit', '+0', '-0', '00000000000000000000001', '0x10',
  '1_000', ' 42 ', '4 2', '.5', '5.', '.', '1e', '1e+', '-', '+', '', '\n7\n', '１２', '1.5', 'true', '٣',
  '1'.repeat(400), `0.${'0'.repeat(400)}1`, `1e${'9'.repeat(30)}`,
].map((s) => Buffer.from(s, 'utf8'));

const NUMBER_TAGS = ['<int>', '<i4>', '<i8>', '<double>', '<boolean>', '<dateTime.iso8601>', '<base64>'].map(ascii);
const NUMBER_TYPES = ['int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601', 'base64'];

/** Byte sequences that are not UTF-8 (and a few that are, to cut). */
const UTF8_PIECES = [
  [0xc0, 0xaf], // overlong '/'
  [0xc1, 0xbf], // overlong
  [0xe0, 0x80, 0xaf], // overlong 3-byte
  [0xf0, 0x80, 0x80, 0xaf], // overlong 4-byte
  [0xed, 0xa0, 0x80], // U+D800
  [0xed, 0xbf, 0xbf], // U+DFFF
  [0xf4, 0x90, 0x80, 0x80], // U+110000
  [0xf5, 0x80, 0x80, 0x80],
  [0xe6, 0x97], // truncated 3-byte
  [0xf0, 0x9f, 0x9a], // truncated 4-byte
  [0xc3], // truncated 2-byte
  [0x80],
  [0xbf],
  [0xfe],
  [0xff],
  [0xe6, 0x97, 0xa5], // valid U+65E5: chunk cuts inside it
  [0xf0, 0x9f, 0x9a, 0x80], // valid U+1F680
  [0xef, 0xbb, 0xbf], // BOM, valid but misplaced
  [0xc2, 0x85], // U+0085, valid
].map((b) => Buffer.from(b));

/** Names spliced in place of a tag name. */
const TAG_NAMES = [
  'value', 'struct', 'array', 'data', 'member', 'name', 'string', 'int', 'i4', 'i8', 'double', 'boolean', 'base64',
  'dateTime.iso8601', 'nil', 'ex:nil', 'params', 'param', 'fault', 'methodResponse', 'methodCall', 'methodName',
  'float', 'foo', 'Value', 'valuex', 'x', 'i5', 'n', 'ex:nul', 'methodResponsX', 'dateTime.iso8602', 'é', '',
].map((s) => Buffer.from(s, 'utf8'));

/** Whitespace, comments, processing instructions, CDATA and control characters: allowed in some places, errors in others. */
const NOISE = ['\n', ' ', '\r', '\t', '\r\n', '<!-- c -->', '<?pi x?>', '<![CDATA[x]]>', '\u0000', '\u0001'].map((s) =>
  Buffer.from(s, 'utf8'),
);

/** Openers of one nesting level, and their closers. */
const NEST_KINDS = [
  { open: '<value><array><data>', close: '</data></array></value>' },
  { open: '<value><struct><member><name>n</name>', close: '</member></struct></value>' },
  { open: '<value>', close: '</value>' },
];
/** Nesting depths tried: around the default limit (64), and far beyond it. */
const NEST_DEPTHS = [2, 8, 20, 21, 22, 63, 64, 65, 200, 10_000];
const nestCache = new Map<string, Buffer>();

function nest(kind: number, depth: number, closing: boolean): Buffer {
  const key = `${kind}:${depth}:${closing}`;
  let b = nestCache.get(key);
  if (b === undefined) {
    const k = NEST_KINDS[kind]!;
    b = Buffer.from(closing ? k.close.repeat(depth) : k.open.repeat(depth), 'latin1');
    nestCache.set(key, b);
  }
  return b;
}

function splice(b: Buffer, start: number, end: number, insert: Uint8Array): Buffer {
  return Buffer.concat([b.subarray(0, start), insert, b.subarray(end)]);
}

/** A position: half the time uniform, half the time at a `<` (where markup starts). */
function position(rng: Rng, b: Buffer): number {
  const p = rng.int(0, b.length);
  if (rng.chance(0.5)) {
    const q = b.indexOf(LT, p);
    if (q >= 0) return q;
  }
  return p;
}

/** Just after a `>` (the start of element content), or anywhere when there is none. */
function afterTag(rng: Rng, b: Buffer): number {
  const q = b.indexOf(GT, rng.int(0, b.length));
  return q >= 0 ? q + 1 : rng.int(0, b.length);
}

/** A span length: short most of the time, sometimes up to a quarter of the document. */
function spanLength(rng: Rng, max: number): number {
  if (max <= 0) return 0;
  return rng.chance(0.8) ? Math.min(max, rng.int(1, 8)) : rng.int(1, Math.max(1, max >> 2));
}

/** One mutation operator. */
export interface Mutator {
  /** Short name, recorded with each input. */
  readonly name: string;
  /** Relative frequency. */
  readonly weight: number;
  /** Returns the mutated document (never modifies `b`). */
  apply(rng: Rng, b: Buffer, corpus: readonly CorpusEntry[]): Buffer;
}

/** The mutation operators and their relative weights. */
export const MUTATORS: readonly Mutator[] = [
  {
    name: 'bit-flip',
    weight: 10,
    apply(rng, b) {
      if (b.length === 0) return b;
      const out = Buffer.from(b);
      out[rng.int(0, b.length - 1)]! ^= 1 << rng.int(0, 7);
      return out;
    },
  },
  {
    name: 'interesting-byte',
    weight: 10,
    apply(rng, b) {
      if (b.length === 0) return b;
      const out = Buffer.from(b);
      out[rng.int(0, b.length - 1)] = rng.pick(INTERESTING_BYTES);
      return out;
    },
  },
  {
    name: 'truncate',
    weight: 6,
    apply(rng, b) {
      return b.subarray(0, rng.int(0, Math.max(0, b.length - 1)));
    },
  },
  {
    name: 'delete-span',
    weight: 8,
    apply(rng, b) {
      const n = spanLength(rng, b.length);
      const start = rng.int(0, b.length - n);
      return splice(b, start, start + n, Buffer.alloc(0));
    },
  },
  {
    name: 'duplicate-span',
    weight: 8,
    apply(rng, b) {
      const n = spanLength(rng, b.length);
      const start = rng.chance(0.5) ? position(rng, b) : rng.int(0, b.length - n);
      const span = b.subarray(start, Math.min(b.length, start + n));
      const at = rng.chance(0.5) ? start : position(rng, b);
      // Now and then many copies: repeated members, long texts, many values.
      const copies = rng.chance(0.1) ? rng.int(2, 200) : 1;
      return splice(b, at, at, copies === 1 ? span : Buffer.concat(new Array<Buffer>(copies).fill(span)));
    },
  },
  {
    name: 'insert-tag',
    weight: 14,
    apply(rng, b) {
      const at = position(rng, b);
      return splice(b, at, at, rng.pick(TAGS));
    },
  },
  {
    name: 'entity',
    weight: 8,
    apply(rng, b) {
      const at = rng.chance(0.7) ? afterTag(rng, b) : rng.int(0, b.length);
      const e = rng.pick(ENTITIES);
      // A flood of references: many small string pieces in one text.
      return splice(b, at, at, rng.chance(0.05) ? Buffer.concat(new Array<Buffer>(rng.int(100, 3000)).fill(e)) : e);
    },
  },
  {
    name: 'huge-number',
    weight: 8,
    apply(rng, b) {
      const tag = rng.pick(NUMBER_TAGS);
      const found = b.indexOf(tag, rng.int(0, b.length));
      const text = rng.pick(NUMBERS);
      if (found >= 0) {
        const start = found + tag.length;
        const end = b.indexOf(LT, start);
        return splice(b, start, end < 0 ? b.length : end, text);
      }
      // No such element: add a whole value where a value may stand.
      const type = rng.pick(NUMBER_TYPES);
      const value = Buffer.concat([ascii(`<value><${type}>`), text, ascii(`</${type}></value>`)]);
      const data = b.indexOf('<data>', rng.int(0, b.length), 'latin1');
      const at = data >= 0 ? data + 6 : position(rng, b);
      return splice(b, at, at, value);
    },
  },
  {
    name: 'deep-nesting',
    weight: 3,
    apply(rng, b) {
      const kind = rng.int(0, NEST_KINDS.length - 1);
      // 10,000 levels is 200 KB: rare, so the run stays fast.
      const depth = rng.chance(0.15) ? 10_000 : rng.pick(NEST_DEPTHS.slice(0, -1));
      const param = b.indexOf('<param>', 0, 'latin1');
      const at = param >= 0 && rng.chance(0.6) ? b.indexOf(GT, param) + 1 : position(rng, b);
      const pieces = [b.subarray(0, at), nest(kind, depth, false)];
      if (rng.chance(0.6)) pieces.push(ascii(rng.pick(['<string>x</string>', '<int>1</int>', '', '<nil/>'])), nest(kind, depth, true));
      pieces.push(b.subarray(at));
      return Buffer.concat(pieces);
    },
  },
  {
    name: 'invalid-utf8',
    weight: 8,
    apply(rng, b) {
      if (rng.chance(0.25)) {
        // Cut a multi-byte character of the document itself.
        let i = rng.int(0, b.length);
        while (i < b.length && b[i]! < 0x80) i++;
        if (i < b.length) return splice(b, i, i + 1, Buffer.alloc(0));
      }
      const at = rng.chance(0.6) ? afterTag(rng, b) : rng.int(0, b.length);
      return splice(b, at, at, rng.pick(UTF8_PIECES));
    },
  },
  {
    name: 'crossover',
    weight: 5,
    apply(rng, b, corpus) {
      const other = rng.pick(corpus).bytes;
      const start = rng.chance(0.7) ? position(rng, other) : rng.int(0, other.length);
      const n = spanLength(rng, other.length - start);
      const at = position(rng, b);
      return splice(b, at, at, other.subarray(start, start + n));
    },
  },
  {
    name: 'rename-tag',
    weight: 8,
    apply(rng, b) {
      const lt = b.indexOf(LT, rng.int(0, b.length));
      if (lt < 0) return b;
      let start = lt + 1;
      if (b[start] === 0x2f /* / */) start++;
      let end = start;
      while (end < b.length && b[end] !== GT && b[end] !== 0x2f && b[end] !== 0x20 && b[end] !== LT) end++;
      return splice(b, start, end, rng.pick(TAG_NAMES));
    },
  },
  {
    name: 'noise',
    weight: 6,
    apply(rng, b) {
      const at = position(rng, b);
      return splice(b, at, at, rng.pick(NOISE));
    },
  },
  {
    name: 'long-token',
    weight: 1,
    apply(rng, b) {
      // Tags, names and comments around 256 bytes (what the decoder joins
      // with a carried token) and MAX_TAG_BYTES (4096, which bounds what it
      // carries between chunks).
      const n = rng.pick([200, 250, 254, 255, 256, 257, 258, 300, 1000, 4080, 4090, 4095, 4096, 4097, 5000]);
      const at = position(rng, b);
      const piece = rng.pick([
        `<value ${'a'.repeat(n)}>`,
        `<${'v'.repeat(n)}>`,
        `</${'v'.repeat(n)}>`,
        `<?pi ${'p'.repeat(n)}?>`,
        `<!--${'-'.repeat(n)}-->`,
        `<![CDATA[${']'.repeat(n)}]]>`,
        `<value a="${'>'.repeat(n)}">`,
      ]);
      return splice(b, at, at, ascii(piece));
    },
  },
  {
    name: 'long-number',
    weight: 1,
    apply(rng, b) {
      // Numbers around and far beyond the decoder's bound on number text
      // (1,024 characters): refused as they arrive, whole or chunked, within
      // the time and memory invariants however many digits follow.
      const n = rng.pick([19, 20, 21, 400, 1020, 1023, 1024, 1025, 4096, 100_000, 1_000_000]);
      const element = rng.pick(['int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601']);
      const digits = rng.pick(['9', '0', ' ', '1.', 'e']).repeat(Math.ceil(n / 2)).slice(0, n);
      const at = position(rng, b);
      return splice(b, at, at, ascii(`<value><${element}>${rng.chance(0.5) ? '-' : ''}${digits}</${element}></value>`));
    },
  },
];

const TOTAL_WEIGHT = MUTATORS.reduce((sum, m) => sum + m.weight, 0);

function pickMutator(rng: Rng): Mutator {
  let r = rng.next() * TOTAL_WEIGHT;
  for (const m of MUTATORS) {
    r -= m.weight;
    if (r < 0) return m;
  }
  return MUTATORS[MUTATORS.length - 1]!; // only if rounding left r at exactly 0
}

/**
 * Applies one to four mutations (one or two most of the time).
 *
 * @returns the mutated bytes and the names of the mutations applied.
 */
export function mutate(rng: Rng, input: Buffer, corpus: readonly CorpusEntry[]): { bytes: Buffer; mutations: string[] } {
  const count = rng.chance(0.6) ? 1 : rng.chance(0.6) ? 2 : rng.int(3, 4);
  let bytes = input;
  const mutations: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = pickMutator(rng);
    bytes = m.apply(rng, bytes, corpus);
    mutations.push(m.name);
  }
  return { bytes, mutations };
}

/**
 * Chunk sizes at and around the decoder's internal thresholds: one to a few
 * bytes (a UTF-8 sequence, an entity or a tag cut anywhere), 256 (the
 * decoder joins a carried token with at most the first 256 bytes of the next
 * chunk, plus up to 3 to end on a character) and 4096 (`MAX_TAG_BYTES`).
 */
const CHUNK_SIZES = [
  1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 64, 127, 128, 253, 254, 255, 256, 257, 258, 259, 260, 261, 300, 511, 512, 1000,
  1024, 4093, 4095, 4096, 4097, 4099, 4100,
];

/** Most chunks one decode is cut into (one-byte chunks of a 20 KB document would be slow, not interesting). */
const MAX_CHUNKS = 2000;

/**
 * Chunk boundaries for the chunked decode, in one of five ways: every byte
 * (small documents), a run of one-byte chunks, chunks of one fixed size
 * from {@link CHUNK_SIZES}, a chunk of a threshold size that ends inside a
 * multi-byte character or a tag (right after a cut that leaves a token to
 * carry), or a few random cuts.
 *
 * @returns ascending offsets in `1..length-1` (no empty chunk).
 */
export function randomCuts(rng: Rng, bytes: Uint8Array): number[] {
  const length = bytes.length;
  if (length < 2) return [];
  const mode = rng.next();
  if (mode < 0.06 && length <= 600) {
    const all: number[] = [];
    for (let i = 1; i < length; i++) all.push(i);
    return all;
  }
  const cuts = new Set<number>();
  const add = (c: number): void => {
    if (c >= 1 && c < length) cuts.add(c);
  };
  if (mode < 0.2) {
    // A run of one-byte chunks somewhere.
    const start = rng.int(1, length - 1);
    const end = Math.min(length - 1, start + rng.int(4, 40));
    for (let i = start; i <= end; i++) cuts.add(i);
  } else if (mode < 0.4) {
    let size = rng.pick(CHUNK_SIZES);
    if (length / size > MAX_CHUNKS) size = Math.ceil(length / MAX_CHUNKS);
    for (let c = rng.int(1, size); c < length; c += size) cuts.add(c);
  } else if (mode < 0.65) {
    // End a threshold-sized chunk inside a character or a tag, the chunk
    // before it cut inside a tag so that a token is carried into it.
    let p = rng.int(0, length - 1);
    const wantHigh = rng.chance(0.7);
    for (let k = 0; k < length && (wantHigh ? bytes[p]! < 0x80 : bytes[p] !== LT); k++) p = (p + 1) % length;
    const end = p + rng.int(0, 3);
    const start = end - rng.pick(CHUNK_SIZES);
    let tag = start;
    for (let k = 0; k < 64 && tag > 0 && bytes[tag] !== LT; k++) tag--;
    add(bytes[tag] === LT && rng.chance(0.8) ? tag + rng.int(1, 3) : start);
    add(end);
    if (rng.chance(0.3)) add(rng.int(1, length - 1));
  } else {
    for (let n = rng.int(1, Math.min(16, length - 1)); n > 0; n--) cuts.add(rng.int(1, length - 1));
  }
  return [...cuts].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------
// Decoding and the invariants
// ---------------------------------------------------------------------------

/**
 * Decodes a document given as chunks: what the fuzzer calls the decoder
 * through. Replaceable (see {@link CheckOptions.decode}) so the engine's own
 * tests can feed it broken decoders.
 */
export type DecodeFn = (chunks: readonly Uint8Array[], call: boolean, options: XmlRpcDecoderOptions | undefined) => unknown;

/** The real decoders: {@link XmlRpcDecoder} or {@link XmlRpcCallDecoder}, `write` per chunk, then `end`. */
export const decodeChunks: DecodeFn = (chunks, call, options) => {
  const decoder = call ? new XmlRpcCallDecoder(options) : new XmlRpcDecoder(options);
  for (const chunk of chunks) decoder.write(chunk);
  return decoder.end();
};

/** What one decode gave. */
export type Outcome =
  | { readonly kind: 'value'; readonly value: unknown }
  /** A {@link ProtocolError}, {@link XmlRpcFault} included. */
  | { readonly kind: 'error'; readonly error: ProtocolError }
  /** Anything else thrown: always a violation. */
  | { readonly kind: 'exception'; readonly error: unknown };

function runDecode(decode: DecodeFn, chunks: readonly Uint8Array[], call: boolean, options: XmlRpcDecoderOptions | undefined): Outcome {
  try {
    return { kind: 'value', value: decode(chunks, call, options) };
  } catch (error) {
    return error instanceof ProtocolError ? { kind: 'error', error } : { kind: 'exception', error };
  }
}

/** `input` cut at `cuts` (ascending offsets). */
export function chunksOf(input: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const cut of cuts) {
    chunks.push(input.subarray(prev, cut));
    prev = cut;
  }
  chunks.push(input.subarray(prev));
  return chunks;
}

/** A one-line description of an outcome, for reports (values abbreviated). */
export function describeOutcome(o: Outcome): string {
  if (o.kind === 'value') {
    let text: string;
    try {
      text = JSON.stringify(o.value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(o.value);
    } catch {
      text = String(o.value);
    }
    return `value ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`;
  }
  const e = o.error;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const firstFrame = o.kind === 'exception' ? ` (${e.stack?.split('\n')[1]?.trim() ?? 'no stack'})` : '';
    return `${e.constructor.name}${typeof code === 'string' ? ` ${code}` : ''}: ${e.message}${firstFrame}`;
  }
  return `non-error thrown: ${String(e)}`;
}

function offsetOf(e: ProtocolError): number | undefined {
  const offset = (e as { offset?: unknown }).offset;
  return typeof offset === 'number' ? offset : undefined;
}

/** Whether two outcomes agree: deep-equal values, or errors of the same class, code, offset and message. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind === 'value' && b.kind === 'value') return isDeepStrictEqual(a.value, b.value);
  if (a.kind === 'error' && b.kind === 'error') {
    const x = a.error;
    const y = b.error;
    if (x.constructor !== y.constructor || x.code !== y.code || x.message !== y.message || offsetOf(x) !== offsetOf(y)) return false;
    if (x instanceof XmlRpcFault && y instanceof XmlRpcFault) return x.faultCode === y.faultCode && x.faultString === y.faultString;
    return true;
  }
  return false;
}

/** The machine-checkable summary of an outcome stored as `expect` in a regression file. */
export type ExpectedOutcome =
  | { ok: true }
  | { fault: { faultCode: number; faultString: string } }
  | { error: string; code: string; offset?: number };

/** The {@link ExpectedOutcome} of an outcome, or undefined for an exception (nothing to expect). */
export function summarize(o: Outcome): ExpectedOutcome | undefined {
  if (o.kind === 'value') return { ok: true };
  if (o.kind === 'exception') return undefined;
  const e = o.error;
  if (e instanceof XmlRpcFault) return { fault: { faultCode: e.faultCode, faultString: e.faultString } };
  const offset = offsetOf(e);
  return offset === undefined ? { error: e.constructor.name, code: e.code } : { error: e.constructor.name, code: e.code, offset };
}

/** The four invariants. */
export type Invariant = 'exception' | 'disagreement' | 'time' | 'memory';

/** Options of {@link checkInput}. */
export interface CheckOptions {
  /** Decode as a `<methodCall>`. Default false. */
  call?: boolean;
  /** Decoder limits (the same for both decodes). Default: the decoder's defaults. */
  decoderOptions?: XmlRpcDecoderOptions | undefined;
  /** The decoder under test. Default {@link decodeChunks}. */
  decode?: DecodeFn;
  /** Clock in milliseconds. Default `performance.now`. */
  now?: () => number;
  /** Time budget of one decode. Default {@link timeBudgetMs} of the input length. */
  budgetMs?: number;
}

/** What {@link checkInput} found. */
export interface CheckResult {
  /** Outcome of the whole-buffer decode. */
  readonly whole: Outcome;
  /** Outcome of the chunked decode. */
  readonly chunked: Outcome;
  /** Slowest decode, ms (the best of the re-runs when one was over budget). */
  readonly ms: number;
  /** The first invariant broken, if any. */
  readonly violation?: { readonly invariant: Invariant; readonly detail: string };
}

/**
 * 200 ms per started 100 KB. Generous on purpose: the decoder runs at
 * hundreds of MB/s, so only a hang or a quadratic blow-up comes near it, not
 * a garbage collection on a busy machine.
 */
export function timeBudgetMs(length: number): number {
  return 200 * Math.max(1, Math.ceil(length / 100_000));
}

/** How many times an over-budget decode is re-run before it counts (the fastest run is kept). */
const TIME_RETRIES = 2;

/**
 * Decodes `input` whole and cut at `cuts`, and checks invariants (a), (b)
 * and (c) on it.
 */
export function checkInput(input: Uint8Array, cuts: readonly number[], options: CheckOptions = {}): CheckResult {
  const decode = options.decode ?? decodeChunks;
  const now = options.now ?? (() => performance.now());
  const call = options.call ?? false;
  const limits = options.decoderOptions;
  const budget = options.budgetMs ?? timeBudgetMs(input.length);
  const chunks = chunksOf(input, cuts);

  let t0 = now();
  let whole = runDecode(decode, [input], call, limits);
  let t1 = now();
  let chunked = runDecode(decode, chunks, call, limits);
  let t2 = now();
  let ms = Math.max(t1 - t0, t2 - t1);
  for (let retry = 0; retry < TIME_RETRIES && ms > budget; retry++) {
    t0 = now();
    whole = runDecode(decode, [input], call, limits);
    t1 = now();
    chunked = runDecode(decode, chunks, call, limits);
    t2 = now();
    ms = Math.min(ms, Math.max(t1 - t0, t2 - t1));
  }

  if (whole.kind === 'exception' || chunked.kind === 'exception') {
    const which = whole.kind === 'exception' ? 'whole' : 'chunked';
    return { whole, chunked, ms, violation: { invariant: 'exception', detail: `${which}: ${describeOutcome(which === 'whole' ? whole : chunked)}` } };
  }
  if (!sameOutcome(whole, chunked)) {
    return {
      whole,
      chunked,
      ms,
      violation: { invariant: 'disagreement', detail: `whole: ${describeOutcome(whole)} | chunked (${chunks.length} chunks): ${describeOutcome(chunked)}` },
    };
  }
  if (ms > budget) {
    return { whole, chunked, ms, violation: { invariant: 'time', detail: `${ms.toFixed(1)} ms for ${input.length} bytes (budget ${budget} ms)` } };
  }
  return { whole, chunked, ms };
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/** One generated input, ready to check. */
export interface FuzzInput {
  readonly index: number;
  readonly seed: number;
  readonly source: string;
  readonly bytes: Buffer;
  readonly call: boolean;
  readonly cuts: number[];
  readonly decoderOptions: XmlRpcDecoderOptions | undefined;
  readonly mutations: string[];
}

/**
 * Input number `index` of the run seeded `runSeed`: a corpus entry, mutated
 * (5 % are left intact, as controls), chunk cuts, and now and then a small
 * `maxDepth` (to put the depth limit inside the corpus documents).
 */
export function generateInput(runSeed: number, index: number, corpus: readonly CorpusEntry[]): FuzzInput {
  const seed = inputSeed(runSeed, index);
  const rng = makeRng(seed);
  const entry = rng.pick(corpus);
  const { bytes, mutations } = rng.chance(0.05) ? { bytes: entry.bytes, mutations: [] } : mutate(rng, entry.bytes, corpus);
  const decoderOptions = rng.chance(0.1) ? { maxDepth: rng.int(1, 12) } : undefined;
  const cuts = randomCuts(rng, bytes);
  return { index, seed, source: entry.name, bytes, call: entry.call, cuts, decoderOptions, mutations };
}

/** A broken invariant, with everything needed to replay it. */
export interface Violation {
  readonly invariant: Invariant;
  readonly detail: string;
  readonly runSeed: number;
  /** The input (absent for `memory`, which is about the run). */
  readonly input?: FuzzInput;
}

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** Run seed. */
  seed: number;
  /** Stop after this long (ms). Default: no time limit (then `maxInputs` is required). */
  durationMs?: number;
  /** Stop after this many inputs. Default: no count limit. */
  maxInputs?: number;
  /** Corpus; default {@link buildCorpus}(seed). */
  corpus?: readonly CorpusEntry[];
  /** Sample RSS every this many inputs. Default 2000. */
  rssEvery?: number;
  /** RSS bound in bytes. Default 768 MiB. */
  maxRssBytes?: number;
  /** RSS sampler. Default `process.memoryUsage.rss`. */
  rss?: () => number;
  /** Called about every `progressMs` with the numbers so far. */
  onProgress?: (p: FuzzProgress) => void;
  /** Default 5000. */
  progressMs?: number;
  /** Called once per violation, as it is found. */
  onViolation?: (v: Violation) => void;
  /** The decoder under test (tests of the engine). Default {@link decodeChunks}. */
  decode?: DecodeFn;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
  /**
   * Keep capturing stack traces of thrown errors. Default false: the run
   * sets `Error.stackTraceLimit` to 0 (restored at the end) because most
   * inputs are refused and capturing the stacks of the two errors each
   * costs a quarter of the run (measured with --cpu-prof: 25 % of the time in
   * the ProtocolError constructor, 8,600 against 11,000+ inputs/s). An input
   * that breaks an invariant is decoded again with stacks for its report.
   */
  captureStacks?: boolean;
}

/** Numbers of a run so far. */
export interface FuzzProgress {
  readonly inputs: number;
  readonly elapsedMs: number;
  readonly violations: number;
  readonly rssBytes: number;
  /** Outcome counts: decoded values, faults, errors by code. */
  readonly outcomes: Readonly<Record<string, number>>;
}

/** The result of {@link runFuzz}. */
export interface FuzzReport extends FuzzProgress {
  /** Inputs per second over the whole run. */
  readonly rate: number;
  readonly violationList: readonly Violation[];
  readonly maxRssBytes: number;
  /** Slowest decode seen, ms, and its input's length. */
  readonly slowestMs: number;
  readonly slowestLength: number;
}

/** The default RSS bound: far above what decoding a few-KB document needs, far below a leak over millions of inputs. */
export const DEFAULT_MAX_RSS_BYTES = 768 * 1024 * 1024;

/**
 * Runs the fuzzer until `durationMs` elapsed or `maxInputs` inputs were
 * checked, whichever comes first.
 *
 * @throws {RangeError} when neither limit is given or a limit is not positive.
 */
export function runFuzz(options: FuzzOptions): FuzzReport {
  const { seed, durationMs, maxInputs } = options;
  if (durationMs === undefined && maxInputs === undefined) throw new RangeError('runFuzz needs durationMs or maxInputs');
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`);
  if (maxInputs !== undefined && !(Number.isSafeInteger(maxInputs) && maxInputs > 0)) {
    throw new RangeError(`maxInputs must be a positive integer, got ${maxInputs}`);
  }
  const corpus = options.corpus ?? buildCorpus(seed);
  const now = options.now ?? (() => performance.now());
  const check: CheckOptions = { now, ...(options.decode === undefined ? {} : { decode: options.decode }) };
  const stackTraceLimit = Error.stackTraceLimit;
  if (options.captureStacks !== true) Error.stackTraceLimit = 0;
  try {
    return fuzzLoop(options, corpus, check, now, stackTraceLimit);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function fuzzLoop(options: FuzzOptions, corpus: readonly CorpusEntry[], check: CheckOptions, now: () => number, stackTraceLimit: number): FuzzReport {
  const { seed, durationMs, maxInputs } = options;
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const rssEvery = options.rssEvery ?? 2000;
  const maxRss = options.maxRssBytes ?? DEFAULT_MAX_RSS_BYTES;
  const progressMs = options.progressMs ?? 5000;
  const limitInputs = maxInputs ?? Number.MAX_SAFE_INTEGER;

  const violations: Violation[] = [];
  const outcomes: Record<string, number> = {};
  const start = now();
  const stopAt = durationMs === undefined ? Infinity : start + durationMs;
  let nextProgress = start + progressMs;
  let inputs = 0;
  let rssBytes = rss();
  let peakRss = rssBytes;
  let memoryReported = false;
  let slowestMs = 0;
  let slowestLength = 0;
  const report = (v: Violation): void => {
    violations.push(v);
    options.onViolation?.(v);
  };
  const progress = (t: number): FuzzProgress => ({ inputs, elapsedMs: t - start, violations: violations.length, rssBytes, outcomes: { ...outcomes } });

  while (inputs < limitInputs) {
    // The clock is read every 32 inputs: cheap, and still precise to a
    // few milliseconds at 10,000+ inputs per second.
    if ((inputs & 31) === 0) {
      const t = now();
      if (t >= stopAt) break;
      if (t >= nextProgress) {
        nextProgress = t + progressMs;
        options.onProgress?.(progress(t));
      }
    }
    const input = generateInput(seed, inputs, corpus);
    const result = checkInput(input.bytes, input.cuts, { ...check, call: input.call, decoderOptions: input.decoderOptions });
    inputs++;
    const key = result.whole.kind === 'value' ? 'value' : result.whole.kind === 'error' ? result.whole.error.code : 'exception';
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (result.ms > slowestMs) {
      slowestMs = result.ms;
      slowestLength = input.bytes.length;
    }
    if (result.violation !== undefined) {
      let detail = result.violation.detail;
      if (result.violation.invariant === 'exception' && Error.stackTraceLimit !== stackTraceLimit) {
        // Again with stacks, so the report says where the exception came from.
        const saved = Error.stackTraceLimit;
        Error.stackTraceLimit = stackTraceLimit;
        detail = checkInput(input.bytes, input.cuts, { ...check, call: input.call, decoderOptions: input.decoderOptions }).violation?.detail ?? detail;
        Error.stackTraceLimit = saved;
      }
      report({ invariant: result.violation.invariant, detail, runSeed: seed, input });
    }
    if (inputs % rssEvery === 0) {
      rssBytes = rss();
      if (rssBytes > peakRss) peakRss = rssBytes;
      if (rssBytes > maxRss && !memoryReported) {
        memoryReported = true; // once: every later sample would say the same
        report({
          invariant: 'memory',
          detail: `rss ${(rssBytes / 1048576).toFixed(0)} MiB after ${inputs} inputs, bound ${(maxRss / 1048576).toFixed(0)} MiB`,
          runSeed: seed,
        });
      }
    }
  }
  const end = now();
  const elapsedMs = end - start;
  return {
    ...progress(end),
    elapsedMs,
    rate: elapsedMs > 0 ? (inputs * 1000) / elapsedMs : 0,
    violationList: violations,
    maxRssBytes: peakRss,
    slowestMs,
    slowestLength,
  };
}

// ---------------------------------------------------------------------------
// Failure files (also the format of fixtures/fuzz-regressions/)
// ---------------------------------------------------------------------------

/** The `.json` half of a failure or regression file pair (the `.bin` half holds the input bytes). */
export interface FailureRecord {
  /** What the input exercises or what broke; free text. */
  description: string;
  invariant: Invariant;
  detail: string;
  runSeed: number;
  index: number;
  inputSeed: number;
  source: string;
  mutations: string[];
  call: boolean;
  decoderOptions?: XmlRpcDecoderOptions;
  /** The chunk boundaries of the failing chunked decode. */
  cuts: number[];
  /** For regression files: the outcome the fixed decoder gives (whole and chunked). */
  expect?: ExpectedOutcome;
}

/**
 * Writes a violation's input to `dir` as `NAME.bin` (the bytes) and
 * `NAME.json` (a {@link FailureRecord}); creates `dir` if needed.
 *
 * @returns the path of the `.bin` file, or undefined for a violation without
 *   an input (memory).
 */
export function writeFailure(dir: string, v: Violation): string | undefined {
  const input = v.input;
  if (input === undefined) return undefined;
  fs.mkdirSync(dir, { recursive: true });
  const name = `${v.invariant}-${v.runSeed.toString(16)}-${input.index}`;
  const record: FailureRecord = {
    description: `fuzz run seed ${v.runSeed} input ${input.index}: ${v.invariant}`,
    invariant: v.invariant,
    detail: v.detail,
    runSeed: v.runSeed,
    index: input.index,
    inputSeed: input.seed,
    source: input.source,
    mutations: input.mutations,
    call: input.call,
    ...(input.decoderOptions === undefined ? {} : { decoderOptions: input.decoderOptions }),
    cuts: input.cuts,
  };
  const bin = path.join(dir, `${name}.bin`);
  fs.writeFileSync(bin, input.bytes);
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
  return bin;
}

/** One regression input read back: the bytes and its record. */
export interface StoredInput {
  readonly name: string;
  readonly bytes: Buffer;
  readonly record: FailureRecord;
}

/** Reads every `NAME.bin` + `NAME.json` pair of `dir` (sorted by name); a `.bin` without its `.json` is an error. */
export function readStoredInputs(dir: string): StoredInput[] {
  if (!fs.existsSync(dir)) return [];
  const out: StoredInput[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.bin')) continue;
    const name = file.slice(0, -4);
    const json = path.join(dir, `${name}.json`);
    if (!fs.existsSync(json)) throw new Error(`${path.join(dir, file)} has no ${name}.json beside it`);
    out.push({ name, bytes: fs.readFileSync(path.join(dir, file)), record: JSON.parse(fs.readFileSync(json, 'utf8')) as FailureRecord });
  }
  return out;
}
