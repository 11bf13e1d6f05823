/**
 * SPEC §5, HTTP identity (issue 8, problem 1): a memoized route's default id covers the host (and so host
 * params), the path (and so params), the query and the `vary` headers; a handler that reads request data
 * the id does not cover, or writes the response itself, is bypassed with a startup warning naming it. Two
 * app instances share one real Redis, on Express and on Fastify.
 */
import {
  type CanActivate,
  Controller,
  createParamDecorator,
  type DynamicModule,
  type ExecutionContext,
  Get,
  Headers,
  HostParam,
  Inject,
  Injectable,
  Ip,
  Module,
  Param,
  Query,
  Req,
  Res,
  Scope,
  UseGuards,
} from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { MemoLocked, MemoLockModule, MemoLockService } from '../../lib';
import { type HttpApp, type Platform, recordingLogger, startApp } from '../app/http-app';
import { startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(30_000);

const runs = new Map<string, number>();
const ran = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);

const Tenant = createParamDecorator((_data, ctx) => ctx.switchToHttp().getRequest().headers['x-tenant']);

@Controller({ host: ':tenant.example.com', path: 'tenant' })
class TenantController {
  @Get('home')
  @MemoLocked('tenant-home', 60_000, 5_000)
  home(@HostParam('tenant') tenant: string) {
    ran(`home:${tenant}`);
    return { tenant };
  }
}

@Controller('search')
class SearchController {
  @Get()
  @MemoLocked('search', 60_000, 5_000)
  find(@Query('q') q: string) {
    ran(`search:${q}`);
    return { q };
  }
}

@Controller('lang')
class LanguageController {
  @Get('unvaried/:id')
  @MemoLocked('lang-unvaried', 60_000, 5_000)
  unvaried(@Param('id') id: string, @Headers('accept-language') lang: string) {
    ran(`unvaried:${id}:${lang}`);
    return { id, lang };
  }

  @Get('varied/:id')
  @MemoLocked({ tag: 'lang-varied', ttl: 60_000, timeout: 5_000, vary: ['Accept-Language'] })
  varied(@Param('id') id: string, @Headers('accept-language') lang: string) {
    ran(`varied:${id}:${lang}`);
    return { id, lang };
  }

  @Get('request')
  @MemoLocked('lang-request', 60_000, 5_000)
  request(@Req() req: { headers: Record<string, string> }) {
    return { lang: req.headers['accept-language'] };
  }

  @Get('ip')
  @MemoLocked('lang-ip', 60_000, 5_000)
  ip(@Ip() ip: string) {
    return { ip };
  }

  @Get('custom')
  @MemoLocked('lang-custom', 60_000, 5_000)
  custom(@Tenant() tenant: string) {
    ran(`custom:${tenant}`);
    return { tenant };
  }

  @Get('keyed')
  @MemoLocked({
    tag: 'lang-keyed',
    ttl: 60_000,
    timeout: 5_000,
    key: (_ctx, req: { headers: Record<string, string> }) => `tenant-${req.headers['x-tenant']}`,
  })
  keyed(@Tenant() tenant: string) {
    ran(`keyed:${tenant}`);
    return { tenant };
  }

  @Get('raw')
  @MemoLocked('lang-raw', 60_000, 5_000)
  raw(@Res() res: { send?: (b: string) => void; status?: unknown }) {
    ran('raw');
    // Express's res.send and Fastify's reply.send both take a string.
    res.send!('written by hand');
  }
}

/** Nest's multi-tenancy recipe: a request-scoped provider that reads the tenant from the request. */
@Injectable({ scope: Scope.REQUEST })
class TenantItems {
  constructor(@Inject(REQUEST) private readonly request: { headers: Record<string, string> }) {}
  list() {
    return [`item of ${this.request.headers['x-tenant']}`];
  }
}

@Controller('scoped')
class ScopedController {
  constructor(@Inject(TenantItems) private readonly items: TenantItems) {}

  @Get('items')
  @MemoLocked('scoped-items', 60_000, 5_000)
  items_() {
    ran('scoped-items');
    return this.items.list();
  }

  @Get('keyed')
  @MemoLocked({
    tag: 'scoped-keyed',
    ttl: 60_000,
    timeout: 5_000,
    key: (_ctx, req: { headers: Record<string, string> }) => `tenant-${req.headers['x-tenant']}`,
  })
  keyed() {
    ran('scoped-keyed');
    return this.items.list();
  }
}

/** A guard that fills `req.user` from an API key, read back by a custom decorator. */
class ApiKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext) {
    const request = context.switchToHttp().getRequest();
    request.user = { name: `user-of-${request.headers['x-api-key']}` };
    return true;
  }
}
const CurrentUser = createParamDecorator(
  (_data, ctx: ExecutionContext) => ctx.switchToHttp().getRequest().user,
);

@Controller('me')
@UseGuards(ApiKeyGuard)
class MeController {
  @Get('user')
  @MemoLocked({ tag: 'me-user', ttl: 60_000, timeout: 5_000, vary: ['accept-language'] })
  user(@CurrentUser() user: { name: string }) {
    return { hello: user.name };
  }

  @Get('request')
  @MemoLocked({ tag: 'me-request', ttl: 60_000, timeout: 5_000, vary: ['accept-language'] })
  request(@Req() req: { headers: Record<string, string> }) {
    return { key: req.headers['x-api-key'] };
  }

  @Get('headers')
  @MemoLocked({ tag: 'me-headers', ttl: 60_000, timeout: 5_000, vary: ['accept-language'] })
  headers(@Headers() headers: Record<string, string>) {
    return { key: headers['x-api-key'] };
  }
}

@Module({
  controllers: [TenantController, SearchController, LanguageController, ScopedController, MeController],
  providers: [TenantItems],
})
class IdentityFeatureModule {}

const appModule = (url: string): DynamicModule => ({
  module: class IdentityAppModule {},
  imports: [MemoLockModule.forRoot({ redis: url }), IdentityFeatureModule],
});

describe.each<Platform>(['express', 'fastify'])('HTTP resource identity (%s)', (platform) => {
  let redis: TestRedis;
  let a: HttpApp;
  let b: HttpApp;
  const logger = recordingLogger();

  beforeAll(async () => {
    runs.clear();
    redis = await startRedis();
    a = await startApp(appModule(redis.url), platform, { logger });
    b = await startApp(appModule(redis.url), platform, { logger });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('gives each tenant of a host-scoped controller its own entry', async () => {
    const acme = await a.get('/tenant/home', { host: 'acme.example.com' });
    const globex = await b.get('/tenant/home', { host: 'globex.example.com' });
    const acmeAgain = await b.get('/tenant/home', { host: 'acme.example.com:8080' });
    expect(acme).toMatchObject({ status: 200, body: { tenant: 'acme' } });
    expect(globex).toMatchObject({
      status: 200,
      body: { tenant: 'globex' },
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
    });
    expect(acmeAgain).toMatchObject({ body: { tenant: 'acme' }, cacheStatus: 'nestjs-memolock; hit' });
    expect([runs.get('home:acme'), runs.get('home:globex')]).toEqual([1, 1]);
    expect(await redis.client().exists('tenant-home:globex.example.com/tenant/home?')).toBe(1);
  });

  it('gives a host param read in another case its own entry', async () => {
    const upper = await a.get(`/tenant/home?case=${platform}`, { host: 'ACME.example.com' });
    const lower = await b.get(`/tenant/home?case=${platform}`, { host: 'acme.example.com' });
    expect(upper.body).toEqual({ tenant: 'ACME' });
    expect(lower).toMatchObject({
      body: { tenant: 'acme' },
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
    });
  });

  it('never lets two queries that the handler reads apart share an entry (invalid escapes included)', async () => {
    const ff = await a.get('/search?q=%FF');
    const fe = await b.get('/search?q=%FE');
    // Its own entry: Fastify's parser reads them apart; Express's makes both U+FFFD, which is still safe.
    expect(fe.cacheStatus).toBe('nestjs-memolock; fwd=uri-miss; stored');
    if (platform === 'fastify') expect(fe.body).not.toEqual(ff.body);
    const sorted = await b.get('/search?x=1&q=sorted');
    const reordered = await a.get('/search?q=sorted&x=1');
    expect(sorted.cacheStatus).toBe('nestjs-memolock; fwd=uri-miss; stored');
    expect(reordered).toMatchObject({ body: { q: 'sorted' }, cacheStatus: 'nestjs-memolock; hit' });
  });

  it("never serves one tenant's answer to another from a request-scoped controller: bypassed, with a warning", async () => {
    const acme = await a.get('/scoped/items', { 'x-tenant': 'acme' });
    const globex = await b.get('/scoped/items', { 'x-tenant': 'globex' });
    expect(acme.body).toEqual(['item of acme']);
    expect(globex).toMatchObject({ body: ['item of globex'], cacheStatus: 'nestjs-memolock; fwd=bypass' });
    expect(logger.warnings.join('\n')).toContain(
      '@MemoLocked on ScopedController.items_ is bypassed: its controller is request-scoped',
    );
  });

  it('memoizes a request-scoped controller per its key', async () => {
    await a.get('/scoped/keyed', { 'x-tenant': 'acme' });
    const acme = await b.get('/scoped/keyed', { 'x-tenant': 'acme' });
    const globex = await b.get('/scoped/keyed', { 'x-tenant': 'globex' });
    expect(acme).toMatchObject({ body: ['item of acme'], cacheStatus: 'nestjs-memolock; hit' });
    expect(globex.body).toEqual(['item of globex']);
    expect(runs.get('scoped-keyed')).toBe(2);
  });

  it.each([
    ['user', 'a custom parameter decorator', 'hello', 'user-of-bob'],
    ['request', '@Req()', 'key', 'bob'],
    ['headers', '@Headers()', 'key', 'bob'],
  ])(
    'never lets vary stand for what /me/%s reads (%s): only a key covers it',
    async (route, what, field, bobs) => {
      await a.get(`/me/${route}`, { 'x-api-key': 'alice', 'accept-language': 'en' });
      const bob = await b.get(`/me/${route}`, { 'x-api-key': 'bob', 'accept-language': 'en' });
      expect(bob).toMatchObject({ body: { [field]: bobs }, cacheStatus: 'nestjs-memolock; fwd=bypass' });
      expect(logger.warnings.join('\n')).toContain(
        `@MemoLocked on MeController.${route} is bypassed: it reads ${what}, which its resource id (host, path, query and vary headers) does not cover; give @MemoLocked a key that says how the answer varies, or read each header it needs with @Headers('name') and list it in vary.`,
      );
    },
  );

  it('bypasses a handler reading a header it does not vary on, and warns at startup', async () => {
    const en = await a.get('/lang/unvaried/1', { 'accept-language': 'en' });
    const fr = await b.get('/lang/unvaried/1', { 'accept-language': 'fr-FR' });
    expect(en.body).toEqual({ id: '1', lang: 'en' });
    expect(fr).toMatchObject({
      body: { id: '1', lang: 'fr-FR' },
      cacheStatus: 'nestjs-memolock; fwd=bypass',
    });
    expect(logger.warnings.join('\n')).toContain(
      "@MemoLocked on LanguageController.unvaried is bypassed: it reads @Headers('accept-language') (add it to vary)",
    );
  });

  it('memoizes per value of the vary headers', async () => {
    const en = await a.get('/lang/varied/1', { 'accept-language': 'en' });
    const fr = await b.get('/lang/varied/1', { 'accept-language': 'fr-FR' });
    const enAgain = await b.get('/lang/varied/1', { 'accept-language': 'en' });
    expect([en.body.lang, fr.body.lang, enAgain.body.lang]).toEqual(['en', 'fr-FR', 'en']);
    expect(enAgain.cacheStatus).toBe('nestjs-memolock; hit');
    expect(fr.cacheStatus).toBe('nestjs-memolock; fwd=uri-miss; stored');
    expect([runs.get('varied:1:en'), runs.get('varied:1:fr-FR')]).toEqual([1, 1]);
  });

  it.each([
    ['request', '@Req()'],
    ['ip', '@Ip()'],
    ['custom', 'a custom parameter decorator'],
  ])('bypasses /lang/%s, which reads %s, with a startup warning naming it', async (route, what) => {
    expect(logger.warnings.join('\n')).toMatch(
      new RegExp(
        `@MemoLocked on LanguageController\\.${route} is bypassed: it reads ${what.replace(/[()]/g, '\\$&')}`,
      ),
    );
    const answer = await a.get(`/lang/${route}`, { 'x-tenant': 'acme' });
    expect(answer.cacheStatus).toBe('nestjs-memolock; fwd=bypass');
  });

  it('serves two tenants of a custom decorator apart: bypassed without key, memoized per key with one', async () => {
    const acme = await a.get('/lang/custom', { 'x-tenant': 'acme' });
    const globex = await b.get('/lang/custom', { 'x-tenant': 'globex' });
    expect([acme.body.tenant, globex.body.tenant]).toEqual(['acme', 'globex']);
    await a.get('/lang/keyed', { 'x-tenant': 'acme' });
    const keyedAcme = await b.get('/lang/keyed', { 'x-tenant': 'acme' });
    const keyedGlobex = await b.get('/lang/keyed', { 'x-tenant': 'globex' });
    expect(keyedAcme).toMatchObject({ cacheStatus: 'nestjs-memolock; hit', body: { tenant: 'acme' } });
    expect(keyedGlobex.body).toEqual({ tenant: 'globex' });
  });

  it('bypasses a @Res() handler from startup on, without an error per request', async () => {
    expect(logger.warnings.join('\n')).toContain(
      '@MemoLocked on LanguageController.raw is bypassed: it writes the response itself with @Res()',
    );
    const first = await a.get('/lang/raw');
    const second = await a.get('/lang/raw');
    expect([first.text, second.text]).toEqual(['written by hand', 'written by hand']);
    expect(runs.get('raw')).toBe(2);
    expect(logger.errors.filter((e) => e.includes('MemoLock'))).toEqual([]);
  });
});

/** Nest 10 on Fastify 4: `request.hostname` kept the port, which Fastify 5 gives as `request.host` only. */
class HostnameWithPortAdapter extends FastifyAdapter {
  override getRequestHostname(request: { host: string }): string {
    return request.host;
  }
}

describe('a hostname given with its port (Nest 10 on Fastify 4)', () => {
  let redis: TestRedis;
  let app: HttpApp;
  beforeAll(async () => {
    redis = await startRedis();
    app = await startApp(appModule(redis.url), 'fastify', { fastify: new HostnameWithPortAdapter() });
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('is the same resource as without it, so that invalidateRoute drops its entry', async () => {
    runs.clear();
    const host = 'acme.example.com:3000';
    await app.get('/search?q=port', { host });
    expect((await app.get('/search?q=port', { host })).cacheStatus).toBe('nestjs-memolock; hit');
    await app.app
      .get(MemoLockService)
      .invalidateRoute(SearchController, 'find', { host, url: '/search?q=port' });
    const again = await app.get('/search?q=port', { host });
    expect(again).toMatchObject({
      body: { q: 'port' },
      cacheStatus: 'nestjs-memolock; fwd=uri-miss; stored',
    });
    expect(runs.get('search:port')).toBe(2);
  });
});
