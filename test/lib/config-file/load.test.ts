/**
 * Configuration files: JSON or the Agent's conf.yaml, their shape, and
 * whether an instance holds a password.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConfigFileError, holdsPassword, parseConfigFile } from '../../../lib/config-file/load.js';

const L = '--config f';
const YAML_SHAPE = `${L} must hold a YAML mapping with 'instances:', a list of instances (as the Datadog Agent's conf.yaml)`;
const JSON_SHAPE = `${L} must hold a JSON object {"instances": [{...}, ...]}`;

describe('parseConfigFile', () => {
  it('reads JSON when the text starts with { or [, YAML otherwise; the same instances either way', () => {
    const json = parseConfigFile('\uFEFF \n{"init_config": {}, "instances": [{"name": "a", "port": 9001}]}', L);
    const yaml = parseConfigFile('init_config:\ninstances:\n  - name: a\n    port: 9001\nlogs:\n  - type: file\n', L);
    assert.equal(json.format, 'json');
    assert.equal(yaml.format, 'yaml');
    assert.deepEqual(json.instances, [{ name: 'a', port: 9001 }]);
    assert.deepEqual(yaml.instances, json.instances);
  });

  const bad: Array<[string, string]> = [
    ['{"instances": [', `${L} is not valid JSON`],
    ['[]', JSON_SHAPE],
    ['{"instances": []}', `${JSON_SHAPE}: "instances" must be a non-empty list`],
    ['{"instances": {"name": "a"}}', `${JSON_SHAPE}: "instances" must be a non-empty list`],
    ['{"instances": [{}], "extra": 1}', `${JSON_SHAPE}: unknown key "extra"`],
    ['', YAML_SHAPE],
    ['just a string', YAML_SHAPE],
    ['- name: a', YAML_SHAPE],
    ['instances:', `${YAML_SHAPE}: "instances" must be a non-empty list`],
    ['instance:\n  - name: a', `${YAML_SHAPE}: unknown key "instance"`],
    ["instances:\n  - name: a\n   host: h", `${L}: line 3, column 4: unexpected indentation (a value continued on the next lines is not supported: keep it on one line)`],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseConfigFile(text, L),
        (error: unknown) => error instanceof ConfigFileError && error.code === 'ERR_CONFIG_FILE' && error.name === 'ConfigFileError' && error.message === message,
      );
    });
  }
});

describe('holdsPassword', () => {
  it('is true for a non-empty password or pass only', () => {
    assert.equal(holdsPassword({ password: 'x' }), true);
    assert.equal(holdsPassword({ pass: 1234 }), true);
    assert.equal(holdsPassword({ password: '', pass: null }), false);
    assert.equal(holdsPassword({ username: 'u' }), false);
    assert.equal(holdsPassword(null), false);
    assert.equal(holdsPassword('password'), false);
  });
});

describe('parseConfigFile: keys that take text keep the text as written, or refuse it by its position', () => {
  const NUMBER = "and YAML readers read this plain value as a number, which loses the text as written (1e5 becomes 100000, 0x1F 31, 1.50 1.5): quote it";
  const BOOLEAN = 'and YAML readers read this plain value as a boolean: quote it';
  const YAML11 = "and YAML 1.1 readers, the Datadog Agent's among them, read this plain value as a number or a boolean (yes, off, 1_000): quote it";
  const JSON_NUMBER = 'and a JSON number loses the text as written (1e5 is 100000): write it as a JSON string';
  const JSON_BOOLEAN = 'not a JSON boolean: write it as a JSON string';
  const yaml = (value: string): string => `instances:\n  - name: a\n    username: u\n    password: ${value}\n`;
  const json = (value: string): string => `{"instances": [{"name": "a", "username": "u",\n  "password": ${value}}]}`;

  // [written, what the password becomes, or the refusal]
  const yamlCases: Array<[string, string | null | { refused: string }]> = [
    ['1234', '1234'],
    ['0', '0'],
    ['12345678901234567890', '12345678901234567890'],
    ['1e5', { refused: NUMBER }],
    ['0x1F', { refused: NUMBER }],
    ['1.50', { refused: NUMBER }],
    ['0o17', { refused: NUMBER }],
    ['+1', { refused: NUMBER }],
    ['-1', { refused: NUMBER }],
    ['.5', { refused: NUMBER }],
    ['.inf', { refused: NUMBER }],
    ['.nan', { refused: NUMBER }],
    ['1_000', { refused: YAML11 }],
    ['true', { refused: BOOLEAN }],
    ['False', { refused: BOOLEAN }],
    ['yes', { refused: YAML11 }],
    ['off', { refused: YAML11 }],
    ['Y', { refused: YAML11 }],
    ['1:30', { refused: YAML11 }],
    ['~', null],
    ['null', null],
    ["'1e5'", '1e5'],
    ['"0x1F"', '0x1F'],
    ["'yes'", 'yes'],
    ['1e5x', '1e5x'],
  ];

  const jsonCases: Array<[string, string | null | { refused: string }]> = [
    ['1234', '1234'],
    ['0', '0'],
    ['12345678901234567890', '12345678901234567890'],
    ['1e5', { refused: JSON_NUMBER }],
    ['1.50', { refused: JSON_NUMBER }],
    ['-1', { refused: JSON_NUMBER }],
    ['1E+2', { refused: JSON_NUMBER }],
    ['true', { refused: JSON_BOOLEAN }],
    ['null', null],
    ['"1e5"', '1e5'],
  ];
  const formats: Array<[string, typeof yamlCases, (value: string) => string, number]> = [
    ['YAML', yamlCases, yaml, 4],
    ['JSON', jsonCases, json, 2],
  ];
  for (const [format, cases, file, line] of formats) {
    for (const [written, expected] of cases) {
      it(`${format} password: ${written}`, () => {
        if (typeof expected === 'object' && expected !== null) {
          assert.throws(
            () => parseConfigFile(file(written), L),
            (error: unknown) => error instanceof ConfigFileError && error.message === `${L}: line ${line}, column 15: 'password' takes text, ${expected.refused}`,
          );
        } else {
          assert.deepEqual(parseConfigFile(file(written), L).instances, [{ name: 'a', username: 'u', password: expected }]);
        }
      });
    }
  }

  it('every key that takes text, and each item of the lists of text', () => {
    const keys = ['name', 'host', 'socket', 'url', 'username', 'password', 'user', 'pass', 'tls_ca', 'tls_cert', 'tls_key'];
    const lists = ['tags', 'proc_names', 'proc_names_exclude', 'proc_regex', 'proc_regex_exclude'];
    const text = `instances:\n  - port: 9001\n    timeout: 1.5\n    max_connections: 4\n    tls_verify: false\n${keys.map((k) => `    ${k}: 42\n`).join('')}${lists.map((k) => `    ${k}: [7, x]\n`).join('')}`;
    const [instance] = parseConfigFile(text, L).instances as [Record<string, unknown>];
    for (const key of keys) assert.equal(instance[key], '42', key);
    for (const key of lists) assert.deepEqual(instance[key], ['7', 'x'], key);
    // Keys that take numbers or booleans keep them.
    assert.deepEqual([instance['port'], instance['timeout'], instance['max_connections'], instance['tls_verify']], [9001, 1.5, 4, false]);
    for (const [i, key] of keys.entries()) {
      const bad = text.replace(`    ${key}: 42\n`, `    ${key}: 4.2\n`);
      assert.throws(() => parseConfigFile(bad, L), { message: `${L}: line ${6 + i}, column ${7 + key.length}: '${key}' takes text, ${NUMBER}` });
    }
    for (const [i, key] of lists.entries()) {
      const bad = text.replace(`    ${key}: [7, x]\n`, `    ${key}: [7, on]\n`);
      assert.throws(() => parseConfigFile(bad, L), { message: `${L}: line ${6 + keys.length + i}, column ${11 + key.length}: '${key}' item 1 takes text, ${YAML11}` });
    }
  });

  it('the same in /probe modules, their allow-list included', () => {
    const text = 'modules:\n  m:\n    allow: [/run/sv/*.sock, 10]\n    username: 1000\n    password: 99\n    ports: [9001]\n';
    assert.deepEqual(parseConfigFile(text, L).modules, { m: { allow: ['/run/sv/*.sock', '10'], username: '1000', password: '99', ports: [9001] } });
    assert.throws(() => parseConfigFile(text.replace('password: 99', 'password: 9.9'), L), { message: `${L}: line 5, column 15: 'password' takes text, ${NUMBER}` });
    assert.throws(() => parseConfigFile('{"modules": {"m": {"allow": ["/x/*.sock"],\n"password": true}}}', L), { message: `${L}: line 2, column 13: 'password' takes text, ${JSON_BOOLEAN}` });
  });

  it('a JSON key given twice is refused with its position', () => {
    assert.throws(() => parseConfigFile('{"instances": [{"name": "a",\n "password": "x", "password": "y"}]}', L), { message: `${L}: line 2, column 19: a key given twice in one object` });
  });
});
