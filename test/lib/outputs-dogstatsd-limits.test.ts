/**
 * DogStatsD datagrams at the edges: a service check whose message would make
 * the datagram too long is cut to fit (marked), never dropped; tags that
 * differed only in separators stay distinct series.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';

import { DOGSTATSD_MAX_PAYLOAD, formatDogStatsD, packDatagrams, TRUNCATION_MARK } from '../../lib/outputs/dogstatsd.js';
import type { CheckResult, ServerRun } from '../../lib/types.js';

const TAGS = ['supervisord_server:s', 'supervisord_process:java', 'supervisord_group:java'];

function run(result: Partial<CheckResult>): ServerRun {
  return { name: 's', target: 't', tags: [], result: { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [], ...result } };
}

function statusCheck(message: string): ServerRun {
  return run({ serviceChecks: [{ name: 'supervisord.process.status', status: 2, tags: TAGS, message }] });
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
/** The service check's datagram without its message. */
const HEADER_BYTES = bytes(`_sc|supervisord.process.status|2|#${TAGS.join(',')}`);

describe('a service check longer than the packet limit', () => {
  it('a 70 KB description: cut to 8,192 bytes, marked, status and tags intact', () => {
    const message = `Process name: java\nDescription: ${'d'.repeat(70_000)}\nState: FATAL`;
    const [line] = formatDogStatsD([statusCheck(message)]);
    assert.equal(bytes(line!), DOGSTATSD_MAX_PAYLOAD);
    assert.ok(line!.startsWith(`_sc|supervisord.process.status|2|#${TAGS.join(',')}|m:Process name: java\\nDescription: ddd`));
    assert.ok(line!.endsWith(`ddd${TRUNCATION_MARK}`));
    assert.equal(packDatagrams([line!]).length, 1);
  });

  it('a message that fits is unchanged', () => {
    const message = 'x'.repeat(DOGSTATSD_MAX_PAYLOAD - bytes(`_sc|supervisord.process.status|2|#${TAGS.join(',')}|m:`));
    const [line] = formatDogStatsD([statusCheck(message)]);
    assert.equal(bytes(line!), DOGSTATSD_MAX_PAYLOAD);
    assert.ok(line!.endsWith('xxx'));
    assert.ok(formatDogStatsD([statusCheck(`${message}x`)])[0]!.endsWith(TRUNCATION_MARK));
  });

  it('cut between characters, never inside a UTF-8 sequence or an escape', () => {
    for (let maxBytes = HEADER_BYTES; maxBytes < HEADER_BYTES + 60; maxBytes++) {
      for (const unit of ['é', '日', '😀', '\n', 'm:', '|', 'ab']) {
        const [line] = formatDogStatsD([statusCheck(unit.repeat(80))], { maxBytes });
        assert.ok(bytes(line!) <= maxBytes, `${maxBytes} ${JSON.stringify(unit)}: ${bytes(line!)} bytes`);
        assert.doesNotMatch(line!, /\uFFFD/);
        const at = line!.indexOf('|m:');
        if (at < 0) {
          assert.ok(maxBytes < HEADER_BYTES + bytes(`|m:${TRUNCATION_MARK}`) + 4, `${maxBytes}: message dropped`);
        } else {
          const m = line!.slice(at + 3);
          assert.ok(m.endsWith(TRUNCATION_MARK), line);
          const kept = m.slice(0, -TRUNCATION_MARK.length);
          assert.ok(!kept.endsWith('\\'), `escape cut: ${JSON.stringify(kept)}`);
          assert.equal(Buffer.from(kept, 'utf8').toString('utf8'), kept);
          assert.ok(!/[\uD800-\uDBFF]$/.test(kept), 'half a surrogate pair');
        }
      }
    }
  });

  it('when even the mark does not fit: the check without its message, still sent', () => {
    const [line] = formatDogStatsD([statusCheck('x'.repeat(100))], { maxBytes: HEADER_BYTES + 5 });
    assert.equal(line, `_sc|supervisord.process.status|2|#${TAGS.join(',')}`);
  });

  it('refuses a bad maxBytes', () => {
    assert.throws(() => formatDogStatsD([], { maxBytes: 0 }), RangeError);
  });

  it('the truncated datagram goes through a real UDP socket (the full one fails with EMSGSIZE)', async () => {
    const receiver = createSocket('udp4');
    const sender = createSocket('udp4');
    try {
      await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
      const got = new Promise<string>((resolve) => receiver.once('message', (m) => resolve(m.toString('utf8'))));
      const [packet] = packDatagrams(formatDogStatsD([statusCheck('y'.repeat(70_000))]));
      const error = await new Promise<Error | null>((resolve) => sender.send(packet!, receiver.address().port, '127.0.0.1', resolve));
      assert.equal(error, null);
      assert.match(await got, /^_sc\|supervisord\.process\.status\|2\|.*y\.\.\. \[truncated\]$/);
    } finally {
      sender.close();
      receiver.close();
    }
  });
});

describe('tags that differ only in separators stay distinct', () => {
  it('a\\nb, a,b, a|b, a\\rb and a_b: five series', () => {
    const values = ['a\nb', 'a,b', 'a|b', 'a\rb', 'a_b'];
    const lines = formatDogStatsD([run({ metrics: values.map((v) => ({ name: 'm', type: 'gauge' as const, value: 1, tags: [`supervisord_process:${v}`] })) })]);
    const tags = lines.map((l) => l.slice(l.indexOf('|#') + 2));
    assert.equal(new Set(tags).size, 5, tags.join(' '));
    assert.equal(tags[4], 'supervisord_process:a_b', 'a clean tag is unchanged');
    for (const tag of tags.slice(0, 4)) assert.match(tag, /^supervisord_process:a_b_[0-9a-f]{8}$/);
    // Stable: the same tag gives the same series on every run.
    assert.deepEqual(formatDogStatsD([run({ metrics: [{ name: 'm', type: 'gauge', value: 1, tags: ['supervisord_process:a,b'] }] })]), [lines[1]]);
  });
});
