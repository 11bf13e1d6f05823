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
import { median } from './calls-per-second';
import type { ChildProcess } from 'node:child_process';
import { httpLoad, startHttpApp, stopHttpApps } from './http-apps';
import { cpuMicros, redisPid as pidOf } from './process-cpu';
import { startRedis } from '../test/support/redis-server';

const [kind = 'cold', roundsArg = '3'] = process.argv.slice(2);
const modes = (process.env.MODES ?? 'memolock,cache-interceptor').split(',');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** The apps started, stopped on a failure too. */
const spawned: ChildProcess[] = [];

async function main() {
  const redis = await startRedis();
  const admin = redis.client();
  const redisPid = await pidOf(admin);
  const nodeArgs = process.env.APP_NODE_ARGS?.split(' ') ?? [];
  const apps = await Promise.all(modes.map((spec) => startHttpApp(redis.url, spec, nodeArgs, spawned)));
  const run = (url: string) => httpLoad(url, kind === 'cold', SECONDS);
  for (const { url } of apps) await run(url); // warm-up
  const figures = new Map<string, Array<{ rps: number; app: number; redis: number }>>(
    modes.map((m) => [m, []]),
  );
  for (let round = 0; round < Number(roundsArg); round++) {
    for (const { spec: mode, process: app, url } of apps) {
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
  for (const [mode, rows] of figures) {
    process.stdout.write(
      `median ${mode}: ${Math.round(median(rows.map((r) => r.rps)))} req/s, app ${median(rows.map((r) => r.app)).toFixed(1)} µs/req, ` +
        `redis ${median(rows.map((r) => r.redis)).toFixed(1)} µs/req\n`,
    );
  }
  await stopHttpApps(apps);
  await redis.stop();
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  for (const app of spawned) app.kill('SIGTERM');
  process.exit(1);
});
