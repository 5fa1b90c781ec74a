/**
 * Hostile servers for the fault-injection suite, beyond the raw byte writers
 * of `raw-server.ts` (which this module builds on and never replaces):
 * - {@link startHttpService}: a real `node:http` server that is not
 *   supervisord (a JSON API, another XML dialect...), counting its sockets;
 * - {@link startDoomedServer}: a server in a child process that starts an
 *   answer and is SIGKILLed in the middle of it, so the connection ends the
 *   way a crashed supervisord's does (the kernel closes it, no process left
 *   to write anything);
 * - {@link startProxy}: forwards every request, byte for byte, to another
 *   server (the emulator) on a fresh upstream connection, and can delay each
 *   answer, reset a kept-alive connection on its second request (what a
 *   client sees when it reuses a socket to a daemon that restarted) or close
 *   it while it is idle;
 * - {@link closedPort}: a TCP port where nothing listens.
 *
 * Every server answers the same way whatever XML-RPC method is asked, so the
 * tests do not depend on which calls a run makes. Node built-ins only.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { startServer } from './raw-server.js';
import type { RawServer } from './raw-server.js';

/** A running server of this module. */
export interface HostileServer {
  /** TCP port (0 for a unix socket). */
  readonly port: number;
  /** Socket path ('' for TCP). */
  readonly socketPath: string;
  /** Client connections still open on the server side (undefined when the server cannot tell). */
  openSockets(): number | undefined;
  /** Stops the server and releases everything it holds (sockets, timers, child process, temp dir). Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startHttpService} and {@link startProxy}. */
export interface ListenOptions {
  /** Listen on a unix socket in a fresh temp directory instead of 127.0.0.1:0. */
  unix?: boolean;
}

/**
 * A `node:http` server answering every request with `handler`: a real,
 * well-behaved HTTP/1.1 server that simply is not supervisord.
 */
export async function startHttpService(handler: http.RequestListener, options: ListenOptions = {}): Promise<HostileServer> {
  const server = http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const where = await listen(server, options);
  let closing: Promise<void> | undefined;
  return {
    port: where.port,
    socketPath: where.socketPath,
    openSockets: () => sockets.size,
    close: () =>
      (closing ??= (async () => {
        const closed = [...sockets].map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve()))));
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all(closed);
        where.cleanup();
      })()),
  };
}

/** A {@link HostileServer} in a child process; see {@link startDoomedServer}. */
export interface DoomedServer extends HostileServer {
  /** Resolves with the signal that ended the child once it is gone (and its stdout closed). */
  readonly exited: Promise<NodeJS.Signals | null>;
}

/**
 * The child's program: answers the first bytes of a request with
 * `answer[0, cut)`, reports on stdout when the kernel has them, and waits to
 * be killed. Plain CommonJS for `node -e`; settings come from the environment.
 */
const DOOMED_CHILD = `
const net = require('node:net');
const answer = Buffer.from(process.env.DOOMED_ANSWER, 'base64');
const cut = Number(process.env.DOOMED_CUT);
const server = net.createServer((socket) => {
  socket.once('data', () => socket.write(answer.subarray(0, cut), () => process.stdout.write('sent\\n')));
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

/**
 * Starts a TCP server in a child Node process. On the first request it sends
 * the first `cut` bytes of `answer`; as soon as they are written the parent
 * kills the child with SIGKILL, in the middle of the answer.
 *
 * @throws Error when the child does not report its port within 10 s.
 */
export async function startDoomedServer(answer: Buffer, cut: number): Promise<DoomedServer> {
  if (!(cut > 0 && cut < answer.length)) throw new RangeError(`cut must be inside the answer (1..${answer.length - 1}), got ${cut}`);
  const child: ChildProcess = spawn(process.execPath, ['-e', DOOMED_CHILD], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DOOMED_ANSWER: answer.toString('base64'), DOOMED_CUT: String(cut) },
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the doomed server did not report its port within 10 s'));
    }, 10_000);
    let text = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      text += chunk;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line.startsWith('port ')) {
          clearTimeout(timer);
          resolve(Number(line.slice(5)));
        } else if (line === 'sent') {
          // The partial answer is in the kernel: die now, as a crashed server does.
          child.kill('SIGKILL');
        }
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('the doomed server exited before reporting its port'));
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    socketPath: '',
    openSockets: () => undefined,
    exited,
    close: () =>
      (closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      })()),
  };
}

/** Options of {@link startProxy}. */
export interface ProxyOptions extends ListenOptions {
  /** Wait this long before writing each answer back. Default 0. */
  delayMs?: number;
  /**
   * Reset (TCP RST; a plain close over a unix socket) a connection when a
   * second request arrives on it, without forwarding it: the kept-alive
   * socket of a client whose server restarted meanwhile. Default false.
   */
  resetReused?: boolean;
  /**
   * Close (FIN) each connection this many ms after writing an answer, without
   * saying so in the answer: an idle kept-alive socket closed by the server
   * between two calls. Default: never.
   */
  endAfterMs?: number;
}

/** A {@link HostileServer} in front of another server; see {@link startProxy}. */
export interface ProxyServer extends HostileServer {
  /** The raw server underneath, with every request it received. */
  readonly raw: RawServer;
}

/**
 * Forwards each request unchanged to `upstreamPort` (TCP on 127.0.0.1) on a
 * fresh connection and writes the answer back, as configured by `options`.
 */
export async function startProxy(upstreamPort: number, options: ProxyOptions = {}): Promise<ProxyServer> {
  const timers = new Set<NodeJS.Timeout>();
  const upstreams = new Set<net.Socket>();
  const later = (fn: () => void, ms: number): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const raw = await startServer(
    (request, socket) => {
      if (options.resetReused === true && request.indexOnConnection > 0) {
        if (socket.remotePort === undefined) socket.destroy();
        else socket.resetAndDestroy();
        return;
      }
      void forward(upstreamPort, request.raw, upstreams).then((answer) => {
        const write = (): void => {
          if (socket.destroyed) return;
          socket.write(answer);
          if (options.endAfterMs !== undefined) later(() => socket.end(), options.endAfterMs);
        };
        const delay = options.delayMs ?? 0;
        if (delay === 0) write();
        else later(write, delay);
      });
    },
    options.unix === true ? { unix: true } : {},
  );
  let closing: Promise<void> | undefined;
  return {
    raw,
    port: raw.port,
    socketPath: raw.socketPath,
    openSockets: () => raw.openSockets.size,
    close: () =>
      (closing ??= (async () => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of upstreams) s.destroy();
        await raw.close();
      })()),
  };
}

/**
 * Sends `request` to `port` and resolves with its whole answer, framed by
 * `Content-Length` (the emulator always sends one), or with whatever arrived
 * when the upstream closes. Never rejects.
 */
function forward(port: number, request: Buffer, live: Set<net.Socket>): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    live.add(socket);
    let got = Buffer.alloc(0);
    const done = (): void => {
      live.delete(socket);
      socket.destroy();
      resolve(got);
    };
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\ncontent-length: *(\d+)/i.exec(got.subarray(0, end).toString('latin1'));
      if (m !== null && got.length >= end + 4 + Number(m[1])) done();
    });
    socket.write(request);
  });
}

/** A TCP port on 127.0.0.1 where nothing listens: bound, then released. */
export async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function listen(server: net.Server, options: ListenOptions): Promise<{ port: number; socketPath: string; cleanup(): void }> {
  if (options.unix === true) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-hostile-'));
    const socketPath = path.join(dir, 's.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return { port: 0, socketPath, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, socketPath: '', cleanup: () => {} };
}
