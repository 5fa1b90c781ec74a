/**
 * Typed calls of supervisord's read-only XML-RPC methods, for code that talks
 * to supervisord directly with the client of `supervisord-check/protocol`:
 * `XmlRpcClient.call()` knows nothing of supervisord and returns a plain
 * XML-RPC value, which these functions check before giving it a type (a cast
 * would hide a server that answers something else).
 *
 * @module
 */

import { decodeProcessList } from './submissions.js';
import type { ProcessInfo } from './types.js';

/** What the functions need of a client: `XmlRpcClient` has it. */
export interface SupervisorCaller {
  call(method: string, params?: readonly string[]): Promise<unknown>;
}

/** supervisord's own state (`supervisor.getState`). */
export interface SupervisorState {
  /** 2 FATAL, 1 RUNNING, 0 RESTARTING, -1 SHUTDOWN. */
  statecode: number;
  statename: string;
}

/** A supervisord method answered something of another shape than supervisord's. */
export class UnexpectedAnswerError extends Error {
  /** Stable machine-readable identifier. */
  readonly code = 'ERR_UNEXPECTED_ANSWER' as const;
  /** The XML-RPC method, e.g. `supervisor.getProcessInfo`. */
  readonly method: string;

  /**
   * @param method the XML-RPC method.
   * @param what what was wrong with the answer.
   */
  constructor(method: string, what: string) {
    super(`${method} answered ${what}`);
    this.method = method;
  }

  override get name(): string {
    return 'UnexpectedAnswerError';
  }
}

const STRING_MEMBERS = ['name', 'group', 'statename', 'spawnerr', 'description', 'logfile', 'stdout_logfile', 'stderr_logfile'] as const;
const NUMBER_MEMBERS = ['start', 'stop', 'now', 'state', 'exitstatus', 'pid'] as const;

/**
 * Whether a value is a process struct as `getProcessInfo` and
 * `getAllProcessInfo` answer it: every member of {@link ProcessInfo} with its
 * type (integers as numbers). For an item of a `multicall` answer, for
 * instance.
 */
export function isProcessInfo(value: unknown): value is ProcessInfo {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const struct = value as Record<string, unknown>;
  return (
    STRING_MEMBERS.every((m) => Object.hasOwn(struct, m) && typeof struct[m] === 'string') &&
    NUMBER_MEMBERS.every((m) => Object.hasOwn(struct, m) && typeof struct[m] === 'number')
  );
}

/**
 * `supervisor.getAllProcessInfo()`: every process, in supervisord's order.
 *
 * @throws what `client.call` throws (`XmlRpcFault`, connection errors...);
 *   {@link UnexpectedAnswerError} when the answer is not a list of process
 *   structs. Integers sent as `i8` become numbers.
 */
export async function getAllProcessInfo(client: SupervisorCaller): Promise<ProcessInfo[]> {
  return processList('supervisor.getAllProcessInfo', await client.call('supervisor.getAllProcessInfo'));
}

/**
 * `supervisor.getProcessInfo(name)`: one process, by `name` or `group:name`
 * (a process of a `[group:x]` is found only as `x:name`).
 *
 * @throws `XmlRpcFault` 10 `BAD_NAME` for a name supervisord does not have;
 *   {@link UnexpectedAnswerError} when the answer is not a process struct.
 */
export async function getProcessInfo(client: SupervisorCaller, name: string): Promise<ProcessInfo> {
  return processList('supervisor.getProcessInfo', [await client.call('supervisor.getProcessInfo', [name])])[0]!;
}

/**
 * `supervisor.getState()`.
 *
 * @throws {UnexpectedAnswerError} when the answer is not `{statecode, statename}`.
 */
export async function getState(client: SupervisorCaller): Promise<SupervisorState> {
  const value = await client.call('supervisor.getState');
  const struct = value as Record<string, unknown> | null;
  if (typeof value !== 'object' || struct === null || typeof struct['statecode'] !== 'number' || typeof struct['statename'] !== 'string') {
    throw new UnexpectedAnswerError('supervisor.getState', 'something other than a struct with an integer statecode and a string statename');
  }
  return { statecode: struct['statecode'], statename: struct['statename'] };
}

/**
 * `supervisor.getSupervisorVersion()`: `4.2.5`.
 *
 * @throws {UnexpectedAnswerError} when the answer is not a string.
 */
export async function getSupervisorVersion(client: SupervisorCaller): Promise<string> {
  const value = await client.call('supervisor.getSupervisorVersion');
  if (typeof value !== 'string') throw new UnexpectedAnswerError('supervisor.getSupervisorVersion', 'something other than a string');
  return value;
}

function processList(method: string, value: unknown): ProcessInfo[] {
  const decoded = decodeProcessList(value);
  if (!decoded.ok) throw new UnexpectedAnswerError(method, decoded.reason);
  return decoded.processes;
}
