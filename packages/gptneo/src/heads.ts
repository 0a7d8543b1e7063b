/**
 * The classification head that the original ModularEvo fine-tuning scripts put on GPT-Neo
 * (`GPTNeoWithClassificationHead` in `Transmodular_GPTNeo/fintune/finetune_*.py`): an
 * `nn.Sequential` of Linear(hidden, hidden), LayerNorm, ReLU, Dropout(0.2),
 * Linear(hidden, hidden // 2), ReLU, Dropout(0.1), Linear(hidden // 2, classes). Parameter names
 * follow the `nn.Sequential` indexes (`classification_head.0`, `.1`, `.4`, `.7`), so checkpoints
 * stay interchangeable, and contain "classification", which the pattern `.*classification.*`
 * uses to keep task heads out of masks and merges.
 */
import * as tf from '@tensorflow/tfjs-core';

import { dropout, InvalidInputError, layerNorm, type ForwardOptions, type LinearLayer } from '@modularevo/core-tensor';

import { denseLinear } from './ops';
import { floatVariable } from './weights';

/** Prefix of every head parameter. */
export const CLASSIFICATION_HEAD_PREFIX = 'classification_head';

/** Pattern that selects task-head parameters, for excluding them from masks and merges. */
export const TASK_HEAD_PATTERN = '.*classification.*';

// nn.LayerNorm default epsilon.
const HEAD_LAYER_NORM_EPS = 1e-5;
const FIRST_DROPOUT = 0.2;
const SECOND_DROPOUT = 0.1;

// Head dropout seeds start here so they never repeat the seeds of the base model's dropout
// sites (seed + 0, 1, ... up to three per block plus one).
const DROPOUT_SEED_OFFSET = 100_000;

/** Lists the three linear layers of the head under their `nn.Sequential` names. */
export function classificationHeadLayers(hiddenSize: number, numLabels: number): LinearLayer[] {
  const half = Math.floor(hiddenSize / 2);
  const layer = (index: number, inFeatures: number, outFeatures: number): LinearLayer => ({
    name: `${CLASSIFICATION_HEAD_PREFIX}.${index}`,
    weight: `${CLASSIFICATION_HEAD_PREFIX}.${index}.weight`,
    bias: `${CLASSIFICATION_HEAD_PREFIX}.${index}.bias`,
    inFeatures,
    outFeatures,
  });
  return [layer(0, hiddenSize, hiddenSize), layer(4, hiddenSize, half), layer(7, half, numLabels)];
}

/** Returns the name and shape of every head parameter, in `named_parameters()` order. */
export function classificationHeadShapes(hiddenSize: number, numLabels: number): Map<string, number[]> {
  const [first, second, third] = classificationHeadLayers(hiddenSize, numLabels);
  return new Map([
    [first.weight, [first.outFeatures, first.inFeatures]],
    [first.bias!, [first.outFeatures]],
    [`${CLASSIFICATION_HEAD_PREFIX}.1.weight`, [hiddenSize]],
    [`${CLASSIFICATION_HEAD_PREFIX}.1.bias`, [hiddenSize]],
    [second.weight, [second.outFeatures, second.inFeatures]],
    [second.bias!, [second.outFeatures]],
    [third.weight, [third.outFeatures, third.inFeatures]],
    [third.bias!, [third.outFeatures]],
  ]);
}

/**
 * Creates head parameters with PyTorch's default initialisation: each Linear's weight and bias
 * uniform in [-1/sqrt(in), 1/sqrt(in)) (`kaiming_uniform_(a=sqrt(5))`), the LayerNorm weight 1
 * and bias 0.
 *
 * @param uniform - source of uniform numbers in [0, 1), for example `Rng.uniform` of core-tensor
 * @throws InvalidInputError when `numLabels` is below 2 or `hiddenSize` below 2.
 */
export function initClassificationHead(
  hiddenSize: number,
  numLabels: number,
  uniform: () => number,
): Map<string, tf.Variable> {
  if (!Number.isInteger(numLabels) || numLabels < 2) {
    throw new InvalidInputError(`A classification head needs at least 2 labels, got ${numLabels}`);
  }
  if (!Number.isInteger(hiddenSize) || hiddenSize < 2) {
    throw new InvalidInputError(`A classification head needs hidden_size of at least 2, got ${hiddenSize}`);
  }

  const params = new Map<string, tf.Variable>();
  const fanIn = new Map(classificationHeadLayers(hiddenSize, numLabels).map((layer) => [layer.name, layer.inFeatures]));
  for (const [name, shape] of classificationHeadShapes(hiddenSize, numLabels)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    const layerName = name.slice(0, name.lastIndexOf('.'));
    const inFeatures = fanIn.get(layerName);
    if (inFeatures === undefined) {
      // the LayerNorm at index 1
      if (name.endsWith('.weight')) values.fill(1);
    } else {
      const bound = 1 / Math.sqrt(inFeatures);
      for (let i = 0; i < size; i++) values[i] = (2 * uniform() - 1) * bound;
    }
    params.set(name, floatVariable(values, shape));
  }
  return params;
}

/**
 * Applies the head to sentence representations `[batch, hidden]` and returns logits
 * `[batch, classes]`. Linear layers run through `options.linear` (dense by default); dropout is
 * active only when `options.training` is set.
 */
export function classificationHead(
  params: Map<string, tf.Variable>,
  x: tf.Tensor2D,
  numLabels: number,
  options: ForwardOptions = {},
): tf.Tensor2D {
  const linear = options.linear ?? denseLinear;
  const [first, second, third] = classificationHeadLayers(x.shape[1], numLabels);
  const apply = (layer: LinearLayer, input: tf.Tensor) =>
    linear(layer, input, params.get(layer.weight)! as tf.Tensor2D, params.get(layer.bias!)! as tf.Tensor1D);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const drop = (input: tf.Tensor, rate: number, site: number) =>
    options.training ? dropout(input, rate, seed + DROPOUT_SEED_OFFSET + site) : input;
  const normWeight = params.get(`${CLASSIFICATION_HEAD_PREFIX}.1.weight`)! as tf.Tensor1D;
  const normBias = params.get(`${CLASSIFICATION_HEAD_PREFIX}.1.bias`)! as tf.Tensor1D;

  let h = apply(first, x); // [batch, hidden]
  h = layerNorm(h, normWeight, normBias, HEAD_LAYER_NORM_EPS);
  h = drop(tf.relu(h), FIRST_DROPOUT, 0);
  h = apply(second, h); // [batch, hidden / 2]
  h = drop(tf.relu(h), SECOND_DROPOUT, 1);
  return apply(third, h) as tf.Tensor2D; // [batch, classes]
}
