/**
 * Hit path: 64 concurrent callers in one process, through the engine versus a raw ioredis GET + JSON.parse
 * (the floor), on one hot key (callers can share reads) and on 64 distinct keys (one caller each: nothing can
 * be shared). Rounds alternate floor and engine so that a drifting machine moves both alike; the ratios are
 * taken round by round and their median is printed.
 *
 * Run: `npm run bench:hit` (starts its own redis-server). `SECONDS` per measurement (default 3), `ROUNDS`
 * (default 3). `ONLY=engine-distinct` (or `floor-hot`, ...) runs that one measurement for `SECONDS`, for
 * profiling with `node --cpu-prof -r tsx/cjs bench/hit-path.ts`. `FRESHNESS=1` gives the engine's tag a grace
 * and an early refresh (its hits then read each value's record too), its values stored through it.
 * `OTEL=1` registers the OpenTelemetry SDK first (meter provider with a reader, tracer provider, contexts in
 * AsyncLocalStorage): every call is then counted. `LISTENER=1` subscribes one listener to the engine's events.
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../lib';
import { registerOtelSdk } from '../test/support/otel-sdk';
import { startRedis } from '../test/support/redis-server';
import { type Call, CALLERS, callsPerSecond, fmt, median, type Shape } from './calls-per-second';

const SECONDS = Number(process.env.SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const VALUE = JSON.stringify({ likes: ['redis', 'node'], n: 42 });

async function main() {
  const otel = process.env.OTEL ? registerOtelSdk() : undefined;
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const engine = new RedisMemoLockEngine({ client });
  let events = 0;
  if (process.env.LISTENER) engine.events.subscribe(() => void events++);
  try {
    const seed = client.pipeline().set('hot:key', VALUE);
    for (let i = 0; i < CALLERS; i++) seed.set(`hot:key-${i}`, VALUE);
    await seed.exec();
    const freshness = process.env.FRESHNESS ? { grace: 60_000, earlyRefresh: {} } : {};
    const handle = engine.memoLock('hot', { lockTimeout: 5_000, ...freshness });
    const compute = async () => ({ value: null, ttl: 1 });
    if (process.env.FRESHNESS) {
      // Stored through the engine, with their records: what the hits of such a tag read.
      const value = JSON.parse(VALUE) as unknown;
      const store = async () => ({ value, ttl: 3_600_000 });
      await Promise.all(
        ['key', ...Array.from({ length: CALLERS }, (_, i) => `key-${i}`)].map((key) =>
          client.del(`hot:${key}`).then(() => handle.getResource(key, 5_000, store)),
        ),
      );
    }
    const paths: Record<'floor' | 'engine', Call> = {
      floor: async (key) => JSON.parse((await client.get(`hot:${key}`))!),
      engine: (key) => handle.getResource(key, 1_000, compute),
    };

    const only = process.env.ONLY;
    if (only) {
      const [path, shape] = only.split('-') as ['floor' | 'engine', Shape];
      await callsPerSecond(paths[path], shape, 1); // warm-up
      const cpu = process.cpuUsage();
      const rate = await callsPerSecond(paths[path], shape, SECONDS);
      const { user, system } = process.cpuUsage(cpu);
      // CPU per call moves less than calls/s when other processes share the machine.
      const perCall = (user + system) / (rate * SECONDS);
      console.log(`${only}: ${fmt(rate)} calls/s, ${perCall.toFixed(2)} µs of CPU per call`);
      return;
    }

    for (const shape of ['hot', 'distinct'] as const) {
      await callsPerSecond(paths.floor, shape, 1); // warm-up
      await callsPerSecond(paths.engine, shape, 1);
    }
    const runs: Record<Shape, { floor: number[]; engine: number[]; ratio: number[] }> = {
      hot: { floor: [], engine: [], ratio: [] },
      distinct: { floor: [], engine: [], ratio: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const shape of ['hot', 'distinct'] as const) {
        const floor = await callsPerSecond(paths.floor, shape, SECONDS);
        const ours = await callsPerSecond(paths.engine, shape, SECONDS);
        runs[shape].floor.push(floor);
        runs[shape].engine.push(ours);
        runs[shape].ratio.push(ours / floor);
      }
    }
    console.log(
      `| path | calls/s, one hot key | calls/s, ${CALLERS} distinct keys |\n|---|---|---|\n` +
        `| raw ioredis GET + JSON.parse | ${fmt(median(runs.hot.floor))} | ${fmt(median(runs.distinct.floor))} |\n` +
        `| engine.getResource (hit) | ${fmt(median(runs.hot.engine))} (${median(runs.hot.ratio).toFixed(2)}x) | ` +
        `${fmt(median(runs.distinct.engine))} (${median(runs.distinct.ratio).toFixed(2)}x) |`,
    );
    console.log(
      `(${CALLERS} concurrent callers, ${ROUNDS} alternating rounds of ${SECONDS} s, medians; ratios per round: ` +
        `hot ${runs.hot.ratio.map((r) => r.toFixed(2)).join(' ')}, distinct ${runs.distinct.ratio.map((r) => r.toFixed(2)).join(' ')})`,
    );
  } finally {
    await engine.close();
    client.disconnect();
    await redis.stop();
    if (otel) {
      const calls = (await otel.collect()).filter((p) => p.name === 'memolock.calls');
      console.log(`(OpenTelemetry counted ${fmt(calls.reduce((n, p) => n + p.value, 0))} calls)`);
      await otel.stop();
    }
    if (process.env.LISTENER) console.log(`(the listener got ${fmt(events)} events)`);
  }
}

void main();
