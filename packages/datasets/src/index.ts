export * from './readers';
export * from './tokenizer';
