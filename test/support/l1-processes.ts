/** Spawns processes with an L1 engine (see `l1-process.ts`) against the test's Redis. */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { L1Request } from './l1-process';

export interface L1Process {
  ask<T>(request: L1Request): Promise<T>;
  stop(): Promise<void>;
}

export async function spawnL1Process(redisUrl: string): Promise<L1Process> {
  const child: ChildProcess = fork(join(__dirname, 'l1-process.ts'), [redisUrl], {
    execArgv: ['--require', 'tsx/cjs'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const { reject } of pending.values()) reject(new Error(`process ${child.pid} exited`));
  });
  child.on('message', (message: { reqId?: number; result?: unknown; error?: string }) => {
    if (message.reqId === undefined) return;
    const waiter = pending.get(message.reqId);
    pending.delete(message.reqId);
    if (message.error !== undefined) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.result);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`process exited with ${code} before ready`)));
  });
  return {
    ask<T>(request: L1Request) {
      const reqId = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(reqId, { resolve: resolve as (r: unknown) => void, reject });
        child.send({ reqId, request });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send('exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
