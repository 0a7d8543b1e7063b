/**
 * Speed of `tf.sum` over leading axes on the wasm backend, as in the gradient of a bias: the
 * kernel of tfjs-backend-wasm 4.22.0, which transposes a copy first, against core-tensor's
 * replacement.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/kernels-sum.ts` in
 * packages/core-tensor). Figures go to stdout in milliseconds, the best of several runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { registerWasmKernels } from '../src/backend/kernels';
import { bestMs, printTable } from './timing';

// Gradients of GPT-Neo-125M biases and layer norms for 1024 tokens.
const SHAPES: { name: string; shape: number[]; axis: number[] }[] = [
  { name: 'c_fc bias [1024, 3072] over rows', shape: [1024, 3072], axis: [0] },
  { name: 'layer norm [8, 128, 768] over batch and sequence', shape: [8, 128, 768], axis: [0, 1] },
];

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  const inputs = SHAPES.map(({ shape }) => tf.randomNormal(shape));

  // tfjs-backend-wasm's own kernel first, then core-tensor's replacement on the same tensors
  const time = () => SHAPES.map(({ axis }, i) => bestMs(() => tf.sum(inputs[i], axis)));
  const tfjs = time();
  registerWasmKernels();
  const ours = time();

  console.log('tf.sum over leading axes on wasm, ms');
  printTable(
    ['shape', 'tfjs kernel', 'core-tensor kernel'],
    SHAPES.map(({ name }, i) => [name, tfjs[i].toFixed(2), ours[i].toFixed(2)]),
  );
  tf.dispose(inputs);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
