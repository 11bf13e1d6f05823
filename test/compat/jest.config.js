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
};
