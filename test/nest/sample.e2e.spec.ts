/**
 * The sample app as a user runs it (`npm run start:sample`): a separate process on a free port, with Redis
 * and without, answering its four routes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startRedis, type TestRedis } from '../support/redis-server';

jest.setTimeout(60_000);

interface Sample {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function startSample(env: Record<string, string>): Promise<Sample> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', join(__dirname, '../../sample/main.ts')],
    {
      env: { ...process.env, ...env, PORT: String(port), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = Date.now() + 30_000;
  while (!output.includes('Listening on')) {
    if (Date.now() > until || child.exitCode !== null)
      throw new Error(`the sample did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const getJson = async (url: string) => {
  const res = await fetch(url);
  return {
    status: res.status,
    body: (await res.json()) as any,
    cacheStatus: res.headers.get('cache-status'),
  };
};

describe('the sample app', () => {
  let redis: TestRedis;
  beforeAll(async () => (redis = await startRedis()));
  afterAll(() => redis.stop());

  it('serves its four routes with Redis, and says so at startup', async () => {
    const sample = await startSample({ REDIS_URL: redis.url });
    try {
      expect(sample.output()).toContain('MemoLock engine: Redis at redis://127.0.0.1:');
      const [simple1, simple2, renewable, ohNo, stem] = await Promise.all([
        getJson(`${sample.url}/query/simple/42`),
        getJson(`${sample.url}/query/simple/42`),
        getJson(`${sample.url}/report/renewable/7`),
        getJson(`${sample.url}/report/oh-no/7`),
        getJson(`${sample.url}/ext/stemmer/running`),
      ]);
      expect(simple1.body).toEqual(simple2.body);
      expect(simple1.body).toMatchObject({ id: '42', answer: 'result for 42' });
      expect(sample.output().match(/Working hard on 42/g)).toHaveLength(1);
      expect([simple1.cacheStatus, simple2.cacheStatus].sort()).toEqual([
        'nestjs-memolock; fwd=uri-miss; collapsed',
        'nestjs-memolock; fwd=uri-miss; stored',
      ]);
      expect(renewable).toMatchObject({ status: 200, body: { id: '7', pages: 42 } });
      expect(ohNo.status).toBe(409);
      expect(ohNo.body.message).toMatch(/outlived its 2 s lock lease and could not renew it/);
      expect(stem).toMatchObject({ status: 200, body: { word: 'running', stem: 'run' } });
      // The worker wrote the value itself, in the Go/C# format.
      expect(await redis.client().get('stemmer:running')).toBe('run');
      expect((await getJson(`${sample.url}/query/simple/42`)).cacheStatus).toBe('nestjs-memolock; hit');

      // What the README's curls show: the figures in Prometheus's format, and the health.
      const metrics = await (await fetch(`${sample.url}/metrics`)).text();
      const calls = (outcome: string) =>
        new RegExp(
          `^memolock_calls_total\\{memolock_tag="query",memolock_outcome="${outcome}"[^}]*\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1];
      expect([calls('stored'), calls('collapsed'), calls('hit')]).toEqual(['1', '1', '1']);
      expect(metrics).toMatch(
        /^memolock_wait_duration_count\{memolock_tag="query",memolock_outcome="collapsed"/m,
      );
      expect(metrics).toMatch(
        /^memolock_compute_duration_count\{memolock_tag="query",memolock_outcome="ok"/m,
      );
      const health = await getJson(`${sample.url}/health`);
      expect(health.status).toBe(200);
      expect(health.body.info.memolock).toMatchObject({
        status: 'up',
        engine: 'redis',
        roundTripMs: expect.any(Number),
      });
    } finally {
      await sample.stop();
    }
  });

  it('runs without Redis on the in-memory engine', async () => {
    const sample = await startSample({ REDIS_URL: '' });
    try {
      expect(sample.output()).toContain('MemoLock engine: in-memory');
      const [a, b, stem] = await Promise.all([
        getJson(`${sample.url}/query/simple/1`),
        getJson(`${sample.url}/query/simple/1`),
        getJson(`${sample.url}/ext/stemmer/walking`),
      ]);
      expect(a.body).toEqual(b.body);
      expect(sample.output().match(/Working hard on 1/g)).toHaveLength(1);
      expect(stem.body).toEqual({ word: 'walking', stem: 'walk' });
    } finally {
      await sample.stop();
    }
  });
});
