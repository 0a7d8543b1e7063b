/**
 * A tiny linear regression for loop tests: y = x w + b with 3 features and no noise, so a
 * working loop drives the loss to 0.
 */
import * as tf from '@tensorflow/tfjs-core';

import { createRng } from '../rng';

export const FEATURES = 3;
export const TRUE_WEIGHT = [1.5, -2, 0.5];
export const TRUE_BIAS = 0.25;

export interface Batch {
  x: Float32Array;
  y: Float32Array;
  size: number;
}

export interface Problem {
  /** Batches of one epoch, shuffled by a stream that depends only on the epoch. */
  batches: (epoch: number) => Batch[];
  lossFn: (batch: Batch) => tf.Scalar;
  weight: tf.Variable;
  bias: tf.Variable;
  dispose(): void;
}

let instances = 0;

/**
 * Creates the data set (`samples` rows) and fresh parameters starting at 0, named
 * `<name>.weight` and `<name>.bias` (a new name per call unless `name` is given).
 */
export function linearRegression(
  options: { samples?: number; batchSize?: number; seed?: number; name?: string } = {},
): Problem {
  const samples = options.samples ?? 64;
  const batchSize = options.batchSize ?? 8;
  const rng = createRng(options.seed ?? 11);

  const x = rng.fork('features').fillUniform(new Float32Array(samples * FEATURES), -1, 1);
  const y = new Float32Array(samples);
  for (let i = 0; i < samples; i++) {
    let value = TRUE_BIAS;
    for (let j = 0; j < FEATURES; j++) value += x[i * FEATURES + j] * TRUE_WEIGHT[j];
    y[i] = value;
  }

  const batches = (epoch: number): Batch[] => {
    const order = rng.fork('order').fork(`epoch-${epoch}`).permutation(samples);
    const out: Batch[] = [];
    for (let start = 0; start < samples; start += batchSize) {
      const rows = order.slice(start, start + batchSize);
      const batch = { x: new Float32Array(rows.length * FEATURES), y: new Float32Array(rows.length), size: rows.length };
      rows.forEach((row, i) => {
        batch.x.set(x.subarray(row * FEATURES, (row + 1) * FEATURES), i * FEATURES);
        batch.y[i] = y[row];
      });
      out.push(batch);
    }
    return out;
  };

  instances += 1;
  const name = options.name ?? `regression${instances}`;
  const weight = tf.variable(tf.zeros([FEATURES, 1]), true, `${name}.weight`);
  const bias = tf.variable(tf.zeros([1]), true, `${name}.bias`);

  const lossFn = (batch: Batch): tf.Scalar => {
    const inputs = tf.tensor2d(batch.x, [batch.size, FEATURES]); // [batch, features]
    const targets = tf.tensor2d(batch.y, [batch.size, 1]); // [batch, 1]
    const predictions = tf.add(tf.matMul(inputs, weight), bias); // [batch, 1]
    return tf.losses.meanSquaredError(targets, predictions) as tf.Scalar;
  };

  return { batches, lossFn, weight, bias, dispose: () => tf.dispose([weight, bias]) };
}
