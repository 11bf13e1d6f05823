/**
 * The redis-memolock example, as a Nest app. `npm run start:sample`, then e.g.
 *   curl localhost:8080/query/simple/42   (twice at once: one "Working hard" in the log)
 *   curl localhost:8080/metrics           (memolock_calls_total by tag and outcome, wait and compute times)
 *   curl localhost:8080/health            (Redis reachable, subscriber up, round trip)
 */
import 'reflect-metadata';
import './telemetry'; // first: the global meter provider MemoLock reports to
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
    '/metrics',
    '/health',
  ]) {
    logger.log(`  GET http://localhost:${port}${route}`);
  }
}

void bootstrap();
