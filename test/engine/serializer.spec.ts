import type Redis from 'ioredis';
import {
  jsonSerializer,
  MemoLockInvalidResultError,
  MemoLockSerializationError,
  type MemoLockSerializer,
  RedisMemoLockEngine,
} from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { commandCalls, until } from '../support/until';

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
    const leasesRead = await commandCalls(admin, 'pttl');
    const waiting = waiterHandle.getResource('w', 5_000, async () => ({ value: 'wrong', ttl: 1 }));
    // Once the waiter has read the lease it sleeps on it: only the notification can wake it now. It reads the
    // lease twice (the read-or-lock script runs PTTL): before subscribing (nobody else waits on the tag there),
    // and after.
    await until(
      async () => (await commandCalls(admin, 'pttl')) > leasesRead + 1,
      'the waiter reads the lease once subscribed',
    );
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
    const value = '{"a":1} \u0000 ✓ 𝄞';
    const { computed, hit, woken, stored } = await roundTrip(value, 'raw');
    expect([computed, hit, woken, stored]).toEqual([value, value, value, value]);
  });

  it('json round-trips a string holding a lone surrogate exactly, as JSON escapes it', async () => {
    const value = 'half a pair: \ud83d, and its other half: \ude00';
    const { computed, hit, woken, stored } = await roundTrip(value);
    expect([computed, hit, woken]).toEqual([value, value, value]);
    expect(stored).toBe('"half a pair: \\ud83d, and its other half: \\ude00"');
  });

  it('json writes a Date as its ISO string, and it comes back as that string', async () => {
    const { computed, hit, woken } = await roundTrip({ at: new Date('2024-02-29T12:00:00.000Z') });
    for (const v of [computed, hit, woken]) expect(v).toEqual({ at: '2024-02-29T12:00:00.000Z' });
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

  describe('a value that cannot be stored as it is fails the call, stores nothing and releases the lock', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    class Money {
      readonly #cents = 5;
      get cents() {
        return this.#cents;
      }
    }
    const illFormed: MemoLockSerializer = { serialize: () => 'broken \udc00', deserialize: String };
    it.each([
      ['a BigInt', 10n, undefined, /BigInt/],
      ['a cycle', cyclic, undefined, /circular/],
      ['undefined', undefined, undefined, /JSON cannot represent undefined/],
      [
        'a Map',
        new Map([['a', 1]]),
        undefined,
        /JSON cannot represent a Map \(it would come back as a plain object\)/,
      ],
      ['a Set inside an object', { tags: new Set(['a']) }, undefined, /a Set at key "tags"/],
      ['a typed array', new Uint8Array([1, 2]), undefined, /a Uint8Array/],
      ['NaN', { ratio: NaN }, undefined, /NaN at key "ratio" \(it would come back as null\)/],
      ['Infinity in an array', [1, Infinity], undefined, /Infinity at key "1"/],
      ['a function', { load() {} }, undefined, /a function at key "load" \(it would be dropped\)/],
      ['a class instance whose data JSON cannot see', new Money(), undefined, /an instance of Money/],
      ['an Error', new Error('x'), undefined, /an Error/],
      ['a number under raw', 5, 'raw' as const, /raw serializer takes strings only/],
      ['a lone surrogate under raw', 'half \ud83d', 'raw' as const, /lone surrogate/],
      ['a lone surrogate from a custom serializer', 'anything', illFormed, /lone surrogate/],
    ])('%s', async (_name, value, serializer, reason) => {
      const tag = `bad${++n}`;
      const handle = engine.memoLock(tag, { lockTimeout: 5_000, serializer });
      const error = await handle.getResource('x', 1_000, async () => ({ value, ttl: 1_000 })).catch((e) => e);
      expect(error).toBeInstanceOf(MemoLockSerializationError);
      expect(error.message).toMatch(
        new RegExp(`Cannot serialize the value computed for resource "${tag}:x"`),
      );
      expect(error.message).toMatch(reason);
      expect(await admin.exists(`${tag}:x`, `${tag}/lock:x`)).toBe(0);
    });
  });

  it('json keeps the data of class instances with enumerable properties, as plain objects', async () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const { computed, hit } = await roundTrip(new Point(1, 2));
    expect(computed).toEqual({ x: 1, y: 2 });
    expect(hit).toEqual({ x: 1, y: 2 });
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

describe('jsonSerializer, alone', () => {
  // Plain data skips JSON.stringify's replacer (a walk checks it first); anything the walk is unsure of takes
  // the replacer's path. Both must write the same text and refuse the same values, wherever they sit.
  const deep = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : { d: deep(depth - 1, leaf) });
  const nullProto = Object.assign(Object.create(null) as object, { a: 1 });
  it.each([
    ['nested plain data', { a: [1, 'b', null, true, { c: [] }] }, '{"a":[1,"b",null,true,{"c":[]}]}'],
    ['undefined properties, dropped', { a: undefined, b: 1 }, '{"b":1}'],
    ['undefined and holes in an array, as null', Object.assign([undefined], { 2: 2 }), '[null,null,2]'],
    ['-0, as 0', { z: -0 }, '{"z":0}'],
    ['a null-prototype object', nullProto, '{"a":1}'],
    ['a Date deep inside', { a: [{ at: new Date(0) }] }, '{"a":[{"at":"1970-01-01T00:00:00.000Z"}]}'],
    ['a plain object with its own toJSON', { a: { toJSON: () => 'mine' } }, '{"a":"mine"}'],
    ['a boxed number', { n: Object(5) }, '{"n":5}'],
    ['data deeper than the walk looks', deep(100, 'leaf'), JSON.stringify(deep(100, 'leaf'))],
  ])('writes %s as JSON.stringify does', (_name, value, text) => {
    expect(jsonSerializer.serialize(value)).toBe(text);
  });

  const cyclic: Record<string, unknown> = { list: [] };
  (cyclic.list as unknown[]).push(cyclic);
  it.each([
    ['NaN deep inside', deep(10, [1, { ratio: NaN }]), /NaN at key "ratio"/],
    ['a Map deep inside an array', { a: [[new Map()]] }, /a Map at key "0"/],
    ['a function deeper than the walk looks', deep(100, () => 1), /a function at key "d"/],
    ['a toJSON that answers NaN', { a: { toJSON: () => NaN } }, /NaN at key "a"/],
    ['a BigInt inside', { n: 1n }, /BigInt/],
    ['a cycle through an array', cyclic, /circular/],
    [
      "what an array's own toJSON answers",
      { x: Object.assign([1], { toJSON: () => ({ r: NaN }) }) },
      /NaN at key "r"/,
    ],
    [
      'a Map in an object made to look like an array',
      { x: Object.setPrototypeOf({ a: new Map() }, Array.prototype) },
      /a Map at key "a"/,
    ],
  ])('refuses %s', (_name, value, reason) => {
    expect(() => jsonSerializer.serialize(value)).toThrow(reason);
  });

  it.each([
    ['Array.prototype', Array.prototype],
    ['Object.prototype', Object.prototype],
  ])('refuses what a toJSON added to %s answers', (_name, prototype) => {
    Object.defineProperty(prototype, 'toJSON', { value: () => new Map(), configurable: true });
    try {
      expect(() => jsonSerializer.serialize({ list: [1] })).toThrow(/a Map/);
    } finally {
      delete (prototype as { toJSON?: unknown }).toJSON;
    }
  });

  it('writes data that shares subtrees beyond what the walk looks at, through the replacer', () => {
    // 2^17 leaves: more values than the walk looks at, which then leaves the value to the replacer's path.
    let shared: unknown = 'leaf';
    for (let i = 0; i < 17; i++) shared = { a: shared, b: shared };
    expect(jsonSerializer.serialize(shared)).toBe(JSON.stringify(shared));
  });
});
