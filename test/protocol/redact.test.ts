import { test } from 'node:test';
import assert from 'node:assert/strict';

import { HttpStatusError, XmlRpcFault, XmlRpcValueError } from '../../protocol/errors.js';
import { CredentialRedactor } from '../../protocol/redact.js';

const USER = 'ops';
const PASSWORD = 'S3ntinel-Pa55word-9f2c';
const TOKEN = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

test('redact: whole forms and pieces of at least 12 characters', () => {
  const r = new CredentialRedactor(USER, PASSWORD);
  const cases: [string, string][] = [
    [`Authorization: Basic ${TOKEN}`, 'Authorization: Basic ***'],
    [`pw ${PASSWORD}!`, 'pw ***!'],
    [`pw ${encodeURIComponent(PASSWORD)}`, 'pw ***'],
    [`cut "${TOKEN.slice(0, 30)}..."`, 'cut "***..."'],
    [`mid x${TOKEN.slice(5, 20)}y`, 'mid x***y'],
    [`short ${TOKEN.slice(5, 15)}`, `short ${TOKEN.slice(5, 15)}`], // 10 characters: kept
    ['nothing here', 'nothing here'],
    ['abc', 'abc'],
  ];
  for (const [input, expected] of cases) assert.equal(r.redact(input), expected, input);
});

test('redact: a short password is kept as text but its Basic token is redacted', () => {
  // supervisord's sample configuration uses password=123.
  for (const [user, password] of [['user', '123'], [USER, 'pass'], ['u', '12345']] as const) {
    const r = new CredentialRedactor(user, password);
    const token = Buffer.from(`${user}:${password}`).toString('base64');
    assert.equal(r.empty, false);
    assert.equal(r.redact(`echo Authorization: Basic ${token}`), 'echo Authorization: Basic ***', token);
    assert.equal(r.redact(`echo ${token.replace(/=+$/, '')}.`), 'echo ***.', token);
    assert.equal(r.redact(`${password} in ${password}word`), `${password} in ${password}word`);
    assert.equal(r.redactError(new HttpStatusError(400, `Basic ${token}`, 'http://h:1/RPC2')).reason, 'Basic ***');
  }
});

test('redact: nothing without a password', () => {
  for (const r of [new CredentialRedactor(USER, undefined), new CredentialRedactor(undefined, undefined)]) {
    assert.equal(r.empty, true);
    assert.equal(r.redact(`x ${PASSWORD} pass`), `x ${PASSWORD} pass`);
    const e = new Error(PASSWORD);
    assert.equal(r.redactError(e).message, PASSWORD);
  }
});

test('redactError: message, stack, reason, faultString and the cause chain; enumerability kept', () => {
  const r = new CredentialRedactor(USER, PASSWORD);
  const status = new HttpStatusError(500, `echo Basic ${TOKEN}`, 'http://h:1/RPC2');
  assert.equal(r.redactError(status), status);
  assert.equal(status.reason, 'echo Basic ***');
  assert.equal(status.message, 'http://h:1/RPC2 answered HTTP 500 echo Basic ***');
  assert.ok(!status.stack!.includes(TOKEN));
  assert.equal(Object.getOwnPropertyDescriptor(status, 'message')!.enumerable, false);
  assert.equal(Object.getOwnPropertyDescriptor(status, 'reason')!.enumerable, true);
  const fault = r.redactError(new XmlRpcFault(2, `bad ${PASSWORD}`));
  assert.equal(fault.faultString, 'bad ***');
  assert.equal(fault.message, 'fault 2: bad ***');
  const wrapped = new Error('outer', { cause: new XmlRpcValueError(`invalid <int> value "${TOKEN.slice(0, 36)}..."`, 5) });
  r.redactError(wrapped);
  assert.equal((wrapped.cause as Error).message, 'invalid <int> value "***..." at byte 5');
  assert.equal(r.redactError('not an error'), 'not an error');
});

test('redact: a form or a piece is found wherever it starts (the gram filter skips no position), other texts are returned as they are', () => {
  for (const [user, password] of [[USER, PASSWORD], ['user', '123'], ['u', 'pässwörd"\\x'], ['u6', 'pw6x!z']] as const) {
    const r = new CredentialRedactor(user, password);
    const token = Buffer.from(`${user}:${password}`).toString('base64');
    const latin1 = Buffer.from(password, 'utf8').toString('latin1');
    const forms = password.length >= 6 ? [password, latin1, JSON.stringify(password).slice(1, -1), encodeURIComponent(password), token] : [token];
    const pieces = [token.slice(0, 12), token.slice(1, 13), token.slice(-12)].filter((p) => p.length === 12);
    for (const secret of [...forms, ...pieces]) {
      for (let offset = 0; offset <= 7; offset++) {
        for (const after of ['', '.', ' ~ tail of the text']) {
          const text = `${'-'.repeat(offset)}${secret}${after}`;
          assert.equal(r.redact(text), `${'-'.repeat(offset)}***${after}`, `${JSON.stringify(secret)} at ${offset}`);
        }
      }
    }
    for (const text of ['supervisord_process:worker_01', 'Current time: 2026-12-07 10:00:00\nProcess name: web', 'x'.repeat(1000)]) {
      assert.equal(r.redact(text), text);
    }
  }
});

test('CredentialRedactor.for: one redactor for the same credentials while it is in use, another for others', () => {
  const a = CredentialRedactor.for(USER, PASSWORD);
  assert.equal(CredentialRedactor.for(USER, PASSWORD), a);
  assert.notEqual(CredentialRedactor.for(USER, `${PASSWORD}x`), a);
  assert.notEqual(CredentialRedactor.for('other', PASSWORD), a);
  assert.notEqual(CredentialRedactor.for(undefined, undefined), a);
  assert.equal(CredentialRedactor.for(undefined, undefined).empty, true);
  assert.equal(a.redact(`pw ${PASSWORD}`), 'pw ***');
});

test('redact: a text that shares short pieces with the password (a path, a host name) is looked at in full and kept; mayHold says which texts need that look', () => {
  const r = new CredentialRedactor('monitor', 'fleet-secret-2026');
  const path = 'supervisord_server:unix:///tmp/fleet-aBcD12/sv-1.sock';
  assert.equal(r.mayHold(path), true, 'it shares grams with the password');
  assert.equal(r.redact(path), path);
  assert.equal(r.mayHold('supervisord_process:worker_01'), false);
  assert.equal(r.redact(`${path} fleet-secret-2026`), `${path} ***`);
  // A piece of 12 characters of a form, amid text that shares grams with it, is still found.
  const token = Buffer.from('monitor:fleet-secret-2026').toString('base64');
  assert.equal(r.redact(`/tmp/fleet-x ${token.slice(3, 15)} fleet-secre`), '/tmp/fleet-x *** fleet-secre');
  assert.equal(new CredentialRedactor(undefined, undefined).mayHold(path), false);
});
