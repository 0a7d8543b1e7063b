/**
 * Times one causal language-modelling training step (forward, backward, AdamW update of every
 * weight) of randomly initialised GPT-Neo models, batch 8 x 128 tokens, and prints seconds per
 * step, tokens per second, the forward / backward / update split, the largest wasm heap and the
 * kernels that take the most time.
 *
 * Each size runs in its own child process, because a wasm heap that runs out of memory aborts
 * the whole backend. When a training step does not fit, the child is run again to time the
 * forward pass alone.
 *
 * Run: `npm run bench -w @modularevo/gptneo` (or `nx run gptneo:bench`). `BENCH_MODELS=tiny,125M`
 * picks sizes, `BENCH_STEPS` the number of timed steps (default 3). `BENCH_SHARED_IDENTITY=1`
 * replaces the wasm `Identity` kernel, which copies every tensor that an op saves for its
 * gradient, with one that shares the data as the cpu backend does, and
 * `BENCH_LOW_MEMORY_GRADIENTS=1` computes gradients with `low-memory-gradients.ts`, which frees
 * memory during the backward pass, and `BENCH_HOST_ADAMW=1` keeps the AdamW moments in JavaScript
 * memory instead of the wasm heap. These three measure what such changes in core-tensor would save.
 */
import { spawnSync } from 'child_process';

import * as tf from '@tensorflow/tfjs-core';

import { AdamW, initBackend } from '@modularevo/core-tensor';

import { parseGPTNeoConfig } from '../src/config';
import { GPTNeoForCausalLM } from '../src/model';
import { causalLMObjective } from '../src/objective';
import { lowMemoryVariableGrads } from './low-memory-gradients';

const BATCH = 8;
const SEQ = 128;

// GPT-Neo 125M values shared by every size.
const COMMON = { model_type: 'gpt_neo', vocab_size: 50257, max_position_embeddings: 2048, window_size: 256 };

const MODELS: Record<string, Record<string, unknown>> = {
  tiny: { hidden_size: 64, num_layers: 8, num_heads: 4, attention_types: [[['global', 'local'], 4]] },
  '125M': { hidden_size: 768, num_layers: 12, num_heads: 12, attention_types: [[['global', 'local'], 6]] },
};

/** Figures one size reports to the parent process as its last stdout line. */
interface Figures {
  stepSeconds: number;
  forwardSeconds: number;
  backwardSeconds: number;
  updateSeconds: number;
  heapMiB: number;
}

const computeGradients = process.env.BENCH_LOW_MEMORY_GRADIENTS ? lowMemoryVariableGrads : (f: () => tf.Scalar) => tf.variableGrads(f);

/** Part of an optimizer that the bench calls. */
interface Optimizer {
  step(grads: tf.NamedTensorMap): void;
}

/**
 * AdamW as `torch.optim.AdamW` computes it, with the moments in JavaScript typed arrays, so they
 * take no room in the 4 GiB wasm heap. Each step reads the gradients and weights back from the
 * backend and writes the new weights.
 */
class HostAdamW implements Optimizer {
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  private steps = 0;

  constructor(
    private readonly parameters: tf.Variable[],
    private readonly lr: number,
    private readonly weightDecay: number,
  ) {}

  step(grads: tf.NamedTensorMap): void {
    this.steps++;
    const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
    const stepSize = this.lr / (1 - beta1 ** this.steps);
    const secondCorrection = Math.sqrt(1 - beta2 ** this.steps);
    for (const variable of this.parameters) {
      const gradient = grads[variable.name]?.dataSync() as Float32Array | undefined;
      if (!gradient) continue;
      const values = Float32Array.from(variable.dataSync() as Float32Array);
      let state = this.moments.get(variable.name);
      if (!state) {
        state = { m: new Float32Array(values.length), v: new Float32Array(values.length) };
        this.moments.set(variable.name, state);
      }
      const { m, v } = state;
      for (let i = 0; i < values.length; i++) {
        const g = gradient[i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        values[i] = values[i] * (1 - this.lr * this.weightDecay) - (stepSize * m[i]) / (Math.sqrt(v[i]) / secondCorrection + eps);
      }
      const updated = tf.tensor(values, variable.shape);
      variable.assign(updated);
      updated.dispose();
    }
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

// Size of the wasm heap, which only grows, so it is the largest heap used so far.
function heapMiB(): number {
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8;
  return heap ? heap.length / 2 ** 20 : NaN;
}

// Times the forward pass (loss included) alone, for a model whose training step does not fit.
async function benchForward(label: string, steps: number): Promise<void> {
  const config = parseGPTNeoConfig({ ...COMMON, ...MODELS[label] }, `bench config ${label}`);
  const uniform = uniformSource(1);
  const model = GPTNeoForCausalLM.fromConfig(config, uniform);
  const batch = {
    inputIds: Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, () => Math.floor(uniform() * config.vocab_size))),
  };
  const times = [];
  for (let i = 0; i <= steps; i++) {
    const started = performance.now();
    const loss = tf.tidy(() => causalLMObjective(model, batch).dataSync()[0]);
    times.push(performance.now() - started);
    if (i === 0) console.log(`  forward only: warm-up ${(times[0] / 1000).toFixed(2)} s, loss ${loss.toFixed(4)}`);
  }
  const forwardSeconds = median(times.slice(1)) / 1000;
  console.log(`  forward only: median ${forwardSeconds.toFixed(3)} s = ${((BATCH * SEQ) / forwardSeconds).toFixed(1)} tokens/s, largest wasm heap ${heapMiB().toFixed(0)} MiB`);
}

async function benchModel(label: string, steps: number): Promise<Figures> {
  const config = parseGPTNeoConfig({ ...COMMON, ...MODELS[label] }, `bench config ${label}`);
  const uniform = uniformSource(1);
  const model = GPTNeoForCausalLM.fromConfig(config, uniform);
  const parameterCount = [...model.params.values()].reduce((sum, v) => sum + v.size, 0);
  const optimizer: Optimizer = process.env.BENCH_HOST_ADAMW
    ? new HostAdamW([...model.params.values()], 1e-4, 0.01)
    : new AdamW([...model.params.values()], { lr: 1e-4, weightDecay: 0.01 });
  const batch = {
    inputIds: Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, () => Math.floor(uniform() * config.vocab_size))),
  };
  console.log(`\n${label}: ${(parameterCount / 1e6).toFixed(1)}M parameters, batch ${BATCH} x ${SEQ} tokens`);

  // one step: forward + backward, then the update; reading a weight waits for the update
  const trainStep = () => {
    const started = performance.now();
    const { value, grads } = computeGradients(() => causalLMObjective(model, batch));
    const loss = value.dataSync()[0];
    const gradientsDone = performance.now();
    optimizer.step(grads);
    tf.dispose([value, ...Object.values(grads)]);
    model.parameter('transformer.ln_f.bias').dataSync();
    return { loss, gradientMs: gradientsDone - started, totalMs: performance.now() - started };
  };
  const forwardOnly = () => {
    const started = performance.now();
    tf.tidy(() => causalLMObjective(model, batch).dataSync());
    return performance.now() - started;
  };

  // warm-up, then timed steps and forward passes
  const warm = trainStep();
  console.log(`  warm-up step ${(warm.totalMs / 1000).toFixed(2)} s, loss ${warm.loss.toFixed(4)}, heap ${heapMiB().toFixed(0)} MiB`);
  const results = [];
  for (let i = 0; i < steps; i++) {
    const result = trainStep();
    results.push(result);
    console.log(`  step ${i + 1}: ${(result.totalMs / 1000).toFixed(2)} s, loss ${result.loss.toFixed(4)}`);
  }
  const forwards = Array.from({ length: steps }, forwardOnly);

  const stepMs = median(results.map((r) => r.totalMs));
  const gradientMs = median(results.map((r) => r.gradientMs));
  const forwardMs = median(forwards);
  const figures: Figures = {
    stepSeconds: stepMs / 1000,
    forwardSeconds: forwardMs / 1000,
    backwardSeconds: (gradientMs - forwardMs) / 1000,
    updateSeconds: (stepMs - gradientMs) / 1000,
    heapMiB: heapMiB(),
  };
  console.log(`  median step ${figures.stepSeconds.toFixed(3)} s = ${((BATCH * SEQ) / figures.stepSeconds).toFixed(1)} tokens/s`);
  console.log(
    `  split: forward ${figures.forwardSeconds.toFixed(3)} s, backward ${figures.backwardSeconds.toFixed(3)} s, ` +
      `AdamW update ${figures.updateSeconds.toFixed(3)} s; largest wasm heap ${figures.heapMiB.toFixed(0)} MiB`,
  );
  await printKernelProfile(model, batch);
  return figures;
}

// Kernels of one forward + backward, by total time. Custom-gradient ops appear as "forward"
// (their forward pass) and "unnamed scope" (their gradient), and their inner kernels are listed
// too, so those two rows overlap the others.
async function printKernelProfile(model: GPTNeoForCausalLM, batch: { inputIds: number[][] }): Promise<void> {
  const profile = await tf.profile(() => {
    const { value, grads } = computeGradients(() => causalLMObjective(model, batch));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
  const byKernel = new Map<string, number>();
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    byKernel.set(kernel.name, (byKernel.get(kernel.name) ?? 0) + ms);
  }
  const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log('  kernel time of one forward + backward:');
  for (const [name, ms] of top) console.log(`    ${name.padEnd(18)} ${(ms / 1000).toFixed(3)} s`);
}

// Registers a wasm Identity kernel that returns the input's data with one more reference
// instead of a copy. Safe because tfjs never writes into a tensor's data after creating it.
function shareIdentityData(): void {
  tf.registerKernel({
    kernelName: tf.Identity,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  console.log('wasm Identity shares data instead of copying');
}

// Runs one size in a child process and returns its figures, or undefined when it failed.
function runChild(label: string, forwardOnly = false): Figures | undefined {
  const child = spawnSync(process.execPath, [...process.execArgv, __filename], {
    env: { ...process.env, BENCH_CHILD: label, BENCH_FORWARD_ONLY: forwardOnly ? '1' : '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  const lines = child.stdout.trimEnd().split('\n');
  const result = lines.at(-1)?.startsWith('FIGURES ') ? (JSON.parse(lines.pop()!.slice(8)) as Figures) : undefined;
  process.stdout.write(`${lines.join('\n')}\n`);
  if (forwardOnly && child.status === 0) return undefined;
  if (child.status !== 0 || !result) {
    const reason = child.stderr.split('\n').find((line) => /Error|Aborted|out of bounds/.test(line)) ?? `exit ${child.status}`;
    console.log(`  ${label} failed: ${reason.trim()} (on wasm this usually means the 4 GiB heap ran out)`);
    return undefined;
  }
  return result;
}

async function main(): Promise<void> {
  const steps = Number(process.env.BENCH_STEPS ?? 3);

  // child: one size, figures on the last line
  const child = process.env.BENCH_CHILD;
  if (child) {
    const backend = await initBackend();
    if (process.env.BENCH_SHARED_IDENTITY && backend.tfjsBackend === 'wasm') shareIdentityData();
    if (process.env.BENCH_LOW_MEMORY_GRADIENTS) console.log('gradients free memory during the backward pass');
    if (process.env.BENCH_HOST_ADAMW) console.log('AdamW moments in JavaScript memory');
    if (process.env.BENCH_FORWARD_ONLY) {
      await benchForward(child, steps);
      return;
    }
    console.log(`GPT-Neo training step on ${backend.name}`);
    const figures = await benchModel(child, steps);
    console.log(`FIGURES ${JSON.stringify(figures)}`);
    return;
  }

  // parent: every requested size, and the forward pass alone where a step did not fit
  const labels = process.env.BENCH_MODELS ? process.env.BENCH_MODELS.split(',') : Object.keys(MODELS);
  for (const label of labels) {
    if (!MODELS[label]) throw new Error(`Unknown model "${label}"; use ${Object.keys(MODELS).join(', ')}`);
    if (!runChild(label)) runChild(label, true);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
