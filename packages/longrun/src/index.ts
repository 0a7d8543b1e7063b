export { createProgram, main } from './cli/main';
