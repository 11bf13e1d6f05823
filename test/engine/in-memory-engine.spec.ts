import {
  InMemoryMemoLockEngine,
  MemoLockClosedError,
  MemoLockRenewError,
  MemoLockTimeoutError,
} from '../../lib';
import { recordingLogger, type RecordingLogger } from '../support/logger';
import { sleep } from '../support/sleep';
import { until } from '../support/until';
import { gate } from '../support/gate';

describe('InMemoryMemoLockEngine', () => {
  let engine: InMemoryMemoLockEngine;
  let logger: RecordingLogger;
  beforeEach(() => {
    logger = recordingLogger();
    engine = new InMemoryMemoLockEngine({ logger });
  });
  afterEach(() => engine.close());

  it('computes once for concurrent callers and serves later calls from memory', async () => {
    const handle = engine.memoLock('m', { lockTimeout: 1_000 });
    let computations = 0;
    const compute = async () => {
      computations++;
      await sleep(50);
      return { value: { n: computations }, ttl: 60_000 };
    };
    const values = await Promise.all(
      Array.from({ length: 100 }, () => handle.getResource('k', 1_000, compute)),
    );
    expect(values).toEqual(Array(100).fill({ n: 1 }));
    expect(await handle.getResource('k', 1_000, compute)).toEqual({ n: 1 });
    expect(computations).toBe(1);
  });

  it('gives each caller its own copy, as Redis would', async () => {
    const handle = engine.memoLock<{ list: number[] }>('m', { lockTimeout: 1_000 });
    const first = await handle.getResource('copy', 1_000, async () => ({
      value: { list: [1] },
      ttl: 60_000,
    }));
    first.list.push(2);
    expect(await handle.getResource('copy', 1_000, async () => ({ value: { list: [] }, ttl: 1 }))).toEqual({
      list: [1],
    });
  });

  it('honours the ttl', async () => {
    const handle = engine.memoLock('m', { lockTimeout: 1_000 });
    let n = 0;
    const compute = async () => ({ value: ++n, ttl: 500 }); // the second call lands within it under load
    expect(await handle.getResource('ttl', 1_000, compute)).toBe(1);
    expect(await handle.getResource('ttl', 1_000, compute)).toBe(1);
    await sleep(600);
    expect(await handle.getResource('ttl', 1_000, compute)).toBe(2);
  });

  it('invalidates', async () => {
    const handle = engine.memoLock('m', { lockTimeout: 1_000 });
    let n = 0;
    const compute = async () => ({ value: ++n, ttl: 60_000 });
    await handle.getResource('inv', 1_000, compute);
    await handle.invalidate('inv');
    expect(await handle.getResource('inv', 1_000, compute)).toBe(2);
  });

  it('renews a lease, and refuses to renew one that ran out', async () => {
    // Renewed at once, for long enough on a loaded machine; then alive past the first lease (slept past it:
    // a longer sleep only makes that clearer).
    const handle = engine.memoLock('m', { lockTimeout: 300 });
    await expect(
      handle.getResourceRenewable('r1', 10_000, async (renew) => {
        await renew(5_000);
        await sleep(400);
        await renew(300);
        return { value: 'ok', ttl: 1_000 };
      }),
    ).resolves.toBe('ok');
    await expect(
      handle.getResourceRenewable('r2', 10_000, async (renew) => {
        await sleep(400);
        await renew(300);
        return { value: 'never', ttl: 1_000 };
      }),
    ).rejects.toBeInstanceOf(MemoLockRenewError);
  });

  it('shares a failure with every coalesced caller and caches nothing', async () => {
    const handle = engine.memoLock('m', { lockTimeout: 1_000 });
    const boom = new Error('boom');
    const calls = Array.from({ length: 3 }, () =>
      handle.getResource('f', 1_000, async () => {
        await sleep(10);
        throw boom;
      }),
    );
    for (const call of calls) await expect(call).rejects.toBe(boom);
    await expect(handle.getResource('f', 1_000, async () => ({ value: 'ok', ttl: 1 }))).resolves.toBe('ok');
  });

  it('waits for external work delivered with publish()', async () => {
    const handle = engine.memoLock<string>('ext', { lockTimeout: 1_000, serializer: 'raw' });
    let starts = 0;
    const start = () => {
      starts++;
      setTimeout(() => engine.publish('ext', 'job', 'done', 60_000), 20);
    };
    const values = await Promise.all([
      handle.getResourceExternal('job', 1_000, start),
      handle.getResourceExternal('job', 1_000, start),
    ]);
    expect(values).toEqual(['done', 'done']);
    expect(starts).toBe(1);
    expect(await handle.getResourceExternal('job', 1_000, start)).toBe('done'); // cached
  });

  it('times out, and close() rejects pending callers', async () => {
    const handle = engine.memoLock('m', { lockTimeout: 1_000 });
    await expect(handle.getResourceExternal('never', 100, () => undefined)).rejects.toBeInstanceOf(
      MemoLockTimeoutError,
    );
    const pending = handle.getResourceExternal('never', 5_000, () => undefined);
    await engine.close();
    await expect(pending).rejects.toBeInstanceOf(MemoLockClosedError);
    await expect(handle.getResource('x', 100, async () => ({ value: 1, ttl: 1 }))).rejects.toBeInstanceOf(
      MemoLockClosedError,
    );
  });

  describe('freshness and fail-safe, in one process', () => {
    it('serves the stale value at once past the ttl and recomputes once in the background', async () => {
      const handle = engine.memoLock('f', { lockTimeout: 1_000, grace: 60_000 });
      await handle.getResource('k', 1_000, async () => ({ value: 'v1', ttl: 30 }));
      await sleep(50);
      const held = gate();
      let computations = 0;
      const slow = async () => {
        computations++;
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      const stale = await Promise.all(
        Array.from({ length: 5 }, () => handle.getResourceWithStatus('k', 1_000, slow)),
      );
      expect(stale).toEqual(Array(5).fill({ value: 'v1', status: 'stale' }));
      expect(await handle.getResourceWithStatus('k', 1_000, slow)).toEqual({ value: 'v1', status: 'stale' });
      held.open();
      await until(async () => (await handle.getResource('k', 1_000, slow)) === 'v2', 'v2 stored');
      expect(computations).toBe(1);
    });

    it('answers the stale value when the recomputation fails, logs it, and pauses attempts', async () => {
      const handle = engine.memoLock('f', { lockTimeout: 1_000, grace: 60_000, failSafeThrottle: 60_000 });
      await handle.getResource('k', 1_000, async () => ({ value: 'v1', ttl: 30 }));
      await sleep(50);
      let attempts = 0;
      const failing = async (): Promise<never> => {
        attempts++;
        throw new Error('down');
      };
      for (let i = 0; i < 5; i++) {
        expect(await handle.getResourceWithStatus('k', 1_000, failing, { softTimeout: 5_000 })).toEqual({
          value: 'v1',
          status: 'stale',
        });
      }
      expect(attempts).toBe(1);
      expect(logger.matching(/failed \(down\).*fail-safe/)).toHaveLength(1);
      // No stale value: the error, as before.
      await expect(handle.getResource('cold', 1_000, failing)).rejects.toThrow('down');
    });

    it('refreshes early with { beta: Infinity } while the caller gets the current value; never with beta 0', async () => {
      let computations = 0;
      const compute = async () => ({ value: ++computations, ttl: 60_000 });
      const eager = engine.memoLock('x', { lockTimeout: 1_000, earlyRefresh: { beta: Infinity } });
      expect(await eager.getResource('k', 1_000, compute)).toBe(1);
      expect(await eager.getResourceWithStatus('k', 1_000, compute)).toEqual({ value: 1, status: 'hit' });
      await until(async () => (await eager.getResource('k', 1_000, compute)) >= 2, 'refreshed');
      const never = engine.memoLock('y', { lockTimeout: 1_000, grace: 1_000, earlyRefresh: { beta: 0 } });
      const before = computations;
      await never.getResource('k', 1_000, compute);
      for (let i = 0; i < 20; i++) await never.getResource('k', 1_000, compute);
      expect(computations).toBe(before + 1);
    });

    it('rejects an aborted caller with signal.reason and leaves the computation and the others alone', async () => {
      const handle = engine.memoLock('a', { lockTimeout: 1_000 });
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'done', ttl: 60_000 };
      };
      const controller = new AbortController();
      const computing = handle.getResource('k', 5_000, slow, { signal: controller.signal });
      const other = handle.getResource('k', 5_000, slow);
      controller.abort('no longer needed');
      await expect(computing).rejects.toBe('no longer needed');
      held.open();
      expect(await other).toBe('done');
    });

    it('drops stale values on invalidate()', async () => {
      const handle = engine.memoLock('i', { lockTimeout: 1_000, grace: 60_000 });
      await handle.getResource('k', 1_000, async () => ({ value: 'v1', ttl: 30 }));
      await sleep(50);
      await handle.invalidate('k');
      expect(
        await handle.getResourceWithStatus('k', 1_000, async () => ({ value: 'v2', ttl: 1_000 })),
      ).toEqual({
        value: 'v2',
        status: 'stored',
      });
    });

    it('close() rejects callers waiting with a stale value at hand', async () => {
      const handle = engine.memoLock('c', { lockTimeout: 1_000, grace: 60_000, softTimeout: 10_000 });
      await handle.getResource('k', 1_000, async () => ({ value: 'v1', ttl: 30 }));
      await sleep(50);
      const held = gate();
      const waiting = handle.getResource('k', 5_000, async () => {
        await held.opened;
        return { value: 'v2', ttl: 1_000 };
      });
      await sleep(20);
      await engine.close();
      await expect(waiting).rejects.toBeInstanceOf(MemoLockClosedError);
      held.open();
    });
  });
});
