/**
 * @MemoLocked misuse fails when the class is defined (before the app starts), naming the argument and the
 * method; the explorer wraps each provider method once; derived keys are stable.
 */
import { Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MemoLockArgumentError, MemoLocked, MemoLockModule } from '../../lib';

function defineWith(decorator: MethodDecorator) {
  class Target {
    method() {
      return 1;
    }
  }
  decorator(Target.prototype, 'method', Object.getOwnPropertyDescriptor(Target.prototype, 'method')!);
}

describe('@MemoLocked misuse', () => {
  it.each([
    ['a missing tag', () => MemoLocked(undefined as never, 1_000, 1_000), 'tag'],
    ['an empty tag', () => MemoLocked('', 1_000, 1_000), 'tag'],
    ['a tag with a colon', () => MemoLocked('a:b', 1_000, 1_000), 'tag'],
    ['a zero ttl', () => MemoLocked('t', 0, 1_000), 'ttl'],
    ['a string ttl', () => MemoLocked('t', '5s' as never, 1_000), 'ttl'],
    ['a missing timeout', () => MemoLocked('t', 1_000, undefined as never), 'timeout'],
    [
      'a negative lockTimeout',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, lockTimeout: -1 }),
      'lockTimeout',
    ],
    [
      'a key that is not a function',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, key: 'id' as never }),
      'key',
    ],
    ['a negative grace', () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, grace: -1 }), 'options.grace'],
    [
      'a softTimeout in words',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, softTimeout: '1s' as never }),
      'options.softTimeout',
    ],
    [
      'an earlyRefresh that is a number',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, earlyRefresh: 1 as never }),
      'options.earlyRefresh',
    ],
    [
      'a negative beta',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, earlyRefresh: { beta: -1 } }),
      'options.earlyRefresh.beta',
    ],
    [
      'a zero failSafeThrottle',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, failSafeThrottle: 0 }),
      'options.failSafeThrottle',
    ],
    [
      'an unknown serializer',
      () => MemoLocked({ tag: 't', ttl: 1, timeout: 1, serializer: 'xml' as never }),
      'serializer',
    ],
  ])('rejects %s, naming the argument and the method', (_what, make, argument) => {
    let error: unknown;
    try {
      defineWith(make());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MemoLockArgumentError);
    expect(error).toMatchObject({ argument });
    expect((error as Error).message).toMatch(/^@MemoLocked on Target\.method: /);
  });

  it('rejects a property, naming it', () => {
    const decorate = () => {
      class Target {
        value = 1;
      }
      MemoLocked('t', 1, 1)(Target.prototype, 'value', undefined as never);
    };
    expect(decorate).toThrow(/@MemoLocked on Target\.value: it decorates methods only/);
  });
});

describe('the explorer', () => {
  it('wraps a provider method once even when the provider is also reachable through an alias', async () => {
    let runs = 0;
    @Injectable()
    class Counter {
      @MemoLocked('counter', 60_000, 1_000)
      async next(id: string) {
        runs++;
        return `${id}-${runs}`;
      }
    }
    @Module({ providers: [Counter, { provide: 'CounterAlias', useExisting: Counter }], exports: [Counter] })
    class CounterModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 'memory' }), CounterModule],
    }).compile();
    const app = await moduleRef.init();
    const counter = app.get(Counter);
    expect(await counter.next('a')).toBe('a-1');
    expect(await counter.next('a')).toBe('a-1');
    expect(app.get('CounterAlias')).toBe(counter);
    expect(runs).toBe(1);
    await app.close();
  });

  it('warns about a request-scoped provider instead of failing silently', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @MemoLocked('per-request', 1_000, 1_000)
      async value() {
        return 1;
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: 'memory' })],
      providers: [PerRequest],
    }).compile();
    const warnings: string[] = [];
    moduleRef.useLogger({
      log: () => undefined,
      error: () => undefined,
      warn: (m: string) => warnings.push(m),
    });
    const app = await moduleRef.init();
    expect(warnings.join('\n')).toMatch(
      /@MemoLocked on PerRequest\.value is ignored: the provider is request-scoped/,
    );
    await app.close();
  });
});
