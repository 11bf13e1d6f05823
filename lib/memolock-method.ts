/**
 * A provider method as MemoLock runs it: the id from `key` (called with the instance as `this`) or from
 * the arguments' encoding, then one computation across all processes. Bad arguments reject the call
 * before anything reaches Redis, with the method's name in the message.
 */
import type { MemoLockHandle } from './engine/memolock-engine.interface';
import { MemoLockArgumentError } from './errors';
import { Messages, describe } from './memolock.messages';
import { argumentsId } from './memolock-identity';
import type { MemoizedCall } from './memolock-calls';
import { describePair, type Decorated } from './memolock.registry';

type Method = (...args: unknown[]) => unknown;

export class MemoizedMethod implements MemoizedCall {
  readonly #decorated: Decorated;
  readonly #original: Method;
  readonly #handle: MemoLockHandle;
  readonly #where: string;

  constructor(decorated: Decorated, original: Method, handle: MemoLockHandle) {
    this.#decorated = decorated;
    this.#original = original;
    this.#handle = handle;
    this.#where = describePair(decorated);
  }

  /** The method as written. */
  get original(): Method {
    return this.#original;
  }

  /** The id of a call on `instance` with `args`. Throws `MemoLockArgumentError` naming the method. */
  id(instance: object | undefined, args: readonly unknown[]): string {
    const { key } = this.#decorated.options;
    try {
      const id = key ? key.apply(instance, args as unknown[]) : argumentsId(args);
      if (typeof id !== 'string' || id.length === 0) {
        throw new MemoLockArgumentError(
          'key',
          Messages.invalidArgument('key', 'must return a non-empty string', id),
        );
      }
      return id;
    } catch (error) {
      if (!(error instanceof MemoLockArgumentError)) throw error;
      throw new MemoLockArgumentError(error.argument, `@MemoLocked on ${this.#where}: ${error.message}`);
    }
  }

  async call(instance: object, args: unknown[]): Promise<unknown> {
    const { ttl, timeout } = this.#decorated.options;
    const id = this.id(instance, args);
    return this.#handle.getResource(id, timeout, async () => {
      const result = this.#original.apply(instance, args);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') {
        // Refused at startup when it can be told; otherwise here, before a value is shared.
        throw new MemoLockArgumentError(
          '@MemoLocked',
          Messages.notAsync(this.#where, `returned ${describe(result)}`),
        );
      }
      const value = await result;
      return { value, ttl: typeof ttl === 'function' ? ttl(value) : ttl };
    });
  }

  invalidate(instance: object | undefined, args: readonly unknown[]): Promise<void> {
    return this.#handle.invalidate(this.id(instance, args));
  }
}
