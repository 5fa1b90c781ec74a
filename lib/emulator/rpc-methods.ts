/**
 * The XML-RPC methods the emulator implements (the monitoring subset of
 * supervisord's `supervisor.*` and `system.*` namespaces), their faults, and
 * the turn of a request body into the bytes of its answer.
 *
 * @module
 */

import { decodeCall } from '../../protocol/xmlrpc-decoder.js';
import { encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../protocol/types.js';
import type { ProcessInfo } from '../types.js';
import { readFile } from './main-log.js';
import type { MainLog } from './main-log.js';
import type { EmulatedFault, EmulatedState, EmulatorStats } from './options.js';
import { epochSeconds, processStruct, sortedProcesses } from './processes.js';
import { PythonException, pythonInt, pythonize, pythonType } from './python-values.js';

/** supervisord's RPCError: answered as a fault (faultString `NAME` or `NAME: detail`). */
class RpcFault {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {}
}

const UNKNOWN_METHOD = new RpcFault(1, 'UNKNOWN_METHOD');
const INCORRECT_PARAMETERS = new RpcFault(2, 'INCORRECT_PARAMETERS');
const SHUTDOWN_STATE = new RpcFault(6, 'SHUTDOWN_STATE');
const FAILED = 30;
/** The `Faults` that supervisord's `readLog` finds by the name its `readFile` raises. */
const READ_FAULTS: ReadonlyMap<string, number> = new Map([
  ['BAD_ARGUMENTS', 3],
  ['FAILED', FAILED],
]);
/** Python's `bytes.decode('utf-8')`: strict, and a BOM is kept as U+FEFF. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The emulator's public state that the methods answer from and count into. */
export interface EmulatedServer {
  readonly processes: readonly ProcessInfo[];
  readonly version: string;
  readonly state: EmulatedState;
  readonly identification: string;
  readonly pid: number;
  readonly stats: EmulatorStats;
}

/** What the methods need from the emulator, without making it public API. */
export interface MethodHooks {
  readonly emulator: EmulatedServer;
  /** supervisord's main log (`readLog`, `clearLog`). */
  readonly mainLog: MainLog;
  forcedFault(method: string): EmulatedFault | undefined;
}

interface CallContext {
  readonly hooks: MethodHooks;
  /** One clock reading per request, so every struct of one answer carries the same `now`. */
  readonly clock: number;
}

interface MethodDef {
  /** supervisord's methods take a fixed number of arguments; any other count is a Python TypeError. */
  readonly arity: number;
  readonly supervisor: boolean;
  readonly run: (ctx: CallContext, params: readonly XmlRpcValue[]) => XmlRpcValue;
}

const METHODS: ReadonlyMap<string, MethodDef> = new Map<string, MethodDef>([
  [
    'supervisor.getAllProcessInfo',
    {
      arity: 0,
      supervisor: true,
      run: (ctx) => sortedProcesses(ctx.hooks.emulator.processes).map((p) => processStruct(p, ctx.clock)),
    },
  ],
  ['supervisor.getProcessInfo', { arity: 1, supervisor: true, run: (ctx, params) => getProcessInfo(ctx, params[0]) }],
  [
    'supervisor.getState',
    {
      arity: 0,
      supervisor: true,
      run: (ctx) => ({ statecode: ctx.hooks.emulator.state.statecode, statename: ctx.hooks.emulator.state.statename }),
    },
  ],
  ['supervisor.getSupervisorVersion', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.version }],
  ['supervisor.getAPIVersion', { arity: 0, supervisor: true, run: () => '3.0' }],
  ['supervisor.getIdentification', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.identification }],
  ['supervisor.getPID', { arity: 0, supervisor: true, run: (ctx) => ctx.hooks.emulator.pid }],
  ['supervisor.readLog', { arity: 2, supervisor: true, run: (ctx, params) => readLog(ctx, params[0]!, params[1]!) }],
  // rpcinterface.py: `readMainLog = readLog`, kept for clients older than supervisor 2.1.
  ['supervisor.readMainLog', { arity: 2, supervisor: true, run: (ctx, params) => readLog(ctx, params[0]!, params[1]!) }],
  ['supervisor.clearLog', { arity: 0, supervisor: true, run: (ctx) => clearLog(ctx) }],
  ['system.listMethods', { arity: 0, supervisor: false, run: () => [...METHOD_NAMES] }],
  ['system.multicall', { arity: 1, supervisor: false, run: (ctx, params) => multicall(ctx, params[0]) }],
]);

const METHOD_NAMES: readonly string[] = [...METHODS.keys()].sort();

/**
 * supervisord's `traverse` plus the method call: the name must be a known
 * `namespace.method` (UNKNOWN_METHOD), then `func(*params)`, whose TypeError
 * (wrong argument count, `params` not iterable: `undefined` here, or raised
 * inside the method, as by `int(None)`) becomes INCORRECT_PARAMETERS. A fault
 * forced with `setFault` wins over everything.
 */
function dispatch(ctx: CallContext, method: string, params: readonly XmlRpcValue[] | undefined): XmlRpcValue {
  const calls = ctx.hooks.emulator.stats.calls;
  calls[method] = (calls[method] ?? 0) + 1;
  const forced = ctx.hooks.forcedFault(method);
  if (forced !== undefined) throw new RpcFault(forced.faultCode, forced.faultString);
  const def = METHODS.get(method);
  if (def === undefined) throw UNKNOWN_METHOD;
  if (params === undefined || params.length !== def.arity) throw INCORRECT_PARAMETERS;
  // rpcinterface.py `_update`: every supervisor.* method refuses to work while the daemon stops or restarts.
  if (def.supervisor && ctx.hooks.emulator.state.statecode < 1) throw SHUTDOWN_STATE;
  try {
    return def.run(ctx, params);
  } catch (err) {
    if (err instanceof PythonException && err.pyClass === 'TypeError') throw INCORRECT_PARAMETERS;
    throw err;
  }
}

function getProcessInfo(ctx: CallContext, name: XmlRpcValue | undefined): XmlRpcValue {
  if (typeof name !== 'string') {
    throw new PythonException('AttributeError', `'${pythonType(name ?? null)}' object has no attribute 'split'`);
  }
  // options.split_namespec: 'group:name', 'group:' or 'group:*' (whole group: not a process), or 'name' meaning 'name:name'.
  // Both the unknown group and the unknown process answer BAD_NAME with the name as given.
  const colon = name.indexOf(':');
  const groupName = colon === -1 ? name : name.slice(0, colon);
  const processName = colon === -1 ? name : name.slice(colon + 1);
  const found =
    processName === '' || processName === '*'
      ? undefined
      : sortedProcesses(ctx.hooks.emulator.processes).find((p) => p.group === groupName && p.name === processName);
  if (found === undefined) throw new RpcFault(10, `BAD_NAME: ${name}`);
  return processStruct(found, ctx.clock);
}

/**
 * rpcinterface.py `readLog`: NO_FILE without a log file (the fault names the
 * `logfile` setting: `syslog`), then `readFile(logfile, int(offset),
 * int(length))` decoded as UTF-8. A ValueError on the way, from `int()`,
 * `readFile` or the decoding (a UnicodeDecodeError, whose `args[0]` is
 * `utf-8`), is looked up as a fault name, `getattr(Faults, why)`: BAD_ARGUMENTS
 * and FAILED are faults, any other name raises AttributeError (HTTP 500, or
 * fault 30 in a multicall). A TypeError from `int()` (None, a list...) is
 * INCORRECT_PARAMETERS; an OverflowError escapes as it is.
 */
function readLog(ctx: CallContext, offset: XmlRpcValue, length: XmlRpcValue): XmlRpcValue {
  const log = ctx.hooks.mainLog.bytes();
  if (log === null) throw new RpcFault(20, 'NO_FILE: syslog');
  try {
    const bytes = readFile(log, pythonInt(offset), pythonInt(length));
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new PythonException('ValueError', 'utf-8');
    }
  } catch (err) {
    if (!(err instanceof PythonException) || err.pyClass !== 'ValueError') throw err;
    const code = READ_FAULTS.get(err.message);
    if (code !== undefined) throw new RpcFault(code, err.message);
    throw new PythonException('AttributeError', `type object 'Faults' has no attribute '${err.message}'`);
  }
}

/**
 * rpcinterface.py `clearLog`: NO_FILE (without detail) when there is no log
 * file, else the file is removed and reopened empty. (supervisord logs
 * `reopening log file` first, into the removed file.)
 */
function clearLog(ctx: CallContext): XmlRpcValue {
  if (ctx.hooks.mainLog.bytes() === null) throw new RpcFault(20, 'NO_FILE');
  ctx.hooks.mainLog.replace('');
  return true;
}

function faultStruct(err: unknown): XmlRpcStruct {
  if (err instanceof RpcFault) return { faultCode: err.faultCode, faultString: err.faultString };
  if (err instanceof PythonException) {
    return { faultCode: FAILED, faultString: `FAILED: <class '${err.pyClass}'>:${err.message}` };
  }
  throw err;
}

/** Python's `func(*params)`: any iterable spreads (a str into characters, a dict into its keys). */
function spreadParams(params: XmlRpcValue): XmlRpcValue[] | undefined {
  if (Array.isArray(params)) return params;
  if (typeof params === 'string') return [...params];
  if (typeof params === 'object' && params !== null && !(params instanceof Date) && !(params instanceof Uint8Array)) {
    return Object.keys(params);
  }
  return undefined;
}

/** xmlrpc.py `multicall`: bare results, fault structs for calls that failed. */
function multicall(ctx: CallContext, calls: XmlRpcValue | undefined): XmlRpcValue {
  if (typeof calls === 'string') {
    // calls[:] works on a str, then str.pop does not exist: an AttributeError escapes (HTTP 500).
    throw new PythonException('AttributeError', `'str' object has no attribute 'pop'`);
  }
  if (!Array.isArray(calls)) throw INCORRECT_PARAMETERS; // calls[:] on a non-sequence: TypeError
  const results: XmlRpcValue[] = [];
  for (const call of calls) {
    if (typeof call !== 'object' || call === null || Array.isArray(call) || call instanceof Date || call instanceof Uint8Array) {
      // call.get(...) is outside the per-call try in xmlrpc.py: the whole request fails.
      throw new PythonException('AttributeError', `'${pythonType(call)}' object has no attribute 'get'`);
    }
    const name = Object.hasOwn(call, 'methodName') ? call.methodName! : null;
    const rawParams = Object.hasOwn(call, 'params') ? call.params! : [];
    try {
      if (name === null) throw new RpcFault(2, 'INCORRECT_PARAMETERS: No methodName');
      if (name === 'system.multicall') throw new RpcFault(2, 'INCORRECT_PARAMETERS: Recursive system.multicall forbidden');
      if (typeof name !== 'string') {
        throw new PythonException('AttributeError', `'${pythonType(name)}' object has no attribute 'split'`);
      }
      results.push(dispatch(ctx, name, spreadParams(rawParams)));
    } catch (err) {
      results.push(faultStruct(err));
    }
  }
  return results;
}

/**
 * An XML-RPC request body to the bytes of its answer, as supervisord's
 * `xmlrpc` handler does it: the encoded result, or a fault (answered with
 * HTTP 200); 400 for a body that is not a call or has no method name; 500 for
 * a Python exception in the method or a result the encoder cannot write.
 */
export function answerCall(hooks: MethodHooks, body: Uint8Array): Buffer | 400 | 500 {
  let method: string;
  let params: XmlRpcValue[];
  try {
    const call = decodeCall(body);
    method = call.method;
    params = call.params.map(pythonize);
  } catch {
    return 400;
  }
  if (method === '') return 400;
  try {
    return encodeResponse(dispatch({ hooks, clock: epochSeconds() }, method, params));
  } catch (err) {
    if (err instanceof RpcFault) return encodeFault(err.faultCode, err.faultString);
    // A Python exception in the method, or a process table the encoder cannot write.
    return 500;
  }
}
