// Runs every package's tests and the cross-package tests in test/ in one Jest process.
const fs = require('fs');
const path = require('path');
const { packageConfig, packagesDir } = require('./jest.preset');

const packageProjects = fs
  .readdirSync(packagesDir)
  .filter((name) => fs.existsSync(path.join(packagesDir, name, 'package.json')))
  .map((name) => {
    // A package's own jest.config.js may extend the preset (datasets transforms ES-module dependencies).
    const own = path.join(packagesDir, name, 'jest.config.js');
    return fs.existsSync(own) ? require(own) : packageConfig(path.join(packagesDir, name));
  });

module.exports = {
  projects: [
    ...packageProjects,
    { ...packageConfig(path.join(__dirname, 'test')), displayName: 'e2e', testMatch: ['<rootDir>/**/*.test.ts'] },
    { ...packageConfig(path.join(__dirname, 'tools')), displayName: 'tools', testMatch: ['<rootDir>/generators/**/*.test.ts'] },
  ],
  reporters: ['default', '<rootDir>/tools/jest/summary-reporter.js'],
  maxWorkers: 2,
  // testTimeout is a global option: Jest ignores it inside `projects` entries.
  testTimeout: 120000,
};
