/**
 * The L1 in the engine's read path (the `l1` option): a call whose value the L1 holds answers from it,
 * before any flight, timer or Redis command; every other call goes the usual way, and its outcome warms the
 * L1 for the next one.
 *
 * - A hit in Redis (the flight's first read): the key is read again in the background, value and PTTL in
 *   one round trip, with a ticket taken before that read ({@link L1Refill.readOnce}). The caller does not
 *   wait for it; the next call is local.
 * - A value this process stored, or was woken with (whoever produced it: this engine, a Go/C# holder, a plain
 *   `SET` + `PUBLISH`), or read on its way out of a wait: the write's own invalidation may come before or
 *   after, so the key is re-read after it ({@link L1Refill.expect}, with the ticket taken when the call
 *   began, before its flight read or subscribed).
 * - Nothing fills the L1 but those background reads, each with its own ticket (see "The race guard" in
 *   l1-cache.ts): an entry never holds a value that a later write replaced, and never outlives its key.
 *
 * Which tags it serves: every tag but those with `earlyRefresh`. XFetch decides at each hit whether this
 * one recomputes the value early, from the value's record read with it in Redis; a hit answered locally
 * would never draw, and the value would expire under its callers. So the calls of such a tag (and the calls
 * that give `earlyRefresh` of their own) read Redis as without an L1. A `grace` alone is served: the L1
 * holds `T:I` only, never its stale copy, and drops it by its Redis TTL, so a value past its ttl is only
 * ever served the way Redis serves it (from `T/stale:I`, by the flight).
 *
 * Values are deep-frozen ({@link freezeData}): every caller of the process shares the one decoded object,
 * so each value an L1 engine returns, from the L1 or not, is read-only. A value that cannot be frozen (a
 * custom serializer's class instance, a Map) is returned as decoded, and not kept.
 */
import type { Cluster, Redis } from 'ioredis';
import { freezeData } from './deep-freeze';
import { InvalidationTracker, tagPrefixes } from './invalidation-tracker';
import { L1Cache, type L1Entry, type L1Options, type L1Ticket } from './l1-cache';
import { type L1Read, L1Refill } from './l1-refill';
import type { MemoLockLogger } from './memolock-engine.interface';
import type { Obtained } from './memolock-handle';
import type { RedisLink } from './redis-call';
import type { MemoLockCommands } from './redis-commands';
import { decodeValue, type ResolvedTagOptions } from './resource-codec';

/** A key being read for the L1: the tag's options (its serializer decodes) and the id. */
interface ReadContext {
  tag: ResolvedTagOptions;
  id: string;
}

type ReadResult = Awaited<ReturnType<L1Read>>;

interface PendingRead {
  key: string;
  context: ReadContext;
  resolve(result: ReadResult): void;
  reject(error: unknown): void;
}

type PipelineReply = [error: Error | null, result: unknown] | undefined;

/** What a key's value and PTTL (one `memolockReadWithTtl` reply) give the L1: its decoded value, or nothing. */
function decoded({ context: { tag, id } }: PendingRead, reply: PipelineReply): ReadResult {
  if (!reply || reply[0] || !Array.isArray(reply[1])) return undefined;
  const [raw, ms] = reply[1] as [unknown, unknown];
  if (typeof raw !== 'string' || typeof ms !== 'number') return undefined;
  if (!(ms > 0 || ms === -1)) return undefined; // gone, or about to be
  let value: unknown;
  try {
    value = decodeValue(tag, id, raw);
  } catch {
    return undefined; // the caller that read it got the error; nothing to keep
  }
  return { value, bytes: Buffer.byteLength(raw), ttl: ms === -1 ? Infinity : ms, scope: tag.serializer };
}

export class L1Reads {
  readonly cache: L1Cache;
  readonly refill: L1Refill;
  readonly tracker: InvalidationTracker;
  readonly #link: RedisLink;
  /** Background reads under way, which {@link close} waits for. */
  readonly #reads = new Set<Promise<unknown>>();
  /** Keys Redis answered once lately (see {@link admits}), oldest first. */
  readonly #seen = new Map<string, true>();
  readonly #maxSeen: number;
  /** Background reads asked for in this turn. */
  #batch: PendingRead[] = [];

  constructor(
    owner: Redis | Cluster,
    link: RedisLink,
    options: L1Options,
    settings: { commandTimeout: number; logger: MemoLockLogger },
  ) {
    this.#link = link;
    this.#maxSeen = options.maxEntries;
    this.cache = new L1Cache(options);
    this.refill = new L1Refill(this.cache, (key, context) => this.#read(key, context as ReadContext));
    this.tracker = new InvalidationTracker(owner, this.refill, settings);
  }

  /** Tracks the tag's keys from now on (a handle was created). */
  track(tag: string): void {
    this.tracker.track(tagPrefixes(tag));
  }

  /** Whether calls under these options may be answered from the L1 (see the file's comment). */
  serves(tag: ResolvedTagOptions): boolean {
    return tag.freshness === undefined || tag.freshness.beta === 0;
  }

  /** The L1's entry for `key`, if it holds one decoded as `tag` decodes. */
  lookup(tag: ResolvedTagOptions, key: string): L1Entry | undefined {
    const entry = this.cache.get(key);
    return entry !== undefined && entry.scope === tag.serializer ? entry : undefined;
  }

  /** Taken when a call misses the L1, before its flight reads or subscribes. */
  begin(): L1Ticket {
    return this.cache.beginRead();
  }

  /**
   * A call that missed the L1 got `outcome` (its value frozen here, before the caller sees it): warms the
   * L1 for the next call when the outcome is the key's current value.
   */
  settled(tag: ResolvedTagOptions, id: string, key: string, ticket: L1Ticket, outcome: Obtained): void {
    freezeData(outcome.value);
    if (!this.serves(tag)) return;
    switch (outcome.status) {
      case 'hit':
        if (this.#admits(key)) this.refill.readOnce(key, { tag, id });
        break;
      case 'stored':
      case 'collapsed':
        this.refill.expect(key, ticket, { tag, id });
        break;
      // 'stale' (a copy past its ttl) and 'uncached' (Redis failed) are not what `T:I` holds.
    }
  }

  /**
   * Whether a key that Redis answered is worth a background read: from the second time on among the last
   * `maxEntries` keys Redis answered, not the first. A key read once (a sweep, a crawler) costs the L1 no read, no
   * entry, and no other key's eviction.
   */
  #admits(key: string): boolean {
    const seen = this.#seen.delete(key);
    this.#seen.set(key, true);
    if (this.#seen.size > this.#maxSeen) this.#seen.delete(this.#seen.keys().next().value!);
    return seen;
  }

  /**
   * This engine is about to change, or has just changed, `key` (`invalidate()`): the entry goes now, and
   * reads begun before do not fill, without waiting for Redis's report of the write.
   */
  invalidate(key: string): void {
    this.cache.invalidate(key);
  }

  /** As {@link invalidate}, for every key (`invalidateAll()`: the L1 does not index keys by tag). */
  flush(): void {
    this.cache.flush();
  }

  /** Starts no more reads, waits for those under way, and closes the tracking connections. */
  async close(): Promise<void> {
    this.refill.close();
    this.#flush(); // what this turn asked for goes out now, and is waited for below
    await this.tracker.close();
    while (this.#reads.size > 0) await Promise.all(this.#reads);
  }

  /**
   * The value of `key` and its PTTL, with the other background reads of this turn: one pipeline and one
   * socket write for them all on standalone Redis (a read per command would cost the process more than the
   * calls it warms the L1 for), one per key on a cluster, where a pipeline's keys must share a slot. Both
   * come from one small script, so from the master even through a Cluster client that reads from replicas
   * (`scaleReads`): a replica may answer a value the master has replaced, after the invalidation that would
   * have refused it.
   */
  #read(key: string, context: ReadContext): ReturnType<L1Read> {
    if (this.#batch.length === 0) process.nextTick(() => this.#flush());
    return new Promise((resolve, reject) => this.#batch.push({ key, context, resolve, reject }));
  }

  #flush(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const { client } = this.#link;
    if (!client.isCluster) return this.#send(batch);
    for (const read of batch) this.#send([read]);
  }

  #send(batch: PendingRead[]): void {
    const { client } = this.#link;
    const sent = this.#link
      .call('PIPELINE', () => {
        // ioredis adds the scripts defineCommand defined to pipelines too; its types do not know them.
        const pipeline = client.pipeline() as ReturnType<typeof client.pipeline> &
          Pick<MemoLockCommands, 'memolockReadWithTtl'>;
        for (const { key } of batch) void pipeline.memolockReadWithTtl(key);
        return pipeline.exec();
      })
      .then(
        (replies) => {
          batch.forEach((read, i) => read.resolve(decoded(read, replies?.[i])));
        },
        (error: unknown) => {
          for (const read of batch) read.reject(error);
        },
      );
    const tracked: Promise<unknown> = sent.then(() => this.#reads.delete(tracked));
    this.#reads.add(tracked);
  }
}
