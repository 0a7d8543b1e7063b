// hyparquet, hyparquet-compressors, hysnappy and hyparquet-writer ship only ES modules, which
// Jest's CommonJS runtime cannot load, so ts-jest transpiles them to CommonJS here. The compiled
// package needs no such step because Node 20.19+ can `require()` ES modules.
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
      { tsconfig: path.join(__dirname, 'tsconfig.esm-deps.json') },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
};
