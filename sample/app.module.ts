import { Module } from '@nestjs/common';
import { MemoLockModule } from '../lib';
import { redisUrl } from './config';
import { QueryController } from './query.controller';
import { ReportController } from './report.controller';
import { StemmerController } from './stemmer.controller';

@Module({
  imports: [MemoLockModule.forRoot({ redis: redisUrl ?? 'memory', lockTimeout: 5_000, isGlobal: true })],
  controllers: [QueryController, ReportController, StemmerController],
})
export class AppModule {}
