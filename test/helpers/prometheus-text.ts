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
 * The lint problems promtool reports that are not accepted: everything except
 * the `_count` suffix lint, which the metric names
 * (`supervisord_process_count`) knowingly trigger.
 */
export function unexpectedLint(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/^\S+_count non-histogram and non-summary metrics should not have "_count" suffix$/.test(l));
}
