/**
 * Soak: thousands of concurrent callers over many keys, with expiries, failures, renewals and timeouts
 * mixed in, for a bounded time (SOAK_SECONDS, default 30). Afterwards: heap back near its start, no warnings,
 * no unhandled rejections, no pending resources and no pattern subscription left in Redis.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, type TestRedis } from '../support/redis-server';

const run = promisify(execFile);
const SECONDS = Number(process.env.SOAK_SECONDS ?? 30);
const CALLERS = Number(process.env.SOAK_CALLERS ?? 3_000);

jest.setTimeout((SECONDS + 60) * 1_000);

describe('soak', () => {
  let redis: TestRedis;
  beforeAll(async () => (redis = await startRedis()));
  afterAll(() => redis.stop());

  it(`keeps ${CALLERS} concurrent callers for ${SECONDS} s without leaking`, async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--expose-gc',
        '--require',
        'tsx/cjs',
        join(__dirname, '../support/soak-process.ts'),
        redis.url,
        String(SECONDS),
        String(CALLERS),
      ],
      { maxBuffer: 1024 * 1024, timeout: (SECONDS + 50) * 1_000 },
    );
    const report = JSON.parse(stdout);
    console.log(`soak: ${JSON.stringify(report)}`);
    expect(report.unhandled).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.calls).toBeGreaterThan(CALLERS * 5);
    for (const kind of ['value', 'Error', 'MemoLockTimeoutError'])
      expect(report.outcomes[kind]).toBeGreaterThan(0);
    expect(report.computations).toBeGreaterThan(100); // values expired and were computed again
    expect(report.pending).toEqual([0, 0]);
    expect(report.subscribedTags).toEqual([0, 0]);
    expect(report.patterns).toBe(0);
    expect(report.heapAfter).toBeLessThan(report.heapBefore * 1.5 + 10);
  });
});
