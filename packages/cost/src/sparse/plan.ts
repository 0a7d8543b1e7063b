/**
 * A sparse plan: for every linear layer a module masks, `weight * mask` in the form that runs it
 * fastest, and the layer's bias (times its mask when the module masks it). A layer that keeps at
 * most `denseAbove` of its weights gets the CSR form, made ready for the sparse kernel. A layer
 * that keeps more runs the dense product on its masked weight, because there the sparse kernel
 * is no faster than the dense one (bench/results.md). The plan is built once from the model's
 * current weights; `sparseLinear(plan)` then runs it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { formatShape, InvalidInputError, MismatchError, sameShape, type LinearLayer } from '@modularevo/core-tensor';
import { checkSameBaseModel, countRetained, unpackMask, type BaseModelIdentity, type BinaryMask, type Module } from '@modularevo/masking';

import { csrFromMasked, csrNonzeros, csrToDense } from './csr';
import { prepareMatrix, sparseKernelStatus, type PreparedMatrix, type SparseKernelStatus } from './kernels';

/** The parts of a model a plan reads; `PretrainedModel` of `@modularevo/masking` has both. */
export interface SparsePlanModel {
  linearLayers(): LinearLayer[];
  parameter(name: string): tf.Variable;
}

/** What every planned layer records. */
interface PlannedLayer {
  layer: LinearLayer;
  /** Weight entries the mask keeps, including kept entries whose weight is exactly 0. */
  retained: number;
  /** All weight entries, `out * in`. */
  total: number;
  /** Fraction of weight entries that are kept and not zero: the work of the sparse kernel. */
  density: number;
}

/** A layer the sparse kernel computes. */
export interface SparseLayerPlan extends PlannedLayer {
  path: 'sparse';
  weight: PreparedMatrix;
  /** The bias times its mask (or the plain bias when the module does not mask it); `[out]`. */
  bias?: Float32Array;
}

/** A layer that keeps too much to gain from the sparse kernel: the dense product on its masked weight. */
export interface DenseLayerPlan extends PlannedLayer {
  path: 'dense';
  /** `weight * mask`, `[out, in]`. */
  weight: tf.Tensor2D;
  /** The bias times its mask (or the plain bias when the module does not mask it); `[out]`. */
  bias?: tf.Tensor1D;
}

/** One planned linear layer. */
export type LayerPlan = SparseLayerPlan | DenseLayerPlan;

/** Sparse forms of the masked linear layers of one model. */
export interface SparsePlan {
  /** Planned layers by weight parameter name (`transformer.h.0.mlp.c_fc.weight`). */
  layers: Map<string, LayerPlan>;
  /** Kernel the sparse layers were prepared for. */
  kernel: SparseKernelStatus;
  /** Density above which a layer was planned dense. */
  denseAbove: number;
  /** Layers planned for each path. */
  paths: { sparse: number; dense: number };
  /** Weight entries kept over the planned layers. */
  retained: number;
  total: number;
  /** retained / total. */
  retainedFraction: number;
  /** Frees the tensors of the dense layers. */
  dispose(): void;
}

/**
 * Default of {@link SparsePlanOptions.denseAbove}. NOTE: chosen with bench/dense-vs-sparse.ts on
 * 2 cores of an AMD EPYC (Zen 4, AVX-512) at GPT-Neo-125M sizes: the sparse kernel still beat the
 * dense product at half the weights kept and lost at three quarters, so other CPUs may cross over
 * elsewhere.
 */
export const DEFAULT_DENSE_ABOVE = 0.6;

/** Options of {@link buildSparsePlan}. */
export interface SparsePlanOptions {
  /**
   * Identity of the base model the weights come from (for example `describeBaseModelFolder`);
   * when given, the module must have been learned on it.
   */
  baseModel?: BaseModelIdentity;
  /** Subject of error messages, such as the module folder; defaults to `Module "<domain>"`. */
  subject?: string;
  /**
   * A layer whose density (kept non-zero weights over all weights) is above this runs the dense
   * product on its masked weight instead of the sparse kernel. 1 plans every layer sparse.
   * Default {@link DEFAULT_DENSE_ABOVE}.
   */
  denseAbove?: number;
}

/**
 * Builds the sparse plan of `model` under `module`: every linear layer whose weight the module
 * masks gets the CSR form of `weight * mask`, or, when it keeps more than `denseAbove` of its
 * weights, the masked weight as a dense tensor. Layers the module does not mask stay as they
 * are. The weights are read once, so a plan does not see later changes to them. Call `dispose`
 * when done with the plan.
 *
 * @throws MismatchError when `options.baseModel` is not the module's base model, when the module
 *   masks a parameter that is not a linear layer of `model`, or a mask has another shape than
 *   its parameter.
 * @throws InvalidInputError when the module keeps no weight entry (0% retention), since the
 *   sparse model would then compute nothing but biases, or when `denseAbove` is not in [0, 1].
 */
export function buildSparsePlan(model: SparsePlanModel, module: Module, options: SparsePlanOptions = {}): SparsePlan {
  const subject = options.subject ?? `Module "${module.domain}"`;
  const denseAbove = options.denseAbove ?? DEFAULT_DENSE_ABOVE;
  if (!(denseAbove >= 0 && denseAbove <= 1)) {
    throw new InvalidInputError(`Invalid denseAbove ${denseAbove}: use a fraction of kept weights between 0 and 1`);
  }
  if (options.baseModel) checkSameBaseModel(subject, module.baseModel, options.baseModel);

  // every mask must belong to a linear layer of this model
  const layers = model.linearLayers();
  const parameters = new Set(layers.flatMap((layer) => (layer.bias ? [layer.weight, layer.bias] : [layer.weight])));
  for (const name of module.masks.keys()) {
    if (!parameters.has(name)) {
      throw new MismatchError(`${subject} masks "${name}", which is not a linear layer of this model; use the model the module was learned on`);
    }
  }

  // the module must keep something
  let retained = 0;
  let total = 0;
  for (const layer of layers) {
    const mask = module.masks.get(layer.weight);
    if (!mask) continue;
    retained += countRetained(mask);
    total += layer.outFeatures * layer.inFeatures;
  }
  if (total > 0 && retained === 0) {
    throw new InvalidInputError(
      `${subject} keeps 0 of ${total} masked weights (0% retention), so its sparse model would compute nothing but biases; use a module snapshot with a retention rate above 0`,
    );
  }

  const planned = new Map<string, LayerPlan>();
  const dispose = () => {
    for (const entry of planned.values()) if (entry.path === 'dense') tf.dispose([entry.weight, ...(entry.bias ? [entry.bias] : [])]);
  };
  try {
    for (const layer of layers) {
      const mask = module.masks.get(layer.weight);
      if (mask) planned.set(layer.weight, planLayer(model, layer, mask, layer.bias ? module.masks.get(layer.bias) : undefined, subject, denseAbove));
    }
  } catch (error) {
    dispose();
    throw error;
  }

  const entries = [...planned.values()];
  return {
    layers: planned,
    kernel: sparseKernelStatus(),
    denseAbove,
    paths: { sparse: entries.filter((entry) => entry.path === 'sparse').length, dense: entries.filter((entry) => entry.path === 'dense').length },
    retained,
    total,
    retainedFraction: total === 0 ? 0 : retained / total,
    dispose,
  };
}

function planLayer(
  model: SparsePlanModel,
  layer: LinearLayer,
  mask: BinaryMask,
  biasMask: BinaryMask | undefined,
  subject: string,
  denseAbove: number,
): LayerPlan {
  const weight = model.parameter(layer.weight);
  const shape = [layer.outFeatures, layer.inFeatures];
  checkShape(subject, `parameter "${layer.weight}"`, weight.shape, shape);
  checkShape(subject, `the mask of "${layer.weight}"`, mask.shape, shape);

  const csr = csrFromMasked(weight.dataSync() as Float32Array, layer.outFeatures, layer.inFeatures, unpackMask(mask));
  const bias = layer.bias ? maskedBias(model, layer.bias, biasMask, subject) : undefined;
  const total = layer.outFeatures * layer.inFeatures;
  const counts = { layer, retained: countRetained(mask), total, density: total === 0 ? 0 : csrNonzeros(csr) / total };

  if (counts.density > denseAbove) {
    const dense = tf.tensor2d(csrToDense(csr), [layer.outFeatures, layer.inFeatures], 'float32'); // [out, in]
    return { ...counts, path: 'dense', weight: dense, bias: bias ? tf.tensor1d(bias, 'float32') : undefined };
  }
  return { ...counts, path: 'sparse', weight: prepareMatrix(csr), bias };
}

// The bias times its mask, or a copy of the plain bias when the module does not mask it.
function maskedBias(model: SparsePlanModel, name: string, mask: BinaryMask | undefined, subject: string): Float32Array {
  const bias = Float32Array.from(model.parameter(name).dataSync() as Float32Array); // [out]
  if (!mask) return bias;
  checkShape(subject, `the mask of "${name}"`, mask.shape, [bias.length]);
  const keep = unpackMask(mask);
  for (let i = 0; i < bias.length; i++) if (keep[i] !== 1) bias[i] = 0;
  return bias;
}

function checkShape(subject: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (sameShape(actual, expected)) return;
  throw new MismatchError(
    `${subject}: ${what} has shape ${formatShape(actual)}, but the linear layer is ${formatShape(expected)}; use the model the module was learned on`,
  );
}
