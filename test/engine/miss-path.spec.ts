/**
 * How many commands each path of a miss sends through the engine's client, counted (not timed) on a
 * fault-free wrapper of a real client: a cold holder in two round trips (the read-or-lock script, then the
 * store script), a waiter in two commands (its first read, then the script that reads the lease after
 * subscribing), a hit in one batched read, whichever way the tag's forecast leans. Script-internal commands
 * are not round trips: the wrapper sees only what the engine sends.
 */
import type Redis from 'ioredis';
import type { RedisMemoLockEngine } from '../../lib';
import { type FaultyClient, withFaults } from '../support/faulty-client';
import { startRedis, type TestRedis } from '../support/redis-server';
import { commandCalls, until } from '../support/until';

describe('the miss path', () => {
  let redis: TestRedis;
  let admin: Redis;
  let n = 0;
  const freshTag = () => `m${++n}`;
  const value = (v: unknown) => async () => ({ value: v, ttl: 60_000 });

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  /** An engine on a wrapped client, and the Redis commands it sends from now on (listeners and the like aside). */
  function counted(): { engine: RedisMemoLockEngine; faulty: FaultyClient; since: () => () => string[] } {
    const faulty = withFaults(redis.client());
    const engine = redis.engine({ client: faulty.client });
    const since = () => {
      const from = faulty.calls.length;
      return () => faulty.calls.slice(from).filter((call) => !NOT_COMMANDS.has(call));
    };
    return { engine, faulty, since };
  }

  /** Sends cold calls on new ids of `tag` until its first reads are expected to miss (the script first). */
  async function teachMisses(engine: RedisMemoLockEngine, tag: string, since: () => () => string[]) {
    for (let i = 0; i < 40; i++) {
      const sent = since();
      await engine.memoLock(tag, { lockTimeout: 5_000 }).getResource(`teach-${i}`, 5_000, value(i));
      if (sent()[0] === 'memolockReadOrLock') return;
    }
    throw new Error('the forecast never expected a miss');
  }

  /** Holds the lock of `tag:id` as a peer would. */
  async function lockedBy(tag: string, id: string, px = 10_000) {
    await admin.set(`${tag}/lock:${id}`, 'peer', 'PX', px);
  }

  /** Stores `json` under `tag:id` and publishes it, as a plain producer does. */
  async function produce(tag: string, id: string, json: string) {
    await admin.multi().set(`${tag}:${id}`, json).publish(`${tag}/notif:${id}`, json).exec();
  }

  /**
   * Keeps another waiter of `handle` on `tag` (id `other`, locked by a peer), so that the tag is subscribed;
   * resolves once it is, with what ends that waiter (its value produced, and checked).
   */
  async function keepTagSubscribed(
    engine: RedisMemoLockEngine,
    handle: ReturnType<RedisMemoLockEngine['memoLock']>,
    tag: string,
  ): Promise<() => Promise<void>> {
    await lockedBy(tag, 'other');
    const leasesRead = await commandCalls(admin, 'pttl');
    const other = handle.getResource('other', 5_000, value('no'));
    await until(() => engine.subscribedTags.includes(tag), 'the tag is subscribed');
    // It reads the lease twice (the script runs PTTL): before subscribing and after. Only then is it asleep,
    // sending nothing more until its value comes.
    await until(
      async () => (await commandCalls(admin, 'pttl')) >= leasesRead + 2,
      'the other waiter has read the lease once subscribed',
    );
    return async () => {
      await produce(tag, 'other', '"o"');
      await expect(other).resolves.toBe('o');
    };
  }

  it('a cold holder: GET, the read-or-lock script, the store script; two round trips once the tag is known to miss', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    let sent = since();
    await expect(handle.getResourceWithStatus('k', 5_000, value(1))).resolves.toEqual({
      value: 1,
      status: 'stored',
    });
    expect(sent()).toEqual(['get', 'memolockReadOrLock', 'memolockStoreAndRelease']);

    await teachMisses(engine, tag, since);
    sent = since();
    await expect(handle.getResourceWithStatus('cold', 5_000, value(2))).resolves.toEqual({
      value: 2,
      status: 'stored',
    });
    expect(sent()).toEqual(['memolockReadOrLock', 'memolockStoreAndRelease']);
    expect(await admin.get(`${tag}:cold`)).toBe('2');
    expect(await admin.exists(`${tag}/lock:cold`)).toBe(0);
  });

  it('a hit: one batched read; on a tag expected to miss, one script answering the value, until hits bring the GET back', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    for (let i = 0; i < 64; i++) await admin.set(`${tag}:h${i}`, String(i));
    let sent = since();
    const hits = await Promise.all(
      Array.from({ length: 64 }, (_, i) => handle.getResourceWithStatus(`h${i}`, 5_000, value('no'))),
    );
    expect(hits).toEqual(Array.from({ length: 64 }, (_, i) => ({ value: i, status: 'hit' })));
    expect(sent()).toEqual(['mget']);
    sent = since();
    await handle.getResource('h0', 5_000, value('no'));
    expect(sent()).toEqual(['get']);

    await teachMisses(engine, tag, since);
    sent = since();
    await expect(handle.getResourceWithStatus('h1', 5_000, value('no'))).resolves.toEqual({
      value: 1,
      status: 'hit',
    });
    expect(sent()).toEqual(['memolockReadOrLock']); // the value, no lock taken
    expect(await admin.exists(`${tag}/lock:h1`)).toBe(0);
    let scripts = 1;
    for (;;) {
      sent = since();
      await handle.getResource('h1', 5_000, value('no'));
      if (sent()[0] === 'get') break;
      expect(sent()).toEqual(['memolockReadOrLock']);
      expect(++scripts).toBeLessThan(40);
    }
  });

  it('a waiter, its tag already subscribed: two commands (its first read, the script), then only the message', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 10_000 });
    const releaseOther = await keepTagSubscribed(engine, handle, tag);
    await lockedBy(tag, 'k');
    const sent = since();
    const waiting = handle.getResourceWithStatus('k', 5_000, value('no'));
    await until(() => sent().length === 2, 'the waiter has read the lease');
    expect(sent()).toEqual(['get', 'memolockReadOrLock']);
    await produce(tag, 'k', '"theirs"');
    await expect(waiting).resolves.toEqual({ value: 'theirs', status: 'collapsed' });
    expect(sent()).toEqual(['get', 'memolockReadOrLock']);
    await releaseOther();
  });

  it('a lone waiter subscribes after the script finds the lock held, then reads once more in the same script', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    await lockedBy(tag, 'k');
    const sent = since();
    const waiting = engine.memoLock(tag, { lockTimeout: 10_000 }).getResource('k', 5_000, value('no'));
    await until(() => sent().length === 4, 'the waiter has read the lease once subscribed');
    expect(sent()).toEqual(['get', 'memolockReadOrLock', 'psubscribe', 'memolockReadOrLock']);
    await produce(tag, 'k', '"theirs"');
    await expect(waiting).resolves.toBe('theirs');
    await until(() => engine.subscribedTags.length === 0, 'the tag is unsubscribed');
    expect(sent().slice(4)).toEqual(['punsubscribe']);
  });

  it('takes over in the same script once the holder’s lease runs out', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    await lockedBy(tag, 'k', 300);
    const sent = since();
    await expect(
      engine.memoLock(tag, { lockTimeout: 5_000 }).getResourceWithStatus('k', 5_000, value('mine')),
    ).resolves.toEqual({ value: 'mine', status: 'stored' });
    // First read, script (held), subscription, script (held: sleep on the lease), script (taken), store.
    expect(sent().filter((c) => c !== 'psubscribe' && c !== 'punsubscribe')).toEqual([
      'get',
      'memolockReadOrLock',
      'memolockReadOrLock',
      'memolockReadOrLock',
      'memolockStoreAndRelease',
    ]);
  });

  it('answers a value stored between the first read and the script, and computes nothing', async () => {
    const { engine, faulty, since } = counted();
    const tag = freshTag();
    const late = faulty.inject({ command: 'memolockReadOrLock', delay: 200, times: 1 });
    const sent = since();
    let computed = false;
    const outcome = engine
      .memoLock(tag, { lockTimeout: 5_000 })
      .getResourceWithStatus('k', 5_000, async () => {
        computed = true;
        return { value: 'mine', ttl: 60_000 };
      });
    await until(() => late.hits === 1, 'the script is on its way');
    await admin.set(`${tag}:k`, '"theirs"');
    await expect(outcome).resolves.toEqual({ value: 'theirs', status: 'collapsed' });
    expect(computed).toBe(false);
    expect(sent()).toEqual(['get', 'memolockReadOrLock']);
    expect(await admin.exists(`${tag}/lock:k`)).toBe(0);
  });

  it('does not miss a value published while the script’s reply is on its way (the waiter watched first)', async () => {
    const { engine, faulty, since } = counted();
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 10_000 });
    const releaseOther = await keepTagSubscribed(engine, handle, tag);
    await lockedBy(tag, 'k');
    // The script runs at once (the lock is held) and its reply comes 300 ms later; the value is published in
    // between. Only the subscription made before the script can deliver it.
    const slow = faulty.inject({ command: 'memolockReadOrLock', delayReply: 300, times: 1 });
    const sent = since();
    const leasesRead = await commandCalls(admin, 'pttl');
    const waiting = handle.getResourceWithStatus('k', 5_000, value('no'));
    await until(() => slow.hits === 1, 'the script was sent');
    // The script has run in Redis (it read the peer's lease) when its PTTL is counted; its reply is still held.
    await until(async () => (await commandCalls(admin, 'pttl')) > leasesRead, 'the script has run');
    await produce(tag, 'k', '"theirs"');
    await admin.del(`${tag}/lock:k`);
    await expect(waiting).resolves.toEqual({ value: 'theirs', status: 'collapsed' });
    expect(sent()).toEqual(['get', 'memolockReadOrLock']);
    await releaseOther();
  });

  it('a waiter on a tag expected to miss: one command, the script', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    await teachMisses(engine, tag, since);
    const handle = engine.memoLock(tag, { lockTimeout: 10_000 });
    const releaseOther = await keepTagSubscribed(engine, handle, tag);
    await lockedBy(tag, 'k');
    const sent = since();
    const waiting = handle.getResource('k', 5_000, value('no'));
    await until(() => sent().length === 1, 'the waiter has read the lease');
    await produce(tag, 'k', '"theirs"');
    await expect(waiting).resolves.toBe('theirs');
    expect(sent()).toEqual(['memolockReadOrLock']);
    await releaseOther();
  });

  it('keeps the first read a GET (its record beside it) for a tag with freshness options', async () => {
    const { engine, since } = counted();
    const tag = freshTag();
    const handle = engine.memoLock(tag, { lockTimeout: 5_000, grace: 10_000 });
    for (let i = 0; i < 24; i++) {
      const sent = since();
      await handle.getResource(`c${i}`, 5_000, value(i));
      // The value and its record in one MGET; the script (which now also saw the value missing at the same
      // instant as it took the lock); the store.
      expect(sent()).toEqual(['mget', 'memolockReadOrLock', 'memolockStoreFreshAndRelease']);
    }
  });
});

/** Methods the engine calls on its client that send no command. */
const NOT_COMMANDS = new Set<string>([
  'duplicate',
  'on',
  'once',
  'off',
  'removeListener',
  'removeAllListeners',
]);
