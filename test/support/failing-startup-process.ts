/**
 * A process whose MemoLockModule fails at startup (a bad option beside a Redis URL): it prints the error's
 * argument and returns from its main function, leaving the event loop to end by itself. It only exits if
 * nothing it opened is left open. `node -r tsx/cjs failing-startup-process.ts REDIS_URL`.
 */
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { MemoLockModule } from '../../lib';

async function main(): Promise<void> {
  try {
    await Test.createTestingModule({
      imports: [MemoLockModule.forRoot({ redis: process.argv[2], commandTimeout: -1 })],
    }).compile();
    console.log('compiled');
  } catch (error) {
    console.log(`refused: ${(error as { argument?: string }).argument}`);
  }
}

void main();
