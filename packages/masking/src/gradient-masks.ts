/**
 * Mask-guided fine-tuning helpers: the 0/1 gradient masks a module gives an optimizer, and a
 * check that fine-tuning moved no entry outside the module.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  DTYPE_SIZE,
  formatShape,
  MismatchError,
  sameShape,
  type CheckpointReader,
  type RawTensor,
  type StateDict,
  type TypedArray,
} from '@modularevo/core-tensor';

import { isRetained, maskToFloat32, type BinaryMask } from './bit-packing';
import type { Module } from './module';

/** Options of `moduleGradientMasks`. */
export interface GradientMaskOptions {
  /**
   * Maps a trained parameter's name to the module's parameter name, for models that nest the
   * base model under a prefix (for example `(name) => name.replace(/^base_model\./, '')`).
   */
  toModuleName?: (parameter: string) => string;
}

/**
 * Returns a float32 gradient mask for each of `parameters` that the module masks: 1 where the
 * entry trains and 0 where it stays frozen, in the parameter's shape. Pass each one to
 * `AdamW.setGradientMask`. Parameters the module does not mask get no entry. The caller disposes
 * the tensors.
 */
export function moduleGradientMasks(
  module: Module,
  parameters: Iterable<string>,
  options: GradientMaskOptions = {},
): Map<string, tf.Tensor> {
  const masks = new Map<string, tf.Tensor>();
  for (const parameter of parameters) {
    const mask = module.masks.get(options.toModuleName ? options.toModuleName(parameter) : parameter);
    if (mask) masks.set(parameter, tf.tensor(maskToFloat32(mask), mask.shape, 'float32'));
  }
  return masks;
}

/** Change of one parameter between the base and the fine-tuned weights. */
export interface ParameterChange {
  name: string;
  /** Number of entries. */
  total: number;
  /** Entries whose bits differ. */
  changed: number;
  /** Entries outside the module's mask that changed; 0 for parameters the module does not mask. */
  maskedOutChanged: number;
  /** Row-major index of the first masked-out entry that changed, or -1. */
  firstMaskedOutChange: number;
}

/** Changes over all base parameters, comparing bits. */
export interface ChangeReport {
  /** Entries of all compared parameters. */
  total: number;
  changed: number;
  /** changed / total (0 when nothing was compared). */
  changedFraction: number;
  /** Entries outside the module's masks that changed; must be 0 after mask-guided fine-tuning. */
  maskedOutChanged: number;
  perParameter: ParameterChange[];
  /** Base parameters the fine-tuned weights lack (left out of the counts). */
  missing: string[];
}

type Weights = StateDict | CheckpointReader;

/**
 * Compares base and fine-tuned weights bit for bit, parameter by parameter (reading one tensor
 * at a time from a checkpoint reader). Counts changed entries over every base parameter the
 * fine-tuned weights have, and, when `module` is given, the changed entries outside its masks.
 * Parameters only the fine-tuned weights have (task heads) are ignored. Throws a MismatchError
 * when a parameter has another shape or dtype in the two, or a masked parameter has another
 * shape than its mask.
 */
export function parameterChangeReport(base: Weights, tuned: Weights, module?: Module): ChangeReport {
  const report: ChangeReport = { total: 0, changed: 0, changedFraction: 0, maskedOutChanged: 0, perParameter: [], missing: [] };

  for (const name of keysOf(base)) {
    if (!hasKey(tuned, name)) {
      report.missing.push(name);
      continue;
    }
    const change = compareParameter(name, read(base, name), read(tuned, name), module?.masks.get(name));
    report.perParameter.push(change);
    report.total += change.total;
    report.changed += change.changed;
    report.maskedOutChanged += change.maskedOutChanged;
  }

  report.changedFraction = report.total === 0 ? 0 : report.changed / report.total;
  return report;
}

/**
 * Checks that fine-tuning moved no entry outside the module's masks, bit for bit, and returns
 * the change report. Throws a MismatchError naming the first parameter and entry that moved.
 */
export function assertMaskedOutUnchanged(base: Weights, tuned: Weights, module: Module): ChangeReport {
  const report = parameterChangeReport(base, tuned, module);
  const moved = report.perParameter.find((change) => change.maskedOutChanged > 0);
  if (moved) {
    throw new MismatchError(
      `${report.maskedOutChanged} entries outside module "${module.domain}" changed during fine-tuning; ` +
        `first: "${moved.name}" entry ${moved.firstMaskedOutChange} (${moved.maskedOutChanged} in this parameter). ` +
        `Pass the module's gradient masks to the optimizer for every masked parameter`,
    );
  }
  return report;
}

function compareParameter(name: string, before: RawTensor, after: RawTensor, mask: BinaryMask | undefined): ParameterChange {
  if (before.dtype !== after.dtype || !sameShape(before.shape, after.shape)) {
    throw new MismatchError(
      `Parameter "${name}" is ${before.dtype} ${formatShape(before.shape)} in the base weights but ${after.dtype} ${formatShape(after.shape)} in the fine-tuned weights`,
    );
  }
  if (mask && !sameShape(mask.shape, before.shape)) {
    throw new MismatchError(
      `Parameter "${name}" has shape ${formatShape(before.shape)} but its mask has shape ${formatShape(mask.shape)}; the module belongs to another model`,
    );
  }

  // compare raw bits, so -0 versus 0 and NaN payloads count as changes
  const words = DTYPE_SIZE[before.dtype] === 8 ? 2 : 1;
  const a = wordView(before.data);
  const b = wordView(after.data);
  const total = a.length / words;
  const change: ParameterChange = { name, total, changed: 0, maskedOutChanged: 0, firstMaskedOutChange: -1 };
  for (let i = 0; i < total; i++) {
    let equal = a[i * words] === b[i * words];
    if (words === 2) equal = equal && a[i * words + 1] === b[i * words + 1];
    if (equal) continue;

    change.changed++;
    if (mask && !isRetained(mask, i)) {
      change.maskedOutChanged++;
      if (change.firstMaskedOutChange < 0) change.firstMaskedOutChange = i;
    }
  }
  return change;
}

/** Views the elements as unsigned integers of the element width (two 32-bit words for 8-byte types). */
function wordView(data: TypedArray): Uint8Array | Uint16Array | Uint32Array {
  switch (data.BYTES_PER_ELEMENT) {
    case 1:
      return new Uint8Array(data.buffer, data.byteOffset, data.length);
    case 2:
      return new Uint16Array(data.buffer, data.byteOffset, data.length);
    default:
      return new Uint32Array(data.buffer, data.byteOffset, (data.length * data.BYTES_PER_ELEMENT) / 4);
  }
}

function keysOf(weights: Weights): string[] {
  return weights instanceof Map ? [...weights.keys()] : weights.keys();
}

function hasKey(weights: Weights, name: string): boolean {
  return weights instanceof Map ? weights.has(name) : weights.has(name);
}

function read(weights: Weights, name: string): RawTensor {
  return weights instanceof Map ? weights.get(name)! : weights.read(name);
}
