export * from './readers';
export * from './tokenizer';
export * from './metrics';
export * from './tasks';
export * from './corpora';
export * from './batching';
export * from './hub';
export * from './builtin';
