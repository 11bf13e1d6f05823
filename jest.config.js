/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  // The compatibility matrix has its own config (npm run test:compat): it installs the packed package.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/compat/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // The terminus subpath imports the main entry by the package's name (see scripts/build.mjs): here, lib/.
  moduleNameMapper: { '^nestjs-memolock$': '<rootDir>/lib/index.ts' },
  testTimeout: 30_000,
  testResultsProcessor: '<rootDir>/test/support/test-summary.js',
  // Every file starts its own redis-server, so files run in parallel safely.
  maxWorkers: 2,
};
