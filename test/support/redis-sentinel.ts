/**
 * A throwaway Sentinel setup on loopback: one master, one replica, three sentinels (`redis-server
 * --sentinel`), no persistence. Stopped at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import { RedisMemoLockEngine, type RedisMemoLockEngineOptions } from '../../lib';
import { freePort, waitForPing } from './redis-server';
import { tearDown } from './teardown';
import { sleep } from './sleep';
import { recordingLogger } from './logger';

export const MASTER_NAME = 'memolock';

export interface TestSentinel {
  readonly sentinelPorts: number[];
  /** A client that finds the master through the sentinels, closed by {@link stop}. */
  client(options?: RedisOptions): Redis;
  engine(options?: Partial<RedisMemoLockEngineOptions>): RedisMemoLockEngine;
  /** The master's port, as the sentinels see it now. */
  masterPort(): Promise<number>;
  /** Asks the sentinels for a failover and waits until they name a new master. */
  failover(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinel(): Promise<TestSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'memolock-sentinel-'));
  const processes: ChildProcess[] = [];
  const clients = new Set<Redis>();
  const engines = new Set<RedisMemoLockEngine>();
  const server = (args: string[]) => {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', () => undefined);
    processes.push(child);
  };
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];

  const [master, replica] = [await freePort(), await freePort()];
  server(['--port', String(master), ...common]);
  server(['--port', String(replica), '--replicaof', '127.0.0.1', String(master), ...common]);
  await Promise.all([waitForPing(master), waitForPing(replica)]);

  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  for (const port of sentinelPorts) {
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        '',
      ].join('\n'),
    );
    server([conf, '--sentinel']);
  }
  await Promise.all(sentinelPorts.map((p) => waitForPing(p)));

  const sentinel = (port = sentinelPorts[0]) => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    clients.add(c);
    return c;
  };
  const masterPort = async () => {
    const [, port] = (await sentinel().call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [
      string,
      string,
    ];
    return Number(port);
  };
  // Ready when every sentinel knows the replica (a failover needs it).
  const until = Date.now() + 20_000;
  for (const port of sentinelPorts) {
    const s = sentinel(port);
    while (((await s.call('SENTINEL', 'replicas', MASTER_NAME)) as unknown[]).length === 0) {
      if (Date.now() > until) throw new Error('the test sentinels did not discover the replica');
      await sleep(100);
    }
  }

  const client = (options: RedisOptions = {}) => {
    const c = new Redis({
      sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      name: MASTER_NAME,
      maxRetriesPerRequest: 1,
      ...options,
    });
    c.on('error', () => undefined);
    clients.add(c);
    return c;
  };

  return {
    sentinelPorts,
    client,
    engine(options = {}) {
      const engine = new RedisMemoLockEngine({
        client: options.client ?? client(),
        logger: recordingLogger(),
        ...options,
      });
      engines.add(engine);
      return engine;
    },
    masterPort,
    async failover() {
      const before = await masterPort();
      const deadline = Date.now() + 20_000;
      // A sentinel that has not heard from the replica lately (a loaded machine) refuses with NOGOODSLAVE
      // for a while: ask again.
      while (true) {
        const refused = await sentinel()
          .call('SENTINEL', 'FAILOVER', MASTER_NAME)
          .then(
            () => undefined,
            (error: Error) => error,
          );
        if (!refused) break;
        if (!/NOGOODSLAVE/.test(refused.message) || Date.now() > deadline) throw refused;
        await sleep(250);
      }
      while ((await masterPort()) === before) {
        if (Date.now() > deadline) throw new Error('the sentinels did not fail over');
        await sleep(100);
      }
      return masterPort();
    },
    async stop() {
      await tearDown(engines, clients, processes);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
