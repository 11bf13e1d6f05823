/**
 * MemoLockModule wiring: forRoot and forRootAsync, what `redis` accepts, the engine as a provider, defaults,
 * and shutdown.
 */
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import {
  InMemoryMemoLockEngine,
  MemoLockArgumentError,
  MemoLocked,
  MemoLockEngine,
  MemoLockModule,
  MemoLockService,
  RedisMemoLockEngine,
} from '../../lib';
import { forRoot, LikesService } from '../app/fixtures';
import { startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

const clientCount = async (admin: Redis) =>
  Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))![1]);

describe('MemoLockModule', () => {
  let redis: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  it('forRootAsync takes its options from ConfigService', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ MEMOLOCK_REDIS: redis.url, MEMOLOCK_LOCK_TIMEOUT: 4_000 })],
        }),
        MemoLockModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            redis: config.getOrThrow<string>('MEMOLOCK_REDIS'),
            lockTimeout: config.getOrThrow<number>('MEMOLOCK_LOCK_TIMEOUT'),
          }),
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    const service = app.get(MemoLockService);
    expect(app.get(MemoLockEngine)).toBeInstanceOf(RedisMemoLockEngine);
    const handle = service.memoLock('async-config');
    expect(handle.lockTimeout).toBe(4_000); // the module default
    expect(await handle.getResource('x', 1_000, async () => ({ value: 'from config', ttl: 60_000 }))).toBe(
      'from config',
    );
    expect(await admin.get('async-config:x')).toBe('"from config"');
    await app.close();
  });

  it('applies module defaults (serializer, lockTimeout) to every tag, and a provider key function names the id', async () => {
    @Injectable()
    class Words {
      @MemoLocked({
        tag: 'words',
        ttl: 60_000,
        timeout: 1_000,
        key: (word: string, lang: string) => `${lang}/${word}`,
      })
      async upper(word: string, _lang: string) {
        return word.toUpperCase();
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: redis.url, serializer: 'raw', lockTimeout: 3_000 })],
      providers: [Words],
    }).compile();
    const app = await moduleRef.init();
    expect(await app.get(Words).upper('hallo', 'de')).toBe('HALLO');
    expect(await admin.get('words:de/hallo')).toBe('HALLO'); // raw: byte for byte, not JSON
    expect(app.get(MemoLockService).memoLock('defaults').lockTimeout).toBe(3_000);
    await app.close();
  });

  it("uses the in-memory engine with redis: 'memory'", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 'memory', lockTimeout: 1_000 })],
    }).compile();
    const app = await moduleRef.init();
    expect(app.get(MemoLockEngine)).toBeInstanceOf(InMemoryMemoLockEngine);
    const handle = app.get(MemoLockService).memoLock('mem');
    expect(await handle.getResource('x', 1_000, async () => ({ value: 1, ttl: 1_000 }))).toBe(1);
    await app.close();
  });

  it('accepts ioredis options, and closes the connection it opened on shutdown', async () => {
    const before = await clientCount(admin);
    const moduleRef = await Test.createTestingModule({
      imports: [
        MemoLockModule.forRoot({ redis: { host: '127.0.0.1', port: redis.port }, lockTimeout: 1_000 }),
      ],
    }).compile();
    const app = await moduleRef.init();
    await app
      .get(MemoLockService)
      .memoLock('opts')
      .getResource('x', 1_000, async () => ({ value: 1, ttl: 1_000 }));
    expect(await clientCount(admin)).toBe(before + 1);
    await app.close();
    await sleep(50);
    expect(await clientCount(admin)).toBe(before);
  });

  it('leaves a client passed in open on shutdown', async () => {
    const client = new Redis(redis.url);
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: client, lockTimeout: 1_000 })],
    }).compile();
    const app = await moduleRef.init();
    await app
      .get(MemoLockService)
      .memoLock('mine')
      .getResource('x', 1_000, async () => ({ value: 1, ttl: 1_000 }));
    await app.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('rejects a pending waiter with MemoLockClosedError on app.close(), and the HTTP request answers 503', async () => {
    const http = await startApp(forRoot({ redis: redis.url }), 'express');
    await admin.set('items/lock:127.0.0.1/items/pending?', 'elsewhere', 'PX', 20_000);
    const pending = http.get('/items/pending');
    await sleep(300);
    const started = Date.now();
    await http.close();
    const response = await pending;
    expect(response).toMatchObject({
      status: 503,
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; collapsed; detail=closed',
      body: { statusCode: 503, message: 'The server is shutting down.' },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects a missing lockTimeout, naming it', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 'memory' })],
    }).compile();
    const app = await moduleRef.init();
    expect(() => app.get(MemoLockService).memoLock('t')).toThrow(MemoLockArgumentError);
    expect(() => app.get(MemoLockService).memoLock('t')).toThrow(/"lockTimeout"/);
    await app.close();
  });

  it('rejects bad freshness defaults at startup, naming them', async () => {
    for (const [options, argument] of [
      [{ grace: -1 }, 'options.grace'],
      [{ earlyRefresh: { beta: NaN } }, 'options.earlyRefresh.beta'],
      [{ failSafeThrottle: 0 }, 'options.failSafeThrottle'],
    ] as const) {
      const compile = Test.createTestingModule({
        imports: [MemoLockModule.forRoot({ redis: 'memory', lockTimeout: 1_000, ...options })],
      }).compile();
      await expect(compile).rejects.toThrow(`Invalid argument "${argument}"`);
    }
  });

  it('applies freshness defaults to the tags it makes, and lets a tag override them', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 'memory', lockTimeout: 1_000, grace: 60_000 })],
    }).compile();
    const app = await moduleRef.init();
    const service = app.get(MemoLockService);
    const withDefault = service.memoLock('d');
    const withOwn = service.memoLock('o', { grace: 0 });
    for (const handle of [withDefault, withOwn]) {
      await handle.getResource('k', 1_000, async () => ({ value: 'v1', ttl: 20 }));
    }
    await new Promise((resolve) => setTimeout(resolve, 40));
    const next = async () => ({ value: 'v2', ttl: 60_000 });
    expect(await withDefault.getResourceWithStatus('k', 1_000, next)).toEqual({
      value: 'v1',
      status: 'stale',
    });
    expect(await withOwn.getResourceWithStatus('k', 1_000, next)).toEqual({ value: 'v2', status: 'stored' });
    await app.close();
  });

  it('rejects a bad redis option at startup, naming it', async () => {
    const compile = Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 42 as never })],
    }).compile();
    await expect(compile).rejects.toThrow(/Invalid argument "redis"/);
  });

  it('is global with isGlobal, so feature modules inject MemoLockService without importing it', async () => {
    @Injectable()
    class Feature {
      constructor(readonly memoLock: MemoLockService) {}
    }
    @Module({ providers: [Feature] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        MemoLockModule.forRoot({ redis: 'memory', isGlobal: true, lockTimeout: 1_000 }),
        FeatureModule,
      ],
    }).compile();
    expect(moduleRef.get(Feature).memoLock).toBeInstanceOf(MemoLockService);
    await moduleRef.close();
  });
});

describe('@MemoLocked on provider methods', () => {
  it('keeps this, arguments and the value; derives the key stably from object arguments; ttl may be a function', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [forRoot({ redis: 'memory' })] }).compile();
    const app = await moduleRef.init();
    const likes = app.get(LikesService);
    expect(await likes.likesOf('anna')).toEqual({ user: 'anna', likes: ['redis', 'nest'] });
    expect(await likes.likesOf('anna')).toEqual({ user: 'anna', likes: ['redis', 'nest'] });
    expect(likes.calls).toEqual(['anna']); // `this` is the instance

    await likes.report({ year: 2024, region: 'eu' }, true);
    await likes.report({ region: 'eu', year: 2024 }, true); // same resource, keys in another order
    const { computations } = await import('../app/fixtures');
    expect(computations.get('report:{"year":2024,"region":"eu"}')).toBe(1);

    await likes.report({ year: 1999, region: 'us' }, false); // ttl 50 ms for a non-final report
    await sleep(100);
    await likes.report({ year: 1999, region: 'us' }, false);
    expect(computations.get('report:{"year":1999,"region":"us"}')).toBe(2);
    await app.close();
  });
});
