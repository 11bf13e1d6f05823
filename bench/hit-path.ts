/**
 * Hit path: 64 concurrent callers reading one hot key, through the engine versus a raw ioredis GET + parse
 * (the floor). Run: `npm run bench:hit` (starts its own redis-server).
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../lib';
import { startRedis } from '../test/support/redis-server';

const CALLERS = 64;
const SECONDS = Number(process.env.SECONDS ?? 5);

async function callsPerSecond(call: () => Promise<unknown>): Promise<number> {
  let calls = 0;
  const until = Date.now() + SECONDS * 1_000;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (Date.now() < until) {
        await call();
        calls++;
      }
    }),
  );
  return calls / SECONDS;
}

async function main() {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const engine = new RedisMemoLockEngine({ client });
  try {
    await client.set('hot:key', JSON.stringify({ likes: ['redis', 'node'], n: 42 }));
    const handle = engine.memoLock('hot', { lockTimeout: 5_000 });
    const viaEngine = () => handle.getResource('key', 1_000, async () => ({ value: null, ttl: 1 }));
    const raw = async () => JSON.parse((await client.get('hot:key'))!);
    await callsPerSecond(raw); // warm-up
    const floor = await callsPerSecond(raw);
    const ours = await callsPerSecond(viaEngine);
    console.log(`| path | calls/s (${CALLERS} concurrent callers, one hot key) |\n|---|---|`);
    console.log(`| raw ioredis GET + JSON.parse | ${Math.round(floor).toLocaleString('en')} |`);
    console.log(
      `| engine.getResource (hit) | ${Math.round(ours).toLocaleString('en')} (${(ours / floor).toFixed(2)}x) |`,
    );
  } finally {
    await engine.close();
    client.disconnect();
    await redis.stop();
  }
}

void main();
