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

const PLAIN_PROTOTYPES = new Set<unknown>([Object.prototype, Array.prototype, null]);
/** Boxed primitives: JSON unboxes them, losing nothing. */
const BOXED = new Set(['Number', 'String', 'Boolean']);

/**
 * What JSON.stringify would silently turn into something else: a Map or a Set (or any object whose data
 * lives outside its own enumerable properties) into `{}`, NaN and Infinity into `null`, functions and symbols
 * into nothing. Objects with a `toJSON` (a Date, a Buffer) have said how they want to be written, and are
 * seen here as what that returned. Returns what the value is, and what JSON would do to it.
 */
function unfaithful(value: unknown): [what: string, becomes: string] | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? undefined : [String(value), 'would come back as null'];
    case 'function':
      return ['a function', 'would be dropped'];
    case 'symbol':
      return ['a symbol', 'would be dropped'];
    case 'object': {
      if (value === null || PLAIN_PROTOTYPES.has(Object.getPrototypeOf(value))) return undefined;
      const type = Object.prototype.toString.call(value).slice(8, -1);
      if (BOXED.has(type)) return undefined;
      if (type !== 'Object')
        return [`${/^[AEIO]/.test(type) ? 'an' : 'a'} ${type}`, 'would come back as a plain object'];
      // A class instance: JSON keeps its own enumerable properties. With none, it keeps nothing at all.
      if (Object.keys(value).length > 0) return undefined;
      const name = (value.constructor as { name?: string } | undefined)?.name || 'a class';
      return [`an instance of ${name} with no enumerable properties`, 'would come back as {}'];
    }
    default:
      return undefined;
  }
}

/** JSON.stringify's replacer: sees every value (after its toJSON), the top one under the key `''`. */
function faithfully(key: string, value: unknown): unknown {
  const problem = unfaithful(value);
  if (problem === undefined) return value;
  const [what, becomes] = problem;
  const where = key === '' ? '' : ` at key "${key}"`;
  throw new TypeError(
    `JSON cannot represent ${what}${where} (it ${becomes}); give it a toJSON() or use another serializer`,
  );
}

/** Deeper values take the replacer's path, which also reports a cycle (JSON.stringify throws on it). */
const PLAIN_DEPTH = 64;
/**
 * Values the walk looks at before it gives up and leaves the value to the replacer: a plain value that
 * shares subtrees can hold exponentially more values than objects, and the walk must stay cheap.
 */
const PLAIN_VALUES = 100_000;

/**
 * Whether JSON.stringify writes `value` as it is: only primitives JSON keeps, plain objects and arrays, no
 * `toJSON` anywhere. Then nothing needs the replacer, which costs a call from V8 into JavaScript for every
 * value (a third of a small response's encoding time). The walk ends at the first value that needs a look,
 * at depth {@link PLAIN_DEPTH} (a cycle) and after {@link PLAIN_VALUES} values; the replacer's path then
 * decides, as it did for every value before. (A getter is read twice, by the walk and by JSON.stringify: one
 * that answers something else the second time is written as JSON writes it.)
 */
function plainJson(value: unknown, depth: number, budget: { left: number }): boolean {
  if (--budget.left < 0) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth === PLAIN_DEPTH) return false;
      // An own or inherited toJSON (even on an array, or on Object.prototype) decides what JSON writes.
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      const prototype = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        if (prototype !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1, budget)) return false;
        return true;
      }
      if (prototype !== Object.prototype && prototype !== null) return false;
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) if (!plainJson(record[key], depth + 1, budget)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * JSON: round-trips `null`, numbers, booleans, strings (even empty ones or ones that look like JSON), arrays
 * and plain objects. It refuses what JSON would silently change (Map, Set, NaN, functions, ...) rather than
 * store something else. Objects with a `toJSON` are written as it says: a Date comes back as its ISO string.
 */
export const jsonSerializer: MemoLockSerializer = {
  serialize(value) {
    const text = plainJson(value, 0, { left: PLAIN_VALUES })
      ? JSON.stringify(value)
      : JSON.stringify(value, faithfully);
    // JSON.stringify(undefined) returns undefined instead of throwing.
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
