/**
 * DogStatsD datagrams of check results
 * (https://docs.datadoghq.com/developers/dogstatsd/datagram_shell/), for
 * `--format dogstatsd` and `--dogstatsd host:port`.
 *
 * - metric: `name:value|g|#tag1,tag2` (`|c` for a Datadog `count`; a
 *   `monotonic_count`, a running total such as CPU seconds, is sent as the
 *   gauge it reads: DogStatsD has no type for running totals, and `|c` would
 *   add the whole total again at every run);
 * - service check: `_sc|name|status|#tag1,tag2|m:message`.
 *
 * The Agent splits a packet at `\n`, a datagram at `|` and the tag list at
 * `,` (datadog-agent `pkg/dogstatsd`, `nextField` / `parseTags`), and unescapes
 * nothing. So:
 * - names keep `[A-Za-z0-9_.]` only (the Agent's metric naming policy);
 * - tags have `,`, `|`, CR and LF replaced by `_`, and then, so that tags
 *   that differed only there stay distinct series (`a,b`, `a|b` and
 *   `a\nb` would all read `a_b`), `_` and 8 hex digits of a hash of the
 *   original tag are appended (`a_b_3f1c09d2`); a tag without those
 *   characters is unchanged;
 * - the message is last (the Agent reads `m:` as an ordinary optional field,
 *   so whatever follows it would be parsed as more fields), with line breaks
 *   written as the two characters `\n` and `m:` as `m\:` (what the official
 *   clients send), and `|` replaced by `¦` (U+00A6): a pipe would end the
 *   message and let the rest be read as tags;
 * - a metric whose value is not finite is skipped (the Agent rejects NaN
 *   and infinities);
 * - a service check whose datagram would exceed the packet limit
 *   (`maxBytes`) has its message cut to fit, ending with
 *   {@link TRUNCATION_MARK}: a process's status is delivered, whatever the
 *   length of its description (an over-long datagram is refused by the
 *   kernel, EMSGSIZE, or cut by the Agent).
 *
 * @module
 */

import { builtin } from '../lazy-builtin.js';
import type { OutputRun } from '../types.js';

/**
 * Largest packet {@link packDatagrams} builds by default: the Agent's
 * `dogstatsd_buffer_size` default (8192 bytes); a longer packet is truncated by
 * the Agent.
 */
export const DOGSTATSD_MAX_PAYLOAD = 8192;

/** Ends a service-check message cut to fit the packet limit. */
export const TRUNCATION_MARK = '... [truncated]';

/** Options of {@link formatDogStatsD}. */
export interface DogStatsDOptions {
  /** Largest service-check datagram, in UTF-8 bytes; longer messages are cut. Default {@link DOGSTATSD_MAX_PAYLOAD}. */
  maxBytes?: number;
}

/**
 * The datagrams of the runs, one string per submission, without line
 * terminators: for each run its metrics then its service checks, in result
 * order.
 *
 * @throws {RangeError} when `maxBytes` is not a positive integer.
 */
export function formatDogStatsD(runs: readonly OutputRun[], options: DogStatsDOptions = {}): string[] {
  const maxBytes = options.maxBytes ?? DOGSTATSD_MAX_PAYLOAD;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  const lines: string[] = [];
  for (const run of runs) {
    for (const metric of run.result.metrics) {
      if (!Number.isFinite(metric.value)) continue;
      const type = metric.type === 'count' ? 'c' : 'g';
      lines.push(`${cleanName(metric.name)}:${String(metric.value)}|${type}${tagField(metric.tags)}`);
    }
    for (const check of run.result.serviceChecks) {
      const line = `_sc|${cleanName(check.name)}|${check.status}${tagField(check.tags)}`;
      if (check.message === undefined || check.message === '') lines.push(line);
      else lines.push(line + messageField(escapeMessage(check.message), maxBytes - Buffer.byteLength(line, 'utf8')));
    }
  }
  return lines;
}

/**
 * Packs datagrams into packets joined with `\n`, each at most `maxBytes` of
 * UTF-8, in order. A datagram is never split: one longer than `maxBytes` is
 * sent alone.
 *
 * @param lines datagrams from {@link formatDogStatsD}.
 * @param maxBytes packet size limit, default {@link DOGSTATSD_MAX_PAYLOAD}.
 * @throws {RangeError} when `maxBytes` is not a positive integer.
 */
export function packDatagrams(lines: readonly string[], maxBytes: number = DOGSTATSD_MAX_PAYLOAD): Buffer[] {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  const packets: Buffer[] = [];
  let pending: string[] = [];
  let size = 0;
  const flush = (): void => {
    if (pending.length === 0) return;
    packets.push(Buffer.from(pending.join('\n'), 'utf8'));
    pending = [];
    size = 0;
  };
  for (const line of lines) {
    const bytes = Buffer.byteLength(line, 'utf8');
    if (pending.length > 0 && size + 1 + bytes > maxBytes) flush();
    size += (pending.length === 0 ? 0 : 1) + bytes;
    pending.push(line);
  }
  flush();
  return packets;
}

function cleanName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_');
}

function tagField(tags: readonly string[]): string {
  if (tags.length === 0) return '';
  return `|#${tags.map(cleanTag).join(',')}`;
}

const TAG_SEPARATORS = /[,|\r\n]/g;

function cleanTag(tag: string): string {
  const clean = tag.replace(TAG_SEPARATORS, '_');
  if (clean === tag) return tag;
  return `${clean}_${builtin('node:crypto').createHash('sha256').update(tag, 'utf8').digest('hex').slice(0, 8)}`;
}

/**
 * `|m:<message>` in at most `room` bytes: the escaped message, or as much of
 * it as fits followed by {@link TRUNCATION_MARK}, cut between characters and
 * never inside an escape (`\n`, `m\:`); nothing when not even the mark fits.
 */
function messageField(escaped: string, room: number): string {
  const field = `|m:${escaped}`;
  if (Buffer.byteLength(field, 'utf8') <= room) return field;
  let budget = room - Buffer.byteLength(`|m:${TRUNCATION_MARK}`, 'utf8');
  if (budget < 0) return '';
  let end = 0;
  for (const ch of escaped) {
    const bytes = ch.length === 2 ? 4 : ch.charCodeAt(0) < 0x80 ? 1 : ch.charCodeAt(0) < 0x800 ? 2 : 3;
    if (bytes > budget) break;
    budget -= bytes;
    end += ch.length;
  }
  let kept = escaped.slice(0, end);
  if (kept.endsWith('\\')) kept = kept.slice(0, -1);
  return `|m:${kept}${TRUNCATION_MARK}`;
}

function escapeMessage(message: string): string {
  return message.replace(/\r\n|\r|\n/g, '\\n').replaceAll('m:', 'm\\:').replaceAll('|', '\u00a6');
}

/** A Datadog event for {@link formatDogStatsDEvent}. */
export interface DogStatsDEvent {
  title: string;
  text: string;
  /** Default `info`. */
  alertType?: 'error' | 'warning' | 'info' | 'success';
  /** Events with the same key are grouped by Datadog. */
  aggregationKey?: string;
  /** `s:`, the event's source type name. */
  sourceType?: string;
  tags?: readonly string[];
}

/**
 * One event datagram, `_e{<title bytes>,<text bytes>}:<title>|<text>|...`
 * (the lengths are UTF-8 byte counts, as the official clients send them).
 * The Agent reads title and text by those lengths, so a `|` inside them is
 * kept; line breaks in the text are written as the two characters `\n`, and
 * the title, which the Agent shows on one line, has them replaced by spaces.
 */
export function formatDogStatsDEvent(event: DogStatsDEvent): string {
  const title = event.title.replace(/\r\n|\r|\n/g, ' ');
  const text = event.text.replace(/\r\n|\r|\n/g, '\\n');
  let line = `_e{${Buffer.byteLength(title, 'utf8')},${Buffer.byteLength(text, 'utf8')}}:${title}|${text}`;
  if (event.aggregationKey !== undefined) line += `|k:${event.aggregationKey.replace(/[|\r\n]/g, '_')}`;
  if (event.sourceType !== undefined) line += `|s:${event.sourceType.replace(/[|\r\n]/g, '_')}`;
  line += `|t:${event.alertType ?? 'info'}`;
  return line + tagField(event.tags ?? []);
}
