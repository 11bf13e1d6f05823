/** Listeners of `InvalidationTracker` that record what they hear, for tests to wait on. */
import type { InvalidationListener } from '../../lib/engine/invalidation-tracker';
import { L1Cache } from '../../lib/engine/l1-cache';
import type { TrackerEvent } from './tracker-process';
import { until } from './until';

export class TrackingRecorder implements InvalidationListener {
  readonly events: TrackerEvent[] = [];

  tracking(prefixes: Iterable<string>): void {
    this.events.push({ type: 'tracking', prefixes: [...prefixes] });
  }
  invalidate(key: string): void {
    this.events.push({ type: 'invalidate', key });
  }
  flush(): void {
    this.events.push({ type: 'flush' });
  }
  untracked(): void {
    this.events.push({ type: 'untracked' });
  }

  /** Keys invalidated so far, in order. */
  get keys(): string[] {
    return this.events.flatMap((event) => (event.type === 'invalidate' ? [event.key] : []));
  }

  count(type: TrackerEvent['type']): number {
    return this.events.filter((event) => event.type === type).length;
  }

  /** Forgets what was heard so far. */
  clear(): void {
    this.events.splice(0);
  }

  /** Waits until `key` was invalidated (since the last {@link clear}). */
  invalidated(key: string, ms = 5_000): Promise<void> {
    return until(() => this.keys.includes(key), `${key} is invalidated`, ms);
  }
}

/** The real L1 cache, noting which keys it was told of. */
export class NotingL1Cache extends L1Cache {
  readonly heard = new Set<string>();
  override invalidate(key: string): void {
    this.heard.add(key);
    super.invalidate(key);
  }
}
