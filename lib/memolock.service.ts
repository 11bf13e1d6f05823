import { Inject, Injectable } from '@nestjs/common';
import {
  MemoLockEngine,
  type MemoLockFreshnessOptions,
  type MemoLockHandle,
  type MemoLockOptions,
} from './engine/memolock-engine.interface';
import type { MemoLockEvents } from './engine/memolock-events';
import { assertDuration, assertFreshnessOptions } from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { Messages } from './memolock.messages';
import type { MemoLockedOptions } from './memo-locked.decorator';
import { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';
import { hostnameOf, httpId } from './memolock-identity';
import { type AnyClass, MemoLockRegistry } from './memolock.registry';

/** A class, abstract or not, whose instances have the method `K`. */
type ClassOf<T> = abstract new (...args: any[]) => T;
/** The names of `T`'s methods. */
export type MethodName<T> = {
  [K in keyof T]: T[K] extends (...args: any[]) => unknown ? K : never;
}[keyof T] &
  string;
type ArgumentsOf<T, K extends keyof T> = T[K] extends (...args: infer A) => unknown ? A : never;

/** A request as a client sends it, to drop the entry of a memoized route. */
export interface RouteRequest {
  /** The `Host` the client asked for (a port, if any, is ignored, as Nest's host matching does). */
  host: string;
  /** The path and query, e.g. `/items/42?q=x`. */
  url: string;
  /** The values of the route's `vary` headers, when it has some. */
  headers?: Record<string, string | string[] | undefined>;
}

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
    @Inject(MemoLockRegistry) private readonly registry: MemoLockRegistry,
  ) {
    if (options.lockTimeout !== undefined) assertDuration('lockTimeout', options.lockTimeout);
    assertFreshnessOptions(options, 'options');
  }

  readonly #decorated = new WeakMap<object, MemoLockHandle>();

  /**
   * The engine's events: every caller's outcome (decorated methods and routes included) and every change of
   * state. Nothing is built while nobody listens.
   *
   * @example
   * onModuleInit() {
   *   this.memoLock.events.on('collapsed', ({ tag, wait }) => this.logger.debug(`${tag}: waited ${wait} ms`));
   * }
   */
  get events(): MemoLockEvents {
    return this.engine.events;
  }

  /**
   * The handle of `tag`; `lockTimeout` and the freshness options (`grace`, `softTimeout`, `earlyRefresh`,
   * `failSafeThrottle`) come from `options` or else from `MemoLockModule.forRoot()`.
   */
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
    const defaults = this.options;
    const freshness: MemoLockFreshnessOptions = {
      grace: options.grace ?? defaults.grace,
      softTimeout: options.softTimeout ?? defaults.softTimeout,
      earlyRefresh: options.earlyRefresh ?? defaults.earlyRefresh,
      failSafeThrottle: options.failSafeThrottle ?? defaults.failSafeThrottle,
    };
    return this.engine.memoLock<T>(tag, { ...options, ...freshness, lockTimeout });
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
        grace: options.grace,
        softTimeout: options.softTimeout,
        earlyRefresh: options.earlyRefresh,
        failSafeThrottle: options.failSafeThrottle,
      });
      this.#decorated.set(options, handle);
    }
    return handle;
  }

  /**
   * Drops the entry of one call of a `@MemoLocked` provider method, with the arguments of the call: the id
   * is derived exactly as for the call itself, so nobody needs to know its format (on every instance of the
   * class, when its `key` tells several apart).
   *
   * @example
   * await memoLock.invalidate(LikesService, 'likesOf', 'kristoff'); // drops likes:kristoff
   */
  async invalidate<T, K extends MethodName<T>>(
    type: ClassOf<T>,
    method: K,
    ...args: ArgumentsOf<T, K>
  ): Promise<void> {
    const entry = this.registry.provider(type, method);
    if (!entry) {
      throw new MemoLockArgumentError('method', Messages.unknownBinding(`${type.name}.${method}`));
    }
    // Each instance's key may give another id (a repository per table): drop them all.
    await Promise.all([...entry.instances].map((instance) => entry.memoized.invalidate(instance, args)));
  }

  /**
   * Drops the memoized response of a route for one request, given as the client sends it.
   *
   * @example
   * await memoLock.invalidateRoute(ItemsController, 'item', { host: 'acme.example.com', url: '/items/42' });
   */
  async invalidateRoute<T, K extends MethodName<T>>(
    type: ClassOf<T>,
    handler: K,
    request: RouteRequest,
  ): Promise<void> {
    const plan = this.registry.route(type, handler);
    if (!plan) throw new MemoLockArgumentError('handler', Messages.unknownBinding(`${type.name}.${handler}`));
    if (plan.options.key) {
      throw new MemoLockArgumentError(
        'handler',
        `${type.name}.${handler} has its own key: drop its entries with memoLock('${plan.options.tag}').invalidate(id).`,
      );
    }
    const headers = request.headers ?? {};
    const lowered = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const vary = (plan.options.vary ?? []).map((name) => [name, lowered[name]] as const);
    const id = httpId({ hostname: hostnameOf(request.host), url: request.url, vary });
    await this.handleFor(plan.options).invalidate(id);
  }

  /**
   * Drops every value of a tag (by SCAN on every master, never KEYS), or of the tag of a decorated method
   * or handler. Resolves with how many values were dropped.
   *
   * @example
   * await memoLock.invalidateAll('likes');
   * await memoLock.invalidateAll(LikesService, 'likesOf');
   */
  invalidateAll(tag: string): Promise<number>;
  invalidateAll<T, K extends MethodName<T>>(type: ClassOf<T>, method: K): Promise<number>;
  invalidateAll(tagOrType: string | AnyClass, method?: string): Promise<number> {
    if (typeof tagOrType === 'string') {
      // The lease never matters to invalidation; a handle needs one.
      return this.engine.memoLock(tagOrType, { lockTimeout: 1_000 }).invalidateAll();
    }
    const decorated = this.registry.provider(tagOrType, method!) ?? this.registry.route(tagOrType, method!);
    if (!decorated) {
      return Promise.reject(
        new MemoLockArgumentError('method', Messages.unknownBinding(`${tagOrType.name}.${method}`)),
      );
    }
    return this.handleFor(decorated.options).invalidateAll();
  }
}
