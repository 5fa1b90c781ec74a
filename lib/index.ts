/**
 * `supervisord-check`: the supervisord check.
 *
 * @module
 */
export const VERSION = '0.1.0';
