const { packageConfig } = require('../../jest.preset');

module.exports = packageConfig(__dirname);
