/**
 * Observability in Nest: the startup line (engine and endpoint, never credentials), one line per state
 * change, events through MemoLockService and forwarded to @nestjs/event-emitter when the app has it.
 */
import { Injectable, type LoggerService, Module } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { type MemoLockEvent, MemoLockModule, type MemoLockModuleOptions, MemoLockService } from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

function capturingLogger(): LoggerService & {
  lines: Array<{ level: string; message: string; context?: string }>;
} {
  const lines: Array<{ level: string; message: string; context?: string }> = [];
  // Nest passes the context last (after the stack, for errors).
  const at =
    (level: string) =>
    (message: unknown, ...params: unknown[]): void =>
      void lines.push({ level, message: String(message), context: params.at(-1) as string | undefined });
  return {
    lines,
    log: at('log'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    verbose: at('verbose'),
  };
}

@Injectable()
class Listener {
  readonly seen: MemoLockEvent[] = [];
  @OnEvent('memolock.**')
  onAny(event: MemoLockEvent): void {
    this.seen.push(event);
  }
}

/** `emitter`: the app imports EventEmitterModule, with the `@OnEvent('memolock.**')` handler or without. */
async function start(options: MemoLockModuleOptions, emitter: false | 'handler' | 'no handler') {
  const logger = capturingLogger();
  @Module({
    imports: [
      ...(emitter ? [EventEmitterModule.forRoot({ wildcard: true, delimiter: '.' })] : []),
      MemoLockModule.forRoot(options),
    ],
    providers: emitter === 'handler' ? [Listener] : [],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .setLogger(logger)
    .compile();
  const app = await moduleRef.createNestApplication({ logger }).init();
  await new Promise((resolve) => setImmediate(resolve)); // the forwarder looks for handlers then
  return { app, logger };
}

describe('observability in Nest', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('logs one startup line naming the engine and the endpoint, without the credentials', async () => {
    const url = new URL(redis.url);
    const { app, logger } = await start(
      { redis: { host: url.hostname, port: Number(url.port), username: 'default', password: 'hunter2' } },
      false,
    );
    try {
      const lines = logger.lines.filter((l) => l.context === 'MemoLock');
      expect(lines).toEqual([
        { level: 'log', context: 'MemoLock', message: `MemoLock ready: Redis engine on ${url.host} db 0.` },
      ]);
      expect(JSON.stringify(logger.lines)).not.toMatch(/hunter2/);
    } finally {
      await app.close();
    }
    const memory = await start({ redis: 'memory' }, false);
    expect(memory.logger.lines.filter((l) => l.context === 'MemoLock').map((l) => l.message)).toEqual([
      'MemoLock ready: in-memory engine (this process only, no Redis).',
    ]);
    await memory.app.close();
  });

  it('logs one line per change of state, never one per call', async () => {
    const own = await startRedis();
    if (!own.owned) return own.stop();
    const { app, logger } = await start({ redis: own.url, commandTimeout: 300, lockTimeout: 1_000 }, false);
    try {
      const handle = app.get(MemoLockService).memoLock('st');
      await own.kill();
      for (let i = 0; i < 5; i++) await handle.getResource(`k${i}`, 2_000, () => ({ value: i, ttl: 1 }));
      await own.restart();
      await until(
        async () => {
          await handle.getResource('up', 2_000, () => ({ value: 1, ttl: 1 }));
          return logger.lines.some((l) => /^Redis answers again/.test(l.message));
        },
        'Redis is back in the log',
        10_000,
      );
      const stateLines = logger.lines.filter((l) => l.context === 'MemoLock').map((l) => l.level);
      expect(stateLines).toEqual(['log', 'error', 'log']); // ready; unavailable; back
    } finally {
      await app.close();
      await own.stop();
    }
  });

  it('gives the events through MemoLockService, and to @OnEvent handlers when the app has EventEmitterModule', async () => {
    const { app } = await start({ redis: redis.url, lockTimeout: 1_000 }, 'handler');
    try {
      const service = app.get(MemoLockService);
      const direct: MemoLockEvent[] = [];
      const stop = service.events.subscribe((e) => direct.push(e));
      const handle = service.memoLock('nest-ev');
      await handle.getResource('a', 1_000, () => ({ value: 1, ttl: 60_000 }));
      await handle.getResource('a', 1_000, () => ({ value: 2, ttl: 1 }));
      expect(direct.map((e) => e.type)).toEqual(['stored', 'hit']);
      expect(app.get(Listener).seen).toEqual(direct);
      stop();
    } finally {
      await app.close();
    }
    // Forwarded only where somebody handles it (or `eventEmitter: true`): else calls are not observed.
    const cases: Array<[MemoLockModuleOptions['eventEmitter'], false | 'handler' | 'no handler', boolean]> = [
      [undefined, false, false],
      [undefined, 'no handler', false],
      [false, 'handler', false],
      [true, 'no handler', true],
    ];
    for (const [eventEmitter, emitter, forwarded] of cases) {
      const other = await start({ redis: redis.url, lockTimeout: 1_000, eventEmitter }, emitter);
      expect([eventEmitter, emitter, other.app.get(MemoLockService).events.listening]).toEqual([
        eventEmitter,
        emitter,
        forwarded,
      ]);
      await other.app.close();
    }
  });
});
