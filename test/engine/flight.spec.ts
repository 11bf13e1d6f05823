/**
 * `Flight` on its own: the callers of one in-process attempt, each with its own timeout on one shared timer,
 * and the moment the last of them leaves. No Redis here: a flight knows nothing of it.
 */
import { MemoLockClosedError, MemoLockTimeoutError } from '../../lib';
import { Flight } from '../../lib/engine/flight';

const settleOf = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/**
 * Counts the timers flights set (from flight.ts, told by the caller's stack) that are still pending: a flight
 * must not leave one behind. Not the process's timers: those of the worker's earlier test files may come and
 * go meanwhile on a loaded machine.
 */
function flightTimers(): { readonly pending: number; restore(): void } {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const pending = new Set<unknown>();
  const setSpy = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((
    callback: (...args: unknown[]) => void,
    ms?: number,
    ...args: unknown[]
  ) => {
    if (!/[\\/]engine[\\/]flight\.ts:/.test(new Error().stack ?? '')) return realSet(callback, ms, ...args);
    const timer = realSet(
      (...a: unknown[]) => {
        pending.delete(timer);
        callback(...a);
      },
      ms,
      ...args,
    );
    pending.add(timer);
    return timer;
  }) as typeof setTimeout);
  const clearSpy = jest.spyOn(globalThis, 'clearTimeout').mockImplementation((timer) => {
    pending.delete(timer);
    realClear(timer);
  });
  return {
    get pending() {
      return pending.size;
    },
    restore() {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    },
  };
}

describe('Flight', () => {
  it('resolves every caller with the value, or with { value, status } for those who asked', async () => {
    const flight = new Flight('t', 'i');
    const plain = flight.join(1_000, false);
    const withStatus = flight.join(1_000, true);
    flight.resolve({ n: 1 }, 'hit');
    expect(await plain).toEqual({ n: 1 });
    expect(await withStatus).toEqual({ value: { n: 1 }, status: 'hit' });
    expect(flight.settled).toBe(true);
    expect(flight.callers).toBe(0);
  });

  it('rejects every caller with the error, and settles once only', async () => {
    const flight = new Flight('t', 'i');
    const callers = [flight.join(1_000, false), flight.join(1_000, false)];
    flight.reject(new Error('boom'));
    flight.resolve('too late', 'hit');
    for (const caller of callers) await expect(caller).rejects.toThrow('boom');
  });

  it('gives each caller its own timeout, naming the resource and the timeout', async () => {
    const flight = new Flight('likes', 'kristoff');
    const started = performance.now();
    const short = settleOf(flight.join(30, false));
    const long = settleOf(flight.join(5_000, false));
    const { error } = (await short) as { error: MemoLockTimeoutError };
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    expect(error).toBeInstanceOf(MemoLockTimeoutError);
    expect(error).toMatchObject({ tag: 'likes', id: 'kristoff', timeout: 30, code: 'E_MEMOLOCK_TIMEOUT' });
    expect(error.message).toBe('Timed out after 30 ms waiting for resource "likes:kristoff".');
    expect(flight.callers).toBe(1);
    flight.resolve('in time', 'collapsed');
    expect(await long).toEqual({ value: 'in time' });
  });

  it('keeps one timer for all its callers, armed for the earliest deadline, and none once settled', async () => {
    const timers = flightTimers();
    try {
      const flight = new Flight('t', 'i');
      const callers = Array.from({ length: 100 }, (_, i) => settleOf(flight.join(10_000 + i, false)));
      expect(timers.pending).toBe(1);
      const early = settleOf(flight.join(20, false)); // an earlier deadline re-arms the same timer
      expect(timers.pending).toBe(1);
      expect(await early).toMatchObject({ error: expect.any(MemoLockTimeoutError) });
      expect(timers.pending).toBe(1); // re-armed for the next deadline
      flight.resolve('v', 'hit');
      expect(timers.pending).toBe(0);
      for (const caller of callers) expect(await caller).toEqual({ value: 'v' });
    } finally {
      timers.restore();
    }
  });

  it('tells its listener once, when the last caller leaves before it settled', async () => {
    let abandoned = 0;
    const flight = new Flight('t', 'i', { abandon: () => abandoned++ });
    const callers = [settleOf(flight.join(20, false)), settleOf(flight.join(40, false))];
    await callers[0];
    expect(abandoned).toBe(0); // one caller still waits
    await callers[1];
    expect(abandoned).toBe(1);
    flight.resolve('nobody hears this', 'stored');
    expect(abandoned).toBe(1);
  });

  it('does not call a flight abandoned once it settled', async () => {
    let abandoned = 0;
    const flight = new Flight('t', 'i', { abandon: () => abandoned++ });
    const caller = flight.join(20, false);
    flight.resolve('v', 'hit');
    await caller;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(abandoned).toBe(0);
  });

  it('abort() rejects every caller with the error, leaves no timer, and abandons the flight', async () => {
    const timers = flightTimers();
    try {
      let abandoned = 0;
      const flight = new Flight('t', 'i', { abandon: () => abandoned++ });
      const callers = [flight.join(10_000, false), flight.join(10_000, true)];
      expect(timers.pending).toBe(1);
      flight.abort(new MemoLockClosedError('closed'));
      for (const caller of callers) await expect(caller).rejects.toBeInstanceOf(MemoLockClosedError);
      expect(abandoned).toBe(1);
      expect(timers.pending).toBe(0);
    } finally {
      timers.restore();
    }
  });

  it('counts deadlines on the monotonic clock: stepping the wall clock back moves none', async () => {
    jest.useFakeTimers({
      doNotFake: ['performance', 'setTimeout', 'clearTimeout', 'nextTick', 'queueMicrotask'],
    });
    try {
      const flight = new Flight('t', 'i');
      const started = performance.now();
      const caller = settleOf(flight.join(50, false));
      jest.setSystemTime(Date.now() - 60_000);
      expect(await caller).toMatchObject({ error: expect.any(MemoLockTimeoutError) });
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      jest.useRealTimers();
    }
  });

  describe('a fallback value', () => {
    it('answers each caller softMs after it joined unless the value comes first, and leaves no timer', async () => {
      const timers = flightTimers();
      try {
        const flight = new Flight('t', 'i');
        const early = settleOf(flight.join(5_000, true));
        expect(timers.pending).toBe(1);
        flight.offerFallback('stale', 'stale', 40, false);
        expect(await early).toEqual({ value: { value: 'stale', status: 'stale' } });
        expect(flight.callers).toBe(0);
        expect(flight.settled).toBe(false); // the flight goes on, for whoever comes
        expect(timers.pending).toBe(0);
      } finally {
        timers.restore();
      }
    });

    it('answers at once when softMs is 0, and the fresh value to those still waiting', async () => {
      const flight = new Flight('t', 'i');
      const old = flight.join(5_000, false);
      flight.offerFallback('stale', 'stale', 0, false);
      expect(await old).toBe('stale');
      const flight2 = new Flight('t', 'j');
      const waiting = flight2.join(5_000, true);
      flight2.offerFallback('stale', 'stale', 5_000, false);
      flight2.resolve('fresh', 'collapsed');
      expect(await waiting).toEqual({ value: 'fresh', status: 'collapsed' });
    });

    it('keeps the owner waiting for its own work until released, while the others take the fallback', async () => {
      const flight = new Flight('t', 'i');
      const owner = settleOf(flight.join(5_000, true));
      const other = flight.join(5_000, true);
      flight.offerFallback('current', 'hit', 0, true);
      expect(await other).toEqual({ value: 'current', status: 'hit' });
      expect(flight.callers).toBe(1);
      flight.releaseOwner();
      expect(await owner).toEqual({ value: { value: 'current', status: 'hit' } });
    });

    it('answers every caller left with it when the computation fails (fail-safe)', async () => {
      const flight = new Flight('t', 'i');
      const callers = [flight.join(5_000, false), flight.join(5_000, false)];
      expect(flight.answerFallback()).toBe(false); // none yet
      flight.offerFallback('stale', 'stale', 5_000, false);
      expect(flight.answerFallback()).toBe(true);
      expect(await Promise.all(callers)).toEqual(['stale', 'stale']);
      expect(flight.settled).toBe(true);
    });
  });

  describe('a caller’s AbortSignal', () => {
    it('rejects that caller only, at once, with signal.reason, and removes its listener when callers settle', async () => {
      const flight = new Flight('t', 'i');
      const controller = new AbortController();
      const kept = new AbortController();
      const aborted = settleOf(flight.join(5_000, false, controller.signal));
      const other = flight.join(5_000, false, kept.signal);
      const reason = new Error('gone');
      controller.abort(reason);
      expect(await aborted).toEqual({ error: reason });
      expect(flight.callers).toBe(1);
      flight.resolve('value', 'stored');
      expect(await other).toBe('value');
      kept.abort(); // after the call settled: nothing happens
      expect(flight.callers).toBe(0);
    });

    it('abandons the flight when the last caller aborts', async () => {
      let abandoned = 0;
      const flight = new Flight('t', 'i', { abandon: () => abandoned++ });
      const controller = new AbortController();
      const call = settleOf(flight.join(5_000, false, controller.signal));
      controller.abort('bye');
      expect(await call).toEqual({ error: 'bye' });
      expect(abandoned).toBe(1);
    });
  });
});
