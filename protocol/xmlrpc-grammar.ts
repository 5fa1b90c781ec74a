/**
 * What the XML-RPC decoder recognises, as constants and tables: the limits,
 * the byte values and byte sequences it compares against, the element names
 * and their ids, the kinds of open element (what each may contain) and the
 * tags of the common shapes as 32-bit words. Shared by the parser
 * (`xmlrpc-parser.ts`) and the streaming decoder (`xmlrpc-decoder.ts`);
 * internal, not exported from `index.ts`.
 *
 * Only data and the helpers that build it live here. The code that reads
 * these per byte or per tag (matching tag names, entities, whitespace) is in
 * the parser, which copies them into its own constants: V8 keeps an exported
 * binding in a cell and reads it with a check at every use, in the exporting
 * module too, while it folds a module's private constants.
 *
 * @module
 */

/**
 * Longest tag (from `<` to `>`, attributes included) the decoder accepts, and
 * so the most it carries between chunks. XML-RPC tags are at most 19 bytes;
 * namespace declarations on the root element stay well under 200.
 */
export const MAX_TAG_BYTES = 4096;

/**
 * Longest entity or character reference (from `&` to `;`). `&#x10FFFF;` is
 * 10 bytes; the margin allows leading zeros, which XML permits.
 */
export const MAX_ENTITY_BYTES = 32;

/**
 * Longest text of a number, boolean or date element (`<int>`, `<i4>`,
 * `<i8>`, `<double>`, `<boolean>`, `<dateTime.iso8601>`), whitespace
 * included. The longest valid ones are far shorter (an `<i8>` has at most 20
 * characters, Python's `repr` of a double at most 24); the margin allows
 * padding and leading zeros. Beyond it the value is refused as soon as the
 * text gets that long, so a server sending millions of digits costs neither
 * memory nor a long conversion. A non-ASCII character (never valid there)
 * counts for each of its UTF-8 bytes, a character reference for the
 * characters it stands for: the same count however the document is cut
 * into chunks.
 */
export const MAX_NUMBER_TEXT = 1024;

// ---------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------

export const TAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
export const BANG = 0x21; // !
export const DQUOTE = 0x22; // "
export const HASH = 0x23; // #
export const AMP = 0x26; // &
export const SQUOTE = 0x27; // '
export const DASH = 0x2d; // -
export const SLASH = 0x2f; // /
export const ZERO = 0x30; // 0
export const SEMICOLON = 0x3b; // ;
export const LT = 0x3c; // <
export const GT = 0x3e; // >
export const QUESTION = 0x3f; // ?
export const LBRACKET = 0x5b; // [
export const RBRACKET = 0x5d; // ]
export const LOWER_X = 0x78; // x
export const CASE_BIT = 0x20; // ASCII upper | 0x20 = lower
export const BOM_0 = 0xef;
export const BOM_1 = 0xbb;
export const BOM_2 = 0xbf;

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export const COMMENT_END = ascii('-->');
export const CDATA_OPEN = ascii('<![CDATA[');
export const CDATA_END = ascii(']]>');
export const PI_END = ascii('?>');

/**
 * 1 for the bytes that end a tag name: whitespace, `/`, `>` and `<`. One table
 * load per name byte instead of four comparisons.
 */
export const ENDS_NAME = (() => {
  const t = new Uint8Array(256);
  for (const b of [SP, TAB, LF, CR, SLASH, GT, LT]) t[b] = 1;
  return t;
})();

/**
 * Four bytes of a literal as the little-endian 32-bit word `DataView.getUint32(p, true)`
 * reads. The fast paths compare tags four bytes at a time: two word reads
 * per `<member>` beat a byte loop against a literal array, even unrolled by
 * hand (see bench/parse.js).
 */
export function word(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

export const W_MEMBER_0 = word('<mem'); // <member>
export const W_MEMBER_4 = word('ber>');
export const W_MEMBER_END_0 = word('</me'); // </member>
export const W_MEMBER_END_4 = word('mber');
export const W_NAME_0 = word('<nam'); // <name>
export const H_NAME_4 = word('e>\0\0'); // as getUint16
export const W_NAME_END_0 = word('</na'); // </name>
export const W_NAME_END_3 = word('ame>');
export const W_VALUE_0 = word('<val'); // <value>
export const W_VALUE_3 = word('lue>');
export const W_VALUE_END_0 = word('</va'); // </value>
export const W_VALUE_END_4 = word('lue>');
export const W_STRING_0 = word('<str'); // <string>
export const W_STRING_4 = word('ing>');
export const W_STRUCT_4 = word('uct>'); // <struct>, after W_STRING_0
export const W_STRING_END_0 = word('</st'); // </string>
export const W_STRING_END_4 = word('ring');
export const W_INT_0 = word('<int'); // <int>
export const W_INT_END_0 = word('</in'); // </int>
export const H_INT_END_4 = word('t>\0\0'); // as getUint16
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
export const LT_X4 = 0x3c3c3c3c; // '<' in each byte of a word

// ---------------------------------------------------------------------------
// Elements and frames
// ---------------------------------------------------------------------------

// Element ids: what a tag name is, decided from its bytes without making a string.
export const E_UNKNOWN = 0;
export const E_METHOD_RESPONSE = 1;
export const E_METHOD_CALL = 2;
export const E_METHOD_NAME = 3;
export const E_PARAMS = 4;
export const E_PARAM = 5;
export const E_FAULT = 6;
export const E_VALUE = 7;
export const E_ARRAY = 8;
export const E_DATA = 9;
export const E_STRUCT = 10;
export const E_MEMBER = 11;
export const E_NAME = 12;
export const E_STRING = 13;
export const E_INT = 14;
export const E_I4 = 15;
export const E_I8 = 16;
export const E_BOOLEAN = 17;
export const E_DOUBLE = 18;
export const E_BASE64 = 19;
export const E_DATETIME = 20;
export const E_NIL = 21;
export const E_EX_NIL = 22;

export const ELEMENT_NAMES = [
  '',
  'methodResponse',
  'methodCall',
  'methodName',
  'params',
  'param',
  'fault',
  'value',
  'array',
  'data',
  'struct',
  'member',
  'name',
  'string',
  'int',
  'i4',
  'i8',
  'boolean',
  'double',
  'base64',
  'dateTime.iso8601',
  'nil',
  'ex:nil',
];
export const ELEMENT_BYTES = ELEMENT_NAMES.map(ascii);

// Frame kinds: what an open element is and what may appear inside it.
// Kinds below K_VALUE hold elements only (text must be whitespace); K_VALUE
// and above hold text.
export const K_PROLOG = 0; // before the root element (the stack bottom)
export const K_EPILOG = 1; // after the root element (the stack bottom)
export const K_RESPONSE = 2;
export const K_CALL = 3;
export const K_PARAMS = 4;
export const K_PARAM = 5;
export const K_FAULT = 6;
export const K_ARRAY = 7;
export const K_DATA = 8;
export const K_STRUCT = 9;
export const K_MEMBER = 10;
export const K_NIL = 11;
export const K_VALUE_DONE = 12; // a <value> whose type element has been read
export const K_VALUE = 13; // a <value> with no type element yet: its text is an untyped string
export const K_NAME = 14;
export const K_METHOD_NAME = 15;
export const K_STRING = 16;
export const K_INT = 17;
export const K_I8 = 18;
export const K_BOOLEAN = 19;
export const K_DOUBLE = 20;
export const K_BASE64 = 21;
export const K_DATETIME = 22;

/** Frame kind of each element id inside a `<value>`; -1 for elements that are not types. */
export const TYPE_KIND = (() => {
  const t = new Array<number>(ELEMENT_NAMES.length).fill(-1);
  t[E_STRING] = K_STRING;
  t[E_INT] = K_INT;
  t[E_I4] = K_INT;
  t[E_I8] = K_I8;
  t[E_BOOLEAN] = K_BOOLEAN;
  t[E_DOUBLE] = K_DOUBLE;
  t[E_BASE64] = K_BASE64;
  t[E_DATETIME] = K_DATETIME;
  t[E_NIL] = K_NIL;
  t[E_EX_NIL] = K_NIL;
  t[E_ARRAY] = K_ARRAY;
  t[E_STRUCT] = K_STRUCT;
  return t;
})();

// Frame flags.
export const F_HAS_NAME = 1; // <member>: <name> seen; <methodCall>: <methodName> seen
export const F_HAS_VALUE = 2; // <member>, <param>, <fault>: <value> seen; <methodCall>: <params> seen; <array>: <data> seen; <methodResponse>: child seen

// Modes: constructs that may span any number of chunks.
export const M_NONE = 0;
export const M_COMMENT = 1;
export const M_CDATA = 2;
export const M_PI = 3;
