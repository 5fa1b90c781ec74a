/**
 * The alert rules of the README, as users copy them: the yaml block after
 * the `alert-rules` marker is extracted and given to `promtool check rules`,
 * then to `promtool test rules` with, for each rule, series that make it fire
 * and series that must not. Skips, saying why, without promtool.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** The yaml block that follows the `<!-- alert-rules` marker. */
function rulesBlock(): string {
  const text = readFileSync(README, 'utf8');
  const marker = text.indexOf('<!-- alert-rules');
  assert.ok(marker >= 0, 'README has no <!-- alert-rules marker');
  const open = text.indexOf('```yaml\n', marker);
  const close = text.indexOf('\n```\n', open);
  assert.ok(open > marker && close > open, 'no ```yaml block after the marker');
  return text.slice(open + '```yaml\n'.length, close + 1);
}

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

type Labels = Record<string, string>;
const series = (name: string, labels: Labels, values: string): { series: string; values: string } => ({
  series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`,
  values,
});
const proc = (name: string): Labels => ({ supervisord_server: 'sv1', supervisord_group: name, supervisord_process: name });
const alert = (labels: Labels, summary: string): { exp_labels: Labels; exp_annotations: { summary: string } } => ({
  exp_labels: labels,
  exp_annotations: { summary },
});

/**
 * One test group per rule: input series (one that fires, one that must not),
 * evaluations before and after the rule's `for`. promtool compares the
 * firing alerts exactly, so a rule firing for a series it must not fails.
 */
const UNIT_TESTS = [
  {
    interval: '1m',
    input_series: [
      series('supervisord_up', { supervisord_server: 'down' }, '0x10'),
      series('supervisord_up', { supervisord_server: 'fine' }, '1x10'),
      series('supervisord_up', { supervisord_server: 'blip' }, '1 0 1 1 1 1 1 1 1 1 1'),
    ],
    alert_rule_test: [
      { eval_time: '1m', alertname: 'SupervisordUnreachable', exp_alerts: [] },
      {
        eval_time: '5m',
        alertname: 'SupervisordUnreachable',
        exp_alerts: [
          alert(
            { severity: 'critical', supervisord_server: 'down' },
            'supervisord down cannot be checked (unreachable, timed out, refused credentials or XML-RPC error)',
          ),
        ],
      },
    ],
  },
  {
    interval: '1m',
    input_series: [
      series('supervisord_server_state_status', { supervisord_server: 'restarting' }, '1x10'),
      series('supervisord_server_state_status', { supervisord_server: 'fine' }, '0x10'),
    ],
    alert_rule_test: [
      {
        eval_time: '5m',
        alertname: 'SupervisordNotRunning',
        exp_alerts: [alert({ severity: 'critical', supervisord_server: 'restarting' }, 'supervisord restarting is not RUNNING (restarting, shutting down or fatal)')],
      },
    ],
  },
  {
    interval: '1m',
    input_series: [series('supervisord_process_state', proc('broken'), '200x5'), series('supervisord_process_state', proc('web'), '20x5')],
    alert_rule_test: [
      {
        eval_time: '1m',
        alertname: 'SupervisordProcessFatal',
        exp_alerts: [alert({ severity: 'critical', ...proc('broken') }, 'broken:broken on sv1 is FATAL: supervisord gave up starting it')],
      },
    ],
  },
  {
    interval: '1m',
    input_series: [
      // Down for 10 minutes: fires. FATAL and down: the FATAL rule's, not this one's. Up, or down a few minutes at a time: never.
      series('supervisord_process_status', proc('stopped'), '2x10'),
      series('supervisord_process_state', proc('stopped'), '0x10'),
      series('supervisord_process_status', proc('broken'), '2x10'),
      series('supervisord_process_state', proc('broken'), '200x10'),
      series('supervisord_process_status', proc('web'), '0x10'),
      series('supervisord_process_state', proc('web'), '20x10'),
      series('supervisord_process_status', proc('bouncy'), '2 2 2 0 2 2 2 0 2 2 2'),
    ],
    alert_rule_test: [
      { eval_time: '4m', alertname: 'SupervisordProcessDown', exp_alerts: [] },
      {
        eval_time: '8m',
        alertname: 'SupervisordProcessDown',
        exp_alerts: [alert({ severity: 'warning', ...proc('stopped') }, 'stopped:stopped on sv1 has been down for 5 minutes')],
      },
    ],
  },
  {
    // Restarts counted from the start time (no exporter state): each new value of
    // supervisord_process_start_time_seconds is a start. The threshold is 3, and
    // the text says how many: exactly 3 fires and says 3, 2 does not fire.
    interval: '1m',
    input_series: [
      // a new start every minute
      series('supervisord_process_start_time_seconds', proc('loop'), '1000+60x30'),
      // 3 restarts at minutes 11, 12 and 13: fires at minute 20, the window holding all three
      series('supervisord_process_start_time_seconds', proc('three'), '1000x10 1660 1720 1780x17'),
      // 2 restarts: one less than the threshold
      series('supervisord_process_start_time_seconds', proc('two'), '1000x10 1660 1720x18'),
      // 3 restarts at minutes 1 to 3: out of the window by minute 20
      series('supervisord_process_start_time_seconds', proc('old'), '1000 1060 1120 1180x27'),
      series('supervisord_process_start_time_seconds', proc('steady'), '1000x30'),
    ],
    alert_rule_test: [
      {
        eval_time: '20m',
        alertname: 'SupervisordProcessFlapping',
        exp_alerts: [
          alert({ severity: 'warning', ...proc('loop') }, 'loop:loop on sv1 restarted 15 times in 15 minutes'),
          alert({ severity: 'warning', ...proc('three') }, 'three:three on sv1 restarted 3 times in 15 minutes'),
        ],
      },
      // minute 12: two of the three restarts so far (one less than the threshold); 'old' still has its three in the window
      {
        eval_time: '12m',
        alertname: 'SupervisordProcessFlapping',
        exp_alerts: [
          alert({ severity: 'warning', ...proc('loop') }, 'loop:loop on sv1 restarted 12 times in 15 minutes'),
          alert({ severity: 'warning', ...proc('old') }, 'old:old on sv1 restarted 3 times in 15 minutes'),
        ],
      },
      // minute 13: the third
      {
        eval_time: '13m',
        alertname: 'SupervisordProcessFlapping',
        exp_alerts: [
          alert({ severity: 'warning', ...proc('loop') }, 'loop:loop on sv1 restarted 13 times in 15 minutes'),
          alert({ severity: 'warning', ...proc('old') }, 'old:old on sv1 restarted 3 times in 15 minutes'),
          alert({ severity: 'warning', ...proc('three') }, 'three:three on sv1 restarted 3 times in 15 minutes'),
        ],
      },
    ],
  },
];

const MIB = 1024 * 1024;
UNIT_TESTS.push({
  interval: '1m',
  input_series: [
    // A leak: +2 MiB a minute (120 MiB an hour). Fires once it has lasted 30 minutes.
    series('supervisord_process_tree_resident_memory_bytes', proc('leak'), `${100 * MIB}+${2 * MIB}x150`),
    // +1 MiB a minute (60 MiB an hour): below the threshold.
    series('supervisord_process_tree_resident_memory_bytes', proc('slow'), `${100 * MIB}+${MIB}x150`),
    // A sawtooth: fills 9 MiB in 10 minutes and drains, again and again (a GC, a cache).
    series('supervisord_process_tree_resident_memory_bytes', proc('sawtooth'), Array.from({ length: 151 }, (_, i) => 500 * MIB + (i % 10) * MIB).join(' ')),
    // Steady, then one jump at a restart or a reload: no steady growth.
    series('supervisord_process_tree_resident_memory_bytes', proc('steady'), `${300 * MIB}x75 ${600 * MIB}x75`),
  ],
  alert_rule_test: [
    { eval_time: '20m', alertname: 'SupervisordProcessMemoryGrowing', exp_alerts: [] },
    {
      eval_time: '120m',
      alertname: 'SupervisordProcessMemoryGrowing',
      exp_alerts: [alert({ severity: 'warning', ...proc('leak') }, 'leak:leak on sv1: memory (with its children) grows by 120MiB an hour')],
    },
  ],
});

const RULES = ['SupervisordUnreachable', 'SupervisordNotRunning', 'SupervisordProcessFatal', 'SupervisordProcessDown', 'SupervisordProcessFlapping', 'SupervisordProcessMemoryGrowing'];

describe('the README alert rules', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    writeFileSync(join(dir, 'rules.yml'), rulesBlock());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a promtool unit-test file (JSON is YAML) and runs it. */
  async function unitTests(tests: unknown[], name: string): Promise<{ code: number; output: string }> {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify({ rule_files: ['rules.yml'], evaluation_interval: '1m', tests }, null, 1));
    return promtool(['test', 'rules', file]);
  }

  it('are the rules, each with a unit test here', () => {
    const names = [...rulesBlock().matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(names, RULES);
    for (const rule of RULES) assert.ok(UNIT_TESTS.some((t) => t.alert_rule_test.some((a) => a.alertname === rule)), rule);
  });

  it('pass promtool check rules', async (t) => {
    if (PROMTOOL === undefined) return t.skip('promtool is not installed (Debian package prometheus)');
    const result = await promtool(['check', 'rules', join(dir, 'rules.yml')]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, new RegExp(`SUCCESS: ${RULES.length} rules found`));
  });

  it('fire where they must and nowhere else (promtool test rules)', async (t) => {
    if (PROMTOOL === undefined) return t.skip('promtool is not installed (Debian package prometheus)');
    const result = await unitTests(UNIT_TESTS, 'tests.yml');
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });

  it('the flapping rule at its boundary: a rule one restart more lenient (> 3) or one count off (> 2 with 2) fails these tests', async (t) => {
    if (PROMTOOL === undefined) return t.skip('promtool is not installed (Debian package prometheus)');
    const flapping = UNIT_TESTS.filter((u) => u.alert_rule_test.some((a) => a.alertname === 'SupervisordProcessFlapping'));
    for (const [from, to] of [
      ['>= 3', '> 3'],
      ['>= 3', '>= 2'],
    ] as const) {
      const rules = rulesBlock().replace(`changes(supervisord_process_start_time_seconds[15m]) ${from}`, `changes(supervisord_process_start_time_seconds[15m]) ${to}`);
      assert.notEqual(rules, rulesBlock(), 'the README rule has the expected threshold');
      writeFileSync(join(dir, 'lenient.yml'), rules);
      const file = join(dir, 'lenient-tests.yml');
      writeFileSync(file, JSON.stringify({ rule_files: ['lenient.yml'], evaluation_interval: '1m', tests: flapping }, null, 1));
      const result = await promtool(['test', 'rules', file]);
      assert.notEqual(result.code, 0, `${to}: ${result.output}`);
      assert.match(result.output, /FAILED/);
    }
  });

  it('would be caught by these tests if a rule fired for a healthy series (the tests can fail)', async (t) => {
    if (PROMTOOL === undefined) return t.skip('promtool is not installed (Debian package prometheus)');
    const wrong = structuredClone(UNIT_TESTS.slice(0, 1));
    wrong[0]!.alert_rule_test[1]!.exp_alerts.push(alert({ severity: 'critical', supervisord_server: 'fine' }, 'x'));
    const result = await unitTests(wrong, 'wrong.yml');
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /FAILED/);
  });
});
