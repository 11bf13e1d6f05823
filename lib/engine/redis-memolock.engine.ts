import type { Redis } from 'ioredis';
import { MemoLockArgumentError, MemoLockClosedError, MemoLockRedisError } from '../errors';
import { Messages } from '../memolock.messages';
import { CallObserver } from './call-observer';
import { Coalescer } from './coalescer';
import { ConnectionState } from './connection-state';
import {
  type MemoLockBehaviourOptions,
  MemoLockEngine,
  type MemoLockHandle,
  type MemoLockHealth,
  type MemoLockLogger,
} from './memolock-engine.interface';
import { type HandleWork, type MemoLockBackend, MemoLockTagHandle, type Obtained } from './memolock-handle';
import { deleteTagValues } from './invalidate-all';
import { asIoRedis, type IoRedisClient } from './ioredis-client';
import type { L1Options } from './l1-cache';
import { L1Reads } from './l1-reads';
import { noRenew } from './lock-holder';
import { deleteResource } from './redis-extras';
import { NotificationHub } from './notification-hub';
import { keyPrefixOf } from './protocol';
import { RedisLink } from './redis-call';
import { defineMemoLockCommands } from './redis-commands';
import { MissForecast } from './miss-forecast';
import { type FlightContext, RedisFlight } from './redis-flight';
import { resolveEngineDefaults, type ResolvedTagOptions, resolveTagOptions } from './resource-codec';
import { assertDuration, assertL1Options, assertLogger, MAX_TIMER_MS } from './validation';
import { ValueReader } from './value-reader';

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
  /**
   * Where changes of state are reported, once each: Redis unavailable (error) and back (log), the subscriber
   * connection lost (warn) and back (log). Default `console`; the Nest module passes a Nest `Logger`.
   */
  logger?: MemoLockLogger;
  /**
   * An in-process tier in front of Redis, kept coherent by Redis itself (client tracking in broadcast mode,
   * on every master): a call whose value it holds answers without any Redis command. Any change of a
   * tag's key, whoever makes it (this engine, a Go/C# peer, `redis-cli`, an expiry), removes it from every
   * process's L1 within milliseconds; an entry never outlives its key's TTL, and a lost tracking connection
   * empties the L1 until tracking is back. Off when absent.
   *
   * At most `maxEntries` values (and `maxBytes` of their encoded sizes), least recently used out first. A
   * key is kept from its second read in Redis on (among the last `maxEntries` read), and at once after
   * this process stored it or was woken with it. Tags with `earlyRefresh` are not served from it.
   *
   * **Values of an engine with `l1` are read-only**: deep-frozen and shared by every caller of the
   * process (a value that cannot be frozen, such as a class instance from a custom serializer, is returned
   * as decoded and not kept). It costs two more connections per master (opened with the first tag), and
   * needs Redis 6+ and, with ACLs, the `CLIENT` command. See the README's "L1" section.
   *
   * @example
   * const engine = new RedisMemoLockEngine({ client, l1: { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 } });
   */
  l1?: L1Options;
}

const DEFAULT_COMMAND_TIMEOUT = 1_000;

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
  readonly #link: RedisLink;
  readonly #hub: NotificationHub;
  readonly #defaults: ReturnType<typeof resolveEngineDefaults> & { channelPrefix: string };
  readonly #flights = new Coalescer<RedisFlight>();
  readonly #ctx: FlightContext;
  readonly #l1: L1Reads | undefined;
  readonly #observer: CallObserver;
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
    const commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT;
    assertDuration('options.commandTimeout', commandTimeout, MAX_TIMER_MS);
    const logger = options.logger ?? console;
    assertLogger('options.logger', logger);
    if (options.l1 !== undefined) assertL1Options('options.l1', options.l1);
    // Channels carry the client's keyPrefix as its keys do (ioredis prefixes keys only).
    this.#defaults = {
      ...resolveEngineDefaults(options, 'options'),
      channelPrefix: keyPrefixOf(asIoRedis(options.client)),
    };
    this.#observer = new CallObserver(this.events, { collapsedIsRemote: true, lockless: noRenew });
    const state = new ConnectionState(logger, this.events);
    const redis = asIoRedis(options.client);
    this.#link = new RedisLink(defineMemoLockCommands(redis), commandTimeout, state);
    this.#hub = new NotificationHub(redis, commandTimeout, state);
    this.#ctx = {
      flights: this.#flights,
      link: this.#link,
      reader: new ValueReader(this.#link),
      hub: this.#hub,
      live: new Set(),
      refreshes: new Set(),
      earlyTried: new Map(),
      chores: new Set(),
      misses: new MissForecast(),
      logger,
      observer: this.#observer,
    };
    if (options.l1) this.#l1 = new L1Reads(redis, this.#link, options.l1, { commandTimeout, logger });
  }

  memoLock<T = unknown>(tag: string, options: Parameters<MemoLockEngine['memoLock']>[1]): MemoLockHandle<T> {
    const resolved = resolveTagOptions(tag, options, this.#defaults);
    this.#l1?.track(resolved.tag);
    this.#observer.refresh();
    return new MemoLockTagHandle<T>(this, resolved, this.#observer);
  }

  /**
   * The L1 (its cache, tracker and background reads), with the `l1` option (every tag of a handle is
   * tracked from its creation). For diagnostics and tests.
   * @internal
   */
  get l1(): L1Reads | undefined {
    return this.#l1;
  }

  async checkHealth(): Promise<MemoLockHealth> {
    const subscriber = this.#hub.subscriberStatus;
    const subscriberUp = subscriber === 'ready' || subscriber === 'idle';
    if (this.#closed) return { engine: 'redis', healthy: false, subscriber, error: Messages.closed() };
    const started = performance.now();
    try {
      await this.#link.call('PING', () => this.#link.client.ping(), true);
    } catch (error) {
      return { engine: 'redis', healthy: false, subscriber, error: (error as Error).message };
    }
    const roundTripMs = Math.round((performance.now() - started) * 1000) / 1000;
    if (!subscriberUp) {
      const error = Messages.subscriberDown(subscriber);
      return { engine: 'redis', healthy: false, roundTripMs, subscriber, error };
    }
    return { engine: 'redis', healthy: true, roundTripMs, subscriber };
  }

  /** Tags this engine holds a pattern subscription for right now (for diagnostics and tests). */
  get subscribedTags(): string[] {
    return this.#hub.subscribedTags;
  }

  /**
   * Resources this process is waiting for or computing right now: those with callers, and those whose flight
   * still finishes its work after its callers left (a computation, a refresh, or a command under way).
   */
  get pendingResources(): number {
    let finishing = 0;
    for (const flight of this.#ctx.live) if (!flight.takesCallers) finishing++;
    return this.#flights.size + finishing;
  }

  /** @internal */
  obtain(
    tag: ResolvedTagOptions,
    id: string,
    timeout: number,
    work: HandleWork,
    withStatus: boolean,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MemoLockClosedError(Messages.closed()));
    const l1 = this.#l1;
    if (l1 === undefined) {
      // (An inline arrow: one assigned to a name gets a name set on it per call by some transpilers.)
      return this.#flights.join(
        tag,
        id,
        timeout,
        withStatus,
        () => new RedisFlight(this.#ctx, tag, id, work),
        signal,
      );
    }
    const key = `${tag.tag}:${id}`;
    const entry = l1.serves(tag) ? l1.lookup(tag, key) : undefined;
    if (entry !== undefined) {
      return Promise.resolve(withStatus ? { value: entry.value, status: 'hit' } : entry.value);
    }
    const ticket = l1.begin();
    return this.#flights
      .join(tag, id, timeout, true, () => new RedisFlight(this.#ctx, tag, id, work), signal)
      .then((result) => {
        const outcome = result as Obtained;
        l1.settled(tag, id, key, ticket, outcome);
        return withStatus ? outcome : outcome.value;
      });
  }

  /** @internal */
  async invalidate(tag: ResolvedTagOptions, id: string): Promise<void> {
    if (this.#closed) throw new MemoLockClosedError(Messages.closed());
    const key = `${tag.tag}:${id}`;
    this.#l1?.invalidate(key);
    try {
      // The stale copy and record too, whatever options stored them: nothing stale is served after this.
      await deleteResource(this.#link, tag.names(id));
      // Again once deleted: a read begun meanwhile must not fill what Redis reports a moment later.
      this.#l1?.invalidate(key);
    } catch (error) {
      // Always an error: a silently failed invalidation would serve a stale value once Redis is back.
      throw new MemoLockRedisError(Messages.redisFailed(tag.tag, id, (error as Error).message), {
        tag: tag.tag,
        id,
        cause: error,
      });
    }
  }

  /** @internal */
  async invalidateAll(tag: ResolvedTagOptions): Promise<number> {
    if (this.#closed) throw new MemoLockClosedError(Messages.closed());
    this.#l1?.flush();
    try {
      const deleted = await deleteTagValues(this.#link, tag.tag);
      this.#l1?.flush();
      return deleted;
    } catch (error) {
      // Always an error, as for invalidate(): a partly done invalidation must not pass for a done one.
      throw new MemoLockRedisError(Messages.redisFailedForTag(tag.tag, (error as Error).message), {
        tag: tag.tag,
        cause: error,
      });
    }
  }

  /**
   * Rejects every pending call with `MemoLockClosedError`, stops every flight (background refreshes
   * included), and closes the subscriber connection the engine opened; resolves once none of its timers,
   * subscriptions or commands is left. The client passed in is left open. A computation already running
   * finishes and stores its value.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#observer.close();
    this.#flights.closeAll();
    const stopping: Promise<void>[] = [...this.#ctx.chores];
    for (const flight of this.#ctx.live) {
      const { tag, id } = flight.flight;
      flight.close(new MemoLockClosedError(Messages.closedWhileWaiting(tag, id), { tag, id }));
      if (!flight.computing) stopping.push(flight.stopped);
    }
    await Promise.all([this.#hub.close(), this.#ctx.reader.close(), this.#l1?.close()]);
    await Promise.all(stopping);
  }
}
