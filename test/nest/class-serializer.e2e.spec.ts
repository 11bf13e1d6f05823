/**
 * Nest's serialization recipe keeps working with memoized routes: `ClassSerializerInterceptor` and
 * class-transformer's `@Exclude()` (the real packages), registered per controller, with
 * `app.useGlobalInterceptors()` and as an `APP_INTERCEPTOR` of the root module. An excluded field never
 * reaches a response, in the computing process, a waiting one or on a hit, nor Redis.
 */
import {
  ClassSerializerInterceptor,
  Controller,
  type DynamicModule,
  Get,
  type INestApplication,
  Param,
  Scope,
  UseInterceptors,
} from '@nestjs/common';
import { APP_INTERCEPTOR, Reflector } from '@nestjs/core';
import { Exclude, Expose } from 'class-transformer';
import { MemoLocked, MemoLockModule } from '../../lib';
import { type HttpApp, type Platform, recordingLogger, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

jest.setTimeout(30_000);

class UserEntity {
  id!: string;
  name!: string;
  @Exclude()
  password!: string;

  constructor(partial: Partial<UserEntity>) {
    Object.assign(this, partial);
  }
}

/** Only what is exposed: with `strategy: 'excludeAll'` a plain object would serialize to `{}`. */
class PublicUser {
  @Expose() id!: string;
  @Expose() name!: string;
  password!: string;

  constructor(partial: Partial<PublicUser>) {
    Object.assign(this, partial);
  }
}

const user = async (id: string) => {
  await sleep(200);
  return new UserEntity({ id, name: `user ${id}`, password: `secret-${id}` });
};

@Controller('scoped')
@UseInterceptors(ClassSerializerInterceptor)
class ScopedController {
  @Get(':id')
  @MemoLocked('csi-scoped', 60_000, 5_000)
  find(@Param('id') id: string) {
    return user(id);
  }
}

@Controller('global')
class GlobalController {
  @Get(':id')
  @MemoLocked('csi-global', 60_000, 5_000)
  find(@Param('id') id: string) {
    return user(id);
  }

  @Get('exposed/:id')
  @MemoLocked('csi-exposed', 60_000, 5_000)
  async exposed(@Param('id') id: string) {
    await sleep(200);
    return new PublicUser({ id, name: `user ${id}`, password: `secret-${id}` });
  }
}

type Registration = 'controller' | 'useGlobalInterceptors' | 'APP_INTERCEPTOR';

function setup(registration: Registration, url: string, excludeAll = false) {
  const options = excludeAll ? { strategy: 'excludeAll' as const } : {};
  const module: DynamicModule = {
    module: class SerializerAppModule {},
    imports: [MemoLockModule.forRoot({ redis: url })],
    controllers: registration === 'controller' ? [ScopedController] : [GlobalController],
    providers:
      registration === 'APP_INTERCEPTOR'
        ? [
            {
              provide: APP_INTERCEPTOR,
              useFactory: (reflector: Reflector) => new ClassSerializerInterceptor(reflector, options),
              inject: [Reflector],
            },
          ]
        : [],
  };
  const configure =
    registration === 'useGlobalInterceptors'
      ? (app: INestApplication) =>
          app.useGlobalInterceptors(new ClassSerializerInterceptor(app.get(Reflector), options))
      : undefined;
  return { module, configure };
}

describe.each<[Platform, Registration]>([
  ['express', 'controller'],
  ['express', 'useGlobalInterceptors'],
  ['express', 'APP_INTERCEPTOR'],
  ['fastify', 'controller'],
  ['fastify', 'useGlobalInterceptors'],
  ['fastify', 'APP_INTERCEPTOR'],
])('ClassSerializerInterceptor with a memoized route (%s, %s)', (platform, registration) => {
  let redis: TestRedis;
  let apps: HttpApp[] = [];
  const path = registration === 'controller' ? '/scoped' : '/global';

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });
  afterAll(() => redis.stop());

  const start = async (excludeAll = false) => {
    const { module, configure } = setup(registration, redis.url, excludeAll);
    apps = [await startApp(module, platform, { configure }), await startApp(module, platform, { configure })];
    return apps;
  };

  it('never answers nor stores an @Exclude() field: computing, waiting and hit', async () => {
    const [a, b] = await start();
    const computing = a.get(`${path}/1`);
    await sleep(50);
    const [first, waiter] = await Promise.all([computing, b.get(`${path}/1`)]);
    const hit = await b.get(`${path}/1`);
    const expected = { id: '1', name: 'user 1' };
    expect([first.body, waiter.body, hit.body]).toEqual([expected, expected, expected]);
    // Which of the two concurrent requests computes depends on timing; one computes, one waits.
    expect([first.cacheStatus, waiter.cacheStatus].sort()).toEqual([
      'nestjs-memolock; fwd=uri-miss; collapsed',
      'nestjs-memolock; fwd=uri-miss; stored',
    ]);
    expect(hit.cacheStatus).toBe('nestjs-memolock; hit');
    const [key] = await redis.client().keys('csi-*');
    const stored = (await redis.client().get(key))!;
    expect(stored).not.toContain('secret');
    expect(JSON.parse(stored).body).toEqual(expected);
    await redis.client().flushall();
  });

  if (registration !== 'controller') {
    it("keeps @Expose() fields with strategy 'excludeAll' on hits too", async () => {
      const [a, b] = await start(true);
      const first = await a.get('/global/exposed/2');
      const hit = await b.get('/global/exposed/2');
      expect(first.body).toEqual({ id: '2', name: 'user 2' });
      expect(hit).toMatchObject({ cacheStatus: 'nestjs-memolock; hit', body: { id: '2', name: 'user 2' } });
      await redis.client().flushall();
    });
  }
});

@Controller('per-request')
class PerRequestController {
  @Get('keyed/:id')
  @MemoLocked({
    tag: 'csi-per-request',
    ttl: 60_000,
    timeout: 5_000,
    key: (_ctx, req: { params: { id: string } }) => req.params.id,
  })
  keyed(@Param('id') id: string) {
    return user(id);
  }

  @Get('unkeyed/:id')
  @MemoLocked('csi-per-request-unkeyed', 60_000, 5_000)
  unkeyed(@Param('id') id: string) {
    return user(id);
  }
}

describe.each<Platform>(['express', 'fastify'])(
  'a request-scoped APP_INTERCEPTOR serializer (%s)',
  (platform) => {
    // Nest keeps request-scoped global interceptors apart and runs them after every static one, so always
    // inside MemoLock's; and it makes every controller request-scoped, which only a key covers.
    let redis: TestRedis;
    let apps: HttpApp[];
    const logger = recordingLogger();

    beforeAll(async () => {
      redis = await startRedis();
      const module: DynamicModule = {
        module: class PerRequestSerializerAppModule {},
        imports: [MemoLockModule.forRoot({ redis: redis.url })],
        controllers: [PerRequestController],
        providers: [
          {
            provide: APP_INTERCEPTOR,
            scope: Scope.REQUEST,
            useFactory: (reflector: Reflector) => new ClassSerializerInterceptor(reflector),
            inject: [Reflector],
          },
        ],
      };
      apps = [await startApp(module, platform, { logger }), await startApp(module, platform, { logger })];
    });
    afterAll(async () => {
      await Promise.all(apps.map((app) => app.close()));
      await redis.stop();
    });

    it('runs inside MemoLock: a keyed route never stores nor answers an @Exclude() field', async () => {
      const [a, b] = apps;
      const first = await a.get('/per-request/keyed/1');
      const hit = await b.get('/per-request/keyed/1');
      expect(first.body).toEqual({ id: '1', name: 'user 1' });
      expect(hit).toMatchObject({ cacheStatus: 'nestjs-memolock; hit', body: { id: '1', name: 'user 1' } });
      expect(await redis.client().get('csi-per-request:1')).not.toContain('secret');
    });

    it('makes an unkeyed route bypassed, as every request-scoped controller is, with a warning', async () => {
      const answer = await apps[0].get('/per-request/unkeyed/1');
      expect(answer).toMatchObject({
        cacheStatus: 'nestjs-memolock; fwd=bypass',
        body: { id: '1', name: 'user 1' },
      });
      expect(logger.warnings.join('\n')).toContain(
        '@MemoLocked on PerRequestController.unkeyed is bypassed: its controller is request-scoped',
      );
    });
  },
);
