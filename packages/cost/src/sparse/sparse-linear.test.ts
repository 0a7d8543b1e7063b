import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type LinearLayer } from '@modularevo/core-tensor';

import { randomModule, seededUniform } from '../testing/architectures';
import { maskedDenseLinear } from './masked-dense';
import { buildSparsePlan, type SparsePlanModel } from './plan';
import { sparseLinear } from './sparse-linear';

const LAYERS: LinearLayer[] = [
  { name: 'block.up', weight: 'block.up.weight', bias: 'block.up.bias', inFeatures: 24, outFeatures: 56 },
  { name: 'block.down', weight: 'block.down.weight', inFeatures: 56, outFeatures: 24 },
];

/** Builds a model of LAYERS with seeded random weights, disposed with `dispose`. */
function randomModel(seed: number): SparsePlanModel & { dispose(): void } {
  const random = seededUniform(seed);
  const params = new Map<string, tf.Variable>();
  for (const layer of LAYERS) {
    const values = Float32Array.from({ length: layer.outFeatures * layer.inFeatures }, () => random() * 2 - 1);
    params.set(layer.weight, tf.variable(tf.tensor2d(values, [layer.outFeatures, layer.inFeatures])));
    if (layer.bias) params.set(layer.bias, tf.variable(tf.tensor1d(Float32Array.from({ length: layer.outFeatures }, () => random()))));
  }
  return {
    linearLayers: () => LAYERS,
    parameter: (name) => params.get(name)!,
    dispose: () => params.forEach((variable) => variable.dispose()),
  };
}

/** Runs both layers on `x [2, 5, 24]` with `linear` and returns the output `[2, 5, 24]`. */
function forward(model: SparsePlanModel, linear: ReturnType<typeof sparseLinear>, x: tf.Tensor): Float32Array {
  const y = tf.tidy(() => {
    const [up, down] = LAYERS;
    const hidden = linear(up, x, model.parameter(up.weight) as unknown as tf.Tensor2D, model.parameter(up.bias!) as unknown as tf.Tensor1D); // [2, 5, 56]
    return linear(down, tf.relu(hidden), model.parameter(down.weight) as unknown as tf.Tensor2D, undefined); // [2, 5, 24]
  });
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return values;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

let model: ReturnType<typeof randomModel>;
let x: tf.Tensor;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  model = randomModel(4);
  x = tf.randomUniform([2, 5, 24], -1, 1, 'float32', 5);
});

afterAll(() => {
  x.dispose();
  model.dispose();
});

describe('sparseLinear', () => {
  const module = randomModule(LAYERS, 0.3, 9);

  it.each([
    ['every layer sparse', 1, { sparse: 2, dense: 0 }],
    ['every layer dense', 0, { sparse: 0, dense: 2 }],
  ])('matches the dense masked layers with %s', (_case, denseAbove, paths) => {
    const plan = buildSparsePlan(model, module, { denseAbove });
    const reference = maskedDenseLinear(module);

    const expected = forward(model, reference.linear, x);
    const actual = forward(model, sparseLinear(plan), x);
    reference.dispose();
    plan.dispose();

    expect(plan.paths).toEqual(paths);
    expect(actual.length).toBe(2 * 5 * 24);
    expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5);
  });

  it('plans by density against denseAbove', () => {
    const plan = buildSparsePlan(model, module, { denseAbove: 0.3 });
    const densities = [...plan.layers.values()].map((entry) => entry.density);
    plan.dispose();

    for (const [i, entry] of [...plan.layers.values()].entries()) expect(entry.path).toBe(densities[i] > 0.3 ? 'dense' : 'sparse');
    expect(densities.every((density) => density > 0.2 && density < 0.4)).toBe(true);
  });

  it('gives the same values off the wasm backend', async () => {
    const plan = buildSparsePlan(model, module, { denseAbove: 1 });
    const onWasm = forward(model, sparseLinear(plan), x);
    try {
      await tf.setBackend('cpu');
      // the cpu backend's first write prints advice to install tfjs-node
      (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      const onCpu = forward(model, sparseLinear(plan), x);
      expect(maxAbsDiff(onCpu, onWasm)).toBeLessThan(1e-6);
    } finally {
      await tf.setBackend('wasm');
      plan.dispose();
    }
  });

  it('frees every tensor it makes', () => {
    const before = tf.memory().numTensors;
    const plan = buildSparsePlan(model, module, { denseAbove: 0 });
    forward(model, sparseLinear(plan), x);
    plan.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects an input of another width', () => {
    const plan = buildSparsePlan(model, module, { denseAbove: 1 });
    const wrong = tf.zeros([3, 23]);
    try {
      expect(() => sparseLinear(plan)(LAYERS[0], wrong, model.parameter(LAYERS[0].weight) as unknown as tf.Tensor2D, undefined)).toThrow(
        /layer "block.up" was planned as \[56, 24\] but is called with weight \[56, 24\] and input \[3, 23\]/,
      );
    } finally {
      wrong.dispose();
      plan.dispose();
    }
  });

  it('rejects a denseAbove outside [0, 1]', () => {
    expect(() => buildSparsePlan(model, module, { denseAbove: 1.5 })).toThrow(/Invalid denseAbove 1.5: use a fraction of kept weights between 0 and 1/);
  });
});
