/**
 * The `l1` option of the engine and of the module: validated at once, naming the argument, with nothing
 * sent to Redis; when given, the engine keeps an L1 whose tracker follows each tag from its handle's
 * creation, and closes the tracking connections with the engine. (Reads through it: l1-reads.spec.ts.)
 */
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import {
  InMemoryMemoLockEngine,
  MemoLockArgumentError,
  MemoLockEngine,
  MemoLockModule,
  RedisMemoLockEngine,
} from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

describe('the l1 option', () => {
  let redis: TestRedis;
  let admin: Redis;
  const ours = async () =>
    String(await admin.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => / name=nestjs-memolock:(tracking|invalidations) /.test(line)).length;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  it.each([
    [null, 'options.l1'],
    ['big', 'options.l1'],
    [{}, 'options.l1.maxEntries'],
    [{ maxEntries: 0 }, 'options.l1.maxEntries'],
    [{ maxEntries: 1.5 }, 'options.l1.maxEntries'],
    [{ maxEntries: '10' }, 'options.l1.maxEntries'],
    [{ maxEntries: 10, maxBytes: -1 }, 'options.l1.maxBytes'],
    [{ maxEntries: 10, maxBytes: Infinity }, 'options.l1.maxBytes'],
  ])('refuses l1: %p, naming %s, before anything reaches Redis', async (l1, argument) => {
    const client = redis.client();
    await client.ping();
    const commands = Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))![1]);
    let thrown: unknown;
    try {
      new RedisMemoLockEngine({ client, l1: l1 as never });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MemoLockArgumentError);
    expect((thrown as MemoLockArgumentError).argument).toBe(argument);
    expect((thrown as Error).message).toContain(`"${argument}"`);
    // Only the INFO calls of this test ran since.
    expect(Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))![1])).toBe(commands + 1);
    expect(await ours()).toBe(0);
  });

  it('is off when absent: no L1, no tracking connection', async () => {
    const engine = redis.engine();
    await engine
      .memoLock('plain', { lockTimeout: 1_000 })
      .getResource('a', 1_000, () => ({ value: 1, ttl: 1_000 }));
    expect(engine.l1).toBeUndefined();
    expect(await ours()).toBe(0);
  });

  it("tracks each tag from its handle's creation, and closes its connections with the engine", async () => {
    const engine = redis.engine({ l1: { maxEntries: 100, maxBytes: 1_000_000 } });
    expect(await ours()).toBe(0); // nothing to track yet
    engine.memoLock('first', { lockTimeout: 1_000 });
    engine.memoLock('second', { lockTimeout: 1_000 });
    const { cache, tracker } = engine.l1!;
    await until(() => tracker.active, 'both tags are tracked');
    expect(cache.trackedPrefixes.sort()).toEqual(['first:', 'second:']);
    expect(await ours()).toBe(2);

    await admin.set('second:x', 'v', 'PX', 60_000);
    expect(cache.fill('second:x', cache.beginRead(), 'v', 1, 60_000)).toBe(true);
    await admin.set('second:x', 'changed');
    await until(() => cache.get('second:x') === undefined, 'the write drops the entry');

    await engine.close();
    await until(async () => (await ours()) === 0, 'the tracking connections are closed');
    expect(tracker.active).toBe(false);
  });

  describe('in the module', () => {
    it('builds the Redis engine with its L1', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [MemoLockModule.forRoot({ redis: redis.url, l1: { maxEntries: 10 } })],
      }).compile();
      const app = await moduleRef.init();
      try {
        const engine = app.get(MemoLockEngine) as RedisMemoLockEngine;
        expect(engine.l1).toBeDefined();
      } finally {
        await app.close();
      }
    });

    it("accepts a valid l1 with 'memory', whose values already live in the process", async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [MemoLockModule.forRoot({ redis: 'memory', l1: { maxEntries: 10 } })],
      }).compile();
      const app = await moduleRef.init();
      expect(app.get(MemoLockEngine)).toBeInstanceOf(InMemoryMemoLockEngine);
      await app.close();
    });

    // A client passed in rather than a URL: the module leaves the connection it opened open when an
    // option fails at startup (as it does for any other bad option), which is not this test's subject.
    it.each([
      ['a client', (r: TestRedis) => r.client()],
      ["'memory'", () => 'memory' as const],
    ])('fails at startup on a bad l1 with %s, naming it', async (_name, target) => {
      const compiling = Test.createTestingModule({
        imports: [MemoLockModule.forRoot({ redis: target(redis), l1: { maxEntries: -3 } })],
      }).compile();
      const error = await compiling.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MemoLockArgumentError);
      expect((error as Error).message).toContain('"options.l1.maxEntries"');
    });
  });
});
