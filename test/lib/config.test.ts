import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_KEYS, CONFIG_DEFAULTS, Credentials, DEFAULT_STATUS_MAPPING, resolveConfig, TlsMaterial } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { pythonRepr, pythonStr } from '../../lib/python/repr.js';

const SENTINEL = 'S3ntinel-pa55word';

function assertConfigError(instance: unknown, key: string | undefined, message: string): void {
  assert.throws(
    () => resolveConfig(instance),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${JSON.stringify(instance)}: ${String(error)}`);
      assert.equal(error.code, 'ERR_CONFIG');
      assert.equal(error.name, 'ConfigError');
      assert.equal(error.key, key);
      assert.equal(error.message, message);
      return true;
    },
    JSON.stringify(instance),
  );
}

describe('resolveConfig: validation messages', () => {
  const base = { name: 'server1' };
  // [instance, key, exact message]
  const cases: Array<[unknown, string | undefined, string]> = [
    [null, undefined, 'the instance configuration should be a dictionary, got None'],
    [['name'], undefined, "the instance configuration should be a dictionary, got ['name']"],
    [{}, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: '' }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: '   ' }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: '\t\n' }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: null }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: 0 }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    [{ name: 5 }, 'name', "'name' should be a string, got 5"],
    // the name is checked before anything else, as in the reference
    [{ name: ' ', proc_regex: 'x', port: 0 }, 'name', 'Supervisor server name not specified in yaml configuration.'],
    // filter lists: the reference's message, Python repr of [value]
    [{ ...base, proc_regex: 'foo' }, 'proc_regex', "'proc_regex' should be a list of strings. e.g. ['foo']"],
    [{ ...base, proc_regex_exclude: 'not-a-list' }, 'proc_regex_exclude', "'proc_regex_exclude' should be a list of strings. e.g. ['not-a-list']"],
    [{ ...base, proc_names: 5 }, 'proc_names', "'proc_names' should be a list of strings. e.g. [5]"],
    [{ ...base, proc_names_exclude: true }, 'proc_names_exclude', "'proc_names_exclude' should be a list of strings. e.g. [True]"],
    [{ ...base, proc_names: null }, 'proc_names', "'proc_names' should be a list of strings. e.g. [None]"],
    [{ ...base, proc_names: { a: 1 } }, 'proc_names', "'proc_names' should be a list of strings. e.g. [{'a': 1}]"],
    [{ ...base, proc_regex: "it's" }, 'proc_regex', `'proc_regex' should be a list of strings. e.g. ["it's"]`],
    [{ ...base, proc_regex: 1.5 }, 'proc_regex', "'proc_regex' should be a list of strings. e.g. [1.5]"],
    // the reference checks the four types in this order
    [{ ...base, proc_names: 'a', proc_regex: 'b' }, 'proc_regex', "'proc_regex' should be a list of strings. e.g. ['b']"],
    [{ ...base, proc_names: 'a', proc_regex_exclude: 'b' }, 'proc_regex_exclude', "'proc_regex_exclude' should be a list of strings. e.g. ['b']"],
    // the reference's keys before ours
    [{ ...base, tags: 5, port: 0, proc_regex: 'x' }, 'proc_regex', "'proc_regex' should be a list of strings. e.g. ['x']"],
    [{ ...base, tags: 5, status_mapping_override: 1 }, 'status_mapping_override', "'status_mapping_override' should be a dictionary"],
    [{ ...base, port: 0, proc_regex: ['('] }, 'proc_regex', "'proc_regex' pattern '(' cannot be used: missing ), unterminated subpattern at position 0"],
    [{ ...base, proc_names: [1], status_mapping_override: 1 }, 'proc_names', "'proc_names' should be a list of strings, but item 0 is 1"],
    // items
    [{ ...base, proc_names: ['a', 5] }, 'proc_names', "'proc_names' should be a list of strings, but item 1 is 5"],
    [{ ...base, proc_regex: [null] }, 'proc_regex', "'proc_regex' should be a list of strings, but item 0 is None"],
    // status mapping
    [{ ...base, status_mapping_override: ['STOPPED'] }, 'status_mapping_override', "'status_mapping_override' should be a dictionary"],
    [{ ...base, status_mapping_override: 'up' }, 'status_mapping_override', "'status_mapping_override' should be a dictionary"],
    [{ ...base, status_mapping_override: null }, 'status_mapping_override', "'status_mapping_override' should be a dictionary"],
    [
      { ...base, status_mapping_override: { STOPPED: 'invalid_status' } },
      'status_mapping_override',
      "'status_mapping_override' should be a status mapping e.g. STOPPED => invalid_status",
    ],
    [
      { ...base, status_mapping_override: { RUNNING: 'UP' } },
      'status_mapping_override',
      "'status_mapping_override' should be a status mapping e.g. RUNNING => UP",
    ],
    [
      { ...base, status_mapping_override: { FATAL: null } },
      'status_mapping_override',
      "'status_mapping_override' should be a status mapping e.g. FATAL => None",
    ],
    // patterns
    [{ ...base, proc_regex: ['ok', 'a**'] }, 'proc_regex', "'proc_regex' pattern 'a**' cannot be used: multiple repeat at position 2"],
    [{ ...base, proc_regex_exclude: ['(?>x)'] }, 'proc_regex_exclude', "'proc_regex_exclude' pattern '(?>x)' cannot be used: atomic groups (?>...) have no JavaScript equivalent"],
    // connection keys
    [{ ...base, port: 0 }, 'port', "'port' should be an integer from 1 to 65535, got 0"],
    [{ ...base, port: 65536 }, 'port', "'port' should be an integer from 1 to 65535, got 65536"],
    [{ ...base, port: 90.5 }, 'port', "'port' should be an integer from 1 to 65535, got 90.5"],
    [{ ...base, port: '9001x' }, 'port', "'port' should be an integer from 1 to 65535, got '9001x'"],
    [{ ...base, port: null }, 'port', "'port' should be an integer from 1 to 65535, got None"],
    [{ ...base, host: '' }, 'host', "'host' should be a host name or an IP address"],
    [{ ...base, host: 7 }, 'host', "'host' should be a host name or an IP address"],
    [{ ...base, socket: '/var/run/supervisor.sock' }, 'socket', "'socket' should be unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock"],
    [{ ...base, socket: 5 }, 'socket', "'socket' should be unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock"],
    [{ ...base, socket: 'unix://run/s.sock' }, 'socket', "'socket' should be unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock: 'run/s.sock' is not absolute"],
    [{ ...base, socket: 'unix://' }, 'socket', "'socket' should be unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock: the path is empty"],
    [{ ...base, tags: 'env:prod' }, 'tags', "'tags' should be a list of strings"],
    [{ ...base, tags: ['a', 1] }, 'tags', "'tags' should be a list of strings, but item 1 is 1"],
    // Regressions: tags whose key the check or an output sets were merged with ours (Prometheus status="down,x").
    ...['status', 'supervisord_server', 'supervisord_process', 'supervisord_group', 'version', 'tag'].map((key): [unknown, string, string] => [
      { ...base, tags: ['env:prod', `${key}:x`] },
      'tags',
      `'tags' item 1 '${key}:x': the key '${key}' is one the check sets itself ` +
        `(supervisord_server, supervisord_process, supervisord_group, status, version, tag); use another key, e.g. 'user_${key}:x'`,
    ]),
    [
      { ...base, tags: ['STATUS:x'] },
      'tags',
      "'tags' item 0 'STATUS:x': the key 'STATUS' is one the check sets itself (supervisord_server, supervisord_process, supervisord_group, status, version, tag); use another key, e.g. 'user_status:x'",
    ],
    [{ ...base, tags: [':x'] }, 'tags', "'tags' item 0 ':x': the key before ':' is empty"],
    // Regression: a host:port became http://[127.0.0.1:19001]:9001/RPC2.
    [
      { ...base, host: '127.0.0.1:19001' },
      'host',
      "'host' should be a host name or an IP address without a port, got '127.0.0.1:19001': set 'host': '127.0.0.1' and 'port': '19001'",
    ],
    [{ ...base, username: ['x'] }, 'username', "'username' should be a string"],
    [{ ...base, pass: { secret: SENTINEL } }, 'pass', "'pass' should be a string"],
    [{ ...base, password: `a\r\n${SENTINEL}` }, 'password', "'password' cannot be used: password contains a CR, LF or NUL character"],
    [{ ...base, username: 'a:b' }, 'username', "'username' cannot be used: username contains a colon, which HTTP Basic authentication cannot carry"],
    // our limits
    [{ ...base, timeout: 0 }, 'timeout', "'timeout' should be a number of seconds greater than 0 and at most 86400, got 0"],
    [{ ...base, timeout: 'soon' }, 'timeout', "'timeout' should be a number of seconds greater than 0 and at most 86400, got 'soon'"],
    [{ ...base, connect_timeout: -1 }, 'connect_timeout', "'connect_timeout' should be a number of seconds greater than 0 and at most 86400, got -1"],
    [{ ...base, max_response_bytes: 10 }, 'max_response_bytes', "'max_response_bytes' should be an integer from 1024 to 1073741824, got 10"],
    [{ ...base, max_response_bytes: '1MB' }, 'max_response_bytes', "'max_response_bytes' should be an integer from 1024 to 1073741824, got '1MB'"],
    // issue 5
    [{ ...base, collection: 'selective' }, 'collection', "'collection' should be 'auto' or 'full', got 'selective'"],
    [{ ...base, collection: 'Full' }, 'collection', "'collection' should be 'auto' or 'full', got 'Full'"],
    [{ ...base, collection: true }, 'collection', "'collection' should be 'auto' or 'full', got True"],
    [{ ...base, name_refresh_interval: -1 }, 'name_refresh_interval', "'name_refresh_interval' should be a number of seconds from 0 to 86400, got -1"],
    [{ ...base, name_refresh_interval: 86401 }, 'name_refresh_interval', "'name_refresh_interval' should be a number of seconds from 0 to 86400, got 86401"],
    [{ ...base, name_refresh_interval: '5m' }, 'name_refresh_interval', "'name_refresh_interval' should be a number of seconds from 0 to 86400, got '5m'"],
    [{ ...base, name_refresh_interval: [] }, 'name_refresh_interval', "'name_refresh_interval' should be a number of seconds from 0 to 86400, got []"],
    // issue 19
    [{ ...base, read_main_log: 'no' }, 'read_main_log', "'read_main_log' should be true or false, got 'no'"],
    [{ ...base, read_main_log: 0 }, 'read_main_log', "'read_main_log' should be true or false, got 0"],
  ];
  test('each invalid instance fails with its exact message and key', () => {
    for (const [instance, key, message] of cases) assertConfigError(instance, key, message);
  });

  test("a host the address module refuses: our prefix, its reason", () => {
    assert.throws(() => resolveConfig({ ...base, host: 'http://127.0.0.1' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.key, 'host');
      assert.match(error.message, /^'host' should be a host name or an IP address: .*http:\/\/127\.0\.0\.1/);
      return true;
    });
  });

  test('a socket path the address module refuses: our prefix, its reason', () => {
    assert.throws(() => resolveConfig({ ...base, socket: 'unix:///tmp/a\nb.sock' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.key, 'socket');
      assert.match(error.message, /^'socket' should be unix:\/\/ followed by an absolute path, e\.g\. unix:\/\/\/var\/run\/supervisor\.sock: .+/);
      return true;
    });
  });

  test('no message contains the password', () => {
    for (const [instance] of cases) {
      try {
        resolveConfig(instance);
      } catch (error) {
        assert.ok(!String((error as Error).message).includes(SENTINEL));
      }
    }
  });
});

describe('resolveConfig: defaults and values', () => {
  test('defaults', () => {
    const { config, credentials, warnings } = resolveConfig({ name: 'server1' });
    assert.equal(config.name, 'server1');
    assert.equal(config.host, CONFIG_DEFAULTS.host);
    assert.equal(config.port, 9001);
    assert.equal(config.portText, '9001');
    assert.equal(config.socket, undefined);
    assert.equal(config.url, undefined);
    assert.equal(config.target, 'http://localhost:9001');
    assert.equal(config.tls, undefined);
    assert.deepEqual(config.address, tcpExpected('localhost', 9001));
    assert.equal(config.username, undefined);
    assert.equal(config.authenticated, false);
    assert.equal(credentials, undefined);
    assert.deepEqual(config.procNames, []);
    assert.deepEqual(config.procRegex, []);
    assert.deepEqual(config.tags, []);
    assert.deepEqual(config.instanceTags, ['supervisord_server:server1']);
    assert.deepEqual({ ...config.statusMapping }, { ...DEFAULT_STATUS_MAPPING });
    assert.equal(config.timeoutMs, 10000);
    assert.equal(config.connectTimeoutMs, 5000);
    assert.equal(config.maxResponseBytes, 64 * 1024 * 1024);
    assert.equal(config.collection, 'auto');
    assert.equal(config.nameRefreshMs, 300_000);
    assert.equal(config.maxConnections, undefined);
    assert.equal(config.listingTimeoutMs, 60_000);
    assert.equal(config.readMainLog, true);
    assert.equal(resolveConfig({ name: 's', read_main_log: false }).config.readMainLog, false);
    assert.equal(resolveConfig({ name: 's', read_main_log: null } as never).config.readMainLog, true);
    assert.deepEqual(warnings, []);
    assert.ok(Object.isFrozen(config));
  });

  test('tags: bare tags and keys that only resemble ours are accepted', () => {
    const tags = ['env', 'env:prod', 'statuses:x', 'my_status:x', 'supervisord:x', 'team:status:x', '__status:x', 'a:'];
    assert.deepEqual(resolveConfig({ name: 'n', tags }).config.tags, tags);
  });

  test('values as configured; port text kept as given for the messages', () => {
    const { config } = resolveConfig({
      name: ' spaced ',
      host: '10.60.130.82',
      port: '09001',
      tags: ['env:prod', 'team:a'],
      proc_names: ['mysql'],
      proc_regex: ['^web'],
      proc_names_exclude: ['x'],
      proc_regex_exclude: ['_old$'],
      status_mapping_override: { STOPPED: 'up' },
      timeout: '2.5',
      connect_timeout: 1,
      max_response_bytes: 4096,
      collection: 'full',
      name_refresh_interval: '0',
    });
    assert.equal(config.collection, 'full');
    assert.equal(config.nameRefreshMs, 0);
    assert.equal(resolveConfig({ name: 'n', name_refresh_interval: 1.5, collection: null }).config.nameRefreshMs, 1500);
    assert.equal(resolveConfig({ name: 'n', collection: null }).config.collection, 'auto');
    for (const [value, expected] of [[1, 1], [16, 16], [256, 256], ['auto', undefined], [null, undefined]] as const) {
      assert.equal(resolveConfig({ name: 'n', max_connections: value }).config.maxConnections, expected, String(value));
    }
    for (const bad of [0, 257, 1.5, '4', true, -1]) {
      assert.throws(() => resolveConfig({ name: 'n', max_connections: bad }), {
        name: 'ConfigError',
        key: 'max_connections',
        message: `'max_connections' should be 'auto' or an integer from 1 to 256, got ${typeof bad === 'string' ? `'${bad}'` : bad === true ? 'True' : String(bad)}`,
      });
    }
    assert.equal(resolveConfig({ name: 'n', listing_timeout: '90' }).config.listingTimeoutMs, 90_000);
    assert.throws(() => resolveConfig({ name: 'n', listing_timeout: 0 }), { name: 'ConfigError', key: 'listing_timeout' });
    assert.equal(config.name, ' spaced ');
    assert.equal(config.port, 9001);
    assert.equal(config.portText, '09001');
    assert.equal(config.target, 'http://10.60.130.82:09001');
    assert.deepEqual(config.instanceTags, ['env:prod', 'team:a', 'supervisord_server: spaced ']);
    assert.deepEqual(config.procRegex.map((p) => p.pattern), ['^web']);
    assert.equal(config.procRegex[0]!.regexp.test('my_web'), false);
    assert.equal(config.procRegexExclude[0]!.regexp.test('web_old'), true);
    assert.equal(config.statusMapping['STOPPED'], 'up');
    assert.equal(config.statusMapping['RUNNING'], 'up');
    assert.equal(config.timeoutMs, 2500);
    assert.equal(config.connectTimeoutMs, 1000);
    assert.equal(config.maxResponseBytes, 4096);
  });

  test('the mapping is a null-prototype object: prototype names are not states', () => {
    const { config } = resolveConfig({ name: 'n' });
    assert.equal(Object.getPrototypeOf(config.statusMapping), null);
    assert.equal(Object.hasOwn(config.statusMapping, 'constructor'), false);
  });

  test('a socket wins over host and port, which are not validated then', () => {
    const { config } = resolveConfig({ name: 'n', socket: 'unix:///var/run/supervisor.sock', host: 'http://127.0.0.1', port: 'x' });
    assert.equal(config.socket, 'unix:///var/run/supervisor.sock');
    assert.equal(config.target, 'unix:///var/run/supervisor.sock');
    assert.deepEqual(config.address, { kind: 'unix', socketPath: '/var/run/supervisor.sock', path: '/RPC2', display: 'unix:///var/run/supervisor.sock' });
  });

  test('a null socket, user or pass is unset, as in the reference', () => {
    const { config, credentials } = resolveConfig({ name: 'n', socket: null, user: null, pass: null, tags: null });
    assert.equal(config.address.kind, 'tcp');
    assert.equal(credentials, undefined);
    assert.deepEqual(config.tags, []);
  });
});

describe('resolveConfig: seconds become whole milliseconds', () => {
  test('a sweep of timeouts from 0.001 to 100 s: every value gives an integer the client accepts', () => {
    const bad: number[] = [];
    for (let i = 1; i <= 100_000; i++) {
      const s = i / 1000;
      const { config } = resolveConfig({ name: 'x', timeout: s, connect_timeout: s, name_refresh_interval: s });
      for (const ms of [config.timeoutMs, config.connectTimeoutMs, config.nameRefreshMs]) if (!Number.isInteger(ms)) bad.push(s);
      if (config.timeoutMs !== Math.round(s * 1000)) bad.push(s);
    }
    assert.deepEqual(bad.slice(0, 5), []);
    assert.equal(resolveConfig({ name: 'x', timeout: 1.001 }).config.timeoutMs, 1001);
    assert.equal(resolveConfig({ name: 'x', timeout: '1.001' }).config.connectTimeoutMs, CONFIG_DEFAULTS.connectTimeout * 1000);
    assert.equal(resolveConfig({ name: 'x', timeout: 0.0001 }).config.timeoutMs, 1);
  });
});

describe('resolveConfig: url and tls_* (ours)', () => {
  const base = { name: 'n' };
  const FORMS = 'http://host[:port][/path], https://host[:port][/path] or unix:///absolute/path.sock';
  const CREDENTIALS = "'url' must not contain credentials (user:password@): set 'username' and 'password' instead, which are kept out of printed configurations";
  const dir = mkdtempSync(join(tmpdir(), 'config-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const https = { ...base, url: 'https://h/RPC2' };
  const notPem = file('not-pem.txt', 'hello\n');
  const badCert = file('bad-cert.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const cases: Array<[unknown, string, string]> = [
    [{ ...base, url: 5 }, 'url', `'url' should be ${FORMS}, got 5`],
    [{ ...base, url: '' }, 'url', `'url' should be ${FORMS}, got ''`],
    [{ ...base, url: ['https://h'] }, 'url', `'url' should be ${FORMS}, got ['https://h']`],
    [{ ...base, url: 'localhost:9001' }, 'url', `'url' should be ${FORMS}, got 'localhost:9001'`],
    [{ ...base, url: '/var/run/supervisor.sock' }, 'url', `'url' should be ${FORMS}, got '/var/run/supervisor.sock'`],
    [{ ...base, url: 'ftp://h' }, 'url', `'url' should be ${FORMS}, got 'ftp://h'`],
    [{ ...base, url: 'https://h:0' }, 'url', `'url' should be ${FORMS}: address "https://h:0" has an invalid port: expected an integer in 1-65535`],
    [{ ...base, url: 'unix://run/s.sock' }, 'url', `'url' should be ${FORMS}: address "unix://run/s.sock" has a relative socket path: write unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock`],
    [{ ...base, url: 'https://' }, 'url', `'url' should be ${FORMS}: address "https://" has an empty host`],
    // credentials: refused without quoting the URL, whatever its shape
    [{ ...base, url: `https://admin:${SENTINEL}@h/RPC2` }, 'url', CREDENTIALS],
    [{ ...base, url: `http://${SENTINEL}@h` }, 'url', CREDENTIALS],
    [{ ...base, url: `admin:${SENTINEL}@h:9001` }, 'url', CREDENTIALS],
    [{ ...base, url: 'https://@h' }, 'url', CREDENTIALS],
    [{ ...base, url: `https://a:%zz${SENTINEL}@h` }, 'url', CREDENTIALS],
    // one way of naming the server
    [{ ...https, socket: 'unix:///s.sock' }, 'url', "'url' and 'socket' both name the server: set only one of them"],
    [{ ...https, host: 'h' }, 'url', "'url' and 'host' both name the server: set only one of them"],
    [{ ...https, port: 9001 }, 'url', "'url' and 'port' both name the server: set only one of them"],
    // tls_* only with an https url, each key named
    [{ ...base, tls_ca: '/ca.pem' }, 'tls_ca', "'tls_ca' applies only to an https 'url' (e.g. https://host:443/RPC2), not to http://localhost:9001"],
    [{ ...base, port: '09001', tls_verify: false }, 'tls_verify', "'tls_verify' applies only to an https 'url' (e.g. https://host:443/RPC2), not to http://localhost:09001"],
    [{ ...base, socket: 'unix:///s.sock', tls_cert: '/c.pem' }, 'tls_cert', "'tls_cert' applies only to an https 'url' (e.g. https://host:443/RPC2), not to unix:///s.sock"],
    [{ ...base, url: 'http://h', tls_key: '/k.pem' }, 'tls_key', "'tls_key' applies only to an https 'url' (e.g. https://host:443/RPC2), not to http://h:80"],
    [{ ...base, url: 'unix:///s.sock', tls_verify: true }, 'tls_verify', "'tls_verify' applies only to an https 'url' (e.g. https://host:443/RPC2), not to unix:///s.sock"],
    [{ ...https, tls_verify: 'no' }, 'tls_verify', "'tls_verify' should be true or false, got 'no'"],
    [{ ...https, tls_verify: 0 }, 'tls_verify', "'tls_verify' should be true or false, got 0"],
    [{ ...https, tls_ca: 5 }, 'tls_ca', "'tls_ca' should be the path of a PEM file, got 5"],
    [{ ...https, tls_ca: '' }, 'tls_ca', "'tls_ca' should be the path of a PEM file, got ''"],
    [{ ...https, tls_cert: ['/c.pem'], tls_key: '/k.pem' }, 'tls_cert', "'tls_cert' should be the path of a PEM file, got ['/c.pem']"],
    [{ ...https, tls_cert: '/c.pem' }, 'tls_key', "'tls_cert' and 'tls_key' go together: 'tls_cert' is set but 'tls_key' is not"],
    [{ ...https, tls_key: '/k.pem', tls_cert: null }, 'tls_cert', "'tls_cert' and 'tls_key' go together: 'tls_key' is set but 'tls_cert' is not"],
    // the files, read at construction
    [{ ...https, tls_ca: join(dir, 'missing.pem') }, 'tls_ca', `'tls_ca' file '${join(dir, 'missing.pem')}' cannot be read: no such file`],
    [{ ...https, tls_ca: dir }, 'tls_ca', `'tls_ca' file '${dir}' is not a regular file`],
    [{ ...https, tls_ca: notPem }, 'tls_ca', `'tls_ca' file '${notPem}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`],
    [{ ...https, tls_cert: notPem, tls_key: notPem }, 'tls_cert', `'tls_cert' file '${notPem}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`],
    [{ ...https, tls_cert: badCert, tls_key: join(dir, 'nokey.pem') }, 'tls_cert', /^'tls_cert' file '.*bad-cert\.pem': certificate 1 cannot be parsed: .+/.source],
    [{ ...https, tls_ca: `${notPem}/x` }, 'tls_ca', `'tls_ca' file '${notPem}/x' cannot be read: ENOTDIR: not a directory, stat '${notPem}/x'`],
  ];
  test('each invalid instance fails with its exact message, naming the key; no credential is echoed', () => {
    for (const [instance, key, message] of cases) {
      if (message.startsWith('^')) {
        assert.throws(() => resolveConfig(instance), (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.equal(error.code, 'ERR_CONFIG');
          assert.equal(error.key, key);
          assert.match(error.message, new RegExp(message));
          return true;
        });
      } else {
        assertConfigError(instance, key, message);
      }
    }
  });

  test('an unreadable file names the key and the path', (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: a chmod 000 file stays readable');
      return;
    }
    const locked = file('locked.pem', 'x');
    spawnSync('chmod', ['000', locked]);
    assertConfigError({ ...https, tls_ca: locked }, 'tls_ca', `'tls_ca' file '${locked}' cannot be read: permission denied`);
  });

  // [url, address, target, host, port]
  const good: Array<[string, unknown, string, string, number]> = [
    ['https://h/RPC2', { kind: 'tcp', tls: true, host: 'h', port: 443, path: '/RPC2', display: 'https://h:443/RPC2' }, 'https://h:443', 'h', 443],
    ['https://h:8443', { kind: 'tcp', tls: true, host: 'h', port: 8443, path: '/RPC2', display: 'https://h:8443/RPC2' }, 'https://h:8443', 'h', 8443],
    ['HTTPS://[::1]:8443/', { kind: 'tcp', tls: true, host: '::1', port: 8443, path: '/RPC2', display: 'https://[::1]:8443/RPC2' }, 'https://[::1]:8443', '::1', 8443],
    ['https://proxy/supervisor/RPC2', { kind: 'tcp', tls: true, host: 'proxy', port: 443, path: '/supervisor/RPC2', display: 'https://proxy:443/supervisor/RPC2' }, 'https://proxy:443', 'proxy', 443],
    ['http://h:9001', tcpExpected('h', 9001), 'http://h:9001', 'h', 9001],
    ['http://h', tcpExpected('h', 80), 'http://h:80', 'h', 80],
    ['unix:///run/s.sock', { kind: 'unix', socketPath: '/run/s.sock', path: '/RPC2', display: 'unix:///run/s.sock' }, 'unix:///run/s.sock', 'localhost', 9001],
    ['unix:///tmp/a@b.sock', { kind: 'unix', socketPath: '/tmp/a@b.sock', path: '/RPC2', display: 'unix:///tmp/a@b.sock' }, 'unix:///tmp/a@b.sock', 'localhost', 9001],
  ];
  test('url: the address, the target of the messages, and host/port', () => {
    for (const [url, address, target, host, port] of good) {
      const { config, tls, warnings } = resolveConfig({ ...base, url });
      assert.deepEqual(config.address, address, url);
      assert.equal(config.target, target, url);
      assert.equal(config.url, url);
      assert.equal(config.socket, undefined);
      assert.equal(config.host, host);
      assert.equal(config.port, port);
      assert.equal(config.portText, String(port));
      assert.deepEqual(warnings, []);
      const https = url.toLowerCase().startsWith('https:');
      assert.deepEqual(config.tls, https ? { verify: true, ca: undefined, cert: undefined, key: undefined } : undefined, url);
      assert.equal(tls instanceof TlsMaterial, https, url);
      if (https) assert.deepEqual(tls!.clientOptions(), { rejectUnauthorized: true });
    }
  });

  test('null url, tls_* keys are unset; an https url takes tls_verify: false', () => {
    const unset = resolveConfig({ ...base, url: null, tls_ca: null, tls_verify: null, socket: 'unix:///s.sock' });
    assert.equal(unset.config.target, 'unix:///s.sock');
    assert.equal(unset.tls, undefined);
    const { config, tls } = resolveConfig({ ...https, tls_verify: false, host: null });
    assert.deepEqual(config.tls, { verify: false, ca: undefined, cert: undefined, key: undefined });
    assert.deepEqual(tls!.clientOptions(), { rejectUnauthorized: false });
    assert.ok(Object.isFrozen(config.tls));
  });

  test('TlsMaterial: the key reaches the transport only', () => {
    const material = new TlsMaterial(true, { ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from(SENTINEL) });
    assert.deepEqual(material.clientOptions(), { rejectUnauthorized: true, ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from(SENTINEL) });
    assert.deepEqual(JSON.parse(JSON.stringify(material)), { verify: true, ca: '2 bytes', cert: '4 bytes', key: '***' });
    for (const text of [JSON.stringify(material), inspect(material, { showHidden: true }), String(material)]) {
      assert.ok(!text.includes(SENTINEL), text);
    }
    assert.equal(String(material), 'TlsMaterial({"verify":true,"ca":"2 bytes","cert":"4 bytes","key":"***"})');
    assert.equal(String(new TlsMaterial(false)), 'TlsMaterial({"verify":false})');
  });
});

describe('resolveConfig: credentials', () => {
  const cases: Array<[Record<string, unknown>, { username: string; password: string } | undefined, string[]]> = [
    [{ username: 'u', password: SENTINEL }, { username: 'u', password: SENTINEL }, []],
    [{ user: 'u', pass: SENTINEL }, { username: 'u', password: SENTINEL }, ["'user' is deprecated, use 'username' instead", "'pass' is deprecated, use 'password' instead"]],
    // username/password win; an empty one falls back to the alias (the reference's `or`)
    [{ username: 'new', user: 'old', password: SENTINEL, pass: 'old' }, { username: 'new', password: SENTINEL }, ["'user' is deprecated, use 'username' instead", "'pass' is deprecated, use 'password' instead"]],
    [{ username: '', user: 'old', password: SENTINEL }, { username: 'old', password: SENTINEL }, ["'user' is deprecated, use 'username' instead"]],
    // YAML reads `password: 1234` as a number
    [{ username: 'u', password: 1234 }, { username: 'u', password: '1234' }, []],
    // sent only when both are set
    [{ username: 'u' }, undefined, ["'username' is set but 'password' is not: no credentials are sent"]],
    [{ password: SENTINEL }, undefined, ["'password' is set but 'username' is not: no credentials are sent"]],
    [{ username: 'u', password: '' }, undefined, ["'username' is set but 'password' is not: no credentials are sent"]],
  ];
  test('precedence, deprecations and the both-or-nothing rule', () => {
    for (const [keys, expected, warnings] of cases) {
      const resolution = resolveConfig({ name: 'n', ...keys });
      assert.deepEqual(resolution.warnings, warnings, JSON.stringify(keys));
      if (expected === undefined) {
        assert.equal(resolution.credentials, undefined);
        assert.equal(resolution.config.authenticated, false);
      } else {
        assert.equal(resolution.credentials?.username, expected.username);
        assert.equal(resolution.credentials?.password, expected.password);
        assert.equal(resolution.config.username, expected.username);
        assert.equal(resolution.config.authenticated, true);
      }
    }
  });

  test('the password is in no printable form of the resolution', () => {
    const resolution = resolveConfig({ name: 'n', username: 'u', password: SENTINEL, unknown_key: 1 });
    const printed = [
      JSON.stringify(resolution),
      inspect(resolution, { depth: 10, showHidden: true }),
      String(resolution.credentials),
      `${resolution.credentials}`,
      JSON.stringify(resolution.config),
      inspect(resolution.config, { depth: 10, showHidden: true }),
      resolution.warnings.join('\n'),
    ];
    for (const text of printed) assert.ok(!text.includes(SENTINEL), text);
    assert.ok(resolution.credentials instanceof Credentials);
    assert.deepEqual(JSON.parse(JSON.stringify(resolution.credentials)), { username: 'u', password: '***' });
  });
});

describe('resolveConfig: warnings', () => {
  test('unknown keys are reported, not refused', () => {
    const { warnings } = resolveConfig({ name: 'n', proc_name: ['typo'], 'with space': 1 });
    assert.deepEqual(warnings, ["Unknown configuration key 'proc_name' is ignored", "Unknown configuration key 'with space' is ignored"]);
  });

  test("the Agent's own instance keys are accepted silently", () => {
    const instance: Record<string, unknown> = { name: 'n' };
    for (const key of AGENT_KEYS) instance[key] = 1;
    assert.deepEqual(resolveConfig(instance).warnings, []);
    assert.deepEqual([...AGENT_KEYS].sort(), ['disable_generic_tags', 'empty_default_hostname', 'min_collection_interval', 'server_check', 'service']);
  });

  test('an override of a state supervisord does not have is kept, with a warning', () => {
    const { config, warnings } = resolveConfig({ name: 'n', status_mapping_override: { stopped: 'up', RUNNING: 'down' } });
    assert.equal(config.statusMapping['stopped'], 'up');
    assert.equal(config.statusMapping['RUNNING'], 'down');
    assert.deepEqual(warnings, [
      "'status_mapping_override' key 'stopped' is not a supervisord state (STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN); it only applies if the server sends it",
    ]);
  });
});

// ---------------------------------------------------------------------------
// Python repr, used by the messages above
// ---------------------------------------------------------------------------

const REPR_VALUES: unknown[] = [
  'foo',
  '',
  "it's",
  'say "hi"',
  `both ' and "`,
  'back\\slash',
  'tab\tnew\nline\rcr',
  '\u0000\u001f\u007f\u0085\u00a0',
  'caf\u00e9 \u4e2d \ud83d\ude00',
  '\u200b\u2028\ufeff',
  '\ud800',
  5,
  -3,
  0,
  12345678901234567890,
  1e21,
  1.5,
  -0.25,
  0.0001,
  0.00001,
  1e16 + 0.5,
  123456789.125,
  1.5e300,
  -2.5e-7,
  true,
  false,
  null,
  [],
  [1, 'a', [null]],
  {},
  { a: 1, 'b c': [true, 'x'] },
];

describe('pythonRepr', () => {
  test('examples', () => {
    assert.equal(pythonRepr('foo'), "'foo'");
    assert.equal(pythonRepr(['foo']), "['foo']");
    assert.equal(pythonRepr([5]), '[5]');
    assert.equal(pythonRepr([true]), '[True]');
    assert.equal(pythonRepr([null]), '[None]');
    assert.equal(pythonRepr([{ a: 1 }]), "[{'a': 1}]");
    assert.equal(pythonRepr(undefined), 'None');
    assert.equal(pythonRepr(NaN), 'nan');
    assert.equal(pythonRepr(-Infinity), '-inf');
    assert.equal(pythonRepr(Infinity), 'inf');
    assert.equal(pythonRepr(10n), '10');
    assert.equal(pythonRepr(new Date(0)), "'1970-01-01T00:00:00.000Z'");
    assert.equal(pythonRepr(Symbol.for('x')), "'Symbol(x)'");
    assert.equal(pythonStr('raw'), 'raw');
    assert.equal(pythonStr(null), 'None');
  });

  test('recursive containers print like Python', () => {
    const list: unknown[] = [1];
    list.push(list);
    assert.equal(pythonRepr(list), '[1, [...]]');
    const dict: Record<string, unknown> = {};
    dict['self'] = dict;
    assert.equal(pythonRepr(dict), "{'self': {...}}");
  });

  test('same text as CPython repr() of the same JSON value', (t) => {
    const run = spawnSync('python3', ['-c', 'import json,sys\nfor v in json.load(sys.stdin): print(json.dumps(repr(v)))'], {
      input: JSON.stringify(REPR_VALUES),
      encoding: 'utf8',
    });
    if (run.error !== undefined || run.status !== 0) {
      t.skip(`python3 not available: ${run.error?.message ?? run.stderr}`);
      return;
    }
    const expected = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as string);
    REPR_VALUES.forEach((value, i) => {
      // JSON has one number type; Python reads integral values as int, like pythonRepr prints them.
      assert.equal(pythonRepr(value), expected[i], JSON.stringify(value));
    });
  });
});

function tcpExpected(host: string, port: number): unknown {
  return { kind: 'tcp', tls: false, host, port, path: '/RPC2', display: `http://${host}:${port}/RPC2` };
}
