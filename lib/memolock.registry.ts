/**
 * What one application decorated, found at startup: the memoized methods of its providers (with every
 * instance found) and the plans of its memoized routes, each under its concrete (class, method) pair. It
 * refuses what could share entries between things that are not one resource: a tag used by several pairs,
 * by a route and a provider method, or a method of a class with several instances; and answers
 * invalidation's "which method, which options, which instances".
 */
import { Injectable } from '@nestjs/common';
import { MemoLockArgumentError } from './errors';
import type { MemoLockedOptions } from './memo-locked.decorator';
import { Messages } from './memolock.messages';
import type { MemoizedMethod } from './memolock-method';
import type { RoutePlan } from './memolock-route-plan';

/** Any class, abstract or not. */
export type AnyClass = abstract new (...args: any[]) => unknown;

/** A decorated method of a concrete class. */
export interface Decorated {
  type: AnyClass;
  name: string;
  options: Readonly<MemoLockedOptions>;
}

/** A memoized provider method, with the instances of its class that the application holds. */
export interface ProviderEntry extends Decorated {
  memoized: MemoizedMethod;
  instances: Set<object>;
}

export const describePair = ({ type, name }: Pick<Decorated, 'type' | 'name'>) => `${type.name}.${name}`;

@Injectable()
export class MemoLockRegistry {
  readonly #providers = new Map<AnyClass, Map<string, ProviderEntry>>();
  readonly #routes = new Map<AnyClass, Map<string, RoutePlan>>();

  /** The entry of a provider method, made on its first instance by `memoize`; `instance` is added to it. */
  addProvider(decorated: Decorated, instance: object, memoize: () => MemoizedMethod): ProviderEntry {
    const methods = this.#at(this.#providers, decorated.type);
    let entry = methods.get(decorated.name);
    if (!entry)
      methods.set(decorated.name, (entry = { ...decorated, memoized: memoize(), instances: new Set() }));
    entry.instances.add(instance);
    return entry;
  }

  addRoute(plan: RoutePlan): void {
    this.#at(this.#routes, plan.type).set(plan.name, plan);
  }

  provider(type: AnyClass, name: string): ProviderEntry | undefined {
    return this.#providers.get(type)?.get(name);
  }

  route(type: AnyClass, name: string): RoutePlan | undefined {
    return this.#routes.get(type)?.get(name);
  }

  /**
   * Fails when calls of two things that are not one resource could meet under one key:
   * - a method of a class the application holds several instances of (a repository per table), unless it
   *   has a key (which runs with the instance as `this`) or `shared: true`;
   * - a tag used by a route and a provider method, which store different things (a whole response, a value);
   * - a tag used by several (class, method) pairs, unless each declares `shared: true` or a key of its own:
   *   a key inherited by two classes is one key for both, so it does not tell them apart.
   */
  assertTagsApart(): void {
    for (const methods of this.#providers.values()) {
      for (const entry of methods.values()) {
        const { options, instances, type } = entry;
        if (instances.size < 2 || options.key || options.shared) continue;
        throw new MemoLockArgumentError(
          'key',
          Messages.instancesShared(describePair(entry), type.name, instances.size),
        );
      }
    }
    const byTag = new Map<string, { routes: Decorated[]; providers: Decorated[] }>();
    const collect = (table: Map<AnyClass, Map<string, Decorated>>, kind: 'routes' | 'providers') => {
      for (const methods of table.values()) {
        for (const decorated of methods.values()) {
          const uses = byTag.get(decorated.options.tag) ?? { routes: [], providers: [] };
          uses[kind].push(decorated);
          byTag.set(decorated.options.tag, uses);
        }
      }
    };
    collect(this.#providers, 'providers');
    collect(this.#routes, 'routes');
    for (const [tag, { routes, providers }] of byTag) {
      if (routes.length > 0 && providers.length > 0) {
        throw new MemoLockArgumentError(
          'tag',
          Messages.tagRouteAndProvider(tag, routes.map(describePair), providers.map(describePair)),
        );
      }
      const pairs = [...routes, ...providers];
      if (pairs.length < 2) continue;
      const keyed = (d: Decorated) =>
        d.options.key && pairs.filter((o) => o.options === d.options).length === 1;
      if (pairs.every((d) => d.options.shared || keyed(d))) continue;
      throw new MemoLockArgumentError('tag', Messages.tagShared(tag, pairs.map(describePair)));
    }
  }

  #at<V>(table: Map<AnyClass, Map<string, V>>, type: AnyClass): Map<string, V> {
    let methods = table.get(type);
    if (!methods) table.set(type, (methods = new Map()));
    return methods;
  }
}
