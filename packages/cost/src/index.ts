export * from './sparse';
export * from './accounting';
export * from './measure';
export * from './cli';
