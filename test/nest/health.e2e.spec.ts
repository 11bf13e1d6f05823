/**
 * MemoLockHealthIndicator with the real @nestjs/terminus over HTTP: up with a round trip while Redis
 * answers, down (503) once it does not, up again after; down too while the subscriber connection is lost
 * (Redis refusing new connections), though commands answer; the in-memory engine is always up.
 */
import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { MemoLockModule, type MemoLockModuleOptions, MemoLockService } from '../../lib';
import { MemoLockHealthIndicator } from '../../lib/terminus';
import { startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

jest.setTimeout(30_000);

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly memoLock: MemoLockHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.memoLock.isHealthy('memolock')]);
  }
}

function appModule(options: MemoLockModuleOptions) {
  @Module({
    imports: [
      TerminusModule.forRoot({ logger: false }),
      MemoLockModule.forRoot({ ...options, isGlobal: true }),
    ],
    controllers: [HealthController],
    providers: [MemoLockHealthIndicator],
  })
  class HealthAppModule {}
  return { module: HealthAppModule };
}

describe('MemoLockHealthIndicator', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('is up with the round trip while Redis answers, down when it does not, and up again when it is back', async () => {
    if (!redis.owned) return;
    const app = await startApp(appModule({ redis: redis.url, commandTimeout: 300 }), 'express');
    try {
      const up = await app.get('/health');
      expect(up.status).toBe(200);
      expect(up.body.info.memolock).toEqual({
        status: 'up',
        engine: 'redis',
        roundTripMs: expect.any(Number),
        subscriber: 'idle',
      });
      expect(up.body.info.memolock.roundTripMs).toBeLessThan(300);

      await redis.kill();
      const down = await app.get('/health');
      expect(down.status).toBe(503);
      expect(down.body.error.memolock).toMatchObject({
        status: 'down',
        engine: 'redis',
        error: expect.any(String),
      });

      await redis.restart();
      await until(async () => (await app.get('/health')).status === 200, 'the health is up again', 10_000);
    } finally {
      await app.close();
    }
  });

  it('reports the subscriber connection as ready once a waiter opened it', async () => {
    const app = await startApp(appModule({ redis: redis.url, lockTimeout: 1_000 }), 'fastify');
    try {
      const handle = app.app.get(MemoLockService).memoLock('health');
      // A waiter opens the subscriber connection: the lock is held elsewhere, so the call waits.
      await redis.client().set('health/lock:k', 'elsewhere', 'PX', 200);
      await handle.getResource('k', 5_000, () => ({ value: 1, ttl: 60_000 }));
      const answer = await app.get('/health');
      expect(answer.status).toBe(200);
      expect(answer.body.info.memolock).toMatchObject({ status: 'up', subscriber: 'ready' });
    } finally {
      await app.close();
    }
  });

  it('is down while the subscriber connection is lost though commands answer, and up once it is back', async () => {
    if (!redis.owned) return;
    const admin = redis.client();
    const app = await startApp(appModule({ redis: redis.url, lockTimeout: 1_000 }), 'express');
    try {
      // A waiter keeps the subscriber connection subscribed (CLIENT KILL TYPE pubsub drops only such ones).
      await admin.set('lost/lock:k', 'elsewhere', 'PX', 20_000);
      const waiting = app.app
        .get(MemoLockService)
        .memoLock('lost')
        .getResource('k', 15_000, () => ({ value: 'computed', ttl: 60_000 }));
      await until(async () => Number(await admin.pubsub('NUMPAT')) === 1, 'the waiter is subscribed');
      expect((await app.get('/health')).body.info.memolock.subscriber).toBe('ready');

      // Redis refuses new connections, then drops the subscriber's: it cannot come back while that holds,
      // and the engine's command connection still answers.
      const connected = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))![1]);
      await admin.config('SET', 'maxclients', String(connected - 1));
      try {
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        await until(async () => (await app.get('/health')).status === 503, 'the health is down');
        const down = await app.get('/health');
        expect(down.body.error.memolock).toMatchObject({
          status: 'down',
          engine: 'redis',
          roundTripMs: expect.any(Number),
          error: expect.stringMatching(/subscriber/i),
        });
        expect(down.body.error.memolock.subscriber).not.toBe('ready');
      } finally {
        await admin.config('SET', 'maxclients', '10000');
      }
      await until(async () => (await app.get('/health')).status === 200, 'the health is up again', 10_000);
      expect((await app.get('/health')).body.info.memolock.subscriber).toBe('ready');
      // The waiter subscribed again and is woken as usual.
      await until(async () => Number(await admin.pubsub('NUMPAT')) === 1, 'the waiter is subscribed again');
      await admin.multi().set('lost:k', '"theirs"').publish('lost/notif:k', '"theirs"').exec();
      await expect(waiting).resolves.toBe('theirs');
    } finally {
      await app.close();
    }
  });

  it('is always up with the in-memory engine', async () => {
    const app = await startApp(appModule({ redis: 'memory' }), 'express');
    try {
      const answer = await app.get('/health');
      expect(answer.status).toBe(200);
      expect(answer.body.info.memolock).toEqual({ status: 'up', engine: 'memory' });
    } finally {
      await app.close();
    }
  });
});
