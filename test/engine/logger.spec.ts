/**
 * Redis failures are visible: the engine tells its logger when Redis becomes unavailable and when it is back,
 * when its subscriber connection is lost and when it is back, once per change and never once per call. In a
 * Nest application that logger is Nest's own, with the context `MemoLock`.
 */
import { type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MemoLockModule, MemoLockService } from '../../lib';
import { withFaults } from '../support/faulty-client';
import { recordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';
import { until } from '../support/until';

describe('state changes reach the logger, once each', () => {
  let redis: TestRedis;
  beforeEach(async () => {
    redis = await startRedis();
    if (!redis.owned) throw new Error('these tests stop their own redis-server; unset REDIS_URL');
  });
  afterEach(() => redis.stop());

  it('Redis unavailable, then back: one error line, one log line, however many calls', async () => {
    const logger = recordingLogger();
    const engine = redis.engine({ logger, onRedisError: 'compute' });
    const handle = engine.memoLock('down', { lockTimeout: 1_000 });
    const call = (id: string) =>
      handle.getResourceWithStatus(id, 5_000, async () => ({ value: id, ttl: 60_000 }));
    await call('warm');
    expect(logger.lines).toEqual([]);

    await redis.kill();
    for (let i = 0; i < 10; i++) expect((await call(`k${i}`)).status).toBe('uncached');
    expect(logger.lines).toEqual([
      { level: 'error', message: expect.stringMatching(/^Redis is unavailable \(.+\)\. Calls compute/) },
    ]);

    await redis.restart();
    await until(async () => (await call('back')).status === 'stored', 'calls use the cache again', 10_000);
    for (let i = 0; i < 10; i++) await call(`k${i}`);
    expect(logger.lines).toEqual([
      { level: 'error', message: expect.stringMatching(/^Redis is unavailable/) },
      { level: 'log', message: 'Redis answers again: calls use the cache.' },
    ]);
  });

  it('Redis answering after the command timeout: unavailable once, not once per late reply', async () => {
    const logger = recordingLogger();
    const faulty = withFaults(redis.client());
    // A timeout long enough for every command of the last call below on a loaded machine; the replies held
    // back well past it (the engine's timer and the late reply's are ordered by their deadlines).
    const commandTimeout = 400;
    const delayReply = 3 * commandTimeout;
    const engine = redis.engine({ client: faulty.client, logger, commandTimeout });
    const handle = engine.memoLock('slow', { lockTimeout: 1_000 });
    const call = (id: string) =>
      handle.getResourceWithStatus(id, 5_000, async () => ({ value: id, ttl: 60_000 }));
    const slow = faulty.inject({ command: 'get', delayReply });
    for (let i = 0; i < 5; i++) expect((await call(`k${i}`)).status).toBe('uncached');
    await until(() => slow.hits === 5, 'every read was slow');
    await sleep(delayReply); // the late replies have come in
    expect(logger.lines).toEqual([
      { level: 'error', message: expect.stringMatching(/did not answer GET within 400 ms/) },
    ]);
    slow.remove();
    expect((await call('fast')).status).toBe('stored');
    expect(logger.lines.map((line) => line.level)).toEqual(['error', 'log']);
  });

  it('subscriber connection lost while callers wait, then back: one warning, one log line', async () => {
    const logger = recordingLogger();
    const engine = redis.engine({ logger });
    const admin = redis.client();
    const handle = engine.memoLock('sub', { lockTimeout: 5_000 });
    const ids = ['a', 'b', 'c'];
    for (const id of ids) await admin.set(`sub/lock:${id}`, 'peer', 'PX', 10_000);
    const waiting = ids.map((id) => handle.getResource(id, 8_000, async () => ({ value: 'mine', ttl: 1 })));
    await until(async () => (await admin.publish('sub/probe', '')) === 1, 'the waiters are subscribed');

    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(async () => (await admin.publish('sub/probe', '')) === 1, 'the subscriber is back');
    for (const id of ids) await admin.publish(`sub/notif:${id}`, `"${id}"`);
    expect(await Promise.all(waiting)).toEqual(ids);
    expect(logger.lines).toEqual([
      { level: 'warn', message: expect.stringMatching(/^The subscriber connection to Redis was lost/) },
      { level: 'log', message: 'The subscriber connection to Redis is back.' },
    ]);
  });

  it("the Nest module logs through Nest's Logger, with the context MemoLock", async () => {
    const lines: Array<{ level: string; message: unknown; context: unknown }> = [];
    const record =
      (level: string) =>
      (message: unknown, ...rest: unknown[]) =>
        lines.push({ level, message, context: rest.at(-1) });
    const nestLogger: LoggerService = { log: record('log'), warn: record('warn'), error: record('error') };
    const moduleRef = await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: redis.url, lockTimeout: 1_000 })],
    })
      .setLogger(nestLogger)
      .compile();
    await moduleRef.init();
    try {
      const handle = moduleRef.get(MemoLockService).memoLock('nest');
      await handle.getResource('k', 5_000, async () => ({ value: 1, ttl: 60_000 }));
      await redis.kill();
      await handle.getResource('k', 5_000, async () => ({ value: 2, ttl: 60_000 }));
      await handle.getResource('k', 5_000, async () => ({ value: 3, ttl: 60_000 }));
      const ours = lines.filter((line) => line.context === 'MemoLock');
      expect(ours).toEqual([
        {
          level: 'log',
          message: expect.stringMatching(/^MemoLock ready: Redis engine on /),
          context: 'MemoLock',
        },
        { level: 'error', message: expect.stringMatching(/^Redis is unavailable/), context: 'MemoLock' },
      ]);
    } finally {
      await moduleRef.close();
    }
  });
});
