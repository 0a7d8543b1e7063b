/**
 * CPU time per 16-wide FMA of the dense product (`linear`, core-tensor's native GEMM on wasm) and
 * of the sparse kernel (in place on the wasm heap), on the linear-layer shapes of GPT-Neo-125M and
 * CodeBERT-base at 128 and 1024 tokens. The dense product does out * in * tokens / 16 FMAs, the
 * sparse one kept weights * tokens / 16. CPU time (every thread) is used because other processes
 * do not inflate it. BENCH_RETENTION sets the kept fraction (default 0.25) and BENCH_REPEATS the
 * runs (default 10). Run with `npm run bench-kernels -w @modularevo/cost`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, linear } from '@modularevo/core-tensor';

import { csrFromMasked, csrNonzeros, prepareMatrix } from '../src';
import { sparseLinearOnHeap } from '../src/sparse/heap-kernel';
import { seededUniform } from '../src/testing/architectures';
import { describeMachine, loadAverage } from './timing';

const RETENTION = Number(process.env.BENCH_RETENTION ?? 0.25);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 10);

/** Runs `fn` REPEATS times and returns the mean process CPU time per run in milliseconds. */
function cpuMs(fn: () => void): number {
  fn();
  const started = process.cpuUsage();
  for (let i = 0; i < REPEATS; i++) fn();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000 / REPEATS;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  for (const line of describeMachine(backend)) console.log(line);
  console.log(`${RETENTION * 100}% of the weights kept; mean CPU time of ${REPEATS} runs after 1 warm-up; load ${loadAverage()}\n`);
  console.log('| layer [out, in] | tokens | dense CPU ms | sparse CPU ms | CPU ratio | dense ns per FMA | sparse ns per FMA |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');

  const random = seededUniform(3);
  for (const tokens of [128, 1024]) {
    for (const [outFeatures, inFeatures] of [[768, 768], [3072, 768], [768, 3072]]) {
      const values = Float32Array.from({ length: outFeatures * inFeatures }, () => random() - 0.5);
      const mask = Uint8Array.from({ length: values.length }, () => (random() < RETENTION ? 1 : 0));
      const csr = csrFromMasked(values, outFeatures, inFeatures, mask);
      const matrix = prepareMatrix(csr);
      const weight = tf.tensor2d(values, [outFeatures, inFeatures]);
      const bias = tf.zeros([outFeatures]) as tf.Tensor1D;
      const x = tf.randomUniform([tokens, inFeatures], -1, 1, 'float32', 4);

      const dense = cpuMs(() => linear(x, weight, bias).dispose());
      const sparse = cpuMs(() => sparseLinearOnHeap(matrix, x, new Float32Array(outFeatures))?.dispose());
      const perFma = (ms: number, fmas: number) => ((ms * 1e6) / fmas).toFixed(2);
      console.log(
        `| [${outFeatures}, ${inFeatures}] | ${tokens} | ${dense.toFixed(2)} | ${sparse.toFixed(2)} | ${(dense / sparse).toFixed(2)}x ` +
          `| ${perFma(dense, (outFeatures * inFeatures * tokens) / 16)} | ${perFma(sparse, (csrNonzeros(csr) * tokens) / 16)} |`,
      );
      tf.dispose([weight, bias, x]);
    }
  }
  console.log(`\nload average (1 min) at end: ${loadAverage()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
