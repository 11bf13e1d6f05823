/**
 * The startup line's endpoint: where the client connects, never who it is. Clients are made with
 * `lazyConnect` (nothing is dialled); the options are ioredis's own parse of what a user may pass.
 */
import Redis, { Cluster } from 'ioredis';
import { describeEndpoint } from '../../lib/memolock-endpoint';

describe('the endpoint in the startup line', () => {
  const made: Array<Redis | Cluster> = [];
  const lazy = <T extends Redis | Cluster>(client: T): T => {
    made.push(client);
    return client;
  };
  afterAll(() => made.forEach((client) => client.disconnect()));

  it.each([
    ['u:s3cret@127.0.0.1:7000', 'cluster 127.0.0.1:7000'],
    ['redis://u:s3cret@127.0.0.1:7000/0', 'cluster 127.0.0.1:7000'],
    ['rediss://:p@ss/w?rd@10.0.0.5:7000', 'cluster 10.0.0.5:7000'],
    ['127.0.0.1:7000', 'cluster 127.0.0.1:7000'],
  ])('a cluster node given as %s is logged as %s', (node, expected) => {
    const cluster = lazy(new Cluster([node], { lazyConnect: true }));
    expect(describeEndpoint(cluster)).toBe(expected);
  });

  it('a Redis URL with credentials is logged by host, port and database only', () => {
    const client = lazy(new Redis('redis://alice:s3cret@10.0.0.5:6380/2', { lazyConnect: true }));
    expect(describeEndpoint(client)).toBe('10.0.0.5:6380 db 2');
  });

  it('sentinels given with credentials are logged by address and group only', () => {
    const client = lazy(
      new Redis({
        lazyConnect: true,
        sentinels: [{ host: '10.0.0.7', port: 26379 }],
        name: 'cache',
        sentinelPassword: 's3cret',
        password: 's3cret',
      }),
    );
    expect(describeEndpoint(client)).toBe('sentinels 10.0.0.7:26379 (cache) db 0');
  });
});
