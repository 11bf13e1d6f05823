/**
 * The per-tag handle both engines return: validates each call's arguments before anything reaches the
 * engine (so bad input writes nothing), then hands the work over.
 */
import type {
  Computation,
  ExternalComputation,
  MemoLockCallOptions,
  MemoLockHandle,
  MemoLockOutcome,
  MemoLockStatus,
  RenewableComputation,
  RenewLock,
} from './memolock-engine.interface';
import type { CallObserver } from './call-observer';
import { type ResolvedTagOptions, withCallFreshness } from './resource-codec';
import {
  assertDuration,
  assertFreshnessOptions,
  assertFunction,
  assertId,
  assertSignal,
  MAX_TIMER_MS,
} from './validation';
import { MemoLockArgumentError } from '../errors';
import { Messages } from '../memolock.messages';

/**
 * What the handle's calls need in order to run. `'compute'` is called without an argument (a computation may
 * take an optional parameter of its own), `'renewable'` with `renew`. `bound`: the work belongs to its
 * caller's own context (an HTTP request's handler), so that caller waits for it rather than take a stale or
 * current value while it runs in the background.
 */
export type HandleWork =
  | { kind: 'compute'; compute: Computation<unknown>; bound: boolean }
  | { kind: 'renewable'; compute: RenewableComputation<unknown>; bound: boolean }
  | { kind: 'external'; start: ExternalComputation; bound: boolean };

/**
 * In a call's options, marks its work as bound to the caller (see {@link HandleWork}). Internal: the Nest
 * interceptor sets it for route handlers, whose response belongs to their request.
 */
export const BOUND_TO_CALLER = Symbol('nestjs-memolock.boundToCaller');

/** The per-call options the handle reads, the internal mark included. */
type CallOptions = MemoLockCallOptions & { [BOUND_TO_CALLER]?: boolean };

/** Per-call option sets kept per handle (made once, reused): beyond this many, the cache starts over. */
const MAX_CALL_OPTION_SETS = 64;

/** Runs the computation of `work` (which must not be external) with `renew` if it takes it. */
export function runComputation(
  work: Exclude<HandleWork, { kind: 'external' }>,
  renew: RenewLock,
): ReturnType<Computation<unknown>> {
  return work.kind === 'renewable' ? work.compute(renew) : work.compute();
}

/** What an engine resolves a call's flight with. */
export interface Obtained {
  value: unknown;
  status: MemoLockStatus;
}

/** The engine behind a handle. */
export interface MemoLockBackend {
  obtain(
    tag: ResolvedTagOptions,
    id: string,
    timeout: number,
    work: HandleWork,
    withStatus: boolean,
    signal: AbortSignal | undefined,
  ): Promise<unknown>;
  invalidate(tag: ResolvedTagOptions, id: string): Promise<void>;
  invalidateAll(tag: ResolvedTagOptions): Promise<number>;
}

export class MemoLockTagHandle<T> implements MemoLockHandle<T> {
  readonly #backend: MemoLockBackend;
  readonly #options: ResolvedTagOptions;
  readonly #observer: CallObserver | undefined;
  /** Options of calls that give freshness options of their own, by what they give. */
  readonly #perCall = new Map<string, ResolvedTagOptions>();

  constructor(backend: MemoLockBackend, options: ResolvedTagOptions, observer?: CallObserver) {
    this.#backend = backend;
    this.#options = options;
    this.#observer = observer;
  }

  get tag(): string {
    return this.#options.tag;
  }

  get lockTimeout(): number {
    return this.#options.lockTimeout;
  }

  // The callers get their value straight from their flight: no async function, no promise in between.
  getResource<V extends T = T>(
    id: string,
    timeout: number,
    compute: Computation<V>,
    options?: MemoLockCallOptions,
  ): Promise<V> {
    const work: HandleWork = { kind: 'compute', compute, bound: false };
    return this.#obtain(id, timeout, 'compute', compute, work, false, options) as Promise<V>;
  }

  getResourceRenewable<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
    options?: MemoLockCallOptions,
  ): Promise<V> {
    const work: HandleWork = { kind: 'renewable', compute, bound: false };
    return this.#obtain(id, timeout, 'compute', compute, work, false, options) as Promise<V>;
  }

  getResourceExternal<V extends T = T>(
    id: string,
    timeout: number,
    start: ExternalComputation,
    options?: MemoLockCallOptions,
  ): Promise<V> {
    const work: HandleWork = { kind: 'external', start, bound: false };
    return this.#obtain(id, timeout, 'start', start, work, false, options) as Promise<V>;
  }

  async getResourceWithStatus<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
    options?: MemoLockCallOptions,
  ): Promise<MemoLockOutcome<V>> {
    let ran = false;
    const own: RenewableComputation<V> = (renew) => {
      ran = true;
      return compute(renew);
    };
    const work: HandleWork = { kind: 'renewable', compute: own, bound: false };
    const { value, status } = (await this.#obtain(
      id,
      timeout,
      'compute',
      compute,
      work,
      true,
      options,
    )) as Obtained;
    // A flight computes with its first caller's function: a caller coalesced onto it waited instead.
    return { value: value as V, status: status === 'stored' && !ran ? 'collapsed' : status };
  }

  async invalidate(id: string): Promise<void> {
    assertId(id);
    await this.#backend.invalidate(this.#options, id);
  }

  invalidateAll(): Promise<number> {
    return this.#backend.invalidateAll(this.#options);
  }

  /** Validates the call (a bad argument rejects, and reaches no engine), then hands it over. */
  #obtain(
    id: string,
    timeout: number,
    fnName: string,
    fn: unknown,
    work: HandleWork,
    withStatus: boolean,
    options: CallOptions | undefined,
  ): Promise<unknown> {
    let tag = this.#options;
    let signal: AbortSignal | undefined;
    try {
      assertId(id);
      assertDuration('timeout', timeout, MAX_TIMER_MS);
      assertFunction(fnName, fn);
      if (options !== undefined) {
        ({ tag, signal } = this.#callOptions(options));
        if (options[BOUND_TO_CALLER] === true) work.bound = true;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // As fetch does: an aborted signal rejects with its reason, before anything is sent.
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Observed (a listener, or an OpenTelemetry SDK): every call asks for its status, to report it.
    if (this.#observer?.watching()) {
      return this.#observer.call(tag.tag, id, work, withStatus, (observed) =>
        this.#backend.obtain(tag, id, Math.ceil(timeout), observed, true, signal),
      );
    }
    return this.#backend.obtain(tag, id, Math.ceil(timeout), work, withStatus, signal);
  }

  /** Validates a call's options; its tag options, with its freshness options over the handle's. */
  #callOptions(options: CallOptions): { tag: ResolvedTagOptions; signal: AbortSignal | undefined } {
    if (typeof options !== 'object' || options === null) {
      throw new MemoLockArgumentError(
        'callOptions',
        Messages.invalidArgument('callOptions', 'expected an object such as { signal }', options),
      );
    }
    const { signal } = options;
    if (signal !== undefined) assertSignal('callOptions.signal', signal);
    const { grace, softTimeout, earlyRefresh, failSafeThrottle } = options;
    if (
      grace === undefined &&
      softTimeout === undefined &&
      earlyRefresh === undefined &&
      failSafeThrottle === undefined
    ) {
      return { tag: this.#options, signal };
    }
    assertFreshnessOptions(options, 'callOptions');
    const key = `${grace};${softTimeout};${earlyRefresh && (earlyRefresh.beta ?? 'default')};${failSafeThrottle}`;
    let tag = this.#perCall.get(key);
    if (!tag) {
      if (this.#perCall.size >= MAX_CALL_OPTION_SETS) this.#perCall.clear();
      tag = withCallFreshness(this.#options, options);
      this.#perCall.set(key, tag);
    }
    return { tag, signal };
  }
}
