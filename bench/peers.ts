/**
 * The contenders, each configured the way its own documentation recommends for Redis, behind one shape:
 * `get(key, compute, ttlMs, freshness?)` returns the cached value or computes it. `freshness` asks for the
 * features of the freshness scenarios, which each peer maps to its own options where it has them (and
 * ignores where it has not).
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../lib';

/** Freshness features a scenario asks for; each peer takes what it has. */
export interface Freshness {
  /** Serve a value this long (ms) past its ttl while it is recomputed, and when recomputing fails. */
  grace?: number;
  /** After a failure covered by a stale value, wait this long (ms) before the next attempt. */
  failSafeThrottle?: number;
  /** Recompute before expiry: ours with XFetch's beta. */
  beta?: number;
  /** Recompute before expiry: cache-manager's refreshThreshold (ms of ttl left). */
  refreshThreshold?: number;
}

export interface Peer {
  get(key: string, compute: () => Promise<unknown>, ttlMs: number, freshness?: Freshness): Promise<unknown>;
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
      get: (key, compute, ttl, freshness) =>
        handle.getResource(
          key,
          NO_TIMEOUT,
          async () => ({ value: await compute(), ttl }),
          // Per-call options (the same on every call of a scenario), as a caller would give them.
          freshness && {
            grace: freshness.grace,
            failSafeThrottle: freshness.failSafeThrottle,
            earlyRefresh: freshness.beta === undefined ? undefined : { beta: freshness.beta },
          },
        ),
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
      get: (key, compute, ttl, freshness) => cache.wrap(key, compute, ttl, freshness?.refreshThreshold),
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
    get: (key, compute, ttl, freshness) =>
      cache.getOrSet({
        key,
        factory: compute,
        ttl,
        // bentocache's grace is the entry's whole lifetime in the cache (its physical TTL), not the time past
        // its TTL: ttl + ours. Its stale-while-revalidate needs `timeout: 0` (a graced value at once while
        // the factory runs in the background); graceBackoff spaces the factory's attempts after a failure.
        ...(freshness?.grace ? { grace: ttl + freshness.grace, timeout: 0 } : {}),
        ...(freshness?.failSafeThrottle ? { graceBackoff: freshness.failSafeThrottle } : {}),
      }),
    close: async () => {
      await cache.disconnectAll();
      connection.disconnect();
    },
  };
}
