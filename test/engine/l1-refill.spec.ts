/**
 * `L1Refill` with a real tracker, cache and Redis: after a write this process made or was woken by, the L1
 * is warm again once that write's own invalidation has passed, whether the value's message came before the
 * invalidation (a script's SET + PUBLISH, as our store script does) or after it (a plain SET then PUBLISH, as
 * a Go holder or an external producer does); a later write's value is never replaced by an earlier one; and
 * reads stop after the window or the bound.
 */
import type Redis from 'ioredis';
import { InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import type { L1Ticket } from '../../lib/engine/l1-cache';
import { type L1Read, L1Refill, REFILL_MAX_READS, REFILL_WINDOW_MS } from '../../lib/engine/l1-refill';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { NotingL1Cache } from '../support/tracking-recorder';
import { until } from '../support/until';

/** SET with a TTL and PUBLISH in one script: the message goes out before the SET's invalidation. */
const STORE_AND_PUBLISH = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])`;

describe('L1Refill', () => {
  let redis: TestRedis;
  let admin: Redis;
  let reader: Redis;
  let subscriber: Redis;
  let cache: NotingL1Cache;
  let refill: L1Refill;
  let tracker: InvalidationTracker;
  let reads: number;
  let n = 0;
  let tag: string;

  /** The read the read path will give: value and PTTL in one round trip. */
  const read: L1Read = async (key) => {
    reads++;
    const [value, pttl] = await Promise.all([reader.get(key), reader.pttl(key)]);
    if (value === null || pttl === -2) return undefined;
    return { value: JSON.parse(value), bytes: Buffer.byteLength(value), ttl: pttl === -1 ? Infinity : pttl };
  };
  /** Waits until the tracker has passed on every invalidation of writes made so far. */
  const settled = async () => {
    const barrier = `${tag}:barrier-${Math.random()}`;
    await admin.set(barrier, '1');
    await until(() => cache.heard.has(barrier), 'the barrier is reported');
  };
  const messages = new Map<string, (message: string) => void>();
  /** A waiter: ticket, then subscription; resolves with the ticket and the first message. */
  async function waiter(key: string): Promise<{ ticket: L1Ticket; message: Promise<string> }> {
    const ticket = cache.beginRead();
    const channel = `${tag}/notif:${key}`;
    const message = new Promise<string>((resolve) => messages.set(channel, resolve));
    await subscriber.subscribe(channel);
    return { ticket, message };
  }
  /** Until the window of every expected key has passed its reads. */
  const reread = () => until(() => refill.reading === 0, 'no re-read is under way');

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
    reader = redis.client();
  });
  beforeEach(async () => {
    tag = `rf${++n}`;
    reads = 0;
    subscriber = redis.client();
    subscriber.on('message', (channel: string, message: string) => messages.get(channel)?.(message));
    cache = new NotingL1Cache({ maxEntries: 100 });
    refill = new L1Refill(cache, read);
    tracker = new InvalidationTracker(redis.client(), refill, {
      commandTimeout: 1_000,
      logger: recordingLogger(),
    });
    tracker.track([`${tag}:`]);
    await until(() => tracker.active, 'tracking is on');
  });
  afterEach(async () => {
    refill.close();
    await tracker.close();
    subscriber.disconnect();
  });
  afterAll(() => redis.stop());

  it("warms the L1 after a script's SET + PUBLISH, whose message comes before its invalidation", async () => {
    const key = `${tag}:a`;
    const { ticket, message } = await waiter('a');
    await admin.eval(STORE_AND_PUBLISH, 1, key, '"scripted"', 60_000, `${tag}/notif:a`);
    expect(await message).toBe('"scripted"');
    refill.expect(key, ticket);
    await until(() => cache.get(key)?.value === 'scripted', 'the L1 holds the value');
    await settled();
    await reread();
    expect(cache.get(key)?.value).toBe('scripted');
    expect(reads).toBeLessThanOrEqual(2);
  });

  it('warms the L1 after a plain SET then PUBLISH, whose invalidation comes before its message', async () => {
    const key = `${tag}:b`;
    const { ticket, message } = await waiter('b');
    await admin.set(key, '"plain"', 'PX', 60_000);
    await admin.publish(`${tag}/notif:b`, '"plain"');
    await message;
    refill.expect(key, ticket);
    await until(() => cache.get(key)?.value === 'plain', 'the L1 holds the value');
    await settled();
    await reread();
    expect(cache.get(key)?.value).toBe('plain');
  });

  it("keeps the holder's own fill or its re-read, never a value a later write replaced", async () => {
    for (let i = 0; i < 30; i++) {
      const key = `${tag}:h${i}`;
      const ticket = cache.beginRead();
      await admin.set(key, '"mine"', 'PX', 60_000); // the holder's store
      cache.fill(key, ticket, 'mine', 6, 60_000);
      refill.expect(key, ticket);
      if (i % 2 === 0) await admin.set(key, '"later"', 'PX', 60_000); // someone else's write, right after
      await settled();
      await reread();
      const value = cache.get(key)?.value;
      expect(value === undefined || value === (i % 2 === 0 ? 'later' : 'mine')).toBe(true);
    }
  });

  it('never keeps the woken value once a later write replaced it', async () => {
    for (let i = 0; i < 30; i++) {
      const key = `${tag}:w${i}`;
      const { ticket, message } = await waiter(`w${i}`);
      await admin.eval(STORE_AND_PUBLISH, 1, key, '"first"', 60_000, `${tag}/notif:w${i}`);
      await admin.set(key, '"second"', 'PX', 60_000);
      await message;
      refill.expect(key, ticket);
      await settled();
      await reread();
      expect([undefined, 'second']).toContain(cache.get(key)?.value);
    }
  });

  it(`reads at most ${REFILL_MAX_READS} times per write expected, and not after ${REFILL_WINDOW_MS} ms`, async () => {
    const key = `${tag}:busy`;
    await admin.set(key, '"0"');
    refill.expect(key, cache.beginRead());
    for (let i = 1; i <= 10; i++) {
      await admin.set(key, `"${i}"`);
      await settled();
    }
    await until(() => reads === REFILL_MAX_READS, 'the bound is reached');
    await reread();
    expect(reads).toBe(REFILL_MAX_READS);

    const quiet = `${tag}:quiet`;
    await admin.set(quiet, '"0"');
    let now = 0;
    const timed = new L1Refill(cache, read, () => now);
    timed.expect(quiet, cache.beginRead());
    now = REFILL_WINDOW_MS + 1;
    const before = reads;
    timed.invalidate(quiet);
    expect(reads).toBe(before);
    expect(timed.expected).toBe(0);
  });
});
