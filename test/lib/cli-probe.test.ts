/**
 * `/probe` without a server: modules from `--config`, allow-lists, target
 * parsing and the bounded memory of probed targets (`lib/cli/probe.ts`).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AllowList, parseModules, ProbeRequestError, probeTarget, ProbeTargets } from '../../lib/cli/probe.js';
import type { ProbeModule } from '../../lib/cli/probe.js';
import { ConfigError } from '../../lib/errors.js';

function module(allow: string[], extra: Record<string, unknown> = {}): ProbeModule {
  return parseModules({ m: { allow, ...extra } }, 'test').get('m')!;
}

describe('probeTarget: the allow-list decides before anything is contacted', () => {
  const mod = module(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '[::1]', '*.prod.example.com', 'sv1.example.com', 'web-*.example.net', 'unix:///run/sv/*.sock', '/run/one.sock']);
  // [target, canonical name (the supervisord_server label), url]
  const allowed: Array<[string, string, string]> = [
    ['10.1.2.3:9001', '10.1.2.3:9001', 'http://10.1.2.3:9001/RPC2'],
    ['10.1.2.3', '10.1.2.3:9001', 'http://10.1.2.3:9001/RPC2'],
    ['192.168.1.7:19001', '192.168.1.7:19001', 'http://192.168.1.7:19001/RPC2'],
    ['http://10.0.0.5:9001', '10.0.0.5:9001', 'http://10.0.0.5:9001/RPC2'],
    ['https://10.0.0.5', 'https://10.0.0.5:443', 'https://10.0.0.5:443/RPC2'],
    ['[fd00::1]:9001', '[fd00::1]:9001', 'http://[fd00::1]:9001/RPC2'],
    ['[::1]:9001', '[::1]:9001', 'http://[::1]:9001/RPC2'],
    ['[::ffff:10.0.0.1]:9001', '[::ffff:a00:1]:9001', 'http://[::ffff:a00:1]:9001/RPC2'],
    ['a.prod.example.com:9001', 'a.prod.example.com:9001', 'http://a.prod.example.com:9001/RPC2'],
    ['A.PROD.Example.com:9001', 'a.prod.example.com:9001', 'http://a.prod.example.com:9001/RPC2'],
    ['sv1.example.com', 'sv1.example.com:9001', 'http://sv1.example.com:9001/RPC2'],
    ['web-12.example.net:9001', 'web-12.example.net:9001', 'http://web-12.example.net:9001/RPC2'],
    ['unix:///run/sv/a.sock', 'unix:///run/sv/a.sock', 'unix:///run/sv/a.sock'],
    ['/run/sv/b.sock', 'unix:///run/sv/b.sock', 'unix:///run/sv/b.sock'],
    ['/run/one.sock', 'unix:///run/one.sock', 'unix:///run/one.sock'],
  ];
  for (const [target, name, url] of allowed) {
    it(`allows ${target}`, () => {
      assert.deepEqual(probeTarget(mod, target), { name, url });
    });
  }

  const refused: Array<[string, RegExp]> = [
    ['11.0.0.1:9001', /is not allowed by module "m" \(the address is in none of its networks\)/],
    ['192.168.1.8', /none of its networks/],
    ['[fe80::1]:9001', /none of its networks/],
    ['[::ffff:11.0.0.1]:9001', /none of its networks/],
    ['b.a.prod.example.com', /no host name entry/],
    ['prod.example.com', /no host name entry/],
    ['evilprod.example.com', /no host name entry/],
    ['sv1.example.com.evil.org', /no host name entry/],
    ['web.example.net', /no host name entry/],
    ['localhost:9001', /no host name entry/],
    ['unix:///run/sv/x/a.sock', /no socket entry/],
    ['/run/sv/a.sockx', /no socket entry/],
    ['/run/two.sock', /no socket entry/],
  ];
  for (const [target, message] of refused) {
    it(`refuses ${target}`, () => {
      assert.throws(() => probeTarget(mod, target), (e: unknown) => e instanceof ProbeRequestError && e.code === 'ERR_PROBE_REQUEST' && message.test(e.message));
    });
  }

  const malformed: Array<[string, RegExp]> = [
    ['10.1:9001', /neither an IP address nor a host name/],
    ['167772161:9001', /neither an IP address nor a host name/],
    ['0x0a000001', /neither an IP address nor a host name/],
    ['010.0.0.1', /neither an IP address nor a host name/],
    ['a_b.example.com', /neither an IP address nor a host name/],
    ['[fe80::1%25eth0]:9001', /zone|malformed/],
    ['/run/sv/../../tmp/x.sock', /normalised/],
    ['/run/sv//a.sock', /normalised/],
    ['ftp://10.0.0.1', /malformed target: .*unknown scheme/],
    ['10.0.0.1:99999', /malformed target/],
    ['10.0.0.1:9001\u001b[2K', /control character/],
    ['x'.repeat(1025), /longer than 1024/],
  ];
  for (const [target, message] of malformed) {
    it(`refuses the malformed ${JSON.stringify(target.slice(0, 40))}`, () => {
      assert.throws(() => probeTarget(mod, target), (e: unknown) => e instanceof ProbeRequestError && message.test(e.message));
    });
  }

  it('refuses credentials in the target without repeating them', () => {
    for (const target of ['http://admin:S3cret-pw@10.0.0.1:9001', 'admin:S3cret-pw@10.0.0.1:9001', 'http://admin@10.0.0.1']) {
      assert.throws(
        () => probeTarget(mod, target),
        (e: unknown) => e instanceof ProbeRequestError && !e.message.includes('S3cret-pw') && /credentials|malformed/.test(e.message),
      );
    }
  });

  it('restricts ports when the module lists them', () => {
    const ported = module(['10.0.0.0/8'], { ports: [9001] });
    assert.equal(probeTarget(ported, '10.0.0.1:9001').url, 'http://10.0.0.1:9001/RPC2');
    assert.throws(() => probeTarget(ported, '10.0.0.1:22'), /port 22 is not in its ports/);
  });
});

describe('parseModules', () => {
  it('keeps the instance keys as settings and validates them', () => {
    const modules = parseModules({ prod: { allow: ['10.0.0.0/8'], proc_regex: ['^web'], timeout: 3, username: 'u', password: 'p4ssw0rd-x' } }, 'f');
    assert.deepEqual(modules.get('prod')!.settings, { proc_regex: ['^web'], timeout: 3, username: 'u', password: 'p4ssw0rd-x' });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', [], /"modules" must be an object/],
    ['a module that is not an object', { m: 1 }, /module "m": must be an object/],
    ['a bad module name', { 'a b': { allow: ['10.0.0.1'] } }, /module "a b": a module name is/],
    ['no allow', { m: {} }, /'allow' must be a non-empty list/],
    ['an empty allow', { m: { allow: [] } }, /'allow' must be a non-empty list/],
    ['a server key', { m: { allow: ['10.0.0.1'], host: 'x' } }, /'host' is not allowed in a module: the target of each probe names the server/],
    ['a bad allow entry', { m: { allow: ['10.0.0.0/33'] } }, /'allow' entry "10.0.0.0\/33" is not a network/],
    ['a bad name pattern', { m: { allow: ['a_b.example.com'] } }, /is not an address, a network, a host name pattern or a socket path/],
    ['a relative socket', { m: { allow: ['unix://run/x.sock'] } }, /not a normalised absolute socket path/],
    ['bad ports', { m: { allow: ['10.0.0.1'], ports: [0] } }, /'ports' must be a non-empty list/],
    ['a bad instance key value', { m: { allow: ['10.0.0.1'], proc_regex: 'x' } }, /module "m": 'proc_regex' should be a list/],
    ['an unknown key (refused in modules)', { m: { allow: ['10.0.0.1'], proc_regexx: ['x'] } }, /module "m": Unknown configuration key 'proc_regexx'/],
    ['a missing TLS file', { m: { allow: ['10.0.0.1'], tls_ca: '/nonexistent/ca.pem' } }, /module "m": .*tls_ca/],
  ];
  for (const [why, value, message] of bad) {
    it(`refuses ${why}`, () => {
      assert.throws(() => parseModules(value, '--config f.json'), (e: unknown) => e instanceof ConfigError && message.test(e.message) && e.message.startsWith('--config f.json'));
    });
  }

  it('never puts a password in a message', () => {
    assert.throws(
      () => parseModules({ m: { allow: ['10.0.0.1'], password: 'Pw-Sentinel-42' } }, 'f'),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('Pw-Sentinel-42'),
    );
  });

  it('AllowList refuses an empty host pattern label', () => {
    assert.throws(() => new AllowList(['a..b']), ConfigError);
  });
});

describe('ProbeTargets', () => {
  it('remembers at most max targets, evicting and closing the least recently used', async () => {
    const closed: string[] = [];
    const targets = new ProbeTargets<{ id: string; close(): Promise<void> }>(2);
    const make = (id: string) => () => ({ id, close: async () => void closed.push(id) });
    const a = targets.get('a', make('a'));
    targets.get('b', make('b'));
    assert.equal(targets.get('a', make('a2')), a, 'a kept, and now the most recent');
    targets.get('c', make('c'));
    assert.deepEqual(closed, ['b']);
    assert.equal(targets.size, 2);
    assert.notEqual(targets.get('b', make('b2')).id, 'b');
    assert.deepEqual(closed, ['b', 'a']);
    await targets.close();
    assert.deepEqual(closed.sort(), ['a', 'b', 'b2', 'c']);
    assert.equal(targets.size, 0);
    assert.throws(() => new ProbeTargets(0), RangeError);
  });
});

describe('one identity per server: every spelling of one endpoint is one target', () => {
  const mod = module(['127.0.0.1', '::1', 'sv.example.com', '/run/sv/*.sock']);
  const groups: Array<[string, string[]]> = [
    [
      '127.0.0.1:9001',
      ['127.0.0.1:9001', '127.0.0.1', 'http://127.0.0.1:9001', 'HTTP://127.0.0.1:9001/', 'http://127.0.0.1:9001/RPC2', '127.0.0.1:9001/RPC2/1',
        '127.0.0.1:9001/RPC2?n=1', 'http://127.0.0.1:9001/RPC2x?y#z', '127.0.0.1:9001?n', 'http://127.0.0.1:9001/RPC2/../x'],
    ],
    ['[::1]:9001', ['[::1]:9001', '[0:0:0:0:0:0:0:1]:9001', '[::0001]', 'http://[0::1]:9001/RPC2/a']],
    ['sv.example.com:9001', ['sv.example.com', 'SV.Example.COM:9001', 'http://sv.example.com:9001/RPC2?a=b']],
    ['https://sv.example.com:443', ['https://sv.example.com', 'https://SV.example.com:443/RPC2/x', 'HTTPS://sv.example.com/?q']],
    ['unix:///run/sv/a.sock', ['/run/sv/a.sock', 'unix:///run/sv/a.sock']],
  ];
  for (const [name, spellings] of groups) {
    it(`${spellings.length} spellings of ${name}`, () => {
      for (const spelling of spellings) assert.equal(probeTarget(mod, spelling).name, name, spelling);
    });
  }

  it('a path other than /RPC2... is refused unless the module lists it in paths (a proxy)', () => {
    for (const target of ['127.0.0.1:9001/index.html', '127.0.0.1:9001/supervisor/RPC2', '127.0.0.1:9001/RPC%32', '127.0.0.1:9001/rpc2']) {
      assert.throws(
        () => probeTarget(mod, target),
        (e: unknown) => e instanceof ProbeRequestError && e.status === 400 && /names the path "\/.*": supervisord answers XML-RPC at \/RPC2; another path \(a proxy's\) must be listed in the 'paths' of module "m"$/.test(e.message),
        target,
      );
    }
    const proxied = module(['10.0.0.0/8'], { paths: ['/supervisor/RPC2'] });
    assert.deepEqual(probeTarget(proxied, 'https://10.0.0.5/supervisor/RPC2?x=1'), { name: 'https://10.0.0.5:443/supervisor/RPC2', url: 'https://10.0.0.5:443/supervisor/RPC2' });
    assert.deepEqual(probeTarget(proxied, '10.0.0.5:9001/RPC2/any'), { name: '10.0.0.5:9001', url: 'http://10.0.0.5:9001/RPC2' });
    assert.throws(() => probeTarget(proxied, '10.0.0.5/supervisor/RPC2/x'), /must be listed in the 'paths'/);
  });

  const badPaths: unknown[] = [[], ['x'], ['/RPC2/a'], ['/a b'], ['/a?b'], [1], '/a'];
  for (const paths of badPaths) {
    it(`refuses paths ${JSON.stringify(paths)}`, () => {
      assert.throws(() => parseModules({ m: { allow: ['10.0.0.1'], paths } }, 'f'), (e: unknown) => e instanceof ConfigError && /module "m": 'paths' must be a non-empty list of HTTP paths/.test(e.message));
    });
  }
});

describe('ProbeTargets: counted evictions, the --min-interval kept across them, thrashing said', () => {
  const entry = (id: string, closed: string[] = []) => () => ({ id, close: async () => void closed.push(id) });

  it('counts evictions; a target forgotten within minIntervalMs of its probe is refused (429) until then', () => {
    let now = 0;
    const targets = new ProbeTargets<{ id: string; close(): Promise<void> }>(1, { minIntervalMs: 5000, now: () => now });
    targets.get('a', entry('a'));
    now = 1000;
    targets.get('b', entry('b'));
    assert.equal(targets.evicted, 1);
    now = 2000;
    assert.throws(
      () => targets.get('a', entry('a2')),
      (e: unknown) =>
        e instanceof ProbeRequestError && e.status === 429 &&
        e.message === 'this target was probed less than --min-interval ago and forgotten since (--probe-max-targets 1 is smaller than the number of targets probed): try again in 3 s',
    );
    assert.equal(targets.evicted, 1, 'a refused probe evicts nothing');
    now = 5000;
    assert.equal(targets.get('a', entry('a3')).id, 'a3');
    assert.equal(targets.evicted, 2);
    // Without a minimum interval, nothing is refused.
    const free = new ProbeTargets<{ id: string; close(): Promise<void> }>(1);
    free.get('a', entry('a'));
    free.get('b', entry('b'));
    assert.equal(free.get('a', entry('a2')).id, 'a2');
  });

  it('says (at most once per warnEveryMs, with the count) when forgotten targets are probed again', () => {
    let now = 0;
    const said: number[] = [];
    const targets = new ProbeTargets<{ id: string; close(): Promise<void> }>(2, { now: () => now, onThrash: (n) => said.push(n), warnEveryMs: 60_000 });
    // Three targets probed every 15 s through a cache of 2: each is forgotten 10 s after its probe, 5 s before the next.
    for (let round = 0; round < 4; round++) {
      for (const id of ['a', 'b', 'c']) {
        targets.get(id, entry(id));
        now += 5000;
      }
    }
    assert.equal(targets.evicted, 10);
    assert.deepEqual(said, [1], 'the first said at once, the following within the minute only counted');
    now += 60_000;
    targets.get('a', entry('a'));
    assert.deepEqual(said, [1, 9]);
    // Targets that are not probed again (service discovery dropped them) are forgotten without a word.
    const quiet: number[] = [];
    const churn = new ProbeTargets<{ id: string; close(): Promise<void> }>(2, { now: () => now, onThrash: (n) => quiet.push(n) });
    for (let i = 0; i < 10; i++) {
      churn.get(`t${i}`, entry(`t${i}`));
      now += 1000;
    }
    assert.deepEqual(quiet, []);
  });
});
