import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { MemoLockHealthIndicator } from '../lib/terminus';
import { prometheus } from './telemetry';

/** `GET /metrics`: the OpenTelemetry figures in Prometheus's text format. `GET /health`: terminus. */
@Controller()
export class ObservabilityController {
  constructor(
    // Explicit tokens: tsx (esbuild) emits no decorator metadata.
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(MemoLockHealthIndicator) private readonly memoLock: MemoLockHealthIndicator,
  ) {}

  @Get('metrics')
  metrics(@Req() request: IncomingMessage, @Res() response: ServerResponse): void {
    prometheus.getMetricsRequestHandler(request, response);
  }

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.memoLock.isHealthy('memolock')]);
  }
}
