/**
 * Per-process resources from /proc without supervisord (`lib/resources/`):
 * the `stat` line parser (a `comm` with spaces and parentheses, truncated and
 * malformed lines), the auxiliary vector, and the reader over a fake /proc
 * root: trees, zombies, pid identity (parent, fork time against the listing
 * and against supervisord's `start`), exits between listing and reading,
 * unreadable entries (another user's, as uid 65534), and nothing exported as
 * 0 that was not read. Then the collector (getPID once, warnings once), the
 * targets that allow it, the key, the flag and the outputs.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';

import { tcpAddress, unixAddress } from '../../protocol/address.js';
import { SupervisordCheck } from '../../lib/check.js';
import { parseArgs, instanceFromOptions, HELP_TEXT, UsageError } from '../../lib/cli/args.js';
import { ConfigError } from '../../lib/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { formatDogStatsD } from '../../lib/outputs/dogstatsd.js';
import { formatText } from '../../lib/outputs/text.js';
import { CounterTotals, formatPrometheus } from '../../lib/outputs/prometheus.js';
import { ResourceCollector, resourcesProblem } from '../../lib/resources/collector.js';
import { countFds, YIELD_EVERY } from '../../lib/resources/proc-scan.js';
import { kernelUnits, parseAuxv, parseProcStat } from '../../lib/resources/proc-stat.js';
import {
  DEFAULT_START_WINDOW,
  PROCESS_CPU_SECONDS,
  PROCESS_MEMORY_RSS,
  PROCESS_OPEN_FDS,
  PROCESS_THREADS,
  readProcessResources,
  TREE_CPU_SECONDS,
  TREE_MEMORY_RSS,
  TREE_OPEN_FDS,
  TREE_PROCESSES,
  TREE_THREADS,
} from '../../lib/resources/read.js';
import type { ReadResourcesOptions, ResourceProcess, ResourceReading } from '../../lib/resources/read.js';
import type { Metric, ServerRun } from '../../lib/types.js';
import { compiledTreeForNobody, envForNobody, NOBODY } from '../helpers/as-nobody.js';
import { fakeProc, statLine } from '../helpers/fake-proc.js';
import type { FakeProc, FakeProcess } from '../helpers/fake-proc.js';
import { promtoolCheck, parseOpenMetrics } from '../helpers/prometheus-text.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('parseProcStat', () => {
  const base: FakeProcess = { pid: 4242, ppid: 7, utime: 150, stime: 25, cutime: 3, cstime: 4, threads: 5, startTicks: 987654, rssPages: 2048 };
  const expected = { pid: 4242, state: 0x53, ppid: 7, utime: 150, stime: 25, cutime: 3, cstime: 4, threads: 5, startTicks: 987654, rssPages: 2048 };
  const good: Array<[string, string, object]> = [
    ['a plain line', statLine(base), expected],
    ['a comm with spaces and parentheses', statLine({ ...base, comm: '(a) b)' }), expected],
    ['a comm that looks like fields', statLine({ ...base, comm: 'x) R 1 2 3' }), expected],
    ['a comm with a line break', statLine({ ...base, comm: 'a\nb' }), expected],
    ['an empty comm', statLine({ ...base, comm: '' }), expected],
    ['a zombie', statLine({ ...base, state: 'Z' }), { ...expected, state: 0x5a }],
    ['a line cut right after rss (field 24)', statLine(base).split(' ').slice(0, 24).join(' '), expected],
    ['a line ending with a newline after rss', `${statLine(base).split(' ').slice(0, 24).join(' ')}\n`, expected],
  ];
  for (const [what, line, fields] of good) {
    it(`reads ${what}`, () => {
      assert.deepEqual(parseProcStat(bytes(line), Buffer.byteLength(line, 'latin1')), fields);
    });
  }

  it('reads only `length` bytes of a reused, longer buffer', () => {
    const line = statLine(base);
    const buffer = Buffer.alloc(4096, 0x39); // 9s after the line would change rss if read
    buffer.write(line.split(' ').slice(0, 24).join(' '), 'latin1');
    assert.deepEqual(parseProcStat(buffer, Buffer.byteLength(line.split(' ').slice(0, 24).join(' '))), expected);
  });

  const bad: Array<[string, string]> = [
    ['an empty file', ''],
    ['no pid', ' (sleep) S 1'],
    ['no parenthesis', '12 sleep S 1 2 3'],
    ['no closing parenthesis', `12 (sleep S ${'1 '.repeat(30)}`],
    ['no state', '12 (sleep)'],
    ['a state of two letters', `12 (sleep) SS ${'1 '.repeat(30)}`],
    ['a line cut before rss', statLine(base).split(' ').slice(0, 23).join(' ')],
    ['a letter in a number', statLine(base).replace(' 150 ', ' 15x ')],
    ['a sign alone', statLine(base).replace(' 150 ', ' - ')],
    ['two spaces between fields', statLine(base).replace(' 150 ', '  150 ')],
  ];
  for (const [what, line] of bad) {
    it(`refuses ${what}`, () => {
      assert.equal(parseProcStat(bytes(line), line.length), undefined);
    });
  }

  it('reads negative fields (tpgid -1) without taking them for others', () => {
    const stat = parseProcStat(bytes(statLine(base)), statLine(base).length);
    assert.equal(stat?.ppid, 7);
  });
});

describe('parseAuxv and kernelUnits', () => {
  /** An auxiliary vector of `pairs` in the given word size and order, ended by AT_NULL. */
  function auxv(pairs: Array<[number, number]>, word: 4 | 8, le: boolean): Buffer {
    const b = Buffer.alloc((pairs.length + 1) * 2 * word);
    [...pairs, [0, 0] as [number, number]].forEach(([t, v], i) => {
      for (const [at, value] of [[i * 2 * word, t], [i * 2 * word + word, v]] as const) {
        if (word === 4) {
          if (le) b.writeUInt32LE(value, at);
          else b.writeUInt32BE(value, at);
        } else if (le) {
          b.writeBigUInt64LE(BigInt(value), at);
        } else {
          b.writeBigUInt64BE(BigInt(value), at);
        }
      }
    });
    return b;
  }
  const cases: Array<[string, 4 | 8, boolean]> = [
    ['64-bit little-endian', 8, true],
    ['64-bit big-endian', 8, false],
    ['32-bit little-endian', 4, true],
    ['32-bit big-endian', 4, false],
  ];
  for (const [what, word, le] of cases) {
    it(`reads AT_CLKTCK and AT_PAGESZ, ${what}`, () => {
      const vector = auxv([[33, 1], [6, 16384], [17, 250], [25, 9]], word, le);
      assert.deepEqual(parseAuxv(vector, word, le), { clockTicks: 250, pageSize: 16384, source: 'auxv' });
    });
  }

  it('says nothing when either is missing, and stops at AT_NULL', () => {
    assert.equal(parseAuxv(auxv([[6, 4096]], 8, true), 8, true), undefined);
    const ended = Buffer.concat([auxv([[6, 4096]], 8, true), auxv([[17, 100]], 8, true)]);
    assert.equal(parseAuxv(ended, 8, true), undefined);
  });

  it("gives this host's sysconf values (getconf)", () => {
    const units = kernelUnits();
    assert.equal(units.source, 'auxv');
    assert.equal(units.clockTicks, Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()));
    assert.equal(units.pageSize, Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
    assert.equal(kernelUnits(), units, 'read once');
  });
});

// ---------------------------------------------------------------------------
// The reader over a fake /proc
// ---------------------------------------------------------------------------

const NOW_MS = 1_700_000_000_000;
const UPTIME = 1000;
const BOOT = NOW_MS / 1000 - UPTIME;
const SUPERVISORD: FakeProcess = {
  pid: 10,
  ppid: 1,
  comm: 'supervisord',
  startTicks: 500,
  cmdline: '/usr/bin/python3\0/usr/bin/supervisord\0-c\0/etc/supervisor/supervisord.conf',
};
/** Start ticks of a process that supervisord says started at epoch `start`: forked 0.3 s into that second. */
const ticksOf = (start: number): number => Math.round((start - BOOT + 0.3) * 100);
const START = BOOT + 600; // a whole second: 10 minutes after boot

/** Options of a read over the fake root, with a listing just made. */
function opts(root: string, extra: Partial<ReadResourcesOptions> = {}): ReadResourcesOptions {
  return { supervisordPid: 10, procRoot: root, clockTicks: 100, pageSize: 4096, now: () => NOW_MS, instanceTags: ['env:t', 'supervisord_server:s'], ...extra };
}

function valuesOf(reading: ResourceReading, process: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of reading.metrics) if (m.tags.includes(`supervisord_process:${process}`)) out[m.name] = m.value;
  return out;
}

const proc = (name: string, pid: number, start = START, group = name): ResourceProcess => ({ name, group, pid, start });

describe('readProcessResources over a fake /proc', () => {
  let fake: FakeProc;
  before(() => {
    fake = fakeProc(UPTIME);
    fake.add(SUPERVISORD);
    fake.add({ pid: 1, ppid: 0, comm: 'init', startTicks: 1 });
    // web: a shell (100) with two workers (101, 102), 101 with a child of its own (103) and a zombie (104).
    fake.add({ pid: 100, ppid: 10, comm: 'sh', startTicks: ticksOf(START), utime: 100, stime: 50, cutime: 7, cstime: 3, rssPages: 200, fds: 4 });
    fake.add({ pid: 101, ppid: 100, comm: 'gunicorn: worker', startTicks: ticksOf(START) + 5, utime: 1000, stime: 200, threads: 4, rssPages: 5000, fds: 10 });
    fake.add({ pid: 102, ppid: 100, comm: 'gunicorn: worker', startTicks: ticksOf(START) + 6, utime: 900, stime: 100, threads: 4, rssPages: 4000, fds: 9 });
    fake.add({ pid: 103, ppid: 101, comm: '(a) b)', startTicks: ticksOf(START) + 40, utime: 10, rssPages: 300, fds: 2 });
    fake.add({ pid: 104, ppid: 100, comm: 'done', state: 'Z', startTicks: ticksOf(START) + 50, utime: 60, stime: 40, rssPages: 0, fds: 'none' });
    // Unrelated: not supervisord's.
    fake.add({ pid: 200, ppid: 1, comm: 'cron', startTicks: 100 });
    fake.add({ pid: 201, ppid: 200, comm: 'job', startTicks: ticksOf(START) });
  });
  after(() => fake.remove());

  it('reports a process and its tree: the tree sums the live descendants, a zombie only for its CPU', async () => {
    const reading = await readProcessResources([proc('web', 100)], opts(fake.root));
    assert.deepEqual(reading.warnings, []);
    assert.deepEqual(reading.counts, { read: 1, gone: 0, mismatched: 0 });
    assert.deepEqual(reading.supervisord, { ok: true, startTicks: 500 });
    assert.deepEqual(valuesOf(reading, 'web'), {
      [PROCESS_CPU_SECONDS]: 1.5,
      [PROCESS_MEMORY_RSS]: 200 * 4096,
      [PROCESS_OPEN_FDS]: 4,
      [PROCESS_THREADS]: 1,
      // 100+50+7+3 (the shell with what it reaped) + 1200 + 1000 + 10 + 100 (the zombie)
      [TREE_CPU_SECONDS]: 24.7,
      [TREE_MEMORY_RSS]: (200 + 5000 + 4000 + 300) * 4096,
      [TREE_OPEN_FDS]: 4 + 10 + 9 + 2,
      [TREE_THREADS]: 1 + 4 + 4 + 1,
      [TREE_PROCESSES]: 4,
    });
    const types = new Map(reading.metrics.map((m) => [m.name, m.type]));
    assert.equal(types.get(PROCESS_CPU_SECONDS), 'monotonic_count');
    assert.equal(types.get(TREE_CPU_SECONDS), 'monotonic_count');
    assert.equal(types.get(PROCESS_MEMORY_RSS), 'gauge');
    for (const m of reading.metrics) assert.deepEqual(m.tags, ['env:t', 'supervisord_server:s', 'supervisord_process:web', 'supervisord_group:web']);
    assert.notEqual(reading.metrics[0]!.tags, reading.metrics[1]!.tags, 'each metric has its own tag array');
  });

  it('keeps the order given and skips processes without a pid', async () => {
    fake.add({ pid: 110, ppid: 10, startTicks: ticksOf(START) });
    const reading = await readProcessResources([proc('b', 110, START, 'g'), proc('idle', 0), proc('web', 100)], opts(fake.root));
    assert.deepEqual(
      [...new Set(reading.metrics.map((m) => m.tags.at(-2)))],
      ['supervisord_process:b', 'supervisord_process:web'],
    );
    assert.deepEqual(reading.counts, { read: 2, gone: 0, mismatched: 0 });
  });

  const skipped: Array<[string, () => ResourceProcess, Partial<ReadResourcesOptions>, 'gone' | 'mismatched']> = [
    ['a pid that no longer exists (exited between listing and reading)', () => proc('gone', 999), {}, 'gone'],
    ['a zombie (exited, not reaped yet)', () => proc('z', 104), {}, 'gone'],
    ["a pid that is not supervisord's child (reused by another program)", () => proc('cron', 201), {}, 'mismatched'],
    ['a fork more than 2 s after supervisord\'s start, without a listing time', () => proc('late', 100, START - 3), {}, 'mismatched'],
    ['a fork before supervisord\'s start, without a listing time', () => proc('early', 100, START + 1), {}, 'mismatched'],
    ['a fork after the listing (the pid was reused since)', () => proc('web', 100), { listedAt: performance.now() - 600_000 }, 'mismatched'],
  ];
  for (const [what, p, extra, counted] of skipped) {
    it(`skips ${what}, with no metric and no warning`, async () => {
      const reading = await readProcessResources([p()], opts(fake.root, extra));
      assert.deepEqual(reading.metrics, []);
      assert.deepEqual(reading.warnings, []);
      assert.equal(reading.counts[counted], 1);
    });
  }

  it(`accepts supervisord's start within ${DEFAULT_START_WINDOW.before} s before and ${DEFAULT_START_WINDOW.after} s after the fork`, async () => {
    // Forked at START + 0.3: supervisord's start may be START (the usual case) down to START - 1.7.
    for (const start of [START, START - 1, START - 1.69, START + 0.79]) {
      const reading = await readProcessResources([proc('web', 100, start)], opts(fake.root));
      assert.equal(reading.counts.read, 1, `start ${start - START}`);
    }
    for (const start of [START - 1.72, START + 0.82]) {
      const reading = await readProcessResources([proc('web', 100, start)], opts(fake.root));
      assert.equal(reading.counts.mismatched, 1, `start ${start - START}`);
    }
  });

  it('with a listing time, reports a process whose start disagrees (the clock was set) and says so', async () => {
    const reading = await readProcessResources([proc('web', 100, START + 30)], opts(fake.root, { listedAt: performance.now() }));
    assert.equal(reading.counts.read, 1);
    assert.deepEqual(reading.warnings, [
      `supervisord's start time of web (-29.7 s) differs from the fork time in ${fake.root}: the wall clock was set since they started, so their uptime is off by as much; their resources are reported`,
    ]);
  });

  it('names a group:name in warnings when the group has another name', async () => {
    const reading = await readProcessResources([proc('front', 100, START - 40, 'web')], opts(fake.root, { listedAt: performance.now() }));
    assert.match(reading.warnings[0]!, /start time of web:front \(\+40\.3 s\)/);
  });
});

describe('readProcessResources: what cannot be read is absent and said, the rest reported', () => {
  let fake: FakeProc;
  before(() => {
    fake = fakeProc(UPTIME);
    fake.add(SUPERVISORD);
    fake.add({ pid: 300, ppid: 10, startTicks: ticksOf(START), fds: 'file' });
    fake.add({ pid: 310, ppid: 10, startTicks: ticksOf(START), fds: 2 });
    fake.add({ pid: 311, ppid: 310, startTicks: ticksOf(START), fds: 'file' });
    fake.add({ pid: 340, ppid: 10, startTicks: ticksOf(START), fds: 'none' });
    fake.add({ pid: 350, ppid: 10, startTicks: ticksOf(START), stat: 'none' });
  });
  after(() => fake.remove());

  it("a process whose descriptors cannot be counted has no open_fds (nor its tree), the rest is there", async () => {
    const reading = await readProcessResources([proc('a', 300)], opts(fake.root));
    const values = valuesOf(reading, 'a');
    assert.deepEqual(Object.keys(values).sort(), [PROCESS_CPU_SECONDS, PROCESS_MEMORY_RSS, PROCESS_THREADS, TREE_CPU_SECONDS, TREE_MEMORY_RSS, TREE_PROCESSES, TREE_THREADS].sort());
    assert.deepEqual(reading.warnings, [
      `the open descriptors of a (${fake.root}/300/fd: ENOTDIR) cannot be counted: that needs the same user as the process or root; their other resources are reported`,
    ]);
  });

  it("a tree with a member whose descriptors cannot be counted has no tree.open_fds; the process keeps its own", async () => {
    const reading = await readProcessResources([proc('b', 310)], opts(fake.root));
    const values = valuesOf(reading, 'b');
    assert.equal(values[PROCESS_OPEN_FDS], 2);
    assert.equal(values[TREE_OPEN_FDS], undefined);
    assert.equal(values[TREE_PROCESSES], 2);
    assert.match(reading.warnings[0]!, new RegExp(`^the open descriptors of the tree of b \\(${fake.root}/311/fd: ENOTDIR\\) cannot be counted`));
  });

  it('an unreadable or malformed stat gives nothing for its process and a warning naming it', async () => {
    const bad = fakeProc(UPTIME);
    try {
      bad.add(SUPERVISORD);
      bad.add({ pid: 320, ppid: 10, startTicks: ticksOf(START), stat: 'dir' });
      bad.add({ pid: 330, ppid: 10, startTicks: ticksOf(START), stat: 'garbage' });
      bad.add({ pid: 310, ppid: 10, startTicks: ticksOf(START) });
      const reading = await readProcessResources([proc('c', 320), proc('d', 330), proc('ok', 310)], opts(bad.root));
      assert.deepEqual([...new Set(reading.metrics.map((m) => m.tags.at(-2)))], ['supervisord_process:ok']);
      assert.equal(reading.warnings.length, 2);
      assert.equal(reading.warnings[0], `the resources of c (${bad.root}/320/stat: EISDIR), d (${bad.root}/330/stat: EBADMSG) cannot be read: their /proc entries belong to another user and ${bad.root} hides them (hidepid); run as that user or root`);
      assert.match(reading.warnings[1]!, /^2 process\(es\) of .* cannot be read \(pid (320: EISDIR|330: EBADMSG)\): a process tree that holds one of them lacks it$/);
    } finally {
      bad.remove();
    }
  });

  it('a process that exits between the scan and its descriptors (no fd directory) is skipped whole', async () => {
    const reading = await readProcessResources([proc('e', 340)], opts(fake.root));
    assert.deepEqual(reading.metrics, []);
    assert.deepEqual(reading.counts, { read: 0, gone: 1, mismatched: 0 });
  });

  it('a pid directory without stat (going away) is gone, not unreadable', async () => {
    const reading = await readProcessResources([proc('f', 350)], opts(fake.root));
    assert.deepEqual(reading.counts, { read: 0, gone: 1, mismatched: 0 });
  });

  it('names three processes and counts the others', async () => {
    for (let pid = 360; pid < 366; pid++) fake.add({ pid, ppid: 10, startTicks: ticksOf(START), fds: 'file' });
    const reading = await readProcessResources(Array.from({ length: 6 }, (_, i) => proc(`p${i}`, 360 + i)), opts(fake.root));
    assert.match(reading.warnings[0]!, /^the open descriptors of p0 \(.*\), p1 \(.*\), p2 \(.*\) and 3 more cannot be counted/);
    assert.equal(reading.metrics.filter((m) => m.name === PROCESS_OPEN_FDS).length, 0, 'never a 0 for what was not read');
  });
});

describe('readProcessResources: supervisord must be a supervisord of this /proc', () => {
  let fake: FakeProc;
  before(() => {
    fake = fakeProc(UPTIME);
    fake.add(SUPERVISORD);
    fake.add({ pid: 1, ppid: 0, comm: 'systemd', startTicks: 1, cmdline: '/sbin/init' });
    fake.add({ pid: 20, ppid: 1, comm: 'x', startTicks: 5, stat: 'dir' });
    fake.add({ pid: 100, ppid: 1, startTicks: ticksOf(START) });
  });
  after(() => fake.remove());

  const failures: Array<[string, number, (root: string) => string]> = [
    ['a pid of another namespace that is another program here', 1, (r) => `resources are not collected: supervisord's pid 1 (supervisor.getPID) is "/sbin/init" in this host's ${r}, not a supervisord: supervisord runs in another pid namespace (a container?) or on another host`],
    ['a pid absent here', 77, (r) => `resources are not collected: supervisord's pid 77 (supervisor.getPID) is not in this host's ${r}: supervisord runs in another pid namespace (a container?) or on another host, or ${r} hides it (hidepid)`],
    ['an unreadable pid', 20, (r) => `resources are not collected: supervisord's pid 20 (supervisor.getPID): ${r}/20/stat cannot be read (EISDIR)`],
    ['not a pid', 0, () => "resources are not collected: supervisord's pid 0 (supervisor.getPID) is not a process id"],
  ];
  for (const [what, pid, message] of failures) {
    it(`refuses ${what}, reading nothing`, async () => {
      // pid 100 is pid 1's child here: read against pid 1, it would be misattributed.
      const reading = await readProcessResources([proc('web', 100)], opts(fake.root, { supervisordPid: pid }));
      assert.deepEqual(reading.metrics, []);
      assert.deepEqual(reading.warnings, [message(fake.root)]);
      assert.deepEqual(reading.supervisord, { ok: false, changed: false });
    });
  }

  it('knows supervisord by an argument that runs it, not by the word anywhere', async () => {
    fake.add({ pid: 30, ppid: 1, startTicks: 5, cmdline: 'node\0/home/u/supervisord-check/dist/test/lib/x.js' });
    fake.add({ pid: 31, ppid: 1, startTicks: 5, cmdline: '/usr/bin/python3\0-m\0supervisor.supervisord\0-n' });
    fake.add({ pid: 32, ppid: 1, startTicks: 5, cmdline: '/usr/local/bin/supervisord' });
    const refused = await readProcessResources([], opts(fake.root, { supervisordPid: 30 }));
    assert.deepEqual(refused.warnings, [
      `resources are not collected: supervisord's pid 30 (supervisor.getPID) is "node /home/u/supervisord-check/dist/test/lib/x.js" in this host's ${fake.root}, not a supervisord: supervisord runs in another pid namespace (a container?) or on another host`,
    ]);
    for (const pid of [31, 32]) assert.equal((await readProcessResources([], opts(fake.root, { supervisordPid: pid }))).supervisord.ok, true);
  });

  it('says why when its command line cannot be read', async () => {
    fake.add({ pid: 33, ppid: 1, startTicks: 5 });
    execFileSync('rm', [join(fake.root, '33', 'cmdline')]);
    fake.add({ pid: 34, ppid: 1, startTicks: 5 });
    execFileSync('rm', [join(fake.root, '34', 'cmdline')]);
    mkdirSync(join(fake.root, '34', 'cmdline'));
    assert.deepEqual((await readProcessResources([], opts(fake.root, { supervisordPid: 33 }))).warnings, [
      "resources are not collected: supervisord's pid 33 (supervisor.getPID) exited while it was read",
    ]);
    assert.deepEqual((await readProcessResources([], opts(fake.root, { supervisordPid: 34 }))).warnings, [
      `resources are not collected: supervisord's pid 34 (supervisor.getPID): ${fake.root}/34/cmdline cannot be read (EISDIR)`,
    ]);
  });

  it('says changed, without a warning, when supervisord\'s pid has another start than before', async () => {
    const reading = await readProcessResources([], opts(fake.root, { supervisordStartTicks: 499 }));
    assert.deepEqual(reading, { metrics: [], warnings: [], supervisord: { ok: false, changed: true }, counts: { read: 0, gone: 0, mismatched: 0 } });
  });

  it('needs /proc/uptime', async () => {
    const bare = fakeProc(UPTIME);
    try {
      bare.add(SUPERVISORD);
      writeFileSync(join(bare.root, 'uptime'), 'soon\n');
      const garbled = await readProcessResources([], opts(bare.root));
      assert.deepEqual(garbled.warnings, [`resources are not collected: ${bare.root}/uptime cannot be read (EBADMSG)`]);
      execFileSync('rm', [join(bare.root, 'uptime')]);
      const missing = await readProcessResources([], opts(bare.root));
      assert.deepEqual(missing.warnings, [`resources are not collected: ${bare.root}/uptime cannot be read (ENOENT)`]);
    } finally {
      bare.remove();
    }
  });
});

describe('readProcessResources over more entries than one slice between yields', () => {
  it(`reads ${YIELD_EVERY + 5} processes, yielding to the event loop on the way`, async () => {
    const fake = fakeProc(UPTIME);
    try {
      fake.add(SUPERVISORD);
      const processes: ResourceProcess[] = [];
      for (let i = 0; i < YIELD_EVERY + 5; i++) {
        fake.add({ pid: 1000 + i, ppid: 10, startTicks: ticksOf(START), fds: 0 });
        processes.push(proc(`p${i}`, 1000 + i));
      }
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      const reading = await readProcessResources(processes, opts(fake.root));
      clearInterval(timer);
      assert.equal(reading.counts.read, YIELD_EVERY + 5);
      // 0 descriptors, confirmed by listing: a real 0, reported.
      assert.equal(reading.metrics.filter((m) => m.name === PROCESS_OPEN_FDS && m.value === 0).length, YIELD_EVERY + 5);
      assert.ok(ticks > 0, 'the event loop ran during the read');
    } finally {
      fake.remove();
    }
  });
});

describe("readProcessResources as another user (uid 65534): what root's files refuse", { skip: process.getuid?.() !== 0 ? 'needs root to run a child as nobody' : false }, () => {
  let fake: FakeProc;
  let tree: ReturnType<typeof compiledTreeForNobody>;
  before(() => {
    tree = compiledTreeForNobody();
    fake = fakeProc(UPTIME);
    fake.add(SUPERVISORD);
    fake.add({ pid: 100, ppid: 10, startTicks: ticksOf(START), fds: 3 });
    fake.add({ pid: 101, ppid: 10, startTicks: ticksOf(START), fds: 3 });
    chmodSync(join(fake.root, '101', 'fd'), 0o700); // root's, like another user's /proc/<pid>/fd
    mkdirSync(join(fake.root, '102'));
    writeFileSync(join(fake.root, '102', 'stat'), statLine({ pid: 102, ppid: 10, startTicks: ticksOf(START) }), { mode: 0o600 });
  });
  after(() => {
    fake.remove();
    tree.remove();
  });

  function readAsNobody(processes: ResourceProcess[], root: string): Promise<ResourceReading> {
    const code = `
      const { readProcessResources } = await import(${JSON.stringify(tree.file('lib/resources/read.js'))});
      const r = await readProcessResources(${JSON.stringify(processes)}, { supervisordPid: 10, procRoot: ${JSON.stringify(root)}, clockTicks: 100, pageSize: 4096, now: () => ${NOW_MS} });
      process.stdout.write(JSON.stringify(r));`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], { ...NOBODY, env: envForNobody(), cwd: tree.root, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (status) => (status === 0 ? resolve(JSON.parse(out) as ResourceReading) : reject(new Error(`child exited ${status}: ${err}`))));
    });
  }

  it('EACCES on descriptors: a warning naming the process and the need; CPU, memory and threads still reported', async () => {
    const reading = await readAsNobody([proc('mine', 100), proc('theirs', 101)], fake.root);
    assert.equal(valuesOf(reading, 'mine')[PROCESS_OPEN_FDS], 3);
    const theirs = valuesOf(reading, 'theirs');
    assert.equal(theirs[PROCESS_OPEN_FDS], undefined);
    assert.equal(theirs[PROCESS_MEMORY_RSS], 100 * 4096);
    assert.equal(theirs[PROCESS_CPU_SECONDS], 0);
    assert.deepEqual(reading.warnings, [
      `the open descriptors of theirs (${fake.root}/101/fd: EACCES) cannot be counted: that needs the same user as the process or root; their other resources are reported`,
      `1 process(es) of ${fake.root} cannot be read (pid 102: EACCES): a process tree that holds one of them lacks it`,
    ]);
  });

  it('EACCES on a stat: the process is named, nothing of it exported', async () => {
    const reading = await readAsNobody([proc('hidden', 102)], fake.root);
    assert.deepEqual(reading.metrics, []);
    assert.match(reading.warnings[0]!, new RegExp(`^the resources of hidden \\(${fake.root}/102/stat: EACCES\\) cannot be read`));
  });

  it('a /proc that cannot be listed: one warning, nothing read', async () => {
    chmodSync(fake.root, 0o711);
    try {
      const reading = await readAsNobody([proc('mine', 100)], fake.root);
      assert.deepEqual(reading.metrics, []);
      assert.deepEqual(reading.warnings, [`resources are not collected: ${fake.root} cannot be listed (EACCES)`]);
    } finally {
      chmodSync(fake.root, 0o755);
    }
  });
});

describe('countFds on the real /proc', () => {
  it('counts this process\'s descriptors as listing them does (stat size on Linux 6.2+)', () => {
    const counted = countFds('/proc', process.pid);
    // Listing opens one more descriptor, the directory's own, while it lists.
    const listed = readdirSync(`/proc/${process.pid}/fd`).length;
    assert.ok(counted === listed || counted === listed - 1, `${String(counted)} vs ${listed}`);
    assert.equal(countFds('/proc', 0x7ffffffe), 'gone');
  });
});

// ---------------------------------------------------------------------------
// The collector: getPID once, warnings once
// ---------------------------------------------------------------------------

describe('ResourceCollector', () => {
  let fake: FakeProc;
  before(() => {
    fake = fakeProc(UPTIME);
    fake.add(SUPERVISORD);
    fake.add({ pid: 1, ppid: 0, comm: 'systemd', startTicks: 1, cmdline: '/sbin/init' });
    fake.add({ pid: 100, ppid: 10, startTicks: ticksOf(START), fds: 'file' });
  });
  after(() => fake.remove());

  const collector = (): ResourceCollector =>
    new ResourceCollector({ instanceTags: ['supervisord_server:s'], read: { procRoot: fake.root, clockTicks: 100, pageSize: 4096, now: () => NOW_MS } });
  const counted = (answer: () => Promise<unknown>): { getPid: () => Promise<unknown>; calls: () => number } => {
    let n = 0;
    return { getPid: () => (n++, answer()), calls: () => n };
  };

  it('asks supervisord its pid once, and says a warning once, again when it changes', async () => {
    const c = collector();
    const pid = counted(async () => 10);
    const first = await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() });
    assert.equal(first.metrics.length, 7);
    assert.equal(first.warnings.length, 1);
    const second = await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() });
    assert.equal(second.metrics.length, 7);
    assert.deepEqual(second.warnings, [], 'said once');
    assert.equal(pid.calls(), 1);
    fake.add({ pid: 100, ppid: 10, startTicks: ticksOf(START), fds: 1 });
    assert.deepEqual((await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() })).warnings, []);
    fake.add({ pid: 100, ppid: 10, startTicks: ticksOf(START), fds: 'file' });
    assert.equal((await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() })).warnings.length, 1, 'back: said again');
  });

  it("serves an event listener too: supervisord's pid is its parent's, and without a listing time the start decides", async () => {
    const c = collector();
    const listener = { getPid: async (): Promise<unknown> => 10 };
    assert.equal((await c.collect([proc('web', 100)], listener)).metrics.length, 7);
    assert.deepEqual((await c.collect([proc('web', 100, START - 60)], listener)).metrics, [], 'a start a minute off: not this process');
  });

  it('asks again at once when supervisord was restarted (its pid has another start, or is gone)', async () => {
    const c = collector();
    const pid = counted(async () => 10);
    await c.collect([], { getPid: pid.getPid, listedAt: performance.now() });
    fake.add({ ...SUPERVISORD, startTicks: 600 });
    const after = await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() });
    assert.equal(pid.calls(), 2);
    assert.equal(after.metrics.length, 7);
    fake.add({ ...SUPERVISORD, pid: 11 });
    execFileSync('rm', ['-r', join(fake.root, '10')]);
    const moved = counted(async () => 11);
    const gone = await c.collect([], { getPid: moved.getPid, listedAt: performance.now() });
    assert.equal(moved.calls(), 1);
    assert.deepEqual(gone.warnings, []);
    fake.add(SUPERVISORD);
  });

  const failures: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['getPID fails', () => Promise.reject(new Error('no complete answer within 5 ms')), /^resources are not collected this run: supervisor\.getPID failed: no complete answer within 5 ms$/],
    ['getPID answers something else than a pid', async () => 'x', /^resources are not collected: supervisor\.getPID did not answer a process id$/],
    ['getPID answers a pid of another namespace', async () => 1n, /^resources are not collected: supervisord's pid 1 \(supervisor\.getPID\) is "\/sbin\/init"/],
  ];
  for (const [what, answer, message] of failures) {
    it(`reads nothing when ${what}, and asks again next time`, async () => {
      const c = collector();
      const pid = counted(answer);
      const first = await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() });
      assert.deepEqual(first.metrics, []);
      assert.equal(first.warnings.length, 1);
      assert.match(first.warnings[0]!, message);
      const second = await c.collect([proc('web', 100)], { getPid: pid.getPid, listedAt: performance.now() });
      assert.deepEqual(second.warnings, []);
      assert.equal(pid.calls(), 2);
    });
  }
});

// ---------------------------------------------------------------------------
// Which targets, the key, the flag
// ---------------------------------------------------------------------------

describe('resourcesProblem: supervisord must be on this host', () => {
  const local = [unixAddress('/run/supervisor.sock'), ...['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST.', 'sv.localhost', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '0.0.0.0', '::'].map((h) => tcpAddress(h, 9001))];
  for (const address of local) {
    it(`accepts ${address.display}`, () => assert.equal(resourcesProblem(address, 'linux'), undefined));
  }
  for (const host of ['10.0.0.5', '128.0.0.1', 'sv1.example.com', 'localhost.example.com', '::2', '::ffff:10.0.0.1', '0.0.0.1']) {
    it(`refuses ${host}`, () => {
      const address = tcpAddress(host, 9001);
      assert.equal(
        resourcesProblem(address, 'linux'),
        `'collect_resources' needs supervisord on this host (a unix socket or a loopback address such as 127.0.0.1), and ${address.display} is not one: resources are not collected`,
      );
    });
  }
  it('refuses a host without /proc', () => {
    assert.equal(resourcesProblem(unixAddress('/s.sock'), 'darwin'), "'collect_resources' reads Linux's /proc, and this host runs darwin: resources are not collected");
  });
});

describe("the 'collect_resources' key", () => {
  it('is off by default, on for a socket, off with a warning for another host', () => {
    assert.equal(resolveConfig({ name: 'a' }).config.collectResources, false);
    assert.equal(resolveConfig({ name: 'a', socket: 'unix:///s.sock', collect_resources: true }).config.collectResources, true);
    assert.equal(resolveConfig({ name: 'a', collect_resources: false }).config.collectResources, false);
    const remote = resolveConfig({ name: 'a', host: '10.0.0.5', collect_resources: true });
    assert.equal(remote.config.collectResources, false);
    assert.deepEqual(remote.warnings, [
      "'collect_resources' needs supervisord on this host (a unix socket or a loopback address such as 127.0.0.1), and http://10.0.0.5:9001/RPC2 is not one: resources are not collected",
    ]);
  });

  it('must be a boolean', () => {
    assert.throws(
      () => resolveConfig({ name: 'a', collect_resources: 'yes' } as never),
      (e: unknown) => e instanceof ConfigError && e.code === 'ERR_CONFIG' && e.key === 'collect_resources' && e.message === "'collect_resources' should be true or false, got 'yes'",
    );
  });
});

describe('--resources', () => {
  it('sets collect_resources, takes no value, and belongs to the instance flags', () => {
    const options = parseArgs(['--socket', '/s.sock', '--resources']);
    assert.equal(options.resources, true);
    assert.equal(instanceFromOptions(options, { socket: 'unix:///s.sock', display: 'unix:///s.sock' }, undefined).collect_resources, true);
    assert.equal('collect_resources' in instanceFromOptions(parseArgs([]), { socket: 'unix:///s.sock', display: '' }, undefined), false);
    for (const [argv, message] of [
      [['--resources=yes'], '--resources takes no value'],
      [['--resources', '--config', 'c.json'], '--config cannot be combined with --resources: the instances in the file describe the servers'],
    ] as const) {
      assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && e.code === 'ERR_USAGE' && e.message === message);
    }
    assert.match(HELP_TEXT, /--resources +also each running process's CPU time/);
  });
});

// ---------------------------------------------------------------------------
// The check and the outputs
// ---------------------------------------------------------------------------

describe('the check with collect_resources against the emulator (its pids are not real)', () => {
  it("says once that getPID's answer is no supervisord here, and reports the rest of the run", async () => {
    const now = Math.floor(Date.now() / 1000);
    const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web', statename: 'RUNNING', start: now - 10, pid: 4321 }, now)] });
    const check = new SupervisordCheck({ name: 'e', url: emulator.url, collect_resources: true });
    try {
      const first = await check.run();
      assert.deepEqual(first.errors, []);
      assert.equal(first.warnings.length, 1);
      assert.match(first.warnings[0]!, new RegExp(`^resources are not collected: supervisord's pid ${process.pid} \\(supervisor\\.getPID\\) is ".*node.*" in this host's /proc, not a supervisord`));
      assert.equal(first.metrics.some((m) => m.name.startsWith('supervisord.process.tree')), false);
      const second = await check.run();
      assert.deepEqual(second.warnings, []);
      assert.equal(emulator.stats.calls['supervisor.getPID'], 2, 'asked again after a failure');
    } finally {
      await check.close();
      await emulator.close();
    }
  });

  it('gives up getPID at the run\'s deadline', async () => {
    const now = Math.floor(Date.now() / 1000);
    const list = [makeProcess({ name: 'web', statename: 'RUNNING', start: now - 10, pid: 4321 }, now)];
    const client = {
      call: (method: string): Promise<unknown> =>
        method === 'supervisor.getPID'
          ? new Promise(() => {})
          : Promise.resolve(method === 'supervisor.getAllProcessInfo' ? list : method === 'supervisor.getState' ? { statecode: 1, statename: 'RUNNING' } : '4.2.5'),
      close: async (): Promise<void> => {},
    };
    const check = new SupervisordCheck({ name: 'e', socket: 'unix:///nowhere.sock', collect_resources: true, timeout: 0.3 }, { client });
    const result = await check.run();
    assert.deepEqual(result.errors, []);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!, /^resources are not collected this run: supervisor\.getPID failed: (no complete answer from unix:\/\/\/nowhere\.sock within \d+ ms|the run's 'timeout' \(0\.3 s\) has expired)$/);
    await check.close();
  });
});

describe('the outputs of resource metrics', () => {
  const tags = ['supervisord_server:s', 'supervisord_process:web', 'supervisord_group:web'];
  const metrics: Metric[] = [
    { name: PROCESS_CPU_SECONDS, type: 'monotonic_count', value: 12.34, tags },
    { name: PROCESS_MEMORY_RSS, type: 'gauge', value: 209715200, tags },
    { name: PROCESS_OPEN_FDS, type: 'gauge', value: 4, tags },
    { name: PROCESS_THREADS, type: 'gauge', value: 1, tags },
    { name: TREE_CPU_SECONDS, type: 'monotonic_count', value: 20.5, tags },
    { name: TREE_MEMORY_RSS, type: 'gauge', value: 309715200, tags },
    { name: TREE_OPEN_FDS, type: 'gauge', value: 12, tags },
    { name: TREE_THREADS, type: 'gauge', value: 3, tags },
    { name: TREE_PROCESSES, type: 'gauge', value: 3, tags },
  ];
  const run: ServerRun = { name: 's', target: 'unix:///s.sock', tags: ['supervisord_server:s'], result: { metrics, serviceChecks: [], metadata: {}, warnings: [], errors: [] } };
  const labels = '{supervisord_server="s",supervisord_process="web",supervisord_group="web"}';

  it('Prometheus: lint-clean names with units, CPU as counters holding the value read (never accumulated)', async (t) => {
    const counters = new CounterTotals();
    formatPrometheus([run], { counters });
    const text = formatPrometheus([run], { counters });
    for (const line of [
      '# TYPE supervisord_process_cpu_seconds_total counter',
      `supervisord_process_cpu_seconds_total${labels} 12.34`,
      `supervisord_process_resident_memory_bytes${labels} 209715200`,
      `supervisord_process_open_fds${labels} 4`,
      `supervisord_process_threads${labels} 1`,
      '# TYPE supervisord_process_tree_cpu_seconds_total counter',
      `supervisord_process_tree_cpu_seconds_total${labels} 20.5`,
      `supervisord_process_tree_resident_memory_bytes${labels} 309715200`,
      `supervisord_process_tree_open_fds${labels} 12`,
      `supervisord_process_tree_threads${labels} 3`,
      `supervisord_process_tree_processes${labels} 3`,
    ]) {
      assert.ok(text.split('\n').includes(line), `missing ${line} in\n${text}`);
    }
    const checked = await promtoolCheck(text);
    if (checked === null) t.diagnostic('promtool is not installed');
    else assert.deepEqual(checked, { code: 0, output: '' });
    const om = parseOpenMetrics(formatPrometheus([run], { format: 'openmetrics' }));
    assert.equal(om.get('supervisord_process_cpu_seconds')?.type, 'counter');
    assert.equal(om.get('supervisord_process_cpu_seconds')?.unit, 'seconds');
    assert.equal(om.get('supervisord_process_resident_memory_bytes')?.unit, 'bytes');
    assert.equal(om.get('supervisord_process_tree_resident_memory_bytes')?.unit, 'bytes');
  });

  it('Prometheus: a running total the table does not know becomes <name>_total, as read', () => {
    const unknown: ServerRun = { ...run, result: { ...run.result, metrics: [{ name: 'x.y', type: 'monotonic_count', value: 5, tags: [] }, { name: 'z_total', type: 'monotonic_count', value: 6, tags: [] }] } };
    const text = formatPrometheus([unknown], { counters: new CounterTotals() });
    assert.match(text, /# TYPE x_y_total counter\nx_y_total 5\n/);
    assert.match(text, /# HELP z_total Datadog monotonic count z_total of the supervisord check \(a running total\)\.\n# TYPE z_total counter\nz_total 6\n/);
  });

  it('DogStatsD: running totals as the gauges they read, the rest gauges', () => {
    const lines = formatDogStatsD([run]);
    assert.equal(lines[0], 'supervisord.process.cpu_seconds:12.34|g|#supervisord_server:s,supervisord_process:web,supervisord_group:web');
    assert.equal(lines[5], 'supervisord.process.tree.memory.rss:309715200|g|#supervisord_server:s,supervisord_process:web,supervisord_group:web');
    assert.equal(lines.length, 9);
  });
});

describe('the text table with resources', () => {
  const t = (name: string): string[] => ['supervisord_server:s', `supervisord_process:${name}`, `supervisord_group:${name}`];
  const processes = ['web', 'big', 'huge', 'idle'].map((name) => ({ name, group: name, statename: name === 'idle' ? 'STOPPED' : 'RUNNING', status: name === 'idle' ? ('down' as const) : ('up' as const), uptime: name === 'idle' ? 0 : 5, description: '' }));
  const metrics: Metric[] = [
    { name: TREE_CPU_SECONDS, type: 'monotonic_count', value: 12.34, tags: t('web') },
    { name: TREE_MEMORY_RSS, type: 'gauge', value: 512, tags: t('web') },
    { name: TREE_CPU_SECONDS, type: 'monotonic_count', value: 3725, tags: t('big') },
    { name: TREE_MEMORY_RSS, type: 'gauge', value: 210 * 1024 * 1024, tags: t('big') },
    { name: TREE_MEMORY_RSS, type: 'gauge', value: 1.5 * 1024 ** 3, tags: t('huge') },
  ];
  const run = (m: Metric[]): ServerRun => ({ name: 's', target: 'unix:///s.sock', tags: ['supervisord_server:s'], result: { metrics: m, serviceChecks: [], metadata: {}, warnings: [], errors: [], processes } });

  it('adds CPU and MEM of each process tree, - where not read', () => {
    const lines = formatText([run(metrics)]).split('\n');
    assert.deepEqual(lines.slice(0, 5).map((l) => l.split(/ {2,}/)), [
      ['PROCESS', 'GROUP', 'STATE', 'STATUS', 'UPTIME', 'CPU', 'MEM'],
      ['web', 'web', 'RUNNING', 'up', '5s', '12.3s', '512 B'],
      ['big', 'big', 'RUNNING', 'up', '5s', '1h 02m', '210 MiB'],
      ['huge', 'huge', 'RUNNING', 'up', '5s', '-', '1.50 GiB'],
      ['idle', 'idle', 'STOPPED', 'down', '-', '-', '-'],
    ]);
  });

  it('has no such columns without them', () => {
    assert.match(formatText([run([])]), /^PROCESS +GROUP +STATE +STATUS +UPTIME\n/);
  });
});
