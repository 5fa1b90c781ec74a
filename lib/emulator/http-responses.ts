/**
 * The pages medusa answers besides XML-RPC: its error page per status, and
 * the HTML status page.
 *
 * @module
 */

import type { ProcessInfo } from '../types.js';
import { epochSeconds, processStruct, sortedProcesses } from './processes.js';

/** medusa's reason phrases (http_server.py `responses`), for the codes the emulator can answer. */
export const REASONS = new Map<number, string>([
  [200, 'OK'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [408, 'Request Time-out'],
  [411, 'Length Required'],
  [413, 'Request Entity Too Large'],
  [414, 'Request-URI Too Large'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Time-out'],
  [505, 'HTTP Version not supported'],
]);

/** medusa's DEFAULT_ERROR_MESSAGE: CRLF line ends, e.g. 137 bytes for 401. */
export function errorPage(code: number): Buffer {
  return Buffer.from(
    [
      '<head>',
      '<title>Error response</title>',
      '</head>',
      '<body>',
      '<h1>Error response</h1>',
      `<p>Error code ${code}.`,
      `<p>Message: ${REASONS.get(code)}.`,
      '</body>',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A smaller cousin of supervisord's status page, enough for a human and for clients that must reject HTML. */
export function statusPage(emulator: { readonly processes: readonly ProcessInfo[]; readonly version: string }): Buffer {
  const clock = epochSeconds();
  const rows = sortedProcesses(emulator.processes).map((p) => {
    const s = processStruct(p, clock);
    const namespec = p.group === p.name ? p.name : `${p.group}:${p.name}`;
    return (
      `<tr><td class="status"><span class="status${escapeHtml(String(s.statename).toLowerCase())}">` +
      `${escapeHtml(String(s.statename).toLowerCase())}</span></td>` +
      `<td><span>${escapeHtml(String(s.description))}</span></td>` +
      `<td>${escapeHtml(namespec)}</td></tr>`
    );
  });
  return Buffer.from(
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" ' +
      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' +
      '<html>\n<head>\n  <title>Supervisor Status</title>\n</head>\n<body>\n<div id="wrapper">\n' +
      `<h1>Supervisor ${escapeHtml(emulator.version)} (emulated)</h1>\n` +
      '<table cellspacing="0">\n<thead><tr><th class="state">State</th><th class="desc">Description</th>' +
      '<th class="name">Name</th></tr></thead>\n<tbody>\n' +
      rows.join('\n') +
      '\n</tbody>\n</table>\n</div>\n</body>\n</html>\n',
    'utf8',
  );
}
