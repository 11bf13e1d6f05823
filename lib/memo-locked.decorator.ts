import type { OnComputeError, OnRedisError, SerializerOption } from './engine/memolock-engine.interface';
import { resolveSerializer } from './engine/serializer';
import { assertBehaviourOptions, assertDuration, assertTag, MAX_TIMER_MS } from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { MEMOLOCKED_METADATA } from './memolock.constants';

/** Options of {@link MemoLocked}. */
export interface MemoLockedOptions<V = any> {
  /** The resource tag: keys are `tag:id`. */
  tag: string;
  /** How long (ms) the value stays cached, or a function of the value that says so. */
  ttl: number | ((value: V) => number);
  /** How long (ms) a call waits at most before it rejects with `MemoLockTimeoutError`. */
  timeout: number;
  /** Lock lease (ms). Default: the module's `lockTimeout`, else `timeout`. */
  lockTimeout?: number;
  /**
   * The resource id. On a provider method it receives the method's arguments; on a controller handler it
   * receives the `ExecutionContext` and the request, and declares how the response varies (so requests with
   * `Authorization` or `Cookie` are memoized too). Default: a stable serialization of the arguments, or of
   * the route's params and query.
   */
  key?: (...args: any[]) => string;
  serializer?: SerializerOption;
  onRedisError?: OnRedisError;
  onComputeError?: OnComputeError;
  maxValueBytes?: number;
}

/**
 * Memoizes a provider method or a controller handler through MemoLock: one computation per key across all
 * processes, everyone else woken with the value.
 *
 * @example
 * @MemoLocked('likes', 5_000, 10_000) // tag, ttl, timeout
 * async likesOf(user: string) { ... }
 *
 * @MemoLocked({ tag: 'report', ttl: (r: Report) => r.final ? 60_000 : 1_000, timeout: 10_000, key: (id: string) => id })
 * async report(id: string) { ... }
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
    if (typeof descriptor?.value !== 'function') {
      throw new MemoLockArgumentError(
        '@MemoLocked',
        `@MemoLocked on ${where}: it decorates methods only, and ${where} is not one.`,
      );
    }
    validate(options, where);
    Reflect.defineMetadata(MEMOLOCKED_METADATA, Object.freeze(options), descriptor.value);
  };
}

/** The options `@MemoLocked` recorded on a method, if any. */
export function getMemoLockedOptions(method: unknown): Readonly<MemoLockedOptions> | undefined {
  return typeof method === 'function' ? Reflect.getMetadata(MEMOLOCKED_METADATA, method) : undefined;
}

function validate(options: MemoLockedOptions, where: string): void {
  try {
    assertTag(options.tag);
    if (typeof options.ttl !== 'function') assertDuration('ttl', options.ttl);
    assertDuration('timeout', options.timeout, MAX_TIMER_MS);
    if (options.lockTimeout !== undefined) assertDuration('lockTimeout', options.lockTimeout);
    if (options.key !== undefined && typeof options.key !== 'function') {
      throw new MemoLockArgumentError('key', 'Invalid argument "key": expected a function.');
    }
    if (options.serializer !== undefined) resolveSerializer(options.serializer);
    assertBehaviourOptions(options, 'options');
  } catch (error) {
    if (!(error instanceof MemoLockArgumentError)) throw error;
    // Decorators run when the class is defined: say which method, so the error points at the source.
    throw new MemoLockArgumentError(error.argument, `@MemoLocked on ${where}: ${error.message}`);
  }
}
