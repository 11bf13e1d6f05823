/**
 * The compatibility matrix (npm run test:compat): one long test file that packs the package and installs it
 * into fixture apps. Kept out of the main suite, which `npx jest` runs in about a minute.
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/compat/matrix.spec.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testResultsProcessor: '<rootDir>/test/support/test-summary.js',
  maxWorkers: 1,
  // Its tests run npm and apps in child processes: a dry-run install took over 5 s (Jest's default) on a
  // slower machine. Runs that can hang bound themselves (timeoutMs).
  testTimeout: 120_000,
};
