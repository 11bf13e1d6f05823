import type Redis from 'ioredis';
import {
  MemoLockInvalidResultError,
  MemoLockSerializationError,
  type MemoLockSerializer,
  RedisMemoLockEngine,
} from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

describe('serializers, through Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  let engine: RedisMemoLockEngine;
  let n = 0;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    engine = redis.engine();
  });
  afterAll(async () => {
    await engine.close();
    await redis.stop();
  });

  /** Computes `value` in one call, then reads it back as a hit and as a waiter woken by the notification. */
  async function roundTrip(value: unknown, serializer?: 'json' | 'raw' | MemoLockSerializer) {
    const handle = engine.memoLock(`ser${++n}`, { lockTimeout: 1_000, serializer });
    const computed = await handle.getResource('v', 1_000, async () => ({ value, ttl: 60_000 }));
    const hit = await handle.getResource('v', 1_000, async () => ({ value: 'wrong', ttl: 1 }));

    const other = redis.engine({ serializer });
    const waiterHandle = other.memoLock(`ser${n}`, { lockTimeout: 5_000, serializer });
    await admin.set(`ser${n}/lock:w`, 'x', 'PX', 5_000);
    const waiting = waiterHandle.getResource('w', 5_000, async () => ({ value: 'wrong', ttl: 1 }));
    await sleep(100);
    const holder = engine.memoLock(`ser${n}`, { lockTimeout: 1_000, serializer });
    await admin.del(`ser${n}/lock:w`);
    await holder.getResource('w', 1_000, async () => ({ value, ttl: 60_000 }));
    const woken = await waiting;
    await other.close();
    return { computed, hit, woken, stored: await admin.get(`ser${n}:v`) };
  }

  it.each([
    ['null', null],
    ['a nested object', { a: { b: [1, 2, { c: 'd' }] }, e: true }],
    ['a string that looks like JSON', '{"not":"an object"}'],
    ['an empty string', ''],
    ['zero', 0],
    ['false', false],
    ['unicode', 'naïve ☃ 𝄞'],
  ])('json round-trips %s', async (_name, value) => {
    const { computed, hit, woken } = await roundTrip(value);
    expect(computed).toEqual(value);
    expect(hit).toEqual(value);
    expect(woken).toEqual(value);
  });

  it('json stores JSON text', async () => {
    const { stored } = await roundTrip({ a: 1 });
    expect(stored).toBe('{"a":1}');
  });

  it('raw stores and publishes strings byte for byte', async () => {
    const value = '{"a":1} \u0000 ✓';
    const { computed, hit, woken, stored } = await roundTrip(value, 'raw');
    expect([computed, hit, woken, stored]).toEqual([value, value, value, value]);
  });

  it('takes a custom serializer', async () => {
    const dates: MemoLockSerializer = {
      serialize: (d) => (d as Date).toISOString(),
      deserialize: (s) => new Date(s),
    };
    const when = new Date('2024-02-29T12:00:00.000Z');
    const { computed, hit, woken, stored } = await roundTrip(when, dates);
    expect(stored).toBe('2024-02-29T12:00:00.000Z');
    for (const v of [computed, hit, woken]) expect(v).toEqual(when);
  });

  describe('a value that cannot be stored fails the call and releases the lock', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    it.each([
      ['a BigInt', 10n, undefined],
      ['a cycle', cyclic, undefined],
      ['undefined', undefined, undefined],
      ['a number under raw', 5, 'raw' as const],
    ])('%s', async (_name, value, serializer) => {
      const tag = `bad${++n}`;
      const handle = engine.memoLock(tag, { lockTimeout: 5_000, serializer });
      const error = await handle.getResource('x', 1_000, async () => ({ value, ttl: 1_000 })).catch((e) => e);
      expect(error).toBeInstanceOf(MemoLockSerializationError);
      expect(error.message).toMatch(
        new RegExp(`Cannot serialize the value computed for resource "${tag}:x"`),
      );
      expect(await admin.exists(`${tag}:x`, `${tag}/lock:x`)).toBe(0);
    });
  });

  it.each([0, -1, NaN, Infinity, '1000', undefined])(
    'a ttl of %p fails the call and releases the lock',
    async (ttl) => {
      const tag = `ttl${++n}`;
      const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
      const error = await handle
        .getResource('x', 1_000, async () => ({ value: 1, ttl: ttl as number }))
        .catch((e) => e);
      expect(error).toBeInstanceOf(MemoLockInvalidResultError);
      expect(error.message).toMatch(/invalid ttl/);
      expect(await admin.exists(`${tag}:x`, `${tag}/lock:x`)).toBe(0);
    },
  );

  it('a computation that resolves to something other than { value, ttl } fails the call', async () => {
    const handle = engine.memoLock(`shape${++n}`, { lockTimeout: 5_000 });
    await expect(handle.getResource('x', 1_000, async () => 42 as never)).rejects.toBeInstanceOf(
      MemoLockInvalidResultError,
    );
  });

  it('a stored value the serializer cannot decode is a clear error, not a crash', async () => {
    const tag = `garbage${++n}`;
    await admin.set(`${tag}:x`, '{not json');
    const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
    const error = await handle.getResource('x', 1_000, async () => ({ value: 1, ttl: 1 })).catch((e) => e);
    expect(error).toBeInstanceOf(MemoLockSerializationError);
    expect(error.message).toMatch(new RegExp(`Cannot deserialize the value stored for resource "${tag}:x"`));
  });
});
