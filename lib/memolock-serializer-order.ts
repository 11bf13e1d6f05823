/**
 * `ClassSerializerInterceptor` must run inside `MemoLockInterceptor`: it turns class instances into plain
 * objects according to class-transformer's decorators (`@Exclude()`), and only inside is that plain object
 * what gets stored. Outside, it would receive the JSON read back from Redis, where classes are gone: the
 * excluded field would be stored, and answered to every caller (or, with `strategy: 'excludeAll'`, the
 * answer would be `{}`).
 *
 * Nest runs global interceptors in registration order: `APP_INTERCEPTOR`s module by module (the root
 * module's first), then `app.useGlobalInterceptors()`'s. So a serializer registered as an `APP_INTERCEPTOR`
 * in the root module would run outside. Before Nest registers the routes (in `configure()`, after
 * `useGlobalInterceptors()`), such serializers are moved to right after MemoLock's interceptor; nothing
 * else changes order. Controller- and method-scoped interceptors always run inside already.
 */
import { ClassSerializerInterceptor, type NestInterceptor } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';

interface WithApplicationConfig {
  container?: { applicationConfig?: { getGlobalInterceptors(): NestInterceptor[] } };
}

/** What `moveSerializersInside` found: whether it could see the order at all, and how many it moved. */
export interface SerializerOrder {
  verified: boolean;
  moved: number;
}

/**
 * Moves the global serializers registered before `ours` to right after it. Not `verified` when Nest's list
 * of global interceptors cannot be reached (a Nest version that keeps it elsewhere): then nothing says a
 * serializer does not run outside, and responses holding class instances are not shared.
 *
 * Request- and transient-scoped `APP_INTERCEPTOR`s need no move: Nest runs them after every static global
 * interceptor, so always inside (and they make every controller request-scoped, which a key must cover).
 */
export function moveSerializersInside(moduleRef: ModuleRef, ours: NestInterceptor): SerializerOrder {
  const interceptors = (
    moduleRef as unknown as WithApplicationConfig
  ).container?.applicationConfig?.getGlobalInterceptors();
  const at = interceptors?.indexOf(ours) ?? -1;
  if (!interceptors || at < 0) return { verified: false, moved: 0 };
  const outside = interceptors.slice(0, at).filter((i) => i instanceof ClassSerializerInterceptor);
  for (const serializer of outside) interceptors.splice(interceptors.indexOf(serializer), 1);
  interceptors.splice(interceptors.indexOf(ours) + 1, 0, ...outside);
  return { verified: true, moved: outside.length };
}

/**
 * Whether `body` holds a class instance a serializer would transform (a `Date` or a `Buffer` it would
 * not): only a plain-data body is safe to share when the serializers' order is unknown.
 */
export function holdsClassInstances(body: unknown, seen = new Set<object>()): boolean {
  if (typeof body !== 'object' || body === null || seen.has(body)) return false;
  seen.add(body);
  if (Array.isArray(body)) return body.some((item) => holdsClassInstances(item, seen));
  if (body instanceof Date || Buffer.isBuffer(body)) return false;
  const prototype = Object.getPrototypeOf(body);
  if (prototype !== Object.prototype && prototype !== null) return true;
  return Object.values(body).some((value) => holdsClassInstances(value, seen));
}
