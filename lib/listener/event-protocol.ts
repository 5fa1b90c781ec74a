/**
 * supervisord's event listener protocol (version 3.0), the listener's side:
 * a chunk-agnostic parser of what supervisord writes to a listener's stdin,
 * and the two strings a listener writes to its stdout. It knows the framing
 * and the token syntax, nothing about what the events mean.
 *
 * The wire (supervisor `process.py` `_eventEnvelope`, `dispatchers.py`):
 * - the listener writes `READY\n`; supervisord then writes one envelope, a
 *   header line `ver:3.0 server:<identifier> serial:<n> pool:<listener>
 *   poolserial:<n> eventname:<NAME> len:<n>\n` followed by the payload, and
 *   sends nothing more until the listener answers `RESULT <n>\n<n bytes>`;
 * - `len` is Python's `len()` of the payload *string*: it counts characters
 *   (code points), not bytes, and the envelope is then encoded as UTF-8. A
 *   payload with a non-ASCII process name or log text is longer in bytes than
 *   `len` says; a parser counting bytes would wait forever for the rest;
 * - the payload's first line is `key:value` tokens separated by spaces
 *   (`processname:web groupname:web from_state:STARTING pid:42`); for
 *   PROCESS_LOG, PROCESS_COMMUNICATION and REMOTE_COMMUNICATION a line feed
 *   follows, then free data; PROCESS_GROUP payloads end with a line feed,
 *   PROCESS_STATE and TICK payloads do not; SUPERVISOR_STATE_CHANGE payloads
 *   are empty;
 * - after the answer supervisord wants exactly `READY\n` and nothing else:
 *   any other byte while it waits for READY, or while the listener is READY,
 *   puts the listener in the UNKNOWN state for good (no more events).
 *
 * Malformed input. supervisord's default handler reads an answer other than
 * `OK` as a rejection, and a rejected event is put back at the head of the
 * buffer and sent again: answering `FAIL` to an event we cannot read would
 * make supervisord resend it forever and starve every event behind it. So
 * every envelope, well-formed or not, gets exactly one answer, `OK`
 * ({@link RESULT_OK}); the parser reports a malformed one as an item of its
 * own (one per envelope) so that the listener logs and counts it.
 *
 * The header is read by its structure, the one supervisord writes (its
 * `_eventEnvelope` has had this order since protocol 3.0): `ver` and
 * `server` first, then five tokens, `len` last. Only the server's
 * `identifier=` can hold spaces (supervisord accepts `identifier=prod web`),
 * so the five tokens are taken from the right and what is left after
 * `server:` is the identifier, spaces and all. Whenever `len` can be read
 * the payload is skipped by its length, never searched: a program's own
 * output (PROCESS_LOG payloads) may contain text that looks like an envelope.
 * When even `len` is unreadable the frame boundary is lost, and the parser
 * does not guess it from the bytes: supervisord sends nothing after an
 * envelope until it has the answer, so everything that arrives until the
 * input goes quiet belongs to that envelope. The parser then discards input
 * ({@link EventStreamParser.discarding}) until its owner, seeing no byte for
 * a while, calls {@link EventStreamParser.endDiscard}, which reports the
 * envelope so that it is answered once.
 *
 * @module
 */

/** What a listener writes to be sent an event. */
export const READY = 'READY\n';

/**
 * The answer to an event followed by the next {@link READY}, in one write:
 * `RESULT 2\nOK` accepts the event. supervisord reads the two from its buffer
 * in order, so writing them together is what its own `childutils` does in two
 * writes.
 */
export const RESULT_OK = 'RESULT 2\nOKREADY\n';

/** The header tokens of an envelope. */
export interface EventHeader {
  /** Protocol version, `3.0`. */
  readonly ver: string;
  /** The `identifier=` of the supervisord that sent it. */
  readonly server: string;
  /** supervisord's global event serial. */
  readonly serial: number;
  /** The `[eventlistener:x]` name. */
  readonly pool: string;
  /** The serial of the event in that pool. */
  readonly poolserial: number;
  /** The event type, e.g. `PROCESS_STATE_EXITED`, `TICK_5`. */
  readonly eventname: string;
  /** Characters (code points) of the payload. */
  readonly len: number;
}

/** One well-formed envelope. */
export interface ListenerEvent {
  readonly header: EventHeader;
  /**
   * The tokens of the payload's first line, `key -> value` (a null-prototype
   * object: look keys up with `Object.hasOwn` or compare with undefined).
   */
  readonly fields: Readonly<Record<string, string>>;
  /** What follows the payload's first line feed (log or communication data), or the empty string. */
  readonly data: string;
  /** Offset in the input of the envelope's first byte. */
  readonly offset: number;
}

/** Why an envelope could not be read (stable strings). */
export type MalformedCode =
  /** The header line is not the seven tokens in supervisord's order, or is longer than `maxHeaderBytes`. */
  | 'ERR_EVENT_HEADER'
  /** The payload's first line is not `key:value` tokens. */
  | 'ERR_EVENT_PAYLOAD'
  /** `len` is above `maxPayloadChars`: the payload was skipped unread. */
  | 'ERR_EVENT_TOO_LARGE';

/** One envelope that could not be read; it still gets its one answer. */
export interface MalformedEvent {
  readonly code: MalformedCode;
  /** A short lower-case phrase saying what and where (`... at byte N`). */
  readonly message: string;
  /** The `eventname` token, when the header had one. */
  readonly eventname?: string;
  /** The header, when it was read whole (the payload was the problem): its serials still count. */
  readonly header?: EventHeader;
}

/** What {@link EventStreamParser.push} returns, one item per envelope, in input order. */
export type ParsedItem = { readonly ok: true; readonly event: ListenerEvent } | { readonly ok: false; readonly malformed: MalformedEvent };

/** Options of {@link EventStreamParser}. */
export interface EventParserOptions {
  /** Longest header line, bytes, line feed excluded. Default 4096 (a real one is under 200 plus the identifier). */
  maxHeaderBytes?: number;
  /**
   * Largest `len` accepted; a larger payload is skipped without being kept
   * and reported as `ERR_EVENT_TOO_LARGE`. Default 16 Mi characters.
   */
  maxPayloadChars?: number;
}

const LF = 0x0a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const DEFAULT_MAX_HEADER = 4096;
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

const enum Mode {
  Header,
  Payload,
  Discard,
}

const decoder = new TextDecoder('utf-8');

/**
 * The stream supervisord writes to a listener, cut into envelopes. Feed it
 * every chunk of stdin with {@link EventStreamParser.push}, in order, then
 * call {@link EventStreamParser.end} at EOF. Any byte may end a chunk,
 * including one inside a header token or a UTF-8 sequence. Never throws for
 * anything in the input.
 */
export class EventStreamParser {
  readonly #maxHeader: number;
  readonly #maxPayload: number;
  #mode = Mode.Header;
  /** Bytes consumed so far: the offsets of the messages. */
  #offset = 0;
  /** Offset of the current envelope's first byte. */
  #start = 0;
  /** Pieces of the header line (Header mode) or of the payload (Payload mode, unless skipping). */
  #pieces: Uint8Array[] = [];
  #pendingBytes = 0;
  #header: EventHeader | undefined;
  /** Payload characters still to read. */
  #charsLeft = 0;
  /** Continuation bytes still to read of the current character. */
  #contLeft = 0;
  /** The payload is read but not kept (over `maxPayloadChars`, or the header was malformed). */
  #skipping: MalformedEvent | undefined;
  /** Discard mode: why the envelope is unreadable, and how many of its bytes were dropped. */
  #discard: { problem: string; bytes: number } | undefined;

  /**
   * @param options see {@link EventParserOptions}.
   * @throws {RangeError} when a limit is not a positive integer.
   */
  constructor(options: EventParserOptions = {}) {
    this.#maxHeader = limit(options.maxHeaderBytes, DEFAULT_MAX_HEADER, 'maxHeaderBytes');
    this.#maxPayload = limit(options.maxPayloadChars, DEFAULT_MAX_PAYLOAD, 'maxPayloadChars');
  }

  /** Whether the parser is between envelopes (nothing of one is pending). */
  get idle(): boolean {
    return this.#mode === Mode.Header && this.#pendingBytes === 0;
  }

  /**
   * Whether an envelope with an unreadable length is being discarded: its
   * owner calls {@link EventStreamParser.endDiscard} once no byte has come
   * for a while (supervisord then waits for the answer).
   */
  get discarding(): boolean {
    return this.#mode === Mode.Discard;
  }

  /**
   * Consumes a chunk.
   *
   * @returns the envelopes completed by this chunk, in order (usually none or one).
   */
  push(chunk: Uint8Array): ParsedItem[] {
    const items: ParsedItem[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#mode === Mode.Header) {
        i = this.#readHeader(chunk, i, items);
      } else if (this.#mode === Mode.Payload) {
        i = this.#readPayload(chunk, i, items);
      } else {
        this.#discard!.bytes += n - i;
        this.#offset += n - i;
        i = n;
      }
    }
    return items;
  }

  /**
   * Ends the discarding of an envelope whose length was unreadable: the
   * input has been quiet, so everything of it has arrived.
   *
   * @returns the malformed item to answer, or undefined when not discarding.
   */
  endDiscard(): ParsedItem | undefined {
    const discard = this.#discard;
    if (this.#mode !== Mode.Discard || discard === undefined) return undefined;
    const start = this.#start;
    this.#reset(Mode.Header);
    return malformed('ERR_EVENT_HEADER', `${discard.problem} in the header at byte ${start} (${discard.bytes} more bytes discarded until the input went quiet)`);
  }

  /**
   * Ends the input.
   *
   * @returns undefined when the input ended between two envelopes, else
   *   what was cut short, e.g. `PROCESS_STATE_EXITED (serial 12) ended at
   *   EOF after 10 of 57 payload characters`.
   */
  end(): string | undefined {
    const mode = this.#mode;
    const pending = this.#pendingBytes;
    const header = this.#header;
    const left = this.#charsLeft;
    const discard = this.#discard;
    this.#reset(Mode.Header);
    if (mode === Mode.Header) return pending === 0 ? undefined : `a header line ended at EOF after ${pending} bytes, at byte ${this.#offset}`;
    if (mode === Mode.Discard) return `an envelope with an unreadable header (${discard!.problem}) was being discarded at EOF, at byte ${this.#offset}`;
    if (header !== undefined) {
      return `${header.eventname} (serial ${header.serial}) ended at EOF after ${header.len - left} of ${header.len} payload characters, at byte ${this.#offset}`;
    }
    return `a malformed envelope ended at EOF after ${left} payload characters were still due, at byte ${this.#offset}`;
  }

  #readHeader(chunk: Uint8Array, from: number, items: ParsedItem[]): number {
    if (this.#pendingBytes === 0) this.#start = this.#offset;
    const lf = chunk.indexOf(LF, from);
    const end = lf < 0 ? chunk.length : lf;
    const size = this.#pendingBytes + end - from;
    if (size > this.#maxHeader) {
      // Its len, at the end of the line, is beyond what is kept: the envelope is discarded.
      this.#beginDiscard(`a header line longer than ${this.#maxHeader} bytes`);
      return from;
    }
    if (lf < 0) {
      this.#keep(chunk.subarray(from));
      this.#offset += chunk.length - from;
      return chunk.length;
    }
    this.#keep(chunk.subarray(from, lf));
    this.#offset += lf + 1 - from;
    const line = decoder.decode(this.#joined());
    this.#pieces = [];
    this.#pendingBytes = 0;
    const parsed = parseHeader(line);
    if ('problem' in parsed) {
      if (parsed.len === undefined) {
        this.#beginDiscard(parsed.problem);
        return lf + 1;
      }
      const problem = malformed('ERR_EVENT_HEADER', `${parsed.problem} in the header at byte ${this.#start}`, parsed.eventname);
      this.#beginPayload(parsed.len, undefined, problem.malformed);
    } else if (parsed.header.len > this.#maxPayload) {
      const h = parsed.header;
      const problem = `${h.eventname} (serial ${h.serial}) has ${h.len} payload characters, over the limit of ${this.#maxPayload}, at byte ${this.#start}`;
      this.#beginPayload(h.len, h, { ...malformed('ERR_EVENT_TOO_LARGE', problem, h.eventname).malformed, header: h });
    } else {
      this.#beginPayload(parsed.header.len, parsed.header, undefined);
    }
    if (this.#charsLeft === 0) items.push(this.#finish());
    return lf + 1;
  }

  #beginPayload(len: number, header: EventHeader | undefined, skipping: MalformedEvent | undefined): void {
    this.#mode = Mode.Payload;
    this.#header = header;
    this.#charsLeft = len;
    this.#contLeft = 0;
    this.#skipping = skipping;
  }

  #beginDiscard(problem: string): void {
    const start = this.#start;
    this.#reset(Mode.Discard);
    this.#start = start;
    this.#discard = { problem, bytes: 0 };
  }

  /** Reads payload characters: a UTF-8 lead byte (or a stray byte) starts one, continuation bytes complete it. */
  #readPayload(chunk: Uint8Array, from: number, items: ParsedItem[]): number {
    let i = from;
    const n = chunk.length;
    let chars = this.#charsLeft;
    let cont = this.#contLeft;
    while (i < n) {
      if (cont > 0) {
        if ((chunk[i]! & 0xc0) === 0x80) {
          i++;
          cont--;
          continue;
        }
        cont = 0; // a truncated sequence: the next byte starts a character
      }
      if (chars === 0) break;
      const b = chunk[i]!;
      i++;
      chars--;
      cont = b < 0xc0 ? 0 : b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
    }
    if (this.#skipping === undefined) this.#keep(chunk.subarray(from, i));
    this.#offset += i - from;
    this.#charsLeft = chars;
    this.#contLeft = cont;
    // Complete once every character is in and the last one has its continuation bytes (or the chunk shows it has no more).
    if (chars === 0 && (cont === 0 || i < n)) {
      this.#contLeft = 0;
      items.push(this.#finish());
    }
    return i;
  }

  #finish(): ParsedItem {
    const skipped = this.#skipping;
    const header = this.#header;
    const bytes = this.#joined();
    const start = this.#start;
    this.#reset(Mode.Header);
    if (skipped !== undefined || header === undefined) return { ok: false, malformed: skipped! };
    const payload = parsePayload(bytes);
    if ('problem' in payload) {
      const bad = malformed('ERR_EVENT_PAYLOAD', `${payload.problem} in the payload of ${header.eventname} (serial ${header.serial}) at byte ${start}`, header.eventname);
      return { ok: false, malformed: { ...bad.malformed, header } };
    }
    return { ok: true, event: { header, fields: payload.fields, data: payload.data, offset: start } };
  }

  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    // Chunks are reused by some streams: keep a copy.
    this.#pieces.push(Uint8Array.prototype.slice.call(bytes));
    this.#pendingBytes += bytes.length;
  }

  #joined(): Uint8Array {
    if (this.#pieces.length === 1) return this.#pieces[0]!;
    return Buffer.concat(this.#pieces, this.#pendingBytes);
  }

  #reset(mode: Mode): void {
    this.#mode = mode;
    this.#pieces = [];
    this.#pendingBytes = 0;
    this.#header = undefined;
    this.#charsLeft = 0;
    this.#contLeft = 0;
    this.#skipping = undefined;
    this.#discard = undefined;
  }
}

function malformed(code: MalformedCode, message: string, eventname?: string): { ok: false; malformed: MalformedEvent } {
  return { ok: false, malformed: eventname === undefined ? { code, message } : { code, message, eventname } };
}

function limit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

type HeaderParse = { header: EventHeader } | { problem: string; len?: number; eventname?: string };

/** The tokens after the identifier, read from the right (the identifier may hold spaces, they may not). */
const TAIL_KEYS = ['eventname', 'poolserial', 'pool', 'serial'] as const;

/**
 * `ver:3.0 server:<identifier> serial:<n> pool:<name> poolserial:<n>
 * eventname:<NAME> len:<n>`, in this order: `len` is read first (it frames
 * the payload even when the rest is wrong), then the four tokens before it,
 * then `ver` and `server`, whose value is everything left (spaces included).
 */
function parseHeader(line: string): HeaderParse {
  let rest = line;
  const lastToken = (): string => {
    const space = rest.lastIndexOf(' ');
    const token = rest.slice(space + 1);
    rest = space < 0 ? '' : rest.slice(0, space);
    return token;
  };
  const lenToken = lastToken();
  if (!lenToken.startsWith('len:')) return { problem: `no len token at the end (found ${JSON.stringify(clip(lenToken))})` };
  const len = decimal(lenToken.slice(4));
  if (len === undefined) return { problem: `len ${JSON.stringify(clip(lenToken.slice(4)))} is not a decimal integer` };
  const values: Partial<Record<(typeof TAIL_KEYS)[number], string>> = {};
  let eventname: string | undefined;
  for (const key of TAIL_KEYS) {
    const token = lastToken();
    if (!token.startsWith(`${key}:`) || token.length === key.length + 1) {
      return { problem: `no ${key} token where supervisord writes it (found ${JSON.stringify(clip(token))})`, len, ...(eventname === undefined ? {} : { eventname }) };
    }
    values[key] = token.slice(key.length + 1);
    if (key === 'eventname') eventname = values[key];
  }
  const named = { len, eventname: eventname! };
  const space = rest.indexOf(' ');
  const verToken = space < 0 ? rest : rest.slice(0, space);
  const serverToken = space < 0 ? '' : rest.slice(space + 1);
  if (!verToken.startsWith('ver:')) return { problem: `no ver token at the start (found ${JSON.stringify(clip(verToken))})`, ...named };
  if (!serverToken.startsWith('server:')) return { problem: `no server token after ver (found ${JSON.stringify(clip(serverToken))})`, ...named };
  const ver = verToken.slice(4);
  if (ver !== '3.0') return { problem: `protocol version ${JSON.stringify(clip(ver))} is not 3.0`, ...named };
  const serial = decimal(values.serial!);
  const poolserial = decimal(values.poolserial!);
  if (serial === undefined) return { problem: `serial ${JSON.stringify(clip(values.serial!))} is not a decimal integer`, ...named };
  if (poolserial === undefined) return { problem: `poolserial ${JSON.stringify(clip(values.poolserial!))} is not a decimal integer`, ...named };
  return { header: { ver, server: serverToken.slice(7), serial, pool: values.pool!, poolserial, eventname: eventname!, len } };
}

/** A token quoted in a message: at most 40 characters of it. */
function clip(text: string): string {
  return text.length <= 40 ? text : `${text.slice(0, 40)}...`;
}

/** The payload's first line as tokens, and the rest after its line feed. */
function parsePayload(bytes: Uint8Array): { fields: Record<string, string>; data: string } | { problem: string } {
  const lf = bytes.indexOf(LF);
  const first = decoder.decode(lf < 0 ? bytes : bytes.subarray(0, lf));
  const tokens = tokensOf(first);
  if ('problem' in tokens) return tokens;
  return { fields: tokens.fields, data: lf < 0 ? '' : decoder.decode(bytes.subarray(lf + 1)) };
}

/**
 * `key:value key:value` (single spaces; a value may hold colons, never a
 * space: supervisord refuses spaces in the names it writes there).
 */
function tokensOf(line: string): { fields: Record<string, string> } | { problem: string } {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  if (line === '') return { fields };
  let from = 0;
  while (from <= line.length) {
    let end = line.indexOf(' ', from);
    if (end < 0) end = line.length;
    const colon = line.indexOf(':', from);
    if (colon < 0 || colon >= end || colon === from) {
      return { problem: `token ${JSON.stringify(clip(line.slice(from, end)))} is not key:value` };
    }
    const key = line.slice(from, colon);
    if (Object.hasOwn(fields, key)) return { problem: `token ${JSON.stringify(clip(key))} appears twice` };
    fields[key] = line.slice(colon + 1, end);
    from = end + 1;
  }
  return { fields };
}

/** A non-negative decimal integer below 2^53, by digit arithmetic; undefined for anything else. */
function decimal(text: string): number | undefined {
  if (text.length === 0 || text.length > 15) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return undefined;
    n = n * 10 + (c - DIGIT_0);
  }
  return n;
}
