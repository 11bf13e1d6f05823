/**
 * The engine's one subscriber connection, multiplexed over every tag and id this process waits for.
 *
 * A tag is subscribed with one `PSUBSCRIBE T/*` while anything waits on it, and unsubscribed when nothing
 * does (see the README for why a pattern per tag beats a channel per key). Messages are routed to the
 * watchers of their resource. Pub/Sub loses what is published while the connection is down, so watchers
 * are told to read their key again whenever it drops and once it is back. A connection that ends for good
 * (its retryStrategy gave up) is replaced by a new one once the owner's client is up again.
 */
import type { Cluster, Redis } from 'ioredis';
import { MemoLockClosedError, type RemoteFailure } from '../errors';
import { Messages } from '../memolock.messages';
import type { ConnectionState } from './connection-state';
import { decodeNotice, keyPrefixOf, parseChannel, tagPattern } from './protocol';
import { closeClient, RedisUnavailableError, withDeadline } from './redis-call';

export type HubEvent =
  | { type: 'value'; raw: string }
  | { type: 'failure'; failure: RemoteFailure }
  /** The subscription may have missed messages, or the holder gave up without a value: read the key again. */
  | { type: 'recheck' };

export interface Watcher {
  notify(event: HubEvent): void;
}

interface TagSubscription {
  watchers: number;
  ready: Promise<unknown>;
  failed: boolean;
  /** Redis confirmed the pattern (and it has not failed since): a PUBLISH from now on reaches this process. */
  active: boolean;
}

const RECHECK: HubEvent = { type: 'recheck' };

/**
 * The engine's own subscriber connection. ioredis's disconnect() arms a timer (`disconnectTimeout`, 2 s by
 * default) that only the socket's close clears; closed while reconnecting, the socket is already gone and
 * the timer would hold the process for 2 s after close(). A subscriber has nothing to flush, so keep it short.
 */
function duplicateForSubscriber(client: Redis | Cluster): Redis | Cluster {
  if (client.isCluster) return (client as Cluster).duplicate();
  return (client as Redis).duplicate({ disconnectTimeout: 50 });
}

export class NotificationHub {
  readonly #owner: Redis | Cluster;
  readonly #commandTimeout: number;
  readonly #state: ConnectionState;
  /** The owner's `keyPrefix`, which ioredis leaves off channels: patterns and channels carry it here. */
  readonly #prefix: string;
  #subscriber: Redis | Cluster | undefined;
  /** Whether a subscriber connection ended before (its replacement then waits for the owner to be ready). */
  #replacing = false;
  /** Watchers by resource key `T:I`. */
  readonly #watchers = new Map<string, Set<Watcher>>();
  readonly #tags = new Map<string, TagSubscription>();
  #closed = false;

  /**
   * @param owner the engine's client: the subscriber connection is its duplicate, opened on the first
   * {@link watch}, and opened again if it ever ends.
   */
  constructor(owner: Redis | Cluster, commandTimeout: number, state: ConnectionState) {
    this.#owner = owner;
    this.#commandTimeout = commandTimeout;
    this.#state = state;
    this.#prefix = keyPrefixOf(owner);
  }

  /** Tags with an active pattern subscription (for diagnostics and tests). */
  get subscribedTags(): string[] {
    return [...this.#tags.keys()];
  }

  /** Number of resources somebody in this process waits for. */
  /**
   * The subscriber connection's state: `'idle'` before the first waiter opened it (or after it ended and
   * none needed it since), else the client's status (`'ready'` when it is up).
   */
  get subscriberStatus(): string {
    return this.#subscriber?.status ?? 'idle';
  }

  get watchedResources(): number {
    return this.#watchers.size;
  }

  /**
   * Routes messages of `tag:id` to `watcher` from now on, and resolves once the tag's subscription is active
   * (rejects if Redis does not confirm it within the command timeout; the watcher stays registered, and the
   * next call subscribes again).
   */
  watch(tag: string, id: string, watcher: Watcher): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const key = `${tag}:${id}`;
    let set = this.#watchers.get(key);
    if (!set) this.#watchers.set(key, (set = new Set()));
    let subscription = this.#tags.get(tag);
    if (!subscription) {
      subscription = { watchers: 0, ready: Promise.resolve(), failed: true, active: false };
      this.#tags.set(tag, subscription);
    }
    if (!set.has(watcher)) {
      set.add(watcher);
      subscription.watchers++;
    }
    if (subscription.failed) this.#subscribe(tag, subscription);
    return subscription.ready;
  }

  /**
   * {@link watch}, only when the tag's subscription is already active (then nothing is sent, and a key read
   * from now on cannot miss a value published after it): true if `watcher` now gets `tag:id`'s messages.
   * Otherwise nothing changes, and the caller subscribes with {@link watch} when it finds it must wait.
   */
  watchIfSubscribed(tag: string, id: string, watcher: Watcher): boolean {
    if (this.#closed || !this.#tags.get(tag)?.active) return false;
    void this.watch(tag, id, watcher);
    return true;
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
      this.#subscriber?.punsubscribe(tagPattern(tag, this.#prefix)).catch(() => undefined);
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
    subscription.active = false;
    let connection: Redis | Cluster;
    try {
      connection = this.#connection();
    } catch (error) {
      subscription.failed = true;
      subscription.ready = Promise.reject(error);
      subscription.ready.catch(() => undefined);
      return;
    }
    subscription.ready = withDeadline(
      connection.psubscribe(tagPattern(tag, this.#prefix)),
      this.#commandTimeout,
      'PSUBSCRIBE',
    );
    subscription.ready.then(
      () => {
        subscription.active = !subscription.failed;
      },
      () => {
        // The next watcher asks again; ioredis keeps the pattern if the reply only came late.
        if (this.#tags.get(tag) === subscription) subscription.failed = true;
      },
    );
  }

  #connection(): Redis | Cluster {
    if (this.#subscriber) return this.#subscriber;
    // A subscriber that ended is replaced only once the owner's client is up again: until then, waiters
    // learn of the failure through their own commands.
    if (this.#replacing && this.#owner.status !== 'ready') {
      throw new RedisUnavailableError(Messages.redisNotConnected(this.#owner.status));
    }
    const subscriber = duplicateForSubscriber(this.#owner);
    let everReady = false;
    let connected = false;
    let lastError = 'connection closed';
    subscriber.on('error', (error: Error) => (lastError = error.message));
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) =>
      this.#route(channel, message),
    );
    subscriber.on('ready', () => {
      connected = true;
      this.#state.subscriberBack();
      if (!everReady) {
        everReady = true; // a new connection: nothing was missed on it yet
        return;
      }
      // ioredis re-subscribes by itself on reconnect; the PING answers after those re-subscriptions are
      // active, so a key read after it cannot miss a value published in between.
      withDeadline(subscriber.ping(), this.#commandTimeout, 'PING')
        .catch(() => undefined)
        .then(() => this.#recheckAll());
    });
    subscriber.on('close', () => {
      if (!connected) return;
      connected = false;
      if (!this.#closed) this.#state.subscriberLost(lastError);
      this.#recheckAll();
    });
    subscriber.on('end', () => this.#ended(subscriber));
    if (subscriber.isCluster) this.#followClusterSubscriber(subscriber as Cluster);
    this.#subscriber = subscriber;
    return subscriber;
  }

  /**
   * The subscriber connection gave up reconnecting (its retryStrategy said so): forget it, and every
   * subscription made on it. Waiters read their keys again and subscribe anew, on a new connection.
   */
  #ended(subscriber: Redis | Cluster): void {
    if (this.#closed || this.#subscriber !== subscriber) return;
    this.#subscriber = undefined;
    this.#replacing = true;
    subscriber.removeAllListeners('pmessage');
    for (const subscription of this.#tags.values()) {
      subscription.failed = true;
      subscription.active = false;
    }
    this.#state.subscriberEnded();
    this.#recheckAll();
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

  #recheckAll(): void {
    if (this.#closed) return;
    for (const set of [...this.#watchers.values()]) for (const watcher of [...set]) watcher.notify(RECHECK);
  }

  #route(channel: string, message: string): void {
    const parsed = parseChannel(channel, this.#prefix);
    if (!parsed) return;
    const set = this.#watchers.get(`${parsed.tag}:${parsed.id}`);
    if (!set) return;
    let event: HubEvent;
    if (parsed.kind === 'value') event = { type: 'value', raw: message };
    else {
      const notice = decodeNotice(message);
      event = notice === 'gave-up' ? RECHECK : { type: 'failure', failure: notice };
    }
    for (const watcher of [...set]) watcher.notify(event);
  }
}
