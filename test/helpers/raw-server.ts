/**
 * Fake HTTP servers for transport tests: `net.createServer` (or
 * `tls.createServer`) writing raw bytes, on 127.0.0.1 port 0 or a unix socket
 * in a fresh temp directory. They misbehave on demand (truncate, drip, reset,
 * answer HTML, never answer) because each test writes the bytes itself.
 *
 * Requests are framed by `Content-Length` (the client always sends one) and
 * captured byte for byte, so tests can assert exactly what went on the wire.
 *
 * Node built-ins only.
 *
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

/** One request as received. */
export interface ServerRequest {
  /** The exact bytes of the request (head and body). */
  readonly raw: Buffer;
  /** The head (request line and headers, latin1) without the final CRLFCRLF. */
  readonly head: string;
  readonly body: Buffer;
  /** 0-based number of the connection it came on. */
  readonly connection: number;
  /** 0-based number of the request on its connection. */
  readonly indexOnConnection: number;
}

/** Answers one request by writing to (or destroying, or ignoring) the socket. */
export type Responder = (request: ServerRequest, socket: net.Socket) => void;

/** Options of {@link startServer}. */
export interface RawServerOptions {
  /** Listen on a unix socket in a temp directory instead of 127.0.0.1:0. */
  unix?: boolean;
  /** Serve TLS with {@link TEST_TLS_KEY}/{@link TEST_TLS_CERT} (TCP only). */
  tls?: boolean;
  /** Called for each new connection before any request (e.g. to reset it at once). */
  onConnection?: (socket: net.Socket, index: number) => void;
}

/** A running fake server. */
export interface RawServer {
  /** `http://127.0.0.1:<port>/RPC2`, `https://...` or `unix:///tmp/.../s.sock`. */
  readonly url: string;
  /** TCP port (0 for a unix socket). */
  readonly port: number;
  /** Socket path ('' for TCP). */
  readonly socketPath: string;
  /** Every request received, in order. */
  readonly requests: ServerRequest[];
  /** Number of connections accepted so far. */
  readonly connections: number;
  /** Sockets still open. */
  readonly openSockets: ReadonlySet<net.Socket>;
  /** Destroys every socket, closes the server, removes the temp directory. */
  close(): Promise<void>;
}

/** Starts a fake server; `respond` is called once per complete request. */
export async function startServer(respond: Responder, options: RawServerOptions = {}): Promise<RawServer> {
  const requests: ServerRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;

  const onSocket = (socket: net.Socket): void => {
    const index = connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // resets provoked by the tests are expected
    options.onConnection?.(socket, index);
    let pending = Buffer.alloc(0);
    let count = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const length = m === null ? 0 : Number(m[1]);
        if (pending.length < end + 4 + length) return;
        const raw = Buffer.from(pending.subarray(0, end + 4 + length));
        pending = pending.subarray(end + 4 + length);
        const request: ServerRequest = {
          raw,
          head,
          body: raw.subarray(end + 4),
          connection: index,
          indexOnConnection: count++,
        };
        requests.push(request);
        respond(request, socket);
      }
    });
  };

  let dir = '';
  let socketPath = '';
  const server = options.tls
    ? tls.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, onSocket)
    : net.createServer(onSocket);
  server.on('tlsClientError', () => {});
  if (options.unix) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-raw-'));
    socketPath = path.join(dir, 's.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  } else {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }
  const port = options.unix ? 0 : (server.address() as net.AddressInfo).port;
  const url = options.unix ? `unix://${socketPath}` : `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/RPC2`;
  return {
    url,
    port,
    socketPath,
    requests,
    get connections() {
      return connections;
    },
    openSockets: sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Builds an HTTP response with a correct `Content-Length` (like medusa's). */
export function httpResponse(
  status: number,
  reason: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'Content-Type': 'text/xml' },
  version = '1.1',
): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  let head = `HTTP/${version} ${status} ${reason}\r\nServer: Medusa/1.12\r\nDate: Tue, 25 Nov 2025 15:00:00 GMT\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `Content-Length: ${bytes.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

/** The 401 supervisord sends (supervisord-protocol.md section 2), 137-byte HTML body. */
export function unauthorizedResponse(): Buffer {
  const body =
    '<html><head><title>Unauthorized</title></head><body><h1>Unauthorized</h1><p>Error code 401.</p><p>Message: Unauthorized.</p></body></html>';
  return httpResponse(401, 'Unauthorized', body.padEnd(137, ' '), {
    'WWW-Authenticate': 'Basic realm="default"',
    'Content-Type': 'text/html',
    Connection: 'close',
  });
}

/** Writes `bytes` in `pieces` separate TCP segments, `delayMs` apart (Nagle off). */
export function writeInPieces(socket: net.Socket, bytes: Buffer, cuts: readonly number[], delayMs = 5): void {
  socket.setNoDelay(true);
  const bounds = [0, ...cuts, bytes.length];
  let i = 0;
  const next = (): void => {
    if (socket.destroyed) return;
    socket.write(bytes.subarray(bounds[i]!, bounds[i + 1]!));
    i++;
    if (i < bounds.length - 1) setTimeout(next, delayMs);
  };
  next();
}

/** A path under a temp directory where nothing listens (ENOENT). The directory is removed by `cleanup`. */
export function missingSocketPath(): { socketPath: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-missing-'));
  return { socketPath: path.join(dir, 'nobody.sock'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A self-signed certificate for `localhost` and `127.0.0.1`, valid 2000-2100,
 * CA:TRUE so it can be passed as `ca`. Test-only: the key is public.
 */
export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNmW2ymBPrR+3FFEc
sLqM106DtpQekuNbLFnQuqzWAGWhRANCAAT6JltyRFb3JXZ5NNCqjfXq8e22RYWh
jRKPH2uTlmXAYXjg4TB24Ta+EtX+GvO0d35KXPR/BIK638gTj1olr98z
-----END PRIVATE KEY-----
`;

/** Certificate matching {@link TEST_TLS_KEY}. */
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBZzCCAQ2gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPomW3JEVvcldnk0
0KqN9erx7bZFhaGNEo8fa5OWZcBheODhMHbhNr4S1f4a87R3fkpc9H8EgrrfyBOP
WiWv3zOjTjBMMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAPBgNVHRMBAf8E
BTADAQH/MB0GA1UdDgQWBBTT+VxQ76Oe6goiGu2BAoFGuNBluzAKBggqhkjOPQQD
AgNIADBFAiEAndPAb+xSAmWWIn2xaMp2V+xED38iWa/7ubB70QkrIzcCIH3xzgi0
6yCcZ+2lc3vVW/INENP3WSZI0/VB3j696ZOP
-----END CERTIFICATE-----
`;
