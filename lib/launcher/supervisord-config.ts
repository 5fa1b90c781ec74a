/**
 * The config file of a throwaway supervisord: foreground, everything it
 * writes in one private directory, XML-RPC on a unix socket readable by the
 * owner alone and/or on 127.0.0.1, and the programs.
 *
 * @module
 */

import { join } from 'node:path';

import { LauncherError } from './errors.js';

/** One `[program:x]` section. Unset keys keep supervisord's defaults. */
export interface SupervisordProgram {
  /** Program name: no whitespace, `:`, `/`, `,`, `[` or `]` (non-ASCII is fine). */
  name: string;
  /** Command line, split by supervisord with shlex. Written literally: a `%` stays a `%`. */
  command: string;
  /** Puts the program in `[group:<group>]`; its processes are then addressed as `group:name`. Same rules as `name`. */
  group?: string;
  autostart?: boolean;
  autorestart?: boolean | 'unexpected';
  /** Seconds a process must stay up to count as started (supervisord's default: 1). */
  startsecs?: number;
  /** Failed starts before FATAL (supervisord's default: 3). */
  startretries?: number;
  /** Expected exit codes, e.g. `'0,2'` (supervisord's default: `'0'`). */
  exitcodes?: string;
  /**
   * Processes of this program (supervisord's default: 1). Above 1 they are
   * named `<name>_<n>`, n from 0, unless `extra` sets `process_name`.
   */
  numprocs?: number;
  /**
   * Any other `key=value` lines of the section, written verbatim: supervisord
   * expands `%(program_name)s`-style references in them. A key given here
   * replaces the launcher's line of that key.
   */
  extra?: Readonly<Record<string, string>>;
}

/** Options of {@link supervisordConfig}. */
export interface SupervisordConfigOptions {
  /** Absolute directory for the log, the pid file and the programs' logs. */
  dir: string;
  programs?: readonly SupervisordProgram[];
  /** Serve XML-RPC on this unix socket (`[unix_http_server]`, `chmod=0700`). */
  socketPath?: string;
  /** Serve XML-RPC on `127.0.0.1:<port>` (`[inet_http_server]`). */
  port?: number;
  /** Basic-auth user of both servers and of `[supervisorctl]`; goes with `password`. */
  username?: string;
  /** Basic-auth password; goes with `username`. */
  password?: string;
  /** `identifier=` of `[supervisord]` (supervisord's default: `supervisor`). */
  identifier?: string;
  /**
   * This process runs as root. supervisord then wants `user=root` (else it
   * logs a CRIT line), and a non-root user must not name it (supervisord
   * would try to switch user). Default: `process.getuid() === 0`.
   */
  asRoot?: boolean;
  /** Text appended verbatim at the end. */
  extraConfig?: string;
}

/** What supervisord refuses in a name (space, `:`, `/`) or misreads in a config: a line break, `,` in `programs=`, brackets in a section header. */
const BAD_NAME = /[\s:/,[\]]/u;
const LINE_BREAK = /[\r\n\0]/u;
const EXTRA_KEY = /^[a-z_]+$/u;
const EXITCODES = /^\d+(,\d+)*$/u;

/**
 * The config text. Every value the launcher writes is escaped (supervisord
 * expands `%(here)s`-style references: a literal `%` is written `%%`); `extra`
 * lines and `extraConfig` are not. Every program gets `stopasgroup=true` and
 * `killasgroup=true` (a stop signals the program's whole process group, so
 * `sh -c 'sleep 2; exit 1'` leaves no `sleep` behind) and `stopwaitsecs=2`
 * (SIGKILL 2 s after SIGTERM: stops and restarts stay quick).
 *
 * @throws {LauncherError} `ERR_LAUNCHER_OPTION` for a program or group name
 *   supervisord would refuse or misread, a name used twice, a value with a
 *   line break, a number out of range, an `extra` key that is not
 *   `[a-z_]+`, neither `socketPath` nor `port`, or only one of `username` and
 *   `password`. The message names the field, never a credential's value.
 */
export function supervisordConfig(options: SupervisordConfigOptions): string {
  const value = (field: string, text: string): string => {
    if (LINE_BREAK.test(text)) throw optionError(`${field} must not contain a line break`);
    return text.replaceAll('%', '%%');
  };
  const { dir, socketPath, port } = options;
  if (socketPath === undefined && port === undefined) throw optionError('one of socketPath and port is needed: supervisord would serve no XML-RPC');
  if ((options.username === undefined) !== (options.password === undefined)) throw optionError('username and password go together');
  const auth = options.username === undefined ? [] : [`username=${value('username', options.username)}`, `password=${value('password', options.password!)}`];
  const lines = [
    '[supervisord]',
    'nodaemon=true',
    `logfile=${value('dir', join(dir, 'supervisord.log'))}`,
    'logfile_maxbytes=0',
    'loglevel=info',
    `pidfile=${value('dir', join(dir, 'supervisord.pid'))}`,
    `childlogdir=${value('dir', dir)}`,
    // supervisord refuses to start when it cannot raise RLIMIT_NOFILE/NPROC
    // to these; its defaults (1024/200) fail in small containers.
    'minfds=64',
    'minprocs=16',
    ...((options.asRoot ?? process.getuid?.() === 0) ? ['user=root'] : []),
    ...(options.identifier === undefined ? [] : [`identifier=${value('identifier', options.identifier)}`]),
    '',
  ];
  if (port !== undefined) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw optionError(`port must be an integer from 1 to 65535, got ${String(port)}`);
    lines.push('[inet_http_server]', `port=127.0.0.1:${port}`, ...auth, '');
  }
  if (socketPath !== undefined) lines.push('[unix_http_server]', `file=${value('socketPath', socketPath)}`, 'chmod=0700', ...auth, '');
  lines.push('[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface', '');
  const serverUrl = socketPath === undefined ? `http://127.0.0.1:${port}` : `unix://${value('socketPath', socketPath)}`;
  lines.push('[supervisorctl]', `serverurl=${serverUrl}`, ...auth, '');

  const groups = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const p of options.programs ?? []) {
    checkName(p.name, 'program name');
    if (seen.has(p.name)) throw optionError(`program name ${JSON.stringify(p.name)} is used twice`);
    seen.add(p.name);
    lines.push(`[program:${p.name}]`, ...programLines(p, (field, text) => value(`program ${JSON.stringify(p.name)}: ${field}`, text)), '');
    if (p.group !== undefined) {
      checkName(p.group, 'group name');
      groups.set(p.group, [...(groups.get(p.group) ?? []), p.name]);
    }
  }
  // Section names are not expanded, values are: a `%` in a name is escaped in `programs=` only.
  for (const [group, members] of groups) lines.push(`[group:${group}]`, `programs=${members.map((m) => m.replaceAll('%', '%%')).join(',')}`, '');
  if (options.extraConfig !== undefined) lines.push(options.extraConfig, '');
  return lines.join('\n');
}

/** The `key=value` lines of one program, in a stable order, `extra` last and overriding. */
function programLines(p: SupervisordProgram, value: (field: string, text: string) => string): string[] {
  const keys = new Map<string, string>([['command', value('command', p.command)]]);
  if (p.autostart !== undefined) keys.set('autostart', String(p.autostart));
  if (p.autorestart !== undefined) keys.set('autorestart', String(p.autorestart));
  if (p.startsecs !== undefined) keys.set('startsecs', count(p.name, 'startsecs', p.startsecs, 0));
  if (p.startretries !== undefined) keys.set('startretries', count(p.name, 'startretries', p.startretries, 0));
  if (p.exitcodes !== undefined) {
    if (!EXITCODES.test(p.exitcodes)) throw optionError(`program ${JSON.stringify(p.name)}: exitcodes must be comma-separated integers, got ${JSON.stringify(p.exitcodes)}`);
    keys.set('exitcodes', p.exitcodes);
  }
  if (p.numprocs !== undefined) {
    keys.set('numprocs', count(p.name, 'numprocs', p.numprocs, 1));
    if (p.numprocs > 1) keys.set('process_name', '%(program_name)s_%(process_num)d');
  }
  keys.set('stopasgroup', 'true');
  keys.set('killasgroup', 'true');
  keys.set('stopwaitsecs', '2');
  for (const [key, text] of Object.entries(p.extra ?? {})) {
    if (!EXTRA_KEY.test(key)) throw optionError(`program ${JSON.stringify(p.name)}: extra key ${JSON.stringify(key)} is not a supervisord option name`);
    if (LINE_BREAK.test(text)) throw optionError(`program ${JSON.stringify(p.name)}: extra.${key} must not contain a line break`);
    keys.set(key, text);
  }
  return [...keys].map(([key, text]) => `${key}=${text}`);
}

function count(program: string, field: string, n: number, min: number): string {
  if (!Number.isSafeInteger(n) || n < min) throw optionError(`program ${JSON.stringify(program)}: ${field} must be an integer >= ${min}, got ${String(n)}`);
  return String(n);
}

function checkName(name: string, what: string): void {
  if (name === '' || BAD_NAME.test(name)) {
    throw optionError(`${what} ${JSON.stringify(name)} is not usable: no whitespace, ':', '/', ',', '[' or ']'`);
  }
}

function optionError(message: string): LauncherError {
  return new LauncherError('ERR_LAUNCHER_OPTION', message);
}
