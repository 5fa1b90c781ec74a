/**
 * supervisord's main log as the emulator keeps it: the file's bytes (offsets
 * are byte offsets), and the read `supervisor.readLog` makes of them,
 * supervisord 4.2.5's `options.readFile` with the limits of CPython's file
 * objects on Linux.
 *
 * @module
 */

import { PythonException } from './python-values.js';

/** The least a growing log holds (a log given whole is held at its size). */
const INITIAL_CAPACITY = 4096;

/**
 * The main log file: its bytes, or none at all (`logfile=syslog`). Appends
 * grow the buffer by doubling, so a log written line by line costs linear
 * time.
 */
export class MainLog {
  #buffer: Buffer | null = null;
  #size = 0;

  constructor(text: string | null) {
    this.replace(text);
  }

  /** The file's bytes (a view, valid until the next change), or null when there is no file. */
  bytes(): Buffer | null {
    return this.#buffer === null ? null : this.#buffer.subarray(0, this.#size);
  }

  /** supervisord writing to its log; nothing when there is no file (its lines go to syslog). */
  append(text: string): void {
    if (this.#buffer === null) return;
    const length = Buffer.byteLength(text);
    if (this.#size + length > this.#buffer.length) {
      const grown = Buffer.alloc(Math.max(INITIAL_CAPACITY, this.#buffer.length * 2, this.#size + length));
      this.#buffer.copy(grown, 0, 0, this.#size);
      this.#buffer = grown;
    }
    this.#size += this.#buffer.write(text, this.#size);
  }

  /** The file starts again with `text`, or is gone (null). */
  replace(text: string | null): void {
    if (text === null) {
      this.#buffer = null;
      this.#size = 0;
      return;
    }
    this.#buffer = Buffer.from(text, 'utf8');
    this.#size = this.#buffer.length;
  }
}

/** Python's `sys.maxsize` (PY_SSIZE_T_MAX) on a 64-bit system, also the largest `off_t`. */
const SSIZE_MAX = 2n ** 63n - 1n;
/**
 * The largest file size of ext4 with 4 KiB blocks (2^32 - 1 blocks):
 * `lseek` beyond it fails with EINVAL, an OSError that `readFile` turns into
 * `FAILED`. Observed on a real supervisord 4.2.5 whose log was on ext4
 * (an offset of 2^44 - 4096 reads '', one more answers FAILED); another file
 * system has another limit.
 */
const EXT4_MAX_BYTES = 2n ** 44n - 4096n;
/** `PyBytes_FromStringAndSize` refuses sizes above sys.maxsize minus its header (33 bytes on 64 bits). */
const BYTES_MAX = SSIZE_MAX - 33n;

/** `f.seek(offset)` of a regular file on ext4. */
function seek(offset: bigint): number {
  if (offset > SSIZE_MAX) throw new PythonException('ValueError', "cannot fit 'int' into an offset-sized integer");
  // The OSError, caught by readFile: `raise ValueError('FAILED')`.
  if (offset > EXT4_MAX_BYTES) throw new PythonException('ValueError', 'FAILED');
  return Number(offset);
}

/**
 * `f.read(n)` of a buffered file: CPython allocates the `n` bytes first, so
 * a size beyond what a bytes object can hold fails before any read. (A size
 * beyond the memory supervisord can get, 2^40 on a small machine, fails there
 * too, with MemoryError; the emulator answers what there is.)
 */
function readSize(n: bigint): number {
  if (n > SSIZE_MAX) throw new PythonException('OverflowError', "cannot fit 'int' into an index-sized integer");
  if (n > BYTES_MAX) throw new PythonException('OverflowError', 'byte string is too large');
  // Beyond 2^53 the count is not exact, but it is beyond any log held in memory.
  return Number(n);
}

/**
 * supervisord's `options.readFile(filename, offset, length)` on the log's
 * bytes: a negative offset with a length of 0 reads the last `-offset` bytes;
 * a positive one reads `length` bytes from `offset`, or everything after it
 * when `length` is 0; any other combination is `ValueError('BAD_ARGUMENTS')`.
 *
 * @throws {PythonException} ValueError (`BAD_ARGUMENTS`, `FAILED`, an offset
 *   that cannot be an `off_t`) or OverflowError (a size that cannot be read),
 *   as the real function raises them.
 */
export function readFile(log: Buffer, offset: bigint, length: bigint): Buffer {
  if (offset < 0n) {
    if (length !== 0n) throw new PythonException('ValueError', 'BAD_ARGUMENTS');
    const n = readSize(-offset);
    return log.subarray(Math.max(0, log.length - n));
  }
  if (length < 0n) throw new PythonException('ValueError', 'BAD_ARGUMENTS');
  const start = seek(offset);
  if (length === 0n) return log.subarray(start);
  return log.subarray(start, start + readSize(length));
}
