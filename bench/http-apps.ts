/**
 * The HTTP apps the benchmarks load (bench/http-app.ts, one child process each) and the autocannon load
 * they get: shared by the HTTP scenario of `npm run bench` and bench/http-cpu.ts, so that both measure the
 * same apps under the same load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../test/support/redis-server';

export interface HttpApp {
  /** What it was started as: a mode of bench/http-app.ts, or `mode@DIR` for another checkout's app. */
  spec: string;
  process: ChildProcess;
  url: string;
}

export interface HttpLoadResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
}

/**
 * Starts the app `spec` on Redis `redisUrl` and resolves once it listens (rejects if it exits first).
 * `mode@DIR` runs DIR's bench/http-app.ts, from DIR (tsx reads that checkout's tsconfig). `spawned` gets
 * the child as soon as it exists, so that a caller can stop it whatever happens next.
 */
export async function startHttpApp(
  redisUrl: string,
  spec: string,
  nodeArgs: string[] = [],
  spawned: ChildProcess[] = [],
): Promise<HttpApp> {
  const at = spec.indexOf('@');
  const [mode, dir] = at < 0 ? [spec, join(__dirname, '..')] : [spec.slice(0, at), spec.slice(at + 1)];
  const port = await freePort();
  const app = spawn(
    process.execPath,
    [...nodeArgs, '--require', 'tsx/cjs', join(dir, 'bench', 'http-app.ts'), redisUrl, String(port), mode],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir },
  );
  spawned.push(app);
  await new Promise<void>((resolve, reject) => {
    app.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    app.once('exit', (code) => reject(new Error(`the ${spec} app exited (${code}) before listening`)));
  });
  return { spec, process: app, url: `http://127.0.0.1:${port}` };
}

/** 32 connections for `seconds`: on one URL, or (`cold`) on a new URL every request. */
export function httpLoad(url: string, cold: boolean, seconds: number): Promise<HttpLoadResult> {
  const autocannon = require('autocannon') as (options: object) => Promise<HttpLoadResult>;
  return autocannon({
    url,
    connections: 32,
    duration: seconds,
    requests: [
      {
        setupRequest: (req: { path: string }) => ({
          ...req,
          path: cold ? `/item/${Math.random().toString(36).slice(2)}` : '/item/1',
        }),
      },
    ],
  });
}

/** Stops the apps and waits for them to exit. */
export async function stopHttpApps(apps: Array<{ process: ChildProcess }>): Promise<void> {
  await Promise.all(
    apps.map(({ process: app }) => {
      if (app.exitCode !== null || app.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => app.once('exit', resolve));
      app.kill('SIGTERM');
      return exited;
    }),
  );
}
