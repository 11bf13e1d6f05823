/**
 * Bounds every Redis command the engine sends. A client with ioredis defaults can hold a command for over a
 * minute while it reconnects; the engine fails fast when the client says it is down, and otherwise gives
 * each command `commandTimeout` ms.
 */
import type { Cluster, Redis } from 'ioredis';
import { Messages } from '../memolock.messages';

/** A Redis command failed or did not answer in time. Internal: callers see it per `onRedisError`. */
export class RedisUnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RedisUnavailableError';
  }
}

const DOWN_STATUSES = new Set(['close', 'reconnecting', 'end', 'disconnecting']);

/** Resolves or rejects as `promise` does, or rejects with `RedisUnavailableError` after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, command: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RedisUnavailableError(Messages.redisCommandTimeout(command, ms))),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          error instanceof RedisUnavailableError
            ? error
            : new RedisUnavailableError(String((error as Error)?.message ?? error), error),
        );
      },
    );
  });
}

/** Runs `send` on `client` unless the client is known to be down, bounded by `ms`. */
export function callRedis<T>(
  client: Redis | Cluster,
  ms: number,
  command: string,
  send: () => Promise<T>,
): Promise<T> {
  if (DOWN_STATUSES.has(client.status)) {
    return Promise.reject(new RedisUnavailableError(Messages.redisNotConnected(client.status)));
  }
  return withDeadline(send(), ms, command);
}

/**
 * Closes a connection this package opened: QUIT when it is up (bounded by `ms`), otherwise drop it. Never
 * twice: ioredis's disconnect() arms a timer (`disconnectTimeout`) that only the socket's close clears, so
 * on a connection already ended it would hold the process for that long.
 */
export async function closeClient(client: Redis | Cluster, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready')
    await withDeadline(client.quit(), ms, 'QUIT').catch(() => client.disconnect());
  else client.disconnect();
}
