/**
 * Resource ids derived from arguments: a stable serialization (object keys sorted, so `{a, b}` and `{b, a}`
 * name the same resource), hashed when long so that ids stay within the 1024-byte limit.
 */
import { createHash } from 'node:crypto';
import { MemoLockArgumentError } from './errors';

/** Derived ids longer than this (UTF-8 bytes) are replaced by their SHA-256. */
export const MAX_PLAIN_ID_BYTES = 200;

export function stableStringify(value: unknown, path = 'argument'): string {
  if (
    value === null ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'string'
  ) {
    return JSON.stringify(value);
  }
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return `Date(${value.toISOString()})`;
  if (Array.isArray(value)) return `[${value.map((v, i) => stableStringify(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map(
        (k) =>
          `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k], `${path}.${k}`)}`,
      );
    return `{${entries.join(',')}}`;
  }
  throw new MemoLockArgumentError(
    'key',
    `Cannot derive a MemoLock key from ${path} (a ${typeof value}); give @MemoLocked a key function.`,
  );
}

/** The id of a call: a lone string or number argument as is, anything else serialized; hashed when long. */
export function deriveId(args: readonly unknown[]): string {
  const [only] = args;
  const plain =
    args.length === 1 && ((typeof only === 'string' && only.length > 0) || typeof only === 'number')
      ? String(only)
      : stableStringify(args, 'arguments');
  return shorten(plain);
}

export function shorten(id: string): string {
  if (id.length * 3 <= MAX_PLAIN_ID_BYTES || Buffer.byteLength(id) <= MAX_PLAIN_ID_BYTES) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex')}`;
}
