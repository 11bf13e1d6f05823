/**
 * Finds `@MemoLocked` methods on every provider of the application at bootstrap and wraps each once, on
 * its instance, so that calls go through MemoLock. Controller handlers are left to `MemoLockInterceptor`:
 * Nest has registered routes by the time modules initialize.
 */
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { MemoLockArgumentError } from './errors';
import { getMemoLockedOptions, type MemoLockedOptions } from './memo-locked.decorator';
import { deriveId } from './memolock-key';
import { MemoLockService } from './memolock.service';

const WRAPPED = Symbol('memolock:wrapped');

type Method = ((...args: unknown[]) => unknown) & { [WRAPPED]?: true };

@Injectable()
export class MemoLockExplorer implements OnModuleInit {
  readonly #logger = new Logger('MemoLock');

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(MemoLockService) private readonly memoLock: MemoLockService,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) this.#explore(wrapper);
  }

  #explore(wrapper: InstanceWrapper): void {
    const { instance } = wrapper;
    if (!instance || typeof instance !== 'object' || wrapper.isAlias) return;
    const prototype = Object.getPrototypeOf(instance);
    if (!prototype) return;
    for (const name of this.scanner.getAllMethodNames(prototype)) {
      const method = instance[name] as Method;
      const options = getMemoLockedOptions(method);
      if (!options || method[WRAPPED]) continue;
      if (!wrapper.isDependencyTreeStatic()) {
        // A request-scoped instance is made per request, after this runs: wrapping it is not possible here.
        this.#logger.warn(
          `@MemoLocked on ${wrapper.name}.${name} is ignored: the provider is request-scoped. Move the method to a singleton provider.`,
        );
        continue;
      }
      instance[name] = this.#wrap(method, options, `${wrapper.name}.${name}`);
    }
  }

  #wrap(original: Method, options: Readonly<MemoLockedOptions>, where: string): Method {
    const handle = this.memoLock.handleFor(options);
    const { ttl, timeout, key } = options;
    const wrapped: Method = function (this: unknown, ...args: unknown[]) {
      let id: string;
      try {
        id = key ? key(...args) : deriveId(args);
      } catch (error) {
        if (error instanceof MemoLockArgumentError) {
          return Promise.reject(
            new MemoLockArgumentError(error.argument, `@MemoLocked on ${where}: ${error.message}`),
          );
        }
        return Promise.reject(error);
      }
      return handle.getResource(id, timeout, async () => {
        const value = await original.apply(this, args);
        return { value, ttl: typeof ttl === 'function' ? ttl(value) : ttl };
      });
    };
    // Other decorators' metadata on the method (guards, roles, ...) keeps working on the wrapper.
    for (const metadataKey of Reflect.getMetadataKeys(original)) {
      Reflect.defineMetadata(metadataKey, Reflect.getMetadata(metadataKey, original), wrapped);
    }
    Object.defineProperty(wrapped, 'name', { value: original.name });
    wrapped[WRAPPED] = true;
    return wrapped;
  }
}
