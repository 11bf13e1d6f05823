/**
 * The L1 on a Cluster client that reads from replicas (`scaleReads`): its background reads must come from
 * the master. A replica that has not applied a write yet would answer the replaced value after that write's
 * invalidation, and nothing would ever drop it.
 */
import Redis from 'ioredis';
import { startCluster, type TestCluster } from '../support/redis-cluster';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(60_000);

describe('the L1 through a Cluster client reading from replicas', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ replicas: 1 });
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('never keeps a value a lagging replica still holds after another client replaced it', async () => {
    const client = cluster.client({ scaleReads: 'slave' });
    await until(() => client.status === 'ready', 'the cluster client is ready', 20_000);
    const engine = cluster.engine({ client, l1: { maxEntries: 100 } });
    const handle = engine.memoLock('sr', { lockTimeout: 1_000 });
    await until(() => engine.l1!.tracker.active, 'tracking on every master', 20_000);
    const key = 'sr:a';
    await handle.getResource('a', 5_000, async () => ({ value: 'v1', ttl: 60_000 }));
    await until(() => engine.l1!.cache.get(key) !== undefined, 'the L1 holds v1', 10_000);

    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
    const [masterAddress, replicaAddress] = client.slots[slot];
    expect(replicaAddress).toBeDefined();
    const connect = (address: string) => {
      const [host, port] = address.split(':');
      const connection = new Redis({ host, port: Number(port), maxRetriesPerRequest: 1 });
      connection.on('error', () => undefined);
      return connection;
    };
    const connections: Redis[] = [];
    try {
      const [master, replica] = [masterAddress, replicaAddress].map(connect);
      connections.push(master, replica);
      await replica.call('READONLY');
      // Replication lag made certain: the replica applies its master's writes 1.5 s late.
      await replica.call('CLIENT', 'PAUSE', '1500', 'WRITE');
      await master.set(key, '"v2"', 'PX', 60_000); // another client's write (a Go peer, redis-cli)
      await sleep(2_000); // the invalidation, the L1's re-read and the replication have all happened
      expect(await handle.getResourceWithStatus('a', 5_000, async () => ({ value: 'x', ttl: 1 }))).toEqual({
        value: 'v2',
        status: 'hit',
      });
      expect(await replica.get(key)).toBe('"v2"');
    } finally {
      for (const connection of connections) connection.disconnect();
    }
  });
});
