/**
 * Property-based tests (fast-check) of ids, tags, values and options against a real Redis: never a hang,
 * never a key outside the tag's namespace, never an unhandled rejection; bad input is a clear error.
 */
import fc from 'fast-check';
import type Redis from 'ioredis';
import {
  MemoLockArgumentError,
  MemoLockSerializationError,
  MemoLockTimeoutError,
  MemoLockValueTooLargeError,
  type RedisMemoLockEngine,
} from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { commandCalls, until } from '../support/until';

jest.setTimeout(120_000);

/** Settles `promise` or fails the property if it takes longer than `ms`: a hang is a failure, not a wait. */
async function settlesWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('hostile input', () => {
  let redis: TestRedis;
  let admin: Redis;
  let engine: RedisMemoLockEngine;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    engine = redis.engine();
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await redis.stop();
  });
  afterEach(() => expect(unhandled).toEqual([]));

  const anyString = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    // Lone surrogates too: Redis would store U+FFFD, so that two such ids would name one key.
    fc.constantFrom('*', '?', '[a]', 'a:b', 'x/y', '\\', '', ' ', '\ud800', 'a\udc00b'),
  );

  it('either rejects a tag and id at once, or keeps every key it writes inside the tag namespace', async () => {
    await fc.assert(
      fc.asyncProperty(anyString, anyString, async (tag, id) => {
        await admin.flushall();
        let handle;
        try {
          handle = engine.memoLock(tag, { lockTimeout: 1_000 });
        } catch (error) {
          expect(error).toBeInstanceOf(MemoLockArgumentError);
          expect((error as MemoLockArgumentError).argument).toBe('tag');
          expect(await admin.dbsize()).toBe(0);
          return;
        }
        const result = await settlesWithin(
          handle.getResource(id, 2_000, async () => ({ value: id, ttl: 10_000 })),
          4_000,
        );
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(MemoLockArgumentError);
          expect((result.error as MemoLockArgumentError).argument).toBe('id');
          expect(await admin.dbsize()).toBe(0);
          return;
        }
        expect(result.value).toBe(id);
        // The release follows the value without holding up the caller: give it a moment.
        for (let i = 0; i < 100 && (await admin.dbsize()) > 1; i++) await sleep(5);
        // Exactly one key, the value's, the lock released: byte for byte the tag, ':' and the id, so that
        // it sits inside the tag's namespace however the id reads.
        const keys = await admin.keysBuffer('*');
        const prefix = Buffer.from(`${tag}:`, 'utf8');
        expect(keys).toHaveLength(1);
        expect(keys[0].subarray(0, prefix.length).equals(prefix)).toBe(true);
        expect(keys[0].equals(Buffer.from(`${tag}:${id}`, 'utf8'))).toBe(true);
      }),
      { numRuns: 150 },
    );
    expect(engine.pendingResources).toBe(0);
    expect(engine.subscribedTags).toEqual([]);
  });

  it('round-trips any JSON value through Redis, as the holder, a hit and a woken waiter see it', async () => {
    const other = redis.engine();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const id = `v${++n}`;
        const expected = JSON.parse(JSON.stringify(value));
        const handle = engine.memoLock('json', { lockTimeout: 2_000 });
        await admin.set(`json/lock:${id}`, 'x', 'PX', 5_000);
        const leasesRead = await commandCalls(admin, 'pttl');
        const waiting = other
          .memoLock('json', { lockTimeout: 2_000 })
          .getResource(id, 6_000, async () => ({ value: 'no', ttl: 1 }));
        // Once the waiter has read the lock's lease it sleeps on it, and the lock can go: nothing wakes it
        // but the message. It reads the lease twice (the read-or-lock script runs PTTL): before subscribing
        // (nothing else waits on the tag), and after.
        await until(
          async () => (await commandCalls(admin, 'pttl')) > leasesRead + 1,
          'the waiter reads the lease once subscribed',
        );
        await admin.del(`json/lock:${id}`);
        const computed = await handle.getResource(id, 3_000, async () => ({ value, ttl: 10_000 }));
        expect(computed).toEqual(expected);
        expect(await handle.getResource(id, 3_000, async () => ({ value: 'no', ttl: 1 }))).toEqual(expected);
        expect(await waiting).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it('answers option values of any kind with a value or an argument error that names them, never a hang', async () => {
    const anything = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.constantFrom(0, -1, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, null, undefined, '100', {}, []),
    );
    await fc.assert(
      fc.asyncProperty(anything, anything, async (lockTimeout, timeout) => {
        let handle;
        try {
          handle = engine.memoLock('opts', { lockTimeout: lockTimeout as number });
        } catch (error) {
          expect(error).toMatchObject({ argument: 'options.lockTimeout' });
          return;
        }
        const result = await settlesWithin(
          handle.getResource('k', timeout as number, async () => ({ value: 1, ttl: 1 })),
          5_000,
        );
        // A valid but tiny timeout may pass before Redis answers: that is a timeout, not a hang.
        if (!result.ok && !(result.error instanceof MemoLockTimeoutError)) {
          expect(result.error).toBeInstanceOf(MemoLockArgumentError);
          expect(result.error).toMatchObject({ argument: 'timeout' });
        }
      }),
      { numRuns: 200 },
    );
  });

  it('rejects an oversized value with a clear error, stores and publishes nothing, and releases the lock', async () => {
    const small = redis.engine({ maxValueBytes: 1_024 });
    const handle = small.memoLock('big', { lockTimeout: 5_000 });
    const error = await handle
      .getResource('x', 2_000, async () => ({ value: 'é'.repeat(600), ttl: 1_000 }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoLockValueTooLargeError);
    expect(error).toMatchObject({ code: 'E_MEMOLOCK_VALUE_TOO_LARGE', bytes: 1_202, maxValueBytes: 1_024 });
    expect((error as Error).message).toMatch(/over maxValueBytes \(1024\)/);
    expect(await admin.exists('big:x', 'big/lock:x')).toBe(0);
    // The default is 8 MiB.
    const defaults = engine.memoLock('big', { lockTimeout: 5_000 });
    await expect(
      defaults.getResource('y', 5_000, async () => ({ value: 'x'.repeat(9 * 1024 * 1024), ttl: 1_000 })),
    ).rejects.toBeInstanceOf(MemoLockValueTooLargeError);
  });

  it('turns anything someone else stored that the serializer cannot read into a clear error', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary' }), async (garbage) => {
        let parses = true;
        try {
          JSON.parse(garbage);
        } catch {
          parses = false;
        }
        fc.pre(!parses);
        const id = `g${++n}`;
        await admin.set(`garbage:${id}`, garbage);
        const result = await settlesWithin(
          engine
            .memoLock('garbage', { lockTimeout: 1_000 })
            .getResource(id, 1_000, async () => ({ value: 1, ttl: 1 })),
          3_000,
        );
        expect(result.ok).toBe(false);
        expect((result as { error: unknown }).error).toBeInstanceOf(MemoLockSerializationError);
      }),
      { numRuns: 100 },
    );
  });
});
