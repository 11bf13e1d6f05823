/**
 * The wire protocol shared with the Go and C# `redis-memolock` (SPEC §2), plus the one channel this package
 * adds. Nothing here talks to Redis.
 */
import type { RemoteFailure } from '../errors';
import { failSafeCovers } from './freshness';

/** The Redis names of one resource. */
export interface ResourceNames {
  /** `T:I`, the cached value. */
  valueKey: string;
  /** `T/lock:I`, the lock; its value is the holder's random token. */
  lockKey: string;
  /** `T/notif:I`, where the holder publishes the value. */
  notifChannel: string;
  /** `T/fail:I`, where the holder announces that the computation failed (ours only). */
  failChannel: string;
  /** `T/meta:I`, the record of the value `T:I` holds (freshness options only; see freshness-record.ts). */
  metaKey: string;
  /** `T/stale:I`, the value's stale copy (with a grace only). */
  staleKey: string;
  /** `T/throttle:I`, fail-safe's pause after a failed recomputation. */
  throttleKey: string;
}

export const NOTIF_INFIX = '/notif:';
// Failure notices get a channel of their own: Go/C# waiters PSUBSCRIBE `T/notif:*` and would take anything
// published there for a value.
export const FAIL_INFIX = '/fail:';

// Keys this package adds start with `T/`, never `T:`: no Go/C# key and no `T:*` SCAN of a peer matches them.
export const META_INFIX = '/meta:';
export const STALE_INFIX = '/stale:';
export const THROTTLE_INFIX = '/throttle:';

/**
 * @param channelPrefix the client's `keyPrefix`: ioredis prefixes the keys but not the channels, so the
 * channels get it here, and one prefix's waiters never hear another's values.
 */
export function resourceNames(tag: string, id: string, channelPrefix = ''): ResourceNames {
  return {
    valueKey: `${tag}:${id}`,
    lockKey: `${tag}/lock:${id}`,
    notifChannel: `${channelPrefix}${tag}${NOTIF_INFIX}${id}`,
    failChannel: `${channelPrefix}${tag}${FAIL_INFIX}${id}`,
    metaKey: `${tag}${META_INFIX}${id}`,
    staleKey: `${tag}${STALE_INFIX}${id}`,
    throttleKey: `${tag}${THROTTLE_INFIX}${id}`,
  };
}

/**
 * The `keyPrefix` ioredis puts before every key this client sends (`''` without one). Keys, locks and
 * channels all live under it, so that a Go/C# peer sees tag `T` of a client with prefix `P` as tag `PT`.
 */
export function keyPrefixOf(client: { options?: { keyPrefix?: unknown } }): string {
  const prefix = client.options?.keyPrefix;
  return prefix === undefined || prefix === null ? '' : String(prefix);
}

/** `text` as a glob that matches it literally (SCAN MATCH, PSUBSCRIBE). */
export function globLiteral(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/**
 * The one pattern a process subscribes to per tag: it covers `T/notif:*` and `T/fail:*`. Tags cannot hold
 * glob characters, but a backslash would still escape the next character, so escape everything special.
 */
export function tagPattern(tag: string, channelPrefix = ''): string {
  return `${globLiteral(channelPrefix + tag)}/*`;
}

/** What a message on a tag's pattern is about; `undefined` for channels that are not ours. */
export type ChannelMessage = { kind: 'value' | 'failure'; tag: string; id: string };

export function parseChannel(whole: string, channelPrefix = ''): ChannelMessage | undefined {
  if (!whole.startsWith(channelPrefix)) return undefined;
  const channel = whole.slice(channelPrefix.length);
  const slash = channel.indexOf('/');
  if (slash <= 0) return undefined;
  const tag = channel.slice(0, slash);
  if (channel.startsWith(NOTIF_INFIX, slash)) {
    return { kind: 'value', tag, id: channel.slice(slash + NOTIF_INFIX.length) };
  }
  if (channel.startsWith(FAIL_INFIX, slash)) {
    return { kind: 'failure', tag, id: channel.slice(slash + FAIL_INFIX.length) };
  }
  return undefined;
}

/** Longest error message carried to other processes; the rest stays in the computing process. */
const MAX_REMOTE_MESSAGE = 2_000;

/** Encodes what other processes learn of a failed computation. Never throws. */
export function encodeFailure(error: unknown): string {
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<
    string,
    unknown
  >;
  const failure: RemoteFailure = {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: String(e.message ?? 'computation failed').slice(0, MAX_REMOTE_MESSAGE),
  };
  if (typeof e.code === 'string' || typeof e.code === 'number') failure.code = e.code;
  if (!failSafeCovers(error)) failure.failSafe = false;
  const status =
    typeof e.getStatus === 'function' ? safely(() => (e.getStatus as () => unknown)()) : e.status;
  const statusCode = status ?? e.statusCode;
  if (typeof statusCode === 'number') failure.status = statusCode;
  const response =
    typeof e.getResponse === 'function' ? safely(() => (e.getResponse as () => unknown)()) : undefined;
  if (response !== undefined) {
    const json = safely(() => JSON.stringify(response));
    if (typeof json === 'string' && json.length <= 16_384) failure.response = JSON.parse(json);
  }
  return JSON.stringify({ memolock: 1, failure });
}

/**
 * Published on `T/fail:I` by a holder that computed the value but could not store it: no value is coming,
 * and the waiters go back to the lock at once, so that one of them computes again.
 */
export const GIVE_UP_NOTICE = JSON.stringify({ memolock: 1, gaveUp: true });

/**
 * Decodes a notice of `T/fail:I`: a failure, or `'gave-up'`. Anything malformed still reads as a failure,
 * never as a crash.
 */
export function decodeNotice(payload: string): RemoteFailure | 'gave-up' {
  const parsed = safely(() => JSON.parse(payload)) as
    { failure?: RemoteFailure; gaveUp?: unknown } | undefined;
  if (parsed?.gaveUp === true) return 'gave-up';
  const failure = parsed?.failure;
  if (failure && typeof failure.message === 'string' && typeof failure.name === 'string') return failure;
  return { name: 'Error', message: 'computation failed (unreadable failure notice)' };
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
