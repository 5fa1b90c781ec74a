// Times in messages are local: this file runs in UTC (set before any Date is
// made); other zones run in child processes below.
process.env['TZ'] = 'UTC';

import { JAVA, MYSQL, PYTHON } from '../helpers/reference-processes.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BodySizeError,
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  DepthLimitError,
  HttpParseError,
  HttpStatusError,
  NotXmlRpcError,
  TimeoutError,
  XmlRpcFault,
  XmlRpcParseError,
} from '../../protocol/errors.js';
import { RunDeadlineError } from '../../lib/errors.js';
import { resolveConfig } from '../../lib/config.js';
import {
  adoptProcessList,
  buildResult,
  buildRun,
  decodeProcessList,
  describeFailure,
  extraSubmissions,
  formatLocalTime,
  mapStatus,
  parseVersion,
  processDowntime,
  needsMainLog,
  processExit,
  processExitStatus,
  processKey,
  processMessage,
  processSubmissions,
  processUptime,
  restartCount,
  selectProcesses,
  serverStateCheck,
} from '../../lib/submissions.js';
import type { CallOutcome, ExitEvidence, ExitFact, ProcessMark } from '../../lib/submissions.js';
import type { ExitLookup, LoggedExit } from '../../lib/exit-log.js';
import type { CheckResult, Metric, ProcessInfo } from '../../lib/types.js';

/** The names of check-spec section 4: what the reference submits. */
const REFERENCE_METRICS = new Set(['supervisord.process.uptime', 'supervisord.process.count']);
const REFERENCE_CHECKS = new Set(['supervisord.can_connect', 'supervisord.process.status']);

/** Only the reference's submissions, in their order (issue 5 adds after them). */
function referenceOnly(result: CheckResult): Pick<CheckResult, 'metrics' | 'serviceChecks'> {
  return {
    metrics: result.metrics.filter((m) => REFERENCE_METRICS.has(m.name)),
    serviceChecks: result.serviceChecks.filter((c) => REFERENCE_CHECKS.has(c.name)),
  };
}

/** More of the reference's mock server data (MYSQL, JAVA, PYTHON are in test/helpers/reference-processes.ts). */
const WEBAPP: ProcessInfo = {
  ...PYTHON,
  name: 'webapp',
  group: 'webapp',
  statename: 'STOPPING',
  state: 40,
  start: 1414871102,
  now: 1414871104,
  stop: 1414871101,
  exitstatus: 1,
};
const RUBY: ProcessInfo = { ...PYTHON, name: 'ruby', group: 'ruby', statename: 'BACKOFF', state: 30, start: 1414871588, now: 1414871588, stop: 1414871588 };
const SERVER1 = [MYSQL, JAVA, PYTHON];

const JAVA_MESSAGE = [
  'Current time: 2014-11-01 04:22:18',
  'Process name: java',
  'Process group: java',
  'Description: Nov 01 04:22 AM',
  'Error log file: /var/log/supervisor/java-stderr---supervisor-lSdcKZ.log',
  'Stdout log file: /var/log/java/java.log',
  'Log file: /var/log/java/java.log',
  'State: STOPPED',
  'Start time: 2014-11-01 04:16:28',
  'Stop time: 2014-11-01 04:22:02',
  'Exit Status: 21',
].join('\n');

function config(instance: Record<string, unknown> = {}) {
  return resolveConfig({ name: 'server1', ...instance }).config;
}

function names(processes: readonly ProcessInfo[]): string[] {
  return processes.map((p) => p.name);
}

/** count gauges as {down, up, unknown} */
function counts(metrics: ReturnType<typeof processSubmissions>['metrics']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) if (m.name === 'supervisord.process.count') out[m.tags[m.tags.length - 1]!.slice('status:'.length)] = m.value;
  return out;
}

describe('reference cases (check-spec section 5)', () => {
  // [instance keys, monitored names, {down, up, unknown}]
  const cases: Array<[Record<string, unknown>, string[], Record<string, number>]> = [
    [{}, ['mysql', 'java', 'python'], { down: 1, up: 1, unknown: 1 }],
    [{ proc_names: ['mysql', 'invalid_process'] }, ['mysql'], { down: 0, up: 1, unknown: 0 }],
    [{ proc_regex: ['^mysq.$', 'invalid_process'] }, ['mysql'], { down: 0, up: 1, unknown: 0 }],
    [{ proc_regex_exclude: ['^py.*$'] }, ['mysql', 'java'], { down: 1, up: 1, unknown: 0 }],
    [{ proc_names_exclude: ['python'] }, ['mysql', 'java'], { down: 1, up: 1, unknown: 0 }],
    [{ status_mapping_override: { STOPPED: 'up' } }, ['mysql', 'java', 'python'], { down: 0, up: 2, unknown: 1 }],
    // the reference's own later tests
    [{ proc_names: ['python'] }, ['python'], { down: 0, up: 0, unknown: 1 }],
    [{ proc_regex_exclude: ['^my.*$'] }, ['java', 'python'], { down: 1, up: 0, unknown: 1 }],
    // search, not match: the regex is not anchored
    [{ proc_regex: ['ava'] }, ['java'], { down: 1, up: 0, unknown: 0 }],
    // names and regexes together, then excluded; server order kept
    [{ proc_names: ['python'], proc_regex: ['^m'] }, ['mysql', 'python'], { down: 0, up: 1, unknown: 1 }],
    [{ proc_names: ['python', 'java'], proc_regex_exclude: ['^j'] }, ['python'], { down: 0, up: 0, unknown: 1 }],
    [{ proc_names: [], proc_regex: [] }, ['mysql', 'java', 'python'], { down: 1, up: 1, unknown: 1 }],
  ];
  test('selection and counts', () => {
    for (const [instance, monitored, expected] of cases) {
      const c = config(instance);
      assert.deepEqual(names(selectProcesses(SERVER1, c)), monitored, JSON.stringify(instance));
      assert.deepEqual(counts(processSubmissions(SERVER1, c).metrics), expected, JSON.stringify(instance));
    }
  });

  test('uptime: now - start for RUNNING, BACKOFF, STOPPING, else 0', () => {
    const cases: Array<[ProcessInfo, number]> = [
      [MYSQL, 125],
      [JAVA, 0],
      [PYTHON, 0],
      [WEBAPP, 2],
      [RUBY, 0],
      [{ ...JAVA, statename: 'EXITED' }, 0],
      [{ ...JAVA, statename: 'FATAL' }, 0],
      [{ ...JAVA, statename: 'BACKOFF' }, 350],
    ];
    for (const [p, uptime] of cases) assert.equal(processUptime(p), uptime, p.name);
  });

  test('the whole run, in the reference order, with our group tag last', () => {
    const result = buildResult(config(), { processInfo: { ok: true, value: SERVER1 }, version: { ok: true, value: '3.0b2' } });
    const base = ['supervisord_server:server1'];
    const tags = (p: ProcessInfo): string[] => [...base, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
    // The reference's submissions come first, whole; issue 5's follow (asserted in 'beyond the reference').
    const firstChecks = result.serviceChecks.slice(0, 4);
    const firstMetrics = result.metrics.slice(0, 6);
    assert.deepEqual(referenceOnly(result), { metrics: firstMetrics, serviceChecks: firstChecks });
    assert.deepEqual(firstChecks, [
      { name: 'supervisord.can_connect', status: 0, tags: base },
      { name: 'supervisord.process.status', status: 0, tags: tags(MYSQL) },
      { name: 'supervisord.process.status', status: 2, tags: tags(JAVA), message: JAVA_MESSAGE },
      { name: 'supervisord.process.status', status: 3, tags: tags(PYTHON), message: processMessage(PYTHON) },
    ]);
    assert.deepEqual(firstMetrics, [
      { name: 'supervisord.process.uptime', type: 'gauge', value: 125, tags: tags(MYSQL) },
      { name: 'supervisord.process.uptime', type: 'gauge', value: 0, tags: tags(JAVA) },
      { name: 'supervisord.process.uptime', type: 'gauge', value: 0, tags: tags(PYTHON) },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...base, 'status:down'] },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...base, 'status:up'] },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...base, 'status:unknown'] },
    ]);
    assert.deepEqual(result.metadata, { version: { raw: '3.0b2', major: '3', minor: '0', release: 'b2', scheme: 'supervisord' } });
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.errors, []);
    assert.ok(!('message' in result.serviceChecks[0]!), 'no message key on OK');
    assert.ok(!('message' in result.serviceChecks[1]!), 'no message key on OK');
  });

  test('instance tags come first, on every submission', () => {
    const c = config({ tags: ['env:prod'], proc_names: ['webapp'] });
    const { metrics, serviceChecks } = processSubmissions([MYSQL, WEBAPP], c);
    assert.deepEqual(serviceChecks[0]!.tags, ['env:prod', 'supervisord_server:server1', 'supervisord_process:webapp', 'supervisord_group:webapp']);
    assert.equal(serviceChecks[0]!.status, 2);
    for (const m of metrics) assert.deepEqual(m.tags.slice(0, 2), ['env:prod', 'supervisord_server:server1']);
    assert.deepEqual(metrics.map((m) => m.value), [2, 1, 0, 0]);
  });

  test('tags stay right past the table of tags made before (thousands of names, then the first ones again)', () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ ...MYSQL, name: `p${i}`, group: `g${i}` }));
    const tagsOf = (processes: typeof many): string[][] => processSubmissions(processes, config()).serviceChecks.map((c) => c.tags.slice(1));
    const expected = (processes: typeof many): string[][] => processes.map((p) => [`supervisord_process:${p.name}`, `supervisord_group:${p.group}`]);
    assert.deepEqual(tagsOf(many), expected(many));
    assert.deepEqual(tagsOf(many.slice(0, 10)), expected(many.slice(0, 10)));
    assert.deepEqual(tagsOf(many.slice(4990)), expected(many.slice(4990)));
  });

  test('no process at all: only the three zero counts', () => {
    const { metrics, serviceChecks } = processSubmissions([], config());
    assert.deepEqual(serviceChecks, []);
    assert.deepEqual(metrics.map((m) => [m.value, m.tags[1]]), [[0, 'status:down'], [0, 'status:up'], [0, 'status:unknown']]);
  });
});

describe('status mapping', () => {
  test('default mapping and service statuses; unknown names are UNKNOWN', () => {
    const c = config();
    const cases: Array<[string, string, number]> = [
      ['STOPPED', 'down', 2],
      ['STARTING', 'unknown', 3],
      ['RUNNING', 'up', 0],
      ['BACKOFF', 'down', 2],
      ['STOPPING', 'down', 2],
      ['EXITED', 'down', 2],
      ['FATAL', 'down', 2],
      ['UNKNOWN', 'unknown', 3],
      ['SLEEPING', 'unknown', 3],
      ['running', 'unknown', 3],
      ['constructor', 'unknown', 3],
      ['__proto__', 'unknown', 3],
    ];
    for (const [statename, mapped, status] of cases) {
      assert.equal(mapStatus(statename, c.statusMapping), mapped, statename);
      const { serviceChecks, metrics } = processSubmissions([{ ...MYSQL, statename }], c);
      assert.equal(serviceChecks[0]!.status, status, statename);
      assert.equal(counts(metrics)[mapped], 1, statename);
      assert.equal('message' in serviceChecks[0]!, status !== 0, statename);
    }
  });

  test('overrides replace entries, also towards up (no message then)', () => {
    const c = config({ status_mapping_override: { RUNNING: 'down', FATAL: 'up', SLEEPING: 'up' } });
    const { serviceChecks } = processSubmissions(
      [MYSQL, { ...JAVA, statename: 'FATAL' }, { ...PYTHON, statename: 'SLEEPING' }],
      c,
    );
    assert.deepEqual(serviceChecks.map((s) => [s.status, 'message' in s]), [[2, true], [0, false], [0, false]]);
  });
});

describe('process message', () => {
  test('the reference template, times in the local zone (UTC here)', () => {
    assert.equal(processMessage(JAVA), JAVA_MESSAGE);
  });

  test('spec example: RUNNING mysql, empty stop time with its trailing space', () => {
    assert.equal(
      processMessage(MYSQL),
      [
        'Current time: 2014-11-01 04:18:33',
        'Process name: mysql',
        'Process group: mysql',
        'Description: pid 787, uptime 0:02:05',
        'Error log file: /var/log/supervisor/mysql-stderr---supervisor-3ATI82.log',
        'Stdout log file: /var/log/mysql/mysql.log',
        'Log file: /var/log/mysql/mysql.log',
        'State: RUNNING',
        'Start time: 2014-11-01 04:16:28',
        'Stop time: ',
        'Exit Status: 0',
      ].join('\n'),
    );
  });

  test('start 0 is formatted like any time (the reference only special-cases stop)', () => {
    const message = processMessage({ ...JAVA, start: 0, stop: 0, exitstatus: -1 });
    assert.match(message, /\nStart time: 1970-01-01 00:00:00\nStop time: \nExit Status: -1$/);
  });

  test('formatLocalTime pads every field but the year', () => {
    assert.equal(formatLocalTime(0), '1970-01-01 00:00:00');
    assert.equal(formatLocalTime(1414815513), '2014-11-01 04:18:33');
    assert.equal(formatLocalTime(-86400), '1969-12-31 00:00:00');
    assert.equal(formatLocalTime(1e20), '100000000000000000000');
  });

  const zones = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
  // Around the spec example and both 2014 New York DST changes.
  const instants = [0, 1414815513, 1414915199, 1414915200, 1414918800, 1394348400, 1394352000, 1700000000];

  function nodeTimes(tz: string): string[] | string {
    const module = fileURLToPath(new URL('../../lib/submissions.js', import.meta.url));
    const script = `import('${module.replaceAll('\\', '/')}').then((m) => console.log(JSON.stringify(${JSON.stringify(instants)}.map(m.formatLocalTime))))`;
    const run = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
    return run.status === 0 ? (JSON.parse(run.stdout) as string[]) : run.stderr;
  }

  test('other zones (child processes with TZ set)', () => {
    const expected: Record<string, string> = {
      UTC: '2014-11-01 04:18:33',
      'America/New_York': '2014-11-01 00:18:33',
      'Asia/Kolkata': '2014-11-01 09:48:33',
      'Australia/Lord_Howe': '2014-11-01 15:18:33',
    };
    for (const tz of zones) {
      const times = nodeTimes(tz);
      assert.ok(Array.isArray(times), `${tz}: ${String(times)}`);
      assert.equal(times[1], expected[tz], tz);
    }
  });

  test("same text as Python's time.strftime(time.localtime()) in each zone", (t) => {
    const python = `import json, time\nprint(json.dumps([time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(x)) for x in ${JSON.stringify(instants)}]))`;
    for (const tz of zones) {
      const run = spawnSync('python3', ['-c', python], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
      if (run.error !== undefined || run.status !== 0) {
        t.skip(`python3 not available: ${run.error?.message ?? run.stderr}`);
        return;
      }
      assert.deepEqual(nodeTimes(tz), JSON.parse(run.stdout), tz);
    }
  });
});

describe('decodeProcessList', () => {
  test('copies the members, defaults the unused ones, accepts i8 bigints', () => {
    const { state: _s, pid: _p, spawnerr: _e, ...minimal } = MYSQL;
    const decoded = decodeProcessList([{ ...MYSQL, start: 1414815388n, extra: 'ignored' }, minimal]);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.processes[0], MYSQL);
    assert.deepEqual(decoded.processes[1], { ...MYSQL, state: 0, pid: 0, spawnerr: '' });
  });

  test('refuses what the reference would crash on, saying what and where', () => {
    const cases: Array<[unknown, string]> = [
      ['nope', 'expected an array of process structs, got a string'],
      [null, 'expected an array of process structs, got null'],
      [undefined, 'expected an array of process structs, got nothing'],
      [{ a: 1 }, 'expected an array of process structs, got a struct'],
      [[MYSQL, 5], 'process 1 is a number, not a struct'],
      [[[MYSQL]], 'process 0 is an array, not a struct'],
      [[new Date(0)], 'process 0 is a date, not a struct'],
      [[new Uint8Array(1)], 'process 0 is binary data, not a struct'],
      [[{ ...MYSQL, statename: 20 }], "process 0 (mysql) has no string 'statename'"],
      [[{ ...MYSQL, name: undefined }], "process 0 has no string 'name'"],
      [[{ ...MYSQL, now: '1414815513' }], "process 0 (mysql) has no integer 'now'"],
      [[{ ...MYSQL, exitstatus: NaN }], "process 0 (mysql) has no integer 'exitstatus'"],
    ];
    for (const [value, reason] of cases) assert.deepEqual(decodeProcessList(value), { ok: false, reason });
  });

  test('several members wrong: the first of name, group, statename, description, the log files, then start, stop, now, exitstatus', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...MYSQL, group: 1, start: 'x' }, "process 0 (mysql) has no string 'group'"],
      [{ ...MYSQL, logfile: null, description: null }, "process 0 (mysql) has no string 'description'"],
      [{ ...MYSQL, stdout_logfile: 1, stderr_logfile: 1 }, "process 0 (mysql) has no string 'stderr_logfile'"],
      [{ ...MYSQL, exitstatus: 'x', stop: Infinity }, "process 0 (mysql) has no integer 'stop'"],
      // an inherited member is not the struct's own
      [Object.assign(Object.create({ start: 1 }) as object, { ...MYSQL, start: undefined }), "process 0 (mysql) has no integer 'start'"],
    ];
    for (const [struct, reason] of cases) assert.deepEqual(decodeProcessList([MYSQL, struct].slice(1)), { ok: false, reason });
    assert.deepEqual(decodeProcessList([MYSQL, { ...MYSQL, name: 'x', now: 1.5e300 * 1e10 }]), { ok: false, reason: "process 1 (x) has no integer 'now'" });
  });

  test('each process is a new object with the members in one order, doubles truncated', () => {
    const { spawnerr, ...rest } = MYSQL;
    const raw = { spawnerr, extra: 1, ...rest, start: 1414815388.9 };
    const decoded = decodeProcessList([raw]);
    assert.ok(decoded.ok);
    assert.notEqual(decoded.processes[0], raw);
    assert.deepEqual(Object.keys(decoded.processes[0]!), [
      'name', 'group', 'statename', 'description', 'stderr_logfile', 'stdout_logfile', 'logfile',
      'start', 'stop', 'now', 'exitstatus', 'state', 'pid', 'spawnerr',
    ]);
    assert.equal(decoded.processes[0]!.start, 1414815388);
  });
});

describe('adoptProcessList (a run\'s own answer)', () => {
  test('whole structs are taken as they are, not copied', () => {
    const raw = [{ ...MYSQL }, { ...JAVA, extra: 'kept' }];
    const adopted = adoptProcessList(raw);
    assert.ok(adopted.ok);
    assert.equal(adopted.processes, raw as unknown);
    assert.equal(adopted.processes[1], raw[1]);
    assert.deepEqual(adoptProcessList([]), { ok: true, processes: [] });
  });

  test('a list with any struct that is not whole is decoded as decodeProcessList does, copies and errors alike', () => {
    const { pid: _p, ...noPid } = MYSQL;
    const cases: unknown[] = [
      [MYSQL, { ...JAVA, start: BigInt(JAVA.start) }],
      [MYSQL, { ...JAVA, now: JAVA.now + 0.5 }],
      [MYSQL, noPid],
      [MYSQL, { ...JAVA, spawnerr: null }],
      [MYSQL, Object.assign(Object.create({ pid: 1 }) as object, noPid)],
      [MYSQL, { ...JAVA, group: 7 }],
      [MYSQL, [JAVA]],
      [MYSQL, null],
      'nope',
      { 0: MYSQL },
    ];
    for (const value of cases) assert.deepEqual(adoptProcessList(value), decodeProcessList(value), inspectValue(value));
    const copied = adoptProcessList([MYSQL, noPid]);
    assert.ok(copied.ok);
    assert.notEqual(copied.processes[0], MYSQL);
    assert.equal(copied.processes[1]!.pid, 0);
  });
});

function inspectValue(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

describe('failures of getAllProcessInfo', () => {
  const tcp = config({ host: 'invalid_host', port: '9009' });
  const sock = config({ socket: 'unix:///wrong/path/supervisor.sock', host: 'http://127.0.0.1' });
  const TCP_MESSAGE = 'Cannot connect to http://invalid_host:9009. Make sure supervisor is running and XML-RPC inet interface is enabled.';
  const SOCKET_MESSAGE =
    'Cannot connect to unix:///wrong/path/supervisor.sock. Make sure supervisor is running and socket is enabled and socket file has the right permissions.';
  // [error, config, message, can_connect CRITICAL?]
  const cases: Array<[unknown, ReturnType<typeof config>, string, boolean]> = [
    [new ConnectError('connect ECONNREFUSED', 'x', 'ECONNREFUSED'), tcp, TCP_MESSAGE, true],
    [new ConnectError('connect ENOENT', 'x', 'ENOENT'), sock, SOCKET_MESSAGE, true],
    // a deadline is a timeout, not a connection failure; a RunDeadlineError names what was pending and the process count
    [new TimeoutError('ERR_DEADLINE', 'no answer', 'x', 10000), tcp, 'supervisord at http://invalid_host:9009 did not answer within 10 s.', true],
    [
      new RunDeadlineError('x', 2500, 'timeout', ['supervisor.getAllProcessInfo'], 4000),
      sock,
      'supervisord at unix:///wrong/path/supervisor.sock did not answer within 2.5 s: supervisor.getAllProcessInfo was pending (the last listing had 4000 processes).',
      true,
    ],
    [
      new RunDeadlineError('x', 60000, 'listing_timeout', ['system.multicall[30 x supervisor.getProcessInfo]', 'supervisor.getAllProcessInfo'], undefined),
      tcp,
      'supervisord at http://invalid_host:9009 did not answer within 60 s: 2 calls were pending, the first system.multicall[30 x supervisor.getProcessInfo].',
      true,
    ],
    [new RunDeadlineError('x', 100, 'timeout', [], 3), tcp, 'supervisord at http://invalid_host:9009 did not answer within 0.1 s (the last listing had 3 processes).', true],
    [new TimeoutError('ERR_CONNECT_TIMEOUT', 'no connection', 'x', 5000), sock, SOCKET_MESSAGE, true],
    [new ConnectionClosedError('closed', 'x', true, 'ECONNRESET'), tcp, TCP_MESSAGE, true],
    [new HttpStatusError(401, 'Unauthorized', 'x'), tcp, 'Username or password to server1 are incorrect.', true],
    [new HttpStatusError(401, 'Unauthorized', 'x'), sock, 'Username or password to server1 are incorrect.', true],
    [new HttpStatusError(500, 'Internal Server Error', 'x'), tcp, 'An error occurred while connecting to server1: 500 Internal Server Error', true],
    [new HttpStatusError(402, '', 'x'), tcp, 'An error occurred while connecting to server1: 402 ', true],
    [new XmlRpcFault(6, 'SHUTDOWN_STATE'), tcp, 'An error occurred while reading process information: 6 SHUTDOWN_STATE', false],
    [new NotXmlRpcError('answer is text/html, not XML', 'x', 'text/html'), tcp, 'An error occurred while connecting to server1: answer is text/html, not XML', true],
    [new XmlRpcParseError('unexpected text', 42), tcp, 'An error occurred while connecting to server1: unexpected text at byte 42', true],
    [new DepthLimitError(64, 900), tcp, 'An error occurred while connecting to server1: nesting deeper than 64 levels at byte 900', true],
    [new BodySizeError(1024, 'http://h:1/RPC2'), tcp, 'An error occurred while connecting to server1: response body from http://h:1/RPC2 larger than 1024 bytes', true],
    [new HttpParseError('bad status line', 'x'), tcp, 'An error occurred while connecting to server1: bad status line', true],
    [new ClientClosedError(), tcp, 'An error occurred while connecting to server1: client closed', false],
    [new TypeError('boom'), tcp, 'An error occurred while connecting to server1: boom', true],
    ['a string', tcp, 'An error occurred while connecting to server1: a string', true],
  ];
  test('messages, and whether can_connect is submitted', () => {
    for (const [error, c, message, canConnect] of cases) {
      assert.deepEqual(describeFailure(error, c), { message, canConnect }, String(error));
      // SHUTDOWN_STATE is reported by buildResult without an error (issue 5): see 'beyond the reference'.
      if (error instanceof XmlRpcFault && error.faultCode === 6) continue;
      const result = buildResult(c, { processInfo: { ok: false, error } });
      assert.deepEqual(result.errors, [message]);
      assert.deepEqual(
        result.serviceChecks,
        canConnect ? [{ name: 'supervisord.can_connect', status: 2, tags: [...c.instanceTags], message }] : [],
      );
      // the reference raises: nothing else is submitted
      assert.deepEqual(result.metrics, []);
      assert.deepEqual(result.metadata, {});
      assert.deepEqual(result.warnings, []);
    }
  });

  test('the port is printed as configured', () => {
    const message = describeFailure(new ConnectError('x', 'x'), config({ port: '09001' })).message;
    assert.equal(message, 'Cannot connect to http://localhost:09001. Make sure supervisor is running and XML-RPC inet interface is enabled.');
  });

  test('a malformed list: can_connect OK, then an error and nothing else', () => {
    const result = buildResult(config(), { processInfo: { ok: true, value: [{ name: 'x' }] } });
    assert.deepEqual(result.serviceChecks, [{ name: 'supervisord.can_connect', status: 0, tags: ['supervisord_server:server1'] }]);
    assert.deepEqual(result.errors, ["An error occurred while reading process information: process 0 (x) has no string 'group'"]);
    assert.deepEqual(result.metrics, []);
  });
});

describe('version', () => {
  test('parseVersion: the reference pattern, searched', () => {
    const cases: Array<[string, Record<string, string> | undefined]> = [
      ['3.0', { major: '3', minor: '0' }],
      ['3.0b2', { major: '3', minor: '0', release: 'b2' }],
      ['3.0a12', { major: '3', minor: '0', release: 'a12' }],
      ['4.1.2', { major: '4', minor: '1', patch: '2' }],
      ['4.2.5', { major: '4', minor: '2', patch: '5' }],
      ['4.0.0', { major: '4', minor: '0', patch: '0' }],
      ['10.20.30rc', { major: '10', minor: '20', patch: '30', release: 'r' }],
      ['supervisor 3.3.3 (py3)', { major: '3', minor: '3', patch: '3' }],
      ['01.2', { major: '1', minor: '2' }],
      // Development and pre-release versions as supervisord reports them (PEP 440): the reference's pattern keeps what it matches.
      ['4.4.0.dev0', { major: '4', minor: '4', patch: '0' }],
      ['4.3.0b1', { major: '4', minor: '3', patch: '0', release: 'b1' }],
      ['4.3.0a2', { major: '4', minor: '3', patch: '0', release: 'a2' }],
      ['4.3.0rc1', { major: '4', minor: '3', patch: '0', release: 'r' }],
      ['4', undefined],
      ['', undefined],
      ['abc', undefined],
    ];
    for (const [raw, parts] of cases) {
      const expected = parts === undefined ? undefined : { raw, ...parts, scheme: 'supervisord' };
      assert.deepEqual(parseVersion(raw), expected, raw);
    }
  });

  test('failures are warnings, never errors, and keep the rest of the run', () => {
    const cases: Array<[{ ok: true; value: unknown } | { ok: false; error: unknown }, string]> = [
      [{ ok: false, error: new XmlRpcFault(1, 'UNKNOWN_METHOD') }, 'Error collecting version: fault 1: UNKNOWN_METHOD'],
      [{ ok: false, error: new ConnectionClosedError('connection reset', 'x', true) }, 'Error collecting version: connection reset'],
      [{ ok: true, value: 42 }, 'Error collecting version: expected a string, got a number'],
      [{ ok: true, value: 'unknown' }, 'Error collecting version: cannot parse version "unknown"'],
    ];
    for (const [version, warning] of cases) {
      const result = buildResult(config(), { processInfo: { ok: true, value: SERVER1 }, version });
      assert.deepEqual(result.warnings, [warning]);
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.metadata, {});
      const reference = referenceOnly(result);
      assert.equal(reference.serviceChecks.length, 4);
      assert.equal(reference.metrics.length, 6);
    }
  });

  test('not asked: no metadata, no warning', () => {
    const result = buildResult(config(), { processInfo: { ok: true, value: [] } });
    assert.deepEqual(result.metadata, {});
    assert.deepEqual(result.warnings, []);
  });
});

// ---------------------------------------------------------------------------
// Beyond the reference (issue 5)
// ---------------------------------------------------------------------------

const APACHE2: ProcessInfo = {
  ...JAVA,
  name: 'apache2',
  group: 'apache2',
  statename: 'FATAL',
  state: 200,
  start: 1414867047,
  stop: 1414867047,
  now: 1414869824,
  exitstatus: 0,
};
/** A command that could not be found: FATAL after a start attempt, never exited. */
const NEVER_RAN: ProcessInfo = { ...APACHE2, name: 'broken', group: 'broken', stop: 0 };
const EXITED3: ProcessInfo = { ...JAVA, name: 'exiter', group: 'exiter', statename: 'EXITED', state: 100, exitstatus: 3 };
const IDLE: ProcessInfo = { ...JAVA, name: 'idle', group: 'idle', start: 0, stop: 0, exitstatus: 0 };

describe('beyond the reference: per-process facts', () => {
  test('restartCount: start changed, or another pid; 0 on first sight and when unchanged', () => {
    const mark = (start: number, pid: number): ProcessMark => ({ start, pid });
    // [previous mark, start, pid, expected]
    const cases: Array<[ProcessMark | undefined, number, number, number]> = [
      [undefined, 100, 5, 0],
      [mark(100, 5), 100, 5, 0],
      [mark(100, 5), 160, 9, 1],
      [mark(100, 5), 160, 0, 1], // restarted, then exited before this run
      [mark(100, 5), 100, 9, 1], // a restart within the same second
      [mark(100, 5), 100, 0, 0], // stopped: not a start
      [mark(0, 0), 100, 7, 1], // first start of a process seen never started
      [mark(100, 0), 100, 0, 0],
      [mark(100, 5), 0, 0, 0], // a restarted supervisord's new process, not started yet
      [mark(0, 0), 0, 0, 0],
    ];
    for (const [previous, start, pid, expected] of cases) {
      assert.equal(restartCount(previous, { ...MYSQL, start, pid }), expected, JSON.stringify([previous, start, pid]));
    }
  });

  test('downtime: now - stop for STOPPED, EXITED, FATAL that stopped; else none', () => {
    const cases: Array<[ProcessInfo, number | undefined]> = [
      [JAVA, 16],
      [EXITED3, 16],
      [APACHE2, 2777],
      [NEVER_RAN, undefined],
      [IDLE, undefined],
      [MYSQL, undefined],
      [PYTHON, undefined],
      [WEBAPP, undefined],
      [RUBY, undefined], // BACKOFF: between two attempts
      [{ ...JAVA, statename: 'UNKNOWN' }, undefined],
      [{ ...JAVA, now: JAVA.stop - 5 }, 0], // server clock set back: never negative
    ];
    for (const [p, expected] of cases) assert.equal(processDowntime(p), expected, `${p.name} ${p.statename}`);
  });

  test('exit status: for EXITED, BACKOFF, FATAL, STOPPED that started and ended; never the 0 supervisord gives for an exit before startsecs', () => {
    const cases: Array<[ProcessInfo, number | undefined]> = [
      [JAVA, 21],
      [EXITED3, 3],
      [{ ...EXITED3, exitstatus: 0 }, 0],
      [APACHE2, undefined], // FATAL with 0: only the main log knows
      [RUBY, undefined], // BACKOFF with 0: the same
      [NEVER_RAN, undefined],
      [IDLE, undefined],
      [MYSQL, undefined],
      [WEBAPP, undefined],
      [PYTHON, undefined],
    ];
    for (const [p, expected] of cases) assert.equal(processExitStatus(p), expected, `${p.name} ${p.statename}`);
  });

  test('extra metrics: per process in order, then three group counts per group; no volatile tag', () => {
    const grouped = (p: ProcessInfo, group: string): ProcessInfo => ({ ...p, group });
    const processes = [grouped(JAVA, 'db'), grouped(MYSQL, 'db'), grouped(PYTHON, 'web'), grouped(EXITED3, 'web')];
    const c = config({ tags: ['env:x'] });
    const base = ['env:x', 'supervisord_server:server1'];
    const t = (p: ProcessInfo, group: string): string[] => [...base, `supervisord_process:${p.name}`, `supervisord_group:${group}`];
    const previous = new Map<string, ProcessMark>([
      ['db:java', { start: JAVA.start, pid: 0 }],
      ['db:mysql', { start: MYSQL.start - 60, pid: 1 }],
    ]);
    const g = (group: string, status: string, value: number): Metric => ({
      name: 'supervisord.group.count',
      type: 'gauge',
      value,
      tags: [...base, `supervisord_group:${group}`, `status:${status}`],
    });
    assert.deepEqual(extraSubmissions(processes, c, previous), [
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: t(JAVA, 'db') },
      { name: 'supervisord.process.downtime', type: 'gauge', value: 16, tags: t(JAVA, 'db') },
      { name: 'supervisord.process.exit_status', type: 'gauge', value: 21, tags: t(JAVA, 'db') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: JAVA.start, tags: t(JAVA, 'db') },
      { name: 'supervisord.process.restarts', type: 'count', value: 1, tags: t(MYSQL, 'db') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: MYSQL.start, tags: t(MYSQL, 'db') },
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: t(PYTHON, 'web') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: PYTHON.start, tags: t(PYTHON, 'web') },
      { name: 'supervisord.process.restarts', type: 'count', value: 0, tags: t(EXITED3, 'web') },
      { name: 'supervisord.process.downtime', type: 'gauge', value: 16, tags: t(EXITED3, 'web') },
      { name: 'supervisord.process.exit_status', type: 'gauge', value: 3, tags: t(EXITED3, 'web') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: EXITED3.start, tags: t(EXITED3, 'web') },
      g('db', 'down', 1),
      g('db', 'up', 1),
      g('db', 'unknown', 0),
      g('web', 'down', 1),
      g('web', 'up', 0),
      g('web', 'unknown', 1),
    ]);
    // the status mapping applies to group counts too
    const up = extraSubmissions([JAVA], config({ status_mapping_override: { STOPPED: 'up' } }), undefined);
    assert.deepEqual(up.filter((m) => m.name === 'supervisord.group.count').map((m) => m.value), [0, 1, 0]);
    assert.deepEqual(extraSubmissions([], c, undefined), []);
    assert.equal(processKey(MYSQL), 'mysql:mysql');
  });
});

describe('beyond the reference: server state', () => {
  const base = ['supervisord_server:server1'];
  test('getState statenames and failures', () => {
    // [outcome, expected check or warning]
    const cases: Array<[CallOutcome, { status: number; message?: string } | string]> = [
      [{ ok: true, value: { statecode: 1, statename: 'RUNNING' } }, { status: 0 }],
      [{ ok: true, value: { statecode: 0, statename: 'RESTARTING' } }, { status: 1, message: 'supervisord is RESTARTING' }],
      [{ ok: true, value: { statecode: -1, statename: 'SHUTDOWN' } }, { status: 2, message: 'supervisord is SHUTDOWN' }],
      [{ ok: true, value: { statecode: 2, statename: 'FATAL' } }, { status: 2, message: 'supervisord is FATAL' }],
      [{ ok: true, value: { statecode: 7, statename: 'DREAMING' } }, { status: 3, message: 'supervisord is DREAMING' }],
      [{ ok: false, error: new XmlRpcFault(6, 'SHUTDOWN_STATE') }, { status: 2, message: 'SHUTDOWN_STATE' }],
      [{ ok: false, error: new XmlRpcFault(1, 'UNKNOWN_METHOD') }, 'Error collecting state: fault 1: UNKNOWN_METHOD'],
      [{ ok: false, error: new TimeoutError('ERR_DEADLINE', 'no answer within 10 ms', 'x', 10) }, 'Error collecting state: no answer within 10 ms'],
      [{ ok: false, error: 'odd' }, 'Error collecting state: odd'],
      [{ ok: true, value: 'RUNNING' }, "Error collecting state: expected a struct with a string 'statename', got a string"],
      [{ ok: true, value: { statecode: 1 } }, "Error collecting state: expected a struct with a string 'statename', got a struct"],
      [{ ok: true, value: [] }, "Error collecting state: expected a struct with a string 'statename', got an array"],
      [{ ok: true, value: null }, "Error collecting state: expected a struct with a string 'statename', got null"],
    ];
    for (const [outcome, expected] of cases) {
      const got = serverStateCheck(outcome, config());
      if (typeof expected === 'string') {
        assert.deepEqual(got, { warning: expected });
      } else {
        assert.deepEqual(got, { check: { name: 'supervisord.server.state', tags: base, ...expected } });
      }
      // in a run: last service check, or a warning
      const result = buildResult(config(), { processInfo: { ok: true, value: [MYSQL] }, version: { ok: true, value: '4.2.5' }, state: outcome });
      const last = result.serviceChecks[result.serviceChecks.length - 1]!;
      if (typeof expected === 'string') {
        assert.deepEqual(result.warnings, [expected]);
        assert.equal(last.name, 'supervisord.process.status');
      } else {
        assert.deepEqual(result.warnings, []);
        assert.deepEqual(last, { name: 'supervisord.server.state', tags: base, ...expected });
      }
    }
  });

  test('SHUTDOWN_STATE on the process list: can_connect OK, server.state CRITICAL, no error, no data', () => {
    const version: CallOutcome = { ok: false, error: new XmlRpcFault(6, 'SHUTDOWN_STATE') };
    const output = buildRun(config({ tags: ['a:b'] }), {
      processInfo: { ok: false, error: new XmlRpcFault(6, 'SHUTDOWN_STATE') },
      version,
      state: version,
    });
    const tags = ['a:b', 'supervisord_server:server1'];
    assert.deepEqual(output, {
      result: {
        metrics: [],
        serviceChecks: [
          { name: 'supervisord.can_connect', status: 0, tags },
          { name: 'supervisord.server.state', status: 2, tags, message: 'SHUTDOWN_STATE' },
        ],
        metadata: {},
        warnings: [],
        errors: [],
      },
      history: undefined,
    });
  });

  test('buildRun: history of the monitored processes, restarts against the previous one, summaries', () => {
    const c = config({ proc_names: ['mysql', 'java'] });
    const first = buildRun(c, { processInfo: { ok: true, value: SERVER1 } });
    // input order (the pure functions keep the order they are given)
    assert.deepEqual([...first.history!], [
      ['mysql:mysql', { start: MYSQL.start, pid: 787 }],
      ['java:java', { start: JAVA.start, pid: 0 }],
    ]);
    assert.deepEqual(first.result.processes, [
      { name: 'mysql', group: 'mysql', statename: 'RUNNING', status: 'up', uptime: 125, description: 'pid 787, uptime 0:02:05' },
      {
        name: 'java',
        group: 'java',
        statename: 'STOPPED',
        status: 'down',
        uptime: 0,
        description: 'Nov 01 04:22 AM',
        exit: { status: 21, source: 'process-info' },
      },
    ]);
    const restarted = [{ ...MYSQL, start: MYSQL.start + 10, pid: 800 }, JAVA, PYTHON];
    const second = buildRun(c, { processInfo: { ok: true, value: restarted } }, first.history);
    const restarts = (r: CheckResult): Array<[string, number]> =>
      r.metrics.filter((m) => m.name === 'supervisord.process.restarts').map((m) => [m.tags[1]!, m.value]);
    assert.deepEqual(restarts(second.result), [['supervisord_process:mysql', 1], ['supervisord_process:java', 0]]);
    const third = buildRun(c, { processInfo: { ok: true, value: restarted } }, second.history);
    assert.deepEqual(restarts(third.result), [['supervisord_process:mysql', 0], ['supervisord_process:java', 0]]);
    // failures and malformed lists leave no history (the check keeps the previous one)
    assert.equal(buildRun(c, { processInfo: { ok: false, error: new ConnectError('x', 'x') } }).history, undefined);
    assert.equal(buildRun(c, { processInfo: { ok: true, value: 'no' } }).history, undefined);
    assert.equal(buildRun(c, { processInfo: { ok: true, value: 'no' } }).result.processes, undefined);
  });

  test('buildRun: the previous history is kept as it is while no process changed, else a new one with the unchanged marks', () => {
    const c = config();
    const first = buildRun(c, { processInfo: { ok: true, value: SERVER1 } }).history!;
    // fresh structs (as every run decodes), the same values: nothing to rebuild
    const again = buildRun(c, { processInfo: { ok: true, value: SERVER1.map((p) => ({ ...p })) } }, first).history!;
    assert.equal(again, first);
    const restarted = [{ ...MYSQL, pid: 900 }, JAVA, PYTHON];
    const second = buildRun(c, { processInfo: { ok: true, value: restarted } }, first).history!;
    assert.notEqual(second, first);
    assert.deepEqual([...second], [
      ['mysql:mysql', { start: MYSQL.start, pid: 900 }],
      ['java:java', { start: JAVA.start, pid: JAVA.pid }],
      ['python:python', { start: PYTHON.start, pid: PYTHON.pid }],
    ]);
    assert.equal(second.get('java:java'), first.get('java:java'), 'an unchanged mark is reused');
    assert.deepEqual([...first], [
      ['mysql:mysql', { start: MYSQL.start, pid: MYSQL.pid }],
      ['java:java', { start: JAVA.start, pid: JAVA.pid }],
      ['python:python', { start: PYTHON.start, pid: PYTHON.pid }],
    ], 'the previous history is left as it was');
    // another order, a process gone, one added, the same set in another order: a new history, in this run's order
    const cases: ProcessInfo[][] = [
      [JAVA, MYSQL, PYTHON],
      [MYSQL, JAVA],
      [MYSQL, JAVA, PYTHON, { ...PYTHON, name: 'py2' }],
      // same group:name from other parts ('a:b' + 'c' and 'a' + 'b:c' give one key)
      [MYSQL, JAVA, { ...PYTHON, group: 'python:x', name: 'y' }],
    ];
    for (const value of cases) {
      const next = buildRun(c, { processInfo: { ok: true, value } }, first).history!;
      assert.notEqual(next, first, JSON.stringify(value.map(processKey)));
      assert.deepEqual([...next.keys()], value.map(processKey));
    }
  });

  test('buildRun: no two submissions share a tags array, and the same tags as before', () => {
    const c = config({ tags: ['env:prod'] });
    const previous = buildRun(c, { processInfo: { ok: true, value: SERVER1 } }).history;
    const { result } = buildRun(c, { processInfo: { ok: true, value: [...SERVER1, WEBAPP, RUBY] }, state: { ok: true, value: { statename: 'RUNNING' } } }, previous);
    const arrays = [...result.metrics, ...result.serviceChecks].map((x) => x.tags);
    assert.equal(new Set(arrays).size, arrays.length);
    for (const metric of result.metrics.filter((m) => m.name.startsWith('supervisord.process.') && m.name !== 'supervisord.process.count')) {
      const name = metric.tags.find((t) => t.startsWith('supervisord_process:'))!.slice('supervisord_process:'.length);
      const p = [...SERVER1, WEBAPP, RUBY].find((x) => x.name === name)!;
      assert.deepEqual(metric.tags, ['env:prod', 'supervisord_server:server1', `supervisord_process:${p.name}`, `supervisord_group:${p.group}`], metric.name);
    }
    const groups = result.metrics.filter((m) => m.name === 'supervisord.group.count').map((m) => m.tags);
    assert.deepEqual(groups.slice(0, 3), [
      ['env:prod', 'supervisord_server:server1', 'supervisord_group:mysql', 'status:down'],
      ['env:prod', 'supervisord_server:server1', 'supervisord_group:mysql', 'status:up'],
      ['env:prod', 'supervisord_server:server1', 'supervisord_group:mysql', 'status:unknown'],
    ]);
    // a consumer adding a tag to one submission changes no other, nor the next run
    result.serviceChecks[1]!.tags.push('mine:1');
    assert.equal(result.metrics.filter((m) => m.tags.includes('mine:1')).length, 0);
  });

  test('buildRun: the run decodes its process list once (the collector hands over its decoding)', () => {
    const c = config();
    const decoded = decodeProcessList([MYSQL]);
    // a Collected whose decoding was made by the collector: buildRun takes it, not a second decoding of the raw list
    const { result } = buildRun(c, { processInfo: { ok: true, value: [MYSQL, JAVA] }, decoded });
    assert.deepEqual(result.processes?.map((p) => p.name), ['mysql']);
    const failed = buildRun(c, { processInfo: { ok: true, value: [MYSQL] }, decoded: { ok: false, reason: 'r' } });
    assert.deepEqual(failed.result.errors, ['An error occurred while reading process information: r']);
  });
});

// ---------------------------------------------------------------------------
// Exit statuses that supervisord's process info does not hold (issue 19)
// ---------------------------------------------------------------------------

/** What supervisord 4.2.5 answers in each case (process.py finish(), spawn(), kill()). */
const QUICK_FATAL: ProcessInfo = {
  ...APACHE2,
  name: 'quick',
  group: 'quick',
  start: 1414867040,
  stop: 1414867041,
  exitstatus: 0,
  spawnerr: 'Exited too quickly (process log may have details)',
  description: 'Exited too quickly (process log may have details)',
};
const QUICK_BACKOFF: ProcessInfo = { ...QUICK_FATAL, statename: 'BACKOFF', state: 30 };
/** A spawn that failed after an earlier run: `start` moved, `stop` did not. */
const SPAWN_FAILED: ProcessInfo = { ...QUICK_FATAL, spawnerr: "can't find command '/x'", start: 1414867050, stop: 1414867041 };
/** The same second as the exit before it: only `spawnerr` tells. */
const SPAWN_FAILED_SAME_SECOND: ProcessInfo = { ...SPAWN_FAILED, start: 1414867041 };
const STOPPED_CLEANLY: ProcessInfo = { ...JAVA, exitstatus: 0 };
const STOPPED_BY_SIGNAL: ProcessInfo = { ...JAVA, exitstatus: -1 };
/** Stopped in BACKOFF after a failed spawn: no exit since that start. */
const STOPPED_IN_BACKOFF: ProcessInfo = { ...JAVA, exitstatus: 0, start: JAVA.stop + 5 };
const KILLED: ProcessInfo = { ...EXITED3, exitstatus: -1 };

const logged = (status: number, more: Partial<LoggedExit> = {}): LoggedExit => ({ kind: 'exited', name: 'x', status, expected: false, time: '2026-12-06 23:20:17,117', ...more });

function evidence(exits: Record<string, LoggedExit | string>, shared: string[] = [], infoLogged = true): ExitEvidence {
  return {
    infoLogged,
    lookup: (name): ExitLookup => {
      const e = exits[name];
      if (e === undefined) return { known: false, reason: 'not in the log' };
      return typeof e === 'string' ? { known: false, reason: e } : { known: true, exit: e };
    },
    sharedNames: new Set(shared),
  };
}

describe('exit statuses: never the 0 supervisord gives for an exit it did not record', () => {
  const fromInfo = (status: number): ExitFact => ({ kind: 'known', status, source: 'process-info' });
  const fromLog = (status: number, more: object = {}): ExitFact => ({ kind: 'known', status, ...more, source: 'main-log' });
  const NONE: ExitFact = { kind: 'none' };
  // [process, what the log says of its name, expected fact, needs the log]
  const cases: Array<[string, ProcessInfo, LoggedExit | string | undefined, ExitFact, boolean]> = [
    ['EXITED 3: the process info', EXITED3, logged(9), fromInfo(3), false],
    ['EXITED 0 is an exit status (only an exit leads to EXITED)', { ...EXITED3, exitstatus: 0 }, undefined, fromInfo(0), false],
    ['STOPPED 21', JAVA, undefined, fromInfo(21), false],
    ['FATAL after exits before startsecs: the log', QUICK_FATAL, logged(3), fromLog(3), true],
    ['BACKOFF: the log', QUICK_BACKOFF, logged(3), fromLog(3), true],
    ['FATAL: a 0 in the log is an exit status', QUICK_FATAL, logged(0), fromLog(0), true],
    ['FATAL killed by a signal before startsecs', QUICK_FATAL, logged(-1, { signal: 'SIGKILL' }), fromLog(-1, { signal: 'SIGKILL' }), true],
    ['core dumped', QUICK_FATAL, logged(-1, { signal: 'SIGSEGV', coreDumped: true }), fromLog(-1, { signal: 'SIGSEGV', coreDumped: true }), true],
    ['FATAL, the log unreadable: unknown, never 0', QUICK_FATAL, 'the log could not be read', { kind: 'unknown', reason: 'the log could not be read' }, true],
    ['FATAL, not in the part read', QUICK_FATAL, undefined, { kind: 'unknown', reason: 'not in the log' }, true],
    ['STOPPED with 0 after a run: the log tells a clean exit from a stop in BACKOFF', STOPPED_CLEANLY, { ...logged(0), kind: 'stopped' }, fromLog(0), true],
    ['STOPPED with 0 after exits before startsecs', STOPPED_CLEANLY, logged(3), fromLog(3), true],
    [
      'STOPPED by a signal: -1 from the process info, the signal from the log',
      STOPPED_BY_SIGNAL,
      { ...logged(-1, { signal: 'SIGTERM' }), kind: 'stopped' },
      { kind: 'known', status: -1, signal: 'SIGTERM', source: 'process-info' },
      true,
    ],
    ['EXITED killed: -1 and the signal', KILLED, logged(-1, { signal: 'SIGKILL' }), { kind: 'known', status: -1, signal: 'SIGKILL', source: 'process-info' }, true],
    ['EXITED killed, the log unreadable: -1 alone', KILLED, 'unreadable', fromInfo(-1), true],
    ['EXITED killed, the log says an exit code: no signal to name', KILLED, logged(3), fromInfo(-1), true],
    ['FATAL, spawn failed after a run: no exit since that start', SPAWN_FAILED, logged(3), NONE, false],
    ['FATAL, spawn failed in the second of the exit before', SPAWN_FAILED_SAME_SECOND, logged(3), NONE, false],
    ['FATAL never ran', NEVER_RAN, logged(3), NONE, false],
    ['STOPPED in BACKOFF after a failed spawn', STOPPED_IN_BACKOFF, logged(3), NONE, false],
    ['never started', IDLE, logged(3), NONE, false],
    ['RUNNING', MYSQL, logged(3), NONE, false],
    ['STARTING', PYTHON, logged(3), NONE, false],
    ['BACKOFF without a spawn error text (an older server): by the times alone', { ...QUICK_BACKOFF, spawnerr: '' }, logged(4), fromLog(4), true],
  ];
  for (const [why, p, log, expected, needs] of cases) {
    test(why, () => {
      const ev = evidence(log === undefined ? {} : { [p.name]: typeof log === 'string' ? log : { ...log, name: p.name } });
      assert.deepEqual(processExit(p, ev), expected);
      assert.equal(needsMainLog(p), needs);
      // Without evidence a status only the log tells is unknown, never 0.
      if (needs && p.exitstatus === 0) assert.deepEqual(processExit(p), { kind: 'unknown', reason: "supervisord's main log was not read" });
      assert.equal(processExitStatus(p, ev), expected.kind === 'known' ? expected.status : undefined);
    });
  }

  test('STOPPED with 0 and a log without INFO lines (loglevel warn: a stop that ended with 0 is not logged): unknown', () => {
    const reason = "supervisord's main log has no INFO lines (loglevel warn or higher does not log a stop that ended with status 0)";
    assert.deepEqual(processExit({ ...STOPPED_CLEANLY, name: 'x' }, evidence({ x: logged(3) }, [], false)), { kind: 'unknown', reason });
    // FATAL and BACKOFF after exits before startsecs: those exits are WARN lines, always logged.
    assert.deepEqual(processExit({ ...QUICK_FATAL, name: 'x' }, evidence({ x: logged(3) }, [], false)), { kind: 'known', status: 3, source: 'main-log' });
  });

  test('a name several processes share: unknown, whatever the log says', () => {
    assert.deepEqual(processExit(QUICK_FATAL, evidence({ quick: logged(3) }, ['quick'])), {
      kind: 'unknown',
      reason: "several processes are named 'quick' and the main log names a process without its group",
    });
  });

  test('in a run: exit_status and exit_signal only where known, start_time never 0; summaries and one warning per reason', () => {
    const c = config();
    const processes = [
      { ...QUICK_FATAL, name: 'q1', group: 'q1' },
      { ...QUICK_FATAL, name: 'q2', group: 'q2' },
      { ...QUICK_FATAL, name: 'q3', group: 'g' },
      { ...KILLED, name: 'k', group: 'k' },
      { ...QUICK_FATAL, name: 'r', group: 'r' },
      IDLE,
    ];
    const ev = evidence({ q1: logged(3), q2: 'its exit is not in the part of the main log the check has read', q3: 'its exit is not in the part of the main log the check has read', k: logged(-1, { signal: 'SIGKILL', coreDumped: true }), r: logged(-1, { signal: 'signal 42' }) });
    const result = buildResult(c, { processInfo: { ok: true, value: processes }, exits: ev });
    const of = (name: string): Array<[string, number]> =>
      result.metrics.filter((m) => m.name === name).map((m) => [m.tags.find((t) => t.startsWith('supervisord_process:'))!.slice(20), m.value]);
    assert.deepEqual(of('supervisord.process.exit_status'), [['q1', 3], ['k', -1], ['r', -1]]);
    assert.deepEqual(of('supervisord.process.exit_signal'), [['k', 9], ['r', 42]]);
    assert.deepEqual(of('supervisord.process.start_time'), processes.filter((p) => p.start !== 0).map((p) => [p.name, p.start]));
    assert.deepEqual(result.processes?.map((p) => p.exit), [
      { status: 3, source: 'main-log' },
      { status: null, reason: 'its exit is not in the part of the main log the check has read' },
      { status: null, reason: 'its exit is not in the part of the main log the check has read' },
      { status: -1, source: 'process-info', signal: 'SIGKILL', coreDumped: true },
      { status: -1, source: 'main-log', signal: 'signal 42' },
      undefined,
    ]);
    assert.deepEqual(result.warnings, [
      "exit status of 'q2' (FATAL), 'g:q3' (FATAL) unknown: its exit is not in the part of the main log the check has read; supervisord's process info says 0 for an exit before startsecs, which is not an exit status",
    ]);
    // More than five: the first five named.
    const many = Array.from({ length: 7 }, (_, i) => ({ ...QUICK_FATAL, name: `m${i}`, group: `m${i}` }));
    const crowd = buildResult(c, { processInfo: { ok: true, value: many } });
    assert.match(crowd.warnings[0]!, /^exit status of 'm0' \(FATAL\), 'm1' \(FATAL\), 'm2' \(FATAL\), 'm3' \(FATAL\), 'm4' \(FATAL\) and 2 more unknown: supervisord's main log was not read; /);
  });
});
