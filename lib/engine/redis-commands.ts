/**
 * The engine's Lua scripts, defined on the client with ioredis's `defineCommand`: sent once as EVAL, then
 * called by SHA (and re-sent by ioredis itself after a SCRIPT FLUSH or a failover). All but three touch one
 * key only, so that they run on a Redis Cluster too; READ_OR_LOCK, STORE_AND_RELEASE and
 * STORE_FRESH_AND_RELEASE touch the value and the lock (and the record and stale copy), which live in
 * different slots there (SPEC §2's names share no hash tag), and serve standalone Redis only.
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

/**
 * The miss path's one round trip (SPEC §2, steps 1 to 3 at once): the value if `T:I` holds one; else the lock
 * (`SET T/lock:I <token> NX PX <lockTimeout>`) if it is free; else how long the holder's lease has left.
 * Atomic, so that "no value and the lock is free" and "taken" are the same instant: a holder never computes
 * a value that was stored between its read and its lock. KEYS: value, lock. ARGV: token, lockTimeout ms.
 * Returns `{'value', <value>}`, `{'locked'}` or `{'held', <PTTL of the lock>}`. A value key holding another
 * type reads as a miss, as MGET says (see STORE_AND_RELEASE). Only GET, SET and PTTL run inside: the ACL
 * rules a tag needs stay the same.
 */
const READ_OR_LOCK = `
local value = redis.pcall('GET', KEYS[1])
if type(value) == 'string' then
  return {'value', value}
end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then
  return {'locked'}
end
return {'held', redis.call('PTTL', KEYS[2])}`;

/**
 * A store script: the value and its notification, `extra` (more writes), then the lock's release, unless the
 * value key holds another type (nothing is written then). KEYS[1] value, KEYS[2] lock; ARGV[1] value, ARGV[2]
 * ttl ms, ARGV[3] channel, ARGV[4] token.
 */
function storeScript(extra: string): string {
  return `
local current = redis.pcall('GET', KEYS[1])
if type(current) == 'table' and current.err then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])${extra}
if redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
return 1`;
}

/**
 * The holder's store on a standalone Redis, in one round trip: the value with its TTL and its notification
 * together (no reader sees one without the other), then the lock released only if it still holds the
 * holder's token. KEYS: value, lock. ARGV: value, ttl ms, channel, token. Returns 1, or 0 without writing
 * anything when the value key holds something other than a string (GET fails with WRONGTYPE): that is no
 * value of ours (MGET reads it as a miss), and it is not overwritten. (GET rather than TYPE: ACL users have
 * it already, and the holder stores after a miss, so there is rarely a value to copy.)
 */
const STORE_AND_RELEASE = storeScript('');

/**
 * STORE_AND_RELEASE for a tag with freshness options: also the value's record (`T/meta:I`) and, with a grace,
 * its stale copy (`T/stale:I`: the record, the grace and the value; an older copy is dropped without one),
 * both for ttl + grace. `T:I` and the channel get exactly what STORE_AND_RELEASE gives them. KEYS: value, lock, meta,
 * stale. ARGV: value, ttl ms, channel, token, record, ttl + grace ms, '1' to keep a stale copy.
 */
const STORE_FRESH_AND_RELEASE = storeScript(`
redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6])
if ARGV[7] == '1' then
  redis.call('SET', KEYS[4], ARGV[5] .. '\\n' .. (ARGV[6] - ARGV[2]) .. '\\n' .. ARGV[1], 'PX', ARGV[6])
else
  redis.call('DEL', KEYS[4])
end`);

/**
 * Deletes a record (`T/meta:I`) or a stale copy (`T/stale:I`) only if it is still the one of record ARGV[1]:
 * the cleanup after a reader found that `T:I` holds a value the record does not describe, which must not
 * delete a newer record written meanwhile. 1 if deleted.
 */
const DROP_RECORD = `
local current = redis.pcall('GET', KEYS[1])
if type(current) ~= 'string' then
  return 0
end
if current == ARGV[1] or string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * A stale copy (`T/stale:I`) and what is left of its ttl, read together: a `PTTL` sent apart could describe a
 * copy written between the two reads. KEYS: the stale copy. Returns { value or false, PTTL }.
 */
const READ_STALE = `
local value = redis.pcall('GET', KEYS[1])
if type(value) ~= 'string' then
  return { false, -2 }
end
return { value, redis.call('PTTL', KEYS[1]) }`;

/** What READ_OR_LOCK answers. */
export type ReadOrLockReply = ['value', string] | ['locked'] | ['held', number];

export interface MemoLockCommands {
  memolockReadOrLock(
    valueKey: string,
    lockKey: string,
    token: string,
    lockTimeout: number,
  ): Promise<ReadOrLockReply>;
  memolockRelease(lockKey: string, token: string): Promise<number>;
  memolockRenew(lockKey: string, token: string, ms: number): Promise<number>;
  memolockFail(lockKey: string, token: string, failChannel: string, payload: string): Promise<number>;
  memolockStoreAndRelease(
    valueKey: string,
    lockKey: string,
    encoded: string,
    ttl: number,
    channel: string,
    token: string,
  ): Promise<number>;
  memolockStoreFreshAndRelease(
    valueKey: string,
    lockKey: string,
    metaKey: string,
    staleKey: string,
    encoded: string,
    ttl: number,
    channel: string,
    token: string,
    record: string,
    extrasTtl: number,
    keepStale: '1' | '0',
  ): Promise<number>;
  memolockDropRecord(key: string, record: string): Promise<number>;
  memolockReadStale(staleKey: string): Promise<[string | null, number]>;
}

export type MemoLockClient = (Redis | Cluster) & MemoLockCommands;

const SCRIPTS: Record<keyof MemoLockCommands, { numberOfKeys: number; lua: string }> = {
  memolockReadOrLock: { numberOfKeys: 2, lua: READ_OR_LOCK },
  memolockRelease: { numberOfKeys: 1, lua: RELEASE },
  memolockRenew: { numberOfKeys: 1, lua: RENEW },
  memolockFail: { numberOfKeys: 1, lua: FAIL },
  memolockStoreAndRelease: { numberOfKeys: 2, lua: STORE_AND_RELEASE },
  memolockStoreFreshAndRelease: { numberOfKeys: 4, lua: STORE_FRESH_AND_RELEASE },
  memolockDropRecord: { numberOfKeys: 1, lua: DROP_RECORD },
  memolockReadStale: { numberOfKeys: 1, lua: READ_STALE },
};

/** Defines the scripts on `client` (idempotent) and returns it typed with them. */
export function defineMemoLockCommands(client: Redis | Cluster): MemoLockClient {
  for (const [name, definition] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function')
      client.defineCommand(name, definition);
  }
  return client as MemoLockClient;
}
