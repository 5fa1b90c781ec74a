/**
 * Encoder and decoder against each other: seeded random values of every type
 * go through encode -> decode (whole, split at every byte offset, one byte at
 * a time, random chunk sizes) and must come back equal.
 *
 * Set ROUNDTRIP_SEED to replay a failure; every failure message carries the seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmlRpcDecoder, decodeCall, decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import { encodeCall, encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { createRandom, generateAllProcessInfoXml, generateProcesses, randomValue } from '../../fixtures/generate.js';

const SEED = process.env['ROUNDTRIP_SEED'] !== undefined ? Number(process.env['ROUNDTRIP_SEED']) : 20241125;
const at = (what: string): string => `${what} (seed ${SEED}; rerun with ROUNDTRIP_SEED=${SEED})`;

/**
 * What a value becomes after encode -> decode: safe bigints come back as
 * numbers (`<i8>` decodes to a number when safe), `-0` as `0` (written as
 * `<int>0</int>`), any Uint8Array as a plain Uint8Array (see {@link normalize}).
 */
function afterRoundTrip(v: XmlRpcValue): XmlRpcValue {
  if (typeof v === 'bigint') return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(afterRoundTrip);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  return mapStruct(v, afterRoundTrip);
}

/** Buffer and Uint8Array compare unequal in deepStrictEqual (prototypes): make every byte array a plain Uint8Array. */
function normalize(v: XmlRpcValue): XmlRpcValue {
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  return mapStruct(v, normalize);
}

function mapStruct(v: { [k: string]: XmlRpcValue }, f: (x: XmlRpcValue) => XmlRpcValue): XmlRpcValue {
  const out: { [k: string]: XmlRpcValue } = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: f(v[k]!), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Feeds `chunks` to a fresh streaming decoder and returns the value, or the error thrown. */
function streamed(chunks: readonly Uint8Array[]): { value?: XmlRpcValue; error?: unknown } {
  const d = new XmlRpcDecoder();
  try {
    for (const c of chunks) d.write(c);
    return { value: d.end() };
  } catch (error) {
    return { error };
  }
}

function randomValues(seed: number, n: number): XmlRpcValue[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, () => randomValue(random));
}

test('encodeResponse -> decodeResponse: 500 random values of every type', () => {
  const values = randomValues(SEED, 500);
  const kinds = new Set<string>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    kinds.add(v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Uint8Array ? 'base64' : v instanceof Date ? 'date' : typeof v);
    assert.deepStrictEqual(normalize(decodeResponse(encodeResponse(v))), afterRoundTrip(v), at(`value ${i}`));
  }
  // The generator really produced every type (else the loop above proves little).
  assert.deepEqual([...kinds].sort(), ['array', 'base64', 'bigint', 'boolean', 'date', 'null', 'number', 'object', 'string']);
});

test('encodeCall -> decodeCall: random methods and params', () => {
  const random = createRandom(SEED + 1);
  const methods = ['supervisor.getAllProcessInfo', 'system.multicall', 'a&b<c>', 'é.日本.🚀', '', ' spaced '];
  for (let i = 0; i < 200; i++) {
    const method = methods[i % methods.length]!;
    const params = Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random));
    const call = decodeCall(encodeCall(method, params));
    assert.deepStrictEqual({ method: call.method, params: normalize(call.params) }, { method, params: params.map(afterRoundTrip) }, at(`call ${i}`));
  }
});

test('encodeFault -> decodeResponse throws XmlRpcFault with the same code and string', () => {
  const random = createRandom(SEED + 2);
  const strings = ['', 'BAD_NAME: foo', 'a&b<c>]]>', 'é 日本 🚀', '\u0000\r\n\t', 'x'.repeat(5000)];
  const codes = [0, 1, 10, 80, -1, 2147483647, -2147483648];
  for (let i = 0; i < 60; i++) {
    const faultCode = i < codes.length ? codes[i]! : Math.floor(random() * 2 ** 32) - 2 ** 31;
    const faultString = strings[i % strings.length]!;
    assert.throws(
      () => decodeResponse(encodeFault(faultCode, faultString)),
      (e: unknown) => {
        assert.ok(e instanceof XmlRpcFault, at(`fault ${i}: ${String(e)}`));
        assert.equal(e.faultCode, faultCode, at(`fault ${i}`));
        assert.equal(e.faultString, faultString, at(`fault ${i}`));
        return true;
      },
    );
  }
});

test('small documents split at every byte offset, and fed one byte at a time, decode the same', () => {
  const values = randomValues(SEED + 3, 400);
  const docs: { doc: Buffer; expected: XmlRpcValue | XmlRpcFault }[] = [];
  for (const v of values) {
    const doc = encodeResponse(v);
    if (doc.length <= 1500) docs.push({ doc, expected: afterRoundTrip(v) });
    if (docs.length === 40) break;
  }
  docs.push({ doc: encodeFault(10, 'BAD_NAME: é&<🚀'), expected: new XmlRpcFault(10, 'BAD_NAME: é&<🚀') });
  assert.ok(docs.length > 30);
  for (let n = 0; n < docs.length; n++) {
    const { doc, expected } = docs[n]!;
    const check = (chunks: readonly Uint8Array[], how: string): void => {
      const r = streamed(chunks);
      if (expected instanceof XmlRpcFault) {
        assert.ok(r.error instanceof XmlRpcFault, at(`doc ${n} ${how}: ${String(r.error)}`));
        assert.equal(r.error.faultCode, expected.faultCode);
        assert.equal(r.error.faultString, expected.faultString, at(`doc ${n} ${how}`));
      } else {
        assert.equal(r.error, undefined, at(`doc ${n} ${how}`));
        assert.deepStrictEqual(normalize(r.value!), expected, at(`doc ${n} ${how}`));
      }
    };
    for (let k = 0; k <= doc.length; k++) check([doc.subarray(0, k), doc.subarray(k)], `split at ${k}`);
    const bytes: Uint8Array[] = [];
    for (let k = 0; k < doc.length; k++) bytes.push(doc.subarray(k, k + 1));
    check(bytes, 'one byte at a time');
  }
});

test('2,000-process getAllProcessInfo answer in random chunk sizes (1..70000)', () => {
  const doc = generateAllProcessInfoXml(2000);
  const expected = generateProcesses(2000) as unknown as XmlRpcValue;
  assert.deepStrictEqual(decodeResponse(doc), expected, 'whole buffer');
  for (let round = 0; round < 4; round++) {
    const random = createRandom(SEED + 10 + round);
    const d = new XmlRpcDecoder();
    let off = 0;
    let writes = 0;
    while (off < doc.length) {
      // A third of the chunks tiny, so boundaries land inside tags, entities and UTF-8 sequences often.
      const size = random() < 0.33 ? 1 + Math.floor(random() * 16) : 1 + Math.floor(random() * 70000);
      d.write(doc.subarray(off, off + size));
      off += size;
      writes++;
    }
    assert.equal(d.bytesWritten, doc.length);
    assert.deepStrictEqual(d.end(), expected, at(`round ${round}, ${writes} writes`));
  }
});

test('random values in random chunk sizes', () => {
  const random = createRandom(SEED + 20);
  const values = randomValues(SEED + 21, 150);
  const big = encodeResponse(values);
  const expected = values.map(afterRoundTrip);
  for (let round = 0; round < 3; round++) {
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < big.length; ) {
      const size = 1 + Math.floor(random() * (round === 0 ? 8 : 70000));
      chunks.push(big.subarray(off, off + size));
      off += size;
    }
    const r = streamed(chunks);
    assert.equal(r.error, undefined, at(`round ${round}`));
    assert.deepStrictEqual(normalize(r.value!), expected, at(`round ${round}`));
  }
});
