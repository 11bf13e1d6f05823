/**
 * The Nest layer end to end: two application instances (each with its own engine and connections, like two
 * processes) share one real Redis and serve real HTTP, on Express and on Fastify.
 */
import { computations, forRoot } from '../app/fixtures';
import { type HttpApp, type Platform, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(30_000);

describe.each<Platform>(['express', 'fastify'])('@MemoLocked over HTTP (%s)', (platform) => {
  let redis: TestRedis;
  let a: HttpApp;
  let b: HttpApp;
  let n = 0;
  const fresh = () => `${platform}-${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    a = await startApp(forRoot({ redis: redis.url }), platform);
    b = await startApp(forRoot({ redis: redis.url }), platform);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('computes once for concurrent requests to two app instances, and says how each was served', async () => {
    const id = fresh();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).get(`/items/${id}?q=x`)),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.map((r) => r.body)).toEqual(Array(10).fill({ id, q: 'x' }));
    expect(computations.get(`item:${id}:x`)).toBe(1);
    const statuses = responses.map((r) => r.cacheStatus).sort();
    expect(statuses.filter((s) => s === 'nestjs-memolock; fwd=uri-miss; stored')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'nestjs-memolock; fwd=uri-miss; collapsed')).toHaveLength(9);

    const again = await a.get(`/items/${id}?q=x`);
    expect(again).toMatchObject({ status: 200, cacheStatus: 'nestjs-memolock; hit', body: { id, q: 'x' } });
    // Another query is another resource.
    const other = await b.get(`/items/${id}?q=y`);
    expect(other).toMatchObject({
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
      body: { id, q: 'y' },
    });
  });

  it('memoizes a handler whose @MemoLocked sits above @Get, sync return values included', async () => {
    const id = fresh();
    expect(await a.get(`/sync/${id}`)).toMatchObject({ status: 200, body: `plain ${id}` });
    expect(await b.get(`/sync/${id}`)).toMatchObject({
      status: 200,
      cacheStatus: 'nestjs-memolock; hit',
      body: `plain ${id}`,
    });
    expect(computations.get(`sync:${id}`)).toBe(1);
  });

  it('memoizes HEAD like GET', async () => {
    const id = fresh();
    const head = await a.request('HEAD', `/items/${id}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('cache-status')).toBe('nestjs-memolock; fwd=uri-miss; stored');
    expect((await b.get(`/items/${id}`)).cacheStatus).toBe('nestjs-memolock; hit');
  });

  it('computes a @MemoLocked provider method once across both instances', async () => {
    const user = fresh();
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).get(`/likes/${user}`)),
    );
    expect(responses.map((r) => r.body)).toEqual(Array(6).fill({ user, likes: ['redis', 'nest'] }));
    expect(computations.get(`likes:${user}`)).toBe(1);
  });

  it.each([
    ['authorization', 'Bearer alice'],
    ['cookie', 'session=alice'],
  ])('bypasses the shared entry for requests carrying %s', async (header, value) => {
    const id = fresh();
    const first = await a.get(`/items/${id}`, { [header]: value });
    const second = await a.get(`/items/${id}`, { [header]: value });
    expect([first.cacheStatus, second.cacheStatus]).toEqual([
      'nestjs-memolock; fwd=bypass',
      'nestjs-memolock; fwd=bypass',
    ]);
    expect(computations.get(`item:${id}:`)).toBe(2);
    expect(await redis.client().exists(`items:127.0.0.1/items/${id}?`)).toBe(0);
  });

  it('memoizes personal requests when key says how the response varies', async () => {
    const id = fresh();
    await a.get(`/personal/${id}`, { authorization: 'Bearer alice' });
    const alice = await b.get(`/personal/${id}`, { authorization: 'Bearer alice' });
    const bob = await b.get(`/personal/${id}`, { authorization: 'Bearer bob' });
    expect(alice.cacheStatus).toBe('nestjs-memolock; hit');
    expect(bob.cacheStatus).toBe('nestjs-memolock; fwd=uri-miss; stored');
    expect(computations.get(`personal:${id}`)).toBe(2);
    expect(JSON.parse((await redis.client().get(`personal:Bearer alice:${id}`))!)).toEqual({
      status: 200,
      body: { id },
    });
  });

  it('never memoizes other methods than GET and HEAD', async () => {
    const id = fresh();
    const first = await a.request('POST', `/items/${id}`);
    await a.request('POST', `/items/${id}`);
    expect(first.status).toBe(201);
    expect(first.headers.get('cache-status')).toBe('nestjs-memolock; fwd=bypass');
    expect(computations.get(`post:${id}`)).toBe(2);
  });

  it('gives waiters in the other instance the same HttpException status and body', async () => {
    const id = fresh();
    const first = a.get(`/missing/${id}`);
    await new Promise((r) => setTimeout(r, 100)); // a holds the lock and computes
    const [holder, waiter] = await Promise.all([first, b.get(`/missing/${id}`)]);
    expect(holder).toMatchObject({ status: 404, body: { message: `no item ${id}`, id } });
    expect(waiter).toMatchObject({ status: 404, body: { message: `no item ${id}`, id } });
    expect(computations.get(`missing:${id}`)).toBe(1);
  });

  it('does not memoize a handler that answers with a stream', async () => {
    const id = fresh();
    const first = await a.request('GET', `/stream/${id}`);
    expect(await first.text()).toBe(`streamed ${id}`);
    const second = await a.request('GET', `/stream/${id}`);
    expect(await second.text()).toBe(`streamed ${id}`);
    expect(second.headers.get('cache-status')).toBe('nestjs-memolock; fwd=bypass');
    expect(computations.get(`stream:${id}`)).toBe(2);
  });
});
