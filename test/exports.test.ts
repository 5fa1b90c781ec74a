// The package's public entries, imported by name through the `exports` map
// (package self-reference), exactly as a user imports them. Each runtime name
// is a promise to users: a name added or removed here is a decision about the
// public API, not a side effect of a refactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type * as Main from 'supervisord-check';
import type * as Emulator from 'supervisord-check/emulator';
import type * as Outputs from 'supervisord-check/outputs';

/** The types each entry documents, so that losing one fails the build. */
export type PinnedTypes = [
  Main.CheckOptions,
  Main.CheckClient,
  Main.CheckEntry,
  Main.CheckGroupOptions,
  Main.SupervisordInstance,
  Main.InstanceConfig,
  Main.SupervisorCaller,
  Main.SupervisorState,
  Main.CheckResult,
  Main.Metric,
  Main.ServiceCheck,
  Main.ServiceCheckStatus,
  Main.MappedStatus,
  Main.VersionMetadata,
  Main.ProcessSummary,
  Main.ProcessInfo,
  Main.ServerRun,
  Main.CheckState,
  Main.StateServer,
  Outputs.OutputRun,
  Outputs.ServerRun,
  Outputs.TextOptions,
  Outputs.PrometheusOptions,
  Outputs.CounterTotalsOptions,
  Outputs.ExtraGauge,
  Outputs.DogStatsDOptions,
  Outputs.NagiosOptions,
  Outputs.NagiosReport,
  Emulator.EmulatorOptions,
  Emulator.EmulatedFault,
  Emulator.EmulatedState,
  Emulator.EmulatorStats,
  Emulator.ProcessInfo,
];

function runtimeNames(module: object): string[] {
  return Object.keys(module).sort();
}

test('supervisord-check exports the check and its constants, nothing internal (the formats are in supervisord-check/outputs)', async () => {
  const m = await import('supervisord-check');
  assert.deepEqual(runtimeNames(m), [
    'CAN_CONNECT',
    'CRITICAL',
    'CheckGroup',
    'ConfigError',
    'GROUP_COUNT',
    'OK',
    'PROCESS_COUNT',
    'PROCESS_DOWNTIME',
    'PROCESS_EXIT_SIGNAL',
    'PROCESS_EXIT_STATUS',
    'PROCESS_RESTARTS',
    'PROCESS_START_TIME',
    'PROCESS_STATUS',
    'PROCESS_UPTIME',
    'SERVER_STATE',
    'StateError',
    'SupervisordCheck',
    'UNKNOWN',
    'UnexpectedAnswerError',
    'WARNING',
    'checkAll',
    'getAllProcessInfo',
    'getProcessInfo',
    'getState',
    'getSupervisorVersion',
    'isProcessInfo',
  ]);
  assert.deepEqual([m.OK, m.WARNING, m.CRITICAL, m.UNKNOWN], [0, 1, 2, 3]);
  assert.equal(m.PROCESS_COUNT, 'supervisord.process.count');
});

test('supervisord-check/outputs exports the formats, nothing internal', async () => {
  const o = await import('supervisord-check/outputs');
  assert.deepEqual(runtimeNames(o), [
    'CounterTotals',
    'DOGSTATSD_MAX_PAYLOAD',
    'NAGIOS_STATES',
    'OPENMETRICS_CONTENT_TYPE',
    'PROMETHEUS_CONTENT_TYPE',
    'PROMETHEUS_METRICS',
    'formatDogStatsD',
    'formatNagios',
    'formatPrometheus',
    'formatText',
    'packDatagrams',
    'prometheusMetricName',
  ]);
  assert.equal(o.PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  const { checkAll } = await import('supervisord-check');
  // The README's path: checkAll's entries, as they are, labelled by name.
  const runs = await checkAll([{ name: 'gone', socket: 'unix:///nonexistent/supervisord-check-outputs.sock' }]);
  assert.match(o.formatPrometheus(runs), /^supervisord_up\{supervisord_server="gone"\} 0$/m);
});

test('supervisord-check/protocol exports the codec and transport', async () => {
  const p = await import('supervisord-check/protocol');
  assert.deepEqual(runtimeNames(p), [
    'AddressError',
    'BodySizeError',
    'ClientClosedError',
    'ConnectError',
    'ConnectionBudget',
    'ConnectionBudgetError',
    'ConnectionClosedError',
    'DEFAULT_MAX_BYTES',
    'DEFAULT_MAX_DEPTH',
    'DEFAULT_PATH',
    'DEFAULT_PORT',
    'DepthLimitError',
    'DocumentSizeError',
    'HTTP_DEFAULTS',
    'HeaderSizeError',
    'HttpParseError',
    'HttpStatusError',
    'LimitExceededError',
    'NotXmlRpcError',
    'ProtocolError',
    'TimeoutError',
    'XmlRpcCallDecoder',
    'XmlRpcClient',
    'XmlRpcDecoder',
    'XmlRpcDoctypeError',
    'XmlRpcEncodeError',
    'XmlRpcEncodingError',
    'XmlRpcFault',
    'XmlRpcParseError',
    'XmlRpcResponseError',
    'XmlRpcTruncatedError',
    'XmlRpcTypeError',
    'XmlRpcValueError',
    'decodeCall',
    'decodeResponse',
    'encodeCall',
    'encodeFault',
    'encodeResponse',
    'parseAddress',
    'tcpAddress',
    'unixAddress',
    'validateCredential',
  ]);
  const bytes = p.encodeResponse([1, 'a']);
  assert.deepEqual(p.decodeResponse(bytes), [1, 'a']);
});

test('supervisord-check/emulator exports the emulator and its process builder', async () => {
  const e = await import('supervisord-check/emulator');
  assert.deepEqual(runtimeNames(e), ['PROCESS_STATES', 'SupervisordEmulator', 'makeProcess']);
  assert.equal(e.PROCESS_STATES['RUNNING'], 20);
  const emulator = await e.SupervisordEmulator.start({ listen: { port: 0 }, processes: [e.makeProcess({ name: 'web' })] });
  try {
    const { SupervisordCheck, OK } = await import('supervisord-check');
    const check = new SupervisordCheck({ name: 'exports', url: emulator.url });
    const result = await check.run();
    await check.close();
    assert.deepEqual(result.errors, []);
    assert.equal(result.serviceChecks.find((sc) => sc.name === 'supervisord.can_connect')?.status, OK);
  } finally {
    await emulator.close();
  }
});
