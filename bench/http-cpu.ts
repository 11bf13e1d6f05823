/**
 * CPU per HTTP request, app and redis-server apart: `npx tsx bench/http-cpu.ts [cold|cached] [rounds]`.
 *
 * The HTTP scenario of `npm run bench` gives requests per second, which on a 2-core machine shared by the
 * app, autocannon and redis-server is a figure of all three; this one says where a request's CPU goes. Each
 * app (bench/http-app.ts) gets the same autocannon load in alternating rounds; the app's and the server's
 * CPU (/proc utime + stime) over a round, divided by the requests answered, is printed per round, and the
 * medians at the end. `MODES` picks the apps (default `memolock,cache-interceptor`); `memolock@DIR` runs
 * the app of another checkout (a before/after comparison: `git worktree add DIR REV`, then `npm ci` there
 * or a `node_modules` symlink to this one's).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startRedis } from '../test/support/redis-server';
import { cpuMicros, redisPid as pidOf } from './process-cpu';

const [kind = 'cold', roundsArg = '3'] = process.argv.slice(2);
const modes = (process.env.MODES ?? 'memolock,cache-interceptor').split(',');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** The apps started, stopped on a failure too. */
const children: ChildProcess[] = [];

async function main() {
  const autocannon = require('autocannon') as (
    options: object,
  ) => Promise<{ requests: { total: number; average: number }; non2xx: number; errors: number }>;
  const redis = await startRedis();
  const admin = redis.client();
  const redisPid = await pidOf(admin);
  const apps = await Promise.all(
    modes.map(async (spec) => {
      const at = spec.indexOf('@');
      const [mode, dir] = at < 0 ? [spec, join(__dirname, '..')] : [spec.slice(0, at), spec.slice(at + 1)];
      const port = await freePort();
      const app = spawn(
        process.execPath,
        [
          ...(process.env.APP_NODE_ARGS?.split(' ') ?? []),
          '--require',
          'tsx/cjs',
          join(dir, 'bench', 'http-app.ts'),
          redis.url,
          String(port),
          mode,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir }, // tsx reads the checkout's tsconfig
      );
      children.push(app);
      await new Promise<void>((resolve, reject) => {
        app.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        app.once('exit', (code) => reject(new Error(`the ${spec} app exited (${code}) before listening`)));
      });
      return { mode: spec, app, url: `http://127.0.0.1:${port}` };
    }),
  );
  const run = (url: string) =>
    autocannon({
      url,
      connections: 32,
      duration: SECONDS,
      requests: [
        {
          setupRequest: (req: { path: string }) => ({
            ...req,
            path: kind === 'cold' ? `/item/${Math.random().toString(36).slice(2)}` : '/item/1',
          }),
        },
      ],
    });
  for (const { url } of apps) await run(url); // warm-up
  const figures = new Map<string, Array<{ rps: number; app: number; redis: number }>>(
    modes.map((m) => [m, []]),
  );
  for (let round = 0; round < Number(roundsArg); round++) {
    for (const { mode, app, url } of apps) {
      await admin.flushall();
      await admin.config('RESETSTAT');
      const [appBefore, redisBefore] = [cpuMicros(app.pid!), cpuMicros(redisPid)];
      const result = await run(url);
      const [appCpu, redisCpu] = [cpuMicros(app.pid!) - appBefore, cpuMicros(redisPid) - redisBefore];
      const n = result.requests.total;
      const stats = [
        ...(await admin.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+),usec=(\d+)/g),
      ]
        .filter(([, name]) => !/^(info|config)/.test(name))
        .map(
          ([, name, calls, usec]) =>
            `${name} ${(Number(calls) / n).toFixed(2)}/req ${(Number(usec) / n).toFixed(1)} µs/req`,
        );
      const patterns = await admin.pubsub('NUMPAT');
      figures.get(mode)!.push({ rps: result.requests.average, app: appCpu / n, redis: redisCpu / n });
      process.stdout.write(
        `${mode.padEnd(18)} ${kind} ${Math.round(result.requests.average)} req/s  app ${(appCpu / n).toFixed(1)} µs/req  ` +
          `redis ${(redisCpu / n).toFixed(1)} µs/req  errors ${result.non2xx + result.errors}\n` +
          `    patterns subscribed: ${patterns}; Redis: ${stats.join('; ')}\n`,
      );
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  for (const [mode, rows] of figures) {
    process.stdout.write(
      `median ${mode}: ${Math.round(median(rows.map((r) => r.rps)))} req/s, app ${median(rows.map((r) => r.app)).toFixed(1)} µs/req, ` +
        `redis ${median(rows.map((r) => r.redis)).toFixed(1)} µs/req\n`,
    );
  }
  for (const { app } of apps) {
    const exited = new Promise((resolve) => app.once('exit', resolve));
    app.kill('SIGTERM');
    await exited;
  }
  await redis.stop();
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  for (const child of children) child.kill('SIGTERM');
  process.exit(1);
});
