// Times in messages are local: this file runs in UTC (set before any Date is
// made); other zones run in child processes below.
process.env['TZ'] = 'UTC';

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
import { resolveConfig } from '../../lib/config.js';
import {
  buildResult,
  decodeProcessList,
  describeFailure,
  formatLocalTime,
  mapStatus,
  parseVersion,
  processMessage,
  processSubmissions,
  processUptime,
  selectProcesses,
} from '../../lib/submissions.js';
import type { ProcessInfo } from '../../lib/types.js';

/** The reference's mock server data (check-spec section 5, tests/test_supervisord_unit.py). */
const MYSQL: ProcessInfo = {
  now: 1414815513,
  group: 'mysql',
  description: 'pid 787, uptime 0:02:05',
  pid: 787,
  stderr_logfile: '/var/log/supervisor/mysql-stderr---supervisor-3ATI82.log',
  stop: 0,
  statename: 'RUNNING',
  start: 1414815388,
  state: 20,
  stdout_logfile: '/var/log/mysql/mysql.log',
  logfile: '/var/log/mysql/mysql.log',
  exitstatus: 0,
  spawnerr: '',
  name: 'mysql',
};
const JAVA: ProcessInfo = {
  now: 1414815738,
  group: 'java',
  description: 'Nov 01 04:22 AM',
  pid: 0,
  stderr_logfile: '/var/log/supervisor/java-stderr---supervisor-lSdcKZ.log',
  stop: 1414815722,
  statename: 'STOPPED',
  start: 1414815388,
  state: 0,
  stdout_logfile: '/var/log/java/java.log',
  logfile: '/var/log/java/java.log',
  exitstatus: 21,
  spawnerr: '',
  name: 'java',
};
const PYTHON: ProcessInfo = {
  now: 1414815738,
  group: 'python',
  description: '',
  pid: 2765,
  stderr_logfile: '/var/log/supervisor/python-stderr---supervisor-vFzxIg.log',
  stop: 1414815737,
  statename: 'STARTING',
  start: 1414815737,
  state: 10,
  stdout_logfile: '/var/log/python/python.log',
  logfile: '/var/log/python/python.log',
  exitstatus: 0,
  spawnerr: '',
  name: 'python',
};
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
    assert.deepEqual(result.serviceChecks, [
      { name: 'supervisord.can_connect', status: 0, tags: base },
      { name: 'supervisord.process.status', status: 0, tags: tags(MYSQL) },
      { name: 'supervisord.process.status', status: 2, tags: tags(JAVA), message: JAVA_MESSAGE },
      { name: 'supervisord.process.status', status: 3, tags: tags(PYTHON), message: processMessage(PYTHON) },
    ]);
    assert.deepEqual(result.metrics, [
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
});

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
    [new TimeoutError('ERR_DEADLINE', 'no answer', 'x', 10000), tcp, TCP_MESSAGE, true],
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
      assert.equal(result.serviceChecks.length, 4);
      assert.equal(result.metrics.length, 6);
    }
  });

  test('not asked: no metadata, no warning', () => {
    const result = buildResult(config(), { processInfo: { ok: true, value: [] } });
    assert.deepEqual(result.metadata, {});
    assert.deepEqual(result.warnings, []);
  });
});
