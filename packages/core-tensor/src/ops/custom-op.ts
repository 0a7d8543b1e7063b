/**
 * Ops with hand-written gradients that keep little for backpropagation.
 *
 * Composed from elementary tfjs ops, an op leaves every intermediate result on the gradient tape:
 * `geluNew` kept about 8 tensors the size of its input, and `layerNorm` about 10. The ops built
 * here keep only what their gradient formula reads (usually the input), and recompute the rest
 * during the backward pass.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One function per input that computes the gradient of that input. */
export type InputGradients<I> = { [K in keyof I]: () => tf.Tensor };

/** Forward pass of a custom op, which also saves the tensors its gradient reads. */
export type CustomForward = (save: (tensors: tf.Tensor[]) => void) => tf.Tensor;

/** Computes the functions of {@link InputGradients} from the output gradient and the saved tensors. */
export type CustomGradient<I> = (dy: tf.Tensor, saved: tf.Tensor[]) => InputGradients<I>;

/** The part of tfjs-core 4.22's `Engine` that `tf.customGrad` runs on. */
interface KernelFuncEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: tf.KernelBackend, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/**
 * Runs `forward` as one op of the gradient tape, named `name` in profiles, whose gradient is
 * `gradient`. Unlike `tf.customGrad`, the gradient returns one function per input, and the backward
 * pass calls only those of inputs that need a gradient: a frozen weight costs no product.
 * `forward` must `save` every tensor that `gradient` reads, because the other tensors of the
 * forward pass are freed before the backward pass.
 *
 * NOTE: this calls `Engine.runKernelFunc` of @tensorflow/tfjs-core 4.22.0, which `tf.customGrad`
 * uses and which is not public API; core-tensor pins that version, and the op tests compare every
 * gradient built on it with the gradient tfjs derives.
 */
export function customOp<I extends Record<string, tf.Tensor>>(
  name: string,
  inputs: I,
  forward: CustomForward,
  gradient: CustomGradient<I>,
): tf.Tensor {
  const engine = tf.engine() as unknown as KernelFuncEngine;
  return tf.tidy(name, () =>
    engine.runKernelFunc({
      forwardFunc: (_backend, save) => forward(save),
      backwardsFunc: gradient as CustomGradient<Record<string, tf.Tensor>>,
      inputs,
    }),
  );
}
