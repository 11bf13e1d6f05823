/**
 * Several OS processes (child processes, each with its own engine and connections) on one Redis.
 */
import type { PeerRequest } from '../support/peer-protocol';
import { type Peer, spawnPeers } from '../support/peers';
import { commandStats, resetStats, startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(60_000);

describe('RedisMemoLockEngine across processes', () => {
  let redis: TestRedis;
  let peers: Peer[];
  let n = 0;
  const request = (overrides: Partial<PeerRequest>): PeerRequest => ({
    op: 'get',
    tag: 'mp',
    id: `key${++n}`,
    callers: 1,
    timeout: 10_000,
    lockTimeout: 5_000,
    workMs: 300,
    ttl: 60_000,
    value: { answer: 42 },
    behaviour: 'ok',
    ...overrides,
  });

  beforeAll(async () => {
    redis = await startRedis();
    peers = await spawnPeers(redis.url, 4);
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await redis.stop();
  });

  it('computes once when 4 processes x 50 callers stampede one cold key, and everyone gets the value', async () => {
    const admin = redis.client();
    await resetStats(admin);
    const req = request({ callers: 50 });
    const results = (await Promise.all(peers.map((p) => p.run(req)))).flat();
    expect(results).toHaveLength(200);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.value)).toEqual(Array(200).fill({ answer: 42 }));
    expect(results.filter((r) => r.computed)).toHaveLength(1);
    const stats = await commandStats(admin);
    // One set of round trips per process, not per caller: at most a few commands per process. Per process:
    // the first read, the read-or-lock script, and for a waiter the script once more after subscribing; the
    // holder's store script. GETs count those the scripts run: one in each read-or-lock, two in the store.
    expect((stats.evalsha ?? 0) + (stats.eval ?? 0)).toBeLessThanOrEqual(4 * 2 + 1);
    expect(stats.get).toBeLessThanOrEqual(4 * 3 + 1);
    expect(stats.publish).toBe(1);
    expect(stats.psubscribe).toBeLessThanOrEqual(3);
  });

  it('tells waiters in other processes that the computation failed within milliseconds, not at their timeout', async () => {
    const req = request({ behaviour: 'fail', workMs: 300, timeout: 20_000 });
    const [holder, ...waiters] = peers;
    const holding = holder.run(req);
    await holder.computing();
    const waiting = waiters.map((p) => p.run({ ...req, behaviour: 'ok' }));
    const [held, ...waited] = await Promise.all([holding, ...waiting]);
    expect(held[0]).toMatchObject({
      ok: false,
      computed: true,
      error: { name: 'Error', message: expect.stringMatching(/^boom/) },
    });
    for (const [result] of waited) {
      expect(result.ok).toBe(false);
      expect(result.computed).toBe(false);
      expect(result.error).toMatchObject({
        name: 'MemoLockRemoteComputationError',
        code: 'E_MEMOLOCK_REMOTE_COMPUTATION',
        remoteStatus: 503,
      });
      expect(result.error!.message).toMatch(/boom in \d+/);
      expect(result.ms).toBeLessThan(5_000); // far from the 20 s timeout
    }
    const admin = redis.client();
    expect(await admin.exists(`mp/lock:${req.id}`)).toBe(0);
  });

  it("with onComputeError 'retry', one waiter computes again after a failure and everyone gets its value", async () => {
    const req = request({ behaviour: 'fail', onComputeError: 'retry', timeout: 20_000 });
    const [holder, ...waiters] = peers;
    const holding = holder.run(req);
    await holder.computing();
    const waiting = waiters.map((p) => p.run({ ...req, behaviour: 'ok', value: 'second try' }));
    const [held, ...waited] = await Promise.all([holding, ...waiting]);
    expect(held[0].ok).toBe(false);
    const flat = waited.flat();
    expect(flat.every((r) => r.ok && r.value === 'second try')).toBe(true);
    expect(flat.filter((r) => r.computed)).toHaveLength(1);
  });

  it('lets a waiter take over when the lock holder process dies, once its lock expires', async () => {
    const [victim, ...others] = await spawnPeers(redis.url, 2).then((extra) => [
      extra[0],
      extra[1],
      peers[0],
    ]);
    const req = request({ behaviour: 'crash', lockTimeout: 1_000, timeout: 15_000 });
    const crashing = victim.run(req).catch(() => 'died');
    await victim.computing();
    const started = Date.now();
    const waited = await Promise.all(
      others.map((p) => p.run({ ...req, behaviour: 'ok', value: 'taken over' })),
    );
    expect(await crashing).toBe('died');
    const flat = waited.flat();
    expect(flat.every((r) => r.ok && r.value === 'taken over')).toBe(true);
    expect(flat.filter((r) => r.computed)).toHaveLength(1);
    // After the 1 s lease, not after the 15 s timeout.
    expect(Date.now() - started).toBeLessThan(8_000);
    await Promise.all(others.slice(0, 1).map((p) => p.stop()));
  });
});
