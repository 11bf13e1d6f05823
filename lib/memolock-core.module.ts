/**
 * The part of MemoLock that must start first: a global module holding the explorer (which has Nest
 * initialize this module before every other, see `memolock.explorer.ts`) and the registry of what was
 * decorated. `MemoLockModule` imports it; applications never do.
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
