/**
 * The per-tag handle both engines return: validates each call's arguments before anything reaches the
 * engine (so bad input writes nothing), then hands the work over.
 */
import type {
  Computation,
  ExternalComputation,
  MemoLockHandle,
  MemoLockOutcome,
  MemoLockStatus,
  RenewableComputation,
  RenewLock,
} from './memolock-engine.interface';
import type { ResolvedTagOptions } from './resource-codec';
import { assertDuration, assertFunction, assertId, MAX_TIMER_MS } from './validation';

/**
 * What the handle's calls need in order to run. `'compute'` is called without an argument (a computation may
 * take an optional parameter of its own), `'renewable'` with `renew`.
 */
export type HandleWork =
  | { kind: 'compute'; compute: Computation<unknown> }
  | { kind: 'renewable'; compute: RenewableComputation<unknown> }
  | { kind: 'external'; start: ExternalComputation };

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
  ): Promise<unknown>;
  invalidate(tag: ResolvedTagOptions, id: string): Promise<void>;
  invalidateAll(tag: ResolvedTagOptions): Promise<number>;
}

export class MemoLockTagHandle<T> implements MemoLockHandle<T> {
  readonly #backend: MemoLockBackend;
  readonly #options: ResolvedTagOptions;

  constructor(backend: MemoLockBackend, options: ResolvedTagOptions) {
    this.#backend = backend;
    this.#options = options;
  }

  get tag(): string {
    return this.#options.tag;
  }

  get lockTimeout(): number {
    return this.#options.lockTimeout;
  }

  // The callers get their value straight from their flight: no async function, no promise in between.
  getResource<V extends T = T>(id: string, timeout: number, compute: Computation<V>): Promise<V> {
    const work: HandleWork = { kind: 'compute', compute };
    return this.#obtain(id, timeout, 'compute', compute, work, false) as Promise<V>;
  }

  getResourceRenewable<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
  ): Promise<V> {
    const work: HandleWork = { kind: 'renewable', compute };
    return this.#obtain(id, timeout, 'compute', compute, work, false) as Promise<V>;
  }

  getResourceExternal<V extends T = T>(id: string, timeout: number, start: ExternalComputation): Promise<V> {
    const work: HandleWork = { kind: 'external', start };
    return this.#obtain(id, timeout, 'start', start, work, false) as Promise<V>;
  }

  async getResourceWithStatus<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
  ): Promise<MemoLockOutcome<V>> {
    let ran = false;
    const own: RenewableComputation<V> = (renew) => {
      ran = true;
      return compute(renew);
    };
    const work: HandleWork = { kind: 'renewable', compute: own };
    const { value, status } = (await this.#obtain(id, timeout, 'compute', compute, work, true)) as Obtained;
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
  ): Promise<unknown> {
    try {
      assertId(id);
      assertDuration('timeout', timeout, MAX_TIMER_MS);
      assertFunction(fnName, fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#backend.obtain(this.#options, id, Math.ceil(timeout), work, withStatus);
  }
}
