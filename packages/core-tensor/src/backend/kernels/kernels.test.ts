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
    expect(names).toEqual(['BatchMatMul', 'GatherV2', 'Identity', 'OneHot', 'Select', 'Sum', 'Tile', 'UnsortedSegmentSum', '_FusedMatMul']);
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
      // a few rows against a wide transposed weight: computed as (b a^T)^T on XNNPACK
      [[2, 64], [300, 64], false, true],
      [[2, 3, 64], [300, 64], false, true],
      [[2, 3, 64], [1, 300, 64], false, true],
      [[12, 64], [3000, 64], false, true],
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

    it.each([
      [[4, 64], true],
      [[2, 2, 64], false],
    ])('matches cpu for few rows %j against a transposed weight (bias %s)', async (aShape, withBias) => {
      const compute = () =>
        tf.fused.matMul({ a: tensor(aShape, 8), b: tensor([300, 64], 9), transposeB: true, bias: withBias ? tensor([300], 10) : undefined });
      const { wasm, cpu } = await onBothBackends(compute);
      expect(wasm[0].shape).toEqual([...aShape.slice(0, -1), 300]);
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

describe('OneHot on wasm', () => {
  it.each(['float32', 'int32', 'bool'] as const)('matches cpu for dtype %s, with ids out of range', async (dtype) => {
    const compute = () => tf.oneHot(tf.tensor2d([[1, 0], [3, -1]], [2, 2], 'int32'), 3, 1, 0, dtype);
    const { wasm, cpu } = await onBothBackends(compute);
    expect(wasm[0]).toEqual(cpu[0]);
    expect(wasm[0].values).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('writes other on and off values', async () => {
    const { wasm, cpu } = await onBothBackends(() => tf.oneHot(tf.tensor1d([2, 0], 'int32'), 3, 5, -2, 'float32'));
    expect(wasm[0].values).toEqual([-2, -2, 5, 5, -2, -2]);
    expect(wasm[0]).toEqual(cpu[0]);
  });
});

describe('Sum on wasm', () => {
  // leading axes go through the replacement, which sums as the cpu backend does
  it.each([
    [[300, 70], 0, false],
    [[4, 5, 6], [0, 1], false],
    [[4, 5, 6], [1, 0], true],
    [[0, 3], 0, false],
  ] as [number[], number | number[], boolean][])('matches cpu bit for bit for %j over axes %j (keepDims %s)', async (shape, axis, keepDims) => {
    const { wasm, cpu } = await onBothBackends(() => tf.sum(tensor(shape, 11), axis, keepDims));
    expect(wasm[0]).toEqual(cpu[0]);
  });

  // other axes, and every axis, go through the original kernel, which sums in another order
  it.each([
    [[4, 5, 6], -1],
    [[4, 5, 6], [0, 2]],
    [[4, 5], [0, 1]],
  ] as [number[], number | number[]][])('matches cpu for %j over axes %j', async (shape, axis) => {
    const { wasm, cpu } = await onBothBackends(() => tf.sum(tensor(shape, 12), axis));
    expect(wasm[0].shape).toEqual(cpu[0].shape);
    expect(maxAbsDiff(wasm[0].values, cpu[0].values)).toBeLessThan(1e-5);
  });

  it('sums int32 values over leading axes', async () => {
    const { wasm } = await onBothBackends(() => tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 0));
    expect(wasm[0].values).toEqual([4, 6]);
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

describe('Identity on wasm', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  const buffers = () => tf.backend().numDataIds();

  it('shares memory instead of copying', () => {
    const x = tf.tensor([1, 2, 3]);
    const before = buffers();
    const copy = tf.clone(x);
    expect(buffers()).toBe(before);
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    expect(tf.backend().refCount(x.dataId)).toBe(2);
    tf.dispose([x, copy]);
  });

  it.each([
    ['source first', true],
    ['clone first', false],
  ])('frees the buffer with the last tensor (%s)', (_order, sourceFirst) => {
    const before = buffers();
    const x = tf.tensor([4, 5, 6]);
    const copy = tf.clone(x);
    const [first, second] = sourceFirst ? [x, copy] : [copy, x];

    first.dispose();
    expect(buffers()).toBe(before + 1);
    expect(Array.from(second.dataSync())).toEqual([4, 5, 6]);
    second.dispose();
    expect(buffers()).toBe(before);
  });

  it('keeps a clone of a variable when the variable is assigned', () => {
    const variable = tf.tidy(() => tf.variable(tf.tensor([1, 2]), true, 'identity.variable'));
    const copy = tf.clone(variable);
    variable.assign(tf.tensor([7, 8]));
    expect(Array.from(copy.dataSync())).toEqual([1, 2]);
    expect(Array.from(variable.dataSync())).toEqual([7, 8]);
    tf.dispose([variable, copy]);
  });

  it('leaves saved tensors valid through backpropagation', () => {
    // every op here saves its inputs or outputs through Identity; the sources are freed early
    const before = buffers();
    const x = tf.tidy(() => tf.variable(tf.tensor([0.5, -1, 2]), true, 'identity.saved'));
    const { value, grads } = tf.variableGrads(() => {
      const y = tf.sigmoid(tf.mul(x, x));
      return tf.sum(tf.mul(y, tf.exp(x)));
    }, [x]);
    const expected = [0.5, -1, 2].map((v) => {
      const s = 1 / (1 + Math.exp(-v * v));
      return Math.exp(v) * (s * (1 - s) * 2 * v + s);
    });
    expect(maxAbsDiff(grads['identity.saved'].dataSync(), expected)).toBeLessThan(1e-5);
    tf.dispose([value, x, ...Object.values(grads)]);
    expect(buffers()).toBe(before);
  });

  it('copies string tensors', () => {
    const x = tf.tensor(['a', 'bc']);
    const copy = tf.clone(x);
    x.dispose();
    expect(copy.arraySync()).toEqual(['a', 'bc']);
    copy.dispose();
  });
});
