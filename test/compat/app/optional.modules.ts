/**
 * The modules of the optional peers a fixture installs, imported by the app module. None here: this is the
 * app of a fixture without any optional peer. The matrix overwrites this file with
 * `app-terminus/optional.modules.ts` in the fixtures that install `@nestjs/terminus`, so that no fixture
 * compiles an import of a package it does not have.
 */
import type { Type } from '@nestjs/common';

export const optionalModules: Type[] = [];
