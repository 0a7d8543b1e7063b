// Shared Jest settings: every package tests its TypeScript sources directly, and
// `@modularevo/<name>` imports resolve to the sibling package's `src/` so tests never
// need a prior build.
const path = require('path');

const packagesDir = path.join(__dirname, 'packages');

// hyparquet and its helpers ship only ES modules, which Jest's CommonJS runtime cannot load, so
// ts-jest transpiles them for every package that reaches @modularevo/datasets. Compiled packages
// need no such step because Node 20.19+ can `require()` ES modules.
const esmPackages = ['hyparquet', 'hyparquet-compressors', 'hysnappy', 'hyparquet-writer'];

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
      [`/node_modules/(${esmPackages.join('|')})/.+\\.js$`]: [
        'ts-jest',
        { tsconfig: path.join(__dirname, 'tsconfig.esm-deps.json') },
      ],
    },
    transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
    moduleNameMapper: {
      '^@modularevo/test-support$': path.join(__dirname, 'test', 'support', 'index.ts'),
      '^@modularevo/([a-z0-9-]+)$': `${packagesDir}/$1/src/index.ts`,
    },
    testTimeout: 120000,
  };
}

module.exports = { packageConfig, packagesDir };
