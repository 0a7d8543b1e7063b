/**
 * Dense against sparse inference on task models of benchmark size with random weights:
 * GPT-Neo-125M and CodeBERT-base, random masks at 25%, 50% and 75% retention, batch 1 and 8,
 * sequence 128. One table row per case:
 *
 * - task forward: the forward pass the downstream task runs (body and task head, no LM head).
 *   Dense is the model as is, on the backend's kernels with core-tensor's native GEMM when built.
 *   Sparse is `sparseLinear` of the default plan, which runs layers that keep more than
 *   `DEFAULT_DENSE_ABOVE` of their weights dense;
 * - linear layers alone: every masked layer once on a random input, dense against the default
 *   plan, and against the sparse kernel at every layer (`denseAbove: 1`);
 * - max |sparse - dense masked| of the task logits and whether the predicted labels agree,
 *   against the same model with its weights multiplied by the masks.
 *
 * BENCH_MODELS (default `gptneo,codebert`; `gptneo-lm` adds GPT-Neo with its LM head) and
 * BENCH_RETENTIONS (default `0.25,0.5,0.75`) select the rows.
 *
 * Times are the median of BENCH_REPEATS runs (default 5) after one warm-up, in milliseconds,
 * with the variants taking turns: wall time, and the ratio of process CPU time (every thread),
 * which other processes on a busy machine do not inflate. Run with `npx nx run cost:bench`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, linear, type LinearFn } from '@modularevo/core-tensor';

import { buildSparsePlan, maskedDenseLinear, sparseLinear } from '../src';
import { randomModule } from '../src/testing/architectures';
import { codeBertBase, gptNeo125m, gptNeo125mCausalLm, type BenchModel } from './models';
import { compare, describeMachine, loadAverage, readBack, type Times } from './timing';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const SEQ = 128;
const BATCHES = [1, 8];
const RETENTIONS = (process.env.BENCH_RETENTIONS ?? '0.25,0.5,0.75').split(',').map(Number);
// gptneo-lm adds lm_head over the vocabulary, which no classifier runs, to show what it changes
const MODELS = (process.env.BENCH_MODELS ?? 'gptneo,codebert').split(',');

const denseLinear: LinearFn = (_layer, x, weight, bias) => linear(x, weight, bias);

/** Returns a function that runs every body layer of `model` once on its own random input `[batch * SEQ, in]`. */
function linearLayersAlone(model: BenchModel, batch: number): { run: (linearFn: LinearFn) => void; dispose(): void } {
  const inputs = new Map<number, tf.Tensor2D>();
  for (const layer of model.linearLayers()) {
    if (!inputs.has(layer.inFeatures)) inputs.set(layer.inFeatures, tf.randomUniform([batch * SEQ, layer.inFeatures], -1, 1, 'float32', 3) as tf.Tensor2D);
  }
  const run = (linearFn: LinearFn) => {
    for (const layer of model.linearLayers()) {
      const weight = model.parameter(layer.weight) as unknown as tf.Tensor2D;
      const bias = layer.bias ? (model.parameter(layer.bias) as unknown as tf.Tensor1D) : undefined;
      readBack(() => linearFn(layer, inputs.get(layer.inFeatures)!, weight, bias))();
    }
  };
  return { run, dispose: () => inputs.forEach((input) => input.dispose()) };
}

/** Compares the sparse logits with those of the dense masked model. */
function checkOutputs(model: BenchModel, batch: number, sparse: LinearFn, masked: LinearFn): { maxAbsDiff: number; samePredictions: string } {
  // tf.tidy walks every element of a returned typed array, so the values are read outside it
  const logits = (linearFn: LinearFn) => {
    const [y, predicted] = tf.tidy(() => {
      const output = model.forward(batch, SEQ, linearFn); // [batch, labels]
      return [output, tf.argMax(output, -1)];
    });
    const result = { values: y.dataSync() as Float32Array, labels: Array.from(predicted.dataSync()) };
    tf.dispose([y, predicted]);
    return result;
  };
  const expected = logits(masked);
  const actual = logits(sparse);

  let maxAbsDiff = 0;
  for (let i = 0; i < expected.values.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected.values[i] - actual.values[i]));
  const same = expected.labels.filter((label, i) => label === actual.labels[i]).length;
  return { maxAbsDiff, samePredictions: `${same}/${expected.labels.length}` };
}

async function main(): Promise<void> {
  const backend = await initBackend();
  for (const line of describeMachine(backend)) console.log(line);
  console.log(`sequence ${SEQ}; median of ${REPEATS} runs after 1 warm-up, variants taking turns; milliseconds per forward pass`);
  console.log(`load average (1 min) at start: ${loadAverage()}\n`);
  console.log(
    '| model | batch | retention | task dense | task sparse | task ratio | task CPU ratio | linear dense | linear sparse | linear ratio | linear CPU ratio ' +
      '| kernel everywhere | kernel ratio | kernel CPU ratio | max abs diff | same predictions | load |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');

  const builders: Record<string, () => BenchModel> = { gptneo: gptNeo125m, 'gptneo-lm': gptNeo125mCausalLm, codebert: codeBertBase };
  for (const name of MODELS) {
    const model = builders[name]();
    for (const keep of RETENTIONS) {
      const module = randomModule(model.linearLayers(), keep, Math.round(keep * 1000));
      const plan = buildSparsePlan(model, module);
      const everywhere = buildSparsePlan(model, module, { denseAbove: 1 });
      const masked = maskedDenseLinear(module);
      const sparse = sparseLinear(plan);
      const kernel = sparseLinear(everywhere);

      for (const batch of BATCHES) {
        const check = checkOutputs(model, batch, sparse, masked.linear);
        const task = compare({ dense: readBack(() => model.forward(batch, SEQ, denseLinear)), sparse: readBack(() => model.forward(batch, SEQ, sparse)) }, REPEATS);
        const layers = linearLayersAlone(model, batch);
        const alone = compare({ dense: () => layers.run(denseLinear), sparse: () => layers.run(sparse), kernel: () => layers.run(kernel) }, REPEATS);
        layers.dispose();

        const ms = (value: number) => value.toFixed(1);
        const ratio = (dense: number, other: number) => `${(dense / other).toFixed(2)}x`;
        const cells = (dense: Times, other: Times) => `${ms(other.median)} | ${ratio(dense.median, other.median)} | ${ratio(dense.cpu, other.cpu)}`;
        console.log(
          `| ${model.name} | ${batch} | ${(plan.retainedFraction * 100).toFixed(0)}% ` +
            `| ${ms(task.dense.median)} | ${cells(task.dense, task.sparse)} ` +
            `| ${ms(alone.dense.median)} | ${cells(alone.dense, alone.sparse)} | ${cells(alone.dense, alone.kernel)} ` +
            `| ${check.maxAbsDiff.toExponential(1)} | ${check.samePredictions} | ${loadAverage()} |`,
        );
      }
      masked.dispose();
      plan.dispose();
      everywhere.dispose();
    }
    model.dispose();
  }
  console.log(`\nload average (1 min) at end: ${loadAverage()}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
