/**
 * Warming the L1 again after a write this process made or was woken by, despite that write's own
 * invalidation (see "Filling after a write" in l1-cache.ts).
 *
 * Nobody can tell whose write an invalidation reports, and it may arrive before or after the value's
 * message (or the holder's own store reply). So after {@link expect}, each invalidation of the key within
 * a short window starts one background read of the key, with a ticket taken after that invalidation was
 * processed; if one came already since the caller's ticket, the read starts at once. A read that an
 * invalidation overtakes is refused by the cache, and that invalidation starts the next read. Correctness
 * rests on the cache's tickets alone: a read only ever fills what no later write replaced.
 *
 * It sits between the tracker and the cache: it is the tracker's listener, and passes everything on to the
 * cache first.
 */
import type { InvalidationListener } from './invalidation-tracker';
import type { L1Cache, L1Ticket } from './l1-cache';

/**
 * One read of a key for the L1: its decoded value, encoded size and remaining TTL (ms), and what decoded it
 * (see `L1Entry.scope`), or nothing. `context`: what the caller of {@link L1Refill.expect} or
 * {@link L1Refill.readOnce} gave with the key (the engine gives the tag's options, to decode with).
 */
export type L1Read = (
  key: string,
  context: unknown,
) => Promise<{ value: unknown; bytes: number; ttl: number; scope?: unknown } | undefined>;

/** How long after {@link L1Refill.expect} invalidations of the key still start a read (ms). */
export const REFILL_WINDOW_MS = 1_000;
/** Most reads one {@link L1Refill.expect} starts, however many writes the key takes meanwhile. */
export const REFILL_MAX_READS = 3;

interface Expected {
  context: unknown;
  until: number;
  reads: number;
  reading: boolean;
  again: boolean;
}

export class L1Refill implements InvalidationListener {
  readonly #cache: L1Cache;
  readonly #read: L1Read;
  readonly #clock: () => number;
  /** Keys expected to be invalidated by a write this process knows of, oldest first. */
  readonly #expected = new Map<string, Expected>();
  /** Keys read by {@link readOnce} right now. */
  readonly #once = new Set<string>();
  #reading = 0;
  #closed = false;

  constructor(cache: L1Cache, read: L1Read, clock: () => number = () => performance.now()) {
    this.#cache = cache;
    this.#read = read;
    this.#clock = clock;
  }

  /** Keys still expected (for diagnostics and tests). */
  get expected(): number {
    return this.#expected.size;
  }

  /** Reads under way. */
  get reading(): number {
    return this.#reading;
  }

  /**
   * `key` was just written: by this process (its store replied), or by whoever produced the value a waiter
   * here was woken with. `ticket` was taken before that write could have happened here (before the store,
   * before the waiter subscribed). Reads the key again after the write's invalidation.
   */
  expect(key: string, ticket: L1Ticket, context?: unknown): void {
    if (this.#closed) return;
    const now = this.#clock();
    this.#sweep(now);
    // Every caller of a stampede expects the same write: they share one record, so one read (and at most one
    // more, for an invalidation during it) serves them all rather than one read each.
    const current = this.#expected.get(key);
    const expected: Expected = current ?? { context, until: 0, reads: 0, reading: false, again: false };
    expected.until = now + REFILL_WINDOW_MS;
    expected.reads = 0;
    this.#expected.delete(key); // to the end: the map stays in window order (see #sweep)
    this.#expected.set(key, expected);
    if (this.#cache.invalidatedSince(key, ticket)) this.#start(key, expected);
  }

  /**
   * Reads `key` once in the background, now (Redis answered a call that the L1 could not), unless a read of
   * it is under way already. No window: later invalidations start nothing.
   */
  readOnce(key: string, context?: unknown): void {
    if (this.#closed) return;
    const expected = this.#expected.get(key);
    if (expected) {
      if (!expected.reading) this.#start(key, expected);
      return;
    }
    if (this.#once.has(key)) return;
    this.#once.add(key);
    const once: Expected = { context, until: -Infinity, reads: 0, reading: false, again: false };
    this.#start(key, once, () => this.#once.delete(key));
  }

  tracking(prefixes: Iterable<string>): void {
    this.#cache.tracking(prefixes);
  }

  invalidate(key: string): void {
    this.#cache.invalidate(key);
    const expected = this.#expected.get(key);
    if (!expected) return;
    if (expected.until < this.#clock()) this.#expected.delete(key);
    else this.#start(key, expected);
  }

  flush(): void {
    this.#cache.flush();
  }

  untracked(): void {
    this.#cache.untracked();
  }

  /** Starts no read from now on; reads under way still fill, if their tickets allow. */
  close(): void {
    this.#closed = true;
    this.#expected.clear();
    this.#once.clear();
  }

  #start(key: string, expected: Expected, finished?: () => void): void {
    if (expected.reading) {
      expected.again = true;
      return;
    }
    if (this.#closed || expected.reads >= REFILL_MAX_READS) return finished?.();
    expected.reading = true;
    expected.reads++;
    this.#reading++;
    const ticket = this.#cache.beginRead();
    const done = () => {
      expected.reading = false;
      this.#reading--;
      finished?.();
      if (!expected.again) return;
      expected.again = false;
      if (this.#expected.get(key) === expected && expected.until >= this.#clock()) this.#start(key, expected);
    };
    let reading: ReturnType<L1Read>;
    try {
      reading = this.#read(key, expected.context);
    } catch {
      return done();
    }
    reading.then(
      (result) => {
        if (result) this.#cache.fill(key, ticket, result.value, result.bytes, result.ttl, result.scope);
        done();
      },
      // A failed background read fills nothing; the next call reads Redis itself.
      () => done(),
    );
  }

  /** Forgets keys whose window has passed (oldest first: each was set with the same window). */
  #sweep(now: number): void {
    for (const [key, expected] of this.#expected) {
      if (expected.until >= now) return;
      if (!expected.reading) this.#expected.delete(key);
    }
  }
}
