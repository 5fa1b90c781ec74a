/**
 * The check end to end: SupervisordCheck -> XmlRpcClient -> HTTP over a unix
 * socket and over TCP -> the supervisord emulator. Reference cases of
 * check-spec.md section 5 with the reference check's own mock data, every
 * connection failure message of section 4, faults, version metadata,
 * connection reuse and release. Successful runs also carry what issue 5
 * adds after the reference's submissions (restarts, downtime, exit status,
 * group counts, server state, process summaries): built here from the
 * issue's definitions, so the reference part is still asserted whole.
 *
 * Expected results are built here from the spec (statuses, uptimes and counts
 * written per case; messages formatted with Date getters in this host's zone),
 * never from the check's own helpers.
 */

import { JAVA, MYSQL, PYTHON } from '../helpers/reference-processes.js';
import { compiledTreeForNobody, envForNobody, NOBODY } from '../helpers/as-nobody.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { CRITICAL, OK, SupervisordCheck, UNKNOWN } from '../../lib/check.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import type { CheckResult, InstanceConfig, MappedStatus, Metric, ProcessInfo, ServiceCheck, ServiceCheckStatus, VersionMetadata } from '../../lib/types.js';

// ---------------------------------------------------------------------------
// Reference data (the Datadog check's mock server, tests/test_supervisord_unit.py; MYSQL, JAVA, PYTHON in ../helpers/reference-processes.ts)
// ---------------------------------------------------------------------------

const APACHE2: ProcessInfo = {
  now: 1414869824,
  group: 'apache2',
  description: 'Exited too quickly (process log may have details)',
  pid: 0,
  stderr_logfile: '/var/log/supervisor/apache2-stderr---supervisor-0PkXWd.log',
  stop: 1414867047,
  statename: 'FATAL',
  start: 1414867047,
  state: 200,
  stdout_logfile: '/var/log/apache2/apache2.log',
  logfile: '/var/log/apache2/apache2.log',
  exitstatus: 0,
  spawnerr: 'Exited too quickly (process log may have details)',
  name: 'apache2',
};
const WEBAPP: ProcessInfo = {
  now: 1414871104,
  group: 'webapp',
  description: '',
  pid: 17600,
  stderr_logfile: '/var/log/supervisor/webapp-stderr---supervisor-onZK__.log',
  stop: 1414871101,
  statename: 'STOPPING',
  start: 1414871102,
  state: 40,
  stdout_logfile: '/var/log/company/webapp.log',
  logfile: '/var/log/company/webapp.log',
  exitstatus: 1,
  spawnerr: '',
  name: 'webapp',
};
const RUBY: ProcessInfo = {
  now: 1414871588,
  group: 'ruby',
  description: 'Exited too quickly (process log may have details)',
  pid: 0,
  stderr_logfile: '/var/log/supervisor/ruby-stderr---supervisor-BU7Wat.log',
  stop: 1414871588,
  statename: 'BACKOFF',
  start: 1414871588,
  state: 30,
  stdout_logfile: '/var/log/ruby/ruby.log',
  logfile: '/var/log/ruby/ruby.log',
  exitstatus: 0,
  spawnerr: 'Exited too quickly (process log may have details)',
  name: 'ruby',
};

const SERVER1 = [MYSQL, JAVA, PYTHON];

// ---------------------------------------------------------------------------
// Expected results, from the spec
// ---------------------------------------------------------------------------

const pad = (n: number): string => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS` in this host's local zone (check-spec section 4). */
function localTime(epoch: number): string {
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function processMessage(p: ProcessInfo): string {
  return [
    `Current time: ${localTime(p.now)}`,
    `Process name: ${p.name}`,
    `Process group: ${p.group}`,
    `Description: ${p.description}`,
    `Error log file: ${p.stderr_logfile}`,
    `Stdout log file: ${p.stdout_logfile}`,
    `Log file: ${p.logfile}`,
    `State: ${p.statename}`,
    `Start time: ${p.start ? localTime(p.start) : ''}`,
    `Stop time: ${p.stop ? localTime(p.stop) : ''}`,
    `Exit Status: ${p.exitstatus}`,
  ].join('\n');
}

/** One monitored process as a case states it: the process, its service-check status and its uptime gauge. */
type Seen = [ProcessInfo, ServiceCheckStatus, number];

function expectedRun(
  name: string,
  tags: readonly string[],
  seen: readonly Seen[],
  counts: { down: number; up: number; unknown: number },
  version: VersionMetadata | undefined,
): CheckResult {
  const instanceTags = [...tags, `supervisord_server:${name}`];
  const serviceChecks: ServiceCheck[] = [{ name: 'supervisord.can_connect', status: OK, tags: instanceTags }];
  const metrics: Metric[] = [];
  for (const [p, status, uptime] of seen) {
    const ptags = [...instanceTags, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
    const check: ServiceCheck = { name: 'supervisord.process.status', status, tags: ptags };
    if (status !== OK) check.message = processMessage(p);
    serviceChecks.push(check);
    metrics.push({ name: 'supervisord.process.uptime', type: 'gauge', value: uptime, tags: ptags });
  }
  for (const s of ['down', 'up', 'unknown'] as const) {
    metrics.push({ name: 'supervisord.process.count', type: 'gauge', value: counts[s], tags: [...instanceTags, `status:${s}`] });
  }
  // Issue 5, after the reference: a first run (restarts 0) of a RUNNING supervisord.
  const groups = new Map<string, Record<MappedStatus, number>>();
  const unknownExits: ProcessInfo[] = [];
  for (const [p, status] of seen) {
    const ptags = [...instanceTags, `supervisord_process:${p.name}`, `supervisord_group:${p.group}`];
    metrics.push({ name: 'supervisord.process.restarts', type: 'count', value: 0, tags: ptags });
    if (['STOPPED', 'EXITED', 'FATAL'].includes(p.statename) && p.stop !== 0) {
      metrics.push({ name: 'supervisord.process.downtime', type: 'gauge', value: p.now - p.stop, tags: ptags });
    }
    // Issue 19: an exit status only for a last start that ended in an exit; supervisord's 0 only in EXITED (the emulator's main log is empty here).
    const spawnFailed = ['BACKOFF', 'FATAL'].includes(p.statename) && p.spawnerr !== '' && !p.spawnerr.startsWith('Exited too quickly');
    const ended = p.statename === 'EXITED' ? p.stop !== 0 : p.stop !== 0 && p.stop >= p.start;
    if (['EXITED', 'BACKOFF', 'FATAL', 'STOPPED'].includes(p.statename) && p.start !== 0 && ended && !spawnFailed) {
      if (p.exitstatus !== 0 || p.statename === 'EXITED') {
        metrics.push({ name: 'supervisord.process.exit_status', type: 'gauge', value: p.exitstatus, tags: ptags });
      } else {
        unknownExits.push(p);
      }
    }
    if (p.start !== 0) metrics.push({ name: 'supervisord.process.start_time', type: 'gauge', value: p.start, tags: ptags });
    const g = groups.get(p.group) ?? { down: 0, up: 0, unknown: 0 };
    g[MAPPED[status]]++;
    groups.set(p.group, g);
  }
  for (const [group, g] of groups) {
    for (const s of ['down', 'up', 'unknown'] as const) {
      metrics.push({ name: 'supervisord.group.count', type: 'gauge', value: g[s], tags: [...instanceTags, `supervisord_group:${group}`, `status:${s}`] });
    }
  }
  serviceChecks.push({ name: 'supervisord.server.state', status: OK, tags: instanceTags });
  const processes = seen.map(([p, status, uptime]) => {
    const exit = metrics.find((m) => m.name === 'supervisord.process.exit_status' && m.tags.includes(`supervisord_process:${p.name}`));
    return {
      name: p.name,
      group: p.group,
      statename: p.statename,
      status: MAPPED[status],
      uptime,
      description: p.description,
      ...(exit !== undefined ? { exit: { status: exit.value, source: 'process-info' as const } } : {}),
      ...(unknownExits.includes(p) ? { exit: { status: null, reason: NOT_IN_LOG } } : {}),
    };
  });
  const warnings = unknownExits.length === 0 ? [] : [`exit status of ${unknownExits.map((p) => `'${p.name}' (${p.statename})`).join(', ')} unknown: ${NOT_IN_LOG}; ${NOT_AN_EXIT}`];
  return { metrics, serviceChecks, metadata: version === undefined ? {} : { version }, warnings, errors: [], processes };
}

/** Why the exit status of a process that exited before startsecs is unknown here: the emulator's main log (empty by default) has no exit line for it. */
const NOT_IN_LOG = 'its exit is not in the part of the main log the check has read';
const NOT_AN_EXIT = "supervisord's process info says 0 for an exit before startsecs, which is not an exit status";

/** Service-check status -> mapped status (check-spec section 3). */
const MAPPED: Record<number, MappedStatus> = { [OK]: 'up', [CRITICAL]: 'down', [UNKNOWN]: 'unknown' };

/** A run that failed to connect: can_connect CRITICAL with the message, the same message as error, nothing else. */
function expectedFailure(name: string, tags: readonly string[], message: string, warnings: string[] = []): CheckResult {
  return {
    metrics: [],
    serviceChecks: [{ name: 'supervisord.can_connect', status: CRITICAL, tags: [...tags, `supervisord_server:${name}`], message }],
    metadata: {},
    warnings,
    errors: [message],
  };
}

/** The warning that gives the OS reason of a failed connection (the reference's message drops it). */
const REFUSED = 'connection refused (is supervisord running? is this its address?)';

const V425: VersionMetadata = { raw: '4.2.5', major: '4', minor: '2', patch: '5', scheme: 'supervisord' };

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'check-e2e-'));
const emulators: SupervisordEmulator[] = [];
const checks: SupervisordCheck[] = [];

interface Transport {
  name: string;
  /** Instance keys that point the check at a server. */
  at(emulator: SupervisordEmulator): Record<string, unknown>;
  listen(tag: string): { port: number } | { socketPath: string };
}

const TRANSPORTS: Transport[] = [
  {
    name: 'unix socket',
    at: (e) => ({ socket: e.url }),
    listen: (tag) => ({ socketPath: join(tmp, `${tag}.sock`) }),
  },
  {
    name: 'tcp',
    at: (e) => ({ host: '127.0.0.1', port: Number(new URL(e.url).port) }),
    listen: () => ({ port: 0 }),
  },
];

async function emulator(options: Parameters<typeof SupervisordEmulator.start>[0]): Promise<SupervisordEmulator> {
  const e = await SupervisordEmulator.start(options);
  emulators.push(e);
  return e;
}

function newCheck(instance: Record<string, unknown>): SupervisordCheck {
  const c = new SupervisordCheck({ timeout: 5, ...instance } as InstanceConfig);
  checks.push(c);
  return c;
}

/** One run on a fresh check that is closed right after. */
async function runOnce(instance: Record<string, unknown>): Promise<CheckResult> {
  const c = newCheck(instance);
  try {
    return await c.run();
  } finally {
    await c.close();
  }
}

after(async () => {
  for (const c of checks) await c.close();
  for (const e of emulators) await e.close();
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Reference cases
// ---------------------------------------------------------------------------

interface RefCase {
  name: string;
  server: 'open' | 'auth';
  processes: ProcessInfo[];
  instance: Record<string, unknown>;
  tags?: string[];
  seen: Seen[];
  counts: { down: number; up: number; unknown: number };
  /** Ours: the run's warnings (the reference has none). */
  warnings?: string[];
}

const NAMES_ONLY = "only process names are matched, never 'group:name' or a group name";

// Server order: supervisord sorts by group then name, so java, mysql, python.
const REF_CASES: RefCase[] = [
  {
    name: 'no filter',
    server: 'open',
    processes: SERVER1,
    instance: {},
    seen: [
      [JAVA, CRITICAL, 0],
      [MYSQL, OK, 125],
      [PYTHON, UNKNOWN, 0],
    ],
    counts: { down: 1, up: 1, unknown: 1 },
  },
  {
    name: 'proc_names with a name that does not exist',
    server: 'open',
    processes: SERVER1,
    instance: { proc_names: ['mysql', 'invalid_process'] },
    seen: [[MYSQL, OK, 125]],
    counts: { down: 0, up: 1, unknown: 0 },
    warnings: [`'proc_names' entry 'invalid_process' matched no process; ${NAMES_ONLY}`],
  },
  {
    name: 'proc_regex',
    server: 'open',
    processes: SERVER1,
    instance: { proc_regex: ['^mysq.$', 'invalid_process'] },
    seen: [[MYSQL, OK, 125]],
    counts: { down: 0, up: 1, unknown: 0 },
    warnings: [`'proc_regex' pattern 'invalid_process' matched no process; ${NAMES_ONLY}`],
  },
  {
    name: 'proc_regex_exclude',
    server: 'open',
    processes: SERVER1,
    instance: { proc_regex_exclude: ['^py.*$'] },
    seen: [
      [JAVA, CRITICAL, 0],
      [MYSQL, OK, 125],
    ],
    counts: { down: 1, up: 1, unknown: 0 },
  },
  {
    name: 'proc_names_exclude',
    server: 'open',
    processes: SERVER1,
    instance: { proc_names_exclude: ['python'] },
    seen: [
      [JAVA, CRITICAL, 0],
      [MYSQL, OK, 125],
    ],
    counts: { down: 1, up: 1, unknown: 0 },
  },
  {
    name: 'status_mapping_override STOPPED -> up',
    server: 'open',
    processes: SERVER1,
    instance: { status_mapping_override: { STOPPED: 'up' } },
    seen: [
      [JAVA, OK, 0],
      [MYSQL, OK, 125],
      [PYTHON, UNKNOWN, 0],
    ],
    counts: { down: 0, up: 2, unknown: 1 },
  },
  {
    name: 'instance tags come first',
    server: 'open',
    processes: SERVER1,
    instance: { tags: ['env:test', 'team:core'], proc_names: ['java'] },
    tags: ['env:test', 'team:core'],
    seen: [[JAVA, CRITICAL, 0]],
    counts: { down: 1, up: 0, unknown: 0 },
  },
  {
    name: 'FATAL and STOPPING with credentials (STOPPING uptime 2)',
    server: 'auth',
    processes: [APACHE2, WEBAPP],
    instance: { username: 'user', password: 'pass', proc_names: ['apache2', 'webapp'] },
    seen: [
      [APACHE2, CRITICAL, 0],
      [WEBAPP, CRITICAL, 2],
    ],
    counts: { down: 2, up: 0, unknown: 0 },
  },
  {
    name: 'BACKOFF with start == now has uptime 0',
    server: 'open',
    processes: [RUBY],
    instance: {},
    seen: [[RUBY, CRITICAL, 0]],
    counts: { down: 1, up: 0, unknown: 0 },
  },
];

for (const t of TRANSPORTS) {
  describe(`check end to end over ${t.name}`, () => {
    let open: SupervisordEmulator;
    let auth: SupervisordEmulator;

    before(async () => {
      open = await emulator({ listen: t.listen('open') });
      auth = await emulator({ listen: t.listen('auth'), username: 'user', password: 'pass' });
    });

    for (const c of REF_CASES) {
      it(`reference case: ${c.name}`, async () => {
        const server = c.server === 'open' ? open : auth;
        server.processes = c.processes.map((p) => ({ ...p }));
        const result = await runOnce({ name: 'server1', ...t.at(server), ...c.instance });
        const expected = expectedRun('server1', c.tags ?? [], c.seen, c.counts, V425);
        assert.deepEqual(result, { ...expected, warnings: [...(c.warnings ?? []), ...expected.warnings] });
      });
    }

    it('deprecated user/pass still authenticate, with a warning for each', async () => {
      auth.processes = [{ ...APACHE2 }];
      const result = await runOnce({ name: 'server0', ...t.at(auth), user: 'user', pass: 'pass' });
      const { warnings, ...rest } = result;
      const { warnings: exits, ...expected } = expectedRun('server0', [], [[APACHE2, CRITICAL, 0]], { down: 1, up: 0, unknown: 0 }, V425);
      assert.deepEqual(rest, expected);
      assert.equal(exits.length, 1, 'FATAL with 0 after an exit: exit status unknown');
      assert.deepEqual(warnings, [`'user' is deprecated, use 'username' instead`, `'pass' is deprecated, use 'password' instead`, ...exits]);
    });

    it('a wrong password is a CRITICAL can_connect naming the server', async () => {
      const result = await runOnce({ name: 'server0', ...t.at(auth), username: 'invalid_user', password: 'invalid_pass' });
      assert.deepEqual(result, expectedFailure('server0', [], 'Username or password to server0 are incorrect.'));
      assert.ok(!JSON.stringify(result).includes('invalid_pass'), 'no password in the result');
    });

    it('no credentials against a server that wants them is the same 401 message, with a warning saying none are configured', async () => {
      const result = await runOnce({ name: 'server0', ...t.at(auth), tags: ['a:b'] });
      assert.deepEqual(result, {
        ...expectedFailure('server0', ['a:b'], 'Username or password to server0 are incorrect.'),
        warnings: [
          "the server asks for a username and password (HTTP 401) and none are configured: set 'username' and 'password' " +
            '(command line: --username with --password-file or SUPERVISORD_PASSWORD)',
        ],
      });
      const userOnly = await runOnce({ name: 'server0', ...t.at(auth), username: 'user' });
      assert.match(userOnly.warnings.at(-1)!, /^the server asks for a username and password \(HTTP 401\) and no password is configured: /);
    });

    // SHUTDOWN_STATE (6) is not an error of the run any more (issue 5): see beyond-e2e.test.ts.
    it('a fault on getAllProcessInfo is an error of the run, without can_connect', async () => {
      open.processes = SERVER1.map((p) => ({ ...p }));
      open.setFault('supervisor.getAllProcessInfo', { faultCode: 2, faultString: 'INCORRECT_PARAMETERS' });
      try {
        const result = await runOnce({ name: 'server1', ...t.at(open) });
        assert.deepEqual(result, {
          metrics: [],
          serviceChecks: [],
          metadata: {},
          warnings: [],
          errors: ['An error occurred while reading process information: 2 INCORRECT_PARAMETERS'],
        });
      } finally {
        open.setFault('supervisor.getAllProcessInfo', null);
      }
    });

    it('a server answering another HTTP status names status and reason', async () => {
      open.setHttpOverride(500);
      try {
        const result = await runOnce({ name: 'server1', ...t.at(open) });
        assert.deepEqual(result, expectedFailure('server1', [], 'An error occurred while connecting to server1: 500 Internal Server Error'));
      } finally {
        open.setHttpOverride(null);
      }
    });

    it('a server answering HTML with 200 is a CRITICAL can_connect, not a crash', async () => {
      open.setHttpOverride('html');
      try {
        const result = await runOnce({ name: 'server1', ...t.at(open) });
        const message = result.serviceChecks[0]?.message ?? '';
        assert.ok(message.startsWith('An error occurred while connecting to server1: '), message);
        assert.ok(message.includes('text/html'), message);
        assert.deepEqual(result, expectedFailure('server1', [], message));
      } finally {
        open.setHttpOverride(null);
      }
    });

    const versions: Array<{ raw: string; expect: VersionMetadata | undefined }> = [
      { raw: '4.2.5', expect: V425 },
      { raw: '3.0', expect: { raw: '3.0', major: '3', minor: '0', scheme: 'supervisord' } },
      { raw: '3.0b2', expect: { raw: '3.0b2', major: '3', minor: '0', release: 'b2', scheme: 'supervisord' } },
      { raw: '3.0a12', expect: { raw: '3.0a12', major: '3', minor: '0', release: 'a12', scheme: 'supervisord' } },
      { raw: '4.1.2', expect: { raw: '4.1.2', major: '4', minor: '1', patch: '2', scheme: 'supervisord' } },
      { raw: 'not-a-version', expect: undefined },
    ];
    for (const v of versions) {
      it(`version metadata from ${JSON.stringify(v.raw)}`, async () => {
        open.processes = [{ ...MYSQL }];
        open.version = v.raw;
        try {
          const result = await runOnce({ name: 'server1', ...t.at(open) });
          const { warnings, ...rest } = result;
          const { warnings: none, ...expected } = expectedRun('server1', [], [[MYSQL, OK, 125]], { down: 0, up: 1, unknown: 0 }, v.expect);
          assert.deepEqual(rest, expected);
          if (v.expect === undefined) {
            assert.deepEqual(warnings, [`Error collecting version: cannot parse version "not-a-version"`]);
          } else {
            assert.deepEqual(warnings, none);
          }
        } finally {
          open.version = '4.2.5';
        }
      });
    }

    it('a fault on getSupervisorVersion is a warning and no version, the rest is intact', async () => {
      open.processes = SERVER1.map((p) => ({ ...p }));
      open.setFault('supervisor.getSupervisorVersion', { faultCode: 6, faultString: 'SHUTDOWN_STATE' });
      try {
        const result = await runOnce({ name: 'server1', ...t.at(open) });
        const { warnings, ...rest } = result;
        const { warnings: none, ...expected } = expectedRun('server1', [], REF_CASES[0]!.seen, REF_CASES[0]!.counts, undefined);
        assert.deepEqual(rest, expected);
        assert.deepEqual(none, []);
        assert.deepEqual(warnings, ['Error collecting version: fault 6: SHUTDOWN_STATE']);
      } finally {
        open.setFault('supervisor.getSupervisorVersion', null);
      }
    });

    it('reuses one connection across five runs and follows the table between runs', async () => {
      const e = await emulator({ listen: t.listen('reuse'), processes: [makeProcess({ name: 'mysql', pid: 1 })] });
      const c = newCheck({ name: 'reuse', ...t.at(e) });
      const ups: number[] = [];
      for (let i = 0; i < 5; i++) {
        if (i === 3) e.processes = [makeProcess({ name: 'mysql', state: 0 })];
        const result = await c.run();
        assert.deepEqual(result.errors, []);
        ups.push(result.metrics.find((m) => m.name === 'supervisord.process.count' && m.tags.includes('status:up'))!.value);
      }
      await c.close();
      assert.deepEqual(ups, [1, 1, 1, 0, 0]);
      assert.equal(e.stats.connections, 1);
      assert.equal(e.stats.calls['supervisor.getAllProcessInfo'], 5);
      assert.equal(e.stats.calls['supervisor.getSupervisorVersion'], 5);
      // Issue 5: all of it in one multicall per run.
      assert.equal(e.stats.calls['system.multicall'], 5);
      assert.equal(e.stats.requests, 5);
    });
  });
}

// ---------------------------------------------------------------------------
// Nothing to connect to
// ---------------------------------------------------------------------------

const SOCKET_HINT = 'Make sure supervisor is running and socket is enabled and socket file has the right permissions.';

/** A TCP port on 127.0.0.1 with nothing listening (bound once, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

describe('check end to end: nothing to connect to', () => {
  it('TCP: nothing listening', async () => {
    const port = await freePort();
    const result = await runOnce({ name: 'server0', host: '127.0.0.1', port });
    assert.deepEqual(
      result,
      expectedFailure('server0', [], `Cannot connect to http://127.0.0.1:${port}. Make sure supervisor is running and XML-RPC inet interface is enabled.`, [
        `connect ECONNREFUSED 127.0.0.1:${port} (http://127.0.0.1:${port}/RPC2): ${REFUSED}`,
      ]),
    );
  });

  it('TCP: the port as configured (a numeric string) appears in the message', async () => {
    const port = await freePort();
    const result = await runOnce({ name: 'server0', host: '127.0.0.1', port: String(port) });
    assert.equal(result.serviceChecks[0]?.message, `Cannot connect to http://127.0.0.1:${port}. Make sure supervisor is running and XML-RPC inet interface is enabled.`);
  });

  it('socket: missing socket file', async () => {
    const socket = `unix://${join(tmp, 'missing', 'supervisor.sock')}`;
    const result = await runOnce({ name: 'server0', socket, tags: ['x:y'] });
    assert.deepEqual(
      result,
      expectedFailure('server0', ['x:y'], `Cannot connect to ${socket}. ${SOCKET_HINT}`, [
        `connect ENOENT ${socket.slice('unix://'.length)} (${socket}): the socket file does not exist (is supervisord running? is this its socket?)`,
      ]),
    );
  });

  it('socket: nothing listening on the path (a plain file there)', async () => {
    const path = join(tmp, 'not-a-socket.sock');
    writeFileSync(path, '');
    const socket = `unix://${path}`;
    const result = await runOnce({ name: 'server0', socket });
    assert.deepEqual(result, expectedFailure('server0', [], `Cannot connect to ${socket}. ${SOCKET_HINT}`, [`connect ECONNREFUSED ${path} (${socket}): ${REFUSED}`]));
  });

  it('socket: no permission to reach the socket file', async (t) => {
    const dir = join(tmp, 'private');
    mkdirSync(dir);
    const path = join(dir, 'supervisor.sock');
    const e = await emulator({ listen: { socketPath: path }, processes: [{ ...MYSQL }] });
    const socket = e.url;
    const expected = expectedFailure('server0', [], `Cannot connect to ${socket}. ${SOCKET_HINT}`, [
      `connect EACCES ${path} (${socket}): permission denied: this user may not open the socket (see the socket's chown and chmod in [unix_http_server])`,
    ]);
    const isRoot = process.getuid?.() === 0;
    if (!isRoot) {
      chmodSync(dir, 0o000);
      try {
        assert.deepEqual(await runOnce({ name: 'server0', socket }), expected);
      } finally {
        chmodSync(dir, 0o700);
      }
      return;
    }
    // root ignores file permissions: run the check as nobody (65534) in a child; the socket's directory is root's 0700.
    chmodSync(dir, 0o700);
    const tree = compiledTreeForNobody();
    let outcome;
    try {
      outcome = await runChild(['{"name":"server0","socket":' + JSON.stringify(socket) + ',"timeout":5}'], { ...NOBODY, env: envForNobody() }, tree.file('lib/check.js'));
    } finally {
      tree.remove();
    }
    if (outcome.spawnError !== undefined) {
      t.skip(`cannot run a child as uid 65534 here (${outcome.spawnError}): permission case not exercised`);
      return;
    }
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.deepEqual(JSON.parse(outcome.stdout).result, expected);
    assert.equal(e.stats.connections, 0, 'the unprivileged check never reached the server');
  });
});

// ---------------------------------------------------------------------------
// Release
// ---------------------------------------------------------------------------

const CHECK_MODULE = fileURLToPath(new URL('../../lib/check.js', import.meta.url));

/**
 * Runs one check in a fresh node process: `run()`, `close()`, then reports the
 * result and the handles alive before and after (stdout's pipe is there in
 * both). The process must then exit by itself.
 */
const CHILD_SCRIPT = `
// stdout and stderr are created lazily: make their pipes part of the baseline. Pending file
// system requests of the module loader (CloseReq, FSReqCallback) come and go on their own.
const out = process.stdout;
process.stderr;
const handles = () => process.getActiveResourcesInfo().filter((r) => !r.startsWith('FSReq') && r !== 'CloseReq').sort();
const baseline = handles();
// getActiveResourcesInfo() leaves out unref()ed handles (the client's idle socket is one):
// also follow every socket and timer created from here on, ref()ed or not, until destroyed.
const live = new Map();
const { createHook } = await import('node:async_hooks');
createHook({
  init(id, type) { if (type === 'TCPWRAP' || type === 'PIPEWRAP' || type === 'Timeout') live.set(id, type); },
  destroy(id) { live.delete(id); },
}).enable();
const alive = () => [...live.values()].sort();
const { SupervisordCheck } = await import(process.argv[1]);
const check = new SupervisordCheck(JSON.parse(process.argv[2]));
const result = await check.run();
const second = process.argv[3] === 'twice' ? await check.run() : null;
const aliveBeforeClose = alive();
await check.close();
// destroy hooks follow the handles' close callbacks by a loop turn or two.
for (let i = 0; i < 100 && live.size > 0; i++) await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
const resources = handles();
out.write(JSON.stringify({ result, second, baseline, resources, aliveBeforeClose, aliveAfterClose: alive() }));
`;

function runChild(
  args: string[],
  identity: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
  checkModule = CHECK_MODULE,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number; spawnError?: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let child;
    try {
      child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT, checkModule, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: tmpdir(),
        ...identity,
      });
    } catch (err) {
      resolve({ code: null, stdout: '', stderr: '', ms: 0, spawnError: (err as Error).message });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: null, stdout, stderr, ms: Date.now() - started, spawnError: err.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

describe('check end to end: close() releases everything', () => {
  for (const t of TRANSPORTS) {
    it(`a process that ran the check twice and closed it exits by itself (${t.name})`, async () => {
      const e = await emulator({ listen: t.listen('release'), processes: [{ ...MYSQL }] });
      const instance = { name: 'server1', timeout: 5, ...t.at(e) };
      const outcome = await runChild([JSON.stringify(instance), 'twice']);
      assert.equal(outcome.spawnError, undefined);
      assert.equal(outcome.code, 0, outcome.stderr);
      const report = JSON.parse(outcome.stdout) as {
        result: CheckResult;
        second: CheckResult;
        baseline: string[];
        resources: string[];
        aliveBeforeClose: string[];
        aliveAfterClose: string[];
      };
      const expected = expectedRun('server1', [], [[MYSQL, OK, 125]], { down: 0, up: 1, unknown: 0 }, V425);
      assert.deepEqual(report.result, expected);
      assert.deepEqual(report.second, expected);
      const wrap = t.name === 'tcp' ? 'TCPWRAP' : 'PIPEWRAP';
      assert.ok(report.aliveBeforeClose.includes(wrap), `a kept-alive connection between runs: ${report.aliveBeforeClose.join(', ')}`);
      assert.deepEqual(report.aliveAfterClose, [], 'no socket or timer left after close(), ref()ed or not');
      assert.deepEqual(report.resources, report.baseline, 'no socket or timer left after close()');
      assert.ok(report.baseline.every((r) => r === 'PipeWrap' || r === 'TTYWrap'), `baseline: ${report.baseline.join(', ')}`);
      // Well under the client's idle timeout (10 s): the exit did not wait for a timer.
      assert.ok(outcome.ms < 8000, `child took ${outcome.ms} ms`);
      assert.equal(e.stats.connections, 1);
    });
  }
});
