/**
 * The soak load, in a process of its own so that it can measure its heap with --expose-gc:
 *   node --expose-gc --require tsx/cjs soak-process.ts REDIS_URL SECONDS CALLERS
 * Prints one JSON report on stdout.
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../../lib';
import { recordingLogger } from './logger';

const [url, secondsArg, callersArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const callers = Number(callersArg);
const gc = (globalThis as { gc?: () => void }).gc!;

const unhandled: string[] = [];
const warnings: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(String(reason)));
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

async function main() {
  const clients = [new Redis(url, { maxRetriesPerRequest: 1 }), new Redis(url, { maxRetriesPerRequest: 1 })];
  const engines = clients.map((client) => new RedisMemoLockEngine({ client, logger: recordingLogger() }));
  const outcomes: Record<string, number> = {};
  const count = (key: string) => (outcomes[key] = (outcomes[key] ?? 0) + 1);
  let computations = 0;

  const load = async (until: number) => {
    await Promise.all(
      Array.from({ length: callers }, async (_, i) => {
        const engine = engines[i % engines.length];
        const handle = engine.memoLock('soak', { lockTimeout: 2_000 });
        while (Date.now() < until) {
          const id = `k${Math.floor(Math.random() * 500)}`;
          const roll = Math.random();
          const timeout = roll < 0.05 ? 5 + Math.random() * 15 : 5_000;
          try {
            await handle.getResourceRenewable(id, timeout, async (renew) => {
              computations++;
              await sleep(Math.random() * 50);
              if (roll > 0.9) throw new Error('planned failure');
              if (roll > 0.85) await renew(2_000);
              return { value: { id, at: Date.now(), pad: 'x'.repeat(200) }, ttl: 100 + Math.random() * 900 };
            });
            count('value');
          } catch (error) {
            count((error as Error).name);
          }
        }
      }),
    );
  };

  await load(Date.now() + 2_000); // warm-up: JIT, pools, scripts
  const heapBefore = heapMb();
  const started = Date.now();
  await load(started + seconds * 1_000);
  const elapsed = (Date.now() - started) / 1_000;
  const pending = engines.map((e) => e.pendingResources);
  const subscribedTags = engines.map((e) => e.subscribedTags.length);
  await sleep(200); // let the last PUNSUBSCRIBEs land
  const admin = new Redis(url);
  const patterns = Number(await admin.pubsub('NUMPAT'));
  await admin.quit();
  const heapAfter = heapMb();
  await Promise.all(engines.map((e) => e.close()));
  await Promise.all(clients.map((c) => c.quit()));
  const calls = Object.values(outcomes).reduce((a, b) => a + b, 0);
  process.stdout.write(
    JSON.stringify({
      seconds: elapsed,
      calls,
      callsPerSecond: Math.round(calls / elapsed),
      computations,
      outcomes,
      heapBefore,
      heapAfter,
      pending,
      subscribedTags,
      patterns,
      unhandled,
      warnings,
    }),
  );
}

void main();
