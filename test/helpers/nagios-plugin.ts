/**
 * An independent reader of Monitoring Plugins output, written from the
 * development guidelines and the Nagios plugin API, for the tests of
 * `--format nagios` (never the formatter's own helpers):
 * - the first line is `TEXT | PERFDATA`; the other lines are long text up
 *   to the first `|`, after which everything (lines joined) is more
 *   performance data (Nagios 3 and later);
 * - performance data: space-separated `'label'=value[UOM];[warn];[crit];[min];[max]`,
 *   a label quoted when it holds spaces, `=` or `'`, a quote written `''`;
 *   value, min and max in `[-0-9.]`; UOM one of the guidelines';
 * - ranges `[@][start:][end]`: `start` 0 when left out, `end` infinity when
 *   left out, `~` for -infinity; alert outside `start..end` (endpoints
 *   included), inside with `@`.
 */

import assert from 'node:assert/strict';

export const STATE_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];
/** Units of measurement the guidelines allow (none, s, ms, us, %, B, KB, MB, TB, GB, c). */
const UOMS = new Set(['', 's', 'ms', 'us', '%', 'B', 'KB', 'MB', 'GB', 'TB', 'c']);

export interface Datum {
  label: string;
  value: number;
  uom: string;
  warn: string;
  crit: string;
  min: string;
  max: string;
}

export interface Read {
  /** The word after SUPERVISORD. */
  state: string;
  /** The status text after ` - `, before the `|`. */
  summary: string;
  /** Everything before the first `|` of the first line. */
  text: string;
  long: string[];
  /** First-line performance data. */
  perf: Datum[];
  /** Performance data after the long output. */
  morePerf: Datum[];
}

/**
 * Reads a plugin's output as the Nagios 3 plugin API describes it: the first
 * line is `TEXT | PERFDATA`; the other lines are long text up to the first
 * `|`, after which everything (lines joined) is more performance data.
 */
export function readPlugin(output: string): Read {
  assert.ok(output.endsWith('\n'), 'output ends with a newline');
  const lines = output.slice(0, -1).split('\n');
  const first = lines[0]!;
  const bar = first.indexOf('|');
  const text = bar < 0 ? first : first.slice(0, bar).trimEnd();
  const m = /^SUPERVISORD (OK|WARNING|CRITICAL|UNKNOWN) - (.+)$/.exec(text);
  assert.ok(m !== null, `first line "${first}" is "SUPERVISORD <STATE> - <text>"`);
  const rest = lines.slice(1).join('\n');
  const bar2 = rest.indexOf('|');
  const long = (bar2 < 0 ? rest : rest.slice(0, bar2)).split('\n').filter((l) => l !== '');
  return {
    state: m[1]!,
    summary: m[2]!,
    text,
    long,
    perf: readPerf(bar < 0 ? '' : first.slice(bar + 1)),
    morePerf: readPerf(bar2 < 0 ? '' : rest.slice(bar2 + 1).replace(/\n/g, ' ')),
  };
}

/** Space-separated `'label'=value[UOM];[warn];[crit];[min];[max]` items, per the guidelines. */
export function readPerf(text: string): Datum[] {
  const out: Datum[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    if (text[i] === ' ') {
      i++;
      continue;
    }
    let label = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        assert.ok(i < n, `unterminated quoted label in ${JSON.stringify(text)}`);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            label += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        label += text[i++];
      }
    } else {
      const eq = text.indexOf('=', i);
      assert.ok(eq > i, `a label at ${i} of ${JSON.stringify(text)}`);
      label = text.slice(i, eq);
      assert.ok(!/[ ']/.test(label), `an unquoted label holds no space or quote: ${JSON.stringify(label)}`);
      i = eq;
    }
    assert.equal(text[i], '=', `= after the label ${JSON.stringify(label)}`);
    i++;
    let end = text.indexOf(' ', i);
    if (end < 0) end = n;
    const fields = text.slice(i, end).split(';');
    i = end;
    assert.ok(fields.length <= 5, `at most 5 fields: ${fields.join(';')}`);
    const vm = /^(-?[0-9.]+)([a-zA-Z%]*)$/.exec(fields[0]!);
    assert.ok(vm !== null, `value in [-0-9.] with a UOM: ${fields[0]}`);
    assert.ok(UOMS.has(vm[2]!), `UOM ${vm[2]} is one of the guidelines'`);
    const [warn = '', crit = '', min = '', max = ''] = fields.slice(1);
    for (const range of [warn, crit]) if (range !== '') rangeOf(range);
    for (const bound of [min, max]) assert.ok(bound === '' || /^-?[0-9.]+$/.test(bound), `min/max in [-0-9.]: ${bound}`);
    out.push({ label, value: Number(vm[1]), uom: vm[2]!, warn, crit, min, max });
  }
  return out;
}

/** A guidelines range, read independently: `[@][start:][end]`, `~` for -infinity. */
export function rangeOf(text: string): { start: number; end: number; inside: boolean } {
  const m = /^(@?)(?:(~|-?[0-9]+(?:\.[0-9]+)?)?:)?(-?[0-9]+(?:\.[0-9]+)?)?$/.exec(text);
  assert.ok(m !== null && (m[2] !== undefined || m[3] !== undefined), `${JSON.stringify(text)} is a range`);
  const start = m[2] === undefined ? 0 : m[2] === '~' ? -Infinity : Number(m[2]);
  const end = m[3] === undefined ? Infinity : Number(m[3]);
  assert.ok(start <= end, `start <= end in ${text}`);
  return { start, end, inside: m[1] === '@' };
}

/** The guidelines: alert when outside start..end (endpoints included), inside with @. */
export function alerts(text: string, value: number): boolean {
  const r = rangeOf(text);
  const within = value >= r.start && value <= r.end;
  return r.inside ? within : !within;
}

/** The state a monitoring system would derive from one datum's thresholds. */
export function stateFromDatum(d: Datum): number {
  if (d.crit !== '' && alerts(d.crit, d.value)) return 2;
  if (d.warn !== '' && alerts(d.warn, d.value)) return 1;
  return 0;
}

/** Asserts what every plugin output must be, whatever the case: state word = exit code, short safe text. */
export function wellFormed(report: { state: number; output: string }): Read {
  const read = readPlugin(report.output);
  assert.equal(read.state, STATE_NAMES[report.state], 'the state word is the exit code');
  assert.ok([...read.text].length <= 80, `status text within 80 characters: ${read.text} (${[...read.text].length})`);
  for (const line of [read.text, ...read.long]) {
    assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(line), `no control character: ${JSON.stringify(line)}`);
  }
  assert.ok(!read.text.includes('|') && !read.long.some((l) => l.includes('|')), 'no | in the text parts');
  return read;
}

export const datum = (read: Read, label: string): Datum | undefined => [...read.perf, ...read.morePerf].find((d) => d.label === label);
