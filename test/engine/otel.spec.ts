/**
 * OpenTelemetry in one process, with the real SDK (in-memory metric reader and span exporter, contexts in
 * AsyncLocalStorage): spans per computation and per wait under the caller's own span, gauges of what runs
 * and waits, and an SDK registered after the engine was made.
 */
import { context, type Span, trace } from '@opentelemetry/api';
import { SpanStatusCode } from '@opentelemetry/api';
import { MemoLockTimeoutError, type RedisMemoLockEngine } from '../../lib';
import { gate as makeGate } from '../support/gate';
import { type OtelSdk, registerOtelSdk, valueOf } from '../support/otel-sdk';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

jest.setTimeout(30_000);

/** Runs `fn` in a new active span `name` of the test's own tracer, and gives the span back with the result. */
async function inRequest<T>(name: string, fn: () => Promise<T>): Promise<{ span: Span; result: T }> {
  return trace.getTracer('test').startActiveSpan(name, async (span) => {
    try {
      return { span, result: await fn() };
    } finally {
      span.end();
    }
  });
}

describe('OpenTelemetry', () => {
  let redis: TestRedis;
  let engine: RedisMemoLockEngine;
  let sdk: OtelSdk;
  let n = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());
  beforeEach(() => {
    sdk = registerOtelSdk();
    engine = redis.engine();
  });
  afterEach(async () => {
    await engine.close();
    await sdk.stop();
  });

  it("puts a computation's span under its caller's span, and the computation's own spans under it", async () => {
    const handle = engine.memoLock('tr', { lockTimeout: 5_000 });
    const id = `c${++n}`;
    const { span: request } = await inRequest('GET /likes', () =>
      handle.getResource(id, 5_000, async () => {
        await trace.getTracer('test').startActiveSpan('db.query', async (s) => {
          await sleep(5);
          s.end();
        });
        return { value: 1, ttl: 60_000 };
      }),
    );
    const spans = sdk.spans.getFinishedSpans();
    const compute = spans.find((s) => s.name === 'memolock.compute')!;
    const db = spans.find((s) => s.name === 'db.query')!;
    expect(compute.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(compute.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(db.parentSpanContext?.spanId).toBe(compute.spanContext().spanId);
    expect(compute.attributes).toEqual({
      'memolock.tag': 'tr',
      'memolock.lock_held': true,
      'memolock.outcome': 'ok',
    });
    // A hit makes no span.
    sdk.spans.reset();
    await inRequest('GET /likes again', () => handle.getResource(id, 5_000, () => ({ value: 2, ttl: 1 })));
    expect(sdk.spans.getFinishedSpans().map((s) => s.name)).toEqual(['GET /likes again']);
  });

  it("gives each waiter a wait span under its own caller's span, even when reads are batched", async () => {
    const handle = engine.memoLock('tr', { lockTimeout: 5_000 });
    const id = `w${++n}`;
    const gate = makeGate();
    const calls = ['first', 'second', 'third'].map((name) =>
      inRequest(name, () =>
        handle.getResourceWithStatus(id, 5_000, async () => {
          await gate.opened;
          return { value: name, ttl: 60_000 };
        }),
      ),
    );
    // Another resource's computation, started in the same turn under its own span (its read is batched).
    const other = inRequest('other', () =>
      handle.getResource(`o${n}`, 5_000, () => ({ value: 0, ttl: 60_000 })),
    );
    await until(async () => (await redis.client().exists(`tr/lock:${id}`)) === 1, 'the lock is held');
    // While they wait: 3 callers after the miss (the one computing among them), 1 computation.
    const during = await sdk.collect();
    expect(valueOf(during, 'memolock.waiters.active', { 'memolock.tag': 'tr' })).toBe(3);
    expect(valueOf(during, 'memolock.computations.active', { 'memolock.tag': 'tr' })).toBe(1);
    gate.open();
    const answered = await Promise.all(calls);
    const { span: otherSpan } = await other;
    expect(answered.map((a) => a.result.status)).toEqual(['stored', 'collapsed', 'collapsed']);

    const spans = sdk.spans.getFinishedSpans();
    const byParent = (span: Span) =>
      spans.filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId).map((s) => s.name);
    expect(byParent(answered[0].span)).toEqual(['memolock.compute']);
    expect(byParent(answered[1].span)).toEqual(['memolock.wait']);
    expect(byParent(answered[2].span)).toEqual(['memolock.wait']);
    expect(byParent(otherSpan)).toEqual(['memolock.compute']);
    const wait = spans.find((s) => s.name === 'memolock.wait')!;
    expect(wait.attributes).toEqual({
      'memolock.tag': 'tr',
      'memolock.outcome': 'collapsed',
      'memolock.lock_held': false,
      'memolock.remote': false,
    });
    const after = await sdk.collect();
    expect(valueOf(after, 'memolock.waiters.active', { 'memolock.tag': 'tr' })).toBe(0);
    expect(valueOf(after, 'memolock.computations.active', { 'memolock.tag': 'tr' })).toBe(0);
  });

  it('marks failed computations and timed-out waits as errors', async () => {
    const handle = engine.memoLock('tr', { lockTimeout: 5_000 });
    const id = `f${++n}`;
    const gate = makeGate();
    const failing = handle
      .getResource(id, 5_000, async () => {
        await gate.opened;
        throw new Error('upstream down');
      })
      .catch((e) => e);
    await until(async () => (await redis.client().exists(`tr/lock:${id}`)) === 1, 'the lock is held');
    const timedOut = await inRequest('impatient', () =>
      handle.getResource(id, 30, () => ({ value: 1, ttl: 1 })).catch((e) => e),
    );
    expect(timedOut.result).toBeInstanceOf(MemoLockTimeoutError);
    gate.open();
    await failing;

    const spans = sdk.spans.getFinishedSpans();
    const compute = spans.find((s) => s.name === 'memolock.compute')!;
    expect(compute.status.code).toBe(SpanStatusCode.ERROR);
    expect(compute.attributes['memolock.outcome']).toBe('error');
    expect(compute.events.map((e) => e.name)).toEqual(['exception']);
    const wait = spans.find((s) => s.name === 'memolock.wait')!;
    expect(wait.parentSpanContext?.spanId).toBe(timedOut.span.spanContext().spanId);
    expect(wait.status.code).toBe(SpanStatusCode.ERROR);
    expect(wait.attributes['memolock.outcome']).toBe('timeout');

    const points = await sdk.collect();
    const tagged = (outcome: string) => ({ 'memolock.tag': 'tr', 'memolock.outcome': outcome });
    expect(valueOf(points, 'memolock.calls', tagged('timeout'))).toBe(1);
    expect(valueOf(points, 'memolock.calls', tagged('error'))).toBe(1);
    expect(valueOf(points, 'memolock.compute.duration', tagged('error'))).toBe(1);
    expect(valueOf(points, 'memolock.wait.duration', tagged('timeout'))).toBe(1);
  });

  it('counts renewals and takeovers', async () => {
    const handle = engine.memoLock('tr', { lockTimeout: 200 });
    const id = `r${++n}`;
    await handle.getResourceRenewable(id, 5_000, async (renew) => {
      await renew(1_000);
      return { value: 1, ttl: 60_000 };
    });
    // A holder that dies (its lock left to expire): the next caller takes over at the lease's end.
    const dead = `d${++n}`;
    await redis.client().set(`tr/lock:${dead}`, 'gone', 'PX', 200);
    expect(await handle.getResource(dead, 5_000, () => ({ value: 'mine', ttl: 60_000 }))).toBe('mine');
    const points = await sdk.collect();
    expect(valueOf(points, 'memolock.renewals', { 'memolock.tag': 'tr', 'memolock.outcome': 'ok' })).toBe(1);
    expect(valueOf(points, 'memolock.takeovers', { 'memolock.tag': 'tr' })).toBe(1);
  });
});

describe('OpenTelemetry registered late, or not at all', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('records nothing without an SDK, and picks up one registered after the engine and its handle were made', async () => {
    const engine = redis.engine();
    const handle = engine.memoLock('late', { lockTimeout: 1_000 });
    await handle.getResource('k', 1_000, () => ({ value: 1, ttl: 60_000 }));
    expect(context.active()).toBeDefined();
    const sdk = registerOtelSdk();
    try {
      // The global providers are looked up again every second, however few calls come (and per new handle):
      // a call every 250 ms is counted within a few of them.
      const hitsSoFar = async () =>
        valueOf(await sdk.collect(), 'memolock.calls', { 'memolock.tag': 'late', 'memolock.outcome': 'hit' });
      let calls = 0;
      while ((await hitsSoFar()) === 0 && calls < 20) {
        await handle.getResource('k', 1_000, () => ({ value: 2, ttl: 1 }));
        calls++;
        await sleep(250);
      }
      expect(await hitsSoFar()).toBeGreaterThan(0);
      expect(calls).toBeLessThan(20);
      const counted = await hitsSoFar();
      for (let i = 0; i < 5; i++) await handle.getResource('k', 1_000, () => ({ value: 2, ttl: 1 }));
      expect(await hitsSoFar()).toBe(counted + 5); // every call from then on
      // None of the calls made before the SDK was there.
      expect(valueOf(await sdk.collect(), 'memolock.calls', { 'memolock.outcome': 'stored' })).toBe(0);
    } finally {
      await engine.close();
      await sdk.stop();
    }
  });
});
