import { Controller, Get, HttpException, HttpStatus, Inject, Param } from '@nestjs/common';
import { MemoLockRenewError, MemoLockService } from '../lib';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reports whose work is longer than their lock lease, so they renew it midway. */
@Controller('report')
export class ReportController {
  readonly #reports;

  constructor(@Inject(MemoLockService) memoLock: MemoLockService) {
    this.#reports = memoLock.memoLock<{ id: string; pages: number }>('report', { lockTimeout: 2_000 });
  }

  /** 1.5 s of work, a renewal of the 2 s lease, 1.5 s more: nobody else starts the same report meanwhile. */
  @Get('renewable/:id')
  renewable(@Param('id') id: string) {
    return this.#reports.getResourceRenewable(id, 10_000, async (renew) => {
      await sleep(1_500);
      await renew(2_000);
      await sleep(1_500);
      return { value: { id, pages: 42 }, ttl: 5_000 };
    });
  }

  /** 2.5 s of work on a 2 s lease: the renewal comes too late and fails, and the request says why. */
  @Get('oh-no/:id')
  async ohNo(@Param('id') id: string) {
    try {
      return await this.#reports.getResourceRenewable(`oh-no:${id}`, 10_000, async (renew) => {
        await sleep(2_500);
        await renew(2_000);
        return { value: { id, pages: 0 }, ttl: 5_000 };
      });
    } catch (error) {
      if (error instanceof MemoLockRenewError) {
        throw new HttpException(
          {
            statusCode: HttpStatus.CONFLICT,
            message: `Report ${id} outlived its 2 s lock lease and could not renew it; another caller may have taken over.`,
          },
          HttpStatus.CONFLICT,
        );
      }
      throw error;
    }
  }
}
