export * from './errors';
export * from './log';
export * from './architecture';
export * from './backend';
export * from './checkpoint';
export * from './training';
export * from './ops';
