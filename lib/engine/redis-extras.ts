/**
 * The Redis commands on what a tag with freshness options keeps beside `T:I` (see freshness-record.ts): the
 * stale copy and fail-safe's pause as a flight reads them, the check a refresh makes once it holds the lock,
 * the records that no longer describe `T:I`, an invalidation that drops everything. On a cluster these names
 * hash to other slots than `T:I` and the lock: nothing here touches two of them in one command.
 */
import type { Freshness } from './freshness';
import { describes, type FreshnessRecord, parseStaleCopy, type StaleCopy } from './freshness-record';
import { extrasOf } from './lock-holder';
import type { ResourceNames } from './protocol';
import type { RedisLink } from './redis-call';
import { writeExtras } from './redis-lock';

/**
 * The stale copy (when there is a readable one), what is left of its own ttl (`PTTL`, by Redis's clock: how
 * long ago its value expired, see {@link staleCopyAge}) and whether fail-safe's pause is on.
 */
export async function readStale(link: RedisLink, names: ResourceNames) {
  const { client } = link;
  const [[copy, left], throttle] = await Promise.all([
    link.call('EVALSHA', () => client.memolockReadWithTtl(names.staleKey)),
    link.call('GET', () => client.get(names.throttleKey)),
  ]);
  return { copy: parseStaleCopy(copy), left, throttled: throttle !== null };
}

/**
 * How long ago (ms) the value of a stale copy expired, by Redis's clock alone: the copy was stored for the
 * value's ttl + its grace, so with `left` ms of it left, the value's ttl ended `grace - left` ms ago (negative:
 * it has not ended yet). `undefined` when the copy is gone (`left` -2) or has no expiry (-1: not ours). The
 * hosts' wall clocks play no part: a writer whose clock runs ahead makes no reader take an expired value for a
 * deleted one.
 */
export function staleCopyAge(copy: StaleCopy, left: number): number | undefined {
  return left < 0 ? undefined : copy.grace - left;
}

/**
 * What a refresh finds once it holds the lock: `'go'` (its record still describes the value, nobody paused
 * attempts), `'throttled'` (a recomputation failed a moment ago: no attempt now) or `'changed'` (a newer
 * value was stored meanwhile, or the record is gone).
 */
export async function checkBeforeRefresh(
  link: RedisLink,
  names: ResourceNames,
  record: string,
): Promise<'go' | 'throttled' | 'changed'> {
  const [current, throttle] = await link.getMany([names.metaKey, names.throttleKey]);
  if (throttle !== null) return 'throttled';
  return current === record ? 'go' : 'changed';
}

/**
 * Drops the record and stale copy of `record`, found beside a `T:I` it does not describe: a value written by
 * a Go peer, an external program or a handle without freshness options, or no value at all before the
 * value's ttl ended by Redis's clock (someone deleted it: see {@link staleCopyAge}). Else that older stale copy would be served later. Each key goes
 * only if it still holds that record (DROP_RECORD), so that a newer one written meanwhile stays.
 *
 * On standalone Redis the record and the value were read by one MGET, and stores write both in one script:
 * what was read is conclusive. On a cluster they were read side by side from two nodes, and a writer stores
 * the value before its record: the record is read again first, then the value, so that the record read is
 * never newer than the value read after it.
 */
export async function dropForeignRecord(
  link: RedisLink,
  names: ResourceNames,
  record: FreshnessRecord,
): Promise<void> {
  const { client } = link;
  if (client.isCluster) {
    const current = await link.call('GET', () => client.get(names.metaKey));
    if (current !== record.text) return; // gone, or replaced: nothing of this record left to drop
    const raw = await link.call('GET', () => client.get(names.valueKey));
    // Callers drop a record whose value is gone only once Redis's clock says it went before its ttl ended.
    const foreign = raw === null || !describes(record, raw);
    if (!foreign) return;
  }
  await Promise.all(
    [names.staleKey, names.metaKey].map((key) =>
      link.call('EVALSHA', () => client.memolockDropRecord(key, record.text)),
    ),
  );
}

/**
 * The record and stale copy of a value another program stored for our `getResourceExternal` (it wrote `T:I`
 * with a ttl of its choosing): read that ttl, and record the value as if this process had stored it, `delta`
 * being how long the program took.
 */
export async function recordExternalValue(
  link: RedisLink,
  names: ResourceNames,
  raw: string,
  freshness: Freshness,
  delta: number,
): Promise<void> {
  const ttl = await link.call('PTTL', () => link.client.pttl(names.valueKey));
  if (ttl <= 0) return; // gone already, or stored without expiry: no expiry to refresh before
  await writeExtras(link, names, raw, extrasOf(freshness, raw, ttl, delta));
}

/**
 * `invalidate(id)`: the value, its record and its stale copy (whatever options stored them). One DEL on
 * standalone Redis; on a cluster the stale copy and record first, so that no reader finds the value gone and
 * its stale copy still there.
 */
export async function deleteResource(link: RedisLink, names: ResourceNames): Promise<void> {
  const { client } = link;
  const { valueKey, metaKey, staleKey } = names;
  if (!client.isCluster) {
    await link.call('DEL', () => client.del(staleKey, metaKey, valueKey));
    return;
  }
  await Promise.all([
    link.call('DEL', () => client.del(staleKey)),
    link.call('DEL', () => client.del(metaKey)),
  ]);
  await link.call('DEL', () => client.del(valueKey));
}
