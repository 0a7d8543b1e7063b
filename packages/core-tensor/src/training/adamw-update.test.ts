import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { nativeAdamW, setNativeGemmEnabled } from '../backend/kernels/native-gemm';
import { testValues } from '../backend/__tests__/numeric';
import { AdamW } from './adamw';
import { composedAdamWUpdate, fusedAdamWUpdateOnWasm, type AdamWScalars, type AdamWTensors } from './adamw-update';

const SIZE = 4096;

/** Values spread over many magnitudes, with exact zeros, negative zeros and subnormals among them. */
function spread(seed: number, scale: number): Float32Array {
  const values = Float32Array.from(testValues(SIZE, seed), (v, i) => scale * v * 10 ** ((i % 13) - 8));
  values[0] = 0;
  values[1] = -0;
  values[2] = 1e-42;
  values[3] = -3e-39;
  return values;
}

function scalarsAt(step: number, lr: number, weightDecay: number): AdamWScalars {
  const [beta1, beta2] = [0.9, 0.999];
  return {
    decay: 1 - lr * weightDecay,
    beta1,
    beta2,
    eps: 1e-8,
    stepSize: lr / (1 - beta1 ** step),
    biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** step),
  };
}

/** Creates a parameter with zero moments, each in its own buffer. */
function parameterState(name: string, values: Float32Array): AdamWTensors {
  return tf.tidy(() => ({
    variable: tf.variable(tf.tensor(values), true, name),
    expAvg: tf.variable(tf.zeros([SIZE]), false),
    expAvgSq: tf.variable(tf.zeros([SIZE]), false),
    gradient: tf.keep(tf.zeros([SIZE])),
  }));
}

/** Returns the float32 bit patterns of a tensor, so that 0 and -0 differ. */
function bits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer));
}

function disposeState(state: AdamWTensors): void {
  tf.dispose([state.variable, state.expAvg, state.expAvgSq, state.gradient]);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

// both loops of the fused update: the native addon's (when built) and the JavaScript one
describe.each([
  ['native addon', true],
  ['JavaScript', false],
])('fused AdamW update on wasm with the %s loop', (_loop, native) => {
  beforeAll(() => setNativeGemmEnabled(native));
  afterAll(() => setNativeGemmEnabled(true));

  it('uses the requested loop', () => {
    const expectNative = native && process.env.MODULAREVO_NATIVE !== '0';
    expect(nativeAdamW() !== undefined).toBe(expectNative);
  });

  it.each([
    ['with weight decay', 0.01, false],
    ['without weight decay', 0, false],
    ['with a gradient mask', 0.1, true],
  ])('gives the bits of the composed update (%s)', (_case, weightDecay, masked) => {
    const initial = spread(1, 2);
    const fused = parameterState(`fused.${_loop}.${_case}`, initial);
    const composed = parameterState(`composed.${_loop}.${_case}`, initial);
    const mask = masked
      ? tf.tidy(() => {
          const keep = tf.keep(tf.greater(tf.tensor(testValues(SIZE, 2)), 0));
          return { keep, multiplier: tf.keep(tf.cast(keep, 'float32')) };
        })
      : undefined;

    for (let step = 1; step <= 3; step++) {
      const gradient = tf.tensor(spread(10 + step, 0.5));
      const scalars = scalarsAt(step, 1e-3, weightDecay);
      expect(fusedAdamWUpdateOnWasm({ ...fused, gradient, mask }, scalars)).toBe(true);
      composedAdamWUpdate({ ...composed, gradient, mask }, scalars);
      gradient.dispose();

      expect(bits(fused.variable)).toEqual(bits(composed.variable));
      expect(bits(fused.expAvg)).toEqual(bits(composed.expAvg));
      expect(bits(fused.expAvgSq)).toEqual(bits(composed.expAvgSq));
    }
    expect(bits(fused.variable)).not.toEqual(bits(tf.tensor(initial)));

    disposeState(fused);
    disposeState(composed);
    if (mask) tf.dispose([mask.keep, mask.multiplier]);
  });

  it('writes in place and allocates nothing', () => {
    const state = parameterState(`in-place.${_loop}`, spread(3, 1));
    const gradient = tf.tensor(spread(4, 1));
    const buffers = [state.variable.dataId, state.expAvg.dataId, state.expAvgSq.dataId];
    const before = tf.backend().numDataIds();

    fusedAdamWUpdateOnWasm({ ...state, gradient }, scalarsAt(1, 1e-3, 0.01));

    expect(tf.backend().numDataIds()).toBe(before);
    expect([state.variable.dataId, state.expAvg.dataId, state.expAvgSq.dataId]).toEqual(buffers);
    disposeState(state);
    gradient.dispose();
  });

  it('leaves a tensor that shares the buffer unchanged', () => {
    const source = tf.tensor([1, 2, 3]);
    const variable = tf.variable(source, true, `shared-source.${_loop}`); // shares the buffer of source
    const clone = tf.clone(variable); // shares it as well
    const state = tf.tidy(() => ({ variable, expAvg: tf.variable(tf.zeros([3])), expAvgSq: tf.variable(tf.zeros([3])) }));
    const gradient = tf.tensor([1, -1, 1]);

    fusedAdamWUpdateOnWasm({ ...state, gradient }, scalarsAt(1, 0.1, 0));
    expect(Array.from(source.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(clone.dataSync())).toEqual([1, 2, 3]);
    // a first step moves each entry by lr against the sign of its gradient
    Array.from(variable.dataSync()).forEach((value, i) => expect(value).toBeCloseTo([0.9, 2.1, 2.9][i], 6));

    // the variable owns its new buffer, so the next step writes in place
    const owned = variable.dataId;
    fusedAdamWUpdateOnWasm({ ...state, gradient }, scalarsAt(2, 0.1, 0));
    expect(variable.dataId).toBe(owned);
    tf.dispose([source, clone, gradient, state.variable, state.expAvg, state.expAvgSq]);
  });

  it('declines other backends', async () => {
    await initBackend({ backend: 'cpu' });
    const state = parameterState(`cpu.${_loop}`, spread(5, 1));
    expect(fusedAdamWUpdateOnWasm(state, scalarsAt(1, 1e-3, 0))).toBe(false);
    disposeState(state);
    await initBackend({ backend: 'wasm' });
  });

  it('serves AdamW.step without allocating', () => {
    const variable = tf.tidy(() => tf.variable(tf.tensor(spread(6, 1)), true, `adamw.fused.${_loop}`));
    const optimizer = new AdamW([variable], { lr: 1e-3 });
    const grads = { [variable.name]: tf.tensor(spread(7, 1)) };
    optimizer.step(grads); // creates the moments

    const before = tf.backend().numDataIds();
    const buffer = variable.dataId;
    optimizer.step(grads);
    expect(tf.backend().numDataIds()).toBe(before);
    expect(variable.dataId).toBe(buffer);

    optimizer.dispose();
    tf.dispose([variable, ...Object.values(grads)]);
  });
});
