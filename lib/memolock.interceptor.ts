/**
 * Serves `@MemoLocked` controller handlers through MemoLock. Registered globally by `MemoLockModule`, so
 * decorating a handler is enough; handlers without the decorator pass straight through.
 *
 * It never serves one user's response to another by default: it memoizes GET and HEAD only, and bypasses
 * requests that carry `Authorization` or `Cookie` unless the decorator's `key` says how the response varies.
 * It reports what happened in an RFC 9211 `Cache-Status` header.
 */
import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  type NestInterceptor,
  StreamableFile,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import type { MemoLockStatus } from './engine/memolock-engine.interface';
import { MemoLockRemoteComputationError } from './errors';
import { getMemoLockedOptions, type MemoLockedOptions } from './memo-locked.decorator';
import { CACHE_STATUS_NAME } from './memolock.constants';
import { shorten, stableStringify } from './memolock-key';
import { MemoLockService } from './memolock.service';

interface HttpRequest {
  method?: string;
  headers?: Record<string, string | string[] | undefined>;
  params?: unknown;
  query?: unknown;
}

/** Thrown by a computation whose handler answered with a stream: such answers are never shared. */
class NotMemoizableError extends Error {
  constructor(readonly value: unknown) {
    super('the handler answered with a stream, which cannot be shared');
    this.name = NOT_MEMOIZABLE;
  }
}
const NOT_MEMOIZABLE = 'MemoLockNotMemoizableError';

const STATUS_HEADER: Record<MemoLockStatus | 'bypass', string> = {
  hit: `${CACHE_STATUS_NAME}; hit`,
  stored: `${CACHE_STATUS_NAME}; fwd=uri-miss; stored`,
  collapsed: `${CACHE_STATUS_NAME}; fwd=uri-miss; collapsed`,
  uncached: `${CACHE_STATUS_NAME}; fwd=uri-miss`,
  bypass: `${CACHE_STATUS_NAME}; fwd=bypass`,
};

@Injectable()
export class MemoLockInterceptor implements NestInterceptor {
  /** Handlers seen answering with a stream: bypassed from then on. */
  readonly #streaming = new WeakSet<object>();

  constructor(
    @Inject(MemoLockService) private readonly memoLock: MemoLockService,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const handler = context.getHandler();
    const options = getMemoLockedOptions(handler);
    if (!options || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const response = context.switchToHttp().getResponse<unknown>();
    const method = request.method?.toUpperCase();
    const personal =
      !options.key && (request.headers?.authorization !== undefined || request.headers?.cookie !== undefined);
    if ((method !== 'GET' && method !== 'HEAD') || personal || this.#streaming.has(handler)) {
      this.#setStatus(response, 'bypass');
      return next.handle();
    }
    return defer(() => this.#serve(context, next, options, request, response));
  }

  /** The resource id of a request: the decorator's `key`, or the handler plus its params and query. */
  protected resourceId(
    context: ExecutionContext,
    request: HttpRequest,
    options: Readonly<MemoLockedOptions>,
  ): string {
    if (options.key) return options.key(context, request);
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    return shorten(
      `${route}:${stableStringify({ params: request.params ?? {}, query: request.query ?? {} })}`,
    );
  }

  async #serve(
    context: ExecutionContext,
    next: CallHandler,
    options: Readonly<MemoLockedOptions>,
    request: HttpRequest,
    response: unknown,
  ): Promise<unknown> {
    const handler = context.getHandler();
    let ran = false;
    try {
      const { value, status } = await this.memoLock
        .handleFor(options)
        .getResourceWithStatus(this.resourceId(context, request, options), options.timeout, async () => {
          ran = true;
          const value = await lastValueFrom(next.handle(), { defaultValue: undefined });
          if (value instanceof StreamableFile || typeof (value as { pipe?: unknown })?.pipe === 'function') {
            throw new NotMemoizableError(value);
          }
          return { value, ttl: typeof options.ttl === 'function' ? options.ttl(value) : options.ttl };
        });
      this.#setStatus(response, status);
      return value;
    } catch (error) {
      if (
        error instanceof NotMemoizableError ||
        (error instanceof MemoLockRemoteComputationError && error.remote.name === NOT_MEMOIZABLE)
      ) {
        this.#streaming.add(handler);
        this.#setStatus(response, 'bypass');
        // The computing request answers with its own stream; any other runs the handler for itself.
        return error instanceof NotMemoizableError && ran
          ? error.value
          : lastValueFrom(next.handle(), { defaultValue: undefined });
      }
      if (error instanceof MemoLockRemoteComputationError && typeof error.remote.status === 'number') {
        // An HttpException in another process: answer alike.
        throw new HttpException(error.remote.response ?? error.remote.message, error.remote.status, {
          cause: error,
        });
      }
      throw error;
    }
  }

  #setStatus(response: unknown, status: MemoLockStatus | 'bypass'): void {
    this.adapterHost.httpAdapter?.setHeader(response, 'Cache-Status', STATUS_HEADER[status]);
  }
}
