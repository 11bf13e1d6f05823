/**
 * First reads, batched: `ValueReader` on its own against a real Redis (one MGET per turn, a GET alone, what
 * each key is told), then what the engine does with a value key that holds something other than a string.
 */
import type Redis from 'ioredis';
import { MemoLockClosedError, MemoLockRedisError } from '../../lib';
import { ConnectionState } from '../../lib/engine/connection-state';
import { RedisLink } from '../../lib/engine/redis-call';
import { defineMemoLockCommands } from '../../lib/engine/redis-commands';
import { type ReadRequester, ValueReader } from '../../lib/engine/value-reader';
import { recordingLogger } from '../support/logger';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';

/** A requester that hands its outcome over as a promise. */
function requester(): ReadRequester & { outcome: Promise<{ raw?: string | null; error?: unknown }> } {
  let settle!: (outcome: { raw?: string | null; error?: unknown }) => void;
  const outcome = new Promise<{ raw?: string | null; error?: unknown }>((resolve) => (settle = resolve));
  return { outcome, valueRead: (raw) => settle({ raw }), readFailed: (error) => settle({ error }) };
}

describe('ValueReader', () => {
  let redis: TestRedis;
  let admin: Redis;
  let reader: ValueReader;
  const readAll = (keys: string[]) =>
    Promise.all(
      keys.map((key) => {
        const r = requester();
        reader.read(key, r);
        return r.outcome;
      }),
    );

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());
  beforeEach(async () => {
    const link = new RedisLink(
      defineMemoLockCommands(redis.client()),
      1_000,
      new ConnectionState(recordingLogger()),
    );
    reader = new ValueReader(link);
    await admin.flushall();
    await resetStats(admin);
  });

  it('sends the reads of one turn as one MGET, and each requester gets its own key', async () => {
    await admin.mset('r:a', 'A', 'r:c', 'C');
    await resetStats(admin);
    expect(await readAll(['r:a', 'r:b', 'r:c'])).toEqual([{ raw: 'A' }, { raw: null }, { raw: 'C' }]);
    const stats = await commandStats(admin);
    expect(stats.mget).toBe(1);
    expect(stats.get ?? 0).toBe(0);
  });

  it('sends a lone read as a plain GET', async () => {
    await admin.set('r:a', 'A');
    await resetStats(admin);
    expect(await readAll(['r:a'])).toEqual([{ raw: 'A' }]);
    const stats = await commandStats(admin);
    expect(stats.get).toBe(1);
    expect(stats.mget ?? 0).toBe(0);
  });

  it('splits a large turn into MGETs of at most 512 keys', async () => {
    const keys = Array.from({ length: 1_100 }, (_, i) => `r:${i}`);
    const outcomes = await readAll(keys);
    expect(outcomes.every((o) => o.raw === null)).toBe(true);
    expect((await commandStats(admin)).mget).toBe(3);
  });

  it('reads key by key when Redis refuses the batch, so that each key gets its own answer', async () => {
    await admin.call(
      'ACL',
      'SETUSER',
      'reader',
      'on',
      '>pw',
      'resetkeys',
      '~r:*',
      '-@all',
      '+get',
      '+mget',
      '+info',
    );
    const client = redis.client({ username: 'reader', password: 'pw' });
    reader = new ValueReader(
      new RedisLink(defineMemoLockCommands(client), 1_000, new ConnectionState(recordingLogger())),
    );
    await admin.set('r:a', 'A');
    const [mine, forbidden] = await readAll(['r:a', 'elsewhere:b']);
    expect(mine).toEqual({ raw: 'A' });
    expect(String((forbidden.error as Error).message)).toMatch(/NOPERM/);
  });

  it('fails the reads not sent yet once closed, and resolves once those under way have settled', async () => {
    const r = requester();
    reader.read('r:a', r);
    await reader.close();
    expect((await r.outcome).error).toBeInstanceOf(MemoLockClosedError);
  });
});

describe('a value key holding something other than a string', () => {
  let redis: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  it.each([
    ['read alone (GET: WRONGTYPE)', ['k']],
    ['read with others (MGET: a miss)', ['k', 'other']],
  ])("is never overwritten, under 'compute': %s", async (_what, ids) => {
    const engine = redis.engine({ onRedisError: 'compute' });
    const tag = `wt${ids.length}`;
    await admin.hset(`${tag}:k`, 'field', 'theirs');
    const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
    const outcomes = await Promise.all(
      ids.map((id) =>
        handle.getResourceWithStatus(id, 2_000, async () => ({ value: `computed ${id}`, ttl: 60_000 })),
      ),
    );
    expect(outcomes[0]).toEqual({ value: 'computed k', status: 'uncached' });
    if (ids.length > 1) expect(outcomes[1]).toEqual({ value: 'computed other', status: 'stored' });
    expect(await admin.hgetall(`${tag}:k`)).toEqual({ field: 'theirs' });
    expect(await admin.exists(`${tag}/lock:k`)).toBe(0);
  });

  it("is never overwritten, and rejects with MemoLockRedisError under 'throw'", async () => {
    const engine = redis.engine({ onRedisError: 'throw' });
    await admin.hset('wt:k', 'field', 'theirs');
    const handle = engine.memoLock('wt', { lockTimeout: 5_000 });
    const [k, other] = await Promise.all(
      ['k', 'other'].map((id) =>
        handle.getResource(id, 2_000, async () => ({ value: id, ttl: 60_000 })).catch((e: unknown) => e),
      ),
    );
    expect(k).toBeInstanceOf(MemoLockRedisError);
    expect((k as Error).message).toMatch(/holds something other than a string/);
    expect(other).toBe('other');
    expect(await admin.hgetall('wt:k')).toEqual({ field: 'theirs' });
  });
});
