#!/usr/bin/env node
// Entry point of the command behind the codet5:modularize and codet5:finetune Nx targets; the
// compiled code lives in dist/ (the targets build it first).
require('../dist/targets/cli.js').main(process.argv);
