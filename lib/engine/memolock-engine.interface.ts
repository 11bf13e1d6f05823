import { MemoLockEvents } from './memolock-events';
import type { MemoLockSerializer } from './serializer';

/** What a computation resolves to: the value, and how long (ms) to keep it in the cache. */
export interface ComputedResource<T> {
  value: T;
  /** Time to live of the cached value in milliseconds: a positive finite number (rounded up to whole ms). */
  ttl: number;
}

/** Computes a resource. Runs in at most one caller at a time across all processes (while the lock holds). */
export type Computation<T> = () => Promise<ComputedResource<T>> | ComputedResource<T>;

/**
 * Extends the holder's lease on the lock to `lockTimeout` ms from now. Rejects with `MemoLockRenewError` when
 * the lock is no longer held by this caller (its lease ran out and another caller may already compute).
 */
export type RenewLock = (lockTimeout: number) => Promise<void>;

/** A computation that may run longer than its lock timeout by renewing its lease. */
export type RenewableComputation<T> = (
  renew: RenewLock,
) => Promise<ComputedResource<T>> | ComputedResource<T>;

/**
 * Starts some other program that will later `SET T:I` and `PUBLISH T/notif:I` itself. Called only in the
 * caller that got the lock, after it subscribed, so that nothing the program publishes is missed.
 */
export type ExternalComputation = () => Promise<void> | void;

/** `'compute'`: compute without the cache when Redis is unavailable; `'throw'`: reject with `MemoLockRedisError`. */
export type OnRedisError = 'throw' | 'compute';

/**
 * What waiters do when the computation they wait for fails. `'reject'`: they reject with the error (the
 * original error in the computing process, `MemoLockRemoteComputationError` elsewhere). `'retry'`: they go
 * back to the lock, so that one of them computes again (each still within its own timeout).
 */
export type OnComputeError = 'reject' | 'retry';

/** `'json'` (default), `'raw'` (strings byte for byte, the Go/C# format) or your own serializer. */
export type SerializerOption = 'json' | 'raw' | MemoLockSerializer;

/**
 * How a call got its value, in the terms of RFC 9211 `Cache-Status`: `'hit'` (read from the cache at once),
 * `'stored'` (this call computed and stored it), `'collapsed'` (it waited for another caller's computation,
 * here or in another process), `'uncached'` (Redis was unavailable and the value was computed without it),
 * `'stale'` (a value past its ttl and within its `grace`: while it is recomputed, after `softTimeout`, or
 * because the recomputation failed).
 */
export type MemoLockStatus = 'hit' | 'stored' | 'collapsed' | 'uncached' | 'stale';

/** A value and how it was had. */
export interface MemoLockOutcome<V> {
  value: V;
  status: MemoLockStatus;
}

/**
 * Where the Redis engine reports changes of state: Redis unavailable and back, its subscriber connection lost
 * and back. Once per change, never per call. Nest's `Logger` and `console` fit as they are.
 *
 * @example
 * new RedisMemoLockEngine({ client, logger: new Logger('MemoLock') });
 */
export interface MemoLockLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options shared by an engine (as defaults) and each tag (as overrides). */
export interface MemoLockBehaviourOptions {
  /** How values are written to and read from Redis. Default `'json'`. */
  serializer?: SerializerOption;
  /** What a call does when Redis fails. Default `'compute'`. */
  onRedisError?: OnRedisError;
  /** What waiters do when the computation fails. Default `'reject'`. */
  onComputeError?: OnComputeError;
  /**
   * Largest serialized value (UTF-8 bytes) that is stored and published; a larger one fails the call.
   * Default 8 MiB: Redis drops a subscriber that falls 8 MB behind for a minute (`client-output-buffer-limit
   * pubsub 32mb 8mb 60`), so much larger values would cost every waiter its subscription.
   */
  maxValueBytes?: number;
}

/** XFetch early recomputation (Vattani et al., VLDB 2015). */
export interface EarlyRefreshOptions {
  /**
   * How early: a value is recomputed once `now - delta * beta * ln(r) >= expiry` (and at the latest `delta`
   * before it), with `delta` the stored duration of its computation and `r` drawn in (0, 1] once per value
   * and process. Default 1; larger refreshes earlier; `0` never; `Infinity` on every hit.
   */
  beta?: number;
}

/**
 * Freshness and fail-safe, per tag and per call (see the README's "Freshness and fail-safe"). All off by
 * default: a tag without them reads and writes exactly what it did before (`T:I` alone).
 */
export interface MemoLockFreshnessOptions {
  /**
   * How long (ms) past its ttl a value may still be served: the first caller after the ttl gets it at once
   * (status `'stale'`) and one recomputation runs fleet-wide, under the lock, in the background. Also what
   * fail-safe falls back on. Default 0 (off). A stale copy lives as long as the grace of the call that stored
   * it; a call accepts it for its own grace at most.
   */
  grace?: number;
  /**
   * With a stale value at hand, how long (ms) a caller waits for the recomputation before it answers the
   * stale value; the computation carries on and stores its value for everyone. Default 0: at once
   * (stale-while-revalidate). Needs `grace`, which provides the stale value.
   */
  softTimeout?: number;
  /** Recompute a value shortly before its expiry while every caller keeps getting it. Default: off. */
  earlyRefresh?: EarlyRefreshOptions;
  /**
   * After a failed recomputation that a stale (or still fresh) value covered, the next attempt fleet-wide
   * waits this long (ms); callers meanwhile get that value at once. Default 1000.
   */
  failSafeThrottle?: number;
}

/** Options of one resource tag, as in `engine.memoLock(tag, options)`. */
export interface MemoLockOptions extends MemoLockBehaviourOptions, MemoLockFreshnessOptions {
  /** How long (ms) the lock is held before it expires by itself, unless renewed. */
  lockTimeout: number;
}

/**
 * The fourth argument of every handle method: this call's own cancellation, and freshness options that
 * override the tag's for this call. Calls with other freshness options coalesce apart, as handles with other
 * options do.
 *
 * @example
 * await likes.getResource(id, 10_000, load, { signal: AbortSignal.timeout(2_000), grace: 60_000 });
 */
export interface MemoLockCallOptions extends MemoLockFreshnessOptions {
  /**
   * Aborting it rejects this call only, at once, with `signal.reason` itself (as `fetch` does), even when
   * its function is the one computing: the computation goes on for everyone else. An already aborted signal
   * rejects before anything reaches Redis.
   */
  signal?: AbortSignal;
}

/**
 * The handle of one resource tag: like the Go `NewRedisMemoLock(client, tag, lockTimeout)`.
 *
 * @example
 * const likes = engine.memoLock<Likes>('likes', { lockTimeout: 5_000 });
 * const value = await likes.getResource('kristoff', 10_000, async () => ({ value: await load(), ttl: 5_000 }));
 */
export interface MemoLockHandle<T = unknown> {
  readonly tag: string;
  readonly lockTimeout: number;

  /**
   * Returns the cached value of `id`, or computes it once across all processes while the others wait.
   * Rejects with `MemoLockTimeoutError` after `timeout` ms; a computation still running then carries on and
   * stores its value for everyone else.
   */
  getResource<V extends T = T>(
    id: string,
    timeout: number,
    compute: Computation<V>,
    options?: MemoLockCallOptions,
  ): Promise<V>;

  /** Like {@link getResource}, and the computation may extend its lease with `renew(ms)`. */
  getResourceRenewable<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
    options?: MemoLockCallOptions,
  ): Promise<V>;

  /**
   * The caller that gets the lock runs `start`, which hands the work to another program; every caller, the
   * starter included, then waits for that program's `SET` + `PUBLISH`.
   */
  getResourceExternal<V extends T = T>(
    id: string,
    timeout: number,
    start: ExternalComputation,
    options?: MemoLockCallOptions,
  ): Promise<V>;

  /**
   * Like {@link getResourceRenewable}, and also says how the value was had (for `Cache-Status` headers,
   * metrics and logs).
   *
   * @example
   * const { value, status } = await likes.getResourceWithStatus(id, 10_000, async () => ({ value: await load(), ttl: 5_000 }));
   */
  getResourceWithStatus<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
    options?: MemoLockCallOptions,
  ): Promise<MemoLockOutcome<V>>;

  /** Drops the cached value of `id` and its stale copy; the next call computes it again. */
  invalidate(id: string): Promise<void>;

  /**
   * Drops every cached value of the tag (`T:*`) and their stale copies, on every master of a cluster, with SCAN (never KEYS, which
   * would block Redis). Resolves with how many values were dropped. A computation already under way still
   * stores its value afterwards, as after {@link invalidate}.
   *
   * @example
   * await likes.invalidateAll(); // every likes:* value is gone; the next call of each id computes again
   */
  invalidateAll(): Promise<number>;
}

/** What {@link MemoLockEngine.checkHealth} found. */
export interface MemoLockHealth {
  /** Which engine answers: `'redis'`, or `'memory'` (always healthy). */
  engine: 'redis' | 'memory';
  /** Whether the engine can serve calls through its cache: Redis answered a PING, within the command timeout. */
  healthy: boolean;
  /** The PING's round trip (ms), when Redis answered. */
  roundTripMs?: number;
  /**
   * The Pub/Sub connection that wakes waiters: `'idle'` until a waiter first needs it, `'ready'` when up,
   * or the client's status while it reconnects (`'connecting'`, `'reconnecting'`…). Only a lost connection
   * (one that is neither idle nor ready) makes the engine unhealthy.
   */
  subscriber?: string;
  /** Why it is unhealthy. */
  error?: string;
}

/**
 * What `RedisMemoLockEngine` and `InMemoryMemoLockEngine` have in common. A class rather than an interface so
 * that it can be a dependency-injection token: in Nest, inject `MemoLockEngine` to get whichever engine the
 * module built.
 */
export abstract class MemoLockEngine {
  /**
   * The engine's events: each caller's outcome, and each change of the lock's and the connections' state
   * (see `MemoLockEvent`). Nothing is built while nobody listens.
   *
   * @example
   * engine.events.on('collapsed', ({ tag, wait, remote }) => console.log(tag, wait, remote));
   */
  readonly events = new MemoLockEvents();

  /** The handle of resource tag `tag`. Validates the tag and options at once. */
  abstract memoLock<T = unknown>(tag: string, options: MemoLockOptions): MemoLockHandle<T>;
  /** Rejects every pending call with `MemoLockClosedError` and releases what the engine opened. Idempotent. */
  abstract close(): Promise<void>;
  /**
   * Whether the engine can serve through its cache: for Redis, a PING on its connection (bounded by the
   * command timeout) and the state of its subscriber connection. Never rejects. What the
   * `MemoLockHealthIndicator` of `nestjs-memolock/terminus` reports.
   *
   * @example
   * const { healthy, roundTripMs } = await engine.checkHealth();
   */
  abstract checkHealth(): Promise<MemoLockHealth>;
}
