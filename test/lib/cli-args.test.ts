/**
 * Parsing of the command line: every flag, the conflicts, the refusals (and
 * that they never echo a secret), durations, host:port values, server URLs
 * and the instance the flags describe.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  defaultName,
  HELP_TEXT,
  hostPort,
  instanceFromOptions,
  parseArgs,
  parseDuration,
  parseHostPort,
  targetFromUrl,
  UsageError,
} from '../../lib/cli/args.js';
import type { CliOptions, Target } from '../../lib/cli/args.js';

const SECRET = 'S3cret-sentinel-9f2c';

function usage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_USAGE');
    assert.equal(error.name, 'UsageError');
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    assert.equal(error.message.includes(SECRET), false, 'a secret was echoed');
    return true;
  });
}

const BASE: CliOptions = {
  command: 'check',
  demoArgs: [],
  procNames: [],
  procRegex: [],
  procNamesExclude: [],
  procRegexExclude: [],
  statusMapping: [],
  tags: [],
  color: true,
};

describe('parseArgs: accepted command lines', () => {
  const cases: Array<{ argv: string[]; expect: Partial<CliOptions> }> = [
    { argv: [], expect: {} },
    { argv: ['--help'], expect: { command: 'help' } },
    { argv: ['-h', '--bogus'], expect: { command: 'help' } },
    { argv: ['--port', 'x', '--version'], expect: { command: 'version' } },
    { argv: ['-V'], expect: { command: 'version' } },
    { argv: ['demo'], expect: { command: 'demo' } },
    { argv: ['demo', '--rounds', '2'], expect: { command: 'demo', demoArgs: ['--rounds', '2'] } },
    { argv: ['--socket', 'unix:///run/s.sock'], expect: { socket: 'unix:///run/s.sock' } },
    { argv: ['--socket=/run/s.sock'], expect: { socket: 'unix:///run/s.sock' } },
    { argv: ['--host', 'h', '--port', '9002'], expect: { host: 'h', port: 9002 } },
    { argv: ['--port=1'], expect: { port: 1 } },
    { argv: ['--url', 'http://h:1'], expect: { url: 'http://h:1' } },
    { argv: ['--url', 'https://h', '--tls-ca', 'ca.pem'], expect: { url: 'https://h', tlsCa: 'ca.pem' } },
    { argv: ['--url=https://h', '--insecure'], expect: { url: 'https://h', insecure: true } },
    { argv: ['--tls-cert=c.pem', '--tls-key', 'k.pem'], expect: { tlsCert: 'c.pem', tlsKey: 'k.pem' } },
    // the https server may come from SUPERVISOR_SERVER_URL: checked by instanceFromOptions
    { argv: ['--insecure', '--tls-ca', '/ca.pem'], expect: { insecure: true, tlsCa: '/ca.pem' } },
    { argv: ['--username', 'u', '--password-file', '/p'], expect: { username: 'u', passwordFile: '/p' } },
    { argv: ['--name', 'prod'], expect: { name: 'prod' } },
    { argv: ['--proc-names', 'a,b', '--proc-names', 'c'], expect: { procNames: ['a', 'b', 'c'] } },
    { argv: ['--proc-names-exclude=x,y'], expect: { procNamesExclude: ['x', 'y'] } },
    { argv: ['--proc-regex', 'a{1,3}', '--proc-regex', '^b'], expect: { procRegex: ['a{1,3}', '^b'] } },
    { argv: ['--proc-regex-exclude', '-x'], expect: { procRegexExclude: ['-x'] } },
    {
      argv: ['--status-mapping', 'STOPPED=up', '--status-mapping=EXITED=down,FATAL=unknown'],
      expect: { statusMapping: [['STOPPED', 'up'], ['EXITED', 'down'], ['FATAL', 'unknown']] },
    },
    { argv: ['--tag', 'env:prod', '--tag', 'bare'], expect: { tags: ['env:prod', 'bare'] } },
    { argv: ['--timeout', '500ms'], expect: { timeoutSeconds: 0.5 } },
    { argv: ['--timeout', '10'], expect: { timeoutSeconds: 10 } },
    { argv: ['--config', 'c.json'], expect: { config: 'c.json' } },
    { argv: ['--format', 'prometheus'], expect: { format: 'prometheus' } },
    { argv: ['--interval', '15s'], expect: { intervalMs: 15000 } },
    { argv: ['--interval', '100ms', '--format', 'json'], expect: { intervalMs: 100, format: 'json' } },
    { argv: ['--serve', '127.0.0.1:9876'], expect: { serve: { host: '127.0.0.1', port: 9876 } } },
    { argv: ['--serve', '0'], expect: { serve: { host: '127.0.0.1', port: 0 } } },
    { argv: ['--dogstatsd', '[::1]:8125', '--interval', '1m'], expect: { dogstatsd: { host: '::1', port: 8125 }, intervalMs: 60000 } },
    { argv: ['--no-color'], expect: { color: false } },
    { argv: ['--config', 'c.json', '--password-file', '/p', '--format', 'text'], expect: { config: 'c.json', passwordFile: '/p', format: 'text' } },
    { argv: ['--no-color', '--'], expect: { color: false } },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.argv), () => {
      assert.deepEqual(parseArgs(c.argv), { ...BASE, ...c.expect });
    });
  }
});

describe('parseArgs: refused command lines', () => {
  const refusal = /^--password is not accepted: a password on the command line is visible to every user of the machine \(ps, \/proc\) and stays in the shell history; put it in a file readable only by you and pass --password-file FILE, or set SUPERVISORD_PASSWORD$/;
  const cases: Array<[string[], string | RegExp]> = [
    [['--password', SECRET], refusal],
    [[`--password=${SECRET}`], refusal],
    [['--pass', SECRET], refusal],
    [['--username', 'u', `--password=${SECRET}`], refusal],
    [['--bogus'], 'unknown option "--bogus" (see --help)'],
    [['-x'], 'unknown option "-x" (see --help)'],
    [['check'], 'unexpected argument "check" (the only subcommand is demo, as the first argument)'],
    [['--no-color', 'demo'], 'unexpected argument "demo" (the only subcommand is demo, as the first argument)'],
    [['--', 'x'], 'unexpected argument "x"'],
    [['--port'], '--port needs a value'],
    [['--port', '--host', 'h'], '--port needs a value'],
    [['--no-color=yes'], '--no-color takes no value'],
    [['--port', '0'], '--port needs a port number from 1 to 65535, got "0"'],
    [['--port', '65536'], '--port needs a port number from 1 to 65535, got "65536"'],
    [['--port', '9x'], '--port needs a port number from 1 to 65535, got "9x"'],
    [['--port', '1', '--port', '2'], '--port is given more than once'],
    [['--host', ' '], '--host needs a host name or an IP address'],
    [['--name', '  '], '--name needs a non-blank server name'],
    [['--username='], '--username needs a non-empty value'],
    [['--socket', 'run/s.sock'], '--socket needs unix:///absolute/path.sock or an absolute path, got "run/s.sock"'],
    [['--socket', 'unix://run/s.sock'], '--socket needs unix:///absolute/path.sock or an absolute path, got "unix://run/s.sock"'],
    [['--proc-names', 'a,,b'], '--proc-names has an empty name in "a,,b" (names are separated by commas)'],
    [['--status-mapping', 'STOPPED'], '--status-mapping must be STATE=up|down|unknown, e.g. STOPPED=up, got "STOPPED"'],
    [['--status-mapping', '=up'], '--status-mapping must be STATE=up|down|unknown, e.g. STOPPED=up, got "=up"'],
    [['--status-mapping', 'A=up,B='], '--status-mapping must be STATE=up|down|unknown, e.g. STOPPED=up, got "B="'],
    // Regressions: the check's own message suggested the refused value and named the config key.
    [['--status-mapping', 'STOPPED=ok'], '--status-mapping "STOPPED=ok": the status must be up, down or unknown (lower case), got "ok"'],
    [['--status-mapping', 'RUNNING=up,FATAL=UP'], '--status-mapping "FATAL=UP": the status must be up, down or unknown (lower case), got "UP"'],
    // Regressions: a host:port became the IPv6 literal [127.0.0.1:19001].
    [['--host', '127.0.0.1:19001'], '--host takes no port, got "127.0.0.1:19001": use --host 127.0.0.1 --port 19001'],
    [['--host', 'sv.example:9001'], '--host takes no port, got "sv.example:9001": use --host sv.example --port 9001'],
    [['--host', '[::1]:9001'], '--host takes an IPv6 address without brackets: use --host ::1 --port 9001'],
    [['--host', '[::1]'], '--host takes an IPv6 address without brackets: use --host ::1'],
    [['--host', 'http://h:9001'], '--host takes a host name or an IP address, not a URL: use --url http://h:9001'],
    // Regressions: user tags merged into labels the check sets (status="down,x").
    [['--tag', 'status:x'], /^--tag "status:x": the key 'status' is one the check sets itself \(supervisord_server, supervisord_process, supervisord_group, status, version, tag\); use another key, e\.g\. 'user_status:x'$/],
    [['--tag', 'env:a', '--tag', 'supervisord_server:evil'], /^--tag "supervisord_server:evil": the key 'supervisord_server' is one/],
    [['--tag', 'Supervisord-Group:x'], /^--tag "Supervisord-Group:x": the key 'Supervisord-Group' is one .*'user_supervisord_group:x'$/],
    [['--tag', ':x'], `--tag ":x": the key before ':' is empty`],
    [['--format', 'xml'], '--format must be one of text, json, prometheus, dogstatsd, nagios, got "xml"'],
    [['--timeout', 'soon'], '--timeout must be a duration like 10s, 500ms or 10 (seconds), got "soon"'],
    [['--interval', '50ms'], '--interval must be at least 100ms, got "50ms"'],
    [['--serve', 'localhost'], /^--serve must be host:port, e\.g\. --serve 127\.0\.0\.1:9876, got "localhost"$/],
    [['--dogstatsd', '127.0.0.1:0'], '--dogstatsd needs a port number from 1 to 65535, got "0"'],
    [['--config', 'c.json', '--socket', '/s'], '--config cannot be combined with --socket: the instances in the file describe the servers'],
    [['--config', 'c.json', '--tag', 'a:b'], '--config cannot be combined with --tag: the instances in the file describe the servers'],
    [['--config', 'c.json', '--tls-ca', 'ca.pem'], '--config cannot be combined with --tls-ca: the instances in the file describe the servers'],
    [['--insecure', '--config', 'c.json'], '--config cannot be combined with --insecure: the instances in the file describe the servers'],
    [['--insecure=yes'], '--insecure takes no value'],
    [['--tls-ca', ''], '--tls-ca needs a non-empty value'],
    [['--tls-ca', 'a', '--tls-ca', 'b'], '--tls-ca is given more than once'],
    [['--url', 'https://h', '--tls-cert', 'c.pem'], '--tls-cert needs --tls-key'],
    [['--url', 'https://h', '--tls-key', 'k.pem'], '--tls-key needs --tls-cert'],
    [['--socket', '/s', '--tls-ca', 'ca.pem'], '--tls-ca applies only to an https server (--url https://...), not to --socket'],
    [['--host', 'h', '--insecure'], '--insecure applies only to an https server (--url https://...), not to --host/--port'],
    [['--port', '1', '--tls-cert', 'c', '--tls-key', 'k'], '--tls-cert applies only to an https server (--url https://...), not to --host/--port'],
    [['--socket', '/s', '--url', 'http://h'], '--socket and --url both name the server: give only one'],
    [['--url', 'http://h', '--port', '1'], '--url and --host/--port both name the server: give only one'],
    [['--serve', '1', '--dogstatsd', '127.0.0.1:1'], '--serve and --dogstatsd cannot be combined: run two instances of supervisord-check'],
    [['--serve', '1', '--interval', '1s'], '--interval does not apply to --serve: each scrape of /metrics runs the check'],
    [['--serve', '1', '--format', 'json'], '--format does not apply to --serve (always prometheus)'],
    [['--dogstatsd', '127.0.0.1:1', '--format', 'text'], '--format does not apply to --dogstatsd (always DogStatsD datagrams)'],
  ];
  for (const [argv, message] of cases) {
    it(JSON.stringify(argv), () => {
      usage(() => parseArgs(argv), message);
    });
  }
});

describe('parseDuration', () => {
  const good: Array<[string, number]> = [
    ['10', 10000],
    ['10s', 10000],
    ['1.5', 1500],
    ['500ms', 500],
    ['2m', 120000],
    ['1h', 3600000],
    ['24h', 86400000],
    [' 3s ', 3000],
    ['0.0004', 0], // rounds to 0 ms: refused below
  ];
  for (const [text, ms] of good) {
    it(`${JSON.stringify(text)} -> ${ms} ms`, () => {
      if (ms === 0) usage(() => parseDuration(text, '--timeout'), `--timeout must be longer than 0, got "${text}"`);
      else assert.equal(parseDuration(text, '--timeout'), ms);
    });
  }
  const bad: Array<[string, string]> = [
    ['', '--x must be a duration like 10s, 500ms or 10 (seconds), got ""'],
    ['-1', '--x must be a duration like 10s, 500ms or 10 (seconds), got "-1"'],
    ['1d', '--x must be a duration like 10s, 500ms or 10 (seconds), got "1d"'],
    ['1e3', '--x must be a duration like 10s, 500ms or 10 (seconds), got "1e3"'],
    ['0', '--x must be longer than 0, got "0"'],
    ['25h', '--x must be at most a day, got "25h"'],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      usage(() => parseDuration(text, '--x'), message);
    });
  }
});

describe('parseHostPort', () => {
  const good: Array<[string, 0 | 1, string, number]> = [
    ['127.0.0.1:9876', 0, '127.0.0.1', 9876],
    ['localhost:8125', 1, 'localhost', 8125],
    ['0.0.0.0:0', 0, '0.0.0.0', 0],
    ['[::1]:9', 1, '::1', 9],
    ['9876', 0, '127.0.0.1', 9876],
  ];
  for (const [text, min, host, port] of good) {
    it(`${text} -> ${host} ${port}`, () => {
      assert.deepEqual(parseHostPort(text, '--serve', min), { host, port });
    });
  }
  const bad: Array<[string, string]> = [
    [':9876', '--serve must be host:port, e.g. --serve 127.0.0.1:9876, got ":9876"'],
    ['::1:9', '--serve must be host:port, e.g. --serve 127.0.0.1:9876, got "::1:9"'],
    ['h:', '--serve needs a port number from 0 to 65535, got ""'],
    ['h:99999', '--serve needs a port number from 0 to 65535, got "99999"'],
    ['a b:1', '--serve has an invalid host "a b", e.g. --serve 127.0.0.1:9876'],
    ['[::1]:x', '--serve needs a port number from 0 to 65535, got "x"'],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      usage(() => parseHostPort(text, '--serve', 0), message);
    });
  }
});

describe('targetFromUrl', () => {
  const good: Array<[string, Target]> = [
    ['unix:///run/supervisor.sock', { socket: 'unix:///run/supervisor.sock', display: 'unix:///run/supervisor.sock' }],
    ['/tmp/s.sock', { socket: 'unix:///tmp/s.sock', display: 'unix:///tmp/s.sock' }],
    ['http://localhost:9001', { host: 'localhost', port: 9001, display: 'http://localhost:9001' }],
    ['http://h', { host: 'h', port: 80, display: 'http://h:80' }],
    ['http://h:9001/', { host: 'h', port: 9001, display: 'http://h:9001' }],
    ['http://h:9001/RPC2', { host: 'h', port: 9001, display: 'http://h:9001' }],
    ['h:9002', { host: 'h', port: 9002, display: 'http://h:9002' }],
    ['http://[::1]:9001', { host: '::1', port: 9001, display: 'http://[::1]:9001' }],
    ['http://bob@h:1', { host: 'h', port: 1, display: 'http://h:1', username: 'bob' }],
    ['http://h:9001/RPC2/x', { host: 'h', port: 9001, display: 'http://h:9001' }],
    // https and proxied paths: our `url` key, without the userinfo
    ['https://h', { url: 'https://h:443/RPC2', host: 'h', port: 443, display: 'https://h:443' }],
    ['HTTPS://h:8443/', { url: 'https://h:8443/', host: 'h', port: 8443, display: 'https://h:8443' }],
    ['https://[::1]:8443/RPC2', { url: 'https://[::1]:8443/RPC2', host: '::1', port: 8443, display: 'https://[::1]:8443' }],
    ['https://bob@h/sup/RPC2', { url: 'https://h:443/sup/RPC2', host: 'h', port: 443, display: 'https://h:443/sup/RPC2', username: 'bob' }],
    ['http://h:9001/admin', { url: 'http://h:9001/admin', host: 'h', port: 9001, display: 'http://h:9001/admin' }],
  ];
  for (const [url, target] of good) {
    it(url, () => {
      assert.deepEqual(targetFromUrl(url, '--url', false), target);
    });
  }

  it('accepts a password from the environment only', () => {
    assert.deepEqual(targetFromUrl(`http://bob:${SECRET}@h:1`, 'SUPERVISOR_SERVER_URL', true), {
      host: 'h',
      port: 1,
      display: 'http://h:1',
      username: 'bob',
      password: SECRET,
    });
    // the password goes to the instance's `password`, never into its `url`
    const https = targetFromUrl(`https://bob:${SECRET}@h:1`, 'SUPERVISOR_SERVER_URL', true);
    assert.deepEqual(https, { url: 'https://h:1/RPC2', host: 'h', port: 1, display: 'https://h:1', username: 'bob', password: SECRET });
    usage(
      () => targetFromUrl(`http://bob:${SECRET}@h:1`, '--url', false),
      /^--url must not contain a password: a password on the command line is visible/,
    );
  });

  const bad: Array<[string, string | RegExp]> = [
    ['ftp://h', /^--url: address .* has unknown scheme ftp: expected unix, http or https$/],
    ['unix://rel.sock', /^--url: address .* has a relative socket path/],
    ['http://h:0', /^--url: /],
    [`http://u:${SECRET}@h:99999`, /^--url: /],
  ];
  for (const [url, message] of bad) {
    it(`refuses ${url.replace(SECRET, 'SECRET')}`, () => {
      usage(() => targetFromUrl(url, '--url', true), message);
    });
  }
});

describe('instances from the flags', () => {
  it('names the server after the socket path or host:port', () => {
    assert.equal(defaultName({ socket: 'unix:///run/s.sock', display: '' }), '/run/s.sock');
    assert.equal(defaultName({ host: 'localhost', port: 9001, display: '' }), 'localhost:9001');
    assert.equal(defaultName({ host: '::1', port: 9001, display: '' }), '[::1]:9001');
    assert.equal(hostPort('[::1]', 1), '[::1]:1');
  });

  it('sets only the keys the flags give', () => {
    assert.deepEqual(instanceFromOptions(BASE, { socket: 'unix:///s', display: '' }, undefined), { name: '/s', socket: 'unix:///s' });
    assert.deepEqual(instanceFromOptions(BASE, { host: 'h', port: 1, display: '' }, undefined), { name: 'h:1', host: 'h', port: 1 });
    assert.deepEqual(instanceFromOptions(BASE, { url: 'https://h:1/RPC2', host: 'h', port: 1, display: '' }, undefined), {
      name: 'h:1',
      url: 'https://h:1/RPC2',
    });
  });

  it('maps the TLS flags to the tls_* keys of an https target', () => {
    const https: Target = { url: 'https://h:1/RPC2', host: 'h', port: 1, display: 'https://h:1' };
    const options = parseArgs(['--tls-ca', 'ca.pem', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--insecure']);
    assert.deepEqual(instanceFromOptions(options, https, undefined), {
      name: 'h:1',
      url: 'https://h:1/RPC2',
      tls_ca: 'ca.pem',
      tls_cert: 'c.pem',
      tls_key: 'k.pem',
      tls_verify: false,
    });
  });

  it('refuses a TLS flag for a target that is not https (e.g. from SUPERVISOR_SERVER_URL)', () => {
    const cases: Array<[string[], Target, string]> = [
      [['--tls-ca', 'ca.pem'], { host: 'h', port: 1, display: 'http://h:1' }, '--tls-ca applies only to an https server (--url https://...), not to http://h:1'],
      [['--insecure'], { socket: 'unix:///s', display: 'unix:///s' }, '--insecure applies only to an https server (--url https://...), not to unix:///s'],
      [['--tls-cert', 'c', '--tls-key', 'k'], { url: 'http://h:1/x', host: 'h', port: 1, display: 'http://h:1/x' }, '--tls-cert applies only to an https server (--url https://...), not to http://h:1/x'],
    ];
    for (const [argv, target, message] of cases) usage(() => instanceFromOptions(parseArgs(argv), target, undefined), message);
  });

  it('maps every flag to the reference key', () => {
    const options = parseArgs([
      '--name=prod',
      '--username=u',
      '--proc-names=a,b',
      '--proc-regex=^c',
      '--proc-names-exclude=d',
      '--proc-regex-exclude=e$',
      '--status-mapping=STOPPED=up',
      '--tag=env:x',
      '--timeout=2s',
    ]);
    assert.deepEqual(instanceFromOptions(options, { host: 'h', port: 1, display: '' }, SECRET), {
      name: 'prod',
      host: 'h',
      port: 1,
      username: 'u',
      password: SECRET,
      proc_names: ['a', 'b'],
      proc_regex: ['^c'],
      proc_names_exclude: ['d'],
      proc_regex_exclude: ['e$'],
      status_mapping_override: { STOPPED: 'up' },
      tags: ['env:x'],
      timeout: 2,
    });
  });

  it('sends a password only with a user, and the flag user wins over the URL user', () => {
    assert.equal('password' in instanceFromOptions(BASE, { host: 'h', port: 1, display: '' }, SECRET), false);
    const fromUrl: Target = { host: 'h', port: 1, display: '', username: 'url-user', password: 'url-pass' };
    assert.deepEqual(instanceFromOptions(BASE, fromUrl, undefined), { name: 'h:1', host: 'h', port: 1, username: 'url-user', password: 'url-pass' });
    const flagged = parseArgs(['--username', 'flag-user']);
    assert.deepEqual(instanceFromOptions(flagged, fromUrl, SECRET), { name: 'h:1', host: 'h', port: 1, username: 'flag-user', password: SECRET });
  });
});

describe('HELP_TEXT', () => {
  it('documents every flag, the formats, the environment and the exit codes', () => {
    for (const word of [
      '--socket', '--url', 'https://', '--tls-ca', '--insecure', '--tls-cert', '--tls-key', '--host', '--port', '--username', '--password-file', 'SUPERVISORD_PASSWORD', 'SUPERVISOR_SERVER_URL', '--name',
      '--config', '--proc-names', '--proc-regex', '--proc-names-exclude', '--proc-regex-exclude', '--status-mapping', '--tag',
      '--timeout', '--format', '--no-color', 'NO_COLOR', '--interval', '--serve', '--dogstatsd', '--help', '--version', 'Exit codes',
      'text', 'json', 'prometheus', 'dogstatsd', 'demo',
    ]) {
      assert.ok(HELP_TEXT.includes(word), `--help does not mention ${word}`);
    }
    for (const line of HELP_TEXT.split('\n')) assert.ok(line.length <= 80, `help line too long: ${line}`);
  });

  it('says that --timeout bounds a whole run, not each call (regression: "per-call deadline")', () => {
    assert.doesNotMatch(HELP_TEXT, /per-call/);
    assert.match(HELP_TEXT, /--timeout 10s +deadline of a whole run, every call included/);
  });
});

describe('--timeout: milliseconds survive the trip through seconds', () => {
  it('1001ms, 1.001s and every ms from 1 to 5000 give that many whole milliseconds', async () => {
    const { resolveConfig } = await import('../../lib/config.js');
    const target = { host: 'localhost', port: 9001, display: 'http://localhost:9001' };
    for (let ms = 1; ms <= 5000; ms++) {
      for (const text of [`${ms}ms`, `${ms / 1000}s`]) {
        const instance = instanceFromOptions(parseArgs(['--timeout', text]), target, undefined);
        const { config } = resolveConfig(instance);
        assert.equal(config.timeoutMs, ms, text);
      }
    }
  });
});
