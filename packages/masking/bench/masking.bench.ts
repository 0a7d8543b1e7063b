/**
 * Timings of the masking building blocks at the size of real layers: the masked linear layer
 * against the dense one, the retention loss with its gradient, mask packing and counting, the
 * base weight hash, and module save and load. Run with `nx run masking:bench`; every figure is
 * printed with its unit. Sizes follow GPT-Neo 125M (hidden 768, MLP 3072).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setLogLevel, type LinearLayer, type StateDict } from '@modularevo/core-tensor';

import {
  countRetained,
  hashWeights,
  loadModule,
  maskedLinear,
  MaskScores,
  packMask,
  saveModule,
  weightRetention,
  type BinaryMask,
  type Module,
} from '../src';

const HIDDEN = 768;
const MLP = 3072;
const BATCH_ROWS = 4 * 64; // batch 4, sequence 64
const LAYERS = 12;
const REPEATS = 5;

/** Returns the median wall time of `run` in milliseconds, after one warm-up call. */
async function medianMs(run: () => Promise<void> | void): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

function uniform(count: number, seed: number, shift = 0): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32 - shift;
  }
  return out;
}

function mlpLayers(count: number): LinearLayer[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `h.${i}.mlp.c_fc`,
    weight: `h.${i}.mlp.c_fc.weight`,
    bias: `h.${i}.mlp.c_fc.bias`,
    inFeatures: HIDDEN,
    outFeatures: MLP,
  }));
}

function scoreValues(layers: LinearLayer[]): StateDict {
  const state: StateDict = new Map();
  layers.forEach((layer, i) => {
    state.set(layer.weight, { dtype: 'F32', shape: [MLP, HIDDEN], data: uniform(MLP * HIDDEN, i + 1, 0.5) });
    state.set(layer.bias!, { dtype: 'F32', shape: [MLP], data: uniform(MLP, i + 101, 0.5) });
  });
  return state;
}

async function benchLinear(): Promise<void> {
  const layers = mlpLayers(1);
  const scores = MaskScores.fromValues(layers, scoreValues(layers));
  const x = tf.tensor(uniform(BATCH_ROWS * HIDDEN, 7), [4, 64, HIDDEN]);
  const weight = tf.tensor2d(uniform(MLP * HIDDEN, 8), [MLP, HIDDEN]);
  const bias = tf.tensor1d(uniform(MLP, 9));
  const masked = maskedLinear(scores);
  const dense = (_layer: LinearLayer, input: tf.Tensor) =>
    tf.add(tf.reshape(tf.matMul(tf.reshape(input, [-1, HIDDEN]), weight, false, true), [4, 64, MLP]), bias);

  // the variants run side by side in one process, so machine load affects them alike
  // tidy walks a returned value looking for tensors, so the callbacks return nothing
  const denseMs = await medianMs(() =>
    tf.tidy(() => {
      dense(layers[0], x).dataSync();
    }),
  );
  const maskedMs = await medianMs(() =>
    tf.tidy(() => {
      masked(layers[0], x, weight, bias).dataSync();
    }),
  );
  const backwardMs = await medianMs(() => {
    const { value, grads } = scores.valueAndGrads(() => tf.mean(masked(layers[0], x, weight, bias)) as tf.Scalar);
    grads.get(layers[0].weight)!.dataSync();
    tf.dispose([value, ...grads.values()]);
  });
  console.log(`linear [4, 64, ${HIDDEN}] -> ${MLP}: dense forward ${denseMs.toFixed(1)} ms, masked forward ${maskedMs.toFixed(1)} ms, masked forward+backward to scores ${backwardMs.toFixed(1)} ms`);

  scores.dispose();
  tf.dispose([x, weight, bias]);
}

async function benchRetention(layers: LinearLayer[], values: StateDict): Promise<void> {
  const scores = MaskScores.fromValues(layers, values);
  const entries = scores.numEntries;
  const ms = await medianMs(() => {
    const { value, grads } = scores.valueAndGrads(() => weightRetention(scores).lossWrr);
    value.dataSync();
    tf.dispose([value, ...grads.values()]);
  });
  console.log(`weightRetention forward+backward over ${(entries / 1e6).toFixed(1)}M entries: ${ms.toFixed(0)} ms (${((ms * 1e6) / entries).toFixed(2)} ns per entry)`);
  scores.dispose();
}

async function benchHostWork(layers: LinearLayer[], values: StateDict): Promise<void> {
  const entries = [...values.values()].reduce((total, tensor) => total + tensor.data.length, 0);
  const bytes = entries * 4;

  let masks = new Map<string, BinaryMask>();
  const packMs = await medianMs(() => {
    masks = new Map([...values].map(([name, tensor]) => [name, packMask(tensor.data as Float32Array, tensor.shape)]));
  });
  const countMs = await medianMs(() => {
    for (const mask of masks.values()) countRetained(mask);
  });
  const hashMs = await medianMs(() => void hashWeights(values));
  console.log(`packMask ${(entries / 1e6).toFixed(1)}M entries: ${packMs.toFixed(0)} ms; countRetained: ${countMs.toFixed(1)} ms`);
  console.log(`hashWeights ${(bytes / 2 ** 20).toFixed(0)} MiB: ${hashMs.toFixed(0)} ms (${(bytes / 2 ** 20 / (hashMs / 1000)).toFixed(0)} MiB/s)`);

  const module: Module = {
    domain: 'bench',
    baseModel: { config: {}, weightsSha256: hashWeights(new Map([...values].slice(0, 1))) },
    weightRetentionRate: 0,
    threshold: 0.5,
    training: {},
    masks,
    scores: values,
  };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'masking-bench-'));
  try {
    const dir = path.join(root, 'module');
    const saveMs = await medianMs(() => saveModule(dir, module, { overwrite: true }));
    const loadMs = await medianMs(() => void loadModule(dir));
    const loadMasksMs = await medianMs(() => void loadModule(dir, { scores: false }));
    const maskBytes = fs.statSync(path.join(dir, 'masks.safetensors')).size;
    console.log(
      `module of ${layers.length} layers: save with scores ${saveMs.toFixed(0)} ms, load with scores ${loadMs.toFixed(0)} ms, load masks only ${loadMasksMs.toFixed(0)} ms; masks.safetensors ${(maskBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const backend = await initBackend();
  setLogLevel('warn'); // one save log per repeat would bury the figures
  console.log(`masking bench on backend ${backend.name}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), median of ${REPEATS} runs`);

  await benchLinear();
  const layers = mlpLayers(LAYERS);
  const values = scoreValues(layers);
  await benchRetention(layers, values);
  await benchHostWork(layers, values);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
