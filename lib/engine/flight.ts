/**
 * One in-process attempt to obtain a resource, shared by every caller of this process that asks for it
 * meanwhile (in-process coalescing). Each caller keeps its own timeout; the flight outlives a caller that
 * gives up, and is abandoned when the last one has.
 */
interface Caller<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

export class Flight<T> {
  readonly #callers = new Set<Caller<T>>();
  #settled = false;
  #onAbandoned: (() => void) | undefined;

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
      const caller: Caller<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#callers.delete(caller);
          reject(timeoutError());
          if (this.#callers.size === 0) this.#abandon();
        }, timeout),
      };
      this.#callers.add(caller);
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
    for (const caller of this.#callers) {
      clearTimeout(caller.timer);
      caller.reject(error);
    }
    this.#callers.clear();
    this.#abandon();
  }

  #settle(notify: (caller: Caller<T>) => void): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#onAbandoned = undefined;
    for (const caller of this.#callers) {
      clearTimeout(caller.timer);
      notify(caller);
    }
    this.#callers.clear();
  }

  #abandon(): void {
    const onAbandoned = this.#onAbandoned;
    this.#onAbandoned = undefined;
    onAbandoned?.();
  }
}
