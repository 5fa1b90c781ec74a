/**
 * lib/listener/exit-source.ts: the listener's exit statuses from
 * supervisord's main log, against the readLog stand-in (test/helpers/
 * main-log.ts) with lines as supervisord 4.2.5 writes them (checked against
 * the real server in test/integration/listener.test.ts): each end of a
 * crash loop gets its own line, in order, after a listing's marker and
 * counted back before it; a spawn that failed (`spawnerr:` naming no
 * process) told from an exit only when nothing else can be the end's line;
 * unknown, never a guess, for a name two groups share, a gap (rotation),
 * lost events, a group added, ends never asked about, a log without INFO
 * lines or that cannot be read, a line written after the event arrived, a
 * pid that is not the run's, lines dropped by the bound.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MainLogReader, parseSpawnErrorLine } from '../../lib/exit-log.js';
import { MainLogExitSource } from '../../lib/listener/exit-source.js';
import type { ExitAnswer, ExitQuery } from '../../lib/listener/listener.js';
import type { RunEndKind } from '../../lib/listener/state.js';
import { FakeMainLog, logLine } from '../helpers/main-log.js';

/** `logLine`'s time 0, in epoch ms (its stamps are local time). */
const BASE = new Date(2026, 11, 6, 23, 0, 0, 0).getTime();

const spawned = (name: string, pid: number, at: number): string => logLine(`spawned: '${name}' with pid ${pid}`, 'INFO', at);
const exited = (name: string, cause: string, at: number, expected = false): string =>
  logLine(`exited: ${name} (${cause}; ${expected ? 'expected' : 'not expected'})`, expected ? 'INFO' : 'WARN', at);
const stopped = (name: string, cause: string, at: number): string => logLine(`stopped: ${name} (${cause})`, 'INFO', at);
const spawnerr = (message: string, at: number): string => logLine(`spawnerr: ${message}`, 'INFO', at);
/** A quick exit: spawned at `at`, exited 5 ms later. */
const quick = (name: string, pid: number, status: number, at: number): string => spawned(name, pid, at) + exited(name, `exit status ${status}`, at + 5);

/** An end asked about, arrived `at` ms after BASE. */
function query(id: number, name: string, kind: RunEndKind, at: number, pid?: number, group = name): ExitQuery {
  return { id, name, group, kind, arrivedAt: BASE + at, ...(pid === undefined ? {} : { pid }) };
}

function setup(text = logLine('supervisord started with pid 1', 'INFO', 0), options: { maxLines?: number; maxNames?: number } = {}): { log: FakeMainLog; source: MainLogExitSource; said: string[] } {
  const log = new FakeMainLog(text);
  const said: string[] = [];
  const source = new MainLogExitSource({ client: log, log: (l) => said.push(l), ...options });
  return { log, source, said };
}

/** What the listener does for a listing: the source's calls in its multicall, the answers, then the marker's place. */
async function listing(source: MainLogExitSource, log: FakeMainLog, markerEnd: number | undefined, processes?: Array<{ name: string; group: string }>, seq = 100): Promise<void> {
  const calls = source.snapshotCalls();
  assert.ok(calls !== undefined, 'the source wants its read placed');
  await source.snapshotAnswered((await log.multicall(calls)) as unknown[], processes);
  source.snapshotPlaced(markerEnd === undefined ? undefined : { end: markerEnd, seq });
}

const status = (n: number): ExitAnswer => ({ exitstatus: n });

describe('MainLogExitSource: each end its own line', () => {
  it('a crash loop after the marker: three BACKOFFs get the three exited: lines, in order, asked together or one by one', async () => {
    for (const oneByOne of [false, true]) {
      const { log, source } = setup();
      await listing(source, log, 0);
      log.append(quick('quick', 10, 3, 1000) + quick('quick', 11, 4, 2000) + quick('quick', 12, 5, 4000) + logLine('gave up: quick entered FATAL state, too many start retries too quickly', 'INFO', 4100));
      const queries = [query(1, 'quick', 'backoff', 1010), query(2, 'quick', 'backoff', 2010), query(3, 'quick', 'backoff', 4010)];
      const answers = oneByOne ? [...(await source.exitStatuses(queries.slice(0, 1))), ...(await source.exitStatuses(queries.slice(1, 2))), ...(await source.exitStatuses(queries.slice(2)))] : await source.exitStatuses(queries);
      assert.deepEqual(answers, [status(3), status(4), status(5)], oneByOne ? 'one by one' : 'together');
    }
  });

  it('one readLog per batch, and one in the listing that places the cursors; none in a listing once they are placed', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    assert.equal(log.asked.length, 1);
    log.append(quick('a', 10, 1, 1000));
    await source.exitStatuses([query(1, 'a', 'backoff', 1010)]);
    assert.equal(log.asked.length, 2);
    assert.equal(source.snapshotCalls(), undefined, 'nothing to place');
  });

  it('ends queued before the marker are counted back from it; the ends after it go on from there', async () => {
    const { log, source } = setup(logLine('start', 'INFO', 0) + quick('quick', 9, 7, 100) + quick('quick', 10, 1, 1000) + quick('other', 20, 9, 1500) + quick('quick', 11, 2, 2000));
    // Three ends arrived before the marker (after end 3): the older exit 7 is from before the listener.
    await listing(source, log, 3);
    log.append(quick('quick', 12, 3, 4000));
    const answers = await source.exitStatuses([query(1, 'quick', 'backoff', 1010), query(2, 'other', 'backoff', 1510), query(3, 'quick', 'backoff', 2010), query(4, 'quick', 'backoff', 4010)]);
    assert.deepEqual(answers, [status(1), status(9), status(2), status(3)]);
  });

  it('ends before the marker are unknown when the batch does not reach the marker (later ones could not be counted)', async () => {
    const { log, source } = setup(logLine('start', 'INFO', 0) + quick('a', 10, 1, 1000) + quick('a', 11, 2, 2000));
    await listing(source, log, 2);
    assert.deepEqual(await source.exitStatuses([query(1, 'a', 'backoff', 1010)]), [undefined]);
    assert.deepEqual(await source.exitStatuses([query(2, 'a', 'backoff', 2010)]), [status(2)], 'the last one is counted back from the marker');
  });

  it('RUNNING -> EXITED, a stop, a signal: the line after the run\'s spawn, whose pid is the event\'s; signal deaths named', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(
      spawned('web', 100, 1000) +
        exited('web', 'terminated by SIGKILL', 3000) +
        spawned('web', 101, 4000) +
        exited('web', 'terminated by SIGSEGV (core dumped)', 5000) +
        spawned('web', 102, 6000) +
        stopped('web', 'exit status 0', 7000) +
        spawned('job', 200, 6100) +
        exited('job', 'exit status 0', 6200, true),
    );
    const answers = await source.exitStatuses([
      query(1, 'web', 'exited', 3001, 100),
      query(2, 'web', 'exited', 5001, 101),
      query(3, 'job', 'exited', 6201, 200),
      query(4, 'web', 'stopped', 7001, 102),
    ]);
    assert.deepEqual(answers, [{ exitstatus: -1, signal: 'SIGKILL' }, { exitstatus: -1, signal: 'SIGSEGV', coreDumped: true }, status(0), status(0)]);
  });

  it('a process running at the marker: its end after it takes the line, checked against the spawn before the marker', async () => {
    const { log, source } = setup(logLine('start', 'INFO', 0) + spawned('web', 100, 500) + spawned('db', 300, 600));
    await listing(source, log, 0);
    log.append(exited('web', 'exit status 2', 1000) + exited('db', 'exit status 2', 1100));
    assert.deepEqual(await source.exitStatuses([query(1, 'web', 'exited', 1001, 100), query(2, 'db', 'exited', 1101, 999)]), [status(2), undefined]);
  });
});

describe('MainLogExitSource: spawns that failed', () => {
  it('two spawn errors naming no process between two exits (a command missing for a moment, as 4.2.5 logs it): either may be the failed spawn, unknown', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(
      quick('flip', 10, 4, 1000) +
        spawnerr("can't find command '/tmp/flip.sh'", 2000) +
        spawnerr("can't find command '/nonexistent/cmd'", 2000) +
        quick('flip', 11, 4, 4000),
    );
    // Two spawn errors in the same millisecond, naming no process: either can be flip's.
    const answers = await source.exitStatuses([query(1, 'flip', 'backoff', 1010), query(2, 'flip', 'backoff', 2001), query(3, 'flip', 'backoff', 4010)]);
    assert.deepEqual(answers, [status(4), undefined, undefined], 'two spawn errors could be its own: unknown, and the cursor is forgotten');
  });

  it('one spawn error before the next exit, that exit written after the event arrived: a spawn that failed; the next end goes on after it', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('flip', 10, 4, 1000) + spawnerr("can't find command '/tmp/flip.sh'", 2000) + quick('flip', 11, 5, 4000));
    const answers = await source.exitStatuses([query(1, 'flip', 'backoff', 1010), query(2, 'flip', 'backoff', 2001), query(3, 'flip', 'backoff', 4010)]);
    assert.deepEqual(answers, [status(4), { spawnFailure: "can't find command '/tmp/flip.sh'" }, status(5)]);
  });

  it('a spawn error naming no process before an exit written before the event arrived: either could be the end\'s line, unknown', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    // The BACKOFF arrived late (queued): the next attempt's exit is older than its arrival.
    log.append(spawnerr("can't find command '/x'", 1000) + quick('late', 11, 5, 2500));
    assert.deepEqual(await source.exitStatuses([query(1, 'late', 'backoff', 3000)]), [undefined]);
  });

  it('a spawn error that names its process is its end (a fork that failed); a spawn error after a start is no end of that name', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(spawnerr("Too many processes in process table to spawn 'forky'", 1000) + spawnerr("too many open files to spawn 'other'", 1100) + quick('forky', 12, 6, 3000));
    assert.deepEqual(await source.exitStatuses([query(1, 'forky', 'backoff', 1001), query(2, 'forky', 'backoff', 3010)]), [
      { spawnFailure: "Too many processes in process table to spawn 'forky'" },
      status(6),
    ]);
  });
});

describe('MainLogExitSource: what a BACKOFF\'s line can be', () => {
  const cases: Array<[string, string, ExitAnswer]> = [
    ['an exit before startsecs', quick('b', 10, 3, 1000), status(3)],
    ['a stop', spawned('b', 10, 1000) + stopped('b', 'exit status 0', 1005), undefined],
    ['an expected exit (only from RUNNING)', spawned('b', 10, 1000) + exited('b', 'exit status 0', 1005, true), undefined],
    ['an exit with no start before it', exited('b', 'exit status 3', 1005), undefined],
    ['no line of its name, one spawn error naming none', spawnerr("can't find command '/b'", 1000), { spawnFailure: "can't find command '/b'" }],
    ['no line of its name, two spawn errors naming none', spawnerr("can't find command '/b'", 1000) + spawnerr("can't find command '/c'", 1001), undefined],
    ['no line at all', '', undefined],
    ['a start and no end yet', spawned('b', 10, 1000), undefined],
  ];
  for (const [what, lines, expected] of cases) {
    it(`${what}: ${JSON.stringify(expected)}`, async () => {
      const { log, source } = setup(logLine('start', 'INFO', 0) + quick('b', 9, 1, 100));
      await listing(source, log, 0);
      // The end before the marker left the cursor after its line: `lines` come after it.
      log.append(lines);
      assert.deepEqual(await source.exitStatuses([query(1, 'b', 'backoff', 1500)]), [expected]);
    });
  }
});

describe('MainLogExitSource: unknown rather than a guess', () => {
  it('a name two groups share (the log names a process without its group)', async () => {
    const { log, source } = setup();
    await listing(source, log, 0, [
      { name: 'worker', group: 'a' },
      { name: 'worker', group: 'b' },
      { name: 'solo', group: 'solo' },
    ]);
    log.append(quick('worker', 10, 3, 1000) + quick('solo', 11, 3, 1100));
    assert.deepEqual(await source.exitStatuses([query(1, 'worker', 'backoff', 1010, undefined, 'a'), query(2, 'solo', 'backoff', 1110)]), [undefined, status(3)]);
  });

  it('a name two groups have, told by the events (a group added without PROCESS_GROUP in events=)', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    source.seen('w', 'new');
    log.append(quick('w', 10, 3, 1000));
    assert.deepEqual(await source.exitStatuses([query(1, 'w', 'backoff', 1010, undefined, 'old')]), [undefined]);
  });

  it('a name seen in two groups only through the ends asked about', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('w', 10, 3, 1000) + quick('w', 11, 4, 1100));
    assert.deepEqual(await source.exitStatuses([query(1, 'w', 'backoff', 1010, undefined, 'a'), query(2, 'w', 'backoff', 1110, undefined, 'b')]), [undefined, undefined]);
  });

  it('a rotation between two reads (a gap): unknown until a listing places the cursors again', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('q', 10, 3, 1000));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [status(3)]);
    log.append(quick('q', 11, 4, 2000));
    log.restart(quick('q', 12, 5, 3000));
    // The exit 4 went with the rotated file: its end must not take the exit 5.
    assert.deepEqual(await source.exitStatuses([query(2, 'q', 'backoff', 2010)]), [undefined]);
    assert.deepEqual(await source.exitStatuses([query(3, 'q', 'backoff', 3010)]), [undefined]);
    await listing(source, log, 3);
    log.append(quick('q', 13, 6, 4000));
    assert.deepEqual(await source.exitStatuses([query(4, 'q', 'backoff', 4010)]), [status(6)]);
  });

  it('lost events (or a group added) before an end: unknown after them until the next listing; ends before them still told', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('q', 10, 3, 1000) + quick('q', 11, 4, 2000) + quick('q', 12, 5, 3000) + quick('q', 13, 6, 4000));
    source.breakAfter(1, 150);
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010), query(2, 'q', 'backoff', 3010)]), [status(3), undefined]);
    assert.ok(source.snapshotCalls() !== undefined, 'a listing to place them again');
    await source.snapshotAnswered(undefined);
  });

  it('lost events after the marker: a name\'s first end after them is not placed at the marker (a lost end may have taken its line)', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    // b's first exit (8) is one whose event supervisord discarded.
    log.append(quick('a', 10, 1, 1000) + quick('b', 20, 8, 1500) + quick('b', 21, 9, 2000));
    source.breakAfter(1, 150);
    assert.deepEqual(await source.exitStatuses([query(1, 'a', 'backoff', 1010), query(2, 'b', 'backoff', 2010)]), [status(1), undefined]);
  });

  it('counted back from the marker: a spawn error naming no process in between may be one of those ends, unknown', async () => {
    // An exit from before the listener, then a's spawn that failed, then its exit 2: its first end is not the exit 1.
    const { log, source } = setup(logLine('start', 'INFO', 0) + quick('a', 10, 1, 500) + spawnerr("can't find command '/a'", 1000) + quick('a', 11, 2, 2000));
    await listing(source, log, 2);
    assert.deepEqual(await source.exitStatuses([query(1, 'a', 'backoff', 1001), query(2, 'a', 'backoff', 2010)]), [undefined, status(2)]);
  });

  it('a group added (or events lost) before the marker, with no end between: the ends after the marker are placed by it', async () => {
    const { log, source } = setup();
    source.breakAfter(0, 50);
    await listing(source, log, 0, undefined, 100);
    log.append(quick('q', 10, 3, 1000));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [status(3)]);
  });

  it('ends never asked about (a gap in their numbers): every cursor forgotten', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('q', 10, 3, 1000) + quick('q', 11, 4, 2000) + quick('q', 12, 5, 3000));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010), query(3, 'q', 'backoff', 3010)]), [status(3), undefined]);
  });

  it('no listing placed by a marker: nothing told (a read in a listing without a marker is not placed)', async () => {
    const { log, source } = setup();
    log.append(quick('q', 10, 3, 1000));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [undefined]);
    await listing(source, log, undefined);
    log.append(quick('q', 11, 4, 2000));
    assert.deepEqual(await source.exitStatuses([query(2, 'q', 'backoff', 2010)]), [undefined]);
  });

  it('a line stamped after the event arrived is not its line', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(quick('q', 10, 3, 5000));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1000)]), [undefined]);
  });

  it('a run\'s end whose spawn line has another pid, or an exited: line for a stop', async () => {
    const { log, source } = setup();
    await listing(source, log, 0);
    log.append(spawned('a', 10, 1000) + exited('a', 'exit status 1', 1100) + spawned('b', 20, 1000) + exited('b', 'exit status 1', 1100));
    assert.deepEqual(await source.exitStatuses([query(1, 'a', 'exited', 1101, 11), query(2, 'b', 'stopped', 1101, 20)]), [undefined, undefined]);
  });

  it('a log without INFO lines (loglevel=warn): unknown, said once; a log that cannot be read: unknown, said once, then its recovery', async () => {
    const warnOnly = setup(logLine('exited: q (exit status 3; not expected)', 'WARN', 10));
    await listing(warnOnly.source, warnOnly.log, 0);
    warnOnly.log.append(exited('q', 'exit status 3', 1000));
    assert.deepEqual(await warnOnly.source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [undefined]);
    assert.deepEqual(warnOnly.said, [
      "supervisord's main log has no INFO lines (loglevel warn or higher writes neither starts nor expected exits): exit statuses it alone has are unknown",
    ]);

    const { log, source, said } = setup();
    log.missing = true;
    const calls = source.snapshotCalls()!;
    await source.snapshotAnswered((await log.multicall(calls)) as unknown[]);
    source.snapshotPlaced({ end: 0, seq: 1 });
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [undefined]);
    log.missing = false;
    await listing(source, log, 1);
    log.append(quick('q', 10, 3, 1000));
    assert.deepEqual(await source.exitStatuses([query(2, 'q', 'backoff', 1010)]), [status(3)]);
    assert.deepEqual(said, ["cannot read supervisord's main log (NO_FILE: syslog: no log file (logfile=syslog, or the file was removed)): exit statuses it alone has are unknown", "supervisord's main log is read again"]);
  });

  it('lines dropped by the bound before their end was asked about: unknown', async () => {
    const { log, source } = setup(undefined, { maxLines: 4 });
    await listing(source, log, 0);
    log.append(quick('q', 10, 3, 1000) + quick('x', 20, 1, 1100) + quick('y', 30, 1, 1200));
    assert.deepEqual(await source.exitStatuses([query(1, 'q', 'backoff', 1010)]), [undefined]);
  });

  it('a long crash loop with a small bound: the lines answered are let go, each end still gets its own line; more lines than the bound in one read: unknown', async () => {
    const { log, source } = setup(undefined, { maxLines: 16 });
    await listing(source, log, 0);
    const answers: ExitAnswer[] = [];
    for (let batch = 0; batch < 120; batch++) {
      const queries: ExitQuery[] = [];
      for (let i = 0; i < 5; i++) {
        const n = batch * 5 + i;
        log.append(quick('loop', 1000 + n, n % 256, 1000 + n * 20));
        queries.push(query(n + 1, 'loop', 'backoff', 1000 + n * 20 + 10));
      }
      answers.push(...(await source.exitStatuses(queries)));
    }
    assert.deepEqual(answers, Array.from({ length: 600 }, (_, n) => status(n % 256)));
    // Ten ends in one read: 20 lines, the oldest dropped before they were answered.
    log.append(Array.from({ length: 10 }, (_, i) => quick('loop', 5000 + i, i, 20_000 + i * 20)).join(''));
    const late = await source.exitStatuses(Array.from({ length: 10 }, (_, i) => query(601 + i, 'loop', 'backoff', 20_000 + i * 20 + 10)));
    assert.deepEqual(late, Array<ExitAnswer>(10).fill(undefined));
  });

  it('past maxNames: the other names are unknown, said once', async () => {
    const { log, source, said } = setup(undefined, { maxNames: 2 });
    await listing(source, log, 0);
    log.append(quick('a', 10, 1, 1000) + quick('b', 11, 2, 1100) + quick('c', 12, 3, 1200) + quick('d', 13, 4, 1300));
    assert.deepEqual(await source.exitStatuses([query(1, 'a', 'backoff', 1010), query(2, 'c', 'backoff', 1210), query(3, 'b', 'backoff', 1110)]), [status(1), undefined, status(2)]);
    assert.deepEqual(said, ["more than 2 process names: exit statuses of the others are not read from supervisord's main log"]);
  });

  it('a batch waits for a listing\'s read under way; a listing finds the reader busy with a batch and carries no read', async () => {
    const { log, source } = setup();
    const calls = source.snapshotCalls()!;
    const batch = source.exitStatuses([query(1, 'q', 'backoff', 1010)]);
    let done = false;
    void batch.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'the batch waits');
    await source.snapshotAnswered((await log.multicall(calls)) as unknown[]);
    assert.deepEqual(await batch, [undefined]);
    const slow = source.exitStatuses([query(2, 'q', 'backoff', 1010)]);
    assert.equal(source.snapshotCalls(), undefined, 'the reader is busy');
    await slow;
  });

  it('options are validated', () => {
    assert.throws(() => new MainLogExitSource({ client: new FakeMainLog(), maxLines: 0 }), { name: 'RangeError', message: 'maxLines must be a positive integer, got 0' });
    assert.throws(() => new MainLogExitSource({ client: new FakeMainLog(), maxNames: 1.5 }), { name: 'RangeError', message: 'maxNames must be a positive integer, got 1.5' });
  });
});

describe('exit-log: spawnerr: lines (the reader\'s spawnErrors option)', () => {
  it('parseSpawnErrorLine: the message and time of a spawnerr: line as 4.2.5 writes it; any other line is none', () => {
    const T = '2026-12-07 00:47:15,906';
    assert.deepEqual(parseSpawnErrorLine(`${T} INFO spawnerr: can't find command '/tmp/flip.sh'`), { message: "can't find command '/tmp/flip.sh'", time: T });
    for (const line of [`${T} INFO spawned: 'a' with pid 1`, `${T} INFO spawnerr: `, `2026-12-07 00:47:15 INFO spawnerr: x`, 'spawnerr: x', '']) {
      assert.equal(parseSpawnErrorLine(line), undefined, line);
    }
  });

  it('reported with their place among the events, only when asked; the events and the exits remembered are the same either way', async () => {
    const text = quick('a', 1, 3, 100) + spawnerr("can't find command '/x'", 200) + quick('a', 2, 4, 300) + spawnerr('command is empty', 400);
    const plainReader = new MainLogReader();
    const plain = await plainReader.read(new FakeMainLog(text));
    assert.equal(plain.spawnErrors, undefined);
    const reader = new MainLogReader({ spawnErrors: true });
    const report = await reader.read(new FakeMainLog(text));
    assert.deepEqual(report.events, plain.events);
    assert.deepEqual(report.spawnErrors?.map((e) => [e.message, e.before]), [["can't find command '/x'", 2], ['command is empty', 4]]);
    assert.deepEqual(reader.lastExit('a'), plainReader.lastExit('a'));
    assert.deepEqual(reader.getState(), plainReader.getState());
  });
});
