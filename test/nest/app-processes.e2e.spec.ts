/**
 * Memoized routes across real application processes: two Nest apps, each in its own OS process, share
 * nothing but one Redis (the in-process e2e tests share module state such as which instances are
 * memoized). A failure answers alike in both, whichever computed; a request in one collapses onto the
 * other's computation. And a response that sets a cookie through `@fastify/cookie`, the plugin as users
 * register it (Jest cannot load it), is never shared.
 */
import type Redis from 'ioredis';
import type { HttpAnswer, Platform } from '../app/http-app';
import { type AppProcess, spawnApp } from '../support/app-processes';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

jest.setTimeout(60_000);

const GENERIC_500 = { statusCode: 500, message: 'Internal server error' };

describe.each<Platform>(['express', 'fastify'])('two application processes (%s)', (platform) => {
  let redis: TestRedis;
  let admin: Redis;
  let a: AppProcess;
  let b: AppProcess;
  let n = 0;
  const fresh = () => `${platform}-${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    [a, b] = await Promise.all([
      spawnApp(redis.url, platform, 'errors'),
      spawnApp(redis.url, platform, 'errors'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  /** A asks first and computes; B asks once A holds the lock, and so waits for A's outcome. */
  async function bothAsk(tag: string, path: string): Promise<[HttpAnswer, HttpAnswer]> {
    const first = a.get(path);
    await until(async () => (await admin.exists(`${tag}/lock:127.0.0.1${path}?`)) === 1, 'A computes');
    return Promise.all([first, b.get(path)]);
  }

  it.each([
    ['a domain error that an exception filter maps to 404', 'entity'],
    ['a non-HTTP error carrying a status (axios)', 'upstream'],
  ])('answers %s with the same generic 500 in both', async (_what, route) => {
    const [computed, collapsed] = await bothAsk(`proc-${route}`, `/err/${route}/${fresh()}`);
    expect(computed).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; detail=error',
    });
    expect(collapsed).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed; detail=error',
    });
    expect(collapsed.text).toBe(computed.text);
  });

  it('answers an HttpException with the same status and body in both', async () => {
    const id = fresh();
    const [computed, collapsed] = await bothAsk('proc-missing', `/err/missing/${id}`);
    expect(computed).toMatchObject({ status: 404, body: { message: `no item ${id}`, id } });
    expect(collapsed).toMatchObject({
      status: 404,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed; detail=error',
    });
    expect(collapsed.body).toEqual(computed.body);
  });

  it("collapses a request in one process onto the other's computation, both answering its response", async () => {
    const id = fresh();
    const [computed, collapsed] = await bothAsk('proc-slow', `/err/slow/${id}`);
    expect(computed).toMatchObject({
      status: 200,
      body: { id, pid: a.pid },
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
    });
    expect(collapsed).toMatchObject({
      status: 200,
      body: { id, pid: a.pid },
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed',
    });
    expect(await b.get(`/err/slow/${id}`)).toMatchObject({
      body: { pid: a.pid },
      cacheStatus: 'nestjs-memolock; hit',
    });
  });
});

describe.each<Platform>(['express', 'fastify'])('a response that sets a cookie (%s)', (platform) => {
  let redis: TestRedis;
  let app: AppProcess;
  beforeAll(async () => {
    redis = await startRedis();
    app = await spawnApp(redis.url, platform, 'cookies');
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  it(`is never shared when the handler sets it with ${platform === 'fastify' ? "@fastify/cookie's reply.setCookie()" : "Express's res.cookie()"}`, async () => {
    const first = await app.get('/cookie/1');
    const second = await app.get('/cookie/1');
    expect(first.headers['set-cookie']).toEqual([expect.stringMatching(/^visitor=token-\d+-1/)]);
    expect(second.headers['set-cookie']).toEqual([expect.stringMatching(/^visitor=token-\d+-2/)]);
    expect(second).toMatchObject({ cacheStatus: 'nestjs-memolock; fwd=bypass', body: { id: '1' } });
    expect(second.body.token).not.toBe(first.body.token);
    expect(await redis.client().keys('proc-cookie:*')).toEqual([]);
    expect(app.warnings.join('\n')).toContain(
      '@MemoLocked on CookieController.visit: the handler set a cookie',
    );
  });
});
