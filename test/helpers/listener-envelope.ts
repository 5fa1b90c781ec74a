/**
 * Envelopes of supervisord's event listener protocol, as supervisord 4.2.5's
 * `_eventEnvelope` writes them: `len` is Python's `len()` of the payload
 * string (characters), the whole encoded as UTF-8.
 *
 * @module
 */

let serial = 0;

/** One envelope; serials increase across calls. */
export function envelope(eventname: string, payload: string, pool = 'listener'): Buffer {
  serial++;
  const len = [...payload].length;
  return Buffer.from(`ver:3.0 server:supervisor serial:${serial} pool:${pool} poolserial:${serial} eventname:${eventname} len:${len}\n${payload}`, 'utf8');
}
