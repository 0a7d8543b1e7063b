/**
 * The dense tfjs path against ONNX Runtime (onnxruntime-node, CPU execution provider) on the
 * same shapes, weights and inputs, in one process. It times single linear layers at 128 and 1024
 * tokens, and the whole GPT-Neo-125M and CodeBERT-base bodies at batch 1 and 8, sequence 128. The sparse
 * path at 25% retention is listed beside them. ONNX Runtime gets as many intra-op threads as the
 * native GEMM, without spinning between runs, and its graphs are written by `onnx-graph.ts`.
 *
 * Times are the median of BENCH_REPEATS runs (default 5) after one warm-up, the variants taking
 * turns, in milliseconds. Run with `npm run bench-onnx -w @modularevo/cost`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, linear, type LinearFn } from '@modularevo/core-tensor';
import * as ort from 'onnxruntime-node';

import { buildSparsePlan, median, sparseLinear } from '../src';
import { randomModule, seededUniform } from '../src/testing/architectures';
import { codeBertBase, gptNeo125m, type BenchModel } from './models';
import { linearGraph } from './onnx-graph';
import { describeMachine, loadAverage } from './timing';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const SEQ = 128;
const MODELS = (process.env.BENCH_MODELS ?? 'gptneo,codebert').split(',');

const denseLinear: LinearFn = (_layer, x, weight, bias) => linear(x, weight, bias);

/** Returns the median times of variants that take turns after one warm-up run each. A variant may be async. */
async function compareAsync<Name extends string>(variants: Record<Name, () => unknown>): Promise<Record<Name, number>> {
  const names = Object.keys(variants) as Name[];
  const runs = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Name, number[]>;
  for (let round = 0; round <= REPEATS; round++) {
    for (const name of names) {
      const started = process.hrtime.bigint();
      await variants[name]();
      if (round > 0) runs[name].push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  }
  return Object.fromEntries(names.map((name) => [name, median(runs[name])])) as Record<Name, number>;
}

// tf.tidy walks every element of a returned typed array looking for tensors (170 ms for 98304
// floats in a trial), so the values are read after the tidy returns the tensor
function valuesOf(compute: () => tf.Tensor): Float32Array {
  const y = tf.tidy(compute);
  try {
    return y.dataSync() as Float32Array;
  } finally {
    y.dispose();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

// ONNX Runtime's intra-op threads spin after each run by default, waiting for the next one. Here
// the next run is the tfjs one, so spinning threads would take the cores from it.
function session(graph: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(graph, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
}

/** Times one linear layer per shape: ONNX Runtime, tfjs dense, and the sparse kernel at 25% retention. */
async function linearRows(threads: number): Promise<void> {
  console.log('\n| linear layer | tokens | ONNX Runtime | tfjs dense | ratio (ORT / tfjs) | sparse 25% | max abs diff |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const random = seededUniform(11);
  for (const [outFeatures, inFeatures] of [[768, 768], [3072, 768], [768, 3072]]) {
    const layer = { name: 'bench.dense', weight: 'bench.dense.weight', bias: 'bench.dense.bias', inFeatures, outFeatures };
    const weightValues = Float32Array.from({ length: outFeatures * inFeatures }, () => (random() - 0.5) * 0.1);
    const biasValues = Float32Array.from({ length: outFeatures }, () => random() - 0.5);
    const weight = tf.variable(tf.tensor2d(weightValues, [outFeatures, inFeatures]));
    const bias = tf.variable(tf.tensor1d(biasValues));
    const onnx = await session(linearGraph(weightValues, biasValues, outFeatures, inFeatures), threads);
    const plan = buildSparsePlan({ linearLayers: () => [layer], parameter: (name) => (name === layer.weight ? weight : bias) }, randomModule([layer], 0.25, 12));
    const sparse = sparseLinear(plan);

    for (const tokens of [128, 1024]) {
      const input = Float32Array.from({ length: tokens * inFeatures }, () => random() * 2 - 1);
      const x = tf.tensor2d(input, [tokens, inFeatures]);
      const feeds = { x: new ort.Tensor('float32', input, [tokens, inFeatures]) };
      const run = (linearFn: LinearFn) => () => valuesOf(() => linearFn(layer, x, weight as unknown as tf.Tensor2D, bias as unknown as tf.Tensor1D));
      const times = await compareAsync({ onnx: () => onnx.run(feeds), dense: run(denseLinear), sparse: run(sparse) });
      const difference = maxAbsDiff((await onnx.run(feeds)).y.data as Float32Array, run(denseLinear)());
      console.log(
        `| [${outFeatures}, ${inFeatures}] | ${tokens} | ${times.onnx.toFixed(2)} | ${times.dense.toFixed(2)} | ${(times.onnx / times.dense).toFixed(2)} ` +
          `| ${times.sparse.toFixed(2)} | ${difference.toExponential(1)} |`,
      );
      x.dispose();
    }
    plan.dispose();
    await onnx.release();
    weight.dispose();
    bias.dispose();
  }
}

/** Times the whole body of `model`: ONNX Runtime, tfjs dense, and the sparse path at 25% retention. */
async function bodyRows(model: BenchModel, threads: number): Promise<void> {
  const onnx = await session(model.onnx.graph(), threads);
  const plan = buildSparsePlan(model, randomModule(model.linearLayers(), 0.25, 250));
  const sparse = sparseLinear(plan);

  for (const batch of [1, 8]) {
    const feeds = Object.fromEntries(Object.entries(model.onnx.feeds(batch, SEQ)).map(([name, { type, data, dims }]) => [name, new ort.Tensor(type, data, dims)]));
    const run = (linearFn: LinearFn) => () => valuesOf(() => model.body(batch, SEQ, linearFn));
    const times = await compareAsync({ onnx: () => onnx.run(feeds), dense: run(denseLinear), sparse: run(sparse) });
    const difference = maxAbsDiff((await onnx.run(feeds)).y.data as Float32Array, run(denseLinear)());
    console.log(
      `| ${model.name} body | ${batch} | ${times.onnx.toFixed(1)} | ${times.dense.toFixed(1)} | ${(times.onnx / times.dense).toFixed(2)} ` +
        `| ${times.sparse.toFixed(1)} | ${difference.toExponential(1)} | ${loadAverage()} |`,
    );
  }
  plan.dispose();
  await onnx.release();
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const threads = backend.nativeGemm?.threads ?? 1;
  for (const line of describeMachine(backend)) console.log(line);
  console.log(`ONNX Runtime ${ort.env.versions.common} (onnxruntime-node, cpu execution provider, ${threads} intra-op threads without spinning, graph optimization "all")`);
  console.log(`median of ${REPEATS} runs after 1 warm-up, variants taking turns, milliseconds; load average (1 min) at start: ${loadAverage()}`);

  await linearRows(threads);

  console.log(`\n| model | batch | ONNX Runtime | tfjs dense | ratio (ORT / tfjs) | sparse 25% | max abs diff | load |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const builders: Record<string, () => BenchModel> = { gptneo: gptNeo125m, codebert: codeBertBase };
  for (const name of MODELS) {
    const model = builders[name]();
    await bodyRows(model, threads);
    model.dispose();
  }
  console.log(`\nload average (1 min) at end: ${loadAverage()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
