/**
 * What a flight does once it holds the lock, and when Redis fails it: compute and store the value (or, when
 * the store fails, give the lock up with a notice), renew the lease, start external work; compute without
 * the cache or reject, as the tag's `onRedisError` says. The flight decides when; this is how.
 */
import { MemoLockRedisError, MemoLockRenewError } from '../errors';
import { Messages } from '../memolock.messages';
import { failSafeCovers, type Freshness } from './freshness';
import { describeValue } from './freshness-record';
import type { ExternalComputation, RenewLock } from './memolock-engine.interface';
import { type HandleWork, type Obtained, runComputation } from './memolock-handle';
import { RedisUnavailableError } from './redis-call';
import type { RedisLock, StoredExtras } from './redis-lock';
import { computeValue, decodeValue, type ResolvedTagOptions } from './resource-codec';
import { assertDuration } from './validation';

/** One resource, as the tag's options and its id. */
export interface Resource {
  tag: ResolvedTagOptions;
  id: string;
}

export type ComputeWork = Exclude<HandleWork, { kind: 'external' }>;

/** The `renew` of a computation without the lock (Redis unavailable): nothing to renew. */
export const noRenew: RenewLock = async (lockTimeout) => assertDuration('lockTimeout', lockTimeout);

/**
 * Computes with the lock held, then stores, publishes and releases. A failed computation releases the lock
 * with a failure notice (and, when a value at hand `covered` it, fail-safe's pause first); a failed store
 * gives the lock up with a notice that sends the waiters of every process back to the lock now rather than
 * at the lease's end, and the value is `'uncached'` (or, under `'throw'`, a `MemoLockRedisError`). A tag with
 * freshness options stores the value's record (with how long the computation took) and stale copy too.
 */
export async function computeAndStore(
  resource: Resource,
  lock: RedisLock,
  work: ComputeWork,
  covered = false,
): Promise<Obtained> {
  const { tag, id } = resource;
  const started = performance.now();
  let encoded: string;
  let ttl: number;
  try {
    ({ encoded, ttl } = await computeValue(tag, id, () => runComputation(work, renewer(resource, lock))));
  } catch (error) {
    const throttle = covered && failSafeCovers(error) ? tag.freshness?.failSafeThrottle : undefined;
    await lock.failAndRelease(error, throttle);
    throw error;
  }
  const { freshness } = tag;
  const extras = freshness && extrasOf(freshness, encoded, ttl, performance.now() - started);
  try {
    await lock.storeAndRelease(encoded, ttl, extras);
  } catch (error) {
    void lock.giveUp();
    if (tag.onRedisError === 'throw') throw redisError(resource, error);
    return { value: decodeValue(tag, id, encoded), status: 'uncached' };
  }
  return { value: decodeValue(tag, id, encoded), status: 'stored' };
}

/** What a value computed in `delta` ms is stored with, beside `T:I`, under these freshness options. */
export function extrasOf(freshness: Freshness, encoded: string, ttl: number, delta: number): StoredExtras {
  return {
    record: describeValue(encoded, ttl, delta),
    ttl: Math.min(ttl + freshness.grace, Number.MAX_SAFE_INTEGER),
    stale: freshness.grace > 0,
    grace: freshness.grace,
  };
}

/** The computation's `renew`: a lease lost is a `MemoLockRenewError`; Redis down, per `onRedisError`. */
function renewer(resource: Resource, lock: RedisLock): RenewLock {
  return async (lockTimeout: number) => {
    assertDuration('lockTimeout', lockTimeout);
    let renewed: boolean;
    try {
      renewed = await lock.renew(lockTimeout);
    } catch (error) {
      if (resource.tag.onRedisError === 'throw') throw redisError(resource, error);
      return; // Redis is down: nobody can take over through it, so carry on
    }
    if (!renewed) {
      const { tag, id } = resource;
      throw new MemoLockRenewError(Messages.renewLost(tag.tag, id), { tag: tag.tag, id });
    }
  };
}

/**
 * Starts external work with the lock held, once `watch` has subscribed (so that nothing the other program
 * publishes is missed). A `start` that throws releases the lock with a failure notice; a subscription that
 * fails gives it up.
 */
export async function startExternal(
  resource: Resource,
  lock: RedisLock,
  watch: () => Promise<void>,
  start: ExternalComputation,
): Promise<void> {
  try {
    await watch();
    await start();
  } catch (error) {
    if (error instanceof RedisUnavailableError) {
      // Nothing started, so nothing will publish: waiters elsewhere go back to the lock now, not at the lease's end.
      await lock.giveUp();
      throw redisError(resource, error);
    }
    await lock.failAndRelease(error);
    throw error;
  }
}

/** Redis failed before a value was had: compute without the cache, or reject, as the tag says. */
export async function whenRedisFails(
  resource: Resource,
  work: HandleWork,
  error: unknown,
  beforeComputing: () => void,
): Promise<Obtained> {
  if (!(error instanceof RedisUnavailableError)) throw error;
  const { tag, id } = resource;
  if (tag.onRedisError === 'throw' || work.kind === 'external') throw redisError(resource, error);
  beforeComputing();
  const { encoded } = await computeValue(tag, id, () => runComputation(work, noRenew));
  return { value: decodeValue(tag, id, encoded), status: 'uncached' };
}

export function redisError({ tag, id }: Resource, error: unknown): MemoLockRedisError {
  if (error instanceof MemoLockRedisError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new MemoLockRedisError(Messages.redisFailed(tag.tag, id, reason), {
    tag: tag.tag,
    id,
    cause: error,
  });
}
