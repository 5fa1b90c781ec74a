/**
 * lib/exit-log.ts: the main-log line parser (every line supervisord writes
 * for an exit, a stop and a spawn; lines that only look like one), the
 * streaming parser split at every byte and character offset and in seeded
 * random chunks, and the reader against a stand-in of `supervisor.readLog`
 * (test/helpers/main-log.ts) for what a real server does not do on demand:
 * logs of gigabytes, rotations, characters cut by a read, failures. The real
 * server is in test/integration/exit-log.test.ts.
 */

import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, test } from 'node:test';

import { HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import { MainLogReader, parseMainLogLine, signalNumber } from '../../lib/exit-log.js';
import type { MainLogEvent, MainLogReport, MainLogState } from '../../lib/exit-log.js';
import { FakeMainLog, logLine } from '../helpers/main-log.js';

const T = '2026-12-06 23:20:17,117';

describe('parseMainLogLine', () => {
  const cases: Array<[string, MainLogEvent | undefined, string]> = [
    [`${T} WARN exited: quick (exit status 3; not expected)`, { kind: 'exited', name: 'quick', status: 3, expected: false, time: T }, 'exit before startsecs'],
    [`${T} INFO exited: job (exit status 0; expected)`, { kind: 'exited', name: 'job', status: 0, expected: true, time: T }, 'expected exit'],
    [`${T} WARN exited: web (terminated by SIGKILL; not expected)`, { kind: 'exited', name: 'web', status: -1, signal: 'SIGKILL', expected: false, time: T }, 'signal'],
    [
      `${T} WARN exited: web (terminated by SIGSEGV (core dumped); not expected)`,
      { kind: 'exited', name: 'web', status: -1, signal: 'SIGSEGV', coreDumped: true, expected: false, time: T },
      'core dump',
    ],
    [`${T} WARN exited: web (terminated by signal 42; not expected)`, { kind: 'exited', name: 'web', status: -1, signal: 'signal 42', expected: false, time: T }, 'unnamed signal'],
    [`${T} WARN exited: web (unknown termination cause 0x057f; not expected)`, { kind: 'exited', name: 'web', status: -1, expected: false, time: T }, 'unknown cause'],
    [`${T} INFO stopped: web (exit status 0)`, { kind: 'stopped', name: 'web', status: 0, time: T }, 'stop, clean exit'],
    [`${T} WARN stopped: web (terminated by SIGTERM)`, { kind: 'stopped', name: 'web', status: -1, signal: 'SIGTERM', time: T }, 'stop by signal'],
    [`${T} INFO spawned: 'web' with pid 1234`, { kind: 'spawned', name: 'web', pid: 1234, time: T }, 'spawn'],
    [`${T} INFO spawned: 'it's' with pid 7`, { kind: 'spawned', name: "it's", pid: 7, time: T }, 'quote in a name'],
    [`${T} WARN exited: café_1 (exit status 255; not expected)`, { kind: 'exited', name: 'café_1', status: 255, expected: false, time: T }, 'non-ASCII name'],
    [`${T} WARN exited: a(b (exit status 1; not expected)`, { kind: 'exited', name: 'a(b', status: 1, expected: false, time: T }, 'a parenthesis in a name'],
    [`${T} INFO success: web entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)`, undefined, 'other messages'],
    [`${T} INFO gave up: quick entered FATAL state, too many start retries too quickly`, undefined, 'gave up'],
    [`${T} INFO spawnerr: can't find command '/x'`, undefined, 'spawnerr'],
    [`2026-12-06 23:20:17 WARN exited: quick (exit status 3; not expected)`, undefined, 'time stamp without milliseconds'],
    [`2026-12-06T23:20:17,117 WARN exited: quick (exit status 3; not expected)`, undefined, 'ISO time stamp'],
    [`${T} warn exited: quick (exit status 3; not expected)`, undefined, 'lower-case level'],
    [`${T} WARNING exited: quick (exit status 3; not expected)`, undefined, 'a level of another length'],
    [`${T} WARN exited: quick (exit status 3; maybe)`, undefined, 'neither expected nor not expected'],
    [`${T} WARN exited: quick (exit status 3)`, undefined, 'an exit without expected'],
    [`${T} WARN exited: quick (exit status 3; not expected) and more`, undefined, 'trailing text'],
    [`${T} WARN exited: quick (exit status 123456; not expected)`, undefined, 'too many digits'],
    [`${T} WARN exited: quick (exit status ; not expected)`, undefined, 'no digits'],
    [`${T} WARN exited: quick (exit status 3a; not expected)`, undefined, 'not digits'],
    [`${T} WARN exited: quick (terminated by sigkill; not expected)`, undefined, 'lower-case signal'],
    [`${T} WARN exited: quick (terminated by SIG; not expected)`, undefined, 'empty signal name'],
    [`${T} WARN exited: quick (terminated by signal x; not expected)`, undefined, 'signal without a number'],
    [`${T} WARN exited: quick (unknown termination cause 0xzz; not expected)`, undefined, 'cause not hex'],
    [`${T} WARN exited: quick (something else; not expected)`, undefined, 'unknown cause wording'],
    [`${T} WARN exited: (exit status 3; not expected)`, undefined, 'no name'],
    [`${T} WARN exited: quick exit status 3; not expected`, undefined, 'no parenthesis'],
    [`${T} INFO stopped: web (exit status 0; expected)`, undefined, 'a stop has no expected'],
    [`${T} INFO spawned: 'web' with pid x`, undefined, 'pid not a number'],
    [`${T} INFO spawned: '' with pid 3`, undefined, 'empty spawned name'],
    [`${T} INFO spawned: web with pid 3`, undefined, 'unquoted spawned name'],
    [`${T} INFO `, undefined, 'empty message'],
    ['', undefined, 'empty line'],
    ['Traceback (most recent call last):', undefined, 'continuation line'],
  ];
  for (const [line, expected, why] of cases) {
    test(why, () => assert.deepEqual(parseMainLogLine(line), expected));
  }

  test('signalNumber: Linux numbers of the names supervisord writes, and signal N', () => {
    const cases: Array<[string, number | undefined]> = [
      ['SIGKILL', 9],
      ['SIGTERM', 15],
      ['SIGSEGV', 11],
      ['SIGABRT', 6],
      ['SIGIOT', 6],
      ['SIGCHLD', 17],
      ['SIGCLD', 17],
      ['SIGPOLL', 29],
      ['SIGRTMAX', 64],
      ['signal 42', 42],
      ['signal x', undefined],
      ['SIGNOPE', undefined],
    ];
    for (const [name, n] of cases) assert.equal(signalNumber(name), n, name);
  });
});

/** Every kind of line, non-ASCII names (2-, 3- and 4-byte characters), noise, and a last line without a line feed. */
const SAMPLE = [
  `${T} CRIT Supervisor is running as root.`,
  `${T} INFO spawned: 'café' with pid 14395`,
  `${T} WARN exited: café (exit status 5; not expected)`,
  'Traceback (most recent call last):',
  `${T} INFO spawned: '日本' with pid 7`,
  `${T} WARN exited: 日本 (terminated by SIGKILL; not expected)`,
  `${T} INFO stopped: 🐍snake (terminated by SIGTERM)`,
  `${T} INFO exited: job (exit status 0; expected)`,
  `${T} WARN exited: quick (exit status 3; not expected)`,
].join('\n');

describe('main-log lines: names of any script', () => {
  test('the sample has every event, the last line without a line feed included', () => {
    const events = SAMPLE.split('\n').map((line) => parseMainLogLine(line)).filter((e): e is MainLogEvent => e !== undefined);
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.name} ${'status' in e ? e.status : e.pid}`),
      ['spawned café 14395', 'exited café 5', 'spawned 日本 7', 'exited 日本 -1', 'stopped 🐍snake -1', 'exited job 0', 'exited quick 3'],
    );
  });
});

/** `exited: NAME (exit status N; not expected)` */
const exited = (name: string, status: number, at = 0): string => logLine(`exited: ${name} (exit status ${status}; not expected)`, 'WARN', at);
const spawned = (name: string, pid: number, at = 0): string => logLine(`spawned: '${name}' with pid ${pid}`, 'INFO', at);
const filler = (n: number, at = 0): string => logLine(`filler line ${n} ${'.'.repeat(40)}`, 'INFO', at);

/** `n` characters in which no 128-character window appears twice (unlike a repeated letter). */
function unrepeated(n: number): string {
  let text = '';
  for (let i = 0; text.length < n; i++) text += `${i.toString(36)},`;
  return text.slice(0, n);
}

function known(reader: MainLogReader, name: string): number | undefined {
  const lookup = reader.lastExit(name);
  return lookup.known ? lookup.exit.status : undefined;
}

describe('MainLogReader: incremental reads', () => {
  test('first read: the whole small log, a gap (nothing before it is known); then only what is new, each line once', async () => {
    const log = new FakeMainLog(spawned('quick', 1) + exited('quick', 3) + spawned('web', 2));
    const reader = new MainLogReader();
    let report = await reader.read(log);
    assert.equal(report.ok, true);
    assert.equal(report.gap, true);
    assert.deepEqual(report.events.map((e) => e.kind), ['spawned', 'exited', 'spawned']);
    assert.deepEqual(log.asked, [[-65536, 0]]);
    assert.equal(known(reader, 'quick'), 3);
    assert.deepEqual(reader.lastExit('web'), { known: false, reason: 'its exit is not in the part of the main log the check has read' });
    assert.equal(reader.getState().offset, log.size);

    log.append(spawned('quick', 4, 1000) + exited('quick', 4, 1001));
    report = await reader.read(log);
    assert.equal(report.gap, false);
    assert.deepEqual(report.events.map((e) => [e.kind, e.name]), [['spawned', 'quick'], ['exited', 'quick']]);
    assert.equal(known(reader, 'quick'), 4);
    assert.equal(report.calls, 1);

    // Nothing new: one call, the 128-byte anchor and nothing else.
    const sent = log.bytesSent;
    report = await reader.read(log);
    assert.deepEqual(report.events, []);
    assert.equal(report.calls, 1);
    assert.equal(log.bytesSent - sent, 128);
    assert.deepEqual(log.asked.at(-1), [log.size - 128, 128 + 256 * 1024]);
  });

  test('what a reader keeps between reads does not keep the text it read alive (a /probe exporter holds thousands)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // 64 KiB of other lines, then an exit whose time stamp and name (13+ characters) would be slices of that text.
    const filler = logLine(`CRIT ${'x'.repeat(200)}`, 'CRIT').repeat(Math.ceil(65536 / 230));
    const readers: MainLogReader[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) {
      const reader = new MainLogReader();
      await reader.read(new FakeMainLog(filler + exited(`a_long_process_name_${i}`, 3)));
      assert.equal(known(reader, `a_long_process_name_${i}`), 3);
      readers.push(reader);
    }
    gc();
    const perReader = (process.memoryUsage().heapUsed - before) / readers.length;
    // Each read is a 64 KiB string: kept, it would be more than 64 KB per reader.
    assert.ok(perReader < 16_384, `${Math.round(perReader)} bytes kept per reader`);
  });

  test('infoLogged: whether a line of level INFO or finer was read since the first read or the last gap', async () => {
    const log = new FakeMainLog(exited('a', 1) + logLine('CRIT something', 'CRIT'));
    const reader = new MainLogReader();
    await reader.read(log);
    assert.equal(reader.infoLogged, false, 'WARN and CRIT only (loglevel warn)');
    log.append(logLine('debug line', 'DEBG'));
    await reader.read(log);
    assert.equal(reader.infoLogged, true);
    assert.equal(reader.getState().info, true);
    log.restart(exited('b', 2));
    await reader.read(log);
    assert.equal(reader.infoLogged, false, 'a gap starts over');
  });

  test('an exit then a spawn: unknown (the process started again) until it exits again', async () => {
    const log = new FakeMainLog(exited('quick', 3) + spawned('quick', 5));
    const reader = new MainLogReader();
    await reader.read(log);
    assert.deepEqual(reader.lastExit('quick'), { known: false, reason: 'the main log shows a start after its last exit' });
    log.append(logLine('exited: quick (terminated by SIGKILL; not expected)', 'WARN'));
    await reader.read(log);
    assert.deepEqual(reader.lastExit('quick'), {
      known: true,
      exit: { kind: 'exited', name: 'quick', status: -1, signal: 'SIGKILL', expected: false, time: '2026-12-06 23:00:00,000' },
    });
  });

  test('small reads: a line cut by the read is read again whole; a log that grew past a read is joined by its end, every line once', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(i % 3 === 0 ? exited(`p${i}`, i % 256, i) : filler(i, i));
    const log = new FakeMainLog(lines.slice(0, 10).join(''));
    const reader = new MainLogReader({ maxReadBytes: 1024, tailBytes: 1024 });
    const seen: string[] = [];
    const collect = (r: MainLogReport): void => {
      for (const e of r.events) seen.push(e.name);
    };
    collect(await reader.read(log));
    // Grows by about 700 bytes per read: less than a read, never a gap.
    for (let i = 10; i < 300; i += 8) {
      log.append(lines.slice(i, i + 8).join(''));
      const report = await reader.read(log);
      assert.equal(report.gap, false, `read after line ${i}`);
      collect(report);
    }
    const expected = lines.flatMap((l) => {
      const e = parseMainLogLine(l.slice(0, -1));
      return e === undefined ? [] : [e.name];
    });
    assert.deepEqual(seen, expected);
    assert.equal(known(reader, 'p297'), 297 % 256);
    // 3 KB at once: the read stops at 1 KiB, then the end of the log is read; the anchor joins them.
    const burst = Array.from({ length: 40 }, (_, i) => filler(i)).join('') + exited('last', 7);
    log.append(burst);
    const report = await reader.read(log);
    assert.equal(report.calls, 2);
    assert.equal(report.gap, true, 'more than a read and a tail behind: a gap');
    assert.equal(known(reader, 'last'), 7);
    assert.equal(reader.lastExit('p297').known, false, 'what was known before a gap is forgotten');
  });

  test('a burst that a read and the tail cover together: no gap', async () => {
    const log = new FakeMainLog(exited('a', 1));
    const reader = new MainLogReader({ maxReadBytes: 2048, tailBytes: 2048 });
    await reader.read(log);
    log.append(Array.from({ length: 40 }, (_, i) => filler(i)).join('') + exited('b', 2));
    const report = await reader.read(log);
    assert.equal(report.calls, 2, 'the read, then the end');
    assert.equal(report.gap, false);
    assert.deepEqual([known(reader, 'a'), known(reader, 'b')], [1, 2]);
    assert.equal(report.events.filter((e) => e.kind === 'exited').length, 1, 'b once');
    assert.equal(reader.getState().offset, log.size, 'the tail told the size');
  });

  test('a line longer than a read is skipped to its end; an anchor that appears twice in the tail is no anchor (a gap)', async () => {
    const log = new FakeMainLog(exited('a', 1));
    const reader = new MainLogReader({ maxReadBytes: 1024, tailBytes: 1024 });
    await reader.read(log);
    log.append(`${T} INFO ${'y'.repeat(1500)}\n${exited('b', 2)}`);
    const first = await reader.read(log);
    assert.deepEqual(first.events.map((e) => e.name), ['b']);
    assert.equal(first.gap, true, 'the anchor (128 y) is everywhere in the tail');
    assert.deepEqual([known(reader, 'a'), known(reader, 'b')], [undefined, 2]);
    // Skipping without a gap: a long line that the next read ends.
    const other = new MainLogReader({ maxReadBytes: 1024, tailBytes: 1024 });
    const log2 = new FakeMainLog(exited('a', 1));
    await other.read(log2);
    const long = `${T} INFO ${Array.from({ length: 120 }, (_, i) => `${i} `).join('')}`;
    log2.append(long);
    assert.equal((await other.read(log2)).events.length, 0);
    log2.append(`${'q'.repeat(20)}\n${exited('c', 3)}`);
    const report = await other.read(log2);
    assert.deepEqual([report.gap, known(other, 'a'), known(other, 'c')], [false, 1, 3]);
  });
});

describe('MainLogReader: rotation, truncation, failures', () => {
  test('rotated (or clearLog) to a shorter file: a gap, exits before it forgotten, the new file read', async () => {
    const log = new FakeMainLog(exited('a', 1) + exited('b', 2));
    const reader = new MainLogReader();
    await reader.read(log);
    log.restart(exited('c', 3));
    let report = await reader.read(log);
    assert.equal(report.gap, true);
    assert.deepEqual(report.events.map((e) => e.name), ['c']);
    assert.equal(report.calls, 2, 'the read at the offset, then the end of the new file');
    assert.deepEqual([known(reader, 'a'), known(reader, 'c')], [undefined, 3]);
    log.restart();
    report = await reader.read(log);
    assert.equal(report.gap, true);
    assert.equal(reader.getState().offset, 0);
    log.append(exited('d', 4));
    report = await reader.read(log);
    assert.deepEqual([report.gap, known(reader, 'd')], [false, 4]);
  });

  test('truncated and grown again past the offset: the anchor differs, a gap', async () => {
    const log = new FakeMainLog(exited('a', 1) + exited('b', 2));
    const reader = new MainLogReader();
    await reader.read(log);
    log.restart(exited('c', 3, 5000) + exited('d', 4, 5001) + exited('e', 5, 5002));
    const report = await reader.read(log);
    assert.equal(report.gap, true);
    assert.deepEqual(report.events.map((e) => e.name), ['c', 'd', 'e']);
  });

  test('a read ending inside a multi-byte character is asked again one byte shorter (HTTP 500 alone, fault 30 in a multicall)', async () => {
    const base = exited('a', 1);
    // é's 2 bytes straddle the end of the first forward read (1024 bytes after a 128-byte anchor).
    for (const viaMulticall of [false, true]) {
      const log = new FakeMainLog(base);
      const reader = new MainLogReader({ maxReadBytes: 1024, tailBytes: 1024 });
      await reader.read(log);
      const pad = 1023 - Buffer.byteLength(`${T} INFO `);
      log.append(`${T} INFO ${unrepeated(pad)}é\n${exited('b', 2)}`);
      const caller = viaMulticall ? log : { call: log.call };
      const step = reader.begin();
      const answer = await log.call(step.calls[0]!.methodName, step.calls[0]!.params ?? []).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      assert.equal(answer.ok, false, 'the first read cuts é');
      if (!answer.ok) assert.ok(answer.error instanceof HttpStatusError);
      const report = await reader.resume(caller, step, [viaMulticall ? { ok: false, error: new XmlRpcFault(30, "FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute 'utf-8'") } : answer]);
      assert.equal(report.ok, true);
      assert.equal(known(reader, 'b'), 2, `via multicall: ${viaMulticall}`);
      assert.equal(report.gap, false);
    }
  });

  test('a tail starting inside a multi-byte character is asked again from one byte later', async () => {
    // The last 1024 bytes start with the second byte of é.
    const head = `${T} INFO ${unrepeated(50)}é\n`;
    const rest = exited('a', 1);
    const pad = `${T} INFO ${unrepeated(1022 - rest.length - 30)}\n`;
    const log = new FakeMainLog(head + rest + pad);
    assert.equal(log.size - 1024, Buffer.byteLength(head) - 2);
    const reader = new MainLogReader({ tailBytes: 1024, maxReadBytes: 1024 });
    const report = await reader.read(log);
    assert.deepEqual(log.asked, [
      [-1024, 0],
      [-1023, 0],
    ]);
    assert.deepEqual([report.ok, report.calls, known(reader, 'a')], [true, 2, 1]);
  });

  test('a forward read cut at both ends (another file, a character across the old offset): the new file read from its end', async () => {
    const log = new FakeMainLog(['a', 'q', 'r', 's'].map((n, i) => exited(n, 1, i)).join(''));
    const reader = new MainLogReader();
    await reader.read(log);
    const offset = reader.getState().offset!;
    const anchorBytes = Buffer.byteLength(reader.getState().anchor);
    // The new file has a 3-byte character whose middle byte is where the next read starts.
    const head = `${T} INFO ${'k'.repeat(offset - anchorBytes - 30)}`;
    log.restart(`${head}€\n${exited('b', 2)}`);
    assert.equal(Buffer.byteLength(head) + 1, offset - anchorBytes);
    const report = await reader.read(log);
    assert.deepEqual(log.asked.slice(1).map(([o, l]) => [o, l - 256 * 1024]), [
      [offset - anchorBytes, anchorBytes],
      [offset - anchorBytes, anchorBytes - 1],
      [offset - anchorBytes, anchorBytes - 2],
      [offset - anchorBytes, anchorBytes - 3],
      [-65536, -262144 + 0],
    ]);
    assert.deepEqual([report.ok, report.gap, known(reader, 'a'), known(reader, 'b')], [true, true, undefined, 2]);
  });

  test('an anchor ending in characters of 1 to 4 bytes is cut between characters, and found again', async () => {
    const log = new FakeMainLog(exited('a', 1) + exited(`x${'é€🐍'.repeat(12)}`, 2));
    const reader = new MainLogReader();
    await reader.read(log);
    const anchor = reader.getState().anchor;
    assert.ok(Buffer.byteLength(anchor) <= 128 && Buffer.byteLength(anchor) > 120);
    assert.ok(!/^[\udc00-\udfff]/u.test(anchor), 'starts with a whole character');
    log.append(exited('c', 3));
    const report = await reader.read(log);
    assert.deepEqual([report.gap, known(reader, 'c')], [false, 3]);
  });

  test('answers only the search reads: a probe cutting a character is below the size; the last read finding nothing starts the search again', async () => {
    const log = new FakeMainLog(Array.from({ length: 200 }, (_, i) => exited(`p${i}`, 1, i)).join(''));
    const reader = new MainLogReader({ tailBytes: 1024, maxReadBytes: 1024 });
    await reader.read(log);
    const state = reader.getState();
    const tail = (await log.call('supervisor.readLog', [-1024, 0])) as string;
    // Probes: a cut character, then nothing.
    reader.restoreState({ ...state, low: 1024, high: null });
    let step = reader.begin();
    assert.equal(step.calls.length, 25);
    const cut = { ok: false as const, error: new XmlRpcFault(30, "FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute 'utf-8'") };
    await reader.resume(log, step, [{ ok: true, value: tail }, cut, ...Array.from({ length: 23 }, () => ({ ok: true as const, value: '' }))]);
    assert.deepEqual([reader.getState().low, reader.getState().high], [2049, 3072]);
    // The last read, at a lower bound the file no longer reaches: nothing, the bound falls back to the tail's length.
    reader.restoreState({ ...state, low: 5000, high: 5100 });
    step = reader.begin();
    assert.deepEqual(step.calls[1]!.params, [5000, 1024]);
    await reader.resume(log, step, [{ ok: true, value: tail }, { ok: true, value: '' }]);
    assert.deepEqual([reader.getState().offset, reader.getState().low, reader.getState().high], [null, 1024, null]);
    // ...or cutting a character there: above the bound.
    reader.restoreState({ ...state, low: 5000, high: 5100 });
    step = reader.begin();
    await reader.resume(log, step, [{ ok: true, value: tail }, cut]);
    assert.deepEqual([reader.getState().low, reader.getState().high], [5001, null]);
  });

  test('faults: NO_FILE and FAILED say why (with a hint), nothing is known; what was read is kept for the next read', async () => {
    const log = new FakeMainLog(exited('a', 1));
    const reader = new MainLogReader();
    await reader.read(log);
    log.missing = true;
    let report = await reader.read(log);
    assert.equal(report.ok, false);
    assert.equal(report.error, 'NO_FILE: syslog: no log file (logfile=syslog, or the file was removed)');
    assert.deepEqual(reader.lastExit('a'), {
      known: false,
      reason: "supervisord's main log could not be read (NO_FILE: syslog: no log file (logfile=syslog, or the file was removed))",
    });
    log.missing = false;
    log.unseekable = true;
    report = await reader.read(log);
    assert.equal(report.error, 'FAILED: the log is not a regular file (logfile=/dev/stdout on a pipe?)');
    log.unseekable = false;
    log.append(exited('b', 2));
    report = await reader.read(log);
    assert.deepEqual([report.ok, report.gap, known(reader, 'a'), known(reader, 'b')], [true, false, 1, 2]);
  });

  test('other answers: a method the server lacks, a value that is not a string, a client error', async () => {
    const cases: Array<[(method: string) => Promise<unknown>, string]> = [
      [() => Promise.reject(new XmlRpcFault(1, 'UNKNOWN_METHOD')), 'UNKNOWN_METHOD'],
      [() => Promise.resolve(42), 'supervisor.readLog answered number, not a string'],
      [() => Promise.reject(new Error('socket hang up')), 'socket hang up'],
      [() => Promise.reject('odd'), 'odd'],
    ];
    for (const [call, error] of cases) {
      const reader = new MainLogReader();
      const report = await reader.read({ call });
      assert.deepEqual([report.ok, report.error], [false, error]);
    }
    const reader = new MainLogReader();
    assert.deepEqual(reader.lastExit('x'), { known: false, reason: "supervisord's main log was not read" });
    assert.equal(reader.lastReport, undefined);
  });

  test('a read begun and never finished answers nothing', async () => {
    const log = new FakeMainLog(exited('a', 1));
    const reader = new MainLogReader();
    await reader.read(log);
    reader.begin();
    assert.deepEqual(reader.lastExit('a'), { known: false, reason: "supervisord's main log was not read" });
    // A step's answers missing altogether: a failed read.
    const report = await reader.resume(log, reader.begin(), []);
    assert.deepEqual([report.ok, report.error], [false, 'no answer']);
  });

  test('a multicall that fails as a whole: the step is asked call by call', async () => {
    const log = new FakeMainLog(Array.from({ length: 100 }, (_, i) => filler(i)).join(''));
    const reader = new MainLogReader({ tailBytes: 1024, maxReadBytes: 1024 });
    await reader.read(log); // full window: the next read probes the size
    const calls: string[] = [];
    const caller = {
      call: async (method: string, params?: readonly unknown[]) => {
        calls.push(`call ${String(params?.[0])}`);
        return log.call(method, params);
      },
      multicall: async () => {
        calls.push('multicall');
        throw new XmlRpcFault(1, 'UNKNOWN_METHOD');
      },
    };
    const report = await reader.read(caller);
    assert.equal(report.ok, true);
    assert.equal(calls[0], 'multicall');
    assert.equal(calls.length, 1 + 25, 'the tail and 24 probes, one by one');
    assert.ok(reader.getState().high !== null, 'the probes bounded the size');
  });
});

describe('MainLogReader: logs larger than the tail', () => {
  for (const [size, maxReads] of [
    [200 * 1024, 2],
    [50 * 1024 * 1024, 4],
    [4 * 1024 * 1024 * 1024, 5],
  ] as const) {
    test(`a ${size} B log: the tail at once, then the size found in ${maxReads} reads or fewer by probes in the same multicall, then incremental`, async () => {
      const log = new FakeMainLog(exited('quick', 3));
      log.prefix = size - (size % 64);
      const reader = new MainLogReader();
      let report = await reader.read(log);
      assert.deepEqual([report.gap, report.calls, known(reader, 'quick')], [true, 1, 3]);
      let reads = 1;
      let probes = 0;
      while (reader.getState().offset === null) {
        log.append(exited('quick', reads, reads * 1000 + 17));
        const multicalls = log.multicalls;
        report = await reader.read(log);
        reads++;
        assert.equal(log.multicalls - multicalls, 1, 'one multicall per read');
        probes = Math.max(probes, report.calls - 1);
        assert.equal(report.gap, false, `read ${reads}: the anchor is found in the tail`);
        assert.equal(known(reader, 'quick'), reads - 1);
        assert.ok(reads <= maxReads, `still searching after ${reads} reads: ${JSON.stringify({ ...reader.getState(), names: [] })}`);
      }
      assert.ok(probes <= 31);
      assert.equal(reader.getState().offset, log.size);
      log.append(exited('quick', 99));
      const sent = log.bytesSent;
      report = await reader.read(log);
      assert.deepEqual([report.calls, report.gap, known(reader, 'quick')], [1, false, 99]);
      assert.ok(log.bytesSent - sent < 300, 'only the anchor and the new line');
      for (const [offset, length] of log.asked) assert.ok(offset < 0 ? length === 0 : length > 0, `readLog(${offset}, ${length})`);
    });
  }

  test('probes whose bytes repeat in the tail without being in it (numbers cut by a probe) never give a wrong size, nor a gap', async () => {
    // Regression: a probe far below the end, ending in the first digits of a line number, matched a tail line once:
    // a size 300 KB short, then a gap at every other read.
    let text = '';
    for (let i = 0; i < 40000; i++) text += `2026-12-07 00:00:00,${String(i % 1000).padStart(3, '0')} INFO filler line number ${i} ${'.'.repeat(30)}\n`;
    const log = new FakeMainLog(text + exited('quick', 3, 1));
    const reader = new MainLogReader();
    const reports: MainLogReport[] = [await reader.read(log)];
    for (let i = 0; i < 8; i++) reports.push(await reader.read(log));
    assert.equal(reader.getState().offset, log.size);
    assert.deepEqual(reports.slice(1).map((r) => r.gap), Array(8).fill(false));
    assert.equal(known(reader, 'quick'), 3);
  });

  test('an offset learnt wrong is caught by the next read, which finds its place in the tail again: no gap', async () => {
    const log = new FakeMainLog(Array.from({ length: 3000 }, (_, i) => exited(`p${i}`, i % 256, i)).join(''));
    const reader = new MainLogReader();
    await reader.read(log);
    reader.restoreState({ ...reader.getState(), offset: log.size - 5000 });
    log.append(exited('new', 7, 99999));
    const report = await reader.read(log);
    assert.deepEqual([report.gap, report.calls, known(reader, 'p2999'), known(reader, 'new')], [false, 2, 2999 % 256, 7]);
  });

  test('a log of identical lines (no probe is found once in the tail): the size from a last read of the tail at the lower bound', async () => {
    const log = new FakeMainLog();
    log.append(exited('same', 1).repeat(3000));
    const reader = new MainLogReader();
    let reads = 0;
    while (reader.getState().offset === null) {
      await reader.read(log);
      reads++;
      assert.ok(reads <= 6, `still searching after ${reads} reads`);
    }
    assert.equal(reader.getState().offset, log.size);
    assert.equal(known(reader, 'same'), 1);
  });

  test('rotated to a file shorter than the lower bound while searching: the search starts again, never a wrong size', async () => {
    const log = new FakeMainLog();
    log.append(exited('same', 1).repeat(3000));
    const reader = new MainLogReader({ tailBytes: 1024, maxReadBytes: 1024 });
    await reader.read(log);
    await reader.read(log);
    // Narrowed until the next read is the last one at the lower bound...
    while (reader.getState().high === null || reader.getState().high! - reader.getState().low > 512) await reader.read(log);
    // ...but the file is now another, longer than a tail and shorter than that bound.
    log.restart(Array.from({ length: 40 }, (_, i) => exited(`n${i}`, i, i)).join(''));
    const report = await reader.read(log);
    assert.equal(report.gap, true);
    assert.equal(reader.getState().offset, null, 'not located by a read past the end of the new file');
    for (let i = 0; i < 6 && reader.getState().offset === null; i++) await reader.read(log);
    assert.equal(reader.getState().offset, log.size);
  });

  test('the log rotates while the size is searched: found again from the new file', async () => {
    const log = new FakeMainLog(exited('a', 1));
    log.prefix = 10 * 1024 * 1024;
    const reader = new MainLogReader();
    await reader.read(log);
    await reader.read(log); // probes: bounds learnt
    log.restart(exited('b', 2));
    const report = await reader.read(log);
    assert.equal(report.gap, true);
    assert.equal(reader.getState().offset, log.size);
    assert.equal(known(reader, 'b'), 2);
  });
});

describe('MainLogReader: state', () => {
  test('getState is plain JSON; a new reader restored from it goes on without a gap', async () => {
    const log = new FakeMainLog(exited('a', 1) + logLine('exited: b (terminated by SIGSEGV (core dumped); not expected)', 'WARN') + spawned('a', 9));
    const first = new MainLogReader();
    await first.read(log);
    const state = JSON.parse(JSON.stringify(first.getState())) as MainLogState;
    assert.deepEqual(state, first.getState());
    // a spawn marks an entry without making it more recent
    assert.deepEqual(state.names.map(([name, exit, after]) => [name, exit.status, after]), [['a', 1, true], ['b', -1, false]]);
    const second = new MainLogReader();
    second.restoreState(state);
    assert.deepEqual(second.getState(), state);
    assert.equal(second.lastExit('b').known, false, 'nothing is known before a read');
    log.append(exited('c', 3));
    const report = await second.read(log);
    assert.deepEqual([report.gap, report.events.length, known(second, 'b'), known(second, 'c')], [false, 1, -1, 3]);
  });

  test('restoreState refuses what getState never makes, naming the field, and leaves the reader unchanged', async () => {
    const log = new FakeMainLog(exited('a', 1));
    const reader = new MainLogReader();
    await reader.read(log);
    const good = reader.getState();
    const exit = good.names[0]![1];
    const cases: Array<[unknown, string]> = [
      [null, 'main log state must be an object'],
      [[], 'main log state must be an object'],
      [{ ...good, version: 2 }, "main log state: 'version' must be 1"],
      [{ ...good, offset: -1 }, "main log state: 'offset' must be null or a non-negative integer"],
      [{ ...good, offset: 1.5 }, "main log state: 'offset' must be null or a non-negative integer"],
      [{ ...good, anchor: 'x'.repeat(129) }, "main log state: 'anchor' must be a string of at most 128 bytes"],
      [{ ...good, offset: 3, anchor: 'abcd' }, "main log state: 'anchor' must be no longer than offset"],
      [{ ...good, low: '0' }, "main log state: 'low' must be a non-negative integer"],
      [{ ...good, high: -5 }, "main log state: 'high' must be null or a non-negative integer"],
      [{ ...good, skipping: 1 }, "main log state: 'skipping' must be a boolean"],
      [{ ...good, info: 'yes' }, "main log state: 'info' must be a boolean"],
      [{ ...good, names: {} }, "main log state: 'names' must be an array"],
      [{ ...good, names: [['a', exit]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['b', exit, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', { ...exit, status: 'x' }, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', { ...exit, kind: 'spawned' }, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', { ...exit, signal: 'kill' }, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', { ...exit, coreDumped: 'yes' }, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', { ...exit, expected: 0 }, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
      [{ ...good, names: [['a', null, false]] }, "main log state: 'names[0]' must be [name, exit, spawnedAfter] with an exit of that name"],
    ];
    for (const [state, message] of cases) {
      assert.throws(() => reader.restoreState(state), { name: 'TypeError', message }, message);
      assert.deepEqual(reader.getState(), good);
    }
    // A restored name keeps only its last entry.
    reader.restoreState({ ...good, names: [['a', { ...exit, status: 7 }, false], ['a', exit, false]] });
    assert.equal(reader.getState().names.length, 1);
  });

  test('at most maxNames names, the least recently updated forgotten first', async () => {
    const log = new FakeMainLog(exited('a', 1) + exited('b', 2) + exited('c', 3) + exited('a', 4));
    const reader = new MainLogReader({ maxNames: 2 });
    await reader.read(log);
    assert.deepEqual(reader.getState().names.map(([n]) => n), ['c', 'a']);
    assert.equal(reader.lastExit('b').known, false);
  });

  test('options are checked, naming the option', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ maxReadBytes: 100 }, 'maxReadBytes must be an integer of at least 1024, got 100'],
      [{ maxReadBytes: 2048.5 }, 'maxReadBytes must be an integer of at least 1024, got 2048.5'],
      [{ tailBytes: 10 }, 'tailBytes must be an integer of at least 1024, got 10'],
      [{ maxNames: 0 }, 'maxNames must be an integer of at least 1, got 0'],
      [{ maxReadBytes: 2048, tailBytes: 4096 }, 'tailBytes (4096) must not exceed maxReadBytes (2048)'],
    ];
    for (const [options, message] of cases) assert.throws(() => new MainLogReader(options), { name: 'RangeError', message });
    assert.equal(new MainLogReader({ maxReadBytes: 2048 }).getState().offset, null, 'the tail defaults to at most a read');
  });
});
