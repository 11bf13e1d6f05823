export * from './errors';
export type {
  ComputedResource,
  Computation,
  ExternalComputation,
  MemoLockBehaviourOptions,
  MemoLockEngine,
  MemoLockHandle,
  MemoLockOptions,
  MemoLockOutcome,
  MemoLockStatus,
  OnComputeError,
  OnRedisError,
  RenewableComputation,
  RenewLock,
  SerializerOption,
} from './engine/memolock-engine.interface';
export { type MemoLockSerializer, jsonSerializer, rawSerializer } from './engine/serializer';
export { resourceNames, type ResourceNames } from './engine/protocol';
export { RedisMemoLockEngine, type RedisMemoLockEngineOptions } from './engine/redis-memolock.engine';
export { InMemoryMemoLockEngine } from './engine/in-memory-memolock.engine';
