/**
 * The emulator's main log: `supervisor.readLog` (bounds, faults, a character
 * cut by a read alone and in a multicall, arguments through Python's
 * `int()`), `readMainLog`, `clearLog`, no log file (NO_FILE), and
 * `appendMainLog` / `replaceMainLog`, over a real emulator socket through
 * our XmlRpcClient (raw bytes where the client cannot write the argument:
 * NaN, infinity). Then the check against it: a FATAL process whose exit line
 * is in the log gets that exit status. Last, where supervisord is installed,
 * the same raw readLog requests sent to a real supervisord and to an
 * emulator holding a copy of its log, with identical answers.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { EmulatorOptions } from '../../lib/emulator/index.js';
import type { CheckResult } from '../../lib/types.js';
import { HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { logLine } from '../helpers/main-log.js';
import { findSupervisord, httpRequest, rawExchange, startSupervisord } from '../helpers/supervisord.js';
import type { RawResponse, RawTarget, RunningSupervisord } from '../helpers/supervisord.js';

const emulators: SupervisordEmulator[] = [];
const clients: XmlRpcClient[] = [];

async function start(options: Omit<EmulatorOptions, 'listen'> = {}): Promise<{ emulator: SupervisordEmulator; rpc: XmlRpcClient }> {
  const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, ...options });
  emulators.push(emulator);
  const rpc = new XmlRpcClient(emulator.url);
  clients.push(rpc);
  return { emulator, rpc };
}

after(async () => {
  for (const c of clients) await c.close();
  for (const e of emulators) await e.close();
});

function isFault(code: number, text: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof XmlRpcFault, String(err));
    assert.deepEqual([err.faultCode, err.faultString], [code, text]);
    return true;
  };
}

function isHttp500(err: unknown): boolean {
  assert.ok(err instanceof HttpStatusError, String(err));
  assert.equal(err.status, 500);
  return true;
}

/** What one readLog inside a system.multicall answered: its text or its fault. */
async function inMulticall(rpc: XmlRpcClient, params: XmlRpcValue[], method = 'supervisor.readLog'): Promise<XmlRpcValue> {
  const [item] = (await rpc.call('system.multicall', [[{ methodName: method, params }]])) as XmlRpcValue[];
  return item!;
}

const UTF8_FAULT = { faultCode: 30, faultString: "FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute 'utf-8'" };

/** The fault 30 of a ValueError that names no fault (`getattr(Faults, why)`). */
function noSuchFault(why: string): XmlRpcValue {
  return { faultCode: 30, faultString: `FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute '${why}'` };
}

// A log naming a process with a non-ASCII name: its 'é' is two bytes.
const LOG =
  logLine('supervisord started with pid 4242', 'INFO', 0) +
  logLine("spawned: 'café' with pid 4243", 'INFO', 10) +
  logLine('exited: café (exit status 5; not expected)', 'WARN', 20) +
  logLine('gave up: café entered FATAL state, too many start retries too quickly', 'INFO', 30);
const BYTES = Buffer.from(LOG, 'utf8');
const SIZE = BYTES.length;
/** The offset of the first byte of the first 'é'. */
const E = BYTES.indexOf(Buffer.from('é', 'utf8'));

describe('emulator supervisor.readLog: bounds and faults, as supervisord 4.2.5', () => {
  let emulator: SupervisordEmulator;
  let rpc: XmlRpcClient;
  before(async () => {
    ({ emulator, rpc } = await start({ mainLog: LOG }));
  });

  it('the log holds a two-byte character, away from both ends', () => {
    assert.ok(E > 40 && E + 2 < SIZE && BYTES[E + 1]! >= 0x80, `é at ${E}`);
  });

  const reads: Array<{ name: string; params: [number, number]; bytes: [number, number] }> = [
    { name: 'a range from the start', params: [0, 40], bytes: [0, 40] },
    { name: 'a range in the middle, ending on a character boundary', params: [E - 5, 7], bytes: [E - 5, E + 2] },
    { name: 'a range running past the end: what there is', params: [SIZE - 10, 1000], bytes: [SIZE - 10, SIZE] },
    { name: 'at the end: empty, no fault', params: [SIZE, 10], bytes: [SIZE, SIZE] },
    { name: 'past the end: empty, no fault', params: [SIZE + 1000, 10], bytes: [SIZE, SIZE] },
    { name: 'a negative offset with length 0: the last bytes', params: [-60, 0], bytes: [SIZE - 60, SIZE] },
    { name: 'a tail longer than the file: the whole file', params: [-(SIZE + 1000), 0], bytes: [0, SIZE] },
    { name: 'length 0 from an offset: everything after it', params: [100, 0], bytes: [100, SIZE] },
    { name: 'length 0 from 0: the whole file', params: [0, 0], bytes: [0, SIZE] },
    { name: 'length 0 past the end: empty', params: [SIZE + 5, 0], bytes: [SIZE, SIZE] },
  ];
  for (const r of reads) {
    it(`readLog(${r.params.join(', ')}): ${r.name}`, async () => {
      const expected = BYTES.subarray(...r.bytes).toString('utf8');
      assert.equal(await rpc.call('supervisor.readLog', r.params), expected);
      assert.equal(await inMulticall(rpc, r.params), expected);
      assert.equal(await rpc.call('supervisor.readMainLog', r.params), expected, 'readMainLog is readLog');
    });
  }

  for (const params of [
    [-5, 5],
    [-5, -5],
    [0, -5],
    [SIZE + 10, -1],
  ]) {
    it(`readLog(${params.join(', ')}): fault 3 BAD_ARGUMENTS`, async () => {
      await assert.rejects(rpc.call('supervisor.readLog', params), isFault(3, 'BAD_ARGUMENTS'));
      assert.deepEqual(await inMulticall(rpc, params), { faultCode: 3, faultString: 'BAD_ARGUMENTS' });
    });
  }

  const cuts: Array<{ name: string; params: [number, number] }> = [
    { name: 'starting inside a character', params: [E + 1, 10] },
    { name: 'ending inside a character', params: [0, E + 1] },
    { name: 'a tail starting inside a character', params: [-(SIZE - E - 1), 0] },
    { name: 'everything from inside a character', params: [E + 1, 0] },
  ];
  for (const c of cuts) {
    it(`a read ${c.name}: HTTP 500 alone, fault 30 naming utf-8 in a multicall`, async () => {
      await assert.rejects(rpc.call('supervisor.readLog', c.params), isHttp500);
      assert.deepEqual(await inMulticall(rpc, c.params), UTF8_FAULT);
    });
  }

  it('a cut read fails alone in its multicall: the calls around it are answered', async () => {
    const items = await rpc.multicall([
      { methodName: 'supervisor.readLog', params: [E, 2] },
      { methodName: 'supervisor.readLog', params: [E + 1, 1] },
      { methodName: 'supervisor.getAPIVersion' },
    ]);
    assert.equal(items[0], 'é');
    assert.ok(items[1] instanceof XmlRpcFault);
    assert.equal(items[1].faultString, UTF8_FAULT.faultString);
    assert.equal(items[2], '3.0');
    // The connection still serves after a 500.
    await assert.rejects(rpc.call('supervisor.readLog', [E + 1, 1]), isHttp500);
    assert.equal(await rpc.call('supervisor.readLog', [E, 2]), 'é');
  });

  it('a BOM in the log is read as U+FEFF, not dropped (Python decodes it so)', async () => {
    const { rpc: withBom } = await start({ mainLog: '\ufeffx\n' });
    assert.equal(await withBom.call('supervisor.readLog', [0, 0]), '\ufeffx\n');
    assert.equal(await withBom.call('supervisor.readLog', [0, 4]), '\ufeffx');
  });

  // Arguments go through Python's int() (observed on supervisord 4.2.5): strings of digits in any script,
  // with spaces, a sign and single underscores; floats truncated; booleans 0 and 1; base64 decoded to str.
  const converted: Array<{ name: string; params: XmlRpcValue[]; bytes: [number, number] }> = [
    { name: 'strings of digits', params: ['0', '40'], bytes: [0, 40] },
    { name: 'spaces and a sign around the digits', params: [' \u3000+3 ', '\t10\n'], bytes: [3, 13] },
    { name: 'underscores between digits', params: ['1_0', '1_0'], bytes: [10, 20] },
    { name: 'digits of other scripts', params: ['٣', '１０'], bytes: [3, 13] },
    { name: 'a float, truncated', params: [1.7, 9.99], bytes: [1, 10] },
    { name: 'a negative float, truncated toward 0', params: [-1.7, 0], bytes: [SIZE - 1, SIZE] },
    { name: 'booleans', params: [true, true], bytes: [1, 2] },
    { name: 'base64 (decoded to str by supervisor)', params: [Buffer.from('12'), Buffer.from('3')], bytes: [12, 15] },
    { name: 'an i8 past 2^31 (read past the end)', params: [2 ** 40, 1], bytes: [SIZE, SIZE] },
    { name: 'minus zero', params: ['-0', 5], bytes: [0, 5] },
  ];
  for (const c of converted) {
    it(`readLog of ${c.name}`, async () => {
      const expected = BYTES.subarray(...c.bytes).toString('utf8');
      assert.equal(await rpc.call('supervisor.readLog', c.params), expected);
      assert.equal(await inMulticall(rpc, c.params), expected);
    });
  }

  // What int() refuses: a TypeError is INCORRECT_PARAMETERS (traverse catches it), a ValueError is looked up
  // as a fault name and fails with AttributeError, an OverflowError escapes; the last two are HTTP 500 alone.
  const refused: Array<{ name: string; params: XmlRpcValue[]; item: XmlRpcValue }> = [
    { name: 'nil', params: [null, 1], item: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' } },
    { name: 'an array', params: [[1], 1], item: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' } },
    { name: 'a struct', params: [0, {}], item: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' } },
    { name: 'a date', params: [new Date(0), 1], item: { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' } },
    { name: 'letters', params: ['abc', 1], item: noSuchFault("invalid literal for int() with base 10: 'abc'") },
    { name: 'an empty string', params: [0, ''], item: noSuchFault("invalid literal for int() with base 10: ''") },
    { name: 'a quote (repr in double quotes)', params: ["a'b", 1], item: noSuchFault(`invalid literal for int() with base 10: "a'b"`) },
    { name: 'both quotes (repr escapes one)', params: [`a"'b`, 1], item: noSuchFault(`invalid literal for int() with base 10: 'a"\\'b'`) },
    { name: 'a BOM (not a space for Python)', params: ['\ufeff5', 1], item: noSuchFault("invalid literal for int() with base 10: '\\ufeff5'") },
    { name: 'a space after the sign', params: ['- 5', 0], item: noSuchFault("invalid literal for int() with base 10: '- 5'") },
    { name: 'a sign alone', params: ['+', 1], item: noSuchFault("invalid literal for int() with base 10: '+'") },
    { name: 'a leading underscore', params: ['_5', 1], item: noSuchFault("invalid literal for int() with base 10: '_5'") },
    { name: 'a trailing underscore', params: ['5_', 1], item: noSuchFault("invalid literal for int() with base 10: '5_'") },
    { name: 'two underscores', params: ['1__0', 1], item: noSuchFault("invalid literal for int() with base 10: '1__0'") },
    { name: 'a decimal point in a string', params: ['1.5', 1], item: noSuchFault("invalid literal for int() with base 10: '1.5'") },
    {
      name: 'a long string (repr cut at 200 characters)',
      params: ['x'.repeat(300), 1],
      item: noSuchFault(`invalid literal for int() with base 10: '${'x'.repeat(199)}`),
    },
    { name: 'an offset beyond off_t', params: [String(2n ** 63n), 1], item: noSuchFault("cannot fit 'int' into an offset-sized integer") },
    { name: 'a float beyond off_t', params: [1e300, 1], item: noSuchFault("cannot fit 'int' into an offset-sized integer") },
    { name: 'an offset past ext4’s largest file', params: [String(2n ** 44n - 4095n), 1], item: { faultCode: 30, faultString: 'FAILED' } },
    { name: 'the same with length 0', params: [String(2n ** 63n - 1n), 0], item: { faultCode: 30, faultString: 'FAILED' } },
    { name: 'an i8 beyond 2^53 (past ext4’s largest file)', params: [2n ** 54n, 1n], item: { faultCode: 30, faultString: 'FAILED' } },
    {
      name: 'a length beyond Py_ssize_t',
      params: [0, String(2n ** 63n)],
      item: { faultCode: 30, faultString: "FAILED: <class 'OverflowError'>:cannot fit 'int' into an index-sized integer" },
    },
    {
      name: 'a tail beyond Py_ssize_t',
      params: [String(-(2n ** 64n)), 0],
      item: { faultCode: 30, faultString: "FAILED: <class 'OverflowError'>:cannot fit 'int' into an index-sized integer" },
    },
    {
      name: 'a length beyond what a bytes object holds',
      params: [0, String(2n ** 63n - 33n)],
      item: { faultCode: 30, faultString: "FAILED: <class 'OverflowError'>:byte string is too large" },
    },
  ];
  for (const r of refused) {
    it(`readLog of ${r.name}: ${JSON.stringify(r.item)}`, async () => {
      assert.deepEqual(await inMulticall(rpc, r.params), r.item);
      const item = r.item as { faultCode: number; faultString: string };
      if (item.faultString.startsWith('FAILED: ')) await assert.rejects(rpc.call('supervisor.readLog', r.params), isHttp500);
      else await assert.rejects(rpc.call('supervisor.readLog', r.params), isFault(item.faultCode, item.faultString));
    });
  }

  it('an offset at ext4’s largest file size still reads (empty); a length too large to allocate (MemoryError there) reads what there is', async () => {
    assert.equal(await rpc.call('supervisor.readLog', [String(2n ** 44n - 4096n), 10]), '');
    assert.equal(await rpc.call('supervisor.readLog', [0, String(2n ** 63n - 34n)]), LOG);
  });

  it('NaN and infinity (raw <double>s our client will not write): ValueError then OverflowError, as int() raises them', async () => {
    const target: RawTarget = { port: Number(new URL(emulator.url).port) };
    const call = (offset: string, length: string): Promise<RawResponse> =>
      rawExchange(
        target,
        httpRequest(
          `<?xml version='1.0'?>\n<methodCall>\n<methodName>system.multicall</methodName>\n<params>\n<param>\n<value><array><data>\n` +
            `<value><struct><member><name>methodName</name><value><string>supervisor.readLog</string></value></member>` +
            `<member><name>params</name><value><array><data>\n<value><double>${offset}</double></value>\n` +
            `<value><double>${length}</double></value>\n</data></array></value></member></struct></value>\n</data></array></value>\n</param>\n</params>\n</methodCall>\n`,
        ),
      );
    const nan = await call('nan', 'inf');
    assert.equal(nan.status, 200);
    assert.match(nan.body.toString('utf8'), /type object 'Faults' has no attribute 'cannot convert float NaN to integer'/);
    const inf = await call('-inf', '0');
    assert.match(inf.body.toString('utf8'), /FAILED: &lt;class 'OverflowError'&gt;:cannot convert float infinity to integer/);
  });

  it('a wrong argument count is INCORRECT_PARAMETERS, as for every method', async () => {
    for (const [method, params] of [
      ['supervisor.readLog', [0]],
      ['supervisor.readLog', [0, 1, 2]],
      ['supervisor.readLog', []],
      ['supervisor.clearLog', [1]],
    ] as const) {
      await assert.rejects(rpc.call(method, [...params]), isFault(2, 'INCORRECT_PARAMETERS'));
    }
  });

  it('counts readLog calls in stats.calls, multicall items included', async () => {
    const counted = emulator.stats.calls['supervisor.readLog'] ?? 0;
    await rpc.call('supervisor.readLog', [0, 1]);
    await rpc.multicall([
      { methodName: 'supervisor.readLog', params: [0, 1] },
      { methodName: 'supervisor.readLog', params: [-1, 1] },
    ]);
    assert.equal(emulator.stats.calls['supervisor.readLog'], counted + 3);
  });

  it('faults SHUTDOWN_STATE while supervisord stops, before anything else', async () => {
    emulator.state = { statecode: -1, statename: 'SHUTDOWN' };
    try {
      await assert.rejects(rpc.call('supervisor.readLog', [E + 1, 1]), isFault(6, 'SHUTDOWN_STATE'));
      await assert.rejects(rpc.call('supervisor.clearLog'), isFault(6, 'SHUTDOWN_STATE'));
    } finally {
      emulator.state = { statecode: 1, statename: 'RUNNING' };
    }
    assert.equal(emulator.mainLog, LOG, 'not cleared');
  });
});

describe('emulator main log: writing, rotating, clearing, no file', () => {
  it('defaults to an existing empty log: readLog answers empty strings', async () => {
    const { emulator, rpc } = await start();
    assert.equal(emulator.mainLog, '');
    assert.equal(await rpc.call('supervisor.readLog', [-100, 0]), '');
    assert.equal(await rpc.call('supervisor.readLog', [0, 100]), '');
  });

  it('appendMainLog adds bytes at the end: offsets read earlier stay valid, reads go on from there', async () => {
    const { emulator, rpc } = await start({ mainLog: 'café\n' });
    const first = Buffer.byteLength('café\n');
    emulator.appendMainLog(logLine('exited: web (exit status 1; not expected)', 'WARN'));
    emulator.appendMainLog('');
    emulator.appendMainLog('ünïcode\n');
    const all = Buffer.from(emulator.mainLog!, 'utf8');
    assert.equal(emulator.mainLog, `café\n${logLine('exited: web (exit status 1; not expected)', 'WARN')}ünïcode\n`);
    assert.equal(await rpc.call('supervisor.readLog', [first, 1000]), all.subarray(first).toString('utf8'));
    assert.equal(await rpc.call('supervisor.readLog', [-Buffer.byteLength('ünïcode\n'), 0]), 'ünïcode\n');
    await assert.rejects(rpc.call('supervisor.readLog', [1 - Buffer.byteLength('ünïcode\n'), 0]), isHttp500);
    assert.equal(await rpc.call('supervisor.readLog', [all.length, 10]), '');
  });

  it('appendMainLog grows the log line by line to many times its first size, byte for byte', async () => {
    const { emulator, rpc } = await start();
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const line = logLine(`spawned: 'wörker_${i}' with pid ${1000 + i}`, 'INFO', i);
      lines.push(line);
      emulator.appendMainLog(line);
    }
    const expected = lines.join('');
    assert.equal(emulator.mainLog, expected);
    const size = Buffer.byteLength(expected);
    assert.ok(size > 100_000, `${size} bytes`);
    assert.equal(await rpc.call('supervisor.readLog', [-Buffer.byteLength(lines.at(-1)!), 0]), lines.at(-1));
    assert.equal(await rpc.call('supervisor.readLog', [0, 0]), expected);
  });

  it('replaceMainLog starts the file again (a rotation): old offsets read past the new end', async () => {
    const { emulator, rpc } = await start({ mainLog: 'x'.repeat(500) + '\n' });
    emulator.replaceMainLog('fresh\n');
    assert.equal(emulator.mainLog, 'fresh\n');
    assert.equal(await rpc.call('supervisor.readLog', [400, 10]), '');
    assert.equal(await rpc.call('supervisor.readLog', [-100, 0]), 'fresh\n');
    emulator.replaceMainLog();
    assert.equal(emulator.mainLog, '');
    emulator.appendMainLog('again\n');
    assert.equal(await rpc.call('supervisor.readLog', [0, 100]), 'again\n');
  });

  it('clearLog answers true and empties the log; writing goes on in the new file', async () => {
    const { emulator, rpc } = await start({ mainLog: LOG });
    assert.equal(await rpc.call('supervisor.clearLog'), true);
    assert.equal(emulator.mainLog, '');
    assert.equal(await rpc.call('supervisor.readLog', [-100, 0]), '');
    emulator.appendMainLog('next\n');
    assert.deepEqual(await rpc.multicall([{ methodName: 'supervisor.clearLog' }, { methodName: 'supervisor.readLog', params: [0, 10] }]), [true, '']);
    assert.equal(emulator.stats.calls['supervisor.clearLog'], 2);
  });

  it('mainLog null is no log file (logfile=syslog): readLog faults NO_FILE: syslog, clearLog NO_FILE, appends go nowhere', async () => {
    const { emulator, rpc } = await start({ mainLog: null });
    assert.equal(emulator.mainLog, null);
    // NO_FILE comes before int() looks at the arguments, as in rpcinterface.py.
    for (const params of [
      [-100, 0],
      [0, 10],
      ['abc', 1],
      [-5, 5],
    ]) {
      await assert.rejects(rpc.call('supervisor.readLog', params), isFault(20, 'NO_FILE: syslog'));
    }
    assert.deepEqual(await inMulticall(rpc, [0, 1]), { faultCode: 20, faultString: 'NO_FILE: syslog' });
    await assert.rejects(rpc.call('supervisor.clearLog'), isFault(20, 'NO_FILE'));
    emulator.appendMainLog('lost\n');
    assert.equal(emulator.mainLog, null);
    // A file again, and gone again.
    emulator.replaceMainLog('back\n');
    assert.equal(await rpc.call('supervisor.readLog', [0, 10]), 'back\n');
    emulator.replaceMainLog(null);
    await assert.rejects(rpc.call('supervisor.readLog', [0, 10]), isFault(20, 'NO_FILE: syslog'));
  });

  it('appendMainLog and replaceMainLog refuse what is not text, naming the argument', async () => {
    const { emulator } = await start();
    assert.throws(() => emulator.appendMainLog(5 as unknown as string), (err: unknown) => err instanceof TypeError && err.message === "appendMainLog: 'text' must be a string, got 5");
    assert.throws(
      () => emulator.appendMainLog(null as unknown as string),
      (err: unknown) => err instanceof TypeError && err.message === "appendMainLog: 'text' must be a string, got null",
    );
    assert.throws(
      () => emulator.replaceMainLog(Buffer.from('x') as unknown as string),
      (err: unknown) => err instanceof TypeError && err.message === "replaceMainLog: 'text' must be a string or null, got object",
    );
    assert.equal(emulator.mainLog, '');
  });
});

// ---------------------------------------------------------------------------
// The check against the emulator's main log
// ---------------------------------------------------------------------------

describe('the check against an emulator with a main log', () => {
  const quick = { statename: 'FATAL', spawnerr: 'Exited too quickly (process log may have details)', exitstatus: 0 };
  const checks: SupervisordCheck[] = [];
  after(async () => {
    for (const c of checks) await c.close();
  });
  function newCheck(url: string): SupervisordCheck {
    const c = new SupervisordCheck({ name: 'emu', url, timeout: 5 }, { log: { warn: () => {}, debug: () => {} } });
    checks.push(c);
    return c;
  }
  const exitStatus = (result: CheckResult, name: string): number | undefined =>
    result.metrics.find((m) => m.name === 'supervisord.process.exit_status' && m.tags.includes(`supervisord_process:${name}`))?.value;

  it('a FATAL process (exitstatus 0 in its info) gets the exit status of its exited: line; then of the next one appended', async () => {
    const { emulator } = await start({
      processes: [makeProcess({ name: 'worker', ...quick }), makeProcess({ name: 'web' })],
      mainLog:
        '2026-12-07 09:59:59,000 INFO supervisord started with pid 42\n' +
        "2026-12-07 09:59:59,500 INFO spawned: 'worker' with pid 43\n" +
        '2026-12-07 10:00:00,000 INFO exited: worker (exit status 3; not expected)\n' +
        '2026-12-07 10:00:00,001 INFO gave up: worker entered FATAL state, too many start retries too quickly\n',
    });
    const check = newCheck(emulator.url);
    const first = await check.run();
    assert.deepEqual(first.errors, []);
    assert.equal(exitStatus(first, 'worker'), 3);
    assert.deepEqual(first.processes?.find((p) => p.name === 'worker')?.exit, { status: 3, source: 'main-log' });
    assert.deepEqual(
      first.warnings.filter((w) => /unknown/.test(w)),
      [],
    );
    assert.ok((emulator.stats.calls['supervisor.readLog'] ?? 0) >= 1);
    assert.equal(emulator.stats.calls['supervisor.readMainLog'], undefined);
    // supervisord restarted it and it failed again, with another status: the next run reads what was added.
    emulator.appendMainLog(
      "2026-12-07 10:05:00,000 INFO spawned: 'worker' with pid 44\n" +
        '2026-12-07 10:05:00,100 WARN exited: worker (exit status 7; not expected)\n' +
        '2026-12-07 10:05:00,101 INFO gave up: worker entered FATAL state, too many start retries too quickly\n',
    );
    const second = await check.run();
    assert.equal(exitStatus(second, 'worker'), 7);
  });

  it('without the line, or without a log file, the status is unknown (never 0), with the reason', async () => {
    const { emulator } = await start({ processes: [makeProcess({ name: 'worker', ...quick })] });
    const empty = await newCheck(emulator.url).run();
    assert.equal(exitStatus(empty, 'worker'), undefined);
    assert.deepEqual(empty.processes?.find((p) => p.name === 'worker')?.exit, {
      status: null,
      reason: 'its exit is not in the part of the main log the check has read',
    });
    const { emulator: syslog } = await start({ processes: [makeProcess({ name: 'worker', ...quick })], mainLog: null });
    const none = await newCheck(syslog.url).run();
    assert.equal(exitStatus(none, 'worker'), undefined);
    assert.match(none.warnings.join('\n'), /^exit status of 'worker' \(FATAL\) unknown: supervisord's main log could not be read \(NO_FILE: syslog: /m);
  });
});

// ---------------------------------------------------------------------------
// Differential: real supervisord vs an emulator holding a copy of its log
// ---------------------------------------------------------------------------

const SKIP = findSupervisord() === null ? 'supervisord is not installed (apt-get install supervisor)' : false;

describe('readLog: a real supervisord and an emulator with a copy of its log answer the same bytes', { skip: SKIP }, () => {
  let sup: RunningSupervisord;
  let emulator: SupervisordEmulator;
  before(async () => {
    sup = await startSupervisord({ programs: [{ name: 'café', command: '/bin/sh -c "exit 5"', startsecs: 1, startretries: 0 }] });
    await sup.waitFor((procs) => procs.some((p) => p['name'] === 'café' && p['statename'] === 'FATAL'));
    ({ emulator } = await start());
  });
  after(async () => {
    await sup?.stop();
  });

  const v = (type: string, text: string | number | bigint): string => `<value><${type}>${text}</${type}></value>`;
  const int = (n: number): string => v('int', n);
  const str = (s: string | bigint): string => v('string', String(s));
  /** Each case: its params as XML `<value>`s, from the log's bytes. */
  const cases: Array<{ name: string; params: (bytes: Buffer) => string[] }> = [
    { name: 'a range', params: () => [int(0), int(40)] },
    { name: 'a tail', params: () => [int(-60), int(0)] },
    { name: 'a tail longer than the file', params: (b) => [int(-(b.length + 1000)), int(0)] },
    { name: 'at the end', params: (b) => [int(b.length), int(10)] },
    { name: 'past the end', params: (b) => [int(b.length + 1000), int(10)] },
    { name: 'everything from an offset', params: () => [int(100), int(0)] },
    { name: 'a negative offset with a length', params: () => [int(-5), int(5)] },
    { name: 'a negative length', params: () => [int(0), int(-5)] },
    { name: 'both negative', params: () => [int(-5), int(-5)] },
    { name: 'a read starting inside é', params: (b) => [int(b.indexOf('é') + 1), int(10)] },
    { name: 'a read ending inside é', params: (b) => [int(0), int(b.indexOf('é') + 1)] },
    { name: 'a read of é', params: (b) => [int(b.indexOf('é')), int(2)] },
    { name: 'strings', params: () => [str(' +3 '), str('1_0')] },
    { name: 'digits of another script', params: () => [str('٣'), str('１０')] },
    { name: 'letters', params: () => [str("a'b"), int(1)] },
    { name: 'an empty string', params: () => [str(''), int(1)] },
    { name: 'doubles', params: () => [v('double', '1.7'), v('double', '9.99')] },
    { name: 'a negative double, length 0', params: () => [v('double', '-1.7'), int(0)] },
    { name: 'NaN', params: () => [v('double', 'nan'), int(1)] },
    { name: 'infinity', params: () => [v('double', 'inf'), int(1)] },
    { name: 'booleans', params: () => [v('boolean', 1), v('boolean', 1)] },
    { name: 'base64', params: () => [v('base64', Buffer.from('12').toString('base64')), int(3)] },
    { name: 'an i8', params: () => [v('i8', 2 ** 40), int(1)] },
    { name: 'nil', params: () => ['<value><nil/></value>', int(1)] },
    { name: 'an array', params: () => [v('array', '<data></data>'), int(1)] },
    { name: 'a struct', params: () => [int(0), v('struct', '')] },
    { name: 'a date', params: () => [v('dateTime.iso8601', '20260101T00:00:00'), int(1)] },
    { name: 'an offset beyond off_t', params: () => [str(2n ** 63n), int(1)] },
    { name: 'a length beyond Py_ssize_t', params: () => [int(0), str(2n ** 63n)] },
    { name: 'a length beyond what bytes hold', params: () => [int(0), str(2n ** 63n - 1n)] },
    { name: 'a tail beyond Py_ssize_t', params: () => [str(-(2n ** 64n)), int(0)] },
    { name: 'one argument', params: () => [int(0)] },
    { name: 'three arguments', params: () => [int(0), int(1), int(2)] },
  ];

  function body(method: string, params: string[]): string {
    return `<?xml version='1.0'?>\n<methodCall>\n<methodName>${method}</methodName>\n<params>\n${params.map((p) => `<param>\n${p}\n</param>\n`).join('')}</params>\n</methodCall>\n`;
  }
  function multicallBody(calls: Array<{ method: string; params: string[] }>): string {
    const items = calls.map(
      (c) =>
        `<value><struct>\n<member>\n<name>methodName</name>\n${str(c.method)}\n</member>\n` +
        `<member>\n<name>params</name>\n<value><array><data>\n${c.params.join('\n')}\n</data></array></value>\n</member>\n</struct></value>`,
    );
    return body('system.multicall', [`<value><array><data>\n${items.join('\n')}\n</data></array></value>`]);
  }
  /**
   * The same request to both servers, the emulator holding a copy of the
   * real log as it is just before (supervisord logs a CRIT line with the
   * traceback of every call that answers HTTP 500, which the emulator does
   * not): status and body of each.
   */
  async function both(xml: (log: Buffer) => string): Promise<[string, string]> {
    const log = readFileSync(`${sup.dir}/supervisord.log`);
    assert.ok(log.indexOf('é') > 0, `the log names café: ${log.toString('utf8')}`);
    emulator.replaceMainLog(log.toString('utf8'));
    const request = httpRequest(xml(log));
    const show = (r: RawResponse): string => `${r.status}\n${r.body.toString('utf8')}`;
    const [real, emu] = await Promise.all([
      rawExchange({ socketPath: sup.socketPath! }, request),
      rawExchange({ port: Number(new URL(emulator.url).port) }, request),
    ]);
    return [show(real), show(emu)];
  }

  for (const c of cases) {
    it(`readLog, ${c.name}`, async () => {
      const [real, emu] = await both((log) => body('supervisor.readLog', c.params(log)));
      assert.equal(emu, real);
    });
  }

  it('every case in one multicall, and readMainLog', async () => {
    const [real, emu] = await both((log) => {
      const calls = cases.map((c) => ({ method: 'supervisor.readLog', params: c.params(log) }));
      calls.push({ method: 'supervisor.readMainLog', params: [int(0), int(30)] });
      return multicallBody(calls);
    });
    assert.equal(emu, real);
  });

  it('clearLog with an argument (the log is not cleared)', async () => {
    const [real, emu] = await both(() => body('supervisor.clearLog', [int(1)]));
    assert.equal(emu, real);
  });
});
