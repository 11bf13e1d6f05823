import type { RedisOptions } from 'ioredis';
import type { IoRedisClient } from './engine/ioredis-client';
import type { L1Options } from './engine/l1-cache';
import type { MemoLockBehaviourOptions, MemoLockFreshnessOptions } from './engine/memolock-engine.interface';

/**
 * Options of `MemoLockModule.forRoot()` / `forRootAsync()`.
 *
 * `grace`, `softTimeout`, `earlyRefresh` and `failSafeThrottle` are defaults for every tag made through the
 * module (decorators and `MemoLockService.memoLock()`), which may override them.
 *
 * @example
 * MemoLockModule.forRoot({ redis: 'redis://127.0.0.1:6379', lockTimeout: 5_000, isGlobal: true })
 */
export interface MemoLockModuleOptions extends MemoLockBehaviourOptions, MemoLockFreshnessOptions {
  /**
   * Where values live: a Redis URL or ioredis options (the module opens the connection and closes it on
   * shutdown), an ioredis `Redis`/`Cluster` (5 or 6) you own (left open unless `closeClient`), or `'memory'`
   * for the in-process engine.
   */
  redis: string | RedisOptions | IoRedisClient | 'memory';
  /**
   * Close the client given as `redis` on shutdown, as if the module had opened it. For a client created in a
   * `forRootAsync` factory, which nothing else holds. Default `false`: a client you pass in stays yours.
   */
  closeClient?: boolean;
  /** Default lock lease (ms) for every tag; a decorator or `memoLock()` call may override it. */
  lockTimeout?: number;
  /**
   * Forwarding of the engine's events to `@nestjs/event-emitter` (as `memolock.<type>`), when the
   * application imports its `EventEmitterModule`. Default: when it has an `@OnEvent` handler for some
   * `memolock.` event at startup (forwarding has every call report its outcome, a cost on the hit path: see
   * the README). `true`: always (for listeners added later); `false`: never.
   */
  eventEmitter?: boolean;
  /** Longest wait for one Redis command before Redis counts as unavailable (ms). Default 1000. */
  commandTimeout?: number;
  /**
   * The Redis engine's in-process tier, kept coherent by Redis client tracking: a call whose value it
   * holds answers without Redis (see `RedisMemoLockEngineOptions.l1` and the README's "L1" section). Values
   * from an engine with `l1` are read-only (deep-frozen, shared by every caller). Validated and ignored
   * with `'memory'`, whose values already live in the process. Off when absent.
   *
   * @example
   * MemoLockModule.forRoot({ redis: 'redis://127.0.0.1:6379', lockTimeout: 5_000, l1: { maxEntries: 10_000 } });
   */
  l1?: L1Options;
}
