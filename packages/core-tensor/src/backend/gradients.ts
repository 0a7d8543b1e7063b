/**
 * Gradient registration. `@tensorflow/tfjs-core` on its own registers no gradient functions (the
 * `@tensorflow/tfjs` package does, on load), so `tf.grad` fails until they are registered. On top of
 * those, core-tensor registers what training the three architectures needs and tfjs 4.22 lacks.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kernels whose outputs are booleans: their gradient is zero, as PyTorch treats comparisons. */
const NON_DIFFERENTIABLE = [
  tf.Greater,
  tf.Less,
  tf.LessEqual,
  tf.Equal,
  tf.NotEqual,
  tf.LogicalAnd,
  tf.LogicalOr,
  tf.LogicalNot,
  tf.LogicalXor,
];

let added: string[] | undefined;

/** Sums `gradient` over the axes along which `input` was broadcast, and restores `input`'s shape. */
function unbroadcast(gradient: tf.Tensor, input: tf.Tensor): tf.Tensor {
  if (tf.util.arraysEqual(gradient.shape, input.shape)) return gradient;
  const axes = tf.backend_util.getReductionAxes(input.shape, gradient.shape);
  const summed = axes.length > 0 ? tf.sum(gradient, axes) : gradient;
  return tf.reshape(summed, input.shape);
}

/**
 * The gradient of `BatchMatMul` (`tf.matMul`) with broadcast batch axes reduced. The gradient that
 * tfjs 4.22 registers returns a gradient of the broadcast shape, so
 * `tf.matMul([batch, seq, in], [in, out])` fails in backpropagation ("The gradient of input 'b'
 * has shape ...").
 */
const batchMatMulGradient: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const dOut = dy as tf.Tensor;
    let gradA: () => tf.Tensor;
    let gradB: () => tf.Tensor;

    // d(A B) = dY B^T for A and A^T dY for B, with the flags moved onto the products
    if (!transposeA && !transposeB) {
      gradA = () => tf.matMul(dOut, b, false, true);
      gradB = () => tf.matMul(a, dOut, true, false);
    } else if (!transposeA && transposeB) {
      gradA = () => tf.matMul(dOut, b, false, false);
      gradB = () => tf.matMul(dOut, a, true, false);
    } else if (transposeA && !transposeB) {
      gradA = () => tf.matMul(b, dOut, false, true);
      gradB = () => tf.matMul(a, dOut, false, false);
    } else {
      gradA = () => tf.matMul(b, dOut, true, true);
      gradB = () => tf.matMul(dOut, a, true, true);
    }
    return { a: () => unbroadcast(gradA(), a), b: () => unbroadcast(gradB(), b) };
  },
};

/**
 * Registers every gradient that training needs, once per process: those of `@tensorflow/tfjs`,
 * then zero gradients for comparisons and a broadcast-aware matmul gradient. Returns the names
 * of the kernels whose gradient core-tensor registered itself.
 */
export function registerGradients(): string[] {
  if (added) return added;

  // the union package registers its gradient functions (and the chained tensor methods) on load
  require('@tensorflow/tfjs');
  added = [];

  for (const kernelName of NON_DIFFERENTIABLE) {
    if (tf.getGradient(kernelName)) continue;
    const inputNames = kernelName === tf.LogicalNot ? ['x'] : ['a', 'b'];
    const gradFunc = (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
      Object.fromEntries(inputNames.map((name, i) => [name, () => tf.zerosLike(saved[i])]));
    tf.registerGradient({ kernelName, inputsToSave: inputNames, gradFunc });
    added.push(kernelName);
  }

  tf.registerGradient(batchMatMulGradient);
  added.push(tf.BatchMatMul);
  return added;
}
