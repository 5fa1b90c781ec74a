/**
 * The Monitoring Plugins output, checked against the development guidelines
 * point by point: exit codes, the first line and its length, performance
 * data (labels, quoting, UOM, min/max, thresholds), range semantics, long
 * output, UNKNOWN where the plugin cannot tell. Every output is read back by
 * the independent reader of `test/helpers/nagios-plugin.ts`, never with the
 * formatter's own helpers.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { exceeds, formatNagios, nagiosUnknown, parseRange, worseState } from '../../lib/outputs/nagios.js';
import type { NagiosOptions, NagiosRun, NagiosState } from '../../lib/outputs/nagios.js';
import type { CheckResult, InstanceConfig, Metric, ProcessInfo, ProcessSummary } from '../../lib/types.js';
import { JAVA, MYSQL, PYTHON } from '../helpers/reference-processes.js';
import { alerts, datum, rangeOf, readPlugin, stateFromDatum, wellFormed } from '../helpers/nagios-plugin.js';

// ---------------------------------------------------------------------------
// Runs: real checks against the emulator, and hand-built results for the rest
// ---------------------------------------------------------------------------

const NOW = 1_700_000_000;
let dir: string;
const emulators: SupervisordEmulator[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nagios-test-'));
});
after(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** One real run of the check against an emulator with `processes`, as the CLI builds its input. */
async function checked(processes: ProcessInfo[], extra: Partial<InstanceConfig> = {}, name = 'main'): Promise<NagiosRun> {
  const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes });
  emulators.push(emulator);
  const check = new SupervisordCheck({ name, url: emulator.url, ...extra });
  try {
    const result = await check.run();
    const filtered = ['proc_names', 'proc_regex', 'proc_names_exclude', 'proc_regex_exclude'].some((k) => k in extra);
    return { name, target: emulator.url, tags: [`supervisord_server:${name}`], result, filtered };
  } finally {
    await check.close();
  }
}

/** The reference processes (check-spec section 5), fresh copies. */
function referenceProcesses(): ProcessInfo[] {
  return [{ ...MYSQL }, { ...JAVA }, { ...PYTHON }];
}

/** A result as the check builds it, for `processes` (name, status) with the counts it implies. */
function built(name: string, processes: Array<Partial<ProcessSummary> & { name: string; status: ProcessSummary['status'] }>, extra: Partial<CheckResult> = {}): NagiosRun {
  const server = `supervisord_server:${name}`;
  const summaries: ProcessSummary[] = processes.map((p) => ({
    group: p.name,
    statename: p.status === 'up' ? 'RUNNING' : p.status === 'down' ? 'FATAL' : 'STARTING',
    uptime: 0,
    description: '',
    ...p,
  }));
  const metrics: Metric[] = (['down', 'up', 'unknown'] as const).map((s) => ({
    name: 'supervisord.process.count',
    type: 'gauge',
    value: summaries.filter((p) => p.status === s).length,
    tags: [server, `status:${s}`],
  }));
  const result: CheckResult = {
    metrics,
    serviceChecks: [{ name: 'supervisord.can_connect', status: 0, tags: [server] }],
    metadata: {},
    warnings: [],
    errors: [],
    processes: summaries,
    ...extra,
  };
  return { name, target: `unix:///run/${name}.sock`, tags: [server], result };
}

const downs = (n: number, prefix = 'p'): Array<{ name: string; status: 'down' }> =>
  Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, status: 'down' as const }));

// ---------------------------------------------------------------------------
// The guidelines, point by point
// ---------------------------------------------------------------------------

describe('formatNagios: exit codes and the first line (guidelines: plugin return codes, output)', () => {
  it('the reference case: CRITICAL (a down process), counts by status, why on the next lines', async () => {
    const run = await checked(referenceProcesses());
    const report = formatNagios([run]);
    assert.equal(report.state, 2);
    const read = wellFormed(report);
    assert.equal(read.summary, '1 down (java), 1 unknown (python), 1 up');
    // The counts are the check's own supervisord.process.count, with their thresholds and bounds.
    const counts = Object.fromEntries(
      run.result.metrics.filter((m) => m.name === 'supervisord.process.count').map((m) => [m.tags.at(-1)!.slice('status:'.length), m.value]),
    );
    assert.deepEqual(read.perf, [
      { label: 'up', value: counts['up'], uom: '', warn: '', crit: '', min: '0', max: '3' },
      { label: 'down', value: counts['down'], uom: '', warn: '', crit: '0', min: '0', max: '3' },
      { label: 'unknown', value: counts['unknown'], uom: '', warn: '0', crit: '', min: '0', max: '3' },
    ]);
    assert.equal(Math.max(...read.perf.map(stateFromDatum)), report.state, 'the thresholds in the perfdata give the same state');
    assert.match(read.long[0]!, /^java: STOPPED \(down\), \w{3} \d\d \d\d:\d\d [AP]M, exit status 21$/);
    assert.equal(read.long[1], 'python: STARTING (unknown), exit status unknown');
    assert.deepEqual(read.morePerf, []);
  });

  const cases: Array<{ processes: () => ProcessInfo[]; state: NagiosState; summary: string; why: string }> = [
    {
      processes: () => [makeProcess({ name: 'web', start: NOW - 10 }, NOW), makeProcess({ name: 'worker', group: 'jobs', start: NOW - 9 }, NOW)],
      state: 0,
      summary: '2 processes up',
      why: 'every process up: OK',
    },
    {
      processes: () => [makeProcess({ name: 'web', start: NOW - 10 }, NOW), makeProcess({ name: 'boot', statename: 'STARTING' }, NOW)],
      state: 1,
      summary: '1 unknown (boot), 1 up',
      why: 'an unknown process: WARNING, as the other outputs exit 1',
    },
    {
      processes: () => [makeProcess({ name: 'front', group: 'web', statename: 'FATAL' }, NOW)],
      state: 2,
      summary: '1 down (web:front)',
      why: 'a down process of a group, named group:name',
    },
    { processes: () => [], state: 0, summary: 'no process', why: 'no program and no filter: OK, as the reference' },
  ];
  for (const c of cases) {
    it(c.why, async () => {
      const report = formatNagios([await checked(c.processes())]);
      assert.equal(report.state, c.state);
      assert.equal(wellFormed(report).summary, c.summary);
    });
  }
});

describe('formatNagios: exit status in the long output (unknown is said, never 0)', () => {
  it('a FATAL process that never ran has no exit status: unknown', async () => {
    const report = formatNagios([await checked([makeProcess({ name: 'broken', statename: 'FATAL', start: 0, stop: 0, description: "can't find command 'x'" }, NOW)])]);
    assert.deepEqual(wellFormed(report).long, ["broken: FATAL (down), can't find command 'x', exit status unknown"]);
  });

  it('an EXITED process with its exit status metric', async () => {
    const report = formatNagios([await checked([makeProcess({ name: 'job', statename: 'EXITED', start: NOW - 20, stop: NOW - 5, exitstatus: 3 }, NOW)])]);
    assert.match(wellFormed(report).long[0]!, /^job: EXITED \(down\), .*, exit status 3$/);
  });

  it("how the run ended, as the result's exit says it: a signal from the main log, an unknown status with no 0", () => {
    const report = formatNagios([
      built('main', [
        { name: 'killed', status: 'down', statename: 'FATAL', description: 'Exited too quickly', exit: { status: -1, signal: 'SIGKILL', source: 'main-log' } },
        { name: 'quick', status: 'down', statename: 'FATAL', description: 'Exited too quickly', exit: { status: 3, source: 'main-log' } },
        { name: 'lost', status: 'down', statename: 'BACKOFF', description: 'Exited too quickly', exit: { status: null, reason: 'the log rotated' } },
      ]),
    ]);
    assert.deepEqual(wellFormed(report).long, [
      'killed: FATAL (down), Exited too quickly, killed by SIGKILL',
      'quick: FATAL (down), Exited too quickly, exit status 3',
      'lost: BACKOFF (down), Exited too quickly, exit status unknown',
    ]);
  });

  it('a result without the metric says unknown even for a state that has exited', () => {
    const report = formatNagios([built('main', [{ name: 'job', status: 'down', statename: 'EXITED', description: 'Nov 25 03:17 PM' }])]);
    assert.deepEqual(wellFormed(report).long, ['job: EXITED (down), Nov 25 03:17 PM, exit status unknown']);
  });
});

describe('formatNagios: thresholds (guidelines: ranges, alert outside start..end, @ inside, ~ is -infinity)', () => {
  // The down count is 3 in every case (3 FATAL processes, nothing else).
  const cases: Array<{ down: NagiosOptions['down']; state: NagiosState; why: string }> = [
    { down: undefined, state: 2, why: 'default: critical 0, above 0 alerts' },
    { down: { critical: '2' }, state: 2, why: '2 is 0..2: 3 is outside' },
    { down: { critical: '3' }, state: 0, why: '3 is 0..3: the end point is inside (no alert)' },
    { down: { warning: '5:' }, state: 1, why: '5: is 5..infinity: 3 is below' },
    { down: { warning: '3:' }, state: 0, why: '3: includes its start' },
    { down: { critical: '~:2' }, state: 2, why: '~:2 is -infinity..2: 3 is above' },
    { down: { critical: '~:3' }, state: 0, why: '~:3 includes 3' },
    { down: { critical: '4:6' }, state: 2, why: '4:6: 3 is below' },
    { down: { critical: '@1:3' }, state: 2, why: '@1:3: 3 is inside, which alerts with @' },
    { down: { critical: '@4:10' }, state: 0, why: '@4:10: 3 is outside, no alert with @' },
    { down: { warning: '@3:3', critical: '@4:' }, state: 1, why: '@3:3 warns exactly at 3' },
    { down: { warning: '1', critical: '5' }, state: 1, why: 'warning 1 exceeded, critical 5 not' },
    { down: { warning: '1', critical: '2.5' }, state: 2, why: 'critical wins over warning; decimals' },
    { down: { warning: '-1:1' }, state: 1, why: 'a negative start' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.down ?? 'default')}: ${c.why}`, () => {
      const options: NagiosOptions = c.down === undefined ? {} : { down: c.down };
      const report = formatNagios([built('main', downs(3))], options);
      assert.equal(report.state, c.state);
      const read = wellFormed(report);
      const down = datum(read, 'down')!;
      assert.equal(down.value, 3);
      assert.equal(stateFromDatum(down), c.state, 'a reader of the perfdata thresholds concludes the same');
      if (c.down !== undefined) assert.deepEqual([down.warn, down.crit], [c.down.warning ?? '', c.down.critical ?? '']);
    });
  }

  it('thresholds on the unknown count; giving one replaces that count\'s defaults', () => {
    const run = built('main', [{ name: 'a', status: 'unknown' }, { name: 'b', status: 'unknown' }]);
    assert.equal(formatNagios([run]).state, 1);
    assert.equal(formatNagios([run], { unknown: { critical: '1' } }).state, 2);
    assert.equal(formatNagios([run], { unknown: { warning: '2' } }).state, 0);
    assert.equal(formatNagios([run], { down: { warning: '0' } }).state, 1, 'the unknown defaults stay when only down is given');
  });

  it('only a down warning: a down process warns instead of failing', () => {
    assert.equal(formatNagios([built('main', downs(1))], { down: { warning: '0' } }).state, 1);
  });
});

describe('parseRange and exceeds', () => {
  const valid: Array<[string, number, number, boolean]> = [
    ['10', 0, 10, false],
    ['10:', 10, Infinity, false],
    ['~:10', -Infinity, 10, false],
    ['10:20', 10, 20, false],
    ['@10:20', 10, 20, true],
    [':5', 0, 5, false],
    ['-5:-1', -5, -1, false],
    ['0.5:1.5', 0.5, 1.5, false],
    ['@~:0', -Infinity, 0, true],
  ];
  for (const [text, start, end, inside] of valid) {
    it(`${text} is ${inside ? '@' : ''}${start}..${end}`, () => {
      assert.deepEqual(parseRange(text), { text, start, end, inside });
      assert.deepEqual(rangeOf(text), { start, end, inside }, 'the test reader agrees');
      for (const v of [start - 1, start, (Math.max(start, -100) + Math.min(end, 100)) / 2, end, end + 1]) {
        if (Number.isFinite(v)) assert.equal(exceeds(parseRange(text), v), alerts(text, v), `${text} at ${v}`);
      }
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /give a start or an end/],
    ['@', /give a start or an end/],
    [':', /give a start or an end/],
    ['ten', /the end "ten" is not a number/],
    ['1:0', /the start 1 is greater than the end 0/],
    ['~', /the end "~" is not a number/],
    ['1:~', /the end "~" is not a number/],
    ['1e3', /the end "1e3" is not a number/],
    ['x:1', /the start "x" is not a number or ~/],
    [' 1', /the end " 1" is not a number/],
  ];
  for (const [text, message] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseRange(text), (e: unknown) => e instanceof RangeError && message.test(e.message) && e.message.includes(JSON.stringify(text)));
    });
  }
});

describe('formatNagios: performance data (guidelines: labels, quoting, UOM, min/max)', () => {
  it('labels with quotes, spaces, = and | are quoted, quotes doubled, | neutralised', () => {
    const runs = [built("o'neil web=1", downs(1)), built('a|b', [{ name: 'x', status: 'up' }])];
    const report = formatNagios(runs);
    const read = wellFormed(report);
    assert.deepEqual(
      read.perf.map((d) => d.label),
      ["o'neil web=1 up", "o'neil web=1 down", "o'neil web=1 unknown", 'a?b up', 'a?b down', 'a?b unknown'],
    );
    assert.ok(report.output.split('\n')[0]!.includes("'o''neil web=1 up'=0;;;0;1"), 'the quote is doubled on the wire');
  });

  it('uptime in seconds (UOM s) after the long output, the first line unchanged', async () => {
    const run = await checked(referenceProcesses());
    const plain = readPlugin(formatNagios([run]).output);
    const report = formatNagios([run], { uptime: true });
    const read = wellFormed(report);
    assert.deepEqual(read.perf, plain.perf);
    assert.deepEqual(read.long, plain.long);
    assert.deepEqual(
      read.morePerf.map((d) => [d.label, d.value, d.uom, d.min]),
      [
        ['java uptime', 0, 's', '0'],
        ['mysql uptime', 125, 's', '0'],
        ['python uptime', 0, 's', '0'],
      ],
    );
  });

  it('counts are absent, not 0, when the process list was not read', async () => {
    const run = await checked([]);
    const failed: NagiosRun = {
      ...run,
      result: {
        metrics: [],
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [], message: 'Cannot connect to unix:///nope. Make sure...' }],
        metadata: {},
        warnings: ['connect ENOENT /nope'],
        errors: ['Cannot connect to unix:///nope. Make sure...'],
      },
    };
    const report = formatNagios([failed], { uptime: true });
    assert.equal(report.state, 2);
    const read = wellFormed(report);
    assert.deepEqual([read.perf, read.morePerf], [[], []]);
    assert.match(read.summary, /^unreachable: http:\/\/127\.0\.0\.1:\d+\/RPC2$/);
    assert.deepEqual(read.long, ['error: Cannot connect to unix:///nope. Make sure...', 'warning: connect ENOENT /nope']);
  });
});

describe('formatNagios: UNKNOWN where the plugin cannot tell', () => {
  it('an include entry that matched no process (nobody reads the warning there)', async () => {
    const run = await checked(referenceProcesses(), { proc_names: ['mysql', 'nope'] });
    assert.ok(run.result.warnings.some((w) => w.startsWith("'proc_names' entry 'nope' matched no process")), 'the check warned');
    const report = formatNagios([run]);
    assert.equal(report.state, 3);
    const read = wellFormed(report);
    assert.equal(read.summary, 'a filter matched no process; 1 process up');
    assert.ok(read.long.some((l) => l.startsWith("warning: 'proc_names' entry 'nope' matched no process")));
  });

  it('a regex that matched nothing', async () => {
    const report = formatNagios([await checked(referenceProcesses(), { proc_regex: ['^nothing$'] })]);
    assert.equal(report.state, 3);
    assert.equal(wellFormed(report).summary, 'a filter matched no process; no process');
  });

  it('excludes that leave nothing', async () => {
    const report = formatNagios([await checked(referenceProcesses(), { proc_regex_exclude: ['.'] })]);
    assert.equal(report.state, 3);
    assert.equal(wellFormed(report).summary, 'the filters matched no process; no process');
  });

  it('a down process is still CRITICAL beside a filter that matched nothing (the worse state wins)', async () => {
    const report = formatNagios([await checked(referenceProcesses(), { proc_names: ['java', 'nope'] })]);
    assert.equal(report.state, 2);
  });

  it('nagiosUnknown: the reason on the first line, cut to 80 characters, then whole', () => {
    const short = nagiosUnknown('--format must be one of text');
    assert.equal(short.state, 3);
    assert.equal(wellFormed(short).summary, '--format must be one of text');
    const long = `${'x'.repeat(100)}\nsecond line`;
    const read = wellFormed(nagiosUnknown(long));
    assert.ok(read.summary.endsWith('...'));
    assert.deepEqual(read.long, [`${'x'.repeat(100)} second line`]);
  });
});

describe('formatNagios: short, safe text', () => {
  it('names what is down within 80 characters, then +N more', () => {
    const report = formatNagios([built('main', downs(40, 'a-rather-long-process-name-'))]);
    const read = wellFormed(report);
    assert.equal(read.summary, '40 down (a-rather-long-process-name-0, +39 more)');
    assert.equal(read.long.length, 40);
  });

  it('a server whose every name is too long lists none; the long output is bounded', () => {
    const report = formatNagios([built('main', downs(150, 'x'.repeat(90)))]);
    const read = wellFormed(report);
    assert.equal(read.summary, '150 down');
    assert.equal(read.long.length, 101);
    assert.equal(read.long.at(-1), '... and 50 more processes not up');
  });

  it('hostile names and descriptions cannot end the text or fake a line', () => {
    const run = built('main', [
      { name: 'a|b', status: 'down', description: 'evil\n| fake=1\x1b[2J' },
      { name: "it's\u202e", status: 'up' },
    ]);
    const read = wellFormed(formatNagios([run], { uptime: true }));
    assert.deepEqual(read.long, ['a?b: FATAL (down), evil ? fake=1?[2J, exit status unknown']);
    assert.deepEqual(
      read.morePerf.map((d) => d.label),
      ['a?b uptime', "it's? uptime"],
    );
  });

  it('a failure with a long target stays within 80 characters', () => {
    const run = built('main', []);
    const failed: NagiosRun = {
      ...run,
      target: `unix:///${'deep/'.repeat(30)}supervisor.sock`,
      result: { ...run.result, metrics: [], processes: undefined as never, serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [], message: 'Username or password to main are incorrect.' }], errors: ['Username or password to main are incorrect.'] },
    };
    delete (failed.result as { processes?: unknown }).processes;
    const read = wellFormed(formatNagios([failed]));
    assert.match(read.summary, /^credentials refused \(HTTP 401\): unix:\/\/\/deep\/deep.*\.\.\.$/);
  });

  const failures: Array<[string, string]> = [
    ['An error occurred while connecting to main: 500 Internal Server Error', 'answered with an error'],
    ['supervisord at unix:///s did not answer within 10 s: x was pending.', 'no answer in time'],
    ['Cannot connect to http://h:1. Make sure supervisor is running', 'unreachable'],
  ];
  for (const [message, summary] of failures) {
    it(`can_connect "${message.slice(0, 30)}...": ${summary}`, () => {
      const failed: NagiosRun = {
        name: 'main',
        target: 'unix:///s',
        tags: [],
        result: { metrics: [], serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [], message }], metadata: {}, warnings: [], errors: [message] },
      };
      const report = formatNagios([failed]);
      assert.equal(report.state, 2);
      assert.equal(wellFormed(report).summary, `${summary}: unix:///s`);
    });
  }

  it('an error without can_connect (an XML-RPC fault on the list): CRITICAL, the check failed', () => {
    const failed: NagiosRun = {
      name: 'main',
      target: 'unix:///s',
      tags: [],
      result: { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: ['An error occurred while reading process information: 2 INCORRECT_PARAMETERS'] },
    };
    const report = formatNagios([failed]);
    assert.equal(report.state, 2);
    assert.equal(wellFormed(report).summary, 'the check failed');
  });

  it('another service check that is not OK: its message in the summary, its state (3 counts as WARNING)', () => {
    const state = (status: 1 | 2 | 3): NagiosRun =>
      built('main', [{ name: 'a', status: 'up' }], {
        serviceChecks: [
          { name: 'supervisord.can_connect', status: 0, tags: [] },
          { name: 'supervisord.server.state', status, tags: [], message: 'supervisord is RESTARTING' },
        ],
      });
    assert.deepEqual([1, 2, 3].map((s) => formatNagios([state(s as 1 | 2 | 3)]).state), [1, 2, 1]);
    const read = wellFormed(formatNagios([state(1)]));
    assert.equal(read.summary, 'supervisord is RESTARTING; 1 process up');
    assert.deepEqual(read.long, ['WARNING supervisord.server.state: supervisord is RESTARTING']);
  });
});

describe('formatNagios: several servers', () => {
  it('each judged alone, the worst wins, lines and labels named after the server', () => {
    const report = formatNagios([built('a', [{ name: 'x', status: 'up' }]), built('b', downs(1)), built('c', [{ name: 'y', status: 'unknown' }])]);
    assert.equal(report.state, 2);
    const read = wellFormed(report);
    assert.equal(read.summary, '2 of 3 servers not OK (b, c); 1 down, 1 unknown, 1 up');
    assert.deepEqual(read.long, [
      '[a] OK - 1 process up',
      '[b] CRITICAL - 1 down (p0)',
      '[b] p0: FATAL (down), exit status unknown',
      '[c] WARNING - 1 unknown (y)',
      '[c] y: STARTING (unknown), exit status unknown',
    ]);
    assert.deepEqual(read.perf.map((d) => `${d.label}=${d.value}`), ['a up=1', 'a down=0', 'a unknown=0', 'b up=0', 'b down=1', 'b unknown=0', 'c up=0', 'c down=0', 'c unknown=1']);
  });

  it('server names that do not fit are left out of the summary, kept in the long output', () => {
    const runs = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'].map((name) => built(`${name}-web-frontend`, downs(1)));
    const read = wellFormed(formatNagios(runs));
    assert.equal(read.summary, '8 of 8 servers not OK; 8 down');
    assert.equal(read.long.filter((l) => l.endsWith('CRITICAL - 1 down (p0)')).length, 8);
  });

  it('every server OK', () => {
    assert.equal(wellFormed(formatNagios([built('a', [{ name: 'x', status: 'up' }]), built('b', [])])).summary, '2 servers OK; 1 process up');
  });

  it('a server that could not be read is counted apart', () => {
    const failed: NagiosRun = {
      name: 'gone',
      target: 'unix:///gone',
      tags: [],
      result: { metrics: [], serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [], message: 'Cannot connect' }], metadata: {}, warnings: [], errors: ['Cannot connect'] },
    };
    const read = wellFormed(formatNagios([built('a', [{ name: 'x', status: 'up' }]), failed]));
    assert.equal(read.summary, '1 of 2 servers not OK (gone); 1 process up');
  });

  it('worseState orders CRITICAL, WARNING, UNKNOWN, OK', () => {
    const order: NagiosState[] = [0, 3, 1, 2];
    for (const [i, a] of order.entries()) {
      for (const [j, b] of order.entries()) assert.equal(worseState(a, b), order[Math.max(i, j)], `${a} vs ${b}`);
    }
  });
});

describe('formatNagios: options', () => {
  const bad: Array<[unknown, new (...args: never[]) => Error, RegExp]> = [
    [{ colour: true }, TypeError, /unknown option 'colour' \(expected down, unknown, uptime\)/],
    [{ uptime: 'yes' }, TypeError, /options\.uptime must be a boolean/],
    [{ down: 1 }, TypeError, /options\.down must be an object/],
    [{ down: { warn: '1' } }, TypeError, /unknown option 'down\.warn' \(expected warning, critical\)/],
    [{ unknown: { critical: 1 } }, TypeError, /options\.unknown\.critical must be a string/],
    [{ down: { critical: '2:1' } }, RangeError, /^options\.down\.critical: "2:1" is not a threshold range/],
  ];
  for (const [options, type, message] of bad) {
    it(`refuses ${JSON.stringify(options)}`, () => {
      assert.throws(() => formatNagios([built('a', [])], options as NagiosOptions), (e: unknown) => e instanceof type && message.test((e as Error).message));
    });
  }

  it('no run at all: UNKNOWN', () => {
    assert.equal(formatNagios([]).state, 3);
  });
});
