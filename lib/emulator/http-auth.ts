/**
 * HTTP Basic authentication as supervisord checks it.
 *
 * @module
 */

import { createHash } from 'node:crypto';

import { getHeader } from './http-request.js';
import { pythonBase64, STRICT_UTF8 } from './python-values.js';

/** auth_handler.handle_request with supervisord's encrypted_dictionary_authorizer. */
export function authorize(headers: readonly string[], credentials: { username: string; password: string }): 'ok' | 401 | 400 | 500 {
  const value = getHeader(headers, 'authorization');
  // AUTHORIZATION = 'Authorization: ([^ ]+) (.*)': a scheme, one space, the cookie.
  const space = value === null ? -1 : value.indexOf(' ');
  if (value === null || space <= 0) return 401;
  if (value.slice(0, space).toLowerCase() !== 'basic') return 401;
  const decoded = pythonBase64(value.slice(space + 1));
  if (decoded === null) return 400;
  let text: string;
  try {
    text = STRICT_UTF8.decode(decoded);
  } catch {
    return 400;
  }
  const colon = text.indexOf(':');
  // `username, password = auth_info` on a one-element list: ValueError, answered 500 by medusa.
  if (colon === -1) return 500;
  const user = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (user !== credentials.username) return 401;
  const stored = credentials.password;
  if (stored.startsWith('{SHA}')) {
    return createHash('sha1').update(password, 'utf8').digest('hex') === stored.slice(5) ? 'ok' : 401;
  }
  return password === stored ? 'ok' : 401;
}
