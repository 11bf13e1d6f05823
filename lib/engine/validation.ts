import { MemoLockArgumentError } from '../errors';
import { Messages } from '../memolock.messages';
import type { L1Options } from './l1-cache';
import type {
  MemoLockBehaviourOptions,
  MemoLockFreshnessOptions,
  MemoLockOptions,
} from './memolock-engine.interface';

/** Longest id, in UTF-8 bytes: keeps keys, channels and messages small and bounded. */
export const MAX_ID_BYTES = 1024;
/** Longest wait a timer can express: Node fires longer `setTimeout`s at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

// Glob metacharacters would let a tag's pattern subscription match other tags; ':' and '/' separate the
// parts of the protocol names, so a tag holding one could collide with another tag's keys.
const FORBIDDEN_TAG_CHARACTERS = /[*?[\]:/]/;

function fail(argument: string, expectation: string, got: unknown): never {
  throw new MemoLockArgumentError(argument, Messages.invalidArgument(argument, expectation, got));
}

/**
 * No lone surrogate: the string has a UTF-8 form and reads back the same from Redis. (Redis would store a
 * lone surrogate as U+FFFD, so that two different strings would name one key, or read back as another.)
 */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

const WELL_FORMED = 'expected well-formed UTF-16 (no lone surrogate)';

export function assertTag(tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || tag.length === 0) fail('tag', 'expected a non-empty string', tag);
  if (FORBIDDEN_TAG_CHARACTERS.test(tag)) fail('tag', 'must not contain * ? [ ] : or /', tag);
  if (!isWellFormed(tag)) fail('tag', WELL_FORMED, tag);
}

export function assertId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) fail('id', 'expected a non-empty string', id);
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short ids skip the byte count.
  if (id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
    fail('id', `expected at most ${MAX_ID_BYTES} bytes of UTF-8`, id);
  }
  if (!isWellFormed(id)) fail('id', WELL_FORMED, id);
}

/** A positive finite number of milliseconds, at most `max`. */
export function assertDuration(
  argument: string,
  value: unknown,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(argument, 'expected a positive finite number of milliseconds', value);
  }
  if (value > max) fail(argument, `expected at most ${max} ms`, value);
}

/** A finite number of milliseconds, 0 allowed (it turns an option off), at most `max`. */
export function assertNonNegative(
  argument: string,
  value: unknown,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(argument, 'expected a non-negative finite number of milliseconds', value);
  }
  if (value > max) fail(argument, `expected at most ${max} ms`, value);
}

export function assertFunction(
  argument: string,
  value: unknown,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') fail(argument, 'expected a function', value);
}

/** An object with `log`, `warn` and `error` methods (Nest's `Logger`, `console`). */
export function assertLogger(argument: string, logger: unknown): void {
  const l = logger as Record<string, unknown> | null;
  if (
    typeof l !== 'object' ||
    l === null ||
    typeof l.log !== 'function' ||
    typeof l.warn !== 'function' ||
    typeof l.error !== 'function'
  ) {
    fail(argument, 'expected an object with log, warn and error methods', logger);
  }
}

function assertOneOf(argument: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    fail(argument, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
}

/** Redis's own limit on a string value. */
export const MAX_REDIS_STRING_BYTES = 512 * 1024 * 1024;

/** Validates the behaviour options shared by engines and tags; `prefix` names where they came from. */
export function assertBehaviourOptions(options: MemoLockBehaviourOptions, prefix: string): void {
  if (options.maxValueBytes !== undefined) {
    assertDuration(`${prefix}.maxValueBytes`, options.maxValueBytes, MAX_REDIS_STRING_BYTES);
  }
  assertOneOf(`${prefix}.onRedisError`, options.onRedisError, ['throw', 'compute']);
  assertOneOf(`${prefix}.onComputeError`, options.onComputeError, ['reject', 'retry']);
}

export function assertTagOptions(options: unknown): asserts options is MemoLockOptions {
  if (typeof options !== 'object' || options === null)
    fail('options', 'expected an object with lockTimeout', options);
  const o = options as MemoLockOptions;
  assertDuration('options.lockTimeout', o.lockTimeout);
  assertBehaviourOptions(o, 'options');
  assertFreshnessOptions(o, 'options');
}

/**
 * Validates `grace`, `softTimeout`, `earlyRefresh` and `failSafeThrottle`; `prefix` names where they came
 * from (`options`, `callOptions`). Each is optional.
 */
export function assertFreshnessOptions(options: MemoLockFreshnessOptions, prefix: string): void {
  const { grace, softTimeout, earlyRefresh, failSafeThrottle } = options;
  // The grace is added to the ttl in a PX: keep the sum an exact integer.
  if (grace !== undefined) assertNonNegative(`${prefix}.grace`, grace, MAX_GRACE_MS);
  if (softTimeout !== undefined) assertNonNegative(`${prefix}.softTimeout`, softTimeout, MAX_TIMER_MS);
  if (failSafeThrottle !== undefined) assertDuration(`${prefix}.failSafeThrottle`, failSafeThrottle);
  if (earlyRefresh !== undefined) {
    if (typeof earlyRefresh !== 'object' || earlyRefresh === null || Array.isArray(earlyRefresh)) {
      fail(`${prefix}.earlyRefresh`, 'expected an object such as { beta: 1 }', earlyRefresh);
    }
    const { beta } = earlyRefresh;
    if (beta !== undefined && (typeof beta !== 'number' || Number.isNaN(beta) || beta < 0)) {
      fail(`${prefix}.earlyRefresh.beta`, 'expected a number >= 0 (0 disables, Infinity forces)', beta);
    }
  }
}

/** An `AbortSignal` (or anything shaped like one: `aborted`, `reason`, `addEventListener`). */
export function assertSignal(argument: string, signal: unknown): asserts signal is AbortSignal {
  const s = signal as Partial<AbortSignal> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    fail(argument, 'expected an AbortSignal', signal);
  }
}

/** Longest grace: about 31 years, so that ttl + grace stays an exact integer of milliseconds. */
export const MAX_GRACE_MS = 2 ** 50;

function assertCount(argument: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(argument, 'expected a positive integer', value);
  }
}

/** The `l1` option: `{ maxEntries, maxBytes? }`, positive integers; `argument` names it in errors. */
export function assertL1Options(argument: string, options: unknown): asserts options is L1Options {
  if (typeof options !== 'object' || options === null) {
    fail(argument, 'expected an object with maxEntries', options);
  }
  const o = options as Partial<L1Options>;
  assertCount(`${argument}.maxEntries`, o.maxEntries);
  if (o.maxBytes !== undefined) assertCount(`${argument}.maxBytes`, o.maxBytes);
}

/** Time-to-live as Redis takes it: whole milliseconds, at least 1. */
export function toRedisMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
