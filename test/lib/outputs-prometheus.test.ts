/**
 * The Prometheus exposition of check results: names, types, labels, escaping,
 * counters, service checks, per-server series, several servers, and every
 * output re-read by a strict parser of our own and by `promtool check metrics`.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { SupervisordCheck } from '../../lib/check.js';
import { checkAll } from '../../lib/check-all.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import * as outputs from '../../lib/outputs/index.js';
import type { ServerRun } from '../../lib/outputs/index.js';
import { DOGSTATSD_MAX_PAYLOAD, formatDogStatsD, packDatagrams } from '../../lib/outputs/dogstatsd.js';
import { formatText } from '../../lib/outputs/text.js';
import { formatNagios, NAGIOS_STATES } from '../../lib/outputs/nagios.js';
import {
  CounterTotals,
  formatPrometheus,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROMETHEUS_METRICS,
  prometheusMetricName,
  prometheusSnapshot,
} from '../../lib/outputs/prometheus.js';
import type { CheckResult, Metric, ServiceCheck } from '../../lib/types.js';
import { parseExposition, parseOpenMetrics, promtoolCheck, promtoolOpenMetrics, unexpectedLint } from '../helpers/prometheus-text.js';

function result(partial: Partial<CheckResult> = {}): CheckResult {
  return { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [], ...partial };
}

function run(name: string, partial: Partial<CheckResult> = {}, tags: string[] = [`supervisord_server:${name}`]): ServerRun {
  return { name, target: `unix:///tmp/${name}.sock`, tags, result: result(partial) };
}

const SERVER = ['env:prod', 'supervisord_server:main'];
const proc = (name: string): string[] => [...SERVER, `supervisord_process:${name}`, `supervisord_group:${name}`];

/** The reference case of check-spec section 5, as the check would emit it. */
const REFERENCE: ServerRun = run(
  'main',
  {
    serviceChecks: [
      { name: 'supervisord.can_connect', status: 0, tags: [...SERVER] },
      { name: 'supervisord.process.status', status: 0, tags: proc('mysql') },
      { name: 'supervisord.process.status', status: 2, tags: proc('java'), message: 'State: STOPPED' },
      { name: 'supervisord.process.status', status: 3, tags: proc('python'), message: 'State: STARTING' },
    ],
    metrics: [
      { name: 'supervisord.process.uptime', type: 'gauge', value: 125, tags: proc('mysql') },
      { name: 'supervisord.process.uptime', type: 'gauge', value: 0, tags: proc('java') },
      { name: 'supervisord.process.uptime', type: 'gauge', value: 0, tags: proc('python') },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...SERVER, 'status:down'] },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...SERVER, 'status:up'] },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...SERVER, 'status:unknown'] },
    ],
    metadata: { version: { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' } },
  },
  SERVER,
);

/** One submission of every metric and service check of the check, and a version. */
const EVERY_METRIC: ServerRun = run(
  'main',
  {
    serviceChecks: [
      { name: 'supervisord.can_connect', status: 0, tags: [...SERVER] },
      { name: 'supervisord.process.status', status: 2, tags: proc('java') },
      { name: 'supervisord.server.state', status: 0, tags: [...SERVER] },
    ],
    metrics: [
      { name: 'supervisord.process.uptime', type: 'gauge', value: 0, tags: proc('java') },
      { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...SERVER, 'status:down'] },
      { name: 'supervisord.process.restarts', type: 'count', value: 1, tags: proc('java') },
      { name: 'supervisord.process.downtime', type: 'gauge', value: 30, tags: proc('java') },
      { name: 'supervisord.process.exit_status', type: 'gauge', value: -1, tags: proc('java') },
      { name: 'supervisord.process.exit_signal', type: 'gauge', value: 9, tags: proc('java') },
      { name: 'supervisord.process.start_time', type: 'gauge', value: 1796600000, tags: proc('java') },
      { name: 'supervisord.group.count', type: 'gauge', value: 1, tags: [...SERVER, 'supervisord_group:java', 'status:down'] },
      { name: 'supervisord.listener.lag', type: 'gauge', value: 0.25, tags: [...SERVER] },
      // collect_resources
      ...(['', 'tree.'] as const).flatMap((tree): Metric[] => [
        { name: `supervisord.process.${tree}cpu_seconds`, type: 'monotonic_count', value: 1.5, tags: proc('web') },
        { name: `supervisord.process.${tree}memory.rss`, type: 'gauge', value: 4096, tags: proc('web') },
        { name: `supervisord.process.${tree}open_fds`, type: 'gauge', value: 4, tags: proc('web') },
        { name: `supervisord.process.${tree}threads`, type: 'gauge', value: 1, tags: proc('web') },
      ]),
      { name: 'supervisord.process.tree.processes', type: 'gauge', value: 1, tags: proc('web') },
    ],
    processes: [
      { name: 'java', group: 'java', statename: 'FATAL', status: 'down', uptime: 0, description: 'Exited too quickly', exit: { status: -1, signal: 'SIGKILL', source: 'main-log' } },
      { name: 'toString', group: 'java', statename: 'toString', status: 'unknown', uptime: 0, description: 'not a state' },
    ],
    metadata: { version: { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' } },
  },
  SERVER,
);

/** Parses with our strict parser and, when installed, promtool; returns the families. */
async function checked(t: TestContext, text: string): Promise<ReturnType<typeof parseExposition>> {
  const families = parseExposition(text);
  const promtool = await promtoolCheck(text);
  if (promtool === null) {
    t.diagnostic('promtool is not installed: only our own parser checked the exposition');
  } else {
    assert.notEqual(promtool.code, 1, `promtool could not parse:\n${promtool.output}\n${text}`);
    assert.deepEqual(unexpectedLint(promtool.output), [], `promtool lint:\n${promtool.output}`);
  }
  return families;
}

function values(families: ReturnType<typeof parseExposition>, name: string): Array<[Record<string, string>, number]> {
  const f = families.get(name);
  assert.ok(f !== undefined, `family ${name} missing; have ${[...families.keys()].join(', ')}`);
  return f.samples.map((s) => [s.labels, s.value]);
}

describe('formatPrometheus: the reference case', () => {
  it('exposes every submission with HELP and TYPE, grouped by family, in a fixed order', async (t) => {
    const text = formatPrometheus([REFERENCE]);
    const families = await checked(t, text);
    assert.deepEqual(
      [...families.keys()],
      [
        'supervisord_up',
        'supervisord_version_info',
        'supervisord_process_uptime_seconds',
        'supervisord_processes',
        'supervisord_can_connect_status',
        'supervisord_process_status',
      ],
    );
    for (const f of families.values()) assert.equal(f.type, 'gauge');
    const server = { env: 'prod', supervisord_server: 'main' };
    assert.deepEqual(values(families, 'supervisord_up'), [[server, 1]]);
    assert.deepEqual(values(families, 'supervisord_version_info'), [[{ ...server, version: '4.2.5' }, 1]]);
    assert.deepEqual(values(families, 'supervisord_processes'), [
      [{ ...server, status: 'down' }, 1],
      [{ ...server, status: 'up' }, 1],
      [{ ...server, status: 'unknown' }, 1],
    ]);
    const processLabels = (name: string): Record<string, string> => ({ ...server, supervisord_process: name, supervisord_group: name });
    assert.deepEqual(values(families, 'supervisord_process_uptime_seconds'), [
      [processLabels('mysql'), 125],
      [processLabels('java'), 0],
      [processLabels('python'), 0],
    ]);
    assert.deepEqual(values(families, 'supervisord_process_status'), [
      [processLabels('mysql'), 0],
      [processLabels('java'), 2],
      [processLabels('python'), 3],
    ]);
    assert.deepEqual(values(families, 'supervisord_can_connect_status'), [[server, 0]]);
    assert.match(families.get('supervisord_process_status')!.help, /0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN/);
    assert.match(families.get('supervisord_process_uptime_seconds')!.help, /RUNNING, BACKOFF or STOPPING/);
  });

  it('writes exactly the expected first lines (label order follows the tags)', () => {
    const lines = formatPrometheus([REFERENCE]).split('\n');
    assert.equal(lines[0]!.startsWith('# HELP supervisord_up '), true);
    assert.equal(lines[1], '# TYPE supervisord_up gauge');
    assert.equal(lines[2], 'supervisord_up{env="prod",supervisord_server="main"} 1');
    assert.equal(lines[5], 'supervisord_version_info{env="prod",supervisord_server="main",version="4.2.5"} 1');
  });

  it('is accepted by promtool check metrics with no remark at all (regression: supervisord_process_count had a _count suffix)', async (t) => {
    const promtool = await promtoolCheck(formatPrometheus([EVERY_METRIC]));
    if (promtool === null) return t.skip('promtool is not installed (Debian package prometheus)');
    assert.deepEqual(promtool, { code: 0, output: '' });
  });

  it('has the content type of the 0.0.4 text format', () => {
    assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('formatPrometheus: supervisord_up', () => {
  const cases: Array<{ title: string; partial: Partial<CheckResult>; up: number }> = [
    { title: 'a successful run', partial: { serviceChecks: [{ name: 'supervisord.can_connect', status: 0, tags: [] }] }, up: 1 },
    {
      title: 'an unreachable server',
      partial: {
        serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [], message: 'Cannot connect' }],
        errors: ['Cannot connect'],
      },
      up: 0,
    },
    { title: 'a fault (an error, no service check)', partial: { errors: ['An error occurred while reading process information: 6 SHUTDOWN_STATE'] }, up: 0 },
    { title: 'can_connect CRITICAL without an error', partial: { serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [] }] }, up: 0 },
    { title: 'warnings only', partial: { warnings: ['Error collecting version: x'] }, up: 1 },
  ];
  for (const c of cases) {
    it(`is ${c.up} for ${c.title}`, async (t) => {
      const families = await checked(t, formatPrometheus([run('s', c.partial)]));
      assert.deepEqual(values(families, 'supervisord_up'), [[{ supervisord_server: 's' }, c.up]]);
      assert.equal(families.has('supervisord_version_info'), false);
    });
  }
});

describe('formatPrometheus: labels from tags', () => {
  const cases: Array<{ tags: string[]; labels: Record<string, string> | null; why: string }> = [
    { tags: [], labels: null, why: 'no tags: no braces' },
    { tags: ['k:v'], labels: { k: 'v' }, why: 'key:value' },
    { tags: ['url:http://x:1/a'], labels: { url: 'http://x:1/a' }, why: 'split at the first colon only' },
    { tags: ['production'], labels: { tag: 'production' }, why: 'no colon: label tag' },
    { tags: ['b', 'a', 'b'], labels: { tag: 'a,b' }, why: 'several bare tags: distinct values, sorted, joined' },
    { tags: ['k:2', 'k:1'], labels: { k: '1,2' }, why: 'repeated key merged in sorted order' },
    { tags: ['k:1', 'k:2'], labels: { k: '1,2' }, why: 'same result whatever the tag order' },
    { tags: ['my-key.x:v'], labels: { my_key_x: 'v' }, why: 'invalid characters become _' },
    { tags: ['9lives:v'], labels: { _9lives: 'v' }, why: 'leading digit gets a _' },
    { tags: ['__name__:v'], labels: { tag__name__: 'v' }, why: 'the reserved __ prefix is avoided' },
    { tags: [':v'], labels: { tag: 'v' }, why: 'empty key is tag' },
    { tags: ['k:'], labels: { k: '' }, why: 'empty value kept' },
    { tags: ['é:ü'], labels: { _: 'ü' }, why: 'non-ASCII name sanitised, value kept' },
    { tags: ['k:a"b'], labels: { k: 'a"b' }, why: 'double quote escaped' },
    { tags: ['k:a\\b'], labels: { k: 'a\\b' }, why: 'backslash escaped' },
    { tags: ['k:a\nb'], labels: { k: 'a\nb' }, why: 'line feed escaped' },
    { tags: ['k:\\n'], labels: { k: '\\n' }, why: 'a literal backslash-n is not a line feed' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.tags)}: ${c.why}`, async (t) => {
      const text = formatPrometheus([run('s', { metrics: [{ name: 'm', type: 'gauge', value: 1, tags: c.tags }] })]);
      const families = await checked(t, text);
      assert.deepEqual(values(families, 'm'), [[c.labels ?? {}, 1]]);
      if (c.labels === null) assert.match(text, /^m 1$/m);
    });
  }

  it('one series for tag lists that render alike; each list rendered on its own however lists follow each other', async (t) => {
    const m = (value: number, tags: string[], name = 'm'): Metric => ({ name, type: 'gauge', value, tags });
    const a = 'a:1';
    const text = formatPrometheus([
      run('s', {
        metrics: [
          m(1, ['k-x:1']),
          m(2, ['k_x:1']), // renders as the one before: dropped
          m(3, ['plain']),
          m(4, ['tag:plain']), // the label tag="plain" too: dropped
          m(5, [a, 'b:1']),
          m(6, [a, 'b:2']), // the same first string, another second one
          m(7, [a, 'b:2'], 'n'), // the same list for another family: kept
          m(8, [a, 'b:2']), // the same list again: dropped
          m(9, [a]),
          m(10, [a, 'b:1', 'c:1']),
        ],
      }),
    ]);
    const families = await checked(t, text);
    assert.deepEqual(values(families, 'm'), [
      [{ k_x: '1' }, 1],
      [{ tag: 'plain' }, 3],
      [{ a: '1', b: '1' }, 5],
      [{ a: '1', b: '2' }, 6],
      [{ a: '1' }, 9],
      [{ a: '1', b: '1', c: '1' }, 10],
    ]);
    assert.deepEqual(values(families, 'n'), [[{ a: '1', b: '2' }, 7]]);
    // A list the check would make first, then one that renders alike (sets are indexed by text from then on).
    const reversed = await checked(t, formatPrometheus([run('s', { metrics: [m(1, ['k_x:1', 'b:1']), m(2, ['k_x:1', 'b:2']), m(3, ['k-x:1', 'b:1']), m(4, ['k_x:1', 'b', 'b:1'])] })]));
    assert.deepEqual(values(reversed, 'm'), [
      [{ k_x: '1', b: '1' }, 1],
      [{ k_x: '1', b: '2' }, 2],
      [{ k_x: '1', b: '1', tag: 'b' }, 4],
    ]);
  });

  it('values are written as Go reads them: integers digit by digit, the rest as JavaScript spells them', () => {
    const values = [0, -0, 7, -7, 10, 99, 100, 1414815388, -1414815388, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 3e9, 1e8, 12300000045, 100000000000, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, 0.5, -2.25, 1e-7, 5e-324, Number.MAX_VALUE, -Number.MIN_VALUE, NaN, Infinity, -Infinity];
    const metrics: Metric[] = values.map((value, i) => ({ name: 'm', type: 'gauge', value, tags: [`i:${i}`] }));
    const snapshot = prometheusSnapshot([run('s', { metrics })]);
    const spelled = values.map((v) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)));
    for (const format of ['text', 'openmetrics'] as const) {
      const lines = snapshot.render(format).split('\n').filter((l) => l.startsWith('m{'));
      assert.deepEqual(lines, spelled.map((v, i) => `m{i="${i}"} ${v}`));
      assert.deepEqual(snapshot.bytes(format), Buffer.from(snapshot.render(format), 'utf8'));
    }
  });

  it('pages as bytes: each its own memory of its own size, whatever is rendered after it', () => {
    const page = (n: number, value: number) =>
      prometheusSnapshot([run('s', { metrics: Array.from({ length: n }, (_, i) => ({ name: 'm', type: 'gauge' as const, value, tags: [`i:${i}`] })) })]);
    const big = page(400, 1); // past 4 KB: not from Node's shared pool
    const a = big.bytes('text');
    const b = page(400, 2).bytes('text');
    const c = page(3, 3).bytes('openmetrics');
    assert.equal(a.toString('utf8'), big.render('text'), 'the first page is intact after two others were rendered');
    assert.ok(a.length > 4096 && a.buffer.byteLength === a.length, `a page owns exactly its bytes (${a.buffer.byteLength} for ${a.length})`);
    assert.notEqual(a.buffer, b.buffer);
    assert.match(b.toString(), /^m\{i="0"\} 2$/m);
    assert.match(c.toString(), /^m\{i="2"\} 3$/m);
  });

  it('the page as bytes is its text in UTF-8, ASCII or not, in both formats', () => {
    for (const value of ['ascii', 'café', '\u{1F600}', 'a"b\\c\nd']) {
      const snapshot = prometheusSnapshot([run('s', { metrics: [{ name: 'm', type: 'gauge', value: 1, tags: [`k:${value}`] }] })]);
      for (const format of ['text', 'openmetrics'] as const) {
        const text = snapshot.render(format);
        assert.ok(text.includes('k='), text);
        assert.deepEqual(snapshot.bytes(format), Buffer.from(text, 'utf8'), `${value} ${format}`);
      }
    }
    // A non-ASCII help (a metric the table does not know, named in its help) is encoded as UTF-8 too.
    const snapshot = prometheusSnapshot([run('s', { metrics: [{ name: 'mé', type: 'gauge', value: 1, tags: [] }] })]);
    assert.match(snapshot.render('text'), /# HELP m_ Datadog gauge mé /);
    assert.deepEqual(snapshot.bytes('text'), Buffer.from(snapshot.render('text'), 'utf8'));
  });

  it('escapes exactly backslash, double quote and line feed in the raw text', () => {
    const text = formatPrometheus([run('s', { metrics: [{ name: 'm', type: 'gauge', value: 1, tags: ['k:\\"\n\t'] }] })]);
    assert.match(text, /^m\{k="\\\\\\"\\n\t"\} 1$/m);
  });
});

describe('formatPrometheus: names and types', () => {
  const nameCases: Array<[string, string]> = [
    ['supervisord.process.count', 'supervisord_process_count'],
    ['supervisord.can_connect', 'supervisord_can_connect'],
    ['a-b c:d', 'a_b_c_d'],
    ['1abc', '_1abc'],
    ['', '_'],
    ['ok_name', 'ok_name'],
  ];
  for (const [datadog, prometheus] of nameCases) {
    it(`prometheusMetricName(${JSON.stringify(datadog)}) = ${prometheus}`, () => {
      assert.equal(prometheusMetricName(datadog), prometheus);
    });
  }

  it('exposes a count as a counter named _total, with the description of a known metric', async (t) => {
    const m: Metric = { name: 'supervisord.process.restarts', type: 'count', value: 2, tags: ['supervisord_process:a'] };
    const families = await checked(t, formatPrometheus([run('s', { metrics: [m] })]));
    const f = families.get('supervisord_process_restarts_total');
    assert.ok(f);
    assert.equal(f.type, 'counter');
    assert.match(f.help, /Restarts of the process/);
    assert.deepEqual(f.samples, [{ labels: { supervisord_process: 'a' }, value: 2 }]);
  });

  it('does not add a second _total, and describes unknown names generically', async (t) => {
    const metrics: Metric[] = [
      { name: 'x.events_total', type: 'count', value: 1, tags: [] },
      { name: 'x.new_level', type: 'gauge', value: 1.5, tags: [] },
    ];
    const checks: ServiceCheck[] = [{ name: 'x.thing', status: 1, tags: [] }];
    const families = await checked(t, formatPrometheus([run('s', { metrics, serviceChecks: checks })]));
    assert.equal(families.get('x_events_total')?.type, 'counter');
    assert.match(families.get('x_events_total')!.help, /Datadog count x\.events_total/);
    assert.equal(families.get('x_new_level')?.help, 'Datadog gauge x.new_level of the supervisord check.');
    assert.deepEqual(families.get('x_thing_status')?.samples, [{ labels: {}, value: 1 }]);
    assert.match(families.get('x_thing_status')!.help, /Datadog service check x\.thing/);
  });

  it('names service checks <name>_status unless they already end in _status', async (t) => {
    const checks: ServiceCheck[] = [
      { name: 'supervisord.server.state', status: 0, tags: [] },
      { name: 'supervisord.process.status', status: 3, tags: [] },
    ];
    const families = await checked(t, formatPrometheus([run('s', { serviceChecks: checks })]));
    assert.deepEqual([...families.keys()], ['supervisord_up', 'supervisord_server_state_status', 'supervisord_process_status']);
    assert.match(families.get('supervisord_server_state_status')!.help, /State of supervisord itself/);
  });

  it('accumulates counts across runs with CounterTotals, per series', async (t) => {
    const counters = new CounterTotals();
    const restarts = (a: number, b: number): ServerRun =>
      run('s', {
        metrics: [
          { name: 'r', type: 'count', value: a, tags: ['p:a'] },
          { name: 'r', type: 'count', value: b, tags: ['p:b'] },
        ],
      });
    const totals: number[][] = [];
    for (const [a, b] of [
      [1, 0],
      [2, 5],
      [0, NaN],
    ] as const) {
      const families = await checked(t, formatPrometheus([restarts(a, b)], { counters }));
      totals.push(values(families, 'r_total').map(([, v]) => v));
    }
    assert.deepEqual(totals, [
      [1, 0],
      [3, 5],
      [3, 5],
    ]);
    assert.equal(counters.size, 2);
    // Without totals a counter is the run's own delta.
    assert.deepEqual(values(parseExposition(formatPrometheus([restarts(4, 4)])), 'r_total').map(([, v]) => v), [4, 4]);
  });

  const valueCases: Array<[number, string]> = [
    [0, '0'],
    [-3, '-3'],
    [1.25, '1.25'],
    [1e21, '1e+21'],
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ];
  for (const [value, written] of valueCases) {
    it(`writes the value ${written}`, () => {
      const text = formatPrometheus([run('s', { metrics: [{ name: 'm', type: 'gauge', value, tags: [] }] })]);
      assert.match(text, new RegExp(`^m ${written.replace(/[+.]/g, '\\$&')}$`, 'm'));
      const parsed = values(parseExposition(text), 'm')[0]![1];
      assert.ok(Object.is(parsed, value) || (Number.isNaN(parsed) && Number.isNaN(value)));
    });
  }

  it('escapes backslash and line feed in HELP text of a generic description', async (t) => {
    const text = formatPrometheus([run('s', { metrics: [{ name: 'x\\y\nz', type: 'gauge', value: 1, tags: [] }] })]);
    assert.match(text, /^# HELP x_y_z Datadog gauge x\\\\y\\nz of the supervisord check\.$/m);
    assert.equal(parseExposition(text).get('x_y_z')?.help, 'Datadog gauge x\\y\nz of the supervisord check.');
    await checked(t, text);
  });
});

describe('formatPrometheus: Prometheus names (PROMETHEUS_METRICS)', () => {
  it('gives every metric of the check its table name, type and labels, and nothing ends in _count, _sum or _bucket', async (t) => {
    const families = await checked(t, formatPrometheus([EVERY_METRIC]));
    assert.deepEqual(PROMETHEUS_METRICS.filter((m) => m.datadog === '').map((m) => m.prometheus), ['supervisord_process_state']);
    for (const m of PROMETHEUS_METRICS) {
      const f = families.get(m.prometheus);
      assert.ok(f !== undefined, `${m.datadog} is not exported as ${m.prometheus}`);
      assert.equal(f.type, m.type, m.prometheus);
      assert.equal(f.help, m.help, m.prometheus);
      for (const label of m.labels) assert.ok(f.samples.every((x) => label in x.labels), `${m.prometheus} lacks ${label}`);
      if (m.unit !== undefined) assert.ok(m.prometheus.replace(/_total$/, '').endsWith(`_${m.unit}`), m.prometheus);
      assert.equal(m.type === 'counter', m.prometheus.endsWith('_total'), m.prometheus);
    }
    for (const name of families.keys()) assert.doesNotMatch(name, /_(count|sum|bucket)$/);
    assert.deepEqual(values(families, 'supervisord_processes'), [[{ env: 'prod', supervisord_server: 'main', status: 'down' }, 1]]);
    assert.deepEqual(values(families, 'supervisord_group_processes'), [
      [{ env: 'prod', supervisord_server: 'main', supervisord_group: 'java', status: 'down' }, 1],
    ]);
    assert.deepEqual(values(families, 'supervisord_process_state'), [[{ env: 'prod', supervisord_server: 'main', supervisord_process: 'java', supervisord_group: 'java' }, 200]]);
    assert.equal(families.has('supervisord_process_count'), false);
    assert.equal(families.has('supervisord_group_count'), false);
  });

  it('keeps the generic mapping for names the table does not know', () => {
    assert.equal(new Set(PROMETHEUS_METRICS.map((m) => m.datadog)).size, PROMETHEUS_METRICS.length);
    const text = formatPrometheus([run('s', { metrics: [{ name: 'supervisord.other.count', type: 'gauge', value: 1, tags: [] }] })]);
    assert.match(text, /^supervisord_other_count 1$/m);
  });
});

describe('formatPrometheus: OpenMetrics 1.0.0', () => {
  it('writes families without their sample suffixes, units, info, escaped HELP and # EOF; promtool reads it', async (t) => {
    const text = formatPrometheus([EVERY_METRIC], { format: 'openmetrics' });
    const families = parseOpenMetrics(text);
    assert.equal(families.get('supervisord_process_restarts')?.type, 'counter');
    assert.deepEqual(families.get('supervisord_process_restarts')?.samples.map((x) => x.value), [1]);
    assert.equal(families.get('supervisord_version')?.type, 'info');
    assert.deepEqual(families.get('supervisord_version')?.samples, [{ labels: { env: 'prod', supervisord_server: 'main', version: '4.2.5' }, value: 1 }]);
    assert.equal(families.get('supervisord_process_uptime_seconds')?.unit, 'seconds');
    assert.equal(families.get('supervisord_process_downtime_seconds')?.unit, 'seconds');
    assert.equal(families.get('supervisord_processes')?.type, 'gauge');
    assert.match(text, /^# TYPE supervisord_process_restarts counter\nsupervisord_process_restarts_total\{/m);
    assert.match(text, /^# TYPE supervisord_version info\nsupervisord_version_info\{/m);
    assert.ok(text.endsWith('\n# EOF\n'));
    assert.equal(text.split('# EOF').length, 2);
    const help = formatPrometheus([run('s', { metrics: [{ name: 'q"x\\y', type: 'gauge', value: 1, tags: [] }] })], { format: 'openmetrics' });
    assert.match(help, /^# HELP q_x_y Datadog gauge q\\"x\\\\y of the supervisord check\.$/m);
    const promtool = await promtoolOpenMetrics(text);
    if (promtool === null) t.diagnostic('promtool is not installed: only our own OpenMetrics reader checked the exposition');
    else assert.equal(promtool.code, 0, promtool.output);
  });

  it('is just # EOF for no servers, and the content type says version 1.0.0', () => {
    assert.equal(formatPrometheus([], { format: 'openmetrics' }), '# EOF\n');
    assert.equal(OPENMETRICS_CONTENT_TYPE, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  });

  it('our OpenMetrics reader rejects what the format forbids', () => {
    const bad: Array<[string, RegExp]> = [
      ['# HELP m x\n# TYPE m gauge\nm 1\n', /# EOF/],
      ['# TYPE m counter\nm 1\n# EOF\n', /not named m_total/],
      ['# TYPE m_total counter\nm_total 1\n# EOF\n', /carries its samples' suffix/],
      ['# TYPE m gauge\n# UNIT m seconds\nm 1\n# EOF\n', /not the suffix/],
      ['# HELP m a"b\n# TYPE m gauge\nm 1\n# EOF\n', /unescaped "/],
      ['# TYPE m info\nm_info 2\n# EOF\n', /not 1/],
      ['# EOF\n# TYPE m gauge\nm 1\n# EOF\n', /before the end/],
    ];
    for (const [text, message] of bad) assert.throws(() => parseOpenMetrics(text), message, text);
  });
});

describe('prometheusSnapshot', () => {
  it('adds a run\'s counts once however often and in whichever format it is rendered; accumulate false only reads', () => {
    const counters = new CounterTotals();
    const r = run('s', { metrics: [{ name: 'supervisord.process.restarts', type: 'count', value: 2, tags: ['p:a'] }] });
    const snapshot = prometheusSnapshot([r], { counters });
    for (let i = 0; i < 3; i++) {
      assert.match(snapshot.render('text'), /^supervisord_process_restarts_total\{p="a"\} 2$/m);
      assert.match(snapshot.render('openmetrics'), /^supervisord_process_restarts_total\{p="a"\} 2$/m);
    }
    assert.match(prometheusSnapshot([r], { counters, accumulate: false }).render('text'), /^supervisord_process_restarts_total\{p="a"\} 2$/m);
    assert.match(prometheusSnapshot([r], { counters }).render('text'), /^supervisord_process_restarts_total\{p="a"\} 4$/m);
    assert.equal(counters.get('supervisord_process_restarts_total{p="a"}'), 4);
    assert.equal(counters.get('nothing'), 0);
  });

  it('writes extra gauges first, without labels', async (t) => {
    const text = formatPrometheus([REFERENCE], { extra: [{ name: 'supervisord_probe_success', help: 'Probe.', value: 1 }] });
    const families = await checked(t, text);
    assert.equal([...families.keys()][0], 'supervisord_probe_success');
    assert.deepEqual(values(families, 'supervisord_probe_success'), [[{}, 1]]);
  });
});

describe('formatPrometheus: several servers', () => {
  it('groups each family once with the samples of every server, and drops duplicate series', async (t) => {
    const a = run('a', {
      serviceChecks: [{ name: 'supervisord.can_connect', status: 0, tags: ['supervisord_server:a'] }],
      metrics: [{ name: 'supervisord.process.count', type: 'gauge', value: 2, tags: ['supervisord_server:a', 'status:up'] }],
      metadata: { version: { raw: '3.0b2', major: '3', minor: '0', release: 'b2', scheme: 'supervisord' } },
    });
    const b = run('b', {
      serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: ['supervisord_server:b'], message: 'down' }],
      errors: ['down'],
    });
    const families = await checked(t, formatPrometheus([a, b, a]));
    assert.deepEqual(values(families, 'supervisord_up'), [
      [{ supervisord_server: 'a' }, 1],
      [{ supervisord_server: 'b' }, 0],
    ]);
    assert.deepEqual(values(families, 'supervisord_version_info'), [[{ supervisord_server: 'a', version: '3.0b2' }, 1]]);
    assert.deepEqual(values(families, 'supervisord_can_connect_status'), [
      [{ supervisord_server: 'a' }, 0],
      [{ supervisord_server: 'b' }, 2],
    ]);
    assert.deepEqual(values(families, 'supervisord_processes'), [[{ supervisord_server: 'a', status: 'up' }, 2]]);
  });

  it('is empty for no servers', () => {
    assert.equal(formatPrometheus([]), '');
  });
});

describe('formatPrometheus: per-server labels never merge servers (issue 19)', () => {
  const failed = (name: string): CheckResult =>
    result({ serviceChecks: [{ name: 'supervisord.can_connect', status: 2, tags: [`supervisord_server:${name}`], message: 'Cannot connect' }], errors: ['Cannot connect'] });

  it('what checkAll resolves to ({ name, result }): each server labelled by its name, a dead one included', async (t) => {
    const up = result({ serviceChecks: [{ name: 'supervisord.can_connect', status: 0, tags: ['supervisord_server:a'] }] });
    const families = await checked(t, formatPrometheus([{ name: 'a', result: up }, { name: 'b', result: failed('b') }]));
    assert.deepEqual(values(families, 'supervisord_up'), [
      [{ supervisord_server: 'a' }, 1],
      [{ supervisord_server: 'b' }, 0],
    ]);
  });

  it('tags without supervisord_server get it from the name; tags with it are kept', async (t) => {
    const families = await checked(
      t,
      formatPrometheus([
        { name: 'a', target: 'x', tags: ['env:prod'], result: result() },
        { name: 'ignored', target: 'y', tags: ['supervisord_server:b'], result: result() },
      ]),
    );
    assert.deepEqual(values(families, 'supervisord_up'), [
      [{ env: 'prod', supervisord_server: 'a' }, 1],
      [{ supervisord_server: 'b' }, 1],
    ]);
  });

  it('the documented path against two servers, one of them down: checkAll -> formatPrometheus', async (t) => {
    const emulator = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web' })] });
    try {
      const port = Number(new URL(emulator.url).port);
      const entries = await checkAll([
        { name: 'live', host: '127.0.0.1', port },
        { name: 'dead', socket: 'unix:///nonexistent/supervisor.sock' },
      ]);
      const families = await checked(t, formatPrometheus(entries));
      assert.deepEqual(values(families, 'supervisord_up'), [
        [{ supervisord_server: 'live' }, 1],
        [{ supervisord_server: 'dead' }, 0],
      ]);
      assert.deepEqual(values(families, 'supervisord_process_state'), [[{ supervisord_server: 'live', supervisord_process: 'web', supervisord_group: 'web' }, 20]]);
    } finally {
      await emulator.close();
    }
  });

  it('refuses what would merge two servers, saying which runs (TypeError, ERR_INVALID_ARG_VALUE)', () => {
    const cases: Array<[unknown, string]> = [
      [[{ name: 'a', result: result() }, { name: 'a', result: failed('a') }], 'runs[0] and runs[1] have the same server labels ({supervisord_server="a"}): their series would be one; give each server its own name'],
      [
        [{ name: 'x', target: 't', tags: ['env:a'], result: result() }, { name: 'y', target: 't', tags: ['env:a', 'supervisord_server:x'], result: result() }],
        'runs[0] and runs[1] have the same server labels ({env="a",supervisord_server="x"}): their series would be one; give each server its own name',
      ],
      [[{ name: '', result: result() }], 'runs[0] has no supervisord_server tag and no name to label its series with'],
      [[{ result: result() }], 'runs[0] has no supervisord_server tag and no name to label its series with'],
      [[{ name: 'a', result: result() }, { name: 'b' }], 'runs[1] is not a run: expected { name, result } or a ServerRun'],
      [[null], 'runs[0] is not a run: expected { name, result } or a ServerRun'],
      ['runs', 'runs must be an array of { name, result } or ServerRun objects'],
    ];
    for (const [runs, message] of cases) {
      assert.throws(() => formatPrometheus(runs as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message });
    }
    // The same run twice is one server: shown once.
    const same = { name: 'a', result: result() };
    assert.equal(formatPrometheus([same, same]).match(/^supervisord_up/gm)?.length, 1);
  });
});

describe('formatPrometheus: a real run against the emulator', () => {
  let emulator: SupervisordEmulator;
  before(async () => {
    emulator = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: [
        makeProcess({ name: 'web "1"', group: 'g\\x', statename: 'RUNNING' }),
        makeProcess({ name: 'café', statename: 'FATAL', spawnerr: 'can\'t find command' }),
        makeProcess({ name: 'starting', statename: 'STARTING' }),
      ],
    });
  });
  after(async () => {
    await emulator.close();
  });

  it('parses strictly and passes promtool', async (t) => {
    const port = Number(new URL(emulator.url).port);
    const check = new SupervisordCheck({ name: 'emu "x"', host: '127.0.0.1', port, tags: ['team:a', 'team:b', 'bare'] });
    try {
      const r = await check.run();
      const serverRun: ServerRun = { name: check.config.name, target: emulator.url, tags: check.config.instanceTags, result: r };
      const families = await checked(t, formatPrometheus([serverRun]));
      const status = values(families, 'supervisord_process_status');
      assert.deepEqual(
        status.map(([l, v]) => [l['supervisord_process'], l['supervisord_group'], l['team'], l['tag'], l['supervisord_server'], v]),
        [
          ['café', 'café', 'a,b', 'bare', 'emu "x"', 2],
          ['web "1"', 'g\\x', 'a,b', 'bare', 'emu "x"', 0],
          ['starting', 'starting', 'a,b', 'bare', 'emu "x"', 3],
        ],
      );
      assert.deepEqual(values(families, 'supervisord_up'), [[{ team: 'a,b', tag: 'bare', supervisord_server: 'emu "x"' }, 1]]);
    } finally {
      await check.close();
    }
  });
});

describe('the strict exposition parser of these tests', () => {
  // The parser is the oracle of the tests above: it must reject what the format forbids.
  const bad: Array<[string, string, RegExp]> = [
    ['no final newline', '# HELP m x\n# TYPE m gauge\nm 1', /does not end with a newline/],
    ['blank line', '# HELP m x\n# TYPE m gauge\n\nm 1\n', /not a sample/],
    ['other comment', '# hello\n', /neither HELP nor TYPE/],
    ['sample before TYPE', '# HELP m x\nm 1\n', /before its HELP and TYPE/],
    ['TYPE after samples', '# HELP m x\n# TYPE m gauge\nm 1\n# TYPE m gauge\n', /after its samples/],
    ['second HELP', '# HELP m x\n# HELP m y\n', /second HELP/],
    ['unknown type', '# HELP m x\n# TYPE m number\n', /unknown type/],
    ['bad escape in label', '# HELP m x\n# TYPE m gauge\nm{a="\\t"} 1\n', /invalid escape/],
    ['quote escape in HELP', '# HELP m a\\"b\n# TYPE m gauge\nm 1\n', /invalid escape/],
    ['label twice', '# HELP m x\n# TYPE m gauge\nm{a="1",a="2"} 1\n', /label a twice/],
    ['reserved label', '# HELP m x\n# TYPE m gauge\nm{__a="1"} 1\n', /reserved label/],
    ['bad value', '# HELP m x\n# TYPE m gauge\nm one\n', /invalid value/],
    ['two spaces', '# HELP m x\n# TYPE m gauge\nm  1\n', /invalid value/],
    ['duplicate series', '# HELP m x\n# TYPE m gauge\nm{a="1"} 1\nm{a="1"} 2\n', /duplicate series/],
    [
      'family not contiguous',
      '# HELP m x\n# TYPE m gauge\nm 1\n# HELP n x\n# TYPE n gauge\nn 1\nm{a="b"} 1\n',
      /not contiguous/,
    ],
    ['unterminated value', '# HELP m x\n# TYPE m gauge\nm{a="1} 1\n', /unterminated|expected/],
    ['family without samples', '# HELP m x\n# TYPE m gauge\n', /no samples/],
  ];
  for (const [title, text, message] of bad) {
    it(`rejects ${title}`, () => {
      assert.throws(() => parseExposition(text), message);
    });
  }
});

describe('lib/outputs/index.ts (supervisord-check/outputs)', () => {
  it('re-exports every format, and of their helpers only the name mapping', () => {
    assert.deepEqual(
      { ...outputs },
      {
        formatText,
        CounterTotals,
        formatPrometheus,
        OPENMETRICS_CONTENT_TYPE,
        PROMETHEUS_CONTENT_TYPE,
        PROMETHEUS_METRICS,
        prometheusMetricName,
        DOGSTATSD_MAX_PAYLOAD,
        formatDogStatsD,
        packDatagrams,
        formatNagios,
        NAGIOS_STATES,
      },
    );
  });
});

describe('formatPrometheus: exit_status HELP', () => {
  it('says what -1 means (a death by signal, whose number is supervisord_process_exit_signal) and that a status may be absent', () => {
    const run: ServerRun = {
      name: 's',
      target: 'unix:///s.sock',
      tags: ['supervisord_server:s'],
      result: {
        metrics: [{ name: 'supervisord.process.exit_status', type: 'gauge', value: -1, tags: ['supervisord_server:s', 'supervisord_process:a', 'supervisord_group:a'] }],
        serviceChecks: [],
        metadata: {},
        warnings: [],
        errors: [],
      },
    };
    assert.match(formatPrometheus([run]), /^# HELP supervisord_process_exit_status .*-1 for a death by signal; absent when not known\.$/m);
  });
});
