/**
 * `RedisLock` on its own, against a real Redis: the holder's side of one resource's lock, from taking it to
 * each way of letting it go, and never touching a lock that has become someone else's.
 */
import type Redis from 'ioredis';
import { ConnectionState } from '../../lib/engine/connection-state';
import { decodeNotice, resourceNames } from '../../lib/engine/protocol';
import { RedisLink } from '../../lib/engine/redis-call';
import { defineMemoLockCommands } from '../../lib/engine/redis-commands';
import { RedisLock } from '../../lib/engine/redis-lock';
import { withFaults } from '../support/faulty-client';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

describe('RedisLock', () => {
  let redis: TestRedis;
  let admin: Redis;
  let listener: Redis;
  let n = 0;
  let names: ReturnType<typeof resourceNames>;
  const heard: Array<{ channel: string; message: string }> = [];
  const linkOn = (client: Redis, commandTimeout = 1_000) =>
    new RedisLink(defineMemoLockCommands(client), commandTimeout, new ConnectionState(recordingLogger()));
  const lockOf = (client: Redis = redis.client(), lockTimeout = 5_000) =>
    new RedisLock(linkOn(client), names, lockTimeout);

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    listener = redis.client();
    listener.on('pmessage', (_pattern: string, channel: string, message: string) =>
      heard.push({ channel, message }),
    );
    await listener.psubscribe('l*');
  });
  afterAll(() => redis.stop());
  beforeEach(() => {
    names = resourceNames(`l${++n}`, 'k');
    heard.length = 0;
  });
  const heardOn = (channel: string) => heard.filter((h) => h.channel === channel).map((h) => h.message);

  it('takes a free lock with a token and its lease, and not one somebody holds', async () => {
    const lock = lockOf(undefined, 3_000);
    expect(await lock.acquire()).toBe(true);
    expect(lock.held).toBe(true);
    expect(await admin.get(names.lockKey)).toMatch(/^[0-9a-f-]{36}$/);
    const pttl = await admin.pttl(names.lockKey);
    expect(pttl).toBeGreaterThan(2_000);
    expect(pttl).toBeLessThanOrEqual(3_000);
    const second = lockOf();
    expect(await second.acquire()).toBe(false);
    expect(second.held).toBe(false);
  });

  it('gives back a lock whose SET NX is granted after the command timeout', async () => {
    const faulty = withFaults(redis.client());
    faulty.inject({ command: 'set', delay: 300 });
    const late = faulty.inject({ command: 'memolockRelease' });
    const lock = new RedisLock(linkOn(faulty.client, 100), names, 5_000);
    await expect(lock.acquire()).rejects.toThrow(/did not answer SET within 100 ms/);
    expect(lock.held).toBe(false);
    await until(() => late.hits === 1, 'the late grant is given back', 2_000);
    await until(async () => (await admin.exists(names.lockKey)) === 0, 'the lock is gone');
  });

  describe('readOrAcquire (READ_OR_LOCK, one round trip)', () => {
    it('answers the value when there is one, and touches no lock', async () => {
      await admin.set(names.valueKey, '"v"');
      await admin.set(names.lockKey, 'someone', 'PX', 5_000);
      const lock = lockOf();
      expect(await lock.readOrAcquire()).toEqual({ kind: 'value', raw: '"v"' });
      expect(lock.held).toBe(false);
      expect(await admin.get(names.lockKey)).toBe('someone');
    });

    it('takes a free lock with a token and its lease when there is no value', async () => {
      const lock = lockOf(undefined, 3_000);
      expect(await lock.readOrAcquire()).toEqual({ kind: 'locked' });
      expect(lock.held).toBe(true);
      expect(await admin.get(names.lockKey)).toMatch(/^[0-9a-f-]{36}$/);
      const pttl = await admin.pttl(names.lockKey);
      expect(pttl).toBeGreaterThan(2_000);
      expect(pttl).toBeLessThanOrEqual(3_000);
      // The token is this holder's: its store releases the lock.
      await lock.storeAndRelease('"mine"', 10_000);
      expect(await admin.exists(names.lockKey)).toBe(0);
      expect(await admin.get(names.valueKey)).toBe('"mine"');
    });

    it('answers the lease of a lock somebody holds (-1 for one without expiry), and leaves it alone', async () => {
      await admin.set(names.lockKey, 'peer', 'PX', 4_000);
      const lock = lockOf();
      const probe = await lock.readOrAcquire();
      expect(probe.kind).toBe('held');
      const { pttl } = probe as { pttl: number };
      expect(pttl).toBeGreaterThan(3_000);
      expect(pttl).toBeLessThanOrEqual(4_000);
      expect(lock.held).toBe(false);
      await admin.persist(names.lockKey);
      expect(await lock.readOrAcquire()).toEqual({ kind: 'held', pttl: -1 });
      expect(await admin.get(names.lockKey)).toBe('peer');
    });

    it('reads a value key of another type as a miss, as MGET does, and takes the lock', async () => {
      await admin.rpush(names.valueKey, 'not ours');
      const lock = lockOf();
      expect(await lock.readOrAcquire()).toEqual({ kind: 'locked' });
    });

    it('gives back a lock the script grants after the command timeout', async () => {
      const faulty = withFaults(redis.client());
      faulty.inject({ command: 'memolockReadOrLock', delay: 300 });
      const late = faulty.inject({ command: 'memolockRelease' });
      const lock = new RedisLock(linkOn(faulty.client, 100), names, 5_000);
      await expect(lock.readOrAcquire()).rejects.toThrow(/did not answer EVALSHA within 100 ms/);
      expect(lock.held).toBe(false);
      await until(() => late.hits === 1, 'the late grant is given back', 2_000);
      await until(async () => (await admin.exists(names.lockKey)) === 0, 'the lock is gone');
    });

    it('leaves alone the lock of a late reply that did not take it', async () => {
      await admin.set(names.lockKey, 'peer', 'PX', 5_000);
      const faulty = withFaults(redis.client());
      const slow = faulty.inject({ command: 'memolockReadOrLock', delayReply: 300 });
      const release = faulty.inject({ command: 'memolockRelease' });
      const lock = new RedisLock(linkOn(faulty.client, 100), names, 5_000);
      await expect(lock.readOrAcquire()).rejects.toThrow(/within 100 ms/);
      await slow.settled;
      expect(release.hits).toBe(0);
      expect(await admin.get(names.lockKey)).toBe('peer');
    });
  });

  it('renews its own lease, and reports a lock it no longer holds', async () => {
    const lock = lockOf(undefined, 1_000);
    await lock.acquire();
    expect(await lock.renew(10_000)).toBe(true);
    expect(await admin.pttl(names.lockKey)).toBeGreaterThan(9_000);
    await admin.set(names.lockKey, 'somebody else');
    expect(await lock.renew(10_000)).toBe(false);
    expect(await admin.pttl(names.lockKey)).toBe(-1); // theirs, untouched
  });

  it('stores the value with its ttl, publishes it, and releases the lock, in one round trip', async () => {
    const lock = lockOf();
    await lock.acquire();
    await lock.storeAndRelease('"v"', 60_000);
    expect(lock.held).toBe(false);
    expect(await admin.get(names.valueKey)).toBe('"v"');
    expect(await admin.pttl(names.valueKey)).toBeGreaterThan(50_000);
    expect(await admin.exists(names.lockKey)).toBe(0);
    await until(() => heardOn(names.notifChannel).length === 1, 'the value is published');
    expect(heardOn(names.notifChannel)).toEqual(['"v"']);
  });

  it('stores and publishes, but leaves alone a lock that became somebody else’s', async () => {
    const lock = lockOf();
    await lock.acquire();
    await admin.set(names.lockKey, 'took over');
    await lock.storeAndRelease('"late"', 60_000);
    expect(await admin.get(names.valueKey)).toBe('"late"');
    expect(await admin.get(names.lockKey)).toBe('took over');
  });

  it('keeps the lock when the store fails, so that the holder can give it up', async () => {
    const faulty = withFaults(redis.client());
    faulty.inject({ command: 'memolockStoreAndRelease', fail: new Error('OOM') });
    const lock = new RedisLock(linkOn(faulty.client), names, 5_000);
    await lock.acquire();
    await expect(lock.storeAndRelease('"v"', 60_000)).rejects.toThrow('OOM');
    expect(lock.held).toBe(true);
    await lock.giveUp();
    expect(lock.held).toBe(false);
    expect(await admin.exists(names.lockKey, names.valueKey)).toBe(0);
    await until(() => heardOn(names.failChannel).length === 1, 'the notice is published');
    expect(decodeNotice(heardOn(names.failChannel)[0])).toBe('gave-up');
  });

  it('releases with a failure notice on its own channel, only while it holds the lock', async () => {
    const lock = lockOf();
    await lock.acquire();
    await lock.failAndRelease(Object.assign(new Error('no such user'), { status: 404 }));
    expect(await admin.exists(names.lockKey)).toBe(0);
    await until(() => heardOn(names.failChannel).length === 1, 'the failure is published');
    expect(decodeNotice(heardOn(names.failChannel)[0])).toEqual({
      name: 'Error',
      message: 'no such user',
      status: 404,
    });
    expect(heardOn(names.notifChannel)).toEqual([]); // never where Go/C# waiters take messages for values

    const outlived = lockOf();
    await outlived.acquire();
    await admin.set(names.lockKey, 'took over');
    await outlived.failAndRelease(new Error('too late to matter'));
    expect(await admin.get(names.lockKey)).toBe('took over');
  });

  it('releases without waiting, and forgets a lease that ran out without touching Redis', async () => {
    const lock = lockOf();
    await lock.acquire();
    lock.release();
    expect(lock.held).toBe(false);
    await until(async () => (await admin.exists(names.lockKey)) === 0, 'the lock is released');

    const expired = lockOf();
    await expired.acquire();
    expired.forget();
    expect(expired.held).toBe(false);
    expect(await admin.exists(names.lockKey)).toBe(1);
  });
});
