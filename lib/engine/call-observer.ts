/**
 * What an engine reports of its calls and its state, as events ({@link MemoLockEvents}) and as OpenTelemetry
 * metrics and spans ({@link OtelInstruments}). Per-caller outcomes are derived where the handle already
 * knows them (the status its flight resolves with); what only a flight knows (a takeover, a remote failure,
 * a caller that starts waiting) comes through the few hooks below.
 *
 * Off (no listener, no SDK), a call costs one check of {@link watching}: nothing is timed, wrapped or built.
 */
import type { Attributes, Context } from '@opentelemetry/api';
import { MemoLockRenewError, MemoLockTimeoutError } from '../errors';
import type { Flight } from './flight';
import type { ComputedResource, MemoLockStatus, RenewLock } from './memolock-engine.interface';
import type { MemoLockEvent, MemoLockEvents } from './memolock-events';
import { type HandleWork, type Obtained, runComputation } from './memolock-handle';
import { OtelInstruments } from './otel-instruments';

/**
 * How often (ms) the global OpenTelemetry providers are looked up again, for every open engine: an SDK
 * registered after the engines were made (after `NestFactory.create`, say) is followed within this, however
 * few calls come. One timer for the process (unref'd), and none once every engine is closed; calls pay
 * nothing for it.
 */
const RECHECK_MS = 1_000;
const open = new Set<CallObserver>();
let recheck: ReturnType<typeof setInterval> | undefined;

function follow(observer: CallObserver): void {
  open.add(observer);
  if (recheck !== undefined) return;
  recheck = setInterval(() => {
    for (const each of open) each.refresh();
  }, RECHECK_MS);
  recheck.unref();
}

function unfollow(observer: CallObserver): void {
  open.delete(observer);
  if (open.size > 0 || recheck === undefined) return;
  clearInterval(recheck);
  recheck = undefined;
}

/** The outcomes a call is counted under: its status, or how it failed. */
export type CallOutcome = MemoLockStatus | 'timeout' | 'error';

export const ATTR_TAG = 'memolock.tag';
export const ATTR_OUTCOME = 'memolock.outcome';
export const ATTR_LOCK_HELD = 'memolock.lock_held';
export const ATTR_REMOTE = 'memolock.remote';

export class CallObserver {
  readonly events: MemoLockEvents;
  readonly #otel = new OtelInstruments();
  /** A `'collapsed'` status from the engine means the value came through Redis (not for the in-memory engine). */
  readonly #collapsedIsRemote: boolean;
  /** `renew` of a computation that runs without the lock (Redis unavailable): not a renewal. */
  readonly #lockless: RenewLock | undefined;
  /** Attribute sets, made once per tag and outcome (a bounded set: tags are a program's own names). */
  readonly #attributes = new Map<string, Attributes>();
  readonly #waiterGauges = new Map<string, (delta: number) => void>();

  constructor(events: MemoLockEvents, options: { collapsedIsRemote: boolean; lockless?: RenewLock }) {
    this.events = events;
    this.#collapsedIsRemote = options.collapsedIsRemote;
    this.#lockless = options.lockless;
    this.#otel.refresh();
    follow(this);
  }

  /** Whether calls are observed now: somebody listens, or an OpenTelemetry SDK is registered. */
  watching(): boolean {
    return this.events.listening || this.#otel.active;
  }

  /** Looks the global OpenTelemetry providers up again (an SDK registered or replaced since). */
  refresh(): void {
    this.#otel.refresh();
  }

  /** The engine is closed: its providers are no longer looked up. */
  close(): void {
    unfollow(this);
  }

  /**
   * Runs one call observed: `obtain` hands `work` (its function wrapped, to know whether this caller's ran)
   * to the engine with `withStatus`, and the result is reported, then given back as the caller asked for it.
   */
  call(
    tag: string,
    id: string,
    work: HandleWork,
    withStatus: boolean,
    obtain: (work: HandleWork) => Promise<unknown>,
  ): Promise<unknown> {
    const started = performance.now();
    const parent = this.#otel.activeContext();
    let ran = false;
    const onRun = () => {
      ran = true;
    };
    return obtain(this.#wrap(tag, id, work, parent, onRun)).then(
      (obtained) => {
        const { value, status: flightStatus } = obtained as Obtained;
        // A flight computes with its first caller's function: a caller coalesced onto it waited instead.
        const status = flightStatus === 'stored' && !ran ? 'collapsed' : flightStatus;
        const remote = flightStatus === 'collapsed' && this.#collapsedIsRemote;
        this.#ended(tag, id, status, started, parent, remote);
        return withStatus ? { value, status } : value;
      },
      (error: unknown) => {
        this.#failed(tag, id, error, started, parent);
        throw error;
      },
    );
  }

  /** Hook: `flight` missed; its callers, and those who join it, wait from now on. */
  missed(flight: Flight, tag: string): void {
    if (this.#otel.metrics) flight.countWaiters(this.#waiterGauge(tag));
  }

  /** Hook: a waiter found the holder's lock gone without a value, and goes for it itself. */
  takeover(tag: string, id: string): void {
    this.#otel.metrics?.takeovers.add(1, this.#attrs(tag));
    if (this.events.listening) this.events.emit({ type: 'takeover', tag, id });
  }

  /** Hook: the holder, in another process, published a failure. */
  remoteFailure(tag: string, id: string, message: string): void {
    if (this.events.listening) this.events.emit({ type: 'remoteFailure', tag, id, message });
  }

  #wrap(
    tag: string,
    id: string,
    work: HandleWork,
    parent: Context | undefined,
    onRun: () => void,
  ): HandleWork {
    if (work.kind === 'external') {
      const { start } = work;
      return {
        kind: 'external',
        bound: work.bound,
        start: () => {
          onRun();
          return start();
        },
      };
    }
    return {
      kind: 'renewable',
      bound: work.bound,
      compute: (renew) => {
        onRun();
        const held = renew !== this.#lockless;
        return this.#compute(tag, held, parent, () =>
          runComputation(work, held ? this.#renewing(tag, id, renew) : renew),
        );
      },
    };
  }

  /** A computation, timed, counted while it runs, and in a span (made current) under the caller's context. */
  #compute(
    tag: string,
    held: boolean,
    parent: Context | undefined,
    fn: () => ReturnType<typeof runComputation>,
  ): Promise<ComputedResource<unknown>> {
    const metrics = this.#otel.metrics;
    const started = performance.now();
    metrics?.computationsActive.add(1, this.#attrs(tag));
    const run = async (span?: Parameters<typeof OtelInstruments.failed>[0]) => {
      let outcome = 'error';
      try {
        const result = await fn();
        outcome = 'ok';
        return result;
      } catch (error) {
        if (span) OtelInstruments.failed(span, error);
        throw error;
      } finally {
        metrics?.computationsActive.add(-1, this.#attrs(tag));
        metrics?.computeDuration.record((performance.now() - started) / 1000, this.#attrs(tag, outcome));
        span?.setAttribute(ATTR_OUTCOME, outcome);
        span?.end();
      }
    };
    if (!this.#otel.tracer) return run();
    return this.#otel.inSpan('memolock.compute', parent, { [ATTR_TAG]: tag, [ATTR_LOCK_HELD]: held }, run);
  }

  /** The computation's `renew`, reporting each renewal. */
  #renewing(tag: string, id: string, renew: RenewLock): RenewLock {
    return (lockTimeout) =>
      renew(lockTimeout).then(
        () => {
          this.#otel.metrics?.renewals.add(1, this.#attrs(tag, 'ok'));
          if (this.events.listening) this.events.emit({ type: 'renewed', tag, id, lockTimeout });
        },
        (error: unknown) => {
          if (error instanceof MemoLockRenewError) {
            this.#otel.metrics?.renewals.add(1, this.#attrs(tag, 'lost'));
            if (this.events.listening) this.events.emit({ type: 'renewLost', tag, id });
          }
          throw error;
        },
      );
  }

  #ended(
    tag: string,
    id: string,
    status: MemoLockStatus,
    started: number,
    parent: Context | undefined,
    remote: boolean,
  ): void {
    const duration = performance.now() - started;
    const metrics = this.#otel.metrics;
    if (metrics) {
      const attributes = this.#attrs(tag, status);
      metrics.calls.add(1, attributes);
      if (status === 'collapsed') metrics.waitDuration.record(duration / 1000, attributes);
    }
    if (status === 'collapsed' && this.#otel.tracer) {
      this.#otel.pastSpan('memolock.wait', started, parent, {
        [ATTR_TAG]: tag,
        [ATTR_OUTCOME]: status,
        [ATTR_LOCK_HELD]: false,
        [ATTR_REMOTE]: remote,
      });
    }
    if (!this.events.listening) return;
    const event: MemoLockEvent =
      status === 'collapsed'
        ? { type: status, tag, id, duration, wait: duration, remote }
        : { type: status, tag, id, duration };
    this.events.emit(event);
  }

  #failed(tag: string, id: string, error: unknown, started: number, parent: Context | undefined): void {
    const duration = performance.now() - started;
    const timedOut = error instanceof MemoLockTimeoutError;
    const outcome: CallOutcome = timedOut ? 'timeout' : 'error';
    const metrics = this.#otel.metrics;
    if (metrics) {
      const attributes = this.#attrs(tag, outcome);
      metrics.calls.add(1, attributes);
      if (timedOut) metrics.waitDuration.record(duration / 1000, attributes);
    }
    if (timedOut && this.#otel.tracer) {
      this.#otel.pastSpan(
        'memolock.wait',
        started,
        parent,
        { [ATTR_TAG]: tag, [ATTR_OUTCOME]: outcome, [ATTR_LOCK_HELD]: false },
        error,
      );
    }
    if (!this.events.listening) return;
    this.events.emit(
      timedOut
        ? { type: 'timeout', tag, id, duration, timeout: error.timeout }
        : { type: 'failed', tag, id, duration, error },
    );
  }

  #attrs(tag: string, outcome?: string): Attributes {
    const key = outcome === undefined ? tag : `${tag}\n${outcome}`;
    let attributes = this.#attributes.get(key);
    if (!attributes) {
      attributes = outcome === undefined ? { [ATTR_TAG]: tag } : { [ATTR_TAG]: tag, [ATTR_OUTCOME]: outcome };
      this.#attributes.set(key, attributes);
    }
    return attributes;
  }

  #waiterGauge(tag: string): (delta: number) => void {
    let gauge = this.#waiterGauges.get(tag);
    if (!gauge) {
      const attributes = this.#attrs(tag);
      gauge = (delta) => this.#otel.metrics?.waitersActive.add(delta, attributes);
      this.#waiterGauges.set(tag, gauge);
    }
    return gauge;
  }
}
