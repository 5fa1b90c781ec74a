/**
 * The reference check's mock server data (check-spec section 5; the Datadog
 * check's tests/test_supervisord_unit.py), shared by the pure and the
 * end-to-end check tests, and the member order of a process struct.
 */
import type { ProcessInfo } from '../../lib/types.js';

/**
 * The 14 members of a process struct in supervisord's order
 * (`rpcinterface.py`), written out independently of the emulator and the
 * fixture generator.
 */
export const MEMBER_ORDER: readonly string[] = [
  'name',
  'group',
  'start',
  'stop',
  'now',
  'state',
  'statename',
  'spawnerr',
  'exitstatus',
  'logfile',
  'stdout_logfile',
  'stderr_logfile',
  'pid',
  'description',
];


export const MYSQL: ProcessInfo = {
  now: 1414815513,
  group: 'mysql',
  description: 'pid 787, uptime 0:02:05',
  pid: 787,
  stderr_logfile: '/var/log/supervisor/mysql-stderr---supervisor-3ATI82.log',
  stop: 0,
  statename: 'RUNNING',
  start: 1414815388,
  state: 20,
  stdout_logfile: '/var/log/mysql/mysql.log',
  logfile: '/var/log/mysql/mysql.log',
  exitstatus: 0,
  spawnerr: '',
  name: 'mysql',
};
export const JAVA: ProcessInfo = {
  now: 1414815738,
  group: 'java',
  description: 'Nov 01 04:22 AM',
  pid: 0,
  stderr_logfile: '/var/log/supervisor/java-stderr---supervisor-lSdcKZ.log',
  stop: 1414815722,
  statename: 'STOPPED',
  start: 1414815388,
  state: 0,
  stdout_logfile: '/var/log/java/java.log',
  logfile: '/var/log/java/java.log',
  exitstatus: 21,
  spawnerr: '',
  name: 'java',
};
export const PYTHON: ProcessInfo = {
  now: 1414815738,
  group: 'python',
  description: '',
  pid: 2765,
  stderr_logfile: '/var/log/supervisor/python-stderr---supervisor-vFzxIg.log',
  stop: 1414815737,
  statename: 'STARTING',
  start: 1414815737,
  state: 10,
  stdout_logfile: '/var/log/python/python.log',
  logfile: '/var/log/python/python.log',
  exitstatus: 0,
  spawnerr: '',
  name: 'python',
};
