/**
 * `supervisord-check/emulator`: a stand-in for supervisord 4.2.5's XML-RPC
 * server, for end-to-end tests and for the CLI demo on machines without
 * supervisord.
 *
 * It speaks HTTP/1.1 on raw `node:net` sockets (not `node:http`) because the
 * point is to reproduce medusa's wire behaviour byte for byte: the exact
 * header order, no `Connection`/`Keep-Alive` headers on normal answers, a 401
 * that leaves the socket open and deaf, `HTTP/None` status lines, 411 on
 * bodies without `Content-Length`. `node:http` would add, reorder or refuse
 * each of these. Every behaviour was observed against a real supervisord
 * 4.2.5 or read from its sources (`supervisor/medusa/http_server.py`,
 * `supervisor/medusa/auth_handler.py`, `supervisor/xmlrpc.py`,
 * `supervisor/rpcinterface.py`).
 *
 * Only the monitoring methods are implemented, with the main log's
 * `readLog` and `clearLog`; any other method name answers the UNKNOWN_METHOD
 * fault, as supervisord does for names it does not know.
 *
 * @module
 */

export { SupervisordEmulator } from './supervisord-emulator.js';
export { makeProcess, PROCESS_STATES } from './processes.js';
export type { EmulatedFault, EmulatedState, EmulatorOptions, EmulatorStats } from './options.js';
export type { ProcessInfo } from '../types.js';
