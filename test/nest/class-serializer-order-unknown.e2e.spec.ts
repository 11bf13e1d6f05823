/**
 * When MemoLock cannot see Nest's list of global interceptors (a Nest version that keeps it where
 * `ModuleRef` does not reach), it cannot move an `APP_INTERCEPTOR` ClassSerializerInterceptor inside its
 * own: the serializer then runs outside, on what was stored, and an `@Exclude()` field would be stored and
 * shared. It says so at startup, and never shares a response holding class instances.
 *
 * That Nest version is simulated by handing the real `moveSerializersInside` a ModuleRef without the
 * container: everything else (Nest, class-transformer, Redis) is real.
 */
import { ClassSerializerInterceptor, Controller, type DynamicModule, Get, Param } from '@nestjs/common';
import { APP_INTERCEPTOR, Reflector } from '@nestjs/core';
import { Exclude } from 'class-transformer';
import { MemoLocked, MemoLockModule } from '../../lib';
import { type HttpApp, recordingLogger, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';

jest.mock('../../lib/memolock-serializer-order', () => {
  const real = jest.requireActual('../../lib/memolock-serializer-order');
  return {
    ...real,
    moveSerializersInside: (_moduleRef: unknown, ours: unknown) => real.moveSerializersInside({}, ours),
  };
});

jest.setTimeout(30_000);

class UserEntity {
  id!: string;
  @Exclude()
  password!: string;

  constructor(partial: Partial<UserEntity>) {
    Object.assign(this, partial);
  }
}

let runs = 0;

@Controller('users')
class UsersController {
  @Get(':id')
  @MemoLocked('unknown-order-user', 60_000, 5_000)
  async find(@Param('id') id: string) {
    runs++;
    return new UserEntity({ id, password: `secret-${id}` });
  }

  @Get('plain/:id')
  @MemoLocked('unknown-order-plain', 60_000, 5_000)
  async plain(@Param('id') id: string) {
    return { id, at: [new Date(0)] };
  }
}

describe('a global ClassSerializerInterceptor whose order MemoLock cannot verify', () => {
  let redis: TestRedis;
  let app: HttpApp;
  const logger = recordingLogger();

  beforeAll(async () => {
    redis = await startRedis();
    const module: DynamicModule = {
      module: class UnknownOrderAppModule {},
      imports: [MemoLockModule.forRoot({ redis: redis.url })],
      controllers: [UsersController],
      providers: [
        {
          provide: APP_INTERCEPTOR,
          useFactory: (reflector: Reflector) => new ClassSerializerInterceptor(reflector),
          inject: [Reflector],
        },
      ],
    };
    app = await startApp(module, 'express', { logger });
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('says so once, at startup', () => {
    expect(logger.warnings.filter((w) => w.includes('cannot see the order'))).toEqual([
      expect.stringContaining(
        "MemoLock cannot see the order of this Nest version's global interceptors, so it cannot make sure that a ClassSerializerInterceptor",
      ),
    ]);
  });

  it('never stores nor shares a response holding class instances: an @Exclude() field stays out', async () => {
    const first = await app.get('/users/1');
    const second = await app.get('/users/1');
    expect([first.body, second.body]).toEqual([{ id: '1' }, { id: '1' }]);
    expect(second.cacheStatus).toBe('nestjs-memolock; fwd=bypass');
    expect(runs).toBe(2);
    expect(await redis.client().keys('unknown-order-user:*')).toEqual([]);
    expect(logger.warnings.join('\n')).toContain(
      '@MemoLocked on UsersController.find: the handler answered class instances while the order of the global serializers is unknown',
    );
  });

  it('still memoizes a handler answering plain data (Dates included)', async () => {
    await app.get('/users/plain/1');
    expect(await app.get('/users/plain/1')).toMatchObject({
      cacheStatus: 'nestjs-memolock; hit',
      body: { id: '1', at: ['1970-01-01T00:00:00.000Z'] },
    });
  });
});
