/**
 * Tests of the real-supervisord harness (test/helpers/supervisord.ts, over
 * the launcher of lib/launcher/): its pure helpers always run; the parts
 * that start supervisord skip, with the reason printed, only when
 * supervisord is not installed.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import {
  findSupervisord,
  headerValue,
  httpRequest,
  parseXmlRpcResponse,
  rawCall,
  rawExchange,
  splitRawResponse,
  startSupervisord,
  supervisordVersion,
  xmlCall,
  xmlValue,
  zooPrograms,
  zooSettled,
  HarnessFault,
  ZOO_STATES,
  type HarnessProcess,
  type RunningSupervisord,
} from '../helpers/supervisord.js';

const BIN = findSupervisord();
const SKIP = BIN === null ? 'supervisord is not installed (apt-get install supervisor)' : false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('harness pure helpers', () => {
  const roundTrips: Array<[string, unknown]> = [
    ['empty string', ''],
    ['escaped text', 'a & b < c > d'],
    ['non-ASCII', 'café ☃ 𝄞'],
    ['int', -42],
    ['double', 1.5],
    ['true', true],
    ['false', false],
    ['empty array', []],
    ['nested', [1, 'x', [true], { a: { b: [] } }]],
    ['struct with __proto__ member', JSON.parse('{"__proto__": 1, "constructor": "c"}')],
  ];
  for (const [name, value] of roundTrips) {
    test(`xmlValue/parseXmlRpcResponse round trip: ${name}`, () => {
      const doc = `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n${xmlValue(value)}\n</param>\n</params>\n</methodResponse>\n`;
      const back = parseXmlRpcResponse(doc);
      assert.deepEqual(back, value);
    });
  }

  const parses: Array<[string, string, unknown]> = [
    ['untyped value', '<value>hi &amp; &#233;&#xE9;</value>', 'hi & éé'],
    ['empty value element', '<value/>', ''],
    ['empty value pair', '<value></value>', ''],
    ['string/', '<value><string/></value>', ''],
    ['nil', '<value><nil/></value>', null],
    ['i4 and i8', '<value><array><data><value><i4>7</i4></value><value><i8>9007199254740991</i8></value></data></array></value>', [7, 9007199254740991]],
    ['pretty printed', '<value>\n  <struct>\n    <member><name>a</name><value> <int> 1 </int> </value></member>\n  </struct>\n</value>', { a: 1 }],
  ];
  for (const [name, value, expected] of parses) {
    test(`parseXmlRpcResponse: ${name}`, () => {
      assert.deepEqual(parseXmlRpcResponse(`<methodResponse><params><param>${value}</param></params></methodResponse>`), expected);
    });
  }

  test('parseXmlRpcResponse throws HarnessFault on <fault>', () => {
    const doc = `<methodResponse><fault>${xmlValue({ faultCode: 10, faultString: 'BAD_NAME: x' })}</fault></methodResponse>`;
    assert.throws(() => parseXmlRpcResponse(doc), (e: unknown) => {
      assert.ok(e instanceof HarnessFault);
      assert.equal(e.faultCode, 10);
      assert.equal(e.faultString, 'BAD_NAME: x');
      assert.equal(e.message, 'fault 10: BAD_NAME: x');
      return true;
    });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['not a response', '<foo/>', /expected open <methodResponse>/],
    ['unknown type', '<methodResponse><params><param><value><float>1</float></value></param></params></methodResponse>', /unsupported type <float>/],
    ['truncated', '<methodResponse><params><param><value>', /document ends inside <value>/],
  ];
  for (const [name, doc, re] of bad) {
    test(`parseXmlRpcResponse refuses: ${name}`, () => {
      assert.throws(() => parseXmlRpcResponse(doc), re);
    });
  }

  test('xmlValue refuses what XML-RPC cannot carry', () => {
    assert.throws(() => xmlValue(undefined), { name: 'TypeError', message: 'xmlValue cannot write undefined' });
  });

  test('xmlCall writes the shape Python writes', () => {
    assert.equal(
      xmlCall('supervisor.getProcessInfo', ['web:front']),
      "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getProcessInfo</methodName>\n<params>\n<param>\n<value><string>web:front</string></value>\n</param>\n</params>\n</methodCall>\n",
    );
  });

  test('httpRequest writes exact bytes, auth only with both credentials, no body -> no Content-Length', () => {
    assert.equal(
      httpRequest('<x/>', { host: 'localhost', username: 'u', password: 'p' }).toString('latin1'),
      'POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 4\r\nAuthorization: Basic dTpw\r\nUser-Agent: supervisord-check-harness\r\n\r\n<x/>',
    );
    assert.equal(
      httpRequest(null, { httpMethod: 'GET', path: '/', version: 'HTTP/1.0', username: 'u', headers: [['X-A', 'b']] }).toString('latin1'),
      'GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: supervisord-check-harness\r\nX-A: b\r\n\r\n',
    );
    // Content-Length counts bytes, not characters.
    assert.match(httpRequest('é').toString('latin1'), /Content-Length: 2\r\n/);
  });

  test('splitRawResponse and headerValue', () => {
    assert.equal(splitRawResponse(Buffer.from('HTTP/1.1 200 OK\r\nA: b')), null);
    const r = splitRawResponse(Buffer.from('HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="default"\r\nContent-Length:3\r\n\r\nabcdef'));
    assert.ok(r !== null);
    assert.equal(r.status, 401);
    assert.equal(r.reason, 'Unauthorized');
    assert.equal(headerValue(r, 'www-authenticate'), 'Basic realm="default"');
    assert.equal(headerValue(r, 'CONTENT-LENGTH'), '3');
    assert.equal(headerValue(r, 'x-missing'), undefined);
    assert.equal(r.body.toString(), 'abcdef');
    const noReason = splitRawResponse(Buffer.from('HTTP/1.1 204\r\n\r\n'));
    assert.equal(noReason?.reason, '');
    assert.throws(() => splitRawResponse(Buffer.from('ICY 200 OK\r\n\r\n')), /not an HTTP status line: "ICY 200 OK"/);
    assert.throws(() => splitRawResponse(Buffer.from('HTTP/1.1 200 OK\r\nnocolon\r\n\r\n')), /bad header line: "nocolon"/);
  });

  describe('rawExchange framing against fake servers', () => {
    const servers: net.Server[] = [];
    after(() => {
      for (const srv of servers) srv.close();
    });
    // Each fake server answers every connection with `answer` and then does `then`.
    const serve = (answer: string, then: 'end' | 'hold' | 'destroy'): Promise<number> =>
      new Promise((resolve) => {
        const srv = net.createServer((sock) => {
          sock.once('data', () => {
            sock.write(answer);
            if (then === 'end') sock.end();
            if (then === 'destroy') sock.destroy();
          });
          sock.on('error', () => {});
        });
        servers.push(srv);
        srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
      });
    const cases: Array<{ name: string; answer: string; then: 'end' | 'hold' | 'destroy'; framing: string; body: string }> = [
      { name: 'Content-Length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', then: 'hold', framing: 'length', body: 'okEXTRA' },
      { name: 'no length, EOF', answer: 'HTTP/1.1 200 OK\r\n\r\nuntil close', then: 'end', framing: 'eof', body: 'until close' },
      { name: 'no length, silence', answer: 'HTTP/1.1 200 OK\r\n\r\nquiet', then: 'hold', framing: 'idle', body: 'quiet' },
      { name: 'reset after bytes', answer: 'HTTP/1.1 500 X\r\nContent-Length: 99\r\n\r\nshort', then: 'destroy', framing: 'eof', body: 'short' },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const port = await serve(c.answer, c.then);
        const r = await rawExchange({ port }, Buffer.from('x'), { idleMs: 100 });
        assert.equal(r.framing, c.framing);
        assert.equal(r.body.toString(), c.body);
        assert.equal(r.raw.toString(), c.answer);
      });
    }
    test('errors: refused, incomplete head, garbage, deadline', async () => {
      const closed = await serve('', 'hold');
      servers.pop()!.close();
      await assert.rejects(rawExchange({ port: closed }, Buffer.from('x')), { code: 'ECONNREFUSED' });
      const half = await serve('HTTP/1.1 200 OK\r\nA: b', 'end');
      await assert.rejects(rawExchange({ port: half }, Buffer.from('x')), { message: `incomplete HTTP head from 127.0.0.1:${half} (21 bytes)` });
      const garbage = await serve('SSH-2.0\r\n\r\n', 'end');
      await assert.rejects(rawExchange({ port: garbage }, Buffer.from('x')), { message: 'not an HTTP status line: "SSH-2.0"' });
      const mute = await serve('', 'hold');
      await assert.rejects(rawExchange({ host: '127.0.0.1', port: mute }, Buffer.from('x'), { timeoutMs: 100 }), {
        message: `no complete response from 127.0.0.1:${mute} within 100 ms`,
      });
      await assert.rejects(rawExchange({ socketPath: '/nonexistent/x.sock' }, Buffer.from('x'), { timeoutMs: 100 }), { code: 'ENOENT' });
    });
  });

  test('SUPERVISORD_BIN overrides the search: empty means not installed, a bad path fails to spawn', async () => {
    const saved = process.env['SUPERVISORD_BIN'];
    try {
      process.env['SUPERVISORD_BIN'] = '';
      assert.equal(findSupervisord(), null);
      await assert.rejects(supervisordVersion(), { code: 'ERR_LAUNCHER_NOT_INSTALLED', message: 'supervisord is not installed (apt-get install supervisor)' });
      await assert.rejects(startSupervisord(), { code: 'ERR_LAUNCHER_NOT_INSTALLED', message: 'supervisord is not installed (apt-get install supervisor)' });
      process.env['SUPERVISORD_BIN'] = '/nonexistent/supervisord';
      assert.equal(findSupervisord(), '/nonexistent/supervisord');
      await assert.rejects(startSupervisord(), {
        code: 'ERR_LAUNCHER_EXITED',
        message: /^supervisord \(\/nonexistent\/supervisord -c \S+\/supervisord\.conf\) could not be run: spawn \/nonexistent\/supervisord ENOENT; its log ends with:\n\(empty\)$/,
      });
    } finally {
      if (saved === undefined) delete process.env['SUPERVISORD_BIN'];
      else process.env['SUPERVISORD_BIN'] = saved;
    }
  });

  test('zooSettled needs every zoo process in its final state', () => {
    const procs: HarnessProcess[] = Object.entries(ZOO_STATES).map(([key, statename]) => {
      const [group, name] = key.split(':');
      return { group: group!, name: name!, statename };
    });
    assert.equal(zooSettled(procs), true);
    assert.equal(zooSettled(procs.slice(1)), false);
    assert.equal(zooSettled(procs.map((p) => (p['name'] === 'exiter' ? { ...p, statename: 'RUNNING' } : p))), false);
    assert.equal(zooPrograms().length, Object.keys(ZOO_STATES).length);
  });
});

describe('harness against a real supervisord', { skip: SKIP }, () => {
  const started: RunningSupervisord[] = [];
  const start = async (...args: Parameters<typeof startSupervisord>): Promise<RunningSupervisord> => {
    const s = await startSupervisord(...args);
    started.push(s);
    return s;
  };
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  test('option errors are reported before anything starts', async () => {
    await assert.rejects(startSupervisord({ inet: false, unix: false }), { message: 'options.unix and options.inet are both false: supervisord would serve no XML-RPC' });
    await assert.rejects(startSupervisord({ username: 'u' }), { message: 'username and password go together' });
    await assert.rejects(startSupervisord({ programs: [{ name: 'a b', command: '/bin/true' }] }), { message: 'program name "a b" is not usable: no whitespace, \':\', \'/\', \',\', \'[\' or \']\'' });
    await assert.rejects(startSupervisord({ programs: [{ name: 'a', command: '/bin/true', group: 'g:h' }] }), /group name "g:h" is not usable/);
  });

  test('supervisordVersion reads `supervisord --version`', async () => {
    // Any version supervisord may report (PEP 440), development heads included.
    const pep440 = /^\d+(\.\d+)+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$/;
    for (const v of ['4.2.5', '4.3.0b1', '4.3.0a2', '4.3.0rc1', '4.4.0.dev0', '4.2.5.post1']) assert.match(v, pep440);
    assert.match(await supervisordVersion(), pep440);
  });

  test('zoo settles with the documented states; ctl talks to it; two run side by side', async () => {
    const [a, b] = await Promise.all([start({ programs: zooPrograms() }), start({ programs: zooPrograms(), identifier: 'second' })]);
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.dir, b.dir);
    assert.equal(a.url, `http://127.0.0.1:${a.port}/RPC2`);
    assert.equal(a.socketUrl, `unix://${a.dir}/supervisor.sock`);
    assert.equal(a.socketPath, `${a.dir}/supervisor.sock`);
    assert.equal(a.username, undefined);
    await a.waitFor(zooSettled, 10_000);
    const procs = (await a.call('supervisor.getAllProcessInfo')) as HarnessProcess[];
    const by = new Map(procs.map((p) => [`${String(p['group'])}:${String(p['name'])}`, p]));
    for (const [key, state] of Object.entries(ZOO_STATES)) assert.equal(by.get(key)?.['statename'], state, key);
    assert.equal(by.get('exiter:exiter')?.['exitstatus'], 3);
    assert.equal(by.get('idle:idle')?.['description'], 'Not started');
    assert.equal(by.get('broken:broken')?.['spawnerr'], "can't find command '/nonexistent/supervisord-check-missing'");
    assert.equal(await a.call('supervisor.getIdentification'), 'supervisor');
    assert.equal(await b.call('supervisor.getIdentification'), 'second');
    assert.equal(await a.call('supervisor.getPID'), a.pid);
    const st = await a.ctl('status');
    // supervisorctl exits 3 when some process is not running.
    assert.equal(st.code, 3, st.stderr);
    assert.match(st.stdout, /^web:front\s+RUNNING\s+pid \d+/m);
    assert.match(st.stdout, /^exiter\s+EXITED\s/m);
    await assert.rejects(a.call('supervisor.getProcessInfo', ['nosuch']), (e: unknown) => e instanceof HarnessFault && e.faultCode === 10);
  });

  test('waitFor gives up with the process list', async () => {
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000' }], inet: false });
    assert.equal(s.url, undefined);
    assert.equal(s.port, undefined);
    await assert.rejects(s.waitFor(() => false, 200), /^LauncherError: waitFor: condition not met within 200 ms; processes: only:only=RUNNING$/);
  });

  test('auth: ctl uses the credentials, a raw call without them gets 401', async () => {
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000' }], unix: false, username: 'user', password: 'pw' });
    assert.equal(s.socketPath, undefined);
    assert.equal(s.username, 'user');
    assert.equal(s.password, 'pw');
    const st = await s.ctl('status');
    assert.equal(st.code, 0, st.stderr + st.stdout);
    assert.match(st.stdout, /^only\s+RUNNING/m);
    await assert.rejects(rawCall({ port: s.port! }, 'supervisor.getState'), {
      message: `127.0.0.1:${s.port} answered HTTP 401 Unauthorized to supervisor.getState`,
    });
  });

  test('restart keeps the pid, restarts the programs, and closes old connections', async () => {
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000' }] });
    await s.waitFor((p) => p[0]?.['statename'] === 'RUNNING');
    const before = ((await s.call('supervisor.getAllProcessInfo')) as HarnessProcess[])[0]!['pid'];
    await s.restart();
    assert.deepEqual(await s.call('supervisor.getState'), { statecode: 1, statename: 'RUNNING' });
    assert.equal(await s.call('supervisor.getPID'), s.pid);
    await s.waitFor((p) => p[0]?.['statename'] === 'RUNNING' && p[0]['pid'] !== before);
    assert.equal(alive(before as number), false);
  });

  test('stop kills supervisord and its programs, removes the dir, and is idempotent', async () => {
    const s = await start({ programs: [{ name: 'only', command: '/bin/sleep 100000' }] });
    await s.waitFor((p) => p[0]?.['statename'] === 'RUNNING');
    const child = ((await s.call('supervisor.getAllProcessInfo')) as HarnessProcess[])[0]!['pid'] as number;
    await Promise.all([s.stop(), s.stop()]);
    await s.stop();
    assert.equal(alive(s.pid), false);
    assert.equal(alive(child), false);
    assert.equal(fs.existsSync(s.dir), false);
    await assert.rejects(s.restart(), { message: 'restart: supervisord is not running' });
    await assert.rejects(s.waitFor(() => true), { message: 'waitFor: supervisord was stopped' });
  });

  test('a config supervisord refuses fails fast with its log tail, and leaves nothing behind', async () => {
    let configPath = '';
    await assert.rejects(startSupervisord({ extraConfig: '[program:nocommand]\nautostart=true' }), (e: unknown) => {
      assert.ok(e instanceof Error);
      const m = /^supervisord \(\S+ -c (\S+)\) exited before answering \(exit code 2\); its log ends with:\n/.exec(e.message);
      assert.ok(m !== null, e.message);
      configPath = m[1]!;
      assert.match(e.message, /program section program:nocommand does not specify a command/);
      return true;
    });
    assert.equal(path.basename(configPath), 'supervisord.conf');
    assert.equal(fs.existsSync(path.dirname(configPath)), false);
  });

  test('programs take exitcodes and extra lines; a too short startTimeoutMs fails and cleans up', async () => {
    const s = await start({
      programs: [{ name: 'ok3', command: "/bin/sh -c 'exit 3'", exitcodes: '3', autorestart: false, extra: { priority: '5' } }],
    });
    await s.waitFor((p) => p[0]?.['statename'] === 'EXITED');
    const info = (await s.call('supervisor.getProcessInfo', ['ok3'])) as HarnessProcess;
    // exit 3 is expected here, so no "Bad exit code" spawn error
    assert.equal(info['exitstatus'], 3);
    assert.equal(info['spawnerr'], '');
    assert.match(fs.readFileSync(s.configPath, 'utf8'), /^priority=5$/m);
    await assert.rejects(startSupervisord({ startTimeoutMs: 1 }), /^LauncherError: supervisord \(\S+ -c \S+\) did not answer RUNNING on \S+ within 1 ms \(last: .*\); its log ends with:/);
  });

  test('a process that never calls stop() still exits, and its supervisord goes with it', async () => {
    const helper = new URL('../helpers/supervisord.js', import.meta.url).href;
    const code = `import(${JSON.stringify(helper)}).then(async (h) => {
      const s = await h.startSupervisord({ programs: [{ name: 'p', command: '/bin/sleep 100000' }] });
      process.stdout.write(JSON.stringify({ pid: s.pid, dir: s.dir }));
    });`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    assert.equal(exitCode, 0, 'the child must exit by itself, not by the 10 s kill');
    const { pid, dir } = JSON.parse(out) as { pid: number; dir: string };
    assert.equal(fs.existsSync(dir), false);
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid), false, `supervisord ${pid} survived its parent`);
  });
});
