import { createRandom as prng } from '../../fixtures/generate.js'; // mulberry32: a failing seed replays
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePythonRegex, translatePythonRegex } from '../../lib/python/regex.js';
import { ConfigError } from '../../lib/errors.js';

/**
 * (pattern, subject, does Python's re.search match?). The expectations were
 * written from Python's documented semantics; when python3 is installed the
 * whole table is also re-checked against it below.
 */
const MATCH_CASES: Array<[string, string, boolean]> = [
  // re.search is not anchored
  ['mysq', 'mysql', true],
  ['^mysq.$', 'mysql', true],
  ['^mysq.$', 'mysqld', false],
  // Python's $ also matches before a final newline; \Z does not
  ['a$', 'a\n', true],
  ['a$', 'a\n\n', false],
  ['a\\Z', 'a\n', false],
  ['a\\Z', 'a', true],
  ['\\Aa', 'ba', false],
  // . stops at \n only (JavaScript's also stops at \r, U+2028, U+2029)
  ['a.b', 'a\rb', true],
  ['a.b', 'a\u2028b', true],
  ['a.b', 'a\nb', false],
  ['(?s)a.b', 'a\nb', true],
  ['(?s:a.)b', 'a\nb', true],
  // multiline breaks lines at \n only
  ['(?m)^b', 'a\nb', true],
  ['(?m)^b', 'a\rb', false],
  ['(?m)a$', 'a\nb', true],
  ['^b', 'a\nb', false],
  // Unicode classes are Python's
  ['\\d', '\u0661', true],
  ['\\d', '\u00b2', false],
  ['\\w', '\u00e9', true],
  ['\\w', '\u2160', true],
  ['\\W', '\u00e9', false],
  ['\\s', '\u001c', true],
  ['\\s', '\u0085', true],
  ['\\s', '\ufeff', false],
  ['\\S', '\ufeff', true],
  ['(?a)\\w', '\u00e9', false],
  ['(?a)\\s', '\u0085', false],
  ['(?a:\\d)x', '\u0661x', false],
  ['(?a:\\d)x', '1x', true],
  ['(?a)(?u:\\D)', '\u00e9', true],
  ['(?a)(?u:[^\\w])', '!', true],
  ['(?a)(?u:[^\\w])', '\u00e9', false],
  ['[\\d]', '\u0661', true],
  ['[^\\W]', '\u00e9', true],
  ['[^\\W_]', '_', false],
  ['[a\\S]', ' ', false],
  // \b and \B are Unicode; \B never matches in an empty string (CPython 3.11)
  ['\\bcaf\u00e9\\b', 'caf\u00e9!', true],
  ['caf\\b', 'caf\u00e9', false],
  ['\\B', '', false],
  ['\\B', '!!', true],
  ['(?a)caf\\b', 'caf\u00e9', true],
  // case-insensitivity as CPython folds it
  ['(?i)K', '\u212a', true],
  ['(?i)k', 'K', true],
  ['(?i)i', '\u0130', true],
  ['(?i)i', '\u0131', true],
  ['(?i)s', '\u017f', true],
  ['(?i)[a-z]+$', 'WEB', true],
  ['(?i)[^k]', '\u212a', false],
  ['(?ai)k', '\u212a', false],
  ['(?i:w)EB', 'WEB', true],
  ['(?i:w)EB', 'Web', false],
  ['(?i)(?-i:w)eb', 'WEB', false],
  ['(?i)_1', '_1', true],
  ['(?i)\u4e2d', '\u4e2d', true],
  // named groups and references
  ['(?P<x>a)(?P=x)', 'aa', true],
  ['(?P<x>a)(?P=x)', 'ab', false],
  ['(a)b\\1', 'aba', true],
  ['(?=(a))\\1', 'a', true],
  // braces that are not quantifiers are literals
  ['a{', 'a{', true],
  ['a{1,x}', 'a{1,x}', true],
  ['a{}', 'a{}', true],
  ['a{,2}b', 'b', true],
  ['a{,}b', 'aaab', true],
  ['x{2}', 'xx', true],
  ['x{2}?', 'x', false],
  // escapes
  ['\\101', 'A', true],
  ['\\0', '\u0000', true],
  ['\\x41\\u0042\\U00000043', 'ABC', true],
  ['\\-\\/\\#\\ ', '-/# ', true],
  ['[\\b]', '\b', true],
  ['[]a]', ']', true],
  ['[^]]', 'a', true],
  ['[a-]', '-', true],
  ['[\\w-]', '-', true],
  // verbose mode
  ['(?x) a b  # comment\n c', 'abc', true],
  ['(?x)a\\ b', 'a b', true],
  ['(?x)[ ]', ' ', true],
  ['(?x)a{1, 2}', 'a{1,2}', true],
  ['(?x)a#\\\nb', 'a', true],
  // comments, lookarounds, lazy quantifiers, alternation
  ['a(?#note)*b', 'aaab', true],
  ['(?<=web)_1', 'web_1', true],
  ['(?<!web)_1', 'web_1', false],
  ['web(?!_2)', 'web_2', false],
  ['(?=a)*b', 'b', true],
  ['a+?b', 'aab', true],
  ['^(web|worker)_\\d+$', 'worker_12', true],
  ['^(web|worker)_\\d+$', 'cron_1', false],
  ['', '', true],
  ['\ud83d\ude00', 'x\ud83d\ude00', true],
  ['^.$', '\ud83d\ude00', true],
];

/** Patterns refused, with the reason after `cannot be used: `. */
const REFUSED: Array<[string, string]> = [
  // CPython rejects these too
  ['(', 'missing ), unterminated subpattern at position 0'],
  ['a)', 'unbalanced parenthesis at position 1'],
  ['[a', 'unterminated character set at position 0'],
  ['*a', 'nothing to repeat at position 0'],
  ['^*', 'nothing to repeat at position 1'],
  ['a**', 'multiple repeat at position 2'],
  ['a{2,1}', 'min repeat greater than max repeat at position 2'],
  ['a{4294967295}', 'the repetition number is too large'],
  ['[z-a]', 'bad character range z-a at position 1'],
  ['[\\d-z]', 'bad character range \\d-z at position 1'],
  ['\\q', 'bad escape \\q at position 0'],
  ['[\\A]', 'bad escape \\A at position 1'],
  ['\\', 'bad escape (end of pattern) at position 0'],
  ['\\x4', 'incomplete escape \\x4 at position 0'],
  ['\\U00110000', 'bad escape \\U00110000 at position 0'],
  ['\\477', 'octal escape value \\477 outside of range 0-0o377 at position 0'],
  ['[\\477]', 'octal escape value \\477 outside of range 0-0o377 at position 1'],
  ['(a)\\2', 'invalid group reference 2 at position 4'],
  ['(a\\1)', 'cannot refer to an open group at position 2'],
  ['(?P<a>(?P=a))', 'cannot refer to an open group at position 10'],
  ['(?P<a>x)(?P<a>y)', "redefinition of group name 'a' as group 2; was group 1 at position 12"],
  ['(?P<1>x)', "bad character in group name '1' at position 4"],
  ['(?P=b)', "unknown group name 'b' at position 4"],
  ['(?P<a', 'missing >, unterminated name at position 4'],
  ['(?Px)', 'unknown extension ?Px at position 1'],
  ['(?<x)', 'unknown extension ?<x at position 1'],
  ['(?', 'unexpected end of pattern at position 2'],
  ['(?#x', 'missing ), unterminated comment at position 0'],
  ['a(?i)', 'global flags not at the start of the expression at position 1'],
  ['x|(?i)y', 'global flags not at the start of the expression at position 2'],
  ['(?z)', 'unknown extension ?z at position 1'],
  ['(?iz)', 'unknown flag at position 3'],
  ['(?i-:a)', 'missing flag at position 4'],
  ['(?-a:a)', "bad inline flags: cannot turn off flags 'a', 'u' and 'L' at position 4"],
  ['(?i-i:a)', 'bad inline flags: flag turned on and off at position 5'],
  ['(?au)a', "bad inline flags: flags 'a', 'u' and 'L' are incompatible at position 4"],
  ['(?a)(?u)a', 'ASCII and UNICODE flags are incompatible'],
  ['(?L)a', "bad inline flags: cannot use 'L' flag with a str pattern at position 3"],
  ['(?<=a+)b', 'look-behind requires fixed-width pattern'],
  ['(?<=a|bc)d', 'look-behind requires fixed-width pattern'],
  // no exact JavaScript equivalent
  ['a*+', 'possessive quantifiers (*+, ++, ?+, {m,n}+) have no JavaScript equivalent'],
  ['(?>a)', 'atomic groups (?>...) have no JavaScript equivalent'],
  ['(a)?(?(1)b|c)', 'conditional groups (?(...)...) have no JavaScript equivalent'],
  ['\\N{EM DASH}', 'named character escapes \\N{...} are not supported'],
  ['(?t)a', "the TEMPLATE flag 't' is not supported"],
  ['(?i)\u00e9', "case-insensitive matching of '\u00e9' (U+00E9) is not supported: Python and JavaScript fold case differently outside ASCII"],
  ['(?i)[\u00c0-\u00ff]', "case-insensitive matching of '\u00c0' (U+00C0) is not supported: Python and JavaScript fold case differently outside ASCII"],
  ['(?i:\u00df)', "case-insensitive matching of '\u00df' (U+00DF) is not supported: Python and JavaScript fold case differently outside ASCII"],
  ['(a)?\\1', 'backreference to group 1 is not supported: the group is optional or repeated, and there Python and JavaScript backreferences differ'],
  ['(?:(a)|b)\\1', 'backreference to group 1 is not supported: the group is optional or repeated, and there Python and JavaScript backreferences differ'],
  ["(?P<n>a)*(?P=n)", "backreference to group 'n' is not supported: the group is optional or repeated, and there Python and JavaScript backreferences differ"],
  ['(?!(a))\\1', 'backreference to group 1 is not supported: the group is optional or repeated, and there Python and JavaScript backreferences differ'],
  ['(a)(?<=\\1)', 'backreferences inside a lookbehind are not supported (JavaScript matches lookbehinds backwards)'],
  ['(?i)(a)\\1', 'backreferences under (?i) are not supported (Python and JavaScript compare case differently)'],
  ['(?a:[^\\w])', '\\w at the start of a (?a:...) or (?u:...) group that changes the global flags is not supported (CPython checks the first character with the global flags)'],
  ['(?a)(?u:\\w)', '\\w at the start of a (?a:...) or (?u:...) group that changes the global flags is not supported (CPython checks the first character with the global flags)'],
];

describe('compilePythonRegex', () => {
  test('matches as Python re.search for the table', () => {
    for (const [pattern, subject, expected] of MATCH_CASES) {
      const regexp = compilePythonRegex(pattern, 'proc_regex');
      assert.equal(regexp.test(subject), expected, `${JSON.stringify(pattern)} on ${JSON.stringify(subject)} (js: /${regexp.source}/u)`);
    }
  });

  test('returns a stateless RegExp with only the u flag', () => {
    const regexp = compilePythonRegex('web', 'proc_regex');
    assert.equal(regexp.flags, 'u');
    assert.equal(regexp.test('web'), true);
    assert.equal(regexp.test('web'), true, 'a second test() gives the same answer');
  });

  test('translates named groups and references to JavaScript syntax', () => {
    assert.equal(translatePythonRegex('(?P<x>a)(?P=x)'), '(?<x>a)\\k<x>');
    assert.equal(translatePythonRegex('(a)\\1'), '(a)(?:\\1)');
  });

  test('refuses with ConfigError naming key, pattern and reason', () => {
    for (const [pattern, reason] of REFUSED) {
      assert.throws(
        () => compilePythonRegex(pattern, 'proc_regex_exclude'),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `${pattern}: ${String(error)}`);
          assert.equal(error.code, 'ERR_CONFIG');
          assert.equal(error.key, 'proc_regex_exclude');
          const quoted = pattern.includes("'") ? JSON.stringify(pattern) : `'${pattern.replaceAll('\\', '\\\\')}'`;
          assert.equal(error.message, `'proc_regex_exclude' pattern ${quoted} cannot be used: ${reason}`);
          return true;
        },
        pattern,
      );
    }
  });

  test('quotes the pattern as Python repr in the message', () => {
    assert.throws(() => compilePythonRegex("it's(", 'proc_regex'), {
      message: `'proc_regex' pattern "it's(" cannot be used: missing ), unterminated subpattern at position 4`,
    });
    assert.throws(() => compilePythonRegex('a\n(', 'proc_regex'), {
      message: `'proc_regex' pattern 'a\\n(' cannot be used: missing ), unterminated subpattern at position 2`,
    });
  });
});

// ---------------------------------------------------------------------------
// Against CPython itself
// ---------------------------------------------------------------------------

const PYTHON_ORACLE = `
import json, re, sys, warnings
warnings.simplefilter('ignore')
out = []
for c in json.load(sys.stdin):
    try:
        r = re.compile(c['p'])
    except (re.error, OverflowError, RecursionError, ValueError) as e:
        out.append({'error': str(e)})
        continue
    out.append({'results': [r.search(s) is not None for s in c['s']]})
json.dump(out, sys.stdout)
`;

type OracleAnswer = { error: string } | { results: boolean[] };

function askPython(cases: Array<{ p: string; s: string[] }>): OracleAnswer[] | string {
  const run = spawnSync('python3', ['-c', PYTHON_ORACLE], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 26 });
  if (run.error !== undefined) return `python3 not available (${run.error.message})`;
  if (run.status !== 0) return `python3 failed: ${run.stderr.slice(0, 200)}`;
  return JSON.parse(run.stdout) as OracleAnswer[];
}


function randomPatterns(seed: number, count: number): Array<{ p: string; s: string[] }> {
  const rnd = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const literals = ['a', 'b', 'A', 'k', 'K', 'i', 'I', 's', '1', '_', '-', ' ', '\\n', '\u00e9', '\u212a', '\u0131', '\u0661', '#', '\\.', '\\\\', '\\x41', '\\0', '{', '}', ']', ','];
  const atoms = ['.', '\\w', '\\W', '\\d', '\\D', '\\s', '\\S', '\\b', '\\B', '^', '$', '\\A', '\\Z'];
  const classItems = ['a', 'k', 'i', 'A-Z', 'a-c', '0-9', '\\d', '\\D', '\\w', '\\W', '\\s', '\\S', '-', '\u00e9', '\\n', '^', '\\]', '[', '\\x00-\\x7f'];
  const quantifiers = ['*', '+', '?', '{2}', '{1,2}', '{,2}', '*?', '+?', '{', '{x}', '{2,}', '??', '{0}'];
  const subjects = ['a', 'b', 'A', 'k', 'K', '\u212a', 'i', 'I', '\u0130', '\u0131', 's', '\u017f', '1', '\u0661', '_', ' ', '\n', '\r', '\u2028', '\u00e9', '\u00c9', '\u00df', 'x', '-', '\u001c', '\u0085', '\ufeff', '#', '{', '}', ','];
  let groups = 0;
  const atom = (depth: number): string => {
    const r = rnd();
    if (r < 0.4 || depth > 2) return pick(literals);
    if (r < 0.6) return pick(atoms);
    if (r < 0.72) {
      let text = rnd() < 0.3 ? '[^' : '[';
      for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) text += pick(classItems);
      return `${text}]`;
    }
    const r2 = rnd();
    if (r2 < 0.3) {
      groups++;
      return `(${expr(depth + 1)})`;
    }
    if (r2 < 0.45) return `(?:${expr(depth + 1)})`;
    if (r2 < 0.55) return `${pick(['(?=', '(?!'])}${expr(depth + 1)})`;
    if (r2 < 0.65) return `${pick(['(?<=', '(?<!'])}${pick(['a', '\\w', '[ab]', 'ab', 'a|b', 'a*'])})`;
    if (r2 < 0.8) return `(?${pick(['i', '-i', 's', 'm', 'a', 'x', 'u', 'ims', 'i-s'])}:${expr(depth + 1)})`;
    if (r2 < 0.9 && groups > 0) return pick(['\\1', `\\${groups}`]);
    return '(?#c)';
  };
  const seq = (depth: number): string => {
    let text = '';
    for (let n = Math.floor(rnd() * 4); n > 0; n--) text += atom(depth) + (rnd() < 0.6 ? '' : pick(quantifiers));
    return text;
  };
  const expr = (depth: number): string => {
    let text = seq(depth);
    while (rnd() < 0.2) text += `|${seq(depth)}`;
    return text;
  };
  const cases: Array<{ p: string; s: string[] }> = [];
  for (let n = 0; n < count; n++) {
    groups = 0;
    const prefix = rnd() < 0.3 ? pick(['(?i)', '(?m)', '(?s)', '(?x)', '(?a)', '(?ia)', '(?x)(?i)']) : '';
    const p = prefix + expr(0);
    const s = [''];
    for (let k = 0; k < 15; k++) {
      let text = '';
      for (let len = Math.floor(rnd() * 6); len > 0; len--) text += pick(subjects);
      s.push(text);
    }
    cases.push({ p, s });
  }
  return cases;
}

describe('against CPython (python3)', () => {
  test('the match table and the refusals that CPython also rejects agree', (t) => {
    const cpythonRejects = REFUSED.slice(0, REFUSED.findIndex(([p]) => p === 'a*+'));
    const cases = [
      ...MATCH_CASES.map(([p, s]) => ({ p, s: [s] })),
      ...cpythonRejects.map(([p]) => ({ p, s: [] })),
    ];
    const answers = askPython(cases);
    if (typeof answers === 'string') {
      t.skip(answers);
      return;
    }
    MATCH_CASES.forEach(([pattern, subject, expected], i) => {
      const answer = answers[i]!;
      assert.ok('results' in answer, `python rejects ${JSON.stringify(pattern)}`);
      assert.equal(answer.results[0], expected, `table entry ${JSON.stringify(pattern)} on ${JSON.stringify(subject)} disagrees with python3`);
    });
    cpythonRejects.forEach(([pattern, reason], i) => {
      const answer = answers[MATCH_CASES.length + i]!;
      assert.ok('error' in answer, `python accepts ${JSON.stringify(pattern)}`);
      // Same reason as CPython, except where CPython's message has no position and ours does not either.
      assert.equal(answer.error, reason, pattern);
    });
  });

  test('random patterns: same answers as re.search, or refused', (t) => {
    const seed = Number(process.env['PYREGEX_SEED'] ?? 20241125);
    const cases = randomPatterns(seed, 600);
    const answers = askPython(cases);
    if (typeof answers === 'string') {
      t.skip(answers);
      return;
    }
    let translated = 0;
    cases.forEach(({ p, s }, i) => {
      const answer = answers[i]!;
      let regexp: RegExp | undefined;
      try {
        regexp = compilePythonRegex(p, 'proc_regex');
      } catch (error) {
        assert.ok(error instanceof ConfigError, `seed ${seed}, pattern ${JSON.stringify(p)}: ${String(error)}`);
      }
      if ('error' in answer) {
        assert.equal(regexp, undefined, `seed ${seed}: python rejects ${JSON.stringify(p)} (${answer.error}) but it was translated to /${regexp?.source}/`);
        return;
      }
      if (regexp === undefined) return; // refused: allowed, never a different answer
      translated++;
      s.forEach((subject, k) => {
        assert.equal(regexp.test(subject), answer.results[k], `seed ${seed}: ${JSON.stringify(p)} on ${JSON.stringify(subject)} (js: /${regexp.source}/u)`);
      });
    });
    assert.ok(translated > cases.length / 2, `seed ${seed}: only ${translated} of ${cases.length} patterns were translated`);
  });
});

// ---------------------------------------------------------------------------
// Catastrophic backtracking: refused when compiled, whatever Python says
// ---------------------------------------------------------------------------

describe('patterns that can backtrack catastrophically are refused', () => {
  const TAIL =
    "can match the same text in more than one way, so matching can take exponential time (catastrophic backtracking) and hang a run; rewrite it so that the next character always decides between going on and stopping, and between alternatives (e.g. '(a+)+' as 'a+')";
  // [pattern, the repeated part named, why]
  const REFUSED_BACKTRACKING: Array<[string, string, string]> = [
    ['(a+)+$', '(a+)+', 'nested quantifiers'],
    ['^([a-z0-9]+[-_]?)+$', '([a-z0-9]+[-_]?)+', 'nested quantifiers, the separator optional'],
    ['(a*)*b', '(a*)*', 'nested stars'],
    ['(\\w|\\d)+$', '(\\w|\\d)+', 'overlapping alternatives'],
    ['(a|ab)*c', '(a|ab)*', 'alternatives sharing a first character'],
    ['(.*a){3,}', '(.*a){3,}', 'a quantifier that can swallow what follows it'],
    ['(\\s*\\w+)+$', '(\\s*\\w+)+', 'the next repetition starts like the inner quantifier'],
    ['(?i)(A|a)+', '(A|a)+', 'case-insensitive overlap'],
    ['x(?=(a+)+$)', '(a+)+', 'inside a lookahead'],
    ['(a|b?){2,5}c', '(a|b?){2,5}', 'bounded, but still exponential in the bound'],
  ];
  for (const [pattern, part, why] of REFUSED_BACKTRACKING) {
    test(`${pattern}: ${why}`, () => {
      assert.throws(() => compilePythonRegex(pattern, 'proc_regex'), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.key, 'proc_regex');
        const repr = (s: string): string => `'${s.replaceAll('\\', '\\\\')}'`;
        assert.equal(error.message, `'proc_regex' pattern ${repr(pattern)} cannot be used: the repeated part ${repr(part)} ${TAIL}`);
        return true;
      });
      // translatePythonRegex (diagnostics) still translates it.
      assert.equal(typeof translatePythonRegex(pattern), 'string');
    });
  }

  // Each character has one way to be matched inside the repetition: accepted, and still Python's meaning.
  const ACCEPTED: Array<[string, string, boolean]> = [
    ['(\\w+\\.)+com$', 'www.example.com', true],
    ['^(\\d{1,3}\\.){3}\\d{1,3}$', '10.0.0.1', true],
    ['^(?:[a-z]+-)*[a-z]+$', 'celery-worker-high', true],
    ['^(?:[a-z]+-)*[a-z]+$', 'celery-worker-', false],
    ['(ab|cd)+x', 'abcdx', true],
    ['(ab?)+$', 'abaab', true],
    ['^(celery|web)_[0-9]+$', 'web_12', true],
    ['.*worker.*', 'a-worker-1', true],
    ['[a-z]+(_[a-z]+)*$', 'high_prio_tasks', true],
  ];
  test('patterns whose choices the next character decides are accepted', () => {
    for (const [pattern, subject, expected] of ACCEPTED) {
      assert.equal(compilePythonRegex(pattern, 'proc_regex').test(subject), expected, pattern);
    }
  });
});
