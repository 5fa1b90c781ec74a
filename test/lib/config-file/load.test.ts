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
