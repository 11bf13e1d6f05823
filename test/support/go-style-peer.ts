/**
 * What a Go/C# `redis-memolock` peer sees of one resource: it subscribes to `T/notif:*` and reads `T:I` (and
 * its PTTL, in one MULTI) every few milliseconds, and knows nothing else. Tests check what it saw against
 * SPEC §2: only values on the channel, `T:I` holding a value with the computation's ttl at most, and nothing
 * added under `T:`.
 */
import type Redis from 'ioredis';
import { sleep } from './sleep';

export interface GoRead {
  raw: string | null;
  /** `PTTL T:I` at the same moment: -2 when absent. */
  pttl: number;
}

export interface GoStylePeer {
  /** Messages on `T/notif:*`, as `[channel, payload]`. */
  readonly notifications: Array<[string, string]>;
  readonly reads: GoRead[];
  /** Keys matching `T:*`, as a Go peer's SCAN would see them. */
  keysUnderTag(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function goStylePeer(
  subscriber: Redis,
  reader: Redis,
  tag: string,
  id: string,
): Promise<GoStylePeer> {
  const notifications: Array<[string, string]> = [];
  subscriber.on('pmessage', (_pattern, channel: string, message: string) =>
    notifications.push([channel, message]),
  );
  await subscriber.psubscribe(`${tag}/notif:*`);
  const reads: GoRead[] = [];
  let running = true;
  const key = `${tag}:${id}`;
  const loop = (async () => {
    while (running) {
      const replies = await reader.multi().get(key).pttl(key).exec();
      reads.push({ raw: replies![0][1] as string | null, pttl: replies![1][1] as number });
      await sleep(5);
    }
  })();
  return {
    notifications,
    reads,
    async keysUnderTag() {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await reader.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1_000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    },
    async stop() {
      running = false;
      await loop;
      await subscriber.punsubscribe();
    },
  };
}

/**
 * Checks what the peer saw against the plain protocol, `values` being every encoded value the computations
 * produced, in the order they were produced: only those on the channel and under `T:I`, each with the ttl
 * it was stored with at most, and never an older one once a newer was seen (no stale copy written back).
 */
export function expectPlainProtocol(peer: GoStylePeer, values: string[], ttl: number): void {
  for (const [, payload] of peer.notifications) expect(values).toContain(payload);
  let newest = -1;
  for (const { raw, pttl } of peer.reads) {
    if (raw === null) {
      expect(pttl).toBe(-2);
      continue;
    }
    const index = values.indexOf(raw);
    expect(index).toBeGreaterThanOrEqual(0);
    expect(index).toBeGreaterThanOrEqual(newest);
    newest = index;
    expect(pttl).toBeGreaterThanOrEqual(0); // 0: under a millisecond left
    expect(pttl).toBeLessThanOrEqual(ttl);
  }
}
