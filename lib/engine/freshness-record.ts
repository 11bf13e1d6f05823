/**
 * What this package stores beside `T:I` for tags with freshness options, and how it reads it back. Nothing
 * of it is under `T:` or published on a channel: Go/C# peers never see it (SPEC §2, §7).
 *
 * - `T/meta:I`, the record of the value `T:I` holds: `1,<expiresAt>,<delta>,<length>,<fingerprint>`, with
 *   the wall-clock time (ms) its ttl ends, how long its computation took (ms), its length and a fingerprint
 *   that bind the record to that value. It lives for ttl + grace.
 * - `T/stale:I`, the stale copy (with a grace only): the record, the grace (ms) and the encoded value, each
 *   after a newline. Also ttl + grace: what is left of its own ttl, by Redis's clock, tells how long ago the
 *   value expired (see redis-extras.ts's readStale), whatever the hosts' clocks say.
 * - `T/throttle:I`, fail-safe's pause: set for `failSafeThrottle` ms after a failed recomputation.
 *
 * A value written by anyone else (a Go peer, an external program, a handle without these options) comes
 * without a record, or finds one that does not describe it: it is served as a plain, fresh value.
 */
import { createHash } from 'node:crypto';

export interface FreshnessRecord {
  /** The record as stored: compared as a whole to tell whether it changed. */
  text: string;
  /** Wall-clock time (ms since the epoch) at which the value's ttl ends. */
  expiresAt: number;
  /** How long the value took to compute (ms, at least 1). */
  delta: number;
  /** The encoded value's length (UTF-16 code units), checked on every hit. */
  length: number;
  /** See {@link fingerprint}: checked before a refresh is started on the record's word. */
  fingerprint: string;
}

const VERSION = '1';

/** The record of `encoded`, stored for `ttl` ms now, computed in `delta` ms. */
export function describeValue(encoded: string, ttl: number, delta: number, now = Date.now()): string {
  const took = Math.max(1, Math.ceil(delta));
  return `${VERSION},${now + ttl},${took},${encoded.length},${fingerprint(encoded)}`;
}

/** A record as read from Redis, or `undefined` for nothing or anything unreadable (never a crash). */
export function parseRecord(text: string | null | undefined): FreshnessRecord | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split(',');
  if (parts.length !== 5 || parts[0] !== VERSION) return undefined;
  const expiresAt = Number(parts[1]);
  const delta = Number(parts[2]);
  const length = Number(parts[3]);
  if (!Number.isFinite(expiresAt) || !(delta >= 0) || !Number.isInteger(length)) return undefined;
  return { text, expiresAt, delta, length, fingerprint: parts[4] };
}

/** Cheap, on every hit: whether the record may describe `raw` (its length is right). */
export function mayDescribe(record: FreshnessRecord, raw: string): boolean {
  return record.length === raw.length;
}

/** Whether the record describes `raw` exactly (hashes it: only before acting on the record's word). */
export function describes(record: FreshnessRecord, raw: string): boolean {
  return mayDescribe(record, raw) && record.fingerprint === fingerprint(raw);
}

/** The stale copy of a value stored with `grace`, as stored under `T/stale:I`. */
export function staleCopy(record: string, grace: number, encoded: string): string {
  return `${record}\n${grace}\n${encoded}`;
}

/** A stale copy as read back. */
export interface StaleCopy {
  record: FreshnessRecord;
  /** The grace the writer stored it with (ms). */
  grace: number;
  encoded: string;
}

/** A stale copy read back, or `undefined` for nothing or anything unreadable (an older layout included). */
export function parseStaleCopy(text: string | null): StaleCopy | undefined {
  if (text === null) return undefined;
  const first = text.indexOf('\n');
  const second = first < 0 ? -1 : text.indexOf('\n', first + 1);
  if (second < 0) return undefined;
  const record = parseRecord(text.slice(0, first));
  const grace = Number(text.slice(first + 1, second));
  const encoded = text.slice(second + 1);
  if (!record || !(grace > 0) || !describes(record, encoded)) return undefined;
  return { record, grace, encoded };
}

/** A short fingerprint of an encoded value (16 characters of its SHA-1): binds a record to its value. */
export function fingerprint(encoded: string): string {
  return createHash('sha1').update(encoded).digest('base64').slice(0, 16);
}
