/**
 * In-process coalescing: at most one flight per resource in this process at a time; callers that come
 * while it is under way join it, each with its own timeout.
 */
import { MemoLockClosedError, MemoLockTimeoutError } from '../errors';
import { Messages } from '../memolock.messages';
import type { Flight } from './flight';

/** Something that obtains one resource for the callers of its flight. */
export interface Flown<T = unknown> {
  readonly flight: Flight<T>;
  start(): void;
}

interface Slot<F> {
  tag: string;
  id: string;
  flown: F;
}

export class Coalescer<F extends Flown<T>, T = F extends Flown<infer R> ? R : never> {
  readonly #slots = new Map<string, Slot<F>>();

  /** Resources with a flight under way. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Joins the flight of `tag:id`, or starts one made by `create`. The flight calls `forget()` once it no
   * longer takes callers; `forget()` returns false when it was forgotten already.
   */
  join(tag: string, id: string, timeout: number, create: (forget: () => boolean) => F): Promise<T> {
    const key = `${tag}:${id}`;
    const timeoutError = () =>
      new MemoLockTimeoutError(Messages.timeout(tag, id, timeout), { tag, id }, timeout);
    const existing = this.#slots.get(key);
    if (existing) return existing.flown.flight.join(timeout, timeoutError);

    const slot = { tag, id } as Slot<F>;
    slot.flown = create(() => {
      if (this.#slots.get(key) !== slot) return false;
      this.#slots.delete(key);
      return true;
    });
    this.#slots.set(key, slot);
    const result = slot.flown.flight.join(timeout, timeoutError);
    slot.flown.start();
    return result;
  }

  /** Rejects every caller of every flight with `MemoLockClosedError` and forgets them all. */
  closeAll(): void {
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    for (const { tag, id, flown } of slots) {
      flown.flight.abort(new MemoLockClosedError(Messages.closedWhileWaiting(tag, id), { tag, id }));
    }
  }
}
