/**
 * The JavaScript values that XML-RPC values decode to and encode from.
 *
 * | XML-RPC                         | JavaScript                                  |
 * |---------------------------------|---------------------------------------------|
 * | `int`, `i4`                     | `number`                                    |
 * | `i8`                            | `number` when safe, else `bigint`           |
 * | `double`                        | `number`                                    |
 * | `boolean`                       | `boolean`                                   |
 * | `string`, untyped `<value>`     | `string`                                    |
 * | `base64`                        | `Uint8Array`                                |
 * | `dateTime.iso8601`              | `Date`                                      |
 * | `nil`, `ex:nil`                 | `null`                                      |
 * | `array`                         | `XmlRpcValue[]`                             |
 * | `struct`                        | {@link XmlRpcStruct} (plain object)         |
 *
 * @module
 */

/** Any value XML-RPC can carry. */
export type XmlRpcValue =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | Date
  | null
  | XmlRpcValue[]
  | XmlRpcStruct;

/**
 * A decoded `<struct>`. Members are own enumerable properties; a member named
 * `__proto__` or `constructor` is an ordinary own property and never changes
 * the object's prototype.
 */
export interface XmlRpcStruct {
  [member: string]: XmlRpcValue;
}

/** A decoded `<methodCall>`. */
export interface XmlRpcCall {
  method: string;
  params: XmlRpcValue[];
}
