/**
 * The module's `l1` option end to end: two application instances with an L1 each share one real Redis and
 * serve real HTTP (Express and Fastify). Memoized routes and provider methods answer from the L1 once it
 * is warm (their responses read-only, which the HTTP layer copes with), and an invalidation made through
 * one instance reaches the other's L1.
 */
import { MemoLockEngine, MemoLockService, type RedisMemoLockEngine } from '../../lib';
import { computations, forRoot, LikesService } from '../app/fixtures';
import { type HttpApp, type Platform, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

jest.setTimeout(30_000);

describe.each<Platform>(['express', 'fastify'])('the l1 option over HTTP (%s)', (platform) => {
  let redis: TestRedis;
  let a: HttpApp;
  let b: HttpApp;
  let n = 0;
  const fresh = () => `l1-${platform}-${++n}`;
  const l1Of = (app: HttpApp) => (app.app.get(MemoLockEngine) as RedisMemoLockEngine).l1!;

  beforeAll(async () => {
    redis = await startRedis();
    a = await startApp(forRoot({ redis: redis.url, l1: { maxEntries: 1_000 } }), platform);
    b = await startApp(forRoot({ redis: redis.url, l1: { maxEntries: 1_000 } }), platform);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('answers a memoized route from the L1 once warm, the same response as from Redis', async () => {
    const id = fresh();
    const first = await Promise.all([a.get(`/items/${id}?q=x`), b.get(`/items/${id}?q=x`)]);
    expect(first.map((r) => r.body)).toEqual([
      { id, q: 'x' },
      { id, q: 'x' },
    ]);
    expect(computations.get(`item:${id}:x`)).toBe(1);
    await until(async () => {
      const again = await a.get(`/items/${id}?q=x`);
      expect(again).toMatchObject({ status: 200, cacheStatus: 'nestjs-memolock; hit', body: { id, q: 'x' } });
      return l1Of(a).cache.size > 0;
    }, 'the L1 holds the response');
    const size = l1Of(a).cache.size;
    const hits = await Promise.all(Array.from({ length: 5 }, () => a.get(`/items/${id}?q=x`)));
    for (const hit of hits) {
      expect(hit).toMatchObject({ status: 200, cacheStatus: 'nestjs-memolock; hit', body: { id, q: 'x' } });
      expect(hit.headers['content-type']).toMatch(/json/);
    }
    expect(l1Of(a).cache.size).toBe(size);
    expect(computations.get(`item:${id}:x`)).toBe(1);
  });

  it("drops a provider method's value from the other instance's L1 when one invalidates it", async () => {
    const user = fresh();
    expect((await b.get(`/likes/${user}`)).body).toEqual({ user, likes: ['redis', 'nest'] });
    const keys = (await redis.client().keys('likes:*')).filter((key) => key.includes(user));
    expect(keys).toHaveLength(1);
    await until(async () => {
      await b.get(`/likes/${user}`);
      return l1Of(b).cache.get(keys[0]) !== undefined;
    }, 'b holds the value');
    const before = computations.get(`likes:${user}`);
    await a.app.get(MemoLockService).invalidate(LikesService, 'likesOf', user);
    await until(() => l1Of(b).cache.get(keys[0]) === undefined, "b's entry is dropped");
    expect((await b.get(`/likes/${user}`)).body).toEqual({ user, likes: ['redis', 'nest'] });
    expect(computations.get(`likes:${user}`)).toBe(before! + 1);
  });
});
