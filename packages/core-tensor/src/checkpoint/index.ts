export * from './atomic';
export * from './dtype';
export * from './reader';
export * from './safetensors';
export * from './state-dict';
