export * from './data';
export * from './finetune';
export * from './options';
export * from './trainable';
