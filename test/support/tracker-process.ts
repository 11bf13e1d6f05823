/**
 * An `InvalidationTracker` in a separate OS process: `node -r tsx/cjs tracker-process.ts URL PREFIX`. Every
 * event its listener hears is sent to the parent over IPC, with the time it was heard (`at`, ms since the
 * epoch, sub-millisecond: comparable across processes of one machine); 'exit' closes it.
 */
import Redis from 'ioredis';
import { type InvalidationListener, InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import { recordingLogger } from './logger';

export type TrackerEvent =
  | { type: 'tracking'; prefixes: string[] }
  | { type: 'invalidate'; key: string }
  | { type: 'flush' }
  | { type: 'untracked' };

const [url, prefix] = process.argv.slice(2);
const client = new Redis(url, { maxRetriesPerRequest: 1 });
client.on('error', () => undefined);
const send = (event: TrackerEvent) =>
  process.send!({ ...event, at: performance.timeOrigin + performance.now() });
const listener: InvalidationListener = {
  tracking: (prefixes) => send({ type: 'tracking', prefixes: [...prefixes] }),
  invalidate: (key) => send({ type: 'invalidate', key }),
  flush: () => send({ type: 'flush' }),
  untracked: () => send({ type: 'untracked' }),
};
const tracker = new InvalidationTracker(client, listener, {
  commandTimeout: 1_000,
  logger: recordingLogger(),
});
tracker.track([prefix]);

process.on('message', (message: unknown) => {
  if (message !== 'exit') return;
  void tracker
    .close()
    .then(() => client.quit())
    .then(() => process.exit(0));
});
