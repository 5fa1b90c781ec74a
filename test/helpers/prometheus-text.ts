/**
 * A strict parser of the Prometheus text exposition format 0.0.4, written
 * from the format's description (not from our formatter), for tests. It
 * rejects anything the format does not allow and also what our exporter
 * promises never to write:
 * - every line is `# HELP name text`, `# TYPE name type` or a sample
 *   `name{label="value",...} value`; no blank line, no other comment, the
 *   text ends with a newline;
 * - names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
 *   `[a-zA-Z_][a-zA-Z0-9_]*` and not `__`-prefixed;
 * - HELP escapes only `\\` and `\n`; label values only `\\`, `\"` and `\n`;
 * - values are Go floats (`NaN`, `+Inf`, `-Inf`, decimal or exponent);
 * - each family has exactly one HELP and one TYPE, both before its samples,
 *   and its lines are contiguous; no label name twice in a sample, no
 *   series twice.
 *
 * @module
 */

/** One sample: labels decoded. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
export interface ParsedFamily {
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * Parses an exposition.
 *
 * @returns families by name, in order of appearance.
 * @throws Error `line N: what` at the first violation.
 */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text === '') return new Map();
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const families = new Map<string, ParsedFamily & { hasHelp: boolean; hasType: boolean }>();
  const closed = new Set<string>();
  let current: string | undefined;
  const series = new Set<string>();
  const enter = (name: string, n: number): ParsedFamily & { hasHelp: boolean; hasType: boolean } => {
    if (name !== current) {
      if (closed.has(name)) throw new Error(`line ${n}: family ${name} is not contiguous`);
      if (current !== undefined) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (f === undefined) {
      f = { help: '', type: 'untyped', samples: [], hasHelp: false, hasType: false };
      families.set(name, f);
    }
    return f;
  };
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m === null) throw new Error(`line ${n}: a comment that is neither HELP nor TYPE: ${JSON.stringify(line)}`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`line ${n}: invalid metric name ${JSON.stringify(name)}`);
      const f = enter(name, n);
      if (f.samples.length > 0) throw new Error(`line ${n}: ${kind} of ${name} after its samples`);
      if (kind === 'HELP') {
        if (f.hasHelp) throw new Error(`line ${n}: second HELP for ${name}`);
        f.hasHelp = true;
        f.help = unescape(rest, new Set(['\\', 'n']), n);
      } else {
        if (f.hasType) throw new Error(`line ${n}: second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${n}: unknown type ${JSON.stringify(rest)}`);
        f.hasType = true;
        f.type = rest;
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) throw new Error(`line ${n}: not a sample: ${JSON.stringify(line)}`);
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    let labelText = '';
    if (line[pos] === '{') {
      const start = pos;
      pos++;
      while (line[pos] !== '}') {
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
        if (ln === null) throw new Error(`line ${n}: invalid label name at column ${pos + 1}`);
        const labelName = ln[0];
        if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) throw new Error(`line ${n}: reserved label name ${labelName}`);
        if (Object.hasOwn(labels, labelName)) throw new Error(`line ${n}: label ${labelName} twice`);
        pos += labelName.length;
        if (line.slice(pos, pos + 2) !== '="') throw new Error(`line ${n}: expected =" after ${labelName}`);
        pos += 2;
        let raw = '';
        while (pos < line.length && line[pos] !== '"') {
          if (line[pos] === '\\') {
            raw += line.slice(pos, pos + 2);
            pos += 2;
          } else {
            raw += line[pos];
            pos++;
          }
        }
        if (pos >= line.length) throw new Error(`line ${n}: unterminated label value`);
        pos++; // closing quote
        labels[labelName] = unescape(raw, new Set(['\\', '"', 'n']), n);
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') throw new Error(`line ${n}: expected , or } at column ${pos + 1}`);
      }
      pos++;
      labelText = line.slice(start, pos);
    }
    if (line[pos] !== ' ') throw new Error(`line ${n}: expected one space before the value`);
    const valueText = line.slice(pos + 1);
    if (!['NaN', '+Inf', '-Inf'].includes(valueText) && !FLOAT.test(valueText)) {
      throw new Error(`line ${n}: invalid value ${JSON.stringify(valueText)}`);
    }
    const f = enter(name, n);
    if (!f.hasHelp || !f.hasType) throw new Error(`line ${n}: sample of ${name} before its HELP and TYPE`);
    const key = `${name}${labelText}`;
    if (series.has(key)) throw new Error(`line ${n}: duplicate series ${key}`);
    series.add(key);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    f.samples.push({ labels, value });
  });
  const out = new Map<string, ParsedFamily>();
  for (const [name, f] of families) {
    if (!f.hasHelp || !f.hasType) throw new Error(`family ${name} lacks HELP or TYPE`);
    if (f.samples.length === 0) throw new Error(`family ${name} has no samples`);
    out.set(name, { help: f.help, type: f.type, samples: f.samples });
  }
  return out;
}

function unescape(raw: string, allowed: ReadonlySet<string>, n: number): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '\\') {
      out += raw[i];
      continue;
    }
    const next = raw[i + 1];
    if (next === undefined || !allowed.has(next)) throw new Error(`line ${n}: invalid escape \\${next ?? ''}`);
    out += next === 'n' ? '\n' : next;
    i++;
  }
  return out;
}

/**
 * Runs `promtool check metrics` on the text when promtool is installed.
 *
 * @returns null when promtool is missing; else its exit code and output.
 *   promtool exits 1 for parse errors and 3 for lint problems only.
 */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string } | null> {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const bin = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  if (bin === undefined) return null;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

/**
 * Every remark of `promtool check metrics` (one a line): the exposition is
 * meant to have none, so every line is unexpected.
 */
export function unexpectedLint(output: string): string[] {
  return output.split('\n').filter((l) => l.trim() !== '');
}

/**
 * A strict reading of an OpenMetrics 1.0.0 text exposition, for tests:
 * `# HELP`, `# TYPE` and `# UNIT` (in that order, each at most once) before a
 * family's samples; a counter's samples are `<family>_total`, an info's
 * `<family>_info` with the value 1, a gauge's the family's name; a unit is the
 * name's suffix; HELP escapes `\\`, `\"` and `\n`; the text ends with
 * exactly one `# EOF` line. The samples themselves are read by
 * {@link parseExposition}'s rules after the metadata is rewritten in the
 * 0.0.4 form.
 *
 * @returns families by OpenMetrics family name, with type, unit and samples.
 * @throws Error `line N: what` at the first violation.
 */
export function parseOpenMetrics(text: string): Map<string, ParsedFamily & { unit?: string }> {
  if (!text.endsWith('# EOF\n')) throw new Error('the exposition does not end with "# EOF\\n"');
  const lines = text.slice(0, -'# EOF\n'.length).split('\n');
  lines.pop(); // the empty string after the last newline
  const meta = new Map<string, { help?: string; type?: string; unit?: string }>();
  const sampleName = new Map<string, string>();
  const rewritten: string[] = [];
  const suffix: Record<string, string> = { counter: '_total', info: '_info', gauge: '' };
  let current: string | undefined;
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line === '# EOF') throw new Error(`line ${n}: # EOF before the end`);
    const m = /^# (HELP|TYPE|UNIT) (\S+) (.*)$/.exec(line);
    if (line.startsWith('#')) {
      if (m === null) throw new Error(`line ${n}: not a HELP, TYPE or UNIT line: ${JSON.stringify(line)}`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      const f = meta.get(name) ?? {};
      meta.set(name, f);
      if (current !== name && sampleName.has(name)) throw new Error(`line ${n}: metadata of ${name} after its samples`);
      current = name;
      if (kind === 'HELP') {
        if (f.help !== undefined || f.type !== undefined) throw new Error(`line ${n}: HELP of ${name} twice or after TYPE`);
        f.help = rest;
        if (/\\[^\\n"]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`line ${n}: invalid escape in HELP`);
        if (/(^|[^\\])"/.test(rest.replace(/\\\\/g, ''))) throw new Error(`line ${n}: unescaped " in HELP`);
      } else if (kind === 'TYPE') {
        if (f.type !== undefined) throw new Error(`line ${n}: TYPE of ${name} twice`);
        if (!(rest in suffix)) throw new Error(`line ${n}: type ${rest} not expected`);
        if (rest !== 'gauge' && name.endsWith(suffix[rest]!)) throw new Error(`line ${n}: family ${name} carries its samples' suffix`);
        f.type = rest;
        sampleName.set(name, name + suffix[rest]!);
        rewritten.push(`# HELP ${name + suffix[rest]!} ${(f.help ?? '').replace(/\\"/g, '"')}`);
        rewritten.push(`# TYPE ${name + suffix[rest]!} ${rest === 'info' ? 'gauge' : rest}`);
      } else {
        if (f.type === undefined || f.unit !== undefined) throw new Error(`line ${n}: UNIT of ${name} before TYPE or twice`);
        if (!name.endsWith(`_${rest}`)) throw new Error(`line ${n}: unit ${rest} is not the suffix of ${name}`);
        f.unit = rest;
      }
      return;
    }
    const expected = current === undefined ? undefined : sampleName.get(current);
    if (expected === undefined || !line.startsWith(expected) || !/^[{ ]/.test(line.slice(expected.length))) {
      throw new Error(`line ${n}: sample not named ${expected ?? '(no family)'}: ${JSON.stringify(line)}`);
    }
    if (meta.get(current!)!.type === 'info' && !line.endsWith(' 1')) throw new Error(`line ${n}: an info sample is not 1`);
    rewritten.push(line);
  });
  const parsed = parseExposition(rewritten.length === 0 ? '' : `${rewritten.join('\n')}\n`);
  const out = new Map<string, ParsedFamily & { unit?: string }>();
  for (const [name, f] of meta) {
    const samples = parsed.get(sampleName.get(name) ?? name);
    if (samples === undefined) throw new Error(`family ${name} has no samples`);
    out.set(name, { help: samples.help, type: f.type ?? 'unknown', samples: samples.samples, ...(f.unit === undefined ? {} : { unit: f.unit }) });
  }
  return out;
}

/**
 * Reads an OpenMetrics exposition with promtool's own OpenMetrics parser,
 * when promtool is installed: `promtool check metrics` reads only the 0.0.4
 * format, `promtool tsdb create-blocks-from openmetrics` reads OpenMetrics
 * (strictly: `# EOF`, types, escapes), given a timestamp on every sample.
 *
 * @returns null when promtool is missing; else its exit code and output.
 */
export async function promtoolOpenMetrics(text: string): Promise<{ code: number; output: string } | null> {
  const { spawn } = await import('node:child_process');
  const { existsSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const bin = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  if (bin === undefined) return null;
  const dir = mkdtempSync(join(tmpdir(), 'openmetrics-'));
  try {
    const stamped = text.replace(/^([^#\n].*)$/gm, '$1 1700000000');
    writeFileSync(join(dir, 'input.txt'), stamped);
    return await new Promise((resolve, reject) => {
      const child = spawn(bin, ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'input.txt'), join(dir, 'blocks')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, output }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
