/**
 * DogStatsD datagrams of check results: metric and service-check syntax, the
 * sanitising and escaping that keep a datagram parseable by the Agent, and
 * packing into packets. Datagrams are re-read by a parser written from the
 * Agent's rules (split at `\n`, then at `|`, tags at `,`).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DOGSTATSD_MAX_PAYLOAD, formatDogStatsD, packDatagrams } from '../../lib/outputs/dogstatsd.js';
import type { ServerRun } from '../../lib/outputs/index.js';
import type { CheckResult, Metric, ServiceCheck } from '../../lib/types.js';

function run(partial: Partial<CheckResult>): ServerRun {
  return {
    name: 's',
    target: 'unix:///s.sock',
    tags: ['supervisord_server:s'],
    result: { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [], ...partial },
  };
}

/** What the Agent would read from one datagram (datadog-agent pkg/dogstatsd parse rules). */
type Parsed =
  | { kind: 'metric'; name: string; value: number; type: string; tags: string[] }
  | { kind: 'sc'; name: string; status: number; tags: string[]; message?: string };

function agentParse(datagram: string): Parsed {
  const fields = datagram.split('|');
  if (fields[0] === '_sc') {
    const parsed: Parsed = { kind: 'sc', name: fields[1]!, status: Number(fields[2]), tags: [] };
    for (const field of fields.slice(3)) {
      if (field.startsWith('#')) parsed.tags = field.slice(1).split(',');
      else if (field.startsWith('m:')) parsed.message = field.slice(2);
      else throw new Error(`unexpected service-check field ${JSON.stringify(field)} in ${JSON.stringify(datagram)}`);
    }
    return parsed;
  }
  const colon = fields[0]!.indexOf(':');
  const parsed: Parsed = { kind: 'metric', name: fields[0]!.slice(0, colon), value: Number(fields[0]!.slice(colon + 1)), type: fields[1]!, tags: [] };
  for (const field of fields.slice(2)) {
    if (field.startsWith('#')) parsed.tags = field.slice(1).split(',');
    else throw new Error(`unexpected metric field ${JSON.stringify(field)}`);
  }
  return parsed;
}

describe('formatDogStatsD: metrics', () => {
  const cases: Array<{ metric: Metric; line: string | null; why: string }> = [
    { metric: { name: 'supervisord.process.count', type: 'gauge', value: 3, tags: ['supervisord_server:s', 'status:up'] }, line: 'supervisord.process.count:3|g|#supervisord_server:s,status:up', why: 'gauge' },
    { metric: { name: 'supervisord.process.restarts', type: 'count', value: 2, tags: ['a:b'] }, line: 'supervisord.process.restarts:2|c|#a:b', why: 'count' },
    { metric: { name: 'm', type: 'gauge', value: 1.5, tags: [] }, line: 'm:1.5|g', why: 'no tags: no tag field' },
    { metric: { name: 'm', type: 'gauge', value: -2, tags: [] }, line: 'm:-2|g', why: 'negative' },
    { metric: { name: 'a:b|c@d#e f', type: 'gauge', value: 1, tags: [] }, line: 'a_b_c_d_e_f:1|g', why: 'name keeps [A-Za-z0-9_.]' },
    { metric: { name: 'm', type: 'gauge', value: 1, tags: ['a,b', 'c|d', 'e\nf', 'g\rh', 'url:http://x'] }, line: 'm:1|g|#a_b_1eb7c54d,c_d_455b714a,e_f_ddb1d1aa,g_h_2f166fc2,url:http://x', why: 'tag separators replaced, a hash of the tag appended' },
    { metric: { name: 'm', type: 'gauge', value: NaN, tags: [] }, line: null, why: 'NaN skipped' },
    { metric: { name: 'm', type: 'gauge', value: Infinity, tags: [] }, line: null, why: 'Infinity skipped' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const lines = formatDogStatsD([run({ metrics: [c.metric] })]);
      assert.deepEqual(lines, c.line === null ? [] : [c.line]);
      if (c.line !== null) {
        const parsed = agentParse(c.line);
        assert.equal(parsed.kind, 'metric');
        assert.equal(parsed.kind === 'metric' && parsed.value, c.metric.value);
        assert.equal(parsed.tags.length, c.metric.tags.length);
      }
    });
  }
});

describe('formatDogStatsD: service checks', () => {
  const cases: Array<{ check: ServiceCheck; line: string; message?: string; why: string }> = [
    { check: { name: 'supervisord.can_connect', status: 0, tags: ['supervisord_server:s'] }, line: '_sc|supervisord.can_connect|0|#supervisord_server:s', why: 'OK without message' },
    { check: { name: 'x', status: 3, tags: [] }, line: '_sc|x|3', why: 'no tags' },
    { check: { name: 'x', status: 2, tags: [], message: '' }, line: '_sc|x|2', why: 'empty message left out' },
    {
      check: { name: 'supervisord.process.status', status: 2, tags: ['p:a'], message: 'Process name: a\nState: FATAL\r\nExit Status: 1' },
      line: '_sc|supervisord.process.status|2|#p:a|m:Process name: a\\nState: FATAL\\nExit Status: 1',
      message: 'Process name: a\\nState: FATAL\\nExit Status: 1',
      why: 'line breaks as the two characters \\n, message last',
    },
    { check: { name: 'x', status: 2, tags: [], message: 'Count: m:1, Program: x' }, line: '_sc|x|2|m:Count: m\\:1, Program\\: x', message: 'Count: m\\:1, Program\\: x', why: 'm: escaped as m\\:' },
    { check: { name: 'x', status: 2, tags: ['t:1'], message: 'a|#evil:tag|m:x' }, line: '_sc|x|2|#t:1|m:a\u00a6#evil:tag\u00a6m\\:x', message: 'a\u00a6#evil:tag\u00a6m\\:x', why: 'a pipe cannot start new fields' },
    { check: { name: 'bad|name:x', status: 1, tags: [] }, line: '_sc|bad_name_x|1', why: 'name sanitised' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const lines = formatDogStatsD([run({ serviceChecks: [c.check] })]);
      assert.deepEqual(lines, [c.line]);
      const parsed = agentParse(c.line);
      assert.equal(parsed.kind, 'sc');
      assert.equal(parsed.kind === 'sc' && parsed.status, c.check.status);
      assert.equal(parsed.kind === 'sc' ? parsed.message : undefined, c.message);
      assert.equal(c.line.includes('\n'), false);
    });
  }

  it('writes each run\'s metrics then its service checks, run by run', () => {
    const a = run({ metrics: [{ name: 'a', type: 'gauge', value: 1, tags: [] }], serviceChecks: [{ name: 'sa', status: 0, tags: [] }] });
    const b = run({ metrics: [{ name: 'b', type: 'gauge', value: 2, tags: [] }], serviceChecks: [{ name: 'sb', status: 2, tags: [] }] });
    assert.deepEqual(formatDogStatsD([a, b]), ['a:1|g', '_sc|sa|0', 'b:2|g', '_sc|sb|2']);
    assert.deepEqual(formatDogStatsD([]), []);
  });
});

describe('packDatagrams', () => {
  const line = (n: number, ch = 'x'): string => ch.repeat(n);
  const cases: Array<{ lines: string[]; max: number; packets: string[]; why: string }> = [
    { lines: [], max: 10, packets: [], why: 'nothing to send' },
    { lines: ['abc'], max: 10, packets: ['abc'], why: 'one datagram' },
    { lines: ['abcd', 'efgh'], max: 9, packets: ['abcd\nefgh'], why: 'exactly the limit with the separator' },
    { lines: ['abcd', 'efghi'], max: 9, packets: ['abcd', 'efghi'], why: 'one byte over: a new packet' },
    { lines: ['a', line(20), 'b'], max: 10, packets: ['a', line(20), 'b'], why: 'an oversized datagram alone, never split' },
    { lines: ['é', 'é', 'é'], max: 5, packets: ['é\né', 'é'], why: 'the limit counts UTF-8 bytes' },
    { lines: ['a', 'b', 'c', 'd'], max: 3, packets: ['a\nb', 'c\nd'], why: 'order kept' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const packets = packDatagrams(c.lines, c.max);
      assert.deepEqual(packets.map((p) => p.toString('utf8')), c.packets);
      for (const p of packets) assert.ok(p.length <= c.max || !p.includes(0x0a), 'only a lone datagram may exceed the limit');
    });
  }

  it('packs real datagrams up to 8 KiB by default and loses none', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `supervisord.process.uptime:${i}|g|#supervisord_server:s,supervisord_process:p${i}`);
    const packets = packDatagrams(lines);
    assert.equal(DOGSTATSD_MAX_PAYLOAD, 8192);
    assert.ok(packets.length > 1);
    for (const p of packets) assert.ok(p.length <= 8192);
    assert.deepEqual(packets.flatMap((p) => p.toString('utf8').split('\n')), lines);
  });

  for (const bad of [0, -1, 1.5, NaN]) {
    it(`rejects maxBytes ${bad}`, () => {
      assert.throws(() => packDatagrams(['a'], bad), { name: 'RangeError', message: `maxBytes must be a positive integer, got ${bad}` });
    });
  }
});
