import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import { lowMemoryVariableGrads } from './low-memory-gradients';

/** Options of {@link GradientAccumulator}. */
export interface GradientAccumulatorOptions {
  /**
   * Compute gradients with {@link lowMemoryVariableGrads}, which frees saved tensors during the
   * backward pass (default true), rather than with `tf.variableGrads`. Both give the same gradients.
   */
  lowMemory?: boolean;
}

/**
 * Sums the gradients of several micro-batches for one optimizer step (gradient accumulation).
 * `take` returns their mean, which equals the gradient of one large batch when each micro-batch
 * loss is a mean over equally sized micro-batches. Only `parameters` get gradients.
 */
export class GradientAccumulator {
  private sum: tf.NamedTensorMap = {};
  private lossSum: tf.Scalar | undefined;
  private micro = 0;

  private readonly variableGrads: typeof lowMemoryVariableGrads;

  constructor(
    private readonly parameters: tf.Variable[],
    options: GradientAccumulatorOptions = {},
  ) {
    this.variableGrads = options.lowMemory === false ? tf.variableGrads : lowMemoryVariableGrads;
  }

  /** Number of micro-batches added since the last `take`. */
  get count(): number {
    return this.micro;
  }

  /**
   * Runs `computeLoss` under gradient tape and adds its loss and gradients. Tensors the loss
   * function allocates are freed when it returns.
   *
   * @throws InvalidInputError when the loss depends on none of the parameters
   */
  add(computeLoss: () => tf.Scalar): void {
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = this.variableGrads(computeLoss, this.parameters);
    } catch (error) {
      if (/Cannot find a connection between any variable/.test((error as Error).message)) {
        throw new InvalidInputError(
          `The loss does not depend on any of the ${this.parameters.length} parameters being trained; compute it from those variables`,
        );
      }
      throw error;
    }

    for (const [name, gradient] of Object.entries(result.grads)) {
      if (!gradient) continue;
      const previous = this.sum[name];
      if (previous) {
        this.sum[name] = tf.add(previous, gradient);
        tf.dispose([previous, gradient]);
      } else {
        this.sum[name] = gradient;
      }
    }
    if (this.lossSum) {
      const previous = this.lossSum;
      this.lossSum = tf.add(previous, result.value) as tf.Scalar;
      tf.dispose([previous, result.value]);
    } else {
      this.lossSum = result.value;
    }
    this.micro += 1;
  }

  /**
   * Returns the mean gradient per parameter and the mean loss over the micro-batches added,
   * and starts a new window. The caller owns (and must dispose) the returned gradients.
   */
  async take(): Promise<{ grads: tf.NamedTensorMap; loss: number; microBatches: number }> {
    if (this.micro === 0 || !this.lossSum) throw new Error('GradientAccumulator.take called before add');
    const microBatches = this.micro;
    const lossSum = (await this.lossSum.data())[0];
    this.lossSum.dispose();
    this.lossSum = undefined;

    const grads: tf.NamedTensorMap = {};
    for (const [name, sum] of Object.entries(this.sum)) {
      if (microBatches === 1) {
        grads[name] = sum;
      } else {
        grads[name] = tf.div(sum, microBatches);
        sum.dispose();
      }
    }
    this.sum = {};
    this.micro = 0;
    return { grads, loss: lossSum / microBatches, microBatches };
  }

  /** Frees a partial window (after an error). */
  dispose(): void {
    tf.dispose(Object.values(this.sum));
    this.lossSum?.dispose();
    this.sum = {};
    this.lossSum = undefined;
    this.micro = 0;
  }
}
