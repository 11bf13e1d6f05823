import type {
  MemoLockFreshnessOptions,
  OnComputeError,
  OnRedisError,
  SerializerOption,
} from './engine/memolock-engine.interface';
import { resolveSerializer } from './engine/serializer';
import {
  assertBehaviourOptions,
  assertDuration,
  assertFreshnessOptions,
  assertTag,
  MAX_TIMER_MS,
} from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { MEMOLOCKED_METADATA } from './memolock.constants';
import { Messages } from './memolock.messages';
import { memoLockedCall } from './memolock-calls';

/**
 * Options of {@link MemoLocked}. `grace`, `softTimeout`, `earlyRefresh` and `failSafeThrottle` work as on the
 * engine (see the README's "Freshness and fail-safe"); the module's defaults apply where they are absent. On
 * a controller handler the request whose handler runs waits for it (its response is its own); every other
 * request gets the stale or current value at once.
 */
export interface MemoLockedOptions<V = any> extends MemoLockFreshnessOptions {
  /** The resource tag: keys are `tag:id`. One tag belongs to one method unless `shared` or `key` says otherwise. */
  tag: string;
  /** How long (ms) the value stays cached, or a function of the value that says so. */
  ttl: number | ((value: V) => number);
  /** How long (ms) a call waits at most before it rejects with `MemoLockTimeoutError` (HTTP: 503). */
  timeout: number;
  /** Lock lease (ms). Default: the module's `lockTimeout`, else `timeout`. */
  lockTimeout?: number;
  /**
   * The resource id, when the default identity does not fit. On a provider method it receives the method's
   * arguments, with `this` the instance; on a controller handler it receives the `ExecutionContext` and the
   * request, and declares how the response varies (so requests with `Authorization` or `Cookie` are
   * memoized too, and handlers reading `@Req()`, `@Headers()` or custom decorators are not bypassed).
   * Default: the arguments encoded with their types, or the request's host, path, query and `vary` headers.
   */
  key?: (...args: any[]) => string;
  /**
   * Controller handlers: request headers the response depends on (`['accept-language']`). Their values
   * become part of the id, and the handler may read them with `@Headers('accept-language')`; naming
   * `authorization` or `cookie` memoizes requests carrying them, per value. Only a `key` covers `@Req()`,
   * `@Headers()` and custom parameter decorators.
   */
  vary?: readonly string[];
  /**
   * Lets this method share its tag with other `@MemoLocked` methods (or with the classes inheriting it).
   * Without it, a tag used by two (class, method) pairs that have no key of their own fails at startup.
   */
  shared?: boolean;
  serializer?: SerializerOption;
  onRedisError?: OnRedisError;
  onComputeError?: OnComputeError;
  maxValueBytes?: number;
}

/**
 * Memoizes a provider method or a controller handler through MemoLock: one computation per key across all
 * processes, everyone else woken with the value. On a provider the method must be `async` (or declared to
 * return a Promise): a memoized call always answers with a Promise, and the app refuses to start otherwise.
 *
 * @example
 * @MemoLocked('likes', 5_000, 10_000) // tag, ttl, timeout: likes:<user>
 * async likesOf(user: string) { ... }
 *
 * @MemoLocked({ tag: 'report', ttl: (r: Report) => r.final ? 60_000 : 1_000, timeout: 10_000, key: (id: string) => id })
 * async report(id: string) { ... }
 *
 * @MemoLocked({ tag: 'rates', ttl: 60_000, timeout: 5_000, grace: 3_600_000, earlyRefresh: {} })
 * async rates() { ... } // refreshed shortly before expiry; an hour of stale rates if the source is down
 *
 * @Get(':id')
 * @MemoLocked({ tag: 'page', ttl: 5_000, timeout: 10_000, vary: ['accept-language'] })
 * page(@Param('id') id: string, @Headers('accept-language') lang: string) { ... }
 */
export function MemoLocked<V = any>(
  tag: string,
  ttl: number | ((value: V) => number),
  timeout: number,
): MethodDecorator;
export function MemoLocked<V = any>(options: MemoLockedOptions<V>): MethodDecorator;
export function MemoLocked(
  tagOrOptions: string | MemoLockedOptions,
  ttl?: MemoLockedOptions['ttl'],
  timeout?: number,
): MethodDecorator {
  const options: MemoLockedOptions =
    typeof tagOrOptions === 'object' && tagOrOptions !== null
      ? { ...tagOrOptions }
      : { tag: tagOrOptions, ttl: ttl!, timeout: timeout! };
  return (target, propertyKey, descriptor) => {
    const where = `${(target as { name?: string }).name ?? target?.constructor?.name}.${String(propertyKey)}`;
    const original = descriptor?.value;
    if (typeof original !== 'function') {
      throw new MemoLockArgumentError(
        '@MemoLocked',
        `@MemoLocked on ${where}: it decorates methods only, and ${where} is not one.`,
      );
    }
    if (getMemoLockedOptions(original))
      throw new MemoLockArgumentError('@MemoLocked', Messages.decoratedTwice(where));
    validate(options, where);
    if (options.vary) options.vary = Object.freeze(options.vary.map((name) => name.toLowerCase()));
    // The method is replaced by one that asks, per call, whether MemoLock manages the instance: calls work
    // (and say so, once) even where no MemoLockModule exists or before it has found the instance.
    const name = String(propertyKey);
    const memoLocked = function (this: unknown, ...args: unknown[]) {
      return memoLockedCall(this, name, original as (...a: unknown[]) => unknown, args, where);
    };
    // Metadata of decorators applied before this one (@Get below @MemoLocked, guards, ...) stays visible.
    for (const key of Reflect.getMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, original), memoLocked);
    }
    Object.defineProperty(memoLocked, 'name', { value: original.name });
    Reflect.defineMetadata(MEMOLOCKED_METADATA, Object.freeze(options), memoLocked);
    ORIGINALS.set(memoLocked, original as (...args: unknown[]) => unknown);
    (descriptor as TypedPropertyDescriptor<unknown>).value = memoLocked;
    return descriptor;
  };
}

/** The method as written, behind the replacement `@MemoLocked` installed. */
const ORIGINALS = new WeakMap<object, (...args: unknown[]) => unknown>();

/** The options `@MemoLocked` recorded on a method, if any. */
export function getMemoLockedOptions(method: unknown): Readonly<MemoLockedOptions> | undefined {
  return typeof method === 'function' ? Reflect.getMetadata(MEMOLOCKED_METADATA, method) : undefined;
}

/** The method as written, for a method `@MemoLocked` replaced. */
export function getOriginalMethod(method: unknown): ((...args: unknown[]) => unknown) | undefined {
  return typeof method === 'function' ? ORIGINALS.get(method) : undefined;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function validate(options: MemoLockedOptions, where: string): void {
  try {
    assertTag(options.tag);
    if (typeof options.ttl !== 'function') assertDuration('ttl', options.ttl);
    assertDuration('timeout', options.timeout, MAX_TIMER_MS);
    if (options.lockTimeout !== undefined) assertDuration('lockTimeout', options.lockTimeout);
    if (options.key !== undefined && typeof options.key !== 'function') {
      throw new MemoLockArgumentError(
        'key',
        Messages.invalidArgument('key', 'expected a function', options.key),
      );
    }
    if (
      options.vary !== undefined &&
      (!Array.isArray(options.vary) ||
        !options.vary.every((h) => typeof h === 'string' && HEADER_NAME.test(h)))
    ) {
      throw new MemoLockArgumentError(
        'vary',
        Messages.invalidArgument('vary', 'expected an array of request header names', options.vary),
      );
    }
    if (options.shared !== undefined && typeof options.shared !== 'boolean') {
      throw new MemoLockArgumentError(
        'shared',
        Messages.invalidArgument('shared', 'expected a boolean', options.shared),
      );
    }
    if (options.serializer !== undefined) resolveSerializer(options.serializer);
    assertBehaviourOptions(options, 'options');
    assertFreshnessOptions(options, 'options');
  } catch (error) {
    if (!(error instanceof MemoLockArgumentError)) throw error;
    // Decorators run when the class is defined: say which method, so the error points at the source.
    throw new MemoLockArgumentError(error.argument, `@MemoLocked on ${where}: ${error.message}`);
  }
}
