/**
 * The JSON reader of configuration files: `JSON.parse`, plus where numbers
 * and booleans were written, and keys given twice refused.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { JsonSyntaxError, parseJson } from '../../../lib/config-file/json.js';
import { ScalarSources } from '../../../lib/config-file/scalars.js';

describe('parseJson', () => {
  it('records every number and boolean with its text as written, line and column', () => {
    const sources = new ScalarSources();
    const text = '{"a": 1e5, "b": [true, "s", null, -0.50, 12345678901234567890],\r\n  "c": {"d": false, "e\\"": 7},\n\t"f": {}, "g": []}';
    const value = parseJson(text, sources) as { a: number; b: unknown[]; c: Record<string, unknown> };
    assert.deepEqual(value, JSON.parse(text));
    const at = (container: object, key: string | number): unknown => {
      const s = sources.get(container, key);
      return s === undefined ? undefined : [s.text, s.kind, s.line, s.column];
    };
    assert.deepEqual(at(value, 'a'), ['1e5', 'number', 1, 7]);
    assert.deepEqual(at(value.b, 0), ['true', 'boolean', 1, 18]);
    assert.equal(at(value.b, 1), undefined);
    assert.equal(at(value.b, 2), undefined);
    assert.deepEqual(at(value.b, 3), ['-0.50', 'number', 1, 35]);
    assert.deepEqual(at(value.b, 4), ['12345678901234567890', 'number', 1, 42]);
    assert.deepEqual(at(value.c, 'd'), ['false', 'boolean', 2, 14]);
    assert.deepEqual(at(value.c, 'e"'), ['7', 'number', 2, 28]);
  });

  const refused: Array<[string, number, number, string]> = [
    ['{"a": 1, "a": 2}', 1, 10, 'a key given twice in one object'],
    ['{"x": [{"p": "S3cret", "q": 1,\n "p": "S3cret"}]}', 2, 2, 'a key given twice in one object'],
    [`${'['.repeat(65)}${']'.repeat(65)}`, 1, 65, 'nested more than 64 levels deep'],
  ];
  for (const [text, line, column, what] of refused) {
    it(`refuses ${JSON.stringify(text).slice(0, 40)}: ${what}`, () => {
      assert.throws(
        () => parseJson(text, new ScalarSources()),
        (error: unknown) =>
          error instanceof JsonSyntaxError &&
          error.code === 'ERR_JSON_SYNTAX' &&
          error.name === 'JsonSyntaxError' &&
          error.message === `line ${line}, column ${column}: ${what}` &&
          error.line === line &&
          error.column === column,
      );
    });
  }

  it('refuses text that is not JSON without quoting it', () => {
    assert.throws(
      () => parseJson('{"password": "S3cret", }', new ScalarSources()),
      (error: unknown) => error instanceof JsonSyntaxError && error.message === 'not valid JSON' && error.line === 0 && error.column === 0,
    );
  });

  it('accepts 64 levels', () => {
    assert.doesNotThrow(() => parseJson(`${'['.repeat(64)}${']'.repeat(64)}`, new ScalarSources()));
  });
});
