/**
 * What a server can make the exposition hold: CounterTotals under churn
 * (series of processes that are gone are dropped after the grace period,
 * never more than `maxSeries` are held, however many distinct process names
 * a server invents), and the version label's length.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CounterTotals, formatPrometheus, MAX_VERSION_LABEL } from '../../lib/outputs/prometheus.js';
import type { ServerRun } from '../../lib/types.js';

/** One run with a `supervisord.process.restarts` count (delta 1) per name. */
function run(names: readonly string[]): ServerRun {
  return {
    name: 'churn',
    target: 'http://127.0.0.1:9001/RPC2',
    tags: ['supervisord_server:churn'],
    result: {
      metrics: names.map((n) => ({ name: 'supervisord.process.restarts', type: 'count' as const, value: 1, tags: ['supervisord_server:churn', `supervisord_process:${n}`] })),
      serviceChecks: [],
      metadata: {},
      warnings: [],
      errors: [],
    },
  };
}

function sample(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.includes(`supervisord_process="${name}"`));
}

describe('CounterTotals', () => {
  it('20 new names per scrape for 3,000 scrapes: the series held stay bounded by the grace period', () => {
    let clock = 0;
    const counters = new CounterTotals({ graceMs: 60_000, now: () => clock });
    let most = 0;
    for (let scrape = 0; scrape < 3000; scrape++) {
      const names = Array.from({ length: 20 }, (_, i) => `p${scrape}-${i}`);
      formatPrometheus([run(['steady', ...names])], { counters });
      most = Math.max(most, counters.size);
      clock += 1000;
    }
    // 61 scrapes of 20 names fit in the grace period, plus the steady series.
    assert.ok(most <= 61 * 20 + 1, `held ${most} series`);
    assert.ok(counters.size >= 60 * 20, `held ${counters.size}: recent series must stay`);
    // The steady series was seen every time: it kept its total.
    assert.equal(sample(formatPrometheus([run(['steady'])], { counters }), 'steady'), 'supervisord_process_restarts_total{supervisord_server="churn",supervisord_process="steady"} 3001');
  });

  it('a series seen within the grace period keeps counting; one back after it starts again', () => {
    let clock = 0;
    const counters = new CounterTotals({ graceMs: 10_000, now: () => clock });
    formatPrometheus([run(['a', 'b'])], { counters });
    clock += 10_000;
    formatPrometheus([run(['a'])], { counters });
    clock += 10_000;
    const text = formatPrometheus([run(['a', 'b'])], { counters });
    assert.match(sample(text, 'a')!, / 3$/);
    assert.match(sample(text, 'b')!, / 1$/, 'b was not seen for 20 s: a counter reset');
  });

  it('a series that never left 0 is not held, and reads 0 like one never added to', () => {
    const counters = new CounterTotals({ now: () => 0 });
    assert.equal(counters.add('zero', 0), 0);
    assert.equal(counters.add('zero', Number.NaN), 0);
    assert.equal(counters.size, 0);
    assert.equal(counters.get('zero'), 0);
    assert.equal(counters.add('zero', 2), 2);
    assert.equal(counters.add('zero', 0), 2);
    assert.equal(counters.size, 1);
  });

  it('never more than maxSeries, the least recently added dropped first', () => {
    const counters = new CounterTotals({ maxSeries: 100, now: () => 0 });
    for (let scrape = 0; scrape < 500; scrape++) {
      formatPrometheus([run(['steady', `p${scrape}-a`, `p${scrape}-b`])], { counters });
      assert.ok(counters.size <= 100);
    }
    assert.equal(counters.size, 100);
    assert.match(sample(formatPrometheus([run(['steady'])], { counters }), 'steady')!, / 501$/);
  });

  it('refuses bad options', () => {
    assert.throws(() => new CounterTotals({ graceMs: -1 }), RangeError);
    assert.throws(() => new CounterTotals({ graceMs: Number.NaN }), RangeError);
    assert.throws(() => new CounterTotals({ maxSeries: 0 }), RangeError);
    assert.throws(() => new CounterTotals({ maxSeries: 1.5 }), RangeError);
  });
});

describe('the version label', () => {
  const versionRun = (raw: string): ServerRun => ({
    ...run([]),
    result: { ...run([]).result, metadata: { version: { raw, major: '4', minor: '2', scheme: 'supervisord' } } },
  });
  const label = (text: string): string => /^supervisord_version_info\{.*version="([^"]*)"\} 1$/m.exec(text)![1]!;

  it('a 300 KB version string becomes a label of 64 characters', () => {
    const text = formatPrometheus([versionRun(`4.2.5${'b'.repeat(300_000)}`)]);
    assert.equal(label(text), `4.2.5${'b'.repeat(MAX_VERSION_LABEL - 8)}...`);
    assert.equal(MAX_VERSION_LABEL, 64);
    assert.ok(text.length < 2000);
  });

  it('up to 64 characters (code points) it is unchanged', () => {
    assert.equal(label(formatPrometheus([versionRun('4.2.5')])), '4.2.5');
    const emoji = '\u{1F600}'.repeat(MAX_VERSION_LABEL);
    assert.equal(label(formatPrometheus([versionRun(emoji)])), emoji);
    assert.equal(label(formatPrometheus([versionRun(`${emoji}x`)])), `${'\u{1F600}'.repeat(MAX_VERSION_LABEL - 3)}...`);
  });
});
