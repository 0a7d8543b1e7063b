import { getLogger } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import { BufferPool } from '../engine/buffers';
import type { Merger, TensorBatch } from '../engine/merger';
import type { MergedTensor } from '../engine/plan';
import { addScaled } from '../steps/combine';
import { addMaskedScaled, checkMaskLength, countNonZero, lookupMask, restrictToMask } from '../steps/module-mask';

const log = getLogger('merging');

export type ModularEvoSettings = Pick<ResolvedMergeConfig, 'coefficients' | 'scalingCoefficient' | 'masks'>;

/** A model's mask of the current tensor: the mask, `outside` (the module has none), or `dense` (no module given). */
type TensorMask = Uint8Array | 'outside' | 'dense';

/**
 * ModularEvo composition: task arithmetic over the task vectors of mask-fine-tuned models. A model
 * given a module mask contributes only the entries inside its module, so the sparse task vector
 * is explicit and the sum skips the entries the module leaves untouched. A parameter the module
 * has no mask for was frozen during mask-guided fine-tuning and contributes nothing. Entries a
 * model changed outside its module are dropped and counted in a warning. A model without masks is dense.
 */
export class ModularEvoMerger implements Merger {
  readonly rowsAsDeltas = true;
  readonly wholeTensors = false;
  readonly preparePasses = 0;
  private readonly changedOutside: number[];
  private readonly pool = new BufferPool();
  private maskedTensor: string | undefined;
  private masks: TensorMask[] = [];

  constructor(private readonly settings: ModularEvoSettings) {
    this.changedOutside = settings.masks.map(() => 0);
  }

  merge({ tensor, start, base, rows }: TensorBatch): Float32Array {
    if (this.maskedTensor !== tensor.name) this.loadMasks(tensor);
    const sum = this.pool.float32('sum', base.length).fill(0);

    // sum of the scaled task vectors, each restricted to its module
    rows.forEach((deltas, model) => {
      const coefficient = this.settings.coefficients[model];
      const mask = this.masks[model];
      if (mask === 'dense') {
        addMaskedScaled(sum, deltas, undefined, coefficient);
      } else if (mask === 'outside') {
        this.changedOutside[model] += countNonZero(deltas);
      } else {
        const part = mask.subarray(start, start + deltas.length);
        this.changedOutside[model] += restrictToMask(deltas, part);
        addMaskedScaled(sum, deltas, part, coefficient);
      }
    });

    addScaled(base, sum, this.settings.scalingCoefficient, base);
    return base;
  }

  finish(): void {
    this.changedOutside.forEach((count, model) => {
      if (count > 0) log.warn(`Model ${model + 1} changed ${count} entries outside its module mask; they were left out of the merge`);
    });
  }

  private loadMasks(tensor: MergedTensor): void {
    this.masks = this.settings.masks.map((source) => {
      if (!source) return 'dense';
      const mask = lookupMask(source, tensor.name, tensor.shape);
      if (!mask) return 'outside';
      checkMaskLength(mask, tensor.numel, tensor.name);
      return mask;
    });
    this.maskedTensor = tensor.name;
  }
}
