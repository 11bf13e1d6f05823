/**
 * Invalidation lag: from the moment another client sends a `SET` or `DEL` of a tracked key to the moment
 * each tracker's listener hears of it, over a few thousand writes. One tracker in this process and
 * `PROCESSES` (default 2) in processes of their own, each with its own tracking connections; times are
 * `performance.timeOrigin + performance.now()`, comparable across processes of one machine.
 * - sequential: one write at a time, the next once every tracker heard the previous one;
 * - under load: `IN_FLIGHT` (default 32) writes in flight at once, `WRITES` in all.
 * The SET round trip of the writing client is printed as a reference.
 *
 * Run: `npx tsx bench/l1-invalidation-lag.ts` (starts its own redis-server). `WRITES` (default 4000).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { InvalidationTracker } from '../lib/engine/invalidation-tracker';
import { recordingLogger } from '../test/support/logger';
import { startRedis } from '../test/support/redis-server';
import type { TrackerEvent } from '../test/support/tracker-process';

const WRITES = Number(process.env.WRITES ?? 4_000);
const PROCESSES = Number(process.env.PROCESSES ?? 2);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 32);
const now = () => performance.timeOrigin + performance.now();

/** When each tracker heard each key, in order. */
const heard: Map<string, number[]>[] = [];
let waiting: { key: string; count: number; resolve: () => void } | undefined;

function check(): void {
  if (waiting && heard.every((h) => (h.get(waiting!.key)?.length ?? 0) >= waiting!.count)) {
    const { resolve } = waiting;
    waiting = undefined;
    resolve();
  }
}

function hear(tracker: number, key: string, at: number): void {
  const times = heard[tracker].get(key) ?? [];
  times.push(at);
  heard[tracker].set(key, times);
  check();
}

const allHeard = (key: string, count: number) =>
  new Promise<void>((resolve) => {
    waiting = { key, count, resolve };
    check();
  });

function percentiles(lags: number[]): string {
  const sorted = [...lags].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return `p50 ${at(50).toFixed(3)} ms, p99 ${at(99).toFixed(3)} ms, max ${sorted.at(-1)!.toFixed(3)} ms (${sorted.length} reports)`;
}

async function main() {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const writer = new Redis(redis.url);
  const tracker = new InvalidationTracker(
    client,
    {
      tracking: () => undefined,
      invalidate: (key) => hear(0, key, now()),
      flush: () => undefined,
      untracked: () => undefined,
    },
    { commandTimeout: 1_000, logger: recordingLogger() },
  );
  heard.push(new Map());
  tracker.track(['lag:']);
  const children: ChildProcess[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    const index = heard.push(new Map()) - 1;
    const child = fork(join(__dirname, '../test/support/tracker-process.ts'), [redis.url, 'lag:'], {
      execArgv: ['--require', 'tsx/cjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    await new Promise<void>((resolve) =>
      child.on('message', (event: TrackerEvent & { at: number }) => {
        if (event.type === 'tracking') resolve();
        if (event.type === 'invalidate') hear(index, event.key, event.at);
      }),
    );
  }
  while (!tracker.active) await new Promise((r) => setTimeout(r, 10));

  try {
    // Sequential: SET then DEL of each key, one at a time.
    const sent = new Map<string, number[]>();
    const roundTrips: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      const key = `lag:seq-${i >> 1}`;
      const t0 = now();
      (sent.get(key) ?? sent.set(key, []).get(key)!).push(t0);
      if (i % 2 === 0) await writer.set(key, 'v');
      else await writer.del(key);
      roundTrips.push(now() - t0);
      await allHeard(key, (i % 2) + 1);
    }
    const lags = (filter: (i: number) => boolean) =>
      heard.flatMap((h) =>
        [...sent].flatMap(([key, times]) => times.flatMap((t, i) => (filter(i) ? [h.get(key)![i] - t] : []))),
      );
    console.log(
      `Invalidation lag, ${WRITES} writes one at a time, ${heard.length} trackers (${PROCESSES} in other processes):`,
    );
    console.log(`  SET: ${percentiles(lags((i) => i === 0))}`);
    console.log(`  DEL: ${percentiles(lags((i) => i === 1))}`);
    console.log(`  (the writer's own SET/DEL round trip: ${percentiles(roundTrips)})`);

    // Under load: IN_FLIGHT writes at once.
    const started = new Map<string, number>();
    let next = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < WRITES) {
          const key = `lag:load-${next++}`;
          started.set(key, now());
          await writer.set(key, 'v');
        }
      }),
    );
    const elapsed = now() - t0;
    const deadline = now() + 10_000;
    while (heard.some((h) => [...started.keys()].some((k) => !h.has(k))) && now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const loadLags = heard.flatMap((h) => [...started].map(([key, t]) => h.get(key)![0] - t));
    console.log(
      `Under load, ${WRITES} SETs with ${IN_FLIGHT} in flight (${Math.round((WRITES / elapsed) * 1_000)} writes/s): ${percentiles(loadLags)}`,
    );
  } finally {
    for (const child of children) child.send('exit');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    await tracker.close();
    client.disconnect();
    writer.disconnect();
    await redis.stop();
  }
}

void main();
