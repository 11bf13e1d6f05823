/**
 * Dropping every value of a tag (`T:*`) from Redis: SCAN (never KEYS, which blocks the server for as long
 * as it takes) over every master, deleting what each batch found. Locks (`T/lock:I`) and channels are left
 * alone: a computation under way still stores its value, as after `invalidate(id)`.
 */
import type { Cluster, Redis } from 'ioredis';
import { callRedis } from './redis-call';

/** Keys asked for per SCAN call: large enough to be quick, small enough to keep each call short. */
const SCAN_COUNT = 1_000;

/**
 * The SCAN pattern of a tag's values. Tags cannot hold `* ? [ ]` but may hold `\`, which SCAN's glob would
 * read as an escape: escape every special character so the pattern matches the tag literally.
 */
export function valuePattern(tag: string): string {
  return `${tag.replace(/[\\*?[\]]/g, '\\$&')}:*`;
}

/** Deletes every key matching the tag's value pattern on every master; resolves with how many it deleted. */
export async function deleteTagValues(
  client: Redis | Cluster,
  tag: string,
  commandTimeout: number,
): Promise<number> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const counts = await Promise.all(nodes.map((node) => deleteOnNode(node, tag, commandTimeout)));
  return counts.reduce((sum, n) => sum + n, 0);
}

async function deleteOnNode(node: Redis, tag: string, commandTimeout: number): Promise<number> {
  const pattern = valuePattern(tag);
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await callRedis(node, commandTimeout, 'SCAN', () =>
      node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
    );
    cursor = next;
    if (keys.length > 0) deleted += await deleteKeys(node, keys, commandTimeout);
  } while (cursor !== '0');
  return deleted;
}

/**
 * One DEL per key in a pipeline: on a cluster node a multi-key DEL is refused when its keys hash to
 * different slots, even slots that node owns.
 */
async function deleteKeys(node: Redis, keys: string[], commandTimeout: number): Promise<number> {
  const pipeline = node.pipeline();
  for (const key of keys) pipeline.del(key);
  const replies = await callRedis(node, commandTimeout, 'DEL', () => pipeline.exec());
  let deleted = 0;
  for (const [error, count] of replies ?? []) {
    if (error) throw error;
    deleted += Number(count);
  }
  return deleted;
}
