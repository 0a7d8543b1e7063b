// @modularevo/datasets imports hyparquet and its helpers, which ship only ES modules; Jest's
// CommonJS runtime cannot load them, so they are transpiled here as the datasets package does.
const path = require('path');
const { packageConfig } = require('../../jest.preset');

const esmPackages = ['hyparquet', 'hyparquet-compressors', 'hysnappy', 'hyparquet-writer'];
const base = packageConfig(__dirname);

module.exports = {
  ...base,
  transform: {
    ...base.transform,
    [`/node_modules/(${esmPackages.join('|')})/.+\\.js$`]: [
      'ts-jest',
      { tsconfig: path.join(__dirname, '..', 'datasets', 'tsconfig.esm-deps.json') },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
};
