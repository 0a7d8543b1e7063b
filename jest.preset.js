// Shared Jest settings: every package tests its TypeScript sources directly, and
// `@modularevo/<name>` imports resolve to the sibling package's `src/` so tests never
// need a prior build.
const path = require('path');

const packagesDir = path.join(__dirname, 'packages');

/** Returns the Jest project configuration for the package in `dir`. */
function packageConfig(dir) {
  const name = path.basename(dir);
  return {
    displayName: name,
    rootDir: dir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.spec.json') }],
    },
    moduleNameMapper: {
      '^@modularevo/test-support$': path.join(__dirname, 'test', 'support', 'index.ts'),
      '^@modularevo/([a-z0-9-]+)$': `${packagesDir}/$1/src/index.ts`,
    },
    testTimeout: 120000,
  };
}

module.exports = { packageConfig, packagesDir };
