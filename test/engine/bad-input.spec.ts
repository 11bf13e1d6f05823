/**
 * Bad arguments fail at once, naming the argument, and write nothing to Redis.
 */
import type Redis from 'ioredis';
import {
  InMemoryMemoLockEngine,
  MemoLockArgumentError,
  type MemoLockEngine,
  RedisMemoLockEngine,
} from '../../lib';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

const ok = async () => ({ value: 1, ttl: 1_000 });

describe('bad input', () => {
  let redis: TestRedis;
  let admin: Redis;
  let engine: RedisMemoLockEngine;
  /** Keys in the database before each test: it may be a shared one (REDIS_URL), not an empty one. */
  let keysBefore: number;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    engine = new RedisMemoLockEngine({ client: redis.client() });
  });
  afterAll(async () => {
    await engine.close();
    await redis.stop();
  });
  beforeEach(async () => {
    keysBefore = await admin.dbsize();
    await resetStats(admin);
  });
  afterEach(async () => {
    // Nothing but the test's own INFO/CONFIG/DBSIZE reached Redis, and no key was written.
    const stats = await commandStats(admin);
    const data = Object.keys(stats).filter((command) => !/^(info|config|dbsize)/.test(command));
    expect(data).toEqual([]);
    expect(await admin.dbsize()).toBe(keysBefore);
  });

  const expectArgumentError = (fn: () => unknown, argument: string) => {
    let thrown: unknown;
    try {
      fn();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(MemoLockArgumentError);
    expect(thrown).toMatchObject({ argument, code: 'E_MEMOLOCK_INVALID_ARGUMENT' });
    expect((thrown as Error).message).toContain(`"${argument}"`);
  };

  const expectRejection = async (promise: Promise<unknown>, argument: string) => {
    const error = (await promise.catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(MemoLockArgumentError);
    expect(error).toMatchObject({ argument });
    expect(error.message).toContain(`"${argument}"`);
  };

  describe.each([
    ['RedisMemoLockEngine', () => engine as MemoLockEngine],
    ['InMemoryMemoLockEngine', () => new InMemoryMemoLockEngine() as MemoLockEngine],
  ])('%s', (_name, getEngine) => {
    it.each(['', 'a:b', 'a/b', 'a*', 'a?', 'a[', 'a]', 'half \ud83d', 42, undefined, null])(
      'rejects the tag %p',
      (tag) => {
        expectArgumentError(() => getEngine().memoLock(tag as string, { lockTimeout: 1_000 }), 'tag');
      },
    );

    it.each([0, -1, NaN, Infinity, '1000', undefined])('rejects the lockTimeout %p', (lockTimeout) => {
      expectArgumentError(
        () => getEngine().memoLock('t', { lockTimeout: lockTimeout as number }),
        'options.lockTimeout',
      );
    });

    it('rejects missing options, and bad serializer, onRedisError and onComputeError', () => {
      expectArgumentError(() => getEngine().memoLock('t', undefined as never), 'options');
      expectArgumentError(
        () => getEngine().memoLock('t', { lockTimeout: 1, serializer: 'xml' as never }),
        'options.serializer',
      );
      expectArgumentError(
        () =>
          getEngine().memoLock('t', { lockTimeout: 1, serializer: { serialize: JSON.stringify } as never }),
        'options.serializer',
      );
      expectArgumentError(
        () => getEngine().memoLock('t', { lockTimeout: 1, onRedisError: 'ignore' as never }),
        'options.onRedisError',
      );
      expectArgumentError(
        () => getEngine().memoLock('t', { lockTimeout: 1, onComputeError: 'x' as never }),
        'options.onComputeError',
      );
    });

    it.each([
      ['an empty id', ''],
      ['a number', 42],
      ['null', null],
      ['1025 ASCII bytes', 'x'.repeat(1025)],
      ['1026 bytes of two-byte characters', 'é'.repeat(513)],
      // Redis would store U+FFFD instead, so that 'a\ud800' and 'a\udbff' would name one key.
      ['a lone surrogate', 'a\ud800'],
    ])('rejects %s as id, in every call', async (_what, id) => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      await expectRejection(handle.getResource(id as string, 1_000, ok), 'id');
      await expectRejection(handle.getResourceRenewable(id as string, 1_000, ok), 'id');
      await expectRejection(
        handle.getResourceExternal(id as string, 1_000, () => undefined),
        'id',
      );
      await expectRejection(handle.invalidate(id as string), 'id');
    });

    it('accepts an id of exactly 1024 bytes', async () => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      const id = 'é'.repeat(512);
      await expect(handle.getResource(id, 1_000, async () => ({ value: 1, ttl: 60_000 }))).resolves.toBe(1);
      await handle.invalidate(id);
      // What this valid call wrote is gone (the lock's release follows the value); only the bad input
      // around it is checked for writing nothing.
      await until(async () => (await admin.exists(`t:${id}`, `t/lock:${id}`)) === 0, 'its keys are gone');
      await resetStats(admin);
    });

    it.each([0, -5, NaN, Infinity, '1000', undefined, 2 ** 31])('rejects the timeout %p', async (timeout) => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      await expectRejection(handle.getResource('id', timeout as number, ok), 'timeout');
    });

    it.each([
      ['grace', -1],
      ['grace', NaN],
      ['grace', '1s'],
      ['grace', Infinity],
      ['softTimeout', -1],
      ['softTimeout', 2 ** 31],
      ['failSafeThrottle', 0],
      ['failSafeThrottle', Infinity],
      ['earlyRefresh', 1],
      ['earlyRefresh', null],
      ['earlyRefresh', [1]],
      ['earlyRefresh.beta', -1],
      ['earlyRefresh.beta', NaN],
      ['earlyRefresh.beta', '1'],
    ])('rejects %s %p, as a tag option and as a call option', async (name, bad) => {
      const option = name === 'earlyRefresh.beta' ? { earlyRefresh: { beta: bad } } : { [name]: bad };
      expectArgumentError(
        () => getEngine().memoLock('t', { lockTimeout: 1_000, ...option } as never),
        `options.${name}`,
      );
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      await expectRejection(handle.getResource('id', 1_000, ok, option as never), `callOptions.${name}`);
      await expectRejection(
        handle.getResourceWithStatus('id', 1_000, ok, option as never),
        `callOptions.${name}`,
      );
    });

    it.each([
      ['callOptions', 'fast'],
      ['callOptions', null],
      ['callOptions.signal', { signal: 'abort' }],
      ['callOptions.signal', { signal: { aborted: false } }],
    ])('rejects %s %p in every call', async (argument, options) => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      await expectRejection(handle.getResource('id', 1_000, ok, options as never), argument);
      await expectRejection(handle.getResourceRenewable('id', 1_000, ok, options as never), argument);
      await expectRejection(
        handle.getResourceExternal('id', 1_000, () => undefined, options as never),
        argument,
      );
      await expectRejection(handle.getResourceWithStatus('id', 1_000, ok, options as never), argument);
    });

    it('rejects an already aborted signal with its reason, before anything reaches Redis', async () => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000, grace: 1_000 });
      const reason = new Error('gave up before asking');
      let ran = false;
      const compute = async () => {
        ran = true;
        return { value: 1, ttl: 1_000 };
      };
      const signal = AbortSignal.abort(reason);
      await expect(handle.getResource('id', 1_000, compute, { signal })).rejects.toBe(reason);
      await expect(handle.getResourceWithStatus('id', 1_000, compute, { signal })).rejects.toBe(reason);
      const start = () => void (ran = true);
      await expect(handle.getResourceExternal('id', 1_000, start, { signal })).rejects.toBe(reason);
      await expect(
        handle.getResource('id', 1_000, compute, { signal: AbortSignal.abort() }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(ran).toBe(false);
    });

    it('rejects a computation that is not a function', async () => {
      const handle = getEngine().memoLock('t', { lockTimeout: 1_000 });
      await expectRejection(handle.getResource('id', 1_000, 'nope' as never), 'compute');
      await expectRejection(handle.getResourceRenewable('id', 1_000, undefined as never), 'compute');
      await expectRejection(handle.getResourceExternal('id', 1_000, {} as never), 'start');
    });
  });

  it('rejects bad engine options', () => {
    expectArgumentError(() => new RedisMemoLockEngine(undefined as never), 'options');
    expectArgumentError(() => new RedisMemoLockEngine({} as never), 'options.client');
    expectArgumentError(() => new RedisMemoLockEngine({ client: {} as never }), 'options.client');
    const client = redis.client({ lazyConnect: true });
    expectArgumentError(
      () => new RedisMemoLockEngine({ client, commandTimeout: 0 }),
      'options.commandTimeout',
    );
    expectArgumentError(
      () => new RedisMemoLockEngine({ client, serializer: 'yaml' as never }),
      'options.serializer',
    );
    expectArgumentError(
      () => new RedisMemoLockEngine({ client, onRedisError: 'retry' as never }),
      'options.onRedisError',
    );
    expectArgumentError(
      () => new InMemoryMemoLockEngine({ onComputeError: 'never' as never }),
      'options.onComputeError',
    );
    expectArgumentError(
      () => new RedisMemoLockEngine({ client, logger: { log: () => undefined } as never }),
      'options.logger',
    );
  });

  it('rejects a bad renew() argument inside the computation, and releases the lock', async () => {
    const handle = engine.memoLock('renew', { lockTimeout: 5_000 });
    await expectRejection(
      handle.getResourceRenewable('r', 1_000, async (renew) => {
        await renew(-1);
        return { value: 1, ttl: 1 };
      }),
      'lockTimeout',
    );
    await resetStats(admin); // the lock was taken (and released) before the computation could misuse renew
  });
});
