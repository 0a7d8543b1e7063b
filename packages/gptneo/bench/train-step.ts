/**
 * Times one causal language-modelling training step (forward, backward, AdamW update of every
 * weight) of randomly initialised GPT-Neo models, batch 8 x 128 tokens, and prints seconds per
 * step, tokens per second, the forward / backward / update split and the kernels that take
 * the most time.
 *
 * Run: `npm run bench -w @modularevo/gptneo` (or `nx run gptneo:bench`). Set `BENCH_MODELS=tiny`
 * or `BENCH_MODELS=125M` to run one size, `BENCH_STEPS` for the number of timed steps.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '@modularevo/core-tensor';

import { parseGPTNeoConfig } from '../src/config';
import { GPTNeoForCausalLM } from '../src/model';
import { causalLMObjective } from '../src/objective';

const BATCH = 8;
const SEQ = 128;

const MODELS: Record<string, Record<string, unknown>> = {
  tiny: {
    hidden_size: 64,
    num_layers: 8,
    num_heads: 4,
    attention_types: [[['global', 'local'], 4]],
  },
  '125M': {
    hidden_size: 768,
    num_layers: 12,
    num_heads: 12,
    attention_types: [[['global', 'local'], 6]],
  },
};

// Shared by both sizes: the GPT-Neo 125M values.
const COMMON = { vocab_size: 50257, max_position_embeddings: 2048, window_size: 256, model_type: 'gpt_neo' };

/** AdamW as `torch.optim.AdamW` computes it (lr 1e-4, weight decay 0.01), one state pair per weight. */
class BenchAdamW {
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  private step = 0;

  constructor(private readonly params: Map<string, tf.Variable>, private readonly lr = 1e-4, private readonly weightDecay = 0.01) {
    for (const [name, variable] of params) {
      this.moments.set(name, { m: tf.variable(tf.zerosLike(variable)), v: tf.variable(tf.zerosLike(variable)) });
    }
  }

  apply(grads: tf.NamedTensorMap): void {
    this.step++;
    const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
    const stepSize = this.lr / (1 - beta1 ** this.step);
    const secondCorrection = Math.sqrt(1 - beta2 ** this.step);
    tf.tidy(() => {
      for (const [name, variable] of this.params) {
        const grad = grads[variable.name];
        const { m, v } = this.moments.get(name)!;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2)));
        const decayed = tf.mul(variable, 1 - this.lr * this.weightDecay);
        const update = tf.div(m, tf.add(tf.div(tf.sqrt(v), secondCorrection), eps));
        variable.assign(tf.sub(decayed, tf.mul(update, stepSize)));
      }
    });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Deterministic pseudo-random source, so every run trains on the same weights and tokens.
function uniformSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

function randomBatch(uniform: () => number, vocab: number): number[][] {
  return Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, () => Math.floor(uniform() * vocab)));
}

async function benchModel(label: string, steps: number): Promise<void> {
  const config = parseGPTNeoConfig({ ...COMMON, ...MODELS[label] }, `bench config ${label}`);
  const uniform = uniformSource(1);
  const model = GPTNeoForCausalLM.fromConfig(config, uniform);
  const parameterCount = [...model.params.values()].reduce((sum, v) => sum + v.size, 0);
  const optimizer = new BenchAdamW(model.params);
  const batch = { inputIds: randomBatch(uniform, config.vocab_size) };
  console.log(`\n${label}: ${(parameterCount / 1e6).toFixed(1)}M parameters, batch ${BATCH} x ${SEQ} tokens`);

  // one timed step: forward + backward, then the update
  const trainStep = () => {
    const started = performance.now();
    const { value, grads } = tf.variableGrads(() => causalLMObjective(model, batch));
    const loss = value.dataSync()[0];
    const backwardDone = performance.now();
    optimizer.apply(grads);
    tf.dispose([value, ...Object.values(grads)]);
    tf.tidy(() => model.parameter('transformer.ln_f.bias').dataSync()); // wait for the update to finish
    return { loss, gradientMs: backwardDone - started, totalMs: performance.now() - started };
  };
  const forwardOnly = () => {
    const started = performance.now();
    tf.tidy(() => causalLMObjective(model, batch).dataSync());
    return performance.now() - started;
  };

  // warm-up, then timed steps
  const warm = trainStep();
  console.log(`  warm-up step ${(warm.totalMs / 1000).toFixed(2)} s, loss ${warm.loss.toFixed(4)}`);
  const results = [];
  for (let i = 0; i < steps; i++) {
    const result = trainStep();
    results.push(result);
    console.log(`  step ${i + 1}: ${(result.totalMs / 1000).toFixed(2)} s, loss ${result.loss.toFixed(4)}`);
  }
  const forwards = [];
  for (let i = 0; i < Math.min(steps, 3); i++) forwards.push(forwardOnly());

  const stepMs = median(results.map((r) => r.totalMs));
  const gradientMs = median(results.map((r) => r.gradientMs));
  const forwardMs = median(forwards);
  console.log(`  median step ${(stepMs / 1000).toFixed(3)} s = ${((BATCH * SEQ) / (stepMs / 1000)).toFixed(1)} tokens/s`);
  console.log(
    `  split: forward ${(forwardMs / 1000).toFixed(3)} s, backward ${((gradientMs - forwardMs) / 1000).toFixed(3)} s, ` +
      `AdamW update ${((stepMs - gradientMs) / 1000).toFixed(3)} s`,
  );

  // kernels of one forward + backward, by total time
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => causalLMObjective(model, batch));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
  const byKernel = new Map<string, number>();
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    byKernel.set(kernel.name, (byKernel.get(kernel.name) ?? 0) + ms);
  }
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10);
  console.log(`  kernels of one forward + backward (${(total / 1000).toFixed(2)} s in kernels):`);
  for (const [name, ms] of top) console.log(`    ${name.padEnd(18)} ${(ms / 1000).toFixed(3)} s  ${((100 * ms) / total).toFixed(1)}%`);

  model.dispose();
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const labels = process.env.BENCH_MODELS ? process.env.BENCH_MODELS.split(',') : Object.keys(MODELS);
  const steps = Number(process.env.BENCH_STEPS ?? 3);
  console.log(`GPT-Neo training step on ${backend.name}`);
  for (const label of labels) {
    if (!MODELS[label]) throw new Error(`Unknown model "${label}"; use ${Object.keys(MODELS).join(', ')}`);
    await benchModel(label, steps);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
