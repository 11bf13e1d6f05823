/**
 * The HTTP scenario's app: `node -r tsx/cjs bench/http-app.ts REDIS_URL PORT MODE`, MODE being
 * `memolock` (@MemoLocked), `cache-interceptor` (@nestjs/cache-manager's CacheInterceptor with its Keyv
 * Redis store, as its docs set it up) or `bare` (no caching). Prints "listening" when ready.
 */
import 'reflect-metadata';
import { createKeyv } from '@keyv/redis';
import { CacheInterceptor, CacheModule, CacheTTL } from '@nestjs/cache-manager';
import { Controller, Get, Module, Param, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MemoLocked, MemoLockModule } from '../lib';

const [url, port, mode] = process.argv.slice(2);
const answer = (id: string) => ({ id, payload: 'x'.repeat(512) });

@Controller()
class MemoLockedController {
  @Get('item/:id')
  @MemoLocked('http', 60_000, 10_000)
  item(@Param('id') id: string) {
    return answer(id);
  }
}

@Controller()
@UseInterceptors(CacheInterceptor)
class CachedController {
  @Get('item/:id')
  @CacheTTL(60_000)
  item(@Param('id') id: string) {
    return answer(id);
  }
}

@Controller()
class BareController {
  @Get('item/:id')
  item(@Param('id') id: string) {
    return answer(id);
  }
}

const modules = {
  memolock: { imports: [MemoLockModule.forRoot({ redis: url })], controllers: [MemoLockedController] },
  'cache-interceptor': {
    imports: [CacheModule.register({ stores: [createKeyv(url)] })],
    controllers: [CachedController],
  },
  bare: { imports: [], controllers: [BareController] },
};

async function main() {
  @Module(modules[mode as keyof typeof modules])
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  app.enableShutdownHooks();
  await app.listen(Number(port), '127.0.0.1');
  process.stdout.write('listening\n');
}

void main();
