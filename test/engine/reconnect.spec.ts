/**
 * Pub/Sub drops what is published while a subscriber reconnects; the engine reads its keys again after every
 * reconnect, so that a waiter still gets a value published in the gap.
 */
import { MemoLockTimeoutError } from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

describe('subscriber connection lost while callers wait', () => {
  let redis: TestRedis;
  beforeAll(async () => (redis = await startRedis()));
  afterAll(() => redis.stop());

  it('delivers a value published while the subscriber was disconnected, by re-reading after reconnect', async () => {
    const admin = redis.client();
    const engine = redis.engine();
    const handle = engine.memoLock('rc', { lockTimeout: 10_000 });
    await admin.set('rc/lock:k', 'peer', 'PX', 10_000);
    const waiting = Promise.all(
      [1, 2, 3].map(() => handle.getResource('k', 8_000, async () => ({ value: 'mine', ttl: 1 }))),
    );
    await sleep(200);
    expect(await admin.pubsub('NUMPAT')).toBe(1);

    // Kill the subscriber and publish at once, in the gap before ioredis re-subscribes: the message is lost.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await admin
      .multi()
      .set('rc:k', '"published in the gap"')
      .publish('rc/notif:k', '"published in the gap"')
      .exec();
    const started = Date.now();
    expect(await waiting).toEqual(Array(3).fill('published in the gap'));
    expect(Date.now() - started).toBeLessThan(5_000); // by the re-read, not by the 8 s timeout
    await sleep(100);
    expect(await admin.pubsub('NUMPAT')).toBe(0);
    await engine.close();
  });

  it('times out cleanly when the subscriber was killed and no value ever comes', async () => {
    const admin = redis.client();
    const engine = redis.engine();
    await admin.set('rc3/lock:k', 'peer', 'PX', 10_000);
    const waiting = engine
      .memoLock('rc3', { lockTimeout: 10_000 })
      .getResource('k', 1_000, async () => ({ value: 'mine', ttl: 1 }))
      .catch((e: unknown) => e);
    await sleep(200);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(await waiting).toBeInstanceOf(MemoLockTimeoutError);
    await sleep(300); // the re-subscription after the kill, then the unsubscription after the timeout
    expect(engine.pendingResources).toBe(0);
    expect(await admin.pubsub('NUMPAT')).toBe(0);
  });

  it('keeps waiting through a reconnect when nothing was published, then gets the value', async () => {
    const admin = redis.client();
    const engine = redis.engine();
    const handle = engine.memoLock('rc2', { lockTimeout: 10_000 });
    await admin.set('rc2/lock:k', 'peer', 'PX', 10_000);
    const waiting = handle.getResource('k', 8_000, async () => ({ value: 'mine', ttl: 1 }));
    await sleep(200);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Wait until the engine re-subscribed by itself.
    const until = Date.now() + 5_000;
    while (Number(await admin.pubsub('NUMPAT')) !== 1 && Date.now() < until) await sleep(20);
    await admin.publish('rc2/notif:k', '"after reconnect"');
    await expect(waiting).resolves.toBe('after reconnect');
    await engine.close();
  });
});
