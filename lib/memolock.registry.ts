/**
 * What one application decorated, found at startup: the memoized methods of its providers and the plans
 * of its memoized routes, each under its concrete (class, method) pair. It refuses a tag shared by pairs
 * that could then share entries, and answers invalidation's "which method, which options".
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

/** A memoized provider method, with one instance to call its `key` on (for invalidation). */
export interface ProviderEntry extends Decorated {
  memoized: MemoizedMethod;
  instance: object;
}

export const describePair = ({ type, name }: Pick<Decorated, 'type' | 'name'>) => `${type.name}.${name}`;

@Injectable()
export class MemoLockRegistry {
  readonly #providers = new Map<AnyClass, Map<string, ProviderEntry>>();
  readonly #routes = new Map<AnyClass, Map<string, RoutePlan>>();

  addProvider(decorated: ProviderEntry): void {
    this.#at(this.#providers, decorated.type).set(decorated.name, decorated);
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
   * Fails when one tag is used by several (class, method) pairs, unless each declares `shared: true` or a
   * key of its own: a key inherited by two classes is one key for both, so it does not tell them apart.
   */
  assertTagsApart(): void {
    const byTag = new Map<string, Decorated[]>();
    for (const table of [this.#providers, this.#routes] as Map<AnyClass, Map<string, Decorated>>[]) {
      for (const methods of table.values()) {
        for (const decorated of methods.values()) {
          const pairs = byTag.get(decorated.options.tag) ?? [];
          pairs.push(decorated);
          byTag.set(decorated.options.tag, pairs);
        }
      }
    }
    for (const [tag, pairs] of byTag) {
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
