/**
 * Security checks (issue 7, item 4), across the layers:
 *
 * 1. no DOCTYPE or entity is ever processed (billion laughs, external and
 *    parameter entities): refused at the declaration, fast;
 * 2. nesting depth and document size are bounded (100,000 levels: a
 *    DepthLimitError, no stack overflow);
 * 3. structs are prototype-safe: `__proto__`, `constructor`, `prototype`
 *    members are own data properties and nothing reaches Object.prototype;
 * 4. header injection through the username, password, host or path is
 *    refused, without echoing the value;
 * 5. the password (plain, in Basic auth's base64, or a piece of that) appears
 *    in no result, log line, error or inspected object, whatever the server
 *    sends back: nothing listening, wrong password, HTML, servers echoing the
 *    request headers in a status line, a body, a fault or a bad value;
 * 6. a 1 GB `Content-Length` is refused when the headers arrive, not after
 *    the deadline;
 * 7. a password written as a plain number in a config file is sent as
 *    written (digits) or refused with its position, never rewritten
 *    (`1e5` was sent as `100000`): the exact Authorization header;
 * 8. a `/probe` socket allow-list admits only a socket its directory's owner
 *    could have put there: a symbolic link to another process's socket, a
 *    hard link, a socket of another user, a directory others can write are
 *    refused before anything connects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';

import { SupervisordCheck } from '../lib/check.js';
import { AllowList } from '../lib/cli/probe.js';
import { socketProblem } from '../lib/cli/socket-guard.js';
import { makeProcess, SupervisordEmulator } from '../lib/emulator/index.js';
import { ConfigError } from '../lib/errors.js';
import { parseAddress, tcpAddress, unixAddress } from '../protocol/address.js';
import {
  AddressError,
  BodySizeError,
  DepthLimitError,
  DocumentSizeError,
  ProtocolError,
  XmlRpcDoctypeError,
  XmlRpcFault,
  XmlRpcParseError,
} from '../protocol/errors.js';
import type { XmlRpcStruct, XmlRpcValue } from '../protocol/types.js';
import { XmlRpcClient } from '../protocol/xmlrpc-client.js';
import { XmlRpcDecoder, decodeResponse } from '../protocol/xmlrpc-decoder.js';
import { runCli as cli } from './helpers/cli-run.js';
import { httpResponse, startServer } from './helpers/raw-server.js';
import type { RawServer } from './helpers/raw-server.js';

const HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
const TAIL = '</param>\n</params>\n</methodResponse>\n';
const response = (value: string): Buffer => Buffer.from(HEAD + value + TAIL, 'utf8');

type Outcome = { ok: true; value: XmlRpcValue } | { ok: false; error: unknown };

/** Decodes whole, or in `chunk`-byte pieces. */
function decode(doc: Uint8Array, chunk = 0, options?: { maxDepth?: number; maxBytes?: number }): Outcome {
  try {
    if (chunk === 0) return { ok: true, value: decodeResponse(doc, options) };
    const d = new XmlRpcDecoder(options);
    for (let i = 0; i < doc.length; i += chunk) d.write(doc.subarray(i, i + chunk));
    return { ok: true, value: d.end() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name} ${(e as ProtocolError).code} ${e.message}` : String(e);
}

/** Asserts an outcome is an error of exactly `type`, with `code` and `message`. */
function assertError(outcome: Outcome, type: abstract new (...args: never[]) => Error, code: string, message: string): void {
  assert.ok(!outcome.ok, 'expected an error, got a value');
  const e = outcome.error;
  assert.equal((e as Error).constructor, type, describeError(e));
  assert.equal((e as ProtocolError).code, code);
  assert.equal((e as Error).message, message);
}

// ---------------------------------------------------------------------------
// 1. DOCTYPE and entities
// ---------------------------------------------------------------------------

const LAUGHS =
  '<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
  Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">\n`).join('') +
  ']>\n';

describe('no DOCTYPE or entity is ever processed', () => {
  const cases: { name: string; doc: string; marker: string }[] = [
    { name: 'billion laughs', doc: `<?xml version="1.0"?>\n${LAUGHS}<methodResponse><params><param><value><string>&lol9;</string></value></param></params></methodResponse>`, marker: '<!DOCTYPE' },
    {
      name: 'external entity (file:///etc/passwd)',
      doc: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodResponse><params><param><value>&xxe;</value></param></params></methodResponse>`,
      marker: '<!DOCTYPE',
    },
    {
      name: 'external DTD',
      doc: `<?xml version="1.0"?><!DOCTYPE methodResponse SYSTEM "http://127.0.0.1:1/evil.dtd"><methodResponse><params><param><value>x</value></param></params></methodResponse>`,
      marker: '<!DOCTYPE',
    },
    {
      name: 'parameter entities',
      doc: `<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p; <!ENTITY % q "<!ENTITY r 'x'>"> %q;]><methodResponse/>`,
      marker: '<!DOCTYPE',
    },
    { name: 'an ENTITY declaration without DOCTYPE', doc: `<!ENTITY x "y"><methodResponse/>`, marker: '<!ENTITY' },
    { name: 'lower-case doctype', doc: `<!doctype x><methodResponse/>`, marker: '<!doctype' },
    {
      name: 'a DOCTYPE inside the document',
      doc: HEAD + `<value><!DOCTYPE x [<!ENTITY a "b">]><string>&a;</string></value>` + TAIL,
      marker: '<!DOCTYPE',
    },
  ];
  for (const c of cases) {
    test(`${c.name}: XmlRpcDoctypeError at the declaration, whole and byte by byte, fast`, () => {
      const doc = Buffer.from(c.doc, 'utf8');
      const offset = doc.indexOf(c.marker);
      const started = performance.now();
      for (const chunk of [0, 1, 7]) {
        assertError(decode(doc, chunk), XmlRpcDoctypeError, 'ERR_XMLRPC_DOCTYPE', `document type or markup declaration not allowed at byte ${offset}`);
      }
      assert.ok(performance.now() - started < 100, 'refusing took too long');
    });
  }

  test('an undeclared entity is an error, never looked up', () => {
    const doc = response('<value><string>&xxe;</string></value>');
    assertError(decode(doc), XmlRpcParseError, 'ERR_XMLRPC_SYNTAX', `unknown entity "&xxe;" at byte ${doc.indexOf('&xxe;')}`);
  });

  test('a server answering billion laughs: the call fails with XmlRpcDoctypeError at once', async () => {
    const body = `<?xml version="1.0"?>\n${LAUGHS}<methodResponse><params><param><value>&lol9;</value></param></params></methodResponse>`;
    const server = await startServer((_req, socket) => socket.write(httpResponse(200, 'OK', body)));
    const client = new XmlRpcClient(server.url, { timeoutMs: 5000 });
    try {
      const started = performance.now();
      await assert.rejects(client.call('supervisor.getState'), (e: unknown) => {
        assert.ok(e instanceof XmlRpcDoctypeError, describeError(e));
        assert.equal(e.code, 'ERR_XMLRPC_DOCTYPE');
        return true;
      });
      assert.ok(performance.now() - started < 1000);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 2. Depth and size
// ---------------------------------------------------------------------------

describe('nesting depth and document size are bounded', () => {
  const DEEP = 100_000;
  const deepArray = (levels: number, closed: boolean): Buffer =>
    Buffer.from(
      HEAD + '<value><array><data>'.repeat(levels) + (closed ? '<value><int>1</int></value>' + '</data></array></value>'.repeat(levels) : '') + (closed ? TAIL : ''),
      'latin1',
    );

  test('100,000 nested arrays: DepthLimitError at the default 64 levels, whole and chunked, no stack overflow', () => {
    const doc = deepArray(DEEP, false);
    // methodResponse, params, param = 3 levels; each <value><array><data> adds 3: the 64th element is the
    // <array> of the 21st level (3 + 20 * 3 = 63, then <value> = 64, <array> = 65).
    const offset = HEAD.length + 20 * '<value><array><data>'.length + '<value>'.length;
    for (const chunk of [0, 1, 4096]) {
      const outcome = decode(doc, chunk);
      assertError(outcome, DepthLimitError, 'ERR_XMLRPC_DEPTH', `nesting deeper than 64 levels at byte ${offset}`);
      assert.equal((outcome as { error: DepthLimitError }).error.limit, 64);
    }
  });

  test('100,000 nested structs: DepthLimitError too', () => {
    const doc = Buffer.from(HEAD + '<value><struct><member><name>a</name>'.repeat(DEEP), 'latin1');
    const outcome = decode(doc);
    assert.ok(!outcome.ok && outcome.error instanceof DepthLimitError, outcome.ok ? 'decoded' : describeError(outcome.error));
  });

  test('a valid 100,000-deep document decodes with a high maxDepth: the decoder keeps no JavaScript stack', () => {
    const outcome = decode(deepArray(DEEP, true), 0, { maxDepth: 3 * DEEP + 10 });
    assert.ok(outcome.ok, outcome.ok ? '' : describeError(outcome.error));
    let v: XmlRpcValue = outcome.value;
    let depth = 0;
    while (Array.isArray(v)) {
      assert.equal(v.length, 1);
      v = v[0]!;
      depth++;
    }
    assert.equal(depth, DEEP);
    assert.equal(v, 1);
  });

  test('the client refuses depth beyond its maxDepth (10,000 at most)', async () => {
    const server = await startServer((_req, socket) => socket.write(httpResponse(200, 'OK', deepArray(DEEP, true))));
    const client = new XmlRpcClient(server.url, { maxDepth: 10_000, timeoutMs: 5000 });
    try {
      await assert.rejects(client.call('x'), (e: unknown) => e instanceof DepthLimitError && e.limit === 10_000);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('DocumentSizeError: the write that crosses maxBytes throws, whole and chunked', () => {
    const doc = response(`<value><string>${'x'.repeat(2000)}</string></value>`);
    for (const chunk of [0, 100, 1024]) {
      const outcome = decode(doc, chunk, { maxBytes: 1024 });
      assertError(outcome, DocumentSizeError, 'ERR_XMLRPC_TOO_LARGE', 'document larger than 1024 bytes');
      assert.equal((outcome as { error: DocumentSizeError }).error.limit, 1024);
    }
    const d = new XmlRpcDecoder({ maxBytes: 1024 });
    d.write(doc.subarray(0, 1024)); // exactly the limit is fine
    assert.equal(d.bytesWritten, 1024);
    assert.throws(() => d.write(doc.subarray(1024, 1025)), DocumentSizeError);
  });

  test('a streamed (chunked) body larger than maxBodyBytes is cut off with BodySizeError', async () => {
    const server = await startServer((_req, socket) => {
      const piece = 'x'.repeat(4000);
      let body = `HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n`;
      body += `${(HEAD + '<value><string>').length.toString(16)}\r\n${HEAD}<value><string>\r\n`;
      for (let i = 0; i < 5; i++) body += `${piece.length.toString(16)}\r\n${piece}\r\n`;
      socket.write(body);
    });
    const client = new XmlRpcClient(server.url, { maxBodyBytes: 10_000, timeoutMs: 5000 });
    try {
      await assert.rejects(client.call('x'), (e: unknown) => {
        assert.ok(e instanceof BodySizeError, describeError(e));
        assert.equal(e.message, `response body from ${client.address.display} larger than 10000 bytes`);
        return true;
      });
    } finally {
      await client.close();
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 3. Prototype-safe structs
// ---------------------------------------------------------------------------

describe('structs are prototype-safe', () => {
  const DANGEROUS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf'];
  const polluting = '<value><struct><member><name>polluted</name><value><string>yes</string></value></member></struct></value>';
  /** Python's exact shape (the decoder's fast path). */
  const pythonShape = (name: string): string => `<member>\n<name>${name}</name>\n${polluting}\n</member>\n`;
  /** Another producer's shape (the general path): spaces, a comment, untyped values. */
  const otherShape = (name: string): string => `<member> <!-- c --> <name>${name}</name> ${polluting} </member>`;
  /** A plain string value (the fast path's string case). */
  const stringShape = (name: string): string => `<member>\n<name>${name}</name>\n<value><string>polluted</string></value>\n</member>\n`;

  let snapshot: string;
  const prototypeSnapshot = (): string =>
    JSON.stringify(
      Reflect.ownKeys(Object.prototype).map((k) => {
        const d = Object.getOwnPropertyDescriptor(Object.prototype, k)!;
        return [String(k), typeof d.value, typeof d.get, typeof d.set, d.enumerable, d.writable];
      }),
    );
  before(() => {
    snapshot = prototypeSnapshot();
  });

  const shapes: [string, (name: string) => string][] = [
    ['python shape', pythonShape],
    ['other shape', otherShape],
    ['string values', stringShape],
  ];
  for (const [label, shape] of shapes) {
    test(`${label}: dangerous member names are own data properties; Object.prototype untouched`, () => {
      const doc = response(`<value><array><data>\n<value><struct>\n${DANGEROUS.map(shape).join('')}</struct></value>\n</data></array></value>\n`);
      for (const chunk of [0, 1, 13]) {
        const outcome = decode(doc, chunk);
        assert.ok(outcome.ok, outcome.ok ? '' : describeError(outcome.error));
        const s = (outcome.value as XmlRpcValue[])[0] as XmlRpcStruct;
        assert.equal(Object.getPrototypeOf(s), Object.prototype);
        assert.deepEqual(Object.keys(s), DANGEROUS);
        for (const name of DANGEROUS) {
          const d = Object.getOwnPropertyDescriptor(s, name);
          assert.ok(d !== undefined && 'value' in d && d.enumerable && d.writable, `${name} is not an own data property`);
        }
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
        assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
        assert.equal(typeof {}.toString, 'function');
      }
      assert.equal(prototypeSnapshot(), snapshot);
    });
  }

  test('a fault whose code and string sit under __proto__ is not a fault', () => {
    const doc = Buffer.from(
      "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n" +
        pythonShape('__proto__').replace(polluting, '<value><struct><member><name>faultCode</name><value><int>6</int></value></member><member><name>faultString</name><value><string>SHUTDOWN_STATE</string></value></member></struct></value>') +
        '</struct></value>\n</fault>\n</methodResponse>\n',
      'utf8',
    );
    const outcome = decode(doc);
    assert.ok(!outcome.ok && !(outcome.error instanceof XmlRpcFault) && outcome.error instanceof XmlRpcParseError, outcome.ok ? 'decoded' : describeError(outcome.error));
    assert.match((outcome.error as Error).message, /^<fault> value is not a struct with an int faultCode and a string faultString at byte \d+$/);
  });

  test('the check runs over hostile member names without polluting anything', async () => {
    const processes =
      '<value><array><data>\n<value><struct>\n' +
      pythonShape('__proto__') +
      pythonShape('constructor') +
      stringShape('prototype') +
      '<member>\n<name>name</name>\n<value><string>web</string></value>\n</member>\n' +
      '</struct></value>\n</data></array></value>\n';
    const answers: Record<string, Buffer> = {
      'supervisor.getAllProcessInfo': response(processes),
      'supervisor.getSupervisorVersion': response('<value><string>4.2.5</string></value>'),
    };
    const client = {
      call: async (method: string): Promise<unknown> => {
        const answer = answers[method];
        if (answer === undefined) throw new XmlRpcFault(1, 'UNKNOWN_METHOD');
        return decodeResponse(answer);
      },
      close: async (): Promise<void> => {},
    };
    const check = new SupervisordCheck({ name: 'proto', host: '127.0.0.1', port: 1 }, { client });
    const result = await check.run();
    await check.close();
    assert.ok(result.serviceChecks.length > 0 || result.errors.length > 0);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(prototypeSnapshot(), snapshot);
  });
});

// ---------------------------------------------------------------------------
// 4. Header injection
// ---------------------------------------------------------------------------

describe('header injection is refused', () => {
  const INJECTED = 'X-Injected: 1';
  const bad = [`ops\r\n${INJECTED}`, `ops\n${INJECTED}`, `ops\r${INJECTED}`, `ops\u0000${INJECTED}`];

  /** The message must not carry the value raw (a log line could be forged), nor the credential at all. */
  function assertSafeMessage(e: unknown, value: string, secret: boolean): void {
    const message = (e as Error).message;
    assert.ok(!message.includes(value), `message contains the value: ${message}`);
    assert.ok(!/[\r\n\u0000]/.test(message), `message contains a raw control character: ${JSON.stringify(message)}`);
    if (secret) assert.ok(!message.includes(INJECTED) && !message.includes('ops'), `message echoes the credential: ${message}`);
  }

  for (const value of bad) {
    const shown = JSON.stringify(value);
    test(`XmlRpcClient username/password ${shown}: AddressError naming the field only`, () => {
      for (const field of ['username', 'password'] as const) {
        const options = { username: 'u', password: 'p', [field]: value };
        assert.throws(
          () => new XmlRpcClient('http://127.0.0.1:9001', options),
          (e: unknown) => {
            assert.ok(e instanceof AddressError, describeError(e));
            assert.equal(e.code, 'ERR_INVALID_ADDRESS');
            assert.equal(e.message, `${field} contains a CR, LF or NUL character`);
            assertSafeMessage(e, value, true);
            return true;
          },
        );
      }
    });

    test(`check config username/password ${shown}: ConfigError without the value`, () => {
      for (const field of ['username', 'password'] as const) {
        const instance = { name: 'x', host: '127.0.0.1', username: 'u', password: 'p', [field]: value };
        assert.throws(
          () => new SupervisordCheck(instance),
          (e: unknown) => {
            assert.ok(e instanceof ConfigError, describeError(e));
            assert.match(e.message, new RegExp(`^'${field}' cannot be used: ${field} contains a CR, LF or NUL character$`));
            assertSafeMessage(e, value, true);
            return true;
          },
        );
      }
    });

    test(`host and path ${shown}: AddressError`, () => {
      const attempts: [string, () => unknown][] = [
        ['tcpAddress host', () => tcpAddress(value)],
        ['tcpAddress path', () => tcpAddress('127.0.0.1', 9001, { path: `/RPC2${value}` })],
        ['unixAddress socket', () => unixAddress(`/tmp/${value}.sock`)],
        ['unixAddress path', () => unixAddress('/tmp/s.sock', `/RPC2${value}`)],
        ['parseAddress host', () => parseAddress(`http://${value}:9001/RPC2`)],
        ['parseAddress path', () => parseAddress(`http://127.0.0.1:9001/RPC2${value}`)],
        ['XmlRpcClient url', () => new XmlRpcClient(`http://127.0.0.1:9001/${value}`)],
      ];
      for (const [label, attempt] of attempts) {
        assert.throws(attempt, (e: unknown) => {
          assert.ok(e instanceof AddressError, `${label}: ${describeError(e)}`);
          assertSafeMessage(e, value, false);
          return true;
        });
      }
    });
  }

  test('percent-encoded CR/LF in the URL userinfo: AddressError, userinfo masked', () => {
    for (const url of ['http://ops:pa%0D%0AX-Injected:%201@127.0.0.1:9001', 'http://ops%0AX-Injected:pass@127.0.0.1:9001', 'http://ops:p%00w@h']) {
      assert.throws(
        () => parseAddress(url),
        (e: unknown) => {
          assert.ok(e instanceof AddressError, describeError(e));
          assert.match(e.message, /^(username|password) contains a CR, LF or NUL character$/);
          assertSafeMessage(e, url, true);
          return true;
        },
      );
    }
  });

  test('unusual but legal credentials travel base64-encoded: one Authorization header, nothing injected', async () => {
    const server = await startServer((_req, socket) => socket.write(httpResponse(200, 'OK', response('<value><int>1</int></value>'))));
    const username = 'ops\t\u00e9\u65e5 Host= evil';
    const password = 'p:w\t\u{1F680}\u2028<>&"';
    const client = new XmlRpcClient(server.url, { username, password, timeoutMs: 5000 });
    try {
      assert.equal(await client.call('supervisor.getPID'), 1);
      const head = server.requests[0]!.head;
      const lines = head.split('\r\n');
      assert.ok(lines.every((l) => !/[\r\n]/.test(l)));
      assert.deepEqual(
        lines.filter((l) => /^authorization:/i.test(l)),
        [`Authorization: Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`],
      );
      assert.deepEqual(
        lines.filter((l) => /^host:/i.test(l)),
        [`Host: 127.0.0.1:${server.port}`],
      );
    } finally {
      await client.close();
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 5. Credentials never leak
// ---------------------------------------------------------------------------

/**
 * A server echoing the request (in a status line, a fault string, document
 * text quoted by a decoder error) gets the Basic-auth token, or the
 * password, into errors and results: found by these tests. The fix
 * (`protocol/redact.ts`, used by XmlRpcClient and SupervisordCheck) is with
 * the lead as a patch; until it is in, the two tests that prove it run as
 * TODO (reported, not failing). They become ordinary tests by themselves
 * once the module exists.
 */
const REDACTION = fs.existsSync(new URL('../protocol/redact.js', import.meta.url))
  ? {}
  : { todo: 'credentials echoed by the server leak until protocol/redact.ts (credential redaction patch) is applied' };

describe('the password appears in no result, log line or error', () => {
  const USER = 'ops';
  const SENTINEL = 'S3ntinel-Pa55word-9f2c';
  const TOKEN = Buffer.from(`${USER}:${SENTINEL}`, 'utf8').toString('base64');
  /** The forms the password could take: plain, URL-encoded, base64 alone, the Basic token, and any 12-character window of the token. */
  const FORMS = (() => {
    const forms = new Set([SENTINEL, encodeURIComponent(SENTINEL), Buffer.from(SENTINEL).toString('base64'), TOKEN]);
    // The token's first 5 characters encode "ops:" only; every later window carries password bits.
    for (let i = 4; i + 12 <= TOKEN.length; i++) forms.add(TOKEN.slice(i, i + 12));
    return [...forms];
  })();

  /** Where a form of the password was found, one line per place (empty when clean). */
  function leaks(label: string, text: string): string[] {
    // The longest form found says the most (the whole token rather than a window of it).
    const found = FORMS.filter((form) => text.includes(form)).sort((a, b) => b.length - a.length)[0];
    return found === undefined ? [] : [`${label} contains ${JSON.stringify(found)}`];
  }

  function assertClean(label: string, text: string): void {
    const problems = leaks(label, text);
    assert.deepEqual(problems, [], `${problems.join('\n')}\n${text}`);
  }

  /** Everything a caller can see of an error: message, stack, inspect, cause. */
  function errorText(e: unknown): string {
    return e instanceof Error ? `${e.message}\n${e.stack}\n${inspect(e, { depth: 5, showHidden: true })}` : String(e);
  }

  const escapeXml = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const authOf = (head: string): string => /\r\nAuthorization: ([^\r\n]*)/i.exec(head)?.[1] ?? '';
  const decodedAuth = (head: string): string => Buffer.from(authOf(head).replace(/^Basic /, ''), 'base64').toString('utf8');

  /** Fake servers that send the request's credentials back in every way an answer can carry text. */
  const SERVERS: { name: string; respond: (head: string) => Buffer }[] = [
    { name: 'HTML page', respond: () => httpResponse(200, 'OK', '<html><body>hello</body></html>', { 'Content-Type': 'text/html' }) },
    { name: 'headers echoed in a 500 reason', respond: (head) => httpResponse(500, head.split('\r\n').join(' | '), 'oops', { 'Content-Type': 'text/html' }) },
    { name: 'headers echoed in a 500 body', respond: (head) => httpResponse(500, 'Internal Server Error', head, { 'Content-Type': 'text/html' }) },
    { name: 'headers echoed in a 401 reason', respond: (head) => httpResponse(401, `Unauthorized ${authOf(head)}`, 'no', { 'Content-Type': 'text/html' }) },
    { name: 'headers echoed in a 200 HTML body', respond: (head) => httpResponse(200, 'OK', head, { 'Content-Type': 'text/html' }) },
    { name: 'Content-Type echoing the token', respond: (head) => httpResponse(200, 'OK', 'x', { 'Content-Type': `text/${authOf(head).replace(' ', '-')}` }) },
    {
      name: 'headers echoed in a fault string',
      respond: (head) =>
        httpResponse(
          200,
          'OK',
          `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>2</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>INCORRECT_PARAMETERS: ${escapeXml(head)} ${escapeXml(decodedAuth(head))}</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n`,
        ),
    },
    { name: 'the token in a bad <int>', respond: (head) => httpResponse(200, 'OK', response(`<value><int>${authOf(head).slice(6)}</int></value>`)) },
    { name: 'the password in a bad <int>', respond: (head) => httpResponse(200, 'OK', response(`<value><int>${escapeXml(decodedAuth(head).slice(USER.length + 1))}</int></value>`)) },
    { name: 'the token in an unknown element', respond: (head) => httpResponse(200, 'OK', response(`<value><${authOf(head).slice(6).replace(/[^A-Za-z0-9]/g, '')}/></value>`)) },
    { name: 'the token as the root element', respond: (head) => httpResponse(200, 'OK', `<${authOf(head).slice(6).replace(/[^A-Za-z0-9]/g, '')}/>`) },
    { name: 'the token in a process name', respond: (head) => httpResponse(200, 'OK', response(`<value><array><data>\n<value><struct>\n<member>\n<name>name</name>\n<value><string>${authOf(head)} ${escapeXml(decodedAuth(head))}</string></value>\n</member>\n</struct></value>\n</data></array></value>\n`)) },
  ];

  const servers = new Map<string, RawServer>();
  let emulator: SupervisordEmulator;
  let deadPort = 0;

  before(async () => {
    for (const s of SERVERS) servers.set(s.name, await startServer((req, socket) => socket.write(s.respond(req.head))));
    emulator = await SupervisordEmulator.start({
      listen: { port: 0 },
      username: USER,
      password: 'the-right-password',
      processes: [makeProcess({ name: 'web', statename: 'RUNNING' })],
    });
    // A port where nothing listens: bound, then released.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  after(async () => {
    for (const s of servers.values()) await s.close();
    await emulator.close();
  });

  const targets = (): { name: string; port: number }[] => [
    { name: 'nothing listening', port: deadPort },
    { name: 'the emulator with a wrong password', port: Number(new URL(emulator.url).port) },
    ...SERVERS.map((s) => ({ name: s.name, port: servers.get(s.name)!.port })),
  ];

  test('SupervisordCheck: results, warnings, errors, log lines and the inspected check are clean', REDACTION, async () => {
    const problems: string[] = [];
    for (const target of targets()) {
      const log: string[] = [];
      const check = new SupervisordCheck(
        { name: 'secure', host: '127.0.0.1', port: target.port, username: USER, password: SENTINEL, timeout: 5, connect_timeout: 2 },
        { log: { warn: (m) => log.push(`warn ${m}`), debug: (m) => log.push(`debug ${m}`) } },
      );
      try {
        const first = await check.run();
        const second = await check.run(); // a second run reuses whatever the first left
        assert.ok(first.errors.length > 0, `${target.name}: the run should have failed: ${JSON.stringify(first)}`);
        problems.push(
          ...leaks(`${target.name}: result`, JSON.stringify([first, second])),
          ...leaks(`${target.name}: inspected result`, inspect([first, second], { depth: 10 })),
          ...leaks(`${target.name}: log`, log.join('\n')),
          ...leaks(`${target.name}: inspected check`, inspect(check, { depth: 10, showHidden: true })),
          ...leaks(`${target.name}: JSON of the check`, JSON.stringify(check) ?? ''),
        );
      } finally {
        await check.close();
      }
    }
    assert.deepEqual(problems, []);
  });

  test('XmlRpcClient: the errors it rejects with are clean', REDACTION, async () => {
    const problems: string[] = [];
    for (const target of targets()) {
      const client = new XmlRpcClient(`http://127.0.0.1:${target.port}/RPC2`, { username: USER, password: SENTINEL, timeoutMs: 5000, connectTimeoutMs: 2000 });
      try {
        let error: unknown;
        let value: unknown;
        try {
          value = await client.call('supervisor.getAllProcessInfo');
        } catch (e) {
          error = e;
        }
        // Only the process-name server answers a value; a value carries what the server sent, as it must.
        if (error === undefined) {
          assert.equal(target.name, 'the token in a process name', `${target.name}: unexpected value ${inspect(value)}`);
          continue;
        }
        assert.ok(error instanceof ProtocolError, `${target.name}: ${describeError(error)}`);
        problems.push(
          ...leaks(`${target.name}: error`, errorText(error)),
          ...leaks(`${target.name}: inspected client`, inspect(client, { depth: 10, showHidden: true })),
        );
      } finally {
        await client.close();
      }
    }
    assert.deepEqual(problems, []);
  });

  test('URL userinfo: masked in address errors and absent from the client address', () => {
    assert.throws(
      () => parseAddress(`http://${USER}:${SENTINEL}@127.0.0.1:99999/RPC2`),
      (e: unknown) => {
        assert.ok(e instanceof AddressError, describeError(e));
        assert.equal(e.message, 'address "http://***@127.0.0.1:99999/RPC2" has an invalid port: expected an integer in 1-65535');
        return true;
      },
    );
    const client = new XmlRpcClient(`http://${USER}:${encodeURIComponent(SENTINEL)}@127.0.0.1:9001/RPC2`);
    assertClean('client', `${JSON.stringify(client.address)}\n${inspect(client, { depth: 10, showHidden: true })}`);
    void client.close();
  });
});

// ---------------------------------------------------------------------------
// 6. A 1 GB Content-Length
// ---------------------------------------------------------------------------

describe('a 1 GB Content-Length is refused before reading the body', () => {
  const GB = 1_073_741_824;
  let server: RawServer;
  const drips = new Set<NodeJS.Timeout>();
  let closedAt = 0;

  before(async () => {
    server = await startServer((_req, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nServer: Medusa/1.12\r\nContent-Type: text/xml\r\nContent-Length: ${GB}\r\n\r\n${HEAD}`);
      // Then one byte every 20 ms: reading it all would take years.
      const drip = setInterval(() => socket.write('<'), 20);
      drips.add(drip);
      socket.on('close', () => {
        clearInterval(drip);
        drips.delete(drip);
        closedAt = performance.now();
      });
    });
  });

  after(async () => {
    for (const d of drips) clearInterval(d);
    await server.close();
  });

  test('XmlRpcClient: BodySizeError as soon as the headers arrive, and the connection is dropped', async () => {
    const client = new XmlRpcClient(server.url, { timeoutMs: 10_000 });
    try {
      closedAt = 0;
      const started = performance.now();
      await assert.rejects(client.call('supervisor.getAllProcessInfo'), (e: unknown) => {
        assert.ok(e instanceof BodySizeError, describeError(e));
        assert.equal(e.code, 'ERR_HTTP_BODY_TOO_LARGE');
        assert.equal(e.message, `response body from ${client.address.display} announces ${GB} bytes, more than the limit of 268435456`);
        return true;
      });
      assert.ok(performance.now() - started < 1000, 'the refusal waited for the body');
      await waitFor(() => closedAt > 0);
      assert.ok(closedAt - started < 1500, 'the client kept the connection open');
    } finally {
      await client.close();
    }
  });

  test('SupervisordCheck: the run fails at once with the size in its error, well before its deadline', async () => {
    const check = new SupervisordCheck({ name: 'big', host: '127.0.0.1', port: server.port, timeout: 10 });
    try {
      const started = performance.now();
      const result = await check.run();
      assert.ok(performance.now() - started < 1000, 'the run waited for the body');
      assert.ok(
        result.errors.some((e) => e.includes(`announces ${GB} bytes, more than the limit of ${64 * 1024 * 1024}`)),
        JSON.stringify(result.errors),
      );
      assert.ok(result.serviceChecks.some((s) => s.name === 'supervisord.can_connect' && s.status === 2), JSON.stringify(result.serviceChecks));
    } finally {
      await check.close();
    }
  });
});

/** Polls `condition` every 5 ms for at most 2 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), 'condition not met within 2 s');
}

describe('a password with quotes, backslashes or non-ASCII appears in no transformed form', () => {
  const USER = 'ops';
  const PASSWORDS = ['Tr0ub"4dor\\&3xyz', "p'ässwörd-Sëcret\\9"];

  /** Every form a message of ours could give the password: as it is, JSON- and repr-quoted, read as latin1, and these quoted. */
  function forms(password: string): string[] {
    const latin1 = Buffer.from(password, 'utf8').toString('latin1');
    const out = new Set<string>();
    for (const text of [password, latin1]) {
      out.add(text);
      out.add(JSON.stringify(text).slice(1, -1));
      out.add(text.replaceAll('\\', '\\\\'));
      out.add(JSON.stringify(JSON.stringify(text).slice(1, -1)).slice(1, -1));
    }
    return [...out];
  }

  const decodedPassword = (head: string): string => {
    const token = /\r\nAuthorization: Basic ([^\r\n]*)/i.exec(head)?.[1] ?? '';
    return Buffer.from(token, 'base64').toString('utf8').slice(USER.length + 1);
  };
  const escapeXml = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const raw = (text: string): Buffer => Buffer.from(text, 'utf8');
  const ok = (headers: string, body: string): Buffer =>
    raw(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const answer = (value: string): string => `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n${value}</param>\n</params>\n</methodResponse>\n`;

  /** Servers that put the password the request carried where our messages quote server text. */
  const SERVERS: Array<{ name: string; respond: (password: string) => Buffer }> = [
    { name: 'an unrequested Content-Encoding', respond: (pw) => ok(`Content-Encoding: ${pw}\r\n`, answer('<value><int>1</int></value>\n')) },
    { name: 'a bad Transfer-Encoding', respond: (pw) => raw(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: ${pw}\r\n\r\n`) },
    { name: 'an invalid Content-Length', respond: (pw) => raw(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${pw}\r\n\r\n`) },
    { name: 'an invalid status line', respond: (pw) => raw(`HTTP/1.1 ${pw}\r\nContent-Length: 0\r\n\r\n`) },
    { name: 'a reason phrase', respond: (pw) => raw(`HTTP/1.1 500 ${pw}\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nno`) },
    { name: 'an invalid <int>', respond: (pw) => ok('', answer(`<value><int>${escapeXml(pw)}</int></value>\n`)) },
    {
      name: 'the version (multicall answer)',
      respond: (pw) =>
        ok(
          '',
          answer(
            `<value><array><data>\n<value><array><data>\n</data></array></value>\n<value><int>${escapeXml(pw)}</int></value>\n` +
              `<value><struct>\n<member>\n<name>statecode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n</struct></value>\n</data></array></value>\n`,
          ),
        ),
    },
  ];

  const servers = new Map<string, RawServer>();
  before(async () => {
    for (const s of SERVERS) {
      servers.set(s.name, await startServer((req, socket) => socket.end(s.respond(decodedPassword(req.head)))));
    }
  });
  after(async () => {
    for (const s of servers.values()) await s.close();
  });

  for (const password of PASSWORDS) {
    test(`${JSON.stringify(password)}: check results, logs and client errors`, async () => {
      const problems: string[] = [];
      const look = (label: string, text: string): void => {
        const found = forms(password).filter((f) => text.includes(f));
        if (found.length > 0) problems.push(`${label} contains ${JSON.stringify(found[0])}: ${text.slice(0, 300)}`);
      };
      for (const s of SERVERS) {
        const { port } = servers.get(s.name)!;
        const log: string[] = [];
        const check = new SupervisordCheck(
          { name: 'secure', host: '127.0.0.1', port, username: USER, password, timeout: 5, connect_timeout: 2 },
          { log: { warn: (m) => log.push(m), debug: (m) => log.push(m) } },
        );
        try {
          const result = await check.run();
          look(`${s.name}: result`, JSON.stringify(result));
          look(`${s.name}: inspected result`, inspect(result, { depth: 10 }));
          look(`${s.name}: log`, log.join('\n'));
        } finally {
          await check.close();
        }
        const client = new XmlRpcClient(`http://127.0.0.1:${port}/RPC2`, { username: USER, password, timeoutMs: 5000, connectTimeoutMs: 2000 });
        try {
          await client.call('supervisor.getSupervisorVersion');
        } catch (error) {
          look(`${s.name}: client error`, error instanceof Error ? `${error.message}\n${error.stack}\n${inspect(error, { depth: 5 })}` : String(error));
        } finally {
          await client.close();
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe('a huge number in a process struct', () => {
  for (const element of ['i8', 'double']) {
    test(`<${element}> with 5,000,000 digits: the run fails at once with a bounded error, never reports the process`, async () => {
      const digits = '9'.repeat(5_000_000);
      const body =
        `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><array><data>\n` +
        `<value><struct>\n<member>\n<name>name</name>\n<value><string>web</string></value>\n</member>\n` +
        `<member>\n<name>pid</name>\n<value><${element}>${digits}</${element}></value>\n</member>\n</struct></value>\n` +
        `</data></array></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n`;
      const server = await startServer((_req, socket) => socket.end(httpResponse(200, 'OK', body)));
      const check = new SupervisordCheck({ name: 'huge', host: '127.0.0.1', port: server.port, timeout: 3 });
      try {
        const result = await check.run();
        assert.equal(result.processes?.length ?? 0, 0);
        assert.equal(result.serviceChecks.filter((c) => c.name === 'supervisord.process.status').length, 0);
        assert.ok(result.errors.some((e) => e.includes(`<${element}> value longer than 1024 characters`)), JSON.stringify(result.errors));
      } finally {
        await check.close();
        await server.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------
// 7. Numbers written as passwords in a config file
// ---------------------------------------------------------------------------

describe('a password written as a number in a config file is sent as written, or refused', () => {
  let server: RawServer;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sec-numeric-pw-'));
    server = await startServer((_req, socket) => socket.end(httpResponse(401, 'Unauthorized', '')));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const NUMBER = "and YAML readers read this plain value as a number, which loses the text as written (1e5 becomes 100000, 0x1F 31, 1.50 1.5): quote it";
  const YAML11 = "and YAML 1.1 readers, the Datadog Agent's among them, read this plain value as a number or a boolean (yes, off, 1_000): quote it";
  const JSON_NUMBER = 'and a JSON number loses the text as written (1e5 is 100000): write it as a JSON string';
  // [format, password as written, what goes on the wire, or the refusal]
  const cases: Array<['yaml' | 'json', string, string | { refused: string }]> = [
    ['yaml', '1234', '1234'],
    ['yaml', '12345678901234567890', '12345678901234567890'],
    ['yaml', '1e5', { refused: NUMBER }],
    ['yaml', '0x1F', { refused: NUMBER }],
    ['yaml', '1.50', { refused: NUMBER }],
    ['yaml', '0o17', { refused: NUMBER }],
    ['yaml', '+1', { refused: NUMBER }],
    ['yaml', '.5', { refused: NUMBER }],
    ['yaml', '1_000', { refused: YAML11 }],
    ['yaml', 'true', { refused: 'and YAML readers read this plain value as a boolean: quote it' }],
    ['yaml', 'yes', { refused: YAML11 }],
    ['yaml', "'1e5'", '1e5'],
    ['yaml', '"0x1F"', '0x1F'],
    ['json', '1234', '1234'],
    ['json', '12345678901234567890', '12345678901234567890'],
    ['json', '1e5', { refused: JSON_NUMBER }],
    ['json', '1.50', { refused: JSON_NUMBER }],
    ['json', 'true', { refused: 'not a JSON boolean: write it as a JSON string' }],
    ['json', '"1.50"', '1.50'],
  ];
  for (const [format, written, expected] of cases) {
    test(`${format} password: ${written}`, async () => {
      const file = path.join(dir, `c.${format}`);
      const text =
        format === 'yaml'
          ? `instances:\n  - name: a\n    host: 127.0.0.1\n    port: ${server.port}\n    username: u\n    password: ${written}\n`
          : `{"instances": [{"name": "a", "host": "127.0.0.1", "port": ${server.port}, "username": "u",\n  "password": ${written}}]}`;
      fs.writeFileSync(file, text, { mode: 0o600 });
      const before = server.requests.length;
      const out = await cli(['--config', file, '--format', 'json']);
      if (typeof expected === 'object') {
        assert.equal(out.code, 2);
        assert.equal(out.stderr, `supervisord-check: --config ${file}: line ${format === 'yaml' ? 6 : 2}, column 15: 'password' takes text, ${expected.refused}\n`);
        assert.equal(server.requests.length, before, 'nothing was sent');
        return;
      }
      const sent = server.requests.slice(before).map((r) => /\r\nAuthorization: ([^\r]*)/i.exec(r.head)?.[1]);
      assert.deepEqual(sent, [`Basic ${Buffer.from(`u:${expected}`, 'utf8').toString('base64')}`]);
    });
  }
});

// ---------------------------------------------------------------------------
// 8. What a /probe socket allow-list admits
// ---------------------------------------------------------------------------

const NOBODY_UID = 65534;
const isRoot = process.geteuid?.() === 0;
const ROOT_ONLY = isRoot ? false : 'needs root: a socket or a directory of another user is made with chown';

/** A unix socket server that counts connections and what they sent. */
async function listenAt(socketPath: string): Promise<{ connections: () => number; received: () => string; close: () => Promise<void> }> {
  let connections = 0;
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    connections: () => connections,
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a /probe socket allow-list admits only a socket its directory could hold honestly', () => {
  let base: string;
  const listeners: Array<{ close: () => Promise<void> }> = [];
  /** A socket of ours (root's when the tests run as root) at `dir/name`. */
  const socketAt = async (dir: string, name: string): Promise<string> => {
    const p = path.join(dir, name);
    listeners.push(await listenAt(p));
    return p;
  };
  const mkdir = (name: string, mode: number, parent = base): string => {
    const d = path.join(parent, name);
    fs.mkdirSync(d);
    fs.chmodSync(d, mode);
    return d;
  };

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'sec-socket-guard-'));
  });
  after(async () => {
    await Promise.all(listeners.map((l) => l.close()));
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('a socket of the directory owner is admitted; what its owner could not have put there is refused', async () => {
    const socks = mkdir('socks', 0o755);
    const elsewhere = mkdir('elsewhere', 0o700);
    const victim = await socketAt(elsewhere, 'victim.sock');
    const good = await socketAt(socks, 'good.sock');
    fs.symlinkSync(victim, path.join(socks, 'evil.sock'));
    fs.writeFileSync(path.join(socks, 'file.sock'), '');
    fs.linkSync(victim, path.join(socks, 'hard.sock'));
    assert.equal(socketProblem(good), undefined);
    assert.equal(socketProblem(path.join(socks, 'absent.sock')), undefined, 'nothing there, and only the owner can create it: the probe says the server is down');
    assert.equal(socketProblem(path.join(socks, 'evil.sock')), 'it is a symbolic link: allow and probe the socket itself');
    assert.equal(socketProblem(path.join(socks, 'file.sock')), 'it is not a socket');
    assert.equal(socketProblem(path.join(socks, 'hard.sock')), 'the socket has 2 names (hard links): one of them may have been made elsewhere');
    assert.equal(socketProblem(path.join(socks, 'good.sock', 'x.sock')), `${path.join(socks, 'good.sock')} is not a directory`);
    assert.equal(socketProblem(path.join(socks, 'file.sock', 'sub', 'x.sock')), 'it cannot be checked: ENOTDIR: not a directory');
  });

  test('a directory others can write: only with the sticky bit, and never for a path with nothing at it', async () => {
    const open = mkdir('open', 0o775);
    const inOpen = await socketAt(open, 's.sock');
    assert.equal(socketProblem(inOpen), `other users can write ${open} (mode 0775) without the sticky bit: they could replace the socket before the connection`);
    assert.equal(socketProblem(path.join(open, 'absent.sock')), `nothing is at that path, and other users can create it in ${open} (mode 0775)`);
    const sticky = mkdir('sticky', 0o1777);
    assert.equal(socketProblem(await socketAt(sticky, 's.sock')), undefined);
    assert.equal(socketProblem(path.join(sticky, 'absent.sock')), `nothing is at that path, and other users can create it in ${sticky} (mode 1777)`);
    assert.equal(socketProblem(path.join(sticky, 'no-dir', 's.sock')), `${path.join(sticky, 'no-dir')} does not exist, and other users can create it in ${sticky} (mode 1777)`);
    assert.equal(socketProblem(path.join(base, 'no-dir', 'deeper', 's.sock')), undefined, 'only the owner of the nearest existing directory could create it');
  });

  test('a socket of another user than the directory owner, root or the exporter is refused', { skip: ROOT_ONLY }, async () => {
    const shared = mkdir('shared', 0o755);
    const theirs = await socketAt(shared, 'theirs.sock');
    fs.chownSync(theirs, NOBODY_UID, NOBODY_UID);
    assert.equal(socketProblem(theirs), `the socket belongs to uid ${NOBODY_UID}, not to the owner of ${shared} (uid 0), root or this exporter's user (uid 0)`);
    // The exporter's own user is trusted: it holds the credentials already.
    assert.equal(socketProblem(theirs, NOBODY_UID), undefined);
    // A directory of that user, in a directory only root writes: that user's sockets are theirs to serve.
    const home = mkdir('home', 0o755);
    fs.chownSync(home, NOBODY_UID, NOBODY_UID);
    const own = await socketAt(home, 'own.sock');
    fs.chownSync(own, NOBODY_UID, NOBODY_UID);
    assert.equal(socketProblem(own, 4242), undefined);
    // The same in a directory every user can write: anyone could have made it.
    const tmp = mkdir('tmp', 0o1777);
    const made = mkdir('made', 0o755, tmp);
    fs.chownSync(made, NOBODY_UID, NOBODY_UID);
    const planted = await socketAt(made, 'planted.sock');
    fs.chownSync(planted, NOBODY_UID, NOBODY_UID);
    assert.equal(socketProblem(planted, 4242), `${made} belongs to uid ${NOBODY_UID} and sits in ${tmp}, which other users can write: any of them could have made it`);
  });

  test("a '*' stands only in the file name: the directory is what an entry trusts", () => {
    assert.throws(() => new AllowList(['/run/*/supervisor.sock']), {
      name: 'ConfigError',
      message: `'allow' entry "/run/*/supervisor.sock" has a '*' in a directory: a '*' may stand only in the socket's file name`,
    });
    assert.doesNotThrow(() => new AllowList(['unix:///run/sv/*.sock', '/run/sv/sv-*']));
  });

  test('through --serve: a symlink or a socket of another user gets no connection, the real socket gets the credentials', { timeout: 30_000 }, async () => {
    const socks = mkdir('probe-socks', 0o755);
    const elsewhere = mkdir('probe-elsewhere', 0o700);
    const victim = await listenAt(path.join(elsewhere, 'victim.sock'));
    listeners.push(victim);
    fs.symlinkSync(path.join(elsewhere, 'victim.sock'), path.join(socks, 'evil.sock'));
    let foreign: Awaited<ReturnType<typeof listenAt>> | undefined;
    if (isRoot) {
      foreign = await listenAt(path.join(socks, 'foreign.sock'));
      listeners.push(foreign);
      fs.chownSync(path.join(socks, 'foreign.sock'), NOBODY_UID, NOBODY_UID);
    }
    const emulator = await SupervisordEmulator.start({ listen: { socketPath: path.join(socks, 'good.sock') }, processes: [makeProcess({ name: 'web' })], username: 'mon', password: 'Module-Pw-1' });
    const file = path.join(base, 'probe.json');
    fs.writeFileSync(file, JSON.stringify({ modules: { m: { allow: [`${socks}/*.sock`], username: 'mon', password: 'Module-Pw-1' } } }), { mode: 0o600 });
    const controller = new AbortController();
    let listening!: (port: number) => void;
    const port = new Promise<number>((resolve) => (listening = resolve));
    const done = cli(['--config', file, '--serve', '127.0.0.1:0', '--min-interval', '0'], { signal: controller.signal, onListening: (a) => listening(a.port) });
    try {
      const p = await Promise.race([port, done.then((r) => Promise.reject(new Error(`main() ended: ${r.stderr}`)))]);
      const get = (target: string): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: p, path: `/probe?module=m&target=${encodeURIComponent(target)}` }, (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString('utf8')));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            })
            .on('error', reject);
        });
      const evil = await get(path.join(socks, 'evil.sock'));
      assert.equal(evil.status, 400);
      assert.equal(evil.body, `Bad request: target "${path.join(socks, 'evil.sock')}" is not allowed by module "m" (it is a symbolic link: allow and probe the socket itself)\n`);
      if (foreign !== undefined) {
        const theirs = await get(path.join(socks, 'foreign.sock'));
        assert.equal(theirs.status, 400);
        assert.match(theirs.body, new RegExp(`\\(the socket belongs to uid ${NOBODY_UID}, not to the owner of `));
        assert.equal(foreign.connections(), 0, 'the socket of another user was never connected to');
      }
      assert.equal(victim.connections(), 0, 'the socket behind the symlink was never connected to');
      const good = await get(path.join(socks, 'good.sock'));
      assert.equal(good.status, 200, good.body);
      assert.match(good.body, /^supervisord_up\{supervisord_server="[^"]*good\.sock"\} 1$/m);
      assert.equal(emulator.stats.connections > 0, true);
    } finally {
      controller.abort();
      await done;
      await emulator.close();
    }
  });
});
