export * from './sparse';
