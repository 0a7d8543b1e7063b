/**
 * Dense against sparse inference on model-sized random weights: GPT-Neo-125M and CodeBERT-base
 * shapes, random masks at 25%, 50% and 75% retention, batch 1 and 8, sequence 128. Prints one
 * table row per case: the whole model forward (when the architecture package is built) and its
 * linear layers alone, dense (the backend's kernels, with core-tensor's native GEMM when built)
 * against sparse (this package's kernels), each the median of REPEATS runs after one warm-up,
 * dense and sparse runs alternating so that other load slows both alike.
 *
 * Run with `npx nx run cost:bench` after `npm run build`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, linear, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';

import { buildSparsePlan, median, sparseKernelStatus, sparseLinear } from '../src';
import { randomModule, seededUniform } from '../src/testing/architectures';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SEQ = 128;
const BATCHES = [1, 8];
const RETENTIONS = [0.25, 0.5, 0.75];

interface BenchModel {
  name: string;
  linearLayers(): LinearLayer[];
  parameter(name: string): tf.Variable;
  /** Whole forward pass, or undefined when the architecture package is not available. */
  forward?: (batch: number, linear: LinearFn) => tf.Tensor;
  skipReason?: string;
}

async function time(fn: () => void): Promise<number> {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Medians of alternating dense and sparse runs, in milliseconds. */
async function compare(dense: () => void, sparse: () => void): Promise<{ dense: number; sparse: number }> {
  dense();
  sparse();
  const times = { dense: [] as number[], sparse: [] as number[] };
  for (let i = 0; i < REPEATS; i++) {
    times.dense.push(await time(dense));
    times.sparse.push(await time(sparse));
  }
  return { dense: median(times.dense), sparse: median(times.sparse) };
}

function gptNeo125m(): BenchModel {
  const gptneo = require('@modularevo/gptneo');
  const config = gptneo.parseGPTNeoConfig({
    model_type: 'gpt_neo',
    vocab_size: 50257,
    hidden_size: 768,
    num_layers: 12,
    num_heads: 12,
    max_position_embeddings: 2048,
    attention_types: [[['global', 'local'], 6]],
    window_size: 256,
    intermediate_size: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    embed_dropout: 0,
    attention_dropout: 0,
    resid_dropout: 0,
    bos_token_id: 50256,
    eos_token_id: 50256,
  });
  const model = gptneo.GPTNeoForCausalLM.fromConfig(config, seededUniform(1));
  const ids = (batch: number) => Array.from({ length: batch }, (_, b) => Array.from({ length: SEQ }, (_, t) => (b * 7919 + t * 104729) % 50257));
  return {
    name: 'GPT-Neo-125M',
    // the body's layers: task heads read the last hidden state, not the LM head
    linearLayers: () => model.linearLayers().filter((layer: LinearLayer) => layer.name !== 'lm_head'),
    parameter: (name) => model.parameter(name),
    forward: (batch, linearFn) => model.transformer({ inputIds: ids(batch) }, { linear: linearFn }).lastHiddenState,
  };
}

function codeBertBase(): BenchModel {
  const layers: LinearLayer[] = [];
  const hidden = 768;
  const intermediate = 3072;
  for (let i = 0; i < 12; i++) {
    const prefix = `roberta.encoder.layer.${i}`;
    const add = (name: string, inFeatures: number, outFeatures: number) =>
      layers.push({ name: `${prefix}.${name}`, weight: `${prefix}.${name}.weight`, bias: `${prefix}.${name}.bias`, inFeatures, outFeatures });
    add('attention.self.query', hidden, hidden);
    add('attention.self.key', hidden, hidden);
    add('attention.self.value', hidden, hidden);
    add('attention.output.dense', hidden, hidden);
    add('intermediate.dense', hidden, intermediate);
    add('output.dense', intermediate, hidden);
  }
  const random = seededUniform(2);
  const params = new Map<string, tf.Variable>();
  for (const layer of layers) {
    const weight = Float32Array.from({ length: layer.outFeatures * layer.inFeatures }, () => (random() - 0.5) * 0.04);
    params.set(layer.weight, tf.variable(tf.tensor2d(weight, [layer.outFeatures, layer.inFeatures])));
    params.set(layer.bias!, tf.variable(tf.zeros([layer.outFeatures])));
  }
  return {
    name: 'CodeBERT-base',
    linearLayers: () => layers,
    parameter: (name) => params.get(name)!,
    // NOTE: @modularevo/codebert has no committed model class to run here yet, so this model
    // is timed on its linear layers alone.
    skipReason: 'no committed @modularevo/codebert model class',
  };
}

/** Runs every linear layer once on its own random input `[batch * SEQ, in]`. */
function linearLayersAlone(model: BenchModel, batch: number): (linearFn: LinearFn) => void {
  const inputs = new Map<number, tf.Tensor2D>();
  for (const layer of model.linearLayers()) {
    if (!inputs.has(layer.inFeatures)) inputs.set(layer.inFeatures, tf.randomUniform([batch * SEQ, layer.inFeatures], -1, 1, 'float32', 3) as tf.Tensor2D);
  }
  return (linearFn) => {
    for (const layer of model.linearLayers()) {
      const weight = model.parameter(layer.weight) as unknown as tf.Tensor2D;
      const bias = layer.bias ? (model.parameter(layer.bias) as unknown as tf.Tensor1D) : undefined;
      const y = linearFn(layer, inputs.get(layer.inFeatures)!, weight, bias);
      y.dataSync();
      y.dispose();
    }
  };
}

function run(fn: () => tf.Tensor | void): () => void {
  return () => {
    const y = tf.tidy(fn);
    if (y) {
      y.dataSync();
      y.dispose();
    }
  };
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const kernel = sparseKernelStatus();
  console.log(`backend ${backend.name} on ${backend.device}; native GEMM ${backend.nativeGemm?.available ? `${backend.nativeGemm.threads} threads` : `off (${backend.nativeGemm?.reason})`}`);
  console.log(`sparse kernel ${kernel.kernel}${kernel.instructionSet ? ` (${kernel.instructionSet})` : ''}, ${kernel.threads} threads${kernel.reason ? `: ${kernel.reason}` : ''}`);
  console.log(`sequence ${SEQ}, median of ${REPEATS} runs after 1 warm-up, milliseconds per forward pass\n`);
  console.log('| model | batch | retention | model dense | model sparse | model ratio | linear dense | linear sparse | linear ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');

  for (const make of [gptNeo125m, codeBertBase]) {
    const model = make();
    for (const keep of RETENTIONS) {
      const module = randomModule(model.linearLayers(), keep, Math.round(keep * 1000));
      const plan = buildSparsePlan(model, module);
      const sparse = sparseLinear(plan);
      const dense: LinearFn = (_layer, x, weight, bias) => linear(x, weight, bias);

      for (const batch of BATCHES) {
        const layersAlone = linearLayersAlone(model, batch);
        const linearTimes = await compare(() => layersAlone(dense), () => layersAlone(sparse));
        let whole = { dense: Number.NaN, sparse: Number.NaN };
        if (model.forward) {
          const forward = model.forward;
          whole = await compare(run(() => forward(batch, dense)), run(() => forward(batch, sparse)));
        }
        const cell = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(1));
        const ratio = (a: number, b: number) => (Number.isNaN(a) ? 'n/a' : `${(a / b).toFixed(2)}x`);
        console.log(
          `| ${model.name} | ${batch} | ${(plan.retainedFraction * 100).toFixed(0)}% | ${cell(whole.dense)} | ${cell(whole.sparse)} | ${ratio(whole.dense, whole.sparse)} ` +
            `| ${cell(linearTimes.dense)} | ${cell(linearTimes.sparse)} | ${ratio(linearTimes.dense, linearTimes.sparse)} |`,
        );
      }
    }
    if (model.skipReason) console.log(`\n${model.name}: whole model not timed (${model.skipReason})`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
