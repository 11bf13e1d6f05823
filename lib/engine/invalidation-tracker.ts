/**
 * Which keys changed in Redis, whoever changed them, for the L1: Redis client-side caching in broadcast
 * mode on every master ({@link NodeTracking}), reported to one listener (the {@link L1Cache}).
 *
 * Prefixes are added as tags appear (`T:` for a tag's values, and whatever other names of a tag an L1 may
 * cache). Each is reported as tracked only once every master confirmed it; until then, and whenever any
 * master's tracking drops (a connection lost, a failover, which is a reconnection to another server, a
 * cluster topology change), the listener is told that nothing is tracked and forgets everything.
 *
 * What Redis reports, and when:
 * - every write, deletion, expiry and eviction of a key under a tracked prefix, in any database (tracking
 *   ignores the database number: a write in another one is an extra invalidation, never a missed one);
 * - FLUSHALL and FLUSHDB as a flush of everything;
 * - an expiry only when Redis actually deletes the key, lazily on access or in its expiry cycle, which may
 *   be seconds after the deadline: an L1 entry carries its own deadline and does not wait for this.
 * Broadcast mode keeps no per-key table on the server, so `tracking-table-max-keys` does not apply.
 *
 * On a cluster each master reports its own keys: one {@link NodeTracking} per master, kept in step with
 * ioredis's view of the cluster (`+node`, `-node`, `refresh`); any change of the masters counts as a loss.
 */
import type { Cluster, Redis } from 'ioredis';
import { MemoLockArgumentError } from '../errors';
import { Messages } from '../memolock.messages';
import type { MemoLockLogger } from './memolock-engine.interface';
import { NodeTracking, type NodeTrackingEvents } from './node-tracking';
import { isWellFormed } from './validation';

/** What the tracker tells the L1. */
export interface InvalidationListener {
  /** Changes of keys under `prefixes` are reported from now on, on every master. */
  tracking(prefixes: Iterable<string>): void;
  /** `key` changed (written, deleted, expired or evicted). */
  invalidate(key: string): void;
  /** Every key may have changed (FLUSHALL, FLUSHDB); tracking goes on. */
  flush(): void;
  /** Changes are not reported any more, until {@link tracking} again. */
  untracked(): void;
}

/** The names of a tag that its L1 caches, as tracking prefixes: its values `T:I`. */
export function tagPrefixes(tag: string): string[] {
  return [`${tag}:`];
}

/**
 * A prefix ends at its only `:`, like the protocol's names (`T:`, `T/stale:`). So no two prefixes overlap
 * (Redis refuses overlapping ones on one connection), and a key's prefix is found in one step.
 */
function assertPrefix(prefix: unknown): asserts prefix is string {
  if (
    typeof prefix !== 'string' ||
    prefix.length < 2 ||
    prefix.indexOf(':') !== prefix.length - 1 ||
    !isWellFormed(prefix)
  ) {
    throw new MemoLockArgumentError(
      'prefix',
      Messages.invalidArgument('prefix', "expected a name ending with its only ':', such as 'T:'", prefix),
    );
  }
}

type TrackingState = 'starting' | 'on' | 'lost' | 'refused';

export class InvalidationTracker {
  readonly #owner: Redis | Cluster;
  readonly #listener: InvalidationListener;
  readonly #commandTimeout: number;
  readonly #logger: MemoLockLogger;
  /** ioredis prefixes every key the client sends with it: tracking must ask for prefixed names. */
  readonly #keyPrefix: string;
  /** Prefixes asked for, as the listener names them (without the client's key prefix). */
  readonly #prefixes = new Set<string>();
  /** The same, as Redis names them. */
  #redisPrefixes: string[] = [];
  /** Prefixes the listener was told are tracked. */
  readonly #reported = new Set<string>();
  /** One per master, by `host:port`. */
  readonly #nodes = new Map<string, NodeTracking>();
  #state: TrackingState = 'starting';
  #started = false;
  #closed = false;
  readonly #topologyChanged = () => this.#syncNodes();

  constructor(
    owner: Redis | Cluster,
    listener: InvalidationListener,
    options: { commandTimeout: number; logger: MemoLockLogger },
  ) {
    this.#owner = owner;
    this.#listener = listener;
    this.#commandTimeout = options.commandTimeout;
    this.#logger = options.logger;
    const ownerOptions = owner.options as { keyPrefix?: string };
    this.#keyPrefix = ownerOptions.keyPrefix ?? '';
  }

  /** Whether every prefix asked for is tracked on every master right now. */
  get active(): boolean {
    return this.#prefixes.size > 0 && this.#reported.size === this.#prefixes.size;
  }

  /** Masters tracked (one on a standalone or Sentinel setup). */
  get nodes(): number {
    return this.#nodes.size;
  }

  /**
   * Tracks keys under `prefixes` too (idempotent); the listener hears {@link InvalidationListener.tracking}
   * once every master confirmed them. The first call opens the connections.
   */
  track(prefixes: readonly string[]): void {
    if (this.#closed) return;
    let added = false;
    for (const prefix of prefixes) {
      assertPrefix(prefix);
      if (this.#prefixes.has(prefix)) continue;
      this.#prefixes.add(prefix);
      added = true;
    }
    if (!added) return;
    this.#redisPrefixes = [...this.#prefixes].map((prefix) => this.#keyPrefix + prefix);
    if (!this.#started) this.#start();
    for (const node of this.#nodes.values()) node.sync();
  }

  /** Closes every connection the tracker opened; the listener hears that nothing is tracked any more. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const event of ['+node', '-node', 'refresh', 'ready']) {
      this.#owner.removeListener(event, this.#topologyChanged);
    }
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    this.#reported.clear();
    this.#listener.untracked();
    await Promise.all(nodes.map((node) => node.close()));
  }

  #start(): void {
    this.#started = true;
    if (!this.#owner.isCluster) {
      this.#nodes.set('', this.#node(this.#owner as Redis));
      return;
    }
    for (const event of ['+node', '-node', 'refresh', 'ready']) this.#owner.on(event, this.#topologyChanged);
    this.#syncNodes();
  }

  #node(source: Redis): NodeTracking {
    const events: NodeTrackingEvents = {
      invalidated: (keys) => this.#invalidated(keys),
      flushed: () => this.#listener.flush(),
      tracked: () => this.#report(),
      down: (reason) => this.#lost(reason),
      failed: (reason, refused) => this.#failed(reason, refused),
    };
    return new NodeTracking(source, () => this.#redisPrefixes, events, this.#commandTimeout);
  }

  /** One tracking per master ioredis knows of now; any change of the masters is a loss until set up. */
  #syncNodes(): void {
    const cluster = this.#owner as Cluster;
    if (this.#closed || cluster.status !== 'ready') return;
    const masters = new Map<string, Redis>();
    for (const node of cluster.nodes('master'))
      masters.set(`${node.options.host}:${node.options.port}`, node);
    let changed = false;
    for (const [key, tracking] of this.#nodes) {
      if (masters.has(key)) continue;
      this.#nodes.delete(key);
      void tracking.close();
      changed = true;
    }
    for (const [key, node] of masters) {
      if (this.#nodes.has(key)) continue;
      this.#nodes.set(key, this.#node(node));
      changed = true;
    }
    if (!changed) return;
    this.#lost(Messages.trackingTopologyChanged());
    // When a master only left, the others may all be tracking already.
    this.#report();
  }

  #invalidated(keys: string[]): void {
    const skip = this.#keyPrefix.length;
    for (const key of keys) {
      if (skip === 0) this.#listener.invalidate(key);
      else if (key.startsWith(this.#keyPrefix)) this.#listener.invalidate(key.slice(skip));
    }
  }

  /** Reports the prefixes every master now tracks that the listener has not heard of. */
  #report(): void {
    if (this.#closed || this.#nodes.size === 0) return;
    const nodes = [...this.#nodes.values()];
    const newly: string[] = [];
    for (const prefix of this.#prefixes) {
      if (this.#reported.has(prefix)) continue;
      const named = this.#keyPrefix + prefix;
      if (nodes.every((node) => node.tracks(named))) newly.push(prefix);
    }
    if (newly.length === 0) return;
    for (const prefix of newly) this.#reported.add(prefix);
    this.#listener.tracking(newly);
    if (this.active && this.#state !== 'on') {
      if (this.#state !== 'starting') this.#logger.log(Messages.trackingBack());
      this.#state = 'on';
    }
  }

  /** Some master's changes may go unreported: the listener forgets everything until all are back. */
  #lost(reason: string): void {
    if (this.#closed) return;
    this.#reported.clear();
    this.#listener.untracked();
    if (this.#state !== 'on') return;
    this.#state = 'lost';
    this.#logger.warn(Messages.trackingLost(reason));
  }

  /** Setting tracking up failed (it retries): said once, when it first fails or Redis refuses it. */
  #failed(reason: string, refused: boolean): void {
    if (refused) {
      if (this.#state === 'refused') return;
      this.#state = 'refused';
      this.#logger.error(Messages.trackingRefused(reason));
    } else if (this.#state === 'starting') {
      this.#state = 'lost';
      this.#logger.warn(Messages.trackingLost(reason));
    }
  }
}
