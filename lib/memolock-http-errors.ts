/**
 * What a memoized route answers when it has no value, the same in every process: an `HttpException` keeps
 * its status and body (rebuilt from the failure notice elsewhere); any other failure of the computation is
 * a `MemoLockComputationError` in every process (the original its `cause` where it ran), which Nest answers
 * with its generic 500, never the message; a caller's timeout answers 503 with `Retry-After` (the
 * computation goes on and stores its value, so a retry soon is likely a hit); a shutdown answers 503.
 */
import { HttpException, ServiceUnavailableException } from '@nestjs/common';
import {
  MemoLockArgumentError,
  MemoLockClosedError,
  MemoLockComputationError,
  MemoLockRedisError,
  MemoLockRemoteComputationError,
  MemoLockTimeoutError,
} from './errors';
import { Messages } from './memolock.messages';

/** Seconds a client is told to wait before retrying a request that timed out. */
export const RETRY_AFTER_SECONDS = 1;

/** The answer to a failure: the error for Nest's exception filters, and headers to set first. */
export interface FailureAnswer {
  error: unknown;
  headers: Record<string, string>;
  /** RFC 9211 `detail` of `Cache-Status`. */
  detail: string;
}

export function answerFailure(error: unknown): FailureAnswer {
  if (error instanceof HttpException) return { error, headers: {}, detail: 'error' };
  if (error instanceof MemoLockTimeoutError) {
    return {
      error: new ServiceUnavailableException(
        `The response was not ready within ${error.timeout} ms; it is still being computed. Retry after ${RETRY_AFTER_SECONDS} s.`,
        { cause: error },
      ),
      headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      detail: 'timeout',
    };
  }
  if (error instanceof MemoLockClosedError) {
    return {
      error: new ServiceUnavailableException('The server is shutting down.', { cause: error }),
      headers: {},
      detail: 'closed',
    };
  }
  if (error instanceof MemoLockRemoteComputationError) {
    const { status, response } = error.remote;
    // Only an HttpException has getResponse(), which is where `response` comes from.
    if (typeof status === 'number' && response !== undefined) {
      return {
        error: new HttpException(response as object, status, { cause: error }),
        headers: {},
        detail: 'error',
      };
    }
  }
  // What each process meets for itself (Redis, a bad key) is alike everywhere already.
  if (error instanceof MemoLockRedisError || error instanceof MemoLockArgumentError) {
    return { error, headers: {}, detail: 'error' };
  }
  // Any other failure: the process that computed has the original, the others a notice of it. An exception
  // filter for the original's class (@Catch(EntityNotFound) answering 404) would answer in one process only;
  // one error type everywhere makes it the same 500 in all of them.
  const { name, message } = describeFailure(error);
  return {
    error: new MemoLockComputationError(Messages.routeFailed(name, message), { cause: error }),
    headers: {},
    detail: 'error',
  };
}

function describeFailure(error: unknown): { name: string; message: string } {
  if (error instanceof MemoLockRemoteComputationError) return error.remote;
  if (error instanceof Error) return error;
  return { name: typeof error, message: String(error) };
}
