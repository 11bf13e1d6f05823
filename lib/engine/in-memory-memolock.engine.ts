import { MemoLockClosedError, MemoLockRenewError } from '../errors';
import { Messages } from '../memolock.messages';
import { CallObserver } from './call-observer';
import { Coalescer } from './coalescer';
import { Flight } from './flight';
import { failSafeCovers, refreshesEarly, servableStale } from './freshness';
import { type FreshnessRecord, describeValue, parseRecord } from './freshness-record';
import {
  type MemoLockBehaviourOptions,
  MemoLockEngine,
  type MemoLockHandle,
  type MemoLockHealth,
  type MemoLockLogger,
  type MemoLockOptions,
  type RenewLock,
} from './memolock-engine.interface';
import {
  type HandleWork,
  type MemoLockBackend,
  MemoLockTagHandle,
  type Obtained,
  runComputation,
} from './memolock-handle';
import {
  computeValue,
  decodeValue,
  resolveEngineDefaults,
  type ResolvedTagOptions,
  resolveTagOptions,
} from './resource-codec';
import { assertDuration, assertId, assertLogger, assertTag, MAX_TIMER_MS } from './validation';

interface Entry {
  encoded: string;
  /** When its ttl ends, on the monotonic clock. */
  expiresAt: number;
  /** When it goes altogether: its ttl plus the grace it was stored with. */
  goneAt: number;
  /** Its freshness record (expiry on the wall clock, computation time), for tags with freshness options. */
  record: FreshnessRecord | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** Options of {@link InMemoryMemoLockEngine}. */
export interface InMemoryMemoLockEngineOptions extends MemoLockBehaviourOptions {
  /** Where fail-safe reports a failed recomputation. Default `console`; the Nest module passes a Nest `Logger`. */
  logger?: MemoLockLogger;
}

type Flown = { flight: Flight; start(): void };

/**
 * The MemoLock engine for a single process and no Redis: the same interface, TTLs and leases honoured (on the
 * monotonic clock), concurrent callers coalesced, and the freshness options (grace, soft timeout, early
 * refresh, fail-safe) kept as the Redis engine keeps them, in this process. For development, the sample app
 * and your own unit tests; values are kept serialized, so callers get copies exactly as they would from Redis.
 *
 * @example
 * const engine = new InMemoryMemoLockEngine();
 * const likes = engine.memoLock('likes', { lockTimeout: 5_000 });
 */
export class InMemoryMemoLockEngine extends MemoLockEngine implements MemoLockBackend {
  readonly #defaults: ReturnType<typeof resolveEngineDefaults>;
  readonly #logger: MemoLockLogger;
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new Coalescer<Flown>();
  /** External work waiting for {@link publish}. */
  readonly #deliveries = new Map<string, Set<(encoded: string) => void>>();
  /** Refreshes under way, by key: what their computation resolves to (never rejects). */
  readonly #refreshes = new Map<string, Promise<Obtained | undefined>>();
  /** Fail-safe's pauses: until when (monotonic) no recomputation is attempted, by key. */
  readonly #throttles = new Map<string, number>();
  /** Flights that took no new callers once they had a fallback, and whose callers may still wait. */
  readonly #refreshing = new Set<Flight>();
  readonly #observer = new CallObserver(this.events, { collapsedIsRemote: false });
  #closed = false;

  constructor(options: InMemoryMemoLockEngineOptions = {}) {
    super();
    this.#defaults = resolveEngineDefaults(options, 'options');
    this.#logger = options.logger ?? console;
    assertLogger('options.logger', this.#logger);
  }

  memoLock<T = unknown>(tag: string, options: MemoLockOptions): MemoLockHandle<T> {
    this.#observer.refresh();
    return new MemoLockTagHandle<T>(this, resolveTagOptions(tag, options, this.#defaults), this.#observer);
  }

  /**
   * What an external program does with `SET T:I` + `PUBLISH T/notif:I` on Redis, for this engine: stores the
   * already encoded `raw` value for `ttl` ms and wakes whoever waits for it.
   */
  publish(tag: string, id: string, raw: string, ttl: number): void {
    assertTag(tag);
    assertId(id);
    assertDuration('ttl', ttl);
    const key = `${tag}:${id}`;
    this.#store(key, raw, ttl, 0, undefined);
    for (const deliver of this.#deliveries.get(key) ?? []) deliver(raw);
  }

  /** @internal */
  obtain(
    tag: ResolvedTagOptions,
    id: string,
    timeout: number,
    work: HandleWork,
    withStatus: boolean,
    signal?: AbortSignal,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const key = `${tag.tag}:${id}`;
    const create = () => {
      const delivery = work.kind === 'external' ? this.#expectDelivery(key) : undefined;
      const done = () => {
        if (this.#flights.forget(tag, id, flown)) delivery?.cancel();
      };
      // Abandoned by every caller: external work stops waiting; a computation already running still
      // finishes and stores its value.
      const flight = new Flight(tag.tag, id, { abandon: () => work.kind === 'external' && done() });
      // Forgotten before its callers hear of it, so that none of them can join it once settled.
      const start = () => {
        if (this.#fromEntry(tag, id, key, work, flight, done)) return;
        this.#observer.missed(flight, tag.tag);
        void this.#run(tag, id, key, work, delivery?.value).then(
          ({ value, status }) => {
            done();
            flight.resolve(value, status);
          },
          (error: unknown) => {
            done();
            flight.reject(error);
          },
        );
      };
      const flown: Flown = { flight, start };
      return flown;
    };
    return this.#flights.join(tag, id, timeout, withStatus, create, signal);
  }

  /** @internal */
  async invalidate(tag: ResolvedTagOptions, id: string): Promise<void> {
    if (this.#closed) throw new MemoLockClosedError(Messages.closed());
    this.#delete(`${tag.tag}:${id}`);
  }

  /** @internal */
  async invalidateAll(tag: ResolvedTagOptions): Promise<number> {
    if (this.#closed) throw new MemoLockClosedError(Messages.closed());
    const prefix = `${tag.tag}:`;
    const keys = [...this.#entries.keys()].filter((key) => key.startsWith(prefix));
    for (const key of keys) this.#delete(key);
    return keys.length;
  }

  /** Always healthy while open: there is nothing to reach. */
  async checkHealth(): Promise<MemoLockHealth> {
    if (this.#closed) return { engine: 'memory', healthy: false, error: Messages.closed() };
    return { engine: 'memory', healthy: true };
  }

  /** Rejects pending calls with `MemoLockClosedError` and drops every value and timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#observer.close();
    this.#flights.closeAll();
    for (const flight of this.#refreshing) {
      const { tag, id } = flight;
      flight.abort(new MemoLockClosedError(Messages.closedWhileWaiting(tag, id), { tag, id }));
    }
    this.#refreshing.clear();
    this.#deliveries.clear();
    this.#throttles.clear();
    for (const key of [...this.#entries.keys()]) this.#delete(key);
  }

  /**
   * Answers the flight from the entry at hand, when there is one to answer with: a fresh value (refreshed
   * early when XFetch says so), or a stale one within the grace (refreshed, unless fail-safe pauses). False
   * when the flight must compute (or wait for external work) as usual.
   */
  #fromEntry(
    tag: ResolvedTagOptions,
    id: string,
    key: string,
    work: HandleWork,
    flight: Flight,
    done: () => void,
  ): boolean {
    const entry = this.#read(key);
    if (!entry) return false;
    const { freshness } = tag;
    const now = performance.now();
    const fresh = now < entry.expiresAt;
    const record = entry.record;
    const stale = !fresh && freshness && record && servableStale(record, freshness.grace, Date.now());
    // External work is started by a caller that waits for it (no refresh in the background here).
    if (!fresh && (!stale || work.kind === 'external')) return false;
    let value: unknown;
    try {
      value = decodeValue(tag, id, entry.encoded);
    } catch (error) {
      done();
      flight.reject(error);
      return true;
    }
    done();
    const throttled = (this.#throttles.get(key) ?? 0) > now;
    const running = this.#refreshes.get(key);
    const early =
      fresh &&
      freshness !== undefined &&
      record !== undefined &&
      work.kind !== 'external' &&
      !throttled &&
      !running &&
      refreshesEarly(record, freshness.beta, Date.now());
    if (fresh && !early) {
      flight.resolve(value, 'hit');
      return true;
    }
    if (work.kind === 'external') return false; // (for the compiler: handled above)
    if (!fresh && throttled) {
      flight.offerFallback(value, 'stale', 0, false);
      return true;
    }
    const softMs = fresh ? 0 : freshness!.softTimeout;
    flight.offerFallback(value, fresh ? 'hit' : 'stale', softMs, !running && work.bound);
    // Callers still waiting (soft timeout, bound work) are answered when the refresh settles; close() before.
    this.#refreshing.add(flight);
    if (running) {
      void running
        .then((outcome) => (outcome ? flight.resolve(outcome.value, 'collapsed') : flight.answerFallback()))
        .finally(() => this.#refreshing.delete(flight));
      return true;
    }
    const refresh = this.#compute(tag, id, key, work).then(
      (outcome) => outcome,
      (error: unknown) => {
        if (!failSafeCovers(error)) return Promise.reject(error);
        const reason = error instanceof Error ? error.message : String(error);
        this.#throttles.set(key, performance.now() + freshness!.failSafeThrottle);
        this.#logger.warn(Messages.failSafe(tag.tag, id, reason, freshness!.failSafeThrottle));
        return undefined;
      },
    );
    const settled = refresh.catch(() => undefined);
    this.#refreshes.set(key, settled);
    void settled.then(() => this.#refreshes.delete(key));
    void refresh
      .then(
        (outcome) => (outcome ? flight.resolve(outcome.value, outcome.status) : flight.answerFallback()),
        (error: unknown) => flight.reject(error),
      )
      .finally(() => this.#refreshing.delete(flight));
    return true;
  }

  /** The expected value for `key`, once {@link publish} delivers it, until cancelled. */
  #expectDelivery(key: string): { value: Promise<string>; cancel(): void } {
    let deliver!: (encoded: string) => void;
    const value = new Promise<string>((resolve) => (deliver = resolve));
    let waiting = this.#deliveries.get(key);
    if (!waiting) this.#deliveries.set(key, (waiting = new Set()));
    waiting.add(deliver);
    const cancel = () => {
      waiting.delete(deliver);
      if (waiting.size === 0 && this.#deliveries.get(key) === waiting) this.#deliveries.delete(key);
    };
    return { value, cancel };
  }

  async #run(
    tag: ResolvedTagOptions,
    id: string,
    key: string,
    work: HandleWork,
    delivered: Promise<string> | undefined,
  ): Promise<Obtained> {
    if (work.kind === 'external') {
      await work.start();
      return { value: decodeValue(tag, id, await delivered!), status: 'stored' };
    }
    return this.#compute(tag, id, key, work);
  }

  /** Computes and stores (with the computation's duration, for early refreshes). */
  async #compute(
    tag: ResolvedTagOptions,
    id: string,
    key: string,
    work: Exclude<HandleWork, { kind: 'external' }>,
  ): Promise<Obtained> {
    const started = performance.now();
    const { encoded, ttl } = await computeValue(tag, id, () => runComputation(work, this.#lease(tag, id)));
    const { freshness } = tag;
    if (!this.#closed) {
      const grace = freshness?.grace ?? 0;
      const record = freshness && parseRecord(describeValue(encoded, ttl, performance.now() - started));
      this.#store(key, encoded, ttl, grace, record);
    }
    return { value: decodeValue(tag, id, encoded), status: 'stored' };
  }

  /** The computation's lease: like the Redis lock, it runs out after lockTimeout unless renewed. */
  #lease(tag: ResolvedTagOptions, id: string): RenewLock {
    let expiresAt = performance.now() + tag.lockTimeout;
    return async (lockTimeout: number) => {
      assertDuration('lockTimeout', lockTimeout);
      if (performance.now() >= expiresAt)
        throw new MemoLockRenewError(Messages.renewLost(tag.tag, id), { tag: tag.tag, id });
      expiresAt = performance.now() + lockTimeout;
    };
  }

  #read(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (performance.now() < entry.goneAt) return entry;
    this.#delete(key);
    return undefined;
  }

  #store(
    key: string,
    encoded: string,
    ttl: number,
    grace: number,
    record: FreshnessRecord | undefined,
  ): void {
    this.#delete(key);
    const now = performance.now();
    const lifetime = ttl + grace;
    // Expiry is checked on read; the timer only frees memory, so it never keeps the process alive.
    const timer =
      lifetime <= MAX_TIMER_MS ? setTimeout(() => this.#delete(key), lifetime).unref() : undefined;
    this.#entries.set(key, { encoded, expiresAt: now + ttl, goneAt: now + lifetime, record, timer });
  }

  #delete(key: string): void {
    this.#throttles.delete(key);
    const entry = this.#entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(key);
  }
}
