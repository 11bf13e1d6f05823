/**
 * Jest's testResultsProcessor: when TEST_SUMMARY_FILE is set, appends this run's counts to it as one JSON
 * line, so that CI can add up the Jest runs `npm test` makes (the main suite, then the compatibility matrix).
 */
const { appendFileSync } = require('node:fs');

module.exports = (results) => {
  const file = process.env.TEST_SUMMARY_FILE;
  if (file) {
    const failed = results.numFailedTests + (results.numRuntimeErrorTestSuites || 0);
    appendFileSync(file, `${JSON.stringify({ passed: results.numPassedTests, failed })}\n`);
  }
  return results;
};
