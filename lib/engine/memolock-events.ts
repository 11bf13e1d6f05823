/**
 * The engine's typed events: one per caller's outcome, and one per change of the lock's or the connections'
 * state. Nothing is built, timed or sent while nobody listens (the engine checks {@link MemoLockEvents.listening}
 * first), so subscribing is what costs, never the events themselves.
 */
import { MemoLockArgumentError } from '../errors';
import { Messages } from '../memolock.messages';

/** What every outcome event says: the resource and how long the call took (ms, monotonic clock). */
interface CallEvent {
  tag: string;
  id: string;
  /** From the call to its answer, in milliseconds. */
  duration: number;
}

/**
 * Every event the engine emits, told apart by `type`:
 *
 * - `hit`: the value was read from the cache at once.
 * - `stored`: this call computed the value and stored it.
 * - `collapsed`: this call waited for another caller's computation, in this process (`remote: false`) or in
 *   another one (`remote: true`); `wait` is how long (ms).
 * - `uncached`: Redis was unavailable and the value was computed without it.
 * - `stale`: a value past its ttl (within its grace) was served.
 * - `timeout`: the call rejected with `MemoLockTimeoutError` after `timeout` ms.
 * - `failed`: the call rejected with another error (its computation's, a remote failure, Redis…).
 * - `takeover`: a waiter found the holder's lease run out, and goes for the lock itself.
 * - `remoteFailure`: the holder, in another process, published a failure instead of a value.
 * - `renewed` / `renewLost`: a computation's `renew()` extended its lease, or found the lock lost.
 * - `redisUnavailable` / `redisBack`: a command got no answer from Redis; then one did again.
 * - `subscriberLost` / `subscriberEnded` / `subscriberBack`: the Pub/Sub connection went down, gave up
 *   reconnecting, came back.
 */
export type MemoLockEvent =
  | ({ type: 'hit' } & CallEvent)
  | ({ type: 'stored' } & CallEvent)
  | ({ type: 'collapsed'; wait: number; remote: boolean } & CallEvent)
  | ({ type: 'uncached' } & CallEvent)
  | ({ type: 'stale' } & CallEvent)
  | ({ type: 'timeout'; timeout: number } & CallEvent)
  | ({ type: 'failed'; error: unknown } & CallEvent)
  | { type: 'takeover'; tag: string; id: string }
  | { type: 'remoteFailure'; tag: string; id: string; message: string }
  | { type: 'renewed'; tag: string; id: string; lockTimeout: number }
  | { type: 'renewLost'; tag: string; id: string }
  | { type: 'redisUnavailable'; reason: string }
  | { type: 'redisBack' }
  | { type: 'subscriberLost'; reason: string }
  | { type: 'subscriberEnded' }
  | { type: 'subscriberBack' };

export type MemoLockEventType = MemoLockEvent['type'];

/** The event of type `K`. */
export type MemoLockEventOf<K extends MemoLockEventType> = Extract<MemoLockEvent, { type: K }>;

/** The types of every event, in the order of {@link MemoLockEvent}'s list. */
export const MEMOLOCK_EVENT_TYPES: readonly MemoLockEventType[] = [
  'hit',
  'stored',
  'collapsed',
  'uncached',
  'stale',
  'timeout',
  'failed',
  'takeover',
  'remoteFailure',
  'renewed',
  'renewLost',
  'redisUnavailable',
  'redisBack',
  'subscriberLost',
  'subscriberEnded',
  'subscriberBack',
];

type Listener = (event: MemoLockEvent) => void;

function assertListener(listener: unknown): void {
  if (typeof listener !== 'function') {
    throw new MemoLockArgumentError(
      'listener',
      Messages.invalidArgument('listener', 'expected a function', listener),
    );
  }
}

/**
 * An engine's events (`engine.events`). A listener that throws is reported as a process warning and does not
 * reach the call or the engine.
 *
 * @example
 * const stop = engine.events.on('collapsed', ({ tag, wait, remote }) => log(tag, wait, remote));
 * const stopAll = engine.events.subscribe((event) => metrics.count(event.type));
 * stop(); // no more calls of that listener
 */
export class MemoLockEvents {
  #listeners: readonly Listener[] = [];
  /** Read by the engine before it builds an event: false, and nothing is built. */
  listening = false;

  /** Calls `listener` with every event; returns what unsubscribes it. */
  subscribe(listener: (event: MemoLockEvent) => void): () => void {
    assertListener(listener);
    // A new array each time: an emit under way keeps the list it started with.
    this.#listeners = [...this.#listeners, listener];
    this.listening = true;
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#listeners = this.#listeners.filter((l) => l !== listener);
      this.listening = this.#listeners.length > 0;
    };
  }

  /** Calls `listener` with every event of type `type`; returns what unsubscribes it. */
  on<K extends MemoLockEventType>(type: K, listener: (event: MemoLockEventOf<K>) => void): () => void {
    if (!MEMOLOCK_EVENT_TYPES.includes(type)) {
      const expected = `one of ${MEMOLOCK_EVENT_TYPES.join(', ')}`;
      throw new MemoLockArgumentError('type', Messages.invalidArgument('type', expected, type));
    }
    assertListener(listener);
    return this.subscribe((event) => {
      if (event.type === type) listener(event as MemoLockEventOf<K>);
    });
  }

  /** @internal Sends `event` to every listener. Check {@link listening} first. */
  emit(event: MemoLockEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        process.emitWarning(Messages.listenerFailed(event.type, reason), {
          code: 'NESTJS_MEMOLOCK_LISTENER',
        });
      }
    }
  }
}
