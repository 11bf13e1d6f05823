/**
 * One in-process attempt to obtain a resource, shared by every caller of this process that asks for it
 * meanwhile (in-process coalescing). Each caller keeps its own timeout and its own `AbortSignal`; the flight
 * outlives a caller that leaves, and is abandoned when the last one has.
 *
 * A flight may also hold a fallback value (a stale copy, or the current value while it is refreshed early):
 * each caller then takes it `softMs` after it joined unless the fresh value comes first, and all take it when
 * the computation fails (fail-safe). The first caller, whose function the flight runs, may be kept waiting
 * for its own computation instead (`ownerWaits`), until {@link releaseOwner}.
 *
 * The callers' deadlines share one timer, armed for the earliest: on a hot key, hundreds of callers join a
 * flight that settles within a millisecond, and a timer each would cost more than the read itself. Deadlines
 * follow the monotonic clock (`performance.now()`), so a step of the wall clock moves none of them.
 */
import { MemoLockTimeoutError } from '../errors';
import { Messages } from '../memolock.messages';
import type { MemoLockStatus } from './memolock-engine.interface';

interface Caller {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timeout: number;
  deadline: number;
  /** When it takes the fallback value: `Infinity` until there is one, and for an owner kept waiting. */
  soft: number;
  /** Resolves with `{ value, status }` rather than the value alone. */
  withStatus: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Told when the last caller left a flight that had not settled. */
export interface AbandonListener {
  abandon(): void;
}

export class Flight {
  readonly tag: string;
  readonly id: string;
  #callers: Caller[] = [];
  #settled = false;
  #listener: AbandonListener | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerDeadline = Infinity;
  /** The first caller, whose function the flight runs; `null` once it left (nobody else becomes it). */
  #owner: Caller | null | undefined;
  #fallback: { value: unknown; status: MemoLockStatus; softMs: number } | undefined;
  /** Told how many callers start (+) or stop (-) waiting, from {@link countWaiters} on (metrics). */
  #waiters: ((delta: number) => void) | undefined;

  /** `listener.abandon()` runs once, when the last caller leaves before the flight settled. */
  constructor(tag: string, id: string, listener?: AbandonListener) {
    this.tag = tag;
    this.id = id;
    this.#listener = listener;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Callers waiting for this flight right now. */
  get callers(): number {
    return this.#callers.length;
  }

  /**
   * From now on (the flight missed), `gauge` is told of its callers that wait: those here now and those who
   * join, until they leave or are answered.
   */
  countWaiters(gauge: (delta: number) => void): void {
    if (this.#waiters || this.#settled) return;
    this.#waiters = gauge;
    if (this.#callers.length > 0) gauge(this.#callers.length);
  }

  /** Whether a fallback value is at hand (see {@link offerFallback}). */
  get hasFallback(): boolean {
    return this.#fallback !== undefined;
  }

  /**
   * Adds a caller that rejects with `MemoLockTimeoutError` after `timeout` ms, or with `signal.reason` when
   * `signal` aborts, unless the flight settles first. It resolves with the value, or with `{ value, status }`
   * when `withStatus`.
   */
  join(timeout: number, withStatus: boolean, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const deadline = now + timeout;
      const fallback = this.#fallback;
      const soft = fallback ? now + fallback.softMs : Infinity;
      const caller: Caller = {
        resolve,
        reject,
        timeout,
        deadline,
        soft,
        withStatus,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        caller.onAbort = () => this.#leave(caller, signal.reason);
        signal.addEventListener('abort', caller.onAbort, { once: true });
      }
      if (this.#owner === undefined) this.#owner = caller;
      this.#callers.push(caller);
      this.#waiters?.(1);
      const due = soft < deadline ? soft : deadline;
      if (due < this.#timerDeadline) this.#arm(due);
    });
  }

  resolve(value: unknown, status: MemoLockStatus): void {
    for (const caller of this.#settle()) {
      if (caller.signal) detach(caller);
      caller.resolve(caller.withStatus ? { value, status } : value);
    }
  }

  reject(error: unknown): void {
    for (const caller of this.#settle()) {
      if (caller.signal) detach(caller);
      caller.reject(error);
    }
  }

  /** Rejects every caller with `error` and abandons the flight without settling what it computes. */
  abort(error: unknown): void {
    this.#disarm();
    const callers = this.#callers;
    this.#callers = [];
    this.#owner = null;
    this.#stopCounting(callers.length);
    for (const caller of callers) {
      if (caller.signal) detach(caller);
      caller.reject(error);
    }
    this.#abandon();
  }

  /**
   * Offers `value` to the callers (with `status`): each takes it `softMs` after it joined (at once when that
   * has passed), unless the flight settles first; the owner not before {@link releaseOwner} when
   * `ownerWaits`. Callers that take it leave the flight.
   */
  offerFallback(value: unknown, status: MemoLockStatus, softMs: number, ownerWaits: boolean): void {
    this.#fallback = { value, status, softMs };
    for (const caller of this.#callers) {
      caller.soft =
        ownerWaits && caller === this.#owner ? Infinity : caller.deadline - caller.timeout + softMs;
    }
    this.#reschedule();
  }

  /** The owner's computation will not run here: it takes the fallback like every other caller. */
  releaseOwner(): void {
    const owner = this.#owner;
    const fallback = this.#fallback;
    if (!owner || !fallback || owner.soft !== Infinity || !this.#callers.includes(owner)) return;
    owner.soft = owner.deadline - owner.timeout + fallback.softMs;
    this.#reschedule();
  }

  /** Every caller left takes the fallback now (fail-safe). False, and nothing done, without one. */
  answerFallback(): boolean {
    const fallback = this.#fallback;
    if (!fallback) return false;
    this.resolve(fallback.value, fallback.status);
    return true;
  }

  #settle(): Caller[] {
    if (this.#settled) return [];
    this.#settled = true;
    this.#listener = undefined;
    this.#owner = null;
    this.#disarm();
    const callers = this.#callers;
    this.#callers = [];
    this.#stopCounting(callers.length);
    return callers;
  }

  /** `leaving` callers stop waiting, and so does the counting: nobody waits any more. */
  #stopCounting(leaving: number): void {
    if (!this.#waiters) return;
    if (leaving > 0) this.#waiters(-leaving);
    this.#waiters = undefined;
  }

  /** One caller leaves with `error` (its signal aborted). */
  #leave(caller: Caller, error: unknown): void {
    const index = this.#callers.indexOf(caller);
    if (index < 0) return;
    this.#callers.splice(index, 1);
    this.#waiters?.(-1);
    detach(caller);
    if (caller === this.#owner) this.#owner = null;
    caller.reject(error);
    if (this.#callers.length === 0) {
      this.#disarm();
      this.#abandon();
    }
  }

  #arm(deadline: number): void {
    clearTimeout(this.#timer);
    this.#timerDeadline = deadline;
    this.#timer = setTimeout(expire, Math.max(0, deadline - performance.now()), this);
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
  }

  /** Answers what is due now, and arms the timer for what comes next. */
  #reschedule(): void {
    this.#disarm();
    this.expire();
  }

  /**
   * @internal The timer's work: callers whose soft deadline passed take the fallback, those whose deadline
   * passed take it too when there is one (the owner of bound work included) and else reject with
   * `MemoLockTimeoutError`; the timer is re-armed for the next one.
   */
  expire(): void {
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
    const now = performance.now();
    let next = Infinity;
    const waiting: Caller[] = [];
    const served: Caller[] = [];
    const expired: Caller[] = [];
    const fallback = this.#fallback;
    for (const caller of this.#callers) {
      // A value at hand beats a timeout: a caller whose deadline comes first takes it then.
      if (caller.soft <= now || (fallback !== undefined && caller.deadline <= now)) served.push(caller);
      else if (caller.deadline <= now) expired.push(caller);
      else {
        waiting.push(caller);
        const due = caller.soft < caller.deadline ? caller.soft : caller.deadline;
        if (due < next) next = due;
      }
    }
    if (served.length === 0 && expired.length === 0) {
      if (next < Infinity) this.#arm(next);
      return;
    }
    this.#callers = waiting;
    this.#waiters?.(-(served.length + expired.length));
    if (this.#owner && !waiting.includes(this.#owner)) this.#owner = null;
    for (const caller of served) {
      if (caller.signal) detach(caller);
      caller.resolve(
        caller.withStatus ? { value: fallback!.value, status: fallback!.status } : fallback!.value,
      );
    }
    const context = { tag: this.tag, id: this.id };
    for (const caller of expired) {
      if (caller.signal) detach(caller);
      const message = Messages.timeout(this.tag, this.id, caller.timeout);
      caller.reject(new MemoLockTimeoutError(message, context, caller.timeout));
    }
    if (waiting.length === 0) this.#abandon();
    else this.#arm(next);
  }

  #abandon(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.abandon();
  }
}

function detach(caller: Caller): void {
  caller.signal!.removeEventListener('abort', caller.onAbort!);
}

/** The timer's callback, shared by every flight (no closure per timer). */
function expire(flight: Flight): void {
  flight.expire();
}
