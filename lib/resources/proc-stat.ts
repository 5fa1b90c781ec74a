/**
 * One process's line of Linux's `/proc/<pid>/stat`, parsed on bytes, and the
 * kernel units its numbers are counted in (clock ticks per second, page
 * size).
 *
 * The line is `pid (comm) state ppid pgrp ...` (proc(5)). `comm` is the
 * executable's name as the process set it (up to 15 bytes, any byte but NUL:
 * spaces, parentheses and line breaks included), so the fields after it are
 * found from the LAST `)` of the line, never by splitting the whole line.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

const SPACE = 0x20;
const CLOSE_PAREN = 0x29; // )
const MINUS = 0x2d; // -
const ZERO = 0x30;
const NINE = 0x39;
const NEWLINE = 0x0a;

/** The state letter of a zombie: exited, not yet reaped by its parent. */
export const ZOMBIE = 0x5a; // Z
/** The state letter of a dead task (being released). */
export const DEAD = 0x58; // X

/** What the check uses of one `/proc/<pid>/stat` line. Times are clock ticks, memory pages. */
export interface ProcStat {
  /** Field 1. */
  readonly pid: number;
  /** Field 3, as a character code: `R`, `S`, `D`, `Z` (zombie), `T`, `I`... */
  readonly state: number;
  /** Field 4: the parent's pid (0 for the kernel's own first tasks). */
  readonly ppid: number;
  /** Field 14: CPU time in user mode, every thread of the process, ticks. */
  readonly utime: number;
  /** Field 15: CPU time in kernel mode, ticks. */
  readonly stime: number;
  /** Field 16: user CPU of the children this process waited for (reaped), ticks. */
  readonly cutime: number;
  /** Field 17: kernel CPU of the children this process waited for, ticks. */
  readonly cstime: number;
  /** Field 20: threads of the process. */
  readonly threads: number;
  /** Field 22: when the process started (its fork), ticks since boot. */
  readonly startTicks: number;
  /** Field 24: resident set size, pages. */
  readonly rssPages: number;
}

/** The last field read (proc(5) numbering, from 1): rss. */
const LAST_FIELD = 24;

/**
 * Parses one `/proc/<pid>/stat` line.
 *
 * @param bytes the file's bytes (a reused buffer may be longer).
 * @param length how many of them were read.
 * @returns the fields, or undefined when the line does not have the form
 *   `pid (comm) state` followed by at least 22 numeric fields.
 */
export function parseProcStat(bytes: Uint8Array, length: number): ProcStat | undefined {
  const end = Math.min(length, bytes.length);
  let pid = 0;
  let i = 0;
  for (; i < end && bytes[i]! >= ZERO && bytes[i]! <= NINE; i++) pid = pid * 10 + (bytes[i]! - ZERO);
  if (i === 0 || i + 1 >= end || bytes[i] !== SPACE || bytes[i + 1] !== 0x28 /* ( */) return undefined;
  let close = end - 1;
  while (close > i && bytes[close] !== CLOSE_PAREN) close--;
  // `) S ` at least.
  if (close <= i + 1 || close + 3 >= end || bytes[close + 1] !== SPACE || bytes[close + 3] !== SPACE) return undefined;
  const state = bytes[close + 2]!;
  // Fields 4 to 24 of proc(5), parsed in place; only the ones kept are stored.
  let ppid = 0;
  let utime = 0;
  let stime = 0;
  let cutime = 0;
  let cstime = 0;
  let threads = 0;
  let startTicks = 0;
  let rssPages = 0;
  let field = 4;
  let p = close + 4;
  for (; field <= LAST_FIELD && p < end; field++) {
    const negative = bytes[p] === MINUS;
    if (negative) p++;
    const start = p;
    let value = 0;
    for (; p < end && bytes[p]! >= ZERO && bytes[p]! <= NINE; p++) value = value * 10 + (bytes[p]! - ZERO);
    if (p === start || (p < end && bytes[p] !== SPACE && bytes[p] !== NEWLINE)) return undefined;
    if (negative) value = -value;
    p++;
    switch (field) {
      case 4:
        ppid = value;
        break;
      case 14:
        utime = value;
        break;
      case 15:
        stime = value;
        break;
      case 16:
        cutime = value;
        break;
      case 17:
        cstime = value;
        break;
      case 20:
        threads = value;
        break;
      case 22:
        startTicks = value;
        break;
      case 24:
        rssPages = value;
        break;
      default:
    }
  }
  if (field <= LAST_FIELD) return undefined;
  return { pid, state, ppid, utime, stime, cutime, cstime, threads, startTicks, rssPages };
}

/** The units of `/proc/<pid>/stat`'s numbers. */
export interface KernelUnits {
  /** Clock ticks per second (`sysconf(_SC_CLK_TCK)`, `USER_HZ`): the unit of the times. */
  readonly clockTicks: number;
  /** Bytes per page (`sysconf(_SC_PAGESIZE)`): the unit of `rss`. */
  readonly pageSize: number;
  /** `auxv` when read from this process's auxiliary vector, `default` when that could not be read. */
  readonly source: 'auxv' | 'default';
}

/** `AT_PAGESZ` of the auxiliary vector (elf.h). */
const AT_PAGESZ = 6;
/** `AT_CLKTCK` of the auxiliary vector. */
const AT_CLKTCK = 17;
/**
 * Linux's `USER_HZ` (the tick of every time in /proc) is 100 on every
 * architecture Node runs on (x86, arm, arm64, ppc64, s390x, riscv64,
 * loong64); 4 KiB pages are the common case. Used only when
 * `/proc/self/auxv` cannot be read.
 */
const DEFAULT_UNITS: KernelUnits = Object.freeze({ clockTicks: 100, pageSize: 4096, source: 'default' });
/** Architectures whose auxiliary vector has 32-bit words. */
const WORD_32 = new Set(['arm', 'ia32', 'mips', 'mipsel', 'ppc', 's390']);

/**
 * Reads `AT_CLKTCK` and `AT_PAGESZ` from an auxiliary vector (pairs of
 * native words, type then value, ended by type 0): where the C library's
 * `sysconf(_SC_CLK_TCK)` and `sysconf(_SC_PAGESIZE)` take them (Node has no
 * `sysconf`, and spawning `getconf` would cost a process).
 *
 * @param auxv the vector's bytes.
 * @param wordBytes 8 on 64-bit architectures, 4 on 32-bit ones.
 * @param littleEndian the byte order of this machine.
 * @returns the units, or undefined when either is missing or not positive.
 */
export function parseAuxv(auxv: Buffer, wordBytes: 4 | 8, littleEndian: boolean): KernelUnits | undefined {
  const word = (at: number): number => {
    if (wordBytes === 4) return littleEndian ? auxv.readUInt32LE(at) : auxv.readUInt32BE(at);
    return Number(littleEndian ? auxv.readBigUInt64LE(at) : auxv.readBigUInt64BE(at));
  };
  let clockTicks = 0;
  let pageSize = 0;
  for (let at = 0; at + 2 * wordBytes <= auxv.length; at += 2 * wordBytes) {
    const type = word(at);
    if (type === 0) break;
    if (type === AT_CLKTCK) clockTicks = word(at + wordBytes);
    else if (type === AT_PAGESZ) pageSize = word(at + wordBytes);
  }
  return clockTicks > 0 && pageSize > 0 ? { clockTicks, pageSize, source: 'auxv' } : undefined;
}

let units: KernelUnits | undefined;

/**
 * The kernel units of this host, from `/proc/self/auxv` (read once per
 * process); 100 ticks per second and 4096-byte pages when it cannot be read.
 */
export function kernelUnits(): KernelUnits {
  if (units !== undefined) return units;
  let found: KernelUnits | undefined;
  try {
    found = parseAuxv(readFileSync('/proc/self/auxv'), WORD_32.has(process.arch) ? 4 : 8, endianness() === 'LE');
  } catch {
    found = undefined;
  }
  units = found ?? DEFAULT_UNITS;
  return units;
}
