import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressError } from '../../protocol/errors.js';
import { parseAddress, tcpAddress, unixAddress, validateCredential } from '../../protocol/address.js';
import type { Address, ParsedAddress } from '../../protocol/address.js';

const tcp = (host: string, port: number, path = '/RPC2', tls = false, display?: string): Address => ({
  kind: 'tcp',
  tls,
  host,
  port,
  path,
  display: display ?? `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`,
});
const unix = (socketPath: string, path = '/RPC2'): Address => ({ kind: 'unix', socketPath, path, display: `unix://${socketPath}` });

const valid: Array<[string, ParsedAddress]> = [
  ['unix:///var/run/supervisor.sock', { address: unix('/var/run/supervisor.sock') }],
  ['UNIX:///tmp/s.sock', { address: unix('/tmp/s.sock') }],
  ['/run/supervisor.sock', { address: unix('/run/supervisor.sock') }],
  ['unix:///tmp/with space.sock', { address: unix('/tmp/with space.sock') }],
  ['http://localhost:9001', { address: tcp('localhost', 9001) }],
  ['http://localhost:9001/RPC2', { address: tcp('localhost', 9001) }],
  ['http://localhost', { address: tcp('localhost', 80) }],
  ['https://h', { address: tcp('h', 443, '/RPC2', true) }],
  ['HTTPS://h:8443/RPC2', { address: tcp('h', 8443, '/RPC2', true) }],
  ['http://localhost:9001/', { address: tcp('localhost', 9001, '/') }],
  ['http://h:/x', { address: tcp('h', 80, '/x') }],
  ['http://h:9001?q=1', { address: tcp('h', 9001, '/RPC2?q=1') }],
  ['http://h:9001/RPC2#frag', { address: tcp('h', 9001, '/RPC2') }],
  ['http://h:9001/a b/é', { address: tcp('h', 9001, '/a%20b/%C3%A9') }],
  ['http://[::1]:9001/RPC2', { address: tcp('::1', 9001) }],
  ['http://[::1]', { address: tcp('::1', 80) }],
  ['http://[fe80::1%eth0]:9001', { address: tcp('fe80::1%eth0', 9001) }],
  ['http://user:pass@localhost:9001', { address: tcp('localhost', 9001), username: 'user', password: 'pass' }],
  ['http://us%20er:p%40ss%3Aw@h', { address: tcp('h', 80), username: 'us er', password: 'p@ss:w' }],
  ['http://user:p@ss@h:1', { address: tcp('h', 1), username: 'user', password: 'p@ss' }],
  ['http://user@h', { address: tcp('h', 80), username: 'user' }],
  ['http://user:@h', { address: tcp('h', 80), username: 'user', password: '' }],
  ['localhost', { address: tcp('localhost', 9001) }],
  ['localhost:9002', { address: tcp('localhost', 9002) }],
  ['127.0.0.1:65535', { address: tcp('127.0.0.1', 65535) }],
  ['[::1]:9001', { address: tcp('::1', 9001) }],
  ['u:p@10.0.0.1', { address: tcp('10.0.0.1', 9001), username: 'u', password: 'p' }],
  ['h:9001/custom', { address: tcp('h', 9001, '/custom') }],
];

for (const [input, expected] of valid) {
  test(`parseAddress(${JSON.stringify(input)})`, () => {
    assert.deepEqual(parseAddress(input), expected);
  });
}

const SECRET = 'S3cr3t-sentinel';
const invalid: Array<[string, string]> = [
  ['', 'address is empty'],
  ['   ', 'address is empty'],
  ['unix://', 'address "unix://" has an empty socket path'],
  [
    'unix://relative.sock',
    'address "unix://relative.sock" has a relative socket path: write unix:// followed by an absolute path, e.g. unix:///var/run/supervisor.sock',
  ],
  ['ftp://h', 'address "ftp://h" has unknown scheme ftp: expected unix, http or https'],
  ['http://', 'address "http://" has an empty host'],
  ['http://:9001', 'address "http://:9001" has an empty host'],
  ['http://h:0', 'address "http://h:0" has an invalid port: expected an integer in 1-65535'],
  ['http://h:65536', 'address "http://h:65536" has an invalid port: expected an integer in 1-65535'],
  ['http://h:123456', 'address "http://h:123456" has an invalid port: expected an integer in 1-65535'],
  ['http://h:90a1', 'address "http://h:90a1" has an invalid port: expected an integer in 1-65535'],
  ['h:-1', 'address "h:-1" has an invalid port: expected an integer in 1-65535'],
  ['foo:bar', 'address "foo:bar" has an invalid port: expected an integer in 1-65535'],
  ['http://h\r\n:9001', 'address "http://h\\r\\n:9001" contains a CR, LF or NUL character'],
  ['http://h:9001/RPC2\nX-Evil: 1', 'address "http://h:9001/RPC2\\nX-Evil: 1" contains a CR, LF or NUL character'],
  ['unix:///tmp/a\0b', 'address "unix:///tmp/a\\u0000b" contains a CR, LF or NUL character'],
  ['http://h h:9001', 'address "http://h h:9001" has an invalid character in the host'],
  ['http://[::1:9001', 'address "http://[::1:9001" has an unterminated IPv6 host (missing "]")'],
  ['http://[::1]x', 'address "http://[::1]x" has unexpected text after the IPv6 host'],
  ['http://[host]:1', 'address "http://[host]:1" has brackets around a host that is not an IPv6 address'],
  ['http://a:b:c', 'address "http://a:b:c" has an invalid port: expected an integer in 1-65535'],
  ['http://ho[st', 'address "http://ho[st" has an invalid character in the host'],
  // credentials: the message masks the userinfo and names only the field
  [`http://user:${SECRET}%zz@h`, 'address "http://***@h" has a password that is not valid percent-encoding'],
  [`http://us%zzer:${SECRET}@h`, 'address "http://***@h" has a username that is not valid percent-encoding'],
  [`http://user:${SECRET}%0D%0A@h`, 'password contains a CR, LF or NUL character'],
  [`http://us%3Aer:${SECRET}@h`, 'username contains a colon, which HTTP Basic authentication cannot carry'],
  [`http://user:${SECRET}@h:99999`, 'address "http://***@h:99999" has an invalid port: expected an integer in 1-65535'],
  [`ftp://user:${SECRET}@h`, 'address "ftp://***@h" has unknown scheme ftp: expected unix, http or https'],
  [`http://user:${SECRET}@`, 'address "http://***@" has an empty host'],
  [`user:${SECRET}@h:x`, 'address "***@h:x" has an invalid port: expected an integer in 1-65535'],
  // '/', '?' or '#' unescaped in a password end the authority early; the quoted input still hides the password
  [`http://user:${SECRET}/x@h`, 'address "http://***@h" has an invalid port: expected an integer in 1-65535'],
  [`http://user:${SECRET}#x@h:1`, 'address "http://***@h:1" has an invalid port: expected an integer in 1-65535'],
  [`user:${SECRET}?x@h`, 'address "***@h" has an invalid port: expected an integer in 1-65535'],
];

for (const [input, message] of invalid) {
  test(`parseAddress refuses ${JSON.stringify(input)}`, () => {
    assert.throws(
      () => parseAddress(input),
      (e: unknown) => {
        assert.ok(e instanceof AddressError);
        assert.equal(e.code, 'ERR_INVALID_ADDRESS');
        assert.equal(e.message, message);
        assert.ok(!JSON.stringify({ m: e.message, s: e.stack }).includes(SECRET), 'secret leaked');
        return true;
      },
    );
  });
}

test('parseAddress refuses a non-string with a TypeError', () => {
  assert.throws(() => parseAddress(42 as unknown as string), { name: 'TypeError', message: 'address must be a string, got number' });
  assert.throws(() => parseAddress(null as unknown as string), { name: 'TypeError', message: 'address must be a string, got null' });
});

test('tcpAddress defaults and variants', () => {
  const cases: Array<[Parameters<typeof tcpAddress>, Address]> = [
    [['localhost'], tcp('localhost', 9001)],
    [['localhost', 9002], tcp('localhost', 9002)],
    [['localhost', '9003'], tcp('localhost', 9003)],
    [['localhost', ' 9004 '], tcp('localhost', 9004)],
    [['::1'], tcp('::1', 9001)],
    [['[::1]', 1], tcp('::1', 1)],
    [['h', 443, { tls: true }], tcp('h', 443, '/RPC2', true)],
    [['h', undefined, { path: '/RPC2/x' }], tcp('h', 9001, '/RPC2/x')],
    [['h', 1, { tls: false, path: '/a b' }], tcp('h', 1, '/a%20b')],
  ];
  for (const [args, expected] of cases) assert.deepEqual(tcpAddress(...args), expected, JSON.stringify(args));
});

test('tcpAddress refusals', () => {
  const cases: Array<[() => unknown, string, string]> = [
    [() => tcpAddress(''), 'AddressError', 'address "" has an empty host'],
    [() => tcpAddress('a/b'), 'AddressError', 'address "a/b" has an invalid character in the host'],
    [() => tcpAddress('a\r\nb'), 'AddressError', 'address "a\\r\\nb" has an invalid character in the host'],
    [() => tcpAddress('h', 0), 'AddressError', 'invalid port "0": expected an integer in 1-65535'],
    [() => tcpAddress('h', 1.5), 'AddressError', 'invalid port "1.5": expected an integer in 1-65535'],
    [() => tcpAddress('h', 'x'), 'AddressError', 'invalid port "x": expected an integer in 1-65535'],
    [() => tcpAddress('h', ''), 'AddressError', 'invalid port "": expected an integer in 1-65535'],
    [() => tcpAddress('h', 70000), 'AddressError', 'invalid port "70000": expected an integer in 1-65535'],
    [() => tcpAddress('h', {} as unknown as number), 'TypeError', 'port must be a number or a string, got object'],
    [() => tcpAddress('h', 1, { path: 'RPC2' }), 'AddressError', 'path "RPC2" does not start with "/"'],
    [() => tcpAddress('h', 1, { path: '/x\r\n' }), 'AddressError', 'path "/x\\r\\n" contains a CR, LF or NUL character'],
    [() => tcpAddress('h', 1, { path: 5 as unknown as string }), 'TypeError', 'path must be a string, got number'],
    [() => tcpAddress(undefined as unknown as string), 'TypeError', 'host must be a string, got undefined'],
    [() => tcpAddress('g:h'), 'AddressError', 'address "g:h" has an invalid host'],
    [() => tcpAddress('::1%'), 'AddressError', 'address "::1%" has an invalid host'],
  ];
  for (const [fn, name, message] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, name);
      assert.equal(e.message, message);
      if (e instanceof AddressError) assert.equal(e.code, 'ERR_INVALID_ADDRESS');
      return true;
    });
  }
});

test('unixAddress', () => {
  assert.deepEqual(unixAddress('/tmp/s.sock'), unix('/tmp/s.sock'));
  assert.deepEqual(unixAddress('/tmp/s.sock', '/RPC2/x'), unix('/tmp/s.sock', '/RPC2/x'));
  const cases: Array<[() => unknown, string, string]> = [
    [() => unixAddress(''), 'AddressError', 'socket path is empty'],
    [() => unixAddress('s.sock'), 'AddressError', 'socket path "s.sock" is not absolute'],
    [() => unixAddress('unix:///tmp/s.sock'), 'AddressError', 'socket path "unix:///tmp/s.sock" is not absolute'],
    [() => unixAddress('/tmp/\n'), 'AddressError', 'socket path "/tmp/\\n" contains a CR, LF or NUL character'],
    [() => unixAddress('/tmp/s', 'x'), 'AddressError', 'path "x" does not start with "/"'],
    [() => unixAddress(7 as unknown as string), 'TypeError', 'socket path must be a string, got number'],
  ];
  for (const [fn, name, message] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, name);
      assert.equal(e.message, message);
      return true;
    });
  }
});

test('validateCredential names the field, never the value', () => {
  validateCredential('username', 'admin');
  validateCredential('password', 'p:a@s s');
  validateCredential('password', '');
  const cases: Array<['username' | 'password', string, string]> = [
    ['username', `a\r${SECRET}`, 'username contains a CR, LF or NUL character'],
    ['password', `${SECRET}\n`, 'password contains a CR, LF or NUL character'],
    ['password', `${SECRET}\0`, 'password contains a CR, LF or NUL character'],
    ['username', `a:${SECRET}`, 'username contains a colon, which HTTP Basic authentication cannot carry'],
  ];
  for (const [field, value, message] of cases) {
    assert.throws(
      () => validateCredential(field, value),
      (e: unknown) => {
        assert.ok(e instanceof AddressError);
        assert.equal(e.code, 'ERR_INVALID_ADDRESS');
        assert.equal(e.message, message);
        assert.ok(!String(e.stack).includes(SECRET));
        return true;
      },
    );
  }
  assert.throws(() => validateCredential('password', 1 as unknown as string), {
    name: 'TypeError',
    message: 'password must be a string, got number',
  });
});
