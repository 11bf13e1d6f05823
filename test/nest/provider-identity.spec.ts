/**
 * SPEC §5 for provider methods (issue 8, problems 2, 3, 6, 7 and 8): one tag per concrete (class, method)
 * pair, arguments encoded injectively with their types, nothing silently left unmemoized, synchronous
 * methods refused at startup, and invalidation without knowing the id format. Real Redis.
 */
import {
  Controller,
  Get,
  Global,
  Inject,
  Injectable,
  Module,
  type OnModuleInit,
  Param,
  Scope,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import { MemoLockArgumentError, MemoLocked, MemoLockModule, MemoLockService } from '../../lib';
import { recordingLogger } from '../app/http-app';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(30_000);

let redis: TestRedis;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
});
afterAll(() => redis.stop());

/** Starts an app; one that fails to start is closed, so its connection does not outlive the test. */
async function boot(providers: any[], imports: any[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: [MemoLockModule.forRoot({ redis: redis.url }), ...imports],
    providers,
  }).compile();
  moduleRef.useLogger(false);
  const app = moduleRef.createNestApplication();
  try {
    return await app.init();
  } catch (error) {
    await app.close();
    throw error;
  }
}

describe('one tag per (class, method)', () => {
  abstract class Repository {
    abstract readonly table: string;
    @MemoLocked('repo', 60_000, 5_000)
    async findById(id: string) {
      return `${this.table} row ${id}`;
    }
  }
  @Injectable()
  class UserRepository extends Repository {
    readonly table = 'users';
  }
  @Injectable()
  class OrderRepository extends Repository {
    readonly table = 'orders';
  }

  it('refuses at startup an inherited method whose classes would share entries, naming them', async () => {
    await expect(boot([UserRepository, OrderRepository])).rejects.toThrow(
      /tag "repo" is used by (UserRepository\.findById, OrderRepository\.findById|OrderRepository\.findById, UserRepository\.findById)/,
    );
  });

  it('refuses two classes using one tag without keys', async () => {
    @Injectable()
    class A {
      @MemoLocked('same', 60_000, 5_000)
      async get(id: string) {
        return `a${id}`;
      }
    }
    @Injectable()
    class B {
      @MemoLocked('same', 60_000, 5_000)
      async get(id: string) {
        return `b${id}`;
      }
    }
    await expect(boot([A, B])).rejects.toThrow(MemoLockArgumentError);
  });

  it('lets an inherited method share its tag when it says so and its key tells the classes apart', async () => {
    abstract class Shared {
      abstract readonly table: string;
      @MemoLocked({
        tag: 'repo2',
        ttl: 60_000,
        timeout: 5_000,
        shared: true,
        key(this: Shared, id: string) {
          return `${this.table}/${id}`;
        },
      })
      async findById(id: string) {
        return `${this.table} row ${id}`;
      }
    }
    @Injectable()
    class Users extends Shared {
      readonly table = 'users';
    }
    @Injectable()
    class Orders extends Shared {
      readonly table = 'orders';
    }
    const app = await boot([Users, Orders]);
    expect(await app.get(Users).findById('1')).toBe('users row 1');
    expect(await app.get(Orders).findById('1')).toBe('orders row 1');
    expect(await admin.get('repo2:orders/1')).toBe('"orders row 1"');
    await app.close();
  });

  it('memoizes an inherited method of a single concrete class under its tag', async () => {
    const app = await boot([UserRepository]);
    expect(await app.get(UserRepository).findById('7')).toBe('users row 7');
    expect(await admin.get('repo:7')).toBe('"users row 7"');
    await app.close();
  });
});

describe('several instances of one class', () => {
  class Repository {
    constructor(readonly table: string) {}
    @MemoLocked('instances-repo', 60_000, 5_000)
    async findById(id: string) {
      return `${this.table} row ${id}`;
    }
  }
  const repositories = [
    { provide: 'USERS', useFactory: () => new Repository('users') },
    { provide: 'ORDERS', useFactory: () => new Repository('orders') },
  ];

  it('refuses at startup a method of a class with two instances, naming it and both remedies', async () => {
    const refusal = boot(repositories);
    await expect(refusal).rejects.toThrow(MemoLockArgumentError);
    await expect(refusal).rejects.toThrow(
      /@MemoLocked on Repository\.findById: the application has 2 instances of Repository .* Give the method a key that tells the instances apart .* or declare shared: true/,
    );
    expect(await admin.keys('instances-repo:*')).toEqual([]);
  });

  it("keeps two instances apart with a key that reads this, and invalidation drops each instance's entry", async () => {
    class Keyed {
      constructor(readonly table: string) {}
      @MemoLocked({
        tag: 'instances-keyed',
        ttl: 60_000,
        timeout: 5_000,
        key(this: Keyed, id: string) {
          return `${this.table}/${id}`;
        },
      })
      async findById(id: string) {
        return `${this.table} row ${id}`;
      }
    }
    const app = await boot([
      { provide: 'USERS', useFactory: () => new Keyed('users') },
      { provide: 'ORDERS', useFactory: () => new Keyed('orders') },
    ]);
    expect(await app.get<Keyed>('USERS').findById('1')).toBe('users row 1');
    expect(await app.get<Keyed>('ORDERS').findById('1')).toBe('orders row 1');
    expect((await admin.keys('instances-keyed:*')).sort()).toEqual([
      'instances-keyed:orders/1',
      'instances-keyed:users/1',
    ]);
    await app.get(MemoLockService).invalidate(Keyed, 'findById', '1');
    expect(await admin.keys('instances-keyed:*')).toEqual([]);
    await app.close();
  });

  it('lets instances share entries when the method says shared: true', async () => {
    class Config {
      constructor(readonly source: string) {}
      @MemoLocked({ tag: 'instances-shared', ttl: 60_000, timeout: 5_000, shared: true })
      async value(name: string) {
        return `${name} from ${this.source}`;
      }
    }
    const app = await boot([
      { provide: 'A', useFactory: () => new Config('a') },
      { provide: 'B', useFactory: () => new Config('b') },
    ]);
    expect(await app.get<Config>('A').value('x')).toBe('x from a');
    expect(await app.get<Config>('B').value('x')).toBe('x from a');
    await app.close();
  });

  it('counts one instance once, whatever tokens provide it', async () => {
    const users = new Repository('users');
    const app = await boot([
      { provide: 'USERS', useValue: users },
      { provide: 'ALSO_USERS', useValue: users },
    ]);
    expect(await app.get<Repository>('ALSO_USERS').findById('2')).toBe('users row 2');
    await app.close();
  });

  it('refuses a class provided in two modules', async () => {
    @Injectable()
    class Catalog {
      @MemoLocked('instances-catalog', 60_000, 5_000)
      async item(id: string) {
        return id;
      }
    }
    @Module({ providers: [Catalog] })
    class ShopModule {}
    @Module({ providers: [Catalog] })
    class AdminModule {}
    await expect(boot([], [ShopModule, AdminModule])).rejects.toThrow(
      /@MemoLocked on Catalog\.item: the application has 2 instances of Catalog/,
    );
  });

  it('refuses a transient provider made for two consumers, each of which may configure its own', async () => {
    @Injectable({ scope: Scope.TRANSIENT })
    class Client {
      @MemoLocked('instances-transient', 60_000, 5_000)
      async get(path: string) {
        return path;
      }
    }
    @Injectable()
    class First {
      constructor(@Inject(Client) readonly client: Client) {}
    }
    @Injectable()
    class Second {
      constructor(@Inject(Client) readonly client: Client) {}
    }
    await expect(boot([Client, First, Second])).rejects.toThrow(
      /@MemoLocked on Client\.get: the application has 2 instances of Client/,
    );
  });
});

describe('a route and a provider method', () => {
  it('never share a tag, keys and shared: true notwithstanding: a startup error names them', async () => {
    @Injectable()
    class Users {
      @MemoLocked({ tag: 'user', ttl: 60_000, timeout: 5_000, shared: true, key: (id: string) => id })
      async find(id: string) {
        return { id };
      }
    }
    @Controller('users')
    class UsersController {
      @Get(':id')
      @MemoLocked({
        tag: 'user',
        ttl: 60_000,
        timeout: 5_000,
        shared: true,
        key: (_ctx, req: { params: { id: string } }) => req.params.id,
      })
      get(@Param('id') id: string) {
        return { id };
      }
    }
    @Module({ controllers: [UsersController] })
    class UsersModule {}
    await expect(boot([Users], [UsersModule])).rejects.toThrow(
      /tag "user" is used by the route UsersController\.get and the provider method Users\.find: .*Give them different tags/,
    );
  });
});

describe('an override of a memoized method', () => {
  class Base {
    @MemoLocked('override-base', 60_000, 5_000)
    async find(id: string) {
      return `base ${id}`;
    }
  }
  @Injectable()
  class Child extends Base {
    @MemoLocked('override-child', 60_000, 5_000)
    override async find(id: string) {
      return `child of ${await super.find(id)}`;
    }
  }

  it('answers when it calls super, memoizing itself and running the base method as written, with one warning', async () => {
    const logger = recordingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: redis.url })],
      providers: [Child],
    }).compile();
    moduleRef.useLogger(logger);
    const app = await moduleRef.createNestApplication().init();
    const started = performance.now();
    expect(await app.get(Child).find('1')).toBe('child of base 1');
    expect(await app.get(Child).find('2')).toBe('child of base 2');
    expect(performance.now() - started).toBeLessThan(4_000); // not the 5 s timeout of a flight awaiting itself
    expect(await admin.get('override-child:1')).toBe('"child of base 1"');
    expect(await admin.exists('override-base:1')).toBe(0);
    expect(logger.warnings.filter((w) => w.includes('Base.find'))).toEqual([
      '@MemoLocked on Base.find is not memoized when Child.find, which overrides it, calls it through super: it runs as written (Child.find itself is memoized).',
    ]);
    await app.close();
  });
});

describe('argument identity', () => {
  const computed: string[] = [];
  class Point {
    #secret = 1;
    constructor(readonly x: number) {}
    get secret() {
      return this.#secret;
    }
  }
  @Injectable()
  class Search {
    @MemoLocked('search', 60_000, 5_000)
    async search(...args: unknown[]) {
      const id = args.map((a) => (typeof a === 'string' ? `s:${a}` : String(a))).join('|');
      computed.push(id);
      return id;
    }
  }

  it('gives different argument lists different entries', async () => {
    const app = await boot([Search]);
    const search = app.get(Search);
    expect(await search.search('["foo",2]')).toBe('s:["foo",2]');
    expect(await search.search('foo', 2)).toBe('s:foo|2');
    expect(await search.search(1)).toBe('1');
    expect(await search.search('1')).toBe('s:1');
    expect(await search.search(NaN, 1)).toBe('NaN|1');
    expect(await search.search(null, 1)).toBe('null|1');
    expect(await search.search('(x)')).toBe('s:(x)');
    expect(computed).toHaveLength(7);
    // A lone string stays the id itself, readable by Go/C# peers.
    expect(await admin.get('search:["foo",2]')).toBe(JSON.stringify('s:["foo",2]'));
    expect(await admin.exists('search:("foo",2)', 'search:(1)', 'search:(NaN,1)', 'search:("(x)")')).toBe(4);
    await app.close();
  });

  it.each([
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a RegExp', /a/],
    ['an object with #private fields', new Point(1)],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
    ],
  ])('rejects %s before anything reaches Redis, asking for a key', async (_what, arg) => {
    const app = await boot([Search]);
    await resetStats(admin);
    const call = app.get(Search).search(arg);
    await expect(call).rejects.toBeInstanceOf(MemoLockArgumentError);
    await expect(call).rejects.toThrow(/@MemoLocked on Search\.search: .*give @MemoLocked a key function/);
    const stats = await commandStats(admin);
    expect([stats.get, stats.set, stats.evalsha]).toEqual([undefined, undefined, undefined]);
    await app.close();
  });

  it('identifies an object with toJSON by its class and JSON (a URL by its href)', async () => {
    const app = await boot([Search]);
    await app.get(Search).search(new URL('https://example.com/a'));
    expect(await admin.exists('search:(URL("https://example.com/a"))')).toBe(1);
    await app.close();
  });
});

describe('no silent no-ops', () => {
  let runs = 0;
  @Injectable({ scope: Scope.TRANSIENT })
  class Counter {
    @MemoLocked('transient', 60_000, 5_000)
    async next(id: string) {
      runs++;
      return `${id}-${runs}`;
    }
  }
  @Injectable()
  class UsesCounter {
    constructor(readonly counter: Counter) {}
  }

  it('memoizes the methods of transient providers', async () => {
    runs = 0;
    const app = await boot([Counter, UsesCounter]);
    const counter = app.get(UsesCounter).counter;
    expect([await counter.next('t'), await counter.next('t')]).toEqual(['t-1', 't-1']);
    expect(runs).toBe(1);
    await app.close();
  });

  it("memoizes calls made from another module's onModuleInit, even one initialized before MemoLockModule's", async () => {
    let computations = 0;
    @Injectable()
    class Warm {
      @MemoLocked('warm', 60_000, 5_000)
      async value(id: string) {
        computations++;
        return id;
      }
    }
    const seen: string[] = [];
    @Injectable()
    class Warmer implements OnModuleInit {
      constructor(private readonly warm: Warm) {}
      async onModuleInit() {
        seen.push(await this.warm.value('w'), await this.warm.value('w'));
      }
    }
    @Module({ providers: [Warm], exports: [Warm] })
    class WarmModule {}
    @Module({ imports: [WarmModule], providers: [Warmer] })
    class WarmerModule {}
    // Deeper than MemoLockModule, so Nest initializes it first.
    @Module({ imports: [WarmerModule] })
    class FeatureModule {}
    const app = await boot([], [FeatureModule]);
    expect(seen).toEqual(['w', 'w']);
    expect(computations).toBe(1);
    expect(await admin.get('warm:w')).toBe('"w"');
    await app.close();
  });

  it("memoizes calls from the onModuleInit of the application's own global module, imported before MemoLockModule", async () => {
    let computations = 0;
    @Injectable()
    class Warm {
      @MemoLocked('warm-global', 60_000, 5_000)
      async value(id: string) {
        computations++;
        return id;
      }
    }
    @Injectable()
    class Warmer implements OnModuleInit {
      constructor(@Inject(Warm) private readonly warm: Warm) {}
      async onModuleInit() {
        await this.warm.value('w');
        await this.warm.value('w');
      }
    }
    @Global()
    @Module({ providers: [Warm, Warmer], exports: [Warm] })
    class CoreModule {}
    const logger = recordingLogger();
    // Global modules run their hooks in the order Nest found them: CoreModule comes first here.
    const moduleRef = await Test.createTestingModule({
      imports: [CoreModule, MemoLockModule.forRoot({ redis: redis.url })],
    }).compile();
    moduleRef.useLogger(logger);
    const app = await moduleRef.createNestApplication().init();
    expect(computations).toBe(1);
    expect(await admin.get('warm-global:w')).toBe('"w"');
    expect(logger.warnings.filter((w) => w.includes('Warm.value'))).toEqual([]);
    await app.close();
  });

  it('says that a call made while Nest creates instances (from a factory) is not memoized, and why', async () => {
    let computations = 0;
    @Injectable()
    class Settings {
      @MemoLocked('early-settings', 60_000, 5_000)
      async load(name: string) {
        computations++;
        return name;
      }
    }
    const logger = recordingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: redis.url })],
      providers: [
        Settings,
        { provide: 'LOADED', useFactory: (s: Settings) => s.load('early'), inject: [Settings] },
      ],
    })
      .setLogger(logger)
      .compile();
    const app = await moduleRef.createNestApplication().init();
    try {
      expect(await app.get('LOADED')).toBe('early');
      // Which message depends on whether Nest had made MemoLock's explorer yet; each says why.
      expect(logger.warnings.filter((w) => w.includes('Settings.load'))).toEqual([
        expect.stringContaining(
          'A call made from a constructor or a factory, while Nest is still creating instances, is never memoized',
        ),
      ]);
      await app.get(Settings).load('later');
      await app.get(Settings).load('later');
      expect(computations).toBe(2); // the early call, then one for both later ones
    } finally {
      await app.close();
    }
  });

  it('warns once per method when no MemoLockModule exists, and still runs the method', async () => {
    let calls = 0;
    @Injectable()
    class Lonely {
      @MemoLocked('lonely', 60_000, 5_000)
      async get(id: string) {
        calls++;
        return id;
      }
    }
    const logger = recordingLogger();
    const moduleRef = await Test.createTestingModule({ providers: [Lonely] }).compile();
    moduleRef.useLogger(logger);
    const app = await moduleRef.init();
    expect([await app.get(Lonely).get('a'), await app.get(Lonely).get('a')]).toEqual(['a', 'a']);
    expect(calls).toBe(2);
    expect(logger.warnings.filter((w) => w.includes('Lonely.get'))).toEqual([
      expect.stringContaining('@MemoLocked on Lonely.get is not memoized: no MemoLockModule is initialized'),
    ]);
    await app.close();
  });
});

describe('honest types', () => {
  it('refuses a synchronous provider method at startup', async () => {
    @Injectable()
    class Sync {
      @MemoLocked('sync', 60_000, 5_000)
      inc(n: number) {
        return n + 1;
      }
    }
    await expect(boot([Sync])).rejects.toThrow(
      /@MemoLocked on Sync\.inc: a provider method must return a Promise \(declare it async\)/,
    );
  });

  it('accepts a method declared to return a Promise without async', async () => {
    @Injectable()
    class Declared {
      @MemoLocked('declared', 60_000, 5_000)
      get(id: string): Promise<string> {
        return Promise.resolve(`got ${id}`);
      }
    }
    const app = await boot([Declared]);
    expect(await app.get(Declared).get('x')).toBe('got x');
    await app.close();
  });
  it('without emitted metadata (esbuild, tsx), accepts the method and refuses a synchronous result per call', async () => {
    @Injectable()
    class Unannotated {
      @MemoLocked('no-metadata-sync', 60_000, 5_000)
      inc(n: number) {
        return n + 1;
      }

      @MemoLocked('no-metadata-promise', 60_000, 5_000)
      get(id: string) {
        return Promise.resolve(`got ${id}`);
      }
    }
    // What a build without emitDecoratorMetadata leaves: no design:* metadata at all.
    for (const name of ['inc', 'get']) {
      for (const key of ['design:type', 'design:paramtypes', 'design:returntype']) {
        Reflect.deleteMetadata(key, Unannotated.prototype, name);
      }
    }
    const app = await boot([Unannotated]);
    const instance = app.get(Unannotated) as unknown as {
      inc(n: number): Promise<number>;
      get(id: string): Promise<string>;
    };
    expect(await instance.get('x')).toBe('got x');
    await expect(instance.inc(1)).rejects.toThrow(
      /@MemoLocked on Unannotated\.inc: a provider method must return a Promise \(declare it async\); it returned 2/,
    );
    await app.close();
  });
});

describe('invalidation without knowing the id format', () => {
  let computations = 0;
  @Injectable()
  class Likes {
    @MemoLocked('likes-inv', 60_000, 5_000)
    async likesOf(user: string) {
      computations++;
      return [user, computations];
    }

    @MemoLocked('report-inv', 60_000, 5_000)
    async report(filter: { year: number; region: string }, final: boolean) {
      computations++;
      return { filter, final, computations };
    }
  }

  it('drops one call by its arguments, and every value of a tag', async () => {
    const app = await boot([Likes]);
    const likes = app.get(Likes);
    const memoLock = app.get(MemoLockService);
    await likes.likesOf('kristoff');
    await likes.report({ year: 2024, region: 'eu' }, true);
    expect(await admin.exists('likes-inv:kristoff')).toBe(1);

    await memoLock.invalidate(Likes, 'likesOf', 'kristoff');
    expect(await admin.exists('likes-inv:kristoff')).toBe(0);
    await memoLock.invalidate(Likes, 'report', { region: 'eu', year: 2024 }, true);
    expect(await admin.keys('report-inv:*')).toEqual([]);

    await likes.likesOf('a');
    await likes.likesOf('b');
    expect(await memoLock.invalidateAll(Likes, 'likesOf')).toBe(2);
    await likes.likesOf('a');
    expect(await memoLock.invalidateAll('likes-inv')).toBe(1);
    await expect(memoLock.invalidate(Likes, 'missing' as never)).rejects.toThrow(
      /No @MemoLocked method Likes\.missing/,
    );
    await app.close();
  });
});
