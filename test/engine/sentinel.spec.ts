/**
 * The engine behind Redis Sentinel (ioredis's `sentinels` option): master, replica and three sentinels on
 * loopback, and a failover while callers wait.
 */
import { startSentinel, type TestSentinel } from '../support/redis-sentinel';
import { sleep } from '../support/sleep';

jest.setTimeout(60_000);

describe('RedisMemoLockEngine through Redis Sentinel', () => {
  let sentinel: TestSentinel;
  beforeAll(async () => (sentinel = await startSentinel()));
  afterAll(() => sentinel?.stop());

  it('computes once for two engines and wakes the waiters', async () => {
    const [a, b] = [sentinel.engine(), sentinel.engine()];
    let computations = 0;
    const compute = async () => {
      computations++;
      await sleep(200);
      return { value: { via: 'sentinel' }, ttl: 60_000 };
    };
    const values = await Promise.all(
      [a, b].flatMap((engine) =>
        Array.from({ length: 10 }, () =>
          engine.memoLock('s', { lockTimeout: 5_000 }).getResource('k', 5_000, compute),
        ),
      ),
    );
    expect(values).toEqual(Array(20).fill({ via: 'sentinel' }));
    expect(computations).toBe(1);
  });

  it('keeps working across a failover: a waiter still gets a value published on the new master', async () => {
    const engine = sentinel.engine();
    const admin = sentinel.client();
    await admin.set('f/lock:k', 'peer', 'PX', 30_000);
    await sleep(300); // let the replica catch up with the lock before the failover
    const waiting = engine
      .memoLock('f', { lockTimeout: 5_000 })
      .getResource('k', 30_000, async () => ({ value: 'no', ttl: 1 }));
    await sleep(200);
    const before = await sentinel.masterPort();
    const after = await sentinel.failover();
    expect(after).not.toBe(before);

    // The peer delivers through the new master, retrying while its own client moves over.
    const until = Date.now() + 15_000;
    while (true) {
      try {
        await admin.set('f:k', '"after failover"');
        await admin.publish('f/notif:k', '"after failover"');
        break;
      } catch (error) {
        if (Date.now() > until) throw error;
        await sleep(200);
      }
    }
    expect(await waiting).toBe('after failover');

    // ...and new calls compute and store on the new master.
    const value = await engine
      .memoLock('f', { lockTimeout: 5_000 })
      .getResource('fresh', 10_000, async () => ({ value: 'new master', ttl: 60_000 }));
    expect(value).toBe('new master');
    expect(await admin.get('f:fresh')).toBe('"new master"');
  });
});
