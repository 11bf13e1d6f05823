/**
 * The protocol of SPEC §2 for one resource in one process: read; on a miss, take the lock or wait for the
 * holder's notification, and take over when the holder's lease runs out. One instance serves every caller of
 * this process that asks for the resource meanwhile (through its {@link Flight}).
 *
 * A hit costs one read and nothing else: the lock, the subscription and the wait are only set up on a miss.
 * Every step of the wait first checks that somebody still wants the value, so that a flight whose callers
 * all left stops at its next step instead of sleeping on. The lock's own commands live in {@link RedisLock},
 * what the holder does with it (and what a call does when Redis fails) in `lock-holder.ts`.
 *
 * With freshness options (SPEC §7) a flight may hold a fallback value: the current value when a hit refreshes
 * it early (XFetch), or its stale copy once `T:I` has expired. It then takes no new callers (they read Redis
 * again, so that nobody gets a value read before they came), offers the fallback to its callers (at once, or
 * after `softTimeout`), and refreshes: it tries the lock once even when nobody waits any more, computes under
 * it, and answers the fallback when the computation fails (fail-safe). One refresh per resource and process.
 */
import { MemoLockRemoteComputationError } from '../errors';
import { Messages } from '../memolock.messages';
import type { CallObserver } from './call-observer';
import type { Coalescer, Flown } from './coalescer';
import { Flight } from './flight';
import { failSafeCovers, refreshesEarly } from './freshness';
import { describes, mayDescribe, parseRecord } from './freshness-record';
import { computeAndStore, type Resource, startExternal, whenRedisFails } from './lock-holder';
import type { MemoLockLogger, MemoLockStatus } from './memolock-engine.interface';
import type { HandleWork, Obtained } from './memolock-handle';
import type { HubEvent, NotificationHub, Watcher } from './notification-hub';
import { META_INFIX, type ResourceNames } from './protocol';
import { type RedisLink, RedisUnavailableError } from './redis-call';
import type { MissForecast } from './miss-forecast';
import {
  checkBeforeRefresh,
  dropForeignRecord,
  readStale,
  recordExternalValue,
  staleCopyAge,
} from './redis-extras';
import { type LockProbe, RedisLock } from './redis-lock';
import { decodeValue, type ResolvedTagOptions } from './resource-codec';
import { MAX_TIMER_MS } from './validation';
import type { ReadRequester, ValueReader } from './value-reader';

/** What a flight needs from its engine. */
export interface FlightContext {
  /** The flights that take callers, which a flight leaves once it no longer does. */
  flights: Coalescer<RedisFlight>;
  link: RedisLink;
  reader: ValueReader;
  hub: NotificationHub;
  /** Every flight past its first read and not yet stopped, so that the engine's close() reaches them all. */
  live: Set<RedisFlight>;
  /** Resources (`T:I`) this process refreshes right now: one refresh per resource and process. */
  refreshes: Set<string>;
  /**
   * Per resource (`T:I`), the record of the value this process last tried to refresh early: one attempt per
   * value and process, so that hits after an attempt that found the lock taken or fail-safe's pause on (or
   * whose computation failed) do not each try the lock again. Bounded by {@link MAX_EARLY_TRIED}.
   */
  earlyTried: Map<string, string>;
  /** Cleanups under way in the background, which close() waits for. */
  chores: Set<Promise<void>>;
  /** Which tags' first reads are expected to miss (those start with the read-or-lock script). */
  misses: MissForecast;
  logger: MemoLockLogger;
  /** Told of what only a flight knows: a miss, a takeover, a remote failure. */
  observer: CallObserver;
}

/**
 * How much longer than its value a stale copy may live by the way it was stored (ms): nothing when one script
 * wrote both, about a round trip on a cluster, where it is written after the value. Within this margin of the
 * value's expiry, a missing `T:I` counts as expired, not deleted.
 */
const STORE_SPREAD_MS = 100;

/** Most resources {@link FlightContext.earlyTried} remembers; beyond, it starts over (a few extra attempts). */
const MAX_EARLY_TRIED = 10_000;

/** Wakes a waiting flight when its holder's lease should have run out, a little after, to let Redis expire it. */
const TAKEOVER_MARGIN_MS = 5;

/** Thrown inside a flight to stop it: nobody wants its value any more. */
const ABANDONED = Symbol('abandoned');
/** What a flight ends with when its callers get its fallback value. */
const FALLBACK = Symbol('fallback');
type Outcome = Obtained | typeof FALLBACK;
const NONE = Symbol('none');

export class RedisFlight implements Watcher, ReadRequester, Flown {
  readonly flight: Flight;
  readonly #ctx: FlightContext;
  readonly #tag: ResolvedTagOptions;
  readonly #id: string;
  readonly #work: HandleWork;
  /** Set on the first miss (or refresh), with the lock. */
  #resource: Resource | undefined;
  #names: ResourceNames | undefined;
  #lock: RedisLock | undefined;
  /** The most important event since the flight last looked: a value beats a failure beats a recheck. */
  #mailbox: HubEvent | undefined;
  #wake: (() => void) | undefined;
  #watching = false;
  /** Every caller has left. */
  #abandoned = false;
  /** The engine is closing: stop whatever the flight was doing, a computation aside. */
  #closing = false;
  #computing = false;
  #done = false;
  /** Settles when the flight's wait has stopped (the first read aside). */
  #stopped: Promise<void> | undefined;
  /** The record of the value this flight refreshes (it holds a fallback value), and which kind of refresh. */
  #refresh: { record: string; early: boolean } | undefined;
  /** This flight is the process's refresh of the resource (see `#beginRefresh`). */
  #ownsRefresh = false;
  /** It still has to try the lock for its refresh, whoever waits. */
  #mustTry = false;
  /** It started external work for its refresh, and waits for the delivery to record it, whoever waits. */
  #awaitsDelivery = false;
  /** When this flight started external work (how long it took goes into the value's record). */
  #externalSince = 0;
  /** Its first read is the read-or-lock script (a miss was expected), not yet answered. */
  #probesFirst = false;

  constructor(ctx: FlightContext, tag: ResolvedTagOptions, id: string, work: HandleWork) {
    this.#ctx = ctx;
    this.#tag = tag;
    this.#id = id;
    this.#work = work;
    this.flight = new Flight(tag.tag, id, this);
  }

  /** Whether the holder's computation runs here (it finishes whatever happens, for everyone's sake). */
  get computing(): boolean {
    return this.#computing;
  }

  /** Whether new callers may still join this flight (it has not settled, and not been abandoned idle). */
  get takesCallers(): boolean {
    return !this.#done;
  }

  /** Settles once the flight has stopped waiting and sending commands (resolved at once if it never waited). */
  get stopped(): Promise<void> {
    return this.#stopped ?? Promise.resolve();
  }

  /**
   * The first read: batched with the other flights' of this turn (see {@link valueRead}), or, when the tag's
   * reads mostly miss, the read-or-lock script at once (see miss-forecast.ts): on a miss, it has taken the
   * lock too, or read the holder's lease. Not for a tag with freshness options (its miss needs the value's
   * record first), nor on a cluster (no script may touch the value and the lock there).
   */
  start(): void {
    const { tag } = this.#tag;
    if (this.#tag.freshness === undefined && !this.#clustered && this.#ctx.misses.expectsMiss(tag)) {
      this.#probesFirst = true;
      return this.#wait(undefined);
    }
    if (this.#tag.freshness === undefined) this.#ctx.reader.read(`${tag}:${this.#id}`, this);
    else this.#ctx.reader.read(`${tag}:${this.#id}`, this, `${tag}${META_INFIX}${this.#id}`);
  }

  /**
   * @internal The first read's outcome: a hit settles the flight at once (and may start an early refresh);
   * a miss starts the wait, or serves the stale copy.
   */
  valueRead(raw: string | null, record: string | null | undefined): void {
    this.#ctx.misses.record(this.#tag.tag, raw === null);
    if (this.#abandoned) return this.#wait(undefined);
    if (raw === null) return this.#wait(undefined, record);
    let value: unknown;
    try {
      value = decodeValue(this.#tag, this.#id, raw);
    } catch (error) {
      return this.#reject(error);
    }
    const early = record === undefined ? undefined : this.#earlyRefreshOf(raw, record);
    if (early !== undefined) {
      this.#beginRefresh({ record: early, early: true }, value, 'hit', 0);
      return this.#wait(undefined);
    }
    this.#forget();
    this.flight.resolve(value, 'hit');
  }

  /** @internal The first read failed: Redis's failure policy decides (see `#redisFailed`). */
  readFailed(error: unknown): void {
    this.#wait(error);
  }

  /** Nobody in this process waits any more: stop, unless this flight computes or must still try the lock. */
  abandon(): void {
    this.#abandoned = true;
    if (!this.#computing && !this.#mustTry && !this.#awaitsDelivery) {
      this.#stopWatching();
      this.#forget();
    }
    this.#wake?.();
  }

  /** The engine closes: callers still waiting reject with `error`, and the flight stops unless it computes. */
  close(error: unknown): void {
    this.#closing = true;
    this.#mustTry = false;
    this.#awaitsDelivery = false;
    this.flight.abort(error);
    this.abandon();
  }

  notify(event: HubEvent): void {
    const current = this.#mailbox?.type;
    if (current === 'value' || (current === 'failure' && event.type === 'recheck')) return;
    this.#mailbox = event;
    this.#wake?.();
  }

  /** Where a flight ends with a value (a hit aside): it takes no more callers, and they get it. */
  #resolve(outcome: Outcome): void {
    this.#stopWatching();
    this.#forget();
    if (outcome === FALLBACK) this.flight.answerFallback();
    else this.flight.resolve(outcome.value, outcome.status);
  }

  /** Where a flight ends without one (`ABANDONED`: nobody is left to tell). */
  #reject(error: unknown): void {
    this.#stopWatching();
    this.#forget();
    if (error !== ABANDONED) this.flight.reject(error);
  }

  #forget(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ctx.flights.forget(this.#tag, this.#id, this);
  }

  /**
   * Runs the miss path (or the Redis-failure policy, when the first read failed, or a refresh) to its end.
   * `record`: the value's record read with the miss, when the tag has freshness options.
   */
  #wait(firstReadError: unknown, record?: string | null): void {
    if (!this.#wanted()) {
      if (this.#ownsRefresh) this.#ctx.refreshes.delete(`${this.#tag.tag}:${this.#id}`);
      return this.#forget();
    }
    this.#resource = { tag: this.#tag, id: this.#id };
    this.#names = this.#tag.names(this.#id);
    this.#lock = new RedisLock(this.#ctx.link, this.#names, this.#tag.lockTimeout);
    this.#ctx.live.add(this);
    // A first read by script is a miss once it says so (see #loop).
    if (!this.#probesFirst) this.#ctx.observer.missed(this.flight, this.#tag.tag);
    const run = firstReadError === undefined ? this.#run(record) : this.#redisFailed(firstReadError);
    const resource = this.#names.valueKey;
    this.#stopped = run
      .then(
        (outcome) => this.#resolve(outcome),
        (error: unknown) => this.#reject(error),
      )
      .finally(() => {
        this.#ctx.live.delete(this);
        if (this.#ownsRefresh) this.#ctx.refreshes.delete(resource);
      });
  }

  /**
   * After a miss: the stale copy, when the value had a record and this call a grace; then the protocol's
   * loop. Whether the copy's value expired, and how long ago, is judged by Redis's clock (staleCopyAge).
   */
  async #run(recordText: string | null | undefined): Promise<Outcome> {
    const record = parseRecord(recordText);
    const grace = this.#tag.freshness?.grace ?? 0;
    if (record && grace > 0) {
      let found: Awaited<ReturnType<typeof readStale>>;
      try {
        found = await this.#guarded(() => readStale(this.#ctx.link, this.#names!));
      } catch (error) {
        if (error === ABANDONED) throw error;
        return this.#redisFailed(error);
      }
      const { copy, left, throttled } = found;
      const age = copy && staleCopyAge(copy, left);
      if (copy && age !== undefined && age < -STORE_SPREAD_MS) {
        if (copy.record.text !== record.text) {
          // A new value was stored since the first read (its copy goes with it): what `T:I` holds now.
          const value = this.#decoded(copy.encoded);
          if (value !== NONE) return { value, status: 'hit' };
        } else {
          // `T:I` went before its ttl ended: someone deleted it. Its record and copy must not outlive it.
          this.#chore(dropForeignRecord(this.#ctx.link, this.#names!, record));
        }
      }
      const servable = age !== undefined && age >= -STORE_SPREAD_MS && age <= grace;
      const value = servable ? this.#decoded(copy!.encoded) : NONE;
      if (value !== NONE && throttled) {
        // A recomputation failed a moment ago (fail-safe's pause): nobody tries again yet, nobody waits.
        this.#forget();
        this.flight.offerFallback(value, 'stale', 0, false);
        return FALLBACK;
      }
      if (value !== NONE) {
        this.#beginRefresh(
          { record: copy!.record.text, early: false },
          value,
          'stale',
          this.#tag.freshness!.softTimeout,
        );
      }
    }
    return this.#loop();
  }

  /**
   * On a hit of a tag with freshness options: the record of the value when this hit refreshes it early
   * (XFetch). A record that does not describe the value beside it (someone else wrote `T:I`) is not acted
   * on, and is dropped.
   */
  #earlyRefreshOf(raw: string, recordText: string | null): string | undefined {
    const record = parseRecord(recordText);
    if (!record) return undefined;
    if (!mayDescribe(record, raw)) {
      this.#chore(dropForeignRecord(this.#ctx.link, this.#tag.names(this.#id), record));
      return undefined;
    }
    const { beta } = this.#tag.freshness!;
    if (this.#work.kind === 'external' || !refreshesEarly(record, beta, Date.now())) return undefined;
    const key = `${this.#tag.tag}:${this.#id}`;
    const { refreshes, earlyTried } = this.#ctx;
    if (refreshes.has(key) || earlyTried.get(key) === record.text) return undefined;
    if (!describes(record, raw)) {
      this.#chore(dropForeignRecord(this.#ctx.link, this.#tag.names(this.#id), record));
      return undefined;
    }
    if (earlyTried.size >= MAX_EARLY_TRIED) earlyTried.clear();
    earlyTried.set(key, record.text);
    return record.text;
  }

  /**
   * Turns this flight into a refresh with `value` at hand: it takes no new callers, offers them the value
   * (after `softMs`; the owner of bound work waits for its own computation), and becomes the process's refresh
   * of the resource, unless another flight is already: then it only waits, while its callers do.
   */
  #beginRefresh(
    refresh: { record: string; early: boolean },
    value: unknown,
    status: MemoLockStatus,
    softMs: number,
  ): void {
    this.#forget();
    this.#refresh = refresh;
    const key = `${this.#tag.tag}:${this.#id}`;
    const owns = !this.#ctx.refreshes.has(key);
    if (owns) {
      this.#ctx.refreshes.add(key);
      this.#ownsRefresh = true;
      this.#mustTry = true;
    }
    this.flight.offerFallback(value, status, softMs, owns && this.#work.bound);
  }

  async #loop(): Promise<Outcome> {
    const lock = this.#lock!;
    for (;;) {
      /** The holder's lease, when someone else holds the lock; `undefined` when this flight does. */
      let pttl: number | undefined;
      if (!lock.held) {
        this.#assertWanted();
        let probe: LockProbe;
        try {
          probe = await this.#probe();
        } catch (error) {
          if (error === ABANDONED) throw error;
          return this.#redisFailed(error);
        }
        if (this.#probesFirst) {
          this.#probesFirst = false;
          this.#ctx.misses.record(this.#tag.tag, probe.kind !== 'value');
          if (probe.kind === 'value') return this.#value(probe.raw, 'hit');
          this.#ctx.observer.missed(this.flight, this.#tag.tag);
        }
        if (probe.kind === 'value') return this.#value(probe.raw, 'collapsed');
        const taken = probe.kind === 'locked';
        if (taken && this.#refresh && this.#work.kind !== 'external') {
          const ahead = await this.#checkRefresh(lock);
          if (ahead !== 'go') return ahead;
        } else if (taken && this.#tag.freshness && this.#work.kind !== 'external' && this.#clustered) {
          // An early refresh lands about when the value expires: a miss just before it may take the lock
          // just after it. Read the value once more rather than compute it twice. (On standalone Redis the
          // lock was taken in the same script as the value was found missing: nothing can land between.)
          const raw = await this.#read().catch(() => null);
          if (raw !== null) {
            lock.release();
            return this.#value(raw, 'collapsed');
          }
        }
        this.#mustTry = false;
        // Once taken, this flight owes the other processes a value or a notice, whoever still waits here.
        if (taken && this.#work.kind !== 'external') {
          this.#stopWatching(); // the holder waits for nobody
          this.#computing = true;
          const covered = this.flight.hasFallback;
          return computeAndStore(this.#resource!, lock, this.#work, covered).catch((error: unknown) =>
            this.#failed(error),
          );
        }
        if (probe.kind === 'held') {
          this.flight.releaseOwner(); // the owner's own work will not run here
          pttl = probe.pttl;
        } else if (this.#work.kind === 'external') {
          this.#externalSince = performance.now();
          this.#awaitsDelivery = this.#refresh !== undefined;
          await startExternal(this.#resource!, lock, () => this.#watch(), this.#work.start);
        }
      }

      let event: HubEvent | 'takeover';
      try {
        event = pttl === undefined ? await this.#waitForHolder() : await this.#waitForLease(pttl);
      } catch (error) {
        if (error === ABANDONED) throw error;
        return this.#redisFailed(error);
      }
      if (event === 'takeover') {
        this.#ctx.observer.takeover(this.#tag.tag, this.#id);
        lock.forget(); // the lease ran out (ours too, for external work): take the lock, start the work again
        this.#awaitsDelivery = false;
      } else if (event.type === 'value') {
        return this.#value(event.raw, 'collapsed');
      } else if (event.type === 'failure') {
        this.#ctx.observer.remoteFailure(this.#tag.tag, this.#id, event.failure.message);
        if (this.flight.hasFallback && event.failure.failSafe !== false) return FALLBACK;
        if (this.#tag.onComputeError !== 'retry') {
          throw new MemoLockRemoteComputationError(
            Messages.remoteFailure(this.#tag.tag, this.#id, event.failure.message),
            { tag: this.#tag.tag, id: this.#id },
            event.failure,
          );
        }
      }
      // A recheck, a failure to retry, or a lease that ran out: the next probe reads the value again (and
      // takes the lock when it is free); a flight holding the lock for external work reads it in its wait.
    }
  }

  /**
   * SPEC §2 from a miss, steps 2 and 3: the value (stored since the first read), or the lock, or, when
   * someone else holds it, the holder's lease, with this flight subscribed before the value was last read.
   *
   * On standalone Redis that is one script (READ_OR_LOCK), one round trip: when the tag's subscription is
   * active already (other waiters of the tag keep it), the flight watches first, and the script's read is the
   * re-read after subscribing; when it is not, a flight that finds the lock held subscribes, then runs the
   * script once more. On a cluster the value and the lock live in different slots: `SET NX`, then, for a
   * waiter, the subscription, then `GET` and `PTTL` side by side.
   */
  async #probe(): Promise<LockProbe> {
    const lock = this.#lock!;
    const { link, hub } = this.#ctx;
    if (this.#clustered) {
      if (await lock.acquire()) return { kind: 'locked' };
      await this.#guarded(() => this.#watch());
      const { lockKey } = this.#names!;
      const [raw, pttl] = await this.#guarded(() =>
        Promise.all([this.#read(), link.call('PTTL', () => link.client.pttl(lockKey))]),
      );
      return raw === null ? { kind: 'held', pttl } : { kind: 'value', raw };
    }
    // An early refresh takes the lock beside a value that is still there (the script would answer that
    // value): `SET NX` alone; when someone else holds the lock, the script below reads the value again.
    if (this.#refresh?.early && (await lock.acquire())) return { kind: 'locked' };
    const subscribed = hub.watchIfSubscribed(this.#tag.tag, this.#id, this);
    if (subscribed) this.#watching = true;
    const probe = await lock.readOrAcquire();
    if (probe.kind !== 'held' || subscribed) return probe;
    // Someone holds the lock, and a value published after the script read would be missed: subscribe, then
    // look again (the holder may have stored, or gone, meanwhile). Not guarded after the script: a lock it
    // takes is owed a value or a notice, whoever still waits (see #loop).
    await this.#guarded(() => this.#watch());
    this.#assertWanted();
    return lock.readOrAcquire();
  }

  /**
   * A refresh that took the lock checks first that it still has something to do: a failure a moment ago
   * paused attempts (its callers get the fallback), or a newer value is out (they get that). `'go'` keeps
   * the lock for the computation; anything else releases it.
   */
  async #checkRefresh(lock: RedisLock): Promise<'go' | Outcome> {
    this.#mustTry = false;
    let found: 'go' | 'throttled' | 'changed';
    try {
      found = await checkBeforeRefresh(this.#ctx.link, this.#names!, this.#refresh!.record);
    } catch (error) {
      lock.release();
      return this.#redisFailed(error);
    }
    if (found === 'go') return 'go';
    if (found === 'changed' && !this.#refresh!.early) {
      // The stale copy's record is gone or replaced: a newer value may be out; if not, compute it here.
      const raw = await this.#read().catch(() => null);
      if (raw === null) return 'go';
      lock.release();
      return this.#value(raw, 'collapsed');
    }
    lock.release();
    return FALLBACK;
  }

  /** A computation of this flight failed: its fallback answers, when there is one (fail-safe). */
  #failed(error: unknown): Outcome {
    if (!this.flight.hasFallback || !failSafeCovers(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const { failSafeThrottle } = this.#tag.freshness!;
    this.#ctx.logger.warn(Messages.failSafe(this.#tag.tag, this.#id, reason, failSafeThrottle));
    return FALLBACK;
  }

  /**
   * For a flight holding the lock (external work): subscribes, reads the key once more, and waits for the
   * program's message, the lease's end, or a recheck.
   */
  async #waitForHolder(): Promise<HubEvent | 'takeover'> {
    await this.#guarded(() => this.#watch());
    const { link } = this.#ctx;
    const { lockKey } = this.#names!;
    const [raw, pttl] = await this.#guarded(() =>
      Promise.all([this.#read(), link.call('PTTL', () => link.client.pttl(lockKey))]),
    );
    if (raw !== null) return { type: 'value', raw };
    return this.#waitForLease(pttl);
  }

  /**
   * Waits, subscribed, for the holder's message, a recheck, or the end of its lease (`pttl` ms from the last
   * read; -2 when there was no lock, -1 for a lock without expiry: only a message or the callers' timeouts
   * end that wait).
   */
  #waitForLease(pttl: number): Promise<HubEvent | 'takeover'> {
    this.#assertWanted();
    const pending = this.#takeMail();
    if (pending) return Promise.resolve(pending);
    if (pttl === -2) return Promise.resolve('takeover'); // no lock: nobody computes, try to take it
    return this.#sleep(pttl > 0 ? Math.min(pttl + TAKEOVER_MARGIN_MS, MAX_TIMER_MS) : undefined);
  }

  /** Whether the engine's client is a Redis Cluster (no script may touch the value and the lock there). */
  get #clustered(): boolean {
    return this.#ctx.link.client.isCluster;
  }

  #read(): Promise<string | null> {
    const { link } = this.#ctx;
    const { valueKey } = this.#names!;
    return link.call('GET', () => link.client.get(valueKey));
  }

  /** Runs one step of the wait, only if somebody still wants the value, and stops after it if nobody does. */
  async #guarded<T>(step: () => Promise<T>): Promise<T> {
    this.#assertWanted();
    const result = await step();
    this.#assertWanted();
    return result;
  }

  /**
   * Whether the flight goes on: somebody waits, or it must still try the lock for its refresh, or it waits
   * for the external work it started for one; never once the engine closes.
   */
  #wanted(): boolean {
    if (this.#closing) return false;
    return !this.#abandoned || this.#mustTry || this.#awaitsDelivery;
  }

  #assertWanted(): void {
    if (!this.#wanted()) throw ABANDONED;
  }

  #sleep(ms: number | undefined): Promise<HubEvent | 'takeover'> {
    return new Promise((resolve, reject) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        this.#wake = undefined;
        clearTimeout(timer);
        if (!this.#wanted()) return reject(ABANDONED);
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

  /** The value for the callers, and how it was had; external work counts as stored for its starter. */
  async #value(raw: string, status: MemoLockStatus): Promise<Obtained> {
    if (this.#work.kind === 'external' && this.#lock?.held) {
      // The other program delivered: record it (freshness options), and let the next computation start
      // without waiting for our lease to end.
      const freshness = this.#tag.freshness;
      if (freshness) {
        const delta = performance.now() - this.#externalSince;
        await recordExternalValue(this.#ctx.link, this.#names!, raw, freshness, delta).catch(() => undefined);
      }
      this.#lock.release();
      status = 'stored';
    }
    return { value: decodeValue(this.#tag, this.#id, raw), status };
  }

  /** A stale copy's value, or `NONE` when the serializer cannot read it (it is then no fallback). */
  #decoded(encoded: string): unknown {
    try {
      return decodeValue(this.#tag, this.#id, encoded);
    } catch {
      return NONE;
    }
  }

  /**
   * Redis failed before a value was had: see {@link whenRedisFails}; nobody waits, nothing to compute for.
   * With a fallback at hand, it answers instead of the error, and instead of a computation that fails.
   */
  #redisFailed(error: unknown): Promise<Outcome> {
    if (!this.flight.hasFallback) return this.#withoutRedis(error);
    if (!(error instanceof RedisUnavailableError)) return Promise.reject(error);
    this.#mustTry = false;
    this.#awaitsDelivery = false;
    const computes =
      this.flight.callers > 0 && this.#tag.onRedisError === 'compute' && this.#work.kind !== 'external';
    if (!computes) return Promise.resolve(FALLBACK);
    return this.#withoutRedis(error).catch((failure: unknown) => this.#failed(failure));
  }

  #withoutRedis(error: unknown): Promise<Obtained> {
    return whenRedisFails(this.#resource!, this.#work, error, () => {
      this.#assertWanted();
      this.#computing = true;
    });
  }

  /** Runs a cleanup in the background; the engine's close() waits for it. */
  #chore(chore: Promise<void>): void {
    const { chores } = this.#ctx;
    const tracked = chore.catch(() => undefined).finally(() => chores.delete(tracked));
    chores.add(tracked);
  }
}
