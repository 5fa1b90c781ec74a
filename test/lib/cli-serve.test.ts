/**
 * `--serve` in process against emulators: content negotiation (both formats
 * read by promtool), the `--min-interval` cache, the scrape deadline of
 * `X-Prometheus-Scrape-Timeout-Seconds`, `--max-connections`, and `/probe`
 * (modules, allow-lists, refusals that contact nothing, state kept per
 * target, LRU eviction).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseArgs } from '../../lib/cli/args.js';
import { main } from '../../lib/cli/main.js';
import { acceptsOpenMetrics, HEAD_TIMEOUT_MS, negotiate, Page, pageFor, Scraper, scrapeDeadlineMs } from '../../lib/cli/serve.js';
import { prometheusSnapshot } from '../../lib/outputs/prometheus.js';
import type { ServerRun } from '../../lib/types.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { performance } from 'node:perf_hooks';
import { parseExposition, parseOpenMetrics, promtoolCheck, promtoolOpenMetrics } from '../helpers/prometheus-text.js';
import { Capture, http, serving } from '../helpers/serving.js';

const NOW = 1_700_000_000;
/** What Prometheus 2.42 sends. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const calls = (emulator: SupervisordEmulator): number => emulator.stats.calls['supervisor.getAllProcessInfo'] ?? 0;

function samples(families: Map<string, { samples: Array<{ labels: Record<string, string>; value: number }> }>, name: string): Array<[Record<string, string>, number]> {
  const f = families.get(name);
  assert.ok(f !== undefined, `no family ${name}; have ${[...families.keys()].join(', ')}`);
  return f.samples.map((s) => [s.labels, s.value]);
}

let dir: string;
let emulator: SupervisordEmulator;
let port: number;
/** Accepts connections and never answers; counts them. */
let silent: Server;
let silentPort: number;
let silentConnections = 0;
const silentSockets = new Set<Socket>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-serve-test-'));
  emulator = await SupervisordEmulator.start({
    listen: { port: 0 },
    processes: [
      makeProcess({ name: 'web', statename: 'RUNNING', start: NOW - 100 }, NOW),
      makeProcess({ name: 'worker', statename: 'FATAL', start: NOW - 50, stop: NOW - 40 }, NOW),
    ],
  });
  port = Number(new URL(emulator.url).port);
  silent = createServer((socket) => {
    silentConnections++;
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as AddressInfo).port;
});

after(async () => {
  for (const s of silentSockets) s.destroy();
  await Promise.all([emulator?.close(), new Promise<void>((resolve) => silent.close(() => resolve()))]);
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  chmodSync(path, 0o600);
  return path;
}

describe('negotiate and scrapeDeadlineMs', () => {
  const accepts: Array<[string | undefined, 'text' | 'openmetrics']> = [
    [undefined, 'text'],
    ['', 'text'],
    ['*/*', 'text'],
    ['text/plain', 'text'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text; version=1.0.0; charset=utf-8', 'openmetrics'],
    ['application/openmetrics-text;version=0.0.1', 'text'],
    ['application/openmetrics-text;q=0.4,text/plain;q=0.5', 'text'],
    ['text/plain;q=0.5, application/openmetrics-text;q=0.9', 'openmetrics'],
    ['application/openmetrics-text;q=0', 'text'],
  ];
  for (const [accept, format] of accepts) {
    it(`Accept ${JSON.stringify(accept)} -> ${format}`, () => assert.equal(negotiate(accept), format));
  }

  const deadlines: Array<[string | undefined, number | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['abc', undefined],
    ['-1', undefined],
    ['0', undefined],
    ['10', 9500],
    ['1', 900],
    ['0.2', 180],
    ['1e3', undefined],
    ['100000000', 86_400_000],
  ];
  for (const [header, ms] of deadlines) {
    it(`X-Prometheus-Scrape-Timeout-Seconds ${JSON.stringify(header)} -> ${String(ms)}`, () => assert.equal(scrapeDeadlineMs(header), ms));
  }
});

describe('Scraper', () => {
  it('gives concurrent scrapes one page and one Buffer per format (regression: a copy per response)', async () => {
    let runs = 0;
    let release!: () => void;
    const server: ServerRun = { name: 's', target: 't', tags: ['supervisord_server:s'], result: { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] } };
    const scraper = new Scraper(
      {
        servers: [server],
        run: async (each) => {
          runs++;
          await new Promise<void>((resolve) => (release = resolve));
          each(server, 0);
          return [server];
        },
      },
      { minIntervalMs: 0, log: () => {}, say: () => {} },
    );
    const pending = [scraper.scrape(undefined), scraper.scrape(undefined), scraper.scrape(undefined)];
    release();
    const pages = await Promise.all(pending);
    assert.equal(runs, 1);
    assert.ok(pages.every((p) => p === pages[0]));
    assert.equal(pages[0]!.bytes('text'), pages[1]!.bytes('text'));
    assert.equal(pages[0]!.bytes('openmetrics'), pages[2]!.bytes('openmetrics'));
    assert.notEqual(pages[0]!.bytes('text'), pages[0]!.bytes('openmetrics'));
    assert.ok(pages[0]!.bytes('text') !== undefined);
  });

  it('a kept page (--min-interval) keeps the format it was first asked in, answers the other client with it when it takes it, else 406', () => {
    const snapshot = prometheusSnapshot([{ name: 'é', target: 't', tags: ['supervisord_server:é'], result: { metrics: [], serviceChecks: [], metadata: {}, warnings: [], errors: [] } }]);
    const kept = new Page(snapshot, true);
    const om = pageFor(kept, PROMETHEUS_ACCEPT)!;
    assert.equal(om.format, 'openmetrics');
    assert.equal(om.bytes.toString('utf8'), snapshot.render('openmetrics'));
    assert.equal(kept.bytes('text'), undefined, 'the snapshot is gone');
    assert.equal(pageFor(kept, undefined)!.bytes, om.bytes, 'no Accept: anything goes');
    assert.equal(pageFor(kept, '*/*')!.format, 'openmetrics');
    assert.equal(pageFor(kept, 'text/plain'), undefined);
    const text = new Page(snapshot, true);
    assert.equal(pageFor(text, 'text/plain')!.bytes.toString('utf8'), snapshot.render('text'));
    assert.deepEqual(pageFor(text, PROMETHEUS_ACCEPT)!.format, 'text', 'Prometheus takes the text format too');
    const fresh = new Page(snapshot);
    assert.equal(fresh.bytes('text')!.toString('utf8'), snapshot.render('text'));
    assert.equal(fresh.bytes('openmetrics')!.toString('utf8'), snapshot.render('openmetrics'));
  });

  it('acceptsOpenMetrics', () => {
    const cases: Array<[string | undefined, boolean]> = [
      [undefined, true],
      ['*/*', true],
      ['application/*;q=0.1', true],
      [PROMETHEUS_ACCEPT, true],
      ['text/plain', false],
      ['text/plain, application/openmetrics-text;q=0', false],
      ['application/openmetrics-text;version=0.0.1', false],
      ['', false],
    ];
    for (const [accept, ok] of cases) assert.equal(acceptsOpenMetrics(accept), ok, String(accept));
  });
});

describe('the --serve flags', () => {
  it('parses them and refuses them without --serve', () => {
    const o = parseArgs(['--serve', '0', '--min-interval', '0', '--max-connections', '8', '--probe-max-targets', '3', '--max-server-connections', '4']);
    assert.deepEqual([o.minIntervalMs, o.maxConnections, o.probeMaxTargets, o.maxServerConnections], [0, 8, 3, 4]);
    assert.throws(() => parseArgs(['--serve', '0', '--max-server-connections', '1025']), /--max-server-connections needs a whole number from 1 to 1024, got "1025"/);
    assert.throws(() => parseArgs(['--max-server-connections', '4']), /--max-server-connections applies only to --serve/);
    assert.equal(parseArgs(['--serve', '0', '--min-interval', '1.5s']).minIntervalMs, 1500);
    assert.throws(() => parseArgs(['--min-interval', '1s']), /--min-interval applies only to --serve/);
    assert.throws(() => parseArgs(['--serve', '0', '--max-connections', '0']), /--max-connections needs a whole number from 1 to 100000, got "0"/);
    assert.throws(() => parseArgs(['--serve', '0', '--probe-max-targets', 'many']), /--probe-max-targets needs a whole number/);
    assert.throws(() => parseArgs(['--serve', '0', '--min-interval', 'soon']), /--min-interval must be a duration/);
  });
});

describe('/metrics', () => {
  it('answers OpenMetrics 1.0.0 to Prometheus and 0.0.4 otherwise, both accepted by promtool without remark', async (t) => {
    await serving(['--url', emulator.url, '--serve', '127.0.0.1:0', '--name', 'emu'], async (p) => {
      const om = await http(p, '/metrics', { Accept: PROMETHEUS_ACCEPT });
      assert.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
      const families = parseOpenMetrics(om.body);
      assert.deepEqual(samples(families, 'supervisord_up'), [[{ supervisord_server: 'emu' }, 1]]);
      assert.equal(families.get('supervisord_version')?.type, 'info');
      const text = await http(p, '/metrics');
      assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.deepEqual(samples(parseExposition(text.body), 'supervisord_processes').map(([l, v]) => [l['status'], v]), [
        ['down', 1],
        ['up', 1],
        ['unknown', 0],
      ]);
      const checked = await promtoolCheck(text.body);
      const omChecked = await promtoolOpenMetrics(om.body);
      if (checked === null || omChecked === null) t.diagnostic('promtool is not installed: only our own parsers read the expositions');
      else {
        assert.deepEqual(checked, { code: 0, output: '' });
        assert.equal(omChecked.code, 0, omChecked.output);
      }
    });
  });

  it('serves a result younger than --min-interval (default 5s) without running again (regression: one run per scrape)', async () => {
    await serving(['--url', emulator.url, '--serve', '127.0.0.1:0'], async (p) => {
      const before = calls(emulator);
      const first = await http(p, '/metrics');
      const second = await http(p, '/metrics', { Accept: PROMETHEUS_ACCEPT });
      const third = await http(p, '/metrics');
      assert.equal(calls(emulator) - before, 1, 'one run for three scrapes');
      assert.equal(first.body, third.body);
      assert.match(second.body, /# EOF\n$/);
    });
  });

  it('stops quietly while a scrape waits on a server (regression: logged "closed while the call was pending")', async () => {
    const file = config('stop-mid-scrape.json', { instances: [{ name: 'hung', host: '127.0.0.1', port: silentPort, timeout: 120 }] });
    const out = await serving(['--config', file, '--serve', '127.0.0.1:0', '--min-interval', '0'], async (p) => {
      const pending = http(p, '/metrics').catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      void pending;
    });
    assert.equal(out.code, 0);
    assert.doesNotMatch(out.stderr, /closed while the call was pending/);
    assert.doesNotMatch(out.stderr, /hung: /);
  });

  it('answers at the scrape deadline with what is known: supervisord_up 0 for the server still running (regression: waited for the run)', async () => {
    const file = config('deadline.json', {
      instances: [
        { name: 'fast', url: emulator.url },
        { name: 'hung', host: '127.0.0.1', port: silentPort, timeout: 120 },
      ],
    });
    const out = await serving(['--config', file, '--serve', '127.0.0.1:0', '--min-interval', '0'], async (p, stderr) => {
      const answer = await http(p, '/metrics', { 'X-Prometheus-Scrape-Timeout-Seconds': '0.5' });
      assert.equal(answer.status, 200);
      assert.deepEqual(samples(parseExposition(answer.body), 'supervisord_up'), [
        [{ supervisord_server: 'fast' }, 1],
        [{ supervisord_server: 'hung' }, 0],
      ]);
      assert.match(stderr.text, /a scrape was answered at its deadline \(0\.45 s\) before hung answered: reported as supervisord_up 0/);
      // A second scrape joins the same run (no second connection to the hung server). The run's
      // learning listing sends one getState beside it after 0.5 s (is supervisord busy or dead?):
      // let that one in first.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const connections = silentConnections;
      const again = await http(p, '/metrics', { 'X-Prometheus-Scrape-Timeout-Seconds': '0.5' });
      assert.match(again.body, /^supervisord_up\{supervisord_server="hung"\} 0$/m);
      assert.equal(silentConnections, connections);
      assert.equal(stderr.text.split('answered at its deadline').length, 2, 'said once');
    });
    assert.equal(out.code, 0);
  });

  it('beyond --max-connections, a new connection closes the longest waiting one without a request; refused only when all carry one', async () => {
    const file = config('max-connections.json', { instances: [{ name: 'hung', host: '127.0.0.1', port: silentPort, timeout: 30 }] });
    await serving(['--config', file, '--serve', '127.0.0.1:0', '--max-connections', '2', '--min-interval', '0'], async (p) => {
      const open = async (): Promise<Socket> => {
        const s = connect(p, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((resolve) => s.once('connect', resolve));
        return s;
      };
      const closed = (s: Socket): Promise<unknown> => (s.destroyed ? Promise.resolve() : new Promise((resolve) => s.once('close', resolve)));
      const first = await open();
      const second = await open();
      const third = await open();
      await closed(first);
      assert.equal(second.destroyed, false);
      // A scrape gets in (closing the second) and answers while the third only waits.
      assert.equal((await http(p, '/')).status, 200);
      await closed(second);
      assert.equal(third.destroyed, false);
      // Two scrapes in progress (the hung server holds them): a third connection is refused, the scrapes go on.
      const a = await open();
      a.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const b = await open();
      b.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      await closed(third);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await open();
      await closed(refused);
      assert.equal(a.destroyed || b.destroyed, false);
      a.destroy();
      b.destroy();
    });
  });
});

describe('/probe', () => {
  let file: string;
  before(() => {
    file = config('probe.json', {
      modules: {
        local: { allow: ['127.0.0.1'], ports: [port], proc_names: ['web'] },
        wide: { allow: ['127.0.0.0/8', '*.example.com'] },
      },
    });
  });

  it('probes an allowed target with the module\'s settings: its metrics, probe_success and probe_duration_seconds', async (t) => {
    await serving(['--config', file, '--serve', '127.0.0.1:0'], async (p, stderr) => {
      assert.match(stderr.text, /serving http:\/\/127\.0\.0\.1:\d+\/metrics and \/probe/);
      const answer = await http(p, `/probe?target=127.0.0.1:${port}&module=local`);
      assert.equal(answer.status, 200, answer.body);
      const families = parseExposition(answer.body);
      assert.deepEqual(samples(families, 'supervisord_probe_success'), [[{}, 1]]);
      assert.equal(families.get('supervisord_probe_duration_seconds')?.samples.length, 1);
      assert.deepEqual(samples(families, 'supervisord_up'), [[{ supervisord_server: `127.0.0.1:${port}` }, 1]]);
      assert.deepEqual(
        samples(families, 'supervisord_process_status').map(([l]) => l['supervisord_process']),
        ['web'],
        'the module filters to web',
      );
      const checked = await promtoolCheck(answer.body);
      if (checked === null) t.diagnostic('promtool is not installed');
      else assert.deepEqual(checked, { code: 0, output: '' });
      // Within --min-interval the target answers from its last run, in the format it was rendered in (Prometheus reads both) ...
      const again = await http(p, `/probe?target=127.0.0.1:${port}&module=local`, { Accept: PROMETHEUS_ACCEPT });
      assert.equal(again.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(again.body, answer.body);
      // (the text format goes to every client, as negotiation falls back to it) ...
      const omOnly = await http(p, `/probe?target=127.0.0.1:${port}&module=local`, { Accept: 'application/openmetrics-text' });
      assert.equal(omOnly.status, 200);
      // ... and one that refuses OpenMetrics kept alone is told why.
      const om = await http(p, `/probe?target=127.0.0.1:${port}&module=wide`, { Accept: PROMETHEUS_ACCEPT });
      assert.equal(parseOpenMetrics(om.body).get('supervisord_probe_duration_seconds')?.unit, 'seconds');
      const strict = await http(p, `/probe?target=127.0.0.1:${port}&module=wide`, { Accept: 'text/plain' });
      assert.deepEqual([strict.status, strict.body], [
        406,
        'Not acceptable: the last run (less than --min-interval ago) was rendered as OpenMetrics, which the Accept header refuses; ask again after --min-interval\n',
      ]);

      // A target that does not answer: probe_success 0, and the failure said on stderr under the target's name.
      const down = parseExposition((await http(p, '/probe?target=127.0.0.1:1&module=wide')).body);
      assert.deepEqual(samples(down, 'supervisord_probe_success'), [[{}, 0]]);
      assert.match(stderr.text, /^supervisord-check: 127\.0\.0\.1:1: Cannot connect to http:\/\/127\.0\.0\.1:1\./m);
    });
  });

  it('keeps each target\'s state between probes: restarts counted, one connection reused', async () => {
    await serving(['--config', file, '--serve', '127.0.0.1:0', '--min-interval', '0'], async (p) => {
      const restarts = async (): Promise<number> => {
        const f = parseExposition((await http(p, `/probe?target=127.0.0.1:${port}&module=local`)).body);
        return samples(f, 'supervisord_process_restarts_total')[0]![1];
      };
      const connections = emulator.stats.connections;
      assert.equal(await restarts(), 0);
      const web = emulator.processes.find((x) => x.name === 'web')!;
      web.start += 10;
      web.pid += 1;
      assert.equal(await restarts(), 1);
      assert.equal(await restarts(), 1);
      assert.equal(emulator.stats.connections - connections, 1, 'one keep-alive connection for three probes');
    });
  });

  it('forgets the least recently probed target beyond --probe-max-targets and closes its connection', async () => {
    await serving(['--config', file, '--serve', '127.0.0.1:0', '--probe-max-targets', '1', '--min-interval', '0'], async (p) => {
      const connections = emulator.stats.connections;
      await http(p, `/probe?target=127.0.0.1:${port}&module=local`);
      await http(p, `/probe?target=127.0.0.1:${port}&module=wide`);
      await http(p, `/probe?target=127.0.0.1:${port}&module=local`);
      assert.equal(emulator.stats.connections - connections, 3, 'each probe after an eviction starts afresh');
    });
  });

  it('answers 400 with a one-line reason, and contacts nothing, for every refused request', async () => {
    await serving(['--config', file, '--serve', '127.0.0.1:0'], async (p) => {
      const before = silentConnections;
      const cases: Array<[string, RegExp]> = [
        [`/probe?target=127.0.0.1:${silentPort}&module=local`, /^Bad request: target "127\.0\.0\.1:\d+" is not allowed by module "local" \(port \d+ is not in its ports\)$/],
        [`/probe?target=localhost:${silentPort}&module=wide`, /is not allowed by module "wide" \(no host name entry of its allow-list matches\)$/],
        [`/probe?target=10.0.0.1:${silentPort}&module=wide`, /\(the address is in none of its networks\)$/],
        [`/probe?target=127.0.0.1:${silentPort}&module=wide&password=Sentinel-Pw-1`, /^Bad request: credentials are not accepted in the query string: set username and password in the module$/],
        [`/probe?target=127.0.0.1:${silentPort}&module=wide&username=admin`, /credentials are not accepted in the query string/],
        [`/probe?target=http://admin:Sentinel-Pw-1@127.0.0.1:${silentPort}&module=wide`, /^Bad request: credentials are not accepted in the target: the module holds them$/],
        [`/probe?target=127.0.0.1:${silentPort}&module=nope`, /^Bad request: unknown module "nope" \(configured: local, wide\)$/],
        [`/probe?target=127.0.0.1:${silentPort}`, /^Bad request: module is missing \(configured: local, wide\)$/],
        ['/probe?module=wide', /^Bad request: target is missing/],
        ['/probe?target=&module=wide', /^Bad request: target is missing/],
        ['/probe?target=a%20b:1&module=wide', /^Bad request: malformed target/],
        ['/probe?target=127.0.0.1:99999&module=wide', /^Bad request: malformed target/],
        ['/probe?target=127.0.0.1%0a:1&module=wide', /^Bad request: target contains a control character$/],
        [`/probe?target=127.0.0.1:${silentPort}&module=wide&module=local`, /^Bad request: module is given more than once$/],
        [`/probe?target=127.0.0.1:${silentPort}&module=wide&timeout=1`, /^Bad request: unknown parameter "timeout" \(only target and module\)$/],
      ];
      for (const [path, message] of cases) {
        const answer = await http(p, path);
        assert.equal(answer.status, 400, path);
        assert.equal(answer.headers['content-type'], 'text/plain; charset=utf-8');
        assert.ok(answer.body.endsWith('\n') && answer.body.split('\n').length === 2, `one line: ${JSON.stringify(answer.body)}`);
        assert.match(answer.body.trimEnd(), message, path);
        assert.equal(answer.body.includes('Sentinel-Pw-1'), false);
      }
      assert.equal(silentConnections, before, 'no refused probe opened a connection');
    });
  });

  it('without modules, /probe is 400 and /metrics still works', async () => {
    await serving(['--url', emulator.url, '--serve', '127.0.0.1:0', '--name', 'emu'], async (p) => {
      const answer = await http(p, `/probe?target=127.0.0.1:${port}`);
      assert.deepEqual([answer.status, answer.body], [400, 'Bad request: no modules are configured (--config "modules")\n']);
      assert.match((await http(p, '/metrics')).body, /^supervisord_up\{supervisord_server="emu"\} 1$/m);
    });
  });

  it('--config with modules and instances serves both; modules need --serve; bad modules exit 2 naming the module', async () => {
    const both = config('both.json', { instances: [{ name: 'emu', url: emulator.url }], modules: { m: { allow: ['127.0.0.1'] } } });
    await serving(['--config', both, '--serve', '127.0.0.1:0'], async (p) => {
      assert.match((await http(p, '/metrics')).body, /^supervisord_up\{supervisord_server="emu"\} 1$/m);
      assert.equal((await http(p, `/probe?target=127.0.0.1:${port}`)).status, 200, 'the only module is the default');
    });
    const stderr = new Capture();
    assert.equal(await main(['--config', both], {}, { stdout: new Capture(), stderr }), 2);
    assert.equal(stderr.text, `supervisord-check: --config ${both}: "modules" serve /probe, which needs --serve\n`);
    const bad = config('bad.json', { modules: { m: { allow: ['127.0.0.1'], url: 'http://x' } } });
    const stderr2 = new Capture();
    assert.equal(await main(['--config', bad, '--serve', '0'], {}, { stdout: new Capture(), stderr: stderr2 }), 2);
    assert.equal(stderr2.text, `supervisord-check: --config ${bad}: module "m": 'url' is not allowed in a module: the target of each probe names the server\n`);
  });
});

describe('/probe cannot be used to multiply runs, connections or threads', () => {
  let file: string;
  before(() => {
    file = config('identity.json', { modules: { m: { allow: ['127.0.0.1'] }, other: { allow: ['127.0.0.1'] } } });
  });

  it('200 spellings of one server: one target, one connection, one run per --min-interval', async () => {
    await serving(['--config', file, '--serve', '127.0.0.1:0'], async (p) => {
      const before = [calls(emulator), emulator.stats.connections];
      const spellings = Array.from({ length: 200 }, (_, i) => [`127.0.0.1:${port}/RPC2/${i}`, `http://127.0.0.1:${port}/RPC2?n=${i}`, `127.0.0.1:${port}?${i}`, `http://127.0.0.1:${port}/`][i % 4]!);
      const answers = await Promise.all(spellings.map((t) => http(p, `/probe?module=m&target=${encodeURIComponent(t)}`)));
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
      for (const a of answers) assert.match(a.body, new RegExp(`^supervisord_up\\{supervisord_server="127\\.0\\.0\\.1:${port}"\\} 1$`, 'm'));
      assert.deepEqual([calls(emulator) - before[0]!, emulator.stats.connections - before[1]!], [1, 1]);
      const own = parseExposition((await http(p, '/metrics')).body);
      assert.deepEqual(samples(own, 'supervisord_probe_targets'), [[{}, 1]]);
      assert.deepEqual(samples(own, 'supervisord_probe_targets_evicted_total'), [[{}, 0]]);
      assert.deepEqual(samples(own, 'supervisord_exporter_server_connections'), [[{}, 1]]);
      // Another module is another target (its own settings), on the same budget.
      assert.equal((await http(p, `/probe?module=other&target=127.0.0.1:${port}`)).status, 200);
      assert.deepEqual(samples(parseExposition((await http(p, '/metrics')).body), 'supervisord_probe_targets'), [[{}, 2]]);
    });
  });

  it('the exporter\'s own families pass promtool in both formats', async (t) => {
    await serving(['--config', file, '--serve', '127.0.0.1:0'], async (p) => {
      await http(p, `/probe?module=m&target=127.0.0.1:${port}`);
      const text = (await http(p, '/metrics')).body;
      const om = (await http(p, '/metrics', { Accept: PROMETHEUS_ACCEPT })).body;
      assert.match(om, /^# TYPE supervisord_probe_targets_evicted counter\nsupervisord_probe_targets_evicted_total 0\n[^]*# EOF\n$/m);
      assert.equal(om.split('# EOF').length, 2);
      const checked = await promtoolCheck(text);
      if (checked === null) t.diagnostic('promtool is not installed');
      else assert.deepEqual(checked, { code: 0, output: '' });
      const checkedOm = await promtoolOpenMetrics(om);
      if (checkedOm !== null) assert.equal(checkedOm.code, 0, checkedOm.output);
      assert.equal(parseOpenMetrics(om).get('supervisord_probe_targets_evicted')?.type, 'counter');
    });
  });

  it('beyond --probe-max-targets: evictions counted, a target forgotten within --min-interval refused (429), thrashing said once', async () => {
    const two = config('two.json', { modules: { m: { allow: ['127.0.0.1', 'localhost'] } } });
    await serving(['--config', two, '--serve', '127.0.0.1:0', '--probe-max-targets', '1', '--min-interval', '30s'], async (p) => {
      assert.equal((await http(p, `/probe?module=m&target=127.0.0.1:${port}`)).status, 200);
      assert.equal((await http(p, `/probe?module=m&target=localhost:${port}`)).status, 200);
      const refused = await http(p, `/probe?module=m&target=127.0.0.1:${port}/RPC2/again`);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], '30');
      assert.match(refused.body, /^Too many requests: this target was probed less than --min-interval ago and forgotten since \(--probe-max-targets 1 is smaller than the number of targets probed\): try again in \d+ s\n$/);
      assert.deepEqual(samples(parseExposition((await http(p, '/metrics')).body), 'supervisord_probe_targets_evicted_total'), [[{}, 1]]);
    });
    await serving(['--config', two, '--serve', '127.0.0.1:0', '--probe-max-targets', '1', '--min-interval', '0'], async (p, stderr) => {
      for (let i = 0; i < 3; i++) {
        assert.equal((await http(p, `/probe?module=m&target=127.0.0.1:${port}`)).status, 200);
        assert.equal((await http(p, `/probe?module=m&target=localhost:${port}`)).status, 200);
      }
      assert.deepEqual(samples(parseExposition((await http(p, '/metrics')).body), 'supervisord_probe_targets_evicted_total'), [[{}, 5]]);
      const said = stderr.text.split('\n').filter((l) => l.includes('after being forgotten'));
      assert.deepEqual(said, [
        'supervisord-check: 1 /probe target was probed again after being forgotten: --probe-max-targets 1 is smaller than the number of targets probed, ' +
          'so such probes start afresh (a full listing, new connections, restart counts from 0); raise --probe-max-targets',
      ]);
    });
  });

  it('a hostile group name (\\d+$ over 100,000 digits) blocks no other request (regression: / waited 30 s)', { timeout: 60_000 }, async () => {
    const hostile = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: [makeProcess({ name: 'web', group: '1'.repeat(100_000) }), makeProcess({ name: 'db' })],
    });
    try {
      const hostilePort = Number(new URL(hostile.url).port);
      const regex = config('regex.json', { modules: { r: { allow: ['127.0.0.1'], proc_regex: ['\\d+$'], timeout: 3 } } });
      await serving(['--config', regex, '--serve', '127.0.0.1:0', '--min-interval', '0'], async (p, stderr) => {
        const started = performance.now();
        const probing = http(p, `/probe?module=r&target=127.0.0.1:${hostilePort}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const t0 = performance.now();
        const index = await http(p, '/');
        const took = performance.now() - t0;
        assert.equal(index.status, 200);
        assert.ok(took < 500, `/ answered in ${took} ms while the probe was judging`);
        const probe = await probing;
        assert.equal(probe.status, 200);
        assert.match(probe.body, /^supervisord_probe_success 1$/m);
        assert.ok(performance.now() - started < 3000, 'the hint costs the run a second at most, not its deadline');
        assert.match(stderr.text, /warning: 'proc_regex' pattern '\\\\d\+\$' matched no process; only process names are matched/);
      });
    } finally {
      await hostile.close();
    }
  });
});

describe('--max-server-connections', () => {
  it('a sharded collection of 400 processes lives within it: its calls queue on 4 connections, every process reported', { timeout: 60_000 }, async () => {
    const big = await SupervisordEmulator.start({
      listen: { port: 0 },
      processes: Array.from({ length: 400 }, (_, i) => makeProcess({ name: `p${String(i).padStart(3, '0')}`, group: `g${i % 7}` })),
    });
    try {
      const file = config('sharded.json', { instances: [{ name: 'big', url: big.url, max_connections: 16 }] });
      await serving(['--config', file, '--serve', '127.0.0.1:0', '--min-interval', '0', '--max-server-connections', '4'], async (p) => {
        for (let run = 0; run < 3; run++) {
          const families = parseExposition((await http(p, '/metrics')).body);
          assert.equal(families.get('supervisord_process_status')?.samples.length, 400);
        }
        assert.ok((big.stats.calls['supervisor.getProcessInfo'] ?? 0) >= 800, 'the runs after the first were sharded');
        assert.ok(big.stats.connections <= 4, `${big.stats.connections} connections`);
      });
    } finally {
      await big.close();
    }
  });
});

describe('slow request heads cannot lock the scrapers out', () => {
  it(`256 half-sent requests: a scrape still gets in at once, and they are closed (408) after ${HEAD_TIMEOUT_MS} ms`, { timeout: 60_000 }, async () => {
    await serving(['--url', emulator.url, '--serve', '127.0.0.1:0', '--name', 'emu'], async (p) => {
      const open = (): Promise<{ socket: Socket; answer: Promise<string> }> =>
        new Promise((resolve) => {
          const socket = connect(p, '127.0.0.1');
          socket.on('error', () => {});
          let text = '';
          socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
          const answer = new Promise<string>((done) => socket.once('close', () => done(text)));
          socket.once('connect', () => {
            socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ');
            resolve({ socket, answer });
          });
        });
      const slow = [];
      for (let i = 0; i < 256; i++) slow.push(await open());
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        const scrape = await http(p, '/metrics');
        assert.equal(scrape.status, 200);
        // The attacker reopens what was closed to make room.
        slow.push(await open());
      }
      assert.ok(performance.now() - t0 < 3000, `5 scrapes took ${performance.now() - t0} ms`);
      const closedEarly = (await Promise.all(slow.slice(0, 5).map((s) => s.answer))).filter((a) => a === '').length;
      assert.equal(closedEarly, 5, 'the 5 longest waiting were closed to make room, without an answer');
      const late = await slow.at(-1)!.answer;
      assert.match(late, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      for (const s of slow) s.socket.destroy();
    });
  });
});
