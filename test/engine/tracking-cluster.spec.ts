/**
 * `InvalidationTracker` on a real 3-master Redis Cluster: tracking on every master (each reports only its
 * own keys), with ioredis 6 and 5 cluster clients, a dropped connection to one master stops tracking everywhere until it is back, and a new master
 * that takes over a slot is tracked too once the client learns of it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Cluster, Redis } from 'ioredis';
import { Cluster as Cluster5 } from 'ioredis5';
import { InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import { recordingLogger } from '../support/logger';
import { startCluster, type TestCluster } from '../support/redis-cluster';
import { TrackingRecorder } from '../support/tracking-recorder';
import { until } from '../support/until';

const run = promisify(execFile);

describe('InvalidationTracker on a cluster', () => {
  let cluster: TestCluster;
  const trackers: InvalidationTracker[] = [];
  const clients5: Cluster5[] = [];
  let n = 0;
  let tag: string;

  function track(client: Cluster = cluster.client()) {
    const recorder = new TrackingRecorder();
    const tracker = new InvalidationTracker(client, recorder, {
      commandTimeout: 1_000,
      logger: recordingLogger(),
    });
    tracker.track([`${tag}:`]);
    trackers.push(tracker);
    return { tracker, recorder };
  }
  const active = (...all: InvalidationTracker[]) =>
    until(() => all.every((t) => t.active), 'every tracker is active', 15_000);
  /** `SET` through redis-cli in cluster mode, following redirections. */
  const cliSet = (key: string, value: string) =>
    run('redis-cli', ['-c', '-p', String(cluster.ports[0]), 'SET', key, value]);

  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  beforeEach(() => {
    tag = `cl${++n}`;
  });
  afterEach(async () => {
    await Promise.all(trackers.splice(0).map((t) => t.close()));
    await Promise.all(clients5.splice(0).map((c) => c.quit()));
  });
  afterAll(() => cluster?.stop());

  const cluster5 = () => {
    const client = new Cluster5(
      cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: 1 } },
    );
    client.on('error', () => undefined);
    clients5.push(client);
    return client as unknown as Cluster;
  };

  it.each([
    ['ioredis 6', () => cluster.client()],
    ['ioredis 5', cluster5],
  ])('tracks every master, so that a write on any of them reaches every tracker (%s)', async (_, client) => {
    const all = [track(client()), track(client())];
    await active(...all.map((t) => t.tracker));
    expect(all.map((t) => t.tracker.nodes)).toEqual([3, 3]);
    const keys = Array.from({ length: 30 }, (_, i) => `${tag}:${i}`);
    for (const key of keys) await cliSet(key, 'v');
    // The keys spread over every master.
    for (let i = 0; i < 3; i++) expect(await cluster.node(i).dbsize()).toBeGreaterThan(0);
    for (const { recorder } of all) {
      await until(() => keys.every((k) => recorder.keys.includes(k)), 'every write is reported');
    }
  });

  it("stops everywhere when one master's connection drops, and tracks again once it is back", async () => {
    const { tracker, recorder } = track();
    await active(tracker);
    const node: Redis = cluster.node(1);
    const lines = String(await node.call('CLIENT', 'LIST')).split('\n');
    const id = /^id=(\d+)/.exec(lines.find((l) => l.includes('name=nestjs-memolock:tracking'))!)![1];
    recorder.clear();
    await node.call('CLIENT', 'KILL', 'ID', id);
    await until(() => recorder.count('untracked') > 0, 'tracking is off');
    await active(tracker);
    const keys = Array.from({ length: 30 }, (_, i) => `${tag}:after-${i}`);
    for (const key of keys) await cliSet(key, 'v');
    await until(() => keys.every((k) => recorder.keys.includes(k)), 'every write is reported again');
  });

  it("an engine's L1 serves values from every master, and drops each on a write made through any", async () => {
    const engines = [
      cluster.engine({ l1: { maxEntries: 100 } }),
      cluster.engine({ l1: { maxEntries: 100 } }),
    ];
    const handles = engines.map((engine) => engine.memoLock<string>(tag, { lockTimeout: 1_000 }));
    await until(() => engines.every((e) => e.l1!.tracker.active), 'the L1s track', 15_000);
    const ids = Array.from({ length: 12 }, (_, i) => `l1-${i}`);
    const never = () => Promise.reject(new Error('computed'));
    // Stored by the first engine, read by the second from Redis: both L1s warm up.
    for (const id of ids)
      await handles[0].getResource(id, 2_000, async () => ({ value: `v1-${id}`, ttl: 60_000 }));
    const held = (id: string) => engines.map((e) => e.l1!.cache.get(`${tag}:${id}`)?.value);
    await until(async () => {
      // (A key that Redis answers is kept from its second read on.)
      for (const id of ids) expect(await handles[1].getResource(id, 2_000, never)).toBe(`v1-${id}`);
      return ids.every((id) => held(id).every((v) => v === `v1-${id}`));
    }, 'every L1 holds every value');
    const probe = cluster.client();
    const slots = await Promise.all(ids.map((id) => probe.call('CLUSTER', 'KEYSLOT', `${tag}:${id}`)));
    expect(new Set(slots).size).toBeGreaterThan(1);

    for (const id of ids) await cliSet(`${tag}:${id}`, `"v2-${id}"`);
    await until(() => ids.every((id) => held(id).every((v) => v !== `v1-${id}`)), 'every entry is dropped');
    for (const handle of handles) {
      for (const id of ids) expect(await handle.getResource(id, 2_000, never)).toBe(`v2-${id}`);
    }
  });

  it('tracks a new master that took over a slot, once the client is sent there', async () => {
    const client = cluster.client();
    const { tracker, recorder } = track(client);
    await active(tracker);
    const key = `${tag}:moved`;
    await client.set(key, 'v1');
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
    const port = await cluster.addMaster();
    await cluster.moveSlot(slot, port);
    recorder.clear();
    // The client learns of the new master from the redirection, and the tracker stops before the reply
    // comes back from there: a read begun before cannot fill an L1 with a key of an untracked master.
    let stoppedBeforeReply = false;
    const value = await client.get(key).then((v) => {
      stoppedBeforeReply = recorder.count('untracked') > 0;
      return v;
    });
    expect(value).toBe('v1');
    expect(stoppedBeforeReply).toBe(true);
    await until(() => tracker.nodes === 4, 'the new master is tracked', 15_000);
    await active(tracker);
    await cliSet(key, 'v2');
    await recorder.invalidated(key);
  }, 60_000);
});
