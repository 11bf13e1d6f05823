import { MemoLockArgumentError } from '../errors';
import { Messages } from '../memolock.messages';

/**
 * Turns values into the strings stored under `T:I` and published on `T/notif:I`, and back.
 * Either method may throw; the engine turns that into a `MemoLockSerializationError`.
 *
 * @example
 * const dates: MemoLockSerializer = {
 *   serialize: (d) => (d as Date).toISOString(),
 *   deserialize: (s) => new Date(s),
 * };
 */
export interface MemoLockSerializer {
  serialize(value: unknown): string;
  deserialize(raw: string): unknown;
}

/** JSON: round-trips `null`, nested objects, and strings (even empty ones or ones that look like JSON). */
export const jsonSerializer: MemoLockSerializer = {
  serialize(value) {
    const text = JSON.stringify(value);
    // JSON.stringify(undefined) and of a function return undefined instead of throwing.
    if (typeof text !== 'string') throw new TypeError(`JSON cannot represent ${typeof value}`);
    return text;
  },
  deserialize: (raw) => JSON.parse(raw),
};

/** Strings stored and published byte for byte: the format of the Go and C# implementations. */
export const rawSerializer: MemoLockSerializer = {
  serialize(value) {
    if (typeof value !== 'string')
      throw new TypeError(`the raw serializer takes strings only, got ${typeof value}`);
    return value;
  },
  deserialize: (raw) => raw,
};

/** Resolves the `serializer` option to a serializer, or throws naming `argument`. */
export function resolveSerializer(option: unknown, argument = 'serializer'): MemoLockSerializer {
  if (option === undefined || option === 'json') return jsonSerializer;
  if (option === 'raw') return rawSerializer;
  if (
    typeof option === 'object' &&
    option !== null &&
    typeof (option as MemoLockSerializer).serialize === 'function' &&
    typeof (option as MemoLockSerializer).deserialize === 'function'
  ) {
    return option as MemoLockSerializer;
  }
  throw new MemoLockArgumentError(
    argument,
    Messages.invalidArgument(argument, "expected 'json', 'raw' or { serialize, deserialize }", option),
  );
}
