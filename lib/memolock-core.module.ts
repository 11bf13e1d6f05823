/**
 * The part of MemoLock that must start first: a global module (Nest initializes global modules before all
 * others, as `@nestjs/schedule` relies on) holding the explorer and the registry of what was decorated.
 * `MemoLockModule` imports it; applications never do.
 */
import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { MemoLockExplorer } from './memolock.explorer';
import { MemoLockRegistry } from './memolock.registry';

@Global()
@Module({
  imports: [DiscoveryModule],
  providers: [MemoLockRegistry, MemoLockExplorer],
  exports: [MemoLockRegistry, MemoLockExplorer],
})
export class MemoLockCoreModule {}
