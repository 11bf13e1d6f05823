/**
 * Applications that run in their own OS process (see test/support/app-process.ts), for what only real
 * processes show: process-wide state is not shared, and a plugin that Jest cannot load (`@fastify/cookie`
 * imports an ES module) loads as in production. Run by tsx, which emits no decorator metadata: every
 * injection names its token.
 */
import { Controller, type DynamicModule, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { FastifyAdapter } from '@nestjs/platform-fastify';
import { MemoLocked, MemoLockModule } from '../../lib';
import { sleep } from '../support/sleep';
import { EntityNotFound, EntityNotFoundFilter } from './entity-not-found';

export interface ProcessFixture {
  module: DynamicModule;
  /** Prepares the Fastify adapter before the app is made (plugins). */
  fastify?: (adapter: FastifyAdapter) => Promise<void>;
}

/** How long each computation of these fixtures works: long enough for another process to ask meanwhile. */
export const WORK_MS = 400;

@Controller('err')
class ErrorsController {
  @Get('entity/:id')
  @MemoLocked('proc-entity', 60_000, 5_000)
  async entity(@Param('id') id: string) {
    await sleep(WORK_MS);
    throw new EntityNotFound(`row ${id} not in table users (pid ${process.pid})`);
  }

  @Get('upstream/:id')
  @MemoLocked('proc-upstream', 60_000, 5_000)
  async upstream(@Param('id') id: string) {
    await sleep(WORK_MS);
    // As axios rejects: not an HttpException, yet carrying the upstream's status.
    throw Object.assign(new Error(`GET http://10.0.0.5/items/${id} failed with 404`), {
      name: 'AxiosError',
      status: 404,
    });
  }

  @Get('missing/:id')
  @MemoLocked('proc-missing', 60_000, 5_000)
  async missing(@Param('id') id: string) {
    await sleep(WORK_MS);
    throw new NotFoundException({ message: `no item ${id}`, id });
  }

  @Get('slow/:id')
  @MemoLocked('proc-slow', 60_000, 5_000)
  async slow(@Param('id') id: string) {
    await sleep(WORK_MS);
    return { id, pid: process.pid };
  }
}

/** What Express's `res` (`cookie`) and `@fastify/cookie`'s reply (`setCookie`) offer. */
interface CookieReply {
  cookie?: (name: string, value: string) => unknown;
  setCookie?: (name: string, value: string) => unknown;
}

let visits = 0;

@Controller('cookie')
class CookieController {
  @Get(':id')
  @MemoLocked('proc-cookie', 60_000, 5_000)
  visit(@Param('id') id: string, @Res({ passthrough: true }) reply: CookieReply) {
    const token = `token-${process.pid}-${++visits}`;
    if (reply.setCookie) reply.setCookie('visitor', token);
    else reply.cookie!('visitor', token);
    return { id, token };
  }
}

export const processFixtures: Record<string, (redisUrl: string) => ProcessFixture> = {
  errors: (redisUrl) => ({
    module: {
      module: class ErrorsAppModule {},
      imports: [MemoLockModule.forRoot({ redis: redisUrl })],
      controllers: [ErrorsController],
      providers: [{ provide: APP_FILTER, useClass: EntityNotFoundFilter }],
    },
  }),
  cookies: (redisUrl) => ({
    module: {
      module: class CookiesAppModule {},
      imports: [MemoLockModule.forRoot({ redis: redisUrl })],
      controllers: [CookieController],
    },
    fastify: async (adapter) => {
      // The plugin users register; Jest cannot load it (its import of the `cookie` ES module).
      const { default: fastifyCookie } = await import('@fastify/cookie');
      await adapter.register(fastifyCookie as never);
    },
  }),
};
