/**
 * Speed of the training utilities: one AdamW step (plain and with gradient masks) over
 * GPT-Neo-shaped parameter sets, one gradient-norm clip, and seeded uniform draws.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/training-adamw.ts`
 * in packages/core-tensor). Figures go to stdout: the median of several steps after one
 * warm-up step, in milliseconds and nanoseconds per parameter value.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../src/backend';
import { AdamW, clipGradNorm, createRng } from '../src/training';

const STEPS = 5;

interface ParameterSet {
  name: string;
  shapes: [string, number[]][];
}

/** Returns the parameter shapes of `layers` GPT-Neo blocks of width `hidden` (plus embeddings when `vocab` is set). */
function gptNeoShapes(hidden: number, layers: number, vocab?: number): [string, number[]][] {
  const shapes: [string, number[]][] = vocab ? [['transformer.wte.weight', [vocab, hidden]]] : [];
  for (let layer = 0; layer < layers; layer++) {
    const prefix = `transformer.h.${layer}`;
    shapes.push(
      [`${prefix}.ln_1.weight`, [hidden]],
      [`${prefix}.attn.attention.k_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.v_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.q_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.out_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.out_proj.bias`, [hidden]],
      [`${prefix}.ln_2.weight`, [hidden]],
      [`${prefix}.mlp.c_fc.weight`, [4 * hidden, hidden]],
      [`${prefix}.mlp.c_fc.bias`, [4 * hidden]],
      [`${prefix}.mlp.c_proj.weight`, [hidden, 4 * hidden]],
      [`${prefix}.mlp.c_proj.bias`, [hidden]],
    );
  }
  return shapes;
}

/**
 * Waits until every tensor is computed by reading one scalar that depends on all of them, so
 * that the timing excludes copying whole tensors back to JavaScript.
 */
async function waitFor(tensors: tf.Tensor[]): Promise<void> {
  const probe = tf.tidy(() => tf.addN(tensors.map((tensor) => tf.slice(tf.reshape(tensor, [-1]), 0, 1))));
  await probe.data();
  probe.dispose();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Times `run` (which must wait for its results) and returns the median in milliseconds. */
async function time(run: () => Promise<void>): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

async function benchAdamW(set: ParameterSet): Promise<void> {
  const rng = createRng(0).fork(set.name);
  const variables = set.shapes.map(([name, shape]) =>
    tf.variable(tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))), shape), true, `${set.name}.${name}`),
  );
  const grads: tf.NamedTensorMap = {};
  for (const variable of variables) grads[variable.name] = tf.randomNormal(variable.shape, 0, 1e-3, 'float32', 1);
  const count = variables.reduce((sum, variable) => sum + variable.size, 0);
  const wait = () => waitFor(variables);

  // plain AdamW
  const plain = new AdamW(variables, { lr: 1e-4, weightDecay: 0.01 });
  const plainMs = await time(async () => {
    plain.step(grads);
    await wait();
  });
  plain.dispose();

  // every parameter masked, half of its entries kept
  const masked = new AdamW(variables, { lr: 1e-4, weightDecay: 0.01 });
  for (const variable of variables) {
    tf.tidy(() => masked.setGradientMask(variable, tf.greater(tf.randomUniform(variable.shape, 0, 1, 'float32', 2), 0.5)));
  }
  const maskedMs = await time(async () => {
    masked.step(grads);
    await wait();
  });
  masked.dispose();

  // global norm clipping, with a maximum norm far below the gradients' so every tensor is rescaled
  const clipMs = await time(async () => {
    const copy: tf.NamedTensorMap = {};
    for (const [name, gradient] of Object.entries(grads)) copy[name] = tf.clone(gradient);
    clipGradNorm(copy, 1e-6);
    await waitFor(Object.values(copy));
    tf.dispose(Object.values(copy));
  });

  const perValue = (ms: number) => ((ms * 1e6) / count).toFixed(2);
  console.log(
    `${set.name}: ${(count / 1e6).toFixed(2)}M values in ${variables.length} tensors | ` +
      `AdamW ${plainMs.toFixed(1)} ms (${perValue(plainMs)} ns/value) | ` +
      `masked AdamW ${maskedMs.toFixed(1)} ms (${perValue(maskedMs)} ns/value) | ` +
      `clipGradNorm ${clipMs.toFixed(1)} ms (${perValue(clipMs)} ns/value)`,
  );
  tf.dispose([...variables, ...Object.values(grads)]);
}

async function benchRng(): Promise<void> {
  const count = 10_000_000;
  const out = new Float32Array(count);
  const rng = createRng(1);
  const fillMs = await time(async () => {
    rng.fillUniform(out);
  });
  const normalMs = await time(async () => {
    rng.fillNormal(out);
  });
  console.log(
    `Rng: fillUniform ${((count / fillMs) * 1e-3).toFixed(0)} M values/s, fillNormal ${((count / normalMs) * 1e-3).toFixed(0)} M values/s`,
  );
}

async function main(): Promise<void> {
  const backend = await initBackend();
  console.log(`backend ${backend.name}; median of ${STEPS} steps after one warm-up step`);

  await benchRng();
  await benchAdamW({ name: 'gpt-neo-tiny', shapes: gptNeoShapes(64, 8, 50257) });
  await benchAdamW({ name: 'gpt-neo-125M-4-blocks', shapes: gptNeoShapes(768, 4) });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
