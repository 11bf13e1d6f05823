/**
 * The contenders, each configured the way its own documentation recommends for Redis, behind one shape:
 * `get(key, compute, ttlMs)` returns the cached value or computes it.
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../lib';

export interface Peer {
  get(key: string, compute: () => Promise<unknown>, ttlMs: number): Promise<unknown>;
  close(): Promise<void>;
}

export type PeerName = keyof typeof PEERS;

/** Long enough never to fire in a bench: latency is what is measured. */
const NO_TIMEOUT = 60_000;

export const PEERS = {
  /** This package. */
  'nestjs-memolock': async (url: string): Promise<Peer> => {
    const client = new Redis(url);
    const engine = new RedisMemoLockEngine({ client });
    const handle = engine.memoLock('bench', { lockTimeout: 10_000 });
    return {
      get: (key, compute, ttl) =>
        handle.getResource(key, NO_TIMEOUT, async () => ({ value: await compute(), ttl })),
      close: async () => {
        await engine.close();
        await client.quit();
      },
    };
  },

  /** The floor of the hit path: one GET and a parse, nothing else (no protection, no miss handling beyond computing). */
  'ioredis GET (floor)': async (url: string): Promise<Peer> => {
    const client = new Redis(url);
    return {
      async get(key, compute) {
        const raw = await client.get(`bench:${key}`);
        return raw === null ? compute() : JSON.parse(raw);
      },
      close: async () => void (await client.quit()),
    };
  },

  /** What everyone is trying to beat: GET, compute on a miss, SET. No lock, no coalescing. */
  'read-through (unprotected)': async (url: string): Promise<Peer> => {
    const client = new Redis(url);
    return {
      async get(key, compute, ttl) {
        const raw = await client.get(`bench:${key}`);
        if (raw !== null) return JSON.parse(raw);
        const value = await compute();
        await client.set(`bench:${key}`, JSON.stringify(value), 'PX', ttl);
        return value;
      },
      close: async () => void (await client.quit()),
    };
  },

  /** bentocache with Redis as its only layer (L2). */
  'bentocache L2': async (url: string): Promise<Peer> => bento(url, false),

  /** bentocache with a memory L1 in front of Redis, and the Redis bus that keeps L1s in sync. */
  'bentocache L1+L2': async (url: string): Promise<Peer> => bento(url, true),

  /** cache-manager 7 with its Keyv Redis store, using `wrap` (its read-through with in-process coalescing). */
  'cache-manager': async (url: string): Promise<Peer> => {
    const { createCache } = require('cache-manager') as typeof import('cache-manager');
    const { createKeyv } = require('@keyv/redis') as typeof import('@keyv/redis');
    const keyv = createKeyv(url, { namespace: 'bench' });
    const cache = createCache({ stores: [keyv] });
    return {
      get: (key, compute, ttl) => cache.wrap(key, compute, ttl),
      close: async () => void (await cache.disconnect()),
    };
  },
} satisfies Record<string, (url: string) => Promise<Peer>>;

async function bento(url: string, withL1: boolean): Promise<Peer> {
  const { BentoCache, bentostore } = require('bentocache') as typeof import('bentocache');
  const { redisDriver, redisBusDriver } =
    require('bentocache/drivers/redis') as typeof import('bentocache/drivers/redis');
  const { memoryDriver } = require('bentocache/drivers/memory') as typeof import('bentocache/drivers/memory');
  const connection = new Redis(url);
  let store = bentostore();
  if (withL1) store = store.useL1Layer(memoryDriver({ maxSize: '50mb' }));
  store = store.useL2Layer(redisDriver({ connection }));
  if (withL1)
    store = store.useBus(
      redisBusDriver({ connection: { host: new URL(url).hostname, port: Number(new URL(url).port) } }),
    );
  const cache = new BentoCache({ default: 'store', stores: { store } });
  return {
    get: (key, compute, ttl) => cache.getOrSet({ key, factory: compute, ttl }),
    close: async () => {
      await cache.disconnectAll();
      connection.disconnect();
    },
  };
}
