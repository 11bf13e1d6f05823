/**
 * Freshness and fail-safe (SPEC §7) as a call sees them: the tag's options merged with the call's, whether
 * they are on at all (off, a tag reads and writes `T:I` alone, as before), and the two decisions a read makes
 * with a {@link FreshnessRecord}: may a stale copy be served, and does this hit refresh the value early
 * (XFetch, Vattani et al., VLDB 2015).
 */
import { randomBytes } from 'node:crypto';
import { MemoLockArgumentError } from '../errors';
import type { MemoLockFreshnessOptions } from './memolock-engine.interface';
import type { FreshnessRecord } from './freshness-record';
import { toRedisMs } from './validation';

/** The options of one call, defaults filled in. */
export interface Freshness {
  /** How long past its ttl a value may be served (ms); 0: no stale copy is stored or served. */
  grace: number;
  /** How long a caller with a stale value at hand waits for the recomputation (ms); 0: not at all. */
  softTimeout: number;
  /** XFetch's beta; 0: no early refresh. */
  beta: number;
  /** The pause (ms) fleet-wide after a failed recomputation that a value at hand covered. */
  failSafeThrottle: number;
}

export const DEFAULT_FAIL_SAFE_THROTTLE = 1_000;
export const DEFAULT_BETA = 1;

export const NO_FRESHNESS: Freshness = Object.freeze({
  grace: 0,
  softTimeout: 0,
  beta: 0,
  failSafeThrottle: DEFAULT_FAIL_SAFE_THROTTLE,
});

/** `over`'s options (already validated) over `base`. */
export function mergeFreshness(base: Freshness, over: MemoLockFreshnessOptions): Freshness {
  // Both go into a PX (grace added to the ttl), which takes whole milliseconds only.
  return {
    grace: over.grace === undefined ? base.grace : Math.ceil(over.grace),
    softTimeout: over.softTimeout ?? base.softTimeout,
    beta: over.earlyRefresh === undefined ? base.beta : (over.earlyRefresh.beta ?? DEFAULT_BETA),
    failSafeThrottle:
      over.failSafeThrottle === undefined ? base.failSafeThrottle : toRedisMs(over.failSafeThrottle),
  };
}

/**
 * The options when they change anything, `undefined` when they do not: without a grace nor an early refresh
 * there is no stale value for `softTimeout` or fail-safe to fall back on, so nothing is stored or read beside
 * `T:I`.
 */
export function activeFreshness(settings: Freshness): Freshness | undefined {
  return settings.grace > 0 || settings.beta > 0 ? settings : undefined;
}

/** Part of the in-process coalescing key: calls with other freshness options coalesce apart. */
export function freshnessProfile(freshness: Freshness | undefined): string {
  if (!freshness) return '-';
  const { grace, softTimeout, beta, failSafeThrottle } = freshness;
  return `${grace};${softTimeout};${beta};${failSafeThrottle}`;
}

/**
 * Whether the stale copy a record describes may be served now, under `grace`. Only once the value's ttl has
 * run out: a `T:I` missing before that was deleted (by someone's `DEL`, or evicted), not expired, and its
 * stale copy is not served. Clocks of the writing and reading hosts are compared: keep them in sync.
 */
export function servableStale(record: FreshnessRecord, grace: number, now: number): boolean {
  return grace > 0 && now >= record.expiresAt && now <= record.expiresAt + grace;
}

/** `-ln(r)` for the smallest `r` {@link draw} returns: no gap is larger. */
const LARGEST_GAP = 32 * Math.LN2;
/** This process's own draws: two processes draw differently for one value. */
const SEED = randomBytes(8).toString('hex');

/**
 * XFetch: whether a hit on the value `record` describes refreshes it now. It does once
 * `now - delta * beta * ln(r) >= expiry`, where `delta` is how long the value took to compute. `r` is drawn
 * once per value and process rather than per hit, so that the moment does not depend on how many hits a
 * process serves: the process with the largest gap refreshes first, on average `delta * beta * H(n)` before
 * the expiry with n processes reading (H the harmonic number), and the others then see the new value. And
 * at the latest `delta` before the expiry: a refresh started later could not land before it.
 */
export function refreshesEarly(record: FreshnessRecord, beta: number, now: number): boolean {
  if (beta === 0) return false;
  if (beta === Infinity) return true;
  const lead = record.expiresAt - now;
  if (lead <= record.delta) return true;
  const scale = record.delta * beta;
  if (lead > scale * LARGEST_GAP) return false; // far from expiry: no draw can reach it
  return -scale * Math.log(draw(record.text)) >= lead;
}

/** A number in (0, 1], the same for one record in one process (FNV-1a of the seed and the record). */
function draw(text: string): number {
  let hash = 0x811c9dc5;
  const input = SEED + text;
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return ((hash >>> 0) + 1) / 2 ** 32;
}

/**
 * Set to `true` on an error that no stale value may stand in for (fail-safe answers the stale value for any
 * other failure): the Nest layer marks a response that cannot be shared this way.
 */
export const FAIL_SAFE_EXEMPT = Symbol.for('nestjs-memolock.failSafeExempt');

/** Whether fail-safe may answer a stale value instead of `error`: not for a misuse of this package. */
export function failSafeCovers(error: unknown): boolean {
  if (error instanceof MemoLockArgumentError) return false;
  return (error as Record<symbol, unknown> | null)?.[FAIL_SAFE_EXEMPT] !== true;
}
