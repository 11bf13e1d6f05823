/**
 * Faults injected into a real redis-server while several processes stampede it: killed and restarted,
 * paused longer than a lock lease. Every call settles by its own timeout, never hangs, and the engines work
 * again afterwards without a restart.
 */
import type { CallResult, PeerRequest } from '../support/peer-protocol';
import { type Peer, spawnPeers } from '../support/peers';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

jest.setTimeout(90_000);

describe('faults while processes stampede', () => {
  let redis: TestRedis;
  let peers: Peer[];
  let n = 0;
  const request = (overrides: Partial<PeerRequest>): PeerRequest => ({
    op: 'get',
    tag: 'fault',
    id: `k${++n}`,
    callers: 20,
    timeout: 8_000,
    lockTimeout: 3_000,
    workMs: 1_500,
    ttl: 60_000,
    value: 'computed',
    behaviour: 'ok',
    ...overrides,
  });
  /** Every call settled within its timeout, plus a margin for the process and the loaded machine. */
  const settledInTime = (results: CallResult[], timeout: number) =>
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(timeout + 2_000);

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis.owned) throw new Error('these tests break their own redis-server; unset REDIS_URL');
    peers = await spawnPeers(redis.url, 3);
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await redis.stop();
  });

  /** Runs the stampede, breaks Redis once a holder computes, and mends it after `downMs`. */
  async function stampedeThrough(
    req: PeerRequest,
    breakRedis: () => Promise<void> | void,
    mend: () => Promise<void> | void,
    downMs: number,
  ) {
    const computing = peers[0].computing();
    const running = Promise.all(peers.map((p) => p.run(req)));
    await Promise.race([computing, sleep(2_000)]);
    await sleep(100);
    await breakRedis();
    await sleep(downMs);
    await mend();
    return (await running).flat();
  }

  /** Once Redis is back, the same engines coordinate a stampede through it again (reconnection takes a moment). */
  async function worksAgain() {
    const until = Date.now() + 20_000;
    while (true) {
      const req = request({ workMs: 200, onRedisError: 'throw' });
      const results = (await Promise.all(peers.map((p) => p.run(req)))).flat();
      const healthy =
        results.every((r) => r.ok && r.value === 'computed') &&
        results.filter((r) => r.computed).length === 1;
      if (healthy) return;
      if (Date.now() > until)
        throw new Error(
          `the engines did not recover: ${JSON.stringify(results.filter((r) => !r.ok).slice(0, 3))}`,
        );
      await sleep(300);
    }
  }

  it("Redis killed mid-stampede and restarted, 'compute': every call gets a value in time", async () => {
    const req = request({ onRedisError: 'compute' });
    const results = await stampedeThrough(
      req,
      () => redis.kill(),
      () => redis.restart(),
      500,
    );
    expect(results).toHaveLength(60);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => r.value === 'computed')).toBe(true);
    settledInTime(results, req.timeout);
    await worksAgain();
  });

  it("Redis killed mid-stampede and restarted, 'throw': every call settles in time, with a value or a clear error", async () => {
    const req = request({ onRedisError: 'throw' });
    const results = await stampedeThrough(
      req,
      () => redis.kill(),
      () => redis.restart(),
      500,
    );
    expect(results).toHaveLength(60);
    for (const r of results) {
      if (!r.ok) expect(['MemoLockRedisError', 'MemoLockTimeoutError']).toContain(r.error!.name);
    }
    settledInTime(results, req.timeout);
    await worksAgain();
  });

  it("Redis paused longer than the lock lease, then resumed: every call settles in time, 'compute' with a value", async () => {
    const req = request({ onRedisError: 'compute', lockTimeout: 1_000, workMs: 500 });
    const results = await stampedeThrough(
      req,
      () => redis.pause(),
      () => redis.resume(),
      2_500,
    );
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => r.value === 'computed')).toBe(true);
    settledInTime(results, req.timeout);
    await worksAgain();
  });
});
