/**
 * Predictions of a task model under one `LinearFn`, to tell whether the dense and sparse paths
 * predict the same thing, beyond the metric.
 */
import * as tf from '@tensorflow/tfjs-core';
import { linear as denseLinear, type LinearFn } from '@modularevo/core-tensor';
import type { TaskModel } from '@modularevo/masking';

/** A task model that can return its predictions (generation task models do). */
interface Predicting {
  predict(batches: unknown[], options?: { linear?: LinearFn; progress?: boolean }): Promise<unknown[]>;
}

/** Predictions as comparable strings, and how they were obtained. */
export interface Predictions {
  values: string[];
  /**
   * `predict` (the task model's own), `argmax of the head` (recorded classification logits, one
   * per label), or `sign of the head` (one recorded logit per example, positive for class 1).
   */
  method: 'predict' | 'argmax of the head' | 'sign of the head';
}

/**
 * Returns the predictions of `model` on `batches` with `linear`: the task model's `predict`
 * when it has one, else what the head's output layer says, recorded during `evaluate`. That is
 * the argmax of a head layer (a layer that matches `headPattern`) with one output per label, or
 * the sign of a head layer with one output for a two-label task. Returns undefined when none of
 * these is available.
 */
export async function predictionsOf(
  model: TaskModel,
  batches: unknown[],
  linear: LinearFn | undefined,
  headPattern: string,
): Promise<Predictions | undefined> {
  const predicting = model as unknown as Partial<Predicting>;
  if (typeof predicting.predict === 'function') {
    const predicted = await predicting.predict.call(model, batches, { linear, progress: false });
    return { values: predicted.map((entry) => JSON.stringify(entry)), method: 'predict' };
  }

  if (model.labels.length === 0) return undefined;
  const head = new RegExp(`^(?:${headPattern})`);
  const labelled: string[] = [];
  const signed: string[] = [];
  const recording: LinearFn = (layer, x, weight, bias) => {
    const y = linear ? linear(layer, x, weight, bias) : denseLinear(x, weight, bias);
    if (head.test(layer.weight) && layer.outFeatures === model.labels.length) {
      const classes = tf.argMax(y, -1);
      for (const id of classes.dataSync()) labelled.push(String(id));
      classes.dispose();
    } else if (head.test(layer.weight) && layer.outFeatures === 1 && model.labels.length === 2) {
      for (const logit of y.dataSync()) signed.push(logit > 0 ? '1' : '0');
    }
    return y;
  };
  await model.evaluate(batches, { linear: recording, progress: false });
  if (labelled.length > 0) return { values: labelled, method: 'argmax of the head' };
  return signed.length > 0 ? { values: signed, method: 'sign of the head' } : undefined;
}
