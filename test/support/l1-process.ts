/**
 * A separate OS process with an L1 engine: `node -r tsx/cjs l1-process.ts URL`. Over IPC it reads resources
 * (saying whether the L1 held them), reports what its L1 holds, and reads continuously for a while, keeping
 * per key the runs of versions it read with when each began (times comparable across processes: ms since
 * the epoch, sub-millisecond). 'exit' closes it.
 */
import Redis from 'ioredis';
import { RedisMemoLockEngine } from '../../lib';
import { recordingLogger } from './logger';

export type L1Request =
  | { op: 'track'; tag: string }
  | { op: 'get'; tag: string; id: string }
  | { op: 'held'; tag: string; id: string }
  | { op: 'loop'; tag: string; ids: string[]; ms: number };

/** One key's reads that answered the same version in a row: when the first and the last began. */
export interface ReadRun {
  id: string;
  version: number;
  first: number;
  last: number;
}

export interface LoopResult {
  runs: ReadRun[];
  reads: number;
  /** Reads the L1 held a value for when they began. */
  local: number;
}

const client = new Redis(process.argv[2], { maxRetriesPerRequest: 1 });
client.on('error', () => undefined);
const engine = new RedisMemoLockEngine({ client, logger: recordingLogger(), l1: { maxEntries: 10_000 } });
const now = () => performance.timeOrigin + performance.now();
const handle = (tag: string) => engine.memoLock<unknown>(tag, { lockTimeout: 2_000 });
const missing = async () => ({ value: null, ttl: 1 });

async function loop(tag: string, ids: string[], ms: number): Promise<LoopResult> {
  const memo = handle(tag);
  const runs: ReadRun[] = [];
  let reads = 0;
  let local = 0;
  const until = now() + ms;
  await Promise.all(
    ids.map(async (id) => {
      let current: ReadRun | undefined;
      while (now() < until) {
        const started = now();
        if (engine.l1!.cache.get(`${tag}:${id}`) !== undefined) local++;
        const value = (await memo.getResource(id, 2_000, missing)) as { v: number } | null;
        reads++;
        const version = value?.v ?? -1;
        if (current?.version === version) current.last = started;
        else runs.push((current = { id, version, first: started, last: started }));
        // As a server does between requests: I/O (the invalidations among it) gets its turn.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return { runs, reads, local };
}

async function handleRequest(request: L1Request): Promise<unknown> {
  switch (request.op) {
    case 'track': {
      handle(request.tag);
      while (!engine.l1!.tracker.active) await new Promise((resolve) => setTimeout(resolve, 5));
      return true;
    }
    case 'get': {
      const local = engine.l1!.cache.get(`${request.tag}:${request.id}`) !== undefined;
      const value = await handle(request.tag).getResource(request.id, 2_000, missing);
      return { value, local };
    }
    case 'held':
      return engine.l1!.cache.get(`${request.tag}:${request.id}`)?.value ?? null;
    case 'loop':
      return loop(request.tag, request.ids, request.ms);
  }
}

process.on('message', (message: { reqId: number; request: L1Request } | 'exit') => {
  if (message === 'exit') {
    void engine
      .close()
      .then(() => client.quit())
      .then(() => process.exit(0));
    return;
  }
  void handleRequest(message.request).then(
    (result) => process.send!({ reqId: message.reqId, result }),
    (error: Error) => process.send!({ reqId: message.reqId, error: error.message }),
  );
});

client.once('ready', () => process.send!({ type: 'ready' }));
