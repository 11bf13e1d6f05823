/**
 * A throwaway local Redis Cluster of three masters on loopback (no persistence; no replicas unless asked
 * for), formed with `redis-cli --cluster create` and stopped at the end. About 2–3 s to form.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis, { Cluster, type ClusterOptions } from 'ioredis';
import { RedisMemoLockEngine, type RedisMemoLockEngineOptions } from '../../lib';
import { waitForPing } from './redis-server';
import { tearDown } from './teardown';
import { sleep } from './sleep';
import { recordingLogger } from './logger';

const run = promisify(execFile);

export interface TestCluster {
  readonly ports: number[];
  /** A cluster client, closed by {@link stop}. */
  client(options?: ClusterOptions): Cluster;
  /** A plain connection to one node, as a program that does not speak cluster would have. */
  node(index: number): Redis;
  engine(options?: Partial<RedisMemoLockEngineOptions>): RedisMemoLockEngine;
  /** Starts one more master, with no slots, joined to the cluster; resolves with its port. */
  addMaster(): Promise<number>;
  /** Moves hash slot `slot` (and its keys) to the master on `port`, telling every master. */
  moveSlot(slot: number, port: number): Promise<void>;
  stop(): Promise<void>;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Ports whose cluster bus port (port + 10000) is free too. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

/** `replicas`: replicas per master (their ports follow the masters' in `ports`). */
export async function startCluster({ replicas = 0 }: { replicas?: number } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'memolock-cluster-'));
  const ports = await clusterPorts(3 * (1 + replicas));
  const launch = (port: number) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
  const servers: ChildProcess[] = ports.map(launch);
  const clients = new Set<Cluster | Redis>();
  const engines = new Set<RedisMemoLockEngine>();
  const stop = async () => {
    await tearDown(engines, clients, servers);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((port) => waitForPing(port)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    const until = Date.now() + 20_000;
    for (const port of ports) {
      while (
        !(await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')
      ) {
        if (Date.now() > until) throw new Error('the test cluster did not reach cluster_state:ok');
        await sleep(100);
      }
    }
    // Every slot range lists its replicas (clients learn them from CLUSTER SLOTS), each in sync.
    for (;;) {
      const slots = (await run('redis-cli', ['-p', String(ports[0]), '--json', 'cluster', 'slots'])).stdout;
      const ranges = JSON.parse(slots) as unknown[][];
      if (ranges.length > 0 && ranges.every((range) => range.length >= 3 + replicas)) break;
      if (Date.now() > until) throw new Error('the test cluster did not list its replicas');
      await sleep(100);
    }
    for (const port of ports) {
      for (;;) {
        const info = (await run('redis-cli', ['-p', String(port), 'info', 'replication'])).stdout;
        if (info.includes('role:master') || info.includes('master_link_status:up')) break;
        if (Date.now() > until) throw new Error('a replica of the test cluster did not sync');
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const client = (options: ClusterOptions = {}) => {
    const c = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { ...options, redisOptions: { maxRetriesPerRequest: 1, ...options.redisOptions } },
    );
    c.on('error', () => undefined);
    clients.add(c);
    return c;
  };
  return {
    ports,
    client,
    node(index) {
      const c = new Redis({ host: '127.0.0.1', port: ports[index], maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      clients.add(c);
      return c;
    },
    engine(options = {}) {
      const engine = new RedisMemoLockEngine({
        client: options.client ?? client(),
        logger: recordingLogger(),
        ...options,
      });
      engines.add(engine);
      return engine;
    },
    async addMaster() {
      let port: number;
      do [port] = await clusterPorts(1);
      while (ports.some((p) => Math.abs(p - port) === 10_000 || p === port));
      servers.push(launch(port));
      await waitForPing(port);
      await run('redis-cli', ['--cluster', 'add-node', `127.0.0.1:${port}`, `127.0.0.1:${ports[0]}`]);
      ports.push(port);
      const until = Date.now() + 20_000;
      while (
        !(await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')
      ) {
        if (Date.now() > until) throw new Error('the added master did not join the cluster');
        await sleep(100);
      }
      return port;
    },
    async moveSlot(slot, port) {
      const admin = (p: number) => {
        const c = new Redis({ host: '127.0.0.1', port: p, maxRetriesPerRequest: 1 });
        c.on('error', () => undefined);
        clients.add(c);
        return c;
      };
      const target = admin(port);
      const ranges = (await target.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
      const owner = ranges.find(([from, to]) => from <= slot && slot <= to);
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      const [, sourcePort, sourceId] = owner[2];
      const source = admin(sourcePort);
      const targetId = String(await target.call('CLUSTER', 'MYID'));
      await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
      await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
      const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 1_000)) as string[];
      for (const key of keys) await source.call('MIGRATE', '127.0.0.1', port, key, 0, 5_000);
      for (const p of ports) await admin(p).call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    },
    stop,
  };
}
