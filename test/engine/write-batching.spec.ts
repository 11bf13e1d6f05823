/**
 * The commands an engine sends in one turn of the event loop leave in one write on its connection: ioredis
 * writes each command on its own, and the engine holds the socket's writes until the turn's check phase
 * (see RedisLink). Counted on the real socket of a real client: how often it writes, not how long it takes.
 */
import type { Socket } from 'node:net';
import type Redis from 'ioredis';
import { startRedis, type TestRedis } from '../support/redis-server';

describe('writes of one turn', () => {
  let redis: TestRedis;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  /** Counts the writes the socket makes to the kernel from now on (one per `_write` or `_writev`). */
  function countWrites(client: Redis): () => number {
    const stream = (client as unknown as { stream: Socket & { _write: unknown; _writev: unknown } }).stream;
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = stream[name] as (...args: unknown[]) => unknown;
      stream[name] = function (this: Socket, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    return () => writes;
  }

  it('leave in one write: 20 callers computing at once store their values with one write', async () => {
    const client = redis.client();
    await client.ping();
    const engine = redis.engine({ client });
    const handle = engine.memoLock('batched', { lockTimeout: 5_000 });
    // Every computation waits for the same gate, so the 20 stores are sent in one turn.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const calls = Array.from({ length: 20 }, (_, i) =>
      handle.getResource(`id${i}`, 5_000, async () => {
        await gate;
        return { value: i, ttl: 60_000 };
      }),
    );
    // Let the first reads and the locks go out and come back before counting.
    const locked = async () => (await admin.keys('batched/lock:*')).length === 20;
    while (!(await locked())) await new Promise((resolve) => setTimeout(resolve, 5));
    const writes = countWrites(client);
    open();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await admin.mget(Array.from({ length: 20 }, (_, i) => `batched:id${i}`))).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    // ioredis alone would write 20 times, once per store script.
    expect(writes()).toBe(1);
    expect(await admin.keys('batched/lock:*')).toEqual([]);
  });

  it("are sent under a test's fake timers, which fake setImmediate", async () => {
    const client = redis.client();
    await client.ping();
    const engine = redis.engine({ client });
    await admin.set('faked:x', '"v"');
    const handle = engine.memoLock('faked', { lockTimeout: 5_000 });
    // The engine's first reads wait for process.nextTick: a test faking that too must advance it itself.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    try {
      await expect(handle.getResource('x', 2_000, async () => ({ value: 'computed', ttl: 1 }))).resolves.toBe(
        'v',
      );
    } finally {
      jest.useRealTimers();
    }
  });

  it('a lone command is not held past its turn', async () => {
    const client = redis.client();
    const engine = redis.engine({ client });
    await admin.set('lone:x', '"v"');
    const handle = engine.memoLock('lone', { lockTimeout: 5_000 });
    // The hit answers although nothing else is sent in its turn (the hold ends with the turn).
    await expect(handle.getResource('x', 2_000, async () => ({ value: 'computed', ttl: 1 }))).resolves.toBe(
      'v',
    );
  });
});
