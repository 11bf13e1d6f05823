import { MemoLockClosedError, MemoLockRenewError } from '../errors';
import { Messages } from '../memolock.messages';
import { Coalescer } from './coalescer';
import { Flight } from './flight';
import {
  type MemoLockBehaviourOptions,
  MemoLockEngine,
  type MemoLockHandle,
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
import { assertDuration, assertId, assertTag, MAX_TIMER_MS } from './validation';

interface Entry {
  encoded: string;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The MemoLock engine for a single process and no Redis: the same interface, TTLs and leases honoured (on the
 * monotonic clock), and concurrent callers coalesced. For development, the sample app and your own unit
 * tests; values are kept serialized, so callers get copies exactly as they would from Redis.
 *
 * @example
 * const engine = new InMemoryMemoLockEngine();
 * const likes = engine.memoLock('likes', { lockTimeout: 5_000 });
 */
export class InMemoryMemoLockEngine extends MemoLockEngine implements MemoLockBackend {
  readonly #defaults: ReturnType<typeof resolveEngineDefaults>;
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new Coalescer<{ flight: Flight; start(): void }>();
  /** External work waiting for {@link publish}. */
  readonly #deliveries = new Map<string, Set<(encoded: string) => void>>();
  #closed = false;

  constructor(options: MemoLockBehaviourOptions = {}) {
    super();
    this.#defaults = resolveEngineDefaults(options, 'options');
  }

  memoLock<T = unknown>(tag: string, options: MemoLockOptions): MemoLockHandle<T> {
    return new MemoLockTagHandle<T>(this, resolveTagOptions(tag, options, this.#defaults));
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
    this.#store(key, raw, ttl);
    for (const deliver of this.#deliveries.get(key) ?? []) deliver(raw);
  }

  /** @internal */
  obtain(
    tag: ResolvedTagOptions,
    id: string,
    timeout: number,
    work: HandleWork,
    withStatus: boolean,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const key = `${tag.tag}:${id}`;
    return this.#flights.join(tag, id, timeout, withStatus, () => {
      const delivery = work.kind === 'external' ? this.#expectDelivery(key) : undefined;
      const done = () => {
        if (this.#flights.forget(tag, id, flown)) delivery?.cancel();
      };
      // Abandoned by every caller: external work stops waiting; a computation already running still
      // finishes and stores its value.
      const flight = new Flight(tag.tag, id, { abandon: () => work.kind === 'external' && done() });
      // Forgotten before its callers hear of it, so that none of them can join it once settled.
      const start = () =>
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
      const flown = { flight, start };
      return flown;
    });
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

  /** Rejects pending calls with `MemoLockClosedError` and drops every value and timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flights.closeAll();
    this.#deliveries.clear();
    for (const key of [...this.#entries.keys()]) this.#delete(key);
  }

  /** The value {@link publish} will deliver for `key`, until cancelled. */
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
    const hit = this.#read(key);
    if (hit !== undefined) return { value: decodeValue(tag, id, hit), status: 'hit' };
    if (work.kind === 'external') {
      await work.start();
      return { value: decodeValue(tag, id, await delivered!), status: 'stored' };
    }
    const { encoded, ttl } = await computeValue(tag, id, () => runComputation(work, this.#lease(tag, id)));
    if (!this.#closed) this.#store(key, encoded, ttl);
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

  #read(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (performance.now() < entry.expiresAt) return entry.encoded;
    this.#delete(key);
    return undefined;
  }

  #store(key: string, encoded: string, ttl: number): void {
    this.#delete(key);
    // Expiry is checked on read; the timer only frees memory, so it never keeps the process alive.
    const timer = ttl <= MAX_TIMER_MS ? setTimeout(() => this.#delete(key), ttl).unref() : undefined;
    this.#entries.set(key, { encoded, expiresAt: performance.now() + ttl, timer });
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(key);
  }
}
