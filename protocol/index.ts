/**
 * `supervisord-check/protocol`: the XML-RPC codec and the HTTP/1.1 transport
 * over TCP and unix sockets. Knows nothing about supervisord.
 *
 * @module
 */
export * from './errors.js';
export type * from './types.js';
