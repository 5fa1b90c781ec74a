/**
 * The warnings that explain a misleading result: include filters that match
 * nothing (with what they probably meant), and a 401 with no credentials.
 */

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';

import { HttpStatusError } from '../../protocol/errors.js';
import { resolveConfig } from '../../lib/config.js';
import { makeProcess } from '../../lib/emulator/index.js';
import { hintTexts, missingCredentialsWarning, unmatchedFilterWarnings } from '../../lib/hints.js';
import { NameFilter } from '../../lib/name-filter.js';
import { isUnmatchedFilterWarning } from '../../lib/submission-names.js';
import type { ProcessInfo } from '../../lib/types.js';

const NAMES_ONLY = "only process names are matched, never 'group:name' or a group name";
const PROCESSES = [
  makeProcess({ name: 'front', group: 'web' }),
  makeProcess({ name: 'back', group: 'web' }),
  makeProcess({ name: 'worker_1' }),
];

/** The instance's config, its patterns judged over the processes as a run judges them (names, then the hint's texts). */
async function judgedConfig(instance: Record<string, unknown>, processes: readonly ProcessInfo[] = PROCESSES): Promise<ReturnType<typeof resolveConfig>['config']> {
  const { config } = resolveConfig({ name: 'n', ...instance });
  const filter = new NameFilter([...config.procRegex, ...config.procRegexExclude]);
  const failure = await filter.judge(processes.map((p) => p.name), performance.now() + 10_000, { patterns: config.procRegex, texts: () => hintTexts(processes) });
  assert.equal(failure, undefined);
  return config;
}

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
    it(c.why, async () => {
      const warnings = unmatchedFilterWarnings(PROCESSES, await judgedConfig(c.instance));
      assert.deepEqual(warnings, c.warnings);
      // What --fail-if-no-match and the Nagios format recognise them by.
      for (const w of warnings) assert.ok(isUnmatchedFilterWarning(w), w);
    });
  }

  it('isUnmatchedFilterWarning: only those warnings', () => {
    for (const other of ["'user' is deprecated, use 'username' instead", 'Error collecting version: fault 1: UNKNOWN_METHOD', "'proc_names' entry 'x'"]) {
      assert.equal(isUnmatchedFilterWarning(other), false, other);
    }
    assert.equal(isUnmatchedFilterWarning("'proc_regex' patterns 'a\nb', 'c' matched no process; x"), true, 'a pattern may hold a line feed');
  });

  it('shows at most three processes of a suggestion', async () => {
    const many = ['a', 'b', 'c', 'd', 'e'].map((name) => makeProcess({ name, group: 'g' }));
    assert.deepEqual(unmatchedFilterWarnings(many, await judgedConfig({ proc_names: ['g'] }, many)), [
      `'proc_names' entry 'g' matched no process ('g' matches the group or group:name of processes 'a', 'b', 'c' and 2 more); ${NAMES_ONLY}`,
    ]);
  });

  it('warns for every include entry when the server has no process', async () => {
    assert.equal(unmatchedFilterWarnings([], await judgedConfig({ proc_names: ['a'], proc_regex: ['b'] }, [])).length, 2);
  });

  it('never matches a group text it was not given a verdict on (regression: matched on the main thread, without deadline)', () => {
    // Not judged: the pattern would match the group, but no verdict exists, so nothing is suggested and nothing is matched here.
    const { config } = resolveConfig({ name: 'n', proc_regex: ['^web'] });
    const before = config.procRegex[0]!.remembered;
    assert.deepEqual(unmatchedFilterWarnings(PROCESSES, config), [`'proc_regex' pattern '^web' matched no process; ${NAMES_ONLY}`]);
    assert.equal(config.procRegex[0]!.judged('web'), undefined);
    assert.equal(config.procRegex[0]!.remembered, before + PROCESSES.length, 'only the names (selection judges those first)');
  });

  it('hintTexts: group:name and group of the processes in a group of another name, once each', () => {
    assert.deepEqual(hintTexts(PROCESSES), ['web:front', 'web', 'web:back']);
    assert.deepEqual(hintTexts([{ name: 'a', group: 'g' }, { name: 1, group: 'g' }, null, 'x', { name: 'b' }]), ['g:a', 'g']);
    assert.deepEqual(hintTexts('not a list'), []);
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
