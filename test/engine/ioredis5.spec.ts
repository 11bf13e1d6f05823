/**
 * ioredis is a peer dependency (^5.4 || ^6): the engine and the module take a client of either major, at
 * run time and in their types. The types part is checked when this file compiles (ts-jest type-checks it),
 * the run-time part against a real Redis with ioredis 5 clients (the rest of the suite uses ioredis 6).
 */
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cluster as Cluster6, Redis as Redis6 } from 'ioredis';
import { type Cluster as Cluster5, Redis as Redis5 } from 'ioredis5';
import {
  type IoRedisClient,
  MemoLocked,
  MemoLockModule,
  MemoLockRemoteComputationError,
  RedisMemoLockEngine,
} from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { gate } from '../support/gate';
import { until } from '../support/until';

/**
 * Never called: it only has to compile. A client of either major, a Cluster of either, and an ioredis 6
 * client with the RESP3 reply mapping (`Redis<"resp3">`, where a plain `Redis` is `Redis<"legacy">`).
 */
export function everyClientTypeChecks(
  clients: [Redis5, Cluster5, Redis6, Cluster6, Redis6<'resp3'>],
): unknown[] {
  const made: unknown[] = [];
  const named: IoRedisClient[] = clients; // the structural type, exported under this name
  made.push(named);
  for (const client of clients) {
    made.push(new RedisMemoLockEngine({ client }));
    made.push(MemoLockModule.forRoot({ redis: client }));
    made.push(MemoLockModule.forRootAsync({ useFactory: () => ({ redis: client, closeClient: true }) }));
  }
  // @ts-expect-error a URL is not a client: the engine takes a connection, the module takes URLs
  made.push(new RedisMemoLockEngine({ client: 'redis://127.0.0.1:6379' }));
  return made;
}

describe('ioredis 5 clients', () => {
  let redis: TestRedis;
  const clients: Redis5[] = [];
  const engines: RedisMemoLockEngine[] = [];
  const client5 = () => {
    const client = new Redis5(redis.url, { maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  };
  const engine5 = () => {
    const engine = new RedisMemoLockEngine({ client: client5() });
    engines.push(engine);
    return engine;
  };

  beforeAll(async () => (redis = await startRedis()));
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
    await Promise.all(clients.splice(0).map((client) => client.quit()));
  });
  afterAll(() => redis.stop());

  /** Whether the tag's pattern subscription is active in Redis (a message published now reaches a waiter). */
  const subscribed = async (tag: string) => (await client5().publish(`${tag}/probe`, '')) > 0;

  it('compute once: a waiter on another connection is woken by the value over Pub/Sub', async () => {
    const [a, b] = [engine5(), engine5()];
    const admin = client5();
    let computations = 0;
    const computing = gate();
    const compute = async () => {
      computations++;
      await computing.opened;
      return { value: { from: 'a' }, ttl: 60_000 };
    };
    const first = a.memoLock('v5', { lockTimeout: 10_000 }).getResource('x', 15_000, compute);
    await until(async () => (await admin.exists('v5/lock:x')) === 1, 'the lock is held');
    const second = b.memoLock('v5', { lockTimeout: 10_000 }).getResource('x', 15_000, compute);
    await until(() => subscribed('v5'), 'the waiter is subscribed');
    const started = Date.now();
    computing.open();
    expect(await second).toEqual({ from: 'a' });
    expect(await first).toEqual({ from: 'a' });
    expect(computations).toBe(1);
    // Woken by the message, not at the lease's end (which would also bring the value).
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await admin.get('v5:x')).toBe('{"from":"a"}');
  });

  it('a failure reaches the waiter on another connection at once, not at its timeout', async () => {
    const [a, b] = [engine5(), engine5()];
    const admin = client5();
    const failure = gate();
    const failing = expect(
      a.memoLock('v5-fail', { lockTimeout: 5_000 }).getResource('x', 5_000, async () => {
        await failure.opened;
        throw new Error('the database is down');
      }),
    ).rejects.toThrow('the database is down');
    await until(async () => (await admin.exists('v5-fail/lock:x')) === 1, 'the lock is held');
    const waiter = b
      .memoLock('v5-fail', { lockTimeout: 5_000 })
      .getResource('x', 10_000, async () => ({ value: 'never', ttl: 1_000 }));
    await until(() => subscribed('v5-fail'), 'the waiter is subscribed');
    const started = Date.now();
    failure.open();
    await expect(waiter).rejects.toBeInstanceOf(MemoLockRemoteComputationError);
    await failing;
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('MemoLockModule serves decorated methods through a client you pass in, and leaves it open', async () => {
    @Injectable()
    class Likes {
      calls = 0;
      @MemoLocked('v5-likes', 60_000, 5_000)
      async of(user: string) {
        this.calls++;
        return [`${user} likes redis`];
      }
    }
    const client = client5();
    const moduleRef = await Test.createTestingModule({
      // A command timeout no loaded machine reaches: a store timing out would leave the call uncached.
      imports: [MemoLockModule.forRoot({ redis: client, commandTimeout: 10_000 })],
      providers: [Likes],
    }).compile();
    const app = await moduleRef.init();
    const likes = app.get(Likes);
    expect(await Promise.all([likes.of('kristoff'), likes.of('kristoff')])).toEqual([
      ['kristoff likes redis'],
      ['kristoff likes redis'],
    ]);
    expect(likes.calls).toBe(1);
    expect(await client.get('v5-likes:kristoff')).toBe('["kristoff likes redis"]');
    await app.close();
    expect(client.status).toBe('ready');
  });
});
