/**
 * A throwaway redis-server per test file: a free loopback port, no persistence, stopped at the end. Tests
 * can kill, pause and restart it to inject faults. `REDIS_URL` points the tests at another server instead
 * (fault tests then skip themselves, since they cannot break a server they do not own).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import Redis, { type RedisOptions } from 'ioredis';
import { RedisMemoLockEngine, type RedisMemoLockEngineOptions } from '../../lib';
import { recordingLogger } from './logger';
import { killProcess, tearDown } from './teardown';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Whether this harness started the server (and so may break it). */
  readonly owned: boolean;
  /** A new client with settings that fail fast, closed by {@link stop}. */
  client(options?: RedisOptions): Redis;
  /** Closes `client` with the others in {@link stop} (after the engines, before the server). */
  adopt<C extends Redis>(client: C): C;
  /**
   * A new engine on a new client (unless `options.client` is given), closed by {@link stop} even if a test
   * fails. Its state changes go to a recording logger unless `options.logger` is given, not to the console.
   */
  engine(options?: Partial<RedisMemoLockEngineOptions>): RedisMemoLockEngine;
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'No redis-server on PATH and no REDIS_URL set. Install Redis (Debian/Ubuntu: `sudo apt-get install redis-server`, ' +
  'macOS: `brew install redis`) or set REDIS_URL=redis://host:port to use a server you run.';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One PING over a plain socket: true on +PONG (a paused or starting server answers nothing or refuses). */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export async function waitForPing(port: number, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await pingOnce(port))) {
    if (Date.now() > until)
      throw new Error(`redis-server on port ${port} did not answer PING within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function launch(port: number, extraArgs: string[]): ChildProcess {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...extraArgs,
    ],
    { stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  return child;
}

/** Starts a redis-server of this test's own, or uses REDIS_URL. */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const clients = new Set<Redis>();
  const engines = new Set<RedisMemoLockEngine>();
  const makeClient =
    (url: string) =>
    (options: RedisOptions = {}) => {
      const client = new Redis(url, { maxRetriesPerRequest: 1, ...options });
      client.on('error', () => undefined);
      clients.add(client);
      return client;
    };
  const makeEngine =
    (client: (options?: RedisOptions) => Redis) =>
    (options: Partial<RedisMemoLockEngineOptions> = {}) => {
      const engine = new RedisMemoLockEngine({
        client: options.client ?? client(),
        logger: recordingLogger(),
        ...options,
      });
      engines.add(engine);
      return engine;
    };
  const closeClients = () => tearDown(engines, clients);
  const adopt = <C extends Redis>(client: C): C => {
    clients.add(client);
    return client;
  };

  if (process.env.REDIS_URL) {
    const url = process.env.REDIS_URL;
    const unsupported = () => {
      throw new Error('fault injection needs a redis-server of the test harness; unset REDIS_URL');
    };
    return {
      url,
      port: Number(new URL(url).port || 6379),
      owned: false,
      client: makeClient(url),
      adopt,
      engine: makeEngine(makeClient(url)),
      kill: async () => unsupported(),
      pause: unsupported,
      resume: unsupported,
      restart: async () => unsupported(),
      stop: closeClients,
    };
  }
  if (!hasRedisServer()) throw new Error(INSTALL_HINT);

  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const client = makeClient(url);
  let child = launch(port, extraArgs);
  await waitForPing(port);
  const kill = () => killProcess(child);
  return {
    url,
    port,
    owned: true,
    client,
    adopt,
    engine: makeEngine(client),
    kill,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    restart: async () => {
      await kill();
      child = launch(port, extraArgs);
      await waitForPing(port);
    },
    stop: async () => {
      await closeClients();
      await kill();
    },
  };
}

/** Calls per command since the last `CONFIG RESETSTAT`, from `INFO commandstats` (e.g. `{ get: 2, set: 1 }`). */
export async function commandStats(client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const stats: Record<string, number> = {};
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/** Resets the command counters (and the counting client's own INFO/CONFIG calls do not count as data commands). */
export async function resetStats(client: Redis): Promise<void> {
  await client.config('RESETSTAT');
}
