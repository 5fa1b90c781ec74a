/**
 * Envelopes of supervisord's event listener protocol, as supervisord 4.2.5's
 * `_eventEnvelope` writes them: `len` is Python's `len()` of the payload
 * string (characters), the whole encoded as UTF-8.
 *
 * @module
 */

let serial = 0;

/** Header fields a test may set; the others follow the sequence. */
export interface EnvelopeOptions {
  /** `[eventlistener:x]` name. Default `listener`. */
  pool?: string;
  /** `identifier=` of supervisord (may hold spaces). Default `supervisor`. */
  server?: string;
  /** Default: the next serial. */
  poolserial?: number;
}

/** One envelope; serials increase across calls (poolserial too, unless given). */
export function envelope(eventname: string, payload: string, options: EnvelopeOptions | string = {}): Buffer {
  const { pool = 'listener', server = 'supervisor', poolserial } = typeof options === 'string' ? { pool: options } : options;
  serial++;
  const len = [...payload].length;
  return Buffer.from(`ver:3.0 server:${server} serial:${serial} pool:${pool} poolserial:${poolserial ?? serial} eventname:${eventname} len:${len}\n${payload}`, 'utf8');
}
