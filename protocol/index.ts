/**
 * `supervisord-check/protocol`: the XML-RPC codec and the HTTP/1.1 transport
 * over TCP and unix sockets. Knows nothing about supervisord.
 *
 * @module
 */
export * from './errors.js';
export { encodeCall, encodeResponse, encodeFault } from './xmlrpc-encoder.js';
export { XmlRpcDecoder, XmlRpcCallDecoder, decodeResponse, decodeCall, DEFAULT_MAX_DEPTH, DEFAULT_MAX_BYTES } from './xmlrpc-decoder.js';
export type { XmlRpcDecoderOptions } from './xmlrpc-decoder.js';
export type * from './types.js';
export { parseAddress, tcpAddress, unixAddress, validateCredential, DEFAULT_PATH, DEFAULT_PORT } from './address.js';
export type { Address, ParsedAddress } from './address.js';
export { XmlRpcClient } from './xmlrpc-client.js';
export { ConnectionBudget, ConnectionBudgetError } from './connection-budget.js';
export type { ConnectionBudgetOptions } from './connection-budget.js';
export type { XmlRpcClientOptions, MulticallRequest, CallOptions } from './xmlrpc-client.js';
export { HTTP_DEFAULTS } from './http-client.js';
export type { HttpTlsOptions } from './http-client.js';
