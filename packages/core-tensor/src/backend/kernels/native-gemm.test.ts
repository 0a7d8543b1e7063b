import * as tf from '@tensorflow/tfjs-core';

import { maxAbsDiff, runOn, testValues } from '../__tests__/numeric';
import { initBackend } from '../init';
import { nativeAdamW, nativeGemmStatus, nativeSgemm, setNativeGemmEnabled } from './native-gemm';

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(testValues(tf.util.sizeFromShape(shape), seed), shape);
}

/** Runs `compute` on wasm with the native accelerator on, then off; returns both results. */
async function nativeAndXnnpack(compute: () => tf.Tensor) {
  setNativeGemmEnabled(true);
  const [native] = await runOn('wasm', compute);
  setNativeGemmEnabled(false);
  const [xnnpack] = await runOn('wasm', compute);
  setNativeGemmEnabled(true);
  return { native, xnnpack };
}

/** Float32 sums in another order differ by rounding: allow it relative to the magnitude. */
function expectClose(actual: number[], expected: number[]) {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  expect(maxAbsDiff(actual, expected) / scale).toBeLessThan(1e-5);
}

const disabled = process.env.MODULAREVO_NATIVE === '0';

describe('native GEMM accelerator', () => {
  it('is available unless disabled', async () => {
    const info = await initBackend({ backend: 'wasm' });
    if (disabled) {
      expect(info.nativeGemm).toEqual({ available: false, reason: 'MODULAREVO_NATIVE=0' });
      return;
    }
    // a missing addon fails here with the reason (run `node native/build.js` in packages/core-tensor)
    expect(nativeGemmStatus()).toEqual({ available: true, threads: expect.any(Number) });
    expect(info.nativeGemm?.available).toBe(true);
  });

  // sizes off the 8 x 32 register tile, over several 256-deep and 1024-wide blocks, and big
  // enough products to split across threads (by columns, and by batch entries)
  const cases: [number[], number[], boolean, boolean][] = [
    [[1, 1], [1, 1], false, false],
    [[7, 5], [5, 33], false, false],
    [[9, 300], [41, 300], false, true],
    [[300, 9], [300, 41], true, false],
    [[300, 9], [41, 300], true, true],
    [[20, 600], [600, 1100], false, false],
    [[3, 64, 70], [3, 70, 80], false, false],
    [[2, 1, 6, 5], [1, 3, 7, 6], true, true],
    [[4, 130, 40], [40, 90], false, false],
    [[3, 0], [0, 4], false, false],
  ];

  it.each(cases)('matches XNNPACK for %j x %j (transposeA %s, transposeB %s)', async (aShape, bShape, ta, tb) => {
    const { native, xnnpack } = await nativeAndXnnpack(() => tf.matMul(tensor(aShape, 1), tensor(bShape, 2), ta, tb));
    expect(native.shape).toEqual(xnnpack.shape);
    expectClose(native.values, xnnpack.values);
  });

  it('adds the bias of a fused linear product', async () => {
    const compute = () =>
      tf.fused.matMul({ a: tensor([2, 5, 6], 3), b: tensor([7, 6], 4), transposeB: true, bias: tensor([7], 5) });
    const { native, xnnpack } = await nativeAndXnnpack(compute);
    expect(native.shape).toEqual([2, 5, 7]);
    expectClose(native.values, xnnpack.values);
  });

  it('rejects operands outside the memory buffer', () => {
    const sgemm = nativeSgemm();
    if (disabled) return expect(sgemm).toBeUndefined();
    // the addon throws the RangeError of the main realm, not of the Jest sandbox: match the message
    const OUTSIDE = /outside the memory buffer/;
    const memory = new ArrayBuffer(64); // 16 floats
    const one = new Uint32Array([0]);
    expect(() => sgemm!(memory, 0, 0, 0, 1, 2, 2, 2, false, false, one, one, 1)).not.toThrow();
    expect(() => sgemm!(memory, 0, 0, 52, 1, 2, 2, 2, false, false, one, one, 1)).toThrow(OUTSIDE);
    expect(() => sgemm!(memory, 0, 0, 0, 1, 2, 2, 2, false, false, new Uint32Array([20]), one, 1)).toThrow(OUTSIDE);
    expect(() => sgemm!(memory, 2, 0, 0, 1, 2, 2, 2, false, false, one, one, 1)).toThrow(OUTSIDE);
  });

  it('rejects AdamW arrays outside the memory buffer', () => {
    const adamw = nativeAdamW();
    if (disabled) return expect(adamw).toBeUndefined();
    const OUTSIDE = /outside the memory buffer/;
    const memory = new ArrayBuffer(64); // 16 floats: 7 arrays of 2 values, then 2 keep bytes
    const scalars = Float64Array.of(1, 0.9, 0.999, 1e-8, 1e-3, 0.03);
    const call = (offsets: number[], n = 2) => () => adamw!(memory, ...(offsets as [number, number, number, number, number, number, number, number, number]), n, scalars);
    expect(call([0, 8, 16, 24, 32, 56, 40, 8, 16])).not.toThrow();
    expect(call([0, 8, 16, 24, -1, -1, 40, 48, 16])).not.toThrow();
    expect(call([0, 8, 16, 24, 32, 56, 40, 8, 60])).toThrow(OUTSIDE);
    expect(call([0, 8, 16, 24, -1, -1, 40, 48, 16], 9)).toThrow(OUTSIDE);
    expect(call([2, 8, 16, 24, -1, -1, 40, 48, 16])).toThrow(OUTSIDE);
    expect(() => adamw!(memory, 0, 8, 16, 24, -1, -1, 40, 48, 16, 2, new Float64Array(5))).toThrow(/length 6/);
  });
});
