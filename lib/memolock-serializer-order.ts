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

/** Moves the global serializers registered before `ours` to right after it. Returns how many moved. */
export function moveSerializersInside(moduleRef: ModuleRef, ours: NestInterceptor): number {
  const interceptors = (
    moduleRef as unknown as WithApplicationConfig
  ).container?.applicationConfig?.getGlobalInterceptors();
  const at = interceptors?.indexOf(ours) ?? -1;
  if (!interceptors || at < 0) return 0;
  const outside = interceptors.slice(0, at).filter((i) => i instanceof ClassSerializerInterceptor);
  for (const serializer of outside) interceptors.splice(interceptors.indexOf(serializer), 1);
  interceptors.splice(interceptors.indexOf(ours) + 1, 0, ...outside);
  return outside.length;
}
