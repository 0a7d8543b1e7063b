export * from './init';
export { checkGpuDevice, detectNvidiaDriver, type GpuCheck } from './gpu';
export { registerGradients } from './gradients';
export { registerWasmKernels, type WasmKernelPatch } from './kernels';
export { nativeGemmStatus, setNativeGemmEnabled, type NativeGemmStatus } from './kernels/native-gemm';
