/**
 * Error classes of the protocol layer (XML-RPC codec, HTTP transport,
 * addresses). Every error carries a stable string `code`; callers branch on
 * `code` or `instanceof`, never on the message text.
 *
 * Rules kept by every thrower in `protocol/`:
 * - messages are short lower-case phrases saying what failed and where
 *   (a byte offset for parser errors, an address for transport errors);
 * - a message never contains a password or an `Authorization` header.
 *
 * @module
 */

/** Base class of every error thrown or rejected by `supervisord-check/protocol`. */
export class ProtocolError extends Error {
  /** Stable machine-readable identifier, e.g. `ERR_XMLRPC_SYNTAX`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

// ---------------------------------------------------------------------------
// XML-RPC decoding
// ---------------------------------------------------------------------------

/**
 * The XML-RPC document is malformed: bad or mismatched tags, text where an
 * element was expected, an element XML-RPC does not allow at that place.
 * `offset` is the byte offset (0-based, from the start of the document) at
 * which the problem was detected.
 */
export class XmlRpcParseError extends ProtocolError {
  /** Byte offset in the document where the problem was detected. */
  readonly offset: number;

  constructor(message: string, offset: number, code = 'ERR_XMLRPC_SYNTAX') {
    super(code, `${message} at byte ${offset}`);
    this.offset = offset;
  }
}

/** A `<value>` holds an element that is not an XML-RPC type (`<float>`, `<foo>`). */
export class XmlRpcTypeError extends XmlRpcParseError {
  constructor(message: string, offset: number) {
    super(message, offset, 'ERR_XMLRPC_UNKNOWN_TYPE');
  }
}

/** A scalar's text is not valid for its type (`<int>12x</int>`, out-of-range int, bad base64 or date). */
export class XmlRpcValueError extends XmlRpcParseError {
  constructor(message: string, offset: number) {
    super(message, offset, 'ERR_XMLRPC_BAD_VALUE');
  }
}

/** The document ended (at `end()`) before it was complete. */
export class XmlRpcTruncatedError extends XmlRpcParseError {
  constructor(message: string, offset: number) {
    super(message, offset, 'ERR_XMLRPC_TRUNCATED');
  }
}

/**
 * The document contains a `<!DOCTYPE` or an entity declaration. These are
 * refused outright: no entity is ever expanded (billion laughs, external
 * entities).
 */
export class XmlRpcDoctypeError extends XmlRpcParseError {
  constructor(message: string, offset: number) {
    super(message, offset, 'ERR_XMLRPC_DOCTYPE');
  }
}

/** The document is not valid UTF-8 (or a character reference names no Unicode scalar value). */
export class XmlRpcEncodingError extends XmlRpcParseError {
  constructor(message: string, offset: number) {
    super(message, offset, 'ERR_XMLRPC_ENCODING');
  }
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/** Base class of the errors raised when a configured limit is exceeded. */
export class LimitExceededError extends ProtocolError {
  /** The limit that was exceeded, in its own unit (bytes, levels). */
  readonly limit: number;

  constructor(code: string, message: string, limit: number) {
    super(code, message);
    this.limit = limit;
  }
}

/** Elements nested deeper than the decoder's `maxDepth`. */
export class DepthLimitError extends LimitExceededError {
  /** Byte offset of the element that went too deep. */
  readonly offset: number;

  constructor(limit: number, offset: number) {
    super('ERR_XMLRPC_DEPTH', `nesting deeper than ${limit} levels at byte ${offset}`, limit);
    this.offset = offset;
  }
}

/** The document is larger than the decoder's `maxBytes`. */
export class DocumentSizeError extends LimitExceededError {
  constructor(limit: number) {
    super('ERR_XMLRPC_TOO_LARGE', `document larger than ${limit} bytes`, limit);
  }
}

/** The HTTP status line and headers are larger than `maxHeaderBytes`. */
export class HeaderSizeError extends LimitExceededError {
  constructor(limit: number, address: string) {
    super('ERR_HTTP_HEADERS_TOO_LARGE', `response headers from ${address} larger than ${limit} bytes`, limit);
  }
}

/** The HTTP body is (or announces to be) larger than `maxBodyBytes`. */
export class BodySizeError extends LimitExceededError {
  constructor(limit: number, address: string, announced?: number) {
    super(
      'ERR_HTTP_BODY_TOO_LARGE',
      announced === undefined
        ? `response body from ${address} larger than ${limit} bytes`
        : `response body from ${address} announces ${announced} bytes, more than the limit of ${limit}`,
      limit,
    );
  }
}

// ---------------------------------------------------------------------------
// XML-RPC semantics
// ---------------------------------------------------------------------------

/**
 * The server answered with an XML-RPC `<fault>`. Also used in place of a
 * failed item in a `system.multicall` result.
 */
export class XmlRpcFault extends ProtocolError {
  readonly faultCode: number;
  readonly faultString: string;

  constructor(faultCode: number, faultString: string) {
    super('ERR_XMLRPC_FAULT', `fault ${faultCode}: ${faultString}`);
    this.faultCode = faultCode;
    this.faultString = faultString;
  }
}

/** A value cannot be written as XML-RPC (NaN, Infinity, circular structure, function, undefined...). */
export class XmlRpcEncodeError extends ProtocolError {
  constructor(message: string) {
    super('ERR_XMLRPC_ENCODE', message);
  }
}

// ---------------------------------------------------------------------------
// Addresses and transport
// ---------------------------------------------------------------------------

/** An address (URL, socket path, host, port) or a credential cannot be used. */
export class AddressError extends ProtocolError {
  constructor(message: string) {
    super('ERR_INVALID_ADDRESS', message);
  }
}

/**
 * The connection could not be made or broke. `osCode` keeps the operating
 * system's code (`ECONNREFUSED`, `ENOENT`, `EACCES`, `ECONNRESET`, ...).
 */
export class ConnectError extends ProtocolError {
  /** The OS error code, when there was one. */
  readonly osCode: string | undefined;
  /** The address as printable (never with credentials). */
  readonly address: string;

  constructor(message: string, address: string, osCode?: string, options?: { cause?: unknown }) {
    super('ERR_CONNECT', message, options);
    this.address = address;
    this.osCode = osCode;
  }
}

/** The connection was closed or reset after the request was sent, before the response was complete. */
export class ConnectionClosedError extends ProtocolError {
  readonly address: string;
  readonly osCode: string | undefined;
  /** True when not a single response byte had arrived. */
  readonly beforeResponse: boolean;

  constructor(message: string, address: string, beforeResponse: boolean, osCode?: string) {
    super('ERR_CONNECTION_CLOSED', message);
    this.address = address;
    this.beforeResponse = beforeResponse;
    this.osCode = osCode;
  }
}

/** A connect timeout or the whole-call deadline expired. */
export class TimeoutError extends ProtocolError {
  readonly address: string;
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;

  constructor(code: 'ERR_CONNECT_TIMEOUT' | 'ERR_DEADLINE', message: string, address: string, timeoutMs: number) {
    super(code, message);
    this.address = address;
    this.timeoutMs = timeoutMs;
  }
}

/** The server's HTTP response is not valid HTTP/1.x (garbage status line, bad header, bad chunk). */
export class HttpParseError extends ProtocolError {
  readonly address: string;

  constructor(message: string, address: string) {
    super('ERR_HTTP_PARSE', message);
    this.address = address;
  }
}

/** The server answered with an HTTP status other than 200. The body is never parsed. */
export class HttpStatusError extends ProtocolError {
  readonly status: number;
  readonly reason: string;
  readonly address: string;

  constructor(status: number, reason: string, address: string) {
    super('ERR_HTTP_STATUS', `${address} answered HTTP ${status} ${reason}`.trimEnd());
    this.status = status;
    this.reason = reason;
    this.address = address;
  }
}

/**
 * The server answered 200 with a body that is not XML (supervisord's web UI
 * answers HTML at `/`): the URL probably does not point at `/RPC2`.
 */
export class NotXmlRpcError extends ProtocolError {
  readonly address: string;
  readonly contentType: string;

  constructor(message: string, address: string, contentType: string) {
    super('ERR_NOT_XMLRPC', message);
    this.address = address;
    this.contentType = contentType;
  }
}

/** The client was closed while a call was pending, or a call was made after `close()`. */
export class ClientClosedError extends ProtocolError {
  constructor(message = 'client closed') {
    super('ERR_CLIENT_CLOSED', message);
  }
}

// ---------------------------------------------------------------------------
// Added by the transport helper (xmlrpc-client.ts)
// ---------------------------------------------------------------------------

/**
 * A well-formed XML-RPC answer does not have the shape the call implies:
 * `system.multicall` answering something other than an array with one item
 * per call.
 */
export class XmlRpcResponseError extends ProtocolError {
  /** The address as printable (never with credentials). */
  readonly address: string;

  constructor(message: string, address: string) {
    super('ERR_XMLRPC_RESPONSE', message);
    this.address = address;
  }
}
