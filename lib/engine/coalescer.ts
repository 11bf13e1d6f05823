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
export interface Flown {
  readonly flight: Flight;
  start(): void;
}

export class Coalescer<F extends Flown> {
  /** Flights by the options' {@link ResolvedTagOptions.flightPrefix}, then by id. */
  readonly #flights = new Map<string, Map<string, F>>();
  #size = 0;

  /** Resources with a flight that takes callers. */
  get size(): number {
    return this.#size;
  }

  /**
   * Joins the flight of resource `id` under `options`, or starts one made by `create` (see
   * {@link Flight.join}; `signal` is this caller's). The flight calls {@link forget} once it no longer takes callers.
   */
  join(
    options: ResolvedTagOptions,
    id: string,
    timeout: number,
    withStatus: boolean,
    create: () => F,
    signal?: AbortSignal,
  ): Promise<unknown> {
    let flights = this.#flights.get(options.flightPrefix);
    if (!flights) this.#flights.set(options.flightPrefix, (flights = new Map()));
    const existing = flights.get(id);
    // A settled flight is forgotten at once; should one linger, a new caller must not wait on it.
    if (existing && !existing.flight.settled) return existing.flight.join(timeout, withStatus, signal);

    const flown = create();
    if (!existing) this.#size++;
    flights.set(id, flown);
    const result = flown.flight.join(timeout, withStatus, signal);
    flown.start();
    return result;
  }

  /** Takes `flown` out, so that the next caller starts a new flight; false if it was out already. */
  forget(options: ResolvedTagOptions, id: string, flown: F): boolean {
    const flights = this.#flights.get(options.flightPrefix);
    if (flights?.get(id) !== flown) return false;
    flights.delete(id);
    this.#size--;
    // An empty map stays for the next call: there is one per handle options, not one per resource. Calls
    // with freshness options of their own may bring any number of option sets: theirs go.
    if (options.perCall && flights.size === 0) this.#flights.delete(options.flightPrefix);
    return true;
  }

  /** Rejects every caller of every flight with `MemoLockClosedError` and forgets them all. */
  closeAll(): void {
    const all = [...this.#flights.values()].flatMap((flights) => [...flights.values()]);
    this.#flights.clear();
    this.#size = 0;
    for (const { flight } of all) {
      const { tag, id } = flight;
      flight.abort(new MemoLockClosedError(Messages.closedWhileWaiting(tag, id), { tag, id }));
    }
  }
}
