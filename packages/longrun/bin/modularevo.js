#!/usr/bin/env node
// Entry point of the `modularevo` command; the compiled CLI lives in dist/.
require('../dist/cli/main.js').main(process.argv);
