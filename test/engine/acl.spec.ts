/**
 * The ACL rules the README gives for one tag are enough for everything the engine does (freshness options
 * included), and keep it out of other tags' keys.
 */
import Redis from 'ioredis';
import { MemoLockRemoteComputationError } from '../../lib';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { gate } from '../support/gate';
import { commandCalls, until } from '../support/until';

describe('an ACL user limited to one tag', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
    await redis
      .client()
      .call(
        'ACL',
        'SETUSER',
        'likes-app',
        'on',
        '>secret',
        'resetkeys',
        '~likes:*',
        '~likes/lock:*',
        '~likes/meta:*',
        '~likes/stale:*',
        '~likes/throttle:*',
        'resetchannels',
        '&likes/*',
        '-@all',
        '+get',
        '+mget',
        '+set',
        '+del',
        '+scan',
        '+pttl',
        '+pexpire',
        '+publish',
        '+psubscribe',
        '+punsubscribe',
        '+ping',
        '+multi',
        '+exec',
        '+evalsha',
        '+eval',
        '+info',
        '+client|setname',
      );
  });
  afterAll(async () => {
    // Engines first (they use these clients), then the clients while the server still answers QUIT (a
    // client dropped after the server died would leave ioredis's disconnect timer behind), then the server.
    await redis.stop();
  });

  const connect = (connectionName = 'acl-test') => {
    const client = new Redis(redis.url, {
      username: 'likes-app',
      password: 'secret',
      maxRetriesPerRequest: 1,
      connectionName,
    });
    client.on('error', () => undefined);
    return redis.adopt(client);
  };
  /** Whether the subscriber connection of the engine whose client is named `name` (its duplicate, same name) has
   * its pattern subscription active in Redis: a message published from now on reaches it. */
  const subscribed = async (name: string) =>
    String(await redis.client().call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
      .split('\n')
      .some((client) => client.includes(` name=${name} `) && client.includes(' psub=1 '));

  it('computes, waits, renews, invalidates and propagates failures with the documented permissions', async () => {
    const [a, b] = [
      redis.engine({ client: connect('acl-a'), onRedisError: 'throw' }),
      redis.engine({ client: connect('acl-b'), onRedisError: 'throw' }),
    ];
    const likes = a.memoLock('likes', { lockTimeout: 1_000 });
    const otherLikes = b.memoLock('likes', { lockTimeout: 1_000 });
    const admin = redis.client();

    // The holder keeps the lock until the other engine waits on its subscription (no head start to count on).
    const computing = gate();
    const x = likes.getResourceRenewable('k', 5_000, async (renew) => {
      await computing.opened;
      await renew(2_000);
      return { value: 'v', ttl: 60_000 };
    });
    await until(async () => (await admin.exists('likes/lock:k')) === 1, 'the lock of k is held');
    const y = otherLikes.getResource('k', 5_000, async () => ({ value: 'no', ttl: 1 }));
    await until(() => subscribed('acl-b'), 'the other engine waits on its subscription');
    computing.open();
    expect(await Promise.all([x, y])).toEqual(['v', 'v']);
    // First reads of one turn go out together, as one MGET.
    expect(
      await Promise.all(
        ['k', 'k2'].map((id) => likes.getResource(id, 5_000, async () => ({ value: id, ttl: 1 }))),
      ),
    ).toEqual(['v', 'k2']);
    await likes.invalidate('k');
    // invalidateAll needs SCAN (on keys ~likes:* only, so its MATCH never reaches another tag's keys).
    await likes.getResource('kept', 5_000, async () => ({ value: 'old', ttl: 60_000 }));
    expect(await likes.invalidateAll()).toBeGreaterThanOrEqual(1);
    expect(await likes.getResource('kept', 5_000, async () => ({ value: 'new', ttl: 60_000 }))).toBe('new');

    // The waiter left its subscription; it must take it again (and be waiting) before the failure goes out.
    await until(async () => !(await subscribed('acl-b')), 'the other engine unsubscribed');
    const failure = gate();
    const failing = likes.getResource('f', 5_000, async () => {
      await failure.opened;
      throw new Error('nope');
    });
    await until(async () => (await admin.exists('likes/lock:f')) === 1, 'the lock of f is held');
    const leasesRead = await commandCalls(admin, 'pttl');
    const waiter = otherLikes
      .getResource('f', 5_000, async () => ({ value: 'no', ttl: 1 }))
      .catch((e: unknown) => e);
    await until(() => subscribed('acl-b'), 'the other engine waits on its subscription');
    // Subscribed, it reads the lease once more (the read-or-lock script runs PTTL): were the failure out
    // before that read, the waiter would find the lock free, take it and compute, as it should then.
    await until(
      async () => (await commandCalls(admin, 'pttl')) >= leasesRead + 2,
      'the other engine has read the lease once subscribed',
    );
    failure.open();
    await expect(failing).rejects.toThrow('nope');
    expect(await waiter).toBeInstanceOf(MemoLockRemoteComputationError);
  });

  it('keeps stale copies, records and fail-safe pauses with the documented permissions', async () => {
    const engine = redis.engine({ client: connect(), onRedisError: 'throw', logger: recordingLogger() });
    const likes = engine.memoLock('likes', {
      lockTimeout: 1_000,
      grace: 60_000,
      earlyRefresh: { beta: Infinity },
      failSafeThrottle: 60_000,
    });
    const admin = redis.client();
    await likes.getResource('fresh', 5_000, async () => ({ value: 'v1', ttl: 100 }));
    await until(async () => (await admin.exists('likes:fresh')) === 0, 'v1 expired');
    const failing = async (): Promise<never> => {
      throw new Error('down');
    };
    expect(await likes.getResourceWithStatus('fresh', 5_000, failing)).toEqual({
      value: 'v1',
      status: 'stale',
    });
    await until(async () => (await admin.exists('likes/throttle:fresh')) === 1, 'the pause is set');
    // An early refresh (beta Infinity) on a hit, then the record of a value it does not describe dropped.
    await likes.getResource('early', 5_000, async () => ({ value: 'e1', ttl: 60_000 }));
    expect(await likes.getResource('early', 5_000, async () => ({ value: 'e2', ttl: 60_000 }))).toBe('e1');
    await until(async () => (await admin.get('likes:early')) === '"e2"', 'refreshed early');
    await admin.set('likes:early', '"from elsewhere"');
    expect(await likes.getResource('early', 5_000, failing)).toBe('from elsewhere');
    await until(async () => (await admin.exists('likes/meta:early')) === 0, 'the foreign record dropped');
    await likes.invalidate('fresh');
    expect(await likes.invalidateAll()).toBeGreaterThanOrEqual(1); // likes:early (and the first test's)
    expect(await admin.keys('likes:*')).toEqual([]);
    expect(await admin.keys('likes/stale:*')).toEqual([]);
  });

  it('is refused on any other tag, even read in the same turn as its own', async () => {
    const engine = redis.engine({ client: connect(), onRedisError: 'throw' });
    const [orders, likes] = await Promise.all(
      ['orders', 'likes'].map((tag) =>
        engine
          .memoLock(tag, { lockTimeout: 1_000 })
          .getResource('same-turn', 2_000, async () => ({ value: tag, ttl: 1_000 }))
          .catch((e: unknown) => e),
      ),
    );
    expect(String(orders)).toMatch(/NOPERM/);
    expect(likes).toBe('likes'); // its read shared a refused MGET, then went again alone
  });
});
