/**
 * OpenTelemetry metrics across processes, read with the real SDK's in-memory reader in each process: a
 * known stampede (2 processes x 50 callers on one cold key) counts 1 stored and 99 collapsed, each caller
 * once, under the tag and the outcome only.
 */
import type { Point } from '../support/otel-sdk';
import { valueOf } from '../support/otel-sdk';
import type { PeerRequest } from '../support/peer-protocol';
import { type Peer, spawnPeers } from '../support/peers';
import { startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(60_000);

describe('OpenTelemetry metrics across processes', () => {
  let redis: TestRedis;
  let peers: Peer[];

  beforeAll(async () => {
    redis = await startRedis();
    peers = await spawnPeers(redis.url, 2, { otel: true });
  });
  afterAll(async () => {
    await Promise.all(peers?.map((p) => p.stop()) ?? []);
    await redis.stop();
  });

  it('counts 1 stored and 99 collapsed for 2 processes x 50 callers, with one computation and 99 waits', async () => {
    const request: PeerRequest = {
      op: 'get',
      tag: 'otel',
      id: 'cold',
      callers: 50,
      timeout: 20_000,
      lockTimeout: 10_000,
      workMs: 300,
      ttl: 60_000,
      value: 42,
      behaviour: 'ok',
    };
    const results = (await Promise.all(peers.map((p) => p.run(request)))).flat();
    expect(results.filter((r) => r.computed)).toHaveLength(1);
    const [first, second] = await Promise.all(peers.map((p) => p.metrics()));
    const all: Point[] = [...first, ...second];
    const sum = (name: string, attributes: Record<string, unknown>) =>
      valueOf(first, name, attributes) + valueOf(second, name, attributes);

    expect(sum('memolock.calls', { 'memolock.tag': 'otel', 'memolock.outcome': 'stored' })).toBe(1);
    expect(sum('memolock.calls', { 'memolock.tag': 'otel', 'memolock.outcome': 'collapsed' })).toBe(99);
    const calls = all.filter((p) => p.name === 'memolock.calls');
    expect(calls.reduce((n, p) => n + p.value, 0)).toBe(100);

    const waits = all.filter((p) => p.name === 'memolock.wait.duration');
    expect(waits.reduce((n, p) => n + p.value, 0)).toBe(99);
    expect(waits.every((p) => p.unit === 's' && p.max! < 20)).toBe(true);
    const computations = all.filter((p) => p.name === 'memolock.compute.duration');
    expect(computations).toEqual([
      expect.objectContaining({ value: 1, attributes: { 'memolock.tag': 'otel', 'memolock.outcome': 'ok' } }),
    ]);
    expect(computations[0].sum).toBeGreaterThanOrEqual(0.29);

    // Nothing is left running or waiting once everyone has their value.
    for (const name of ['memolock.computations.active', 'memolock.waiters.active']) {
      expect(all.filter((p) => p.name === name).every((p) => p.value === 0)).toBe(true);
    }
    // Every caller of the 100 waited after the miss at some point: the waiters' gauge went up, then down.
    expect(all.some((p) => p.name === 'memolock.waiters.active')).toBe(true);

    // Low cardinality: the tag and the outcome only, never the id.
    for (const point of all) {
      expect(
        Object.keys(point.attributes).every((k) => k === 'memolock.tag' || k === 'memolock.outcome'),
      ).toBe(true);
      expect(Object.values(point.attributes)).not.toContain('cold');
    }
  });
});
