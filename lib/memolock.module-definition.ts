import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MemoLockModuleOptions } from './memolock-module-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableMemoLockModule,
  MODULE_OPTIONS_TOKEN: MEMOLOCK_MODULE_OPTIONS,
  OPTIONS_TYPE: MEMOLOCK_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: MEMOLOCK_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<MemoLockModuleOptions>({ moduleName: 'MemoLock' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
