/** `nestjs-memolock/terminus`: what needs `@nestjs/terminus`, kept out of the main entry. */
export { MemoLockHealthIndicator } from './memolock-health.indicator';
