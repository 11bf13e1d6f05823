export * from './errors';
export type {
  ComputedResource,
  Computation,
  EarlyRefreshOptions,
  ExternalComputation,
  MemoLockBehaviourOptions,
  MemoLockCallOptions,
  MemoLockFreshnessOptions,
  MemoLockHandle,
  MemoLockHealth,
  MemoLockLogger,
  MemoLockOptions,
  MemoLockOutcome,
  MemoLockStatus,
  OnComputeError,
  OnRedisError,
  RenewableComputation,
  RenewLock,
  SerializerOption,
} from './engine/memolock-engine.interface';
export { MemoLockEngine } from './engine/memolock-engine.interface';
export {
  MEMOLOCK_EVENT_TYPES,
  type MemoLockEvent,
  type MemoLockEventOf,
  MemoLockEvents,
  type MemoLockEventType,
} from './engine/memolock-events';
export { type MemoLockSerializer, jsonSerializer, rawSerializer } from './engine/serializer';
export { resourceNames, type ResourceNames } from './engine/protocol';
export { RedisMemoLockEngine, type RedisMemoLockEngineOptions } from './engine/redis-memolock.engine';
export type { IoRedisClient } from './engine/ioredis-client';
export type { L1Options } from './engine/l1-cache';
export {
  InMemoryMemoLockEngine,
  type InMemoryMemoLockEngineOptions,
} from './engine/in-memory-memolock.engine';
export { MemoLockModule } from './memolock.module';
export { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
export type { MemoLockModuleOptions } from './memolock-module-options.interface';
export {
  MemoLockService,
  type MemoLockServiceOptions,
  type MethodName,
  type RouteRequest,
} from './memolock.service';
export type { MemoizedResponse } from './memolock-response';
export { MemoLocked, type MemoLockedOptions } from './memo-locked.decorator';
export { MemoLockInterceptor } from './memolock.interceptor';
