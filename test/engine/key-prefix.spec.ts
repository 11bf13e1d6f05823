/**
 * A client's ioredis `keyPrefix` is a namespace: ioredis puts it before keys (`P` + `T:I`, `P` + `T/lock:I`)
 * but not before channels, so the engine puts it before its channels itself. Two applications that share a
 * Redis under different prefixes never hear each other's values, and a Go/C# peer sees tag `T` under prefix
 * `P` as its tag `PT` (keys, lock and channel alike).
 */
import type Redis from 'ioredis';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

describe("a client's keyPrefix", () => {
  let redis: TestRedis;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  /** Patterns somebody subscribes to on the server. */
  const patterns = async () => Number(await admin.call('PUBSUB', 'NUMPAT'));
  const handle = (keyPrefix: string) =>
    redis.engine({ client: redis.client({ keyPrefix }) }).memoLock('likes', { lockTimeout: 10_000 });

  it("keeps the waiters of one prefix from taking another prefix's value for theirs", async () => {
    const [a, b1, b2] = [handle('a:'), handle('b:'), handle('b:')];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holder = b1.getResource('k', 10_000, async () => {
      await held;
      return { value: 'b', ttl: 60_000 };
    });
    await until(async () => (await admin.exists('b:likes/lock:k')) === 1, 'b1 holds the lock of b');
    const waiter = b2.getResource('k', 10_000, async () => ({ value: 'b2 computed', ttl: 60_000 }));
    await until(async () => (await patterns()) === 1, 'b2 waits on its channel');

    // Under prefix a, the same tag and id are another resource: computed and published there.
    expect(await a.getResource('k', 10_000, async () => ({ value: 'a', ttl: 60_000 }))).toBe('a');
    release();
    expect(await waiter).toBe('b');
    expect(await holder).toBe('b');
  });

  it('is one Go/C# tag with the tag: the peer stores and publishes under P + T, and wakes our waiter', async () => {
    const ours = handle('app:');
    await admin.set('app:likes/lock:go', 'go-peer-token', 'PX', 10_000); // a Go peer computes
    const waiter = ours.getResource('go', 10_000, async () => ({ value: 'not ours to compute', ttl: 1 }));
    await until(async () => (await patterns()) === 1, 'our waiter subscribed');
    await admin.set('app:likes:go', JSON.stringify('from go'), 'PX', 60_000);
    await admin.publish('app:likes/notif:go', JSON.stringify('from go'));
    expect(await waiter).toBe('from go');
  });

  it("publishes our values where a Go/C# peer's PSUBSCRIBE of P + T/notif:* hears them", async () => {
    const peer = redis.client();
    const heard: string[] = [];
    peer.on('pmessage', (_pattern: string, channel: string) => heard.push(channel));
    await peer.psubscribe('app:likes/notif:*');
    await handle('app:').getResource('ours', 10_000, async () => ({ value: 1, ttl: 60_000 }));
    await until(() => heard.length > 0, 'the peer heard the value');
    expect(heard).toEqual(['app:likes/notif:ours']);
    expect(await admin.get('app:likes:ours')).toBe('1');
  });

  it('keeps the records and stale copies of freshness options under the prefix, and invalidateAll drops them there', async () => {
    const engine = redis.engine({ client: redis.client({ keyPrefix: 'p:' }) });
    const fresh = engine.memoLock('likes', { lockTimeout: 5_000, grace: 60_000 });
    await fresh.getResource('s', 5_000, async () => ({ value: 'v1', ttl: 50 }));
    expect(await admin.exists('p:likes/meta:s', 'p:likes/stale:s')).toBe(2);
    await until(async () => (await admin.exists('p:likes:s')) === 0, 'v1 expired');
    const outcome = await fresh.getResourceWithStatus('s', 5_000, async () => ({ value: 'v2', ttl: 60_000 }));
    expect(outcome).toEqual({ value: 'v1', status: 'stale' });
    await until(async () => (await admin.get('p:likes:s')) === '"v2"', 'v2 stored under the prefix');
    expect(await fresh.invalidateAll()).toBe(1);
    expect(await admin.keys('p:likes*')).toEqual([]);
  });
});
