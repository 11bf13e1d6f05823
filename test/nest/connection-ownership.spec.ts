/**
 * Who closes the Redis client: the module closes what it opened (a URL or options), leaves a client passed
 * in to its owner, and closes a passed-in client too when told to with `closeClient` — the case of a client
 * created inside a forRootAsync factory, which nothing else holds.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { MemoLockArgumentError, MemoLockModule, MemoLockService } from '../../lib';
import { closeConnection } from '../../lib/memolock.providers';
import { startRedis, type TestRedis } from '../support/redis-server';

describe('connection ownership', () => {
  let redis: TestRedis;
  const made: Redis[] = [];
  const newClient = () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    made.push(client);
    return client;
  };

  beforeAll(async () => (redis = await startRedis()));
  afterEach(async () => {
    await Promise.all(made.splice(0).map((client) => closeConnection({ client, owned: true })));
  });
  afterAll(() => redis.stop());

  async function startAndStop(module: ReturnType<typeof MemoLockModule.forRootAsync>) {
    const app = await (await Test.createTestingModule({ imports: [module] }).compile()).init();
    const handle = app.get(MemoLockService).memoLock('owner', { lockTimeout: 1_000 });
    expect(await handle.getResource('x', 1_000, async () => ({ value: 1, ttl: 1_000 }))).toBe(1);
    await app.close();
  }

  it('closes a client made in the forRootAsync factory with closeClient: true', async () => {
    let client: Redis | undefined;
    await startAndStop(
      MemoLockModule.forRootAsync({
        useFactory: () => ({ redis: (client = newClient()), closeClient: true }),
      }),
    );
    // QUIT was acknowledged; the socket ends right after.
    if (client!.status !== 'end') await new Promise((resolve) => client!.once('end', resolve));
    expect(client!.status).toBe('end');
  });

  it('leaves a client passed in open by default', async () => {
    const client = newClient();
    await startAndStop(MemoLockModule.forRootAsync({ useFactory: () => ({ redis: client }) }));
    expect(client.status).toBe('ready');
  });

  it('closes the connection it opened when an option fails at startup: the process exits by itself', async () => {
    const child = spawn(
      process.execPath,
      ['-r', 'tsx/cjs', join(__dirname, '../support/failing-startup-process.ts'), redis.url],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const hung = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(hung);
    expect(output.trim()).toBe('refused: options.commandTimeout');
    expect(code).toBe(0); // not killed: nothing kept its event loop alive
  }, 30_000);

  it('rejects a closeClient that is not a boolean at startup, naming it', async () => {
    const client = newClient();
    const compiling = Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: client, closeClient: 'yes' as unknown as boolean })],
    }).compile();
    await expect(compiling).rejects.toBeInstanceOf(MemoLockArgumentError);
    await expect(
      Test.createTestingModule({
        imports: [MemoLockModule.forRoot({ redis: client, closeClient: 'yes' as unknown as boolean })],
      }).compile(),
    ).rejects.toMatchObject({ argument: 'closeClient' });
  });
});
