/**
 * The redis-memolock example, as a Nest app. `npm run start:sample`, then e.g.
 *   curl localhost:8080/query/simple/42   (twice at once: one "Working hard" in the log)
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { describeRedis, redisUrl } from './config';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 8080);
  await app.listen(port);
  const logger = new Logger('Sample');
  logger.log(
    redisUrl
      ? `MemoLock engine: Redis at ${describeRedis(redisUrl)}`
      : 'MemoLock engine: in-memory (set REDIS_URL to use Redis)',
  );
  logger.log(`Listening on http://localhost:${port}`);
  for (const route of [
    '/query/simple/:id',
    '/report/renewable/:id',
    '/report/oh-no/:id',
    '/ext/stemmer/:word',
  ]) {
    logger.log(`  GET http://localhost:${port}${route}`);
  }
}

void bootstrap();
