/**
 * One in-process attempt to obtain a resource, shared by every caller of this process that asks for it
 * meanwhile (in-process coalescing). Each caller keeps its own timeout; the flight outlives a caller that
 * gives up, and is abandoned when the last one has.
 *
 * The callers' timeouts share one timer, armed for the earliest deadline: on a hot key, hundreds of callers
 * join a flight that settles within a millisecond, and a timer each would cost more than the read itself.
 */
interface Caller<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  deadline: number;
  timeoutError: () => Error;
}

export class Flight<T> {
  readonly #callers = new Set<Caller<T>>();
  #settled = false;
  #onAbandoned: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerDeadline = Infinity;

  /** `onAbandoned` runs once, when the last caller leaves before the flight settled. */
  constructor(onAbandoned?: () => void) {
    this.#onAbandoned = onAbandoned;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Adds a caller that rejects with `timeoutError()` after `timeout` ms unless the flight settles first. */
  join(timeout: number, timeoutError: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = Date.now() + timeout;
      this.#callers.add({ resolve, reject, deadline, timeoutError });
      if (deadline < this.#timerDeadline) this.#arm(deadline);
    });
  }

  resolve(value: T): void {
    this.#settle((caller) => caller.resolve(value));
  }

  reject(error: unknown): void {
    this.#settle((caller) => caller.reject(error));
  }

  /** Rejects every caller with `error` and abandons the flight without settling what it computes. */
  abort(error: unknown): void {
    this.#disarm();
    const callers = [...this.#callers];
    this.#callers.clear();
    for (const caller of callers) caller.reject(error);
    this.#abandon();
  }

  #settle(notify: (caller: Caller<T>) => void): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#onAbandoned = undefined;
    this.#disarm();
    const callers = [...this.#callers];
    this.#callers.clear();
    for (const caller of callers) notify(caller);
  }

  #arm(deadline: number): void {
    clearTimeout(this.#timer);
    this.#timerDeadline = deadline;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, deadline - Date.now()));
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
  }

  /** Rejects the callers whose deadline passed, and re-arms for the next one. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const caller of [...this.#callers]) {
      if (caller.deadline <= now) {
        this.#callers.delete(caller);
        caller.reject(caller.timeoutError());
      } else if (caller.deadline < next) {
        next = caller.deadline;
      }
    }
    if (this.#callers.size === 0) this.#abandon();
    else if (next < Infinity) this.#arm(next);
  }

  #abandon(): void {
    const onAbandoned = this.#onAbandoned;
    this.#onAbandoned = undefined;
    onAbandoned?.();
  }
}
