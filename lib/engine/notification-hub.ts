/**
 * The engine's one subscriber connection, multiplexed over every tag and id this process waits for.
 *
 * A tag is subscribed with one `PSUBSCRIBE T/*` while anything waits on it, and unsubscribed when nothing
 * does (see the README for why a pattern per tag beats a channel per key). Messages are routed to the
 * watchers of their resource. Pub/Sub loses what is published while the connection is down, so watchers
 * are told to read their key again whenever it drops and once it is back.
 */
import type { Cluster, Redis } from 'ioredis';
import { MemoLockClosedError, type RemoteFailure } from '../errors';
import { Messages } from '../memolock.messages';
import { decodeFailure, parseChannel, tagPattern } from './protocol';
import { closeClient, withDeadline } from './redis-call';

export type HubEvent =
  | { type: 'value'; raw: string }
  | { type: 'failure'; failure: RemoteFailure }
  /** The subscription may have missed messages: read the key again. */
  | { type: 'recheck' };

export interface Watcher {
  notify(event: HubEvent): void;
}

interface TagSubscription {
  watchers: number;
  ready: Promise<unknown>;
  failed: boolean;
}

export class NotificationHub {
  readonly #createSubscriber: () => Redis | Cluster;
  readonly #commandTimeout: number;
  #subscriber: Redis | Cluster | undefined;
  /** Watchers by resource key `T:I`. */
  readonly #watchers = new Map<string, Set<Watcher>>();
  readonly #tags = new Map<string, TagSubscription>();
  #everReady = false;
  #connected = false;
  #closed = false;

  constructor(createSubscriber: () => Redis | Cluster, commandTimeout: number) {
    this.#createSubscriber = createSubscriber;
    this.#commandTimeout = commandTimeout;
  }

  /** Tags with an active pattern subscription (for diagnostics and tests). */
  get subscribedTags(): string[] {
    return [...this.#tags.keys()];
  }

  /** Number of resources somebody in this process waits for. */
  get watchedResources(): number {
    return this.#watchers.size;
  }

  /**
   * Routes messages of `tag:id` to `watcher` from now on, and resolves once the tag's subscription is active
   * (rejects if Redis does not confirm it within the command timeout; the watcher stays registered).
   */
  watch(tag: string, id: string, watcher: Watcher): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const key = `${tag}:${id}`;
    let set = this.#watchers.get(key);
    if (!set) this.#watchers.set(key, (set = new Set()));
    if (set.has(watcher)) return this.#tags.get(tag)!.ready;
    set.add(watcher);

    let subscription = this.#tags.get(tag);
    if (!subscription) {
      subscription = { watchers: 0, ready: Promise.resolve(), failed: true };
      this.#tags.set(tag, subscription);
    }
    subscription.watchers++;
    if (subscription.failed) this.#subscribe(tag, subscription);
    return subscription.ready;
  }

  /** Stops routing `tag:id` to `watcher`; the tag is unsubscribed when nothing waits on it any more. */
  unwatch(tag: string, id: string, watcher: Watcher): void {
    const key = `${tag}:${id}`;
    const set = this.#watchers.get(key);
    if (!set?.delete(watcher)) return;
    if (set.size === 0) this.#watchers.delete(key);
    const subscription = this.#tags.get(tag);
    if (subscription && --subscription.watchers === 0) {
      this.#tags.delete(tag);
      // Commands on one connection run in order, so a later PSUBSCRIBE of the same tag cannot be undone by
      // this one.
      this.#subscriber?.punsubscribe(tagPattern(tag)).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    this.#tags.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (!subscriber) return;
    subscriber.removeAllListeners('pmessage');
    await closeClient(subscriber, this.#commandTimeout);
  }

  #subscribe(tag: string, subscription: TagSubscription): void {
    subscription.failed = false;
    subscription.ready = withDeadline(
      this.#connection().psubscribe(tagPattern(tag)),
      this.#commandTimeout,
      'PSUBSCRIBE',
    );
    subscription.ready.catch(() => {
      // The next watcher asks again; ioredis keeps the pattern if the reply only came late.
      subscription.failed = true;
    });
  }

  #connection(): Redis | Cluster {
    if (this.#subscriber) return this.#subscriber;
    const subscriber = this.#createSubscriber();
    // Without a listener ioredis prints every connection error; the callers learn of failures through
    // their own commands and timeouts instead.
    subscriber.on('error', () => undefined);
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) =>
      this.#route(channel, message),
    );
    subscriber.on('ready', () => this.#onReady(subscriber));
    subscriber.on('close', () => {
      if (!this.#connected) return;
      this.#connected = false;
      this.#recheckAll();
    });
    if (subscriber.isCluster) this.#followClusterSubscriber(subscriber as Cluster);
    this.#subscriber = subscriber;
    return subscriber;
  }

  /**
   * A Cluster has one subscriber connection, on one node. When it drops, ioredis opens another (maybe on
   * another node) and re-subscribes there without telling the Cluster's listeners, and what was published
   * in between is lost. Hook that move (a private ioredis method, guarded: without it, waiters still
   * recover at the end of the holder's lease) to re-read, and again once the new subscriptions are active.
   */
  #followClusterSubscriber(cluster: Cluster): void {
    type Inner = { selectSubscriber?: () => void; getInstance?: () => Redis | null };
    const inner = (cluster as unknown as { subscriber?: Inner }).subscriber;
    if (typeof inner?.selectSubscriber !== 'function' || typeof inner.getInstance !== 'function') return;
    const select = inner.selectSubscriber.bind(inner);
    const getInstance = inner.getInstance.bind(inner);
    let selected = false;
    inner.selectSubscriber = () => {
      select();
      if (!selected) {
        selected = true; // the first connection: nothing was missed yet
        return;
      }
      this.#recheckAll();
      const instance = getInstance();
      if (!instance) return;
      withDeadline(instance.ping(), this.#commandTimeout, 'PING')
        .catch(() => undefined)
        .then(() => this.#recheckAll());
    };
  }

  #onReady(subscriber: Redis | Cluster): void {
    this.#connected = true;
    if (!this.#everReady) {
      this.#everReady = true;
      return;
    }
    // ioredis re-subscribes by itself on reconnect; the PING answers after those re-subscriptions are
    // active, so a key read after it cannot miss a value published in between.
    withDeadline(subscriber.ping(), this.#commandTimeout, 'PING')
      .catch(() => undefined)
      .then(() => this.#recheckAll());
  }

  #recheckAll(): void {
    if (this.#closed) return;
    const event: HubEvent = { type: 'recheck' };
    for (const set of [...this.#watchers.values()]) for (const watcher of [...set]) watcher.notify(event);
  }

  #route(channel: string, message: string): void {
    const parsed = parseChannel(channel);
    if (!parsed) return;
    const set = this.#watchers.get(`${parsed.tag}:${parsed.id}`);
    if (!set) return;
    const event: HubEvent =
      parsed.kind === 'value'
        ? { type: 'value', raw: message }
        : { type: 'failure', failure: decodeFailure(message) };
    for (const watcher of [...set]) watcher.notify(event);
  }
}
