/**
 * Dropping every value of a tag (`T:*`) from Redis, with the records and stale copies of tags with freshness
 * options (`T/meta:*`, `T/stale:*`): SCAN (never KEYS, which blocks the server for as long as it takes) over
 * every master, deleting what each batch found. Locks (`T/lock:I`), fail-safe's pauses and channels are
 * left alone: a computation under way still stores its value, as after `invalidate(id)`.
 */
import type { Cluster, Redis } from 'ioredis';
import { Messages } from '../memolock.messages';
import { globLiteral, keyPrefixOf, META_INFIX, STALE_INFIX } from './protocol';
import { type RedisLink, RedisUnavailableError, withDeadline } from './redis-call';

/** Keys asked for per SCAN call: large enough to be quick, small enough to keep each call short. */
const SCAN_COUNT = 1_000;

/**
 * The SCAN pattern of a tag's keys, `T:*` and `T/*` (one pass finds values and what freshness options keep
 * beside them; {@link dropped} picks). Tags cannot hold `* ? [ ]` but may hold `\`, which SCAN's glob would
 * read as an escape: escape every special character so the pattern matches the tag literally. ioredis puts
 * a client's `keyPrefix` before keys, but never into a pattern: it is added here.
 */
export function keysPattern(tag: string, keyPrefix = ''): string {
  return `${globLiteral(keyPrefix + tag)}[:/]*`;
}

/**
 * Whether `key`, found by the pattern of `named` (the key prefix and the tag), goes: a value, a record or a
 * stale copy (not a lock, not a pause).
 */
function dropped(named: string, key: string): 'value' | 'extra' | undefined {
  if (key.startsWith(':', named.length)) return 'value';
  if (key.startsWith(META_INFIX, named.length) || key.startsWith(STALE_INFIX, named.length)) return 'extra';
  return undefined;
}

/** Deletes every value of the tag (and its extras) on every master; resolves with how many values it deleted. */
export async function deleteTagValues(link: RedisLink, tag: string): Promise<number> {
  const client: Redis | Cluster = link.client;
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const counts = await Promise.all(nodes.map((node) => deleteOnNode(link, node, tag)));
  return counts.reduce((sum, n) => sum + n, 0);
}

/** One command on one node, bounded like every engine command (a cluster's nodes are not the link's client). */
function callNode<T>(link: RedisLink, node: Redis, command: string, send: () => Promise<T>): Promise<T> {
  if ((node as unknown) === link.client) return link.call(command, send);
  if (node.status !== 'ready' && node.status !== 'connect' && node.status !== 'wait') {
    return Promise.reject(new RedisUnavailableError(Messages.redisNotConnected(node.status)));
  }
  return withDeadline(send(), link.commandTimeout, command, link.state);
}

async function deleteOnNode(link: RedisLink, node: Redis, tag: string): Promise<number> {
  const keyPrefix = keyPrefixOf(link.client);
  const pattern = keysPattern(tag, keyPrefix);
  const named = keyPrefix + tag;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await callNode(link, node, 'SCAN', () =>
      node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
    );
    cursor = next;
    const values = keys.filter((key) => dropped(named, key) === 'value');
    const extras = keys.filter((key) => dropped(named, key) === 'extra');
    // Stale copies first: no reader may find a value gone and its stale copy still there.
    if (extras.length > 0) await deleteKeys(link, node, extras);
    if (values.length > 0) deleted += await deleteKeys(link, node, values);
  } while (cursor !== '0');
  return deleted;
}

/**
 * One DEL per key in a pipeline: on a cluster node a multi-key DEL is refused when its keys hash to
 * different slots, even slots that node owns.
 */
async function deleteKeys(link: RedisLink, node: Redis, keys: string[]): Promise<number> {
  // SCAN answers whole key names; DEL through `node` gets the node's keyPrefix put before them again.
  const prefix = keyPrefixOf(node);
  const pipeline = node.pipeline();
  for (const key of keys) pipeline.del(key.startsWith(prefix) ? key.slice(prefix.length) : key);
  const replies = await callNode(link, node, 'DEL', () => pipeline.exec());
  let deleted = 0;
  for (const [error, count] of replies ?? []) {
    if (error) throw error;
    deleted += Number(count);
  }
  return deleted;
}
