/**
 * One benchmark process: `node --expose-gc -r tsx/cjs bench/worker.ts REDIS_URL PEER`. It sets up one peer
 * and runs the loads the orchestrator asks for over IPC, answering with what it measured.
 */
import { type Freshness, PEERS, type Peer, type PeerName } from './peers';

export type WorkerRequest =
  | { type: 'hit'; key: string; callers: number; durationMs: number; distinct?: boolean }
  | { type: 'burst'; key: string; callers: number; workMs: number; ttl: number; freshness?: Freshness }
  | {
      type: 'steady';
      key: string;
      callers: number;
      workMs: number;
      ttl: number;
      durationMs: number;
      freshness?: Freshness;
      /** Calls slower than this (ms) are reported with when they started. */
      slowerThan?: number;
    }
  /** Callers read `key` until `until` (epoch ms), through a source that fails on every computation. */
  | { type: 'failing'; key: string; callers: number; ttl: number; until: number; freshness: Freshness }
  | { type: 'scale'; keys: number }
  | { type: 'close' };

export interface WorkerReply {
  calls?: number;
  latencies?: number[];
  computations?: number;
  /** Latency of the callers whose own computation ran, and of the others. */
  computingLatencies?: number[];
  waiterLatencies?: number[];
  heapPerWaiterBytes?: number;
  finishedAt?: number;
  /** `steady`: calls slower than asked, as [start (epoch ms), latency (ms)]; when computations ended. */
  slow?: Array<[number, number]>;
  computedAt?: number[];
  /** `failing`: calls answered with a value, calls that failed, and when (epoch ms) each attempt started. */
  answered?: number;
  failed?: number;
  attempts?: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

async function main() {
  const [url, peerName] = process.argv.slice(2);
  const peer: Peer = await PEERS[peerName as PeerName](url);
  const reply = (message: WorkerReply | 'ready') => process.send!(message);

  process.on('message', async (request: WorkerRequest) => {
    switch (request.type) {
      case 'hit': {
        let calls = 0;
        const until = Date.now() + request.durationMs;
        const compute = async () => ({ hot: true });
        await Promise.all(
          Array.from({ length: request.callers }, async (_, i) => {
            // distinct: a key per caller, so that nothing can be coalesced
            const key = request.distinct ? `${request.key}-${i}` : request.key;
            while (Date.now() < until) {
              await peer.get(key, compute, 600_000);
              calls++;
            }
          }),
        );
        return reply({ calls });
      }
      case 'burst': {
        let computations = 0;
        const latencies: number[] = [];
        const computingLatencies: number[] = [];
        const waiterLatencies: number[] = [];
        await Promise.all(
          Array.from({ length: request.callers }, async () => {
            let mine = false;
            const started = now();
            await peer.get(
              request.key,
              async () => {
                mine = true;
                computations++;
                await sleep(request.workMs);
                return { computed: true, at: Date.now() };
              },
              request.ttl,
              request.freshness,
            );
            const latency = now() - started;
            latencies.push(latency);
            (mine ? computingLatencies : waiterLatencies).push(latency);
          }),
        );
        return reply({ latencies, computations, computingLatencies, waiterLatencies });
      }
      case 'steady': {
        let computations = 0;
        const latencies: number[] = [];
        const slow: Array<[number, number]> = [];
        const computedAt: number[] = [];
        const slowerThan = request.slowerThan ?? Infinity;
        const until = Date.now() + request.durationMs;
        await Promise.all(
          Array.from({ length: request.callers }, async () => {
            while (Date.now() < until) {
              const startedAt = Date.now();
              const started = now();
              await peer.get(
                request.key,
                async () => {
                  computations++;
                  await sleep(request.workMs);
                  computedAt.push(Date.now());
                  return { at: Date.now() };
                },
                request.ttl,
                request.freshness,
              );
              const latency = now() - started;
              latencies.push(latency);
              if (latency > slowerThan) slow.push([startedAt, latency]);
            }
          }),
        );
        return reply({ latencies, computations, slow, computedAt });
      }
      case 'failing': {
        let answered = 0;
        let failed = 0;
        const attempts: number[] = [];
        const latencies: number[] = [];
        const failing = async () => {
          attempts.push(Date.now());
          throw new Error('the source is down');
        };
        await Promise.all(
          Array.from({ length: request.callers }, async () => {
            while (Date.now() < request.until) {
              const started = now();
              try {
                await peer.get(request.key, failing, request.ttl, request.freshness);
                answered++;
              } catch {
                failed++;
              }
              latencies.push(now() - started);
            }
          }),
        );
        return reply({ answered, failed, attempts, latencies });
      }
      case 'scale': {
        const gc = (globalThis as { gc?: () => void }).gc!;
        gc();
        const before = process.memoryUsage().heapUsed;
        const waits = Array.from({ length: request.keys }, (_, i) =>
          peer.get(`scale-${i}`, async () => 'computed here', 60_000),
        );
        await sleep(50);
        gc();
        const heapPerWaiterBytes = (process.memoryUsage().heapUsed - before) / request.keys;
        reply({ heapPerWaiterBytes });
        await Promise.all(waits);
        return reply({ finishedAt: Date.now() });
      }
      case 'close':
        await peer.close();
        process.exit(0);
    }
  });
  reply('ready');
}

void main();
