import type { StateDict } from '@modularevo/core-tensor';

import { ExcludeFilter } from './exclude';
import { StateDictReader } from './engine/state-dict-reader';
import { planMerge } from './engine/plan';
import { firstNonFinite, subtractBaseRows } from './steps/combine';
import { InvalidInputError, toFloat32 } from '@modularevo/core-tensor';

/**
 * Returns the task vector `finetuned - base` (float32) of every float parameter of the base that
 * no exclude pattern matches. Tensors only in the fine-tuned model (task heads) are left out.
 * @throws MismatchError when the fine-tuned model lacks a base parameter or has another shape;
 *   InvalidInputError on NaN or Inf.
 */
export function taskVector(base: StateDict, finetuned: StateDict, options: { exclude?: string[] } = {}): StateDict {
  const baseReader = new StateDictReader(base, 'base state dict');
  const modelReader = new StateDictReader(finetuned, 'fine-tuned state dict');
  const plan = planMerge(baseReader, [modelReader], new ExcludeFilter(options.exclude ?? []));

  const vector: StateDict = new Map();
  for (const { name, shape } of plan.merged) {
    const baseTensor = base.get(name)!;
    const modelTensor = finetuned.get(name)!;
    const delta = Float32Array.from(toFloat32(modelTensor.dtype, modelTensor.data));
    const squares = [0];
    subtractBaseRows(toFloat32(baseTensor.dtype, baseTensor.data), [delta], squares);
    if (!Number.isFinite(squares[0])) {
      throw new InvalidInputError(`Parameter "${name}": the task vector contains NaN or Inf (flat index ${firstNonFinite(delta)})`);
    }
    vector.set(name, { dtype: 'F32', shape: [...shape], data: delta });
  }
  return vector;
}
