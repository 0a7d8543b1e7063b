export * from './csr';
export * from './kernels';
export * from './plan';
export * from './sparse-linear';
export * from './masked-dense';
