// The package's public entries, imported by name through the `exports` map
// (package self-reference), exactly as a user imports them.
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('supervisord-check exports the check layer', async () => {
  const m = await import('supervisord-check');
  for (const name of ['SupervisordCheck', 'checkAll', 'CheckGroup', 'formatPrometheus', 'formatDogStatsD', 'formatText', 'ConfigError', 'resolveConfig', 'compilePythonRegex', 'buildResult', 'parseVersion', 'SupervisordEmulator', 'makeProcess']) {
    assert.equal(typeof (m as Record<string, unknown>)[name], 'function', name);
  }
  assert.deepEqual([m.OK, m.WARNING, m.CRITICAL, m.UNKNOWN], [0, 1, 2, 3]);
  assert.equal(m.DEFAULT_STATUS_MAPPING['RUNNING'], 'up');
});

test('supervisord-check/protocol exports the codec and transport', async () => {
  const p = await import('supervisord-check/protocol');
  for (const name of ['encodeCall', 'encodeResponse', 'encodeFault', 'decodeResponse', 'decodeCall', 'XmlRpcDecoder', 'XmlRpcClient', 'parseAddress', 'tcpAddress', 'unixAddress', 'XmlRpcFault', 'ProtocolError']) {
    assert.equal(typeof (p as Record<string, unknown>)[name], 'function', name);
  }
  const bytes = p.encodeResponse([1, 'a']);
  assert.deepEqual(p.decodeResponse(bytes), [1, 'a']);
});
