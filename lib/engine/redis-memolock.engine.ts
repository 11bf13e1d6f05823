import type { Cluster, Redis } from 'ioredis';
import { MemoLockArgumentError, MemoLockClosedError, MemoLockRedisError } from '../errors';
import { Messages } from '../memolock.messages';
import {
  type MemoLockBehaviourOptions,
  MemoLockEngine,
  type MemoLockHandle,
} from './memolock-engine.interface';
import { type HandleWork, type MemoLockBackend, MemoLockTagHandle, type Obtained } from './memolock-handle';
import { asIoRedis, type IoRedisClient } from './ioredis-client';
import { NotificationHub } from './notification-hub';
import { callRedis } from './redis-call';
import { defineMemoLockCommands, type MemoLockClient } from './redis-commands';
import { RedisFlight } from './redis-flight';
import { Coalescer } from './coalescer';
import { resolveEngineDefaults, type ResolvedTagOptions, resolveTagOptions } from './resource-codec';
import { assertDuration, MAX_TIMER_MS } from './validation';

/** Options of {@link RedisMemoLockEngine}. */
export interface RedisMemoLockEngineOptions extends MemoLockBehaviourOptions {
  /**
   * The connection for GET/SET/PUBLISH. The engine duplicates it once for its subscriber connection, which
   * it owns and closes; the client itself stays yours and is never closed by the engine. ioredis 5 or 6.
   */
  client: IoRedisClient;
  /**
   * The longest the engine waits for one Redis command before it treats Redis as unavailable (ms). Bounds
   * every wait even on a client whose own retries would hold a command for a minute. Default 1000.
   */
  commandTimeout?: number;
}

const DEFAULT_COMMAND_TIMEOUT = 1_000;

/**
 * The engine's own subscriber connection. ioredis's disconnect() arms a timer (`disconnectTimeout`, 2 s by
 * default) that only the socket's close clears; closed while reconnecting, the socket is already gone and
 * the timer would hold the process for 2 s after close(). A subscriber has nothing to flush, so keep it short.
 */
function duplicateForSubscriber(client: Redis | Cluster): Redis | Cluster {
  if (client.isCluster) return (client as Cluster).duplicate();
  return (client as Redis).duplicate({ disconnectTimeout: 50 });
}

/**
 * MemoLock over Redis, wire-compatible with the Go and C# `redis-memolock`: keys `T:I`, locks `T/lock:I`,
 * notifications on `T/notif:I`. Framework-free: usable without Nest.
 *
 * @example
 * const engine = new RedisMemoLockEngine({ client: new Redis(url) });
 * const likes = engine.memoLock('likes', { lockTimeout: 5_000 });
 * const v = await likes.getResource('kristoff', 10_000, async () => ({ value: await load(), ttl: 5_000 }));
 * await engine.close();
 */
export class RedisMemoLockEngine extends MemoLockEngine implements MemoLockBackend {
  readonly #client: MemoLockClient;
  readonly #hub: NotificationHub;
  readonly #commandTimeout: number;
  readonly #defaults: ReturnType<typeof resolveEngineDefaults>;
  readonly #flights = new Coalescer<RedisFlight>();
  #closed = false;

  constructor(options: RedisMemoLockEngineOptions) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new MemoLockArgumentError(
        'options',
        Messages.invalidArgument('options', 'expected { client }', options),
      );
    }
    const client = options.client as Partial<Redis> | undefined;
    if (
      !client ||
      typeof client.get !== 'function' ||
      typeof client.duplicate !== 'function' ||
      typeof client.defineCommand !== 'function'
    ) {
      throw new MemoLockArgumentError(
        'options.client',
        Messages.invalidArgument('options.client', 'expected an ioredis Redis or Cluster instance', client),
      );
    }
    this.#commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT;
    assertDuration('options.commandTimeout', this.#commandTimeout, MAX_TIMER_MS);
    this.#defaults = resolveEngineDefaults(options, 'options');
    const redis = asIoRedis(options.client);
    this.#client = defineMemoLockCommands(redis);
    this.#hub = new NotificationHub(() => duplicateForSubscriber(redis), this.#commandTimeout);
  }

  memoLock<T = unknown>(tag: string, options: Parameters<MemoLockEngine['memoLock']>[1]): MemoLockHandle<T> {
    return new MemoLockTagHandle<T>(this, resolveTagOptions(tag, options, this.#defaults));
  }

  /** Tags this engine holds a pattern subscription for right now (for diagnostics and tests). */
  get subscribedTags(): string[] {
    return this.#hub.subscribedTags;
  }

  /** Resources this process is waiting for or computing right now. */
  get pendingResources(): number {
    return this.#flights.size;
  }

  /** @internal */
  obtain(tag: ResolvedTagOptions, id: string, timeout: number, work: HandleWork): Promise<Obtained> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const context = { client: this.#client, hub: this.#hub, commandTimeout: this.#commandTimeout };
    return this.#flights.join(
      tag.tag,
      id,
      timeout,
      (forget) => new RedisFlight(context, tag, id, work, forget),
    );
  }

  /** @internal */
  async invalidate(tag: ResolvedTagOptions, id: string): Promise<void> {
    if (this.#closed) throw new MemoLockClosedError(Messages.closed());
    const key = tag.names(id).valueKey;
    try {
      await callRedis(this.#client, this.#commandTimeout, 'DEL', () => this.#client.del(key));
    } catch (error) {
      // Always an error: a silently failed invalidation would serve a stale value once Redis is back.
      throw new MemoLockRedisError(Messages.redisFailed(tag.tag, id, (error as Error).message), {
        tag: tag.tag,
        id,
        cause: error,
      });
    }
  }

  /**
   * Rejects every pending call with `MemoLockClosedError` and closes the subscriber connection the engine
   * opened. The client passed in is left open. A computation already running finishes and stores its value.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flights.closeAll();
    await this.#hub.close();
  }
}
