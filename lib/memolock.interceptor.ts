/**
 * Serves `@MemoLocked` controller handlers through MemoLock. Registered globally by `MemoLockModule`, so
 * decorating a handler is enough; handlers without the decorator pass straight through.
 *
 * It never serves one user's response to another by default: it memoizes GET and HEAD only; it bypasses
 * requests that carry `Authorization` or `Cookie` unless `key` (or `vary`) says how the response varies,
 * and handlers whose startup plan found request data the id does not cover. What it stores is the whole
 * response (status, headers the handler set, body). It reports what happened in an RFC 9211 `Cache-Status`
 * header, error answers included.
 */
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import type { MemoLockCallOptions, MemoLockStatus } from './engine/memolock-engine.interface';
import { BOUND_TO_CALLER } from './engine/memolock-handle';
import { MemoLockRemoteComputationError } from './errors';
import { getMemoLockedOptions, type MemoLockedOptions } from './memo-locked.decorator';
import { CACHE_STATUS_NAME } from './memolock.constants';
import { answerFailure } from './memolock-http-errors';
import { httpId } from './memolock-identity';
import { Messages } from './memolock.messages';
import { MemoLockExplorer } from './memolock.explorer';
import { describePair } from './memolock.registry';
import {
  bodyOf,
  isMemoizedResponse,
  type MemoizedResponse,
  NOT_SHAREABLE,
  NotShareableError,
  replayResponse,
  ResponseRecorder,
} from './memolock-response';
import type { RoutePlan } from './memolock-route-plan';
import { holdsClassInstances } from './memolock-serializer-order';
import { MemoLockService } from './memolock.service';

interface HttpRequest {
  method?: string;
  headers?: Record<string, string | string[] | undefined>;
}

const STATUS_HEADER: Record<MemoLockStatus | 'bypass', string> = {
  hit: `${CACHE_STATUS_NAME}; hit`,
  stored: `${CACHE_STATUS_NAME}; fwd=uri-miss; stored`,
  collapsed: `${CACHE_STATUS_NAME}; fwd=uri-miss; collapsed`,
  uncached: `${CACHE_STATUS_NAME}; fwd=uri-miss`,
  // RFC 9211: the cache had a response, but a stale one (served while it is recomputed, or fail-safe).
  stale: `${CACHE_STATUS_NAME}; fwd=stale`,
  bypass: `${CACHE_STATUS_NAME}; fwd=bypass`,
};

/** The options of every memoized request: its handler's work is bound to it (see `BOUND_TO_CALLER`). */
const BOUND = Object.freeze({ [BOUND_TO_CALLER]: true }) as MemoLockCallOptions;

@Injectable()
export class MemoLockInterceptor implements NestInterceptor {
  readonly #logger = new Logger('MemoLock');
  /** Routes seen answering what cannot be shared (a stream, a cookie): bypassed from then on. */
  readonly #notShared = new WeakSet<RoutePlan>();
  /** Set when a serializer may run outside this interceptor: class instances are then never shared. */
  #classInstancesUnsafe = false;
  /** Routes warned about for an entry that holds something other than a stored response. */
  readonly #foreign = new WeakSet<RoutePlan>();

  constructor(
    @Inject(MemoLockService) private readonly memoLock: MemoLockService,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(MemoLockExplorer) private readonly explorer: MemoLockExplorer,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const handler = context.getHandler();
    const options = getMemoLockedOptions(handler);
    if (!options || context.getType() !== 'http') return next.handle();
    const plan = this.explorer.routePlan(context.getClass(), handler.name, options);
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const response = context.switchToHttp().getResponse<unknown>();
    const method = request.method?.toUpperCase();
    if (
      (method !== 'GET' && method !== 'HEAD') ||
      plan.bypass ||
      this.#notShared.has(plan) ||
      this.#personal(request, options)
    ) {
      this.#setStatus(response, STATUS_HEADER.bypass);
      return next.handle();
    }
    return defer(() => this.#serve(context, next, plan, request, response));
  }

  /**
   * @internal Called at startup when the order of global interceptors cannot be verified (see
   * memolock-serializer-order.ts): responses holding class instances are not shared from then on.
   */
  shareNoClassInstances(): void {
    this.#classInstancesUnsafe = true;
  }

  /**
   * The resource id of a request: the decorator's `key`, or the hostname (which host params come from),
   * the path (which params come from), the query and the `vary` headers. See `memolock-identity.ts`.
   */
  protected resourceId(
    context: ExecutionContext,
    request: HttpRequest,
    options: Readonly<MemoLockedOptions>,
  ): string {
    if (options.key) return options.key(context, request);
    const adapter = this.adapterHost.httpAdapter;
    const vary = (options.vary ?? []).map((name) => [name, request.headers?.[name]] as const);
    return httpId({
      hostname: adapter.getRequestHostname?.(request) ?? '',
      url: adapter.getRequestUrl?.(request) ?? '/',
      vary,
    });
  }

  /** A request for one user only: `Authorization` or `Cookie` that neither `key` nor `vary` accounts for. */
  #personal(request: HttpRequest, options: Readonly<MemoLockedOptions>): boolean {
    if (options.key) return false;
    const vary = options.vary ?? [];
    return ['authorization', 'cookie'].some(
      (name) => request.headers?.[name] !== undefined && !vary.includes(name),
    );
  }

  async #serve(
    context: ExecutionContext,
    next: CallHandler,
    plan: RoutePlan,
    request: HttpRequest,
    response: unknown,
  ): Promise<unknown> {
    const { options } = plan;
    const adapter = this.adapterHost.httpAdapter;
    let ran = false;
    let recorder: ResponseRecorder | undefined;
    try {
      const { value, status } = await this.memoLock
        .handleFor(options)
        .getResourceWithStatus<MemoizedResponse>(
          this.resourceId(context, request, options),
          options.timeout,
          async () => {
            ran = true;
            const recording = (recorder = new ResponseRecorder(response));
            try {
              const body = await lastValueFrom(next.handle(), { defaultValue: undefined });
              if (this.#classInstancesUnsafe && holdsClassInstances(body)) {
                throw new NotShareableError(Messages.classInstancesUnverified(), body);
              }
              const memoized = recording.capture(body);
              return {
                value: memoized,
                ttl: typeof options.ttl === 'function' ? options.ttl(body) : options.ttl,
              };
            } finally {
              recording.release();
            }
          },
          // The handler's response is this request's own: with a stale or current value at hand (grace,
          // earlyRefresh), the request whose handler runs waits for it rather than run it after answering.
          BOUND,
        );
      if (!ran && !isMemoizedResponse(value)) {
        // Not a response this package stored (another program wrote the key): never replayed.
        if (!this.#foreign.has(plan)) {
          this.#foreign.add(plan);
          this.#logger.warn(Messages.notAResponse(describePair(plan), options.tag));
        }
        this.#setStatus(response, STATUS_HEADER.bypass);
        return lastValueFrom(next.handle(), { defaultValue: undefined });
      }
      this.#setStatus(response, STATUS_HEADER[status]);
      // The computing request already has its status and headers; it answers the stored body like the rest.
      // A stale answer (its handler failed: fail-safe) is replayed whole, as for any other request.
      return ran && status !== 'stale' ? bodyOf(value) : replayResponse(value, response, adapter);
    } catch (error) {
      if (
        error instanceof NotShareableError ||
        (error instanceof MemoLockRemoteComputationError && error.remote.name === NOT_SHAREABLE)
      ) {
        if (!this.#notShared.has(plan)) {
          this.#notShared.add(plan);
          this.#logger.warn(Messages.notShared(describePair(plan), error.message));
        }
        this.#setStatus(response, STATUS_HEADER.bypass);
        // The computing request answers with its own response; any other runs the handler for itself.
        return error instanceof NotShareableError && ran
          ? error.value
          : lastValueFrom(next.handle(), { defaultValue: undefined });
      }
      recorder?.freeze(); // the handler may run on; what this answer sets is not its response
      const answer = answerFailure(error);
      const forwarded = ran ? 'fwd=uri-miss' : 'fwd=uri-miss; collapsed';
      this.#setStatus(response, `${CACHE_STATUS_NAME}; ${forwarded}; detail=${answer.detail}`);
      for (const [name, value] of Object.entries(answer.headers)) adapter.setHeader(response, name, value);
      throw answer.error;
    }
  }

  #setStatus(response: unknown, value: string): void {
    this.adapterHost.httpAdapter?.setHeader(response, 'Cache-Status', value);
  }
}
