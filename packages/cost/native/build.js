#!/usr/bin/env node
// Builds the optional native sparse kernels at install time. It never fails the install: when
// the build is disabled or fails, it prints one line and the TypeScript kernel serves instead.
//
// MODULAREVO_NATIVE=0 skips the build. node-gyp is the copy npm runs scripts with
// (npm_config_node_gyp) or an installed node-gyp package. The Node headers come from the Node
// installation itself (--nodedir), because node-gyp would otherwise download them.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const here = __dirname;

function skip(reason) {
  console.log(`@modularevo/cost: native sparse kernels not built (${reason}); the TypeScript kernel will be used`);
  process.exit(0);
}

function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

function headerArguments() {
  const prefix = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function build() {
  if (process.env.MODULAREVO_NATIVE === '0') skip('MODULAREVO_NATIVE=0');

  const nodeGyp = findNodeGyp();
  if (!nodeGyp) skip('node-gyp not found');

  const started = Date.now();
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...headerArguments()], {
    cwd: here,
    encoding: 'utf8',
    timeout: 300000,
  });
  if (result.error || result.status !== 0) {
    const output = `${result.stderr || ''}${result.stdout || ''}`.trim().split('\n');
    const cause = result.error ? result.error.message : output.filter((line) => /error/i.test(line))[0] || output.pop();
    skip(`node-gyp failed: ${cause || `exit code ${result.status}`}`);
  }
  console.log(`@modularevo/cost: native sparse kernels built in ${Date.now() - started} ms`);
}

try {
  build();
} catch (error) {
  skip(error.message);
}
