/**
 * The task heads of the CodeXGLUE models that ModularEvo fine-tunes CodeBERT with, under the
 * parameter names of the original PyTorch modules so checkpoints stay interchangeable:
 *
 * - clone detection (`RobertaClassificationHead` of `code_clone/code/model.py`):
 *   `classifier.dense` (2 hidden -> hidden) and `classifier.out_proj` (hidden -> 2) over the
 *   concatenated `<s>` vectors of both functions;
 * - code search (`nn.Sequential` `mlp` of `nl_code_search/code/models.py`): `mlp.0`
 *   (4 hidden -> hidden), Tanh, `mlp.2` (hidden -> 1), Sigmoid over `[q, c, q - c, q * c]`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { dropout, InvalidInputError, type ForwardOptions, type LinearLayer, type Rng } from '@modularevo/core-tensor';

import { denseLinear } from './model';
import { variableOf } from './weights';

/**
 * Regular expression (anchored at the start, as `re.match`) of every task-head parameter name.
 * Masks and merges leave these parameters out, so each task keeps its own head.
 */
export const TASK_HEAD_PATTERN = '(classifier|mlp)\\..*';

// Head dropout seeds start here so they never repeat the seeds of the encoder's dropout sites
// (seed + 0, 1, ... up to three per block plus one).
const HEAD_DROPOUT_SEED_OFFSET = 100_000;

/** Lists the two linear layers of the clone-detection head. */
export function cloneHeadLayers(hiddenSize: number): LinearLayer[] {
  return [layer('classifier.dense', 2 * hiddenSize, hiddenSize), layer('classifier.out_proj', hiddenSize, 2)];
}

/** Lists the two linear layers of the code-search head. */
export function searchHeadLayers(hiddenSize: number): LinearLayer[] {
  return [layer('mlp.0', 4 * hiddenSize, hiddenSize), layer('mlp.2', hiddenSize, 1)];
}

/**
 * Creates head parameters for `layers` with PyTorch's default `nn.Linear` initialisation, which
 * the original heads keep: weight and bias uniform in [-1/sqrt(in), 1/sqrt(in)).
 *
 * @throws InvalidInputError for a layer without bias or with a non-positive size.
 */
export function initHead(layers: readonly LinearLayer[], rng: Rng): Map<string, tf.Variable> {
  const head = new Map<string, tf.Variable>();
  for (const { weight, bias, inFeatures, outFeatures } of layers) {
    if (!bias || !(inFeatures > 0 && outFeatures > 0)) throw new InvalidInputError(`Invalid head layer ${weight}: it needs a bias and positive sizes`);
    const bound = 1 / Math.sqrt(inFeatures);
    head.set(weight, variableOf(rng.fillUniform(new Float32Array(outFeatures * inFeatures), -bound, bound), [outFeatures, inFeatures]));
    head.set(bias, variableOf(rng.fillUniform(new Float32Array(outFeatures), -bound, bound), [outFeatures]));
  }
  return head;
}

/**
 * Applies the clone-detection head to pair features, the `<s>` vectors of both functions side
 * by side: dropout, dense, tanh, dropout, out_proj, as the original (dropout is active only in
 * training).
 *
 * @param pairs - `[pairs, 2 * hidden]`: the first function's vector, then the second's
 * @param rate - dropout probability (`hidden_dropout_prob`)
 * @returns logits `[pairs, 2]`
 */
export function cloneHead(head: Map<string, tf.Variable>, pairs: tf.Tensor2D, rate: number, options: ForwardOptions = {}): tf.Tensor2D {
  const [dense, outProj] = cloneHeadLayers(pairs.shape[1] / 2);
  const drop = headDropout(options, rate);

  const hidden = tf.tanh(apply(head, dense, drop(pairs, 0), options)); // [pairs, hidden]
  return apply(head, outProj, drop(hidden, 1), options) as tf.Tensor2D; // [pairs, 2]
}

/**
 * Applies the code-search head to query and code vectors (pooler outputs) and returns the
 * logit of "the code answers the query", `[pairs]`. The original ends in a Sigmoid and
 * `BCELoss`; the logit lets the loss use the stable `softplus` form, and `sigmoid(logit)` is
 * the original's probability.
 */
export function searchHead(head: Map<string, tf.Variable>, query: tf.Tensor2D, code: tf.Tensor2D, options: ForwardOptions = {}): tf.Tensor1D {
  const [first, second] = searchHeadLayers(query.shape[1]);
  const features = tf.concat([query, code, tf.sub(query, code), tf.mul(query, code)], 1); // [pairs, 4 * hidden]
  const hidden = tf.tanh(apply(head, first, features, options)); // [pairs, hidden]
  return tf.reshape(apply(head, second, hidden, options), [-1]) as tf.Tensor1D; // [pairs, 1] -> [pairs]
}

function layer(name: string, inFeatures: number, outFeatures: number): LinearLayer {
  return { name, weight: `${name}.weight`, bias: `${name}.bias`, inFeatures, outFeatures };
}


function apply(head: Map<string, tf.Variable>, layer: LinearLayer, x: tf.Tensor, options: ForwardOptions): tf.Tensor {
  const weight = head.get(layer.weight);
  const bias = head.get(layer.bias!);
  if (!weight || !bias) throw new InvalidInputError(`The task head has no ${layer.name} parameters; create the model with its task`);
  return (options.linear ?? denseLinear)(layer, x, weight as tf.Tensor2D, bias as tf.Tensor1D);
}

// Dropout only in training, each site with its own seed so a seeded step replays exactly.
function headDropout(options: ForwardOptions, rate: number): (x: tf.Tensor, site: number) => tf.Tensor {
  if (!options.training || rate === 0) return (x) => x;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  return (x, site) => dropout(x, rate, seed + HEAD_DROPOUT_SEED_OFFSET + site);
}
