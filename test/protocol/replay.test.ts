/**
 * Replays the answers recorded from a real supervisord 4.2.5
 * (fixtures/supervisord-4.2.5, see its README):
 *
 * 1. every XML-RPC body decodes with our decoder to what an independent
 *    reader (the harness's regex reader) finds, whole, split at every byte
 *    offset (small bodies) and in seeded random chunks (large ones);
 * 2. the stable facts of the recording hold (zoo states, fault codes, version,
 *    raw control characters);
 * 3. the raw HTTP responses, served verbatim by a fake server over TCP and a
 *    unix socket, give the client the expected results and errors, and the
 *    client's requests match the recorded requests where it matters.
 */
import { createRandom as prng } from '../../fixtures/generate.js'; // mulberry32: a failing seed replays
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCall, decodeResponse, XmlRpcDecoder } from '../../protocol/xmlrpc-decoder.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import { HttpStatusError, NotXmlRpcError, XmlRpcFault } from '../../protocol/errors.js';
import type { XmlRpcValue, XmlRpcStruct } from '../../protocol/types.js';
import { headerValue, HarnessFault, parseXmlRpcResponse, splitRawResponse } from '../helpers/supervisord.js';

interface Entry {
  name: string;
  transport: 'tcp' | 'unix';
  auth: 'none' | 'ok' | 'wrong' | 'missing';
  httpMethod: string;
  path: string;
  method: string | null;
  params: XmlRpcValue[];
  status: number;
  reason: string;
  contentType: string | null;
  contentLength: number | null;
  bodyBytes: number;
  kind: 'result' | 'fault' | 'html' | 'other';
  fault?: { faultCode: number; faultString: string };
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('no package.json above the test file');
    dir = up;
  }
}

const FIXTURES = path.join(repoRoot(), 'fixtures', 'supervisord-4.2.5');
const INDEX = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8')) as {
  recordedWith: { supervisord: string };
  credentials: { username: string; password: string };
  exchanges: Entry[];
};
const EXCHANGES = INDEX.exchanges;

const rawOf = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, `${name}.http`));
const requestOf = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, `${name}.request.http`));
function bodyOf(name: string): Buffer {
  const r = splitRawResponse(rawOf(name));
  assert.ok(r !== null, `${name}.http has no complete head`);
  return r.body;
}
const entry = (name: string): Entry => {
  const e = EXCHANGES.find((x) => x.name === name);
  assert.ok(e !== undefined, `no exchange ${name} in index.json`);
  return e;
};

/** Outcome of decoding: the value, or the fault's code and string. */
type Outcome = { value: unknown } | { fault: [number, string] };

function oracle(body: Buffer): Outcome {
  try {
    return { value: parseXmlRpcResponse(body.toString('utf8')) };
  } catch (e) {
    if (e instanceof HarnessFault) return { fault: [e.faultCode, e.faultString] };
    throw e;
  }
}

function ours(feed: (d: XmlRpcDecoder) => void): Outcome {
  const d = new XmlRpcDecoder();
  feed(d);
  try {
    return { value: d.end() };
  } catch (e) {
    if (e instanceof XmlRpcFault) return { fault: [e.faultCode, e.faultString] };
    throw e;
  }
}


const XML_EXCHANGES = EXCHANGES.filter((e) => e.kind === 'result' || e.kind === 'fault');

describe('recorded files are what index.json says', () => {
  test('the recording is from supervisord 4.2.5 and has the exchanges the replay needs', () => {
    assert.equal(INDEX.recordedWith.supervisord, '4.2.5');
    for (const name of ['getAllProcessInfo', 'getProcessInfo-web-front', 'getProcessInfo-bad-name', 'multicall', 'auth-401', 'auth-401.unix', 'post-root-html', 'readProcessStdoutLog-noisy']) {
      entry(name);
    }
  });
  for (const e of EXCHANGES) {
    test(`${e.name}: status ${e.status}, Content-Length counts the body's bytes`, () => {
      const r = splitRawResponse(rawOf(e.name));
      assert.ok(r !== null);
      assert.equal(r.status, e.status);
      assert.equal(r.reason, e.reason);
      assert.equal(headerValue(r, 'server'), 'Medusa/1.12');
      assert.equal(headerValue(r, 'content-type') ?? null, e.contentType);
      // supervisord-protocol.md: monitoring answers carry an exact byte
      // Content-Length (only methods that wait count characters).
      assert.equal(Number(headerValue(r, 'content-length')), r.body.length);
      assert.equal(r.body.length, e.bodyBytes);
      const req = requestOf(e.name).toString('latin1');
      assert.ok(req.startsWith(`${e.httpMethod} ${e.path} HTTP/1.`), req.slice(0, 40));
      assert.match(req, e.transport === 'unix' ? /\r\nHost: localhost\r\n/ : /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    });
  }
});

describe('decoding recorded bodies', () => {
  for (const e of XML_EXCHANGES) {
    test(`${e.name}: whole, and split ${bodyOf(e.name).length <= 4096 ? 'at every byte offset' : 'in seeded random chunks'}`, () => {
      const body = bodyOf(e.name);
      const expected = oracle(body);
      assert.equal('fault' in expected, e.kind === 'fault');
      let whole: Outcome;
      try {
        whole = { value: decodeResponse(body) };
      } catch (err) {
        assert.ok(err instanceof XmlRpcFault, String(err));
        assert.equal(err.code, 'ERR_XMLRPC_FAULT');
        assert.equal(err.message, `fault ${err.faultCode}: ${err.faultString}`);
        whole = { fault: [err.faultCode, err.faultString] };
      }
      assert.deepEqual(whole, expected);
      if (body.length <= 4096) {
        for (let i = 0; i <= body.length; i++) {
          const got = ours((d) => {
            d.write(body.subarray(0, i));
            d.write(body.subarray(i));
          });
          assert.deepEqual(got, expected, `split at byte ${i}`);
        }
      } else {
        const seed = (Date.now() ^ body.length) >>> 0;
        const rnd = prng(seed);
        for (let run = 0; run < 50; run++) {
          const got = ours((d) => {
            for (let at = 0; at < body.length; ) {
              const n = 1 + Math.floor(rnd() * (run < 25 ? 16 : 2048));
              d.write(body.subarray(at, at + n));
              at += n;
            }
          });
          assert.deepEqual(got, expected, `random chunks, seed ${seed}, run ${run}`);
        }
      }
    });
  }
});

describe('stable facts of the recording', () => {
  const struct = (v: XmlRpcValue): XmlRpcStruct => v as XmlRpcStruct;
  const fault = (name: string): XmlRpcFault => {
    try {
      decodeResponse(bodyOf(name));
    } catch (e) {
      if (e instanceof XmlRpcFault) return e;
      throw e;
    }
    throw new Error(`${name} is not a fault`);
  };

  test('getAllProcessInfo: the zoo, sorted by group then name, with 14 members each', () => {
    const procs = decodeResponse(bodyOf('getAllProcessInfo')) as XmlRpcStruct[];
    assert.deepEqual(
      procs.map((p) => [`${String(p['group'])}:${String(p['name'])}`, p['statename'], p['state']]),
      [
        ['broken:broken', 'FATAL', 200],
        ['café:café', 'RUNNING', 20],
        ['exiter:exiter', 'EXITED', 100],
        ['idle:idle', 'STOPPED', 0],
        ['noisy:noisy', 'EXITED', 100],
        ['sleeper:sleeper', 'RUNNING', 20],
        ['web:back', 'RUNNING', 20],
        ['web:front', 'RUNNING', 20],
      ],
    );
    const members = ['name', 'group', 'start', 'stop', 'now', 'state', 'statename', 'spawnerr', 'exitstatus', 'logfile', 'stdout_logfile', 'stderr_logfile', 'pid', 'description'];
    for (const p of procs) assert.deepEqual(Object.keys(p), members);
    const by = (n: string): XmlRpcStruct => procs.find((p) => p['name'] === n)!;
    assert.equal(by('exiter')['exitstatus'], 3);
    assert.equal(by('exiter')['spawnerr'], 'Bad exit code 3');
    assert.equal(by('broken')['description'], "can't find command '/nonexistent/supervisord-check-missing'");
    assert.equal(by('broken')['pid'], 0);
    assert.equal(by('idle')['description'], 'Not started');
    assert.equal(by('idle')['start'], 0);
    assert.match(String(by('sleeper')['description']), /^pid \d+, uptime 0:00:\d\d$/);
    assert.match(String(by('exiter')['description']), /^[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M$/);
    assert.equal(by('sleeper')['logfile'], by('sleeper')['stdout_logfile']);
    // The unix-socket answer is the same document (bar the clock).
    const unix = decodeResponse(bodyOf('getAllProcessInfo.unix')) as XmlRpcStruct[];
    assert.deepEqual(unix.map((p) => p['name']), procs.map((p) => p['name']));
  });

  test('getProcessInfo: grouped process only as group:name, BAD_NAME otherwise', () => {
    const front = struct(decodeResponse(bodyOf('getProcessInfo-web-front')));
    assert.equal(front['name'], 'front');
    assert.equal(front['group'], 'web');
    assert.equal(struct(decodeResponse(bodyOf('getProcessInfo-cafe')))['name'], 'café');
    for (const [name, text] of [
      ['getProcessInfo-front-ungrouped', 'BAD_NAME: front'],
      ['getProcessInfo-bad-name', 'BAD_NAME: nosuch'],
    ] as const) {
      const f = fault(name);
      assert.equal(f.faultCode, 10);
      assert.equal(f.faultString, text);
      assert.equal(f.message, `fault 10: ${text}`);
    }
  });

  test('faults for an unknown method and a wrong argument count', () => {
    assert.deepEqual([fault('unknown-method').faultCode, fault('unknown-method').faultString], [1, 'UNKNOWN_METHOD']);
    assert.deepEqual([fault('wrong-arg-count').faultCode, fault('wrong-arg-count').faultString], [2, 'INCORRECT_PARAMETERS']);
  });

  test('scalars: state, versions, identification, pid', () => {
    assert.deepEqual(decodeResponse(bodyOf('getState')), { statecode: 1, statename: 'RUNNING' });
    assert.equal(decodeResponse(bodyOf('getSupervisorVersion')), '4.2.5');
    assert.equal(decodeResponse(bodyOf('getAPIVersion')), '3.0');
    assert.equal(decodeResponse(bodyOf('getIdentification')), 'supervisor');
    assert.equal(decodeResponse(bodyOf('auth-getIdentification.unix')), 'fixture-auth');
    assert.ok(Number.isInteger(decodeResponse(bodyOf('getPID'))));
    const methods = decodeResponse(bodyOf('listMethods')) as string[];
    for (const m of ['supervisor.getAllProcessInfo', 'supervisor.getProcessInfo', 'system.multicall']) assert.ok(methods.includes(m), m);
  });

  test('multicall: bare results with fault structs in place', () => {
    const r = decodeResponse(bodyOf('multicall')) as XmlRpcValue[];
    assert.equal(r.length, 5);
    assert.deepEqual(r[0], { statecode: 1, statename: 'RUNNING' });
    assert.equal(struct(r[1]!)['name'], 'sleeper');
    assert.deepEqual(r[2], { faultCode: 10, faultString: 'BAD_NAME: nosuch' });
    assert.equal(r[3], '4.2.5');
    assert.deepEqual(r[4], { faultCode: 1, faultString: 'UNKNOWN_METHOD' });
  });

  test('log reads keep raw control characters, \\r and UTF-8 verbatim', () => {
    assert.equal(decodeResponse(bodyOf('readProcessStdoutLog-noisy')), 'a\x01b\rc\x1bd é & <x>\n');
    assert.equal(decodeResponse(bodyOf('readProcessStderrLog-noisy')), 'e\x01f\rg\x1bh\n');
    // The raw bytes really are unescaped on the wire (invalid XML 1.0).
    assert.ok(bodyOf('readProcessStdoutLog-noisy').includes(Buffer.from('a\x01b\rc\x1bd é &amp; &lt;x&gt;\n')));
    // tail*: [text, offset = log size in bytes (not characters), overflow]
    const out = 'a\x01b\rc\x1bd é & <x>\n';
    const err = 'e\x01f\rg\x1bh\n';
    assert.deepEqual(decodeResponse(bodyOf('tailProcessStdoutLog-noisy')), [out, Buffer.byteLength(out), false]);
    assert.deepEqual(decodeResponse(bodyOf('tailProcessStderrLog-noisy.unix')), [err, Buffer.byteLength(err), false]);
    assert.notEqual(Buffer.byteLength(out), out.length);
  });

  test('401: Basic realm, Connection: close, 137-byte HTML body', () => {
    for (const name of ['auth-401', 'auth-401.unix', 'auth-401-missing']) {
      const r = splitRawResponse(rawOf(name))!;
      assert.equal(r.status, 401);
      assert.equal(headerValue(r, 'www-authenticate'), 'Basic realm="default"');
      assert.equal(headerValue(r, 'connection'), 'close');
      assert.equal(r.body.length, 137);
    }
  });
});

// ---------------------------------------------------------------------------
// Raw HTTP replay through the client
// ---------------------------------------------------------------------------

/**
 * Answers each complete request (head + Content-Length body) with
 * `answer`, verbatim, and keeps the connection open afterwards like medusa
 * (also after a 401).
 */
class ReplayServer {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  readonly requests: Buffer[] = [];
  connections = 0;
  answer: Buffer = Buffer.alloc(0);

  constructor() {
    this.server = net.createServer((sock) => {
      this.connections++;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const m = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
          const total = end + 4 + (m === null ? 0 : Number(m[1]));
          if (buf.length < total) return;
          this.requests.push(buf.subarray(0, total));
          buf = buf.subarray(total);
          sock.write(this.answer);
        }
      });
    });
  }

  listen(where: { port: 0 } | { path: string }): Promise<void> {
    return new Promise((resolve) => {
      if ('path' in where) this.server.listen(where.path, resolve);
      else this.server.listen(0, '127.0.0.1', resolve);
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function headOf(req: Buffer): { lines: string[]; body: Buffer } {
  const end = req.indexOf('\r\n\r\n');
  return { lines: req.subarray(0, end).toString('latin1').split('\r\n'), body: req.subarray(end + 4) };
}
const header = (lines: string[], name: string): string | undefined =>
  lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}: `))?.slice(name.length + 2);

describe('replaying raw HTTP answers to the client', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-'));
  const tcp = new ReplayServer();
  const unix = new ReplayServer();
  const socketPath = path.join(tmp, 'replay.sock');
  let tcpBase = '';
  before(async () => {
    await tcp.listen({ port: 0 });
    await unix.listen({ path: socketPath });
    tcpBase = `http://127.0.0.1:${(tcp.server.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all([tcp.close(), unix.close()]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const credentials = (e: Entry): { username?: string; password?: string } =>
    e.auth === 'ok'
      ? { username: INDEX.credentials.username, password: INDEX.credentials.password }
      : e.auth === 'wrong'
        ? { username: INDEX.credentials.username, password: 'wrong-password' }
        : {};

  for (const e of EXCHANGES) {
    for (const via of ['tcp', 'unix'] as const) {
      test(`${e.name} over ${via}`, async () => {
        const server = via === 'tcp' ? tcp : unix;
        server.answer = rawOf(e.name);
        const url = via === 'tcp' ? `${tcpBase}${e.path}` : `unix://${socketPath}`;
        const client = new XmlRpcClient(url, { ...credentials(e), timeoutMs: 3000 });
        const display = client.address.display;
        const method = e.method ?? 'supervisor.getState';
        const before = server.requests.length;
        try {
          const outcome = client.call(method, e.params);
          if (e.status !== 200) {
            await assert.rejects(outcome, (err: unknown) => {
              assert.ok(err instanceof HttpStatusError, String(err));
              assert.equal(err.code, 'ERR_HTTP_STATUS');
              assert.equal(err.status, e.status);
              assert.equal(err.reason, e.reason);
              assert.equal(err.message, `${display} answered HTTP ${e.status} ${e.reason}`);
              // never the password, not even the wrong one
              assert.ok(!JSON.stringify({ ...err, message: err.message }).includes('wrong-password'));
              return true;
            });
          } else if (e.kind === 'html') {
            await assert.rejects(outcome, (err: unknown) => {
              assert.ok(err instanceof NotXmlRpcError, String(err));
              assert.equal(err.code, 'ERR_NOT_XMLRPC');
              assert.equal(err.contentType, 'text/html');
              assert.match(err.message, new RegExp(`^${display.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} answered 200 with text/html, not XML-RPC: `));
              return true;
            });
          } else if (e.kind === 'fault') {
            await assert.rejects(outcome, (err: unknown) => {
              assert.ok(err instanceof XmlRpcFault, String(err));
              assert.equal(err.code, 'ERR_XMLRPC_FAULT');
              assert.equal(err.faultCode, e.fault!.faultCode);
              assert.equal(err.faultString, e.fault!.faultString);
              return true;
            });
          } else {
            assert.deepEqual(await outcome, decodeResponse(bodyOf(e.name)));
          }
        } finally {
          await client.close();
        }
        // What the client sent matches the recorded request where it matters.
        assert.equal(server.requests.length, before + 1);
        const sent = headOf(server.requests[before]!);
        const recorded = headOf(requestOf(e.name));
        assert.equal(sent.lines[0], `POST ${via === 'tcp' ? e.path : '/RPC2'} HTTP/1.1`);
        assert.equal(header(sent.lines, 'Host'), via === 'unix' ? 'localhost' : `127.0.0.1:${(tcp.server.address() as net.AddressInfo).port}`);
        assert.equal(header(sent.lines, 'Authorization'), header(recorded.lines, 'Authorization'));
        assert.equal(Number(header(sent.lines, 'Content-Length')), sent.body.length);
        if (e.method !== null) assert.deepEqual(decodeCall(sent.body), decodeCall(recorded.body));
      });
    }
  }

  test('multicall replay turns fault structs into XmlRpcFault in place', async () => {
    tcp.answer = rawOf('multicall');
    const client = new XmlRpcClient(`${tcpBase}/RPC2`);
    try {
      const calls = (entry('multicall').params[0] as XmlRpcStruct[]).map((c) => ({
        methodName: c['methodName'] as string,
        params: c['params'] as XmlRpcValue[],
      }));
      const r = await client.multicall(calls);
      assert.equal(r.length, 5);
      assert.deepEqual(r[0], { statecode: 1, statename: 'RUNNING' });
      assert.equal(struct(r[1]!)['name'], 'sleeper');
      assert.ok(r[2] instanceof XmlRpcFault);
      assert.equal(r[2].faultCode, 10);
      assert.equal(r[2].faultString, 'BAD_NAME: nosuch');
      assert.equal(r[3], '4.2.5');
      assert.ok(r[4] instanceof XmlRpcFault);
      assert.equal(r[4].faultCode, 1);
    } finally {
      await client.close();
    }
  });

  test('keep-alive: three answers on one connection; after a 401 (socket left open) a fresh one', async () => {
    const client = new XmlRpcClient(`unix://${socketPath}`, { username: 'fixture', password: 'wrong-password', timeoutMs: 3000 });
    const conns = unix.connections;
    try {
      unix.answer = rawOf('getState.unix');
      for (let i = 0; i < 3; i++) assert.deepEqual(await client.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      assert.equal(unix.connections, conns + 1);
      unix.answer = rawOf('auth-401.unix');
      await assert.rejects(client.call('supervisor.getState'), { name: 'HttpStatusError', status: 401 });
      unix.answer = rawOf('getState.unix');
      assert.deepEqual(await client.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
      assert.equal(unix.connections, conns + 2);
    } finally {
      await client.close();
    }
  });
});

function struct(v: XmlRpcValue | XmlRpcFault): XmlRpcStruct {
  return v as XmlRpcStruct;
}
