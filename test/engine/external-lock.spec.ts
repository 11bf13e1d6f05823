/**
 * External work (SPEC §2.5) whose start fails on Redis's side: the caller that took the lock must not
 * leave it behind for its whole lease, or every other caller of the resource waits that long for work
 * that never started. (A failing subscription is injected into a real client.)
 */
import type Redis from 'ioredis';
import { MemoLockRedisError } from '../../lib';
import { withFaults } from '../support/faulty-client';
import { startRedis, type TestRedis } from '../support/redis-server';

describe('external work', () => {
  let redis: TestRedis;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  it('gives its lock up when the subscription it needs fails, so that another caller takes over at once', async () => {
    const faulty = withFaults(redis.client());
    const starter = redis.engine({ client: faulty.client, commandTimeout: 200 });
    // The PSUBSCRIBE answers after the command timeout, as a stalled subscriber connection would.
    const stalled = faulty.inject({ command: 'psubscribe', delay: 1_000, times: 1 });
    let started = 0;
    const error = await starter
      .memoLock('ext-sub', { lockTimeout: 60_000 })
      .getResourceExternal('k', 5_000, async () => void started++)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoLockRedisError);
    expect(stalled.hits).toBe(1);
    expect(started).toBe(0); // nothing started: nothing will ever publish this value
    expect(await admin.exists('ext-sub/lock:k')).toBe(0);

    // Another process's caller is not held up by a lease of 60 s: it takes the lock and computes.
    const other = redis.engine();
    const value = await other
      .memoLock('ext-sub', { lockTimeout: 60_000 })
      .getResource('k', 5_000, async () => ({ value: 'computed elsewhere', ttl: 60_000 }));
    expect(value).toBe('computed elsewhere');
  });
});
