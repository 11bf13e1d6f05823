/**
 * Where a call to a `@MemoLocked` method goes. The decorator replaces the method with one that asks here,
 * per call and per instance: memoize it (a provider instance an application's explorer found, called
 * through the very method the explorer memoized), run it as written (a controller, whose requests
 * `MemoLockInterceptor` serves), or run it as written and say once why it is not memoized, rather than
 * silently doing nothing.
 */
import { Logger } from '@nestjs/common';
import { Messages } from './memolock.messages';

type Method = (...args: unknown[]) => unknown;

/** A provider method as an application memoizes it. */
export interface MemoizedCall {
  /** The method as written: a call through another `@MemoLocked` method of that name is not this one. */
  readonly original: Method;
  call(instance: object, args: unknown[]): Promise<unknown>;
}

const memoized = new WeakMap<object, Map<string, MemoizedCall>>();
/** Controllers: their requests are served by `MemoLockInterceptor`, so the method runs as written. */
const controllers = new WeakSet<object>();
/** Applications whose MemoLock explorer has run and that have not shut down. */
let liveApplications = 0;
/** Explorers Nest has made whose application has not started yet (it is still creating instances). */
const booting = new Set<WeakRef<object>>();
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
  const owner = (instance as { constructor?: { name?: string } } | undefined)?.constructor?.name;
  const where = owner && typeof instance === 'object' ? `${owner}.${name}` : declaredOn;
  if (typeof instance === 'object' && instance !== null) {
    const call = memoized.get(instance)?.get(name);
    if (call?.original === original) return call.call(instance, args);
    if (controllers.has(instance.constructor)) return original.apply(instance, args);
    if (call) {
      // `super.find()` from an overriding `find`: joining the override's flight would wait for itself.
      warnOnce(original, Messages.superCall(declaredOn, where));
      return original.apply(instance, args);
    }
  }
  warnOnce(original, whyNotMemoized(where));
  return original.apply(instance, args);
}

function whyNotMemoized(where: string): string {
  for (const ref of booting) if (!ref.deref()) booting.delete(ref);
  if (booting.size > 0) return Messages.notStarted(where);
  return liveApplications === 0 ? Messages.noModule(where) : Messages.notManaged(where);
}

function warnOnce(method: Method, message: string): void {
  const seen = warned.get(method) ?? new Set<string>();
  warned.set(method, seen);
  if (seen.has(message)) return;
  seen.add(message);
  logger.warn(message);
}

/** What an application's explorer tells the decorated methods, from its creation to its shutdown. */
export const MemoLockCalls = {
  memoize(instance: object, name: string, call: MemoizedCall): void {
    let byName = memoized.get(instance);
    if (!byName) memoized.set(instance, (byName = new Map()));
    byName.set(name, call);
  },
  passThrough(controller: object): void {
    controllers.add(controller);
  },
  /** An explorer exists: its application is being created. Returns what `started` takes. */
  created(explorer: object): WeakRef<object> {
    const ref = new WeakRef(explorer);
    booting.add(ref);
    return ref;
  },
  started(ref: WeakRef<object>): void {
    booting.delete(ref);
    liveApplications++;
  },
  /** The application failed to start, or closed before it started. */
  abandoned(ref: WeakRef<object>): void {
    booting.delete(ref);
  },
  stopped(): void {
    liveApplications = Math.max(0, liveApplications - 1);
  },
};
