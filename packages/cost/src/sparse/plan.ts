/**
 * A sparse plan: for every linear layer a module masks, the CSR form of `weight * mask` made
 * ready for the sparse kernel, and the layer's bias (times its mask when the module masks it).
 * It is built once from the model's current weights; `sparseLinear(plan)` then runs it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { formatShape, InvalidInputError, MismatchError, sameShape, type LinearLayer } from '@modularevo/core-tensor';
import { checkSameBaseModel, countRetained, unpackMask, type BaseModelIdentity, type BinaryMask, type Module } from '@modularevo/masking';

import { csrFromMasked } from './csr';
import { prepareMatrix, sparseKernelStatus, type PreparedMatrix, type SparseKernelStatus } from './kernels';

/** The parts of a model a plan reads; `PretrainedModel` of `@modularevo/masking` has both. */
export interface SparsePlanModel {
  linearLayers(): LinearLayer[];
  parameter(name: string): tf.Variable;
}

/** One planned linear layer. */
export interface SparseLayerPlan {
  layer: LinearLayer;
  weight: PreparedMatrix;
  /** The bias times its mask (or the plain bias when the module does not mask it); `[out]`. */
  bias?: Float32Array;
  /** Weight entries the mask keeps, including kept entries whose weight is exactly 0. */
  retained: number;
  /** All weight entries, `out * in`. */
  total: number;
}

/** Sparse forms of the masked linear layers of one model. */
export interface SparsePlan {
  /** Planned layers by weight parameter name (`transformer.h.0.mlp.c_fc.weight`). */
  layers: Map<string, SparseLayerPlan>;
  /** Kernel the plan was prepared for. */
  kernel: SparseKernelStatus;
  /** Weight entries kept over the planned layers. */
  retained: number;
  total: number;
  /** retained / total. */
  retainedFraction: number;
}

/** Options of {@link buildSparsePlan}. */
export interface SparsePlanOptions {
  /**
   * Identity of the base model the weights come from (for example `describeBaseModelFolder`);
   * when given, the module must have been learned on it.
   */
  baseModel?: BaseModelIdentity;
  /** Subject of error messages, such as the module folder; defaults to `Module "<domain>"`. */
  subject?: string;
}

/**
 * Builds the sparse plan of `model` under `module`: every linear layer whose weight the module
 * masks gets the CSR form of `weight * mask`, and layers it does not mask stay dense. The weights
 * are read once, so a plan does not see later changes to them.
 *
 * @throws MismatchError when `options.baseModel` is not the module's base model, when the module
 *   masks a parameter that is not a linear layer of `model`, or a mask has another shape than
 *   its parameter.
 * @throws InvalidInputError when the module keeps no weight entry (0% retention), since the
 *   sparse model would then compute nothing but biases.
 */
export function buildSparsePlan(model: SparsePlanModel, module: Module, options: SparsePlanOptions = {}): SparsePlan {
  const subject = options.subject ?? `Module "${module.domain}"`;
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

  const planned = new Map<string, SparseLayerPlan>();
  for (const layer of layers) {
    const mask = module.masks.get(layer.weight);
    if (mask) planned.set(layer.weight, planLayer(model, layer, mask, layer.bias ? module.masks.get(layer.bias) : undefined, subject));
  }
  return { layers: planned, kernel: sparseKernelStatus(), retained, total, retainedFraction: total === 0 ? 0 : retained / total };
}

function planLayer(model: SparsePlanModel, layer: LinearLayer, mask: BinaryMask, biasMask: BinaryMask | undefined, subject: string): SparseLayerPlan {
  const weight = model.parameter(layer.weight);
  const shape = [layer.outFeatures, layer.inFeatures];
  checkShape(subject, `parameter "${layer.weight}"`, weight.shape, shape);
  checkShape(subject, `the mask of "${layer.weight}"`, mask.shape, shape);

  const csr = csrFromMasked(weight.dataSync() as Float32Array, layer.outFeatures, layer.inFeatures, unpackMask(mask));

  let bias: Float32Array | undefined;
  if (layer.bias) {
    bias = Float32Array.from(model.parameter(layer.bias).dataSync() as Float32Array);
    if (biasMask) {
      checkShape(subject, `the mask of "${layer.bias}"`, biasMask.shape, [layer.outFeatures]);
      const keep = unpackMask(biasMask);
      for (let i = 0; i < bias.length; i++) if (keep[i] !== 1) bias[i] = 0;
    }
  }

  return { layer, weight: prepareMatrix(csr), bias, retained: countRetained(mask), total: layer.outFeatures * layer.inFeatures };
}

function checkShape(subject: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (sameShape(actual, expected)) return;
  throw new MismatchError(
    `${subject}: ${what} has shape ${formatShape(actual)}, but the linear layer is ${formatShape(expected)}; use the model the module was learned on`,
  );
}
