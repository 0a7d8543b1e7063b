// Prints one plain line, "N passed, N failed", after the Jest run and writes it to
// test-results/summary.txt, so CI can end its log with it. A test file that fails to load
// (syntax error, missing fixture at import time) counts as one failure.
const fs = require('fs');
const path = require('path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const brokenFiles = results.testResults.filter((file) => file.testExecError).length;
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + brokenFiles;
    const line = `${passed} passed, ${failed} failed`;
    const dir = path.join(this.rootDir, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'summary.txt'), `${line}\n`);
    process.stdout.write(`\n${line}\n`);
  }
}

module.exports = SummaryReporter;
