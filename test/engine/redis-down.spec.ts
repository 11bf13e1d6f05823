/**
 * Redis unavailable: `onRedisError: 'compute'` computes without the cache (still coalesced in-process),
 * `'throw'` rejects with MemoLockRedisError. Either way a call settles quickly, never hangs.
 */
import Redis from 'ioredis';
import { MemoLockRedisError, MemoLockTimeoutError } from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

describe('Redis unavailable', () => {
  let redis: TestRedis;

  beforeEach(async () => {
    redis = await startRedis();
    if (!redis.owned) throw new Error('these tests stop their own redis-server; unset REDIS_URL');
  });
  afterEach(() => redis.stop());

  it("'compute': computes without caching, coalesced in-process, once Redis is down", async () => {
    const engine = redis.engine({ onRedisError: 'compute' });
    const handle = engine.memoLock('down', { lockTimeout: 1_000 });
    await redis.kill();
    let computations = 0;
    const started = Date.now();
    const values = await Promise.all(
      Array.from({ length: 20 }, () =>
        handle.getResource('k', 10_000, async () => {
          computations++;
          await sleep(50);
          return { value: 'fresh', ttl: 1_000 };
        }),
      ),
    );
    expect(values).toEqual(Array(20).fill('fresh'));
    expect(computations).toBe(1);
    const outcome = await handle.getResourceWithStatus('k2', 5_000, async () => ({
      value: 'again',
      ttl: 1_000,
    }));
    expect(outcome).toEqual({ value: 'again', status: 'uncached' });
    expect(Date.now() - started).toBeLessThan(5_000);
    await engine.close();
  });

  it("'throw': rejects with MemoLockRedisError well before the caller's timeout", async () => {
    const engine = redis.engine({ onRedisError: 'throw' });
    const handle = engine.memoLock('down', { lockTimeout: 1_000 });
    await redis.kill();
    const started = Date.now();
    let computed = false;
    const error = await handle
      .getResource('k', 20_000, async () => {
        computed = true;
        return { value: 1, ttl: 1 };
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(MemoLockRedisError);
    expect(error).toMatchObject({ code: 'E_MEMOLOCK_REDIS', tag: 'down', id: 'k' });
    expect(error.message).toMatch(/Redis failed while serving resource "down:k"/);
    expect(computed).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    await engine.close();
  });

  it('bounds every command by commandTimeout even on a client with ioredis default retries (Redis paused)', async () => {
    // ioredis defaults would hold a command for a minute; a paused server never answers at all.
    const client = new Redis(redis.url);
    client.on('error', () => undefined);
    await client.ping();
    const engine = redis.engine({ client, commandTimeout: 300, onRedisError: 'throw' });
    const handle = engine.memoLock('paused', { lockTimeout: 1_000 });
    redis.pause();
    const started = Date.now();
    await expect(handle.getResource('k', 20_000, async () => ({ value: 1, ttl: 1 }))).rejects.toThrow(
      /did not answer GET within 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(3_000);

    const computing = redis.engine({ client, commandTimeout: 300, onRedisError: 'compute' });
    await expect(
      computing
        .memoLock('paused', { lockTimeout: 1_000 })
        .getResource('k', 20_000, async () => ({ value: 'local', ttl: 1 })),
    ).resolves.toBe('local');
    redis.resume();
    await engine.close();
    await computing.close();
    client.disconnect();
  });

  it("a waiter whose Redis goes away gets the value computed locally with 'compute'", async () => {
    const admin = redis.client();
    await admin.set('w/lock:k', 'someone', 'PX', 30_000);
    const engine = redis.engine({ onRedisError: 'compute' });
    const handle = engine.memoLock('w', { lockTimeout: 1_000 });
    const waiting = handle.getResource('k', 20_000, async () => ({ value: 'local', ttl: 1_000 }));
    await sleep(200);
    const started = Date.now();
    await redis.kill();
    await expect(waiting).resolves.toBe('local');
    expect(Date.now() - started).toBeLessThan(5_000);
    await engine.close();
  });

  it("a waiter whose Redis goes away rejects at once with 'throw'", async () => {
    const admin = redis.client();
    await admin.set('w/lock:k', 'someone', 'PX', 30_000);
    const engine = redis.engine({ onRedisError: 'throw' });
    const waiting = engine
      .memoLock('w', { lockTimeout: 1_000 })
      .getResource('k', 20_000, async () => ({ value: 1, ttl: 1 }))
      .catch((e: unknown) => e);
    await sleep(200);
    const started = Date.now();
    await redis.kill();
    expect(await waiting).toBeInstanceOf(MemoLockRedisError);
    expect(Date.now() - started).toBeLessThan(5_000);
    await engine.close();
  });

  it('works again once Redis is back, without a new engine', async () => {
    const engine = redis.engine({ onRedisError: 'throw' });
    const handle = engine.memoLock('back', { lockTimeout: 1_000 });
    await redis.restart();
    // Reconnection takes ioredis a moment; calls in between fail fast, then succeed.
    const until = Date.now() + 10_000;
    let value: unknown;
    while (Date.now() < until) {
      value = await handle
        .getResource('k', 1_000, async () => ({ value: 'cached again', ttl: 60_000 }))
        .catch((e) => e);
      if (value === 'cached again') break;
      expect(value).toBeInstanceOf(MemoLockRedisError);
      await sleep(100);
    }
    expect(value).toBe('cached again');
    expect(await redis.client().get('back:k')).toBe('"cached again"');
    // ...and waiting works too, through the re-established subscriber connection.
    await redis.client().set('back/lock:w', 'x', 'PX', 5_000);
    const waiting = handle.getResource('w', 5_000, async () => ({ value: 'no', ttl: 1 }));
    await sleep(200);
    await redis.client().publish('back/notif:w', '"woken"');
    await expect(waiting).resolves.toBe('woken');
    await engine.close();
  });

  it('still times out (not hangs) when Redis answers but nobody ever publishes', async () => {
    const admin = redis.client();
    await admin.set('h/lock:k', 'someone'); // a lock without expiry: a broken peer
    const engine = redis.engine();
    await expect(
      engine.memoLock('h', { lockTimeout: 1_000 }).getResource('k', 500, async () => ({ value: 1, ttl: 1 })),
    ).rejects.toBeInstanceOf(MemoLockTimeoutError);
    await engine.close();
  });
});
