/**
 * Wire compatibility with the Go and C# redis-memolock (SPEC §2): a peer that knows only plain Redis
 * commands (redis-cli here, a separate program) produces values for our waiters, and reads ours.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Redis from 'ioredis';
import { RedisMemoLockEngine } from '../../lib';
import { startRedis, type TestRedis } from '../support/redis-server';
import { sleep } from '../support/sleep';

const run = promisify(execFile);

describe('interoperability with plain-Redis peers (the Go/C# protocol)', () => {
  let redis: TestRedis;
  let engine: RedisMemoLockEngine;
  let goLike: Redis;
  const cli = (...args: string[]) =>
    run('redis-cli', ['-p', String(redis.port), ...args]).then((r) => r.stdout.trim());

  beforeAll(async () => {
    redis = await startRedis();
    engine = redis.engine({ serializer: 'raw' });
    goLike = redis.client();
  });
  afterAll(async () => {
    await engine.close();
    await redis.stop();
  });

  it('gives our waiters the value a plain-command peer stores and publishes, byte for byte', async () => {
    // The peer holds the lock, as the Go version does with SET NX PX.
    expect(await cli('SET', 'stems/lock:running', 'go-token', 'NX', 'PX', '5000')).toBe('OK');
    const handle = engine.memoLock<string>('stems', { lockTimeout: 5_000 });
    let computed = false;
    const waiting = handle.getResource('running', 5_000, async () => {
      computed = true;
      return { value: 'ours', ttl: 1_000 };
    });
    await sleep(200);
    const value = '{"looks":"like json"} ünïcödé ✓';
    expect(await cli('SET', 'stems:running', value, 'PX', '60000')).toBe('OK');
    expect(await cli('PUBLISH', 'stems/notif:running', value)).toBe('1');
    expect(await waiting).toBe(value);
    expect(computed).toBe(false);
  });

  it('reads a value a plain-command peer stored earlier, as a hit', async () => {
    await cli('SET', 'stems:cached', 'run');
    const handle = engine.memoLock<string>('stems', { lockTimeout: 5_000 });
    expect(await handle.getResource('cached', 1_000, async () => ({ value: 'x', ttl: 1 }))).toBe('run');
  });

  it('stores and publishes our values where a Go waiter (PSUBSCRIBE T/notif:*) and a plain GET find them', async () => {
    const messages: Array<[string, string]> = [];
    const sub = redis.client();
    sub.on('pmessage', (_p, channel, message) => messages.push([channel, message]));
    await sub.psubscribe('books/notif:*');
    const handle = engine.memoLock<string>('books', { lockTimeout: 5_000 });
    const value = 'Der Zauberberg — 1924';
    expect(await handle.getResource('mann', 5_000, async () => ({ value, ttl: 60_000 }))).toBe(value);
    await sleep(100);
    expect(messages).toEqual([['books/notif:mann', value]]);
    expect(await cli('GET', 'books:mann')).toBe(value);
    const pttl = Number(await cli('PTTL', 'books:mann'));
    expect(pttl).toBeGreaterThan(50_000);
    sub.disconnect();
  });

  it('takes its lock with SET NX on T/lock:I, so that a Go peer cannot take it meanwhile', async () => {
    const handle = engine.memoLock<string>('books', { lockTimeout: 5_000 });
    let peerGotLock: string | undefined;
    await handle.getResource('locked', 5_000, async () => {
      peerGotLock = await cli('SET', 'books/lock:locked', 'go-token', 'NX', 'PX', '5000');
      return { value: 'v', ttl: 1_000 };
    });
    expect(peerGotLock).toBe(''); // redis-cli prints nil as an empty line
  });

  it('never publishes a failure notice where a Go waiter listens for values', async () => {
    const messages: string[] = [];
    const sub = redis.client();
    sub.on('pmessage', (_p, channel) => messages.push(channel));
    await sub.psubscribe('books/notif:*');
    const all: string[] = [];
    const spy = redis.client();
    spy.on('pmessage', (_p, channel) => all.push(channel));
    await spy.psubscribe('*');

    const handle = engine.memoLock<string>('books', { lockTimeout: 5_000 });
    await expect(
      handle.getResource('broken', 5_000, async () => {
        throw new Error('no such book');
      }),
    ).rejects.toThrow('no such book');
    await sleep(100);
    expect(all).toEqual(['books/fail:broken']); // the notice went out...
    expect(messages).toEqual([]); // ...but not where a Go waiter would take it for a value
    sub.disconnect();
    spy.disconnect();
  });

  it('lets a Go-style external worker answer getResourceExternal with plain SET + PUBLISH', async () => {
    const handle = engine.memoLock<string>('ext', { lockTimeout: 5_000 });
    const value = await handle.getResourceExternal('job', 5_000, () => {
      void cli('SET', 'ext:job', 'done by worker', 'PX', '5000').then(() =>
        cli('PUBLISH', 'ext/notif:job', 'done by worker'),
      );
    });
    expect(value).toBe('done by worker');
  });

  it('shares values between the json serializer and any JSON-speaking peer', async () => {
    const json = redis.engine({ client: goLike });
    const handle = json.memoLock('j', { lockTimeout: 1_000 });
    await handle.getResource('n', 1_000, async () => ({ value: { a: [1, null, 'x'] }, ttl: 10_000 }));
    expect(JSON.parse((await cli('GET', 'j:n'))!)).toEqual({ a: [1, null, 'x'] });
    await json.close();
  });
});
