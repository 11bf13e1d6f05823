/**
 * The L1 in the engine's read path, against a real Redis: a value the L1 holds answers without any command
 * on the engine's client (counted by a wrapper around the real client); a Redis hit, a stored value and a
 * woken waiter's value (from our engine or from a Go-style `SET` + `PUBLISH`) make the next call local;
 * another client's SET, DEL and EXPIRE, and the key's expiry, make it read Redis again; a GET reply held
 * back past a later write never leaves the old value; a dropped tracking connection empties the L1; values
 * are read-only; tags with `earlyRefresh` bypass it (XFetch still refreshes) and a `grace` value is not
 * served from it past its ttl.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import type { RedisMemoLockEngine } from '../../lib';
import { withFaults, type FaultyClient } from '../support/faulty-client';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { startTcpProxy } from '../support/tcp-proxy';
import { commandCalls, until } from '../support/until';

const run = promisify(execFile);

/** Client methods that send something to Redis (the wrapper records every method called). */
const SENDS = /^(?!on$|once$|off$|emit$|removeListener$|listeners$|listenerCount$|duplicate$)/;

describe('the L1 in the read path', () => {
  let redis: TestRedis;
  let admin: Redis;
  let n = 0;
  let tag: string;

  function l1Engine(options: { maxEntries?: number; maxBytes?: number } = {}) {
    const faulty = withFaults(redis.client());
    const engine = redis.engine({ client: faulty.client, l1: { maxEntries: 1_000, ...options } });
    return { engine, faulty };
  }
  /** What the engine sent to Redis while `during` ran. */
  async function sentDuring(faulty: FaultyClient, during: () => Promise<unknown>): Promise<string[]> {
    const before = faulty.calls.length;
    await during();
    return faulty.calls.slice(before).filter((name) => SENDS.test(name));
  }
  const active = (engine: RedisMemoLockEngine) =>
    until(() => engine.l1!.tracker.active, 'tracking is active', 10_000);
  const held = (engine: RedisMemoLockEngine, id: string) => engine.l1!.cache.get(`${tag}:${id}`)?.value;
  const never = () => Promise.reject(new Error('computed'));
  /** Calls until the L1 holds the value: a key Redis answers is kept from its second read on. */
  const warm = (
    engine: RedisMemoLockEngine,
    handle: { getResource: (...a: never[]) => Promise<unknown> },
    id: string,
  ) =>
    until(async () => {
      await (handle.getResource as (id: string, t: number, c: typeof never) => Promise<unknown>)(
        id,
        1_000,
        never,
      );
      return held(engine, id) !== undefined;
    }, 'the L1 is warm');

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  beforeEach(() => {
    tag = `lr${++n}`;
  });
  afterAll(() => redis.stop());

  it('answers a value it holds without any Redis command, with status hit', async () => {
    const { engine, faulty } = l1Engine();
    const handle = engine.memoLock<{ n: number }>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await admin.set(`${tag}:a`, JSON.stringify({ n: 1 }), 'PX', 60_000);
    expect(await handle.getResource('a', 1_000, never)).toEqual({ n: 1 }); // a Redis hit
    await sleep(20);
    expect(held(engine, 'a')).toBeUndefined(); // a key read once is not kept
    await warm(engine, handle, 'a');

    const sent = await sentDuring(faulty, async () => {
      for (let i = 0; i < 100; i++) expect(await handle.getResource('a', 1_000, never)).toEqual({ n: 1 });
      expect(await handle.getResourceWithStatus('a', 1_000, never)).toEqual({
        value: { n: 1 },
        status: 'hit',
      });
    });
    expect(sent).toEqual([]);
  });

  it('reports a hit from the L1 as a hit to an events listener', async () => {
    const { engine, faulty } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await admin.set(`${tag}:a`, '"v"', 'PX', 60_000);
    await warm(engine, handle, 'a');
    const hits: string[] = [];
    const stop = engine.events.on('hit', (event) => hits.push(`${event.tag}:${event.id}`));
    try {
      const sent = await sentDuring(faulty, () => handle.getResource('a', 1_000, never));
      expect(sent).toEqual([]);
      expect(hits).toEqual([`${tag}:a`]);
    } finally {
      stop();
    }
  });

  it('hands out read-only values: mutating one throws and changes nothing for other callers', async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<{ list: number[]; inner: { x: number } }>(tag, { lockTimeout: 1_000 });
    await active(engine);
    const computed = await handle.getResource('a', 1_000, () => ({
      value: { list: [1], inner: { x: 1 } },
      ttl: 60_000,
    }));
    // The value a holder computed and stored comes back frozen too.
    expect(Object.isFrozen(computed)).toBe(true);
    await until(() => held(engine, 'a') !== undefined, 'the L1 is warm');
    const mine = await handle.getResource('a', 1_000, never);
    expect(() => mine.list.push(2)).toThrow(TypeError);
    expect(() => (mine.inner.x = 2)).toThrow(TypeError);
    expect(await handle.getResource('a', 1_000, never)).toEqual({ list: [1], inner: { x: 1 } });
  });

  it("serves a holder's stored value locally on the next call", async () => {
    const { engine, faulty } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    const first = await handle.getResourceWithStatus('a', 1_000, async () => ({ value: 'v1', ttl: 60_000 }));
    expect(first.status).toBe('stored');
    await until(() => held(engine, 'a') === 'v1', 'the L1 holds the stored value');
    expect(await sentDuring(faulty, () => handle.getResource('a', 1_000, never))).toEqual([]);
  });

  it('reads a stampeded key back once for all its callers, not once per caller', async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<number>(tag, { lockTimeout: 5_000 });
    await active(engine);
    // Each background read runs one PTTL (in its script): Redis's own count tells how many were made.
    const before = await commandCalls(admin, 'pttl');
    const slow = async () => {
      await sleep(50);
      return { value: 1, ttl: 60_000 };
    };
    const values = await Promise.all(Array.from({ length: 200 }, () => handle.getResource('a', 5_000, slow)));
    expect(values).toEqual(Array(200).fill(1));
    await until(() => held(engine, 'a') === 1, 'the L1 holds the stored value');
    await sleep(100); // any read still to come would be under way by now
    expect((await commandCalls(admin, 'pttl')) - before).toBeLessThanOrEqual(2);
  });

  it("a woken waiter's next call is local, whoever produced the value", async () => {
    const { engine, faulty } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 5_000 });
    await active(engine);

    // Our engine in another connection holds the lock and computes slowly.
    const other = redis.engine().memoLock<string>(tag, { lockTimeout: 5_000 });
    let release!: () => void;
    const computing = new Promise<void>((resolve) => (release = resolve));
    const holder = other.getResource('ours', 5_000, async () => {
      await computing;
      return { value: 'from-engine', ttl: 60_000 };
    });
    await until(async () => (await admin.exists(`${tag}/lock:ours`)) === 1, 'the holder has the lock');
    const waiting = handle.getResourceWithStatus('ours', 5_000, never);
    await until(() => engine.subscribedTags.includes(tag), 'the waiter subscribed');
    release();
    expect(await waiting).toEqual({ value: 'from-engine', status: 'collapsed' });
    await holder;
    await until(() => held(engine, 'ours') === 'from-engine', 'the L1 holds the value');
    expect(await sentDuring(faulty, () => handle.getResource('ours', 1_000, never))).toEqual([]);

    // A Go-style producer: SET NX the lock, later a plain SET then PUBLISH.
    await admin.set(`${tag}/lock:go`, 'go-holder', 'PX', 5_000);
    const woken = handle.getResourceWithStatus('go', 5_000, never);
    await until(() => engine.subscribedTags.includes(tag), 'the waiter subscribed');
    await sleep(50); // the waiter reads the lock's PTTL and sleeps on the message
    await admin.set(`${tag}:go`, '"from-go"', 'PX', 60_000);
    await admin.publish(`${tag}/notif:go`, '"from-go"');
    await admin.del(`${tag}/lock:go`);
    expect(await woken).toEqual({ value: 'from-go', status: 'collapsed' });
    await until(() => held(engine, 'go') === 'from-go', 'the L1 holds the value');
    expect(await sentDuring(faulty, () => handle.getResource('go', 1_000, never))).toEqual([]);

    // And that producer's next plain SET is seen at once.
    await admin.set(`${tag}:go`, '"from-go-2"', 'PX', 60_000);
    await until(() => held(engine, 'go') !== 'from-go', 'the write drops the entry');
    expect(await handle.getResource('go', 1_000, never)).toBe('from-go-2');
  });

  it.each([
    ['SET', (key: string) => ['SET', key, '"changed"']],
    ['DEL', (key: string) => ['DEL', key]],
  ])('reads Redis again after redis-cli %s of the key', async (_name, command) => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await admin.set(`${tag}:a`, '"original"', 'PX', 60_000);
    await warm(engine, handle, 'a');
    expect(held(engine, 'a')).toBe('original');

    await run('redis-cli', ['-p', String(redis.port), ...command(`${tag}:a`)]);
    await until(() => held(engine, 'a') !== 'original', 'the entry is dropped');
    const after = await handle.getResource('a', 1_000, async () => ({ value: 'recomputed', ttl: 60_000 }));
    expect(after).toBe(_name === 'SET' ? 'changed' : 'recomputed');
  });

  it('takes the ttl that redis-cli EXPIRE sets: the entry goes, and comes back with the shorter deadline', async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await admin.set(`${tag}:a`, '"original"', 'PX', 60_000);
    await warm(engine, handle, 'a');

    // Short next to the original minute, long enough for the reads below on a loaded machine.
    await run('redis-cli', ['-p', String(redis.port), 'PEXPIRE', `${tag}:a`, '3000']);
    await until(() => held(engine, 'a') === undefined, 'the entry is dropped');
    expect(await handle.getResource('a', 1_000, never)).toBe('original');
    await warm(engine, handle, 'a');
    expect(held(engine, 'a')).toBe('original');
    expect(engine.l1!.cache.get(`${tag}:a`)!.expiresAt).toBeLessThanOrEqual(performance.now() + 3_000);
    await until(() => held(engine, 'a') === undefined, 'the entry lapses with the key', 15_000);
    // The L1's deadline is the key's, counted from before the read went out: a little ahead of Redis's.
    await until(async () => (await admin.exists(`${tag}:a`)) === 0, 'the key expired');
    const after = await handle.getResource('a', 1_000, async () => ({ value: 'recomputed', ttl: 60_000 }));
    expect(after).toBe('recomputed');
  });

  it("never keeps an entry past its key's ttl", async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await handle.getResource('a', 1_000, async () => ({ value: 'short', ttl: 1_000 }));
    await until(() => held(engine, 'a') === 'short', 'the L1 is warm');
    const deadline = engine.l1!.cache.get(`${tag}:a`)!.expiresAt;
    expect(deadline).toBeLessThanOrEqual(performance.now() + 1_000);
    await until(() => held(engine, 'a') === undefined, 'the entry lapses', 10_000);
    // The L1's deadline is the key's, counted from before the write went out: a little ahead of Redis's.
    await until(async () => (await admin.exists(`${tag}:a`)) === 0, 'the key expired');
    expect(await handle.getResource('a', 1_000, async () => ({ value: 'next', ttl: 60_000 }))).toBe('next');
  });

  it('a GET reply held back past a later write never leaves the old value in the L1', async () => {
    const { engine, faulty } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    const key = `${tag}:a`;
    await admin.set(key, '"old"', 'PX', 60_000);
    // The second Redis hit starts the L1's background read: its reply comes 300 ms late.
    const late = faulty.inject({
      command: 'exec',
      when: (args) => args.includes(key),
      delayReply: 300,
    });
    expect(await handle.getResource('a', 1_000, never)).toBe('old');
    expect(await handle.getResource('a', 1_000, never)).toBe('old');
    await until(() => late.hits === 1, 'the background read is under way');
    await admin.set(key, '"new"', 'PX', 60_000); // runs after the late GET, is reported before its reply
    await late.settled;
    await sleep(20);
    expect(held(engine, 'a')).toBeUndefined();
    late.remove();
    expect(await handle.getResource('a', 1_000, never)).toBe('new');
    await until(() => held(engine, 'a') === 'new', 'the L1 is warm with the new value');
  });

  it('invalidate() and invalidateAll() from this process take effect at once here', async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    let version = 0;
    const compute = async () => ({ value: `v${++version}`, ttl: 60_000 });
    expect(await handle.getResource('a', 1_000, compute)).toBe('v1');
    await until(() => held(engine, 'a') === 'v1', 'the L1 is warm');
    await handle.invalidate('a');
    expect(await handle.getResource('a', 1_000, compute)).toBe('v2');
    await until(() => held(engine, 'a') === 'v2', 'the L1 is warm');
    await handle.invalidateAll();
    expect(await handle.getResource('a', 1_000, compute)).toBe('v3');
  });

  it('empties when a tracking connection drops, and reads Redis until tracking is back', async () => {
    const { engine } = l1Engine();
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await handle.getResource('a', 1_000, async () => ({ value: 'v', ttl: 60_000 }));
    await until(() => held(engine, 'a') === 'v', 'the L1 is warm');

    await admin.call('CLIENT', 'KILL', 'SKIPME', 'yes', 'TYPE', 'pubsub'); // the invalidation subscribers
    await until(() => engine.l1!.cache.size === 0, 'the L1 is emptied');
    // Written while nothing reports it: must not be missed.
    await admin.set(`${tag}:a`, '"written-meanwhile"', 'PX', 60_000);
    expect(await handle.getResource('a', 1_000, never)).toBe('written-meanwhile');
    await active(engine);
    await until(async () => {
      await handle.getResource('a', 1_000, never);
      return held(engine, 'a') === 'written-meanwhile';
    }, 'the L1 fills again');
    await admin.set(`${tag}:a`, '"after"', 'PX', 60_000);
    await until(() => held(engine, 'a') !== 'written-meanwhile', 'writes are reported again');
  });

  it('empties when the tracking connections stop answering without closing (a silent network cut)', async () => {
    const proxy = await startTcpProxy(redis.port);
    try {
      const client = redis.adopt(new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
      client.on('error', () => undefined);
      const engine = redis.engine({ client, l1: { maxEntries: 100 }, logger: recordingLogger() });
      const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
      await active(engine);
      await handle.getResource('a', 1_000, async () => ({ value: 'v', ttl: 60_000 }));
      await until(() => held(engine, 'a') === 'v', 'the L1 is warm');

      proxy.stall();
      await admin.set(`${tag}:a`, '"written-during-the-cut"', 'PX', 60_000); // reported to nobody
      await until(() => engine.l1!.cache.size === 0, 'the L1 is emptied', 5_000);
      expect(engine.l1!.tracker.active).toBe(false);

      proxy.resume();
      await active(engine);
      expect(await handle.getResource('a', 2_000, never)).toBe('written-during-the-cut');
    } finally {
      await proxy.close();
    }
  });

  it("works under the client's keyPrefix: keys read and reported as the client names them", async () => {
    const engine = redis.engine({ client: redis.client({ keyPrefix: 'app:' }), l1: { maxEntries: 100 } });
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await admin.set(`app:${tag}:a`, '"prefixed"', 'PX', 60_000);
    await admin.set(`${tag}:a`, '"unprefixed"', 'PX', 60_000);
    await warm(engine, handle, 'a');
    expect(held(engine, 'a')).toBe('prefixed');
    await admin.set(`${tag}:a`, '"other"', 'PX', 60_000); // another namespace's key: not ours
    await sleep(50);
    expect(held(engine, 'a')).toBe('prefixed');
    await admin.set(`app:${tag}:a`, '"changed"', 'PX', 60_000);
    await until(() => held(engine, 'a') === undefined, 'the write is reported');
    expect(await handle.getResource('a', 1_000, never)).toBe('changed');
  });

  it('keeps each serializer’s decoding apart', async () => {
    const { engine } = l1Engine();
    const json = engine.memoLock(tag, { lockTimeout: 1_000 });
    const raw = engine.memoLock(tag, { lockTimeout: 1_000, serializer: 'raw' });
    await active(engine);
    await admin.set(`${tag}:a`, '{"n":1}', 'PX', 60_000);
    await warm(engine, json, 'a');
    expect(await raw.getResource('a', 1_000, never)).toBe('{"n":1}');
    expect(await json.getResource('a', 1_000, never)).toEqual({ n: 1 });
  });

  it('keeps maxEntries and maxBytes', async () => {
    const { engine } = l1Engine({ maxEntries: 5, maxBytes: 60 });
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    for (let i = 0; i < 20; i++) {
      await handle.getResource(`k${i}`, 1_000, async () => ({ value: `value-${i}`, ttl: 60_000 }));
      await until(() => held(engine, `k${i}`) !== undefined, 'filled');
      expect(engine.l1!.cache.size).toBeLessThanOrEqual(5);
    }
    const big = 'x'.repeat(100);
    await handle.getResource('big', 1_000, async () => ({ value: big, ttl: 60_000 }));
    await sleep(50);
    expect(held(engine, 'big')).toBeUndefined(); // larger than maxBytes on its own
    expect(engine.l1!.cache.bytes).toBeLessThanOrEqual(60);
  });

  it('works for an ACL user allowed only CLIENT ID, TRACKING and SETNAME of CLIENT', async () => {
    await admin.call(
      'ACL',
      'SETUSER',
      'l1user',
      'on',
      '>secret',
      '~*',
      '&*',
      '+@all',
      '-client',
      '+client|id',
      '+client|tracking',
      '+client|setname',
    );
    const engine = redis.engine({
      client: redis.client({ username: 'l1user', password: 'secret' }),
      l1: { maxEntries: 100 },
    });
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await active(engine);
    await handle.getResource('a', 1_000, async () => ({ value: 'v', ttl: 60_000 }));
    await until(() => held(engine, 'a') === 'v', 'the L1 is warm');
    await admin.set(`${tag}:a`, '"changed"', 'PX', 60_000);
    await until(() => held(engine, 'a') === undefined, 'the write is reported');
  });

  it('serves every call from Redis, and says so once, when an ACL refuses tracking', async () => {
    await admin.call('ACL', 'SETUSER', 'nol1', 'on', '>secret', '~*', '&*', '+@all', '-client');
    const logger = recordingLogger();
    const engine = redis.engine({
      client: redis.client({ username: 'nol1', password: 'secret' }),
      l1: { maxEntries: 100 },
      logger,
    });
    const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000 });
    await until(() => logger.matching(/refused client tracking/).length > 0, 'the refusal is logged');
    let version = 0;
    const compute = async () => ({ value: `v${++version}`, ttl: 60_000 });
    for (let i = 0; i < 3; i++) expect(await handle.getResource('a', 1_000, compute)).toBe('v1');
    expect(engine.l1!.cache.size).toBe(0);
    await admin.set(`${tag}:a`, '"changed"', 'PX', 60_000);
    expect(await handle.getResource('a', 1_000, compute)).toBe('changed');
    expect(logger.matching(/refused client tracking/)).toHaveLength(1);
  });

  describe('with freshness options', () => {
    it('a tag with earlyRefresh reads Redis on every call, so XFetch still refreshes early', async () => {
      const { engine, faulty } = l1Engine();
      // A huge beta: every hit near enough to its expiry refreshes.
      const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000, earlyRefresh: { beta: 1e6 } });
      await active(engine);
      let computations = 0;
      const compute = async () => {
        computations++;
        await sleep(20);
        return { value: `v${computations}`, ttl: 60_000 };
      };
      await handle.getResource('a', 1_000, compute);
      const sent = await sentDuring(faulty, () => handle.getResource('a', 1_000, compute));
      expect(sent.length).toBeGreaterThan(0);
      expect(engine.l1!.cache.size).toBe(0);
      await until(() => computations >= 2, 'an early refresh ran');
    });

    it('a grace value is served from the L1 only while its key lives, then stale as from Redis', async () => {
      const { engine } = l1Engine();
      const handle = engine.memoLock<string>(tag, { lockTimeout: 1_000, grace: 60_000 });
      await active(engine);
      // A ttl long enough for the hit below on a loaded machine.
      await handle.getResource('a', 1_000, async () => ({ value: 'v1', ttl: 1_500 }));
      await until(() => held(engine, 'a') === 'v1', 'the L1 is warm');
      expect(await handle.getResourceWithStatus('a', 1_000, never)).toEqual({ value: 'v1', status: 'hit' });
      await until(async () => (await admin.exists(`${tag}:a`)) === 0, 'the key expired', 10_000);
      expect(held(engine, 'a')).toBeUndefined();
      const stale = await handle.getResourceWithStatus('a', 1_000, async () => {
        await sleep(100);
        return { value: 'v2', ttl: 60_000 };
      });
      expect(stale).toEqual({ value: 'v1', status: 'stale' });
    });
  });
});
