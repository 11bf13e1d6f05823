/**
 * Spawns Nest applications in real OS processes (see app-process.ts) that share the test's Redis, and talks
 * to them over HTTP: what "another process" means in production, with nothing shared but Redis.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { type HttpAnswer, httpGet, type Platform } from '../app/http-app';

export type AppProcessMessage =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'log'; level: 'warn' | 'error'; message: string };

export interface AppProcess {
  readonly pid: number;
  readonly port: number;
  /** Warnings the application logged so far. */
  readonly warnings: string[];
  get(path: string, headers?: Record<string, string>): Promise<HttpAnswer>;
  /** Closes the application and waits for the process to exit (killed after 5 s). */
  stop(): Promise<void>;
}

/** Starts the fixture `fixture` of test/app/process-fixtures.ts on `platform`, against `redisUrl`. */
export async function spawnApp(redisUrl: string, platform: Platform, fixture: string): Promise<AppProcess> {
  const child: ChildProcess = fork(join(__dirname, 'app-process.ts'), [redisUrl, platform, fixture], {
    execArgv: ['--require', 'tsx/cjs'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const warnings: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message: AppProcessMessage) => {
    if (message.type === 'log' && message.level === 'warn') warnings.push(message.message);
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: AppProcessMessage) => {
      if (message.type === 'ready') resolve(message.port);
      if (message.type === 'failed') reject(new Error(`app process failed to start: ${message.message}`));
    });
    child.once('exit', (code) => reject(new Error(`app process exited with ${code} before it was ready`)));
  });
  return {
    pid: child.pid!,
    port,
    warnings,
    get: (path, headers) => httpGet(port, path, headers),
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send('exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
