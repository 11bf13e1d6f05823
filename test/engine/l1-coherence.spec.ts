/**
 * An `L1Cache` kept coherent by an `InvalidationTracker`, against a real Redis: another client's write drops
 * the entry from every L1; a GET whose reply arrives after the invalidation of a later write never fills
 * (the reply is held back by a fault-injecting wrapper around a real client); a dropped tracking connection
 * empties the L1 and refuses reads begun before tracking was back; and under continuous writes and fills, no
 * replaced value is left once the last write's invalidation has arrived.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Redis from 'ioredis';
import { InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import { L1Cache, type L1Ticket } from '../../lib/engine/l1-cache';
import { withFaults } from '../support/faulty-client';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { NotingL1Cache } from '../support/tracking-recorder';
import { until } from '../support/until';

const run = promisify(execFile);

describe('L1 coherence with Redis client tracking', () => {
  let redis: TestRedis;
  let admin: Redis;
  const trackers: InvalidationTracker[] = [];
  let n = 0;
  let tag: string;

  function l1(client: Redis = redis.client()): { cache: NotingL1Cache; tracker: InvalidationTracker } {
    const cache = new NotingL1Cache({ maxEntries: 1_000 });
    const tracker = new InvalidationTracker(client, cache, {
      commandTimeout: 1_000,
      logger: recordingLogger(),
    });
    tracker.track([`${tag}:`]);
    trackers.push(tracker);
    return { cache, tracker };
  }
  const active = (...all: { tracker: InvalidationTracker }[]) =>
    until(() => all.every(({ tracker }) => tracker.active), 'tracking is active', 10_000);
  /** One read as the read path will do it: the value and its PTTL in one round trip, then a fill. */
  async function readInto(cache: L1Cache, client: Redis, key: string, ticket = cache.beginRead()) {
    const [value, pttl] = await Promise.all([client.get(key), client.pttl(key)]);
    if (value === null) return false;
    return cache.fill(key, ticket, value, Buffer.byteLength(value), pttl === -1 ? Infinity : pttl);
  }

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  beforeEach(() => {
    tag = `co${++n}`;
  });
  afterEach(() => Promise.all(trackers.splice(0).map((t) => t.close())));
  afterAll(() => redis.stop());

  it("drops an entry from every L1 when redis-cli writes its key, and keeps it no longer than the key's TTL", async () => {
    const all = [l1(), l1(), l1()];
    await active(...all);
    const key = `${tag}:a`;
    await admin.set(key, 'one', 'PX', 60_000);
    for (const { cache } of all) expect(await readInto(cache, admin, key)).toBe(true);
    await run('redis-cli', ['-p', String(redis.port), 'SET', key, 'two']);
    await until(() => all.every(({ cache }) => cache.get(key) === undefined), 'every L1 dropped it');

    await admin.set(key, 'short', 'PX', 300);
    const { cache } = all[0];
    expect(await readInto(cache, admin, key)).toBe(true);
    expect(cache.get(key)!.expiresAt - performance.now()).toBeLessThanOrEqual(300);
  });

  it('never fills from a GET whose reply comes after the invalidation of a later write', async () => {
    const { cache, tracker } = l1();
    await active({ tracker });
    const key = `${tag}:race`;
    await admin.set(key, 'old');
    const faulty = withFaults(redis.client());
    faulty.inject({ command: 'get', delayReply: 300 });
    const ticket: L1Ticket = cache.beginRead();
    const reply = faulty.client.get(key);
    await faulty.client.ping(); // the GET has run on Redis: its reply, 'old', is held back
    await admin.set(key, 'new');
    await until(() => cache.heard.has(key), 'the invalidation arrived first');
    expect(await reply).toBe('old');
    expect(cache.fill(key, ticket, 'old', 3, 60_000)).toBe(false);
    expect(cache.get(key)).toBeUndefined();
  });

  it('drops an entry whose fill came before the invalidation of the write that replaced it', async () => {
    const { cache, tracker } = l1();
    await active({ tracker });
    const key = `${tag}:late`;
    await admin.set(key, 'old');
    expect(await readInto(cache, admin, key)).toBe(true);
    await admin.set(key, 'new');
    await until(() => cache.get(key) === undefined, 'the entry is dropped');
  });

  it('empties the L1 when a tracking connection drops, and fills nothing read before tracking was back', async () => {
    const { cache, tracker } = l1();
    await active({ tracker });
    const key = `${tag}:k`;
    await admin.set(key, 'v');
    expect(await readInto(cache, admin, key)).toBe(true);
    const lines = String(await admin.call('CLIENT', 'LIST')).split('\n');
    const id = /^id=(\d+)/.exec(lines.find((l) => l.includes('name=nestjs-memolock:invalidations'))!)![1];
    await admin.call('CLIENT', 'KILL', 'ID', id);
    await until(() => !tracker.active, 'tracking is off');
    expect(cache.size).toBe(0);
    const during = cache.beginRead();
    expect(await readInto(cache, admin, key, during)).toBe(false);
    await active({ tracker });
    expect(await readInto(cache, admin, key, during)).toBe(false);
    expect(await readInto(cache, admin, key)).toBe(true);
  });

  it('empties every L1 on FLUSHALL', async () => {
    const all = [l1(), l1()];
    await active(...all);
    await admin.set(`${tag}:a`, 'v');
    for (const { cache } of all) expect(await readInto(cache, admin, `${tag}:a`)).toBe(true);
    await admin.flushall();
    await until(() => all.every(({ cache }) => cache.size === 0), 'every L1 is empty');
  });

  it('leaves no replaced value behind under continuous writes and fills, once the last write is reported', async () => {
    const { cache, tracker } = l1();
    await active({ tracker });
    const key = `${tag}:hot`;
    const writer = redis.client();
    // Replies held back 2 ms each: writes run meanwhile, and their invalidations often arrive first.
    const readers = [1, 2, 3, 4].map(() => {
      const faulty = withFaults(redis.client());
      faulty.inject({ command: 'get', delayReply: 2 });
      return faulty.client;
    });
    await writer.set(key, '0');
    let writing = true;
    let fills = 0;
    const reading = readers.map(async (reader) => {
      while (writing) if (await readInto(cache, reader, key)) fills++;
    });
    const WRITES = 2_000;
    for (let i = 1; i <= WRITES; i++) await writer.set(key, String(i));
    // Invalidations arrive in order on one connection: once the barrier's is in, the last write's is too.
    await writer.set(`${tag}:barrier`, 'b');
    await until(() => cache.heard.has(`${tag}:barrier`), 'the barrier is reported');
    const seen = new Set<unknown>();
    const until50 = performance.now() + 50;
    while (performance.now() < until50) {
      seen.add(cache.get(key)?.value);
      await new Promise((resolve) => setImmediate(resolve));
    }
    writing = false;
    await Promise.all(reading);
    seen.add(cache.get(key)?.value);
    seen.delete(undefined);
    expect([...seen].every((value) => value === String(WRITES))).toBe(true);
    expect(fills).toBeGreaterThan(0);
  });
});
