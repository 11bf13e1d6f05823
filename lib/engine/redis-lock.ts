/**
 * The lock of one resource as its holder sees it (SPEC §2): taken with a random token, renewed, and released
 * with the value stored and published, with a failure notice, or with a notice that no value is coming. Every
 * renewal and release compares the token, so that a holder whose lease ran out never touches the lock of
 * whoever took over. The flight decides what to do when Redis fails; this only talks to Redis.
 */
import { randomUUID } from 'node:crypto';
import { Messages } from '../memolock.messages';
import { staleCopy } from './freshness-record';
import { encodeFailure, GIVE_UP_NOTICE, type ResourceNames } from './protocol';
import { type RedisLink, RedisUnavailableError } from './redis-call';
import type { ReadOrLockReply } from './redis-commands';
import { toRedisMs } from './validation';

const ignore = () => undefined;

/** What {@link RedisLock.readOrAcquire} found: the value, the lock (now this holder's), or the holder's lease. */
export type LockProbe =
  | { kind: 'value'; raw: string }
  | { kind: 'locked' }
  /** `pttl`: what is left of the holder's lease (ms), -1 for a lock without expiry (a peer's bug). */
  | { kind: 'held'; pttl: number };

const LOCKED: LockProbe = Object.freeze({ kind: 'locked' });

/** What a tag with freshness options stores beside the value (see freshness-record.ts). */
export interface StoredExtras {
  /** The value's record, for `T/meta:I` (and at the head of its stale copy). */
  record: string;
  /** How long both live: the value's ttl + the grace (ms). */
  ttl: number;
  /** Whether a stale copy is kept (a grace); without one, an older copy is dropped. */
  stale: boolean;
  /** The grace (ms), written into the stale copy: readers judge it by Redis's clock (see readStale). */
  grace: number;
}

export class RedisLock {
  readonly #link: RedisLink;
  readonly #names: ResourceNames;
  readonly #lockTimeout: number;
  #token: string | undefined;

  constructor(link: RedisLink, names: ResourceNames, lockTimeout: number) {
    this.#link = link;
    this.#names = names;
    this.#lockTimeout = toRedisMs(lockTimeout);
  }

  /** Whether this holder took the lock (and has not released or forgotten it since). */
  get held(): boolean {
    return this.#token !== undefined;
  }

  /**
   * `SET T/lock:I <token> NX PX <lockTimeout>`: true when taken, false when someone else holds it. When Redis
   * does not answer in time the call fails, yet the command may still reach Redis later and take the lock for
   * nobody: such a late grant is given back as soon as it answers.
   */
  async acquire(): Promise<boolean> {
    const token = randomUUID();
    const { client } = this.#link;
    let sent: Promise<unknown> | undefined;
    try {
      const reply = await this.#link.call(
        'SET',
        () => (sent = client.set(this.#names.lockKey, token, 'PX', this.#lockTimeout, 'NX')),
      );
      if (reply !== 'OK') return false;
      this.#token = token;
      return true;
    } catch (error) {
      sent?.then((reply) => reply === 'OK' && this.#release(token), ignore);
      throw error;
    }
  }

  /**
   * The miss path in one round trip, on standalone Redis only (READ_OR_LOCK touches the value and the lock,
   * which a cluster keeps in different slots): the value if there is one, else the lock if it is free, else
   * the holder's lease. A reply that comes after the command timeout may still have taken the lock, for
   * nobody: such a late grant is given back as soon as it answers, as with {@link acquire}.
   */
  async readOrAcquire(): Promise<LockProbe> {
    const token = randomUUID();
    const { client } = this.#link;
    const { valueKey, lockKey } = this.#names;
    let sent: Promise<ReadOrLockReply> | undefined;
    try {
      const reply = await this.#link.call(
        'EVALSHA',
        () => (sent = client.memolockReadOrLock(valueKey, lockKey, token, this.#lockTimeout)),
      );
      if (reply[0] === 'value') return { kind: 'value', raw: reply[1] };
      if (reply[0] === 'held') return { kind: 'held', pttl: reply[1] };
      this.#token = token;
      return LOCKED;
    } catch (error) {
      sent?.then((reply) => reply[0] === 'locked' && this.#release(token), ignore);
      throw error;
    }
  }

  /** Extends the lease to `lockTimeout` ms if the lock is still this holder's: false when it is not. */
  async renew(lockTimeout: number): Promise<boolean> {
    const token = this.#token;
    if (token === undefined) return false;
    const ms = toRedisMs(lockTimeout);
    const renewed = await this.#link.call('EVALSHA', () =>
      this.#link.client.memolockRenew(this.#names.lockKey, token, ms),
    );
    return renewed === 1;
  }

  /**
   * Stores the value with its TTL and publishes it atomically, then releases the lock if still held. On
   * standalone Redis that is one script, one round trip. On a cluster the value and the lock live in
   * different slots: MULTI stores and publishes on the value's slot, and the release follows. When this
   * fails (or the value key holds something other than a string, which is not overwritten) the lock stays
   * held, for {@link giveUp}. With `extras`, the value's record and stale copy are written too: in the same
   * script on standalone Redis; on a cluster after the value, before the lock is released.
   */
  async storeAndRelease(encoded: string, ttl: number, extras?: StoredExtras): Promise<void> {
    const token = this.#token;
    if (token === undefined) throw new Error('the lock is not held');
    const { client } = this.#link;
    const { valueKey, lockKey, notifChannel, metaKey, staleKey } = this.#names;
    if (!client.isCluster) {
      const stored = await this.#link.call('EVALSHA', () =>
        extras
          ? client.memolockStoreFreshAndRelease(
              valueKey,
              lockKey,
              metaKey,
              staleKey,
              encoded,
              ttl,
              notifChannel,
              token,
              extras.record,
              extras.ttl,
              extras.stale ? '1' : '0',
            )
          : client.memolockStoreAndRelease(valueKey, lockKey, encoded, ttl, notifChannel, token),
      );
      if (stored !== 1) throw new RedisUnavailableError(Messages.notAString(valueKey), undefined, true);
      this.#token = undefined;
      return;
    }
    const replies = await this.#link.call('MULTI', () =>
      client.multi().set(valueKey, encoded, 'PX', ttl).publish(notifChannel, encoded).exec(),
    );
    const failed = replies?.find(([error]) => error)?.[0];
    if (!replies || failed) {
      throw new RedisUnavailableError(String(failed?.message ?? 'MULTI was aborted'), failed, true);
    }
    // After the value: a reader that finds the record first and the value after never sees a record newer
    // than the value (see RedisExtras.dropIfForeign). Should this fail, the value is out all the same.
    if (extras) await writeExtras(this.#link, this.#names, encoded, extras).catch(ignore);
    this.release();
  }

  /**
   * Releases the lock and tells the waiters of every process that the computation failed, if the lock is
   * still this holder's. Never rejects: the lock expires by itself, and the computation's error is what the
   * callers need. With `throttle` (fail-safe: a value covered the failure), no attempt follows fleet-wide for
   * that long (`T/throttle:I`).
   */
  async failAndRelease(error: unknown, throttle?: number): Promise<void> {
    // Fail-safe's pause goes up before the lock goes: whoever takes the lock next finds it.
    if (throttle !== undefined && this.#token !== undefined) {
      const { throttleKey } = this.#names;
      await this.#link
        .call('SET', () => this.#link.client.set(throttleKey, '1', 'PX', throttle))
        .catch(ignore);
    }
    await this.#notify(encodeFailure(error));
  }

  /**
   * Releases the lock, when the value could not be stored, with a notice that sends the waiters of every
   * process back to the lock at once (rather than at the end of the lease): one of them computes again.
   * Never rejects.
   */
  async giveUp(): Promise<void> {
    await this.#notify(GIVE_UP_NOTICE);
  }

  /** Releases the lock without waiting for Redis (the value is out; should this fail, the lock expires). */
  release(): void {
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    this.#release(token);
  }

  /** Drops the token without touching Redis: the lease ran out, and the lock may be someone else's now. */
  forget(): void {
    this.#token = undefined;
  }

  async #notify(payload: string): Promise<void> {
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    const { lockKey, failChannel } = this.#names;
    await this.#link
      .call('EVALSHA', () => this.#link.client.memolockFail(lockKey, token, failChannel, payload))
      .catch(ignore);
  }

  #release(token: string): void {
    this.#link.client.memolockRelease(this.#names.lockKey, token).catch(ignore);
  }
}

/** The record and stale copy of a value, by themselves (on a cluster, or after external work). */
export async function writeExtras(
  link: RedisLink,
  names: ResourceNames,
  encoded: string,
  extras: StoredExtras,
): Promise<void> {
  const { client } = link;
  const { metaKey, staleKey } = names;
  await Promise.all([
    link.call('SET', () => client.set(metaKey, extras.record, 'PX', extras.ttl)),
    extras.stale
      ? link.call('SET', () =>
          client.set(staleKey, staleCopy(extras.record, extras.grace, encoded), 'PX', extras.ttl),
        )
      : link.call('DEL', () => client.del(staleKey)),
  ]);
}
