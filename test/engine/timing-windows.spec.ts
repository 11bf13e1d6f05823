/**
 * The windows where a flight is between two steps when something happens: its callers leave while it awaits
 * Redis, a lock is granted after the engine gave up on it, a store fails after the computation, the
 * subscriber connection ends for good, the wall clock steps back, two handles of one tag disagree. Faults
 * are injected into a real client (see test/support/faulty-client.ts); every test names what it leaves
 * behind, or what it says, when the window is handled wrong.
 */
import type Redis from 'ioredis';
import { MemoLockRedisError, MemoLockTimeoutError, type RedisMemoLockEngine } from '../../lib';
import { withFaults } from '../support/faulty-client';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

describe('timing windows', () => {
  let redis: TestRedis;
  let admin: Redis;
  let n = 0;
  const freshTag = () => `w${++n}`;
  /** Connections subscribed to `tag`'s channels: PUBLISH counts who received it (a probe nobody reads). */
  const subscribersOf = (tag: string) => admin.publish(`${tag}/probe`, '');

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  /** Nothing of `tag` is left in `engine`: no flight, no watcher, no pattern subscription. */
  async function nothingLeft(engine: RedisMemoLockEngine, tag: string, what: string) {
    await until(
      async () =>
        engine.pendingResources === 0 &&
        engine.subscribedTags.length === 0 &&
        (await subscribersOf(tag)) === 0,
      `${what}: no flight, watcher or subscription left`,
      3_000,
    );
  }

  describe('a caller that times out while its flight awaits Redis leaves nothing behind', () => {
    it.each([
      ['the read-or-lock script, before subscribing', 'memolockReadOrLock', 1],
      ['the subscription (PSUBSCRIBE)', 'psubscribe', 1],
      ['the re-read after subscribing (the read-or-lock script again)', 'memolockReadOrLock', 2],
    ])('while it awaits %s', async (_what, command, nth) => {
      const faulty = withFaults(redis.client());
      const engine = redis.engine({ client: faulty.client });
      const tag = freshTag();
      await admin.set(`${tag}/lock:k`, 'peer'); // a lock without expiry: nothing but a caller ends the wait
      let calls = 0;
      const slow = faulty.inject({ command, when: () => ++calls === nth, delayReply: 300 });
      let computed = false;
      const error = await engine
        .memoLock(tag, { lockTimeout: 1_000 })
        .getResource('k', 50, async () => {
          computed = true;
          return { value: 1, ttl: 1 };
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MemoLockTimeoutError);
      expect(slow.hits).toBe(1); // the timeout did fall inside the window
      await slow.settled;
      await nothingLeft(engine, tag, `after the late ${command} reply`);
      expect(computed).toBe(false);
    });
  });

  it('close() reaches a flight whose callers have left, and resolves once it has stopped', async () => {
    const faulty = withFaults(redis.client());
    const engine = redis.engine({ client: faulty.client, onRedisError: 'compute' });
    const tag = freshTag();
    await admin.set(`${tag}/lock:k`, 'peer', 'PX', 10_000);
    const slow = faulty.inject({ command: 'psubscribe', delayReply: 300 });
    let computed = false;
    await expect(
      engine.memoLock(tag, { lockTimeout: 1_000 }).getResource('k', 50, async () => {
        computed = true;
        return { value: 1, ttl: 1 };
      }),
    ).rejects.toBeInstanceOf(MemoLockTimeoutError);
    await engine.close();
    // Once close() resolved the flight is gone: it sends nothing more, and it never turned to computing (a
    // subscription that failed because the engine closed is no reason to compute without the cache).
    const sentBeforeClose = faulty.calls.length;
    await slow.settled;
    await sleep(50);
    expect(faulty.calls.slice(sentBeforeClose)).toEqual([]);
    expect(engine.pendingResources).toBe(0);
    expect(await subscribersOf(tag)).toBe(0);
    expect(computed).toBe(false);
  });

  it('gives back a lock that the read-or-lock script grants after the command timeout', async () => {
    const faulty = withFaults(redis.client());
    const engine = redis.engine({ client: faulty.client, commandTimeout: 100, onRedisError: 'compute' });
    const tag = freshTag();
    // The script reaches Redis 300 ms late, as behind CLIENT PAUSE WRITE: after the engine gave up on it.
    const late = faulty.inject({ command: 'memolockReadOrLock', delay: 300 });
    const outcome = await engine
      .memoLock(tag, { lockTimeout: 5_000 })
      .getResourceWithStatus('k', 2_000, async () => ({ value: 'mine', ttl: 60_000 }));
    expect(outcome).toEqual({ value: 'mine', status: 'uncached' });
    await late.settled; // the lock was granted, to a flight that no longer wanted it
    await until(
      async () => (await admin.exists(`${tag}/lock:k`)) === 0,
      'the late grant is given back',
      1_000,
    );

    const other = redis.engine();
    await expect(
      other
        .memoLock(tag, { lockTimeout: 5_000 })
        .getResourceWithStatus('k', 2_000, async () => ({ value: 'theirs', ttl: 60_000 })),
    ).resolves.toEqual({ value: 'theirs', status: 'stored' });
  });

  describe.each(['compute', 'throw'] as const)(
    "a store that fails under onRedisError '%s'",
    (onRedisError) => {
      it('is not reported as stored, and sends the waiters elsewhere back to the lock at once', async () => {
        const faulty = withFaults(redis.client());
        const holder = redis.engine({ client: faulty.client, onRedisError });
        const elsewhere = redis.engine();
        const tag = freshTag();
        faulty.inject({
          command: 'memolockStoreAndRelease',
          fail: new Error('READONLY You cannot write against a read only replica.'),
          times: 1,
        });
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let computing!: () => void;
        const started = new Promise<void>((resolve) => (computing = resolve));
        const holding = holder
          .memoLock(tag, { lockTimeout: 10_000 })
          .getResourceWithStatus('k', 5_000, async () => {
            computing();
            await gate;
            return { value: 'computed here', ttl: 60_000 };
          })
          .catch((e: unknown) => e);
        await started;
        // The waiter sleeps on a 10 s lease, with 3 s to live: only a notice can save it.
        const waiting = elsewhere
          .memoLock(tag, { lockTimeout: 10_000 })
          .getResourceWithStatus('k', 3_000, async () => ({ value: 'computed elsewhere', ttl: 60_000 }));
        await until(() => elsewhere.subscribedTags.includes(tag), 'the waiter is subscribed');
        release();

        const held = await holding;
        if (onRedisError === 'compute') expect(held).toEqual({ value: 'computed here', status: 'uncached' });
        else expect(held).toBeInstanceOf(MemoLockRedisError);
        await expect(waiting).resolves.toEqual({ value: 'computed elsewhere', status: 'stored' });
        expect(await admin.get(`${tag}:k`)).toBe('"computed elsewhere"');
      });
    },
  );

  it('replaces a subscriber connection that gave up reconnecting, once Redis is back', async () => {
    // The subscriber's retryStrategy gives up at once; the client's own keeps trying.
    const faulty = withFaults(redis.client({ maxRetriesPerRequest: 1 }), { retryStrategy: () => null });
    const engine = redis.engine({ client: faulty.client, onRedisError: 'throw' });
    const handle = engine.memoLock(freshTag(), { lockTimeout: 5_000 });
    /** A value published by the holder of `id`'s lock, once the waiter can hear it. */
    const waitThrough = async (id: string) => {
      await admin.set(`${handle.tag}/lock:${id}`, 'peer', 'PX', 5_000);
      let settled = false;
      const waiting = handle
        .getResource(id, 3_000, async () => ({ value: 'not me', ttl: 1 }))
        .finally(() => (settled = true));
      await until(
        async () =>
          settled || (await admin.publish(`${handle.tag}/notif:${id}`, `"published for ${id}"`)) > 0,
        'the value is published to a subscriber, or the call settled',
      );
      return waiting;
    };
    await expect(waitThrough('before')).resolves.toBe('published for before');

    await redis.restart();
    admin = redis.client();
    await until(() => faulty.client.status === 'ready', "the engine's client is back", 10_000);
    await expect(waitThrough('after')).resolves.toBe('published for after');
  });

  it('keeps deadlines on the monotonic clock: a step of the wall clock moves none', async () => {
    const engine = redis.engine();
    const tag = freshTag();
    await admin.set(`${tag}/lock:k`, 'peer', 'PX', 10_000);
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'requestAnimationFrame',
        'cancelAnimationFrame',
        'requestIdleCallback',
        'cancelIdleCallback',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    try {
      const started = performance.now();
      const waiting = engine
        .memoLock(tag, { lockTimeout: 1_000 })
        .getResource('k', 100, async () => ({ value: 1, ttl: 1 }))
        .catch((e: unknown) => e);
      jest.setSystemTime(Date.now() - 60_000); // the wall clock steps back a minute
      expect(await waiting).toBeInstanceOf(MemoLockTimeoutError);
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      jest.useRealTimers();
    }
  });

  it('coalesces two handles of one tag only when their options agree', async () => {
    const engine = redis.engine();
    const tag = freshTag();
    await admin.set(`${tag}:k`, '"quoted"');
    const raw = engine.memoLock<string>(tag, { lockTimeout: 1_000, serializer: 'raw' });
    const json = engine.memoLock<string>(tag, { lockTimeout: 1_000, serializer: 'json' });
    const sameAsJson = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    const compute = async () => ({ value: 'computed', ttl: 1 });
    const results = await Promise.all([
      raw.getResource('k', 1_000, compute),
      json.getResource('k', 1_000, compute),
      sameAsJson.getResource('k', 1_000, compute),
    ]);
    expect(results).toEqual(['"quoted"', 'quoted', 'quoted']);
  });
});
