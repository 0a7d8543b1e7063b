/**
 * Predictions of a task model under one `LinearFn`, to tell whether the dense and sparse paths
 * predict the same thing, beyond the metric.
 */
import * as tf from '@tensorflow/tfjs-core';
import { linear as denseLinear, type LinearFn } from '@modularevo/core-tensor';
import type { TaskModel } from '@modularevo/masking';

/** A task model that can return its predictions (generation task models do). */
interface Predicting {
  predict(batches: unknown[], options?: { linear?: LinearFn }): Promise<unknown[]>;
}

/** Predictions as comparable strings, and how they were obtained. */
export interface Predictions {
  values: string[];
  /** `predict` (the task model's own), or `argmax of the head` (recorded classification logits). */
  method: 'predict' | 'argmax of the head';
}

/**
 * Returns the predictions of `model` on `batches` with `linear`: the task model's `predict`
 * when it has one, else the argmax of every output of the head's last linear layer (the layer
 * that matches `headPattern` and has one output per label), recorded during `evaluate`. Returns
 * undefined when neither is available.
 */
export async function predictionsOf(
  model: TaskModel,
  batches: unknown[],
  linear: LinearFn | undefined,
  headPattern: string,
): Promise<Predictions | undefined> {
  const predicting = model as unknown as Partial<Predicting>;
  if (typeof predicting.predict === 'function') {
    const predicted = await predicting.predict.call(model, batches, { linear });
    return { values: predicted.map((entry) => JSON.stringify(entry)), method: 'predict' };
  }

  if (model.labels.length === 0) return undefined;
  const head = new RegExp(`^(?:${headPattern})`);
  const values: string[] = [];
  const base = linear;
  const recording: LinearFn = (layer, x, weight, bias) => {
    const y = base ? base(layer, x, weight, bias) : denseLinear(x, weight, bias);
    if (head.test(layer.weight) && layer.outFeatures === model.labels.length) {
      const classes = tf.tidy(() => tf.argMax(y, -1).dataSync());
      for (const id of classes) values.push(String(id));
    }
    return y;
  };
  await model.evaluate(batches, { linear: recording });
  return values.length > 0 ? { values, method: 'argmax of the head' } : undefined;
}
