/**
 * `handle.invalidateAll()` (SPEC §3): every value of the tag is dropped, with its record and stale copy, with
 * SCAN on every master of a cluster, and nothing else: not another tag's values, not locks, not a tag whose
 * name differs by a backslash. The in-memory engine does the same.
 */
import type Redis from 'ioredis';
import {
  InMemoryMemoLockEngine,
  MemoLockClosedError,
  MemoLockRedisError,
  type MemoLockEngine,
} from '../../lib';
import { keysPattern } from '../../lib/engine/invalidate-all';
import { startCluster, type TestCluster } from '../support/redis-cluster';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(60_000);

const value = (v: unknown) => async () => ({ value: v, ttl: 60_000 });

async function fill(engine: MemoLockEngine, tag: string, ids: string[]): Promise<void> {
  const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
  await Promise.all(ids.map((id) => handle.getResource(id, 5_000, value(`${tag}/${id}`))));
}

describe('keysPattern', () => {
  it('escapes what SCAN would read as glob syntax, so a tag matches only itself', () => {
    expect(keysPattern('likes')).toBe('likes[:/]*');
    expect(keysPattern('a\\b')).toBe('a\\\\b[:/]*');
  });

  it("puts the client's keyPrefix into the pattern, which ioredis leaves alone, escaped too", () => {
    expect(keysPattern('likes', 'app:')).toBe('app:likes[:/]*');
    expect(keysPattern('likes', 'a*[1]')).toBe('a\\*\\[1\\]likes[:/]*');
  });
});

describe('invalidateAll on standalone Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  it('drops every value of the tag with SCAN, leaves other tags and locks alone, and never sends KEYS', async () => {
    // A long commandTimeout: on a loaded machine a slow store would leave a value uncached.
    const engine = redis.engine({ commandTimeout: 10_000 });
    const ids = Array.from({ length: 2_500 }, (_, i) => `u${i}`); // several SCAN pages
    await fill(engine, 'drop', ids);
    await fill(engine, 'keep', ['u1', 'u2']);
    await fill(engine, 'drop-not', ['u1']); // another tag sharing a prefix
    await admin.set('drop/lock:busy', 'token', 'PX', 60_000);
    const stored = (await admin.keys('drop:*')).length;
    expect(stored).toBeGreaterThan(2_000);
    await resetStats(admin);

    const dropped = await engine.memoLock('drop', { lockTimeout: 1_000 }).invalidateAll();

    const stats = await commandStats(admin);
    expect(stats.scan).toBeGreaterThan(1);
    expect(stats.keys).toBeUndefined();
    expect(dropped).toBe(stored);
    expect(await admin.keys('drop:*')).toEqual([]);
    expect((await admin.keys('keep:*')).sort()).toEqual(['keep:u1', 'keep:u2']);
    expect(await admin.get('drop-not:u1')).toBe(JSON.stringify('drop-not/u1'));
    expect(await admin.get('drop/lock:busy')).toBe('token');
    // The next call computes again.
    let computed = 0;
    await engine.memoLock('drop', { lockTimeout: 1_000 }).getResource('u1', 5_000, async () => {
      computed++;
      return { value: 'again', ttl: 60_000 };
    });
    expect(computed).toBe(1);
  });

  it('matches a tag holding a backslash literally', async () => {
    const engine = redis.engine();
    await fill(engine, 'a\\b', ['1', '2']);
    await fill(engine, 'ab', ['1']); // what an unescaped `a\b:*` pattern would match
    expect(await engine.memoLock('a\\b', { lockTimeout: 1_000 }).invalidateAll()).toBe(2);
    expect(await admin.get('ab:1')).toBe(JSON.stringify('ab/1'));
    expect(await admin.exists('a\\b:1', 'a\\b:2')).toBe(0);
  });

  it('drops the values a client with a keyPrefix stored, and not those of the same tag under another prefix', async () => {
    const prefixed = redis.engine({ client: redis.client({ keyPrefix: 'app:' }) });
    const plain = redis.engine();
    await fill(prefixed, 'pre', ['1', '2']);
    await fill(plain, 'pre', ['1']);
    expect((await admin.keys('*pre:*')).sort()).toEqual(['app:pre:1', 'app:pre:2', 'pre:1']);

    expect(await prefixed.memoLock('pre', { lockTimeout: 1_000 }).invalidateAll()).toBe(2);

    expect(await admin.keys('*pre:*')).toEqual(['pre:1']);
  });

  it('rejects with MemoLockRedisError when Redis fails, and with MemoLockClosedError after close()', async () => {
    const other = await startRedis();
    const engine = other.engine({ commandTimeout: 300 });
    await fill(engine, 'gone', ['1']);
    await other.kill();
    await expect(engine.memoLock('gone', { lockTimeout: 1_000 }).invalidateAll()).rejects.toBeInstanceOf(
      MemoLockRedisError,
    );
    await engine.close();
    await expect(engine.memoLock('gone', { lockTimeout: 1_000 }).invalidateAll()).rejects.toBeInstanceOf(
      MemoLockClosedError,
    );
    await other.stop();
  });
});

describe('invalidateAll on a Redis Cluster', () => {
  let cluster: TestCluster;
  beforeAll(async () => (cluster = await startCluster()));
  afterAll(() => cluster?.stop());

  it('drops the values on every master', async () => {
    const engine = cluster.engine();
    const ids = Array.from({ length: 300 }, (_, i) => `k${i}`);
    await fill(engine, 'spread', ids);
    await fill(engine, 'other', ['k1']);
    const nodes = cluster.ports.map((_, i) => cluster.node(i));
    const before = await Promise.all(nodes.map((node) => node.keys('spread:*')));
    expect(before.filter((keys) => keys.length > 0).length).toBe(3); // spread over all three masters

    expect(await engine.memoLock('spread', { lockTimeout: 1_000 }).invalidateAll()).toBe(300);

    const after = await Promise.all(nodes.map((node) => node.keys('spread:*')));
    expect(after.flat()).toEqual([]);
    expect(await cluster.client().get('other:k1')).toBe(JSON.stringify('other/k1'));
  });

  it.each([
    ['of the cluster', { keyPrefix: 'app:' }],
    ['of its nodes', { redisOptions: { keyPrefix: 'app:' } }],
  ])('drops the values of a cluster client with a keyPrefix %s', async (_where, options) => {
    const engine = cluster.engine({ client: cluster.client(options) });
    await fill(
      engine,
      'pfx',
      Array.from({ length: 50 }, (_, i) => `k${i}`),
    );
    const count = async () =>
      (await Promise.all(cluster.ports.map((_, i) => cluster.node(i).keys('app:pfx:*')))).flat().length;
    expect(await count()).toBe(50);

    expect(await engine.memoLock('pfx', { lockTimeout: 1_000 }).invalidateAll()).toBe(50);

    expect(await count()).toBe(0);
  });
});

describe('invalidateAll on the in-memory engine', () => {
  it('drops every value of the tag and nothing else', async () => {
    const engine = new InMemoryMemoLockEngine();
    await fill(engine, 'mem', ['1', '2', '3']);
    await fill(engine, 'mem-other', ['1']);
    const mem = engine.memoLock('mem', { lockTimeout: 1_000 });
    expect(await mem.invalidateAll()).toBe(3);
    let computed = 0;
    const count = async () => {
      computed++;
      return { value: 'x', ttl: 60_000 };
    };
    await mem.getResource('1', 1_000, count);
    await engine.memoLock('mem-other', { lockTimeout: 1_000 }).getResource('1', 1_000, count);
    expect(computed).toBe(1); // mem:1 again, mem-other:1 still cached
    await engine.close();
  });
});
