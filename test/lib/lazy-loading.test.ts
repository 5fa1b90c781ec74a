/**
 * What importing the main entry loads: not the XML-RPC client (HTTP over
 * `node:net`/`node:tls`) nor `node:crypto`, until a run opens a connection
 * or a TLS instance needs them (the footprint figures are in
 * `bench/check.js --footprint`). Each case runs in a fresh process, where
 * `process.moduleLoadList` tells which of Node's modules were loaded.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';

/** Runs `body` as an ES module in a fresh Node; its last line of stdout, parsed. */
function fresh(body: string): Promise<Record<string, string[]>> {
  const script = `
    const loaded = () => process.moduleLoadList.filter((m) => /^NativeModule (net|tls|crypto|perf_hooks|worker_threads)$/.test(m)).map((m) => m.slice(13));
    const out = {};
    ${body}
    console.log(JSON.stringify(out));
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, string[]>);
    });
  });
}

describe('lazy loading of the main entry', () => {
  it('importing the main entry and running a check loads no output format (they are in supervisord-check/outputs)', async () => {
    const stderr = await withLoadHook(`
      const { SupervisordCheck } = await import('supervisord-check');
      const check = new SupervisordCheck({ name: 'lazy', socket: 'unix:///nonexistent/supervisord-check-lazy.sock' });
      await check.run();
      await check.close();
      console.error('MAIN DONE');
      await import('supervisord-check/outputs');
    `);
    const [main, later] = stderr.split('MAIN DONE');
    assert.ok(loadedBy(main!).includes('check.js'), `the hook saw the main entry's modules: ${loadedBy(main!).join(', ')}`);
    assert.deepEqual(loadedBy(main!).filter((m) => m.startsWith('outputs/')), []);
    assert.ok(loadedBy(later!).includes('outputs/prometheus.js'), `the outputs entry loads the formats: ${loadedBy(later!).join(', ')}`);
  });

  it('the outputs entry alone loads the formats, not the check (its configuration, collection, submissions, main log reader)', async () => {
    const loaded = loadedBy(await withLoadHook(`await import('supervisord-check/outputs');`));
    assert.ok(loaded.includes('outputs/nagios.js'), `the hook saw the formats: ${loaded.join(', ')}`);
    for (const heavy of ['check.js', 'config.js', 'collect.js', 'submissions.js', 'exit-log.js', 'hints.js']) {
      assert.ok(!loaded.includes(heavy), `${heavy} loaded by the outputs entry: ${loaded.join(', ')}`);
    }
  });

  it('importing and constructing a check loads neither the network, TLS nor crypto; the first run does', async () => {
    const out = await fresh(`
      out.start = loaded();
      const { SupervisordCheck } = await import('supervisord-check');
      const check = new SupervisordCheck({ name: 'lazy', socket: 'unix:///nonexistent/supervisord-check-lazy.sock' });
      out.imported = loaded();
      const result = await check.run();
      await check.close();
      out.ran = loaded();
      out.errors = result.errors;
    `);
    assert.deepEqual(out['start'], [], 'a bare process has none of them');
    assert.deepEqual(out['imported'], []);
    assert.ok(out['ran']!.includes('net'), `the run loaded the client: ${out['ran']!.join(', ')}`);
    assert.match(out['errors']![0]!, /^Cannot connect to unix:\/\/\/nonexistent\/supervisord-check-lazy\.sock\./);
  });

  it("the command's module loads no crypto until a state file is asked for", async () => {
    const main = new URL('../../lib/cli/main.js', import.meta.url).href;
    const out = await fresh(`
      await import(${JSON.stringify(main)});
      out.imported = loaded();
    `);
    assert.deepEqual(out['imported']!.filter((m) => m === 'crypto'), []);
  });

  it('a check given its own client never loads the XML-RPC client', async () => {
    const out = await fresh(`
      const { SupervisordCheck } = await import('supervisord-check');
      const client = { call: async () => [], close: async () => {} };
      const check = new SupervisordCheck({ name: 'lazy', socket: 'unix:///x.sock' }, { client });
      const result = await check.run();
      await check.close();
      out.ran = loaded().filter((m) => m !== 'perf_hooks');
      out.errors = result.errors;
    `);
    assert.deepEqual(out['errors'], []);
    assert.deepEqual(out['ran'], []);
  });

  it('the regex worker thread module loads only when a proc_regex pattern needs a worker, and its worker runs under --input-type=module (node -e)', async () => {
    const out = await fresh(`
      const { SupervisordCheck } = await import('supervisord-check');
      const web = { name: 'web1', group: 'web1', start: 1, stop: 0, now: 2, state: 20, statename: 'RUNNING', spawnerr: '', exitstatus: 0, logfile: '', stdout_logfile: '', stderr_logfile: '', pid: 7, description: 'pid 7, uptime 0:00:01' };
      const client = { call: async (m) => (m === 'supervisor.getAllProcessInfo' ? [web] : m === 'supervisor.getState' ? { statecode: 1, statename: 'RUNNING' } : '4.2.5'), close: async () => {} };
      const plain = new SupervisordCheck({ name: 'lazy', socket: 'unix:///x.sock', proc_names: ['web'] }, { client });
      await plain.run();
      await plain.close();
      out.names = loaded();
      const patterns = new SupervisordCheck({ name: 'lazy', socket: 'unix:///x.sock', proc_regex: ['^web'] }, { client });
      const r = await patterns.run();
      await patterns.close();
      out.monitored = r.processes.map((p) => p.name);
      out.regex = loaded();
    `);
    assert.ok(!out['names']!.includes('worker_threads'), `proc_names alone: ${out['names']!.join(', ')}`);
    assert.deepEqual(out['monitored'], ['web1'], 'the pattern was judged');
    assert.ok(out['regex']!.includes('worker_threads'), `proc_regex: ${out['regex']!.join(', ')}`);
  });

  it('without process.getBuiltinModule (Node before 20.16), built-ins come from a CommonJS require', async () => {
    const module = new URL('../../lib/lazy-builtin.js', import.meta.url).href;
    const out = await fresh(`
      delete process.getBuiltinModule;
      const { builtin } = await import(${JSON.stringify(module)});
      out.before = loaded();
      out.hash = [builtin('node:crypto').createHash('sha256').update('x').digest('hex')];
      out.same = [String(builtin('node:crypto') === builtin('node:crypto'))];
      out.after = loaded();
    `);
    assert.deepEqual(out['before'], []);
    assert.deepEqual(out['hash'], ['2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881']);
    assert.deepEqual(out['same'], ['true']);
    assert.deepEqual(out['after'], ['crypto']);
  });

  it('the DogStatsD hash of a tag loads crypto when it is needed, and gives the same digest', async () => {
    const out = await fresh(`
      const { formatDogStatsD } = await import('supervisord-check/outputs');
      const run = (tags) => ({ name: 's', target: 'unix:///s', tags, result: { metrics: [{ name: 'm', type: 'gauge', value: 1, tags }], serviceChecks: [], metadata: {}, warnings: [], errors: [] } });
      formatDogStatsD([run(['plain'])]);
      out.plain = loaded();
      out.line = formatDogStatsD([run(['a,b'])]);
      out.hashed = loaded();
    `);
    assert.deepEqual(out['plain'], []);
    assert.ok(out['hashed']!.includes('crypto'));
    const { createHash } = await import('node:crypto');
    assert.deepEqual(out['line'], [`m:1|g|#a_b_${createHash('sha256').update('a,b', 'utf8').digest('hex').slice(0, 8)}`]);
  });
});

/**
 * Runs `body` as an ES module in a fresh Node with a module resolution hook
 * (module.register, Node 20.6+) that writes `LOADED <path under dist/lib/>`
 * on stderr for every module of the package it loads; its stderr.
 */
function withLoadHook(body: string): Promise<string> {
  const hooks = `data:text/javascript,${encodeURIComponent(`
    export async function resolve(specifier, context, next) {
      const r = await next(specifier, context);
      if (r.url.includes('/dist/lib/')) console.error('LOADED ' + r.url.slice(r.url.indexOf('/dist/lib/') + 10));
      return r;
    }`)}`;
  const script = `
    import { register } from 'node:module';
    register(${JSON.stringify(hooks)});
    ${body}
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (error, _stdout, stderr) => {
      if (error !== null) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stderr);
    });
  });
}

/** The modules a {@link withLoadHook} run's stderr says were loaded. */
function loadedBy(stderr: string): string[] {
  return [...stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => m[1]!);
}
