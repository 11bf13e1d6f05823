/**
 * The app every compatibility fixture runs: MemoLockModule from the packed tarball, configured the way the
 * README shows (forRootAsync, global, a client of the app's own ioredis major, owned by the module), one
 * decorated provider method and one decorated controller handler, and the modules of the optional peers the
 * fixture installs (optional.modules.ts: `GET /health` where `@nestjs/terminus` is installed). Copied into
 * each fixture's src/ by the matrix.
 *
 * Everything is injected with explicit tokens, so that tsx and Vitest (no decorator metadata) run it too.
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Injectable, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { MemoLocked, MemoLockModule } from 'nestjs-memolock';
import { optionalModules } from './optional.modules.js';

/** How many times this process really computed, by kind: the check sums them over both processes. */
export const computed = { handler: 0, provider: 0 };

const WORK_MS = 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
export class WorkService {
  @MemoLocked('compat-provider', 60_000, 10_000)
  async compute(id: string): Promise<{ id: string; pid: number; at: number }> {
    computed.provider++;
    await sleep(WORK_MS);
    return { id, pid: process.pid, at: Date.now() };
  }
}

@Controller('compat')
export class CompatController {
  constructor(@Inject(WorkService) private readonly work: WorkService) {}

  @Get('handler/:id')
  @MemoLocked('compat-handler', 60_000, 10_000)
  async handler(@Param('id') id: string): Promise<{ id: string; pid: number; at: number }> {
    computed.handler++;
    await sleep(WORK_MS);
    return { id, pid: process.pid, at: Date.now() };
  }

  @Get('provider/:id')
  provider(@Param('id') id: string): Promise<{ id: string; pid: number; at: number }> {
    return this.work.compute(id);
  }

  @Get('stats')
  stats(): { pid: number; handler: number; provider: number } {
    return { pid: process.pid, ...computed };
  }
}

@Module({
  imports: [
    MemoLockModule.forRootAsync({
      // Global, so that the health indicator (in its own module, where terminus is installed) gets the engine.
      isGlobal: true,
      // A client made inside the factory is closed by the module on shutdown because of closeClient.
      useFactory: () => ({
        redis: new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 }),
        closeClient: true,
        lockTimeout: 10_000,
      }),
    }),
    ...optionalModules,
  ],
  controllers: [CompatController],
  providers: [WorkService],
})
export class AppModule {}

/** The app, listening on 127.0.0.1:`port` (0: any free port). */
export async function startApp(port: number) {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(port, '127.0.0.1');
  return { app, port: (app.getHttpServer().address() as { port: number }).port };
}
