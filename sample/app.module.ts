import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MemoLockModule } from '../lib';
import { MemoLockHealthIndicator } from '../lib/terminus';
import { redisUrl } from './config';
import { ObservabilityController } from './observability.controller';
import { QueryController } from './query.controller';
import { ReportController } from './report.controller';
import { StemmerController } from './stemmer.controller';

@Module({
  imports: [
    MemoLockModule.forRoot({ redis: redisUrl ?? 'memory', lockTimeout: 5_000, isGlobal: true }),
    TerminusModule.forRoot({ logger: false }),
  ],
  controllers: [QueryController, ReportController, StemmerController, ObservabilityController],
  providers: [MemoLockHealthIndicator],
})
export class AppModule {}
