/**
 * A stand-in for supervisord's `supervisor.readLog`, for the failures and
 * sizes a real server does not produce on demand (a log of gigabytes, a
 * character cut by a read at a chosen byte, a rotation between two reads).
 * It answers as supervisord 4.2.5's `options.readFile` + `as_string` do
 * (checked against the real server in test/integration/exit-log.test.ts):
 * - `offset >= 0, length > 0`: up to `length` bytes from `offset`, '' past the end;
 * - `offset < 0, length 0`: the last `-offset` bytes (all when shorter);
 * - `offset < 0` with `length != 0`, or `length < 0`: fault 3 BAD_ARGUMENTS;
 * - `offset >= 0, length 0`: refused here (the reader must never ask for an unbounded read);
 * - no file: fault 20 `NO_FILE: <path>`;
 * - bytes that are not whole UTF-8 characters: HTTP 500 alone, fault 30
 *   `FAILED: <class 'AttributeError'>:...'utf-8'` inside a multicall.
 *
 * The file is `prefix` virtual bytes (64-byte lines, each its number in 16
 * digits, 47 `x` and a line feed: never stored, every line different, as
 * time stamps make a real log's) followed by `text`.
 *
 * @module
 */

import { HttpStatusError, XmlRpcFault } from '../../protocol/errors.js';
import type { MulticallRequest } from '../../protocol/xmlrpc-client.js';

const FILLER_LINE = 64;
const UTF8_FAULT = "FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute 'utf-8'";

export class FakeMainLog {
  /** Bytes before `text`, generated (a 4 GiB log costs nothing). */
  prefix = 0;
  text: Buffer = Buffer.alloc(0);
  /** No file at all (`logfile=syslog`). */
  missing = false;
  /** Answer plain `FAILED` (a log that cannot be sought). */
  unseekable = false;
  /** Every readLog asked: [offset, length]. */
  readonly asked: Array<[number, number]> = [];
  /** Bytes of log text answered. */
  bytesSent = 0;
  /** Multicalls received. */
  multicalls = 0;

  constructor(text = '') {
    this.text = Buffer.from(text, 'utf8');
  }

  get size(): number {
    return this.prefix + this.text.length;
  }

  append(text: string): void {
    this.text = Buffer.concat([this.text, Buffer.from(text, 'utf8')]);
  }

  /** A rotation or `clearLog()`: the file starts again with `text`. */
  restart(text = ''): void {
    this.prefix = 0;
    this.text = Buffer.from(text, 'utf8');
  }

  /** The file's bytes [start, end). */
  bytes(start: number, end: number): Buffer {
    const out = Buffer.alloc(Math.max(0, end - start));
    for (let i = start; i < Math.min(end, this.prefix); i++) {
      const j = i % FILLER_LINE;
      out[i - start] = j === FILLER_LINE - 1 ? 0x0a : j >= 16 ? 0x78 : 0x30 + (Math.floor(Math.floor(i / FILLER_LINE) / 10 ** (15 - j)) % 10);
    }
    if (end > Math.max(start, this.prefix)) this.text.copy(out, Math.max(0, this.prefix - start), Math.max(0, start - this.prefix), end - this.prefix);
    return out;
  }

  readonly call = async (method: string, params: readonly unknown[] = []): Promise<unknown> => this.answer(method, params, false);

  readonly multicall = async (calls: readonly MulticallRequest[]): Promise<unknown> => {
    this.multicalls++;
    const items: unknown[] = [];
    for (const c of calls) {
      try {
        items.push(this.answer(c.methodName, c.params ?? [], true));
      } catch (error) {
        items.push(error);
      }
    }
    return items;
  };

  /** The answer of one call (thrown when it fails), for a fake server that serves other methods too. */
  answer(method: string, params: readonly unknown[], inMulticall: boolean): unknown {
    if (method !== 'supervisor.readLog') throw new XmlRpcFault(1, 'UNKNOWN_METHOD');
    const [offset, length] = params as [number, number];
    this.asked.push([offset, length]);
    if (this.missing) throw new XmlRpcFault(20, 'NO_FILE: syslog');
    if (this.unseekable) throw new XmlRpcFault(30, 'FAILED');
    if (offset < 0 && length !== 0) throw new XmlRpcFault(3, 'BAD_ARGUMENTS');
    if (length < 0) throw new XmlRpcFault(3, 'BAD_ARGUMENTS');
    if (offset >= 0 && length === 0) throw new Error(`unbounded readLog(${offset}, 0) asked`);
    const size = this.size;
    const start = offset < 0 ? Math.max(0, size + offset) : offset;
    const end = offset < 0 ? size : Math.min(size, offset + length);
    const bytes = this.bytes(start, end);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      if (inMulticall) throw new XmlRpcFault(30, UTF8_FAULT);
      throw new HttpStatusError(500, 'Internal Server Error', 'fake');
    }
    this.bytesSent += bytes.length;
    return text;
  }
}

/** A main-log line as supervisord writes it, with a time stamp from a counter. */
export function logLine(message: string, level = 'INFO', at = 0): string {
  const ms = String(at % 1000).padStart(3, '0');
  const s = String(Math.floor(at / 1000) % 60).padStart(2, '0');
  const m = String(Math.floor(at / 60000) % 60).padStart(2, '0');
  return `2026-12-06 23:${m}:${s},${ms} ${level} ${message}\n`;
}
