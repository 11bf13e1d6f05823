import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Controller, Get, Inject, Logger, Param } from '@nestjs/common';
import { InMemoryMemoLockEngine, MemoLockEngine, MemoLockService } from '../lib';
import { redisUrl } from './config';

const WORKER = join(__dirname, 'stemmer-worker.mjs');

/**
 * External computation: the request that gets the lock starts a separate worker program, which stems the
 * word and writes the result back with plain SET + PUBLISH; every request, the starter included, waits
 * for that notification.
 */
@Controller('ext')
export class StemmerController {
  readonly #logger = new Logger(StemmerController.name);
  readonly #stems;

  constructor(
    @Inject(MemoLockService) memoLock: MemoLockService,
    @Inject(MemoLockEngine) private readonly engine: MemoLockEngine,
  ) {
    // 'raw': the worker writes plain strings, as a Go or C# program would.
    this.#stems = memoLock.memoLock<string>('stemmer', { lockTimeout: 5_000, serializer: 'raw' });
  }

  @Get('stemmer/:word')
  async stem(@Param('word') word: string) {
    const stem = await this.#stems.getResourceExternal(word, 10_000, () => this.#startWorker(word));
    return { word, stem };
  }

  #startWorker(word: string): void {
    this.#logger.log(`Starting the stemmer worker for ${word}`);
    // Arguments go to the worker as an array: no shell sees the word.
    execFile(
      process.execPath,
      [WORKER, word],
      { env: { ...process.env, REDIS_URL: redisUrl ?? '' } },
      (error, stdout) => {
        if (error) return this.#logger.error(`The stemmer worker failed: ${error.message}`);
        // Without Redis there is nothing for the worker to write to: it prints the stem, and we deliver it.
        if (!redisUrl && this.engine instanceof InMemoryMemoLockEngine) {
          this.engine.publish('stemmer', word, stdout.trim(), 60_000);
        }
      },
    );
  }
}
