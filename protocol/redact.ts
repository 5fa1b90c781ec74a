/**
 * Removes credentials from text a server may have sent back: a status line,
 * a fault string, a header value or document text quoted by a decoder
 * error. Our own messages never contain credentials; a server echoing the
 * request (a debugging endpoint, a proxy, a hostile peer) can put them into
 * anything built from its answer, so that text is scrubbed before it
 * leaves the client.
 *
 * Internal to `protocol/` and the check layer.
 *
 * @module
 */

/** Redacted text is replaced by this. */
export const REDACTED = '***';

/**
 * Shortest piece of a secret that is redacted on its own. Decoder errors
 * quote at most 40 characters of document text, so an echoed secret can
 * arrive cut; 12 base64 characters carry 9 bytes of it, while a 12-character
 * piece of a secret turning up by chance in a message is unlikely.
 */
const MIN_PIECE = 12;

/**
 * Texts shorter than this are not redacted: replacing every `pass` in
 * `password` would garble messages. A shorter password is still redacted in
 * its Basic token (`user:pass` in base64), the form a server echoing the
 * request's headers sends back, which anyone can decode.
 */
const MIN_SECRET = 6;

/**
 * A text can hold a secret form (6 characters or more) or a piece of one
 * only if one of its 4-character grams at a multiple of 3 is a gram of a
 * form: an occurrence of at least 6 characters starting at p holds the gram
 * at the multiple of 3 in [p, p + 2] whole. Most texts (tags, names, the
 * check's own messages) have none, and are let through after looking at a
 * third of their positions, with no string cut.
 */
const GRAM = 4;
const GRAM_STRIDE = 3;

/** Slots of a redactor's gram table: 64 KB, one per set of credentials (shared, see {@link CredentialRedactor.for}). */
const GRAM_SLOTS = 1 << 16;

/**
 * The slot of the 4 characters at `i` (equal grams, equal slots; two grams
 * may share one, which only costs a full look at that text).
 */
function gramSlot(text: string, i: number): number {
  return (
    (Math.imul(text.charCodeAt(i), 0x9e3779b1) ^
      Math.imul(text.charCodeAt(i + 1), 0x85ebca77) ^
      Math.imul(text.charCodeAt(i + 2), 0xc2b2ae3d) ^
      Math.imul(text.charCodeAt(i + 3), 0x27d4eb2f)) >>>
    16
  );
}

/** Redactors by credentials, shared by the checks and clients that hold the same ones (a `/probe` module's thousands of targets). */
const SHARED = new Map<string, WeakRef<CredentialRedactor>>();
const forgetShared = new FinalizationRegistry<string>((key) => {
  if (SHARED.get(key)?.deref() === undefined) SHARED.delete(key);
});

/** The texts to remove for one set of credentials. */
export class CredentialRedactor {
  readonly #whole: string[];
  readonly #pieces: Set<string>;
  /** 1 at the slot of every gram of a form (see {@link GRAM}); empty without a form (nothing to redact: most checks). */
  readonly #grams: Uint8Array;

  /**
   * The redactor of these credentials: the same object for the same
   * username and password while one is in use (its tables are built once;
   * a check and its clients, and every check of a `/probe` module, share it).
   */
  static for(username: string | undefined, password: string | undefined): CredentialRedactor {
    const key = JSON.stringify([username ?? null, password ?? null]);
    let redactor = SHARED.get(key)?.deref();
    if (redactor === undefined) {
      redactor = new CredentialRedactor(username, password);
      SHARED.set(key, new WeakRef(redactor));
      forgetShared.register(redactor, key);
    }
    return redactor;
  }

  /**
   * @param username the HTTP Basic user ('' or undefined when none).
   * @param password the HTTP Basic password; nothing is redacted without one.
   */
  constructor(username: string | undefined, password: string | undefined) {
    const whole = new Set<string>();
    if (password !== undefined) {
      const basic = Buffer.from(`${username ?? ''}:${password}`, 'utf8').toString('base64');
      whole.add(basic);
      whole.add(basic.replace(/=+$/, ''));
    }
    if (password !== undefined && password.length >= MIN_SECRET) {
      // The forms our messages can give a password echoed by a server: as it
      // is; quoted by JSON.stringify (`"` and `\` escaped, controls as \uXXXX)
      // or by Python's repr; its UTF-8 bytes read as latin1 (HTTP header
      // values and the status line are decoded so, `pässwörd` -> `pÃ¤sswÃ¶rd`),
      // and that quoted too; URL-encoded; base64.
      const latin1 = Buffer.from(password, 'utf8').toString('latin1');
      for (const text of [password, latin1]) {
        whole.add(text);
        whole.add(JSON.stringify(text).slice(1, -1));
        const backslashed = text.replaceAll('\\', '\\\\');
        whole.add(backslashed);
        whole.add(backslashed.replaceAll("'", "\\'"));
      }
      whole.add(encodeURIComponent(password));
      whole.add(Buffer.from(password, 'utf8').toString('base64').replace(/=+$/, ''));
    }
    // Longest first, so a whole token is replaced before its parts.
    this.#whole = [...whole].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
    this.#pieces = new Set();
    this.#grams = new Uint8Array(this.#whole.length === 0 ? 0 : GRAM_SLOTS);
    for (const s of this.#whole) {
      for (let i = 0; i + MIN_PIECE <= s.length; i++) this.#pieces.add(s.slice(i, i + MIN_PIECE));
      for (let i = 0; i + GRAM <= s.length; i++) this.#grams[gramSlot(s, i)] = 1;
    }
  }

  /**
   * Whether `text` may hold a secret form or a piece of one (see
   * {@link GRAM}): false means it certainly does not, and {@link
   * CredentialRedactor.redact} gives it back as it is; true means that
   * `redact` looks at it in full (it shares grams with a form: a host name,
   * a path), which is worth remembering for a text redacted many times.
   */
  mayHold(text: string): boolean {
    if (this.#whole.length === 0 || text.length < MIN_SECRET) return false;
    const grams = this.#grams;
    for (let i = 0; i + GRAM <= text.length; i += GRAM_STRIDE) if (grams[gramSlot(text, i)] === 1) return true;
    return false;
  }

  /** True when there is nothing to redact. */
  get empty(): boolean {
    return this.#whole.length === 0;
  }

  /** `text` with every secret, and every piece of one of at least 12 characters, replaced by `***`. */
  redact(text: string): string {
    if (!this.mayHold(text)) return text;
    let out = text;
    for (const s of this.#whole) if (out.includes(s)) out = out.replaceAll(s, REDACTED);
    if (out.length < MIN_PIECE) return out;
    // Pieces: mark every window found among the secrets' windows, then cut the marked runs.
    let marked: Uint8Array | undefined;
    const grams = this.#grams;
    for (let i = 0; i + MIN_PIECE <= out.length; i++) {
      // A window is a piece only if its three grams are grams of a form: most are not, and cost no string.
      if (grams[gramSlot(out, i)] !== 1 || grams[gramSlot(out, i + 4)] !== 1 || grams[gramSlot(out, i + 8)] !== 1) continue;
      if (this.#pieces.has(out.slice(i, i + MIN_PIECE))) (marked ??= new Uint8Array(out.length)).fill(1, i, i + MIN_PIECE);
    }
    if (marked === undefined) return out;
    let result = '';
    for (let i = 0; i < out.length; ) {
      if (marked[i] === 1) {
        while (i < out.length && marked[i] === 1) i++;
        result += REDACTED;
      } else {
        result += out[i++];
      }
    }
    return result;
  }

  /**
   * Redacts the text properties of an error in place (`message`, `stack`
   * and the string fields of our error classes: `reason`, `faultString`,
   * `contentType`), and its `cause` chain.
   *
   * @returns the same error.
   */
  redactError<T>(error: T): T {
    if (this.#whole.length === 0) return error;
    let e: unknown = error;
    for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
      const record = e as unknown as Record<string, unknown>;
      for (const key of ['message', 'stack', 'reason', 'faultString', 'contentType']) {
        const v = record[key];
        if (typeof v !== 'string') continue;
        const r = this.redact(v);
        if (r === v) continue;
        // Keep the property's enumerability (message and stack are not enumerable).
        const d = Object.getOwnPropertyDescriptor(e, key);
        Object.defineProperty(e, key, { value: r, writable: true, configurable: true, enumerable: d?.enumerable ?? false });
      }
      e = e.cause;
    }
    return error;
  }
}
