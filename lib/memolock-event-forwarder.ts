/**
 * Forwards the engine's events to `@nestjs/event-emitter` when the application has it (its `EventEmitter2`
 * found through the ModuleRef), as `memolock.<type>` (`memolock.collapsed`, `memolock.redisUnavailable`…),
 * so that `@OnEvent('memolock.*')` handlers receive them. The package is loaded only to find its token, and
 * only when present: nothing requires it.
 */
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { MemoLockEngine } from './engine/memolock-engine.interface';
import { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';

/** The part of EventEmitter2 used here. */
interface Emitter {
  emit(event: string, ...values: unknown[]): unknown;
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

@Injectable()
export class MemoLockEventForwarder implements OnModuleInit, OnApplicationShutdown {
  #unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(MemoLockEngine) private readonly engine: MemoLockEngine,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(MEMOLOCK_MODULE_OPTIONS) private readonly options: MemoLockModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.options.eventEmitter === false) return;
    const emitter = await findEventEmitter(this.moduleRef);
    if (!emitter) return;
    this.#unsubscribe = this.engine.events.subscribe((event) =>
      emitter.emit(`memolock.${event.type}`, event),
    );
  }

  onApplicationShutdown(): void {
    this.#unsubscribe?.();
  }
}
