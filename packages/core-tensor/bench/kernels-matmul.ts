/**
 * Speed of matrix products on the wasm backend, on the shapes of a GPT-Neo-125M training step:
 * the kernel of tfjs-backend-wasm 4.22.0 with each transpose flag, core-tensor's replacement kernel
 * on its XNNPACK path (explicit transposes, XNNPACK for every batch entry), and the native GEMM
 * accelerator when it is built.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/kernels-matmul.ts` in
 * packages/core-tensor). Figures go to stdout in GFLOP/s, the best of several runs after a
 * warm-up: other processes share the machine, and the best run is the least disturbed one.
 * Set `MODULAREVO_BENCH_QUICK=1` for one run of each.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { registerGradients } from '../src/backend/gradients';
import { registerWasmKernels } from '../src/backend/kernels';
import { nativeBatchMatMul, nativeGemmStatus, nativeSgemm, setNativeGemmEnabled } from '../src/backend/kernels/native-gemm';
import type { WasmBackend } from '../src/backend/kernels/wasm-internals';
import { bestMs, printTable } from './timing';

/** One product `[batch, m, k] x [batch, k, n]` (batch 1 means rank 2) as it occurs in a step. */
interface ProductShape {
  name: string;
  batch: number;
  m: number;
  k: number;
  n: number;
}

// GPT-Neo-125M has hidden size 768, 12 heads of 64 and an MLP of 3072. A batch of 4 sequences of 256 tokens gives 1024 rows.
const SHAPES: ProductShape[] = [
  { name: 'reference 1024x768x3072', batch: 1, m: 1024, k: 768, n: 3072 },
  { name: 'q/k/v/out proj 1024x768x768', batch: 1, m: 1024, k: 768, n: 768 },
  { name: 'mlp c_proj 1024x3072x768', batch: 1, m: 1024, k: 3072, n: 768 },
  { name: 'attention scores 48x256x64x256', batch: 48, m: 256, k: 64, n: 256 },
  { name: 'attention values 48x256x256x64', batch: 48, m: 256, k: 256, n: 64 },
];

type Variant = 'plain' | 'transposeA' | 'transposeB';

/** Operands stored so that `variant` gives the product of `shape`. */
function operands(shape: ProductShape, variant: Variant): [tf.Tensor, tf.Tensor] {
  const { batch, m, k, n } = shape;
  const lead = batch === 1 ? [] : [batch];
  const a = variant === 'transposeA' ? [...lead, k, m] : [...lead, m, k];
  const b = variant === 'transposeB' ? [...lead, n, k] : [...lead, k, n];
  return [tf.randomNormal(a), tf.randomNormal(b)];
}

type Rates = Record<Variant, number>;

function allVariants(shape: ProductShape): Rates {
  return { plain: gflops(shape, 'plain'), transposeA: gflops(shape, 'transposeA'), transposeB: gflops(shape, 'transposeB') };
}

function gflops(shape: ProductShape, variant: Variant): number {
  const [a, b] = operands(shape, variant);
  const ms = bestMs(() => tf.matMul(a, b, variant === 'transposeA', variant === 'transposeB'));
  tf.dispose([a, b]);
  return (2 * shape.batch * shape.m * shape.k * shape.n) / ms / 1e6;
}

// The native GEMM on x W^T, whatever the kernel would choose for these shapes.
function nativeProduct(x: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  const backend = tf.backend() as WasmBackend;
  const info = nativeBatchMatMul(backend, nativeSgemm()!, x, weight, false, true);
  return tf.engine().makeTensorFromTensorInfo(info);
}

// Linear layers on few rows, as in decoding: T5-base / CodeT5-base `wi` and the `lm_head` of GPT-Neo.
const FEW_ROWS: { name: string; rows: number; k: number; n: number }[] = [
  { name: 'wi 8x768 by 3072x768', rows: 8, k: 768, n: 3072 },
  { name: 'wi 32x768 by 3072x768', rows: 32, k: 768, n: 3072 },
  { name: 'lm_head 8x768 by 50257x768', rows: 8, k: 768, n: 50257 },
  { name: 'lm_head 32x768 by 50257x768', rows: 32, k: 768, n: 50257 },
];

/**
 * Milliseconds of `x W^T` for few rows: the weight transposed explicitly and then multiplied
 * (what the XNNPACK path did before it swapped operands), the XNNPACK path, and the native GEMM
 * (forced), and what the kernel chooses with the addon built.
 */
function printFewRows(nativeAvailable: boolean): void {
  const rows = FEW_ROWS.map(({ name, rows: m, k, n }) => {
    const [x, weight] = [tf.randomNormal([m, k]), tf.randomNormal([n, k])];
    setNativeGemmEnabled(false);
    const transposed = bestMs(() => tf.matMul(x, tf.transpose(weight)));
    const swapped = bestMs(() => tf.matMul(x, weight, false, true));
    setNativeGemmEnabled(true);
    const forced = nativeAvailable ? bestMs(() => nativeProduct(x, weight)) : NaN;
    const chosen = nativeAvailable ? bestMs(() => tf.matMul(x, weight, false, true)) : NaN;
    tf.dispose([x, weight]);
    return [name, ...[transposed, swapped, forced, chosen].map((ms) => ms.toFixed(2))];
  });
  console.log('\nx W^T on few rows, ms');
  printTable(['shape', 'weight transposed first', 'XNNPACK operands swapped', 'native GEMM', 'chosen with the addon'], rows);
}

async function main(): Promise<void> {
  registerGradients();
  await tf.setBackend('wasm');
  await tf.ready();

  // tfjs-backend-wasm's own kernel first, then core-tensor's replacement on the same shapes
  const tfjs = SHAPES.map(allVariants);
  registerWasmKernels();
  setNativeGemmEnabled(false);
  const xnnpack = SHAPES.map(allVariants);
  setNativeGemmEnabled(true);
  const native = nativeGemmStatus();
  const accelerated = native.available ? SHAPES.map(allVariants) : undefined;

  console.log('matMul on wasm (tfjs 4.22, SIMD, 1 thread): tfjs kernel against the XNNPACK path, GFLOP/s');
  printTable(
    ['shape', 'tfjs plain', 'tfjs transposeA', 'tfjs transposeB', 'ours plain', 'ours transposeA', 'ours transposeB'],
    SHAPES.map((shape, i) => [
      shape.name,
      tfjs[i].plain,
      tfjs[i].transposeA,
      tfjs[i].transposeB,
      xnnpack[i].plain,
      xnnpack[i].transposeA,
      xnnpack[i].transposeB,
    ]),
  );

  printFewRows(native.available);

  if (!accelerated) {
    console.log(`native GEMM accelerator not measured: ${native.reason}`);
    return;
  }
  const threads = `${native.threads} thread${native.threads === 1 ? '' : 's'}`;
  console.log(`\nnative GEMM accelerator (${threads}) against the XNNPACK path, GFLOP/s`);
  printTable(
    ['shape', 'XNNPACK plain', 'native plain', 'XNNPACK transposeA', 'native transposeA', 'XNNPACK transposeB', 'native transposeB'],
    SHAPES.map((shape, i) => [
      shape.name,
      xnnpack[i].plain,
      accelerated[i].plain,
      xnnpack[i].transposeA,
      accelerated[i].transposeA,
      xnnpack[i].transposeB,
      accelerated[i].transposeB,
    ]),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
