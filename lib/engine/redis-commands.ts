/**
 * The engine's Lua scripts, defined on the client with ioredis's `defineCommand`: sent once as EVAL, then
 * called by SHA (and re-sent by ioredis itself after a SCRIPT FLUSH or a failover). Each touches the lock key
 * only, so that every one of them runs on a Redis Cluster too.
 */
import type { Cluster, Redis } from 'ioredis';

/** Deletes the lock only if it still holds the caller's token. 1 if deleted. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Extends the lock to ARGV[2] ms only if it still holds the caller's token. 1 if extended. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/**
 * Releases the lock and announces the failure on ARGV[2], only if the caller still holds it: a holder whose
 * lease ran out must not fail the waiters of whoever took over.
 */
const FAIL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`;

export interface MemoLockCommands {
  memolockRelease(lockKey: string, token: string): Promise<number>;
  memolockRenew(lockKey: string, token: string, ms: number): Promise<number>;
  memolockFail(lockKey: string, token: string, failChannel: string, payload: string): Promise<number>;
}

export type MemoLockClient = (Redis | Cluster) & MemoLockCommands;

/** Defines the scripts on `client` (idempotent) and returns it typed with them. */
export function defineMemoLockCommands(client: Redis | Cluster): MemoLockClient {
  const c = client as MemoLockClient;
  if (typeof c.memolockRelease !== 'function')
    client.defineCommand('memolockRelease', { numberOfKeys: 1, lua: RELEASE });
  if (typeof c.memolockRenew !== 'function')
    client.defineCommand('memolockRenew', { numberOfKeys: 1, lua: RENEW });
  if (typeof c.memolockFail !== 'function')
    client.defineCommand('memolockFail', { numberOfKeys: 1, lua: FAIL });
  return c;
}
