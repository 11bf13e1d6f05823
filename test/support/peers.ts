/** Spawns peer processes (real OS processes) that run the engine against the test's Redis. */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { Point } from './otel-sdk';
import type { CallResult, PeerMessage, PeerRequest } from './peer-protocol';

export interface Peer {
  readonly pid: number;
  run(request: PeerRequest): Promise<CallResult[]>;
  /** The peer's OpenTelemetry data points (spawned with `{ otel: true }`; none otherwise). */
  metrics(): Promise<Point[]>;
  /** Resolves when this peer starts computing. */
  computing(): Promise<void>;
  /** Every computation this peer started so far: the resource id and when (`Date.now()`). */
  readonly computations: Array<{ id: string; at: number }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Closes the peer's engine and waits for it to exit. */
  stop(): Promise<void>;
}

/** `otel`: the peer registers the real OpenTelemetry SDK with in-memory readers (see otel-sdk.ts). */
export async function spawnPeer(redisUrl: string, options: { otel?: boolean } = {}): Promise<Peer> {
  const child: ChildProcess = fork(join(__dirname, 'peer-process.ts'), [redisUrl], {
    execArgv: ['--require', 'tsx/cjs'],
    env: options.otel ? { ...process.env, MEMOLOCK_PEER_OTEL: '1' } : process.env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (results: CallResult[]) => void>();
  const pendingMetrics = new Map<number, (points: Point[]) => void>();
  const computingWaiters: Array<() => void> = [];
  const computations: Array<{ id: string; at: number }> = [];
  let nextId = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message: PeerMessage) => {
    if (message.type === 'results') pending.get(message.reqId)?.(message.results);
    if (message.type === 'metrics') pendingMetrics.get(message.reqId)?.(message.points);
    if (message.type === 'computing') {
      computations.push({ id: message.id, at: message.at });
      computingWaiters.splice(0).forEach((w) => w());
    }
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m: PeerMessage) =>
      m.type === 'ready' ? resolve() : reject(new Error('peer failed')),
    );
    child.once('exit', (code) => reject(new Error(`peer exited with ${code} before ready`)));
  });
  return {
    pid: child.pid!,
    run(request) {
      const reqId = nextId++;
      return new Promise<CallResult[]>((resolve, reject) => {
        pending.set(reqId, resolve);
        child.send({ reqId, request });
        exited.then(() => reject(new Error(`peer ${child.pid} exited`)));
      });
    },
    metrics() {
      const reqId = nextId++;
      return new Promise<Point[]>((resolve, reject) => {
        pendingMetrics.set(reqId, resolve);
        child.send({ reqId, metrics: true });
        exited.then(() => reject(new Error(`peer ${child.pid} exited`)));
      });
    },
    computing: () => new Promise<void>((resolve) => computingWaiters.push(resolve)),
    computations,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send('exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function spawnPeers(redisUrl: string, count: number, options?: { otel?: boolean }): Promise<Peer[]> {
  return Promise.all(Array.from({ length: count }, () => spawnPeer(redisUrl, options)));
}
