/**
 * The end-to-end check every cell of the compatibility matrix runs against two processes of the app that
 * share one Redis: the decorated handler and the decorated provider method compute once between them (one
 * process computes, the other collapses onto it, then hits), and the framework-free engine, given a client
 * of the app's own ioredis, reads what the app stored and invalidates it. Where the fixture installs
 * `@nestjs/terminus`, `GET /health` (MemoLockHealthIndicator from `nestjs-memolock/terminus`) reports
 * MemoLock up in both processes; elsewhere the app has no such route.
 */
import { ok, strictEqual } from 'node:assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisMemoLockEngine } from 'nestjs-memolock';

interface Answer {
  status: number;
  cacheStatus: string;
  body: unknown;
}

async function get(url: string): Promise<Answer> {
  const response = await fetch(url);
  return {
    status: response.status,
    cacheStatus: response.headers.get('cache-status') ?? '',
    body: await response.json(),
  };
}

async function computedInTotal(urls: string[]): Promise<{ handler: number; provider: number }> {
  const stats = await Promise.all(urls.map(async (url) => (await get(`${url}/compat/stats`)).body as any));
  strictEqual(new Set(stats.map((s) => s.pid)).size, urls.length, 'the apps run in different processes');
  return {
    handler: stats.reduce((sum, s) => sum + s.handler, 0),
    provider: stats.reduce((sum, s) => sum + s.provider, 0),
  };
}

/** Compares as JSON: under Jest, objects from the app and from fetch() come from different realms. */
const sameJson = (actual: unknown, expected: unknown, message?: string) =>
  strictEqual(JSON.stringify(actual), JSON.stringify(expected), message);

const outcome = (answer: Answer) => answer.cacheStatus.split(';').slice(1).join(';').trim();

/** What the fixture installs beside the required peers: `health` when it has `@nestjs/terminus`. */
export interface CheckOptions {
  health: boolean;
}

/** The options the matrix passes in the environment (COMPAT_HEALTH=1 where terminus is installed). */
export const checkOptionsFromEnv = (): CheckOptions => ({ health: process.env.COMPAT_HEALTH === '1' });

/**
 * `GET /health` in both processes: 200 with MemoLock up on the Redis engine, a round trip, and the
 * subscriber connection `ready` in a process that has collapsed onto the other (`idle` where none has).
 */
async function checkHealth(urls: string[]): Promise<void> {
  const subscribers: string[] = [];
  for (const url of urls) {
    const answer = await get(`${url}/health`);
    strictEqual(answer.status, 200, `GET /health: ${JSON.stringify(answer)}`);
    const { status, info } = answer.body as {
      status: string;
      info?: Record<string, Record<string, unknown>>;
    };
    strictEqual(status, 'ok', JSON.stringify(answer.body));
    const memolock = info?.memolock ?? {};
    sameJson(
      { status: memolock.status, engine: memolock.engine, roundTripMs: typeof memolock.roundTripMs },
      { status: 'up', engine: 'redis', roundTripMs: 'number' },
      `GET /health: ${JSON.stringify(answer.body)}`,
    );
    subscribers.push(String(memolock.subscriber));
  }
  ok(
    subscribers.includes('ready') && subscribers.every((s) => s === 'ready' || s === 'idle'),
    `the subscriber connections: ${subscribers.join(', ')}`,
  );
}

/** Runs the check against two running apps; throws (with the reason) when anything is off. */
export async function check(urls: [string, string], redisUrl: string, options: CheckOptions): Promise<void> {
  const id = randomUUID();
  const before = await computedInTotal(urls);

  // The decorated handler, asked in both processes at once: one computes and stores, the other waits.
  const answers = await Promise.all(urls.map((url) => get(`${url}/compat/handler/${id}`)));
  for (const answer of answers) strictEqual(answer.status, 200, JSON.stringify(answer));
  sameJson(answers[0].body, answers[1].body, 'both processes answer the one computed value');
  sameJson(answers.map(outcome).sort(), ['fwd=uri-miss; collapsed', 'fwd=uri-miss; stored']);
  const hit = await get(`${urls[1]}/compat/handler/${id}`);
  strictEqual(outcome(hit), 'hit');
  sameJson(hit.body, answers[0].body);

  // The decorated provider method, called in both processes at once.
  const values = await Promise.all(urls.map(async (url) => (await get(`${url}/compat/provider/${id}`)).body));
  sameJson(values[0], values[1], 'both processes return the one computed value');

  let after = await computedInTotal(urls);
  sameJson(
    { handler: after.handler - before.handler, provider: after.provider - before.provider },
    { handler: 1, provider: 1 },
    'one computation per key across the two processes',
  );

  // The engine without Nest, on a client of this app's ioredis: a hit on what the provider stored.
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const engine = new RedisMemoLockEngine({ client });
  try {
    const handle = engine.memoLock('compat-provider', { lockTimeout: 5_000 });
    const stored = await handle.getResource(id, 5_000, async () => {
      throw new Error('expected the value the app stored');
    });
    sameJson(stored, values[0], 'the engine reads what the app stored');
    await handle.invalidate(id);
  } finally {
    await engine.close();
    await client.quit();
  }
  const recomputed = (await get(`${urls[0]}/compat/provider/${id}`)).body as { at: number };
  ok(recomputed.at > (values[0] as { at: number }).at, 'invalidated, so computed again');
  after = await computedInTotal(urls);
  strictEqual(after.provider - before.provider, 2);

  if (options.health) await checkHealth(urls);
  else strictEqual((await fetch(`${urls[0]}/health`)).status, 404, 'no /health without @nestjs/terminus');
}

export interface AppProcess {
  url: string;
  output: () => string;
  /** SIGTERM, then the process must exit by itself with code 0 after printing that it closed. */
  stop: () => Promise<void>;
}

/** Starts `command` (an app's main) and waits for it to listen. */
export async function spawnApp(command: string[], env: Record<string, string> = {}): Promise<AppProcess> {
  const child: ChildProcess = spawn(command[0], command.slice(1), {
    env: { ...process.env, ...env, PORT: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start in 60 s:\n${output}`)), 60_000);
    const poll = setInterval(() => {
      const match = /compat-app listening on (\d+)/.exec(output);
      if (match || child.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(timer);
        if (match) resolve(Number(match[1]));
        else reject(new Error(`the app exited (${child.exitCode}):\n${output}`));
      }
    }, 50);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      ok(output.includes('compat-app closed'), `the app closed on SIGTERM:\n${output}`);
      strictEqual(code, 0, `the app exited by itself after closing (nothing left open):\n${output}`);
    },
  };
}
