/**
 * Engine events: one per caller's outcome (each caller of a coalesced flight gets its own), and one per change
 * of the lock's and the connections' state, on a real Redis.
 */
import {
  InMemoryMemoLockEngine,
  type MemoLockEvent,
  MemoLockRenewError,
  MemoLockTimeoutError,
  type RedisMemoLockEngine,
} from '../../lib';
import { gate as makeGate } from '../support/gate';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(30_000);

function record(engine: { events: { subscribe(l: (e: MemoLockEvent) => void): () => void } }) {
  const events: MemoLockEvent[] = [];
  const stop = engine.events.subscribe((event) => events.push(event));
  const of = <K extends MemoLockEvent['type']>(type: K) =>
    events.filter((e): e is Extract<MemoLockEvent, { type: K }> => e.type === type);
  return { events, stop, of };
}

describe('engine events', () => {
  let redis: TestRedis;
  let engine: RedisMemoLockEngine;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());
  beforeEach(() => {
    engine = redis.engine();
  });

  it('says how each caller of a stampede got its value: 1 stored, 19 collapsed in this process, then hits', async () => {
    const seen = record(engine);
    const handle = engine.memoLock('ev', { lockTimeout: 5_000 });
    const values = await Promise.all(
      Array.from({ length: 20 }, () =>
        handle.getResource('a', 5_000, async () => {
          await sleep(50);
          return { value: 1, ttl: 60_000 };
        }),
      ),
    );
    expect(values).toEqual(Array(20).fill(1));
    await handle.getResource('a', 5_000, () => ({ value: 2, ttl: 1 }));
    expect(seen.of('stored')).toHaveLength(1);
    expect(seen.of('collapsed')).toHaveLength(19);
    expect(seen.of('hit')).toHaveLength(1);
    for (const e of seen.of('collapsed')) {
      expect(e).toMatchObject({ tag: 'ev', id: 'a', remote: false });
      expect(e.wait).toBeGreaterThanOrEqual(40);
      expect(e.wait).toBe(e.duration);
    }
    expect(seen.of('stored')[0].duration).toBeGreaterThanOrEqual(40);
    seen.stop();
    expect(engine.events.listening).toBe(false);
    await handle.getResource('a', 5_000, () => ({ value: 2, ttl: 1 }));
    expect(seen.events).toHaveLength(21);
  });

  it('marks a value computed by another engine (through Redis) as remote', async () => {
    const other = redis.engine();
    const seen = record(engine);
    const gate = makeGate();
    const holding = other.memoLock('ev', { lockTimeout: 5_000 }).getResource('remote', 5_000, async () => {
      await gate.opened;
      return { value: 'theirs', ttl: 60_000 };
    });
    await until(async () => (await redis.client().exists('ev/lock:remote')) === 1, 'the lock is held');
    const waiting = engine
      .memoLock('ev', { lockTimeout: 5_000 })
      .getResourceWithStatus('remote', 5_000, () => {
        throw new Error('must not compute');
      });
    await sleep(30);
    gate.open();
    await holding;
    expect(await waiting).toEqual({ value: 'theirs', status: 'collapsed' });
    expect(seen.of('collapsed')).toEqual([
      expect.objectContaining({ tag: 'ev', id: 'remote', remote: true, wait: expect.any(Number) }),
    ]);
  });

  it('reports timeouts, failures, remote failures and takeovers', async () => {
    const other = redis.engine();
    const seen = record(engine);
    const handle = engine.memoLock('ev', { lockTimeout: 300 });
    const theirs = other.memoLock('ev', { lockTimeout: 300 });

    // A holder elsewhere that outlives its lease: the waiter here times out, or takes over.
    const gate = makeGate();
    const slow = theirs.getResource('slow', 10_000, async () => {
      await gate.opened;
      return { value: 'late', ttl: 1 };
    });
    await until(async () => (await redis.client().exists('ev/lock:slow')) === 1, 'the lock is held');
    const timedOut = await handle.getResource('slow', 50, () => ({ value: 'x', ttl: 1 })).catch((e) => e);
    expect(timedOut).toBeInstanceOf(MemoLockTimeoutError);
    expect(seen.of('timeout')).toEqual([expect.objectContaining({ tag: 'ev', id: 'slow', timeout: 50 })]);
    expect(await handle.getResource('slow', 5_000, () => ({ value: 'mine', ttl: 60_000 }))).toBe('mine');
    expect(seen.of('takeover')).toEqual([{ type: 'takeover', tag: 'ev', id: 'slow' }]);
    gate.open();
    await slow;

    // A holder elsewhere that fails: the waiter here hears of it.
    const failing = makeGate();
    const failed = theirs
      .getResource('fails', 10_000, async () => {
        await failing.opened;
        throw new Error('upstream down');
      })
      .catch((e) => e);
    await until(async () => (await redis.client().exists('ev/lock:fails')) === 1, 'the lock is held');
    const waiting = handle.getResource('fails', 5_000, () => ({ value: 'x', ttl: 1 })).catch((e) => e);
    await sleep(30);
    failing.open();
    await failed;
    const error = await waiting;
    expect(seen.of('remoteFailure')).toEqual([
      expect.objectContaining({ tag: 'ev', id: 'fails', message: expect.stringMatching(/upstream down/) }),
    ]);
    expect(seen.of('failed')).toEqual([expect.objectContaining({ tag: 'ev', id: 'fails', error })]);
  });

  it('reports renewals, kept and lost', async () => {
    const seen = record(engine);
    const handle = engine.memoLock('ev', { lockTimeout: 1_000 });
    await handle.getResourceRenewable('renew', 5_000, async (renew) => {
      await renew(2_000);
      await redis.client().del('ev/lock:renew'); // as if the lease had run out and another took over
      await expect(renew(2_000)).rejects.toBeInstanceOf(MemoLockRenewError);
      return { value: 1, ttl: 1_000 };
    });
    expect(seen.of('renewed')).toEqual([{ type: 'renewed', tag: 'ev', id: 'renew', lockTimeout: 2_000 }]);
    expect(seen.of('renewLost')).toEqual([{ type: 'renewLost', tag: 'ev', id: 'renew' }]);
  });

  it('keeps a throwing listener away from the call, as a process warning', async () => {
    const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const stop = engine.events.on('hit', () => {
        throw new Error('listener bug');
      });
      const handle = engine.memoLock('ev', { lockTimeout: 1_000 });
      await handle.getResource('w', 1_000, () => ({ value: 1, ttl: 60_000 }));
      expect(await handle.getResource('w', 1_000, () => ({ value: 2, ttl: 1 }))).toBe(1);
      expect(emitWarning).toHaveBeenCalledWith(expect.stringMatching(/"hit" events threw \(listener bug\)/), {
        code: 'NESTJS_MEMOLOCK_LISTENER',
      });
      stop();
    } finally {
      emitWarning.mockRestore();
    }
  });

  it('rejects a listener that is not a function, or an event type that does not exist, naming the argument', () => {
    expect(() => engine.events.subscribe(42 as never)).toThrow(
      expect.objectContaining({ code: 'E_MEMOLOCK_INVALID_ARGUMENT', argument: 'listener' }),
    );
    expect(() => engine.events.on('hits' as never, () => undefined)).toThrow(
      /Invalid argument "type": one of hit, /,
    );
    expect(engine.events.listening).toBe(false);
  });

  it('works the same on the in-memory engine (collapsed is never remote there)', async () => {
    const memory = new InMemoryMemoLockEngine();
    const seen = record(memory);
    const handle = memory.memoLock('ev', { lockTimeout: 1_000 });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        handle.getResource('m', 1_000, async () => {
          await sleep(10);
          return { value: 1, ttl: 60_000 };
        }),
      ),
    );
    await handle.getResource('m', 1_000, () => ({ value: 2, ttl: 1 }));
    expect(seen.events.map((e) => e.type).sort()).toEqual([
      'collapsed',
      'collapsed',
      'collapsed',
      'collapsed',
      'hit',
      'stored',
    ]);
    expect(seen.of('collapsed').every((e) => !e.remote)).toBe(true);
    await memory.close();
  });
});

describe('state events', () => {
  it('says once when Redis goes away and once when it is back, and the same of the subscriber', async () => {
    const redis = await startRedis();
    if (!redis.owned) return redis.stop();
    try {
      const engine = redis.engine({ commandTimeout: 300 });
      const seen = record(engine);
      const handle = engine.memoLock('st', { lockTimeout: 1_000 });
      // A waiter's subscription opens the subscriber connection.
      const gate = makeGate();
      const holding = handle.getResource('k', 5_000, async () => {
        await gate.opened;
        return { value: 1, ttl: 60_000 };
      });
      await until(async () => (await redis.client().exists('st/lock:k')) === 1, 'the lock is held');
      const other = redis.engine();
      const waiting = other.memoLock('st', { lockTimeout: 1_000 }).getResource('k', 5_000, () => ({
        value: 2,
        ttl: 1,
      }));
      await until(() => other.subscribedTags.length > 0, 'the other engine subscribed');
      gate.open();
      await Promise.all([holding, waiting]);
      const otherSeen = record(other);

      await redis.kill();
      for (let i = 0; i < 3; i++) await handle.getResource(`down${i}`, 2_000, () => ({ value: i, ttl: 1 }));
      expect(seen.of('redisUnavailable')).toHaveLength(1);
      expect(seen.of('redisUnavailable')[0].reason).toEqual(expect.any(String));
      await until(
        () => otherSeen.of('subscriberLost').length === 1,
        'the subscriber loss is reported',
        10_000,
      );

      await redis.restart();
      await until(
        async () => {
          await handle.getResource('up', 2_000, () => ({ value: 1, ttl: 1 }));
          return seen.of('redisBack').length === 1;
        },
        'Redis is back',
        10_000,
      );
      await until(() => otherSeen.of('subscriberBack').length === 1, 'the subscriber is back', 15_000);
      expect(seen.of('redisUnavailable')).toHaveLength(1);
      expect(otherSeen.of('subscriberLost')).toHaveLength(1);
    } finally {
      await redis.stop();
    }
  });
});
