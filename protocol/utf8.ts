/**
 * UTF-8 validation helpers for the streaming XML-RPC decoder.
 *
 * The decoder validates every byte of the document before it parses it
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). The
 * bulk check is `buffer.isUtf8` (simdutf, native); the JavaScript loop here
 * only runs to locate the first bad byte once the bulk check failed, and to
 * look at the at most three bytes of a sequence cut by a chunk boundary.
 *
 * Internal to `protocol/`: not exported from `protocol/index.ts`.
 *
 * @module
 */

/**
 * Bytes a sequence needs in total, by lead byte: 1 for ASCII, 2..4 for valid
 * lead bytes, 0 for bytes that cannot start a sequence (continuation bytes
 * 0x80..0xBF, overlong leads 0xC0 and 0xC1, and 0xF5..0xFF).
 */
const SEQUENCE_LENGTH = (() => {
  const t = new Uint8Array(256);
  for (let b = 0; b < 0x80; b++) t[b] = 1;
  for (let b = 0xc2; b < 0xe0; b++) t[b] = 2;
  for (let b = 0xe0; b < 0xf0; b++) t[b] = 3;
  for (let b = 0xf0; b < 0xf5; b++) t[b] = 4;
  return t;
})();

/**
 * Whether `b` may follow `lead` as the second byte of a sequence. The second
 * byte carries the overlong, surrogate and above-U+10FFFF rules (RFC 3629
 * section 4); later bytes only need to be continuation bytes.
 */
function secondByteOk(lead: number, b: number): boolean {
  switch (lead) {
    case 0xe0:
      return b >= 0xa0 && b <= 0xbf; // below 0xA0 would be an overlong 3-byte form
    case 0xed:
      return b >= 0x80 && b <= 0x9f; // 0xA0..0xBF would encode U+D800..U+DFFF
    case 0xf0:
      return b >= 0x90 && b <= 0xbf; // below 0x90 would be an overlong 4-byte form
    case 0xf4:
      return b >= 0x80 && b <= 0x8f; // above 0x8F would be beyond U+10FFFF
    default:
      return (b & 0xc0) === 0x80;
  }
}

/**
 * Checks `bytes[start..end)` as a sequence of complete UTF-8 characters.
 *
 * @returns the index of the first byte of the first invalid or incomplete
 *   sequence, or -1 when the whole range is valid.
 */
export function findInvalidUtf8(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const n = SEQUENCE_LENGTH[lead]!;
    if (n === 0 || i + n > end || !secondByteOk(lead, bytes[i + 1]!)) return i;
    for (let k = 2; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += n;
  }
  return -1;
}

/**
 * Finds a trailing sequence that is cut by `end` but could still become valid
 * when the next chunk arrives (a valid prefix of a character).
 *
 * @returns the index where that incomplete sequence starts, or `end` when the
 *   range does not end inside a character (or ends inside one that is already
 *   invalid, which the caller's validation then reports).
 */
export function incompleteUtf8Tail(bytes: Uint8Array, start: number, end: number): number {
  // A character is at most 4 bytes, so a cut one starts in the last 3 bytes.
  const stop = Math.max(start, end - 3);
  for (let i = end - 1; i >= stop; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for its lead
    const n = SEQUENCE_LENGTH[b]!;
    if (n <= 1 || i + n <= end) return end; // ASCII, invalid lead, or a complete sequence
    if (i + 1 < end && !secondByteOk(b, bytes[i + 1]!)) return end;
    for (let k = i + 2; k < end; k++) if ((bytes[k]! & 0xc0) !== 0x80) return end;
    return i;
  }
  return end;
}
