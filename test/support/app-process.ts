/**
 * A Nest application in its own OS process: `node -r tsx/cjs app-process.ts REDIS_URL PLATFORM FIXTURE`.
 * It listens on a free loopback port, says so over IPC, forwards its warnings and errors, and closes on
 * 'exit'. See app-processes.ts for the test's side.
 */
import 'reflect-metadata';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { processFixtures } from '../app/process-fixtures';
import type { AppProcessMessage } from './app-processes';

const [redisUrl, platform, fixtureName] = process.argv.slice(2);
const send = (message: AppProcessMessage) => process.send!(message);

const logger: LoggerService = {
  log: () => undefined,
  warn: (message: unknown) => send({ type: 'log', level: 'warn', message: String(message) }),
  error: (message: unknown) =>
    send({
      type: 'log',
      level: 'error',
      message: message instanceof Error ? message.stack! : String(message),
    }),
};

async function main(): Promise<void> {
  const fixture = processFixtures[fixtureName](redisUrl);
  let app: INestApplication;
  if (platform === 'fastify') {
    const adapter = new FastifyAdapter();
    await fixture.fastify?.(adapter);
    app = await NestFactory.create(fixture.module, adapter, { logger });
  } else {
    app = await NestFactory.create(fixture.module, { logger });
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.on('message', (message: unknown) => {
    if (message === 'exit') void app.close().then(() => process.exit(0));
  });
  send({ type: 'ready', port });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? error.stack! : String(error) });
  process.exit(1);
});
