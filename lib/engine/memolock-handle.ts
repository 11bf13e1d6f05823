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
} from './memolock-engine.interface';
import type { ResolvedTagOptions } from './resource-codec';
import { assertDuration, assertFunction, assertId, MAX_TIMER_MS } from './validation';

/** What the handle's calls need in order to run. */
export type HandleWork =
  | { kind: 'compute'; compute: RenewableComputation<unknown> }
  | { kind: 'external'; start: ExternalComputation };

/** What an engine resolves a call's flight with. */
export interface Obtained {
  value: unknown;
  status: MemoLockStatus;
}

/** The engine behind a handle. */
export interface MemoLockBackend {
  obtain(tag: ResolvedTagOptions, id: string, timeout: number, work: HandleWork): Promise<Obtained>;
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

  async getResource<V extends T = T>(id: string, timeout: number, compute: Computation<V>): Promise<V> {
    const work: HandleWork = { kind: 'compute', compute: () => compute() };
    return (await this.#obtain(id, timeout, 'compute', compute, work)).value as V;
  }

  async getResourceRenewable<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
  ): Promise<V> {
    return (await this.#obtain(id, timeout, 'compute', compute, { kind: 'compute', compute })).value as V;
  }

  async getResourceExternal<V extends T = T>(
    id: string,
    timeout: number,
    start: ExternalComputation,
  ): Promise<V> {
    return (await this.#obtain(id, timeout, 'start', start, { kind: 'external', start })).value as V;
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
    const { value, status } = await this.#obtain(id, timeout, 'compute', compute, {
      kind: 'compute',
      compute: own,
    });
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

  async #obtain(
    id: string,
    timeout: number,
    fnName: string,
    fn: unknown,
    work: HandleWork,
  ): Promise<Obtained> {
    assertId(id);
    assertDuration('timeout', timeout, MAX_TIMER_MS);
    assertFunction(fnName, fn);
    return this.#backend.obtain(this.#options, id, Math.ceil(timeout), work);
  }
}
