/**
 * The modules of the optional peers a fixture installs: copied over `app/optional.modules.ts` in the fixtures
 * that install `@nestjs/terminus`, adding `GET /health`.
 */
import type { Type } from '@nestjs/common';
import { HealthModule } from './health.module.js';

export const optionalModules: Type[] = [HealthModule];
