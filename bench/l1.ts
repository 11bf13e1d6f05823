/**
 * The L1 through the engine (`l1` option), with a real Redis:
 * - hit path: 64 concurrent callers in one process on 64 distinct keys (and on one hot key), the engine
 *   with an L1 against the raw ioredis GET + JSON.parse floor and against the engine without one; rounds
 *   alternate the paths so that a drifting machine moves them alike, and the per-round ratios' medians are
 *   printed;
 * - memory: a sweep of `SWEEP` (default 100k) distinct keys read once each through an engine with each
 *   bound, then its entries, their counted bytes, and the heap after a full GC against the same sweep
 *   without an L1.
 * The invalidation lag is `bench/l1-invalidation-lag.ts` (`npm run bench:l1` runs both).
 *
 * Run: `npm run bench:l1` (starts its own redis-server). `SECONDS` per measurement (default 3), `ROUNDS`
 * (default 3), `SWEEP` (default 100000).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../lib';
import type { L1Options } from '../lib/engine/l1-cache';
import { startRedis } from '../test/support/redis-server';
import { type Call, CALLERS, callsPerSecond, fmt, median } from './calls-per-second';

const SECONDS = Number(process.env.SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SWEEP = Number(process.env.SWEEP ?? 100_000);
const VALUE = JSON.stringify({ likes: ['redis', 'node'], n: 42 });
/** A value of about 200 bytes for the memory sweep, different per key. */
const sweepValue = (i: number) =>
  JSON.stringify({ id: i, name: `user number ${i}`, roles: ['reader', 'writer'], bio: 'x'.repeat(120) });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

async function hitPath(url: string, client: Redis): Promise<void> {
  const seed = client.pipeline().set('hot:key', VALUE);
  for (let i = 0; i < CALLERS; i++) seed.set(`hot:key-${i}`, VALUE);
  await seed.exec();
  const clients = [new Redis(url), new Redis(url)];
  const plain = new RedisMemoLockEngine({ client: clients[0] });
  const l1 = new RedisMemoLockEngine({ client: clients[1], l1: { maxEntries: 10_000 } });
  const compute = async () => ({ value: null, ttl: 1 });
  const withL1 = l1.memoLock('hot', { lockTimeout: 5_000 });
  const without = plain.memoLock('hot', { lockTimeout: 5_000 });
  while (!l1.l1!.tracker.active) await settle();
  const paths: Record<'floor' | 'engine' | 'l1', Call> = {
    floor: async (key) => JSON.parse((await client.get(`hot:${key}`))!),
    engine: (key) => without.getResource(key, 1_000, compute),
    l1: (key) => withL1.getResource(key, 1_000, compute),
  };
  try {
    for (const shape of ['hot', 'distinct'] as const) {
      for (const call of Object.values(paths)) await callsPerSecond(call, shape, 1); // warm-up
    }
    await settle(); // the L1's background reads
    const runs = {
      hot: { floor: [] as number[], engine: [] as number[], l1: [] as number[], ratio: [] as number[] },
      distinct: { floor: [] as number[], engine: [] as number[], l1: [] as number[], ratio: [] as number[] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const shape of ['hot', 'distinct'] as const) {
        const floor = await callsPerSecond(paths.floor, shape, SECONDS);
        const engine = await callsPerSecond(paths.engine, shape, SECONDS);
        const local = await callsPerSecond(paths.l1, shape, SECONDS);
        runs[shape].floor.push(floor);
        runs[shape].engine.push(engine);
        runs[shape].l1.push(local);
        runs[shape].ratio.push(local / floor);
      }
    }
    const row = (name: string, path: 'floor' | 'engine' | 'l1') =>
      `| ${name} | ${fmt(median(runs.hot[path]))} | ${fmt(median(runs.distinct[path]))} |`;
    console.log(`Hit path, ${CALLERS} concurrent callers:`);
    console.log(`| path | calls/s, one hot key | calls/s, ${CALLERS} distinct keys |\n|---|---|---|`);
    console.log(row('raw ioredis GET + JSON.parse (floor)', 'floor'));
    console.log(row('engine.getResource, no L1', 'engine'));
    console.log(
      `| engine.getResource, L1 | ${fmt(median(runs.hot.l1))} (${median(runs.hot.ratio).toFixed(1)}x) | ` +
        `${fmt(median(runs.distinct.l1))} (${median(runs.distinct.ratio).toFixed(1)}x) |`,
    );
    console.log(
      `(${ROUNDS} alternating rounds of ${SECONDS} s, medians; L1/floor per round: hot ` +
        `${runs.hot.ratio.map((r) => r.toFixed(1)).join(' ')}, distinct ${runs.distinct.ratio.map((r) => r.toFixed(1)).join(' ')})`,
    );
  } finally {
    await Promise.all([plain.close(), l1.close()]);
    for (const c of clients) c.disconnect();
  }
}

/**
 * Reads SWEEP distinct keys `reads` times each in a row through an engine with `l1` (none: without), and
 * what it kept. (A key is kept from its second read on.)
 */
async function sweep(url: string, l1: L1Options | undefined, reads: number): Promise<string> {
  const client = new Redis(url);
  const engine = new RedisMemoLockEngine({ client, l1 });
  const handle = engine.memoLock('sweep', { lockTimeout: 5_000 });
  try {
    while (l1 && !engine.l1!.tracker.active) await settle();
    gc();
    const before = process.memoryUsage().heapUsed;
    let next = 0;
    const compute = async () => ({ value: null, ttl: 1 });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (next < SWEEP) {
          const id = `u${next++}`;
          for (let i = 0; i < reads; i++) await handle.getResource(id, 5_000, compute);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1_000;
    while (engine.l1 && engine.l1.refill.reading > 0) await settle();
    gc();
    const heap = process.memoryUsage().heapUsed - before;
    const bounds = l1
      ? `maxEntries ${fmt(l1.maxEntries)}${l1.maxBytes ? `, maxBytes ${mb(l1.maxBytes)} MB` : ''}`
      : 'no L1';
    const kept = engine.l1 ? `${fmt(engine.l1.cache.size)} | ${mb(engine.l1.cache.bytes)} MB` : '- | -';
    return `| ${bounds} | ${reads} | ${kept} | ${mb(heap)} MB | ${fmt((SWEEP * reads) / seconds)} |`;
  } finally {
    await engine.close();
    client.disconnect();
  }
}

async function main() {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  try {
    await hitPath(redis.url, client);

    for (let start = 0; start < SWEEP; start += 10_000) {
      const seed = client.pipeline();
      for (let i = start; i < Math.min(start + 10_000, SWEEP); i++) seed.set(`sweep:u${i}`, sweepValue(i));
      await seed.exec();
    }
    const bytes = Buffer.byteLength(sweepValue(50_000));
    console.log(`\nMemory: ${fmt(SWEEP)} distinct keys (~${bytes} bytes each encoded), ${CALLERS} callers:`);
    console.log(
      '| L1 | reads per key | entries kept | bytes counted | heap growth after GC | calls/s |\n|---|---|---|---|---|---|',
    );
    const configs: Array<[L1Options | undefined, number]> = [
      [undefined, 1],
      [{ maxEntries: 100_000 }, 1],
      [undefined, 2],
      [{ maxEntries: 10_000 }, 2],
      [{ maxEntries: 100_000, maxBytes: 4 * 1024 * 1024 }, 2],
      [{ maxEntries: 100_000 }, 2],
    ];
    for (const [l1, reads] of configs) console.log(await sweep(redis.url, l1, reads));
    console.log(`(Node ${process.version})`);
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

void main();
