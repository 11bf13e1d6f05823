/**
 * What the engine knows of its connections, reported to its logger when it changes: Redis unavailable (a
 * command failed without an answer from Redis) and back (a command answered), the subscriber connection lost,
 * ended and back. Each change is logged once, never once per call, and emitted as an event (see
 * `memolock-events.ts`) when somebody listens.
 */
import { Messages } from '../memolock.messages';
import type { MemoLockLogger } from './memolock-engine.interface';
import type { MemoLockEvents } from './memolock-events';

export class ConnectionState {
  readonly #logger: MemoLockLogger;
  readonly #events: MemoLockEvents | undefined;
  #redisDown = false;
  #subscriber: 'up' | 'lost' | 'ended' = 'up';

  constructor(logger: MemoLockLogger, events?: MemoLockEvents) {
    this.#logger = logger;
    this.#events = events;
  }

  /** Redis answered a command (an error reply counts: Redis is there). Cheap on the hit path. */
  answered(): void {
    if (!this.#redisDown) return;
    this.#redisDown = false;
    this.#logger.log(Messages.redisBack());
    if (this.#events?.listening) this.#events.emit({ type: 'redisBack' });
  }

  /** A command got no answer: the connection is down, or the command timed out. */
  unanswered(reason: string): void {
    if (this.#redisDown) return;
    this.#redisDown = true;
    this.#logger.error(Messages.redisUnavailable(reason));
    if (this.#events?.listening) this.#events.emit({ type: 'redisUnavailable', reason });
  }

  subscriberLost(reason: string): void {
    if (this.#subscriber !== 'up') return;
    this.#subscriber = 'lost';
    this.#logger.warn(Messages.subscriberLost(reason));
    if (this.#events?.listening) this.#events.emit({ type: 'subscriberLost', reason });
  }

  /** The subscriber connection gave up reconnecting (said even when its loss was said already). */
  subscriberEnded(): void {
    if (this.#subscriber === 'ended') return;
    this.#subscriber = 'ended';
    this.#logger.warn(Messages.subscriberEnded());
    if (this.#events?.listening) this.#events.emit({ type: 'subscriberEnded' });
  }

  subscriberBack(): void {
    if (this.#subscriber === 'up') return;
    this.#subscriber = 'up';
    this.#logger.log(Messages.subscriberBack());
    if (this.#events?.listening) this.#events.emit({ type: 'subscriberBack' });
  }
}
