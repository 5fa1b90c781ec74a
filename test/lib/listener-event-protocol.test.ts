/**
 * The event listener protocol parser: every event type of supervisord's
 * documentation, framed as supervisord 4.2.5 frames them (`len` in
 * characters, UTF-8 on the wire), fed whole, split at every byte offset and
 * in seeded random chunks; malformed headers and payloads (one item each, the
 * stream picked up again after them); a payload cut short by EOF.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EventStreamParser, READY, RESULT_OK } from '../../lib/listener/event-protocol.js';
import type { ParsedItem } from '../../lib/listener/event-protocol.js';
import { envelope } from '../helpers/listener-envelope.js';

/** Every event type of supervisord's events documentation, with payloads as supervisor/events.py writes them. */
const CASES: ReadonlyArray<{ eventname: string; payload: string; fields: Record<string, string>; data: string }> = [
  { eventname: 'PROCESS_STATE_STARTING', payload: 'processname:cat groupname:cat from_state:STOPPED tries:0', fields: { processname: 'cat', groupname: 'cat', from_state: 'STOPPED', tries: '0' }, data: '' },
  { eventname: 'PROCESS_STATE_RUNNING', payload: 'processname:cat groupname:cat from_state:STARTING pid:2766', fields: { processname: 'cat', groupname: 'cat', from_state: 'STARTING', pid: '2766' }, data: '' },
  { eventname: 'PROCESS_STATE_BACKOFF', payload: 'processname:cat groupname:cat from_state:STARTING tries:1', fields: { processname: 'cat', groupname: 'cat', from_state: 'STARTING', tries: '1' }, data: '' },
  { eventname: 'PROCESS_STATE_STOPPING', payload: 'processname:cat groupname:cat from_state:RUNNING pid:2766', fields: { processname: 'cat', groupname: 'cat', from_state: 'RUNNING', pid: '2766' }, data: '' },
  { eventname: 'PROCESS_STATE_EXITED', payload: 'processname:cat groupname:cat from_state:RUNNING expected:0 pid:2766', fields: { processname: 'cat', groupname: 'cat', from_state: 'RUNNING', expected: '0', pid: '2766' }, data: '' },
  { eventname: 'PROCESS_STATE_STOPPED', payload: 'processname:cat groupname:cat from_state:STOPPING pid:2766', fields: { processname: 'cat', groupname: 'cat', from_state: 'STOPPING', pid: '2766' }, data: '' },
  { eventname: 'PROCESS_STATE_FATAL', payload: 'processname:cat groupname:cat from_state:BACKOFF', fields: { processname: 'cat', groupname: 'cat', from_state: 'BACKOFF' }, data: '' },
  { eventname: 'PROCESS_STATE_UNKNOWN', payload: 'processname:cat groupname:cat from_state:BACKOFF', fields: { processname: 'cat', groupname: 'cat', from_state: 'BACKOFF' }, data: '' },
  { eventname: 'REMOTE_COMMUNICATION', payload: 'type:mytype\nhello: world', fields: { type: 'mytype' }, data: 'hello: world' },
  { eventname: 'PROCESS_LOG_STDOUT', payload: 'processname:foo groupname:bar pid:123 channel:stdout\nline one\nline two', fields: { processname: 'foo', groupname: 'bar', pid: '123', channel: 'stdout' }, data: 'line one\nline two' },
  { eventname: 'PROCESS_LOG_STDERR', payload: 'processname:foo groupname:bar pid:123 channel:stderr\nérror ✓ 𝄞', fields: { processname: 'foo', groupname: 'bar', pid: '123', channel: 'stderr' }, data: 'érror ✓ 𝄞' },
  { eventname: 'PROCESS_COMMUNICATION_STDOUT', payload: 'processname:foo groupname:bar pid:123\n<data>', fields: { processname: 'foo', groupname: 'bar', pid: '123' }, data: '<data>' },
  { eventname: 'PROCESS_COMMUNICATION_STDERR', payload: 'processname:foo groupname:bar pid:123\n', fields: { processname: 'foo', groupname: 'bar', pid: '123' }, data: '' },
  { eventname: 'SUPERVISOR_STATE_CHANGE_RUNNING', payload: '', fields: {}, data: '' },
  { eventname: 'SUPERVISOR_STATE_CHANGE_STOPPING', payload: '', fields: {}, data: '' },
  { eventname: 'TICK_5', payload: 'when:1201063880', fields: { when: '1201063880' }, data: '' },
  { eventname: 'TICK_60', payload: 'when:1201063880', fields: { when: '1201063880' }, data: '' },
  { eventname: 'TICK_3600', payload: 'when:1201063880', fields: { when: '1201063880' }, data: '' },
  { eventname: 'PROCESS_GROUP_ADDED', payload: 'groupname:cat\n', fields: { groupname: 'cat' }, data: '' },
  { eventname: 'PROCESS_GROUP_REMOVED', payload: 'groupname:cat\n', fields: { groupname: 'cat' }, data: '' },
  // Non-ASCII names: `len` counts characters, fewer than the bytes that follow.
  { eventname: 'PROCESS_STATE_RUNNING', payload: 'processname:café groupname:日本 from_state:STARTING pid:7', fields: { processname: 'café', groupname: '日本', from_state: 'STARTING', pid: '7' }, data: '' },
  { eventname: 'PROCESS_STATE_EXITED', payload: 'processname:𝄞 groupname:𝄞 from_state:RUNNING expected:1 pid:8', fields: { processname: '𝄞', groupname: '𝄞', from_state: 'RUNNING', expected: '1', pid: '8' }, data: '' },
];

function feed(parser: EventStreamParser, bytes: Uint8Array, cuts: readonly number[]): ParsedItem[] {
  const items: ParsedItem[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    items.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return items;
}

function plain(items: readonly ParsedItem[]): unknown[] {
  return items.map((item) => (item.ok ? { eventname: item.event.header.eventname, fields: { ...item.event.fields }, data: item.event.data } : { malformed: item.malformed.code }));
}

/** mulberry32: seeded, so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('event listener protocol: the answers', () => {
  it('READY and RESULT 2\\nOK followed by the next READY, nothing else', () => {
    assert.equal(READY, 'READY\n');
    assert.equal(RESULT_OK, 'RESULT 2\nOKREADY\n');
  });
});

describe('event listener protocol: every event type', () => {
  for (const c of CASES) {
    it(`${c.eventname} ${JSON.stringify(c.payload.slice(0, 30))}: whole, then split at every byte offset`, () => {
      const bytes = envelope(c.eventname, c.payload);
      const expected = [{ eventname: c.eventname, fields: c.fields, data: c.data }];
      const whole = new EventStreamParser().push(bytes);
      assert.deepEqual(plain(whole), expected);
      const header = whole[0]!.ok ? whole[0]!.event.header : undefined;
      assert.equal(header?.ver, '3.0');
      assert.equal(header?.server, 'supervisor');
      assert.equal(header?.pool, 'listener');
      assert.equal(header?.len, [...c.payload].length);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const parser = new EventStreamParser();
        assert.deepEqual(plain(feed(parser, bytes, [cut])), expected, `split at byte ${cut}`);
        assert.equal(parser.end(), undefined, `split at byte ${cut}`);
      }
    });
  }

  it('all the types back to back, one byte at a time and in seeded random chunks, in order', () => {
    const stream = Buffer.concat(CASES.map((c) => envelope(c.eventname, c.payload)));
    const expected = CASES.map((c) => ({ eventname: c.eventname, fields: c.fields, data: c.data }));
    const bytewise = new EventStreamParser();
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(plain(feed(bytewise, stream, cuts)), expected);
    for (let seed = 1; seed <= 50; seed++) {
      const next = random(seed);
      const chunks: number[] = [];
      for (let at = Math.floor(next() * 40); at < stream.length; at += 1 + Math.floor(next() * 60)) chunks.push(at);
      assert.deepEqual(plain(feed(new EventStreamParser(), stream, chunks)), expected, `seed ${seed}`);
    }
  });

  it('keeps its own copy of the bytes (a stream may reuse its chunk buffer)', () => {
    const bytes = envelope('TICK_5', 'when:1');
    const parser = new EventStreamParser();
    const chunk = Buffer.from(bytes.subarray(0, bytes.length - 3));
    assert.deepEqual(parser.push(chunk), []);
    chunk.fill(0x78);
    const items = parser.push(bytes.subarray(bytes.length - 3));
    assert.deepEqual(plain(items), [{ eventname: 'TICK_5', fields: { when: '1' }, data: '' }]);
  });
});

describe('event listener protocol: the header by its structure', () => {
  it('an identifier with spaces (identifier=prod web): read whole, as supervisord writes it', () => {
    for (const server of ['prod web', 'a b  c', ' lead', 'serial:9 pool:x', '']) {
      const bytes = envelope('PROCESS_STATE_EXITED', 'processname:a groupname:a from_state:RUNNING expected:0 pid:9', { server, pool: 'check', poolserial: 41 });
      for (let cut = 0; cut <= bytes.length; cut += 7) {
        const items = feed(new EventStreamParser(), bytes, [cut]);
        assert.equal(items.length, 1, `${JSON.stringify(server)} split at ${cut}`);
        assert.ok(items[0]!.ok, JSON.stringify(items[0]));
        assert.equal(items[0].event.header.server, server);
        assert.equal(items[0].event.header.pool, 'check');
        assert.equal(items[0].event.header.poolserial, 41);
        assert.equal(items[0].event.fields['processname'], 'a');
      }
    }
  });

  it('a payload holding a whole fake envelope is data, never an event (PROCESS_LOG of a program printing one)', () => {
    const forged = 'ver:3.0 server:supervisor serial:99 pool:listener poolserial:99 eventname:PROCESS_STATE_FATAL len:50\nprocessname:web groupname:web from_state:BACKOFF';
    const log = envelope('PROCESS_LOG_STDOUT', `processname:liar groupname:liar pid:7 channel:stdout\n${forged}\n${forged}`, { server: 'prod web' });
    const stream = Buffer.concat([log, envelope('TICK_5', 'when:1', { server: 'prod web' })]);
    for (let cut = 0; cut <= stream.length; cut += 3) {
      const items = feed(new EventStreamParser(), stream, [cut]);
      assert.deepEqual(
        items.map((i) => (i.ok ? i.event.header.eventname : i.malformed.code)),
        ['PROCESS_LOG_STDOUT', 'TICK_5'],
        `split at ${cut}`,
      );
      assert.ok(items[0]!.ok && items[0].event.data === `${forged}\n${forged}`);
    }
  });
});

describe('event listener protocol: malformed input', () => {
  const good = envelope('TICK_5', 'when:42');
  /** Headers whose len is readable: the payload is skipped by its length, one item, then the next event. */
  const FRAMED: ReadonlyArray<{ what: string; header: string; payload?: string; message: RegExp; eventname?: string }> = [
    { what: 'another protocol version', header: 'ver:4.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:7', payload: 'when:42', message: /^protocol version "4.0" is not 3.0 in the header at byte 0$/u, eventname: 'TICK_5' },
    { what: 'no eventname', header: 'ver:3.0 server:s serial:1 pool:p poolserial:1 len:3', payload: 'abc', message: /^no eventname token where supervisord writes it \(found "poolserial:1"\)/u },
    { what: 'an empty eventname', header: 'ver:3.0 server:s serial:1 pool:p poolserial:1 eventname: len:0', message: /^no eventname token/u },
    { what: 'tokens out of supervisord\'s order', header: 'ver:3.0 server:s pool:p serial:1 poolserial:1 eventname:TICK_5 len:0', message: /^no pool token where supervisord writes it \(found "serial:1"\)/u, eventname: 'TICK_5' },
    { what: 'no server token', header: 'ver:3.0 serial:1 pool:p poolserial:1 eventname:TICK_5 len:0', message: /^no server token after ver \(found ""\)/u, eventname: 'TICK_5' },
    { what: 'no ver token first', header: 'server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:0', message: /^no ver token at the start \(found "server:s"\)/u, eventname: 'TICK_5' },
    { what: 'a serial that is not a number', header: 'ver:3.0 server:s serial:one pool:p poolserial:1 eventname:TICK_5 len:0', message: /^serial "one" is not a decimal integer/u, eventname: 'TICK_5' },
    { what: 'a poolserial that is not a number', header: 'ver:3.0 server:s serial:1 pool:p poolserial:? eventname:TICK_5 len:0', message: /^poolserial "\?" is not a decimal integer/u, eventname: 'TICK_5' },
    { what: 'a line that is only a len', header: 'len:0', message: /^no eventname token where supervisord writes it \(found ""\)/u },
  ];
  for (const h of FRAMED) {
    it(`${h.what}: one malformed item, then the next event is read`, () => {
      const bytes = Buffer.concat([Buffer.from(`${h.header}\n${h.payload ?? ''}`), good]);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const items = feed(new EventStreamParser(), bytes, [cut]);
        assert.equal(items.length, 2, `split at ${cut}: ${JSON.stringify(plain(items))}`);
        const bad = items[0]!;
        assert.ok(!bad.ok);
        assert.equal(bad.malformed.code, 'ERR_EVENT_HEADER');
        assert.match(bad.malformed.message, h.message);
        assert.equal(bad.malformed.eventname, h.eventname);
        assert.equal(bad.malformed.header, undefined);
        assert.deepEqual(plain(items.slice(1)), [{ eventname: 'TICK_5', fields: { when: '42' }, data: '' }]);
      }
    });
  }

  /** Headers whose len is unreadable: everything until the input goes quiet is the envelope; never searched for a header. */
  const UNFRAMED: ReadonlyArray<{ what: string; header: string; message: RegExp }> = [
    { what: 'no len', header: 'ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5', message: /^no len token at the end \(found "eventname:TICK_5"\) in the header at byte 0 \(\d+ more bytes discarded until the input went quiet\)$/u },
    { what: 'len not a number', header: 'ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:x1', message: /^len "x1" is not a decimal integer in the header at byte 0/u },
    { what: 'negative len', header: 'ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:-1', message: /^len "-1" is not a decimal integer/u },
    { what: 'an empty line', header: '', message: /^no len token at the end \(found ""\)/u },
  ];
  for (const h of UNFRAMED) {
    it(`${h.what}: discarded until the owner says the input was quiet, a header inside included; then one item`, () => {
      // What follows looks like a well-formed envelope: it is part of the unreadable one (supervisord sends nothing else before the answer).
      const bytes = Buffer.concat([Buffer.from(`${h.header}\nprocessname:a groupname:a from_state:STARTING pid:1\n`), good]);
      for (let cut = 0; cut <= bytes.length; cut += 5) {
        const parser = new EventStreamParser();
        assert.deepEqual(feed(parser, bytes, [cut]), [], `split at ${cut}`);
        assert.equal(parser.discarding, true);
        assert.equal(parser.idle, false);
        const item = parser.endDiscard();
        assert.ok(item !== undefined && !item.ok);
        assert.equal(item.malformed.code, 'ERR_EVENT_HEADER');
        assert.match(item.malformed.message, h.message);
        assert.equal(parser.discarding, false);
        assert.equal(parser.endDiscard(), undefined);
        // The next envelope after the answer is read normally.
        assert.deepEqual(plain(parser.push(good)), [{ eventname: 'TICK_5', fields: { when: '42' }, data: '' }]);
      }
    });
  }

  it('a header line over maxHeaderBytes: discarded, one item at the end of the discard, then the stream is read again', () => {
    const long = Buffer.from(`ver:3.0 server:${'s'.repeat(200)} serial:1 pool:p poolserial:1 eventname:TICK_5 len:7\nwhen:42`);
    for (const cut of [0, 10, 100, 150, long.length]) {
      const parser = new EventStreamParser({ maxHeaderBytes: 100 });
      assert.deepEqual(feed(parser, long, [cut]), []);
      const item = parser.endDiscard();
      assert.ok(item !== undefined && !item.ok);
      assert.match(item.malformed.message, /^a header line longer than 100 bytes in the header at byte 0 \(\d+ more bytes discarded/u);
      assert.deepEqual(plain(parser.push(good)), [{ eventname: 'TICK_5', fields: { when: '42' }, data: '' }]);
    }
  });

  it('a len over maxPayloadChars: skipped unread, ERR_EVENT_TOO_LARGE with its header, the next event is read', () => {
    const big = envelope('PROCESS_LOG_STDOUT', `processname:a groupname:a pid:1 channel:stdout\n${'é'.repeat(500)}`);
    const items = feed(new EventStreamParser({ maxPayloadChars: 100 }), Buffer.concat([big, good]), [70, 300]);
    assert.equal(items.length, 2);
    assert.ok(!items[0]!.ok);
    assert.equal(items[0]!.malformed.code, 'ERR_EVENT_TOO_LARGE');
    assert.match(items[0]!.malformed.message, /^PROCESS_LOG_STDOUT \(serial \d+\) has 547 payload characters, over the limit of 100, at byte 0$/u);
    assert.equal(items[0]!.malformed.eventname, 'PROCESS_LOG_STDOUT');
    assert.equal(items[0]!.malformed.header?.eventname, 'PROCESS_LOG_STDOUT');
    assert.ok(items[1]!.ok);
  });

  it('a payload whose first line is not tokens: ERR_EVENT_PAYLOAD naming the event, with its header', () => {
    const bytes = envelope('PROCESS_STATE_RUNNING', 'processname cat', { poolserial: 7 });
    const items = new EventStreamParser().push(bytes);
    assert.ok(!items[0]!.ok);
    assert.equal(items[0]!.malformed.code, 'ERR_EVENT_PAYLOAD');
    assert.match(items[0]!.malformed.message, /^token "processname" is not key:value in the payload of PROCESS_STATE_RUNNING \(serial \d+\) at byte 0$/u);
    assert.equal(items[0]!.malformed.header?.poolserial, 7);
  });

  it('a payload with a token twice: ERR_EVENT_PAYLOAD', () => {
    const items = new EventStreamParser().push(envelope('TICK_5', 'when:1 when:2'));
    assert.ok(!items[0]!.ok);
    assert.match(items[0]!.malformed.message, /^token "when" appears twice in the payload of TICK_5/u);
  });

  it('a truncated UTF-8 sequence inside the payload counts as one character and does not stall the frame', () => {
    // 0xe2 starts a 3-byte sequence; the byte after is ASCII.
    const payload = Buffer.from([0x77, 0x68, 0x65, 0x6e, 0x3a, 0xe2, 0x31]);
    const bytes = Buffer.concat([Buffer.from('ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:7\n'), payload, good]);
    const items = new EventStreamParser().push(bytes);
    assert.equal(items.length, 2);
    assert.ok(items[0]!.ok && items[1]!.ok);
  });

  it('limits must be positive integers', () => {
    assert.throws(() => new EventStreamParser({ maxHeaderBytes: 0 }), { name: 'RangeError', message: 'maxHeaderBytes must be a positive integer, got 0' });
    assert.throws(() => new EventStreamParser({ maxPayloadChars: 1.5 }), { name: 'RangeError', message: 'maxPayloadChars must be a positive integer, got 1.5' });
  });
});

describe('event listener protocol: end of input', () => {
  it('between envelopes: nothing to report', () => {
    const parser = new EventStreamParser();
    parser.push(envelope('TICK_5', 'when:1'));
    assert.equal(parser.end(), undefined);
    assert.equal(new EventStreamParser().end(), undefined);
  });

  it('a len larger than what arrives before EOF: no event, the cut reported with the counts', () => {
    const parser = new EventStreamParser();
    const bytes = Buffer.from('ver:3.0 server:s serial:12 pool:p poolserial:3 eventname:PROCESS_STATE_EXITED len:57\nprocessname:a');
    assert.deepEqual(parser.push(bytes), []);
    assert.equal(parser.end(), `PROCESS_STATE_EXITED (serial 12) ended at EOF after 13 of 57 payload characters, at byte ${bytes.length}`);
  });

  it('the last character waiting for its continuation bytes at EOF: still cut short, no event', () => {
    const parser = new EventStreamParser();
    assert.deepEqual(parser.push(Buffer.from([...Buffer.from('ver:3.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:1\n'), 0xe6])), []);
    assert.match(parser.end()!, /^TICK_5 \(serial 1\) ended at EOF after 1 of 1 payload characters/u);
  });

  it('inside a header line', () => {
    const parser = new EventStreamParser();
    parser.push(Buffer.from('ver:3.0 server:s'));
    assert.equal(parser.end(), 'a header line ended at EOF after 16 bytes, at byte 16');
  });

  it('while discarding after an unreadable header: said', () => {
    const parser = new EventStreamParser();
    assert.equal(parser.push(Buffer.from('garbage\nmore garbage')).length, 0);
    assert.equal(parser.end(), 'an envelope with an unreadable header (no len token at the end (found "garbage")) was being discarded at EOF, at byte 20');
  });

  it('inside the payload of a malformed envelope', () => {
    const parser = new EventStreamParser();
    parser.push(Buffer.from('ver:4.0 server:s serial:1 pool:p poolserial:1 eventname:TICK_5 len:9\nwhen'));
    assert.match(parser.end()!, /^a malformed envelope ended at EOF after 5 payload characters were still due/u);
  });
});
