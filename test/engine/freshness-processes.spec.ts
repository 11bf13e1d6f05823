/**
 * Freshness and fail-safe across OS processes (child processes, each with its own engine and connections)
 * on one Redis: one recomputation fleet-wide while everyone gets the stale value, fail-safe's pause shared by
 * every process, one early refresh for all, and a Go-style peer that sees the plain protocol throughout.
 */
import type Redis from 'ioredis';
import { expectPlainProtocol, goStylePeer } from '../support/go-style-peer';
import type { CallResult, PeerRequest } from '../support/peer-protocol';
import { type Peer, spawnPeers } from '../support/peers';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(60_000);

describe('freshness and fail-safe across processes', () => {
  let redis: TestRedis;
  let admin: Redis;
  let peers: Peer[];
  let n = 0;
  const request = (overrides: Partial<PeerRequest>): PeerRequest => ({
    op: 'get',
    tag: 'fp',
    id: `key${++n}`,
    callers: 1,
    timeout: 10_000,
    lockTimeout: 5_000,
    workMs: 0,
    ttl: 60_000,
    value: 'v1',
    behaviour: 'ok',
    ...overrides,
  });
  /** Computations every peer started for `id`, in time order. */
  const computationsOf = (id: string) =>
    peers
      .flatMap((p) => p.computations.filter((c) => c.id === id))
      .map((c) => c.at)
      .sort((a, b) => a - b);
  const runAll = async (req: PeerRequest): Promise<CallResult[]> =>
    (await Promise.all(peers.map((p) => p.run(req)))).flat();

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    peers = await spawnPeers(redis.url, 4);
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await redis.stop();
  });

  /** Stores `v1` through the first peer with a short ttl, and waits until `T:I` has expired. */
  async function seedAndExpire(req: PeerRequest): Promise<void> {
    const [seeded] = await peers[0].run({ ...req, ttl: 200, value: 'v1' });
    expect(seeded).toMatchObject({ ok: true, status: 'stored' });
    await until(async () => (await admin.exists(`${req.tag}:${req.id}`)) === 0, 'v1 expired');
  }

  it('serves the stale value to 4 processes x 20 callers at once and recomputes once fleet-wide', async () => {
    const req = request({ grace: 60_000 });
    const peer = await goStylePeer(redis.client(), redis.client(), req.tag, req.id);
    await seedAndExpire(req);
    const computedBefore = computationsOf(req.id).length;

    const slow = { ...req, callers: 20, workMs: 1_000, value: 'v2' };
    const results = await runAll(slow);
    expect(results).toHaveLength(80);
    // Everyone answered with the stale value, none after the 1 s computation (they never waited for it).
    expect(results.every((r) => r.ok && r.value === 'v1' && r.status === 'stale')).toBe(true);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(1_000);
    // Callers that come while it runs get the stale value too, in every process.
    const meanwhile = await runAll({ ...slow, callers: 5 });
    expect(meanwhile.every((r) => r.ok && r.value === 'v1' && r.status === 'stale')).toBe(true);

    await until(async () => (await admin.get(`${req.tag}:${req.id}`)) === '"v2"', 'v2 stored', 10_000);
    expect(computationsOf(req.id).length - computedBefore).toBe(1);
    const after = await runAll({ ...slow, callers: 5 });
    expect(after.every((r) => r.ok && r.value === 'v2' && r.status === 'hit')).toBe(true);

    await peer.stop();
    expectPlainProtocol(peer, ['"v1"', '"v2"'], 60_000);
    expect(await peer.keysUnderTag()).toEqual([`${req.tag}:${req.id}`]);
  });

  it('keeps every caller of every process on the stale value while the source fails, with at most one attempt per failSafeThrottle fleet-wide', async () => {
    const throttle = 400;
    const req = request({ grace: 60_000, failSafeThrottle: throttle });
    const peer = await goStylePeer(redis.client(), redis.client(), req.tag, req.id);
    await seedAndExpire(req);
    const computedBefore = computationsOf(req.id).length;

    const failing = { ...req, behaviour: 'fail' as const, callers: 5, workMs: 20 };
    const results: CallResult[] = [];
    const end = Date.now() + 2_000;
    while (Date.now() < end) {
      results.push(...(await runAll(failing)));
      await sleep(20);
    }
    expect(results.length).toBeGreaterThan(40);
    const wrong = results.filter((r) => !(r.ok && r.value === 'v1' && r.status === 'stale'));
    expect(wrong).toEqual([]);

    const attempts = computationsOf(req.id).slice(computedBefore);
    expect(attempts.length).toBeGreaterThanOrEqual(2); // it retries once each pause is over...
    expect(attempts.length).toBeLessThanOrEqual(Math.ceil(2_000 / throttle) + 1);
    for (let i = 1; i < attempts.length; i++) {
      // ...never within one (the pause starts when an attempt fails, workMs after it started)
      expect(attempts[i] - attempts[i - 1]).toBeGreaterThanOrEqual(throttle);
    }

    await peer.stop();
    expectPlainProtocol(peer, ['"v1"'], 200);
  });

  it('refreshes early once for all processes ({ beta: Infinity }) while every caller keeps the current value', async () => {
    const req = request({ beta: 'Infinity', ttl: 60_000 });
    const peer = await goStylePeer(redis.client(), redis.client(), req.tag, req.id);
    const [first] = await peers[0].run(req);
    expect(first).toMatchObject({ ok: true, value: 'v1', status: 'stored' });
    const computedBefore = computationsOf(req.id).length;

    const hits = await runAll({ ...req, callers: 10, workMs: 500, value: 'v2' });
    expect(hits.every((r) => r.ok && r.value === 'v1' && r.status === 'hit')).toBe(true);
    await until(async () => (await admin.get(`${req.tag}:${req.id}`)) === '"v2"', 'v2 stored', 10_000);
    expect(computationsOf(req.id).length - computedBefore).toBe(1);

    await peer.stop();
    expectPlainProtocol(peer, ['"v1"', '"v2"'], 60_000);
    const sinceStored = peer.reads.slice(peer.reads.findIndex((r) => r.raw !== null));
    expect(sinceStored.every((r) => r.raw !== null)).toBe(true);
  });
});
