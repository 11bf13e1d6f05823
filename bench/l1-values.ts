/**
 * What an L1 hit costs with each way of keeping callers from sharing mutable objects, against the hit path's
 * floor (a raw ioredis GET + JSON.parse), on 64 distinct keys with 64 concurrent callers (as in
 * `bench/hit-path.ts`):
 * - `decode`: the L1 keeps the encoded string and every hit parses it again (nothing shared);
 * - `clone`: the L1 keeps the decoded value and every hit hands out a `structuredClone` of it;
 * - `frozen`: the L1 keeps the decoded value deep-frozen, and every hit hands out that same value.
 * Also the one-off cost of a fill (parse, then deep-freeze) against a parse alone. Rounds alternate the
 * paths so that a drifting machine moves them alike; medians of the per-round ratios are printed.
 *
 * Run: `npx tsx bench/l1-values.ts` (starts its own redis-server). `SECONDS` per measurement (default 2),
 * `ROUNDS` (default 3).
 */
import Redis from 'ioredis';
import { freezeData } from '../lib/engine/deep-freeze';
import { L1Cache } from '../lib/engine/l1-cache';
import { startRedis } from '../test/support/redis-server';

const CALLERS = 64;
const SECONDS = Number(process.env.SECONDS ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const VALUES = {
  small: JSON.stringify({ likes: ['redis', 'node'], n: 42 }),
  '2 KB': JSON.stringify({
    user: { id: 'kristoff', name: 'Kristoff', roles: ['admin', 'editor'] },
    items: Array.from({ length: 20 }, (_, i) => ({
      id: i,
      title: `item number ${i}`,
      tags: ['a', 'b'],
      n: i,
    })),
  }),
};

type Call = (key: string) => Promise<unknown> | unknown;

async function callsPerSecond(call: Call, seconds: number): Promise<number> {
  let calls = 0;
  const until = performance.now() + seconds * 1_000;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, i) => {
      const key = `l1:key-${i}`;
      while (performance.now() < until) {
        await call(key);
        calls++;
      }
    }),
  );
  return calls / seconds;
}

/** Nanoseconds per call of `fn`, over `n` calls. */
function nsPerCall(fn: () => unknown, n = 200_000): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en');

async function main() {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  try {
    for (const [size, encoded] of Object.entries(VALUES)) {
      const seed = client.pipeline();
      for (let i = 0; i < CALLERS; i++) seed.set(`l1:key-${i}`, encoded);
      await seed.exec();
      const strings = new L1Cache({ maxEntries: 1_000 });
      const values = new L1Cache({ maxEntries: 1_000 });
      for (const cache of [strings, values]) cache.tracking(['l1:']);
      for (let i = 0; i < CALLERS; i++) {
        const key = `l1:key-${i}`;
        const bytes = Buffer.byteLength(encoded);
        strings.fill(key, strings.beginRead(), encoded, bytes, Infinity);
        values.fill(key, values.beginRead(), JSON.parse(encoded), bytes, Infinity);
      }
      const paths: Record<string, Call> = {
        floor: async (key) => JSON.parse((await client.get(key))!),
        decode: async (key) => JSON.parse(strings.get(key)!.value as string),
        clone: async (key) => structuredClone(values.get(key)!.value),
        frozen: async (key) => values.get(key)!.value,
      };
      for (const call of Object.values(paths)) await callsPerSecond(call, 0.5); // warm-up
      const rates: Record<string, number[]> = {};
      const ratios: Record<string, number[]> = {};
      for (let round = 0; round < ROUNDS; round++) {
        let floor = 0;
        for (const [name, call] of Object.entries(paths)) {
          const rate = await callsPerSecond(call, SECONDS);
          (rates[name] ??= []).push(rate);
          if (name === 'floor') floor = rate;
          else (ratios[name] ??= []).push(rate / floor);
        }
      }
      console.log(`\n${size} value (${Buffer.byteLength(encoded)} bytes encoded), ${CALLERS} distinct keys:`);
      console.log('| path | calls/s | vs floor |\n|---|---|---|');
      for (const name of Object.keys(paths)) {
        const ratio = name === 'floor' ? '1.00x' : `${median(ratios[name]).toFixed(1)}x`;
        console.log(`| ${name} | ${fmt(median(rates[name]))} | ${ratio} |`);
      }
      const parse = nsPerCall(() => JSON.parse(encoded));
      const fill = nsPerCall(() => freezeData(JSON.parse(encoded)));
      console.log(`fill: JSON.parse ${fmt(parse)} ns, JSON.parse + freezeData ${fmt(fill)} ns`);
    }
    console.log(`\n(${ROUNDS} alternating rounds of ${SECONDS} s, medians; Node ${process.version})`);
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

void main();
