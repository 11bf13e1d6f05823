/**
 * The protocol of SPEC §2 for one resource in one process: read, take the lock or wait for the holder's
 * notification, take over when the holder's lease runs out. One instance serves every caller of this
 * process that asks for the resource meanwhile (through its {@link Flight}).
 */
import { randomUUID } from 'node:crypto';
import { MemoLockRedisError, MemoLockRemoteComputationError, MemoLockRenewError } from '../errors';
import { Messages } from '../memolock.messages';
import type { ExternalComputation, RenewableComputation, RenewLock } from './memolock-engine.interface';
import { Flight } from './flight';
import type { HandleWork, Obtained } from './memolock-handle';
import type { MemoLockStatus } from './memolock-engine.interface';
import type { HubEvent, NotificationHub, Watcher } from './notification-hub';
import { encodeFailure, type ResourceNames } from './protocol';
import { callRedis, RedisUnavailableError } from './redis-call';
import type { MemoLockClient } from './redis-commands';
import { type ResolvedTagOptions, computeValue, decodeValue } from './resource-codec';
import { assertDuration, MAX_TIMER_MS, toRedisMs } from './validation';

/** What a flight needs from its engine. */
export interface FlightContext {
  client: MemoLockClient;
  hub: NotificationHub;
  commandTimeout: number;
}

/** Wakes a waiting flight when its holder's lease should have run out, a little after, to let Redis expire it. */
const TAKEOVER_MARGIN_MS = 5;

const ABANDONED = Symbol('abandoned');

export class RedisFlight implements Watcher {
  readonly flight: Flight<Obtained>;
  readonly #ctx: FlightContext;
  readonly #tag: ResolvedTagOptions;
  readonly #id: string;
  readonly #names: ResourceNames;
  readonly #work: HandleWork;
  readonly #onDone: () => unknown;
  /** The most important event since the flight last looked: a value beats a failure beats a recheck. */
  #mailbox: HubEvent | undefined;
  #wake: (() => void) | undefined;
  #watching = false;
  #abandoned = false;
  #computing = false;
  #done = false;
  /** External work: the token of the lock this flight took before starting the other program. */
  #heldToken: string | undefined;

  constructor(
    ctx: FlightContext,
    tag: ResolvedTagOptions,
    id: string,
    work: HandleWork,
    onDone: () => unknown,
  ) {
    this.#ctx = ctx;
    this.#tag = tag;
    this.#id = id;
    this.#names = tag.names(id);
    this.#work = work;
    this.#onDone = onDone;
    this.flight = new Flight(() => this.abandon());
  }

  start(): void {
    void this.#run();
  }

  /** Nobody in this process waits any more: stop, unless this flight holds the lock and computes. */
  abandon(): void {
    this.#abandoned = true;
    if (!this.#computing) this.#finish();
    this.#wake?.();
  }

  notify(event: HubEvent): void {
    const current = this.#mailbox?.type;
    if (current === 'value' || (current === 'failure' && event.type === 'recheck')) return;
    this.#mailbox = event;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    try {
      this.flight.resolve(await this.#obtain());
    } catch (error) {
      if (error !== ABANDONED) this.flight.reject(error);
    } finally {
      this.#stopWatching();
      this.#finish();
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#onDone();
  }

  async #obtain(): Promise<Obtained> {
    for (let round = 0; ; round++) {
      if (this.#abandoned) throw ABANDONED;
      let token: string | undefined;
      try {
        const raw = await this.#redis('GET', () => this.#ctx.client.get(this.#names.valueKey));
        if (raw !== null) return this.#value(raw, round === 0 ? 'hit' : 'collapsed');
        if (this.#heldToken === undefined) token = await this.#tryLock();
      } catch (error) {
        return this.#redisFailed(error);
      }
      if (token !== undefined && this.#work.kind === 'compute')
        return this.#computeAsHolder(token, this.#work.compute);
      if (token !== undefined && this.#work.kind === 'external') {
        await this.#startExternal(token, this.#work.start);
      }
      if (this.#abandoned) throw ABANDONED;

      let event: HubEvent | 'takeover';
      try {
        event = await this.#waitForHolder();
      } catch (error) {
        if (error === ABANDONED) throw error;
        return this.#redisFailed(error);
      }
      if (event === 'takeover') {
        // The lease ran out (ours too, for external work): take the lock again, start the work again.
        this.#heldToken = undefined;
        continue;
      }
      if (event.type === 'recheck') continue;
      if (event.type === 'value') return this.#value(event.raw, 'collapsed');
      if (this.#tag.onComputeError === 'retry') continue;
      throw new MemoLockRemoteComputationError(
        Messages.remoteFailure(this.#tag.tag, this.#id, event.failure.message),
        { tag: this.#tag.tag, id: this.#id },
        event.failure,
      );
    }
  }

  async #tryLock(): Promise<string | undefined> {
    const token = randomUUID();
    const { client } = this.#ctx;
    const reply = await this.#redis('SET', () =>
      client.set(this.#names.lockKey, token, 'PX', toRedisMs(this.#tag.lockTimeout), 'NX'),
    );
    if (reply !== 'OK') return undefined;
    // From here this flight owes the other processes a value or a failure notice, whoever still waits here.
    if (this.#work.kind === 'compute') this.#computing = true;
    return token;
  }

  /** Subscribes, reads the key once more, and waits for the holder's message, its lease's end, or a recheck. */
  async #waitForHolder(): Promise<HubEvent | 'takeover'> {
    await this.#watch();
    const { client } = this.#ctx;
    const [raw, pttl] = await Promise.all([
      this.#redis('GET', () => client.get(this.#names.valueKey)),
      this.#redis('PTTL', () => client.pttl(this.#names.lockKey)),
    ]);
    if (raw !== null) return { type: 'value', raw };
    const pending = this.#takeMail();
    if (pending) return pending;
    if (pttl === -2) return 'takeover'; // no lock: nobody computes, try to take it
    // pttl -1 is a lock without expiry (a peer's bug): only a message or the callers' timeouts end the wait.
    return this.#sleep(pttl > 0 ? Math.min(pttl + TAKEOVER_MARGIN_MS, MAX_TIMER_MS) : undefined);
  }

  #sleep(ms: number | undefined): Promise<HubEvent | 'takeover'> {
    return new Promise((resolve, reject) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        this.#wake = undefined;
        clearTimeout(timer);
        if (this.#abandoned) return reject(ABANDONED);
        resolve(this.#takeMail() ?? 'takeover');
      };
    });
  }

  #takeMail(): HubEvent | undefined {
    const mail = this.#mailbox;
    this.#mailbox = undefined;
    return mail;
  }

  async #watch(): Promise<void> {
    this.#watching = true;
    await this.#ctx.hub.watch(this.#tag.tag, this.#id, this);
  }

  #stopWatching(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#ctx.hub.unwatch(this.#tag.tag, this.#id, this);
  }

  async #computeAsHolder(token: string, compute: RenewableComputation<unknown>): Promise<Obtained> {
    let encoded: string;
    let ttl: number;
    try {
      ({ encoded, ttl } = await computeValue(this.#tag, this.#id, () => compute(this.#renewer(token))));
    } catch (error) {
      await this.#announceFailure(token, error);
      throw error;
    }
    try {
      await this.#store(token, encoded, ttl);
    } catch (error) {
      // With 'compute' the value stands and only its caching is lost.
      if (this.#tag.onRedisError === 'throw') throw this.#redisError(error);
    }
    return this.#value(encoded, 'stored');
  }

  /**
   * Stores the value with its TTL and publishes it atomically, then releases the lock if this flight still
   * holds it. On standalone Redis that is one script, one round trip. On a cluster the value and the lock
   * live in different slots: MULTI stores and publishes on the value's slot, and the release follows.
   */
  async #store(token: string, encoded: string, ttl: number): Promise<void> {
    const { client } = this.#ctx;
    const { valueKey, lockKey, notifChannel } = this.#names;
    if (!client.isCluster) {
      await this.#redis('EVALSHA', () =>
        client.memolockStoreAndRelease(valueKey, lockKey, encoded, ttl, notifChannel, token),
      );
      return;
    }
    const replies = await this.#redis('MULTI', () =>
      client.multi().set(valueKey, encoded, 'PX', ttl).publish(notifChannel, encoded).exec(),
    );
    const failed = replies?.find(([error]) => error);
    if (!replies || failed)
      throw new RedisUnavailableError(String(failed?.[0]?.message ?? 'MULTI was aborted'));
    this.#release(token);
  }

  /** Tells the waiters of every process that the computation failed, if this flight still holds the lock. */
  async #announceFailure(token: string, error: unknown): Promise<void> {
    const { client } = this.#ctx;
    await this.#redis('EVALSHA', () =>
      client.memolockFail(this.#names.lockKey, token, this.#names.failChannel, encodeFailure(error)),
    ).catch(() => undefined); // the lock expires by itself; the original error is what the callers need
  }

  #renewer(token: string): RenewLock {
    return async (lockTimeout: number) => {
      assertDuration('lockTimeout', lockTimeout);
      let renewed: number;
      try {
        renewed = await this.#redis('EVALSHA', () =>
          this.#ctx.client.memolockRenew(this.#names.lockKey, token, toRedisMs(lockTimeout)),
        );
      } catch (error) {
        if (this.#tag.onRedisError === 'throw') throw this.#redisError(error);
        return; // Redis is down: nobody can take over through it, so carry on
      }
      if (renewed !== 1) {
        throw new MemoLockRenewError(Messages.renewLost(this.#tag.tag, this.#id), {
          tag: this.#tag.tag,
          id: this.#id,
        });
      }
    };
  }

  async #startExternal(token: string, start: ExternalComputation): Promise<void> {
    this.#heldToken = token;
    try {
      // Subscribed before the other program starts, so that nothing it publishes can be missed.
      await this.#watch();
      await start();
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw this.#redisError(error);
      await this.#announceFailure(token, error);
      throw error;
    }
  }

  /**
   * Releases the lock once the value is out, without making the callers wait for it: the value is stored
   * and published already, and any later command of this process on the lock goes down the same connection
   * after this one. Should it fail, the lock simply expires.
   */
  #release(token: string): void {
    this.#ctx.client.memolockRelease(this.#names.lockKey, token).catch(() => undefined);
  }

  /** The value for the callers, and how it was had; external work counts as stored for its starter. */
  #value(raw: string, status: MemoLockStatus): Obtained {
    const value = decodeValue(this.#tag, this.#id, raw);
    if (this.#heldToken !== undefined) status = 'stored';
    const token = this.#heldToken;
    if (token !== undefined) {
      // The other program delivered: let the next computation start without waiting for our lease to end.
      this.#heldToken = undefined;
      this.#release(token);
    }
    return { value, status };
  }

  /** Redis failed before a value was had: compute without the cache, or reject, as the tag says. */
  async #redisFailed(error: unknown): Promise<Obtained> {
    if (!(error instanceof RedisUnavailableError)) throw error;
    if (this.#tag.onRedisError === 'throw' || this.#work.kind === 'external') throw this.#redisError(error);
    const compute = this.#work.compute;
    this.#computing = true;
    const noRenew: RenewLock = async (lockTimeout) => assertDuration('lockTimeout', lockTimeout);
    const { encoded } = await computeValue(this.#tag, this.#id, () => compute(noRenew));
    return { value: decodeValue(this.#tag, this.#id, encoded), status: 'uncached' };
  }

  #redisError(error: unknown): MemoLockRedisError {
    if (error instanceof MemoLockRedisError) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new MemoLockRedisError(Messages.redisFailed(this.#tag.tag, this.#id, reason), {
      tag: this.#tag.tag,
      id: this.#id,
      cause: error,
    });
  }

  #redis<T>(command: string, send: () => Promise<T>): Promise<T> {
    return callRedis(this.#ctx.client, this.#ctx.commandTimeout, command, send);
  }
}
