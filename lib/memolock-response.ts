/**
 * A memoized HTTP response is the whole response, as the handler made it: its status (`@HttpCode`, or
 * `res.status()` in passthrough mode), the headers the handler set (`Content-Type`, `ETag`, ...) and its
 * body. Hits and waiters replay it; the computing request keeps its own. A response that sets a cookie or
 * answers with a stream is never shared.
 */
import { StreamableFile } from '@nestjs/common';
import type { HttpServer } from '@nestjs/common';
import { FAIL_SAFE_EXEMPT } from './engine/freshness';

/** What is stored under `T:I` for a route (JSON by default). */
export interface MemoizedResponse {
  status: number;
  /** Headers the handler set, lower-case names. */
  headers?: Record<string, string | number | string[]>;
  /** The body; absent when the handler answered `undefined`. */
  body?: unknown;
  /** A `Buffer` body, base64-encoded. */
  base64?: string;
}

/**
 * The handler's response cannot be shared; `value` is what it answered, for the request that computed it.
 * No stale response stands in for it (fail-safe): the interceptor must learn that the route is not shared.
 */
export class NotShareableError extends Error {
  readonly [FAIL_SAFE_EXEMPT] = true;

  constructor(
    readonly reason: string,
    readonly value: unknown,
  ) {
    super(reason);
    this.name = NOT_SHAREABLE;
  }
}
/** The name other processes read in the failure notice. */
export const NOT_SHAREABLE = 'MemoLockNotMemoizableError';

/** Headers that belong to one connection or one message, never replayed; `cache-status` is ours. */
const NEVER_REPLAYED = new Set([
  'cache-status',
  'connection',
  'content-length',
  'date',
  'keep-alive',
  'transfer-encoding',
]);

interface HttpResponse {
  statusCode?: number;
  getHeaders?: () => Record<string, unknown>;
}

/**
 * The response's headers as they are now: Express's `res` (Node's `getHeaders`) and Fastify's `reply` both
 * have `getHeaders`, and both return a new object (documented as a shallow copy). Its arrays are the
 * response's own, though: Fastify's `reply.header('set-cookie', ...)` pushes onto the array already there,
 * so they are copied, or a cookie added during the handler would look unchanged.
 */
export function headersOf(response: unknown): Record<string, unknown> {
  const headers = (response as HttpResponse).getHeaders?.() ?? {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) headers[name] = [...value];
  }
  return headers;
}

/**
 * Methods that set a cookie: Express's `res.cookie()`/`clearCookie()`, and `@fastify/cookie`'s
 * `reply.setCookie()`/`cookie()`/`clearCookie()`, which keep the cookie aside and write `Set-Cookie` only
 * when the reply is sent, after the response was captured.
 */
const COOKIE_SETTERS = ['cookie', 'setCookie', 'clearCookie'];

/**
 * What the cookie hooks share with every copy of this module in the process (its CommonJS and ES builds
 * both loaded, a hot reload): a hook one copy installed must tell the recorders of another, and no copy
 * hooks a method again. `watching`: the recorders watching a response while its handler runs, told by the
 * hooks; usually one, two when two MemoLock interceptors wrap the same route (the global one and one in
 * `@UseInterceptors`). `hook`: marks a hook.
 */
const { watching, hook: HOOK } = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('nestjs-memolock.cookieWatch')
] ??= { watching: new WeakMap(), hook: Symbol('nestjs-memolock.cookieHook') }) as {
  watching: WeakMap<object, Set<() => void>>;
  hook: symbol;
};
/** Response prototypes whose cookie methods this copy looked for (and hooked where they could be). */
const looked = new WeakSet<object>();

type Method = (...args: unknown[]) => unknown;
const isHook = (method: Method) => (method as unknown as Record<symbol, unknown>)[HOOK] === true;

/**
 * Hooks the cookie methods a response inherits, once per prototype: the hook tells the response's
 * recorders, if any watch, then calls the method. Hooking the prototype once costs a request nothing;
 * shadowing the methods on every response cost ~10 µs a request (`defineProperty` on the response and its
 * undoing). The hooks stay when the app closes: they call through unchanged when no recorder watches, and
 * another app of the process may share the prototype. A method that cannot be hooked (a getter, or one that
 * is not configurable, which no framework makes) is shadowed on each response instead (see
 * {@link watchCookieSetters}).
 */
function hookCookieSetters(prototype: object): void {
  looked.add(prototype);
  for (const name of COOKIE_SETTERS) {
    let owner: object | null = prototype;
    while (owner !== null && !Object.prototype.hasOwnProperty.call(owner, name))
      owner = Object.getPrototypeOf(owner);
    if (owner === null) continue;
    const own = Object.getOwnPropertyDescriptor(owner, name)!;
    const method = own.value as Method | undefined;
    if (typeof method !== 'function' || isHook(method) || !own.configurable) continue;
    const hook: Method = function (this: unknown, ...args: unknown[]) {
      if (typeof this === 'object' && this !== null) watching.get(this)?.forEach((onCall) => onCall());
      return method.apply(this, args);
    };
    (hook as unknown as Record<symbol, unknown>)[HOOK] = true;
    Object.defineProperty(hook, 'name', { value: method.name });
    Object.defineProperty(owner, name, { ...own, value: hook });
  }
}

/**
 * Calls `onCall` when the handler calls one of the response's cookie methods; returns what stops it. Hooked
 * methods (see {@link hookCookieSetters}) tell it through `watching`; any other cookie method the response
 * has (its own, or one that could not be hooked) is shadowed on the response for the time of the handler.
 */
function watchCookieSetters(response: unknown, onCall: () => void): () => void {
  if (typeof response !== 'object' || response === null) return () => undefined;
  const prototype = Object.getPrototypeOf(response) as object | null;
  if (prototype !== null && !looked.has(prototype)) hookCookieSetters(prototype);
  const target = response as Record<string, unknown>;
  const restores: Array<() => void> = [];
  for (const name of COOKIE_SETTERS) {
    const method = target[name] as Method | undefined;
    if (typeof method !== 'function' || isHook(method)) continue;
    const own = Object.getOwnPropertyDescriptor(target, name);
    if (own && !own.configurable) continue;
    Object.defineProperty(target, name, {
      configurable: true,
      writable: true,
      value: function (this: unknown, ...args: unknown[]) {
        onCall();
        return method.apply(this, args);
      },
    });
    restores.push(() => (own ? Object.defineProperty(target, name, own) : delete target[name]));
  }
  let watchers = watching.get(response);
  if (watchers === undefined) watching.set(response, (watchers = new Set()));
  watchers.add(onCall);
  return () => {
    watchers.delete(onCall);
    if (watchers.size === 0 && watching.get(response) === watchers) watching.delete(response);
    // Put back last first: V8 then undoes each added property as the last one added.
    restores
      .splice(0)
      .reverse()
      .forEach((restore) => restore());
  };
}

/**
 * Records the response one handler makes. Created just before the handler runs (what was set before is
 * Nest's or middleware's, set again on every request); `capture` takes what the handler changed since.
 * Until `release`, it also notices the handler setting a cookie through a framework's cookie methods.
 */
export class ResponseRecorder {
  readonly #response: unknown;
  readonly #before: Record<string, unknown>;
  readonly #unwatch: () => void;
  #setCookie = false;
  #frozen: { status: number; headers: Record<string, unknown> } | undefined;

  constructor(response: unknown) {
    this.#response = response;
    this.#before = headersOf(response);
    this.#unwatch = watchCookieSetters(response, () => (this.#setCookie = true));
  }

  /** The handler is done: the response's cookie methods are its own again. */
  release(): void {
    this.#unwatch();
  }

  /**
   * This request is being answered without the value (its caller's timeout) while the handler runs on:
   * the answer's own status and headers must not be taken for the handler's, so keep what it set so far.
   */
  freeze(): void {
    this.#frozen ??= this.#now();
  }

  /** The whole response the handler made, or `NotShareableError` when it cannot be shared. */
  capture(body: unknown): MemoizedResponse {
    if (body instanceof StreamableFile || typeof (body as { pipe?: unknown })?.pipe === 'function') {
      throw new NotShareableError('the handler answered with a stream, which cannot be shared', body);
    }
    const { status, headers: after } = this.#frozen ?? this.#now();
    if (
      this.#setCookie ||
      (after['set-cookie'] !== undefined && !same(after['set-cookie'], this.#before['set-cookie']))
    ) {
      throw new NotShareableError('the handler set a cookie (Set-Cookie), which is never shared', body);
    }
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(after)) {
      if (NEVER_REPLAYED.has(name) || name === 'set-cookie' || value === undefined) continue;
      if (!same(value, this.#before[name])) headers[name] = value as string | number | string[];
    }
    const memoized: MemoizedResponse = { status };
    if (Object.keys(headers).length > 0) memoized.headers = headers;
    if (Buffer.isBuffer(body)) memoized.base64 = body.toString('base64');
    else if (body !== undefined) memoized.body = body;
    return memoized;
  }

  #now() {
    return { status: (this.#response as HttpResponse).statusCode ?? 200, headers: headersOf(this.#response) };
  }
}

const ENVELOPE_FIELDS = new Set(['status', 'headers', 'body', 'base64']);

/**
 * Whether a stored value is a response this package stored: another program (or a provider method, which
 * no tag shares with a route) may have written anything under the key, and replaying that would answer
 * with no status at all.
 */
export function isMemoizedResponse(value: unknown): value is MemoizedResponse {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { status, headers, base64 } = value as Record<string, unknown>;
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599) return false;
  if (!Object.keys(value).every((field) => ENVELOPE_FIELDS.has(field))) return false;
  if (base64 !== undefined && typeof base64 !== 'string') return false;
  if (headers === undefined) return true;
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return false;
  return Object.values(headers).every(
    (v) =>
      typeof v === 'string' ||
      typeof v === 'number' ||
      (Array.isArray(v) && v.every((item) => typeof item === 'string')),
  );
}

/** Sets the memoized status and headers on this request's response, and returns the body to answer with. */
export function replayResponse(memoized: MemoizedResponse, response: unknown, adapter: HttpServer): unknown {
  adapter.status(response, memoized.status);
  for (const [name, value] of Object.entries(memoized.headers ?? {}))
    adapter.setHeader(response, name, value as string);
  return bodyOf(memoized);
}

export function bodyOf(memoized: MemoizedResponse): unknown {
  return memoized.base64 !== undefined ? Buffer.from(memoized.base64, 'base64') : memoized.body;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || (Array.isArray(a) && Array.isArray(b) && a.join('\n') === b.join('\n'));
}
