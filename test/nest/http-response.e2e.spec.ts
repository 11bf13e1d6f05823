/**
 * SPEC §5, the memoized HTTP response (issue 8, problems 4 and 5): the whole response is memoized (status,
 * handler-set headers, body, `undefined` included), a response setting a cookie is never shared, and
 * failures answer alike in every process: HttpExceptions as themselves, anything else as Nest's generic
 * 500, a caller's timeout as 503 with Retry-After, each with Cache-Status. Two app instances share one real
 * Redis, on Express and on Fastify.
 */
import { Controller, type DynamicModule, Get, HttpCode, Module, Param, Res } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { MemoLocked, MemoLockModule } from '../../lib';
import { type HttpApp, type Platform, recordingLogger, startApp } from '../app/http-app';
import { EntityNotFound, EntityNotFoundFilter } from '../app/entity-not-found';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(30_000);

const runs = new Map<string, number>();
const ran = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);

/** What Express's `res` and Fastify's `reply` have in common. */
interface Reply {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

const GENERIC_500 = { statusCode: 500, message: 'Internal server error' };

@Controller('resp')
class ResponseController {
  @Get('entity/:id')
  @MemoLocked('resp-entity', 60_000, 5_000)
  async entity(@Param('id') id: string) {
    ran(`entity:${id}`);
    await sleep(300);
    throw new EntityNotFound(`row ${id} not in table users`);
  }

  @Get('nothing/:id')
  @MemoLocked('resp-nothing', 60_000, 5_000)
  async nothing(@Param('id') id: string) {
    ran(`nothing:${id}`);
  }

  @Get('passthrough/:id')
  @MemoLocked('resp-passthrough', 60_000, 5_000)
  passthrough(@Param('id') id: string, @Res({ passthrough: true }) res: Reply) {
    ran(`passthrough:${id}`);
    res.status(203);
    res.header('content-type', 'text/plain; charset=utf-8');
    res.header('etag', `"v-${id}"`);
    return `plain ${id}`;
  }

  @Get('accepted/:id')
  @HttpCode(202)
  @MemoLocked('resp-accepted', 60_000, 5_000)
  accepted(@Param('id') id: string) {
    return { id };
  }

  @Get('cookie/:id')
  @MemoLocked('resp-cookie', 60_000, 5_000)
  cookie(@Param('id') id: string, @Res({ passthrough: true }) res: Reply) {
    ran(`cookie:${id}`);
    res.header('set-cookie', `session=${id}-${runs.get(`cookie:${id}`)}`);
    return { id };
  }

  @Get('axios/:id')
  @MemoLocked('resp-axios', 60_000, 5_000)
  async axios(@Param('id') id: string) {
    ran(`axios:${id}`);
    await sleep(300);
    throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { name: 'AxiosError', status: 404 });
  }

  @Get('http-error/:id')
  @MemoLocked('resp-http-error', 60_000, 5_000)
  async httpError(@Param('id') _id: string) {
    await sleep(300);
    throw Object.assign(new Error('no such file /srv/secret/config'), { statusCode: 404, expose: true });
  }

  @Get('slow/:id')
  @MemoLocked('resp-slow', 60_000, 300)
  async slow(@Param('id') id: string) {
    await sleep(1_500);
    return { id };
  }
}

@Module({
  controllers: [ResponseController],
  providers: [{ provide: APP_FILTER, useClass: EntityNotFoundFilter }],
})
class ResponseFeatureModule {}

const appModule = (url: string): DynamicModule => ({
  module: class ResponseAppModule {},
  imports: [MemoLockModule.forRoot({ redis: url }), ResponseFeatureModule],
});

describe.each<Platform>(['express', 'fastify'])('the memoized HTTP response (%s)', (platform) => {
  let redis: TestRedis;
  let a: HttpApp;
  let b: HttpApp;
  let n = 0;
  const fresh = () => `${platform}-${++n}`;
  const logger = recordingLogger();

  beforeAll(async () => {
    redis = await startRedis();
    a = await startApp(appModule(redis.url), platform, { logger });
    b = await startApp(appModule(redis.url), platform, { logger });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('answers a handler returning undefined with 200 and an empty body, as Nest does, and memoizes it', async () => {
    const id = fresh();
    const first = await a.get(`/resp/nothing/${id}`);
    const second = await b.get(`/resp/nothing/${id}`);
    expect(first).toMatchObject({ status: 200, text: '' });
    expect(second).toMatchObject({ status: 200, text: '', cacheStatus: 'nestjs-memolock; hit' });
    expect(runs.get(`nothing:${id}`)).toBe(1);
  });

  it('replays the status and headers a passthrough handler set', async () => {
    const id = fresh();
    const first = await a.get(`/resp/passthrough/${id}`);
    const hit = await b.get(`/resp/passthrough/${id}`);
    for (const answer of [first, hit]) {
      expect(answer.status).toBe(203);
      expect(answer.text).toBe(`plain ${id}`);
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
      expect(answer.headers.etag).toBe(`"v-${id}"`);
    }
    expect(hit.cacheStatus).toBe('nestjs-memolock; hit');
    expect(runs.get(`passthrough:${id}`)).toBe(1);
  });

  it('keeps the @HttpCode status on hits', async () => {
    const id = fresh();
    await a.get(`/resp/accepted/${id}`);
    expect(await b.get(`/resp/accepted/${id}`)).toMatchObject({
      status: 202,
      cacheStatus: 'nestjs-memolock; hit',
      body: { id },
    });
  });

  it('never shares a response that sets a cookie', async () => {
    const id = fresh();
    const first = await a.get(`/resp/cookie/${id}`);
    const second = await b.get(`/resp/cookie/${id}`);
    const third = await b.get(`/resp/cookie/${id}`);
    expect(first.headers['set-cookie']).toEqual([`session=${id}-1`]);
    expect(second.headers['set-cookie']).toEqual([`session=${id}-2`]);
    expect(third.headers['set-cookie']).toEqual([`session=${id}-3`]);
    expect([second.cacheStatus, third.cacheStatus]).toEqual([
      'nestjs-memolock; fwd=bypass',
      'nestjs-memolock; fwd=bypass',
    ]);
    expect(await redis.client().keys('resp-cookie:*')).toEqual([]);
    expect(logger.warnings.join('\n')).toContain(
      '@MemoLocked on ResponseController.cookie: the handler set a cookie',
    );
  });

  it.each([
    ['a provider value', { id: 'x', name: 'user x' }],
    ['a string', 'plain text'],
    ['an envelope with a status out of range', { status: 42, body: 'x' }],
    ['an envelope with other fields', { status: 200, body: 'x', extra: true }],
  ])(
    'never replays %s that another program wrote under the route key: runs the handler, warns once',
    async (_what, foreign) => {
      const id = fresh();
      const key = `resp-accepted:127.0.0.1/resp/accepted/${id}?`;
      await redis.client().set(key, JSON.stringify(foreign), 'PX', 60_000);
      const answer = await a.get(`/resp/accepted/${id}`);
      expect(answer).toMatchObject({ status: 202, body: { id }, cacheStatus: 'nestjs-memolock; fwd=bypass' });
      expect(await redis.client().get(key)).toBe(JSON.stringify(foreign)); // left alone
      expect(
        logger.warnings.filter((w) =>
          w.includes('ResponseController.accepted: an entry of tag "resp-accepted"'),
        ),
      ).toHaveLength(1);
    },
  );

  it("answers a non-HTTP error carrying a status with Nest's generic 500 in both processes, never its message", async () => {
    const id = fresh();
    const holder = a.get(`/resp/axios/${id}`);
    await sleep(100);
    const [first, waiter] = await Promise.all([holder, b.get(`/resp/axios/${id}`)]);
    expect(first).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; detail=error',
    });
    expect(waiter).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed; detail=error',
    });
    expect(runs.get(`axios:${id}`)).toBe(1);
  });

  it('answers a domain error that an exception filter maps to 404 with the same generic 500 in both processes', async () => {
    const id = fresh();
    const holder = a.get(`/resp/entity/${id}`);
    await until(
      async () => (await redis.client().exists(`resp-entity/lock:127.0.0.1/resp/entity/${id}?`)) === 1,
      'a computes',
    );
    const [first, waiter] = await Promise.all([holder, b.get(`/resp/entity/${id}`)]);
    expect(first).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; detail=error',
    });
    expect(waiter).toMatchObject({
      status: 500,
      body: GENERIC_500,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed; detail=error',
    });
    expect(runs.get(`entity:${id}`)).toBe(1);
  });

  it('answers an http-errors style error (statusCode, expose) with the generic 500 in the computing process too', async () => {
    const id = fresh();
    const holder = a.get(`/resp/http-error/${id}`);
    await sleep(100);
    const [first, waiter] = await Promise.all([holder, b.get(`/resp/http-error/${id}`)]);
    expect(first).toMatchObject({ status: 500, body: GENERIC_500 });
    expect(waiter).toMatchObject({ status: 500, body: GENERIC_500 });
    expect(first.text + waiter.text).not.toContain('/srv/secret');
  });

  it("answers a caller's timeout with 503 and Retry-After, and the computation still stores its value", async () => {
    const id = fresh();
    const late = await a.get(`/resp/slow/${id}`);
    expect(late).toMatchObject({
      status: 503,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; detail=timeout',
      body: { statusCode: 503 },
    });
    expect(late.headers['retry-after']).toBe('1');
    await sleep(1_500);
    expect(await b.get(`/resp/slow/${id}`)).toMatchObject({
      status: 200,
      cacheStatus: 'nestjs-memolock; hit',
    });
  });
});
