/**
 * `GET /health` as the README shows it: `MemoLockHealthIndicator` from `nestjs-memolock/terminus` in a terminus
 * health check, in a module of its own that imports `TerminusModule` (MemoLockModule is imported by the app
 * module, so the indicator resolves the engine from there).
 */
import { Controller, Get, Inject, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { MemoLockHealthIndicator } from 'nestjs-memolock/terminus';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(MemoLockHealthIndicator) private readonly memoLock: MemoLockHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.memoLock.isHealthy('memolock')]);
  }
}

@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
  providers: [MemoLockHealthIndicator],
})
export class HealthModule {}
