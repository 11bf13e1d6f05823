/**
 * `InvalidationTracker` behind Redis Sentinel: a failover is a reconnection to another server, where
 * tracking must be set up anew; until it is, nothing counts as tracked, and afterwards writes on the new
 * master are reported.
 */
import Redis from 'ioredis';
import { InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import { recordingLogger } from '../support/logger';
import { startSentinel, type TestSentinel } from '../support/redis-sentinel';
import { TrackingRecorder } from '../support/tracking-recorder';
import { until } from '../support/until';

jest.setTimeout(60_000);

describe('InvalidationTracker through Redis Sentinel', () => {
  let sentinel: TestSentinel;
  beforeAll(async () => (sentinel = await startSentinel()));
  afterAll(() => sentinel?.stop());

  it('tracks on the new master after a failover', async () => {
    const recorder = new TrackingRecorder();
    const owner = sentinel.client();
    const tracker = new InvalidationTracker(owner, recorder, {
      commandTimeout: 1_000,
      logger: recordingLogger(),
    });
    try {
      tracker.track(['sn:']);
      await until(() => tracker.active, 'tracking is on', 10_000);
      const writer = sentinel.client();
      await writer.set('sn:before', 'v');
      await recorder.invalidated('sn:before');

      recorder.clear();
      const port = await sentinel.failover();
      await until(() => recorder.count('untracked') > 0, 'tracking is off', 20_000);
      await until(() => tracker.active, 'tracking is on again', 20_000);
      const master = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      try {
        const names = String(await master.call('CLIENT', 'LIST'));
        expect(names).toContain('name=nestjs-memolock:tracking');
        expect(names).toContain('name=nestjs-memolock:invalidations');
        await master.set('sn:after', 'v');
        await recorder.invalidated('sn:after');
        // Through Sentinel too, once the writer found the new master.
        await writer.set('sn:through-sentinel', 'v');
        await recorder.invalidated('sn:through-sentinel');
      } finally {
        master.disconnect();
      }
      // Left connected, so that closing them is a QUIT, not a socket torn down while it reconnects.
      await until(() => owner.status === 'ready', 'the client is back');
    } finally {
      await tracker.close();
    }
  });

  it("an engine's L1 empties at a failover, and serves the new master's values once tracking is back", async () => {
    const engine = sentinel.engine({ l1: { maxEntries: 100 } });
    const handle = engine.memoLock<string>('snl1', { lockTimeout: 1_000 });
    await until(() => engine.l1!.tracker.active, 'tracking is on', 10_000);
    const never = () => Promise.reject(new Error('computed'));
    await handle.getResource('a', 2_000, async () => ({ value: 'before', ttl: 120_000 }));
    await until(() => engine.l1!.cache.get('snl1:a') !== undefined, 'the L1 is warm');

    const port = await sentinel.failover();
    await until(() => engine.l1!.cache.size === 0, 'the L1 is emptied', 20_000);
    const master = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      await master.set('snl1:a', '"after"', 'PX', 120_000);
      await until(() => engine.l1!.tracker.active, 'tracking is on again', 20_000);
      // Read until kept: a key that Redis answers is kept from its second read on.
      await until(
        async () =>
          (await handle.getResource('a', 2_000, never).catch(() => undefined)) === 'after' &&
          engine.l1!.cache.get('snl1:a')?.value === 'after',
        'the new value is read and kept',
        20_000,
      );
      await master.set('snl1:a', '"again"', 'PX', 120_000);
      await until(() => engine.l1!.cache.get('snl1:a')?.value !== 'after', 'the write is reported');
      expect(await handle.getResource('a', 2_000, never)).toBe('again');
    } finally {
      master.disconnect();
    }
  });
});
