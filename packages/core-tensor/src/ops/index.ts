export * from './activations';
export * from './cross-entropy';
export * from './dropout';
export * from './embedding';
export * from './linear';
export * from './masks';
export * from './norms';
export * from './softmax';
