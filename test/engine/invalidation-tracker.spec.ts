/**
 * `InvalidationTracker` against a real Redis: every change of a tracked key, whoever makes it (`redis-cli`,
 * another client, an expiry), reaches every tracker, in this process and in another one, with clients of
 * ioredis 6 (RESP3, its default, and `protocol: 2`) and ioredis 5; FLUSHALL flushes; a dropped connection
 * or a restart stops tracking until it is set up again, after which changes are reported again.
 */
import { execFile, fork } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Redis from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { MemoLockArgumentError } from '../../lib';
import { InvalidationTracker } from '../../lib/engine/invalidation-tracker';
import { withFaults } from '../support/faulty-client';
import { recordingLogger, type RecordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import type { TrackerEvent } from '../support/tracker-process';
import { TrackingRecorder } from '../support/tracking-recorder';
import { until } from '../support/until';

const run = promisify(execFile);

describe('InvalidationTracker', () => {
  let redis: TestRedis;
  let admin: Redis;
  const trackers: InvalidationTracker[] = [];
  const clients5: Redis5[] = [];
  let n = 0;
  let tag: string;

  const cli = (...args: string[]) => run('redis-cli', ['-p', String(redis.port), ...args]);
  const client5 = () => {
    const client = new Redis5(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    clients5.push(client);
    return client as unknown as Redis;
  };
  const kinds: Array<[string, () => Redis]> = [
    ['ioredis 6 (RESP3, its default)', () => redis.client()],
    ['ioredis 6 with protocol: 2', () => redis.client({ protocol: 2 })],
    ['ioredis 5', client5],
  ];

  function track(
    client: Redis,
    prefixes = [`${tag}:`],
    logger: RecordingLogger = recordingLogger(),
  ): { tracker: InvalidationTracker; recorder: TrackingRecorder; logger: RecordingLogger } {
    const recorder = new TrackingRecorder();
    const tracker = new InvalidationTracker(client, recorder, { commandTimeout: 1_000, logger });
    tracker.track(prefixes);
    trackers.push(tracker);
    return { tracker, recorder, logger };
  }
  const active = (...all: InvalidationTracker[]) =>
    until(() => all.every((t) => t.active), 'every tracker is active', 10_000);
  /** Ids of our connections of one role, from CLIENT LIST. */
  const connections = async (role: 'tracking' | 'invalidations') =>
    String(await admin.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=nestjs-memolock:${role} `))
      .map((line) => /^id=(\d+)/.exec(line)![1]);

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  beforeEach(() => {
    tag = `tr${++n}`;
  });
  afterEach(async () => {
    await Promise.all(trackers.splice(0).map((t) => t.close()));
    await Promise.all(clients5.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  });
  afterAll(() => redis.stop());

  describe.each(kinds)('with %s clients', (_kind, client) => {
    it('reports redis-cli SET and DEL, EXPIRE, and the expiry of a PX key, to every tracker', async () => {
      const all = [track(client()), track(client()), track(client())];
      await active(...all.map((t) => t.tracker));
      const everyone = async (key: string) => {
        await Promise.all(all.map(({ recorder }) => recorder.invalidated(key)));
        for (const { recorder } of all) recorder.clear();
      };

      await cli('SET', `${tag}:a`, 'from redis-cli');
      await everyone(`${tag}:a`);
      await cli('DEL', `${tag}:a`);
      await everyone(`${tag}:a`);
      await admin.set(`${tag}:b`, 'v');
      await everyone(`${tag}:b`);
      await admin.expire(`${tag}:b`, 100);
      await everyone(`${tag}:b`);
      await admin.set(`${tag}:px`, 'v', 'PX', 50);
      await everyone(`${tag}:px`);
      // Reported once Redis deletes it (its active expiry cycle, a few times a second), with no access.
      await everyone(`${tag}:px`);
      expect(await admin.exists(`${tag}:px`)).toBe(0);
    });

    it('reports FLUSHALL as a flush of everything, and goes on tracking', async () => {
      const { tracker, recorder } = track(client());
      await active(tracker);
      await admin.set(`${tag}:a`, 'v');
      await recorder.invalidated(`${tag}:a`);
      await cli('FLUSHALL');
      await until(() => recorder.count('flush') === 1, 'the flush is reported');
      await admin.set(`${tag}:a`, 'again');
      await until(() => recorder.keys.filter((k) => k === `${tag}:a`).length === 2, 'the next write too');
      expect(recorder.count('untracked')).toBe(0);
      expect(tracker.active).toBe(true);
    });

    it.each(['tracking', 'invalidations'] as const)(
      'stops at once when its %s connection is killed, and tracks again once it is back',
      async (role) => {
        const logger = recordingLogger();
        const { tracker, recorder } = track(client(), undefined, logger);
        await active(tracker);
        const [id] = await connections(role);
        recorder.clear();
        await admin.call('CLIENT', 'KILL', 'ID', id);
        await until(() => recorder.count('untracked') > 0, 'tracking is reported off');
        await until(() => recorder.count('tracking') > 0, 'tracking is back', 10_000);
        const lost = recorder.events.findIndex((e) => e.type === 'untracked');
        const back = recorder.events.findIndex((e) => e.type === 'tracking');
        expect(lost).toBeLessThan(back);
        expect(await connections(role)).not.toContain(id);

        await cli('SET', `${tag}:after`, 'v');
        await recorder.invalidated(`${tag}:after`);
        expect(logger.matching(/client tracking for the L1 is off/)).toHaveLength(1);
        expect(logger.matching(/client tracking for the L1 is back/)).toHaveLength(1);
      },
    );
  });

  it('keeps no per-key table on the server, so tracking-table-max-keys never flushes it', async () => {
    const { tracker, recorder } = track(redis.client());
    await active(tracker);
    await admin.config('SET', 'tracking-table-max-keys', '1');
    try {
      const keys = Array.from({ length: 200 }, (_, i) => `${tag}:${i}`);
      for (const key of keys) await admin.set(key, 'v');
      await until(() => keys.every((k) => recorder.keys.includes(k)), 'every write is reported');
      expect(recorder.count('flush')).toBe(0);
    } finally {
      await admin.config('SET', 'tracking-table-max-keys', '0');
    }
  });

  it('reports to a tracker in another process too', async () => {
    const child = fork(join(__dirname, '../support/tracker-process.ts'), [redis.url, `${tag}:`], {
      execArgv: ['--require', 'tsx/cjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const events: TrackerEvent[] = [];
    child.on('message', (event: TrackerEvent) => events.push(event));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const here = track(redis.client());
      await until(() => events.some((e) => e.type === 'tracking'), 'the other process tracks', 15_000);
      await active(here.tracker);
      await cli('SET', `${tag}:shared`, 'v');
      await until(
        () => events.some((e) => e.type === 'invalidate' && e.key === `${tag}:shared`),
        'the other process hears the write',
      );
      await here.recorder.invalidated(`${tag}:shared`);
    } finally {
      child.send('exit');
      await exited;
    }
  });

  it('adds prefixes as they appear, on the same two connections, and reports nothing outside them', async () => {
    const { tracker, recorder } = track(redis.client(), [`${tag}:`]);
    await active(tracker);
    tracker.track([`${tag}:`, `${tag}/stale:`]);
    await until(() => recorder.count('tracking') === 2, 'the added prefix is confirmed');
    expect(recorder.events.find((e) => e.type === 'tracking' && e.prefixes[0] !== `${tag}:`)).toEqual({
      type: 'tracking',
      prefixes: [`${tag}/stale:`],
    });
    expect(await connections('tracking')).toHaveLength(1);
    expect(await connections('invalidations')).toHaveLength(1);

    await admin
      .multi()
      .set(`${tag}/stale:a`, 'v')
      .set(`${tag}/lock:a`, 'v')
      .set(`other${tag}:a`, 'v')
      .set(`${tag}x:a`, 'v')
      .exec();
    await admin.set(`${tag}:last`, 'v');
    await recorder.invalidated(`${tag}:last`);
    expect(recorder.keys).toEqual([`${tag}/stale:a`, `${tag}:last`]);
  });

  it("names keys without the client's keyPrefix, and does not hear keys outside it", async () => {
    const { tracker, recorder } = track(redis.client({ keyPrefix: 'app:' }));
    await active(tracker);
    await admin.set(`${tag}:bare`, 'v');
    await admin.set(`app:${tag}:a`, 'v');
    await recorder.invalidated(`${tag}:a`);
    expect(recorder.keys).toEqual([`${tag}:a`]);
  });

  it('recovers when the receiver confirms its subscription only after the command timeout', async () => {
    const faulty = withFaults(redis.client());
    const late = faulty.inject({ command: 'subscribe', delayReply: 1_500, times: 1 });
    const logger = recordingLogger();
    const { tracker, recorder } = track(faulty.client, undefined, logger);
    await late.settled;
    await active(tracker);
    expect(logger.matching(/SUBSCRIBE within 1000 ms/)).toHaveLength(1);
    await admin.set(`${tag}:a`, 'v');
    await recorder.invalidated(`${tag}:a`);
  });

  it('stops while Redis restarts and tracks again after, saying each once', async () => {
    const logger = recordingLogger();
    const { tracker, recorder } = track(redis.client(), undefined, logger);
    await active(tracker);
    await redis.restart();
    await until(() => recorder.count('untracked') > 0, 'tracking is reported off');
    await active(tracker);
    await cli('SET', `${tag}:after-restart`, 'v');
    await recorder.invalidated(`${tag}:after-restart`);
    expect(logger.matching(/client tracking for the L1 is off/)).toHaveLength(1);
    expect(logger.matching(/client tracking for the L1 is back/)).toHaveLength(1);
    admin = redis.client();
  });

  it('says once, as an error, when Redis refuses tracking (an ACL user without CLIENT), and closes cleanly', async () => {
    await admin.call('ACL', 'SETUSER', 'noclient', 'on', '>secret', '~*', '&*', '+@all', '-client');
    const logger = recordingLogger();
    const { tracker, recorder } = track(
      redis.client({ username: 'noclient', password: 'secret' }),
      undefined,
      logger,
    );
    await until(() => logger.matching(/refused client tracking/).length > 0, 'the refusal is logged');
    expect(logger.matching(/refused client tracking/)[0].level).toBe('error');
    expect(logger.matching(/refused client tracking/)[0].message).toMatch(/NOPERM/);
    await admin.set(`${tag}:a`, 'v');
    expect(tracker.active).toBe(false);
    expect(recorder.count('tracking')).toBe(0);
    await tracker.close();
    expect(logger.lines).toHaveLength(1);
  });

  it('closes both of its connections, says nothing is tracked any more, and hears nothing after', async () => {
    const { tracker, recorder } = track(redis.client());
    await active(tracker);
    expect(await connections('tracking')).toHaveLength(1);
    await tracker.close();
    expect(recorder.events.at(-1)).toEqual({ type: 'untracked' });
    await until(async () => (await connections('tracking')).length === 0, 'the tracked connection is gone');
    expect(await connections('invalidations')).toEqual([]);
    const heard = recorder.events.length;
    await admin.set(`${tag}:a`, 'v');
    await admin.ping();
    expect(recorder.events).toHaveLength(heard);
    expect(tracker.active).toBe(false);
  });

  it('opens no connection before it is asked to track something', async () => {
    const recorder = new TrackingRecorder();
    const tracker = new InvalidationTracker(redis.client(), recorder, {
      commandTimeout: 1_000,
      logger: recordingLogger(),
    });
    trackers.push(tracker);
    await admin.ping();
    expect(await connections('tracking')).toEqual([]);
    expect(tracker.nodes).toBe(0);
  });

  it.each([['T'], [':'], ['T:x:'], ['a:b'], [''], [42], ['T\uD800:']])(
    'refuses %p as a prefix, naming the argument',
    (prefix) => {
      const tracker = new InvalidationTracker(redis.client(), new TrackingRecorder(), {
        commandTimeout: 1_000,
        logger: recordingLogger(),
      });
      trackers.push(tracker);
      expect(() => tracker.track([prefix as string])).toThrow(MemoLockArgumentError);
      expect(() => tracker.track([prefix as string])).toThrow(/"prefix"/);
      expect(tracker.nodes).toBe(0);
    },
  );
});
