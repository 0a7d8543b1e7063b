export * from './corpus';
export * from './lm-evaluation';
export * from './modularize';
export * from './options';
export * from './snapshots';
