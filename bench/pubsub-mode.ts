/**
 * Per-key SUBSCRIBE/UNSUBSCRIBE versus one PSUBSCRIBE per tag, for the engine's waiters.
 * Run: `npm run bench:pubsub` (starts its own redis-server on a free port).
 *
 * Each wait is what a waiter costs on the subscriber side: make sure messages of its key arrive, let the
 * holder publish, receive the message, stop listening. The GET/PTTL a waiter also sends are the same in
 * both modes and left out. A second measure shows what patterns cost Redis on every PUBLISH.
 */
import Redis from 'ioredis';
import { startRedis } from '../test/support/redis-server';

const WAITS = Number(process.env.WAITS ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 200);

async function waitsPerSecond(url: string, mode: 'channel' | 'pattern'): Promise<number> {
  const sub = new Redis(url);
  const pub = new Redis(url);
  const pending = new Map<string, () => void>();
  const deliver = (channel: string) => pending.get(channel)?.();
  sub.on('message', (channel) => deliver(channel));
  sub.on('pmessage', (_pattern, channel) => deliver(channel));
  if (mode === 'pattern') await sub.psubscribe('bench/*');

  const waitOne = async (i: number) => {
    const channel = `bench/notif:${i}`;
    const received = new Promise<void>((resolve) => pending.set(channel, resolve));
    if (mode === 'channel') await sub.subscribe(channel);
    await pub.publish(channel, 'value');
    await received;
    pending.delete(channel);
    if (mode === 'channel') await sub.unsubscribe(channel);
  };

  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WAITS) await waitOne(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  sub.disconnect();
  pub.disconnect();
  return WAITS / seconds;
}

async function publishesPerSecond(url: string, unrelatedPatterns: number): Promise<number> {
  const sub = new Redis(url);
  const pub = new Redis(url);
  if (unrelatedPatterns > 0) {
    await sub.psubscribe(...Array.from({ length: unrelatedPatterns }, (_, i) => `other${i}/*`));
  }
  const count = 50_000;
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < count; sent += 1_000) {
    const pipeline = pub.pipeline();
    for (let i = 0; i < 1_000; i++) pipeline.publish(`bench/notif:${i}`, 'value');
    await pipeline.exec();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  sub.disconnect();
  pub.disconnect();
  return count / seconds;
}

async function main() {
  const redis = await startRedis();
  try {
    const rows: string[] = [];
    for (const mode of ['channel', 'pattern'] as const) {
      await waitsPerSecond(redis.url, mode); // warm-up
      const rate = await waitsPerSecond(redis.url, mode);
      rows.push(
        `| ${mode === 'channel' ? 'SUBSCRIBE + UNSUBSCRIBE per key' : 'one PSUBSCRIBE per tag'} | ${Math.round(rate).toLocaleString('en')} |`,
      );
    }
    const base = await publishesPerSecond(redis.url, 0);
    const withPatterns = await publishesPerSecond(redis.url, 1_000);
    console.log(`Waits per second (${WAITS.toLocaleString('en')} waits, ${CONCURRENCY} at a time):\n`);
    console.log('| subscriber side | waits/s |\n|---|---|');
    console.log(rows.join('\n'));
    console.log('\nPUBLISH per second (pipelined):\n');
    console.log('| patterns subscribed | publishes/s |\n|---|---|');
    console.log(`| 0 | ${Math.round(base).toLocaleString('en')} |`);
    console.log(
      `| 1,000 unrelated | ${Math.round(withPatterns).toLocaleString('en')} (${(withPatterns / base).toFixed(2)}x) |`,
    );
  } finally {
    await redis.stop();
  }
}

void main();
