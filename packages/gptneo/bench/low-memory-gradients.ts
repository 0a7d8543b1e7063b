/**
 * The backward pass that frees memory as it goes now lives in core-tensor as
 * `lowMemoryVariableGrads`; this re-export keeps the import of `test/low-memory-gradients.test.ts`.
 *
 * TODO: import `lowMemoryVariableGrads` from `@modularevo/core-tensor` in that test and delete this file.
 */
export { lowMemoryVariableGrads } from '@modularevo/core-tensor';
