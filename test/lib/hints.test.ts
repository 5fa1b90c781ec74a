/**
 * The warnings that explain a misleading result: include filters that match
 * nothing (with what they probably meant), and a 401 with no credentials.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { HttpStatusError } from '../../protocol/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess } from '../../lib/emulator/index.js';
import { missingCredentialsWarning, unmatchedFilterWarnings } from '../../lib/hints.js';

const NAMES_ONLY = "only process names are matched, never 'group:name' or a group name";
const PROCESSES = [
  makeProcess({ name: 'front', group: 'web' }),
  makeProcess({ name: 'back', group: 'web' }),
  makeProcess({ name: 'worker_1' }),
];

describe('unmatchedFilterWarnings', () => {
  const cases: Array<{ instance: Record<string, unknown>; warnings: string[]; why: string }> = [
    { instance: {}, warnings: [], why: 'no include list: nothing to warn about' },
    { instance: { proc_names: ['front', 'worker_1'], proc_regex: ['^wor', 'ack$'] }, warnings: [], why: 'every entry matched' },
    { instance: { proc_names_exclude: ['ghost'], proc_regex_exclude: ['^nothing$'] }, warnings: [], why: 'excludes are not warned about' },
    {
      // Regression: `--proc-names web:front` (what supervisorctl shows) reported 0 processes, all OK.
      instance: { proc_names: ['web:front'] },
      warnings: [`'proc_names' entry 'web:front' matched no process ('web:front' matches the group or group:name of process 'front'); ${NAMES_ONLY}`],
      why: 'a group:name',
    },
    {
      // Regression: `--proc-regex '^web'` (a group name) reported 0 processes, all OK.
      instance: { proc_regex: ['^web', 'worker_\\d+$'] },
      warnings: [`'proc_regex' pattern '^web' matched no process ('^web' matches the group or group:name of processes 'front', 'back'); ${NAMES_ONLY}`],
      why: 'a pattern of a group name, beside one that matches',
    },
    {
      instance: { proc_names: ['web', 'ghost', 'front'] },
      warnings: [`'proc_names' entries 'web', 'ghost' matched no process ('web' matches the group or group:name of processes 'front', 'back'); ${NAMES_ONLY}`],
      why: 'a group name and an absent name, each named once',
    },
    {
      instance: { proc_names: ['ghost'], proc_regex: ['^nope'] },
      warnings: [`'proc_names' entry 'ghost' matched no process; ${NAMES_ONLY}`, `'proc_regex' pattern '^nope' matched no process; ${NAMES_ONLY}`],
      why: 'both lists, no suggestion when nothing would match',
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      assert.deepEqual(unmatchedFilterWarnings(PROCESSES, resolveConfig({ name: 'n', ...c.instance }).config), c.warnings);
    });
  }

  it('shows at most three processes of a suggestion', () => {
    const many = ['a', 'b', 'c', 'd', 'e'].map((name) => makeProcess({ name, group: 'g' }));
    assert.deepEqual(unmatchedFilterWarnings(many, resolveConfig({ name: 'n', proc_names: ['g'] }).config), [
      `'proc_names' entry 'g' matched no process ('g' matches the group or group:name of processes 'a', 'b', 'c' and 2 more); ${NAMES_ONLY}`,
    ]);
  });

  it('warns for every include entry when the server has no process', () => {
    assert.equal(unmatchedFilterWarnings([], resolveConfig({ name: 'n', proc_names: ['a'], proc_regex: ['b'] }).config).length, 2);
  });
});

describe('missingCredentialsWarning', () => {
  const e401 = new HttpStatusError(401, 'Unauthorized', 'http://h:9001/RPC2');
  it('says what is missing on a 401 without credentials', () => {
    assert.match(missingCredentialsWarning(e401, resolveConfig({ name: 'n' }).config)!, /^the server asks for a username and password \(HTTP 401\) and none are configured: /);
    assert.match(missingCredentialsWarning(e401, resolveConfig({ name: 'n', username: 'u' }).config)!, /and no password is configured: /);
  });

  it('says nothing when credentials were sent or the failure is something else', () => {
    assert.equal(missingCredentialsWarning(e401, resolveConfig({ name: 'n', username: 'u', password: 'p' }).config), undefined);
    assert.equal(missingCredentialsWarning(new HttpStatusError(500, 'Oops', 'http://h:9001/RPC2'), resolveConfig({ name: 'n' }).config), undefined);
    assert.equal(missingCredentialsWarning(new Error('x'), resolveConfig({ name: 'n' }).config), undefined);
  });
});
