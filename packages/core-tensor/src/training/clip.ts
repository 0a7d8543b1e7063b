import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';

// torch.nn.utils.clip_grad_norm_ adds this to the norm before dividing.
const NORM_EPSILON = 1e-6;

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_` does for the Hugging Face Trainer (`max_grad_norm`, default
 * 1.0): the coefficient is `maxNorm / (norm + 1e-6)`, applied only when it is below 1. Each
 * scaled tensor replaces its entry in `grads` and the old tensor is disposed.
 *
 * Returns the norm before clipping. When the norm is NaN or infinite the gradients are left
 * unchanged, so the caller can report the step.
 *
 * @throws InvalidInputError when `maxNorm` is not a positive number
 */
export function clipGradNorm(grads: tf.NamedTensorMap, maxNorm = 1.0): number {
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new InvalidInputError(`Invalid maximum gradient norm ${maxNorm}: use a positive number`);
  }
  const names = Object.keys(grads).filter((name) => grads[name]);
  if (names.length === 0) return 0;

  // norm of the per-tensor norms, in the order torch computes it (tf.norm goes through pow, which is slower)
  const norm = tf.tidy(() => {
    const norms = names.map((name) => tf.sqrt(tf.sum(tf.square(grads[name]))));
    return tf.sqrt(tf.sum(tf.square(tf.stack(norms))));
  });
  const totalNorm = norm.dataSync()[0];
  norm.dispose();
  if (!Number.isFinite(totalNorm)) return totalNorm;

  const coefficient = Math.fround(maxNorm / Math.fround(totalNorm + NORM_EPSILON));
  if (coefficient >= 1) return totalNorm;

  for (const name of names) {
    const gradient = grads[name];
    grads[name] = tf.mul(gradient, coefficient);
    gradient.dispose();
  }
  return totalNorm;
}
