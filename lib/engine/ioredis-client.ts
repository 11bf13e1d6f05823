/**
 * The Redis client this package accepts from its users: an ioredis `Redis` or `Cluster`, of ioredis 5 or 6.
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * An ioredis `Redis` (standalone or Sentinel) or `Cluster`, of ioredis 5 or 6, as `RedisMemoLockEngine` and
 * `MemoLockModule` accept it.
 *
 * Structural on purpose: ioredis's classes have private members, so TypeScript treats them nominally and
 * would refuse a client made by another copy of ioredis than the one these types resolve to (another major,
 * a second install), or an ioredis 6 client with another reply mapping (`Redis<"resp3">`; a plain `Redis`
 * there is `Redis<"legacy">`). What is checked here is what the engine checks at run time.
 *
 * @example
 * import { Redis } from 'ioredis'; // 5 or 6
 * const engine = new RedisMemoLockEngine({ client: new Redis(process.env.REDIS_URL) });
 */
export interface IoRedisClient {
  readonly status: string;
  readonly isCluster: boolean;
  get(key: string): Promise<string | null>;
  duplicate(): unknown;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
}

/**
 * The engine is written against ioredis 6's types; an ioredis 5 client has the same methods at run time
 * (the compatibility matrix runs the package on both majors).
 */
export function asIoRedis(client: IoRedisClient): Redis | Cluster {
  return client as unknown as Redis | Cluster;
}
