import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmlRpcFault, ProtocolError, XmlRpcParseError } from '../../protocol/index.js';

test('XmlRpcFault carries code and fields', () => {
  const f = new XmlRpcFault(10, 'BAD_NAME: foo');
  assert.ok(f instanceof ProtocolError);
  assert.equal(f.code, 'ERR_XMLRPC_FAULT');
  assert.equal(f.name, 'XmlRpcFault');
  assert.equal(f.faultCode, 10);
  assert.equal(f.message, 'fault 10: BAD_NAME: foo');
});

test('parse errors say where', () => {
  const e = new XmlRpcParseError('unexpected text', 42);
  assert.equal(e.message, 'unexpected text at byte 42');
  assert.equal(e.offset, 42);
});
