/**
 * The protocol of SPEC §2 for one resource in one process: read; on a miss, take the lock or wait for the
 * holder's notification, and take over when the holder's lease runs out. One instance serves every caller of
 * this process that asks for the resource meanwhile (through its {@link Flight}).
 *
 * A hit costs one read and nothing else: the lock, the subscription and the wait are only set up on a miss.
 * Every step of the wait first checks that somebody still wants the value, so that a flight whose callers
 * all left stops at its next step instead of sleeping on. The lock's own commands live in {@link RedisLock},
 * what the holder does with it (and what a call does when Redis fails) in `lock-holder.ts`.
 */
import { MemoLockRemoteComputationError } from '../errors';
import { Messages } from '../memolock.messages';
import type { Coalescer, Flown } from './coalescer';
import { Flight } from './flight';
import { computeAndStore, type Resource, startExternal, whenRedisFails } from './lock-holder';
import type { MemoLockStatus } from './memolock-engine.interface';
import type { HandleWork, Obtained } from './memolock-handle';
import type { HubEvent, NotificationHub, Watcher } from './notification-hub';
import type { ResourceNames } from './protocol';
import type { RedisLink } from './redis-call';
import { RedisLock } from './redis-lock';
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
}

/** Wakes a waiting flight when its holder's lease should have run out, a little after, to let Redis expire it. */
const TAKEOVER_MARGIN_MS = 5;

/** Thrown inside a flight to stop it: nobody wants its value any more. */
const ABANDONED = Symbol('abandoned');

export class RedisFlight implements Watcher, ReadRequester, Flown {
  readonly flight: Flight;
  readonly #ctx: FlightContext;
  readonly #tag: ResolvedTagOptions;
  readonly #id: string;
  readonly #work: HandleWork;
  /** Set on the first miss, with the lock. */
  #resource: Resource | undefined;
  #names: ResourceNames | undefined;
  #lock: RedisLock | undefined;
  /** The most important event since the flight last looked: a value beats a failure beats a recheck. */
  #mailbox: HubEvent | undefined;
  #wake: (() => void) | undefined;
  #watching = false;
  #abandoned = false;
  #computing = false;
  #done = false;
  /** Settles when the flight's wait has stopped (the first read aside). */
  #stopped: Promise<void> | undefined;

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

  /** The first read (batched with the other flights' of this turn); see {@link valueRead}. */
  start(): void {
    this.#ctx.reader.read(`${this.#tag.tag}:${this.#id}`, this);
  }

  /** @internal The first read's outcome: a hit settles the flight at once; a miss starts the wait. */
  valueRead(raw: string | null): void {
    if (raw === null || this.#abandoned) return this.#wait(undefined);
    let value: unknown;
    try {
      value = decodeValue(this.#tag, this.#id, raw);
    } catch (error) {
      return this.#reject(error);
    }
    this.#forget();
    this.flight.resolve(value, 'hit');
  }

  /** @internal The first read failed: Redis's failure policy decides (see `#redisFailed`). */
  readFailed(error: unknown): void {
    this.#wait(error);
  }

  /** Nobody in this process waits any more: stop, unless this flight holds the lock and computes. */
  abandon(): void {
    this.#abandoned = true;
    if (!this.#computing) {
      this.#stopWatching();
      this.#forget();
    }
    this.#wake?.();
  }

  notify(event: HubEvent): void {
    const current = this.#mailbox?.type;
    if (current === 'value' || (current === 'failure' && event.type === 'recheck')) return;
    this.#mailbox = event;
    this.#wake?.();
  }

  /** Where a flight ends with a value (a hit aside): it takes no more callers, and they get it. */
  #resolve(outcome: Obtained): void {
    this.#stopWatching();
    this.#forget();
    this.flight.resolve(outcome.value, outcome.status);
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

  /** Runs the miss path (or the Redis-failure policy, when the first read failed) to its end. */
  #wait(firstReadError: unknown): void {
    if (this.#abandoned) return this.#forget();
    this.#resource = { tag: this.#tag, id: this.#id };
    this.#names = this.#tag.names(this.#id);
    this.#lock = new RedisLock(this.#ctx.link, this.#names, this.#tag.lockTimeout);
    this.#ctx.live.add(this);
    const loop = firstReadError === undefined ? this.#loop() : this.#redisFailed(firstReadError);
    this.#stopped = loop
      .then(
        (outcome) => this.#resolve(outcome),
        (error: unknown) => this.#reject(error),
      )
      .finally(() => this.#ctx.live.delete(this));
  }

  async #loop(): Promise<Obtained> {
    const lock = this.#lock!;
    for (;;) {
      if (!lock.held) {
        this.#assertWanted();
        let taken: boolean;
        try {
          taken = await lock.acquire();
        } catch (error) {
          return this.#redisFailed(error);
        }
        // Once taken, this flight owes the other processes a value or a notice, whoever still waits here.
        if (taken && this.#work.kind !== 'external') {
          this.#computing = true;
          return computeAndStore(this.#resource!, lock, this.#work);
        }
        if (taken && this.#work.kind === 'external') {
          await startExternal(this.#resource!, lock, () => this.#watch(), this.#work.start);
        }
      }

      let event: HubEvent | 'takeover';
      try {
        event = await this.#waitForHolder();
      } catch (error) {
        if (error === ABANDONED) throw error;
        return this.#redisFailed(error);
      }
      if (event === 'takeover') {
        lock.forget(); // the lease ran out (ours too, for external work): take the lock, start the work again
      } else if (event.type === 'value') {
        return this.#value(event.raw, 'collapsed');
      } else if (event.type === 'failure' && this.#tag.onComputeError !== 'retry') {
        throw new MemoLockRemoteComputationError(
          Messages.remoteFailure(this.#tag.tag, this.#id, event.failure.message),
          { tag: this.#tag.tag, id: this.#id },
          event.failure,
        );
      }

      let raw: string | null;
      try {
        raw = await this.#guarded(() => this.#read());
      } catch (error) {
        if (error === ABANDONED) throw error;
        return this.#redisFailed(error);
      }
      if (raw !== null) return this.#value(raw, 'collapsed');
    }
  }

  /** Subscribes, reads the key once more, and waits for the holder's message, its lease's end, or a recheck. */
  async #waitForHolder(): Promise<HubEvent | 'takeover'> {
    await this.#guarded(() => this.#watch());
    const { link } = this.#ctx;
    const { lockKey } = this.#names!;
    const [raw, pttl] = await this.#guarded(() =>
      Promise.all([this.#read(), link.call('PTTL', () => link.client.pttl(lockKey))]),
    );
    if (raw !== null) return { type: 'value', raw };
    const pending = this.#takeMail();
    if (pending) return pending;
    if (pttl === -2) return 'takeover'; // no lock: nobody computes, try to take it
    // pttl -1 is a lock without expiry (a peer's bug): only a message or the callers' timeouts end the wait.
    return this.#sleep(pttl > 0 ? Math.min(pttl + TAKEOVER_MARGIN_MS, MAX_TIMER_MS) : undefined);
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

  #assertWanted(): void {
    if (this.#abandoned) throw ABANDONED;
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

  /** The value for the callers, and how it was had; external work counts as stored for its starter. */
  #value(raw: string, status: MemoLockStatus): Obtained {
    if (this.#work.kind === 'external' && this.#lock?.held) {
      // The other program delivered: let the next computation start without waiting for our lease to end.
      this.#lock.release();
      status = 'stored';
    }
    return { value: decodeValue(this.#tag, this.#id, raw), status };
  }

  /** Redis failed before a value was had: see {@link whenRedisFails}; nobody waits, nothing to compute for. */
  #redisFailed(error: unknown): Promise<Obtained> {
    return whenRedisFails(this.#resource!, this.#work, error, () => {
      this.#assertWanted();
      this.#computing = true;
    });
  }
}
