/**
 * What both engines do with a computation's result before it is stored, and with a stored string after it
 * is read: validate `{ value, ttl }`, encode, decode, each failure as a clear `MemoLockError`.
 */
import {
  MemoLockInvalidResultError,
  MemoLockSerializationError,
  MemoLockValueTooLargeError,
} from '../errors';
import { describe, Messages } from '../memolock.messages';
import { activeFreshness, type Freshness, freshnessProfile, mergeFreshness, NO_FRESHNESS } from './freshness';
import type {
  MemoLockBehaviourOptions,
  MemoLockFreshnessOptions,
  MemoLockOptions,
  OnComputeError,
  OnRedisError,
} from './memolock-engine.interface';
import { resourceNames, type ResourceNames } from './protocol';
import { type MemoLockSerializer, resolveSerializer } from './serializer';
import { assertBehaviourOptions, assertTag, assertTagOptions, isWellFormed, toRedisMs } from './validation';

/** A tag's options with the engine's defaults filled in. */
export interface ResolvedTagOptions {
  tag: string;
  lockTimeout: number;
  serializer: MemoLockSerializer;
  onRedisError: OnRedisError;
  onComputeError: OnComputeError;
  maxValueBytes: number;
  /** The freshness options as given (defaults filled in), also when they change nothing. */
  freshnessSettings: Freshness;
  /** The freshness options when they are on; `undefined`: the tag reads and writes `T:I` alone. */
  freshness: Freshness | undefined;
  /**
   * Starts the in-process coalescing key of every resource of this tag: handles of one tag coalesce only when
   * their options are the same (see {@link Coalescer}).
   */
  flightPrefix: string;
  /** Options made for calls with freshness options of their own (see {@link withCallFreshness}). */
  perCall: boolean;
  names(id: string): ResourceNames;
}

/** Defaults every engine starts from. */
export const DEFAULT_BEHAVIOUR = {
  onRedisError: 'compute',
  onComputeError: 'reject',
  maxValueBytes: 8 * 1024 * 1024,
} as const;

/** Validates engine-level defaults (`prefix` names them in errors) and resolves their serializer. */
export function resolveEngineDefaults(options: MemoLockBehaviourOptions, prefix: string) {
  assertBehaviourOptions(options, prefix);
  return {
    serializer: resolveSerializer(options.serializer, `${prefix}.serializer`),
    onRedisError: options.onRedisError ?? DEFAULT_BEHAVIOUR.onRedisError,
    onComputeError: options.onComputeError ?? DEFAULT_BEHAVIOUR.onComputeError,
    maxValueBytes: options.maxValueBytes ?? DEFAULT_BEHAVIOUR.maxValueBytes,
  };
}

/** Validates `memoLock(tag, options)` and merges it over the engine's defaults. */
export function resolveTagOptions(
  tag: unknown,
  options: unknown,
  defaults: ReturnType<typeof resolveEngineDefaults> & { channelPrefix?: string },
): ResolvedTagOptions {
  assertTag(tag);
  assertTagOptions(options);
  const o = options as MemoLockOptions;
  const resolved = {
    tag,
    lockTimeout: o.lockTimeout,
    serializer:
      o.serializer === undefined
        ? defaults.serializer
        : resolveSerializer(o.serializer, 'options.serializer'),
    onRedisError: o.onRedisError ?? defaults.onRedisError,
    onComputeError: o.onComputeError ?? defaults.onComputeError,
    maxValueBytes: o.maxValueBytes ?? defaults.maxValueBytes,
    names: (id: string) => resourceNames(tag, id, defaults.channelPrefix),
  };
  return withFreshness(resolved, mergeFreshness(NO_FRESHNESS, o), false);
}

/**
 * The options of a call that gives freshness options of its own (validated already): the tag's, with those
 * over them. The same object when they change nothing.
 */
export function withCallFreshness(
  tag: ResolvedTagOptions,
  call: MemoLockFreshnessOptions,
): ResolvedTagOptions {
  const settings = mergeFreshness(tag.freshnessSettings, call);
  const same = freshnessProfile(settings) === freshnessProfile(tag.freshnessSettings);
  return same ? tag : withFreshness(tag, settings, true);
}

type CoreOptions = Omit<ResolvedTagOptions, 'freshnessSettings' | 'freshness' | 'flightPrefix' | 'perCall'>;

function withFreshness(core: CoreOptions, settings: Freshness, perCall: boolean): ResolvedTagOptions {
  const freshness = activeFreshness(settings);
  const profile = [
    serializerIdentity(core.serializer),
    core.lockTimeout,
    core.onRedisError,
    core.onComputeError,
    core.maxValueBytes,
    freshnessProfile(freshness),
  ].join(',');
  return {
    tag: core.tag,
    lockTimeout: core.lockTimeout,
    serializer: core.serializer,
    onRedisError: core.onRedisError,
    onComputeError: core.onComputeError,
    maxValueBytes: core.maxValueBytes,
    names: core.names,
    freshnessSettings: settings,
    freshness,
    // A tag holds no ':', so the prefix ends where the tag's part does and the key cannot be read two ways.
    flightPrefix: `${profile}/${core.tag}:`,
    perCall,
  };
}

const serializerIds = new WeakMap<MemoLockSerializer, number>();
let nextSerializerId = 0;

/** The same number for the same serializer object, whichever handle uses it. */
function serializerIdentity(serializer: MemoLockSerializer): number {
  let id = serializerIds.get(serializer);
  if (id === undefined) serializerIds.set(serializer, (id = nextSerializerId++));
  return id;
}

/** Runs the computation and validates what it resolves to; returns the encoded value and its ttl in ms. */
export async function computeValue(
  tag: ResolvedTagOptions,
  id: string,
  compute: () => unknown,
): Promise<{ encoded: string; ttl: number }> {
  const result = (await compute()) as { value?: unknown; ttl?: unknown } | undefined;
  const context = { tag: tag.tag, id };
  if (typeof result !== 'object' || result === null || !('value' in result)) {
    throw new MemoLockInvalidResultError(Messages.invalidResult(tag.tag, id, result), context);
  }
  const { ttl } = result;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > Number.MAX_SAFE_INTEGER) {
    throw new MemoLockInvalidResultError(Messages.invalidTtl(tag.tag, id, ttl), context);
  }
  let encoded: unknown;
  try {
    encoded = tag.serializer.serialize(result.value);
  } catch (error) {
    throw new MemoLockSerializationError(Messages.cannotSerialize(tag.tag, id, reason(error)), {
      ...context,
      cause: error,
    });
  }
  if (typeof encoded !== 'string') {
    throw new MemoLockSerializationError(
      Messages.cannotSerialize(tag.tag, id, `serialize() must return a string, got ${describe(encoded)}`),
      context,
    );
  }
  // Redis stores UTF-8: a lone surrogate would be stored as U+FFFD, and every other reader would get another
  // string than this process's callers.
  if (!isWellFormed(encoded)) {
    throw new MemoLockSerializationError(
      Messages.cannotSerialize(tag.tag, id, Messages.illFormed('the serialized value')),
      context,
    );
  }
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short values skip the byte count.
  if (encoded.length * 3 > tag.maxValueBytes) {
    const bytes = Buffer.byteLength(encoded, 'utf8');
    if (bytes > tag.maxValueBytes) {
      throw new MemoLockValueTooLargeError(
        Messages.valueTooLarge(tag.tag, id, bytes, tag.maxValueBytes),
        context,
        bytes,
        tag.maxValueBytes,
      );
    }
  }
  return { encoded, ttl: toRedisMs(ttl) };
}

/** Decodes a stored or published string; a string the serializer cannot read is a clear error, never a crash. */
export function decodeValue(tag: ResolvedTagOptions, id: string, raw: string): unknown {
  try {
    return tag.serializer.deserialize(raw);
  } catch (error) {
    throw new MemoLockSerializationError(Messages.cannotDeserialize(tag.tag, id, reason(error)), {
      tag: tag.tag,
      id,
      cause: error,
    });
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
