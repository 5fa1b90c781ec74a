/**
 * Reading a request head the way medusa (supervisord's HTTP server) does.
 *
 * @module
 */

/** A parsed request head: `command` is null for a request line medusa cannot crack, `version` null when it has none (`HTTP/None`). */
export interface RequestHead {
  command: string | null;
  uri: string;
  version: string | null;
  headers: string[];
}

/** medusa's `request.get_header`: the first line starting `name: ` (case-insensitive), exactly one space. */
export function getHeader(headers: readonly string[], name: string): string | null {
  const prefix = `${name}: `;
  for (const line of headers) {
    if (line.length >= prefix.length && line.slice(0, prefix.length).toLowerCase() === prefix) return line.slice(prefix.length);
  }
  return null;
}

// medusa's crack_request: 'COMMAND URI' or 'COMMAND URI HTTP/x.y', single spaces.
const REQUEST_LINE = /^([^ ]+) ([^ ]+)(?: HTTP\/([0-9.]+))?$/;

export function parseHead(text: string): RequestHead | null {
  let lines = text.split('\r\n');
  // RFC 2616 section 4.1: medusa skips blank lines before the request line.
  let first = 0;
  while (first < lines.length && lines[first] === '') first++;
  if (first === lines.length) return null;
  lines = lines.slice(first);
  const headers: string[] = [];
  for (const line of lines.slice(1)) {
    // join_headers: a line starting with a space or tab continues the previous one.
    if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) headers[headers.length - 1] += line.slice(1);
    else headers.push(line);
  }
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) return { command: null, uri: '', version: null, headers };
  return { command: m[1]!, uri: unquotePath(m[2]!), version: m[3] ?? null, headers };
}

/** medusa unquotes the path part (before `?`) when it contains `%`. */
function unquotePath(uri: string): string {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  if (!path.includes('%')) return uri;
  const bytes = Buffer.from(
    path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
  return bytes.toString('utf8') + (q === -1 ? '' : uri.slice(q));
}
