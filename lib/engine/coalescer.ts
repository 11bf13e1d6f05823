/**
 * In-process coalescing: at most one flight per resource and handle options in this process at a time;
 * callers that come while it is under way join it, each with its own timeout.
 *
 * Two handles of one tag with different options (another serializer, say) read the same Redis key but must
 * not share a flight: one caller would get a value decoded, or a failure handled, by the other's rules.
 * Their calls coalesce separately, and meet only through Redis, as two processes would.
 */
import { MemoLockClosedError } from '../errors';
import { Messages } from '../memolock.messages';
import type { Flight } from './flight';
import type { ResolvedTagOptions } from './resource-codec';

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

  /** Resources with a flight that takes callers. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Joins the flight of resource `id` under `options`, or starts one made by `create`. The caller resolves
   * with `project(value)` (see {@link Flight.join}). The flight calls `forget()` once it no longer takes
   * callers; `forget()` returns false when it was forgotten already.
   */
  join(
    options: ResolvedTagOptions,
    id: string,
    timeout: number,
    project: ((value: T) => unknown) | undefined,
    create: (forget: () => boolean) => F,
  ): Promise<unknown> {
    const key = options.flightPrefix + id;
    const existing = this.#slots.get(key);
    // A settled flight is forgotten at once; should one linger, a new caller must not wait on it.
    if (existing && !existing.flown.flight.settled) return existing.flown.flight.join(timeout, project);

    const slot = { tag: options.tag, id } as Slot<F>;
    slot.flown = create(() => {
      if (this.#slots.get(key) !== slot) return false;
      this.#slots.delete(key);
      return true;
    });
    this.#slots.set(key, slot);
    const result = slot.flown.flight.join(timeout, project);
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
