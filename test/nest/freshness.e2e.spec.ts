/**
 * Freshness and fail-safe through the Nest layer: `@MemoLocked` options and the module's defaults, on
 * provider methods and on routes over real HTTP (two app instances on one Redis, Express and Fastify). A
 * route's handler runs in the request that triggered it, which waits for it; every other request gets the
 * stale value at once, with `Cache-Status: ...; fwd=stale` (RFC 9211).
 */
import { Controller, Get, Injectable, Module, Param, Res, type DynamicModule } from '@nestjs/common';
import type Redis from 'ioredis';
import { MemoLocked, MemoLockModule } from '../../lib';
import { type HttpApp, type Platform, recordingLogger, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';
import { gate } from '../support/gate';

jest.setTimeout(30_000);

/** What each handler answers next, by resource: a value, an error to throw, and a gate to wait on. */
const script = new Map<string, { version: number; fail?: boolean; cookie?: boolean; gate?: Promise<void> }>();
const runs = new Map<string, number>();

async function play(key: string): Promise<{ key: string; version: number }> {
  runs.set(key, (runs.get(key) ?? 0) + 1);
  const step = script.get(key)!;
  await step.gate;
  if (step.fail) throw new Error(`${key} is down`);
  return { key, version: step.version };
}

interface PassthroughResponse {
  header?(name: string, value: string): void;
  setHeader?(name: string, value: string): void;
}
const setHeader = (res: PassthroughResponse, name: string, value: string) =>
  res.header ? res.header(name, value) : res.setHeader!(name, value);

/** The first version expires soon (the tests wait for it), later ones stay while the test looks at them. */
const shortFirst = (answer: { version: number }) => (answer.version === 1 ? 100 : 60_000);

@Injectable()
class QuotesService {
  // No grace of its own: the module's default applies.
  @MemoLocked({ tag: 'quotes', ttl: shortFirst, timeout: 10_000 })
  async quote(id: string) {
    return play(`quote:${id}`);
  }
}

@Controller()
class NewsController {
  constructor(private readonly quotes: QuotesService) {}

  @Get('news/:id')
  @MemoLocked({ tag: 'news', ttl: shortFirst, timeout: 10_000, grace: 60_000 })
  async news(@Param('id') id: string, @Res({ passthrough: true }) res: PassthroughResponse) {
    const answer = await play(`news:${id}`);
    setHeader(res, 'x-version', String(answer.version));
    if (script.get(`news:${id}`)!.cookie) setHeader(res, 'set-cookie', 'session=1');
    return answer;
  }

  @Get('quotes/:id')
  quote(@Param('id') id: string) {
    return this.quotes.quote(id);
  }
}

@Module({ controllers: [NewsController], providers: [QuotesService] })
class NewsModule {}

function appModule(redisUrl: string): DynamicModule {
  return {
    module: class FreshnessAppModule {},
    imports: [
      MemoLockModule.forRoot({ redis: redisUrl, isGlobal: true, grace: 60_000, failSafeThrottle: 60_000 }),
      NewsModule,
    ],
  };
}

describe.each<Platform>(['express', 'fastify'])('freshness through Nest (%s)', (platform) => {
  let redis: TestRedis;
  let admin: Redis;
  let a: HttpApp;
  let b: HttpApp;
  let n = 0;
  const fresh = () => `${platform}-${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    a = await startApp(appModule(redis.url), platform);
    b = await startApp(appModule(redis.url), platform, { logger: recordingLogger() });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  const expired = (key: string) => until(async () => (await admin.exists(key)) === 0, `${key} expired`);

  it('answers other requests with the stale response at once (fwd=stale) while the triggering request runs its handler', async () => {
    const id = fresh();
    const key = `news:${id}`;
    script.set(key, { version: 1 });
    expect(await a.get(`/news/${id}`)).toMatchObject({
      status: 200,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
      body: { key, version: 1 },
    });
    await expired(`news:${await newsId(id)}`);

    const held = gate();
    script.set(key, { version: 2, gate: held.opened });
    const triggering = a.get(`/news/${id}`);
    await until(() => runs.get(key) === 2, 'the handler runs again');
    // Meanwhile, in both apps: the stale response, whole (status, the handler's header, body).
    for (const app of [b, a]) {
      const stale = await app.get(`/news/${id}`);
      expect(stale).toMatchObject({
        status: 200,
        cacheStatus: 'nestjs-memolock; fwd=stale',
        body: { key, version: 1 },
      });
      expect(stale.headers['x-version']).toBe('1');
    }
    held.open();
    const answer = await triggering;
    expect(answer).toMatchObject({
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
      body: { version: 2 },
    });
    expect(answer.headers['x-version']).toBe('2');
    expect(await b.get(`/news/${id}`)).toMatchObject({
      cacheStatus: 'nestjs-memolock; hit',
      body: { version: 2 },
    });
    expect(runs.get(key)).toBe(2);
  });

  it('answers the stale response when the handler fails (fail-safe), in the request that ran it too', async () => {
    const id = fresh();
    const key = `news:${id}`;
    script.set(key, { version: 1 });
    await a.get(`/news/${id}`);
    await expired(`news:${await newsId(id)}`);
    script.set(key, { version: 2, fail: true });
    const answers = await Promise.all([a.get(`/news/${id}`), b.get(`/news/${id}`), a.get(`/news/${id}`)]);
    for (const answer of answers) {
      expect(answer).toMatchObject({
        status: 200,
        cacheStatus: 'nestjs-memolock; fwd=stale',
        body: { version: 1 },
      });
      expect(answer.headers['x-version']).toBe('1');
    }
    expect(runs.get(key)).toBe(2); // one attempt, then fail-safe's pause (60 s here)
  });

  it('never hides a response that cannot be shared behind a stale one', async () => {
    const id = fresh();
    const key = `news:${id}`;
    script.set(key, { version: 1 });
    await a.get(`/news/${id}`);
    await expired(`news:${await newsId(id)}`);
    script.set(key, { version: 2, cookie: true });
    const answer = await a.get(`/news/${id}`);
    expect(answer).toMatchObject({
      status: 200,
      cacheStatus: 'nestjs-memolock; fwd=bypass',
      body: { version: 2 },
    });
  });

  it('gives a provider method the module’s grace: the stale value at once, one recomputation', async () => {
    const id = fresh();
    const key = `quote:${id}`;
    script.set(key, { version: 1 });
    expect((await a.get(`/quotes/${id}`)).body).toEqual({ key, version: 1 });
    await expired(`quotes:${id}`);
    const held = gate();
    script.set(key, { version: 2, gate: held.opened });
    // The method's computation is a closure, not a response: it runs in the background, nobody waits.
    expect((await a.get(`/quotes/${id}`)).body).toEqual({ key, version: 1 });
    expect((await b.get(`/quotes/${id}`)).body).toEqual({ key, version: 1 });
    held.open();
    await until(async () => (await b.get(`/quotes/${id}`)).body.version === 2, 'version 2 served');
    expect(runs.get(key)).toBe(2);
  });

  /** The resource id a route gets for `/news/:id` (host and path): found by its record, which outlives it. */
  async function newsId(id: string): Promise<string> {
    const found = (await admin.keys('news/meta:*')).find((k) => k.endsWith(`/news/${id}?`))!;
    return found.slice('news/meta:'.length);
  }
});
