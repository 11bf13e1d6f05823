/**
 * Every error this package throws, in one place. Each carries a stable `code` so that callers can branch on
 * it without matching messages, and the context that explains it (`tag`, `id`, `cause`).
 */

/** Stable codes of {@link MemoLockError} and its subclasses. */
export const MemoLockErrorCode = {
  InvalidArgument: 'E_MEMOLOCK_INVALID_ARGUMENT',
  Timeout: 'E_MEMOLOCK_TIMEOUT',
  Renew: 'E_MEMOLOCK_RENEW',
  Closed: 'E_MEMOLOCK_CLOSED',
  Serialization: 'E_MEMOLOCK_SERIALIZATION',
  InvalidResult: 'E_MEMOLOCK_INVALID_RESULT',
  ValueTooLarge: 'E_MEMOLOCK_VALUE_TOO_LARGE',
  Redis: 'E_MEMOLOCK_REDIS',
  RemoteComputation: 'E_MEMOLOCK_REMOTE_COMPUTATION',
  Computation: 'E_MEMOLOCK_COMPUTATION',
} as const;
export type MemoLockErrorCode = (typeof MemoLockErrorCode)[keyof typeof MemoLockErrorCode];

/** Where an error happened: the resource tag and id, when there is one. */
export interface MemoLockErrorContext {
  tag?: string;
  id?: string;
  cause?: unknown;
}

/**
 * Base class of every error of this package.
 *
 * @example
 * try { await likes.getResource(id, 1_000, compute); }
 * catch (e) { if (e instanceof MemoLockError && e.code === 'E_MEMOLOCK_TIMEOUT') { ... } }
 */
export class MemoLockError extends Error {
  readonly code: MemoLockErrorCode;
  readonly tag?: string;
  readonly id?: string;

  constructor(code: MemoLockErrorCode, message: string, context: MemoLockErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.tag = context.tag;
    this.id = context.id;
  }
}

/** An argument was rejected before anything was sent to Redis. `argument` names it. */
export class MemoLockArgumentError extends MemoLockError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(MemoLockErrorCode.InvalidArgument, message);
  }
}

/** The caller's timeout passed before a value arrived. Nothing of the call is left behind. */
export class MemoLockTimeoutError extends MemoLockError {
  constructor(
    message: string,
    context: MemoLockErrorContext,
    readonly timeout: number,
  ) {
    super(MemoLockErrorCode.Timeout, message, context);
  }
}

/** The lock holder tried to extend its lease but no longer holds the lock (it expired or was taken over). */
export class MemoLockRenewError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext) {
    super(MemoLockErrorCode.Renew, message, context);
  }
}

/** The engine was closed while the call was pending, or a call was made after close(). */
export class MemoLockClosedError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext = {}) {
    super(MemoLockErrorCode.Closed, message, context);
  }
}

/** The serializer could not encode the computed value, or could not decode a value read from Redis. */
export class MemoLockSerializationError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext) {
    super(MemoLockErrorCode.Serialization, message, context);
  }
}

/** The computation resolved to something other than `{ value, ttl }` with a positive finite ttl. */
export class MemoLockInvalidResultError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext) {
    super(MemoLockErrorCode.InvalidResult, message, context);
  }
}

/** The encoded value is larger than `maxValueBytes`; nothing was stored or published. */
export class MemoLockValueTooLargeError extends MemoLockError {
  constructor(
    message: string,
    context: MemoLockErrorContext,
    readonly bytes: number,
    readonly maxValueBytes: number,
  ) {
    super(MemoLockErrorCode.ValueTooLarge, message, context);
  }
}

/** Redis failed (connection lost, command timed out, error reply) and `onRedisError` is `'throw'`. */
export class MemoLockRedisError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext) {
    super(MemoLockErrorCode.Redis, message, context);
  }
}

/** What a failed computation in another process told its waiters. */
export interface RemoteFailure {
  /** `name` of the error the computation threw (`'Error'`, `'NotFoundException'`, ...). */
  name: string;
  message: string;
  /** The error's own `code`, when it had a string or number one. */
  code?: string | number;
  /** An HTTP status the error carried (`status` or `statusCode`), so that HTTP layers can answer alike. */
  status?: number;
  /** The error's JSON-safe `response` body (as Nest's `HttpException` has), when it had one. */
  response?: unknown;
  /**
   * `false` when no stale value may stand in for this failure (fail-safe): a programming error, or an HTTP
   * response that cannot be shared.
   */
  failSafe?: false;
}

/**
 * The computation failed in another process. Waiters in the process that computed receive the original
 * error; waiters elsewhere receive this, with what could be carried over in `remote`.
 */
export class MemoLockRemoteComputationError extends MemoLockError {
  constructor(
    message: string,
    context: MemoLockErrorContext,
    readonly remote: RemoteFailure,
  ) {
    super(MemoLockErrorCode.RemoteComputation, message, context);
  }
}

/**
 * A memoized HTTP handler failed with an error that is not an `HttpException` (a `TypeORM` `EntityNotFound`,
 * an axios error carrying a status, ...). Every process throws this one type for it: the process that
 * computed with the original as `cause`, the others with the `MemoLockRemoteComputationError` they received.
 * Nest answers it with its generic 500 everywhere; an exception filter for the original's class would
 * otherwise answer in the computing process only. To answer another status, throw an `HttpException`.
 */
export class MemoLockComputationError extends MemoLockError {
  constructor(message: string, context: MemoLockErrorContext) {
    super(MemoLockErrorCode.Computation, message, context);
  }
}
