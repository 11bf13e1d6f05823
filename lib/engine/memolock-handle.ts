/**
 * The per-tag handle both engines return: validates each call's arguments before anything reaches the
 * engine (so bad input writes nothing), then hands the work over.
 */
import type {
  Computation,
  ExternalComputation,
  MemoLockHandle,
  RenewableComputation,
} from './memolock-engine.interface';
import type { ResolvedTagOptions } from './resource-codec';
import { assertDuration, assertFunction, assertId, MAX_TIMER_MS } from './validation';

/** What the handle's calls need in order to run. */
export type HandleWork =
  | { kind: 'compute'; compute: RenewableComputation<unknown> }
  | { kind: 'external'; start: ExternalComputation };

/** The engine behind a handle. */
export interface MemoLockBackend {
  obtain(tag: ResolvedTagOptions, id: string, timeout: number, work: HandleWork): Promise<unknown>;
  invalidate(tag: ResolvedTagOptions, id: string): Promise<void>;
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

  getResource<V extends T = T>(id: string, timeout: number, compute: Computation<V>): Promise<V> {
    return this.#obtain(id, timeout, 'compute', compute, () => ({
      kind: 'compute',
      compute: () => compute(),
    }));
  }

  getResourceRenewable<V extends T = T>(
    id: string,
    timeout: number,
    compute: RenewableComputation<V>,
  ): Promise<V> {
    return this.#obtain(id, timeout, 'compute', compute, () => ({ kind: 'compute', compute }));
  }

  getResourceExternal<V extends T = T>(id: string, timeout: number, start: ExternalComputation): Promise<V> {
    return this.#obtain(id, timeout, 'start', start, () => ({ kind: 'external', start }));
  }

  async invalidate(id: string): Promise<void> {
    assertId(id);
    await this.#backend.invalidate(this.#options, id);
  }

  async #obtain<V>(
    id: string,
    timeout: number,
    fnName: string,
    fn: unknown,
    work: () => HandleWork,
  ): Promise<V> {
    assertId(id);
    assertDuration('timeout', timeout, MAX_TIMER_MS);
    assertFunction(fnName, fn);
    return (await this.#backend.obtain(this.#options, id, Math.ceil(timeout), work())) as V;
  }
}
