/**
 * Forwards the engine's events to `@nestjs/event-emitter` when the application has it (its `EventEmitter2`
 * found through the ModuleRef), as `memolock.<type>` (`memolock.collapsed`, `memolock.redisUnavailable`…),
 * so that `@OnEvent('memolock.…')` handlers receive them. The package is loaded only to find its token, and
 * only when present: nothing requires it.
 *
 * Forwarding has every call report its outcome, which costs on the hit path; so by default it starts only
 * when the emitter has a handler for some MemoLock event once the application has bootstrapped (its
 * `@OnEvent` handlers are registered in its own bootstrap hook, hence the check on the next turn).
 */
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { MemoLockEngine } from './engine/memolock-engine.interface';
import { MEMOLOCK_EVENT_TYPES } from './engine/memolock-events';
import { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';

/** The part of EventEmitter2 used here. */
interface Emitter {
  emit(event: string, ...values: unknown[]): unknown;
  hasListeners?(event?: string): boolean;
}

/** The application's EventEmitter2, if it has `@nestjs/event-emitter`'s module. */
async function findEventEmitter(moduleRef: ModuleRef): Promise<Emitter | undefined> {
  let token: unknown;
  try {
    ({ EventEmitter2: token } = await import('@nestjs/event-emitter'));
  } catch {
    return undefined; // not installed
  }
  try {
    const emitter = moduleRef.get(token as new () => Emitter, { strict: false });
    return typeof emitter?.emit === 'function' ? emitter : undefined;
  } catch {
    return undefined; // installed, but its module is not imported
  }
}

/** Whether `emitter` has a handler for some MemoLock event (a wildcard one included). */
function listensToMemoLock(emitter: Emitter): boolean {
  if (typeof emitter.hasListeners !== 'function') return true;
  return MEMOLOCK_EVENT_TYPES.some((type) => emitter.hasListeners!(`memolock.${type}`));
}

@Injectable()
export class MemoLockEventForwarder implements OnApplicationBootstrap, OnApplicationShutdown {
  #unsubscribe: (() => void) | undefined;
  #check: NodeJS.Immediate | undefined;

  constructor(
    @Inject(MemoLockEngine) private readonly engine: MemoLockEngine,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(MEMOLOCK_MODULE_OPTIONS) private readonly options: MemoLockModuleOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const mode = this.options.eventEmitter;
    if (mode === false) return;
    const emitter = await findEventEmitter(this.moduleRef);
    if (!emitter) return;
    if (mode === true) return this.#forward(emitter);
    this.#check = setImmediate(() => {
      this.#check = undefined;
      if (listensToMemoLock(emitter)) this.#forward(emitter);
    });
  }

  onApplicationShutdown(): void {
    clearImmediate(this.#check);
    this.#unsubscribe?.();
  }

  #forward(emitter: Emitter): void {
    this.#unsubscribe = this.engine.events.subscribe((event) =>
      emitter.emit(`memolock.${event.type}`, event),
    );
  }
}
