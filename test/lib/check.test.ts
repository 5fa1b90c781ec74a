process.env['TZ'] = 'UTC';

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  DocumentSizeError,
  HttpStatusError,
  NotXmlRpcError,
  TimeoutError,
  XmlRpcFault,
} from '../../protocol/errors.js';
import { CRITICAL, OK, SupervisordCheck, UNKNOWN, WARNING } from '../../lib/check.js';
import type { CheckClient, InstanceConfig } from '../../lib/types.js';
import { ConfigError } from '../../lib/errors.js';

const SENTINEL = 'S3ntinel-pa55word';

const PROCESS = {
  name: 'web',
  group: 'web',
  start: 1414815388,
  stop: 0,
  now: 1414815513,
  state: 20,
  statename: 'RUNNING',
  spawnerr: '',
  exitstatus: 0,
  logfile: '/l',
  stdout_logfile: '/l',
  stderr_logfile: '/e',
  pid: 787,
  description: 'pid 787, uptime 0:02:05',
};

type Answer = unknown | (() => unknown);

/** A client answering from a table; a thrown Error (or an Error value) is a failed call. */
class FakeClient implements CheckClient {
  readonly calls: string[] = [];
  closed = 0;
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 0;
  readonly #answers: Record<string, Answer>;

  constructor(answers: Record<string, Answer>) {
    this.#answers = answers;
  }

  async call(method: string): Promise<unknown> {
    this.calls.push(method);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const answer = this.#answers[method];
      const value = typeof answer === 'function' ? (answer as () => unknown)() : answer;
      if (value instanceof Error) throw value;
      if (value === undefined) throw new XmlRpcFault(1, 'UNKNOWN_METHOD');
      return value;
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

const RUNNING_STATE = { statecode: 1, statename: 'RUNNING' };

/** No multicall: these tests see the separate calls, in the reference's order (getState is ours, last). */
function healthy(): FakeClient {
  return new FakeClient({ 'supervisor.getAllProcessInfo': [PROCESS], 'supervisor.getSupervisorVersion': '4.2.5', 'supervisor.getState': RUNNING_STATE });
}

const SEPARATE_CALLS = ['supervisor.getAllProcessInfo', 'supervisor.getSupervisorVersion', 'supervisor.getState'];

function recorder(): { warn: string[]; debug: string[]; log: { warn(m: string): void; debug(m: string): void } } {
  const warn: string[] = [];
  const debug: string[] = [];
  return { warn, debug, log: { warn: (m) => warn.push(m), debug: (m) => debug.push(m) } };
}

test('status constants', () => {
  assert.deepEqual([OK, WARNING, CRITICAL, UNKNOWN], [0, 1, 2, 3]);
});

describe('SupervisordCheck with an injected client', () => {
  test('a healthy run without multicall: the reference calls in order, then getState; full result', async () => {
    const client = healthy();
    const { log, debug, warn } = recorder();
    const check = new SupervisordCheck({ name: 'server1', tags: ['env:prod'] }, { client, log });
    const result = await check.run();
    assert.deepEqual(client.calls, SEPARATE_CALLS);
    const base = ['env:prod', 'supervisord_server:server1'];
    const tags = [...base, 'supervisord_process:web', 'supervisord_group:web'];
    assert.deepEqual(result, {
      metrics: [
        { name: 'supervisord.process.uptime', type: 'gauge', value: 125, tags },
        { name: 'supervisord.process.count', type: 'gauge', value: 0, tags: [...base, 'status:down'] },
        { name: 'supervisord.process.count', type: 'gauge', value: 1, tags: [...base, 'status:up'] },
        { name: 'supervisord.process.count', type: 'gauge', value: 0, tags: [...base, 'status:unknown'] },
        // issue 5, after the reference's
        { name: 'supervisord.process.restarts', type: 'count', value: 0, tags },
        { name: 'supervisord.process.start_time', type: 'gauge', value: 1414815388, tags },
        { name: 'supervisord.group.count', type: 'gauge', value: 0, tags: [...base, 'supervisord_group:web', 'status:down'] },
        { name: 'supervisord.group.count', type: 'gauge', value: 1, tags: [...base, 'supervisord_group:web', 'status:up'] },
        { name: 'supervisord.group.count', type: 'gauge', value: 0, tags: [...base, 'supervisord_group:web', 'status:unknown'] },
      ],
      serviceChecks: [
        { name: 'supervisord.can_connect', status: OK, tags: base },
        { name: 'supervisord.process.status', status: OK, tags },
        { name: 'supervisord.server.state', status: OK, tags: base },
      ],
      metadata: { version: { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' } },
      warnings: [],
      errors: [],
      processes: [{ name: 'web', group: 'web', statename: 'RUNNING', status: 'up', uptime: 125, description: 'pid 787, uptime 0:02:05' }],
    });
    assert.deepEqual(debug, ['collection: full listing', 'Version collected: 4.2.5']);
    assert.deepEqual(warn, []);
  });

  // [error thrown by getAllProcessInfo, instance, can_connect message or undefined, error message, warnings]
  const TCP = 'Cannot connect to http://badhost:9009. Make sure supervisor is running and XML-RPC inet interface is enabled.';
  const SOCK = 'Cannot connect to unix:///tmp/nonexistent.sock. Make sure supervisor is running and socket is enabled and socket file has the right permissions.';
  const SLOW = 'supervisord at unix:///tmp/nonexistent.sock did not answer within 10 s.';
  const tcpInstance = { name: 'server1', host: 'badhost', port: 9009 };
  const sockInstance = { name: 'server1', socket: 'unix:///tmp/nonexistent.sock' };
  const failures: Array<[Error, Record<string, unknown>, string | undefined, string, string[]]> = [
    [new ConnectError('connect ECONNREFUSED 127.0.0.1:9009', 'x', 'ECONNREFUSED'), tcpInstance, TCP, TCP,
      ['connect ECONNREFUSED 127.0.0.1:9009: connection refused (is supervisord running? is this its address?)']],
    [new ConnectError('connect ENOENT', 'x', 'ENOENT'), sockInstance, SOCK, SOCK,
      ['connect ENOENT: the socket file does not exist (is supervisord running? is this its socket?)']],
    [new ConnectError('connect EACCES', 'x', 'EACCES'), sockInstance, SOCK, SOCK,
      ["connect EACCES: permission denied: this user may not open the socket (see the socket's chown and chmod in [unix_http_server])"]],
    [new ConnectError('connect EXDEV', 'x', 'EXDEV'), sockInstance, SOCK, SOCK, ['connect EXDEV']],
    [new TimeoutError('ERR_CONNECT_TIMEOUT', 'connect timeout', 'x', 5000), tcpInstance, TCP, TCP, ["connect timeout: raise 'connect_timeout' if the server is slow to accept connections"]],
    // A deadline after the connection was made is a timeout, not a connection failure.
    [new TimeoutError('ERR_DEADLINE', 'deadline', 'x', 10000), sockInstance, SLOW, SLOW,
      ["'timeout' (10 s) expired before supervisord answered: raise 'timeout' (--timeout) for a busy supervisord or one with many processes"]],
    [new ConnectionClosedError('closed before any byte', 'x', true, 'ECONNRESET'), tcpInstance, TCP, TCP,
      ['closed before any byte: the connection was reset by the server']],
    // No credentials configured: the reference's message, and a warning saying what to set.
    [new HttpStatusError(401, 'Unauthorized', 'x'), tcpInstance, 'Username or password to server1 are incorrect.', 'Username or password to server1 are incorrect.',
      ["the server asks for a username and password (HTTP 401) and none are configured: set 'username' and 'password' (command line: --username with --password-file or SUPERVISORD_PASSWORD)"]],
    [new HttpStatusError(400, 'Bad Request', 'x'), tcpInstance, 'An error occurred while connecting to server1: 400 Bad Request', 'An error occurred while connecting to server1: 400 Bad Request', []],
    [new HttpStatusError(402, 'error', 'x'), sockInstance, 'An error occurred while connecting to server1: 402 error', 'An error occurred while connecting to server1: 402 error', []],
    [new NotXmlRpcError('http://h:1/ answered text/html, not XML-RPC', 'x', 'text/html'), tcpInstance,
      'An error occurred while connecting to server1: http://h:1/ answered text/html, not XML-RPC',
      'An error occurred while connecting to server1: http://h:1/ answered text/html, not XML-RPC', []],
    [new DocumentSizeError(1024), tcpInstance, 'An error occurred while connecting to server1: document larger than 1024 bytes', 'An error occurred while connecting to server1: document larger than 1024 bytes', []],
    [new XmlRpcFault(2, 'INCORRECT_PARAMETERS'), tcpInstance, undefined, 'An error occurred while reading process information: 2 INCORRECT_PARAMETERS', []],
    [new ClientClosedError(), tcpInstance, undefined, 'An error occurred while connecting to server1: client closed', []],
  ];

  test('each failure of getAllProcessInfo: exact messages, the reason as a warning, no version call', async () => {
    for (const [error, instance, canConnect, message, warnings] of failures) {
      const client = new FakeClient({ 'supervisor.getAllProcessInfo': error, 'supervisor.getSupervisorVersion': '4.2.5' });
      const check = new SupervisordCheck(instance as unknown as InstanceConfig, { client });
      const result = await check.run();
      assert.deepEqual(client.calls, ['supervisor.getAllProcessInfo'], error.name);
      assert.deepEqual(
        result.serviceChecks,
        canConnect === undefined ? [] : [{ name: 'supervisord.can_connect', status: CRITICAL, tags: ['supervisord_server:server1'], message: canConnect }],
        error.name,
      );
      assert.deepEqual(result.errors, [message], error.name);
      assert.deepEqual(result.warnings, warnings, error.name);
      assert.deepEqual(result.metrics, []);
      assert.deepEqual(result.metadata, {});
    }
  });

  test('SHUTDOWN_STATE on getAllProcessInfo: can_connect OK, server.state CRITICAL, no error, nothing else asked', async () => {
    const client = new FakeClient({ 'supervisor.getAllProcessInfo': new XmlRpcFault(6, 'SHUTDOWN_STATE'), 'supervisor.getSupervisorVersion': '4.2.5' });
    const result = await new SupervisordCheck({ name: 'n', tags: ['a:b'] }, { client }).run();
    assert.deepEqual(client.calls, ['supervisor.getAllProcessInfo']);
    assert.deepEqual(result, {
      metrics: [],
      serviceChecks: [
        { name: 'supervisord.can_connect', status: OK, tags: ['a:b', 'supervisord_server:n'] },
        { name: 'supervisord.server.state', status: CRITICAL, tags: ['a:b', 'supervisord_server:n'], message: 'SHUTDOWN_STATE' },
      ],
      metadata: {},
      warnings: [],
      errors: [],
    });
  });

  test('a malformed process list: can_connect OK, an error, no version call', async () => {
    const client = new FakeClient({ 'supervisor.getAllProcessInfo': 'not a list', 'supervisor.getSupervisorVersion': '4.2.5' });
    const result = await new SupervisordCheck({ name: 'n' }, { client }).run();
    assert.deepEqual(client.calls, ['supervisor.getAllProcessInfo']);
    assert.deepEqual(result.serviceChecks.map((s) => s.status), [OK]);
    assert.deepEqual(result.errors, ['An error occurred while reading process information: expected an array of process structs, got a string']);
  });

  test('version failures are warnings, logged as they happen', async () => {
    const cases: Array<[unknown, string]> = [
      [new XmlRpcFault(1, 'UNKNOWN_METHOD'), 'Error collecting version: fault 1: UNKNOWN_METHOD'],
      [new TimeoutError('ERR_DEADLINE', 'no answer within 10000 ms', 'x', 10000), 'Error collecting version: no answer within 10000 ms'],
      ['x.y', 'Error collecting version: cannot parse version "x.y"'],
    ];
    for (const [answer, warning] of cases) {
      const client = new FakeClient({ 'supervisor.getAllProcessInfo': [PROCESS], 'supervisor.getSupervisorVersion': answer, 'supervisor.getState': RUNNING_STATE });
      const { log, warn, debug } = recorder();
      const result = await new SupervisordCheck({ name: 'n' }, { client, log }).run();
      assert.deepEqual(result.warnings, [warning]);
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.metadata, {});
      // uptime, three counts, start time
      assert.equal(result.metrics.filter((m) => m.name.startsWith('supervisord.process.') && !m.name.endsWith('.restarts')).length, 5);
      assert.deepEqual(warn, [warning]);
      assert.deepEqual(debug, ['collection: full listing']);
    }
  });

  test('config warnings: logged at construction, in the first run only', async () => {
    const { log, warn } = recorder();
    const client = new FakeClient({ 'supervisor.getAllProcessInfo': [PROCESS] }); // no version nor state method: warnings per run
    const check = new SupervisordCheck({ name: 'n', user: 'u', pass: 'p', typo: 1 } as InstanceConfig, { client, log });
    const configWarnings = ["'user' is deprecated, use 'username' instead", "'pass' is deprecated, use 'password' instead", "Unknown configuration key 'typo' is ignored"];
    assert.deepEqual(check.configWarnings, configWarnings);
    assert.deepEqual(warn, configWarnings);
    const first = await check.run();
    const second = await check.run();
    const perRun = ['Error collecting version: fault 1: UNKNOWN_METHOD', 'Error collecting state: fault 1: UNKNOWN_METHOD'];
    assert.deepEqual(first.warnings, [...configWarnings, ...perRun]);
    assert.deepEqual(second.warnings, perRun);
    assert.deepEqual(warn.slice(configWarnings.length), [...perRun, ...perRun]);
    assert.ok(!first.serviceChecks.some((c) => c.name === 'supervisord.server.state'), 'no server.state without getState');
  });

  test('the connection is reused between runs and closed only by close()', async () => {
    const client = healthy();
    const check = new SupervisordCheck({ name: 'n' }, { client });
    await check.run();
    await check.run();
    await check.run();
    assert.equal(client.closed, 0);
    assert.equal(client.calls.length, 9);
    await check.close();
    assert.equal(client.closed, 1);
  });

  test('timeout bounds the whole run, not each call; an injected client is not closed', async () => {
    const deadline = "no complete answer from http://localhost:9001/RPC2 within 100 ms (the run's deadline)";
    // [delay per call in ms, expected warnings, expected errors]
    const cases: Array<[number, string[], string[]]> = [
      // the list arrives, the version call passes the deadline, the state call is not even sent
      [60, [`Error collecting version: ${deadline}`, `Error collecting state: ${deadline}`], []],
      // a timeout, not "Cannot connect": the server took the call and did not answer in time
      [
        250,
        ["'timeout' (0.1 s) expired before supervisord answered: raise 'timeout' (--timeout) for a busy supervisord or one with many processes"],
        ['supervisord at http://localhost:9001 did not answer within 0.1 s: supervisor.getAllProcessInfo was pending.'],
      ],
    ];
    for (const [delayMs, warnings, errors] of cases) {
      const client = healthy();
      client.delayMs = delayMs;
      const check = new SupervisordCheck({ name: 'n', timeout: 0.1 }, { client });
      const started = performance.now();
      const result = await check.run();
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 95 && elapsed < 180, `run took ${elapsed} ms for a 100 ms deadline`);
      assert.deepEqual(result.warnings, warnings);
      assert.deepEqual(result.errors, errors);
      assert.deepEqual(client.calls, delayMs === 60 ? ['supervisor.getAllProcessInfo', 'supervisor.getSupervisorVersion'] : ['supervisor.getAllProcessInfo']);
      assert.equal(client.closed, 0);
      await new Promise((resolve) => setTimeout(resolve, delayMs)); // let the abandoned call finish
    }
  });

  test('runs are serialised', async () => {
    const client = healthy();
    client.delayMs = 5;
    const check = new SupervisordCheck({ name: 'n' }, { client });
    const results = await Promise.all([check.run(), check.run(), check.run()]);
    assert.equal(client.maxInFlight, 1);
    for (const result of results) assert.deepEqual(result.errors, []);
  });

  test('never rejects, even for a client that throws synchronously or rejects with a non-Error', async () => {
    const throwing: CheckClient = {
      call(): Promise<unknown> {
        throw new Error('sync boom');
      },
      close: async () => {},
    };
    const r1 = await new SupervisordCheck({ name: 'n' }, { client: throwing }).run();
    assert.deepEqual(r1.errors, ['An error occurred while connecting to n: sync boom']);
    const rejecting: CheckClient = { call: () => Promise.reject('plain string'), close: async () => {} };
    const r2 = await new SupervisordCheck({ name: 'n' }, { client: rejecting }).run();
    assert.deepEqual(r2.errors, ['An error occurred while connecting to n: plain string']);
  });

  test('messages: false: the same run without the status checks\' messages, and nothing else changes', async () => {
    const down = { ...PROCESS, name: 'worker', group: 'workers', statename: 'FATAL', state: 200, pid: 0, stop: 1414815500, exitstatus: 2 };
    const answers = { 'supervisor.getAllProcessInfo': [PROCESS, down], 'supervisor.getSupervisorVersion': '4.2.5', 'supervisor.getState': { statecode: 2, statename: 'FATAL' } };
    const full = await new SupervisordCheck({ name: 'server1' }, { client: new FakeClient(answers) }).run();
    const bare = await new SupervisordCheck({ name: 'server1' }, { client: new FakeClient(answers), messages: false }).run();
    const status = (r: typeof full) => r.serviceChecks.filter((c) => c.name === 'supervisord.process.status');
    assert.equal(status(full)[1]!.status, CRITICAL);
    assert.match(status(full)[1]!.message!, /^Current time: .*\nProcess name: worker\n/);
    assert.ok(status(bare).every((c) => !('message' in c)), 'no message on any process status');
    // The server state's message (not a process's) is kept.
    assert.equal(bare.serviceChecks.find((c) => c.name === 'supervisord.server.state')!.message, 'supervisord is FATAL');
    const withoutProcessMessages = { ...full, serviceChecks: full.serviceChecks.map(({ message, ...c }) => (c.name === 'supervisord.process.status' ? c : { ...c, message })) };
    assert.deepEqual(bare, JSON.parse(JSON.stringify(withoutProcessMessages)));
  });

  test('a throwing logger does not break the check', async () => {
    const log = {
      warn(): void {
        throw new Error('logger down');
      },
      debug(): void {
        throw new Error('logger down');
      },
    };
    const check = new SupervisordCheck({ name: 'n', typo: 1 } as InstanceConfig, { client: healthy(), log });
    const result = await check.run();
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, ["Unknown configuration key 'typo' is ignored"]);
  });

  test('constructor: ConfigError from the instance, TypeError from the options', () => {
    assert.throws(() => new SupervisordCheck({ name: ' ' }), {
      name: 'ConfigError',
      code: 'ERR_CONFIG',
      message: 'Supervisor server name not specified in yaml configuration.',
    });
    assert.throws(() => new SupervisordCheck({ name: 'n', proc_names: 'x' } as unknown as InstanceConfig), (error: unknown) => error instanceof ConfigError && error.key === 'proc_names');
    const bad: Array<[unknown, string]> = [
      [null, 'options must be an object'],
      [{ logger: {} }, "unknown option 'logger' (expected log, client, clock, oneShot, connections, messages)"],
      [{ clock: 5 }, 'options.clock must be a function returning milliseconds'],
      [{ log: {} }, 'options.log must have a warn(message) method'],
      [{ log: { warn: () => {}, debug: 1 } }, 'options.log.debug must be a function'],
      [{ client: { call: () => {} } }, 'options.client must have call() and close() methods'],
      [{ connections: {} }, 'options.connections must be a ConnectionBudget'],
      [{ messages: 'no' }, 'options.messages must be true or false'],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => new SupervisordCheck({ name: 'n' }, options as never), { name: 'TypeError', message });
    }
  });
});

describe('the password never shows', () => {
  test('not in config, check, results or logs; masked even when a server echoes it', async () => {
    const echo = `${SENTINEL} rejected`;
    const answers: Array<Record<string, Answer>> = [
      { 'supervisor.getAllProcessInfo': new HttpStatusError(401, 'Unauthorized', 'x') },
      { 'supervisor.getAllProcessInfo': new HttpStatusError(500, echo, 'x') },
      { 'supervisor.getAllProcessInfo': new XmlRpcFault(2, echo) },
      { 'supervisor.getAllProcessInfo': [{ ...PROCESS, name: SENTINEL, statename: 'FATAL', description: echo }], 'supervisor.getSupervisorVersion': new Error(echo) },
      { 'supervisor.getAllProcessInfo': [PROCESS], 'supervisor.getSupervisorVersion': `4.2.5 ${SENTINEL}` },
      // The reason of an unknown exit status quotes the main log's failure.
      { 'supervisor.getAllProcessInfo': [{ ...PROCESS, statename: 'FATAL', state: 200, exitstatus: 0, stop: PROCESS.start + 1 }], 'supervisor.readLog': new XmlRpcFault(20, `NO_FILE: ${echo}`) },
    ];
    for (const table of answers) {
      const { log, warn, debug } = recorder();
      const check = new SupervisordCheck({ name: 'n', username: 'u', password: SENTINEL, user: 'old' }, { client: new FakeClient(table), log });
      const result = await check.run();
      const printed = [JSON.stringify(result), JSON.stringify(check.config), inspect(check, { depth: 10, showHidden: true }), ...warn, ...debug];
      for (const text of printed) assert.ok(!text.includes(SENTINEL), text);
      assert.ok(JSON.stringify(result).includes('***') || table['supervisor.getAllProcessInfo'] instanceof HttpStatusError);
    }
  });
});

// ---------------------------------------------------------------------------
// With the real XmlRpcClient (the default when no client is injected)
// ---------------------------------------------------------------------------

const PROCESS_XML = Object.entries(PROCESS)
  .map(([k, v]) => `<member><name>${k}</name><value>${typeof v === 'number' ? `<int>${v}</int>` : `<string>${v}</string>`}</value></member>`)
  .join('');

function xmlResponse(value: string): string {
  const body = `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>${value}</value>\n</param>\n</params>\n</methodResponse>\n`;
  return `HTTP/1.1 200 OK\r\nServer: Medusa/1.12\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const UNAUTHORIZED = 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="default"\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n';

/** A minimal supervisord: answers the run's multicall (or the reference's two calls), or 401 without the right credentials. */
function startServer(expectedAuth: string | undefined): Promise<{ server: net.Server; port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
        buffer = buffer.subarray(end + 4 + length);
        heads.push(head);
        const auth = /authorization: *Basic (\S+)/i.exec(head)?.[1];
        if (expectedAuth !== undefined && auth !== Buffer.from(expectedAuth).toString('base64')) {
          socket.end(UNAUTHORIZED);
          return;
        }
        const list = `<array><data><value><struct>${PROCESS_XML}</struct></value></data></array>`;
        const state = '<struct><member><name>statecode</name><value><int>1</int></value></member><member><name>statename</name><value><string>RUNNING</string></value></member></struct>';
        socket.write(
          body.includes('system.multicall')
            ? xmlResponse(`<array><data><value>${list}</value><value><string>4.2.5</string></value><value>${state}</value></data></array>`)
            : body.includes('getAllProcessInfo')
              ? xmlResponse(list)
              : xmlResponse('<string>4.2.5</string>'),
        );
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port, heads })));
}

describe('SupervisordCheck with the real client', () => {
  let open: { server: net.Server; port: number; heads: string[] };
  let secured: { server: net.Server; port: number; heads: string[] };
  let closedPort: number;
  let tmp: string;

  before(async () => {
    open = await startServer(undefined);
    secured = await startServer(`u:${SENTINEL}`);
    const probe = net.createServer();
    closedPort = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'check-test-'));
  });

  after(async () => {
    await new Promise<void>((resolve) => open.server.close(() => resolve()));
    await new Promise<void>((resolve) => secured.server.close(() => resolve()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a full run over TCP, one request per run, one connection for both runs', async () => {
    const check = new SupervisordCheck({ name: 'n', host: '127.0.0.1', port: open.port });
    try {
      const first = await check.run();
      assert.deepEqual(first.errors, []);
      assert.deepEqual(first.serviceChecks.map((s) => s.status), [OK, OK, OK]);
      assert.equal(first.metadata.version?.raw, '4.2.5');
      const second = await check.run();
      assert.deepEqual(second.errors, []);
      assert.equal(open.heads.length, 2);
      assert.ok(open.heads.every((h) => !/authorization/i.test(h)), 'no credentials configured, none sent');
    } finally {
      await check.close();
    }
  });

  test('credentials are sent when both are set', async () => {
    const check = new SupervisordCheck({ name: 'n', host: '127.0.0.1', port: secured.port, username: 'u', password: SENTINEL });
    try {
      const result = await check.run();
      assert.deepEqual(result.errors, []);
      assert.equal(result.metadata.version?.major, '4');
    } finally {
      await check.close();
    }
  });

  test('wrong credentials: the 401 message, and the password nowhere', async () => {
    const { log, warn } = recorder();
    const check = new SupervisordCheck({ name: 'n', host: '127.0.0.1', port: secured.port, username: 'u', password: 'wrong-' + SENTINEL }, { log });
    try {
      const result = await check.run();
      assert.deepEqual(result.errors, ['Username or password to n are incorrect.']);
      assert.deepEqual(result.serviceChecks, [{ name: 'supervisord.can_connect', status: CRITICAL, tags: ['supervisord_server:n'], message: 'Username or password to n are incorrect.' }]);
      assert.ok(!JSON.stringify(result).includes(SENTINEL));
      assert.ok(!inspect(check, { depth: 10, showHidden: true }).includes(SENTINEL));
      assert.deepEqual(warn, []);
    } finally {
      await check.close();
    }
  });

  test('nothing listening on the TCP port: the reference message', async () => {
    const check = new SupervisordCheck({ name: 'n', host: '127.0.0.1', port: `${closedPort}` });
    try {
      const result = await check.run();
      const message = `Cannot connect to http://127.0.0.1:${closedPort}. Make sure supervisor is running and XML-RPC inet interface is enabled.`;
      assert.deepEqual(result.errors, [message]);
      assert.deepEqual(result.serviceChecks, [{ name: 'supervisord.can_connect', status: CRITICAL, tags: ['supervisord_server:n'], message }]);
    } finally {
      await check.close();
    }
  });

  test('no socket file: the reference message', async () => {
    const socket = `unix://${path.join(tmp, 'missing.sock')}`;
    const check = new SupervisordCheck({ name: 'n', socket });
    try {
      const result = await check.run();
      assert.deepEqual(result.errors, [
        `Cannot connect to ${socket}. Make sure supervisor is running and socket is enabled and socket file has the right permissions.`,
      ]);
    } finally {
      await check.close();
    }
  });
});
