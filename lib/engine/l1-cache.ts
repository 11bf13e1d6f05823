/**
 * The L1: values of Redis keys kept in process memory and answered without Redis, kept coherent by Redis
 * itself. The {@link InvalidationTracker} reports every change of a tracked key, whoever made it (this
 * engine, a Go/C# peer, `redis-cli`, an expiry), and this cache drops the key.
 *
 * Entries are keyed by their Redis name (`T:I`, and whatever other names the engine tracks). At most
 * `maxEntries` of them, and at most `maxBytes` of their encoded sizes, least recently used out first. Each
 * has its own deadline: the moment its read began plus the TTL Redis reported then, so that it never
 * outlives the key (Redis reports an expiry only once it actually deletes the key, lazily on access or in
 * its expiry cycle, which may be seconds late). Values are deep-frozen ({@link freezeData}) and shared:
 * values from an L1 are read-only; a value that cannot be frozen (a Map, a class instance) is not cached.
 *
 * ## The race guard
 * A read's reply and the invalidations travel on different connections, so a reply may carry a value that a
 * write has replaced although that write's invalidation was processed before the reply (the classic
 * client-side-caching race). Every read that may fill the L1 therefore takes a ticket ({@link beginRead})
 * before it sends its command or subscribes, and {@link fill} refuses it when, since that ticket:
 * - the key was invalidated;
 * - everything was flushed (FLUSHALL or FLUSHDB on any node);
 * - the key's prefix was not tracked all along (tracking started after the ticket, or stopped: a tracking
 *   connection dropped, a failover, a cluster topology change).
 * A write executed after the read produces an invalidation that is processed after the ticket was taken
 * (the ticket came first, then the read, then the write, then its report), so either before the fill, which
 * it refuses, or after it, which drops the entry: the L1 never keeps a value that a later write replaced.
 * Invalidations are remembered per key in a bounded map; forgetting the oldest raises a floor below which
 * every ticket is refused, which costs a fill now and then and never serves a stale value.
 *
 * ## Filling after a write (for the read path)
 * Redis reports a write to everyone tracking, the writer included, and nobody can tell whose write an
 * invalidation is for. The store script's PUBLISH reaches subscribers before the invalidation of its own
 * SET (a script's invalidations are sent when it ends), while a plain `SET` then `PUBLISH` (a Go holder, an
 * external producer) is reported in the other order; on two connections either may come first anyway.
 * So a value this process just stored, or was woken with, would be dropped by its own write's
 * invalidation, and a value filled after an invalidation might be one a later write replaced. The read path
 * therefore:
 * 1. takes a ticket when a call misses the L1, before its flight reads, stores or subscribes (l1-reads.ts);
 * 2. neither the holder nor a woken waiter fills from what it has at hand: a message carries the value,
 *    not its TTL, and the holder's own write's invalidation would drop its value at once anyway;
 * 3. both hand the key and that ticket to `L1Refill.expect` (l1-refill.ts), which re-reads the key in the background
 *    (value and PTTL in one round trip) with a new ticket, after the key's next invalidation, or at once
 *    if one came since the ticket already ({@link invalidatedSince}). If that invalidation was an earlier
 *    write's, the read is refused or dropped by the write's own one, which starts the next read.
 * Correctness rests on the tickets alone; the re-reads only decide how soon the L1 is warm again.
 */
import { freezeData } from './deep-freeze';
import type { InvalidationListener } from './invalidation-tracker';

/**
 * The `l1` option of `RedisMemoLockEngine` and of `MemoLockModule`: bounds of the in-process tier.
 *
 * @example
 * const l1: L1Options = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };
 */
export interface L1Options {
  /** Most entries kept (a positive integer); the least recently used goes first. */
  maxEntries: number;
  /**
   * Most bytes of encoded values kept (UTF-8, as stored in Redis), on top of `maxEntries`; a value larger
   * than this on its own is not kept. No bound when absent. Decoded objects take a few times their encoded
   * size in the heap (see bench/RESULTS.md).
   */
  maxBytes?: number;
}

/** Taken before a read that may fill the L1; {@link L1Cache.fill} refuses it if the key changed since. */
export interface L1Ticket {
  /** Invalidations seen before the read began. */
  readonly seq: number;
  /** When the read began (ms, monotonic clock): entries live until `at + ttl`. */
  readonly at: number;
}

/** An entry as {@link L1Cache.get} returns it: a deep-frozen value, shared by every caller. */
export interface L1Entry {
  readonly value: unknown;
  /** Encoded size counted against `maxBytes`. */
  readonly bytes: number;
  /** Deadline on the monotonic clock (`performance.now()`); `Infinity` for a key without a TTL. */
  readonly expiresAt: number;
  /**
   * What decoded the value (the engine passes the tag's serializer): a handle decoding the same key
   * another way does not take it.
   */
  readonly scope: unknown;
}

class Node implements L1Entry {
  prev: Node | undefined = undefined;
  next: Node | undefined = undefined;
  constructor(
    readonly key: string,
    public value: unknown,
    public bytes: number,
    public expiresAt: number,
    public scope: unknown,
  ) {}
}

/**
 * Invalidations remembered per key: enough for the reads under way at any moment. Past it, the oldest is
 * forgotten and every ticket taken before it is refused.
 */
export const RECENT_INVALIDATIONS = 8_192;

/**
 * The part of a key that tracking is asked for: up to its first `:` (`T:` of `T:I`, `T/stale:` of
 * `T/stale:I`). Tags hold no `:`, so a tracked prefix always ends at the key's first one.
 */
export function trackedPrefixOf(key: string): string {
  return key.slice(0, key.indexOf(':') + 1);
}

export class L1Cache implements InvalidationListener {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, Node>();
  /** Most recently used first. */
  #head: Node | undefined;
  #tail: Node | undefined;
  #bytes = 0;
  /** Counts every invalidation, flush and start of tracking; tickets compare against it. */
  #seq = 0;
  /** Tickets below it are refused (after a flush, or once an invalidation was forgotten). */
  #floor = 0;
  /** Tracked prefixes, with the `#seq` at which their tracking (last) started. */
  readonly #tracked = new Map<string, number>();
  /** Keys invalidated lately, with the `#seq` of their last invalidation, oldest first. */
  readonly #recent = new Map<string, number>();

  /** @param clock monotonic milliseconds (tests may drive time themselves). */
  constructor(options: L1Options, clock: () => number = () => performance.now()) {
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes ?? Infinity;
    this.#clock = clock;
  }

  /** Entries held (expired ones included until they are read or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /** Sum of the held entries' encoded sizes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Prefixes whose changes are reported right now. */
  get trackedPrefixes(): string[] {
    return [...this.#tracked.keys()];
  }

  /** The live entry of `key`, now the most recently used, or `undefined` (absent or past its deadline). */
  get(key: string): L1Entry | undefined {
    const node = this.#entries.get(key);
    if (node === undefined) return undefined;
    if (node.expiresAt <= this.#clock()) {
      this.#delete(node);
      return undefined;
    }
    if (node !== this.#head) {
      this.#unlink(node);
      this.#pushFront(node);
    }
    return node;
  }

  /** Call before sending a read whose result may {@link fill} the L1. */
  beginRead(): L1Ticket {
    return { seq: this.#seq, at: this.#clock() };
  }

  /** Whether `key` may have changed since `ticket` (invalidated, flushed, or not tracked all along). */
  invalidatedSince(key: string, ticket: L1Ticket): boolean {
    if (ticket.seq < this.#floor) return true;
    const since = this.#tracked.get(trackedPrefixOf(key));
    if (since === undefined || ticket.seq < since) return true;
    const invalidated = this.#recent.get(key);
    return invalidated !== undefined && invalidated > ticket.seq;
  }

  /**
   * Keeps `value` (deep-frozen here) as `key`'s entry until `ticket.at + ttl`, unless the key may have
   * changed since the ticket, the value cannot be frozen, or it would not fit. Says whether it was kept.
   *
   * @param bytes its encoded size, counted against `maxBytes`.
   * @param ttl what Redis said was left of the key's time to live when the read ran (ms; `Infinity` for
   * a key without one).
   * @param scope what decoded `value`, kept with it (see {@link L1Entry.scope}).
   */
  fill(key: string, ticket: L1Ticket, value: unknown, bytes: number, ttl: number, scope?: unknown): boolean {
    if (!(ttl > 0) || !(bytes >= 0) || bytes > this.#maxBytes) return false;
    if (this.invalidatedSince(key, ticket)) return false;
    const expiresAt = ticket.at + ttl;
    if (expiresAt <= this.#clock() || !freezeData(value)) return false;
    let node = this.#entries.get(key);
    if (node) {
      this.#bytes -= node.bytes;
      node.value = value;
      node.bytes = bytes;
      node.expiresAt = expiresAt;
      node.scope = scope;
      if (node !== this.#head) {
        this.#unlink(node);
        this.#pushFront(node);
      }
    } else {
      node = new Node(key, value, bytes, expiresAt, scope);
      this.#entries.set(key, node);
      this.#pushFront(node);
    }
    this.#bytes += bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) this.#delete(this.#tail!);
    return true;
  }

  /** Changes of keys under `prefixes` are reported from now on (tracking confirmed on every node). */
  tracking(prefixes: Iterable<string>): void {
    this.#seq++;
    for (const prefix of prefixes) this.#tracked.set(prefix, this.#seq);
  }

  /** `key` changed (written, deleted, expired, evicted), or this engine is about to change it. */
  invalidate(key: string): void {
    const seq = ++this.#seq;
    const node = this.#entries.get(key);
    if (node) this.#delete(node);
    this.#recent.delete(key);
    this.#recent.set(key, seq);
    if (this.#recent.size > RECENT_INVALIDATIONS) {
      const [oldest, at] = this.#recent.entries().next().value!;
      this.#recent.delete(oldest);
      this.#floor = Math.max(this.#floor, at);
    }
  }

  /** Every key may have changed (FLUSHALL, FLUSHDB); tracking goes on. */
  flush(): void {
    this.#floor = ++this.#seq;
    this.#entries.clear();
    this.#recent.clear();
    this.#head = this.#tail = undefined;
    this.#bytes = 0;
  }

  /** Changes are not reported any more, until {@link tracking} again: forget everything, fill nothing. */
  untracked(): void {
    this.flush();
    this.#tracked.clear();
  }

  #delete(node: Node): void {
    this.#entries.delete(node.key);
    this.#unlink(node);
    this.#bytes -= node.bytes;
  }

  #unlink(node: Node): void {
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = undefined;
  }

  #pushFront(node: Node): void {
    node.next = this.#head;
    if (this.#head) this.#head.prev = node;
    this.#head = node;
    this.#tail ??= node;
  }
}
