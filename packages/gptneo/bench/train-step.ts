/**
 * Times one causal language-modelling training step (forward, backward, AdamW update of every
 * weight) of randomly initialised GPT-Neo models, batch 8 x 128 tokens. Prints seconds per step
 * (wall and processor time), tokens per second, the forward / backward / update split, the
 * largest wasm heap and the kernels that take the most time.
 *
 * Each size runs in its own child process, because a wasm heap that runs out of memory aborts
 * the whole backend. When a training step does not fit, the child is run again to time the
 * forward pass alone.
 *
 * Run: `npm run bench -w @modularevo/gptneo` (or `nx run gptneo:bench`). `BENCH_MODELS=tiny,125M`
 * picks sizes, `BENCH_STEPS` the number of timed steps (default 3). The step runs as core-tensor's
 * `train` runs it: gradients from `lowMemoryVariableGrads` and core-tensor's `AdamW`. Two switches
 * bring back what core-tensor did before, to measure the difference. `BENCH_TFJS_GRADIENTS=1`
 * computes gradients with `tf.variableGrads`, which keeps every saved tensor until the backward
 * pass ends. `BENCH_COPY_IDENTITY=1` registers a wasm `Identity` kernel that copies its input, as
 * tfjs-backend-wasm's own kernel does, instead of core-tensor's, which shares it.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';

import * as tf from '@tensorflow/tfjs-core';

import { AdamW, initBackend, lowMemoryVariableGrads } from '@modularevo/core-tensor';

import { parseGPTNeoConfig } from '../src/config';
import { GPTNeoForCausalLM } from '../src/model';
import { causalLMObjective } from '../src/objective';

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
  /** Processor time of the step, all threads: less sensitive than wall time to other processes. */
  stepCpuSeconds: number;
  forwardSeconds: number;
  backwardSeconds: number;
  updateSeconds: number;
  heapMiB: number;
}

const computeGradients = process.env.BENCH_TFJS_GRADIENTS ? (f: () => tf.Scalar) => tf.variableGrads(f) : lowMemoryVariableGrads;

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

// Creates the model inside tf.tidy, which frees the tensors the variables were created from.
// NOTE: initGPTNeoParameters leaves them undisposed, and they share the variables' buffers. The
// first AdamW step must not write a shared buffer, so every old buffer would stay alive.
function createModel(config: ReturnType<typeof parseGPTNeoConfig>, uniform: () => number): GPTNeoForCausalLM {
  let model: GPTNeoForCausalLM | undefined;
  tf.tidy(() => {
    model = GPTNeoForCausalLM.fromConfig(config, uniform);
  });
  return model!;
}

// Times the forward pass (loss included) alone, for a model whose training step does not fit.
async function benchForward(label: string, steps: number): Promise<void> {
  const config = parseGPTNeoConfig({ ...COMMON, ...MODELS[label] }, `bench config ${label}`);
  const uniform = uniformSource(1);
  const model = createModel(config, uniform);
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
  const model = createModel(config, uniform);
  const parameterCount = [...model.params.values()].reduce((sum, v) => sum + v.size, 0);
  const optimizer = new AdamW([...model.params.values()], { lr: 1e-4, weightDecay: 0.01 });
  const batch = {
    inputIds: Array.from({ length: BATCH }, () => Array.from({ length: SEQ }, () => Math.floor(uniform() * config.vocab_size))),
  };
  console.log(`\n${label}: ${(parameterCount / 1e6).toFixed(1)}M parameters, batch ${BATCH} x ${SEQ} tokens`);

  // one step: forward + backward, then the update; reading a weight waits for the update
  const trainStep = () => {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const { value, grads } = computeGradients(() => causalLMObjective(model, batch));
    const loss = value.dataSync()[0];
    const gradientsDone = performance.now();
    optimizer.step(grads);
    tf.dispose([value, ...Object.values(grads)]);
    model.parameter('transformer.ln_f.bias').dataSync();
    const cpu = process.cpuUsage(cpuStarted);
    const heap = heapMiB();
    return { loss, gradientMs: gradientsDone - started, totalMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000, heap };
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
    console.log(
      `  step ${i + 1}: ${(result.totalMs / 1000).toFixed(2)} s (processor ${(result.cpuMs / 1000).toFixed(2)} s), ` +
        `loss ${result.loss.toFixed(4)}, heap ${result.heap.toFixed(0)} MiB`,
    );
  }
  const forwards = Array.from({ length: steps }, forwardOnly);

  const stepMs = median(results.map((r) => r.totalMs));
  const gradientMs = median(results.map((r) => r.gradientMs));
  const forwardMs = median(forwards);
  const figures: Figures = {
    stepSeconds: stepMs / 1000,
    stepCpuSeconds: median(results.map((r) => r.cpuMs)) / 1000,
    forwardSeconds: forwardMs / 1000,
    backwardSeconds: (gradientMs - forwardMs) / 1000,
    updateSeconds: (stepMs - gradientMs) / 1000,
    heapMiB: heapMiB(),
  };
  console.log(
    `  median step ${figures.stepSeconds.toFixed(3)} s = ${((BATCH * SEQ) / figures.stepSeconds).toFixed(1)} tokens/s ` +
      `(processor ${figures.stepCpuSeconds.toFixed(3)} s per step; load average ${os.loadavg()[0].toFixed(1)})`,
  );
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

// Registers a wasm Identity kernel that copies its input, as tfjs-backend-wasm 4.22's own kernel
// does, in place of core-tensor's, which shares the input's memory.
function copyIdentityData(): void {
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({
    kernelName: tf.Identity,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      const wasm = backend as unknown as {
        makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
        typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
      };
      const out = wasm.makeOutput(x.shape, x.dtype);
      wasm.typedArrayFromHeap(out).set(wasm.typedArrayFromHeap(x));
      return out;
    },
  });
  console.log('wasm Identity copies its input');
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
    if (process.env.BENCH_COPY_IDENTITY && backend.tfjsBackend === 'wasm') copyIdentityData();
    if (process.env.BENCH_TFJS_GRADIENTS) console.log('gradients from tf.variableGrads');
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
