import {
  InMemoryMemoLockEngine,
  MemoLockClosedError,
  MemoLockRenewError,
  MemoLockTimeoutError,
} from '../../lib';
import { sleep } from '../support/sleep';

describe('InMemoryMemoLockEngine', () => {
  let engine: InMemoryMemoLockEngine;
  beforeEach(() => (engine = new InMemoryMemoLockEngine()));
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
    const compute = async () => ({ value: ++n, ttl: 100 });
    expect(await handle.getResource('ttl', 1_000, compute)).toBe(1);
    expect(await handle.getResource('ttl', 1_000, compute)).toBe(1);
    await sleep(150);
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
    const handle = engine.memoLock('m', { lockTimeout: 100 });
    await expect(
      handle.getResourceRenewable('r1', 1_000, async (renew) => {
        await sleep(50);
        await renew(300);
        await sleep(150);
        await renew(300);
        return { value: 'ok', ttl: 1_000 };
      }),
    ).resolves.toBe('ok');
    await expect(
      handle.getResourceRenewable('r2', 1_000, async (renew) => {
        await sleep(150);
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
});
