export * from './sparsity';
export * from './updates';
