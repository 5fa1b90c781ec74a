/**
 * What a check remembers between runs, as one JSON value that outlives the
 * process: a command started afresh by a monitoring system every interval
 * saves it after its run and restores it before the next one (the file that
 * holds it is `cli/state-file.ts`'s business).
 *
 * The value is an envelope (format, version, server, time) around one slot
 * per component: each component (the collector's names, the restart marks,
 * the command line's counter totals...) exports its own slot and validates
 * it when it is restored. A slot that fails its validation is dropped with
 * a warning, the others are restored; a slot nobody claims is ignored, so
 * a state written by a version with more components still restores. A
 * component whose shape changes takes a new slot name, or the format takes
 * a new {@link STATE_VERSION}.
 *
 * Nothing secret is in it: process names, start times, pids, counter totals,
 * the server's name and its address as printed (never with credentials).
 *
 * @module
 */

import { StateError } from './errors.js';
import type { ProcessHistory, ProcessMark } from './submissions.js';

/** The `format` of every state: tells one of ours from any other JSON. */
export const STATE_FORMAT = 'supervisord-check state';

/** The version of the envelope and of the slots' shapes; a state of another version is refused. */
export const STATE_VERSION = 1;

/** Which server a state belongs to: a state is restored only into a check of the same server. */
export interface StateServer {
  /** The instance's `name`. */
  readonly name: string;
  /** Where the check connects, printable (`unix:///run/supervisor.sock`, `http://localhost:9001/RPC2`): no credentials. */
  readonly address: string;
}

/** What `SupervisordCheck.exportState()` returns and `restoreState()` takes (JSON-serialisable). */
export interface CheckState {
  /** Always {@link STATE_FORMAT}. */
  format: typeof STATE_FORMAT;
  /** Always {@link STATE_VERSION}. */
  version: typeof STATE_VERSION;
  /** The server the state belongs to. */
  server: StateServer;
  /** When it was exported: milliseconds since the epoch. */
  savedAt: number;
  /**
   * One slot per component. The check's own: `collector` (the process names
   * of the last listing, multicall support), `history` (the restart marks).
   * Others may add theirs (the command line's `counters`): the check
   * ignores slots it does not own.
   */
  components: Record<string, unknown>;
}

/** What a component's restore is told besides its slot. */
export interface RestoreContext {
  /** Now, milliseconds since the epoch (the check's clock). */
  readonly now: number;
  /** When the state was exported, milliseconds since the epoch. */
  readonly savedAt: number;
}

/**
 * One part of what a check remembers, saved and restored as one slot of
 * {@link CheckState.components}.
 */
export interface StateComponent {
  /** The slot's value (JSON-serialisable), or undefined when there is nothing to keep yet. */
  export(): unknown;
  /**
   * Takes a slot's value back. Validates all of it before changing anything.
   *
   * @throws {StateError} naming what is wrong; the component is then left as it was.
   */
  restore(value: unknown, context: RestoreContext): void;
}

/**
 * Checks the envelope of a state to restore into the check of `server`.
 *
 * @returns the state, typed.
 * @throws {StateError} when it is not a state of this package, has another
 *   version, or belongs to another server (by name or address).
 */
export function checkEnvelope(value: unknown, server: StateServer): CheckState {
  if (!isRecord(value) || value['format'] !== STATE_FORMAT) {
    throw new StateError(`not a state of supervisord-check (no "format": ${JSON.stringify(STATE_FORMAT)})`);
  }
  const version = value['version'];
  if (version !== STATE_VERSION) {
    throw new StateError(`state version ${typeof version === 'number' ? version : JSON.stringify(typeof version)}, this check reads version ${STATE_VERSION}`);
  }
  const saved = value['server'];
  if (!isRecord(saved) || typeof saved['name'] !== 'string' || typeof saved['address'] !== 'string') {
    throw new StateError('the state does not say which server it belongs to');
  }
  if (saved['name'] !== server.name || saved['address'] !== server.address) {
    throw new StateError(
      `the state belongs to another server (${JSON.stringify(saved['name'])} at ${saved['address']}), not to ${JSON.stringify(server.name)} at ${server.address}`,
    );
  }
  const savedAt = value['savedAt'];
  if (typeof savedAt !== 'number' || !Number.isFinite(savedAt) || savedAt < 0) throw new StateError('the state has no valid "savedAt" time');
  if (!isRecord(value['components'])) throw new StateError('the state has no "components"');
  return value as unknown as CheckState;
}

/** The restart marks as a slot: `[["group:name", start, pid], ...]`. */
export function historyToState(history: ProcessHistory): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const [key, mark] of history) out.push([key, mark.start, mark.pid]);
  return out;
}

/**
 * The restart marks from their slot.
 *
 * @throws {StateError} when an item is not `[string, integer >= 0, integer >= 0]`.
 */
export function historyFromState(value: unknown): Map<string, ProcessMark> {
  const items = stateArray(value, 'the restart marks');
  const history = new Map<string, ProcessMark>();
  items.forEach((item, i) => {
    if (!Array.isArray(item) || item.length !== 3 || typeof item[0] !== 'string' || !isCount(item[1]) || !isCount(item[2])) {
      throw new StateError(`restart mark ${i} is not ["group:name", start, pid]`);
    }
    history.set(item[0], { start: item[1], pid: item[2] });
  });
  return history;
}

/**
 * `value` as an array.
 *
 * @param what names it in the message.
 * @throws {StateError} when it is not one.
 */
export function stateArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new StateError(`${what} should be a list`);
  return value;
}

/**
 * `value` as a list of strings.
 *
 * @throws {StateError} when it is not one.
 */
export function stateStrings(value: unknown, what: string): string[] {
  const items = stateArray(value, what);
  items.forEach((item, i) => {
    if (typeof item !== 'string') throw new StateError(`${what}: item ${i} is not a string`);
  });
  return items as string[];
}

/**
 * `value` as a time in milliseconds since the epoch.
 *
 * @throws {StateError} when it is not a finite number >= 0.
 */
export function stateTime(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new StateError(`${what} is not a time`);
  return value;
}

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
