/**
 * Freshness and fail-safe (SPEC §7) on a real Redis, with several engines on separate clients (processes in
 * all but name; the cross-process tests are in freshness-processes.spec.ts): stale-while-revalidate, fail-safe
 * and its fleet-wide pause, soft timeouts, XFetch early refreshes, invalidation, values written by others, and
 * what a Go/C# peer sees meanwhile. Computations are held by gates rather than timed, so that "nobody waited
 * for it" is a fact of the test, not a measurement.
 */
import type Redis from 'ioredis';
import {
  MemoLockClosedError,
  type MemoLockCallOptions,
  MemoLockRemoteComputationError,
  type MemoLockOptions,
  type RedisMemoLockEngine,
} from '../../lib';
import { BOUND_TO_CALLER } from '../../lib/engine/memolock-handle';
import { withFaults } from '../support/faulty-client';
import { expectPlainProtocol, goStylePeer } from '../support/go-style-peer';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { commandCalls, until } from '../support/until';
import { gate } from '../support/gate';

jest.setTimeout(30_000);

describe('freshness and fail-safe', () => {
  let redis: TestRedis;
  let admin: Redis;
  let n = 0;
  const freshTag = () => `f${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());

  /** Stores `value` for `ttl` ms through `engine` under `options`, then waits until `T:I` has expired. */
  async function storeAndExpire(
    engine: RedisMemoLockEngine,
    tag: string,
    options: MemoLockOptions,
    value: unknown,
    ttl = 100,
  ): Promise<void> {
    await engine.memoLock(tag, options).getResource('k', 5_000, async () => ({ value, ttl }));
    await until(async () => (await admin.exists(`${tag}:k`)) === 0, `${tag}:k expired`);
  }

  describe('grace (stale-while-revalidate)', () => {
    it('answers the stale value at once after the ttl, and recomputes it once across engines, under the lock', async () => {
      const engines = [redis.engine(), redis.engine(), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      const peer = await goStylePeer(redis.client(), redis.client(), tag, 'k');
      await storeAndExpire(engines[0], tag, options, 'v1');

      const held = gate();
      let computations = 0;
      const slow = async () => {
        computations++;
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      const call = (engine: RedisMemoLockEngine) =>
        engine.memoLock(tag, options).getResourceWithStatus('k', 5_000, slow);
      // 3 engines x 10 callers: everyone answered while the recomputation is held.
      const first = await Promise.all(engines.flatMap((e) => Array.from({ length: 10 }, () => call(e))));
      expect(first).toEqual(Array(30).fill({ value: 'v1', status: 'stale' }));
      await until(() => computations === 1, 'the recomputation started');
      // Later callers, in every engine, keep getting the stale value without waiting.
      expect(await Promise.all(engines.map(call))).toEqual(Array(3).fill({ value: 'v1', status: 'stale' }));

      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
      expect(await Promise.all(engines.map(call))).toEqual(Array(3).fill({ value: 'v2', status: 'hit' }));
      expect(computations).toBe(1);
      // `T:I` holds the value for the computation's ttl; only the stale copy lives for ttl + grace.
      expect(await admin.pttl(`${tag}:k`)).toBeLessThanOrEqual(60_000);
      expect(await admin.pttl(`${tag}/stale:k`)).toBeGreaterThan(60_000);

      await peer.stop();
      expectPlainProtocol(peer, ['"v1"', '"v2"'], 60_000);
      expect(peer.reads.some((r) => r.raw === null)).toBe(true); // it saw the gap: no stale value written back
      expect(await peer.keysUnderTag()).toEqual([`${tag}:k`]);
    });

    it('answers a value stored between its first read and its read of the stale copy, without computing again', async () => {
      const faulty = withFaults(redis.client());
      const late = redis.engine({ client: faulty.client });
      const other = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      await storeAndExpire(other, tag, options, 'v1');
      // The read of the stale copy reaches Redis late: the other engine's refresh stores v2 meanwhile.
      const delayed = faulty.inject({
        command: 'memolockReadStale',
        when: (args) => JSON.stringify(args).includes(`${tag}/stale:k`),
        delay: 300,
      });
      let computations = 0;
      const compute = async () => {
        computations++;
        return { value: 'v2', ttl: 60_000 };
      };
      const slow = late.memoLock(tag, options).getResourceWithStatus('k', 5_000, compute);
      await until(() => delayed.hits === 1, 'the late read is under way');
      expect(await other.memoLock(tag, options).getResource('k', 5_000, compute)).toBe('v1');
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
      expect(await slow).toEqual({ value: 'v2', status: 'hit' });
      expect(computations).toBe(1);
    });

    it('serves nothing stale past the grace: the caller waits for the computation as before', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 150 };
      await storeAndExpire(engine, tag, options, 'v1', 50);
      await until(async () => (await admin.exists(`${tag}/stale:k`)) === 0, 'the grace ran out');
      const outcome = await engine
        .memoLock(tag, options)
        .getResourceWithStatus('k', 5_000, async () => ({ value: 'v2', ttl: 1_000 }));
      expect(outcome).toEqual({ value: 'v2', status: 'stored' });
    });

    it('accepts a stale copy for the reading call’s own grace at most', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      await storeAndExpire(engine, tag, { lockTimeout: 5_000, grace: 60_000 }, 'v1', 50);
      await sleep(100); // now ~50 ms or more into the grace
      const outcome = await engine
        .memoLock(tag, { lockTimeout: 5_000 })
        .getResourceWithStatus('k', 5_000, async () => ({ value: 'v2', ttl: 1_000 }), { grace: 10 });
      expect(outcome).toEqual({ value: 'v2', status: 'stored' });
    });

    it('with per-call options only: the call stores a stale copy and serves one', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const handle = engine.memoLock(tag, { lockTimeout: 5_000 });
      await handle.getResource('k', 5_000, async () => ({ value: 'v1', ttl: 50 }), { grace: 60_000 });
      await until(async () => (await admin.exists(`${tag}:k`)) === 0, 'v1 expired');
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      expect(await handle.getResourceWithStatus('k', 5_000, slow, { grace: 60_000 })).toEqual({
        value: 'v1',
        status: 'stale',
      });
      // The same handle without the option waits for the value, as it always did.
      const waiting = handle.getResourceWithStatus('k', 5_000, slow);
      held.open();
      expect(await waiting).toMatchObject({ value: 'v2' });
    });
  });

  describe('fail-safe', () => {
    it('answers the stale value when the recomputation fails, logs it, and attempts at most once per failSafeThrottle fleet-wide', async () => {
      const loggers = [recordingLogger(), recordingLogger()];
      const engines = loggers.map((logger) => redis.engine({ logger }));
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, failSafeThrottle: 400 };
      const peer = await goStylePeer(redis.client(), redis.client(), tag, 'k');
      await storeAndExpire(engines[0], tag, options, 'v1');

      const attempts: number[] = [];
      const failing = async (): Promise<never> => {
        attempts.push(performance.now());
        throw new Error('source down');
      };
      const results: unknown[] = [];
      const end = performance.now() + 1_500;
      while (performance.now() < end) {
        const round = await Promise.all(
          engines.flatMap((e) =>
            Array.from({ length: 5 }, () =>
              e.memoLock(tag, options).getResourceWithStatus('k', 5_000, failing),
            ),
          ),
        );
        results.push(...round);
        await sleep(10);
      }
      expect(results.length).toBeGreaterThan(20);
      expect(
        results.every((r) => JSON.stringify(r) === JSON.stringify({ value: 'v1', status: 'stale' })),
      ).toBe(true);
      expect(attempts.length).toBeGreaterThanOrEqual(2); // it does retry, once the pause is over...
      for (let i = 1; i < attempts.length; i++) {
        expect(attempts[i] - attempts[i - 1]).toBeGreaterThanOrEqual(390); // ...never within one
      }
      const logged = loggers.flatMap((l) => l.matching(/failed \(source down\).*fail-safe.*400 ms/));
      expect(logged).toHaveLength(attempts.length);
      expect(logged.every((line) => line.level === 'warn')).toBe(true);

      await peer.stop();
      expectPlainProtocol(peer, ['"v1"'], 100);
      expect(peer.notifications).toEqual([['' + `${tag}/notif:k`, '"v1"']]);
    });

    it('tells waiters in other engines, who answer their stale value too, within milliseconds', async () => {
      const [a, b] = [redis.engine({ logger: recordingLogger() }), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 20_000 };
      await storeAndExpire(a, tag, options, 'v1');
      const held = gate();
      let computing = false;
      const holder = a.memoLock(tag, options).getResourceWithStatus('k', 30_000, async () => {
        computing = true;
        await held.opened;
        throw new Error('nope');
      });
      await until(() => computing, 'a computes');
      const waiter = b
        .memoLock(tag, options)
        .getResourceWithStatus('k', 30_000, async () => ({ value: 'never', ttl: 1 }));
      await sleep(50);
      const failedAt = performance.now();
      held.open();
      expect(await holder).toEqual({ value: 'v1', status: 'stale' });
      expect(await waiter).toEqual({ value: 'v1', status: 'stale' });
      expect(performance.now() - failedAt).toBeLessThan(5_000); // far from the 20 s soft timeout
    });

    it('keeps onComputeError when no stale value exists: the error, here and in other engines', async () => {
      const [a, b] = [redis.engine(), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      const held = gate();
      let computing = false;
      const holder = a
        .memoLock(tag, options)
        .getResource('cold', 10_000, async () => {
          computing = true;
          await held.opened;
          throw new Error('cold and broken');
        })
        .catch((e: unknown) => e);
      await until(() => computing, 'a computes');
      const waiter = b
        .memoLock(tag, options)
        .getResource('cold', 10_000, async () => ({ value: 'never', ttl: 1 }))
        .catch((e: unknown) => e);
      await sleep(50);
      held.open();
      expect(await holder).toMatchObject({ message: 'cold and broken' });
      expect(await waiter).toBeInstanceOf(MemoLockRemoteComputationError);
      expect(await admin.exists(`${tag}/throttle:cold`)).toBe(0); // no stale value, no pause
    });

    it('answers the stale value when Redis fails and computing without it fails too', async () => {
      const faulty = withFaults(redis.client());
      const logger = recordingLogger();
      const engine = redis.engine({ client: faulty.client, logger, onRedisError: 'compute' });
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 20_000 };
      await storeAndExpire(engine, tag, options, 'v1');
      // The lock cannot be taken: Redis does not answer (the first reads went through).
      faulty.inject({
        command: 'set',
        when: (args) => args.includes('NX'),
        fail: new Error('connection lost'),
      });
      let computed = 0;
      const outcome = await engine.memoLock(tag, options).getResourceWithStatus('k', 30_000, async () => {
        computed++;
        throw new Error('and the source too');
      });
      expect(outcome).toEqual({ value: 'v1', status: 'stale' });
      expect(computed).toBe(1);
      expect(logger.matching(/and the source too.*fail-safe/)).toHaveLength(1);
    });
  });

  describe('options in fractions of a millisecond', () => {
    it('a fractional grace stores the value with its record and stale copy (rounded up)', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const handle = engine.memoLock(tag, { lockTimeout: 5_000, grace: 1_500.5 });
      expect(
        await handle.getResourceWithStatus('k', 5_000, async () => ({ value: 'v1', ttl: 60_000 })),
      ).toEqual({ value: 'v1', status: 'stored' });
      expect(await admin.exists(`${tag}/meta:k`, `${tag}/stale:k`)).toBe(2);
      expect(await admin.pttl(`${tag}/stale:k`)).toBeGreaterThan(60_000);
    });

    it('a fractional failSafeThrottle still pauses attempts fleet-wide', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, failSafeThrottle: 5_000.5 };
      const handle = engine.memoLock(tag, options);
      await storeAndExpire(engine, tag, options, 'v1');
      let attempts = 0;
      const failing = async () => {
        attempts++;
        throw new Error('down');
      };
      expect(await handle.getResource('k', 5_000, failing)).toBe('v1');
      await until(() => engine.pendingResources === 0, 'the refresh is over');
      expect(await handle.getResource('k', 5_000, failing)).toBe('v1');
      await until(() => engine.pendingResources === 0, 'the refresh is over');
      expect(attempts).toBe(1);
      expect(await admin.pttl(`${tag}/throttle:k`)).toBeGreaterThan(0);
    });
  });

  describe('softTimeout', () => {
    it('waits that long for the recomputation, then answers the stale value; the computation goes on and stores for everyone', async () => {
      const [a, b] = [redis.engine(), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 200 };
      await storeAndExpire(a, tag, options, 'v1');
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      const started = performance.now();
      const outcomes = await Promise.all(
        [a, b].map((e) => e.memoLock(tag, options).getResourceWithStatus('k', 10_000, slow)),
      );
      expect(outcomes).toEqual(Array(2).fill({ value: 'v1', status: 'stale' }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(190); // they did wait for it
      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
      expect(await b.memoLock(tag, options).getResourceWithStatus('k', 1_000, slow)).toEqual({
        value: 'v2',
        status: 'hit',
      });
    });

    it('answers the fresh value when it comes first', async () => {
      const [a, b] = [redis.engine(), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 10_000 };
      await storeAndExpire(a, tag, options, 'v1');
      let computations = 0;
      const quick = async () => {
        computations++;
        await sleep(100);
        return { value: 'v2', ttl: 60_000 };
      };
      const outcomes = await Promise.all(
        [a, b].map((e) => e.memoLock(tag, options).getResourceWithStatus('k', 10_000, quick)),
      );
      expect(outcomes.map((o) => o.value)).toEqual(['v2', 'v2']);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['collapsed', 'stored']);
      expect(computations).toBe(1);
    });
  });

  describe('a caller whose timeout comes first', () => {
    it('gets the stale value rather than a timeout (its softTimeout is longer than its timeout)', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 2_000 };
      await storeAndExpire(engine, tag, options, 'v1');
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      const outcome = await engine.memoLock(tag, options).getResourceWithStatus('k', 300, slow);
      expect(outcome).toEqual({ value: 'v1', status: 'stale' });
      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'the computation went on and stored');
    });

    it('bound to its own computation (a route handler) and refreshing early, gets the current value, not a timeout', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, earlyRefresh: { beta: Infinity } };
      const handle = engine.memoLock(tag, options);
      await handle.getResource('k', 5_000, async () => ({ value: 'v1', ttl: 60_000 }));
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      // What the interceptor passes for a memoized route: the handler's work belongs to its request.
      const bound = { [BOUND_TO_CALLER]: true } as MemoLockCallOptions;
      expect(await handle.getResourceWithStatus('k', 300, slow, bound)).toEqual({
        value: 'v1',
        status: 'hit',
      });
      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'the refresh went on and stored');
    });
  });

  describe('earlyRefresh (XFetch)', () => {
    it('{ beta: Infinity } refreshes on a hit, under the lock, while every caller gets the current value', async () => {
      const engines = [redis.engine(), redis.engine(), redis.engine()];
      const tag = freshTag();
      const options = { lockTimeout: 5_000, earlyRefresh: { beta: Infinity } };
      const peer = await goStylePeer(redis.client(), redis.client(), tag, 'k');
      let computations = 0;
      const held = gate();
      const compute = async () => {
        computations++;
        if (computations > 1) await held.opened;
        return { value: `v${computations}`, ttl: 60_000 };
      };
      const call = (e: RedisMemoLockEngine) =>
        e.memoLock(tag, options).getResourceWithStatus('k', 5_000, compute);
      expect(await call(engines[0])).toEqual({ value: 'v1', status: 'stored' });
      const hits = await Promise.all(engines.flatMap((e) => [call(e), call(e)]));
      expect(hits).toEqual(Array(6).fill({ value: 'v1', status: 'hit' }));
      await until(() => computations === 2, 'one refresh started');
      expect(await Promise.all(engines.map(call))).toEqual(Array(3).fill({ value: 'v1', status: 'hit' }));
      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
      expect(computations).toBe(2); // one refresh for all three engines
      await peer.stop();
      expectPlainProtocol(peer, ['"v1"', '"v2"'], 60_000);
      const sinceStored = peer.reads.slice(peer.reads.findIndex((r) => r.raw !== null));
      expect(sinceStored.every((r) => r.raw !== null)).toBe(true); // the value never went missing
    });

    it('a miss that takes the lock just after someone stored the value reads it rather than computing it twice', async () => {
      const faulty = withFaults(redis.client());
      const late = redis.engine({ client: faulty.client });
      const other = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, earlyRefresh: {} };
      const held = gate();
      let computations = 0;
      const compute = async () => {
        computations++;
        await held.opened;
        return { value: 'v', ttl: 60_000 };
      };
      const first = other.memoLock(tag, options).getResource('k', 5_000, compute);
      await until(() => computations === 1, 'the other engine computes');
      // This engine's lock attempt (the read-or-lock script) reaches Redis once the other has stored its
      // value and released the lock.
      const delayed = faulty.inject({ command: 'memolockReadOrLock', delay: 300 });
      const second = late.memoLock(tag, options).getResourceWithStatus('k', 5_000, compute);
      await until(() => delayed.hits === 1, 'the late lock attempt is under way');
      held.open();
      expect(await first).toBe('v');
      expect(await second).toEqual({ value: 'v', status: 'collapsed' });
      expect(computations).toBe(1);
    });

    it('tries once per value and process: hits after a failed early refresh do not each try the lock again', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, earlyRefresh: { beta: Infinity }, failSafeThrottle: 60_000 };
      const handle = engine.memoLock(tag, options);
      await handle.getResource('k', 5_000, async () => ({ value: 'v1', ttl: 60_000 }));
      let attempts = 0;
      const failing = async () => {
        attempts++;
        throw new Error('source down');
      };
      expect(await handle.getResource('k', 5_000, failing)).toBe('v1');
      await until(() => engine.pendingResources === 0, 'the early refresh is over');
      expect(attempts).toBe(1);
      const before = await commandCalls(admin, 'set');
      for (let i = 0; i < 50; i++) expect(await handle.getResource('k', 5_000, failing)).toBe('v1');
      expect((await commandCalls(admin, 'set')) - before).toBe(0);
      expect(attempts).toBe(1);
      // Another process still draws for that value: one attempt there, which finds fail-safe's pause.
      const other = redis.engine();
      expect(await other.memoLock(tag, options).getResource('k', 5_000, failing)).toBe('v1');
      await until(() => other.pendingResources === 0, 'its early refresh is over');
      expect(attempts).toBe(1);
    });

    it('{ beta: 0 } never refreshes early, up to the last hit before expiry', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      // With a grace, so that records are written: only beta keeps the refresh from starting.
      const handle = engine.memoLock(tag, { lockTimeout: 5_000, grace: 60_000, earlyRefresh: { beta: 0 } });
      let computations = 0;
      const compute = async () => {
        computations++;
        await sleep(50); // a long computation for its ttl: an early refresh with beta > 0 would fire
        return { value: computations, ttl: 300 };
      };
      await handle.getResource('k', 5_000, compute);
      expect(await admin.exists(`${tag}/meta:k`)).toBe(1);
      let hits = 0;
      let outcome = await handle.getResourceWithStatus('k', 5_000, compute);
      while (outcome.status === 'hit') {
        hits++;
        outcome = await handle.getResourceWithStatus('k', 5_000, compute);
      }
      // The first call that was not a hit came once the ttl had run out, and no refresh ran before it.
      expect(outcome).toEqual({ value: 1, status: 'stale' });
      expect(computations).toBe(1);
      expect(hits).toBeGreaterThan(10);
    });

    it('stores how long the computation took, with the value’s expiry, beside T:I and never under T:', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      await engine
        .memoLock(tag, { lockTimeout: 5_000, earlyRefresh: {} })
        .getResource('k', 5_000, async () => {
          await sleep(120);
          return { value: 'x', ttl: 10_000 };
        });
      const record = (await admin.get(`${tag}/meta:k`))!.split(',');
      expect(Number(record[2])).toBeGreaterThanOrEqual(115); // delta, ms
      expect(Number(record[1])).toBeGreaterThan(Date.now() + 9_000); // expiry, wall clock
      expect(await admin.exists(`${tag}/stale:k`)).toBe(0); // no grace, no stale copy
      expect(await admin.keys(`${tag}:*`)).toEqual([`${tag}:k`]);
    });
  });

  describe('per-caller cancellation', () => {
    it('rejects only the aborted caller, at once, with signal.reason itself: even the computing caller, whose computation goes on', async () => {
      const [a, b] = [redis.engine(), redis.engine()];
      const tag = freshTag();
      const held = gate();
      let computations = 0;
      const slow = async () => {
        computations++;
        await held.opened;
        return { value: 'done', ttl: 60_000 };
      };
      const owner = new AbortController();
      const waiter = new AbortController();
      const handle = a.memoLock(tag, { lockTimeout: 5_000 });
      const computing = handle.getResource('k', 10_000, slow, { signal: owner.signal });
      const sameFlight = handle.getResource('k', 10_000, slow);
      const abortedWaiter = handle.getResource('k', 10_000, slow, { signal: waiter.signal });
      await until(() => computations === 1, 'a computes');
      const elsewhere = b.memoLock(tag, { lockTimeout: 5_000 }).getResource('k', 10_000, slow);

      const reason = new Error('the user went away');
      owner.abort(reason);
      await expect(computing).rejects.toBe(reason);
      waiter.abort(); // its default reason, as fetch gives
      await expect(abortedWaiter).rejects.toMatchObject({ name: 'AbortError' });
      held.open();
      expect(await sameFlight).toBe('done');
      expect(await elsewhere).toBe('done');
      expect(computations).toBe(1);
      expect(await admin.get(`${tag}:k`)).toBe('"done"');
    });

    it('the last caller aborting leaves nothing behind: no flight, watcher or subscription', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      await admin.set(`${tag}/lock:k`, 'peer', 'PX', 10_000);
      const controller = new AbortController();
      const waiting = engine
        .memoLock(tag, { lockTimeout: 1_000 })
        .getResource('k', 10_000, async () => ({ value: 1, ttl: 1 }), { signal: controller.signal });
      await until(() => engine.subscribedTags.includes(tag), 'it waits on the tag');
      controller.abort('enough');
      await expect(waiting).rejects.toBe('enough');
      await until(() => engine.pendingResources === 0 && engine.subscribedTags.length === 0, 'nothing left');
    });

    it('removes its abort listener once the call settles', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const controller = new AbortController();
      let listeners = 0;
      const counted = {
        get aborted() {
          return controller.signal.aborted;
        },
        get reason() {
          return controller.signal.reason;
        },
        addEventListener: (type: string, fn: () => void, options?: { once?: boolean }) => {
          listeners++;
          controller.signal.addEventListener(type, fn, options);
        },
        removeEventListener: (type: string, fn: () => void) => {
          listeners--;
          controller.signal.removeEventListener(type, fn);
        },
      } as unknown as AbortSignal;
      const handle = engine.memoLock(tag, { lockTimeout: 1_000 });
      await handle.getResource('k', 5_000, async () => ({ value: 1, ttl: 60_000 }), { signal: counted });
      await handle.getResource('k', 5_000, async () => ({ value: 2, ttl: 60_000 }), { signal: counted });
      expect(listeners).toBe(0);
    });
  });

  describe('invalidation', () => {
    it('invalidate(id) drops the stale copy, through any handle: nothing stale is served after it', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, earlyRefresh: {} };
      await storeAndExpire(engine, tag, options, 'v1');
      expect(await admin.exists(`${tag}/stale:k`, `${tag}/meta:k`)).toBe(2);
      await engine.memoLock(tag, { lockTimeout: 1_000 }).invalidate('k'); // a handle without the options
      expect(await admin.exists(`${tag}/stale:k`, `${tag}/meta:k`)).toBe(0);
      const outcome = await engine
        .memoLock(tag, options)
        .getResourceWithStatus('k', 5_000, async () => ({ value: 'v2', ttl: 60_000 }));
      expect(outcome).toEqual({ value: 'v2', status: 'stored' });
    });

    it('invalidateAll() drops every stale copy and record of the tag, and counts values only', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const handle = engine.memoLock(tag, { lockTimeout: 5_000, grace: 60_000 });
      await Promise.all(
        ['a', 'b', 'c'].map((id) => handle.getResource(id, 5_000, async () => ({ value: id, ttl: 60_000 }))),
      );
      await admin.set(`${tag}/lock:busy`, 'token', 'PX', 60_000);
      expect(await handle.invalidateAll()).toBe(3);
      expect((await admin.keys(`${tag}*`)).sort()).toEqual([`${tag}/lock:busy`]);
    });
  });

  describe('values written by others', () => {
    it('serves a value a plain-command peer stored as fresh, and drops the record that does not describe it', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, earlyRefresh: { beta: Infinity } };
      let computations = 0;
      const compute = async () => {
        computations++;
        return { value: `ours ${computations}`, ttl: 60_000 };
      };
      await engine.memoLock(tag, options).getResource('k', 5_000, compute);
      // A Go peer recomputes and stores its value, as SPEC §2 says, knowing nothing of records.
      await admin.set(`${tag}:k`, '"from a Go peer, somewhat longer"', 'PX', 300);
      await admin.publish(`${tag}/notif:k`, '"from a Go peer, somewhat longer"');
      expect(await engine.memoLock(tag, options).getResourceWithStatus('k', 5_000, compute)).toEqual({
        value: 'from a Go peer, somewhat longer',
        status: 'hit',
      });
      expect(computations).toBe(1); // no early refresh on a record that describes another value
      await until(
        async () => (await admin.exists(`${tag}/meta:k`, `${tag}/stale:k`)) === 0,
        'record dropped',
      );
      // Once the peer's value expires, our older stale copy is not served in its place.
      await until(async () => (await admin.exists(`${tag}:k`)) === 0, 'the peer’s value expired');
      expect(await engine.memoLock(tag, options).getResourceWithStatus('k', 5_000, compute)).toEqual({
        value: 'ours 2',
        status: 'stored',
      });
    });

    it('does not serve the stale copy of a value someone deleted before its ttl ended', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      await engine.memoLock(tag, options).getResource('k', 5_000, async () => ({ value: 'v1', ttl: 60_000 }));
      await admin.del(`${tag}:k`); // a DEL by hand, not through invalidate()
      expect(
        await engine
          .memoLock(tag, options)
          .getResourceWithStatus('k', 5_000, async () => ({ value: 'v2', ttl: 60_000 })),
      ).toEqual({ value: 'v2', status: 'stored' });
    });

    it('serves the stale copy after an expiry whatever the writer’s clock said: expiry is judged by Redis’s clock', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      const handle = engine.memoLock(tag, options);
      await handle.getResource('k', 5_000, async () => ({ value: 'v1', ttl: 300 }));
      // What a writer whose clock runs 10 s ahead stores: the same record, its expiry 10 s later.
      const skew = (text: string) => {
        const parts = text.split(',');
        parts[1] = String(Number(parts[1]) + 10_000);
        return parts.join(',');
      };
      const meta = (await admin.get(`${tag}/meta:k`))!;
      const copy = (await admin.get(`${tag}/stale:k`))!;
      const left = await admin.pttl(`${tag}/meta:k`);
      await admin.set(`${tag}/meta:k`, skew(meta), 'PX', left);
      await admin.set(
        `${tag}/stale:k`,
        skew(copy.slice(0, copy.indexOf('\n'))) + copy.slice(copy.indexOf('\n')),
        'PX',
        left,
      );
      await until(async () => (await admin.exists(`${tag}:k`)) === 0, 'T:I expired');
      const held = gate();
      const slow = async () => {
        await held.opened;
        return { value: 'v2', ttl: 60_000 };
      };
      expect(await handle.getResourceWithStatus('k', 5_000, slow)).toEqual({ value: 'v1', status: 'stale' });
      expect(await admin.exists(`${tag}/stale:k`)).toBe(1);
      held.open();
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
    });

    it('reads a plain value with no record as a hit, and never refreshes it early', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      await admin.set(`${tag}:k`, '"plain"', 'PX', 60_000);
      let computed = false;
      const outcome = await engine
        .memoLock(tag, { lockTimeout: 5_000, grace: 60_000, earlyRefresh: { beta: Infinity } })
        .getResourceWithStatus('k', 5_000, async () => {
          computed = true;
          return { value: 'ours', ttl: 1 };
        });
      expect(outcome).toEqual({ value: 'plain', status: 'hit' });
      await sleep(50);
      expect(computed).toBe(false);
    });
  });

  describe('close()', () => {
    it('rejects callers waiting with a stale value at hand and stops the refresh: nothing left behind', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000, softTimeout: 20_000 };
      await storeAndExpire(engine, tag, options, 'v1');
      await admin.set(`${tag}/lock:k`, 'peer', 'PX', 30_000); // someone else recomputes, for a long time
      const waiting = engine
        .memoLock(tag, options)
        .getResource('k', 30_000, async () => ({ value: 'never', ttl: 1 }))
        .catch((e: unknown) => e);
      await until(() => engine.subscribedTags.includes(tag), 'it waits for the holder');
      await engine.close();
      expect(await waiting).toBeInstanceOf(MemoLockClosedError);
      expect(engine.pendingResources).toBe(0);
      expect(engine.subscribedTags).toEqual([]);
    });

    it('lets a background refresh that computes finish and store', async () => {
      const engine = redis.engine();
      const tag = freshTag();
      const options = { lockTimeout: 5_000, grace: 60_000 };
      await storeAndExpire(engine, tag, options, 'v1');
      const held = gate();
      let computing = false;
      expect(
        await engine.memoLock(tag, options).getResource('k', 5_000, async () => {
          computing = true;
          await held.opened;
          return { value: 'v2', ttl: 60_000 };
        }),
      ).toBe('v1');
      await until(() => computing, 'the refresh computes');
      const closing = engine.close();
      held.open();
      await closing;
      await until(async () => (await admin.get(`${tag}:k`)) === '"v2"', 'v2 stored');
    });
  });
});
