import { Controller, Get, Logger, Param } from '@nestjs/common';
import { MemoLocked } from '../lib';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Controller('query')
export class QueryController {
  readonly #logger = new Logger(QueryController.name);

  /** Two seconds of work, cached five seconds: concurrent requests for one id wait for one computation. */
  @Get('simple/:id')
  @MemoLocked('query', 5_000, 10_000) // tag, ttl, timeout
  async simple(@Param('id') id: string) {
    this.#logger.log(`Working hard on ${id}`);
    await sleep(2_000);
    return { id, answer: `result for ${id}`, computedAt: new Date().toISOString() };
  }
}
