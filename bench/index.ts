/**
 * `npm run bench`: every peer side by side, in one run, on this machine, against a redis-server the bench
 * starts itself. Writes bench/RESULTS.md and bench/results/latest.json; `bench/charts.mjs` then renders one
 * SVG chart per scenario from the same JSON. BENCH_SECONDS scales the timed scenarios (default 5).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { commandStats, startRedis, type TestRedis } from '../test/support/redis-server';
import type { Freshness, PeerName } from './peers';
import { mergeResults } from './results-file';
import { httpLoad, startHttpApp, stopHttpApps } from './http-apps';
import { median } from './calls-per-second';
import { cpuMicros, redisPid } from './process-cpu';
import type { WorkerReply, WorkerRequest } from './worker';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const HTTP_ROUNDS = Number(process.env.HTTP_ROUNDS ?? 3);
const OURS = 'nestjs-memolock';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  peer: string;
  [metric: string]: number | string;
}
export interface Scenario {
  id: string;
  title: string;
  setup: string;
  /** The metric charted and compared, and whether more is better. */
  primary: { metric: string; label: string; higherIsBetter: boolean };
  columns: Array<{ metric: string; label: string }>;
  rows: Row[];
  /** When and where a partial run (BENCH_ONLY) measured it, when not the file's full run. */
  meta?: Record<string, string>;
}

// ---------------------------------------------------------------- processes

interface Worker {
  send(request: WorkerRequest): Promise<WorkerReply>;
  next(): Promise<WorkerReply>;
  close(): Promise<void>;
}

async function startWorker(url: string, peer: PeerName): Promise<Worker> {
  const child: ChildProcess = fork(join(__dirname, 'worker.ts'), [url, peer], {
    execArgv: ['--expose-gc', '--require', 'tsx/cjs'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: WorkerReply[] = [];
  const waiting: Array<(reply: WorkerReply) => void> = [];
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`worker for ${peer} exited with ${code}`)));
  });
  child.on('message', (reply: WorkerReply) => {
    const w = waiting.shift();
    if (w) w(reply);
    else inbox.push(reply);
  });
  const next = () =>
    new Promise<WorkerReply>((resolve) => (inbox.length ? resolve(inbox.shift()!) : waiting.push(resolve)));
  return {
    next,
    send(request) {
      child.send(request);
      return next();
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

async function withWorkers<T>(
  url: string,
  peer: PeerName,
  count: number,
  run: (workers: Worker[]) => Promise<T>,
): Promise<T> {
  const workers = await Promise.all(Array.from({ length: count }, () => startWorker(url, peer)));
  try {
    return await run(workers);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

// ---------------------------------------------------------------- statistics

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

async function dataCommands(admin: Redis): Promise<number> {
  const stats = await commandStats(admin);
  return Object.entries(stats)
    .filter(([command]) => !/^(info|config|flushall)/.test(command))
    .reduce((sum, [, calls]) => sum + calls, 0);
}

/**
 * Counts what the clients send from now on (a script is one command), apart from what scripts run inside
 * Redis, which INFO commandstats counts too: MONITOR shows both, the latter with source "lua". The bench's
 * own INFO and CONFIG calls do not count. `stop()` ends the count and returns it.
 */
async function countSent(admin: Redis): Promise<{ stop(): number }> {
  const monitor = await admin.monitor(); // a connection of its own
  let sent = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!source.includes('lua') && !/^(info|config|flushall)$/i.test(args[0])) sent++;
  });
  return {
    stop() {
      monitor.disconnect();
      return sent;
    },
  };
}

async function reset(admin: Redis) {
  await admin.flushall();
  await admin.config('RESETSTAT');
}

// ---------------------------------------------------------------- scenarios

const STAMPEDE_PEERS: PeerName[] = [
  OURS,
  'read-through (unprotected)',
  'bentocache L2',
  'bentocache L1+L2',
  'cache-manager',
];

async function hitPath(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const peers: PeerName[] = [
    OURS,
    'ioredis GET (floor)',
    'read-through (unprotected)',
    'bentocache L2',
    'bentocache L1+L2',
    'cache-manager',
  ];
  for (const peer of peers) {
    await reset(redis.client());
    // Seed the keys in the peer's own format (the floor reads the read-through's keys).
    if (peer === 'ioredis GET (floor)') {
      const seed = redis
        .client()
        .pipeline()
        .set('bench:hot', JSON.stringify({ hot: true }));
      for (let i = 0; i < 64; i++) seed.set(`bench:hot-${i}`, JSON.stringify({ hot: true }));
      await seed.exec();
    }
    const { hot, distinct } = await withWorkers(redis.url, peer, 1, async ([w]) => {
      const run = async (distinct: boolean) => {
        await w.send({ type: 'hit', key: 'hot', callers: 64, durationMs: 1_000, distinct }); // warm-up
        return (await w.send({ type: 'hit', key: 'hot', callers: 64, durationMs: SECONDS * 1_000, distinct }))
          .calls!;
      };
      return { hot: await run(false), distinct: await run(true) };
    });
    rows.push({
      peer,
      callsPerSecond: Math.round(hot / SECONDS),
      distinctCallsPerSecond: Math.round(distinct / SECONDS),
    });
    log(`hit path: ${JSON.stringify(rows.at(-1))}`);
  }
  return {
    id: 'hit-path',
    title: 'Hit path',
    setup: `one process, 64 concurrent callers, ${SECONDS} s: on one hot key (callers can share reads), and on 64 distinct keys (one caller each: no sharing possible)`,
    primary: { metric: 'callsPerSecond', label: 'calls/s, one hot key', higherIsBetter: true },
    columns: [
      { metric: 'callsPerSecond', label: 'calls/s, one hot key' },
      { metric: 'distinctCallsPerSecond', label: 'calls/s, 64 distinct keys' },
    ],
    rows,
  };
}

async function coldStampede(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const admin = redis.client();
  for (const peer of STAMPEDE_PEERS) {
    const row = await withWorkers(redis.url, peer, 4, async (workers) => {
      await reset(admin);
      const counting = await countSent(admin);
      const replies = await Promise.all(
        workers.map((w) => w.send({ type: 'burst', key: 'cold', callers: 250, workMs: 200, ttl: 60_000 })),
      );
      await sleep(50); // the release after the value, and the waiters' PUNSUBSCRIBEs
      const sent = counting.stop();
      const commands = await dataCommands(admin);
      const latencies = replies.flatMap((r) => r.latencies!).sort((a, b) => a - b);
      const computing = replies.flatMap((r) => r.computingLatencies!);
      const computations = replies.reduce((sum, r) => sum + r.computations!, 0);
      const waiters = replies.flatMap((r) => r.waiterLatencies!).sort((a, b) => a - b);
      return {
        peer,
        computations,
        sent,
        commands,
        commandsPerCall: round(commands / latencies.length, 3),
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1)!),
        // How much later than the computing caller the waiters got the value (none wait when all compute).
        waitersP99OverComputing: waiters.length
          ? round(percentile(waiters, 99) - Math.max(...computing))
          : '—',
      };
    });
    rows.push(row);
    log(`cold stampede: ${JSON.stringify(row)}`);
  }
  return {
    id: 'cold-stampede',
    title: 'Cold stampede',
    setup: '4 processes x 250 concurrent callers on one cold key, 200 ms of work',
    primary: { metric: 'computations', label: 'computations', higherIsBetter: false },
    columns: [
      { metric: 'computations', label: 'computations' },
      { metric: 'sent', label: 'commands sent' },
      { metric: 'commands', label: 'Redis commands (scripts’ own included)' },
      { metric: 'commandsPerCall', label: 'commands/call' },
      { metric: 'p50', label: 'p50 ms' },
      { metric: 'p99', label: 'p99 ms' },
      { metric: 'max', label: 'max ms' },
      { metric: 'waitersP99OverComputing', label: 'waiters p99 − computing ms' },
    ],
    rows,
  };
}

async function expiry(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const durationMs = 10_000;
  const workMs = 100;
  for (const peer of STAMPEDE_PEERS) {
    const row = await withWorkers(redis.url, peer, 4, async (workers) => {
      await reset(redis.client());
      const replies = await Promise.all(
        workers.map((w) =>
          w.send({ type: 'steady', key: 'expiring', callers: 16, workMs, ttl: 1_000, durationMs }),
        ),
      );
      const latencies = replies.flatMap((r) => r.latencies!).sort((a, b) => a - b);
      const computations = replies.reduce((sum, r) => sum + r.computations!, 0);
      return {
        peer,
        computations,
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1)!),
        maxOverWork: round(latencies.at(-1)! - workMs),
      };
    });
    rows.push(row);
    log(`expiry: ${JSON.stringify(row)}`);
  }
  return {
    id: 'expiry',
    title: 'Expiry under steady load',
    setup: `a hot key with a 1 s TTL read continuously for ${durationMs / 1_000} s by 4 processes x 16 callers, ${workMs} ms of work (ideal: one computation per expiry, about ${durationMs / 1_000})`,
    primary: { metric: 'computations', label: 'computations', higherIsBetter: false },
    columns: [
      { metric: 'computations', label: 'computations' },
      { metric: 'p99', label: 'p99 ms' },
      { metric: 'max', label: 'max ms' },
      { metric: 'maxOverWork', label: 'max − work ms' },
    ],
    rows,
  };
}

/** The freshness scenarios' contenders: ours with and without the options, and peers with a similar feature. */
interface Contender {
  label: string;
  peer: PeerName;
  freshness?: Freshness;
}

/**
 * A slow call that started from this long (ms) before a value's expiry to this long after the computation it
 * may wait for counts as slowed by the expiry: a caller that waits for a recomputation started at expiry
 * comes within that span.
 */
const EXPIRY_MARGIN_MS = 10;

const EXPIRY_CONTENDERS: Contender[] = [
  { label: `${OURS} (no freshness options)`, peer: OURS },
  { label: `${OURS} (earlyRefresh)`, peer: OURS, freshness: { beta: 1 } },
  { label: `${OURS} (earlyRefresh + grace 1 s)`, peer: OURS, freshness: { beta: 1, grace: 1_000 } },
  { label: `${OURS} (grace 1 s)`, peer: OURS, freshness: { grace: 1_000 } },
  { label: 'bentocache L2 (grace 1 s)', peer: 'bentocache L2', freshness: { grace: 1_000 } },
  {
    label: 'cache-manager (refreshThreshold 300 ms)',
    peer: 'cache-manager',
    freshness: { refreshThreshold: 300 },
  },
];

/**
 * Expiry under steady load with the freshness options: the same load as `expiry`, the value stored before
 * the clock starts (so that only expiries are measured, not the first computation), and each contender's own
 * hit-path p99 measured first under the same load on a value that does not expire.
 */
async function expiryFreshness(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const durationMs = 10_000;
  const workMs = 100;
  const ttl = 1_000;
  for (const { label, peer, freshness } of EXPIRY_CONTENDERS) {
    const row = await withWorkers(redis.url, peer, 4, async (workers) => {
      await reset(redis.client());
      const steady = (key: string, keyTtl: number, ms: number, slowerThan?: number) =>
        Promise.all(
          workers.map((w) =>
            w.send({
              type: 'steady',
              key,
              callers: 16,
              workMs,
              ttl: keyTtl,
              durationMs: ms,
              freshness,
              slowerThan,
            }),
          ),
        );
      await workers[0].send({ type: 'burst', key: 'stays', callers: 1, workMs, ttl: 600_000, freshness });
      const hits = (await steady('stays', 600_000, 3_000)).flatMap((r) => r.latencies!).sort((a, b) => a - b);
      const hitP99 = percentile(hits, 99);
      const storedAt = Date.now();
      await workers[0].send({ type: 'burst', key: 'expiring', callers: 1, workMs, ttl, freshness });
      const replies = await steady('expiring', ttl, durationMs, hitP99 + 5);
      const latencies = replies.flatMap((r) => r.latencies!).sort((a, b) => a - b);
      // Where a value expired: a TTL after each computation ended (the first one's included). A slow call
      // that started within EXPIRY_WINDOW_MS of one is "at expiry"; any other slow call is the machine's.
      const expiries = [storedAt + workMs, ...replies.flatMap((r) => r.computedAt!)].map((at) => at + ttl);
      const slow = replies.flatMap((r) => r.slow!);
      const atExpiry = slow.filter(([at]) =>
        expiries.some((e) => at >= e - EXPIRY_MARGIN_MS && at <= e + workMs + EXPIRY_MARGIN_MS),
      );
      const elsewhere = slow.filter((call) => !atExpiry.includes(call));
      const slowest = (calls: Array<[number, number]>) => round(Math.max(0, ...calls.map(([, ms]) => ms)));
      return {
        peer: label,
        computations: replies.reduce((sum, r) => sum + r.computations!, 0),
        hitP99: round(hitP99, 2),
        p99: round(percentile(latencies, 99), 2),
        maxAtExpiry: slowest(atExpiry),
        maxAtExpiryOverHitP99: round(Math.max(0, slowest(atExpiry) - hitP99)),
        slowAtExpiry: atExpiry.length,
        maxElsewhere: slowest(elsewhere),
        slowElsewhere: elsewhere.length,
        // Calls at expiry that took about a whole computation: they waited for one.
        waitedAtExpiry: atExpiry.filter(([, ms]) => ms >= 0.9 * workMs).length,
        calls: latencies.length,
      };
    });
    rows.push(row);
    log(`expiry with freshness: ${JSON.stringify(row)}`);
  }
  return {
    id: 'expiry-freshness',
    title: 'Expiry under steady load, with freshness options',
    setup: `a hot key with a ${ttl / 1_000} s TTL read continuously for ${durationMs / 1_000} s by 4 processes x 16 callers, ${workMs} ms of work, stored before the clock starts (ideal: about one computation per TTL window, ${durationMs / ttl}, and no caller at expiry above the hit path's p99 + 5 ms; the p99 is measured first under the same load on a key that does not expire, and a slow call counts as at expiry when it started from ${EXPIRY_MARGIN_MS} ms before an expiry (a TTL after a computation ended) to ${EXPIRY_MARGIN_MS} ms after the ${workMs} ms a recomputation takes; other slow calls are the machine's, shown apart)`,
    primary: {
      metric: 'maxAtExpiryOverHitP99',
      label: 'slowest call at expiry − hit p99 (ms)',
      higherIsBetter: false,
    },
    columns: [
      { metric: 'computations', label: 'computations' },
      { metric: 'hitP99', label: 'hit p99 ms' },
      { metric: 'p99', label: 'p99 ms' },
      { metric: 'maxAtExpiry', label: 'max at expiry ms' },
      { metric: 'maxAtExpiryOverHitP99', label: 'max at expiry − hit p99 ms' },
      { metric: 'slowAtExpiry', label: 'calls at expiry above hit p99 + 5 ms' },
      { metric: 'maxElsewhere', label: 'max elsewhere ms (the machine)' },
      { metric: 'slowElsewhere', label: 'calls elsewhere above hit p99 + 5 ms' },
      { metric: 'waitedAtExpiry', label: 'calls at expiry ≥ 0.9 × work (waited for it)' },
      { metric: 'calls', label: 'calls' },
    ],
    rows,
  };
}

const FAIL_SAFE_CONTENDERS: Contender[] = [
  {
    label: `${OURS} (grace 5 s, failSafeThrottle 500 ms)`,
    peer: OURS,
    freshness: { grace: 5_000, failSafeThrottle: 500 },
  },
  {
    label: 'bentocache L2 (grace 5 s, graceBackoff 500 ms)',
    peer: 'bentocache L2',
    freshness: { grace: 5_000, failSafeThrottle: 500 },
  },
  { label: `${OURS} (no freshness options)`, peer: OURS },
];

/**
 * Fail-safe: a source that fails on every computation after its first success. The value is stored (1 s
 * TTL), then 4 processes x 16 callers read it until its grace is nearly over, every recomputation failing.
 */
async function failSafe(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const ttl = 1_000;
  for (const { label, peer, freshness } of FAIL_SAFE_CONTENDERS) {
    const grace = freshness?.grace ?? 5_000;
    const throttle = freshness?.failSafeThrottle ?? 500;
    const row = await withWorkers(redis.url, peer, 4, async (workers) => {
      await reset(redis.client());
      await workers[0].send({ type: 'burst', key: 'failing', callers: 1, workMs: 0, ttl, freshness });
      const until = Date.now() + ttl + grace - 250; // the whole grace, with a margin for the clock
      const replies = await Promise.all(
        workers.map((w) =>
          w.send({ type: 'failing', key: 'failing', callers: 16, ttl, until, freshness: freshness ?? {} }),
        ),
      );
      const attempts = replies.flatMap((r) => r.attempts!).sort((a, b) => a - b);
      let perWindow = 0;
      for (let i = 0, j = 0; i < attempts.length; i++) {
        while (attempts[i] - attempts[j] >= throttle) j++;
        perWindow = Math.max(perWindow, i - j + 1);
      }
      const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
      const latencies = replies.flatMap((r) => r.latencies!).sort((a, b) => a - b);
      return {
        peer: label,
        answered: replies.reduce((sum, r) => sum + r.answered!, 0),
        failed: replies.reduce((sum, r) => sum + r.failed!, 0),
        attempts: attempts.length,
        maxAttemptsPerWindow: perWindow,
        minGapMs: gaps.length ? Math.min(...gaps) : '—',
        p99: round(percentile(latencies, 99), 2),
      };
    });
    rows.push(row);
    log(`fail-safe: ${JSON.stringify(row)}`);
  }
  return {
    id: 'fail-safe',
    title: 'Fail-safe: a source that fails after its first success',
    setup: `a value stored with a ${ttl / 1_000} s TTL, then read by 4 processes x 16 callers until its 5 s grace is nearly over, every recomputation failing (ideal: every call answered with the stale value, at most one attempt per 500 ms throttle window fleet-wide, about ${5_000 / 500})`,
    primary: { metric: 'failed', label: 'calls that failed', higherIsBetter: false },
    columns: [
      { metric: 'answered', label: 'calls answered' },
      { metric: 'failed', label: 'calls failed' },
      { metric: 'attempts', label: 'attempts' },
      { metric: 'maxAttemptsPerWindow', label: 'most attempts in one throttle window' },
      { metric: 'minGapMs', label: 'shortest gap between attempts (ms)' },
      { metric: 'p99', label: 'p99 ms' },
    ],
    rows,
  };
}

async function http(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const labels = {
    memolock: `${OURS} (@MemoLocked)`,
    'cache-interceptor': '@nestjs/cache-manager CacheInterceptor',
    bare: 'bare handler (no cache)',
  };
  const modes = ['memolock', 'cache-interceptor', 'bare'] as const;
  // All three apps run side by side, and the rounds alternate between them, so that a slow moment of the
  // machine does not fall on one contender only; each figure is the median of the rounds.
  await reset(redis.client());
  const apps = await Promise.all(modes.map((mode) => startHttpApp(redis.url, mode)));
  const run = (url: string, cold: boolean) => httpLoad(url, cold, SECONDS);
  type Measure = {
    cachedRps: number;
    cachedP99: number;
    coldRps: number;
    coldP99: number;
    coldAppCpu: number;
    coldRedisCpu: number;
    errors: number;
  };
  const serverPid = await redisPid(redis.client());
  const measures = new Map<string, Measure[]>(modes.map((m) => [m, []]));
  for (const { url } of apps) await run(url, false); // warm-up
  for (let round = 0; round < HTTP_ROUNDS; round++) {
    for (const { spec: mode, process: app, url } of apps) {
      const cached = await run(url, false);
      // Requests per second are a figure of the whole machine (app, autocannon and redis-server share its
      // cores); the CPU each process spent per cold request says whose cost it is, and varies far less.
      const [appBefore, redisBefore] = [cpuMicros(app.pid!), cpuMicros(serverPid)];
      const cold = await run(url, true);
      const coldRequests = Math.max(1, cold.requests.total);
      measures.get(mode)!.push({
        cachedRps: cached.requests.average,
        cachedP99: cached.latency.p99,
        coldRps: cold.requests.average,
        coldP99: cold.latency.p99,
        coldAppCpu: (cpuMicros(app.pid!) - appBefore) / coldRequests,
        coldRedisCpu: (cpuMicros(serverPid) - redisBefore) / coldRequests,
        errors: cached.non2xx + cached.errors + cold.non2xx + cold.errors,
      });
    }
  }
  for (const mode of modes) {
    const m = measures.get(mode)!;
    rows.push({
      peer: labels[mode],
      cachedRps: Math.round(median(m.map((x) => x.cachedRps))),
      cachedP99: median(m.map((x) => x.cachedP99)),
      coldRps: Math.round(median(m.map((x) => x.coldRps))),
      coldP99: median(m.map((x) => x.coldP99)),
      coldAppCpu: Math.round(median(m.map((x) => x.coldAppCpu))),
      coldRedisCpu: Math.round(median(m.map((x) => x.coldRedisCpu))),
      errors: m.reduce((sum, x) => sum + x.errors, 0),
    });
    log(`http: ${JSON.stringify(rows.at(-1))}`);
  }
  await stopHttpApps(apps);
  return {
    id: 'http',
    title: 'HTTP (Nest + Express, autocannon)',
    setup: `32 connections, ${SECONDS} s a run, median of ${HTTP_ROUNDS} rounds alternating between the apps (HTTP_ROUNDS); cached: one URL; cold: a new URL on every request, with the CPU (/proc utime + stime) the app and redis-server spent per cold request`,
    primary: { metric: 'cachedRps', label: 'cached req/s', higherIsBetter: true },
    columns: [
      { metric: 'cachedRps', label: 'cached req/s' },
      { metric: 'cachedP99', label: 'cached p99 ms' },
      { metric: 'coldRps', label: 'cold req/s' },
      { metric: 'coldP99', label: 'cold p99 ms' },
      { metric: 'coldAppCpu', label: 'cold: app CPU µs/request' },
      { metric: 'coldRedisCpu', label: 'cold: redis-server CPU µs/request' },
      { metric: 'errors', label: 'errors' },
    ],
    rows,
  };
}

async function scale(redis: TestRedis): Promise<Scenario> {
  const rows: Row[] = [];
  const admin = redis.client();
  for (const keys of [1, 100, 10_000]) {
    const row = await withWorkers(redis.url, OURS, 1, async ([worker]) => {
      await reset(admin);
      const lock = admin.pipeline();
      for (let i = 0; i < keys; i++) lock.set(`bench/lock:scale-${i}`, 'holder', 'PX', 60_000);
      await lock.exec();
      await admin.config('RESETSTAT');
      const counting = await countSent(admin);
      const { heapPerWaiterBytes } = await worker.send({ type: 'scale', keys });
      // Every waiter reads the lock's lease (PTTL, in the read-or-lock script) before it sleeps, once more
      // after subscribing when it was not: once the count stops moving, all of them wait.
      let leases = -1;
      for (;;) {
        const now = (await commandStats(admin)).pttl ?? 0;
        if (now >= keys && now === leases) break;
        leases = now;
        await sleep(100);
      }
      const commands = await dataCommands(admin);
      const sent = counting.stop();
      const started = Date.now();
      const deliver = admin.pipeline();
      for (let i = 0; i < keys; i++)
        deliver.set(`bench:scale-${i}`, '"v"').publish(`bench/notif:scale-${i}`, '"v"');
      await deliver.exec();
      const { finishedAt } = await worker.next();
      return {
        peer: `${keys.toLocaleString('en')} key${keys > 1 ? 's' : ''}`,
        commandsPerWaiter: round(commands / keys, 2),
        sentPerWaiter: round(sent / keys, 2),
        heapPerWaiterBytes: Math.round(heapPerWaiterBytes!),
        wakeAllMs: finishedAt! - started,
      };
    });
    rows.push(row);
    log(`scale: ${JSON.stringify(row)}`);
  }
  return {
    id: 'scale',
    title: 'Scale: waiters on distinct keys',
    setup: `${OURS} only (the other peers have no cross-process waiting): one process waits on 1, 100 and 10,000 distinct keys whose locks another holder has; the holder then stores and publishes every value`,
    primary: { metric: 'wakeAllMs', label: 'time to wake all (ms)', higherIsBetter: false },
    columns: [
      { metric: 'sentPerWaiter', label: 'commands sent per waiter' },
      { metric: 'commandsPerWaiter', label: 'Redis commands per waiter (scripts’ own included)' },
      { metric: 'heapPerWaiterBytes', label: 'heap per waiter (bytes)' },
      { metric: 'wakeAllMs', label: 'time to wake all (ms)' },
    ],
    rows,
  };
}

// ---------------------------------------------------------------- output

function log(line: string) {
  process.stderr.write(`${line}\n`);
}

function markdown(scenarios: Scenario[], meta: Record<string, string>): string {
  const out = [
    '# Benchmark results',
    '',
    `Generated by \`npm run bench\` on ${meta.date}. Node ${meta.node}, ${meta.redis}, ${meta.cpu}. One run, every peer on the same machine`,
    "and the same redis-server (loopback, started by the bench). Ratios compare each figure with nestjs-memolock's.",
    '',
  ];
  for (const s of scenarios) {
    out.push(`## ${s.title}`, '', s.setup, '', `![${s.title}](charts/${s.id}.svg)`, '');
    const ours = s.rows.find((r) => r.peer.startsWith(OURS));
    const header = ['peer', ...s.columns.map((c) => c.label)];
    if (ours) header.push(`${s.primary.label} vs ours`);
    out.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`);
    for (const row of s.rows) {
      const cells = [row.peer, ...s.columns.map((c) => String(row[c.metric]))];
      if (ours) {
        const theirs = Number(row[s.primary.metric]);
        const base = Number(ours[s.primary.metric]);
        cells.push(base === 0 ? (theirs === 0 ? '1.00x' : '—') : `${(theirs / base).toFixed(2)}x`);
      }
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

async function main() {
  const redis = await startRedis();
  const redisVersion =
    execFileSync('redis-server', ['--version'])
      .toString()
      .match(/v=(\S+)/)?.[1] ?? '?';
  const meta = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    redis: `Redis ${redisVersion}`,
    cpu: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
  };
  const only = process.env.BENCH_ONLY?.split(',');
  const scenarios: Scenario[] = [];
  try {
    for (const [id, run] of Object.entries({
      'hit-path': hitPath,
      'cold-stampede': coldStampede,
      expiry,
      'expiry-freshness': expiryFreshness,
      'fail-safe': failSafe,
      http,
      scale,
    })) {
      if (only && !only.includes(id)) continue;
      scenarios.push(await run(redis));
    }
  } finally {
    await redis.stop();
  }
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const md = markdown(scenarios, meta);
  if (only) {
    // A partial run (BENCH_ONLY) replaces its scenarios in the JSON, which the charts are drawn from, and
    // prints its sections; RESULTS.md is written by a full run only, so that a partial one drops nothing.
    const file = join(__dirname, 'results', 'latest.json');
    const previous = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { meta: Record<string, string>; scenarios: Scenario[] })
      : undefined;
    const merged = [...(previous?.scenarios ?? [])];
    for (const scenario of scenarios) {
      const dated = { ...scenario, meta }; // this run's date and machine, the file's own are the full run's
      const at = merged.findIndex((s) => s.id === scenario.id);
      if (at >= 0) merged[at] = dated;
      else merged.push(dated);
    }
    writeFileSync(file, JSON.stringify({ meta: previous?.meta ?? meta, scenarios: merged }, null, 2));
    log('BENCH_ONLY: bench/results/latest.json updated; RESULTS.md left as it is (its sections follow)');
  } else {
    writeFileSync(join(__dirname, 'results', 'latest.json'), JSON.stringify({ meta, scenarios }, null, 2));
    // Sections this run does not write (`npm run bench:l1`'s, before/after comparisons) are kept.
    const results = join(__dirname, 'RESULTS.md');
    const previous = existsSync(results) ? readFileSync(results, 'utf8') : '';
    writeFileSync(results, mergeResults(md, previous));
  }
  process.stdout.write(`${md}\n`);
}

void main();
