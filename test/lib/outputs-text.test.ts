/**
 * The text output: the process table derived from a result, the summary
 * line, errors and warnings, colours, several servers, and the duration
 * format.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { ServerRun } from '../../lib/outputs/index.js';
import { formatText, humanizeDuration } from '../../lib/outputs/text.js';
import type { CheckResult, MappedStatus, Metric, ServiceCheck, ServiceCheckStatus } from '../../lib/types.js';

const SERVER = ['supervisord_server:main'];
const VERSION = { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' as const };
const tagsOf = (name: string, group = name): string[] => [...SERVER, `supervisord_process:${name}`, `supervisord_group:${group}`];

/** The 11 lines of the check's message, with `description` free to hold line breaks. */
function message(name: string, state: string, description = 'x'): string {
  return [
    'Current time: 2014-11-01 04:18:33',
    `Process name: ${name}`,
    `Process group: ${name}`,
    `Description: ${description}`,
    'Error log file: /e',
    'Stdout log file: /o',
    'Log file: /o',
    `State: ${state}`,
    'Start time: 2014-11-01 04:16:28',
    'Stop time: ',
    'Exit Status: 0',
  ].join('\n');
}

interface Proc {
  name: string;
  group?: string;
  status: ServiceCheckStatus;
  state?: string;
  uptime?: number;
  description?: string;
}

function run(procs: Proc[], extra: Partial<CheckResult> = {}, mapping?: Record<string, MappedStatus>, name = 'main'): ServerRun {
  const serviceChecks: ServiceCheck[] = [{ name: 'supervisord.can_connect', status: 0, tags: [...SERVER] }];
  const metrics: Metric[] = [];
  for (const p of procs) {
    const check: ServiceCheck = { name: 'supervisord.process.status', status: p.status, tags: tagsOf(p.name, p.group) };
    if (p.status !== 0) check.message = message(p.name, p.state ?? 'STOPPED', p.description);
    serviceChecks.push(check);
    if (p.uptime !== undefined) metrics.push({ name: 'supervisord.process.uptime', type: 'gauge', value: p.uptime, tags: tagsOf(p.name, p.group) });
  }
  const result: CheckResult = { metrics, serviceChecks, metadata: { version: VERSION }, warnings: [], errors: [], ...extra };
  const r: ServerRun = { name, target: `unix:///tmp/${name}.sock`, tags: SERVER, result };
  return mapping === undefined ? r : { ...r, statusMapping: mapping };
}

const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, '');

describe('formatText: the reference case', () => {
  const reference = run([
    { name: 'mysql', status: 0, uptime: 125 },
    { name: 'java', status: 2, state: 'STOPPED', uptime: 0 },
    { name: 'python', status: 3, state: 'STARTING', uptime: 0 },
  ]);

  it('prints the table and the summary line', () => {
    assert.equal(
      formatText([reference]),
      [
        'PROCESS  GROUP   STATE     STATUS   UPTIME',
        'mysql    mysql   RUNNING   up       2m 05s',
        'java     java    STOPPED   down     -',
        'python   python  STARTING  unknown  -',
        '3 processes: 1 up, 1 down, 1 unknown \u2014 supervisord 4.2.5 at unix:///tmp/main.sock reachable',
        'java: x',
        'python: x',
        '',
      ].join('\n'),
    );
  });

  it('colours only the status words (and error/warning labels), keeping the alignment', () => {
    const withWarnings = { ...reference, result: { ...reference.result, warnings: ['w'], errors: ['e'] } };
    const colored = formatText([withWarnings], { color: true });
    const plain = formatText([withWarnings]);
    assert.equal(plain.includes('\x1b'), false);
    assert.equal(stripAnsi(colored), plain);
    assert.match(colored, /\x1b\[32mup\x1b\[0m {7}2m 05s/);
    assert.match(colored, /\x1b\[31mdown\x1b\[0m/);
    assert.match(colored, /\x1b\[33munknown\x1b\[0m/);
    assert.match(colored, /^\x1b\[31merror:\x1b\[0m e$/m);
    assert.match(colored, /^\x1b\[33mwarning:\x1b\[0m w$/m);
  });
});

describe('formatText: state and uptime of a row', () => {
  const cases: Array<{ proc: Proc; mapping?: Record<string, MappedStatus>; state: string; status: string; uptime: string; why: string }> = [
    { proc: { name: 'a', status: 0, uptime: 0 }, state: 'RUNNING', status: 'up', uptime: '0s', why: 'OK with the default mapping is RUNNING; 0 s of uptime shown' },
    { proc: { name: 'a', status: 0, uptime: 5 }, mapping: { RUNNING: 'up', STOPPED: 'up', EXITED: 'down' }, state: '?', status: 'up', uptime: '5s', why: 'several states map to up: unknown' },
    { proc: { name: 'a', status: 0, uptime: 0 }, mapping: { RUNNING: 'down', STOPPED: 'up' }, state: 'STOPPED', status: 'up', uptime: '-', why: 'the only state mapped to up' },
    { proc: { name: 'a', status: 2, state: 'BACKOFF', uptime: 3 }, state: 'BACKOFF', status: 'down', uptime: '3s', why: 'state from the message' },
    { proc: { name: 'a', status: 2, state: 'FATAL', description: 'x\nState: RUNNING\ny' }, state: 'FATAL', status: 'down', uptime: '-', why: 'a description with line breaks cannot fake the state' },
    { proc: { name: 'a', status: 1, state: 'RUNNING', uptime: 183600 }, state: 'RUNNING', status: 'warning', uptime: '2d 3h', why: 'WARNING is the word warning' },
    { proc: { name: 'a', status: 3, state: 'WEIRD', uptime: 0 }, state: 'WEIRD', status: 'unknown', uptime: '-', why: 'a state the mapping does not know' },
    { proc: { name: 'a\tb', group: 'g\nh', status: 0 }, state: 'RUNNING', status: 'up', uptime: '-', why: 'control characters shown as ?, no uptime metric' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const text = formatText([run([c.proc], {}, c.mapping)]);
      const row = text.split('\n')[1]!.trim().split(/ {2,}/);
      assert.deepEqual(row, [c.proc.name.replace(/[\t]/g, '?'), (c.proc.group ?? c.proc.name).replace(/\n/g, '?'), c.state, c.status, c.uptime]);
    });
  }

  it('shows ? for a message without a State line', () => {
    const r = run([{ name: 'a', status: 2 }]);
    r.result.serviceChecks[1]!.message = 'short message';
    assert.match(formatText([r]), /^a {8}a {6}\? {6}down {4}-$/m);
  });

  it('uses the last process and group tags (user tags come first)', () => {
    const r = run([{ name: 'real', group: 'grp', status: 0, uptime: 61 }]);
    r.result.serviceChecks[1]!.tags.unshift('supervisord_process:fake', 'supervisord_group:fake');
    r.result.metrics[0]!.tags.unshift('supervisord_process:other');
    assert.match(formatText([r]), /^real {5}grp {4}RUNNING {2}up {6}1m 01s$/m);
  });
});

describe('formatText: rows from the result\'s processes', () => {
  it('prefers them to the submissions, whatever the mapping', () => {
    const r = run([{ name: 'from-submissions', status: 0, uptime: 9 }], {}, { RUNNING: 'up', STOPPED: 'up' });
    r.result.processes = [
      { name: 'a', group: 'g', statename: 'STOPPED', status: 'up', uptime: 0, description: 'Not started' },
      { name: 'b', group: 'b', statename: 'RUNNING', status: 'up', uptime: 0, description: 'pid 1, uptime 0:00:00' },
      { name: 'c', group: 'c', statename: 'BACKOFF', status: 'down', uptime: 4000, description: 'Exited too quickly' },
      { name: 'd', group: 'd', statename: 'STARTING', status: 'unknown', uptime: 0, description: '' },
    ];
    const rows = formatText([r]).split('\n').slice(1, 5).map((l) => l.trim().split(/ {2,}/));
    assert.deepEqual(rows, [
      ['a', 'g', 'STOPPED', 'up', '-'],
      ['b', 'b', 'RUNNING', 'up', '0s'],
      ['c', 'c', 'BACKOFF', 'down', '1h 06m'],
      ['d', 'd', 'STARTING', 'unknown', '-'],
    ]);
    assert.match(formatText([r]), /^4 processes: 2 up, 1 down, 1 unknown/m);
  });
});

describe('formatText: why processes are not up', () => {
  // Regression: `broken FATAL down -` and `exits EXITED down -` said nothing of why.
  it('prints supervisord\'s description and the exit status of each process that is not up, under the summary', () => {
    const r = run([{ name: 'unused', status: 0 }]);
    r.result.processes = [
      { name: 'ok', group: 'ok', statename: 'RUNNING', status: 'up', uptime: 5, description: 'pid 1, uptime 0:00:05' },
      { name: 'broken', group: 'broken', statename: 'FATAL', status: 'down', uptime: 0, description: "can't find command '/x'" },
      { name: 'exits', group: 'exits', statename: 'EXITED', status: 'down', uptime: 0, description: 'Nov 25 12:00 PM' },
      { name: 'front', group: 'web', statename: 'STARTING', status: 'unknown', uptime: 0, description: '' },
      { name: 'idle', group: 'idle', statename: 'STOPPED', status: 'down', uptime: 0, description: 'Not started\x1b[2J' },
    ];
    r.result.metrics.push({ name: 'supervisord.process.exit_status', type: 'gauge', value: 3, tags: tagsOf('exits') });
    const lines = formatText([r]).trimEnd().split('\n');
    assert.deepEqual(lines.slice(-3), ["broken: can't find command '/x'", 'exits: exit status 3 (Nov 25 12:00 PM)', 'idle: Not started?[2J']);
    assert.match(lines.at(-4)!, /^5 processes: /);
  });

  it('says how the last run ended: the status, the signal (and a core dump), unknown when neither supervisord nor its log tell', () => {
    const r = run([{ name: 'unused', status: 0 }]);
    const down = { statename: 'FATAL', status: 'down' as const, uptime: 0, description: 'Exited too quickly (process log may have details)' };
    r.result.processes = [
      { name: 'quick', group: 'quick', ...down, exit: { status: 3, source: 'main-log' } },
      { name: 'lost', group: 'lost', ...down, exit: { status: null, reason: "supervisord's main log could not be read (NO_FILE: syslog)" } },
      { name: 'oom', group: 'oom', ...down, exit: { status: -1, signal: 'SIGKILL', source: 'main-log' } },
      { name: 'seg', group: 'seg', ...down, description: '', exit: { status: -1, signal: 'SIGSEGV', coreDumped: true, source: 'process-info' } },
      { name: 'sig', group: 'sig', ...down, exit: { status: -1, source: 'process-info' } },
    ];
    // The exit_status gauge is ignored when the summary says how the run ended (unknown: there is none).
    r.result.metrics.push({ name: 'supervisord.process.exit_status', type: 'gauge', value: 0, tags: tagsOf('lost') });
    assert.deepEqual(formatText([r]).trimEnd().split('\n').slice(-5), [
      'quick: exit status 3 (Exited too quickly (process log may have details))',
      'lost: exit status unknown (Exited too quickly (process log may have details))',
      'oom: killed by SIGKILL (Exited too quickly (process log may have details))',
      'seg: killed by SIGSEGV, core dumped',
      'sig: killed by a signal (Exited too quickly (process log may have details))',
    ]);
  });

  it('takes what checkAll resolves to ({ name, result }): no target to name', () => {
    const r = run([{ name: 'a', status: 0, uptime: 1 }]);
    assert.deepEqual(formatText([{ name: r.name, result: r.result }]).trimEnd().split('\n').at(-1), '1 process: 1 up, 0 down, 0 unknown \u2014 supervisord 4.2.5 reachable');
  });

  it('reads them from the messages when the result has no processes, and names a process of a group group:name', () => {
    const r = run([
      { name: 'a', status: 0, uptime: 1 },
      { name: 'front', group: 'web', status: 2, state: 'EXITED', description: 'Nov 25 12:00 PM' },
      { name: 'b', status: 2, state: 'FATAL', description: '' },
    ]);
    r.result.metrics.push({ name: 'supervisord.process.exit_status', type: 'gauge', value: -1, tags: tagsOf('front', 'web') });
    r.result.metrics.push({ name: 'supervisord.process.exit_status', type: 'gauge', value: 2, tags: tagsOf('b') });
    assert.deepEqual(formatText([r]).trimEnd().split('\n').slice(-2), ['web:front: killed by a signal (Nov 25 12:00 PM)', 'b: exit status 2']);
  });
});

describe('formatText: summary, errors and warnings', () => {
  const cases: Array<{ r: ServerRun; lines: string[]; why: string }> = [
    {
      r: run([{ name: 'a', status: 0, uptime: 1 }]),
      lines: ['1 process: 1 up, 0 down, 0 unknown \u2014 supervisord 4.2.5 at unix:///tmp/main.sock reachable'],
      why: 'one process, singular',
    },
    {
      r: run([{ name: 'a', status: 1, state: 'RUNNING' }]),
      lines: ['1 process: 0 up, 0 down, 0 unknown, 1 warning \u2014 supervisord 4.2.5 at unix:///tmp/main.sock reachable', 'a: x'],
      why: 'warnings counted when there are some',
    },
    {
      r: run([], { metadata: {} }),
      lines: ['0 processes \u2014 supervisord at unix:///tmp/main.sock reachable'],
      why: 'no process, no version: no table',
    },
    {
      r: run([], {
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: SERVER, message: 'Cannot connect to unix:///tmp/main.sock.' }],
        errors: ['Cannot connect to unix:///tmp/main.sock.'],
        metadata: {},
      }),
      lines: ['supervisord at unix:///tmp/main.sock unreachable', 'error: Cannot connect to unix:///tmp/main.sock.'],
      why: 'unreachable',
    },
    {
      // Regression: a 401 was summarised as "unreachable", though the server answered.
      r: run([], {
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: SERVER, message: 'Username or password to main are incorrect.' }],
        errors: ['Username or password to main are incorrect.'],
        metadata: {},
      }),
      lines: ['supervisord at unix:///tmp/main.sock refused the credentials (HTTP 401)', 'error: Username or password to main are incorrect.'],
      why: 'a 401 is not unreachable',
    },
    {
      r: run([], {
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: SERVER, message: 'An error occurred while connecting to main: 500 Internal Server Error' }],
        errors: ['An error occurred while connecting to main: 500 Internal Server Error'],
        metadata: {},
      }),
      lines: ['supervisord at unix:///tmp/main.sock answered with an error', 'error: An error occurred while connecting to main: 500 Internal Server Error'],
      why: 'another HTTP status is an answer too',
    },
    {
      // Regression: a server too slow for the deadline was summarised as "unreachable" (the Monitoring Plugins format said it right).
      r: run([], {
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: SERVER, message: 'supervisord at unix:///tmp/main.sock did not answer within 10 s.' }],
        errors: ['supervisord at unix:///tmp/main.sock did not answer within 10 s.'],
        metadata: {},
      }),
      lines: ['supervisord at unix:///tmp/main.sock did not answer in time', 'error: supervisord at unix:///tmp/main.sock did not answer within 10 s.'],
      why: 'a server too slow for the deadline was reached',
    },
    {
      r: run([], { serviceChecks: [], errors: ['An error occurred while reading process information: 6 SHUTDOWN_STATE'], metadata: {} }),
      lines: ['supervisord at unix:///tmp/main.sock: the check failed', 'error: An error occurred while reading process information: 6 SHUTDOWN_STATE'],
      why: 'a fault: no can_connect',
    },
    {
      r: run([], { warnings: ["'user' is deprecated", 'two\nlines'], errors: ['e1\ne2'] }),
      lines: [
        '0 processes \u2014 supervisord 4.2.5 at unix:///tmp/main.sock reachable',
        'error: e1',
        '  e2',
        "warning: 'user' is deprecated",
        'warning: two',
        '  lines',
      ],
      why: 'errors then warnings, continuation lines indented',
    },
    {
      // Regression: fault strings and process descriptions come from the server; ESC/CSI sequences in them were written to the terminal as is.
      r: run([], {
        serviceChecks: [
          { name: 'supervisord.can_connect', status: 0, tags: SERVER },
          { name: 'supervisord.server.state', status: 2, tags: SERVER, message: 'down\x1b[2J\r\nnext\x9b1m' },
        ],
        warnings: ['w\x1b]0;title\x07'],
        errors: ['An error occurred while reading process information: 1 \x1b[31mfake\tx'],
        metadata: {},
      }),
      lines: [
        '0 processes \u2014 supervisord at unix:///tmp/main.sock reachable',
        'CRITICAL supervisord.server.state: down?[2J',
        '  next?1m',
        'error: An error occurred while reading process information: 1 ?[31mfake?x',
        'warning: w?]0;title?',
      ],
      why: 'control characters of server messages, errors and warnings shown as ? (no terminal escapes)',
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const text = formatText([c.r]);
      const lines = text.slice(0, -1).split('\n');
      assert.deepEqual(lines.slice(lines.length - c.lines.length), c.lines);
      assert.ok(text.endsWith('\n'));
    });
  }

  it('lists the other service checks that are not OK, after the summary', () => {
    const r = run([], {
      serviceChecks: [
        { name: 'supervisord.can_connect', status: 0, tags: SERVER },
        { name: 'supervisord.server.state', status: 2, tags: SERVER, message: 'SHUTDOWN_STATE' },
        { name: 'x.ok', status: 0, tags: SERVER, message: 'fine' },
        { name: 'x.warn', status: 1, tags: SERVER },
        { name: 'x.unknown', status: 3, tags: SERVER, message: 'a\nb' },
      ],
      warnings: ['w'],
    });
    assert.deepEqual(formatText([r]).split('\n'), [
      '0 processes \u2014 supervisord 4.2.5 at unix:///tmp/main.sock reachable',
      'CRITICAL supervisord.server.state: SHUTDOWN_STATE',
      'WARNING x.warn',
      'UNKNOWN x.unknown: a',
      '  b',
      'warning: w',
      '',
    ]);
    assert.match(formatText([r], { color: true }), /^\x1b\[31mCRITICAL\x1b\[0m supervisord\.server\.state/m);
  });

  it('prints one block per server, headed by its name, separated by a blank line', () => {
    const a = run([{ name: 'p', status: 0, uptime: 1 }], {}, undefined, 'a');
    const b = run([], { serviceChecks: [], errors: ['boom'] }, undefined, 'b');
    assert.equal(
      formatText([a, b]),
      [
        '[a]',
        'PROCESS  GROUP  STATE    STATUS  UPTIME',
        'p        p      RUNNING  up      1s',
        '1 process: 1 up, 0 down, 0 unknown \u2014 supervisord 4.2.5 at unix:///tmp/a.sock reachable',
        '',
        '[b]',
        'supervisord 4.2.5 at unix:///tmp/b.sock: the check failed',
        'error: boom',
        '',
      ].join('\n'),
    );
  });
});

describe('humanizeDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [1.9, '1s'],
    [59, '59s'],
    [60, '1m 00s'],
    [302, '5m 02s'],
    [3599, '59m 59s'],
    [3600, '1h 00m'],
    [3725, '1h 02m'],
    [86399, '23h 59m'],
    [86400, '1d 0h'],
    [183600, '2d 3h'],
    [-1, '-'],
    [NaN, '-'],
    [Infinity, '-'],
  ];
  for (const [seconds, text] of cases) {
    it(`${seconds} -> ${text}`, () => {
      assert.equal(humanizeDuration(seconds), text);
    });
  }
});

describe('formatText: a real run against the emulator', () => {
  let emulator: SupervisordEmulator;
  const now = Math.floor(Date.now() / 1000);
  before(async () => {
    emulator = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: [
        makeProcess({ name: 'web', group: 'front', statename: 'RUNNING', start: now - 3725, now }),
        makeProcess({ name: 'café', statename: 'FATAL', spawnerr: 'no such file' }),
        makeProcess({ name: 'idle', statename: 'STOPPED' }),
        makeProcess({ name: 'boot', statename: 'STARTING' }),
      ],
    });
  });
  after(async () => {
    await emulator.close();
  });

  it('shows what the check saw, states included (from the result\'s processes)', async () => {
    const port = Number(new URL(emulator.url).port);
    const check = new SupervisordCheck({ name: 'emu', host: '127.0.0.1', port, status_mapping_override: { STOPPED: 'up' } });
    try {
      const result = await check.run();
      const text = formatText([{ name: 'emu', target: check.config.address.display, tags: check.config.instanceTags, result, statusMapping: check.config.statusMapping }]);
      const rows = text.split('\n').slice(1, 5).map((l) => l.trim().split(/ {2,}/));
      // supervisord answers sorted by group then name.
      assert.deepEqual(rows, [
        ['boot', 'boot', 'STARTING', 'unknown', '-'],
        ['café', 'café', 'FATAL', 'down', '-'],
        ['web', 'front', 'RUNNING', 'up', '1h 02m'],
        ['idle', 'idle', 'STOPPED', 'up', '-'],
      ]);
      assert.match(text, new RegExp(`^4 processes: 2 up, 1 down, 1 unknown \u2014 supervisord 4\\.2\\.5 at http://127\\.0\\.0\\.1:${port}/RPC2 reachable$`, 'm'));
    } finally {
      await check.close();
    }
  });
});
