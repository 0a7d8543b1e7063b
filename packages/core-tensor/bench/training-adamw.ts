/**
 * Speed of the training utilities over GPT-Neo-shaped parameter sets: one AdamW step (plain and
 * with gradient masks), one gradient-norm clip, and seeded uniform draws. The forms of the update
 * (composed tfjs ops, the fused in-place loop in JavaScript and in the native addon) run side by
 * side with their peak memory.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/training-adamw.ts`
 * in packages/core-tensor). Figures go to stdout: the median of several steps after one
 * warm-up step, in milliseconds and nanoseconds per parameter value.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend, nativeGemmStatus, setNativeGemmEnabled } from '../src/backend';
import { AdamW, clipGradNorm, createRng } from '../src/training';
import { composedAdamWUpdate, fusedAdamWUpdateOnWasm, type AdamWScalars, type AdamWTensors } from '../src/training/adamw-update';

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

/** Creates the state of one parameter for the update functions, with moments as after one step. */
function updateState(variable: tf.Variable, gradient: tf.Tensor): AdamWTensors {
  return tf.tidy(() => ({
    variable,
    expAvg: tf.variable(tf.mul(gradient, 0.1), false),
    expAvgSq: tf.variable(tf.mul(tf.square(gradient), 1e-3), false),
    gradient,
  }));
}

/**
 * Times one AdamW step over every parameter of `set` in each form of the update, alternating the
 * forms. Prints the medians, and the largest number of bytes each form allocated on top of its
 * inputs (`tf.profile` peak bytes).
 */
async function benchUpdateForms(set: ParameterSet): Promise<void> {
  const rng = createRng(0).fork(`${set.name}.forms`);
  const states = set.shapes.map(([name, shape]) => {
    const variable = tf.tidy(() =>
      tf.variable(tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))), shape), true, `${set.name}.forms.${name}`),
    );
    return updateState(variable, tf.randomNormal(variable.shape, 0, 1e-3, 'float32', 1));
  });
  const count = states.reduce((sum, state) => sum + state.variable.size, 0);
  const scalars: AdamWScalars = { decay: 1 - 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-4, biasCorrection2Sqrt: 0.05 };
  const fused = () => states.forEach((state) => fusedAdamWUpdateOnWasm(state, scalars) || composedAdamWUpdate(state, scalars));
  const forms = {
    composed: () => states.forEach((state) => composedAdamWUpdate(state, scalars)),
    'fused JavaScript': () => {
      setNativeGemmEnabled(false);
      fused();
      setNativeGemmEnabled(true);
    },
    'fused native': fused,
  };
  type Form = keyof typeof forms;
  const names = Object.keys(forms) as Form[];
  if (!nativeGemmStatus().available) names.pop();

  // alternate the forms, so that changes in machine load reach all of them alike
  const samples = new Map<Form, number[]>(names.map((form) => [form, []]));
  for (let i = 0; i <= STEPS; i++) {
    for (const form of names) {
      const started = performance.now();
      forms[form]();
      await waitFor(states.map((state) => state.variable));
      if (i > 0) samples.get(form)!.push(performance.now() - started);
    }
  }
  const peaks = new Map<Form, number>();
  for (const form of names) {
    const before = tf.memory().numBytes;
    const profile = await tf.profile(forms[form]);
    peaks.set(form, Math.max(0, profile.peakBytes - before)); // -Infinity when no kernel ran
  }

  const describe = (form: Form) => {
    const ms = median(samples.get(form)!);
    return `${form} ${ms.toFixed(1)} ms (${((ms * 1e6) / count).toFixed(2)} ns/value, peak +${(peaks.get(form)! / 2 ** 20).toFixed(1)} MiB)`;
  };
  console.log(`${set.name}: one AdamW update of ${(count / 1e6).toFixed(2)}M values | ${names.map(describe).join(' | ')}`);
  for (const state of states) tf.dispose([state.variable, state.expAvg, state.expAvgSq, state.gradient]);
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
  await benchUpdateForms({ name: 'gpt-neo-tiny', shapes: gptNeoShapes(64, 8, 50257) });
  await benchUpdateForms({ name: 'gpt-neo-125M-embeddings-and-4-blocks', shapes: gptNeoShapes(768, 4, 50257) });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
