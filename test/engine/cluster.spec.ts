/**
 * SPEC §4 on a Redis Cluster through an ioredis `Cluster` client: the value, the lock and the channel of a
 * resource live in different slots, usually on different masters, and waiters' subscriber connections sit
 * on random nodes. Classic PUBLISH reaches them all.
 */
import {
  MemoLockRemoteComputationError,
  MemoLockRenewError,
  MemoLockTimeoutError,
  type RedisMemoLockEngine,
} from '../../lib';
import { startCluster, type TestCluster } from '../support/redis-cluster';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(60_000);

describe('RedisMemoLockEngine on a Redis Cluster', () => {
  let cluster: TestCluster;
  let engines: RedisMemoLockEngine[];
  let n = 0;
  const ids = (count: number) => Array.from({ length: count }, () => `id${++n}`);

  beforeAll(async () => {
    cluster = await startCluster();
    engines = [cluster.engine(), cluster.engine(), cluster.engine()];
  });
  afterAll(async () => {
    await cluster?.stop();
    // When its subscriber connection is killed, ioredis's ClusterSubscriber disconnects the dead connection
    // again, arming its own 2 s disconnectTimeout timer that nothing clears: let it run out here.
    await sleep(2_100);
  });

  it('computes once per key for three engines x 20 callers, on keys spread over every master', async () => {
    const keys = ids(12);
    const computed = new Map<string, number>();
    const results = await Promise.all(
      keys.flatMap((id) =>
        engines.flatMap((engine) =>
          Array.from({ length: 20 }, () =>
            engine.memoLock('spread', { lockTimeout: 5_000 }).getResource(id, 10_000, async () => {
              computed.set(id, (computed.get(id) ?? 0) + 1);
              await sleep(200);
              return { value: `value of ${id}`, ttl: 60_000 };
            }),
          ),
        ),
      ),
    );
    expect(results).toHaveLength(12 * 3 * 20);
    for (const id of keys) expect(computed.get(id)).toBe(1);
    expect(new Set(results).size).toBe(12);
    const admin = cluster.client();
    expect(await admin.get(`spread:${keys[0]}`)).toBe(JSON.stringify(`value of ${keys[0]}`));
    // The keys really were spread: at least two masters hold some of them.
    const holders = new Set<number>();
    for (let i = 0; i < cluster.ports.length; i++) {
      const node = cluster.node(i);
      if ((await node.dbsize()) > 0) holders.add(i);
    }
    expect(holders.size).toBeGreaterThanOrEqual(2);
  });

  it('wakes waiters whose subscriber sits on another node than the one the value was published on', async () => {
    const [id] = ids(1);
    const admin = cluster.client();
    await admin.set(`far/lock:${id}`, 'peer', 'PX', 10_000);
    const waiting = Promise.all(
      engines.map((e) =>
        e
          .memoLock('far', { lockTimeout: 5_000 })
          .getResource(id, 8_000, async () => ({ value: 'no', ttl: 1 })),
      ),
    );
    await sleep(300);
    // A peer publishing through one node only, as a Go program connected to a single master would.
    for (let i = 0; i < cluster.ports.length; i++) {
      await cluster
        .node(i)
        .set(`far:${id}`, '"from one node"')
        .catch(() => undefined); // only the slot owner accepts
    }
    await cluster.node(0).publish(`far/notif:${id}`, '"from one node"');
    const started = Date.now();
    expect(await waiting).toEqual(['from one node', 'from one node', 'from one node']);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('publishes values where a Go waiter connected to any single node receives them', async () => {
    const [id] = ids(1);
    const received: string[][] = [[], [], []];
    const subscribers = cluster.ports.map((_, i) => cluster.node(i));
    await Promise.all(
      subscribers.map(async (sub, i) => {
        sub.on('pmessage', (_p, _channel, message) => received[i].push(message));
        await sub.psubscribe('go/notif:*');
      }),
    );
    await engines[0]
      .memoLock('go', { lockTimeout: 5_000, serializer: 'raw' })
      .getResource(id, 5_000, async () => ({ value: 'raw value', ttl: 60_000 }));
    await sleep(200);
    expect(received).toEqual([['raw value'], ['raw value'], ['raw value']]);
    await Promise.all(subscribers.map((sub) => sub.punsubscribe()));
  });

  it('propagates a failure to waiters of other engines within milliseconds and releases the lock', async () => {
    const [id] = ids(1);
    const holding = engines[0].memoLock('fail', { lockTimeout: 5_000 }).getResource(id, 10_000, async () => {
      await sleep(300);
      throw Object.assign(new Error('cluster boom'), { status: 502 });
    });
    await sleep(100);
    const started = Date.now();
    const waiter = await engines[1]
      .memoLock('fail', { lockTimeout: 5_000 })
      .getResource(id, 20_000, async () => ({ value: 'no', ttl: 1 }))
      .catch((e: unknown) => e);
    await expect(holding).rejects.toThrow('cluster boom');
    expect(waiter).toBeInstanceOf(MemoLockRemoteComputationError);
    expect((waiter as MemoLockRemoteComputationError).remote.status).toBe(502);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await cluster.client().exists(`fail/lock:${id}`)).toBe(0);
  });

  it('takes over a dead holder once its lock expires', async () => {
    const [id] = ids(1);
    await cluster.client().set(`dead/lock:${id}`, 'crashed', 'PX', 800);
    const started = Date.now();
    const value = await engines[2]
      .memoLock('dead', { lockTimeout: 5_000 })
      .getResource(id, 10_000, async () => ({ value: 'taken over', ttl: 1_000 }));
    expect(value).toBe('taken over');
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('renews on the lock key alone, and fails to renew a lost lease', async () => {
    const [a, b] = ids(2);
    const handle = engines[0].memoLock('renew', { lockTimeout: 300 });
    await expect(
      handle.getResourceRenewable(a, 5_000, async (renew) => {
        await sleep(200);
        await renew(1_000);
        await sleep(300);
        return { value: 'ok', ttl: 1_000 };
      }),
    ).resolves.toBe('ok');
    await expect(
      handle.getResourceRenewable(b, 5_000, async (renew) => {
        await sleep(500);
        await renew(1_000);
        return { value: 'never', ttl: 1_000 };
      }),
    ).rejects.toBeInstanceOf(MemoLockRenewError);
  });

  it('delivers a value published while the cluster subscriber connection was killed, by re-reading', async () => {
    const [id] = ids(1);
    const admin = cluster.client();
    await admin.set(`kill/lock:${id}`, 'peer', 'PX', 20_000);
    const waiting = engines[0]
      .memoLock('kill', { lockTimeout: 5_000 })
      .getResource(id, 15_000, async () => ({ value: 'no', ttl: 1 }));
    await sleep(300);
    // On the node holding the engine's subscriber: kill it and publish at once (one MULTI), so that the
    // message goes out before ioredis can re-subscribe anywhere.
    await admin.set(`kill:${id}`, '"published in the gap"');
    let killed = 0;
    for (let i = 0; i < cluster.ports.length; i++) {
      const node = cluster.node(i);
      const list = String(await node.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
      if (!list.includes('psub=1')) continue;
      const replies = await node
        .multi()
        .call('CLIENT', 'KILL', 'TYPE', 'pubsub')
        .publish(`kill/notif:${id}`, '"published in the gap"')
        .exec();
      killed += Number(replies![0][1]);
    }
    expect(killed).toBe(1);
    const started = Date.now();
    expect(await waiting).toBe('published in the gap');
    expect(Date.now() - started).toBeLessThan(5_000); // by the re-read, not the 20 s lease or 15 s timeout
  });

  it('keeps records and stale copies on their own slots: stale-while-revalidate, fail-safe and invalidation work there', async () => {
    const keys = ids(6);
    const admin = cluster.client();
    const options = { lockTimeout: 5_000, grace: 60_000, earlyRefresh: {}, failSafeThrottle: 60_000 };
    const handles = engines.map((e) => e.memoLock('fresh', options));
    await Promise.all(
      keys.map((id) => handles[0].getResource(id, 5_000, async () => ({ value: `v1 ${id}`, ttl: 100 }))),
    );
    // The value, its record and its stale copy: three slots, on more than one master.
    const slotsOf = async (id: string) =>
      Promise.all(
        [`fresh:${id}`, `fresh/meta:${id}`, `fresh/stale:${id}`].map((k) => admin.cluster('KEYSLOT', k)),
      );
    expect(new Set(await slotsOf(keys[0])).size).toBe(3);
    await sleep(150); // past every ttl
    let computations = 0;
    const failing = async (): Promise<never> => {
      computations++;
      throw new Error('down');
    };
    const stale = await Promise.all(
      keys.flatMap((id) => handles.map((h) => h.getResourceWithStatus(id, 5_000, failing))),
    );
    expect(stale).toEqual(keys.flatMap((id) => Array(3).fill({ value: `v1 ${id}`, status: 'stale' })));
    await Promise.all(
      keys.map((id) => until(async () => (await admin.exists(`fresh/throttle:${id}`)) === 1, 'paused')),
    );
    expect(computations).toBe(keys.length); // one attempt per key across three engines, then the pause

    await handles[1].invalidate(keys[0]);
    expect(await admin.exists(`fresh/meta:${keys[0]}`)).toBe(0);
    expect(await admin.exists(`fresh/stale:${keys[0]}`)).toBe(0);
    expect(await handles[2].invalidateAll()).toBe(0); // no value left, only stale copies: dropped, not counted
    for (const id of keys) expect(await admin.exists(`fresh/stale:${id}`)).toBe(0);
    const fresh = await handles[0].getResourceWithStatus(keys[1], 5_000, async () => ({
      value: 'v2',
      ttl: 60_000,
    }));
    expect(fresh).toEqual({ value: 'v2', status: 'stored' });
    expect(await admin.get(`fresh/meta:${keys[1]}`)).toMatch(/^1,\d+,\d+,4,/);
  });

  it('times out and leaves no pattern subscription on any node', async () => {
    const [id] = ids(1);
    await cluster.client().set(`slow/lock:${id}`, 'peer', 'PX', 10_000);
    await expect(
      engines[1]
        .memoLock('slow', { lockTimeout: 1_000 })
        .getResource(id, 300, async () => ({ value: 1, ttl: 1 })),
    ).rejects.toBeInstanceOf(MemoLockTimeoutError);
    await sleep(100);
    for (let i = 0; i < cluster.ports.length; i++) expect(await cluster.node(i).pubsub('NUMPAT')).toBe(0);
    expect(engines[1].pendingResources).toBe(0);
  });
});
