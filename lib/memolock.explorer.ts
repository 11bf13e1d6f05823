/**
 * Finds the `@MemoLocked` methods of the application at bootstrap. Provider methods (of singletons and of
 * every transient instance) are memoized from then on; controller handlers get a route plan for
 * `MemoLockInterceptor` (Nest registered the routes already). It runs in `onModuleInit`, which Nest calls
 * once every instance exists, and it asks Nest to call its module's first (see `initializeFirst`), so that
 * no provider's own `onModuleInit` calls a decorated method before it is memoized. Misuse fails here,
 * before the app serves anything.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { MemoLockArgumentError } from './errors';
import { getMemoLockedOptions, getOriginalMethod, type MemoLockedOptions } from './memo-locked.decorator';
import { MemoLockCalls } from './memolock-calls';
import { Messages } from './memolock.messages';
import { MemoizedMethod } from './memolock-method';
import { describePair, MemoLockRegistry } from './memolock.registry';
import { planRoute, type RoutePlan } from './memolock-route-plan';
import { MemoLockService } from './memolock.service';

type Method = (...args: unknown[]) => unknown;
type Class = abstract new (...args: any[]) => unknown;

@Injectable()
export class MemoLockExplorer implements OnModuleInit, OnApplicationShutdown {
  readonly #logger = new Logger('MemoLock');
  readonly #booting: WeakRef<object>;
  #started = false;

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(MemoLockRegistry) private readonly registry: MemoLockRegistry,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(ModulesContainer) modules: ModulesContainer,
  ) {
    this.#booting = MemoLockCalls.created(this);
    initializeFirst(modules);
  }

  onModuleInit(): void {
    try {
      const service = this.moduleRef.get(MemoLockService, { strict: false });
      for (const wrapper of this.discovery.getProviders()) this.#exploreProvider(wrapper, service);
      for (const wrapper of this.discovery.getControllers()) this.#exploreController(wrapper);
      this.registry.assertTagsApart();
    } catch (error) {
      MemoLockCalls.abandoned(this.#booting);
      throw error;
    }
    MemoLockCalls.started(this.#booting);
    this.#started = true;
  }

  onApplicationShutdown(): void {
    if (this.#started) MemoLockCalls.stopped();
    else MemoLockCalls.abandoned(this.#booting);
    this.#started = false;
  }

  #exploreProvider(wrapper: InstanceWrapper, service: MemoLockService): void {
    if (wrapper.isAlias) return;
    if (!wrapper.isDependencyTreeStatic()) {
      // Made per request, after this runs: there is no instance to memoize here.
      const type = wrapper.metatype as Class | undefined;
      for (const [name] of this.#decorated(type?.prototype)) {
        this.#logger.warn(Messages.requestScoped(`${wrapper.name}.${name}`));
      }
      return;
    }
    const instances = wrapper.isTransient
      ? wrapper.getStaticTransientInstances().map((perContext) => perContext?.instance)
      : [wrapper.instance];
    for (const instance of instances) {
      if (!instance || typeof instance !== 'object') continue;
      const type = instance.constructor as Class;
      for (const [name, options, original] of this.#decorated(instance)) {
        assertReturnsPromise(type, name, original);
        const decorated = { type, name, options };
        // One entry per (class, method), however many instances: the registry counts them.
        const entry = this.registry.addProvider(
          decorated,
          instance,
          () => new MemoizedMethod(decorated, original, service.handleFor(options)),
        );
        MemoLockCalls.memoize(instance, name, entry.memoized);
      }
    }
  }

  #exploreController(wrapper: InstanceWrapper): void {
    const type = wrapper.metatype as Class | undefined;
    if (!type || wrapper.isAlias) return;
    for (const [name, options] of this.#decorated(type.prototype)) {
      if (options.serializer === 'raw') {
        throw new MemoLockArgumentError(
          'serializer',
          `@MemoLocked on ${type.name}.${name}: ${Messages.invalidArgument('serializer', "a controller handler stores a whole response (status, headers, body), which 'raw' cannot hold; use 'json' or your own", 'raw')}`,
        );
      }
      this.#planRoute(wrapper, type, name, options);
    }
    MemoLockCalls.passThrough(type);
  }

  /**
   * The plan of a memoized route: the one made at startup, or, for a controller the startup did not see,
   * one made now (and warned about once, as at startup).
   */
  routePlan(type: Class, name: string, options: Readonly<MemoLockedOptions>): RoutePlan {
    const known = this.registry.route(type, name);
    if (known) return known;
    const wrapper = this.discovery.getControllers().find((w) => w.metatype === type && !w.isAlias);
    return this.#planRoute(wrapper, type, name, options);
  }

  #planRoute(
    wrapper: InstanceWrapper | undefined,
    type: Class,
    name: string,
    options: Readonly<MemoLockedOptions>,
  ): RoutePlan {
    // A controller Nest does not know is taken for request-scoped: nothing says its answer is not personal.
    const plan = planRoute({ type, name, options }, { requestScoped: !wrapper?.isDependencyTreeStatic() });
    this.registry.addRoute(plan);
    if (plan.bypass) this.#logger.warn(Messages.routeBypassed(describePair(plan), plan.bypass));
    return plan;
  }

  /** The `@MemoLocked` methods reachable from `target`, with their options and the methods as written. */
  *#decorated(target: object | undefined): Generator<[string, Readonly<MemoLockedOptions>, Method]> {
    if (!target) return;
    for (const name of this.scanner.getAllMethodNames(target)) {
      const method = (target as Record<string, unknown>)[name];
      const options = getMemoLockedOptions(method);
      const original = getOriginalMethod(method);
      if (options && original) yield [name, options, original];
    }
  }
}

/**
 * A memoized call answers with a Promise, so a provider method must be typed to return one: native async,
 * or declared `Promise<T>` (TypeScript records that in `design:returntype`). Anything else would change
 * type at run time (`n + 1` becoming `"[object Promise]1"`): refused at startup. A build that emits no
 * decorator metadata at all (esbuild, tsx) cannot tell a method declared `Promise<T>` from a synchronous
 * one; there the method is accepted and each call checks what it returned (see `MemoizedMethod`).
 */
function assertReturnsPromise(type: Class, name: string, original: Method): void {
  if (original.constructor?.name === 'AsyncFunction') return;
  const prototype = type.prototype as object;
  if (!Reflect.hasMetadata('design:returntype', prototype, name)) return;
  if (Reflect.getMetadata('design:returntype', prototype, name) === Promise) return;
  throw new MemoLockArgumentError(
    '@MemoLocked',
    Messages.notAsync(`${type.name}.${name}`, 'is neither async nor declared to return a Promise'),
  );
}

/**
 * Nest calls `onModuleInit` module by module, global modules first, in the order it found them: a global
 * module of the application imported before `MemoLockModule` would run its providers' `onModuleInit` (a
 * cache warmer, say) before the explorer has memoized anything. Nest orders modules by their `distance`
 * from the root, which it computes when it scans them (before any instance exists) and reads when it first
 * calls the hooks (after they all do): the explorer's module is put above every other here. Should a Nest
 * version not have it, those early calls run as written, each method warning once.
 */
function initializeFirst(modules: ModulesContainer): void {
  for (const module of modules.values()) {
    if (!module.providers.has(MemoLockExplorer)) continue;
    const distance = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(module), 'distance');
    if (typeof distance?.set === 'function') module.distance = Number.POSITIVE_INFINITY;
  }
}
