/**
 * Speed of the language-modelling loss over a GPT-Neo vocabulary (50257) on the wasm backend:
 * core-tensor's `crossEntropy` (one softmax, kept for the gradient) against the naive composition
 * `-mean(sum(logSoftmax(logits) * oneHot(labels)))` with the same ignore mask.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/kernels-cross-entropy.ts`
 * in packages/core-tensor). Figures go to stdout in milliseconds, the best of several runs after
 * a warm-up. Set `MODULAREVO_BENCH_QUICK=1` for one run of each.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../src/backend';
import { crossEntropy } from '../src/ops';
import { bestMs, printTable } from './timing';

const VOCAB = 50257;

function naiveCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const valid = tf.notEqual(labels, -100);
  const targets = tf.where(valid, labels, tf.zerosLike(labels));
  const logProbabilities = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(targets as tf.Tensor1D, VOCAB)), -1);
  const weights = tf.cast(valid, 'float32');
  return tf.div(tf.neg(tf.sum(tf.mul(logProbabilities, weights))), tf.sum(weights));
}

async function main(): Promise<void> {
  await initBackend({ backend: process.env.MODULAREVO_BACKEND ?? 'wasm' });

  const rows: (string | number)[][] = [];
  for (const tokens of [256, 1024]) {
    const logits = tf.randomNormal([tokens, VOCAB]);
    const labels = tf.randomUniform([tokens], 0, VOCAB, 'int32');
    const losses = {
      naive: (x: tf.Tensor) => naiveCrossEntropy(x, labels),
      ours: (x: tf.Tensor) => crossEntropy(x, labels),
    };

    const forward = { naive: bestMs(() => losses.naive(logits)), ours: bestMs(() => losses.ours(logits)) };
    const step = {
      naive: bestMs(() => tf.grad(losses.naive)(logits)),
      ours: bestMs(() => tf.grad(losses.ours)(logits)),
    };
    rows.push([`${tokens} x ${VOCAB}`, forward.naive, forward.ours, step.naive, step.ours, step.naive / step.ours]);
    tf.dispose([logits, labels]);
  }

  console.log(`cross-entropy on ${tf.getBackend()}, ms (best run)`);
  printTable(['logits', 'naive forward', 'ours forward', 'naive forward+backward', 'ours forward+backward', 'speed-up'], rows);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
