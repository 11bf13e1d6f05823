/**
 * The health of MemoLock for `@nestjs/terminus` (an optional peer): imported from `nestjs-memolock/terminus`
 * only, so that the main entry never loads terminus. The engine comes from the main entry (as a package
 * import, not a copy): it is the same injection token the module provides.
 */
import { Inject, Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { MemoLockEngine } from 'nestjs-memolock';

/**
 * Reports whether Redis answers a PING (with its round trip in ms) and whether the subscriber connection
 * that wakes waiters is up. Down when Redis does not answer within the engine's command timeout, or when the
 * subscriber connection is lost; the in-memory engine is always up.
 *
 * @example
 * // In a module that imports TerminusModule (and MemoLockModule, or has it global):
 * @Controller('health')
 * class HealthController {
 *   constructor(private health: HealthCheckService, private memoLock: MemoLockHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.memoLock.isHealthy('memolock')]);
 *   }
 * }
 * // providers: [MemoLockHealthIndicator]
 * // -> { "memolock": { "status": "up", "engine": "redis", "roundTripMs": 0.4, "subscriber": "ready" } }
 */
@Injectable()
export class MemoLockHealthIndicator {
  constructor(
    @Inject(MemoLockEngine) private readonly engine: MemoLockEngine,
    @Inject(HealthIndicatorService) private readonly indicator: HealthIndicatorService,
  ) {}

  /** The health of the engine under `key` (default `'memolock'`). */
  async isHealthy<const Key extends string = 'memolock'>(
    key: Key = 'memolock' as Key,
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.indicator.check(key);
    const { healthy, ...found } = await this.engine.checkHealth();
    const details = Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined));
    return healthy ? session.up(details) : session.down(details);
  }
}
