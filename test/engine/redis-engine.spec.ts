import type Redis from 'ioredis';
import {
  MemoLockClosedError,
  MemoLockRenewError,
  MemoLockTimeoutError,
  RedisMemoLockEngine,
} from '../../lib';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

describe('RedisMemoLockEngine in one process', () => {
  let redis: TestRedis;
  let client: Redis;
  let admin: Redis;
  let engine: RedisMemoLockEngine;
  let tagNo = 0;
  const freshTag = () => `t${++tagNo}`;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());
  beforeEach(() => {
    client = redis.client();
    engine = new RedisMemoLockEngine({ client });
  });
  afterEach(async () => {
    await engine.close();
    client.disconnect();
  });

  it('computes on a miss, stores the value with its ttl under T:I, and serves the next call from the cache', async () => {
    const tag = freshTag();
    const likes = engine.memoLock(tag, { lockTimeout: 5_000 });
    let computations = 0;
    const compute = async () => ({ value: { likes: ['redis'], n: ++computations }, ttl: 60_000 });

    expect(await likes.getResource('kristoff', 5_000, compute)).toEqual({ likes: ['redis'], n: 1 });
    expect(await admin.get(`${tag}:kristoff`)).toBe('{"likes":["redis"],"n":1}');
    const pttl = await admin.pttl(`${tag}:kristoff`);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    await sleep(50); // the release follows the value without holding up the callers
    expect(await admin.exists(`${tag}/lock:kristoff`)).toBe(0);

    expect(await likes.getResource('kristoff', 5_000, compute)).toEqual({ likes: ['redis'], n: 1 });
    expect(computations).toBe(1);
  });

  it('returns a hit with a single GET and nothing else', async () => {
    const tag = freshTag();
    await admin.set(`${tag}:a`, '"cached"');
    await resetStats(admin);
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    expect(await handle.getResource('a', 1_000, async () => ({ value: 'computed', ttl: 1_000 }))).toBe(
      'cached',
    );
    const stats = await commandStats(admin);
    expect(stats.get).toBe(1);
    expect(stats.set ?? 0).toBe(0);
  });

  it('coalesces 200 concurrent callers in one process into one set of Redis round trips', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    await resetStats(admin);
    let computations = 0;
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        handle.getResource('hot', 5_000, async () => {
          computations++;
          await sleep(100);
          return { value: 42, ttl: 10_000 };
        }),
      ),
    );
    expect(results).toEqual(Array(200).fill(42));
    expect(computations).toBe(1);
    await sleep(50); // the release follows the value without holding up the callers
    const stats = await commandStats(admin);
    // GET (miss) + the read-or-lock script (GET, SET NX) + one store script (SET, PUBLISH, compare-and-delete
    // of the lock): one set of round trips, not 200. Commands a script runs count too: the read-or-lock's
    // GET and SET, the store's GET of the value (is it a string?), its SET, PUBLISH, and GET of the lock.
    expect(stats.get).toBe(4);
    expect((stats.evalsha ?? 0) + (stats.eval ?? 0)).toBe(2);
    expect(stats.del).toBe(1);
    expect(stats.set).toBe(2); // the lock and the value
    expect(stats.publish).toBe(1);
    expect(stats.psubscribe ?? 0).toBe(0); // the holder never subscribes
  });

  it('coalesces in-process waiters behind another holder onto one subscription and one re-read', async () => {
    const tag = freshTag();
    await admin.set(`${tag}/lock:k`, 'someone-else', 'PX', 5_000);
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    await resetStats(admin);
    const waiting = Promise.all(
      Array.from({ length: 50 }, () =>
        handle.getResource('k', 5_000, async () => ({ value: 'mine', ttl: 1 })),
      ),
    );
    await sleep(200);
    expect(engine.subscribedTags).toEqual([tag]);
    await admin.multi().set(`${tag}:k`, '"theirs"').publish(`${tag}/notif:k`, '"theirs"').exec();
    expect(await waiting).toEqual(Array(50).fill('theirs'));
    const stats = await commandStats(admin);
    // The first read, then the read-or-lock script (GET, SET NX, PTTL) before subscribing (nothing else
    // waited on the tag) and once more after: one set of commands for all 50 callers.
    expect(stats.get).toBe(3);
    expect((stats.evalsha ?? 0) + (stats.eval ?? 0)).toBe(2);
    expect(stats.pttl).toBe(2);
    expect(stats.psubscribe).toBe(1);
    expect(engine.subscribedTags).toEqual([]);
  });

  it('keeps waiters of one tag on one pattern subscription, and drops it when nobody waits', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    for (const id of ['a', 'b', 'c']) await admin.set(`${tag}/lock:${id}`, 'x', 'PX', 5_000);
    const waits = ['a', 'b', 'c'].map((id) =>
      handle.getResource(id, 5_000, async () => ({ value: id, ttl: 1 })),
    );
    await sleep(200);
    const patterns = await admin.pubsub('NUMPAT');
    expect(patterns).toBe(1);
    for (const id of ['a', 'b', 'c']) await admin.publish(`${tag}/notif:${id}`, JSON.stringify(`v-${id}`));
    expect(await Promise.all(waits)).toEqual(['v-a', 'v-b', 'v-c']);
    await sleep(100);
    expect(await admin.pubsub('NUMPAT')).toBe(0);
  });

  it('renews the lease of a long computation, so that nobody takes over', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 300 });
    const value = await handle.getResourceRenewable('r', 5_000, async (renew) => {
      await sleep(200);
      await renew(2_000);
      const pttl = await admin.pttl(`${tag}/lock:r`);
      expect(pttl).toBeGreaterThan(1_500);
      await sleep(400); // longer than the original lease
      expect(await admin.exists(`${tag}/lock:r`)).toBe(1);
      return { value: 'renewed', ttl: 5_000 };
    });
    expect(value).toBe('renewed');
  });

  it('fails to renew a lease that has run out, with MemoLockRenewError', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 100 });
    const call = handle.getResourceRenewable('lost', 5_000, async (renew) => {
      await sleep(300);
      await renew(1_000);
      return { value: 'never', ttl: 1_000 };
    });
    await expect(call).rejects.toBeInstanceOf(MemoLockRenewError);
    expect(await admin.exists(`${tag}:lost`)).toBe(0);
  });

  it('fails to renew when another caller has taken the lock over, and never deletes their lock', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 100 });
    const call = handle.getResourceRenewable('taken', 5_000, async (renew) => {
      await sleep(200);
      await admin.set(`${tag}/lock:taken`, 'other-holder', 'PX', 5_000);
      await renew(1_000);
      return { value: 'never', ttl: 1_000 };
    });
    await expect(call).rejects.toThrow(/no longer holds it/);
    expect(await admin.get(`${tag}/lock:taken`)).toBe('other-holder');
  });

  it('does not release a lock taken over by someone else after its own lease ran out', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 100 });
    const value = await handle.getResource('late', 5_000, async () => {
      await sleep(200);
      await admin.set(`${tag}/lock:late`, 'other-holder', 'PX', 5_000);
      return { value: 'late value', ttl: 5_000 };
    });
    expect(value).toBe('late value');
    expect(await admin.get(`${tag}/lock:late`)).toBe('other-holder');
  });

  it('runs external work once, subscribed beforehand, and every caller gets what the other program publishes', async () => {
    const tag = freshTag();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 5_000, serializer: 'raw' });
    let starts = 0;
    const worker = redis.client();
    const start = () => {
      starts++;
      // The other program: plain SET + PUBLISH, right away (before the starter could have subscribed late).
      void worker.set(`${tag}:word`, 'stemm').then(() => worker.publish(`${tag}/notif:word`, 'stemm'));
    };
    const results = await Promise.all(
      Array.from({ length: 5 }, () => handle.getResourceExternal('word', 5_000, start)),
    );
    expect(results).toEqual(Array(5).fill('stemm'));
    expect(starts).toBe(1);
    await sleep(50);
    expect(await admin.exists(`${tag}/lock:word`)).toBe(0); // released once the value came
  });

  it('starts external work again when the other program misses the lease, without spinning on Redis', async () => {
    const tag = freshTag();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 300, serializer: 'raw' });
    const worker = redis.client();
    let starts = 0;
    await resetStats(admin);
    const value = await handle.getResourceExternal('slow', 5_000, () => {
      // The first start is lost (the worker died); the second delivers.
      if (++starts === 2)
        void worker.set(`${tag}:slow`, 'second').then(() => worker.publish(`${tag}/notif:slow`, 'second'));
    });
    expect(value).toBe('second');
    expect(starts).toBe(2);
    const stats = await commandStats(admin);
    expect(stats.pttl).toBeLessThanOrEqual(4); // one lease check per lease, not a busy loop
  });

  it('says how each caller got its value: stored, collapsed (here or elsewhere), hit', async () => {
    const tag = freshTag();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 5_000 });
    const compute = async () => {
      await sleep(100);
      return { value: 'v', ttl: 60_000 };
    };
    const [first, second] = await Promise.all([
      handle.getResourceWithStatus('s', 5_000, compute),
      handle.getResourceWithStatus('s', 5_000, compute),
    ]);
    expect([first.status, second.status]).toEqual(['stored', 'collapsed']);
    expect((await handle.getResourceWithStatus('s', 5_000, compute)).status).toBe('hit');

    await admin.set(`${tag}/lock:remote`, 'elsewhere', 'PX', 5_000);
    const waiting = handle.getResourceWithStatus('remote', 5_000, compute);
    await sleep(100);
    await admin.publish(`${tag}/notif:remote`, '"from elsewhere"');
    expect(await waiting).toEqual({ value: 'from elsewhere', status: 'collapsed' });
  });

  it('invalidates a cached value', async () => {
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    let n = 0;
    const compute = async () => ({ value: ++n, ttl: 60_000 });
    expect(await handle.getResource('i', 1_000, compute)).toBe(1);
    await handle.invalidate('i');
    expect(await admin.exists(`${tag}:i`)).toBe(0);
    expect(await handle.getResource('i', 1_000, compute)).toBe(2);
  });

  it('times out with MemoLockTimeoutError and leaves no subscription, watcher or pending flight behind', async () => {
    const tag = freshTag();
    await admin.set(`${tag}/lock:slow`, 'holder', 'PX', 10_000);
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    const started = Date.now();
    const error = await handle.getResource('slow', 300, async () => ({ value: 1, ttl: 1 })).catch((e) => e);
    expect(error).toBeInstanceOf(MemoLockTimeoutError);
    expect(error).toMatchObject({ code: 'E_MEMOLOCK_TIMEOUT', tag, id: 'slow', timeout: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await sleep(50);
    expect(engine.pendingResources).toBe(0);
    expect(engine.subscribedTags).toEqual([]);
    expect(await admin.pubsub('NUMPAT')).toBe(0);
  });

  it('gives each coalesced caller its own timeout', async () => {
    const tag = freshTag();
    await admin.set(`${tag}/lock:x`, 'holder', 'PX', 10_000);
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    const short = handle.getResource('x', 100, async () => ({ value: 1, ttl: 1 }));
    const long = handle.getResource('x', 3_000, async () => ({ value: 1, ttl: 1 }));
    await expect(short).rejects.toBeInstanceOf(MemoLockTimeoutError);
    await sleep(100);
    await admin.publish(`${tag}/notif:x`, '"late but in time"');
    await expect(long).resolves.toBe('late but in time');
  });

  it('close() rejects pending waiters with MemoLockClosedError, closes its subscriber, and leaves the client open', async () => {
    const tag = freshTag();
    await admin.set(`${tag}/lock:c`, 'holder', 'PX', 10_000);
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    const pending = handle.getResource('c', 10_000, async () => ({ value: 1, ttl: 1 }));
    await sleep(100);
    const clientsBefore = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    await engine.close();
    await expect(pending).rejects.toBeInstanceOf(MemoLockClosedError);
    await sleep(50);
    const clientsAfter = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    expect(clientsAfter).toBe(clientsBefore - 1); // the subscriber
    expect(client.status).toBe('ready');
    await expect(handle.getResource('c', 1_000, async () => ({ value: 1, ttl: 1 }))).rejects.toBeInstanceOf(
      MemoLockClosedError,
    );
    await engine.close(); // idempotent
  });

  it('opens no subscriber connection for an engine that only ever hits or computes', async () => {
    const tag = freshTag();
    await client.ping();
    const before = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    await handle.getResource('only', 1_000, async () => ({ value: 1, ttl: 1_000 }));
    await handle.getResource('only', 1_000, async () => ({ value: 2, ttl: 1_000 }));
    const after = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    expect(after).toBe(before);
  });
});
