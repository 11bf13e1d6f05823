/**
 * How the module turns its options into a Redis connection and an engine.
 */
import { Logger, type Provider } from '@nestjs/common';
import Redis, { type Cluster, type RedisOptions } from 'ioredis';
import { InMemoryMemoLockEngine } from './engine/in-memory-memolock.engine';
import { asIoRedis, type IoRedisClient } from './engine/ioredis-client';
import { MemoLockEngine } from './engine/memolock-engine.interface';
import { closeClient } from './engine/redis-call';
import { RedisMemoLockEngine } from './engine/redis-memolock.engine';
import { assertL1Options } from './engine/validation';
import { MemoLockArgumentError } from './errors';
import { MEMOLOCK_CONNECTION } from './memolock.constants';
import { describeEndpoint } from './memolock-endpoint';
import { Messages } from './memolock.messages';
import { MEMOLOCK_MODULE_OPTIONS } from './memolock.module-definition';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';

/** The module's connection: `owned` when the module opened it and so closes it on shutdown. */
export interface MemoLockConnection {
  client: Redis | Cluster | undefined;
  owned: boolean;
}

// ioredis defaults retry a command for up to ~74 s while Redis is down; one retry rejects in ~0.25 s.
/** How long shutdown waits for Redis to acknowledge QUIT before dropping the connection. */
const CLOSE_TIMEOUT_MS = 1_000;

const OPENED_CONNECTION_DEFAULTS: RedisOptions = {
  maxRetriesPerRequest: 1,
  connectionName: 'nestjs-memolock',
};

function isClient(value: unknown): value is IoRedisClient {
  return typeof value === 'object' && value !== null && typeof (value as Redis).duplicate === 'function';
}

export function openConnection(
  redis: MemoLockModuleOptions['redis'],
  closeGivenClient?: MemoLockModuleOptions['closeClient'],
): MemoLockConnection {
  if (closeGivenClient !== undefined && typeof closeGivenClient !== 'boolean') {
    throw new MemoLockArgumentError(
      'closeClient',
      Messages.invalidArgument('closeClient', 'expected a boolean', closeGivenClient),
    );
  }
  if (redis === 'memory') return { client: undefined, owned: false };
  if (isClient(redis)) return { client: asIoRedis(redis), owned: closeGivenClient === true };
  let client: Redis;
  if (typeof redis === 'string' && redis.length > 0) client = new Redis(redis, OPENED_CONNECTION_DEFAULTS);
  else if (typeof redis === 'object' && redis !== null)
    client = new Redis({ ...OPENED_CONNECTION_DEFAULTS, ...redis });
  else {
    throw new MemoLockArgumentError(
      'redis',
      Messages.invalidArgument(
        'redis',
        "expected a Redis URL, ioredis options, a Redis or Cluster instance, or 'memory'",
        redis,
      ),
    );
  }
  // Callers learn of failures through their calls (per onRedisError); without a listener ioredis would
  // print every reconnection attempt.
  client.on('error', () => undefined);
  return { client, owned: true };
}

/** Closes a connection the module opened (or was given with `closeClient`); others are left to their owner. */
export async function closeConnection({ client, owned }: MemoLockConnection): Promise<void> {
  if (client && owned) await closeClient(client, CLOSE_TIMEOUT_MS);
}

export const memoLockProviders: Provider[] = [
  {
    provide: MEMOLOCK_CONNECTION,
    useFactory: (options: MemoLockModuleOptions) => openConnection(options.redis, options.closeClient),
    inject: [MEMOLOCK_MODULE_OPTIONS],
  },
  {
    provide: MemoLockEngine,
    useFactory: (connection: MemoLockConnection, options: MemoLockModuleOptions): MemoLockEngine => {
      try {
        return createEngine(connection.client, options);
      } catch (error) {
        // A module that fails to build gets no shutdown hook: a connection it opened would stay open.
        if (connection.owned) connection.client?.disconnect();
        throw error;
      }
    },
    inject: [MEMOLOCK_CONNECTION, MEMOLOCK_MODULE_OPTIONS],
  },
];

/** The engine the options ask for, on the module's connection (`undefined`: `redis: 'memory'`). */
function createEngine(client: MemoLockConnection['client'], options: MemoLockModuleOptions): MemoLockEngine {
  const { serializer, onRedisError, onComputeError, maxValueBytes, commandTimeout, l1 } = options;
  const behaviour = { serializer, onRedisError, onComputeError, maxValueBytes };
  // Redis unavailable and back, subscriber lost and back: once per change, in the application's log.
  const logger = new Logger('MemoLock');
  if (client) {
    const engine = new RedisMemoLockEngine({ client, commandTimeout, logger, l1, ...behaviour });
    logger.log(Messages.startedRedis(describeEndpoint(client)));
    return engine;
  }
  if (l1 !== undefined) assertL1Options('options.l1', l1);
  const engine = new InMemoryMemoLockEngine({ ...behaviour, logger });
  logger.log(Messages.startedMemory());
  return engine;
}
