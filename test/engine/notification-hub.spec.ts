/**
 * `NotificationHub` on its own, against a real Redis: one pattern subscription per tag however many watch,
 * messages routed to the watchers of their resource only, failure and give-up notices, re-reads after the
 * subscriber connection drops, a connection that ended replaced, and nothing left after close().
 */
import type Redis from 'ioredis';
import { MemoLockClosedError } from '../../lib';
import { ConnectionState } from '../../lib/engine/connection-state';
import { type HubEvent, NotificationHub, type Watcher } from '../../lib/engine/notification-hub';
import { encodeFailure, GIVE_UP_NOTICE } from '../../lib/engine/protocol';
import { recordingLogger, type RecordingLogger } from '../support/logger';
import { startRedis, type TestRedis } from '../support/redis-server';
import { until } from '../support/until';

class Inbox implements Watcher {
  readonly events: HubEvent[] = [];
  notify(event: HubEvent): void {
    this.events.push(event);
  }
}

describe('NotificationHub', () => {
  let redis: TestRedis;
  let admin: Redis;
  let owner: Redis;
  let hub: NotificationHub;
  let logger: RecordingLogger;
  let n = 0;
  let tag: string;
  const subscribersOf = (t: string) => admin.publish(`${t}/probe`, '');
  const pubsubClients = async () =>
    String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
      .split('\n')
      .filter(Boolean).length;

  beforeAll(async () => {
    redis = await startRedis();
    admin = redis.client();
  });
  afterAll(() => redis.stop());
  beforeEach(() => {
    tag = `h${++n}`;
    owner = redis.client();
    logger = recordingLogger();
    hub = new NotificationHub(owner, 1_000, new ConnectionState(logger));
  });
  afterEach(() => hub.close());

  it('subscribes a tag once however many resources are watched, and drops it with the last watcher', async () => {
    const watchers = ['a', 'b', 'c'].map((id) => ({ id, inbox: new Inbox() }));
    await Promise.all(watchers.map(({ id, inbox }) => hub.watch(tag, id, inbox)));
    expect(hub.subscribedTags).toEqual([tag]);
    expect(hub.watchedResources).toBe(3);
    expect(await subscribersOf(tag)).toBe(1);
    await until(async () => (await pubsubClients()) === 1, 'one connection for the whole hub');

    for (const { id, inbox } of watchers.slice(0, 2)) hub.unwatch(tag, id, inbox);
    expect(await subscribersOf(tag)).toBe(1);
    hub.unwatch(tag, 'c', watchers[2].inbox);
    expect(hub.subscribedTags).toEqual([]);
    await until(async () => (await subscribersOf(tag)) === 0, 'the tag is unsubscribed');
  });

  it("routes a value, a failure and a give-up notice to the resource's watchers only", async () => {
    const [mine, alsoMine, other] = [new Inbox(), new Inbox(), new Inbox()];
    await hub.watch(tag, 'k', mine);
    await hub.watch(tag, 'k', alsoMine);
    await hub.watch(tag, 'other', other);
    await admin.publish(`${tag}/notif:k`, '"v"');
    await admin.publish(`${tag}/fail:k`, encodeFailure(new Error('boom')));
    await admin.publish(`${tag}/fail:k`, GIVE_UP_NOTICE);
    await admin.publish(`${tag}/unknown:k`, 'ignored');
    await until(() => mine.events.length === 3, 'three events arrive');
    const expected = [
      { type: 'value', raw: '"v"' },
      { type: 'failure', failure: { name: 'Error', message: 'boom' } },
      { type: 'recheck' },
    ];
    expect(mine.events).toEqual(expected);
    expect(alsoMine.events).toEqual(expected);
    expect(other.events).toEqual([]);
  });

  it('tells every watcher to read again when the subscriber drops, and again once it is back', async () => {
    const inbox = new Inbox();
    await hub.watch(tag, 'k', inbox);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => inbox.events.length >= 2, 'a recheck on the drop and one once back');
    expect(inbox.events.every((e) => e.type === 'recheck')).toBe(true);
    // ioredis re-subscribed by itself: a value published now arrives.
    await admin.publish(`${tag}/notif:k`, '"after"');
    await until(() => inbox.events.some((e) => e.type === 'value'), 'the value arrives');
    expect(logger.matching(/was lost/)).toHaveLength(1);
    expect(logger.matching(/Redis is back\./)).toHaveLength(1);
  });

  it('replaces a subscriber connection that ended, on the next watch', async () => {
    owner.disconnect();
    owner = redis.client({ retryStrategy: () => null }); // its duplicate gives up at once too
    hub = new NotificationHub(owner, 1_000, new ConnectionState(logger));
    const inbox = new Inbox();
    await hub.watch(tag, 'k', inbox);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => logger.matching(/has ended/).length === 1, 'the end is reported');
    expect(inbox.events).toContainEqual({ type: 'recheck' });
    expect(await subscribersOf(tag)).toBe(0);

    await hub.watch(tag, 'k', inbox); // the watcher reads its key again, then watches anew
    expect(await subscribersOf(tag)).toBe(1);
    await admin.publish(`${tag}/notif:k`, '"on the new connection"');
    await until(
      () => inbox.events.some((e) => e.type === 'value' && e.raw === '"on the new connection"'),
      'the value arrives on the new connection',
    );
  });

  it('rejects a watch with MemoLockClosedError once closed, and closes its connection', async () => {
    await hub.watch(tag, 'k', new Inbox());
    await until(async () => (await pubsubClients()) === 1, 'the hub has its connection');
    await hub.close();
    await expect(hub.watch(tag, 'k', new Inbox())).rejects.toBeInstanceOf(MemoLockClosedError);
    await until(async () => (await pubsubClients()) === 0, 'the subscriber connection is closed');
    expect(logger.lines).toEqual([]); // closing is no loss to report
  });
});
