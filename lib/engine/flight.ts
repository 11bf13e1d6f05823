/**
 * One in-process attempt to obtain a resource, shared by every caller of this process that asks for it
 * meanwhile (in-process coalescing). Each caller keeps its own timeout; the flight outlives a caller that
 * gives up, and is abandoned when the last one has.
 *
 * The callers' timeouts share one timer, armed for the earliest deadline: on a hot key, hundreds of callers
 * join a flight that settles within a millisecond, and a timer each would cost more than the read itself.
 * Deadlines follow the monotonic clock (`performance.now()`), so a step of the wall clock moves none of them.
 */
import { MemoLockTimeoutError } from '../errors';
import { Messages } from '../memolock.messages';
import type { MemoLockStatus } from './memolock-engine.interface';

interface Caller {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timeout: number;
  deadline: number;
  /** Resolves with `{ value, status }` rather than the value alone. */
  withStatus: boolean;
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
   * Adds a caller that rejects with `MemoLockTimeoutError` after `timeout` ms unless the flight settles first.
   * It resolves with the value, or with `{ value, status }` when `withStatus`.
   */
  join(timeout: number, withStatus: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + timeout;
      this.#callers.push({ resolve, reject, timeout, deadline, withStatus });
      if (deadline < this.#timerDeadline) this.#arm(deadline);
    });
  }

  resolve(value: unknown, status: MemoLockStatus): void {
    for (const caller of this.#settle()) caller.resolve(caller.withStatus ? { value, status } : value);
  }

  reject(error: unknown): void {
    for (const caller of this.#settle()) caller.reject(error);
  }

  /** Rejects every caller with `error` and abandons the flight without settling what it computes. */
  abort(error: unknown): void {
    this.#disarm();
    const callers = this.#callers;
    this.#callers = [];
    for (const caller of callers) caller.reject(error);
    this.#abandon();
  }

  #settle(): Caller[] {
    if (this.#settled) return [];
    this.#settled = true;
    this.#listener = undefined;
    this.#disarm();
    const callers = this.#callers;
    this.#callers = [];
    return callers;
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

  /** @internal The timer's work: rejects the callers whose deadline passed, and re-arms for the next one. */
  expire(): void {
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
    const now = performance.now();
    let next = Infinity;
    const waiting: Caller[] = [];
    const expired: Caller[] = [];
    for (const caller of this.#callers) {
      if (caller.deadline <= now) expired.push(caller);
      else {
        waiting.push(caller);
        if (caller.deadline < next) next = caller.deadline;
      }
    }
    this.#callers = waiting;
    const context = { tag: this.tag, id: this.id };
    for (const caller of expired) {
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

/** The timer's callback, shared by every flight (no closure per timer). */
function expire(flight: Flight): void {
  flight.expire();
}
