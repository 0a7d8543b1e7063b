import * as tf from '@tensorflow/tfjs-core';

import { BACKENDS, maxAbsDiff, runOn, testValues } from '../__tests__/numeric';
import { initBackend } from '../init';
import { registerWasmKernels } from './index';
import { setNativeGemmEnabled } from './native-gemm';

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(testValues(tf.util.sizeFromShape(shape), seed), shape);
}

/** Runs `compute` on wasm and cpu; returns both results. */
async function onBothBackends(compute: () => tf.Tensor | tf.Tensor[]) {
  const [wasm, cpu] = [await runOn(BACKENDS[0], compute), await runOn(BACKENDS[1], compute)];
  return { wasm, cpu };
}

describe('wasm kernel registration', () => {
  it('registers each patch once', async () => {
    const info = await initBackend({ backend: 'wasm' });
    const names = info.kernels.map((k) => k.kernelName).sort();
    expect(names).toEqual(['BatchMatMul', 'GatherV2', 'Select', 'Tile', 'UnsortedSegmentSum', '_FusedMatMul']);
    expect(registerWasmKernels()).toBe(info.kernels);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  });
});

// both matmul paths: the native GEMM accelerator (when built) and XNNPACK
describe.each([
  ['native GEMM', true],
  ['XNNPACK', false],
])('matmul kernels through %s', (_path, native) => {
  beforeAll(() => setNativeGemmEnabled(native));
  afterAll(() => setNativeGemmEnabled(true));

  describe('BatchMatMul on wasm', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 4], [4, 5], false, false],
      [[4, 3], [4, 5], true, false],
      [[3, 4], [5, 4], false, true],
      [[4, 3], [5, 4], true, true],
      [[2, 3, 4], [4, 5], false, false],
      [[2, 3, 4], [2, 5, 4], false, true],
      [[2, 4, 3], [2, 4, 5], true, false],
      [[3, 4], [2, 4, 5], false, false],
      [[2, 3, 2, 4], [2, 3, 4, 6], false, false],
      [[1, 1], [1, 1], false, false],
    ];

    it.each(cases)('matches cpu for %j x %j (transposeA %s, transposeB %s)', async (aShape, bShape, ta, tb) => {
      const { wasm, cpu } = await onBothBackends(() => tf.matMul(tensor(aShape, 1), tensor(bShape, 2), ta, tb));
      expect(wasm[0].shape).toEqual(cpu[0].shape);
      expect(maxAbsDiff(wasm[0].values, cpu[0].values)).toBeLessThan(1e-5);
    });

    it('broadcasts partial batch axes', async () => {
      // [2, 1] and [1, 3] batch axes broadcast to [2, 3]; the reference tiles them explicitly
      const [result] = await runOn('wasm', () => {
        const a = tensor([2, 1, 4, 3], 3);
        const b = tensor([1, 3, 4, 5], 4);
        const reference = tf.matMul(tf.transpose(tf.tile(a, [1, 3, 1, 1]), [0, 1, 3, 2]), tf.tile(b, [2, 1, 1, 1]));
        return [tf.matMul(a, b, true, false), reference];
      }).then((outputs) => [outputs]);
      expect(result[0].shape).toEqual([2, 3, 3, 5]);
      expect(maxAbsDiff(result[0].values, result[1].values)).toBeLessThan(1e-5);
    });

    it('rejects inner shapes that differ', async () => {
      await initBackend({ backend: 'wasm' });
      expect(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 5]))).toThrow(/inner shapes/);
    });
  });

  describe('_FusedMatMul on wasm', () => {
    const cases: [number[], number[], boolean, boolean, boolean][] = [
      [[3, 4], [5, 4], false, true, true],
      [[4, 3], [4, 5], true, false, true],
      [[2, 3, 4], [4, 5], false, false, true],
      [[2, 3, 4], [2, 4, 5], false, false, false],
    ];

    it.each(cases)('matches cpu for %j x %j (transposeA %s, transposeB %s, bias %s)', async (aShape, bShape, ta, tb, withBias) => {
      const n = tb ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
      const compute = () =>
        tf.fused.matMul({
          a: tensor(aShape, 5),
          b: tensor(bShape, 6),
          transposeA: ta,
          transposeB: tb,
          bias: withBias ? tensor([n], 7) : undefined,
          activation: 'relu',
        });
      const { wasm, cpu } = await onBothBackends(compute);
      expect(wasm[0].shape).toEqual(cpu[0].shape);
      expect(maxAbsDiff(wasm[0].values, cpu[0].values)).toBeLessThan(1e-5);
    });
  });
});

describe('Select on wasm', () => {
  it('upcasts branches of different dtypes', async () => {
    const compute = () =>
      tf.where(tf.tensor1d([1, 0, 1, 0], 'bool'), tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([0.5, 1.5, 2.5, 3.5]));
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0].values).toEqual([1, 1.5, 3, 3.5]);
    expect(cpu[0].values).toEqual([1, 1.5, 3, 3.5]);
  });
});

describe('GatherV2 on wasm', () => {
  it('gathers with batchDims 1', async () => {
    const compute = () => tf.gather(tf.reshape(tf.range(0, 12), [3, 4]), tf.tensor2d([[1], [0], [3]], [3, 1], 'int32'), 1, 1);
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0].values).toEqual([1, 4, 11]);
    expect(wasm[0]).toEqual(cpu[0]);
  });

  it('gathers with batchDims 1 and inner slices', async () => {
    const compute = () => tf.gather(tensor([2, 3, 4], 8), tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32'), 1, 1);
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0].shape).toEqual([2, 2, 4]);
    expect(maxAbsDiff(wasm[0].values, cpu[0].values)).toBe(0);
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  it('sums rows by segment and skips ids out of range', async () => {
    const [out] = await runOn('wasm', () =>
      tf.unsortedSegmentSum(
        tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]),
        tf.tensor1d([2, 0, 2, -1, 5], 'int32'),
        3,
      ),
    );
    expect(out.shape).toEqual([3, 2]);
    expect(out.values).toEqual([3, 4, 0, 0, 6, 8]);
  });

  it('matches cpu for int32 values with inner axes', async () => {
    const compute = () =>
      tf.unsortedSegmentSum(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32'), tf.tensor1d([1, 1], 'int32'), 3);
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0]).toEqual(cpu[0]);
    expect(wasm[0].values).toEqual([0, 0, 0, 0, 6, 8, 10, 12, 0, 0, 0, 0]);
  });
});

describe('Tile on wasm', () => {
  const cases: [number[], number[], tf.DataType][] = [
    [[3, 1], [1, 4], 'float32'],
    [[1, 1], [2, 3], 'float32'],
    [[2, 3], [3, 2], 'int32'],
    [[2, 1, 3], [2, 3, 1], 'bool'],
    [[4], [3], 'float32'],
    [[2, 2], [1, 1], 'float32'],
    [[2, 0], [2, 2], 'float32'],
  ];

  it.each(cases)('matches cpu for %j tiled %j (%s)', async (shape, reps, dtype) => {
    const compute = () => {
      const values = tf.reshape(tf.range(0, tf.util.sizeFromShape(shape)), shape);
      const x = dtype === 'bool' ? tf.greater(tf.mod(values, 2), 0) : tf.cast(values, dtype);
      return tf.tile(x, reps);
    };
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0]).toEqual(cpu[0]);
  });

  it('broadcasts a mask and a scalar in tf.where', async () => {
    const compute = () => {
      const mask = tf.tensor2d([[1, 0], [1, 1]], [2, 2], 'bool');
      return tf.where(mask, tf.reshape(tf.range(0, 8), [2, 2, 2]), -1);
    };
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0].values).toEqual([0, -1, 2, 3, 4, -1, 6, 7]);
    expect(wasm[0]).toEqual(cpu[0]);
  });
});
