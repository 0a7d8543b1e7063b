import {
  MismatchError,
  formatShape,
  getLogger,
  numel,
  sameShape,
  type CheckpointReader,
  type DType,
} from '@modularevo/core-tensor';

import type { ExcludeFilter } from '../exclude';

const log = getLogger('merging');

/** Element types that are merged; every other dtype (integer buffers, masks) is copied from the base. */
export const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(['F64', 'F32', 'F16', 'BF16']);

/** One tensor that is merged. */
export interface MergedTensor {
  name: string;
  shape: number[];
  numel: number;
  /** Dtype of the base tensor, which the output keeps unless another is requested. */
  dtype: DType;
  /** Position of the tensor's first entry in the flattened vector of all merged tensors (sorted names). */
  offset: number;
}

/** Plan of a merge: the tensors it merges, copies and leaves out. */
export interface MergePlan {
  /** Merged tensors in sorted name order, the order TIES flattens them in. */
  merged: MergedTensor[];
  /** Base tensors that are not merged: excluded by pattern or not float. */
  unmerged: string[];
  /** Tensors of fine-tuned models that the base lacks (task heads), left out. */
  leftOut: { model: number; name: string }[];
  /**
   * Base tensors that share storage with an earlier tensor, such as `lm_head.weight` tied to
   * `transformer.wte.weight` in a PyTorch checkpoint. They are merged once under the first name
   * and not written, as `save_pretrained` drops them from safetensors files.
   */
  tied: string[];
  /** Total number of merged entries. */
  totalEntries: number;
}

/**
 * Decides which tensors to merge and checks that every fine-tuned model has each of them with the
 * base's shape. Throws a MismatchError naming the tensor, both files and both shapes otherwise.
 */
export function planMerge(base: CheckpointReader, models: readonly CheckpointReader[], exclude: ExcludeFilter): MergePlan {
  const merged: MergedTensor[] = [];
  const unmerged: string[] = [];
  const tied = tiedDuplicates(base);

  // base tensors: merge, or keep unmerged
  for (const name of [...base.keys()].sort()) {
    if (tied.has(name)) continue;
    const info = base.info(name);
    if (exclude.excludes(name) || !FLOAT_DTYPES.has(info.dtype)) {
      unmerged.push(name);
      continue;
    }
    models.forEach((model) => checkCounterpart(base, model, name));
    merged.push({ name, shape: info.shape, numel: numel(info.shape), dtype: info.dtype, offset: 0 });
  }

  // offsets in flattened order
  let offset = 0;
  for (const tensor of merged) {
    tensor.offset = offset;
    offset += tensor.numel;
  }

  // fine-tuned tensors the base lacks
  const leftOut: { model: number; name: string }[] = [];
  models.forEach((model, index) => {
    const modelTied = tiedDuplicates(model);
    for (const name of model.keys()) {
      if (base.has(name) || modelTied.has(name)) continue;
      leftOut.push({ model: index, name });
      if (!exclude.excludes(name)) {
        log.info(`Leaving out "${name}" of ${model.path}: the base model has no such parameter (a task head)`);
      }
    }
  });

  return { merged, unmerged, leftOut, tied: [...tied], totalEntries: offset };
}

/** Returns the tied duplicates a reader reports (PyTorch checkpoints know which names share storage). */
export function tiedDuplicates(reader: CheckpointReader): Set<string> {
  const groups = (reader as { tiedGroups?: () => string[][] }).tiedGroups?.() ?? [];
  return new Set(groups.flatMap((group) => group.slice(1)));
}

function checkCounterpart(base: CheckpointReader, model: CheckpointReader, name: string): void {
  if (!model.has(name)) {
    throw new MismatchError(
      `Parameter "${name}" of the base model (${base.path}) is missing from ${model.path}; ` +
        'every fine-tuned model needs the base parameters (leave it out with an exclude pattern)',
    );
  }
  const baseShape = base.info(name).shape;
  const { shape, dtype } = model.info(name);
  if (!sameShape(shape, baseShape)) {
    throw new MismatchError(
      `Parameter "${name}" has shape ${formatShape(shape)} in ${model.path} but ${formatShape(baseShape)} in the base model ` +
        `(${base.path}); models with different vocabulary or layer sizes cannot be merged`,
    );
  }
  if (!FLOAT_DTYPES.has(dtype)) {
    throw new MismatchError(`Parameter "${name}" is ${dtype} in ${model.path} but a float type in the base model (${base.path})`);
  }
}
