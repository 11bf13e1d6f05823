import { Inject, Injectable } from '@nestjs/common';
import {
  MemoLockEngine,
  type MemoLockHandle,
  type MemoLockOptions,
} from './engine/memolock-engine.interface';
import { assertDuration } from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { Messages } from './memolock.messages';
import type { MemoLockedOptions } from './memo-locked.decorator';
import { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';

/** Options of `MemoLockService.memoLock()`: those of the engine, with `lockTimeout` defaulting to the module's. */
export type MemoLockServiceOptions = Partial<MemoLockOptions>;

/**
 * The per-tag handles of the engine the module built, with the module's defaults applied.
 *
 * @example
 * constructor(private readonly memoLock: MemoLockService) {}
 * likes = this.memoLock.memoLock<Likes>('likes', { lockTimeout: 5_000 });
 * find(user: string) {
 *   return this.likes.getResource(user, 10_000, async () => ({ value: await this.db.likes(user), ttl: 5_000 }));
 * }
 */
@Injectable()
export class MemoLockService {
  constructor(
    @Inject(MemoLockEngine) readonly engine: MemoLockEngine,
    @Inject(MEMOLOCK_MODULE_OPTIONS) private readonly options: MemoLockModuleOptions,
  ) {
    if (options.lockTimeout !== undefined) assertDuration('lockTimeout', options.lockTimeout);
  }

  readonly #decorated = new WeakMap<object, MemoLockHandle>();

  /** The handle of `tag`; `lockTimeout` comes from `options` or else from `MemoLockModule.forRoot()`. */
  memoLock<T = unknown>(tag: string, options: MemoLockServiceOptions = {}): MemoLockHandle<T> {
    const lockTimeout = options.lockTimeout ?? this.options.lockTimeout;
    if (lockTimeout === undefined) {
      throw new MemoLockArgumentError(
        'lockTimeout',
        Messages.invalidArgument(
          'lockTimeout',
          'give it here or as a default in MemoLockModule.forRoot()',
          undefined,
        ),
      );
    }
    return this.engine.memoLock<T>(tag, { ...options, lockTimeout });
  }

  /**
   * The handle behind one `@MemoLocked` method, made once. Its lock lease is the decorator's `lockTimeout`,
   * else the module's, else the decorator's `timeout`: nobody waits longer than that anyway.
   */
  handleFor(options: Readonly<MemoLockedOptions>): MemoLockHandle {
    let handle = this.#decorated.get(options);
    if (!handle) {
      handle = this.memoLock(options.tag, {
        lockTimeout: options.lockTimeout ?? this.options.lockTimeout ?? options.timeout,
        serializer: options.serializer,
        onRedisError: options.onRedisError,
        onComputeError: options.onComputeError,
        maxValueBytes: options.maxValueBytes,
      });
      this.#decorated.set(options, handle);
    }
    return handle;
  }
}
