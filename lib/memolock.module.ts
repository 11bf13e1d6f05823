import {
  type BeforeApplicationShutdown,
  Inject,
  Logger,
  Module,
  type NestModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_INTERCEPTOR, ModuleRef } from '@nestjs/core';
import { MemoLockEngine } from './engine/memolock-engine.interface';
import { MEMOLOCK_CONNECTION } from './memolock.constants';
import { MemoLockCoreModule } from './memolock-core.module';
import { MemoLockEventForwarder } from './memolock-event-forwarder';
import { MemoLockInterceptor } from './memolock.interceptor';
import { Messages } from './memolock.messages';
import { moveSerializersInside } from './memolock-serializer-order';
import { ConfigurableMemoLockModule } from './memolock.module-definition';
import { closeConnection, type MemoLockConnection, memoLockProviders } from './memolock.providers';
import { MemoLockService } from './memolock.service';

/**
 * MemoLock for a Nest application: the engine (injectable as `MemoLockEngine`), `MemoLockService`,
 * `@MemoLocked` on provider methods (wrapped at bootstrap) and controller handlers (through the globally
 * registered `MemoLockInterceptor`).
 *
 * @example
 * @Module({ imports: [MemoLockModule.forRoot({ redis: 'redis://127.0.0.1:6379', isGlobal: true })] })
 * export class AppModule {}
 *
 * @example
 * MemoLockModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ redis: config.getOrThrow('REDIS_URL'), lockTimeout: 5_000 }),
 * })
 */
@Module({
  imports: [MemoLockCoreModule],
  providers: [
    ...memoLockProviders,
    MemoLockService,
    MemoLockInterceptor,
    MemoLockEventForwarder,
    { provide: APP_INTERCEPTOR, useExisting: MemoLockInterceptor },
  ],
  exports: [MemoLockService, MemoLockEngine, MemoLockInterceptor],
})
export class MemoLockModule
  extends ConfigurableMemoLockModule
  implements NestModule, BeforeApplicationShutdown, OnApplicationShutdown
{
  constructor(
    @Inject(MemoLockEngine) private readonly engine: MemoLockEngine,
    @Inject(MEMOLOCK_CONNECTION) private readonly connection: MemoLockConnection,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(MemoLockInterceptor) private readonly interceptor: MemoLockInterceptor,
  ) {
    super();
  }

  /** Runs after `app.useGlobalInterceptors()` and before Nest registers routes: see memolock-serializer-order.ts. */
  configure(): void {
    if (moveSerializersInside(this.moduleRef, this.interceptor).verified) return;
    new Logger('MemoLock').warn(Messages.serializerOrderUnknown());
    this.interceptor.shareNoClassInstances();
  }

  /** Pending calls reject with `MemoLockClosedError` before the HTTP server waits for their requests. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.engine.close();
  }

  /** A connection the module opened is closed; one passed in is left to its owner. */
  async onApplicationShutdown(): Promise<void> {
    await closeConnection(this.connection);
  }
}
