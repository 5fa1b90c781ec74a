/**
 * Values as supervisord's Python side sees them: its XML-RPC unmarshalling,
 * `type(x).__name__` for error messages, and the lenient base64 decoding of
 * the Basic auth header.
 *
 * @module
 */

import type { XmlRpcStruct, XmlRpcValue } from '../../protocol/types.js';

/**
 * What Python's `type(x).__name__` says for a decoded parameter, after
 * supervisor's own unmarshalling (xmlrpc.py `loads`): base64 and i8 already
 * became str there.
 */
export function pythonType(value: XmlRpcValue): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Date) return 'datetime';
  return 'dict';
}

/**
 * supervisor's unmarshaller (xmlrpc.py) knows neither `<i8>` nor `<nil/>` and
 * decodes `<base64>` to str: a bigint arrives as its digits, bytes as UTF-8
 * text. Invalid UTF-8 made its `loads` fail, hence HTTP 400.
 */
export function pythonize(value: XmlRpcValue): XmlRpcValue {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return STRICT_UTF8.decode(value);
  if (Array.isArray(value)) return value.map(pythonize);
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: XmlRpcStruct = {};
    for (const key of Object.keys(value)) {
      // defineProperty: a member named __proto__ stays an ordinary member.
      Object.defineProperty(out, key, { value: pythonize(value[key]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

export const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Python's non-strict `base64.decodebytes`: characters outside the alphabet
 * are skipped, decoding stops at complete padding, and an incomplete last
 * quantum is an error (null).
 */
export function pythonBase64(text: string): Buffer | null {
  let data = '';
  let quad = 0;
  let pads = 0;
  for (const c of text) {
    if (c === '=') {
      if (quad >= 2 && quad + ++pads >= 4) return Buffer.from(data, 'base64');
      continue;
    }
    if (!/^[A-Za-z0-9+/]$/.test(c)) continue;
    pads = 0;
    data += c;
    quad = (quad + 1) % 4;
  }
  return quad === 0 ? Buffer.from(data, 'base64') : null;
}
