/**
 * The codec against CPython's `xmlrpc.client` (what supervisord serialises
 * with). One python3 process per run handles the whole batch:
 * - python3 writes documents with `dumps` from random values of every type it
 *   supports and reports the values (`loads` output, tagged JSON); our decoder
 *   must give the same values and our encoder the same bytes;
 * - python3 reads (`loads`) documents our encoder wrote, including `<i8>` and
 *   `<nil/>`, which Python's `dumps` never writes (it refuses ints beyond
 *   32 bits), and must find the values we encoded.
 *
 * Set PY_SEED to replay a failure; failure messages carry the seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { decodeCall, decodeResponse } from '../../protocol/xmlrpc-decoder.js';
import { encodeCall, encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import { XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { createRandom, randomValue } from '../../fixtures/generate.js';

const SEED = process.env['PY_SEED'] !== undefined ? Number(process.env['PY_SEED']) : 424242;
const at = (what: string): string => `${what} (seed ${SEED}; rerun with PY_SEED=${SEED})`;

/**
 * Values as JSON, tagged where JSON cannot say it: `{"$float": repr}`,
 * `{"$int": "digits"}` beyond 2^53, `{"$bytes": base64}`,
 * `{"$date": [y, mo, d, h, mi, s]}`, `{"$struct": [[name, value], ...]}`.
 */
const PY_SCRIPT = String.raw`
import sys, json, base64, random, datetime, struct, math
import xmlrpc.client as x

req = json.load(sys.stdin)
rng = random.Random(req['seed'])

def tag(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 - 1 else {'$int': str(v)}
    if isinstance(v, float):
        return {'$float': repr(v)}
    if isinstance(v, x.Binary):
        v = v.data
    if isinstance(v, (bytes, bytearray)):
        return {'$bytes': base64.b64encode(v).decode('ascii')}
    if isinstance(v, x.DateTime):
        v = datetime.datetime.strptime(v.value, '%Y%m%dT%H:%M:%S')
    if isinstance(v, datetime.datetime):
        return {'$date': [v.year, v.month, v.day, v.hour, v.minute, v.second]}
    if isinstance(v, (list, tuple)):
        return [tag(i) for i in v]
    if isinstance(v, dict):
        return {'$struct': [[k, tag(i)] for k, i in v.items()]}
    raise TypeError(type(v))

def js_exact(v):
    """False when JavaScript cannot hold the value with its Python type: an
    integral float below 2**53 becomes an int in JS, and an integer-like member
    name moves to the front of Object.keys."""
    if isinstance(v, float):
        return not (v.is_integer() and abs(v) < 2**53)
    if isinstance(v, (list, tuple)):
        return all(js_exact(i) for i in v)
    if isinstance(v, dict):
        for k, i in v.items():
            if k.isascii() and k.isdigit() and (k == '0' or k[0] != '0') and int(k) < 2**32 - 1:
                return False
            if not js_exact(i):
                return False
    return True

PLAIN = ['a', 'Z', '9', ' ', '&', '<', '>', '"', "'", ']]>', '&amp;', '\t', '\n', 'é', 'ß', '日本', '\u2028', '\ufffd', '🚀', '𝄞']
RAW = ['\x00', '\x01', '\x1f', '\x7f', '\r', '\r\n']

def rand_str():
    pool = PLAIN + RAW if rng.random() < 0.15 else PLAIN
    return ''.join(rng.choice(pool) for _ in range(rng.randint(0, 10)))

def rand_key():
    if rng.random() < 0.25:
        return rng.choice(['__proto__', 'constructor', 'prototype', 'toString', '', '0', '12', '007', 'faultCode', 'name'])
    return rand_str()

def rand_float():
    r = rng.random()
    if r < 0.2:
        return rng.choice([0.0, -0.0, 3.0, 1e16, 2.0**53, 2.0**63, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                           0.1, 1e-5, 1e-4, 123456789.125, -2.5, 1e22, 1e-7, 0.30000000000000004])
    if r < 0.6:
        while True:
            f = struct.unpack('<d', rng.getrandbits(64).to_bytes(8, 'little'))[0]
            if math.isfinite(f):
                return f
    return (rng.random() - 0.5) * 10 ** rng.randint(-12, 22)

def rand_value(depth):
    kinds = ['int', 'float', 'bool', 'str', 'str', 'bytes', 'date', 'none'] + (['list', 'dict'] * 2 if depth < 4 else [])
    k = rng.choice(kinds)
    if k == 'int':
        return rng.choice([0, 1, -1, 2**31 - 1, -2**31, rng.randint(-2**31, 2**31 - 1)])
    if k == 'float':
        return rand_float()
    if k == 'bool':
        return rng.random() < 0.5
    if k == 'str':
        return rand_str()
    if k == 'bytes':
        return x.Binary(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 130))))
    if k == 'date':
        year = rng.randint(1, 999) if rng.random() < 0.2 else rng.randint(1000, 9999)
        return x.DateTime(datetime.datetime(year, rng.randint(1, 12), rng.randint(1, 28),
                                            rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)))
    if k == 'none':
        return None
    if k == 'list':
        return [rand_value(depth + 1) for _ in range(rng.randint(0, 5))]
    return {rand_key(): rand_value(depth + 1) for _ in range(rng.randint(0, 5))}

def nested(n):
    v = ['bottom']
    for _ in range(n):
        v = [v]
    return v

FIXED = [
    '', [], {}, None, 0, -2**31, 2**31 - 1, True, False, 1e-7, -0.0, 'x' * 100000, nested(15),
    x.Binary(bytes(range(256)) * 40), x.Binary(b''),
    x.DateTime(datetime.datetime(1, 1, 1, 0, 0, 0)), x.DateTime(datetime.datetime(9999, 12, 31, 23, 59, 59)),
    {'__proto__': 1, 'constructor': {'prototype': [None]}, 'hasOwnProperty': 'x'},
    {'name': 'web', 'group': 'web', 'start': 1732547000, 'stop': 0, 'now': 1732547831, 'state': 20,
     'statename': 'RUNNING', 'spawnerr': '', 'exitstatus': 0, 'logfile': '/var/log/web.log',
     'stdout_logfile': '/var/log/web.log', 'stderr_logfile': '', 'pid': 4242, 'description': 'pid 4242, uptime 0:13:51'},
    [{'faultCode': 10, 'faultString': 'BAD_NAME: nope'}, '4.2.5', [None, None]],
]

def loaded_or_source(doc, source):
    """loads(doc): (params, method name); loads cannot read raw control characters
    (expat refuses them) and turns \r into \n, which our decoder keeps
    verbatim (supervisord sends them), so those documents use the source."""
    if '\r' not in doc:
        try:
            return 'loads', x.loads(doc, use_builtin_types=True)
        except Exception:
            pass
    return 'source', source

out = {'responses': [], 'faults': [], 'calls': [], 'ours': []}
for i in range(req['count']):
    v = FIXED[i] if i < len(FIXED) else rand_value(0)
    doc = x.dumps((v,), methodresponse=True, allow_none=True)
    via, (params, _) = loaded_or_source(doc, ((v,), None))
    out['responses'].append({'doc': doc, 'value': tag(params[0]), 'via': via, 'exact': js_exact(v)})

for code, text in [(1, 'UNKNOWN_METHOD'), (10, 'BAD_NAME: web&<x>'), (-1, ''), (2**31 - 1, 'é 日本 🚀'), (-2**31, ']]>'),
                   (rng.randint(-2**31, 2**31 - 1), rand_str())]:
    out['faults'].append({'doc': x.dumps(x.Fault(code, text)), 'code': code, 'string': text})

METHODS = ['supervisor.getAllProcessInfo', 'supervisor.getProcessInfo', 'system.multicall', 'é.日本', 'a.b_c:d/e']
for i in range(60):
    params = tuple(rand_value(1) for _ in range(rng.randint(0, 4)))
    method = METHODS[i % len(METHODS)]
    doc = x.dumps(params, method, allow_none=True)
    via, (got, name) = loaded_or_source(doc, (params, method))
    out['calls'].append({'doc': doc, 'method': name, 'params': tag(list(got)), 'via': via, 'exact': js_exact(list(params))})

for b64 in req['ours']:
    try:
        out['ours'].append({'value': tag(x.loads(base64.b64decode(b64).decode('utf-8'), use_builtin_types=True)[0][0])})
    except Exception as e:
        out['ours'].append({'error': repr(e)})

sys.stdout.write(json.dumps(out))
`;

type Tagged = null | boolean | number | string | Tagged[] | { $float: string } | { $int: string } | { $bytes: string } | { $date: number[] } | { $struct: [string, Tagged][] };

function untag(t: Tagged): XmlRpcValue {
  if (t === null || typeof t !== 'object') return t;
  if (Array.isArray(t)) return t.map(untag);
  if ('$float' in t) return Number(t.$float);
  if ('$int' in t) return BigInt(t.$int);
  if ('$bytes' in t) return new Uint8Array(Buffer.from(t.$bytes, 'base64'));
  if ('$date' in t) {
    const [y, mo, d, h, mi, s] = t.$date as [number, number, number, number, number, number];
    const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
    date.setUTCFullYear(y); // Date.UTC maps years 0..99 to 19xx
    return date;
  }
  const out: { [k: string]: XmlRpcValue } = {};
  for (const [k, v] of t.$struct) Object.defineProperty(out, k, { value: untag(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Buffer and Uint8Array compare unequal in deepStrictEqual (prototypes): make every byte array a plain Uint8Array. */
function normalize(v: XmlRpcValue): XmlRpcValue {
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  const out: { [k: string]: XmlRpcValue } = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: normalize(v[k]!), enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * Our values for python3 to read: as random as the round-trip test's, minus
 * what expat (Python's parser) refuses or rewrites, all of it legal for us:
 * raw control characters, `\r` and U+FFFF.
 */
function forExpat(v: XmlRpcValue): XmlRpcValue {
  if (typeof v === 'string') return v.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\r\uffff]/g, '?');
  if (Array.isArray(v)) return v.map(forExpat);
  if (v === null || typeof v !== 'object' || v instanceof Date || v instanceof Uint8Array) return v;
  const out: { [k: string]: XmlRpcValue } = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, forExpat(k) as string, { value: forExpat(v[k]!), enumerable: true, writable: true, configurable: true });
  return out;
}

/** What Python hands back for one of our values: ints (any size) as numbers when safe, bytes for base64. */
function asPythonReadsIt(v: XmlRpcValue): XmlRpcValue {
  if (typeof v === 'bigint') return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(asPythonReadsIt);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  const out: { [k: string]: XmlRpcValue } = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: asPythonReadsIt(v[k]!), enumerable: true, writable: true, configurable: true });
  return out;
}

function firstDifference(ours: Buffer, theirs: Buffer): string {
  let i = 0;
  while (i < ours.length && ours[i] === theirs[i]) i++;
  const around = (b: Buffer): string => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 40).toString('utf8'));
  return `first difference at byte ${i}: ours ${around(ours)}, python ${around(theirs)}`;
}

interface PyOut {
  responses: { doc: string; value: Tagged; via: 'loads' | 'source'; exact: boolean }[];
  faults: { doc: string; code: number; string: string }[];
  calls: { doc: string; method: string; params: Tagged[]; via: 'loads' | 'source'; exact: boolean }[];
  ours: ({ value: Tagged } | { error: string })[];
}

function findPython(): string | { reason: string } {
  const reasons: string[] = [];
  for (const exe of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(exe, ['-c', 'import xmlrpc.client'], { encoding: 'utf8' });
    if (r.error === undefined && r.status === 0) return exe;
    reasons.push(`${exe}: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return { reason: reasons.join('; ') };
}

test('against python3 xmlrpc.client', async (t) => {
  const exe = findPython();
  if (typeof exe !== 'string') {
    t.skip(`python3 not found: ${exe.reason}`);
    return;
  }
  const random = createRandom(SEED);
  const ours = Array.from({ length: 300 }, () => forExpat(randomValue(random)));
  const r = spawnSync(exe, ['-c', PY_SCRIPT], {
    input: JSON.stringify({ seed: SEED, count: 400, ours: ours.map((v) => encodeResponse(v).toString('base64')) }),
    env: { ...process.env, PYTHONIOENCODING: 'utf-8' },
    maxBuffer: 1 << 28,
  });
  assert.equal(r.status, 0, `python3 failed: ${r.stderr?.toString() ?? ''}`);
  const py = JSON.parse(r.stdout.toString('utf8')) as PyOut;

  await t.test('decodeResponse reads what dumps writes, as loads reads it', () => {
    let viaLoads = 0;
    py.responses.forEach((c, i) => {
      if (c.via === 'loads') viaLoads++;
      assert.deepStrictEqual(normalize(decodeResponse(Buffer.from(c.doc, 'utf8'))), untag(c.value), at(`response ${i}: ${JSON.stringify(c.doc.slice(0, 300))}`));
    });
    assert.ok(viaLoads > py.responses.length / 2, `only ${viaLoads} values came from loads()`);
    t.diagnostic(`${py.responses.length} documents from dumps(), ${viaLoads} checked against loads(), the rest against their source values`);
  });

  await t.test('encodeResponse writes what dumps writes, byte for byte', () => {
    let compared = 0;
    py.responses.forEach((c, i) => {
      if (!c.exact) return;
      compared++;
      const ours = encodeResponse(untag(c.value));
      const theirs = Buffer.from(c.doc, 'utf8');
      if (!ours.equals(theirs)) assert.fail(at(`response ${i}: ${firstDifference(ours, theirs)}`));
    });
    assert.ok(compared > py.responses.length / 2, `only ${compared} documents compared`);
    t.diagnostic(`${compared} of ${py.responses.length} responses compared byte for byte (the others hold integral floats or integer-like member names, which JavaScript cannot keep)`);
  });

  await t.test('faults: decodeResponse throws XmlRpcFault; encodeFault writes what dumps(Fault) writes', () => {
    py.faults.forEach((c, i) => {
      const theirs = Buffer.from(c.doc, 'utf8');
      assert.throws(
        () => decodeResponse(theirs),
        (e: unknown) => e instanceof XmlRpcFault && e.faultCode === c.code && e.faultString === c.string,
        at(`fault ${i}`),
      );
      const ours = encodeFault(c.code, c.string);
      if (!ours.equals(theirs)) assert.fail(at(`fault ${i}: ${firstDifference(ours, theirs)}`));
    });
  });

  await t.test('calls: decodeCall reads what dumps(params, method) writes; encodeCall writes the same bytes', () => {
    let compared = 0;
    py.calls.forEach((c, i) => {
      const theirs = Buffer.from(c.doc, 'utf8');
      const call = decodeCall(theirs);
      const params = c.params.map(untag);
      assert.deepStrictEqual({ method: call.method, params: normalize(call.params) }, { method: c.method, params }, at(`call ${i}`));
      if (!c.exact) return;
      compared++;
      const ours = encodeCall(c.method, params);
      if (!ours.equals(theirs)) assert.fail(at(`call ${i}: ${firstDifference(ours, theirs)}`));
    });
    assert.ok(compared > py.calls.length / 2, `only ${compared} calls compared`);
  });

  await t.test('loads reads what encodeResponse writes (incl. i8, nil, bigint)', () => {
    assert.equal(py.ours.length, ours.length);
    py.ours.forEach((c, i) => {
      if ('error' in c) assert.fail(at(`our document ${i} refused by python3: ${c.error}`));
      assert.deepStrictEqual(untag(c.value), asPythonReadsIt(ours[i]!), at(`our document ${i}`));
    });
  });
});
