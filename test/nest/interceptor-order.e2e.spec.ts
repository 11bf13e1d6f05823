/**
 * Which interceptors run on every request, and which only when the response is computed (README,
 * "Interceptors and middleware around a memoized route"): middleware and `APP_INTERCEPTOR`s registered
 * before MemoLock's (the root module's, those of modules imported before it) run outside it, on hits too;
 * those of modules imported after it, `app.useGlobalInterceptors()` and controller interceptors run inside
 * it, so the headers they set are part of the stored response and are replayed to every hit. A per-request
 * header (a request id) belongs outside.
 */
import {
  type CallHandler,
  Controller,
  type DynamicModule,
  type ExecutionContext,
  Get,
  type MiddlewareConsumer,
  Module,
  type NestInterceptor,
  type NestModule,
} from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { MemoLocked, MemoLockModule } from '../../lib';
import { type HttpApp, type Platform, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(30_000);

/** Sets `name` to a fresh value on each request it runs for. */
function stamping(name: string) {
  class Stamp implements NestInterceptor {
    constructor(private readonly adapterHost: HttpAdapterHost) {}
    intercept(context: ExecutionContext, next: CallHandler) {
      const response = context.switchToHttp().getResponse();
      this.adapterHost.httpAdapter.setHeader(response, name, randomUUID());
      return next.handle();
    }
  }
  return Stamp;
}
const RequestId = stamping('x-request-id');
const InnerStamp = stamping('x-inner-stamp');
const EarlyStamp = stamping('x-early-stamp');
const FeatureStamp = stamping('x-feature-stamp');
const stampProvider = (Stamp: ReturnType<typeof stamping>) => ({
  provide: APP_INTERCEPTOR,
  useFactory: (host: HttpAdapterHost) => new Stamp(host),
  inject: [HttpAdapterHost],
});

@Controller('order')
class OrderController {
  @Get()
  @MemoLocked('interceptor-order', 60_000, 5_000)
  get() {
    return { ok: true };
  }
}

describe.each<Platform>(['express', 'fastify'])('interceptors around a memoized route (%s)', (platform) => {
  let redis: TestRedis;
  let app: HttpApp;

  beforeAll(async () => {
    redis = await startRedis();
    @Module({ providers: [stampProvider(EarlyStamp)] })
    class EarlyModule {}
    @Module({ controllers: [OrderController], providers: [stampProvider(FeatureStamp)] })
    class FeatureModule implements NestModule {
      configure(consumer: MiddlewareConsumer) {
        consumer
          .apply((_req: unknown, res: { setHeader(n: string, v: string): void }, next: () => void) => {
            res.setHeader('x-middleware-stamp', randomUUID());
            next();
          })
          .forRoutes(OrderController);
      }
    }
    const module: DynamicModule = {
      module: class InterceptorOrderAppModule {},
      imports: [EarlyModule, MemoLockModule.forRoot({ redis: redis.url }), FeatureModule],
      // The root module's APP_INTERCEPTORs are registered before those of the modules it imports.
      providers: [stampProvider(RequestId)],
    };
    app = await startApp(module, platform, {
      configure: (nest) => nest.useGlobalInterceptors(new InnerStamp(nest.get(HttpAdapterHost))),
    });
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it("runs middleware and the APP_INTERCEPTORs of the root module and of modules imported before MemoLock's on every request, hits included", async () => {
    const first = await app.get('/order');
    const hit = await app.get('/order');
    expect(hit.cacheStatus).toBe('nestjs-memolock; hit');
    for (const name of ['x-request-id', 'x-middleware-stamp', 'x-early-stamp']) {
      expect(hit.headers[name]).toEqual(expect.any(String));
      expect(hit.headers[name]).not.toBe(first.headers[name]);
    }
  });

  it('runs app.useGlobalInterceptors() and the APP_INTERCEPTORs of modules imported after MemoLock only when computing: their headers are stored and replayed', async () => {
    const first = await app.get('/order?again=1');
    const hit = await app.get('/order?again=1');
    expect(hit.cacheStatus).toBe('nestjs-memolock; hit');
    expect(hit.headers['x-inner-stamp']).toBe(first.headers['x-inner-stamp']);
    expect(hit.headers['x-feature-stamp']).toBe(first.headers['x-feature-stamp']);
    const [key] = await redis.client().keys('interceptor-order:*again=1');
    const stored = JSON.parse((await redis.client().get(key))!);
    expect(stored.headers['x-inner-stamp']).toBe(first.headers['x-inner-stamp']);
    expect(stored.headers['x-request-id']).toBeUndefined(); // set before the handler ran: not the handler's
  });
});
