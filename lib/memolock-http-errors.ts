/**
 * What a memoized route answers when it has no value, the same in every process: an `HttpException` keeps
 * its status and body (rebuilt from the failure notice elsewhere); any other failure answers Nest's
 * generic 500, never its message; a caller's timeout answers 503 with `Retry-After` (the computation goes
 * on and stores its value, so a retry soon is likely a hit); a shutdown answers 503.
 */
import { HttpException, HttpStatus, ServiceUnavailableException } from '@nestjs/common';
import {
  MemoLockClosedError,
  MemoLockComputationError,
  MemoLockRemoteComputationError,
  MemoLockTimeoutError,
} from './errors';

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
    return { error, headers: {}, detail: 'error' };
  }
  const e = error as { status?: unknown; statusCode?: unknown; message?: unknown } | undefined;
  if (typeof e?.status === 'number' || typeof e?.statusCode === 'number') {
    // Nest's filter would answer its status and message here (and only here): answer as elsewhere.
    return {
      error: new MemoLockComputationError(
        `The memoized computation failed with a ${(error as Error)?.name ?? 'non-HTTP'} error carrying an HTTP status; answered as ${HttpStatus.INTERNAL_SERVER_ERROR}.`,
        { cause: error },
      ),
      headers: {},
      detail: 'error',
    };
  }
  return { error, headers: {}, detail: 'error' };
}
