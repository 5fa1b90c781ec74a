import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as net from 'node:net';
import { inspect } from 'node:util';
import { tcpAddress } from '../../protocol/address.js';
import {
  AddressError,
  ClientClosedError,
  ConnectError,
  ConnectionClosedError,
  DepthLimitError,
  HttpParseError,
  HttpStatusError,
  NotXmlRpcError,
  ProtocolError,
  TimeoutError,
  XmlRpcEncodeError,
  XmlRpcFault,
  XmlRpcParseError,
  XmlRpcResponseError,
} from '../../protocol/errors.js';
import { XmlRpcClient } from '../../protocol/xmlrpc-client.js';
import type { CallOptions, XmlRpcClientOptions } from '../../protocol/xmlrpc-client.js';
import { encodeCall, encodeFault, encodeResponse } from '../../protocol/xmlrpc-encoder.js';
import type { XmlRpcValue } from '../../protocol/types.js';
import { decodeResponse, XmlRpcDecoder } from '../../protocol/xmlrpc-decoder.js';
import { httpResponse, startServer, TEST_TLS_CERT, unauthorizedResponse } from '../helpers/raw-server.js';
import type { RawServer, RawServerOptions, Responder } from '../helpers/raw-server.js';

const servers: RawServer[] = [];
const clients: XmlRpcClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(respond: Responder, opts: RawServerOptions = {}): Promise<RawServer> {
  const s = await startServer(respond, opts);
  servers.push(s);
  return s;
}

function client(address: string | Parameters<typeof tcpAddress>[0] | ReturnType<typeof tcpAddress>, options?: XmlRpcClientOptions): XmlRpcClient {
  const c = new XmlRpcClient(address, { timeoutMs: 3000, ...options });
  clients.push(c);
  return c;
}

const xml = (value: XmlRpcValue): Buffer => httpResponse(200, 'OK', encodeResponse(value));
const html = (status: number, reason: string, body = '<html><body>error</body></html>'): Buffer =>
  httpResponse(status, reason, body, { 'Content-Type': 'text/html' });

async function rejects(
  promise: Promise<unknown>,
  cls: new (...args: never[]) => Error,
  code: string,
  message: string | RegExp,
): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${inspect(e)}`);
    assert.equal((e as { code?: string }).code, code);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    caught = e;
    return true;
  });
  return caught!;
}

const PROCESS = {
  name: 'web',
  group: 'web',
  statename: 'RUNNING',
  state: 20,
  pid: 1234,
  description: 'pid 1234, uptime 0:02:05',
};

for (const unix of [false, true]) {
  describe(`over ${unix ? 'a unix socket' : 'tcp'}`, () => {
    test('call sends encodeCall bytes and resolves the decoded result', async () => {
      const s = await serve((_req, sock) => sock.write(xml([PROCESS, 'ünï'])), { unix });
      const c = client(s.url);
      assert.deepEqual(await c.call('supervisor.getProcessInfo', ['web', 3]), [PROCESS, 'ünï']);
      const req = s.requests[0]!;
      assert.deepEqual(req.body, encodeCall('supervisor.getProcessInfo', ['web', 3]));
      assert.match(req.head, new RegExp(`^POST /RPC2 HTTP/1.1\r\nHost: ${unix ? 'localhost' : `127.0.0.1:${s.port}`}\r\n`));
    });

    test('a fault rejects with XmlRpcFault and keeps the connection', async () => {
      const s = await serve(
        (req, sock) => sock.write(req.indexOnConnection === 0 ? httpResponse(200, 'OK', encodeFault(10, 'BAD_NAME: nope')) : xml('4.2.5')),
        { unix },
      );
      const c = client(s.url);
      const e = await rejects(c.call('supervisor.getProcessInfo', ['nope']), XmlRpcFault, 'ERR_XMLRPC_FAULT', 'fault 10: BAD_NAME: nope');
      assert.equal((e as XmlRpcFault).faultCode, 10);
      assert.equal((e as XmlRpcFault).faultString, 'BAD_NAME: nope');
      assert.equal(await c.call('supervisor.getSupervisorVersion'), '4.2.5');
      assert.equal(s.connections, 1);
    });

    test('multicall: results in order, failed items become XmlRpcFault in place', async () => {
      const answer: XmlRpcValue = [
        PROCESS,
        { faultCode: 10, faultString: 'BAD_NAME: ghost' },
        '4.2.5',
        { faultCode: 'not an int', faultString: 'x' },
        { faultCode: 1.5, faultString: 'x' },
        [1, 2],
      ];
      const s = await serve((_req, sock) => sock.write(xml(answer)), { unix });
      const c = client(s.url);
      const calls = [
        { methodName: 'supervisor.getProcessInfo', params: ['web'] },
        { methodName: 'supervisor.getProcessInfo', params: ['ghost'] },
        { methodName: 'supervisor.getSupervisorVersion' },
        { methodName: 'a' },
        { methodName: 'b' },
        { methodName: 'c', params: [] },
      ];
      const results = await c.multicall(calls);
      assert.deepEqual(s.requests[0]!.body, encodeCall('system.multicall', [calls.map((x) => ({ methodName: x.methodName, params: x.params ?? [] }))]));
      assert.equal(results.length, 6);
      assert.deepEqual(results[0], PROCESS);
      assert.ok(results[1] instanceof XmlRpcFault);
      assert.equal(results[1].faultCode, 10);
      assert.equal(results[1].faultString, 'BAD_NAME: ghost');
      assert.equal(results[1].code, 'ERR_XMLRPC_FAULT');
      assert.equal(results[1].message, 'fault 10: BAD_NAME: ghost');
      assert.equal(results[2], '4.2.5');
      assert.deepEqual(results[3], { faultCode: 'not an int', faultString: 'x' });
      assert.deepEqual(results[4], { faultCode: 1.5, faultString: 'x' });
      assert.deepEqual(results[5], [1, 2]);
    });

    test('a 401 that leaves the socket open: the call fails at once, the next call uses a new connection', async () => {
      const s = await serve(
        (req, sock) => {
          // Like medusa: answer 401 on the first connection and never again on it.
          if (req.connection === 0 && req.indexOnConnection === 0) sock.write(unauthorizedResponse());
          else if (req.connection > 0) sock.write(xml('ok'));
        },
        { unix },
      );
      const c = client(s.url, { timeoutMs: 1000 });
      const started = Date.now();
      const e = await rejects(c.call('supervisor.getState'), HttpStatusError, 'ERR_HTTP_STATUS', `${c.address.display} answered HTTP 401 Unauthorized`);
      assert.equal((e as HttpStatusError).status, 401);
      assert.equal((e as HttpStatusError).reason, 'Unauthorized');
      assert.ok(Date.now() - started < 500);
      assert.equal(await c.call('supervisor.getState'), 'ok');
      assert.equal(s.connections, 2);
    });
  });
}

describe('HTTP and content errors', () => {
  test('404 and 500 HTML pages are HttpStatusError, body not parsed', async () => {
    const answers = [html(404, 'Not Found'), html(500, 'Internal Server Error', 'not even < xml'), html(400, '')];
    const s = await serve((_req, sock) => sock.write(answers[s.requests.length - 1]!));
    const c = client(s.url);
    await rejects(c.call('x'), HttpStatusError, 'ERR_HTTP_STATUS', `${s.url} answered HTTP 404 Not Found`);
    await rejects(c.call('x'), HttpStatusError, 'ERR_HTTP_STATUS', `${s.url} answered HTTP 500 Internal Server Error`);
    await rejects(c.call('x'), HttpStatusError, 'ERR_HTTP_STATUS', `${s.url} answered HTTP 400`);
  });

  test('HTML with 200 is NotXmlRpcError with a hint', async () => {
    const s = await serve((_req, sock) => sock.write(html(200, 'OK', '<html>supervisor status</html>')));
    const root = `http://127.0.0.1:${s.port}/`;
    const e = await rejects(
      client(root).call('supervisor.getState'),
      NotXmlRpcError,
      'ERR_NOT_XMLRPC',
      `${root} answered 200 with text/html, not XML-RPC: the URL probably does not point at /RPC2`,
    );
    assert.equal((e as NotXmlRpcError).contentType, 'text/html');
    await rejects(
      client(s.url).call('supervisor.getState'),
      NotXmlRpcError,
      'ERR_NOT_XMLRPC',
      `${s.url} answered 200 with text/html, not XML-RPC: is this a supervisord XML-RPC endpoint?`,
    );
  });

  test('XML content types are accepted: text/xml with charset, application/xml, +xml, none', async () => {
    const types: Array<Record<string, string>> = [
      { 'Content-Type': 'text/xml; charset=utf-8' },
      { 'Content-Type': 'Application/XML' },
      { 'Content-Type': 'application/vnd.rpc+xml' },
      {},
    ];
    const s = await serve((_req, sock) => sock.write(httpResponse(200, 'OK', encodeResponse(7), types[s.requests.length - 1]!)));
    const c = client(s.url);
    for (let i = 0; i < types.length; i++) assert.equal(await c.call('x'), 7);
  });

  test('an unrequested content-encoding is refused', async () => {
    const s = await serve((_req, sock) => sock.write(httpResponse(200, 'OK', 'gzipped?', { 'Content-Type': 'text/xml', 'Content-Encoding': 'gzip' })));
    await rejects(client(s.url).call('x'), HttpParseError, 'ERR_HTTP_PARSE', `${s.url} answered with unrequested content-encoding "gzip"`);
  });

  test('content-encoding identity is fine', async () => {
    const s = await serve((_req, sock) => sock.write(httpResponse(200, 'OK', encodeResponse(1), { 'Content-Type': 'text/xml', 'Content-Encoding': 'identity' })));
    assert.equal(await client(s.url).call('x'), 1);
  });

  test('a decoder error mid-body rejects and drops the connection', async () => {
    const bad = Buffer.from("<?xml version='1.0'?>\n<!DOCTYPE boom [<!ENTITY a 'b'>]>\n<methodResponse/>");
    const s = await serve((req, sock) => sock.write(req.connection === 0 ? httpResponse(200, 'OK', bad) : xml('fine')));
    const c = client(s.url);
    await rejects(c.call('x'), XmlRpcParseError, 'ERR_XMLRPC_DOCTYPE', /at byte \d+$/);
    assert.equal(await c.call('x'), 'fine');
    assert.equal(s.connections, 2);
  });

  // Small reads are batched before the decoder sees them (http-client.ts,
  // BODY_BATCH_BYTES): when the transport fails after a malformed body, the
  // decode error found in the batch is still what the call reports.
  const doctype = "<?xml version='1.0'?>\n<!DOCTYPE boom [<!ENTITY a 'b'>]>\n<methodResponse>";
  const partial = `HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n${doctype}`;
  const endings: Array<[string, Responder, XmlRpcClientOptions?]> = [
    ['EOF', (_req, sock) => sock.end(partial)],
    ['a reset', (_req, sock) => {
      sock.write(partial);
      setTimeout(() => sock.resetAndDestroy(), 20);
    }],
    ['the deadline (server stalls)', (_req, sock) => sock.write(partial), { timeoutMs: 150 }],
    ['EOF ending a close-delimited body', (_req, sock) => sock.end(`HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n${doctype}`)],
  ];
  for (const [ending, respond, options] of endings) {
    test(`a malformed body followed by ${ending} reports the decode error`, async () => {
      const s = await serve(respond);
      const c = client(s.url, options);
      await rejects(c.call('x'), XmlRpcParseError, 'ERR_XMLRPC_DOCTYPE', /at byte \d+$/);
    });
  }

  test('a well-formed but truncated body followed by EOF is still a truncated response', async () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n';
    const body = "<?xml version='1.0'?>\n<methodResponse><params><param><value><string>ab";
    const s = await serve((_req, sock) => sock.end(head + body));
    const c = client(s.url);
    await rejects(
      c.call('x'),
      ConnectionClosedError,
      'ERR_CONNECTION_CLOSED',
      `connection to ${c.address.display} closed after ${head.length + body.length} bytes, before the response was complete (truncated response)`,
    );
  });

  test('maxDepth and maxBodyBytes reach the decoder and the HTTP layer', async () => {
    let deep: XmlRpcValue = 1;
    for (let i = 0; i < 10; i++) deep = [deep]; // about 3 levels each: over 10, under the default 64
    const s = await serve((_req, sock) => sock.write(xml(deep)));
    await rejects(client(s.url, { maxDepth: 10 }).call('x'), DepthLimitError, 'ERR_XMLRPC_DEPTH', /^nesting deeper than 10 levels at byte \d+$/);
    const size = encodeResponse(deep).length;
    await rejects(
      client(s.url, { maxBodyBytes: 100 }).call('x'),
      ProtocolError,
      'ERR_HTTP_BODY_TOO_LARGE',
      `response body from ${s.url} announces ${size} bytes, more than the limit of 100`,
    );
    assert.deepEqual(await client(s.url).call('x'), deep);
  });

  test('multicall: a non-array or wrong-length answer is XmlRpcResponseError', async () => {
    const answers: XmlRpcValue[] = ['oops', [1], { a: 1 }, null, new Uint8Array([1, 2]), new Date(0)];
    const s = await serve((_req, sock) => sock.write(xml(answers[s.requests.length - 1]!)));
    const c = client(s.url);
    const two = [{ methodName: 'a' }, { methodName: 'b' }];
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered a string, expected an array`);
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered 1 results for 2 calls`);
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered a struct, expected an array`);
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered nil, expected an array`);
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered base64 data, expected an array`);
    await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered a date, expected an array`);
  });

  test('multicall: an empty batch needs no round trip; bad requests are TypeErrors', async () => {
    const s = await serve((_req, sock) => sock.write(xml([])));
    const c = client(s.url);
    assert.deepEqual(await c.multicall([]), []);
    assert.equal(s.connections, 0);
    const bad: Array<[unknown, string]> = [
      ['nope', 'multicall expects an array of {methodName, params} objects'],
      [[null], 'calls[0] must be an object'],
      [[{ methodName: 'a' }, { methodName: '' }], 'calls[1].methodName must be a non-empty string'],
      [[{ methodName: 'a', params: 'x' }], 'calls[0].params must be an array'],
    ];
    for (const [calls, message] of bad) {
      await assert.rejects(c.multicall(calls as never), { name: 'TypeError', message });
    }
  });

  describe('multicall: a batch that cannot change is encoded once', () => {
    const body = (calls: ReadonlyArray<{ methodName: string; params?: readonly XmlRpcValue[] }>): Buffer =>
      encodeCall('system.multicall', [calls.map((x) => ({ methodName: x.methodName, params: [...(x.params ?? [])] }))]);
    const frozen = (names: string[]): Array<{ methodName: string; params: readonly XmlRpcValue[] }> =>
      Object.freeze(names.map((n) => Object.freeze({ methodName: 'supervisor.getProcessInfo', params: Object.freeze([n]) }))) as never;
    /** A frozen batch whose reads of its items are counted (a Proxy keeps the target's frozenness). */
    const counted = (calls: object[]): { calls: object[]; reads: () => number } => {
      let reads = 0;
      const proxy = new Proxy(calls, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
        getOwnPropertyDescriptor(target, key) {
          if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
          return Reflect.getOwnPropertyDescriptor(target, key);
        },
      });
      return { calls: proxy, reads: () => reads };
    };

    test('the same frozen batch: read once, the same bytes every time; another batch (other names): its own bytes', async () => {
      const s = await serve((req, sock) => sock.write(xml(req.body.includes('web2') ? [PROCESS, PROCESS] : [PROCESS])));
      const c = client(s.url);
      const batch = counted(frozen(['web']));
      await c.multicall(batch.calls as never);
      const first = batch.reads();
      assert.ok(first > 0);
      await c.multicall(batch.calls as never);
      await c.multicall(batch.calls as never);
      assert.equal(batch.reads(), first, 'not read again: its encoding was kept');
      const other = frozen(['web', 'web2']);
      assert.deepEqual(await c.multicall(other), [PROCESS, PROCESS]);
      assert.deepEqual(
        s.requests.map((r) => r.body),
        [body(frozen(['web'])), body(frozen(['web'])), body(frozen(['web'])), body(other)],
      );
    });

    test('a batch that can change is encoded every time: its current content is sent', async () => {
      const s = await serve((_req, sock) => sock.write(xml([PROCESS])));
      const c = client(s.url);
      const params = ['a'];
      const request = { methodName: 'supervisor.getProcessInfo', params };
      // [array not frozen, a call not frozen, params not frozen, a getter, an object param]
      const cases: Array<{ calls: readonly object[]; change: () => void; expect: () => readonly object[] }> = [];
      const loose = [Object.freeze({ ...request })];
      cases.push({ calls: loose, change: () => (loose[0] = Object.freeze({ methodName: 'x', params: ['b'] })), expect: () => loose });
      const open = { methodName: 'supervisor.getProcessInfo', params: Object.freeze(['a']) as readonly string[] };
      cases.push({ calls: Object.freeze([open]), change: () => (open.params = Object.freeze(['b'])), expect: () => [open] });
      const mutable = ['a'];
      cases.push({ calls: Object.freeze([Object.freeze({ methodName: 'm', params: mutable })]), change: () => (mutable[0] = 'b'), expect: () => [{ methodName: 'm', params: mutable }] });
      let name = 'g1';
      const getter = Object.freeze(Object.defineProperty({ params: Object.freeze([]) }, 'methodName', { get: () => name, enumerable: true }));
      cases.push({ calls: Object.freeze([getter]), change: () => (name = 'g2'), expect: () => [{ methodName: name }] });
      const struct = { k: 'a' };
      cases.push({ calls: Object.freeze([Object.freeze({ methodName: 's', params: Object.freeze([struct]) })]), change: () => (struct.k = 'b'), expect: () => [{ methodName: 's', params: [struct] }] });
      for (const [i, { calls, change, expect }] of cases.entries()) {
        await c.multicall(calls as never);
        change();
        await c.multicall(calls as never);
        assert.deepEqual(s.requests.at(-1)!.body, body(expect() as never), `case ${i}`);
        assert.notDeepEqual(s.requests.at(-2)!.body, s.requests.at(-1)!.body, `case ${i}`);
      }
    });

    test('a kept encoding is still checked: options, the answer length, faults', async () => {
      const s = await serve((_req, sock) => sock.write(xml([{ faultCode: 10, faultString: 'BAD_NAME: web' }])));
      const c = client(s.url);
      const batch = frozen(['web']);
      const [fault] = await c.multicall(batch);
      assert.ok(fault instanceof XmlRpcFault && fault.faultCode === 10);
      await assert.rejects(c.multicall(batch, { retry: true } as never), { name: 'TypeError', message: 'unknown call option "retry"' });
      const [again] = await c.multicall(batch, { idempotent: true });
      assert.ok(again instanceof XmlRpcFault);
      const two = frozen(['web', 'web2']);
      await c.multicall(two).catch(() => undefined);
      await rejects(c.multicall(two), XmlRpcResponseError, 'ERR_XMLRPC_RESPONSE', `system.multicall on ${s.url} answered 1 results for 2 calls`);
    });
  });

  test('unencodable params reject with XmlRpcEncodeError before any request', async () => {
    const s = await serve((_req, sock) => sock.write(xml(1)));
    const c = client(s.url);
    await rejects(c.call('x', [Number.NaN]), XmlRpcEncodeError, 'ERR_XMLRPC_ENCODE', /params\[0\]/);
    assert.equal(s.connections, 0);
  });

  test('close() rejects a pending call with ClientClosedError', async () => {
    const s = await serve(() => {});
    const c = client(s.url);
    const p = c.call('x');
    await new Promise((r) => setTimeout(r, 20));
    const rejected = rejects(p, ClientClosedError, 'ERR_CLIENT_CLOSED', `client for ${s.url} closed while the call was pending`);
    await c.close();
    await rejected;
    await rejects(c.call('x'), ClientClosedError, 'ERR_CLIENT_CLOSED', `client for ${s.url} is closed`);
  });

  test('https with a CA option', async () => {
    const s = await serve((_req, sock) => sock.write(xml('tls')), { tls: true });
    assert.equal(await client(s.url, { tls: { ca: TEST_TLS_CERT, servername: 'localhost' } }).call('x'), 'tls');
  });

  test('an Address object is accepted as is', async () => {
    const s = await serve((_req, sock) => sock.write(xml(5)));
    const c = client(tcpAddress('127.0.0.1', s.port));
    assert.equal(c.address.display, s.url);
    assert.equal(await c.call('x'), 5);
  });
});

describe('credentials', () => {
  const SENTINEL = 'Pa55-SENTINEL-Zq';
  const b64 = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');

  test('userinfo from the URL is used; options override it; one of the two alone sends nothing', async () => {
    const s = await serve((_req, sock) => sock.write(xml(true)));
    const base = `127.0.0.1:${s.port}/RPC2`;
    await client(`http://alice:${encodeURIComponent('s3 cr@t')}@${base}`).call('x');
    await client(`http://alice:url@${base}`, { username: 'bob', password: 'opt' }).call('x');
    await client(`http://alice:url@${base}`, { username: 'bob' }).call('x');
    await client(`http://${base}`, { password: 'lonely' }).call('x');
    const auth = s.requests.map((r) => /\r\nAuthorization: Basic (\S+)/.exec(r.head)?.[1]);
    assert.deepEqual(auth, [b64('alice', 's3 cr@t'), b64('bob', 'opt'), undefined, undefined]);
  });

  test('no error, error property or inspected client shows the password', async () => {
    const errors: unknown[] = [];
    const catchIt = async (p: Promise<unknown>): Promise<void> => {
      try {
        await p;
        assert.fail('expected a rejection');
      } catch (e) {
        errors.push(e);
      }
    };
    const catchSync = (fn: () => unknown): void => {
      try {
        fn();
        assert.fail('expected a throw');
      } catch (e) {
        errors.push(e);
      }
    };
    const s = await serve((req, sock) => {
      const kind = req.body.toString().match(/<methodName>(\w+)<\/methodName>/)?.[1];
      if (kind === 'auth') sock.write(unauthorizedResponse());
      else if (kind === 'html') sock.write(html(200, 'OK'));
      else if (kind === 'fault') sock.write(httpResponse(200, 'OK', encodeFault(2, 'INCORRECT_PARAMETERS')));
      else if (kind === 'truncated') sock.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<?xml version='1.0'?>\n<methodRes");
      else if (kind === 'garbage') sock.write('NOPE\r\n\r\n');
      // 'hang': no answer
    });
    const url = `http://admin:${SENTINEL}@127.0.0.1:${s.port}/RPC2`;
    const c = client(url, { timeoutMs: 150 });
    for (const m of ['auth', 'html', 'fault', 'truncated', 'garbage', 'hang']) await catchIt(c.call(m));
    const gone = await startServer(() => {});
    await gone.close();
    await catchIt(client(`http://admin:${SENTINEL}@127.0.0.1:${gone.port}/RPC2`).call('x'));
    await catchIt(client(`http://admin:${SENTINEL}@127.0.0.1:${s.port}/`).call('html'));
    catchSync(() => new XmlRpcClient(`http://admin:${SENTINEL}@127.0.0.1:99999/RPC2`));
    catchSync(() => new XmlRpcClient(`http://admin:${SENTINEL}%0A@127.0.0.1:1/RPC2`));
    catchSync(() => new XmlRpcClient('http://127.0.0.1:1/RPC2', { username: 'u', password: `${SENTINEL}\r\n` }));
    catchSync(() => new XmlRpcClient(`ftp://admin:${SENTINEL}@h`));
    const classes = errors.map((e) => (e as Error).constructor.name);
    assert.deepEqual(classes, [
      'HttpStatusError',
      'NotXmlRpcError',
      'XmlRpcFault',
      'ConnectionClosedError',
      'HttpParseError',
      'TimeoutError',
      'ConnectError',
      'NotXmlRpcError',
      'AddressError',
      'AddressError',
      'AddressError',
      'AddressError',
    ]);
    const secrets = [SENTINEL, b64('admin', SENTINEL), encodeURIComponent(SENTINEL)];
    for (const e of errors) {
      const err = e as Error;
      const dump = [
        JSON.stringify(err, Object.getOwnPropertyNames(err)),
        inspect(err, { depth: 10, showHidden: true }),
        String(err.stack),
      ].join('\n');
      for (const secret of secrets) assert.ok(!dump.includes(secret), `${err.constructor.name} leaks the password: ${dump}`);
    }
    const dumpClient = inspect(c, { depth: 10, showHidden: true }) + JSON.stringify(c);
    for (const secret of secrets) assert.ok(!dumpClient.includes(secret), 'the client leaks the password');
    // the errors name the address without credentials
    assert.equal((errors[0] as HttpStatusError).address, `http://127.0.0.1:${s.port}/RPC2`);
    assert.ok(errors[5] instanceof TimeoutError);
    assert.ok(errors[3] instanceof ConnectionClosedError);
    assert.ok(errors[6] instanceof ConnectError);
    assert.ok(errors[8] instanceof AddressError);
  });
});

describe('retry on a stale kept-alive connection: idempotent calls only', () => {
  const START = { methodName: 'supervisor.startProcess', params: ['web'] };
  // The second request on the first connection is reset before any answer
  // byte (a restarted server); every other request is answered.
  async function staleServer(unix: boolean): Promise<RawServer> {
    return serve(
      (req, sock) => {
        if (req.connection === 0 && req.indexOnConnection === 1) {
          if (unix) sock.destroy(); // no RST on a unix socket: EOF
          else sock.resetAndDestroy();
        } else {
          sock.write(xml(req.body.includes('system.multicall') ? ['started'] : 'started'));
        }
      },
      { unix },
    );
  }
  type Send = (c: XmlRpcClient, options?: CallOptions) => Promise<unknown>;
  const call: Send = (c, options) => c.call(START.methodName, START.params, options);
  const multicall: Send = (c, options) => c.multicall([START], options);
  const cases: Array<{ name: string; client?: XmlRpcClientOptions; options?: CallOptions; send: Send; retried: boolean }> = [
    { name: 'a call with no options is sent once', send: call, retried: false },
    { name: 'a call with idempotent: false is sent once', options: { idempotent: false }, send: call, retried: false },
    { name: 'a call marked idempotent is retried once', options: { idempotent: true }, send: call, retried: true },
    { name: 'a call of an idempotent client is retried once', client: { idempotent: true }, send: call, retried: true },
    {
      name: 'idempotent: false on the call overrides the client option',
      client: { idempotent: true },
      options: { idempotent: false },
      send: call,
      retried: false,
    },
    {
      name: 'idempotent: true on the call overrides the client option',
      client: { idempotent: false },
      options: { idempotent: true },
      send: call,
      retried: true,
    },
    { name: 'idempotent: undefined on the call takes the client option', client: { idempotent: true }, options: { idempotent: undefined }, send: call, retried: true },
    { name: 'a multicall with no options is sent once', send: multicall, retried: false },
    { name: 'a multicall marked idempotent is retried once', options: { idempotent: true }, send: multicall, retried: true },
  ];
  for (const unix of [false, true]) {
    for (const { name, client: clientOptions, options, send, retried } of cases) {
      test(`${name} (${unix ? 'unix socket' : 'tcp'})`, async () => {
        const s = await staleServer(unix);
        const c = client(s.url, clientOptions);
        assert.equal(await c.call('supervisor.getState'), 'started'); // opens the connection the next call reuses
        const sent = send(c, options);
        if (retried) {
          await sent;
          assert.equal(s.connections, 2);
        } else {
          const message = unix
            ? `connection to ${c.address.display} closed before any response byte`
            : `connection to ${c.address.display} failed with ECONNRESET before any response byte`;
          const e = await rejects(sent, ConnectionClosedError, 'ERR_CONNECTION_CLOSED', message);
          assert.equal((e as ConnectionClosedError).beforeResponse, true);
          assert.equal(s.connections, 1, 'no connection was opened for a retry');
        }
        const state = s.requests.filter((r) => r.body.includes(START.methodName));
        assert.equal(state.length, retried ? 2 : 1, 'times the state-changing call reached the server');
      });
    }
  }

  test('call options are validated', async () => {
    const s = await serve((_req, sock) => sock.write(xml('ok')));
    const c = client(s.url);
    const bad: Array<[unknown, string]> = [
      ['yes', 'call options must be an object'],
      [null, 'call options must be an object'],
      [[], 'call options must be an object'],
      [{ idempotent: 1 }, 'call option "idempotent" must be a boolean'],
      [{ idempotent: true, retry: true }, 'unknown call option "retry"'],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(c.call('supervisor.getState', [], options as CallOptions), { name: 'TypeError', message });
      await assert.rejects(c.multicall([{ methodName: 'supervisor.getState' }], options as CallOptions), { name: 'TypeError', message });
    }
    assert.equal(s.connections, 0, 'nothing was sent');
  });
});

describe('options validation', () => {
  const cases: Array<[unknown, string, string]> = [
    [{ bogus: 1 }, 'TypeError', 'unknown option "bogus"'],
    [{ timeoutMs: '5' }, 'TypeError', 'options.timeoutMs must be a number'],
    [{ timeoutMs: 0 }, 'RangeError', 'options.timeoutMs must be an integer in 1-2147483647, got 0'],
    [{ connectTimeoutMs: 1.5 }, 'RangeError', 'options.connectTimeoutMs must be an integer in 1-2147483647, got 1.5'],
    [{ idleTimeoutMs: 2 ** 31 }, 'RangeError', 'options.idleTimeoutMs must be an integer in 1-2147483647, got 2147483648'],
    [{ maxHeaderBytes: 10 }, 'RangeError', 'options.maxHeaderBytes must be an integer in 64-1073741824, got 10'],
    [{ maxBodyBytes: -1 }, 'RangeError', 'options.maxBodyBytes must be an integer in 1-9007199254740991, got -1'],
    [{ maxDepth: Number.NaN }, 'RangeError', 'options.maxDepth must be an integer in 1-10000, got NaN'],
    [{ username: 5 }, 'TypeError', 'options.username must be a string'],
    [{ password: null }, 'TypeError', 'options.password must be a string'],
    [{ username: 'a:b' }, 'AddressError', 'username contains a colon, which HTTP Basic authentication cannot carry'],
    [{ tls: {} }, 'TypeError', 'options.tls is only used with https:// addresses, not http://127.0.0.1:9001/RPC2'],
    [{ idempotent: 'yes' }, 'TypeError', 'options.idempotent must be a boolean'],
    [null, 'TypeError', 'options must be an object'],
    [[], 'TypeError', 'options must be an object'],
  ];
  for (const [opts, name, message] of cases) {
    test(`refuses ${inspect(opts)}`, () => {
      assert.throws(() => new XmlRpcClient('http://127.0.0.1:9001', opts as XmlRpcClientOptions), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.name, name);
        assert.equal(e.message, message);
        return true;
      });
    });
  }

  const tlsCases: Array<[unknown, string]> = [
    ['x', 'options.tls must be an object'],
    [{ nope: 1 }, 'unknown option "tls.nope"'],
    [{ ca: 5 }, 'options.tls.ca must be a string, a Buffer or an array of them'],
    [{ ca: ['ok', 5] }, 'options.tls.ca must be a string, a Buffer or an array of them'],
    [{ cert: 5 }, 'options.tls.cert must be a string or a Buffer'],
    [{ key: {} }, 'options.tls.key must be a string or a Buffer'],
    [{ rejectUnauthorized: 'no' }, 'options.tls.rejectUnauthorized must be a boolean'],
    [{ servername: '' }, 'options.tls.servername must be a non-empty string'],
  ];
  for (const [tls, message] of tlsCases) {
    test(`refuses tls ${inspect(tls)}`, () => {
      assert.throws(() => new XmlRpcClient('https://h', { tls } as XmlRpcClientOptions), { name: 'TypeError', message });
    });
  }

  test('accepts valid options, undefined values count as absent', async () => {
    const c = new XmlRpcClient('https://h', {
      username: 'u',
      password: undefined,
      connectTimeoutMs: 1,
      timeoutMs: 2 ** 31 - 1,
      idleTimeoutMs: 5,
      maxHeaderBytes: 64,
      maxBodyBytes: 1,
      maxDepth: 10_000,
      idempotent: true,
      tls: { ca: [Buffer.from('x'), 'y'], cert: 'c', key: Buffer.from('k'), rejectUnauthorized: false, servername: 'h' },
    } as XmlRpcClientOptions);
    assert.equal(c.address.display, 'https://h:443/RPC2');
    await c.close();
  });

  test('refuses an address that is neither a string nor an Address', () => {
    assert.throws(() => new XmlRpcClient(42 as never), { name: 'TypeError', message: 'address must be a string or an Address object' });
    assert.throws(() => new XmlRpcClient({ kind: 'tcp', host: 'h' } as never), { name: 'TypeError' });
    assert.throws(() => new XmlRpcClient('nope://x'), AddressError);
  });
});

// ---------------------------------------------------------------------------
// Reused read buffer (regression guard for the `onread` transport)
// ---------------------------------------------------------------------------

/** xorshift32: deterministic, reproducible from the printed seed. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
}

/**
 * A listing shaped like getAllProcessInfo, with what cuts badly: multi-byte
 * UTF-8 (2, 3 and 4 bytes), entities, long strings (longer than the
 * decoder's 256-byte join window), base64, dates, doubles and nesting.
 */
function listing(count: number): XmlRpcValue {
  const out: XmlRpcValue[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      name: `prog_${i}`,
      group: i % 3 === 0 ? 'café & <co>' : `grp_${i % 7}`,
      description: `pid ${1000 + i}, uptime 0:0${i % 10}:00 — 日本語 🚀 "q" 'a'`,
      stdout_logfile: `/var/log/supervisor/prog_${i}-stdout---supervisor-${'x'.repeat(i % 5 === 0 ? 300 : 8)}.log`,
      state: 20,
      pid: 1000 + i,
      exitstatus: (i % 5) - 2,
      ratio: i / 7,
      ok: i % 2 === 0,
      blob: new Uint8Array(Buffer.from(`bytes ${i} \u0000\u00ff`, 'latin1')),
      when: new Date(Date.UTC(2025, 10, 25, 15, i % 60, 0)),
      nested: [[i, `n${i}`], {}],
    });
  }
  return out;
}

/**
 * Writes `bytes` in seeded random pieces (1 B to 32 KiB, log-uniform: reads
 * below and above the client's 16 KiB direct-to-decoder size), one per turn
 * of the event loop.
 */
function dribble(sock: net.Socket, bytes: Buffer, rand: (n: number) => number): void {
  sock.setNoDelay?.(true);
  let at = 0;
  const next = (): void => {
    if (sock.destroyed || at >= bytes.length) return;
    const n = 1 + rand(1 << (1 + rand(15)));
    sock.write(bytes.subarray(at, at + n));
    at += n;
    // Mostly setImmediate (the client reads between two writes); now and
    // then a timer, so the bytes of several writes pile up into one read.
    if (rand(8) === 0) setTimeout(next, 1);
    else setImmediate(next);
  };
  next();
}

describe('reads into one reused buffer', () => {
  test('the decoder copies what it carries: a write buffer clobbered after each write decodes intact', () => {
    const doc = encodeResponse(listing(4));
    const expected = decodeResponse(doc);
    const shared = Buffer.alloc(doc.length);
    const decodeThrough = (cuts: readonly number[]): XmlRpcValue => {
      const decoder = new XmlRpcDecoder();
      let from = 0;
      for (const to of [...cuts, doc.length]) {
        shared.set(doc.subarray(from, to));
        decoder.write(shared.subarray(0, to - from));
        shared.fill(0x3c); // '<': a stale view of a cut token becomes a different tag or an error
        from = to;
      }
      return decoder.end();
    };
    for (let i = 1; i < doc.length; i++) assert.deepEqual(decodeThrough([i]), expected, `split at ${i}`);
    const seed = Number(process.env['TEST_SEED'] ?? 20251126);
    const rand = prng(seed);
    for (let round = 0; round < 40; round++) {
      const cuts: number[] = [];
      for (let at = 1 + rand(300); at < doc.length; at += 1 + rand(round % 2 === 0 ? 16 : 700)) cuts.push(at);
      assert.deepEqual(decodeThrough(cuts), expected, `seed ${seed} round ${round}`);
    }
  });

  const transports: Array<[string, RawServerOptions, XmlRpcClientOptions]> = [
    ['tcp', {}, {}],
    ['a unix socket', { unix: true }, {}],
    ['tls', { tls: true }, { tls: { ca: TEST_TLS_CERT } }],
  ];
  for (const [name, serverOptions, clientOptions] of transports) {
    test(`over ${name}: answers dribbled in many small writes decode intact, call after call`, async () => {
      const seed = Number(process.env['TEST_SEED'] ?? 20251127);
      const rand = prng(seed);
      // 260 KB and 120 KB listings: several 64 KiB body batches each, so the
      // decoder carries cut tokens out of a batch buffer that is then reused.
      const answers = [listing(200), listing(3), 'ünï 🚀 &amp;', listing(90)];
      const bytes = answers.map((v) => xml(v));
      const s = await serve((req, sock) => dribble(sock, bytes[req.indexOnConnection]!, rand), serverOptions);
      const c = client(s.url, clientOptions);
      for (let i = 0; i < answers.length; i++) {
        assert.deepEqual(await c.call('supervisor.getAllProcessInfo'), answers[i], `seed ${seed} answer ${i}`);
      }
      assert.equal(s.connections, 1);
    });
  }
});
