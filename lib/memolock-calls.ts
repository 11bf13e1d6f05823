/**
 * Where a call to a `@MemoLocked` method goes. The decorator replaces the method with one that asks here,
 * per call and per instance: memoize it (a provider instance an application's explorer found), run it as
 * written (a controller, whose requests `MemoLockInterceptor` serves), or run it as written and say once
 * why it is not memoized, rather than silently doing nothing.
 */
import { Logger } from '@nestjs/common';
import { Messages } from './memolock.messages';

type Method = (...args: unknown[]) => unknown;

/** A provider method as an application memoizes it. */
export interface MemoizedCall {
  call(instance: object, args: unknown[]): Promise<unknown>;
}

const routes = new WeakMap<object, Map<string, MemoizedCall>>();
/** Controllers: their requests are served by `MemoLockInterceptor`, so the method runs as written. */
const controllers = new WeakSet<object>();
/** Applications whose MemoLock explorer has run and that have not shut down. */
let liveApplications = 0;
/** Methods already warned about, per reason: one warning per method, not per call. */
const warned = new WeakMap<Method, Set<string>>();
const logger = new Logger('MemoLock');

export function memoLockedCall(
  instance: unknown,
  name: string,
  original: Method,
  args: unknown[],
  declaredOn: string,
): unknown {
  if (typeof instance === 'object' && instance !== null) {
    const route = routes.get(instance)?.get(name);
    if (route) return route.call(instance, args);
    if (controllers.has(instance.constructor)) return original.apply(instance, args);
  }
  const owner = (instance as { constructor?: { name?: string } } | undefined)?.constructor?.name;
  const where = owner && typeof instance === 'object' ? `${owner}.${name}` : declaredOn;
  warnOnce(original, liveApplications === 0 ? Messages.noModule(where) : Messages.notManaged(where));
  return original.apply(instance, args);
}

function warnOnce(method: Method, message: string): void {
  const seen = warned.get(method) ?? new Set<string>();
  warned.set(method, seen);
  if (seen.has(message)) return;
  seen.add(message);
  logger.warn(message);
}

function routesOf(instance: object) {
  let byName = routes.get(instance);
  if (!byName) routes.set(instance, (byName = new Map()));
  return byName;
}

/** What an application's explorer tells the decorated methods at startup and shutdown. */
export const MemoLockCalls = {
  memoize(instance: object, name: string, call: MemoizedCall): void {
    routesOf(instance).set(name, call);
  },
  passThrough(controller: object): void {
    controllers.add(controller);
  },
  started(): void {
    liveApplications++;
  },
  stopped(): void {
    liveApplications = Math.max(0, liveApplications - 1);
  },
};
